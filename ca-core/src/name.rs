//! Distinguished names: parsing the CLI's RFC 4514 strings, reading names from CSRs, and
//! encoding subject names the way RFC 5280 §4.1.2.6 asks (UTF8String, with PrintableString for
//! countryName and serialNumber).

use const_oid::ObjectIdentifier;
use const_oid::db::rfc4519;
use der::asn1::{
    AnyRef, Ia5StringRef, PrintableStringRef, SetOfVec, TeletexStringRef, Utf8StringRef,
};
use der::{Decode, Encode, Tag, Tagged};
use x509_cert::name::Name;

use crate::error::{Error, Result};

/// An attribute type lgpki knows by short name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AttrType {
    /// countryName (RFC 5280 Appendix A: PrintableString, 2 letters).
    C,
    /// stateOrProvinceName.
    St,
    /// localityName.
    L,
    /// organizationName.
    O,
    /// organizationalUnitName.
    Ou,
    /// title.
    Title,
    /// commonName.
    Cn,
    /// serialNumber (PrintableString).
    SerialNumber,
}

impl AttrType {
    /// Every known type, in the order they are encoded (most significant first).
    pub const ORDER: [AttrType; 8] = [
        AttrType::C,
        AttrType::St,
        AttrType::L,
        AttrType::O,
        AttrType::Ou,
        AttrType::Title,
        AttrType::Cn,
        AttrType::SerialNumber,
    ];

    /// The short name used in DN strings and in `policies/`.
    pub fn short(self) -> &'static str {
        match self {
            AttrType::C => "C",
            AttrType::St => "ST",
            AttrType::L => "L",
            AttrType::O => "O",
            AttrType::Ou => "OU",
            AttrType::Title => "title",
            AttrType::Cn => "CN",
            AttrType::SerialNumber => "serialNumber",
        }
    }

    /// The attribute's OID (RFC 4519).
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            AttrType::C => rfc4519::C,
            AttrType::St => rfc4519::ST,
            AttrType::L => rfc4519::L,
            AttrType::O => rfc4519::O,
            AttrType::Ou => rfc4519::OU,
            AttrType::Title => rfc4519::TITLE,
            AttrType::Cn => rfc4519::CN,
            AttrType::SerialNumber => rfc4519::SERIAL_NUMBER,
        }
    }

    /// The upper bound on the value's length in characters (RFC 5280 Appendix A.1).
    pub fn max_len(self) -> usize {
        match self {
            AttrType::C => 2,
            AttrType::St | AttrType::L => 128,
            AttrType::O
            | AttrType::Ou
            | AttrType::Title
            | AttrType::Cn
            | AttrType::SerialNumber => 64,
        }
    }

    /// Whether the value is encoded as PrintableString (RFC 5280 Appendix A.1: countryName and
    /// serialNumber are PrintableString; everything else is a DirectoryString, UTF8String).
    pub fn printable(self) -> bool {
        matches!(self, AttrType::C | AttrType::SerialNumber)
    }

    /// Parses a short name case-insensitively.
    pub fn from_short(s: &str) -> Option<AttrType> {
        AttrType::ORDER
            .into_iter()
            .find(|t| t.short().eq_ignore_ascii_case(s))
    }

    fn from_oid(oid: &ObjectIdentifier) -> Option<AttrType> {
        AttrType::ORDER.into_iter().find(|t| t.oid() == *oid)
    }
}

/// A subject as an ordered list of (type, value). A type may repeat (e.g. two OUs: the 団体
/// then the 部署); how many of each a certificate may carry is the profile's rule
/// ([`crate::profile::SubjectRules::max`]). Values of one type keep their relative order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DistinguishedName {
    attrs: Vec<(AttrType, String)>,
}

