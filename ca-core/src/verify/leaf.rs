//! Checks on the end-entity certificate for an application: purpose (extendedKeyUsage,
//! RFC 5280 §4.2.1.12) and name matching (RFC 6125 §6 for DNS names and wildcards).

use std::net::IpAddr;

use const_oid::ObjectIdentifier;
use const_oid::db::rfc5280 as oids;
use x509_cert::ext::pkix::name::GeneralName;

use super::PathError;
use super::cert::Cert;

/// What the end-entity certificate is to be used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// TLS server authentication (id-kp-serverAuth).
    ServerAuth,
    /// TLS client authentication (id-kp-clientAuth).
    ClientAuth,
    /// S/MIME (id-kp-emailProtection).
    EmailProtection,
    /// Code signing (id-kp-codeSigning).
    CodeSigning,
    /// Any purpose: extendedKeyUsage is not checked.
    Any,
}

impl Purpose {
    fn oid(self) -> Option<ObjectIdentifier> {
        match self {
            Purpose::ServerAuth => Some(oids::ID_KP_SERVER_AUTH),
            Purpose::ClientAuth => Some(oids::ID_KP_CLIENT_AUTH),
            Purpose::EmailProtection => Some(oids::ID_KP_EMAIL_PROTECTION),
            Purpose::CodeSigning => Some(oids::ID_KP_CODE_SIGNING),
            Purpose::Any => None,
        }
    }
}

impl std::fmt::Display for Purpose {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Purpose::ServerAuth => "serverAuth",
            Purpose::ClientAuth => "clientAuth",
            Purpose::EmailProtection => "emailProtection",
            Purpose::CodeSigning => "codeSigning",
            Purpose::Any => "any",
        })
    }
}

impl std::str::FromStr for Purpose {
    type Err = String;

    /// The CLI names (`--purpose server|client|email|code-signing|any`), or the EKU names
    /// that [`Purpose`]'s `Display` prints.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "server" | "serverAuth" => Ok(Purpose::ServerAuth),
            "client" | "clientAuth" => Ok(Purpose::ClientAuth),
            "email" | "emailProtection" => Ok(Purpose::EmailProtection),
            "code-signing" | "codeSigning" => Ok(Purpose::CodeSigning),
            "any" => Ok(Purpose::Any),
            other => Err(format!(
                "unknown purpose {other:?}: expected server, client, email, code-signing or any"
            )),
        }
    }
}

/// extendedKeyUsage allows `purpose`: absent EKU means any purpose (§4.2.1.12), as does
/// anyExtendedKeyUsage. Applied to the leaf and, as most TLS clients do, to CAs that carry
/// an EKU (an EKU in a CA certificate constrains the certificates it issues).
pub(crate) fn check_purpose(cert: &Cert, purpose: Purpose) -> Result<(), PathError> {
    let (Some(want), Some(eku)) = (purpose.oid(), &cert.eku) else {
        return Ok(());
    };
    if eku
        .iter()
        .any(|k| *k == want || *k == oids::ANY_EXTENDED_KEY_USAGE)
    {
        Ok(())
    } else {
        Err(PathError::PurposeMismatch {
            subject: cert.subject.clone(),
            purpose: purpose.to_string(),
        })
    }
}

/// The leaf's subjectAltName matches `name`: an IP address literal against iPAddress
/// entries, `local@domain` against rfc822Name entries, otherwise a DNS name against dNSName
/// entries. The subject CN is not consulted (RFC 6125 §6.4.4 is obsolete for new
/// applications; CA/B Forum BR §7.1.4.3).
pub(crate) fn check_name(cert: &Cert, name: &str) -> Result<(), PathError> {
    let mismatch = || PathError::NameMismatch {
        subject: cert.subject.clone(),
        name: name.to_owned(),
    };
    let sans = cert.san.as_deref().unwrap_or(&[]);
    let ok = if let Ok(ip) = name.parse::<IpAddr>() {
        let want: Vec<u8> = match ip {
            IpAddr::V4(v) => v.octets().to_vec(),
            IpAddr::V6(v) => v.octets().to_vec(),
        };
        sans.iter()
            .any(|g| matches!(g, GeneralName::IpAddress(o) if o.as_bytes() == want.as_slice()))
    } else if let Some((local, domain)) = name.rsplit_once('@') {
        sans.iter().any(|g| match g {
            GeneralName::Rfc822Name(e) => e
                .as_str()
                .rsplit_once('@')
                .is_some_and(|(l, d)| l == local && d.eq_ignore_ascii_case(domain)),
            _ => false,
        })
    } else {
        let Some(ref_id) = normalize_reference(name) else {
            return Err(mismatch());
        };
        sans.iter().any(|g| match g {
            GeneralName::DnsName(d) => dns_presented_matches(d.as_str(), &ref_id),
            _ => false,
        })
    };
    if ok { Ok(()) } else { Err(mismatch()) }
}

/// A reference DNS name: lower case, one trailing dot removed, LDH labels only.
fn normalize_reference(name: &str) -> Option<String> {
    let n = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    let valid = !n.is_empty()
        && n.len() <= 253
        && n.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && !l.starts_with('-')
                && !l.ends_with('-')
        });
    valid.then_some(n)
}

/// RFC 6125 §6.4.3 as TLS clients apply it: a wildcard only as the whole left-most label,
/// matching exactly one label, and not directly below a top-level domain.
fn dns_presented_matches(presented: &str, reference: &str) -> bool {
    let p = presented
        .strip_suffix('.')
        .unwrap_or(presented)
        .to_ascii_lowercase();
    if let Some(base) = p.strip_prefix("*.") {
        if base.contains('*') || !base.contains('.') || normalize_reference(base).is_none() {
            return false;
        }
        match reference.split_once('.') {
            Some((first, rest)) => !first.is_empty() && rest == base,
            None => false,
        }
    } else {
        normalize_reference(&p).is_some_and(|p| p == reference)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purpose_names_round_trip() {
        for p in [
            Purpose::ServerAuth,
            Purpose::ClientAuth,
            Purpose::EmailProtection,
            Purpose::CodeSigning,
            Purpose::Any,
        ] {
            assert_eq!(p.to_string().parse::<Purpose>(), Ok(p));
        }
        assert_eq!("code-signing".parse::<Purpose>(), Ok(Purpose::CodeSigning));
        assert!("tls".parse::<Purpose>().is_err());
    }

    #[test]
    fn wildcards() {
        assert!(dns_presented_matches("*.example.com", "a.example.com"));
        assert!(!dns_presented_matches("*.example.com", "a.b.example.com"));
        assert!(!dns_presented_matches("*.example.com", "example.com"));
        assert!(!dns_presented_matches("*.com", "example.com"));
        assert!(!dns_presented_matches("a*.example.com", "ab.example.com"));
        assert!(dns_presented_matches("Example.COM.", "example.com"));
    }
}
