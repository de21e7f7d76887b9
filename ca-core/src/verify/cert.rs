//! A decoded certificate with the extensions path validation needs (RFC 5280 §4.2).

use const_oid::ObjectIdentifier;
use const_oid::db::{rfc3280, rfc5280 as oids};
use der::asn1::AnyRef;
use der::{Decode, Reader, SliceReader, Tag, Tagged};
use x509_cert::Certificate;
use x509_cert::ext::pkix::constraints::{BasicConstraints, NameConstraints, PolicyConstraints};
use x509_cert::ext::pkix::crl::dp::DistributionPoint;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    AuthorityInfoAccessSyntax, AuthorityKeyIdentifier, CrlDistributionPoints, InhibitAnyPolicy,
    KeyUsage, SubjectAltName, SubjectKeyIdentifier,
};

use super::PathError;
use super::name::name_eq;
use crate::oid::Oid;

/// The elements of a constructed DER value (its content, TLV by TLV).
fn items<'a>(any: AnyRef<'a>) -> Result<Vec<AnyRef<'a>>, String> {
    let mut r = SliceReader::new(any.value()).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    while !r.is_finished() {
        out.push(AnyRef::decode(&mut r).map_err(|e| e.to_string())?);
    }
    Ok(out)
}

/// A SEQUENCE's elements.
fn sequence<'a>(any: AnyRef<'a>, what: &str) -> Result<Vec<AnyRef<'a>>, String> {
    if any.tag() != Tag::Sequence {
        return Err(format!("{what}: expected SEQUENCE, found {}", any.tag()));
    }
    items(any)
}

/// An OBJECT IDENTIFIER kept as bytes.
fn oid_of(any: AnyRef<'_>, what: &str) -> Result<Oid, String> {
    if any.tag() != Tag::ObjectIdentifier {
        return Err(format!(
            "{what}: expected OBJECT IDENTIFIER, found {}",
            any.tag()
        ));
    }
    Oid::from_content(any.value()).map_err(|e| format!("{what}: {e}"))
}

/// certificatePolicies (RFC 5280 §4.2.1.4): `SEQUENCE SIZE (1..MAX) OF PolicyInformation`,
/// policyIdentifier kept as DER bytes so that any X.660 OID is read (`const_oid` refuses a
/// second arc above 39). Qualifiers are checked for shape (`SEQUENCE SIZE (1..MAX) OF
/// PolicyQualifierInfo`, each starting with an OID) and otherwise ignored (§4.2.1.4: "MAY
/// ignore").
pub(crate) fn decode_policies(v: &[u8]) -> Result<Vec<Oid>, String> {
    let outer = AnyRef::from_der(v).map_err(|e| e.to_string())?;
    let mut list: Vec<Oid> = Vec::new();
    for pi in sequence(outer, "certificatePolicies")? {
        let parts = sequence(pi, "PolicyInformation")?;
        let (id, quals) = match parts.as_slice() {
            [id] => (*id, None),
            [id, q] => (*id, Some(*q)),
            _ => return Err("PolicyInformation has the wrong number of fields".into()),
        };
        let id = oid_of(id, "policyIdentifier")?;
        if let Some(q) = quals {
            let qs = sequence(q, "policyQualifiers")?;
            if qs.is_empty() {
                return Err("policyQualifiers is empty (SIZE (1..MAX))".into());
            }
            for pq in qs {
                let f = sequence(pq, "PolicyQualifierInfo")?;
                match f.as_slice() {
                    [qid, _] => {
                        oid_of(*qid, "policyQualifierId")?;
                    }
                    _ => return Err("PolicyQualifierInfo has the wrong number of fields".into()),
                }
            }
        }
        // RFC 5280 §4.2.1.4: a policy OID MUST NOT appear more than once.
        if list.contains(&id) {
            return Err(format!("policy {id} appears twice"));
        }
        list.push(id);
    }
    Ok(list)
}

