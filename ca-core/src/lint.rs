//! The pre-signing linter: RFC 5280 rules checked on the exact TBSCertificate bytes before the
//! CA key signs them. Each rule is a small function adding [`LintFinding`]s; any finding stops
//! issuance ([`Error::LintFailed`]).

use const_oid::ObjectIdentifier;
use const_oid::db::rfc5280;
use der::{Decode, Tag, Tagged};
use x509_cert::TbsCertificate;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages,
    SubjectAltName, SubjectKeyIdentifier,
};
use x509_cert::time::Time;

use crate::build::from_x509_time;
use crate::error::{Error, LintFinding, Result};
use crate::key::{PublicKeyInfo, SignatureAlgorithm};
use crate::name::AttrType;
use crate::san::SanEntry;

/// Every rule id the linter can report ([`LintFinding::rule`]), in the order the checks run.
/// `tests/lint_rules.rs` makes each one fire, alone, from one mutation of a good TBS; a unit
/// test below keeps this list equal to the ids the code uses.
pub const RULES: &[&str] = &[
    "tbs_decodes",
    "extension_decodes",
    "version_v3",
    "serial_length",
    "serial_positive",
    "signature_algorithm_matches_key",
    "issuer_matches_ca_subject",
    "issuer_not_empty",
    "validity_time_encoding",
    "validity_order",
    "validity_within_issuer",
    "subject_attribute_encoding",
    "extension_unique",
    "aki_present",
    "aki_matches_issuer_ski",
    "aki_not_critical",
    "ski_present",
    "ca_basic_constraints",
    "ca_basic_constraints_critical",
    "ee_not_ca",
    "key_usage_present",
    "key_usage_critical",
    "key_usage_not_empty",
    "ca_key_cert_sign",
    "ee_no_cert_sign",
    "ec_key_usage",
    "rsa_key_usage",
    "encipher_only_needs_agreement",
    "eku_consistent_with_key_usage",
    "eku_not_empty",
    "subject_or_san",
    "san_not_empty",
    "san_critical_when_subject_empty",
    "san_not_critical",
    "san_syntax",
    "san_supported",
    "rsa_key_size",
    "ec_curve",
    "public_key_decodes",
];

/// What the linter knows about the issuer.
#[derive(Debug)]
pub struct IssuerFacts<'a> {
    /// DER of the issuer's subject Name.
    pub subject_der: &'a [u8],
    /// The issuer's subjectKeyIdentifier.
    pub ski: &'a [u8],
    /// The issuer certificate's validity (None for a self-signed certificate being made).
    pub validity: Option<(time::OffsetDateTime, time::OffsetDateTime)>,
    /// The algorithm the issuer's key signs with.
    pub signature_algorithm: SignatureAlgorithm,
}

/// What the certificate is meant to be.
#[derive(Debug)]
pub struct Expectation {
    /// A CA certificate (basicConstraints cA TRUE).
    pub ca: bool,
    /// Smallest RSA modulus allowed.
    pub min_rsa_bits: usize,
}

struct Lint<'a> {
    tbs: &'a TbsCertificate,
    findings: Vec<LintFinding>,
}

impl Lint<'_> {
    fn fail(&mut self, rule: &'static str, source: &'static str, detail: impl Into<String>) {
        self.findings.push(LintFinding {
            rule,
            source,
            detail: detail.into(),
        });
    }

    fn ext(&self, oid: ObjectIdentifier) -> Option<&Extension> {
        self.tbs
            .extensions()
            .and_then(|e| e.iter().find(|x| x.extn_id == oid))
    }

    fn decode<T: for<'b> Decode<'b>>(
        &mut self,
        oid: ObjectIdentifier,
        name: &'static str,
    ) -> Option<T> {
        let ext = self.ext(oid)?;
        match T::from_der(ext.extn_value.as_bytes()) {
            Ok(v) => Some(v),
            Err(e) => {
                self.fail("extension_decodes", "RFC 5280 §4.2", format!("{name}: {e}"));
                None
            }
        }
    }
}

