//! Path building (RFC 4158 style depth-first search with back-tracking) and the RFC 5280
//! §6.1 basic path validation of each candidate path.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::HashMap;

use crate::oid::Oid;
use x509_cert::ext::pkix::constraints::NameConstraints;

use der::Encode;

use super::cert::{Cert, signed_part};
use super::crl::{self, Crl};
use super::leaf::{Purpose, check_purpose};
use super::name::name_key;
use super::policy::PolicyState;
use super::profile::{self, Role};
use super::{Budget, PathError, ValidationOptions, nc};

/// A byte string (DER of a name, a key, a certificate) as a hash key that hashes only its
/// length and last 32 bytes (in DER those hold the value: the end of a name, of a public key,
/// of a signature); equality still compares every byte. A thousand certificates of ~600
/// bytes are indexed without SipHashing each whole (it was a sixth of path building).
#[derive(PartialEq, Eq)]
pub(crate) struct Tail<'a>(pub std::borrow::Cow<'a, [u8]>);

impl<'a> Tail<'a> {
    /// A borrowed key.
    pub(crate) fn of(bytes: &'a [u8]) -> Tail<'a> {
        Tail(Cow::Borrowed(bytes))
    }
}

impl std::hash::Hash for Tail<'_> {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        let b: &[u8] = &self.0;
        h.write_usize(b.len());
        h.write(&b[b.len().saturating_sub(32)..]);
    }
}

/// One certificate handed to [`Ctx::new`]: decoded already (the target, trust anchors) or
/// only its DER (the untrusted pool, decoded when the search reaches it).
pub(crate) enum Item<'a> {
    /// Decoded.
    Parsed(Box<Cert>),
    /// DER, decoded on first use.
    Raw(&'a [u8]),
}

/// A certificate decoded on first use, and its DER.
type Slot<'a> = (OnceCell<Option<Box<Cert>>>, &'a [u8]);

/// Immutable inputs of one validation.
pub(crate) struct Ctx<'a> {
    /// Index 0 is the target; then the untrusted pool; then the trust anchors. Decoded on
    /// first use ([`Ctx::cert`]): a bag of a thousand cross-certificates is indexed from
    /// [`cert::facts`] alone, and only the candidates the search reaches are decoded.
    /// (Boxed: a `Cert` is large, and most of a bag's are never decoded.)
    certs: Vec<Slot<'a>>,
    /// Per certificate: what orders it as a candidate (key identifiers, validity).
    meta: Vec<Meta>,
    pub is_anchor: Vec<bool>,
    pub crls: Vec<Crl>,
    pub opts: &'a ValidationOptions,
    /// Per certificate: which of the distinct subjectPublicKeyInfos it certifies (compared
    /// as DER bytes), for loop detection and the signature cache.
    key_id: Vec<usize>,
    /// Per certificate: its issuer name, as an index into `by_subject`.
    issuer_id: Vec<usize>,
    /// Certificates by subject name (names interned with [`name_key`]).
    by_subject: Vec<Vec<usize>>,
    /// Per certificate: the fewest certificates from it to a trust anchor following names
    /// only (0 for an anchor); `None` when no chain of names reaches one, so that no path
    /// through it can exist (RFC 5280 §6.1.3 (a)(4) name chaining).
    dist: Vec<Option<usize>>,
}

/// A certificate's candidate-ordering facts (RFC 4158 §3.5.12, §3.5.15).
struct Meta {
    ski: Option<Vec<u8>>,
    aki: Option<Vec<u8>>,
    not_before: u64,
    not_after: u64,
}

/// Mutable state: the budget and signature caches (a pair is verified at most once).
pub(crate) struct State {
    pub budget: Budget,
    /// Signature results by (certificate, key id of the issuer).
    pub sig_cache: HashMap<(usize, usize), Result<(), PathError>>,
    pub crl_sig_cache: HashMap<(usize, usize), bool>,
    /// Candidate issuers per certificate, computed once (name comparison is not free and
    /// pathological graphs revisit the same certificates many times).
    pub issuer_cache: HashMap<usize, Vec<usize>>,
}

