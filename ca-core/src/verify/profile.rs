//! Certificate profile checks (RFC 5280 §4): requirements on conforming certificates that
//! path validation enforces, so that malformed or inconsistent certificates are refused
//! instead of being interpreted. Each rule is checked for one certificate in its role.

use const_oid::db::rfc5280 as oids;
use x509_cert::ext::pkix::name::GeneralName;

use super::PathError;
use super::cert::Cert;
use super::leaf::Purpose;

/// Where a certificate sits in the path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// The trust anchor certificate.
    Anchor,
    /// An intermediate CA certificate.
    Intermediate,
    /// The target certificate.
    Leaf,
}

/// Checks `c` against the RFC 5280 §4 rules for its role. `purpose` adds the CA/B Forum
/// rules for TLS server certificates when it is [`Purpose::ServerAuth`].
pub(crate) fn check(c: &Cert, role: Role, purpose: Option<Purpose>) -> Result<(), PathError> {
    let fail = |rule: &'static str| {
        Err(PathError::ProfileViolation {
            subject: c.subject.clone(),
            rule,
        })
    };
    let critical = |oid| c.critical.contains(&oid);
    let is_ca_role = role != Role::Leaf;
    let subject_empty = c.cert.tbs_certificate().subject().is_empty();
    // Trust anchors are trusted as configured (a target that is one: see `check_serial`).
    if role != Role::Anchor {
        check_serial(c)?;
    }
    // §4.2.1.1
    if critical(oids::ID_CE_AUTHORITY_KEY_IDENTIFIER) {
        return fail("RFC 5280 4.2.1.1: authorityKeyIdentifier MUST be non-critical");
    }
    if c.has_aki && c.aki.is_none() {
        return fail("RFC 5280 4.2.1.1: authorityKeyIdentifier MUST contain keyIdentifier");
    }
    // Self-issued certificates are exempt: a self-signed CA certificate may be used as an
    // intermediate in cross-certified topologies. So are trust anchors, which are trusted by
    // configuration (x509-limbo cve::cve-2024-0567 trusts a cross-certificate without AKI).
    if !c.has_aki && !c.self_issued && role != Role::Anchor {
        return fail(
            "RFC 5280 4.2.1.1: authorityKeyIdentifier MUST be present except in self-signed certificates",
        );
    }
    if role == Role::Anchor
        && c.self_issued
        && let (Some(a), Some(s)) = (&c.aki, &c.ski)
        && a != s
    {
        return fail(
            "RFC 5280 4.2.1.1: a self-signed certificate's authorityKeyIdentifier must equal its subjectKeyIdentifier",
        );
    }
    // §4.2.1.2
    if critical(oids::ID_CE_SUBJECT_KEY_IDENTIFIER) {
        return fail("RFC 5280 4.2.1.2: subjectKeyIdentifier MUST be non-critical");
    }
    // A version 1 trust anchor (a legacy root without extensions) is trusted as configured:
    // the extension requirements below apply to version 3 certificates.
    let legacy_anchor = role == Role::Anchor && !c.is_v3();
    if is_ca_role && c.ski.is_none() && !legacy_anchor {
        return fail("RFC 5280 4.2.1.2: subjectKeyIdentifier MUST appear in CA certificates");
    }
    // §4.2.1.3
    if let Some(ku) = &c.ku {
        if ku.0.is_empty() {
            return fail("RFC 5280 4.2.1.3: keyUsage MUST have at least one bit set");
        }
        if ku.key_cert_sign() && !c.is_ca() {
            return fail("RFC 5280 4.2.1.3: keyCertSign requires basicConstraints cA");
        }
        if c.is_ca() && !ku.key_cert_sign() {
            return fail(
                "RFC 5280 4.2.1.3/4.2.1.9: a CA certificate with keyUsage must assert keyCertSign",
            );
        }
    }
    // §4.1.2.6, §4.2.1.6
    if subject_empty {
        if is_ca_role {
            return fail("RFC 5280 4.1.2.6: a CA's subject MUST be a non-empty distinguished name");
        }
        if c.san.is_none() || !critical(oids::ID_CE_SUBJECT_ALT_NAME) {
            return fail(
                "RFC 5280 4.2.1.6: with an empty subject, subjectAltName MUST be present and critical",
            );
        }
    }
    if let Some(san) = &c.san {
        if san.is_empty() {
            return fail("RFC 5280 4.2.1.6: subjectAltName MUST NOT be empty");
        }
        for g in san {
            match g {
                GeneralName::DnsName(d) if !valid_dns_san(d.as_str()) => {
                    return fail("RFC 5280 4.2.1.6: malformed dNSName in subjectAltName");
                }
                GeneralName::Rfc822Name(e) if !valid_email(e.as_str()) => {
                    return fail("RFC 5280 4.2.1.6: malformed rfc822Name in subjectAltName");
                }
                _ => {}
            }
        }
    }
    // §4.2.1.9
    if role == Role::Anchor && !legacy_anchor {
        if !c.is_ca() {
            return fail(
                "RFC 5280 4.2.1.9: the trust anchor certificate lacks basicConstraints cA=TRUE",
            );
        }
        if !critical(oids::ID_CE_BASIC_CONSTRAINTS) {
            return fail("RFC 5280 4.2.1.9: the trust anchor's basicConstraints MUST be critical");
        }
    }
    // §4.2.1.10
    if let Some(nc) = &c.nc {
        if !c.is_ca() || role == Role::Leaf {
            return fail("RFC 5280 4.2.1.10: nameConstraints MUST only be used in CA certificates");
        }
        if !critical(oids::ID_CE_NAME_CONSTRAINTS) {
            return fail("RFC 5280 4.2.1.10: nameConstraints MUST be critical");
        }
        let p = nc.permitted_subtrees.as_ref();
        let e = nc.excluded_subtrees.as_ref();
        if p.is_none_or(|v| v.is_empty()) && e.is_none_or(|v| v.is_empty()) {
            return fail(
                "RFC 5280 4.2.1.10: nameConstraints MUST have permittedSubtrees or excludedSubtrees",
            );
        }
        if p.is_some_and(|v| v.is_empty()) || e.is_some_and(|v| v.is_empty()) {
            return fail("RFC 5280 4.2.1.10: GeneralSubtrees MUST NOT be empty");
        }
    }
    // §4.2.2.1
    if critical(oids::ID_PE_AUTHORITY_INFO_ACCESS) {
        return fail("RFC 5280 4.2.2.1: authorityInfoAccess MUST be non-critical");
    }
    rsa_modulus(c)?;
    // §4.2.1.11 requires conforming CAs to mark policyConstraints critical, but PKITS
    // (4.8.6, 4.10.x, 4.12.x) expects paths through non-critical ones to validate: not enforced.
    if role == Role::Leaf && purpose == Some(Purpose::ServerAuth) {
        server_leaf(c)?;
    }
    if role == Role::Anchor && purpose == Some(Purpose::ServerAuth) {
        server_root(c)?;
    }
    Ok(())
}

