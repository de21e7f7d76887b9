//! Issuing end-entity certificates: check the CSR, apply the profile, lint the TBS, record it,
//! sign, record the certificate, and only then hand it back (the Boulder cycle, without the
//! throwaway-key step: the linter reads the exact TBS bytes that the CA key signs).
//!
//! Batches go through the same steps with one durable transaction per step for the whole chunk
//! (group commit), so the fsync cost is shared while every result is still durable before it is
//! reported.

use std::sync::Arc;

use time::{Duration, OffsetDateTime};

use crate::authority::{Authority, LoadedCa};
use crate::build::{self};
use crate::csr::parse_csr;
use crate::error::{Error, Result};
use crate::key::{CaSigner, PublicKeyInfo};
use crate::lint::Expectation;
use crate::name::{AttrType, DistinguishedName};
use crate::profile::Profile;
use crate::san::{SanEntry, dns_under};
use crate::serial::{Serial, random_serial};
use crate::store::PendingCert;

/// How many requests share one durable transaction in a batch.
pub const BATCH_CHUNK: usize = 256;

/// A request to issue one certificate.
#[derive(Clone, Debug, Default)]
pub struct IssuanceRequest {
    /// Profile name.
    pub profile: String,
    /// The CSR, DER.
    pub csr_der: Vec<u8>,
    /// Issuing CA (None: the CA the hierarchy binds to the profile).
    pub ca: Option<String>,
    /// Subject DN overriding the CSR's (RFC 4514).
    pub subject: Option<String>,
    /// subjectAltNames (`dns:…` etc.) overriding the CSR's.
    pub sans: Vec<String>,
    /// Validity in days (None: the profile's default).
    pub days: Option<u32>,
    /// Idempotency key: a request with a key that was issued before returns that certificate.
    pub request_id: Option<String>,
}

/// An issued certificate.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Issued {
    /// Serial (lower-case hex in JSON).
    pub serial: Serial,
    /// Issuing CA.
    pub ca: String,
    /// Profile.
    pub profile: String,
    /// Subject, RFC 4514.
    pub subject: String,
    /// notBefore, RFC 3339.
    pub not_before: String,
    /// notAfter, RFC 3339.
    pub not_after: String,
    /// The certificate, PEM.
    pub pem: String,
    /// The certificate, DER.
    #[serde(skip)]
    pub der: Vec<u8>,
    /// True when an earlier issuance with the same request id was returned.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub replayed: bool,
}

struct Prepared {
    pending: PendingCert,
    signer: Arc<dyn CaSigner>,
}

/// What one request needs besides itself, resolved on the calling thread (the store is not
/// shared with the worker threads): its profile and its CA, loaded.
struct Resolved {
    index: usize,
    req: IssuanceRequest,
    profile: Arc<Profile>,
    ca: Arc<LoadedCa>,
}

/// What a batch reads from the store once: the CA records (for the CA bound to a profile), the
/// CAs it loaded and the profiles it uses.
#[derive(Default)]
struct BatchCache {
    bound: Option<Vec<crate::store::CaRecord>>,
    cas: std::collections::HashMap<String, Arc<LoadedCa>>,
    profiles: std::collections::HashMap<String, Arc<Profile>>,
}

/// Every request's outcome (one never answered is refused as not issued).
fn finish_results(results: Vec<Option<Result<Issued>>>) -> Vec<Result<Issued>> {
    results
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|| {
                Err(Error::PolicyRefused {
                    detail: "not issued".into(),
                })
            })
        })
        .collect()
}

/// A request that carries an idempotency key: the key and the request as asked (to tell a
/// replay of the same request from another request reusing the key).
type Keyed = Option<(String, Box<IssuanceRequest>)>;

/// A resolved chunk: failures so far and request ids (by position), and the requests to check.
type ResolvedChunk = (Vec<Option<Result<Issued>>>, Vec<Keyed>, Vec<Resolved>);

/// A chunk whose serials and TBSs are durably recorded, ready to sign.
struct Recorded {
    results: Vec<Option<Result<Issued>>>,
    prepared: Vec<(usize, Prepared)>,
    /// Requests repeating an id of the chunk before, answered when this chunk is stored.
    deferred: Vec<(usize, String, Box<IssuanceRequest>)>,
}

/// A signed chunk, ready to be stored.
struct Signed {
    results: Vec<Option<Result<Issued>>>,
    signed: Vec<(usize, Vec<u8>, PendingCert)>,
    deferred: Vec<(usize, String, Box<IssuanceRequest>)>,
}

