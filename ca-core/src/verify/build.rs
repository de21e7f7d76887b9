//! Path building (RFC 4158 style depth-first search with back-tracking) and the RFC 5280
//! §6.1 basic path validation of each candidate path.

use std::collections::HashMap;

use const_oid::ObjectIdentifier;
use x509_cert::ext::pkix::constraints::NameConstraints;

use super::cert::{Cert, signed_part};
use super::crl::{self, Crl};
use super::leaf::{Purpose, check_purpose};
use super::name::name_eq;
use super::policy::PolicyState;
use super::profile::{self, Role};
use super::{Budget, PathError, ValidationOptions, nc};

/// Immutable inputs of one validation.
pub(crate) struct Ctx<'a> {
    /// Index 0 is the target; then the untrusted pool; then the trust anchors.
    pub certs: Vec<Cert>,
    pub is_anchor: Vec<bool>,
    pub crls: Vec<Crl>,
    pub opts: &'a ValidationOptions,
}

/// Mutable state: the budget and signature caches (a pair is verified at most once).
pub(crate) struct State {
    pub budget: Budget,
    pub sig_cache: HashMap<(usize, usize), Result<(), PathError>>,
    pub crl_sig_cache: HashMap<(usize, usize), bool>,
    /// Candidate issuers per certificate, computed once (name comparison is not free and
    /// pathological graphs revisit the same certificates many times).
    pub issuer_cache: HashMap<usize, Vec<usize>>,
}

/// Settings of one path search: the main one, or a nested one for a CRL issuer.
#[derive(Clone)]
pub(crate) struct Run {
    pub initial_policy_set: Vec<ObjectIdentifier>,
    pub explicit: bool,
    pub mapping_inhibit: bool,
    pub any_inhibit: bool,
    pub purpose: Option<Purpose>,
    /// Only paths ending at this trust anchor (CRL issuers, RFC 5280 §6.3.3 (f)).
    pub anchor: Option<usize>,
    /// Remaining nesting of revocation checks; `None` when revocation is not checked.
    pub revocation_depth: Option<usize>,
}

/// A validated path: indices from the target up to the trust anchor, and the
/// user-constrained-policy-set.
pub(crate) type Found = (Vec<usize>, Vec<ObjectIdentifier>);

/// Keeps the most specific of two errors (the earlier one among equals).
pub(crate) fn better(best: Option<PathError>, e: PathError) -> Option<PathError> {
    match best {
        Some(b) if b.rank() >= e.rank() => Some(b),
        _ => Some(e),
    }
}

impl Ctx<'_> {
    /// Candidate issuers of `child`: names chain (RFC 5280 §6.1.3 (a)(4), compared per §7.1)
    /// and, when both are present, the authorityKeyIdentifier equals the subjectKeyIdentifier
    /// (§4.2.1.1). Trust anchors come first.
    fn issuers_of(&self, child: usize) -> Vec<usize> {
        let c = &self.certs[child];
        let issuer = c.cert.tbs_certificate().issuer();
        let mut out: Vec<usize> = (0..self.certs.len())
            .filter(|&k| {
                let cand = &self.certs[k];
                name_eq(cand.cert.tbs_certificate().subject(), issuer)
                    && match (&c.aki, &cand.ski) {
                        (Some(a), Some(s)) => a == s,
                        _ => true,
                    }
            })
            .collect();
        out.sort_by_key(|&k| !self.is_anchor[k]);
        out
    }

    /// Checks that a certificate can act as an intermediate CA on its own (validity and
    /// §6.1.4 (k), (n), (o)), so that bad branches are pruned early.
    fn check_intermediate(&self, c: &Cert, purpose: Option<Purpose>) -> Result<(), PathError> {
        check_validity(c, self.opts.time)?;
        profile::check(c, Role::Intermediate, purpose)?;
        if !c.is_v3() {
            return Err(PathError::NotV3 {
                subject: c.subject.clone(),
            });
        }
        if !c.is_ca() {
            return Err(PathError::NotCa {
                subject: c.subject.clone(),
            });
        }
        if c.ku.as_ref().is_some_and(|k| !k.key_cert_sign()) {
            return Err(PathError::MissingKeyCertSign {
                subject: c.subject.clone(),
            });
        }
        check_critical(c)
    }
}