/// RFC 5280 §4.1.2.2: "The serial number MUST be a positive integer", and conforming CAs
/// use at most 20 octets. Applied to every certificate of a path but the trust anchor, and to
/// a target that is itself a trust anchor.
pub(crate) fn check_serial(c: &Cert) -> Result<(), PathError> {
    let serial = c.cert.tbs_certificate().serial_number().as_bytes();
    let rule = if serial.first().is_some_and(|b| b & 0x80 != 0) {
        "RFC 5280 4.1.2.2: the serial number MUST be positive (it is negative)"
    } else if serial.iter().all(|b| *b == 0) {
        "RFC 5280 4.1.2.2: the serial number MUST be positive (it is zero)"
    } else if serial.len() > 20 {
        "RFC 5280 4.1.2.2: the serial number MUST NOT be longer than 20 octets"
    } else {
        return Ok(());
    };
    Err(PathError::ProfileViolation {
        subject: c.subject.clone(),
        rule,
    })
}

/// CA/B Forum Baseline Requirements for TLS root certificates (§7.1.2.1.3): the
/// authorityKeyIdentifier, when present, holds the keyIdentifier only. RFC 5280 §4.2.1.1
/// allows authorityCertIssuer and authorityCertSerialNumber, so other purposes accept them.
/// Nor does a root carry extKeyUsage (§7.1.2.1.2: "MUST NOT").
fn server_root(c: &Cert) -> Result<(), PathError> {
    if c.aki_issuer_serial {
        return Err(PathError::ProfileViolation {
            subject: c.subject.clone(),
            rule: "CA/B Forum BR 7.1.2.1.3: a root's authorityKeyIdentifier MUST NOT contain authorityCertIssuer or authorityCertSerialNumber",
        });
    }
    if c.eku.is_some() && c.self_issued {
        return Err(PathError::ProfileViolation {
            subject: c.subject.clone(),
            rule: "CA/B Forum BR 7.1.2.1.2: a root certificate MUST NOT contain extKeyUsage",
        });
    }
    Ok(())
}