impl DistinguishedName {
    /// Parses an RFC 4514 string like `CN=山田 太郎,OU=総務部,OU=千代田区,O=LGPKI,C=JP` (most
    /// specific first), or the OpenSSL form `/C=JP/O=LGPKI/OU=千代田区/OU=総務部/CN=山田 太郎`
    /// (a leading `/`, most significant first, `\/` escapes a slash). Escapes (`\,`, `\+`,
    /// `\\`, `\"`, hex pairs) are honoured; multi-valued RDNs are refused. A type may repeat.
    pub fn parse(s: &str) -> Result<DistinguishedName> {
        let bad = |reason: &str| Error::InvalidArgument {
            name: "--subject",
            value: s.to_string(),
            reason: reason.to_string(),
        };
        let trimmed = s.trim();
        let slash_form = trimmed.starts_with('/');
        let parts = if slash_form {
            let mut p = split_unescaped(&trimmed[1..], '/').map_err(&bad)?;
            // RFC 4514 order (most specific first), as the comma form.
            p.reverse();
            p
        } else {
            split_unescaped(s, ',').map_err(&bad)?
        };
        let mut attrs = Vec::new();
        for part in parts {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            if split_unescaped(part, '+').map_err(&bad)?.len() > 1 {
                return Err(bad("multi-valued RDNs ('+') are not supported"));
            }
            let (ty, value) = part
                .split_once('=')
                .ok_or_else(|| bad("each RDN must be TYPE=value"))?;
            let ty = AttrType::from_short(ty.trim()).ok_or_else(|| {
                bad(&format!(
                    "unknown attribute type {:?} (known: C, ST, L, O, OU, title, CN, serialNumber)",
                    ty.trim()
                ))
            })?;
            let value = unescape(value.trim()).map_err(&bad)?;
            attrs.push((ty, value));
        }
        // RFC 4514 strings list the most specific RDN first; keep attributes in encoding order.
        attrs.reverse();
        Ok(DistinguishedName { attrs })
    }

    /// Reads the attributes of a DER Name (e.g. a CSR's subject). Unknown attribute types and
    /// multi-valued RDNs are refused so that nothing the CA did not check ends up in a subject.
    pub fn from_name(name: &Name) -> Result<DistinguishedName> {
        let mut attrs = Vec::new();
        for rdn in name.iter_rdn() {
            if rdn.len() != 1 {
                return Err(Error::malformed("subject", "multi-valued RDN"));
            }
            for atv in rdn.iter() {
                let ty = AttrType::from_oid(&atv.oid).ok_or_else(|| {
                    Error::malformed("subject", format!("unsupported attribute type {}", atv.oid))
                })?;
                let value = directory_string(&atv.value)
                    .map_err(|e| Error::malformed("subject", format!("{}: {e}", ty.short())))?;
                attrs.push((ty, value));
            }
        }
        Ok(DistinguishedName { attrs })
    }

    /// The first value of `ty` in encoding order, if present (for OU: the 団体, the
    /// organisation; a second OU is the 部署, the department).
    pub fn get(&self, ty: AttrType) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(t, _)| *t == ty)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `ty`, in encoding order.
    pub fn get_all(&self, ty: AttrType) -> Vec<&str> {
        self.attrs
            .iter()
            .filter(|(t, _)| *t == ty)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// How many values of `ty` the name has.
    pub fn count(&self, ty: AttrType) -> usize {
        self.attrs.iter().filter(|(t, _)| *t == ty).count()
    }

    /// Sets the first value of `ty` to `value` (adding it when absent); other values of a
    /// repeated type are kept.
    pub fn set(&mut self, ty: AttrType, value: &str) {
        if let Some(slot) = self.attrs.iter_mut().find(|(t, _)| *t == ty) {
            slot.1 = value.to_string();
        } else {
            self.attrs.push((ty, value.to_string()));
        }
    }

    /// The attributes, in encoding order.
    pub fn attrs(&self) -> impl Iterator<Item = (AttrType, &str)> {
        self.attrs.iter().map(|(t, v)| (*t, v.as_str()))
    }

    /// Whether the name has no attributes.
    pub fn is_empty(&self) -> bool {
        self.attrs.is_empty()
    }

    /// Puts the attributes in the canonical order (C, ST, L, O, OU, title, CN, serialNumber);
    /// the sort is stable, so values of a repeated type keep their order.
    pub fn canonicalize(&mut self) {
        self.attrs.sort_by_key(|(t, _)| *t);
    }

    /// DER encoding: one single-valued RDN per attribute, in the current order.
    pub fn to_der(&self) -> Result<Vec<u8>> {
        let mut rdns: Vec<u8> = Vec::new();
        for (ty, value) in &self.attrs {
            let value_der = if ty.printable() {
                PrintableStringRef::new(value)
                    .map_err(|_| Error::InvalidArgument {
                        name: "--subject",
                        value: value.clone(),
                        reason: format!("{} must be a PrintableString", ty.short()),
                    })?
                    .to_der()
            } else {
                Utf8StringRef::new(value)
                    .map_err(Error::encode("UTF8String"))?
                    .to_der()
            }
            .map_err(Error::encode("attribute value"))?;
            let atv = Atv {
                oid: ty.oid(),
                value: AnyRef::from_der(&value_der).map_err(Error::encode("attribute value"))?,
            };
            let set: SetOfVec<Atv<'_>> =
                SetOfVec::try_from(vec![atv]).map_err(Error::encode("RDN"))?;
            set.encode_to_vec(&mut rdns).map_err(Error::encode("RDN"))?;
        }
        let header = der::Header::new(
            Tag::Sequence,
            der::Length::try_from(rdns.len()).map_err(Error::encode("Name"))?,
        );
        let mut out = header.to_der().map_err(Error::encode("Name"))?;
        out.extend_from_slice(&rdns);
        Ok(out)
    }

    /// The x509-cert view of [`DistinguishedName::to_der`].
    pub fn to_name(&self) -> Result<Name> {
        Name::from_der(&self.to_der()?).map_err(Error::encode("Name"))
    }
}