/// §6.1.3 (a)(2): the validation time is within the validity period.
pub(crate) fn check_validity(c: &Cert, time: u64) -> Result<(), PathError> {
    if time < c.not_before {
        return Err(PathError::NotYetValid {
            subject: c.subject.clone(),
            not_before: c.not_before,
        });
    }
    if time > c.not_after {
        return Err(PathError::Expired {
            subject: c.subject.clone(),
            not_after: c.not_after,
        });
    }
    Ok(())
}

/// §6.1.4 (o), §6.1.5 (f): no unrecognized critical extension.
fn check_critical(c: &Cert) -> Result<(), PathError> {
    match c.unknown_critical {
        Some(oid) => Err(PathError::UnknownCriticalExtension {
            subject: c.subject.clone(),
            oid: oid.to_string(),
        }),
        None => Ok(()),
    }
}

/// Verifies the signature on `signed_der` (a certificate or CRL) with `issuer`'s key.
/// The inner and outer signature algorithms must be identical (§4.1.1.2, §5.1.1.2).
pub(crate) fn verify_signed(
    signed_der: &[u8],
    inner_alg: &spki::AlgorithmIdentifierOwned,
    outer_alg: &spki::AlgorithmIdentifierOwned,
    signature: &der::asn1::BitString,
    issuer: &Cert,
    budget: &mut Budget,
) -> Result<(), String> {
    if inner_alg != outer_alg {
        return Err("inner and outer signature algorithms differ (RFC 5280 4.1.1.2)".into());
    }
    let tbs = signed_part(signed_der).map_err(|e| e.to_string())?;
    let sig = signature.as_bytes().ok_or("signature has unused bits")?;
    budget
        .consume_signature()
        .map_err(|_| "budget".to_string())?;
    crate::sigverify::verify_signature(
        issuer.cert.tbs_certificate().subject_public_key_info(),
        outer_alg,
        tbs,
        sig,
    )
    .map_err(|e| e.to_string())
}

impl State {
    /// §6.1.3 (a)(1): `child` is signed by `issuer`'s key (cached).
    fn verify_cert_sig(
        &mut self,
        ctx: &Ctx<'_>,
        child: usize,
        issuer: usize,
    ) -> Result<(), PathError> {
        if let Some(r) = self.sig_cache.get(&(child, issuer)) {
            return r.clone();
        }
        let c = &ctx.certs[child];
        let r = verify_signed(
            &c.der,
            c.cert.tbs_certificate().signature(),
            c.cert.signature_algorithm(),
            c.cert.signature(),
            &ctx.certs[issuer],
            &mut self.budget,
        );
        let r = match r {
            Ok(()) => Ok(()),
            Err(d) if d == "budget" => {
                return Err(PathError::BudgetExceeded {
                    what: "signature checks",
                });
            }
            Err(detail) => Err(PathError::BadSignature {
                subject: c.subject.clone(),
                detail,
            }),
        };
        self.sig_cache.insert((child, issuer), r.clone());
        r
    }

    /// Finds and validates a path from `target` to a trust anchor.
    pub(crate) fn build(
        &mut self,
        ctx: &Ctx<'_>,
        target: usize,
        run: &Run,
    ) -> Result<Found, PathError> {
        let mut path = vec![target];
        self.extend(ctx, &mut path, run)
    }