/// extKeyUsage (RFC 5280 §4.2.1.12): `SEQUENCE SIZE (1..MAX) OF KeyPurposeId`, kept as DER
/// bytes so that a purpose under any X.660 arc (e.g. `2.999.3`) does not make the certificate
/// unreadable.
pub(crate) fn decode_eku(v: &[u8]) -> Result<Vec<Oid>, String> {
    let outer = AnyRef::from_der(v).map_err(|e| e.to_string())?;
    sequence(outer, "extKeyUsage")?
        .into_iter()
        .map(|k| oid_of(k, "KeyPurposeId"))
        .collect()
}

/// policyMappings (RFC 5280 §4.2.1.5): `SEQUENCE SIZE (1..MAX) OF SEQUENCE {
/// issuerDomainPolicy, subjectDomainPolicy }`, both kept as DER bytes.
pub(crate) fn decode_mappings(v: &[u8]) -> Result<Vec<(Oid, Oid)>, String> {
    let outer = AnyRef::from_der(v).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for m in sequence(outer, "policyMappings")? {
        match sequence(m, "PolicyMapping")?.as_slice() {
            [a, b] => out.push((
                oid_of(*a, "issuerDomainPolicy")?,
                oid_of(*b, "subjectDomainPolicy")?,
            )),
            _ => return Err("PolicyMapping has the wrong number of fields".into()),
        }
    }
    Ok(out)
}

/// Extensions that this module processes, or that are informational and may be critical
/// without changing the validation result (RFC 5280 §4.2: "MUST reject the certificate if it
/// encounters a critical extension it does not recognize").
const RECOGNIZED: &[ObjectIdentifier] = &[
    oids::ID_CE_BASIC_CONSTRAINTS,
    oids::ID_CE_KEY_USAGE,
    oids::ID_CE_EXT_KEY_USAGE,
    oids::ID_CE_SUBJECT_KEY_IDENTIFIER,
    oids::ID_CE_AUTHORITY_KEY_IDENTIFIER,
    oids::ID_CE_SUBJECT_ALT_NAME,
    oids::ID_CE_ISSUER_ALT_NAME,
    oids::ID_CE_NAME_CONSTRAINTS,
    oids::ID_CE_CERTIFICATE_POLICIES,
    oids::ID_CE_POLICY_MAPPINGS,
    oids::ID_CE_POLICY_CONSTRAINTS,
    oids::ID_CE_INHIBIT_ANY_POLICY,
    oids::ID_CE_CRL_DISTRIBUTION_POINTS,
    oids::ID_CE_FRESHEST_CRL,
];

/// The raw `TBSCertificate` / `TBSCertList` bytes: the first element of the outer SEQUENCE,
/// exactly as signed (re-encoding a decoded value could change non-DER input).
pub(crate) fn signed_part(der_bytes: &[u8]) -> Result<&[u8], der::Error> {
    let outer = AnyRef::from_der(der_bytes)?;
    let mut r = SliceReader::new(outer.value())?;
    r.tlv_bytes()
}

/// One DER TLV inside `buf`: (tag, start of value, end).
fn tlvs(buf: &[u8], base: usize) -> Option<Vec<(u8, usize, usize)>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < buf.len() {
        let tag = buf[i];
        let first = *buf.get(i + 1)?;
        let (len, hdr) = if first < 0x80 {
            (usize::from(first), 2)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 {
                return None;
            }
            let mut len = 0usize;
            for k in 0..n {
                len = (len << 8) | usize::from(*buf.get(i + 2 + k)?);
            }
            (len, 2 + n)
        };
        let end = i.checked_add(hdr)?.checked_add(len)?;
        if end > buf.len() {
            return None;
        }
        out.push((tag, base + i + hdr, base + end));
        i = end;
    }
    Some(out)
}