/// Settings of one path search: the main one, or a nested one for a CRL issuer.
#[derive(Clone)]
pub(crate) struct Run {
    pub initial_policy_set: Vec<Oid>,
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
pub(crate) type Found = (Vec<usize>, Vec<Oid>);

/// Keeps the most specific of two errors (the earlier one among equals).
pub(crate) fn better(best: Option<PathError>, e: PathError) -> Option<PathError> {
    match best {
        Some(b) if b.rank() >= e.rank() => Some(b),
        _ => Some(e),
    }
}

/// How a candidate issuer's subjectKeyIdentifier relates to the child's
/// authorityKeyIdentifier (RFC 4158 §3.5.12, RFC 5280 §4.2.1.1), best first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum KeyIdMatch {
    /// Both present and equal.
    Equal,
    /// One of them absent.
    Unknown,
    /// Both present and different: a hint only (the SKI of a cross-certificate is chosen by
    /// its issuer, which may hash the key differently), so still tried, last.
    Different,
}

/// A failure and the length of the partial path where it happened: among failures of the
/// same rank, the deepest is the nearest miss.
#[derive(Clone, Debug)]
pub(crate) struct Miss {
    pub err: PathError,
    pub depth: usize,
}

/// Keeps the nearer of two misses: the higher rank, then the deeper, then the earlier.
fn nearer(best: Option<Miss>, m: Miss) -> Option<Miss> {
    match best {
        Some(b) if (b.err.rank(), b.depth) >= (m.err.rank(), m.depth) => Some(b),
        _ => Some(m),
    }
}