/// CA/B Forum Baseline Requirements for TLS server certificates: the subjectAltName is
/// non-critical when the subject is not empty (§7.1.2.7.12); extKeyUsage is non-critical and
/// without anyExtendedKeyUsage (§7.1.2.7.6, §7.1.2.7.10); the key is RSA of 2048 bits or
/// more or ECDSA on P-256, P-384 or P-521 (§6.1.5, §7.1.3.1.1); and the subject commonName
/// is spelled as §7.1.4.3 requires ([`cn_spelling`]).
fn server_leaf(c: &Cert) -> Result<(), PathError> {
    let fail = |rule| {
        Err(PathError::ProfileViolation {
            subject: c.subject.clone(),
            rule,
        })
    };
    let subject = c.cert.tbs_certificate().subject();
    if !subject.is_empty() && c.critical.contains(&oids::ID_CE_SUBJECT_ALT_NAME) {
        return fail(
            "CA/B Forum BR 7.1.2.7.12: subjectAltName MUST NOT be critical when the subject is not empty",
        );
    }
    if c.critical.contains(&oids::ID_CE_EXT_KEY_USAGE) {
        return fail("CA/B Forum BR 7.1.2.7.6: extKeyUsage MUST NOT be critical");
    }
    if c.eku
        .as_ref()
        .is_some_and(|e| e.iter().any(|k| *k == oids::ANY_EXTENDED_KEY_USAGE))
    {
        return fail("CA/B Forum BR 7.1.2.7.10: anyExtendedKeyUsage MUST NOT be present");
    }
    match crate::key::PublicKeyInfo::of(c.cert.tbs_certificate().subject_public_key_info()) {
        Ok(k) if k.is_rsa && k.bits >= 2048 => {}
        Ok(k) if !k.is_rsa && k.bits != 0 => {}
        _ => {
            return fail(
                "CA/B Forum BR 6.1.5: a TLS server key is RSA of at least 2048 bits or ECDSA on P-256, P-384 or P-521",
            );
        }
    }
    for atv in subject.iter() {
        if atv.oid != const_oid::db::rfc4519::CN {
            continue;
        }
        let Some(cn) = super::name::attr_string(&atv.value) else {
            continue;
        };
        let dns: Vec<&str> = c
            .san
            .iter()
            .flatten()
            .filter_map(|g| match g {
                GeneralName::DnsName(d) => Some(d.as_str()),
                _ => None,
            })
            .collect();
        if let Some(rule) = cn_spelling(&cn, &dns) {
            return Err(PathError::ProfileViolation {
                subject: c.subject.clone(),
                rule,
            });
        }
    }
    Ok(())
}

/// CA/B Forum BR §7.1.4.3: a commonName repeats a subjectAltName entry, an IPv4 address in
/// dotted decimal (RFC 3986 §3.2.2), an IPv6 address as RFC 5952 §4 writes it, a domain name
/// as a character-for-character copy of the dNSName. This checks the spelling: a CN that is
/// an address or a domain name written any other way is refused. A CN that names something
/// the SAN does not is not refused: BetterTLS (x509-limbo) expects such leaves to validate,
/// and clients match only the SAN (RFC 6125 §6.4.4 is obsolete for them).
fn cn_spelling(cn: &str, dns_sans: &[&str]) -> Option<&'static str> {
    if let Some(v4) = lenient_ipv4(cn)
        && cn != v4.to_string()
    {
        return Some(
            "CA/B Forum BR 7.1.4.3: an IPv4 address in the commonName MUST be in dotted decimal (RFC 3986 3.2.2)",
        );
    }
    if let Ok(v6) = cn.parse::<std::net::Ipv6Addr>()
        && cn != v6.to_string()
    {
        return Some(
            "CA/B Forum BR 7.1.4.3: an IPv6 address in the commonName MUST be written as RFC 5952 section 4 says",
        );
    }
    if !cn.is_ascii() && cn.contains('.') {
        let folded: String = cn
            .chars()
            .map(|ch| if ch.is_ascii() { ch } else { 'a' })
            .collect();
        if valid_ldh(folded.strip_prefix("*.").unwrap_or(&folded)) {
            return Some(
                "CA/B Forum BR 7.1.4.3: a domain name in the commonName MUST be a copy of a dNSName (A-labels, not U-labels)",
            );
        }
    }
    if dns_sans
        .iter()
        .any(|d| d.eq_ignore_ascii_case(cn) && *d != cn)
    {
        return Some(
            "CA/B Forum BR 7.1.4.3: the commonName MUST be a character-for-character copy of the dNSName",
        );
    }
    None
}