impl std::fmt::Display for DistinguishedName {
    /// RFC 4514 form, most specific first.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut first = true;
        for (ty, value) in self.attrs.iter().rev() {
            if !first {
                f.write_str(",")?;
            }
            first = false;
            write!(f, "{}={}", ty.short(), escape(value))?;
        }
        Ok(())
    }
}

#[derive(der::Sequence, PartialEq, Eq, PartialOrd, Ord, der::ValueOrd)]
struct Atv<'a> {
    oid: ObjectIdentifier,
    value: AnyRef<'a>,
}

/// Decodes a DirectoryString-like value to text (UTF8String, PrintableString, IA5String,
/// TeletexString as Latin-1, BMPString).
pub fn directory_string(value: &der::Any) -> std::result::Result<String, String> {
    let bytes = value.value();
    match value.tag() {
        Tag::Utf8String => Utf8StringRef::new(bytes)
            .map(|s| s.as_str().to_string())
            .map_err(|e| e.to_string()),
        Tag::PrintableString => PrintableStringRef::new(bytes)
            .map(|s| s.as_str().to_string())
            .map_err(|e| e.to_string()),
        Tag::Ia5String => Ia5StringRef::new(bytes)
            .map(|s| s.as_str().to_string())
            .map_err(|e| e.to_string()),
        Tag::TeletexString => TeletexStringRef::new(bytes)
            .map(|s| s.as_bytes().iter().map(|&b| b as char).collect())
            .map_err(|e| e.to_string()),
        Tag::BmpString => {
            if !bytes.len().is_multiple_of(2) {
                return Err("odd-length BMPString".into());
            }
            let units: Vec<u16> = bytes
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).map_err(|e| e.to_string())
        }
        other => Err(format!("unsupported string type {other}")),
    }
}

/// Renders any Name as an RFC 4514 string (most specific first); unknown types as dotted OIDs.
pub fn name_to_string(name: &Name) -> String {
    let mut parts = Vec::new();
    for rdn in name.iter_rdn() {
        let mut vals = Vec::new();
        for atv in rdn.iter() {
            let ty = AttrType::from_oid(&atv.oid)
                .map(|t| t.short().to_string())
                .unwrap_or_else(|| atv.oid.to_string());
            let v = directory_string(&atv.value)
                .unwrap_or_else(|_| format!("#{}", hex::encode(atv.value.value())));
            vals.push(format!("{ty}={}", escape(&v)));
        }
        parts.push(vals.join("+"));
    }
    parts.reverse();
    parts.join(",")
}

/// What is wrong with a character that must not appear in a name shown to people: a control
/// character, a bidirectional override or isolate (U+202A–U+202E, U+2066–U+2069 and the marks
/// U+200E, U+200F, U+061C: they reorder what a reader sees, CVE-2021-42574), or an invisible
/// format character (zero-width U+200B–U+200D, U+2060–U+2064, U+FEFF, U+00AD, U+180E: two
/// names that look the same would differ). Japanese names need none of them.
pub fn forbidden_char(c: char) -> Option<&'static str> {
    match c {
        c if c.is_control() => Some("control characters"),
        '\u{200E}'
        | '\u{200F}'
        | '\u{061C}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2066}'..='\u{2069}' => Some("bidirectional formatting characters"),
        '\u{200B}'..='\u{200D}'
        | '\u{2060}'..='\u{2064}'
        | '\u{206A}'..='\u{206F}'
        | '\u{FEFF}'
        | '\u{00AD}'
        | '\u{180E}'
        | '\u{FFF9}'..='\u{FFFB}' => Some("invisible (zero-width) characters"),
        _ => None,
    }
}