/// Lints the DER TBSCertificate `tbs_der` against RFC 5280 and the issuer. Returns the parsed TBS
/// when there is no finding.
pub fn lint_tbs(
    tbs_der: &[u8],
    issuer: &IssuerFacts<'_>,
    expect: &Expectation,
) -> Result<TbsCertificate> {
    let tbs = TbsCertificate::from_der(tbs_der).map_err(|e| Error::LintFailed {
        findings: vec![LintFinding {
            rule: "tbs_decodes",
            source: "RFC 5280 §4.1",
            detail: e.to_string(),
        }],
    })?;
    let mut l = Lint {
        tbs: &tbs,
        findings: Vec::new(),
    };
    check_version(&mut l);
    check_serial(&mut l);
    check_signature_algorithm(&mut l, issuer);
    check_issuer(&mut l, issuer);
    check_validity(&mut l, issuer);
    check_subject(&mut l);
    check_extensions_unique(&mut l);
    check_key_identifiers(&mut l, issuer);
    check_basic_constraints(&mut l, expect);
    check_key_usage(&mut l, expect);
    check_san(&mut l);
    check_public_key(&mut l, expect);
    if l.findings.is_empty() {
        Ok(tbs)
    } else {
        Err(Error::LintFailed {
            findings: l.findings,
        })
    }
}

/// RFC 5280 §4.1.2.1: extensions need v3.
fn check_version(l: &mut Lint<'_>) {
    if l.tbs.version() != x509_cert::certificate::Version::V3 {
        l.fail(
            "version_v3",
            "RFC 5280 §4.1.2.1",
            "certificates with extensions must be v3",
        );
    }
}

/// RFC 5280 §4.1.2.2: positive, non-zero, at most 20 octets.
fn check_serial(l: &mut Lint<'_>) {
    let bytes = l.tbs.serial_number().as_bytes();
    if bytes.len() > 20 {
        l.fail(
            "serial_length",
            "RFC 5280 §4.1.2.2",
            format!("{} octets", bytes.len()),
        );
    }
    if bytes.first().is_some_and(|b| b & 0x80 != 0) {
        l.fail("serial_positive", "RFC 5280 §4.1.2.2", "serial is negative");
    }
    if bytes.iter().all(|b| *b == 0) {
        l.fail("serial_positive", "RFC 5280 §4.1.2.2", "serial is zero");
    }
}

/// RFC 5280 §4.1.2.3: the TBS signature field equals the algorithm that will sign it.
fn check_signature_algorithm(l: &mut Lint<'_>, issuer: &IssuerFacts<'_>) {
    let want = issuer.signature_algorithm.algorithm_identifier();
    let have = l.tbs.signature();
    if have.oid != want.oid || have.parameters != want.parameters {
        l.fail(
            "signature_algorithm_matches_key",
            "RFC 5280 §4.1.2.3",
            format!("TBS names {} but the CA key signs {}", have.oid, want.oid),
        );
    }
}

/// RFC 5280 §4.1.2.4: the issuer field is the issuer's subject, non-empty.
fn check_issuer(l: &mut Lint<'_>, issuer: &IssuerFacts<'_>) {
    let have = der::Encode::to_der(l.tbs.issuer()).unwrap_or_default();
    if have != issuer.subject_der {
        l.fail(
            "issuer_matches_ca_subject",
            "RFC 5280 §4.1.2.4",
            "issuer differs from the CA's subject",
        );
    }
    if l.tbs.issuer().is_empty() {
        l.fail("issuer_not_empty", "RFC 5280 §4.1.2.4", "issuer is empty");
    }
}

/// RFC 5280 §4.1.2.5: time encodings, order, and nesting within the issuer's validity.
fn check_validity(l: &mut Lint<'_>, issuer: &IssuerFacts<'_>) {
    let v = l.tbs.validity();
    let (nb, na) = (v.not_before, v.not_after);
    for (name, t) in [("notBefore", nb), ("notAfter", na)] {
        let year = from_x509_time(&t).year();
        let ok = match t {
            Time::UtcTime(_) => year < 2050,
            Time::GeneralTime(_) => year >= 2050,
        };
        if !ok {
            l.fail(
                "validity_time_encoding",
                "RFC 5280 §4.1.2.5",
                format!("{name} must be UTCTime before 2050 and GeneralizedTime from 2050"),
            );
        }
    }
    let (nb, na) = (from_x509_time(&nb), from_x509_time(&na));
    if nb >= na {
        l.fail(
            "validity_order",
            "RFC 5280 §4.1.2.5",
            "notBefore is not before notAfter",
        );
    }
    if let Some((inb, ina)) = issuer.validity
        && (nb < inb || na > ina)
    {
        l.fail(
            "validity_within_issuer",
            "RFC 5280 §6.1.3 (a)(2)",
            "validity exceeds the issuer certificate's",
        );
    }
}

