//! Name constraints (RFC 5280 §4.2.1.10, §6.1.3 (b)-(c), §6.1.4 (g)).
//!
//! Instead of computing the intersection of permitted subtrees, the constraints of every CA
//! above a certificate are kept and each is checked: a name must fall within the permitted
//! subtrees of each constraint that has permitted subtrees of its type, and outside every
//! excluded subtree. This is equivalent to §6.1.4 (g).

use std::net::IpAddr;

use x509_cert::ext::pkix::constraints::NameConstraints;
use x509_cert::ext::pkix::constraints::name::GeneralSubtree;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::name::Name;

use super::cert::Cert;
use super::name::name_within;
use super::{Budget, PathError};

/// A name of a certificate subject to constraints.
#[derive(Debug)]
enum Subject<'a> {
    Dn(&'a Name),
    General(&'a GeneralName),
    Email(&'a str),
}

/// How a name relates to one subtree.
#[derive(PartialEq, Eq, Debug)]
enum Match {
    /// Different name form: the subtree does not apply.
    OtherForm,
    Yes,
    No,
    /// The subtree or the name is malformed, or of a form not supported.
    Unsupported,
}

/// Checks every name of `cert` against every constraint in `constraints`.
pub(crate) fn check(
    cert: &Cert,
    constraints: &[&NameConstraints],
    budget: &mut Budget,
) -> Result<(), PathError> {
    if constraints.is_empty() {
        return Ok(());
    }
    let mut names: Vec<Subject<'_>> = Vec::new();
    let subject = cert.cert.tbs_certificate().subject();
    if !subject.is_empty() {
        names.push(Subject::Dn(subject));
    }
    for g in cert.san.iter().flatten() {
        names.push(Subject::General(g));
    }
    // §4.2.1.10: without a subjectAltName, email addresses in the subject DN are checked
    // against rfc822Name constraints.
    if cert.san.is_none() {
        for e in &cert.subject_emails {
            names.push(Subject::Email(e));
        }
    }
    for nc in constraints {
        for name in &names {
            check_one(cert, name, nc, budget)?;
        }
    }
    Ok(())
}

fn describe(name: &Subject<'_>) -> String {
    match name {
        Subject::Dn(n) => format!("directoryName {n}"),
        Subject::Email(e) => format!("email {e}"),
        Subject::General(g) => match g {
            GeneralName::DnsName(d) => format!("dNSName {}", d.as_str()),
            GeneralName::Rfc822Name(d) => format!("rfc822Name {}", d.as_str()),
            GeneralName::UniformResourceIdentifier(d) => format!("URI {}", d.as_str()),
            GeneralName::IpAddress(o) => match ip_of(o.as_bytes()) {
                Some(ip) => format!("iPAddress {ip}"),
                None => format!("iPAddress {}", hex::encode(o.as_bytes())),
            },
            GeneralName::DirectoryName(n) => format!("directoryName {n}"),
            other => format!("{other:?}"),
        },
    }
}

fn check_one(
    cert: &Cert,
    name: &Subject<'_>,
    nc: &NameConstraints,
    budget: &mut Budget,
) -> Result<(), PathError> {
    let violation = |detail: &str| PathError::NameConstraintViolation {
        subject: cert.subject.clone(),
        name: describe(name),
        detail: detail.into(),
    };
    if let Some(permitted) = &nc.permitted_subtrees {
        let mut applicable = false;
        let mut matched = false;
        for st in permitted {
            budget.consume_name_constraint_comparison()?;
            match matches(name, st, false) {
                Match::OtherForm => {}
                Match::Yes => {
                    applicable = true;
                    matched = true;
                }
                Match::No => applicable = true,
                Match::Unsupported => {
                    return Err(violation("cannot be checked against a permitted subtree"));
                }
            }
        }
        if applicable && !matched {
            return Err(violation("is not within the permitted subtrees"));
        }
    }
    for st in nc.excluded_subtrees.iter().flatten() {
        budget.consume_name_constraint_comparison()?;
        match matches(name, st, true) {
            Match::Yes => return Err(violation("is within an excluded subtree")),
            Match::Unsupported => {
                return Err(violation("cannot be checked against an excluded subtree"));
            }
            _ => {}
        }
    }
    Ok(())
}

fn matches(name: &Subject<'_>, st: &GeneralSubtree, excluded: bool) -> Match {
    // §4.2.1.10: minimum MUST be zero and maximum absent.
    if st.minimum != 0 || st.maximum.is_some() {
        return Match::Unsupported;
    }
    let yes = |b: bool| if b { Match::Yes } else { Match::No };
    match (name, &st.base) {
        (Subject::Dn(n), GeneralName::DirectoryName(base)) => yes(name_within(n, base)),
        (Subject::General(GeneralName::DirectoryName(n)), GeneralName::DirectoryName(base)) => {
            yes(name_within(n, base))
        }
        (Subject::General(GeneralName::DnsName(d)), GeneralName::DnsName(c)) => {
            dns_match(d.as_str(), c.as_str(), excluded)
        }
        (Subject::General(GeneralName::Rfc822Name(e)), GeneralName::Rfc822Name(c)) => {
            email_match(e.as_str(), c.as_str())
        }
        (Subject::Email(e), GeneralName::Rfc822Name(c)) => email_match(e, c.as_str()),
        (
            Subject::General(GeneralName::UniformResourceIdentifier(u)),
            GeneralName::UniformResourceIdentifier(c),
        ) => uri_match(u.as_str(), c.as_str()),
        (Subject::General(GeneralName::IpAddress(ip)), GeneralName::IpAddress(c)) => {
            ip_match(ip.as_bytes(), c.as_bytes())
        }
        (Subject::Dn(_) | Subject::Email(_), _) => Match::OtherForm,
        (Subject::General(g), base) => {
            let supported = |x: &GeneralName| {
                matches!(
                    x,
                    GeneralName::DirectoryName(_)
                        | GeneralName::DnsName(_)
                        | GeneralName::Rfc822Name(_)
                        | GeneralName::UniformResourceIdentifier(_)
                        | GeneralName::IpAddress(_)
                )
            };
            if std::mem::discriminant(*g) != std::mem::discriminant(base) {
                Match::OtherForm
            } else if supported(base) {
                Match::No
            } else if g == &base {
                // Other forms (otherName, registeredID...): only identical values are known to match.
                Match::Yes
            } else {
                Match::Unsupported
            }
        }
    }
}

/// Lower-cases and strips one trailing dot.
fn norm_dns(s: &str) -> String {
    s.strip_suffix('.').unwrap_or(s).to_ascii_lowercase()
}

/// dNSName constraint (§4.2.1.10): any name formed by adding labels to the left matches;
/// a leading dot requires at least one added label. A wildcard name `*.b` is treated as
/// every name one label below `b`: for an excluded subtree it matches when any such name
/// could, for a permitted subtree only when all of them do (CVE-2025-61727).
fn dns_match(name: &str, constraint: &str, excluded: bool) -> Match {
    let n = norm_dns(name);
    let c = norm_dns(constraint);
    if !n.is_ascii() || n.is_empty() && !c.is_empty() {
        return Match::No;
    }
    if c.is_empty() {
        return Match::Yes;
    }
    // §4.2.1.10: a dNSName constraint is a host name; unlike URI and rfc822Name constraints
    // it has no leading-period form.
    if c.starts_with('.') {
        return Match::Unsupported;
    }
    let within =
        |n: &str| -> bool { n == c || (n.len() > c.len() && n.ends_with(&format!(".{c}"))) };
    if within(&n) {
        return Match::Yes;
    }
    if excluded && let Some(base) = n.strip_prefix("*.") {
        // Some name matched by the wildcard is in the excluded subtree when the
        // constraint is exactly one label below the wildcard's base.
        if let Some(head) = c.strip_suffix(base).and_then(|h| h.strip_suffix('.'))
            && !head.is_empty()
            && !head.contains('.')
        {
            return Match::Yes;
        }
    }
    Match::No
}

/// rfc822Name constraint (§4.2.1.10): a mailbox, a host, or (leading dot) a domain.
fn email_match(email: &str, constraint: &str) -> Match {
    let Some((local, host)) = email.rsplit_once('@') else {
        return Match::Unsupported;
    };
    if local.is_empty() || host.is_empty() {
        return Match::Unsupported;
    }
    if let Some((cl, ch)) = constraint.rsplit_once('@') {
        return if cl == local && ch.eq_ignore_ascii_case(host) {
            Match::Yes
        } else {
            Match::No
        };
    }
    let host = host.to_ascii_lowercase();
    let c = constraint.to_ascii_lowercase();
    if c.starts_with('.') {
        if host.ends_with(&c) {
            Match::Yes
        } else {
            Match::No
        }
    } else if host == c {
        Match::Yes
    } else {
        Match::No
    }
}

/// The host part of a URI (`scheme://[userinfo@]host[:port]/...`).
fn uri_host(uri: &str) -> Option<String> {
    let rest = uri.split_once("://")?.1;
    let auth = rest.split(['/', '?', '#']).next()?;
    let host = auth.rsplit_once('@').map_or(auth, |(_, h)| h);
    let host = if host.starts_with('[') {
        host.split_once(']').map(|(h, _)| &h[1..])?
    } else {
        host.split(':').next()?
    };
    if host.is_empty() {
        None
    } else {
        Some(host.to_ascii_lowercase())
    }
}

/// uniformResourceIdentifier constraint (§4.2.1.10): applies to the host part; a leading
/// dot means any subdomain.
fn uri_match(uri: &str, constraint: &str) -> Match {
    let Some(host) = uri_host(uri) else {
        return Match::Unsupported;
    };
    let c = constraint.to_ascii_lowercase();
    if c.starts_with('.') {
        if host.ends_with(&c) {
            Match::Yes
        } else {
            Match::No
        }
    } else if host == c {
        Match::Yes
    } else {
        Match::No
    }
}

fn ip_of(b: &[u8]) -> Option<IpAddr> {
    match b.len() {
        4 => <[u8; 4]>::try_from(b).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(b).ok().map(IpAddr::from),
        _ => None,
    }
}

/// iPAddress constraint (§4.2.1.10): address followed by a contiguous mask of the same size.
fn ip_match(ip: &[u8], constraint: &[u8]) -> Match {
    if ip.len() != 4 && ip.len() != 16 {
        return Match::Unsupported;
    }
    if constraint.len() != 8 && constraint.len() != 32 {
        return Match::Unsupported;
    }
    let (addr, mask) = constraint.split_at(constraint.len() / 2);
    // The mask must be a run of ones followed by zeros.
    let bits: Vec<bool> = mask
        .iter()
        .flat_map(|b| (0..8).rev().map(move |k| b >> k & 1 == 1))
        .collect();
    if bits.windows(2).any(|w| !w[0] && w[1]) {
        return Match::Unsupported;
    }
    // An IPv4 address is never within an IPv6 range and vice versa, but both are iPAddress
    // names: a permitted list of IPv6 ranges does not admit IPv4 addresses.
    if ip.len() != addr.len() {
        return Match::No;
    }
    let ok = ip
        .iter()
        .zip(addr)
        .zip(mask)
        .all(|((i, a), m)| i & m == a & m);
    if ok { Match::Yes } else { Match::No }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns() {
        assert_eq!(
            dns_match("foo.example.com", "example.com", false),
            Match::Yes
        );
        assert_eq!(dns_match("example.com", "example.com", false), Match::Yes);
        assert_eq!(dns_match("fooexample.com", "example.com", false), Match::No);
        assert_eq!(
            dns_match("a.example.com", ".example.com", false),
            Match::Unsupported
        );
        assert_eq!(
            dns_match("*.example.com", "bad.example.com", true),
            Match::Yes
        );
        assert_eq!(
            dns_match("*.example.com", "bad.example.com", false),
            Match::No
        );
    }

    #[test]
    fn email() {
        assert_eq!(email_match("a@example.com", "example.com"), Match::Yes);
        assert_eq!(email_match("a@sub.example.com", "example.com"), Match::No);
        assert_eq!(email_match("a@sub.example.com", ".example.com"), Match::Yes);
        assert_eq!(email_match("a@example.com", "b@example.com"), Match::No);
    }

    #[test]
    fn uri_and_ip() {
        assert_eq!(
            uri_match("http://user@Host.example.com:80/x", ".example.com"),
            Match::Yes
        );
        assert_eq!(uri_match("http://example.com/x", ".example.com"), Match::No);
        assert_eq!(
            ip_match(&[10, 1, 2, 3], &[10, 0, 0, 0, 255, 0, 0, 0]),
            Match::Yes
        );
        assert_eq!(
            ip_match(&[11, 1, 2, 3], &[10, 0, 0, 0, 255, 0, 0, 0]),
            Match::No
        );
        assert_eq!(
            ip_match(&[10, 1, 2, 3], &[10, 0, 0, 0, 255, 0, 255, 0]),
            Match::Unsupported
        );
    }
}