impl<'a> Ctx<'a> {
    /// Indexes the certificates by subject name and key, and computes each certificate's
    /// distance to a trust anchor over the graph of names. A pool certificate whose DER does
    /// not even have a certificate's shape is left out (as one that does not decode would be).
    pub(crate) fn new(
        items: Vec<(Item<'a>, bool)>,
        crls: Vec<Crl>,
        opts: &'a ValidationOptions,
    ) -> Self {
        // Names by their DER first (a bag repeats a few dozen names), then by name_key.
        let mut raw_names: HashMap<Tail<'a>, usize> = HashMap::with_capacity(64);
        let mut names: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut keys: HashMap<Tail<'a>, usize> = HashMap::with_capacity(items.len());
        let mut name_id = |raw: Cow<'a, [u8]>,
                           parsed: Option<&x509_cert::name::Name>|
         -> Option<usize> {
            let raw = Tail(raw);
            if let Some(&id) = raw_names.get(&raw) {
                return Some(id);
            }
            let key = match parsed {
                Some(n) => name_key(n),
                None => name_key(&<x509_cert::name::Name as der::Decode>::from_der(&raw.0).ok()?),
            };
            let next = names.len();
            let id = *names.entry(key).or_insert(next);
            raw_names.insert(raw, id);
            Some(id)
        };
        let mut certs = Vec::with_capacity(items.len());
        let mut meta = Vec::with_capacity(items.len());
        let mut is_anchor = Vec::with_capacity(items.len());
        let mut subject_id = Vec::with_capacity(items.len());
        let mut issuer_id = Vec::with_capacity(items.len());
        let mut key_id = Vec::with_capacity(items.len());
        for (item, anchor) in items {
            let (cell, der_bytes, m, ids) = match item {
                Item::Raw(d) => {
                    let Some(f) = super::cert::facts(d) else {
                        continue;
                    };
                    let (Some(s), Some(i)) = (
                        name_id(Cow::Borrowed(f.subject), None),
                        name_id(Cow::Borrowed(f.issuer), None),
                    ) else {
                        continue;
                    };
                    let m = Meta {
                        ski: f.ski.map(<[u8]>::to_vec),
                        aki: f.aki.map(<[u8]>::to_vec),
                        not_before: f.not_before,
                        not_after: f.not_after,
                    };
                    (OnceCell::new(), d, m, (s, i, Cow::Borrowed(f.spki)))
                }
                Item::Parsed(c) => {
                    let tbs = c.cert.tbs_certificate();
                    let sd = tbs.subject().to_der().unwrap_or_default();
                    let id = tbs.issuer().to_der().unwrap_or_default();
                    let (Some(s), Some(i)) = (
                        name_id(Cow::Owned(sd), Some(tbs.subject())),
                        name_id(Cow::Owned(id), Some(tbs.issuer())),
                    ) else {
                        continue;
                    };
                    let spki = tbs.subject_public_key_info().to_der().unwrap_or_default();
                    let m = Meta {
                        ski: c.ski.clone(),
                        aki: c.aki.clone(),
                        not_before: c.not_before,
                        not_after: c.not_after,
                    };
                    // The DER is only read again to decode a Raw item; a parsed one keeps its
                    // own copy in the Cert.
                    (
                        OnceCell::from(Some(c)),
                        &[][..],
                        m,
                        (s, i, Cow::Owned(spki)),
                    )
                }
            };
            let (s, i, spki) = ids;
            certs.push((cell, der_bytes));
            meta.push(m);
            is_anchor.push(anchor);
            subject_id.push(s);
            issuer_id.push(i);
            let next = keys.len();
            key_id.push(*keys.entry(Tail(spki)).or_insert(next));
        }
        let names_len = names.len();
        let mut by_subject = vec![Vec::new(); names_len];
        let mut by_issuer = vec![Vec::new(); names_len];
        for (k, (&s, &i)) in subject_id.iter().zip(&issuer_id).enumerate() {
            by_subject[s].push(k);
            if !is_anchor[k] {
                by_issuer[i].push(k);
            }
        }
        // Breadth-first from the anchors' names towards the certificates they (by name)
        // issue: the first visit is the shortest.
        let mut dist = vec![None; certs.len()];
        let mut name_dist: Vec<Option<usize>> = vec![None; names_len];
        let mut queue = std::collections::VecDeque::new();
        for k in (0..certs.len()).filter(|&k| is_anchor[k]) {
            dist[k] = Some(0);
            if name_dist[subject_id[k]].is_none() {
                name_dist[subject_id[k]] = Some(0);
                queue.push_back(subject_id[k]);
            }
        }
        while let Some(n) = queue.pop_front() {
            let d = name_dist[n].unwrap_or(0) + 1;
            for &k in &by_issuer[n] {
                if dist[k].is_none() {
                    dist[k] = Some(d);
                    if name_dist[subject_id[k]].is_none() {
                        name_dist[subject_id[k]] = Some(d);
                        queue.push_back(subject_id[k]);
                    }
                }
            }
        }
        Ctx {
            certs,
            meta,
            is_anchor,
            crls,
            opts,
            key_id,
            issuer_id,
            by_subject,
            dist,
        }
    }

    /// How many certificates there are.
    pub(crate) fn len(&self) -> usize {
        self.certs.len()
    }

    /// Certificate `k`, decoded on first use; `None` when it does not decode (such a
    /// candidate is passed over, as if it had not been given).
    pub(crate) fn cert(&self, k: usize) -> Option<&Cert> {
        let (cell, der_bytes) = self.certs.get(k)?;
        cell.get_or_init(|| Cert::parse(der_bytes).ok().map(Box::new))
            .as_deref()
    }

    /// Certificate `k` of a path: decoded when it was added to the path.
    pub(crate) fn on_path(&self, k: usize) -> Result<&Cert, PathError> {
        self.cert(k).ok_or_else(|| PathError::Malformed {
            what: "certificate".into(),
            detail: "a certificate on the path no longer decodes".into(),
        })
    }

    fn key_id_match(&self, child: usize, cand: usize) -> KeyIdMatch {
        match (&self.meta[child].aki, &self.meta[cand].ski) {
            (Some(a), Some(s)) if a == s => KeyIdMatch::Equal,
            (Some(_), Some(_)) => KeyIdMatch::Different,
            _ => KeyIdMatch::Unknown,
        }
    }

    /// Candidate issuers of `child`: the certificates whose subject is its issuer name
    /// (RFC 5280 §6.1.3 (a)(4), compared per §7.1), ordered as RFC 4158 §3.5 suggests:
    /// matching key identifiers first (§3.5.12), then those valid at the validation time
    /// (§3.5.15), then the nearest to a trust anchor (§3.5.16, trust anchors first, §3.5.1).
    fn issuers_of(&self, child: usize) -> Vec<usize> {
        let mut out = self.by_subject[self.issuer_id[child]].clone();
        out.sort_by_key(|&k| {
            (
                self.key_id_match(child, k),
                !(self.meta[k].not_before..=self.meta[k].not_after).contains(&self.opts.time),
                self.dist[k].unwrap_or(usize::MAX),
                !self.is_anchor[k],
                k,
            )
        });
        out
    }

    /// Why the certificates named `name` (an issuer name of `from`) lead to no trust anchor:
    /// the first certificate up the graph of names whose issuer nobody has certified.
    fn dead_end(&self, from: usize) -> Option<(String, String)> {
        let mut seen = vec![false; self.by_subject.len()];
        let mut stack = vec![self.issuer_id[from]];
        while let Some(n) = stack.pop() {
            if std::mem::replace(&mut seen[n], true) {
                continue;
            }
            for &k in &self.by_subject[n] {
                let i = self.issuer_id[k];
                if self.by_subject[i].is_empty() {
                    let Some(c) = self.cert(k) else {
                        continue;
                    };
                    return Some((
                        c.subject.clone(),
                        c.cert.tbs_certificate().issuer().to_string(),
                    ));
                }
                stack.push(i);
            }
        }
        None
    }

    /// The nearest miss when none of `child`'s candidate issuers led anywhere: no candidate
    /// at all, or candidates that are on the path already, whose key identifier and key do
    /// not match, or that have no chain of names to a trust anchor.
    fn no_issuer(&self, child: usize, t: &Tally) -> PathError {
        let Some(c) = self.cert(child) else {
            return PathError::Malformed {
                what: "certificate".into(),
                detail: "does not decode".into(),
            };
        };
        let issuer = c.cert.tbs_certificate().issuer().to_string();
        if t.named == 0 {
            return PathError::UnknownIssuer {
                subject: c.subject.clone(),
                issuer,
            };
        }
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        let mut parts = Vec::new();
        if t.key_id_mismatch > 0 {
            let aki = c.aki.as_deref().map(hex::encode).unwrap_or_default();
            let short = if aki.len() > 8 {
                format!("{}…", &aki[..8])
            } else {
                aki
            };
            parts.push(format!(
                "authorityKeyIdentifier {short} matches no subjectKeyIdentifier among {n} \
                 candidate{s} and no candidate's key verifies the signature",
                n = t.key_id_mismatch,
                s = plural(t.key_id_mismatch)
            ));
        }
        if t.looped > 0 {
            parts.push(format!(
                "{n} candidate{s} already on the path (a loop among cross-certificates)",
                n = t.looped,
                s = plural(t.looped)
            ));
        }
        if t.unreachable > 0 {
            let why = match self.dead_end(child) {
                Some((subject, issuer)) => {
                    format!("no certificate is issued to {issuer}, the issuer of {subject}")
                }
                None => "the CAs above it only certify one another".into(),
            };
            parts.push(format!(
                "{n} candidate{s} with no chain of names to a trust anchor ({why})",
                n = t.unreachable,
                s = plural(t.unreachable)
            ));
        }
        PathError::NoUsableIssuer {
            subject: c.subject.clone(),
            issuer,
            detail: parts.join("; "),
        }
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

/// What became of a certificate's candidate issuers, for [`Ctx::no_issuer`].
#[derive(Default)]
struct Tally {
    /// Candidates with the right name (for the trust anchor asked for).
    named: usize,
    /// Skipped: their key is already on the path.
    looped: usize,
    /// Skipped: no chain of names from them to a trust anchor.
    unreachable: usize,
    /// Key identifiers differ and the signature does not verify with their key.
    key_id_mismatch: usize,
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
        // The signature depends on the issuer's key only: cross-certificates for one key
        // share the result.
        let key = ctx.key_id[issuer];
        if let Some(r) = self.sig_cache.get(&(child, key)) {
            return r.clone();
        }
        let c = ctx.on_path(child)?;
        let r = verify_signed(
            &c.der,
            c.cert.tbs_certificate().signature(),
            c.cert.signature_algorithm(),
            c.cert.signature(),
            ctx.on_path(issuer)?,
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
        self.sig_cache.insert((child, key), r.clone());
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
        self.extend(ctx, &mut path, run).map_err(|m| m.err)
    }

    /// Depth-first search (RFC 4158 §2.4): tries every candidate issuer of the last
    /// certificate of `path`, in [`Ctx::issuers_of`] order, and backtracks when a branch
    /// fails. A candidate whose key is already on the path would close a loop (e.g. "bridge
    /// issued by root" after "root cross-certified by bridge", RFC 4158 §2.4.2) and is
    /// skipped; the search goes on with the other candidates.
    fn extend(&mut self, ctx: &Ctx<'_>, path: &mut Vec<usize>, run: &Run) -> Result<Found, Miss> {
        let here = path.len();
        self.budget
            .consume_build_chain_call()
            .map_err(|err| Miss { err, depth: here })?;
        let child = path[here - 1];
        let mut best: Option<Miss> = None;
        let mut tally = Tally::default();
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
            tally.named += 1;
            if ctx.dist[cand].is_none() {
                tally.unreachable += 1;
                continue;
            }
            if path.iter().any(|&p| ctx.key_id[p] == ctx.key_id[cand]) {
                tally.looped += 1;
                continue;
            }
            if ctx.cert(cand).is_none() {
                continue;
            }
            let miss = |err| Miss {
                err,
                depth: here + 1,
            };
            // A candidate whose key identifier differs is most likely another key under the
            // same name: its signature is checked first, so that such a decoy's other
            // defects (expired, not a CA...) are not reported as the reason.
            let mismatch = ctx.key_id_match(child, cand) == KeyIdMatch::Different;
            let sig_first = if mismatch {
                match self.verify_cert_sig(ctx, child, cand) {
                    Err(e @ PathError::BudgetExceeded { .. }) => return Err(miss(e)),
                    Err(_) => {
                        tally.key_id_mismatch += 1;
                        continue;
                    }
                    Ok(()) => true,
                }
            } else {
                false
            };
            if let Err(e) = self.check_candidate(ctx, path, cand, run) {
                best = nearer(best, miss(e));
                continue;
            }
            if !sig_first {
                match self.verify_cert_sig(ctx, child, cand) {
                    Err(e @ PathError::BudgetExceeded { .. }) => return Err(miss(e)),
                    Err(e) => {
                        best = nearer(best, miss(e));
                        continue;
                    }
                    Ok(()) => {}
                }
            }
            path.push(cand);
            let r = if anchor {
                self.validate(ctx, path, run).map_err(|err| Miss {
                    err,
                    depth: here + 1,
                })
            } else {
                self.extend(ctx, path, run)
            };
            path.pop();
            match r {
                Ok(found) => return Ok(found),
                Err(
                    m @ Miss {
                        err: PathError::BudgetExceeded { .. },
                        ..
                    },
                ) => return Err(m),
                Err(m) => best = nearer(best, m),
            }
        }
        Err(best.unwrap_or_else(|| Miss {
            err: ctx.no_issuer(child, &tally),
            depth: here,
        }))
    }

    /// The checks of `cand` as the issuer of the last certificate of `path` that need no
    /// signature: a trust anchor must be usable as a CA now; an intermediate must be one and
    /// must not make the path too long.
    fn check_candidate(
        &self,
        ctx: &Ctx<'_>,
        path: &[usize],
        cand: usize,
        run: &Run,
    ) -> Result<(), PathError> {
        let c = ctx.on_path(cand)?;
        if ctx.is_anchor[cand] {
            check_validity(c, ctx.opts.time)?;
            check_critical(c)?;
            return profile::check(c, Role::Anchor, run.purpose);
        }
        // Intermediates so far, plus this one; self-issued certificates (key rollover) do
        // not count, as for pathLenConstraint (§6.1.4 (l)).
        let depth = path[1..]
            .iter()
            .chain([&cand])
            .filter(|&&k| !ctx.cert(k).is_some_and(|c| c.self_issued))
            .count();
        if depth > ctx.opts.max_intermediates {
            return Err(PathError::PathTooLong {
                max: ctx.opts.max_intermediates,
            });
        }
        ctx.check_intermediate(c, run.purpose)
    }

    /// RFC 5280 §6.1.2-§6.1.5 on a complete path (`path[0]` the target, last the anchor,
    /// whose signatures were verified while building), then §6.3 revocation.
    fn validate(&mut self, ctx: &Ctx<'_>, path: &[usize], run: &Run) -> Result<Found, PathError> {
        let n = path.len() - 1;
        let anchor = ctx.on_path(path[n])?;
        // §6.1.2 (k), and trust anchor constraints (§6.2): the anchor's pathLenConstraint
        // and name constraints, when present, apply to the path.
        let mut max_path_length = n;
        if let Some(p) = anchor.bc.as_ref().and_then(|b| b.path_len_constraint) {
            max_path_length = max_path_length.min(usize::from(p));
        }
        let mut ncs: Vec<&NameConstraints> = anchor.nc.iter().collect();
        let mut policy = PolicyState::new(n, run.explicit, run.any_inhibit, run.mapping_inhibit);
        for i in 1..=n {
            let c = ctx.on_path(path[n - i])?;
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
        let leaf = ctx.on_path(path[0])?;
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