/// RFC 5280 §4.1.2.6 and Appendix A.1: string types and upper bounds.
fn check_subject(l: &mut Lint<'_>) {
    let mut problems = Vec::new();
    for atv in l.tbs.subject().iter() {
        let Some(ty) = AttrType::ORDER.into_iter().find(|t| t.oid() == atv.oid) else {
            problems.push(format!("unexpected attribute {}", atv.oid));
            continue;
        };
        let tag = atv.value.tag();
        let want_printable = ty.printable();
        if want_printable && tag != Tag::PrintableString {
            problems.push(format!("{} must be PrintableString", ty.short()));
        } else if !want_printable && tag != Tag::Utf8String && tag != Tag::PrintableString {
            problems.push(format!(
                "{} must be UTF8String or PrintableString",
                ty.short()
            ));
        }
        match crate::name::directory_string(&atv.value) {
            Ok(v) => {
                let n = v.chars().count();
                if n == 0 || n > ty.max_len() {
                    problems.push(format!(
                        "{} has {n} characters (1..={})",
                        ty.short(),
                        ty.max_len()
                    ));
                }
                if ty == AttrType::C && !v.chars().all(|c| c.is_ascii_uppercase()) {
                    problems.push("C must be an ISO 3166 alpha-2 code".into());
                }
            }
            Err(e) => problems.push(format!("{}: {e}", ty.short())),
        }
    }
    for p in problems {
        l.fail(
            "subject_attribute_encoding",
            "RFC 5280 §4.1.2.6, App. A.1",
            p,
        );
    }
}

/// RFC 5280 §4.2: a certificate MUST NOT include more than one instance of an extension.
fn check_extensions_unique(l: &mut Lint<'_>) {
    let Some(exts) = l.tbs.extensions() else {
        return;
    };
    let mut dup = Vec::new();
    for (i, e) in exts.iter().enumerate() {
        if exts[..i].iter().any(|x| x.extn_id == e.extn_id) {
            dup.push(e.extn_id.to_string());
        }
    }
    for d in dup {
        l.fail(
            "extension_unique",
            "RFC 5280 §4.2",
            format!("extension {d} appears twice"),
        );
    }
}

/// RFC 5280 §4.2.1.1/§4.2.1.2: AKI keyIdentifier equals the issuer's SKI; SKI present.
fn check_key_identifiers(l: &mut Lint<'_>, issuer: &IssuerFacts<'_>) {
    match l.decode::<AuthorityKeyIdentifier>(
        rfc5280::ID_CE_AUTHORITY_KEY_IDENTIFIER,
        "authorityKeyIdentifier",
    ) {
        Some(aki) => {
            if aki.key_identifier.as_ref().map(|k| k.as_bytes()) != Some(issuer.ski) {
                l.fail(
                    "aki_matches_issuer_ski",
                    "RFC 5280 §4.2.1.1",
                    "AKI keyIdentifier is not the issuer's SKI",
                );
            }
        }
        None => l.fail(
            "aki_present",
            "RFC 5280 §4.2.1.1",
            "authorityKeyIdentifier missing",
        ),
    }
    if l.ext(rfc5280::ID_CE_AUTHORITY_KEY_IDENTIFIER)
        .is_some_and(|e| e.critical)
    {
        l.fail(
            "aki_not_critical",
            "RFC 5280 §4.2.1.1",
            "AKI must be non-critical",
        );
    }
    match l.decode::<SubjectKeyIdentifier>(
        rfc5280::ID_CE_SUBJECT_KEY_IDENTIFIER,
        "subjectKeyIdentifier",
    ) {
        Some(ski) if ski.0.as_bytes().is_empty() => {
            l.fail("ski_present", "RFC 5280 §4.2.1.2", "empty SKI")
        }
        Some(_) => {}
        None => l.fail(
            "ski_present",
            "RFC 5280 §4.2.1.2",
            "subjectKeyIdentifier missing",
        ),
    }
}

/// RFC 5280 §4.2.1.9: CAs carry a critical basicConstraints with cA TRUE; end entities do not
/// assert cA; pathLenConstraint only with cA.
fn check_basic_constraints(l: &mut Lint<'_>, expect: &Expectation) {
    let critical = l.ext(rfc5280::ID_CE_BASIC_CONSTRAINTS).map(|e| e.critical);
    let bc = l.decode::<BasicConstraints>(rfc5280::ID_CE_BASIC_CONSTRAINTS, "basicConstraints");
    match (expect.ca, bc) {
        (true, Some(bc)) => {
            if !bc.ca {
                l.fail(
                    "ca_basic_constraints",
                    "RFC 5280 §4.2.1.9",
                    "CA certificate without cA TRUE",
                );
            }
            if critical != Some(true) {
                l.fail(
                    "ca_basic_constraints_critical",
                    "RFC 5280 §4.2.1.9",
                    "CA basicConstraints must be critical",
                );
            }
        }
        (true, None) => l.fail(
            "ca_basic_constraints",
            "RFC 5280 §4.2.1.9",
            "CA certificate without basicConstraints",
        ),
        (false, Some(bc)) => {
            if bc.ca || bc.path_len_constraint.is_some() {
                l.fail(
                    "ee_not_ca",
                    "RFC 5280 §4.2.1.9",
                    "end-entity certificate asserts cA or pathLen",
                );
            }
        }
        (false, None) => {}
    }
}