    fn extend(
        &mut self,
        ctx: &Ctx<'_>,
        path: &mut Vec<usize>,
        run: &Run,
    ) -> Result<Found, PathError> {
        self.budget.consume_build_chain_call()?;
        let child = path[path.len() - 1];
        let mut best: Option<PathError> = None;
        let cands = self
            .issuer_cache
            .entry(child)
            .or_insert_with(|| ctx.issuers_of(child))
            .clone();
        for cand in cands {
            let anchor = ctx.is_anchor[cand];
            if anchor && run.anchor.is_some_and(|a| a != cand) {
                continue;
            }
            // Loop detection: a certificate, or another with the same subject and key, is
            // used at most once in a path.
            if path
                .iter()
                .any(|&p| p == cand || ctx.certs[p].same_entity(&ctx.certs[cand]))
            {
                continue;
            }
            let r = (|| {
                if anchor {
                    // The trust anchor certificate must itself be usable as a CA now.
                    let a = &ctx.certs[cand];
                    check_validity(a, ctx.opts.time)?;
                    check_critical(a)?;
                    profile::check(a, Role::Anchor, run.purpose)?;
                } else {
                    // Intermediates so far, plus this one; self-issued certificates (key
                    // rollover) do not count, as for pathLenConstraint (§6.1.4 (l)).
                    let depth = path[1..]
                        .iter()
                        .chain([&cand])
                        .filter(|&&k| !ctx.certs[k].self_issued)
                        .count();
                    if depth > ctx.opts.max_intermediates {
                        return Err(PathError::PathTooLong {
                            max: ctx.opts.max_intermediates,
                        });
                    }
                    ctx.check_intermediate(&ctx.certs[cand], run.purpose)?;
                }
                self.verify_cert_sig(ctx, child, cand)?;
                path.push(cand);
                let r = if anchor {
                    self.validate(ctx, path, run)
                } else {
                    self.extend(ctx, path, run)
                };
                path.pop();
                r
            })();
            match r {
                Ok(found) => return Ok(found),
                Err(e @ PathError::BudgetExceeded { .. }) => return Err(e),
                Err(e) => best = better(best, e),
            }
        }
        let c = &ctx.certs[child];
        Err(best.unwrap_or_else(|| PathError::UnknownIssuer {
            subject: c.subject.clone(),
            issuer: c.cert.tbs_certificate().issuer().to_string(),
        }))
    }

    /// RFC 5280 §6.1.2-§6.1.5 on a complete path (`path[0]` the target, last the anchor,
    /// whose signatures were verified while building), then §6.3 revocation.
    fn validate(&mut self, ctx: &Ctx<'_>, path: &[usize], run: &Run) -> Result<Found, PathError> {
        let n = path.len() - 1;
        let anchor = &ctx.certs[path[n]];
        // §6.1.2 (k), and trust anchor constraints (§6.2): the anchor's pathLenConstraint
        // and name constraints, when present, apply to the path.
        let mut max_path_length = n;
        if let Some(p) = anchor.bc.as_ref().and_then(|b| b.path_len_constraint) {
            max_path_length = max_path_length.min(usize::from(p));
        }
        let mut ncs: Vec<&NameConstraints> = anchor.nc.iter().collect();
        let mut policy = PolicyState::new(n, run.explicit, run.any_inhibit, run.mapping_inhibit);
        for i in 1..=n {
            let c = &ctx.certs[path[n - i]];
            // §6.1.3 (a)(2)
            check_validity(c, ctx.opts.time)?;
            // §6.1.3 (b), (c): self-issued intermediates are exempt.
            if !(c.self_issued && i < n) {
                nc::check(c, &ncs, &mut self.budget)?;
            }
            // §6.1.3 (d)-(f)
            policy.process_cert(c, i, n)?;
            if i < n {
                // §6.1.4 (a), (b), (h)-(j)
                policy.prepare_next(c)?;
                // §6.1.4 (g)
                if let Some(nc) = &c.nc {
                    ncs.push(nc);
                }
                // §6.1.4 (k), (n), (o)
                ctx.check_intermediate(c, run.purpose)?;
                // §6.1.4 (l)
                if !c.self_issued {
                    if max_path_length == 0 {
                        return Err(PathError::PathLenExceeded {
                            subject: c.subject.clone(),
                        });
                    }
                    max_path_length -= 1;
                }
                // §6.1.4 (m)
                if let Some(p) = c.bc.as_ref().and_then(|b| b.path_len_constraint) {
                    max_path_length = max_path_length.min(usize::from(p));
                }
                if let Some(purpose) = run.purpose {
                    check_purpose(c, purpose)?;
                }
            } else {
                // §6.1.5 (f)
                check_critical(c)?;
                profile::check(c, Role::Leaf, run.purpose)?;
            }
        }
        // §6.1.5 (g)
        let leaf = &ctx.certs[path[0]];
        let policies = policy.finish(leaf, &run.initial_policy_set)?;
        // §6.1.3 (a)(3): revocation, for every certificate but the anchor.
        if let Some(depth) = run.revocation_depth {
            for pos in 0..n {
                crl::check(self, ctx, path, pos, depth)?;
            }
        }
        Ok((path.to_vec(), policies))
    }
}