/// Signs a recorded chunk on all cores: each thread signs its share with its own clone of the
/// signer (a PKCS#11 signer takes one pooled session per thread).
fn sign_chunk(chunk: Recorded) -> Signed {
    let Recorded {
        mut results,
        prepared,
        deferred,
    } = chunk;
    let signatures = par_map(&prepared, |(_, p)| {
        let signer = p.signer.clone();
        let alg = signer.algorithm();
        signer
            .sign(&p.pending.tbs_der)
            .and_then(|sig| build::assemble(&p.pending.tbs_der, alg.algorithm_identifier(), &sig))
    });
    let mut signed = Vec::with_capacity(prepared.len());
    for ((i, p), der) in prepared.into_iter().zip(signatures) {
        match der {
            Ok(der) => signed.push((i, der, p.pending)),
            Err(e) => results[i] = Some(Err(e)),
        }
    }
    Signed {
        results,
        signed,
        deferred,
    }
}

/// A chunk whose requests are checked, linted and encoded, waiting for its durable steps.
struct Checked {
    /// Final outcomes so far (failed checks), by position in the chunk.
    results: Vec<Option<Result<Issued>>>,
    /// Each request's idempotency key (with the request as asked), by position.
    ids: Vec<Keyed>,
    /// The requests that passed, with their position.
    prepared: Vec<(usize, Prepared)>,
}

/// Joins a scoped thread, re-raising its panic on this thread.
fn join<T>(h: std::thread::ScopedJoinHandle<'_, T>) -> T {
    h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
}

/// How many threads check and sign a chunk: one per available core.
fn workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `f` over `items` on up to [`workers`] scoped threads (contiguous slices, one thread each),
/// results in input order. A panic in `f` is re-raised on the calling thread.
fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = workers().min(items.len());
    if threads <= 1 {
        return items.iter().map(f).collect();
    }
    let per = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(per)
            .map(|part| s.spawn(move || part.iter().map(f).collect::<Vec<R>>()))
            .collect();
        handles.into_iter().flat_map(join).collect()
    })
}

/// RFC 3339 text of a Unix time.
pub fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

impl Authority {
    /// The CA that issues `profile` when no `--ca` is given.
    pub fn default_ca_for(&self, profile: &str) -> Result<String> {
        self.store
            .cas()?
            .into_iter()
            .find(|c| c.profiles.iter().any(|p| p == profile))
            .map(|c| c.name)
            .ok_or_else(|| Error::PolicyRefused {
                detail: format!("no CA is bound to profile {profile:?}; name one with --ca"),
            })
    }

    /// Runs every check issuance runs on `req` (profile, CA, CSR signature, key, subject and
    /// subjectAltName rules, validity, the linted TBSCertificate) without recording or signing
    /// anything: what registration runs at submit, so a request that can never be issued is
    /// refused at once.
    pub fn check_issuance(&mut self, req: &IssuanceRequest) -> Result<()> {
        let mut cache = BatchCache::default();
        let (profile, ca) = self.resolve(req, &mut cache)?;
        prepare(&profile, &ca, &self.base_url()?, req, self.now()).map(|_| ())
    }

    /// Issues one certificate.
    pub fn issue(&mut self, req: IssuanceRequest) -> Result<Issued> {
        let mut out = None;
        self.issue_batch(vec![req], |_, r| out = Some(r))?;
        out.unwrap_or_else(|| {
            Err(Error::PolicyRefused {
                detail: "nothing issued".into(),
            })
        })
    }

    /// Issues many certificates. `report(index, result)` is called in input order, each only
    /// after that certificate is durably stored. A failed request does not stop the others;
    /// `Err` is returned only when the store itself fails (results not yet reported are lost
    /// to the caller, but nothing reported is).
    ///
    /// Requests go in chunks of [`BATCH_CHUNK`] through a three-stage pipeline. In each round,
    /// on this thread: chunk k+1 is recorded (serials and TBSs, one durable transaction), then
    /// chunk k is stored (certificates and audit records, one durable transaction) and
    /// reported; meanwhile, on worker threads, chunk k+1 is signed as soon as it is recorded and
    /// chunk k+2's CSRs are verified and its TBSCertificates encoded and linted. A chunk is
    /// signed only after its serials are durable, and reported only after its certificates are.
    pub fn issue_batch(
        &mut self,
        reqs: Vec<IssuanceRequest>,
        report: impl FnMut(usize, Result<Issued>),
    ) -> Result<()> {
        self.issue_batch_with(reqs, BatchCache::default(), report)
    }

