//! Certification path validation (RFC 5280 §6) with path building.
//!
//! One entry point, [`validate_path`]: it builds candidate paths from the target certificate
//! to a trust anchor through an unordered pool of untrusted certificates (back-tracking when
//! a candidate fails), and validates each with the basic path validation algorithm of
//! RFC 5280 §6.1, including policy processing (as the policy graph of RFC 9618), name
//! constraints, and, when asked, revocation from supplied CRLs (§6.3). The first path that
//! validates is returned; when none does, the most specific failure is reported.
//!
//! ```no_run
//! use ca_core::{Purpose, ValidationOptions, validate_path};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let leaf = std::fs::read("leaf.der")?;
//! let pool = vec![std::fs::read("ica.der")?];
//! let anchors = vec![std::fs::read("root.der")?];
//! let mut opts = ValidationOptions::default(); // now, anyPolicy, no revocation
//! opts.crls = vec![std::fs::read("ica.crl")?, std::fs::read("root.crl")?];
//! opts.check_revocation = true;
//! opts.purpose = Some(Purpose::ServerAuth);
//! opts.name = Some("www.city.example.lg.jp".into());
//! match validate_path(&leaf, &pool, &anchors, &opts) {
//!     Ok(path) => println!("valid, {} certificates", path.chain.len()),
//!     Err(e) => println!("invalid: {e}"), // names the failing rule
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Beyond §6.1, certificates must meet the RFC 5280 §4 profile rules listed in `profile.rs`
//! (AKI/SKI presence and criticality, keyUsage/basicConstraints consistency, well-formed
//! subjectAltName entries, critical nameConstraints only in CA certificates...).
//!
//! Not supported: DSA, Ed448, P-521 and other algorithms `sigverify` lacks; OCSP and fetching
//! (CRLs are only those supplied); name constraints on otherName, x400Address, ediPartyName and
//! registeredID beyond exact equality; Unicode normalisation (RFC 4518) in name comparison
//! beyond case folding and whitespace; validity dates before 1970 (clamped to 1970, which only
//! matters for notBefore). policyConstraints is accepted when non-critical (PKITS requires it).
//!
//! Trust anchors are given as certificates; their name and key are the trust anchor
//! information of §6.1.1 (d). Their signature and policies are not processed, but the anchor
//! certificate must be within its validity period, carry no unrecognized critical extension
//! and, when it is version 3, be a conforming CA certificate (critical basicConstraints with
//! cA, keyCertSign when keyUsage is present); its pathLenConstraint and name constraints, when
//! present, constrain the path (§6.2). A version 1 anchor is trusted as configured.

mod budget;
mod build;
pub(crate) mod cert;
mod crl;
mod error;
mod leaf;
mod name;
mod nc;
mod policy;
mod profile;

pub use budget::Budget;
pub use error::PathError;
pub use leaf::Purpose;

use crate::oid::Oid;

/// Default for [`ValidationOptions::max_intermediates`]: at most 6 intermediate
/// certificates, the `MAX_SUB_CA_COUNT` of rustls-webpki (`verify_cert.rs`), itself the
/// limit of Mozilla's mozilla::pkix; deep enough for PKITS and for bridge/cross-certified
/// hierarchies such as the LGPKI's.
pub const DEFAULT_MAX_INTERMEDIATES: usize = 6;

/// Inputs of RFC 5280 §6.1.1 and application checks for [`validate_path`].
#[derive(Clone, Debug)]
pub struct ValidationOptions {
    /// Validation time, seconds since the Unix epoch (§6.1.1 (b)).
    pub time: u64,
    /// user-initial-policy-set (§6.1.1 (c)); empty means `{anyPolicy}`.
    pub initial_policy_set: Vec<Oid>,
    /// initial-explicit-policy (§6.1.1 (g)).
    pub initial_explicit_policy: bool,
    /// initial-policy-mapping-inhibit (§6.1.1 (e)).
    pub initial_policy_mapping_inhibit: bool,
    /// initial-any-policy-inhibit (§6.1.1 (i)).
    pub initial_any_policy_inhibit: bool,
    /// DER CRLs for revocation checking (complete and delta CRLs, any issuers). CRLs that
    /// do not decode are ignored.
    pub crls: Vec<Vec<u8>>,
    /// Check revocation of every certificate but the trust anchor with [`Self::crls`]; a
    /// certificate whose status cannot be determined fails validation (§6.3.3 (k)).
    pub check_revocation: bool,
    /// Required purpose of the target (extendedKeyUsage); `None` checks nothing.
    pub purpose: Option<Purpose>,
    /// Name the target must carry in subjectAltName: DNS name (wildcards as TLS clients
    /// accept them), IP address, or email address.
    pub name: Option<String>,
    /// Maximum number of intermediate certificates in a path, not counting self-issued ones
    /// (key rollover certificates, as for pathLenConstraint, §6.1.4 (l)).
    pub max_intermediates: usize,
    /// Work limits.
    pub budget: Budget,
}

