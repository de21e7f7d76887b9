//! The names an organisation (団体) has registered: DNS domains (e.g. `city.chiyoda.lg.jp`,
//! covering the domain and everything under it) and IP networks (`10.1.2.0/24`). Officers may
//! ask only for subjectAltNames inside their own organisation's registered names.

use std::net::IpAddr;

use crate::error::{Error, Result};
use crate::san::{SanEntry, dns_under};

/// The fewest labels a registered domain has: `lg.jp` and other public suffixes (two labels)
/// belong to no single organisation.
pub const MIN_DOMAIN_LABELS: usize = 3;

/// Shortest IPv4 and IPv6 prefixes that can be registered (a whole /8 is nobody's own).
const MIN_PREFIX_V4: u8 = 8;
const MIN_PREFIX_V6: u8 = 32;

/// One registered name of an organisation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OrgName {
    /// A DNS domain and its subdomains, lower-case.
    Domain(String),
    /// An IP network (address with its host bits zero, prefix length).
    Network(IpAddr, u8),
}

impl OrgName {
    /// Parses `--domain VALUE`: a DNS domain of at least [`MIN_DOMAIN_LABELS`] labels, or an
    /// IP address or network in CIDR notation (`10.1.2.0/24`, `2001:db8:1::/48`).
    pub fn parse(value: &str) -> Result<OrgName> {
        let bad = |reason: String| Error::InvalidArgument {
            name: "--domain",
            value: value.to_string(),
            reason,
        };
        let v = value.trim().trim_end_matches('.');
        let (addr, prefix) = match v.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (v, None),
        };
        if let Ok(ip) = addr.parse::<IpAddr>() {
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let min = if ip.is_ipv4() {
                MIN_PREFIX_V4
            } else {
                MIN_PREFIX_V6
            };
            let len = match prefix {
                None => max,
                Some(p) => p
                    .parse::<u8>()
                    .ok()
                    .filter(|n| *n <= max)
                    .ok_or_else(|| bad(format!("prefix length 0..={max} expected")))?,
            };
            if len < min {
                return Err(bad(format!(
                    "a /{len} network is too wide to belong to one organisation (at least /{min})"
                )));
            }
            if masked(ip, len) != ip {
                return Err(bad(format!(
                    "host bits are set; the network is {}/{len}",
                    masked(ip, len)
                )));
            }
            return Ok(OrgName::Network(ip, len));
        }
        if prefix.is_some() {
            return Err(bad("not an IP network".into()));
        }
        let d = v.to_ascii_lowercase();
        SanEntry::parse(&format!("dns:{d}")).map_err(|e| bad(e.to_string()))?;
        if d.split('.').count() < MIN_DOMAIN_LABELS {
            return Err(bad(format!(
                "{d} is a public suffix or too wide to belong to one organisation \
                 (register its own domain, e.g. city.chiyoda.lg.jp)"
            )));
        }
        Ok(OrgName::Domain(d))
    }

    /// Whether this registered name covers the subjectAltName `san` (DNS names and IP
    /// addresses; other types are not bound to organisations).
    pub fn covers(&self, san: &SanEntry) -> bool {
        match (self, san) {
            (OrgName::Domain(dom), SanEntry::Dns(d)) => dns_under(d, dom),
            (OrgName::Network(net, len), SanEntry::Ip(ip)) => {
                net.is_ipv4() == ip.is_ipv4() && masked(*ip, *len) == *net
            }
            _ => false,
        }
    }

    /// Whether two registered names share any name (one lies inside the other).
    pub fn overlaps(&self, other: &OrgName) -> bool {
        match (self, other) {
            (OrgName::Domain(a), OrgName::Domain(b)) => dns_under(a, b) || dns_under(b, a),
            (OrgName::Network(a, la), OrgName::Network(b, lb)) => {
                let l = (*la).min(*lb);
                a.is_ipv4() == b.is_ipv4() && masked(*a, l) == masked(*b, l)
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for OrgName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OrgName::Domain(d) => f.write_str(d),
            OrgName::Network(ip, len) => write!(f, "{ip}/{len}"),
        }
    }
}

/// Whether a subjectAltName is bound to organisations (DNS names and IP addresses are).
pub fn is_bound(san: &SanEntry) -> bool {
    matches!(san, SanEntry::Dns(_) | SanEntry::Ip(_))
}

fn masked(ip: IpAddr, len: u8) -> IpAddr {
    match ip {
        IpAddr::V4(a) => {
            let bits = u32::from(a);
            let mask = if len == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(len))
            };
            IpAddr::V4((bits & mask).into())
        }
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(len))
            };
            IpAddr::V6((bits & mask).into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn san(s: &str) -> SanEntry {
        SanEntry::parse(s).expect("san")
    }

    #[test]
    fn domains_and_networks_cover_only_their_own_names() {
        let d = OrgName::parse("City.Chiyoda.lg.jp.").expect("domain");
        assert_eq!(d, OrgName::Domain("city.chiyoda.lg.jp".into()));
        assert!(d.covers(&san("dns:www.city.chiyoda.lg.jp")));
        assert!(d.covers(&san("dns:city.chiyoda.lg.jp")));
        assert!(!d.covers(&san("dns:www.city.chuo.lg.jp")));
        assert!(!d.covers(&san("dns:xcity.chiyoda.lg.jp")));
        assert!(!d.covers(&san("dns:lg.jp")));
        let n = OrgName::parse("10.1.2.0/24").expect("net");
        assert!(n.covers(&san("ip:10.1.2.77")));
        assert!(!n.covers(&san("ip:10.1.3.1")));
        assert!(!n.covers(&san("ip:::ffff:10.1.2.1")));
        assert_eq!(
            OrgName::parse("10.0.0.1").expect("host"),
            OrgName::Network("10.0.0.1".parse().expect("ip"), 32)
        );
        assert!(OrgName::parse("2001:db8:1::/48").is_ok());
        for bad in [
            "lg.jp",
            "jp",
            "10.1.2.1/24",
            "10.0.0.0/7",
            "2001::/16",
            "*.city.lg.jp",
            "a/24",
            "",
        ] {
            assert!(OrgName::parse(bad).is_err(), "{bad}");
        }
        assert!(d.overlaps(&OrgName::parse("www.city.chiyoda.lg.jp").expect("sub")));
        assert!(!d.overlaps(&OrgName::parse("city.chuo.lg.jp").expect("other")));
        assert!(n.overlaps(&OrgName::parse("10.1.0.0/16").expect("wider")));
        assert!(!n.overlaps(&OrgName::parse("10.1.3.0/24").expect("next")));
    }
}