    /// Issues one certificate signed by `ca` as loaded (e.g. a retired key generation from
    /// [`Authority::load_generation`], possibly with a shorter `not_after` to cap the
    /// certificate's validity) instead of the key in force. `req.ca` is set to `ca`'s name.
    pub(crate) fn issue_by(&mut self, mut req: IssuanceRequest, ca: LoadedCa) -> Result<Issued> {
        let name = ca.record.name.clone();
        req.ca = Some(name.clone());
        let mut cache = BatchCache::default();
        cache.cas.insert(name, Arc::new(ca));
        let mut out = None;
        self.issue_batch_with(vec![req], cache, |_, r| out = Some(r))?;
        out.unwrap_or_else(|| {
            Err(Error::PolicyRefused {
                detail: "nothing issued".into(),
            })
        })
    }

    /// [`Authority::issue_batch`] with the CAs, profiles and bindings already in `cache`.
    fn issue_batch_with(
        &mut self,
        reqs: Vec<IssuanceRequest>,
        mut cache: BatchCache,
        mut report: impl FnMut(usize, Result<Issued>),
    ) -> Result<()> {
        let base_url = self.base_url()?;
        let mut reqs = reqs.into_iter();
        // Checked, waiting to be recorded; and signed, waiting to be stored.
        let mut checked: Option<Checked> = None;
        let mut signed: Option<Signed> = None;
        let mut reported = 0;
        loop {
            let chunk: Vec<IssuanceRequest> = reqs.by_ref().take(BATCH_CHUNK).collect();
            if chunk.is_empty() && checked.is_none() && signed.is_none() {
                return Ok(());
            }
            // Resolve the newest chunk (reads the store, so on this thread).
            let (mut results, ids, resolved) = self.resolve_chunk(chunk, &mut cache);
            let to_record = checked.take();
            let to_store = signed.take();
            let now = self.now();
            let in_flight: std::collections::HashSet<String> = to_store
                .iter()
                .flat_map(|d| d.signed.iter().filter_map(|(_, _, p)| p.request_id.clone()))
                .collect();
            let (outcomes, newly_signed, stored) = std::thread::scope(|s| {
                let checking = s.spawn(|| {
                    par_map(&resolved, |r| {
                        prepare(&r.profile, &r.ca, &base_url, &r.req, now)
                    })
                });
                let recorded = to_record.map(|c| self.record_chunk(c, &in_flight));
                let signing = match recorded {
                    Some(Ok(r)) => Some(Ok(s.spawn(move || sign_chunk(r)))),
                    Some(Err(e)) => Some(Err(e)),
                    None => None,
                };
                let stored = to_store.map(|d| self.store_chunk(d));
                let newly_signed = signing.map(|h| h.map(join));
                (join(checking), newly_signed, stored)
            });
            if let Some(stored) = stored {
                for r in stored? {
                    report(reported, r);
                    reported += 1;
                }
            }
            signed = newly_signed.transpose()?;
            if !ids.is_empty() {
                let mut prepared = Vec::with_capacity(outcomes.len());
                for (r, outcome) in resolved.iter().zip(outcomes) {
                    match outcome {
                        Ok(pending) => prepared.push((
                            r.index,
                            Prepared {
                                pending,
                                signer: r.ca.signer.clone(),
                            },
                        )),
                        Err(e) => results[r.index] = Some(Err(e)),
                    }
                }
                checked = Some(Checked {
                    results,
                    ids,
                    prepared,
                });
            }
        }
    }

    /// The checks of a chunk that need the store (profile, CA), on this thread. Returns the
    /// failures so far, the request ids, and the requests to check further.
    fn resolve_chunk(
        &mut self,
        chunk: Vec<IssuanceRequest>,
        cache: &mut BatchCache,
    ) -> ResolvedChunk {
        let mut results = Vec::with_capacity(chunk.len());
        let mut ids = Vec::with_capacity(chunk.len());
        let mut resolved = Vec::with_capacity(chunk.len());
        for (index, req) in chunk.into_iter().enumerate() {
            ids.push(req.request_id.clone().map(|id| (id, Box::new(req.clone()))));
            match self.resolve(&req, cache) {
                Ok((profile, ca)) => {
                    results.push(None);
                    resolved.push(Resolved {
                        index,
                        req,
                        profile,
                        ca,
                    });
                }
                Err(e) => results.push(Some(Err(e))),
            }
        }
        (results, ids, resolved)
    }

