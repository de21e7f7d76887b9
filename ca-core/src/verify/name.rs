//! Distinguished-name comparison (RFC 5280 §7.1) and name-constraint prefix matching.

use der::asn1::Any;
use der::{Encode, Tag, Tagged};
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::name::{Name, RelativeDistinguishedName};

/// The value of a directory string attribute, if it is a string type, decoded to text.
pub(crate) fn attr_string(value: &Any) -> Option<String> {
    let bytes = value.value();
    match value.tag() {
        Tag::Utf8String | Tag::PrintableString | Tag::Ia5String | Tag::VisibleString => {
            std::str::from_utf8(bytes).ok().map(str::to_owned)
        }
        // T.61 strings are in practice Latin-1.
        Tag::TeletexString => Some(bytes.iter().map(|&b| char::from(b)).collect()),
        Tag::BmpString => {
            if !bytes.len().is_multiple_of(2) {
                return None;
            }
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        _ => None,
    }
}

/// RFC 4518-style preparation, reduced to what RFC 5280 §7.1 requires of conforming
/// implementations: case folding and insignificant-space handling (leading/trailing spaces
/// removed, internal runs of whitespace collapsed to one space).
fn prepare(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().flat_map(char::to_lowercase));
    }
    out
}

/// RFC 5280 §7.1: attribute values of directory string types match after preparation,
/// other values match when their encodings are identical.
fn atv_eq(a: &AttributeTypeAndValue, b: &AttributeTypeAndValue) -> bool {
    if a.oid != b.oid {
        return false;
    }
    match (attr_string(&a.value), attr_string(&b.value)) {
        (Some(x), Some(y)) => prepare(&x) == prepare(&y),
        _ => a.value == b.value,
    }
}

/// Two RDNs match when they have the same number of attributes and each attribute of one
/// matches an attribute of the other (RFC 5280 §7.1).
pub(crate) fn rdn_eq(a: &RelativeDistinguishedName, b: &RelativeDistinguishedName) -> bool {
    a.len() == b.len() && a.iter().all(|x| b.iter().any(|y| atv_eq(x, y)))
}

/// Distinguished-name equality for name chaining (RFC 5280 §7.1): same number of RDNs,
/// matching pairwise in order.
pub(crate) fn name_eq(a: &Name, b: &Name) -> bool {
    a.len() == b.len() && a.iter_rdn().zip(b.iter_rdn()).all(|(x, y)| rdn_eq(x, y))
}

/// A byte string that is equal for two names exactly when [`name_eq`] holds (for RDNs
/// without repeated attributes): per RDN, its attributes sorted, each as its OID and either
/// the prepared text (directory string types) or the tag and raw value. Path building
/// indexes certificates by it, so that finding the candidate issuers of a certificate is
/// one hash lookup instead of a comparison with every certificate of the pool.
pub(crate) fn name_key(name: &Name) -> Vec<u8> {
    fn push(out: &mut Vec<u8>, bytes: &[u8]) {
        out.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
        out.extend_from_slice(bytes);
    }
    let mut out = Vec::new();
    for rdn in name.iter_rdn() {
        let mut atvs: Vec<Vec<u8>> = rdn
            .iter()
            .map(|atv| {
                let mut k = Vec::new();
                push(&mut k, atv.oid.as_bytes());
                match attr_string(&atv.value) {
                    Some(s) => {
                        k.push(1);
                        push(&mut k, prepare(&s).as_bytes());
                    }
                    None => {
                        k.push(0);
                        push(&mut k, &atv.value.tag().to_der().unwrap_or_default());
                        push(&mut k, atv.value.value());
                    }
                }
                k
            })
            .collect();
        atvs.sort();
        out.push(b'R');
        out.extend_from_slice(&(atvs.len() as u64).to_be_bytes());
        for a in atvs {
            push(&mut out, &a);
        }
    }
    out
}

/// `name` is within the subtree rooted at `base` (RFC 5280 §4.2.1.10 directoryName: the
/// constraint's RDNs are a prefix of the name's).
pub(crate) fn name_within(name: &Name, base: &Name) -> bool {
    base.len() <= name.len()
        && base
            .iter_rdn()
            .zip(name.iter_rdn())
            .all(|(x, y)| rdn_eq(x, y))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn n(s: &str) -> Name {
        Name::from_str(s).expect("test name")
    }

    #[test]
    fn case_and_space_insensitive() {
        assert!(name_eq(
            &n("CN=Good  CA ,O=Test,C=US"),
            &n("CN=good ca,O=TEST,C=US")
        ));
        assert!(!name_eq(&n("CN=a,O=b"), &n("O=b,CN=a")));
        assert!(!name_eq(&n("CN=a"), &n("CN=a,O=b")));
    }

    #[test]
    fn name_key_agrees_with_name_eq() {
        let names = [
            "CN=Good  CA ,O=Test,C=US",
            "CN=good ca,O=TEST,C=US",
            "O=Test,CN=good ca,C=US",
            "CN=good ca,O=Test",
            "CN=a+OU=b,O=x",
            "OU=b+CN=A,O=x",
            "CN=山田 太郎,OU=総務部,OU=千代田区,C=JP",
            "CN=山田  太郎,OU=総務部,OU=千代田区,C=JP",
            "CN=山田 太郎,OU=千代田区,OU=総務部,C=JP",
        ];
        for a in names {
            for b in names {
                assert_eq!(
                    name_key(&n(a)) == name_key(&n(b)),
                    name_eq(&n(a), &n(b)),
                    "{a} vs {b}"
                );
            }
        }
    }

    #[test]
    fn prefix() {
        assert!(name_within(&n("CN=x,O=Test,C=US"), &n("O=Test,C=US")));
        assert!(!name_within(&n("O=Test,C=US"), &n("CN=x,O=Test,C=US")));
    }
}