/// der 0.8's `DateTime` cannot represent dates before 1970, so a certificate whose validity
/// starts earlier (UTCTime years 50-69, as in PKITS 4.2.3) does not decode. This returns a
/// copy with such times replaced by 1970-01-01T00:00:00Z (same length); the original bytes
/// are kept for signature verification. The clamp only matters for notBefore, and every
/// validation time is after 1970.
fn clamp_pre_1970(der_bytes: &[u8]) -> Option<Vec<u8>> {
    let (_, cs, ce) = *tlvs(der_bytes, 0)?.first()?;
    let (_, ts, te) = *tlvs(&der_bytes[cs..ce], cs)?.first()?;
    let tbs = tlvs(&der_bytes[ts..te], ts)?;
    let skip = usize::from(tbs.first()?.0 == 0xa0);
    let &(vtag, vs, ve) = tbs.get(skip + 3)?;
    if vtag != 0x30 {
        return None;
    }
    let mut out = der_bytes.to_vec();
    let mut changed = false;
    for (tag, s, e) in tlvs(&der_bytes[vs..ve], vs)? {
        let v = &der_bytes[s..e];
        let replace: Option<&[u8]> = match (tag, v.len()) {
            (0x17, 13) if (b"50".as_slice()..=b"69".as_slice()).contains(&&v[..2]) => {
                Some(b"700101000000Z")
            }
            (0x18, 15) if &v[..4] < b"1970".as_slice() => Some(b"19700101000000Z"),
            _ => None,
        };
        if let Some(r) = replace {
            out[s..e].copy_from_slice(r);
            changed = true;
        }
    }
    changed.then_some(out)
}

/// A certificate and its decoded extensions.
#[derive(Debug)]
pub(crate) struct Cert {
    pub cert: Certificate,
    pub der: Vec<u8>,
    pub subject: String,
    pub not_before: u64,
    pub not_after: u64,
    pub self_issued: bool,
    pub bc: Option<BasicConstraints>,
    pub ku: Option<KeyUsage>,
    /// extKeyUsage purposes, as DER bytes (any X.660 OID).
    pub eku: Option<Vec<Oid>>,
    pub ski: Option<Vec<u8>>,
    pub aki: Option<Vec<u8>>,
    pub san: Option<Vec<GeneralName>>,
    pub nc: Option<NameConstraints>,
    /// certificatePolicies identifiers, as DER bytes (any X.660 OID, e.g. `2.999.1`).
    pub policies: Option<Vec<Oid>>,
    /// policyMappings (issuerDomainPolicy, subjectDomainPolicy), as DER bytes.
    pub mappings: Option<Vec<(Oid, Oid)>>,
    pub policy_constraints: Option<PolicyConstraints>,
    pub inhibit_any: Option<u32>,
    pub crldp: Option<Vec<DistributionPoint>>,
    pub freshest: Option<Vec<DistributionPoint>>,
    pub unknown_critical: Option<ObjectIdentifier>,
    /// OIDs of the extensions marked critical.
    pub critical: Vec<ObjectIdentifier>,
    /// The authorityKeyIdentifier extension is present (with or without keyIdentifier).
    pub has_aki: bool,
    /// The authorityKeyIdentifier carries authorityCertIssuer or authorityCertSerialNumber.
    pub aki_issuer_serial: bool,
    /// Email addresses in the subject DN (PKCS #9 emailAddress, RFC 5280 §4.2.1.10).
    pub subject_emails: Vec<String>,
}

fn dec<'a, T: Decode<'a>>(
    subject: &str,
    oid: ObjectIdentifier,
    v: &'a [u8],
) -> Result<T, PathError> {
    T::from_der(v).map_err(|e| PathError::Malformed {
        what: format!("extension {oid} of certificate {subject}"),
        detail: e.to_string(),
    })
}

/// What path building needs to index and order a certificate, read straight from its DER
/// without decoding it (no allocation): a bag of a thousand cross-certificates is indexed
/// from these, and only the candidates the search reaches are decoded ([`Cert::parse`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Facts<'a> {
    /// The issuer Name, DER.
    pub issuer: &'a [u8],
    /// The subject Name, DER.
    pub subject: &'a [u8],
    /// subjectPublicKeyInfo, DER.
    pub spki: &'a [u8],
    /// notBefore and notAfter, Unix seconds (0 and `u64::MAX` when unreadable).
    pub not_before: u64,
    pub not_after: u64,
    /// subjectKeyIdentifier and authorityKeyIdentifier keyIdentifier, when present.
    pub ski: Option<&'a [u8]>,
    pub aki: Option<&'a [u8]>,
}