    /// The first durable step of a checked chunk: replays, then one transaction recording the
    /// serials and TBSs of the rest.
    ///
    /// `in_flight` are the request ids of the chunk before, signed but not yet stored: a
    /// request repeating one of them is answered once that chunk is stored (see
    /// [`Authority::store_chunk`]), as if the chunks had run one after the other.
    fn record_chunk(
        &mut self,
        checked: Checked,
        in_flight: &std::collections::HashSet<String>,
    ) -> Result<Recorded> {
        let Checked {
            mut results,
            ids,
            mut prepared,
        } = checked;
        // 1. A request whose id was issued before (in an earlier chunk or run) gets that
        //    certificate back, whatever its checks said.
        let mut deferred = Vec::new();
        let mut finishing: Vec<(usize, Prepared)> = Vec::new();
        for (i, id) in ids.into_iter().enumerate() {
            let Some((id, asked)) = id else { continue };
            if in_flight.contains(&id) {
                deferred.push((i, id, asked));
            } else if let Some(rec) = self.store.cert_by_request_id(&id)? {
                results[i] = Some(self.replay(&id, &asked, rec));
            } else if let Some(pending) = self.store.pending_by_request_id(&id)? {
                if !self.same_request(
                    &asked,
                    &pending.profile,
                    &pending.ca,
                    &pending.tbs_der,
                    false,
                ) {
                    results[i] = Some(Err(id_reused(&id)));
                    continue;
                }
                // Reserved under this id but never stored: the process that reserved it was
                // stopped before the last step, and nothing was reported. Finish that issuance
                // by signing the recorded (linted) TBS, so the id still gets exactly one
                // certificate instead of being refused as used forever.
                if finishing
                    .iter()
                    .any(|(_, p)| p.pending.request_id.as_ref() == Some(&id))
                {
                    // The same id twice in one chunk: finish it once, refuse the other.
                    results[i] = Some(Err(Error::PolicyRefused {
                        detail: format!("request id {id:?} was used before"),
                    }));
                    continue;
                }
                // Signed by the key generation that the reservation's TBS names as issuer.
                match self.load_generation(&pending.ca, pending.issuer_generation) {
                    Ok(ca) => finishing.push((
                        i,
                        Prepared {
                            pending,
                            signer: ca.signer.clone(),
                        },
                    )),
                    Err(e) => results[i] = Some(Err(e)),
                }
            }
        }
        prepared.retain(|(i, _)| {
            results[*i].is_none()
                && !deferred.iter().any(|(d, _, _)| d == i)
                && !finishing.iter().any(|(f, _)| f == i)
        });
        for (i, _) in &finishing {
            // A finished reservation stands for this request, whatever its checks said now.
            results[*i] = None;
        }
        // 2. Record the intent (serials and TBS) durably. A serial collision is astronomically
        //    unlikely; if one happens, retry that request alone with a fresh serial.
        let pendings: Vec<PendingCert> = prepared.iter().map(|(_, p)| p.pending.clone()).collect();
        let reserve_result = self.store.reserve(&pendings);
        if let Err(e) = reserve_result {
            if !matches!(
                e,
                Error::SerialCollision { .. } | Error::PolicyRefused { .. }
            ) {
                return Err(e);
            }
            let mut kept = Vec::new();
            for (i, mut p) in prepared {
                let mut outcome = self.store.reserve(std::slice::from_ref(&p.pending));
                if matches!(outcome, Err(Error::SerialCollision { .. })) {
                    match self.reserialize(&mut p) {
                        Ok(()) => outcome = self.store.reserve(std::slice::from_ref(&p.pending)),
                        Err(e) => outcome = Err(e),
                    }
                }
                match outcome {
                    Ok(()) => kept.push((i, p)),
                    Err(e @ (Error::SerialCollision { .. } | Error::PolicyRefused { .. })) => {
                        results[i] = Some(Err(e))
                    }
                    Err(e) => return Err(e),
                }
            }
            prepared = kept;
        }
        // Reservations finished from an earlier run are recorded already; sign them in order.
        prepared.extend(finishing);
        prepared.sort_by_key(|(i, _)| *i);
        Ok(Recorded {
            results,
            prepared,
            deferred,
        })
    }