impl ValidationOptions {
    /// Defaults at validation time `time` (seconds since the Unix epoch): any policy, no
    /// inhibitors, no revocation checking, no purpose or name.
    pub fn at(time: u64) -> Self {
        ValidationOptions {
            time,
            initial_policy_set: Vec::new(),
            initial_explicit_policy: false,
            initial_policy_mapping_inhibit: false,
            initial_any_policy_inhibit: false,
            crls: Vec::new(),
            check_revocation: false,
            purpose: None,
            name: None,
            max_intermediates: DEFAULT_MAX_INTERMEDIATES,
            budget: Budget::default(),
        }
    }
}

impl Default for ValidationOptions {
    /// Defaults at the current time.
    fn default() -> Self {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        ValidationOptions::at(now)
    }
}

/// A path that validated.
#[derive(Clone, Debug)]
pub struct ValidatedPath {
    /// The certificates, target first, trust anchor last.
    pub chain: Vec<x509_cert::Certificate>,
    /// user-constrained-policy-set (§6.1.6), sorted; contains anyPolicy (2.5.29.32.0) when
    /// the path is valid for any policy; empty when no policy is valid (allowed unless an
    /// explicit policy is required).
    pub user_constrained_policy_set: Vec<Oid>,
}

/// Builds and validates a certification path from `leaf_der` to one of `anchors_der`
/// through `untrusted_der` (all DER certificates). Untrusted certificates that do not decode
/// are ignored; a target or trust anchor that does not decode is an error. A target that is
/// itself one of the trust anchors validates as a one-element chain when it is within its
/// validity period (its user-constrained-policy-set is then the user-initial-policy-set).
pub fn validate_path(
    leaf_der: &[u8],
    untrusted_der: &[Vec<u8>],
    anchors_der: &[Vec<u8>],
    opts: &ValidationOptions,
) -> Result<ValidatedPath, PathError> {
    let leaf = cert::Cert::parse(leaf_der)?;
    // Inputs are attacker-controlled; nothing below panics on them (no unwrap on input).
    if let Some(purpose) = opts.purpose {
        leaf::check_purpose(&leaf, purpose)?;
    }
    if let Some(name) = &opts.name {
        leaf::check_name(&leaf, name)?;
    }
    if anchors_der.iter().any(|a| a.as_slice() == leaf_der) {
        // The target is itself a trust anchor: trusted as configured, a one-element chain.
        // It is still a target certificate: its serial number must be well-formed.
        build::check_validity(&leaf, opts.time)?;
        profile::check_serial(&leaf)?;
        let set = if opts.initial_policy_set.is_empty() {
            vec![crate::oid::Oid::from(const_oid::db::rfc5280::ANY_POLICY)]
        } else {
            opts.initial_policy_set.clone()
        };
        return Ok(ValidatedPath {
            chain: vec![leaf.cert],
            user_constrained_policy_set: set,
        });
    }
    let mut items = vec![(build::Item::Parsed(Box::new(leaf)), false)];
    // Identical certificates are tried once; trust anchors are not repeated in the pool. The
    // pool is decoded lazily, when the search reaches a certificate.
    let mut seen: std::collections::HashSet<build::Tail<'_>> =
        anchors_der.iter().map(|a| build::Tail::of(a)).collect();
    seen.insert(build::Tail::of(leaf_der));
    for d in untrusted_der {
        if seen.insert(build::Tail::of(d)) {
            items.push((build::Item::Raw(d.as_slice()), false));
        }
    }
    for d in anchors_der {
        items.push((build::Item::Parsed(Box::new(cert::Cert::parse(d)?)), true));
    }
    let crls = if opts.check_revocation {
        opts.crls
            .iter()
            .filter_map(|d| crl::Crl::parse(d).ok())
            .collect()
    } else {
        Vec::new()
    };
    let ctx = build::Ctx::new(items, crls, opts);
    let mut st = build::State {
        budget: opts.budget,
        sig_cache: Default::default(),
        crl_sig_cache: Default::default(),
        issuer_cache: Default::default(),
    };
    let run = build::Run {
        initial_policy_set: opts.initial_policy_set.clone(),
        explicit: opts.initial_explicit_policy,
        mapping_inhibit: opts.initial_policy_mapping_inhibit,
        any_inhibit: opts.initial_any_policy_inhibit,
        purpose: opts.purpose,
        anchor: None,
        // A CRL issuer's own certificate is checked too, one level deep.
        revocation_depth: opts.check_revocation.then_some(2),
    };
    let (path, policies) = st.build(&ctx, 0, &run)?;
    Ok(ValidatedPath {
        chain: path
            .iter()
            .map(|&k| ctx.on_path(k).map(|c| c.cert.clone()))
            .collect::<Result<_, _>>()?,
        user_constrained_policy_set: policies,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_malformed() {
        let opts = ValidationOptions::at(0);
        for input in [
            &b""[..],
            b"\x30\x03\x02\x01\x01",
            b"\x30\x80",
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
        ] {
            let r = validate_path(input, &[input.to_vec()], &[], &opts);
            assert!(matches!(r, Err(PathError::Malformed { .. })), "{r:?}");
        }
    }
}