/// An IPv4 address in a spelling `inet_aton(3)` accepts: `0x`-prefixed hexadecimal as one
/// part, or four dotted parts in decimal (leading zeros allowed) or `0x` hexadecimal.
fn lenient_ipv4(s: &str) -> Option<std::net::Ipv4Addr> {
    let hex = |p: &str| {
        p.strip_prefix("0x")
            .or_else(|| p.strip_prefix("0X"))
            .filter(|h| !h.is_empty() && h.len() <= 8)
            .and_then(|h| u32::from_str_radix(h, 16).ok())
    };
    let parts: Vec<&str> = s.split('.').collect();
    match parts.as_slice() {
        [one] => hex(one).map(std::net::Ipv4Addr::from),
        [_, _, _, _] => {
            let mut octets = [0u8; 4];
            for (o, p) in octets.iter_mut().zip(&parts) {
                let v = if p.bytes().all(|b| b.is_ascii_digit()) && !p.is_empty() && p.len() <= 4 {
                    p.parse::<u32>().ok()?
                } else {
                    hex(p)?
                };
                *o = u8::try_from(v).ok()?;
            }
            Some(std::net::Ipv4Addr::from(octets))
        }
        _ => None,
    }
}

/// An RSA modulus must be a whole number of octets (CA/B Forum BR §6.1.5; RFC 8017 keys
/// in practice): a modulus of odd bit length indicates a broken key generator.
fn rsa_modulus(c: &Cert) -> Result<(), PathError> {
    let spki = c.cert.tbs_certificate().subject_public_key_info();
    if spki.algorithm.oid != const_oid::db::rfc5912::RSA_ENCRYPTION {
        return Ok(());
    }
    #[derive(der::Sequence)]
    struct RsaPublicKey<'a> {
        n: der::asn1::UintRef<'a>,
        e: der::asn1::UintRef<'a>,
    }
    let bad = |rule| {
        Err(PathError::ProfileViolation {
            subject: c.subject.clone(),
            rule,
        })
    };
    let Some(bytes) = spki.subject_public_key.as_bytes() else {
        return bad("RFC 8017 A.1.1: malformed RSA public key");
    };
    let Ok(key) = <RsaPublicKey<'_> as der::Decode>::from_der(bytes) else {
        return bad("RFC 8017 A.1.1: malformed RSA public key");
    };
    let _ = key.e;
    let n = key.n.as_bytes();
    if n.first().is_some_and(|&b| b < 0x80) {
        return bad("CA/B Forum BR 6.1.5: RSA modulus size in bits MUST be divisible by 8");
    }
    Ok(())
}

/// A dNSName in subjectAltName (RFC 5280 §4.2.1.6, preferred name syntax of RFC 1034 §3.5):
/// LDH labels, with a wildcard `*` allowed only as the whole left-most label.
pub(crate) fn valid_dns_san(name: &str) -> bool {
    let n = name.strip_prefix("*.").unwrap_or(name);
    valid_ldh(n)
}

/// A host name made of letter-digit-hyphen labels (RFC 1034 §3.5, RFC 1123 §2.1).
pub(crate) fn valid_ldh(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 253
        && n.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// An rfc822Name (RFC 5280 §4.2.1.6): `local-part@domain` with one `@` and a valid domain.
pub(crate) fn valid_email(e: &str) -> bool {
    match e.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty() && !domain.contains('@') && local.is_ascii() && valid_ldh(domain)
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid_dns_san("*.example.com"));
        assert!(!valid_dns_san(".example.com"));
        assert!(!valid_dns_san("foo_bar.example.com"));
        assert!(!valid_dns_san("a.*.example.com"));
        assert!(valid_email("*@example.com"));
        assert!(!valid_email("invalid@address@example.com"));
    }

    #[test]
    fn common_name_spelling() {
        for ok in [
            "127.0.0.1",
            "bad.example.com",
            "EE",
            "2001:db8::1",
            "山田 太郎",
        ] {
            assert_eq!(cn_spelling(ok, &["example.com"]), None, "{ok}");
        }
        assert_eq!(cn_spelling("example.com", &["example.com"]), None);
        for bad in [
            "0xC0A80101",
            "192.168.001.001",
            "2001:DB8::1",
            "2001:0db8:0:0:0:0:0:1",
            "2001:db8:0:0:1:0:0:1",
            "test-測試.com",
        ] {
            assert!(cn_spelling(bad, &[]).is_some(), "{bad}");
        }
        assert!(cn_spelling("Example.COM", &["example.com"]).is_some());
    }
}