    /// The last durable step: one transaction storing the signed certificates with their
    /// audit records. Returns every request's outcome, in chunk order.
    fn store_chunk(&mut self, chunk: Signed) -> Result<Vec<Result<Issued>>> {
        let Signed {
            mut results,
            signed,
            deferred,
        } = chunk;
        // Requests repeating an id of the chunk stored just before this one.
        for (i, id, asked) in deferred {
            results[i] = Some(match self.store.cert_by_request_id(&id)? {
                Some(rec) => self.replay(&id, &asked, rec),
                None => Err(Error::PolicyRefused {
                    detail: format!("request id {id:?} was used before"),
                }),
            });
        }
        let rows: Vec<(Serial, Vec<u8>)> = signed
            .iter()
            .map(|(_, der, pc)| (pc.serial.clone(), der.clone()))
            .collect();
        match self.store.complete(&self.actor, &rows) {
            Ok(()) => {}
            Err(Error::SerialCollision { .. }) => {
                // Another process (an instance on the same database, running the same batch)
                // finished some of these reservations first: they hold their certificate
                // already. Store the rest one by one; answer those with the stored one.
                for (i, der, pc) in signed {
                    let row = [(pc.serial.clone(), der.clone())];
                    results[i] = Some(match self.store.complete(&self.actor, &row) {
                        Ok(()) => Ok(issued_from(
                            pc.serial,
                            pc.ca,
                            pc.profile,
                            pc.subject,
                            pc.not_before,
                            pc.not_after,
                            der,
                            false,
                        )),
                        Err(e @ Error::SerialCollision { .. }) => {
                            match self.store.cert(&pc.serial, Some(&pc.ca))? {
                                Some(rec) => Ok(issued_from(
                                    rec.serial,
                                    rec.ca,
                                    rec.profile,
                                    rec.subject,
                                    rec.not_before,
                                    rec.not_after,
                                    rec.der,
                                    true,
                                )),
                                None => Err(e),
                            }
                        }
                        Err(e) => return Err(e),
                    });
                }
                return Ok(finish_results(results));
            }
            Err(e) => return Err(e),
        }
        for (i, der, pc) in signed {
            results[i] = Some(Ok(issued_from(
                pc.serial,
                pc.ca,
                pc.profile,
                pc.subject,
                pc.not_before,
                pc.not_after,
                der,
                false,
            )));
        }
        Ok(finish_results(results))
    }

    /// The certificate issued earlier under `id`, if `asked` is the same request again; a
    /// different request reusing the id is refused (it must not get another's certificate).
    fn replay(
        &self,
        id: &str,
        asked: &IssuanceRequest,
        rec: crate::store::CertRecord,
    ) -> Result<Issued> {
        if !self.same_request(asked, &rec.profile, &rec.ca, &rec.der, true) {
            return Err(id_reused(id));
        }
        Ok(issued_from(
            rec.serial,
            rec.ca,
            rec.profile,
            rec.subject,
            rec.not_before,
            rec.not_after,
            rec.der,
            true,
        ))
    }

    /// Whether `asked` asks for what `der` (a certificate, or with `!is_cert` a reserved
    /// TBSCertificate) certifies: the same profile, CA (when named), public key, subject (after
    /// the profile's rules) and subjectAltNames. Validity is not compared: a replay returns the
    /// first certificate as it was.
    fn same_request(
        &self,
        asked: &IssuanceRequest,
        profile: &str,
        ca: &str,
        der: &[u8],
        is_cert: bool,
    ) -> bool {
        use der::{Decode, Encode};
        let tbs = if is_cert {
            x509_cert::Certificate::from_der(der).map(|c| c.tbs_certificate().clone())
        } else {
            x509_cert::TbsCertificate::from_der(der)
        };
        let (Ok(tbs), Ok(csr)) = (tbs, parse_csr(&asked.csr_der)) else {
            return false;
        };
        let csr = csr.request;
        if asked.profile != profile || asked.ca.as_deref().is_some_and(|c| c != ca) {
            return false;
        }
        let Ok(prof) = self.policies.profile(profile) else {
            return false;
        };
        if tbs.subject_public_key_info().to_der().ok() != Some(csr.public_key_der.clone()) {
            return false;
        }
        let requested = match &asked.subject {
            Some(s) => DistinguishedName::parse(s),
            None => Ok(csr.subject.clone()),
        };
        let subject_der = requested
            .and_then(|dn| apply_subject_rules(prof, dn))
            .and_then(|dn| dn.to_der());
        if subject_der.ok() != tbs.subject().to_der().ok() {
            return false;
        }
        let wanted: Option<Vec<String>> = if asked.sans.is_empty() {
            Some(csr.requested_sans.iter().map(|s| s.to_string()).collect())
        } else {
            asked
                .sans
                .iter()
                .map(|s| SanEntry::parse(s).ok().map(|e| e.to_string()))
                .collect()
        };
        let issued: Vec<String> = tbs
            .get_extension::<x509_cert::ext::pkix::SubjectAltName>()
            .ok()
            .flatten()
            .map(|(_, san)| {
                san.0
                    .iter()
                    .filter_map(SanEntry::from_general_name)
                    .map(|e| e.to_string())
                    .collect()
            })
            .unwrap_or_default();
        let sorted = |mut v: Vec<String>| {
            v.sort();
            v
        };
        wanted.map(sorted) == Some(sorted(issued))
    }

