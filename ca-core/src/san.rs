//! subjectAltName entries: parsing `--san TYPE:VALUE`, syntax checks, and encoding
//! (RFC 5280 §4.2.1.6).

use std::net::IpAddr;

use der::asn1::{Ia5String, OctetString};
use x509_cert::ext::pkix::name::GeneralName;

use crate::error::{Error, Result};
use crate::profile::SanType;

/// One subjectAltName entry.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "type", content = "value", rename_all = "lowercase")]
pub enum SanEntry {
    /// dNSName, lower-cased.
    Dns(String),
    /// rfc822Name.
    Email(String),
    /// uniformResourceIdentifier.
    Uri(String),
    /// iPAddress.
    Ip(IpAddr),
}

impl SanEntry {
    /// Parses the CLI form `dns:NAME`, `email:ADDR`, `uri:URI` or `ip:ADDR`, checking syntax.
    pub fn parse(s: &str) -> Result<SanEntry> {
        let bad = |reason: &str| Error::InvalidArgument {
            name: "--san",
            value: s.to_string(),
            reason: reason.to_string(),
        };
        let (ty, value) = s
            .split_once(':')
            .ok_or_else(|| bad("expected dns:NAME, email:ADDR, uri:URI or ip:ADDR"))?;
        let entry = match ty {
            "dns" => SanEntry::Dns(value.to_ascii_lowercase()),
            "email" => SanEntry::Email(value.to_string()),
            "uri" => SanEntry::Uri(value.to_string()),
            "ip" => SanEntry::Ip(value.parse().map_err(|_| bad("not an IP address"))?),
            _ => return Err(bad("type must be dns, email, uri or ip")),
        };
        entry.check_syntax().map_err(bad)?;
        Ok(entry)
    }

    /// The entry's type.
    pub fn kind(&self) -> SanType {
        match self {
            SanEntry::Dns(_) => SanType::Dns,
            SanEntry::Email(_) => SanType::Email,
            SanEntry::Uri(_) => SanType::Uri,
            SanEntry::Ip(_) => SanType::Ip,
        }
    }

    /// Checks the syntax the RFC asks for: preferred name syntax for dNSName (RFC 1034 §3.5 as
    /// amended by RFC 1123 §2.1, no wildcards), `local@domain` for rfc822Name (RFC 5280
    /// §4.2.1.6), an absolute URI with a scheme and host.
    pub fn check_syntax(&self) -> std::result::Result<(), &'static str> {
        match self {
            SanEntry::Dns(d) => check_dns(d),
            SanEntry::Email(e) => {
                let (local, domain) = e.rsplit_once('@').ok_or("an email address needs '@'")?;
                if local.is_empty()
                    || !e.is_ascii()
                    || e.chars()
                        .any(|c| c.is_ascii_whitespace() || c.is_ascii_control())
                {
                    return Err("bad email local part (ASCII, no spaces)");
                }
                check_dns(&domain.to_ascii_lowercase())
            }
            SanEntry::Uri(u) => {
                let (scheme, rest) = u.split_once("://").ok_or("a URI needs scheme://host")?;
                if scheme.is_empty()
                    || !scheme
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
                    || rest.is_empty()
                    || !u.is_ascii()
                    || u.chars().any(|c| c.is_ascii_whitespace())
                {
                    return Err("not an absolute ASCII URI");
                }
                Ok(())
            }
            SanEntry::Ip(_) => Ok(()),
        }
    }

    /// The x509-cert GeneralName.
    pub fn to_general_name(&self) -> Result<GeneralName> {
        let ia5 = |s: &str| Ia5String::new(s).map_err(Error::encode("subjectAltName"));
        Ok(match self {
            SanEntry::Dns(d) => GeneralName::DnsName(ia5(d)?),
            SanEntry::Email(e) => GeneralName::Rfc822Name(ia5(e)?),
            SanEntry::Uri(u) => GeneralName::UniformResourceIdentifier(ia5(u)?),
            SanEntry::Ip(ip) => {
                let bytes = match ip {
                    IpAddr::V4(v4) => v4.octets().to_vec(),
                    IpAddr::V6(v6) => v6.octets().to_vec(),
                };
                GeneralName::IpAddress(OctetString::new(bytes).map_err(Error::encode("iPAddress"))?)
            }
        })
    }

    /// Reads a GeneralName of a supported type.
    pub fn from_general_name(gn: &GeneralName) -> Option<SanEntry> {
        match gn {
            GeneralName::DnsName(d) => Some(SanEntry::Dns(d.as_str().to_ascii_lowercase())),
            GeneralName::Rfc822Name(e) => Some(SanEntry::Email(e.as_str().to_string())),
            GeneralName::UniformResourceIdentifier(u) => {
                Some(SanEntry::Uri(u.as_str().to_string()))
            }
            GeneralName::IpAddress(o) => match o.as_bytes().len() {
                4 => <[u8; 4]>::try_from(o.as_bytes())
                    .ok()
                    .map(|b| SanEntry::Ip(IpAddr::from(b))),
                16 => <[u8; 16]>::try_from(o.as_bytes())
                    .ok()
                    .map(|b| SanEntry::Ip(IpAddr::from(b))),
                _ => None,
            },
            _ => None,
        }
    }
}

impl std::fmt::Display for SanEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SanEntry::Dns(v) => write!(f, "dns:{v}"),
            SanEntry::Email(v) => write!(f, "email:{v}"),
            SanEntry::Uri(v) => write!(f, "uri:{v}"),
            SanEntry::Ip(v) => write!(f, "ip:{v}"),
        }
    }
}

fn check_dns(d: &str) -> std::result::Result<(), &'static str> {
    if d.is_empty() || d.len() > 253 {
        return Err("a DNS name has 1 to 253 characters");
    }
    for label in d.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err("DNS labels have 1 to 63 characters");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("DNS labels do not start or end with '-'");
        }
        if !label
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(
                "DNS names are letters, digits and '-' (use the A-label of an IDN; no wildcards)",
            );
        }
    }
    Ok(())
}

/// Whether `name` equals `suffix` or lies under it, label-wise.
pub fn dns_under(name: &str, suffix: &str) -> bool {
    let suffix = suffix.trim_start_matches('.');
    name == suffix || name.ends_with(&format!(".{suffix}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_checks() {
        assert_eq!(
            SanEntry::parse("dns:WWW.City.Chiyoda.LG.JP").expect("dns"),
            SanEntry::Dns("www.city.chiyoda.lg.jp".into())
        );
        assert!(SanEntry::parse("ip:10.0.0.1").is_ok());
        assert!(SanEntry::parse("email:taro@city.chiyoda.lg.jp").is_ok());
        for bad in [
            "dns:*.lg.jp",
            "dns:a..lg.jp",
            "dns:-a.lg.jp",
            "email:nobody",
            "ip:300.1.1.1",
            "uri:nope",
            "x:1",
            "dns",
        ] {
            assert!(SanEntry::parse(bad).is_err(), "{bad}");
        }
        assert!(dns_under("www.city.lg.jp", "lg.jp"));
        assert!(dns_under("lg.jp", "lg.jp"));
        assert!(!dns_under("evillg.jp", "lg.jp"));
    }
}