/// Reads [`Facts`] from a DER certificate by walking its TLVs by hand (each element's whole
/// encoding is a sub-slice of the input); `None` when it is not shaped like one. Only
/// ordering and indexing rely on it: every check is made on the decoded [`Cert`].
pub(crate) fn facts(der_bytes: &[u8]) -> Option<Facts<'_>> {
    /// Splits one TLV off `input`: (tag, content, whole TLV, rest).
    /// (tag, content, whole TLV, rest).
    type Tlv<'a> = (u8, &'a [u8], &'a [u8], &'a [u8]);
    fn next(input: &[u8]) -> Option<Tlv<'_>> {
        let tag = *input.first()?;
        let first = *input.get(1)?;
        let (len, hdr) = if first < 0x80 {
            (usize::from(first), 2)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 {
                return None;
            }
            let mut len = 0usize;
            for i in 0..n {
                len = (len << 8) | usize::from(*input.get(2 + i)?);
            }
            (len, 2 + n)
        };
        let end = hdr.checked_add(len)?;
        let whole = input.get(..end)?;
        Some((tag, &whole[hdr..], whole, &input[end..]))
    }
    fn time(tlv: &[u8]) -> Option<u64> {
        x509_cert::time::Time::from_der(tlv)
            .ok()
            .map(|t| t.to_unix_duration().as_secs())
    }
    let (_, cert, _, _) = next(der_bytes)?;
    let (_, tbs, _, _) = next(cert)?;
    let mut rest = tbs;
    let (tag, _, _, r) = next(rest)?;
    if tag == 0xa0 {
        rest = r; // version
    }
    let (_, _, _, r) = next(rest)?; // serialNumber
    let (_, _, _, r) = next(r)?; // signature
    let (_, _, issuer, r) = next(r)?;
    let (_, validity, _, r) = next(r)?;
    let (_, _, subject, r) = next(r)?;
    let (_, _, spki, mut r) = next(r)?;
    let (_, _, _, after) = next(validity)?;
    let nb_tlv = &validity[..validity.len() - after.len()];
    let na_tlv = after;
    let mut f = Facts {
        issuer,
        subject,
        spki,
        not_before: time(nb_tlv).unwrap_or(0),
        not_after: time(na_tlv).unwrap_or(u64::MAX),
        ski: None,
        aki: None,
    };
    while let Some((tag, content, _, after)) = next(r) {
        r = after;
        if tag != 0xa3 {
            continue;
        }
        let (_, mut exts, _, _) = next(content)?;
        while let Some((_, ext, _, after)) = next(exts) {
            exts = after;
            let (_, oid, _, mut e) = next(ext)?;
            let (tag, _, _, after) = next(e)?;
            if tag == 0x01 {
                e = after; // critical
            }
            let (_, value, _, _) = next(e)?;
            match oid {
                // 2.5.29.14 subjectKeyIdentifier: KeyIdentifier ::= OCTET STRING
                [0x55, 0x1d, 0x0e] => f.ski = next(value).map(|(_, k, _, _)| k),
                // 2.5.29.35 authorityKeyIdentifier: SEQUENCE { keyIdentifier [0] IMPLICIT … }
                [0x55, 0x1d, 0x23] => {
                    f.aki = next(value)
                        .and_then(|(_, seq, _, _)| next(seq))
                        .filter(|(tag, ..)| *tag == 0x80)
                        .map(|(_, k, _, _)| k)
                }
                _ => {}
            }
        }
    }
    Some(f)
}

/// How many distinct names [`display_name`] remembers per thread.
const NAME_CACHE_SIZE: usize = 4096;

thread_local! {
    /// RFC 4514 strings of names seen lately, by DER: a bag of cross-certificates repeats a
    /// few dozen names a thousand times, and x509-cert's `Display` looks each attribute type
    /// up in const-oid's whole database (it was a fifth of path building's time).
    static NAME_CACHE: std::cell::RefCell<std::collections::HashMap<Vec<u8>, String>> =
        Default::default();
}

/// `name.to_string()`, memoised by the name's DER (bounded: cleared when full).
fn display_name(name: &x509_cert::name::Name) -> String {
    let Ok(key) = der::Encode::to_der(name) else {
        return name.to_string();
    };
    NAME_CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some(s) = cache.get(&key) {
            return s.clone();
        }
        let s = name.to_string();
        if cache.len() >= NAME_CACHE_SIZE {
            cache.clear();
        }
        cache.insert(key, s.clone());
        s
    })
}