    fn reserialize(&mut self, p: &mut Prepared) -> Result<()> {
        // The serial sits at a fixed place in the TBS; rebuilding is simpler than patching.
        let serial = random_serial()?;
        let old = p.pending.serial.to_bytes();
        if old.len() != serial.len() {
            return Err(Error::SerialCollision {
                serial: p.pending.serial.to_string(),
            });
        }
        let pos = p
            .pending
            .tbs_der
            .windows(old.len())
            .position(|w| w == old.as_slice())
            .ok_or_else(|| Error::SerialCollision {
                serial: p.pending.serial.to_string(),
            })?;
        p.pending.tbs_der[pos..pos + old.len()].copy_from_slice(&serial);
        p.pending.serial = Serial::from_der_content(&serial);
        Ok(())
    }

    /// The checks of a request that need the store, in the order they always ran: the profile
    /// exists and makes end-entity certificates, its CA (named, or the one bound to the
    /// profile) loads. The CA records, loaded CAs and profiles are read once per batch.
    fn resolve(
        &mut self,
        req: &IssuanceRequest,
        cache: &mut BatchCache,
    ) -> Result<(Arc<Profile>, Arc<LoadedCa>)> {
        let profile = match cache.profiles.get(&req.profile) {
            Some(p) => p.clone(),
            None => {
                let p = Arc::new(self.policies.profile(&req.profile)?.clone());
                cache.profiles.insert(req.profile.clone(), p.clone());
                p
            }
        };
        if profile.ca {
            return Err(Error::PolicyRefused {
                detail: format!(
                    "profile {:?} makes CA certificates: use `lgpki ca create`",
                    profile.name
                ),
            });
        }
        let ca_name = match &req.ca {
            Some(c) => c.clone(),
            None => {
                if cache.bound.is_none() {
                    cache.bound = Some(self.store.cas()?);
                }
                cache
                    .bound
                    .iter()
                    .flatten()
                    .find(|c| c.profiles.iter().any(|p| *p == profile.name))
                    .map(|c| c.name.clone())
                    .ok_or_else(|| Error::PolicyRefused {
                        detail: format!(
                            "no CA is bound to profile {:?}; name one with --ca",
                            profile.name
                        ),
                    })?
            }
        };
        if let Some(ca) = cache.cas.get(&ca_name) {
            return Ok((profile, ca.clone()));
        }
        let ca = Arc::new(self.load_ca(&ca_name)?);
        cache.cas.insert(ca_name, ca.clone());
        Ok((profile, ca))
    }
}