/// The first forbidden character of `value` ([`forbidden_char`]) as "U+XXXX (kind)".
pub fn find_forbidden_char(value: &str) -> Option<String> {
    value
        .chars()
        .find_map(|c| forbidden_char(c).map(|why| format!("U+{:04X} ({why})", c as u32)))
}

fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for (i, c) in v.chars().enumerate() {
        let lead = i == 0 && (c == ' ' || c == '#');
        let trail = i + 1 == v.chars().count() && c == ' ';
        if matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=') || lead || trail {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn split_unescaped(s: &str, sep: char) -> std::result::Result<Vec<String>, &'static str> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            cur.push(c);
            cur.push(chars.next().ok_or("trailing backslash")?);
        } else if c == sep {
            parts.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    parts.push(cur);
    Ok(parts)
}

fn unescape(s: &str) -> std::result::Result<String, &'static str> {
    let mut bytes = Vec::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buf = [0u8; 4];
            bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        let n = chars.next().ok_or("trailing backslash")?;
        if n.is_ascii_hexdigit() {
            let m = chars.next().ok_or("incomplete hex escape")?;
            let hex: String = [n, m].iter().collect();
            bytes.push(u8::from_str_radix(&hex, 16).map_err(|_| "bad hex escape")?);
        } else {
            let mut buf = [0u8; 4];
            bytes.extend_from_slice(n.encode_utf8(&mut buf).as_bytes());
        }
    }
    let out = String::from_utf8(bytes).map_err(|_| "escaped bytes are not UTF-8")?;
    if out.is_empty() {
        return Err("empty attribute value");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_escapes_and_orders_most_significant_first() {
        let dn =
            DistinguishedName::parse(r"CN=Yamada\, Taro,OU=千代田区,O=LGPKI,C=JP").expect("dn");
        assert_eq!(dn.get(AttrType::Cn), Some("Yamada, Taro"));
        assert_eq!(dn.get(AttrType::Ou), Some("千代田区"));
        let name = dn.to_name().expect("name");
        assert_eq!(
            name_to_string(&name),
            r"CN=Yamada\, Taro,OU=千代田区,O=LGPKI,C=JP"
        );
        // C is PrintableString, OU UTF8String.
        let der = dn.to_der().expect("der");
        let back =
            DistinguishedName::from_name(&Name::from_der(&der).expect("decode")).expect("read");
        assert_eq!(back, dn);
    }

    #[test]
    fn repeated_types_keep_their_order_in_both_forms() {
        let slash = DistinguishedName::parse("/C=JP/O=LGPKI/OU=千代田区/OU=総務部/CN=山田 太郎")
            .expect("openssl form");
        let comma = DistinguishedName::parse("CN=山田 太郎,OU=総務部,OU=千代田区,O=LGPKI,C=JP")
            .expect("rfc 4514 form");
        assert_eq!(slash, comma);
        assert_eq!(
            slash.get(AttrType::Ou),
            Some("千代田区"),
            "the 団体 OU comes first"
        );
        assert_eq!(slash.get_all(AttrType::Ou), ["千代田区", "総務部"]);
        assert_eq!(slash.count(AttrType::Ou), 2);
        let mut shuffled =
            DistinguishedName::parse("CN=山田 太郎,C=JP,OU=総務部,O=LGPKI,OU=千代田区")
                .expect("dn");
        shuffled.canonicalize();
        // Stable: OU=千代田区 was given before OU=総務部 in encoding order.
        assert_eq!(shuffled.get_all(AttrType::Ou), ["千代田区", "総務部"]);
        let name = slash.to_name().expect("name");
        assert_eq!(
            name_to_string(&name),
            "CN=山田 太郎,OU=総務部,OU=千代田区,O=LGPKI,C=JP"
        );
        let back = DistinguishedName::from_name(&name).expect("read back");
        assert_eq!(back, slash);
        assert_eq!(
            DistinguishedName::parse(r"/O=a\/b/CN=x")
                .expect("escaped slash")
                .get(AttrType::O),
            Some("a/b")
        );
    }

    #[test]
    fn refuses_bad_strings() {
        for bad in ["CN", "XX=1", "CN=a+OU=b", r"CN=a\", "CN=", "/CN=a/XX=b"] {
            assert!(DistinguishedName::parse(bad).is_err(), "{bad}");
        }
        let dn = DistinguishedName::parse("C=日本").expect("parses");
        assert!(dn.to_der().is_err(), "C must be PrintableString");
    }
}