/// RFC 5280 §4.2.1.3 and §4.2.1.12, RFC 5480 §3, RFC 3279 §2.3.1: keyUsage present, critical,
/// consistent with CA-ness, key type and EKU.
fn check_key_usage(l: &mut Lint<'_>, expect: &Expectation) {
    let critical = l.ext(rfc5280::ID_CE_KEY_USAGE).map(|e| e.critical);
    let Some(ku) = l.decode::<KeyUsage>(rfc5280::ID_CE_KEY_USAGE, "keyUsage") else {
        l.fail("key_usage_present", "RFC 5280 §4.2.1.3", "keyUsage missing");
        return;
    };
    if critical != Some(true) {
        l.fail(
            "key_usage_critical",
            "RFC 5280 §4.2.1.3",
            "keyUsage should be critical",
        );
    }
    let bits = ku.0;
    if bits.is_empty() {
        l.fail(
            "key_usage_not_empty",
            "RFC 5280 §4.2.1.3",
            "no keyUsage bit set",
        );
    }
    let has = |k: KeyUsages| bits.contains(k);
    if expect.ca && !has(KeyUsages::KeyCertSign) {
        l.fail(
            "ca_key_cert_sign",
            "RFC 5280 §4.2.1.3",
            "CA certificate without keyCertSign",
        );
    }
    if !expect.ca && (has(KeyUsages::KeyCertSign) || has(KeyUsages::CRLSign)) {
        l.fail(
            "ee_no_cert_sign",
            "RFC 5280 §4.2.1.3",
            "end-entity certificate with keyCertSign or cRLSign",
        );
    }
    let spki = l.tbs.subject_public_key_info().clone();
    if let Ok(info) = PublicKeyInfo::of(&spki) {
        if !info.is_rsa && (has(KeyUsages::KeyEncipherment) || has(KeyUsages::DataEncipherment)) {
            l.fail(
                "ec_key_usage",
                "RFC 5480 §3",
                "EC keys cannot do keyEncipherment or dataEncipherment",
            );
        }
        if info.is_rsa
            && (has(KeyUsages::KeyAgreement)
                || has(KeyUsages::EncipherOnly)
                || has(KeyUsages::DecipherOnly))
        {
            l.fail(
                "rsa_key_usage",
                "RFC 3279 §2.3.1",
                "RSA keys cannot do keyAgreement",
            );
        }
    }
    if (has(KeyUsages::EncipherOnly) || has(KeyUsages::DecipherOnly))
        && !has(KeyUsages::KeyAgreement)
    {
        l.fail(
            "encipher_only_needs_agreement",
            "RFC 5280 §4.2.1.3",
            "encipherOnly/decipherOnly without keyAgreement",
        );
    }
    if let Some(eku) =
        l.decode::<ExtendedKeyUsage>(rfc5280::ID_CE_EXT_KEY_USAGE, "extendedKeyUsage")
    {
        let sig = has(KeyUsages::DigitalSignature);
        let nr = has(KeyUsages::NonRepudiation);
        let kx = has(KeyUsages::KeyEncipherment) || has(KeyUsages::KeyAgreement);
        for p in &eku.0 {
            // RFC 5280 §4.2.1.12: the key usage bits consistent with each purpose.
            let (ok, name) = match *p {
                o if o == rfc5280::ID_KP_SERVER_AUTH => (sig || kx, "serverAuth"),
                o if o == rfc5280::ID_KP_CLIENT_AUTH => {
                    (sig || has(KeyUsages::KeyAgreement), "clientAuth")
                }
                o if o == rfc5280::ID_KP_CODE_SIGNING => (sig, "codeSigning"),
                o if o == rfc5280::ID_KP_EMAIL_PROTECTION => (sig || nr || kx, "emailProtection"),
                o if o == rfc5280::ID_KP_TIME_STAMPING => (sig || nr, "timeStamping"),
                o if o == rfc5280::ID_KP_OCSP_SIGNING => (sig || nr, "OCSPSigning"),
                _ => (true, ""),
            };
            if !ok {
                l.fail(
                    "eku_consistent_with_key_usage",
                    "RFC 5280 §4.2.1.12",
                    format!("{name} without a matching keyUsage bit"),
                );
            }
        }
        if eku.0.is_empty() {
            l.fail(
                "eku_not_empty",
                "RFC 5280 §4.2.1.12",
                "empty extendedKeyUsage",
            );
        }
    }
}