impl Cert {
    /// Decodes a DER certificate and its extensions.
    pub(crate) fn parse(der_bytes: &[u8]) -> Result<Cert, PathError> {
        let cert = match Certificate::from_der(der_bytes) {
            Ok(c) => c,
            Err(e) => clamp_pre_1970(der_bytes)
                .and_then(|patched| Certificate::from_der(&patched).ok())
                .ok_or_else(|| PathError::Malformed {
                    what: "certificate".into(),
                    detail: e.to_string(),
                })?,
        };
        signed_part(der_bytes).map_err(|e| PathError::Malformed {
            what: "certificate".into(),
            detail: e.to_string(),
        })?;
        let tbs = cert.tbs_certificate();
        let subject = display_name(tbs.subject());
        let validity = tbs.validity();
        let self_issued = name_eq(tbs.subject(), tbs.issuer());
        let mut c = Cert {
            subject: if subject.is_empty() {
                "(empty subject)".into()
            } else {
                subject
            },
            not_before: validity.not_before.to_unix_duration().as_secs(),
            not_after: validity.not_after.to_unix_duration().as_secs(),
            self_issued,
            der: der_bytes.to_vec(),
            bc: None,
            ku: None,
            eku: None,
            ski: None,
            aki: None,
            san: None,
            nc: None,
            policies: None,
            mappings: None,
            policy_constraints: None,
            inhibit_any: None,
            crldp: None,
            freshest: None,
            unknown_critical: None,
            critical: Vec::new(),
            has_aki: false,
            aki_issuer_serial: false,
            subject_emails: Vec::new(),
            cert,
        };
        let tbs = c.cert.tbs_certificate();
        for atv in tbs.subject().iter() {
            if atv.oid == rfc3280::EMAIL_ADDRESS
                && let Some(s) = super::name::attr_string(&atv.value)
            {
                c.subject_emails.push(s);
            }
        }
        let mut seen: Vec<ObjectIdentifier> = Vec::new();
        for ext in tbs.extensions().into_iter().flatten() {
            let oid = ext.extn_id;
            if seen.contains(&oid) {
                return Err(PathError::DuplicateExtension {
                    subject: c.subject.clone(),
                    oid: oid.to_string(),
                });
            }
            seen.push(oid);
            if ext.critical {
                c.critical.push(oid);
            }
            let v = ext.extn_value.as_bytes();
            let s = c.subject.as_str();
            match oid {
                o if o == oids::ID_CE_BASIC_CONSTRAINTS => c.bc = Some(dec(s, o, v)?),
                o if o == oids::ID_CE_KEY_USAGE => c.ku = Some(dec(s, o, v)?),
                o if o == oids::ID_CE_EXT_KEY_USAGE => {
                    c.eku = Some(decode_eku(v).map_err(|detail| PathError::Malformed {
                        what: format!("extKeyUsage of certificate {s}"),
                        detail,
                    })?)
                }
                o if o == oids::ID_CE_SUBJECT_KEY_IDENTIFIER => {
                    c.ski = Some(dec::<SubjectKeyIdentifier>(s, o, v)?.0.as_bytes().to_vec())
                }
                o if o == oids::ID_CE_AUTHORITY_KEY_IDENTIFIER => {
                    let aki: AuthorityKeyIdentifier = dec(s, o, v)?;
                    c.has_aki = true;
                    c.aki_issuer_serial = aki.authority_cert_issuer.is_some()
                        || aki.authority_cert_serial_number.is_some();
                    c.aki = aki.key_identifier.map(|k| k.as_bytes().to_vec());
                }
                o if o == oids::ID_CE_SUBJECT_ALT_NAME => {
                    c.san = Some(dec::<SubjectAltName>(s, o, v)?.0)
                }
                o if o == oids::ID_CE_NAME_CONSTRAINTS => c.nc = Some(dec(s, o, v)?),
                o if o == oids::ID_CE_CERTIFICATE_POLICIES => {
                    let list = decode_policies(v).map_err(|detail| PathError::Malformed {
                        what: format!("certificatePolicies of certificate {s}"),
                        detail,
                    })?;
                    c.policies = Some(list);
                }
                o if o == oids::ID_CE_POLICY_MAPPINGS => {
                    let maps = decode_mappings(v).map_err(|detail| PathError::Malformed {
                        what: format!("policyMappings of certificate {s}"),
                        detail,
                    })?;
                    c.mappings = Some(maps);
                }
                o if o == oids::ID_CE_POLICY_CONSTRAINTS => {
                    let pc: PolicyConstraints = dec(s, o, v)?;
                    // RFC 5280 §4.2.1.11: the sequence MUST NOT be empty.
                    if pc.require_explicit_policy.is_none() && pc.inhibit_policy_mapping.is_none() {
                        return Err(PathError::Malformed {
                            what: format!("policyConstraints of certificate {s}"),
                            detail: "empty sequence (RFC 5280 4.2.1.11)".into(),
                        });
                    }
                    c.policy_constraints = Some(pc);
                }
                o if o == oids::ID_CE_INHIBIT_ANY_POLICY => {
                    c.inhibit_any = Some(dec::<InhibitAnyPolicy>(s, o, v)?.0)
                }
                o if o == oids::ID_CE_CRL_DISTRIBUTION_POINTS => {
                    c.crldp = Some(dec::<CrlDistributionPoints>(s, o, v)?.0)
                }
                o if o == oids::ID_CE_FRESHEST_CRL => {
                    c.freshest = Some(dec::<CrlDistributionPoints>(s, o, v)?.0)
                }
                o if o == oids::ID_PE_AUTHORITY_INFO_ACCESS => {
                    // RFC 5280 §4.2.2.1: SEQUENCE SIZE (1..MAX) OF AccessDescription.
                    let aia: AuthorityInfoAccessSyntax = dec(s, o, v)?;
                    if aia.0.is_empty() {
                        return Err(PathError::Malformed {
                            what: format!("authorityInfoAccess of certificate {s}"),
                            detail: "empty sequence (RFC 5280 4.2.2.1)".into(),
                        });
                    }
                }
                o => {
                    if ext.critical && !RECOGNIZED.contains(&o) && c.unknown_critical.is_none() {
                        c.unknown_critical = Some(o);
                    }
                }
            }
        }
        Ok(c)
    }