/// Checks one request against its profile and CA, and encodes and lints its TBSCertificate
/// (CPU only: runs on worker threads).
fn prepare(
    profile: &Profile,
    ca: &LoadedCa,
    base_url: &str,
    req: &IssuanceRequest,
    now: OffsetDateTime,
) -> Result<PendingCert> {
    let ca_name = &ca.record.name;
    if !profile.any_ca && !ca.record.profiles.contains(&profile.name) {
        return Err(Error::PolicyRefused {
            detail: format!("CA {ca_name:?} does not issue profile {:?}", profile.name),
        });
    }
    let parsed = parse_csr(&req.csr_der)?;
    let key = PublicKeyInfo::of(&parsed.request.public_key)?;
    check_key(profile, &key)?;
    let csr = parsed.verify_signature()?;
    let requested = match &req.subject {
        Some(s) => DistinguishedName::parse(s)?,
        None => csr.subject.clone(),
    };
    let sans = if req.sans.is_empty() {
        csr.requested_sans.clone()
    } else {
        req.sans
            .iter()
            .map(|s| SanEntry::parse(s))
            .collect::<Result<Vec<_>>>()?
    };
    let subject = apply_subject_rules(profile, requested)?;
    check_sans(profile, &subject, &sans)?;
    let days = req.days.unwrap_or(profile.validity_days);
    if days == 0 || days > profile.max_validity_days {
        return Err(Error::PolicyRefused {
            detail: format!(
                "--days {days}: profile {:?} allows 1..={}",
                profile.name, profile.max_validity_days
            ),
        });
    }
    let not_after = (now + Duration::days(i64::from(days))).min(ca.not_after);
    let exts = leaf_extensions(
        base_url,
        profile,
        ca,
        &key,
        &csr.public_key_der,
        &subject,
        &sans,
    )?;
    let subject_der = subject.to_der()?;
    let (serial, tbs) = build::linted_tbs(
        &ca.issuer_facts(),
        &Expectation {
            ca: false,
            min_rsa_bits: profile.min_rsa_bits,
        },
        &subject_der,
        &csr.public_key_der,
        now,
        not_after,
        &exts,
    )?;
    Ok(PendingCert {
        serial: Serial::from_der_content(&serial),
        ca: ca_name.clone(),
        profile: profile.name.clone(),
        subject: subject.to_string(),
        not_before: now.unix_timestamp(),
        not_after: not_after.unix_timestamp(),
        tbs_der: tbs,
        request_id: req.request_id.clone(),
        issuer_generation: Some(ca.record.generation),
        by_retired_key: ca.retired,
    })
}

fn leaf_extensions(
    base: &str,
    profile: &Profile,
    ca: &LoadedCa,
    key: &PublicKeyInfo,
    spki_der: &[u8],
    subject: &DistinguishedName,
    sans: &[SanEntry],
) -> Result<Vec<x509_cert::ext::Extension>> {
    let mut exts = vec![build::key_usage(profile.key_usage(key.is_rsa))?];
    if !profile.extended_key_usage.is_empty() {
        exts.push(build::extended_key_usage(
            &profile.extended_key_usage,
            profile.extended_key_usage_critical,
        )?);
    }
    exts.push(build::subject_key_identifier(&build::key_identifier(
        spki_der,
    )?)?);
    exts.push(build::authority_key_identifier(&ca.ski)?);
    exts.push(build::certificate_policies(&[profile.policy()?])?);
    if profile.revocation_pointers {
        exts.push(build::crl_distribution_point(&ca.crl_url(base))?);
        exts.push(build::issuer_access(base, &ca.record.name, true)?);
    } else {
        exts.push(build::issuer_access(base, &ca.record.name, false)?);
    }
    if profile.ocsp_no_check {
        exts.push(build::ocsp_no_check()?);
    }
    if !sans.is_empty() {
        exts.push(build::subject_alt_name(sans, subject.is_empty())?);
    }
    Ok(exts)
}