/// RFC 5280 §4.2.1.6: SAN non-empty, critical iff the subject is empty, well-formed entries.
fn check_san(l: &mut Lint<'_>) {
    let subject_empty = l.tbs.subject().is_empty();
    let critical = l.ext(rfc5280::ID_CE_SUBJECT_ALT_NAME).map(|e| e.critical);
    match l.decode::<SubjectAltName>(rfc5280::ID_CE_SUBJECT_ALT_NAME, "subjectAltName") {
        None if subject_empty => l.fail(
            "subject_or_san",
            "RFC 5280 §4.1.2.6",
            "empty subject and no subjectAltName",
        ),
        None => {}
        Some(san) => {
            if san.0.is_empty() {
                l.fail("san_not_empty", "RFC 5280 §4.2.1.6", "empty subjectAltName");
            }
            if subject_empty && critical != Some(true) {
                l.fail(
                    "san_critical_when_subject_empty",
                    "RFC 5280 §4.2.1.6",
                    "subject is empty but SAN is not critical",
                );
            }
            if !subject_empty && critical == Some(true) {
                l.fail(
                    "san_not_critical",
                    "RFC 5280 §4.2.1.6",
                    "SAN should be non-critical when the subject is set",
                );
            }
            for gn in &san.0 {
                match SanEntry::from_general_name(gn) {
                    Some(e) => {
                        if let Err(why) = e.check_syntax() {
                            l.fail("san_syntax", "RFC 5280 §4.2.1.6", format!("{e}: {why}"));
                        }
                    }
                    None => l.fail(
                        "san_supported",
                        "RFC 5280 §4.2.1.6",
                        "unsupported GeneralName",
                    ),
                }
            }
        }
    }
}

/// Key size floor (LGPKI moved to RSA-2048 in 2014-15): no RSA under the profile minimum.
fn check_public_key(l: &mut Lint<'_>, expect: &Expectation) {
    match PublicKeyInfo::of(l.tbs.subject_public_key_info()) {
        Ok(info) if info.is_rsa && info.bits < expect.min_rsa_bits => l.fail(
            "rsa_key_size",
            "profile",
            format!(
                "RSA-{} is under the minimum of {}",
                info.bits, expect.min_rsa_bits
            ),
        ),
        Ok(info) if !info.is_rsa && info.algorithm.is_none() => l.fail(
            "ec_curve",
            "RFC 5480 §2.1.1.1",
            "curve is not P-256 or P-384",
        ),
        Ok(_) => {}
        Err(e) => l.fail("public_key_decodes", "RFC 5280 §4.1.2.7", e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::RULES;

    /// The rule ids passed to `fail(` (or set as `rule:`) in this file's code, in order.
    fn ids_in_source() -> Vec<String> {
        let src = include_str!("lint.rs");
        let code = &src[..src.find("#[cfg(test)]").unwrap_or(src.len())];
        let mut out = Vec::new();
        for marker in [".fail(", "rule: \""] {
            for (at, _) in code.match_indices(marker) {
                let rest = &code[at + marker.len()..];
                let rest = if marker.ends_with('"') {
                    rest
                } else {
                    match rest.trim_start().strip_prefix('"') {
                        Some(r) => r,
                        None => continue,
                    }
                };
                if let Some(end) = rest.find('"') {
                    out.push(rest[..end].to_string());
                }
            }
        }
        out
    }

    #[test]
    fn rules_lists_exactly_the_ids_the_code_reports() {
        let used: std::collections::BTreeSet<String> = ids_in_source().into_iter().collect();
        let listed: std::collections::BTreeSet<String> =
            RULES.iter().map(|r| r.to_string()).collect();
        assert_eq!(listed.len(), RULES.len(), "RULES has a duplicate");
        assert!(used.len() > 30, "the scan found only {used:?}");
        assert_eq!(used, listed, "RULES differs from the ids used in lint.rs");
    }
}