    /// basicConstraints cA is TRUE.
    pub(crate) fn is_ca(&self) -> bool {
        self.bc.as_ref().is_some_and(|b| b.ca)
    }

    /// Version 3 (RFC 5280 §4.1.2.1; extensions require v3).
    pub(crate) fn is_v3(&self) -> bool {
        self.cert.tbs_certificate().version() == x509_cert::certificate::Version::V3
    }

    /// Serial number in hexadecimal.
    pub(crate) fn serial_hex(&self) -> String {
        hex::encode(self.cert.tbs_certificate().serial_number().as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkits(name: &str) -> Vec<u8> {
        let p = format!(
            "{}/../../shared/conformance/pkits/certs/{name}.crt",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
    }

    #[test]
    fn pre_1970_not_before_is_clamped() {
        // PKITS 4.2.3: notBefore 1950-01-01 (UTCTime "50...").
        let der = pkits("Validpre2000UTCnotBeforeDateTest3EE");
        assert!(
            Certificate::from_der(&der).is_err(),
            "der 0.8 cannot decode it"
        );
        let c = Cert::parse(&der).expect("decoded with the clamp");
        assert_eq!(c.not_before, 0);
        assert_eq!(c.der, der, "original bytes kept for the signature");
    }

    #[test]
    fn extensions_are_decoded() {
        let c = Cert::parse(&pkits("GoodCACert")).expect("Good CA");
        assert!(c.is_ca() && c.is_v3() && !c.self_issued);
        assert!(c.ski.is_some() && c.aki.is_some() && c.has_aki);
        assert!(c.unknown_critical.is_none());
        let u =
            Cert::parse(&pkits("InvalidUnknownCriticalCertificateExtensionTest2EE")).expect("EE");
        assert_eq!(
            u.unknown_critical.map(|o| o.to_string()).as_deref(),
            Some("2.16.840.1.101.2.1.12.2")
        );
    }
}