fn id_reused(id: &str) -> Error {
    Error::PolicyRefused {
        detail: format!(
            "request id {id:?} was used before for a different request (profile, key, subject or \
             names differ); give this request its own id"
        ),
    }
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn issued_from(
    serial: Serial,
    ca: String,
    profile: String,
    subject: String,
    nb: i64,
    na: i64,
    der: Vec<u8>,
    replayed: bool,
) -> Issued {
    Issued {
        pem: crate::input::to_pem("CERTIFICATE", &der),
        serial,
        ca,
        profile,
        subject,
        not_before: rfc3339(nb),
        not_after: rfc3339(na),
        der,
        replayed,
    }
}

fn check_key(profile: &Profile, key: &PublicKeyInfo) -> Result<()> {
    let refuse = |detail: String| Error::KeyRefused {
        profile: profile.name.clone(),
        detail,
    };
    if key.is_rsa && key.bits < profile.min_rsa_bits {
        return Err(refuse(format!(
            "RSA-{} is weaker than the minimum RSA-{}",
            key.bits, profile.min_rsa_bits
        )));
    }
    match key.algorithm {
        Some(a) if profile.key_algorithms.contains(&a) => Ok(()),
        Some(a) => Err(refuse(format!("{a} keys are not allowed"))),
        None if key.is_rsa => Err(refuse(format!(
            "RSA-{} is not an allowed size (2048, 3072, 4096)",
            key.bits
        ))),
        None => Err(refuse(format!(
            "curve {} is not allowed (P-256, P-384)",
            key.curve.map(|c| c.to_string()).unwrap_or_default()
        ))),
    }
}

/// Applies a profile's subject rules: fixed attributes set (a different requested value is
/// refused), required ones present, nothing outside the allowed set, no type more often than
/// the profile's `max` (default once), lengths within RFC 5280 Appendix A bounds. The result
/// is in canonical order; values of a repeated type keep their order (OU: 団体, then 部署).
pub fn apply_subject_rules(
    profile: &Profile,
    mut dn: DistinguishedName,
) -> Result<DistinguishedName> {
    let refuse = |detail: String| Error::SubjectRefused {
        profile: profile.name.clone(),
        detail,
    };
    for (attr, value) in &profile.subject.fixed {
        let ty = AttrType::from_short(attr)
            .ok_or_else(|| refuse(format!("unknown attribute {attr}")))?;
        match dn.get(ty) {
            Some(v) if v != value => {
                return Err(refuse(format!(
                    "{} must be {value:?}, not {v:?}",
                    ty.short()
                )));
            }
            _ => dn.set(ty, value),
        }
    }
    for attr in &profile.subject.required {
        let ty = AttrType::from_short(attr)
            .ok_or_else(|| refuse(format!("unknown attribute {attr}")))?;
        if dn.get(ty).is_none_or(|v| v.trim().is_empty()) {
            return Err(refuse(format!("{} is required", ty.short())));
        }
    }
    for (ty, value) in dn.attrs() {
        if !profile
            .subject
            .allowed
            .iter()
            .any(|a| AttrType::from_short(a) == Some(ty))
        {
            return Err(refuse(format!("{} is not allowed", ty.short())));
        }
        let (n, max) = (dn.count(ty), profile.subject.max_of(ty));
        if n > max {
            return Err(refuse(format!(
                "{} appears {n} times; this profile allows at most {max} ({})",
                ty.short(),
                dn.get_all(ty)
                    .iter()
                    .map(|v| format!("{v:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let n = value.chars().count();
        if n > ty.max_len() {
            return Err(refuse(format!(
                "{} has {n} characters; at most {}",
                ty.short(),
                ty.max_len()
            )));
        }
        if let Some(bad) = crate::name::find_forbidden_char(value) {
            return Err(refuse(format!("{} contains {bad}", ty.short())));
        }
    }
    dn.canonicalize();
    Ok(dn)
}

fn check_sans(profile: &Profile, subject: &DistinguishedName, sans: &[SanEntry]) -> Result<()> {
    let refuse = |detail: String| Error::SanRefused {
        profile: profile.name.clone(),
        detail,
    };
    for s in sans {
        if !profile.san.allowed.contains(&s.kind()) {
            return Err(refuse(format!(
                "{s}: {} names are not allowed",
                s.kind().prefix()
            )));
        }
        // Strictly under: a suffix such as lg.jp is shared by every organisation and names
        // none of them.
        if let SanEntry::Dns(d) = s
            && !profile.san.dns_suffixes.is_empty()
            && !profile
                .san
                .dns_suffixes
                .iter()
                .any(|suf| dns_under(d, suf) && d != suf.trim_start_matches('.'))
        {
            return Err(refuse(format!(
                "{s}: must be a name under {} (not the suffix itself)",
                profile.san.dns_suffixes.join(" or ")
            )));
        }
    }
    for (i, s) in sans.iter().enumerate() {
        if sans[..i].contains(s) {
            return Err(refuse(format!("{s} appears twice")));
        }
    }
    for req in &profile.san.required {
        if !sans.iter().any(|s| s.kind() == *req) {
            return Err(refuse(format!(
                "a {} subjectAltName is required",
                req.prefix()
            )));
        }
    }
    if !profile.san.required_any.is_empty()
        && !sans
            .iter()
            .any(|s| profile.san.required_any.contains(&s.kind()))
    {
        let names: Vec<&str> = profile
            .san
            .required_any
            .iter()
            .map(|t| t.prefix())
            .collect();
        return Err(refuse(format!(
            "a subjectAltName of type {} is required",
            names.join(" or ")
        )));
    }
    if profile.subject.cn_in_san
        && let Some(cn) = subject.get(AttrType::Cn)
    {
        let cn_l = cn.to_ascii_lowercase();
        if !sans
            .iter()
            .any(|s| matches!(s, SanEntry::Dns(d) if *d == cn_l))
        {
            return Err(refuse(format!("CN {cn:?} must also be a dNSName")));
        }
    }
    if subject.is_empty() && sans.is_empty() {
        return Err(refuse(
            "a certificate needs a subject or a subjectAltName".into(),
        ));
    }
    Ok(())
}
