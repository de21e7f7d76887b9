//! A loaded publication as an OCSP status lookup and a repository, the hot swap of a newer
//! release, and the rules a release must pass before it is served.
//!
//! # Which releases are served
//! A release is loaded with [`Publication::load`], which refuses one whose files do not match
//! its manifest or whose CA signatures do not verify. On top of that the responder refuses a
//! release
//! - whose sequence number is not higher than the one it serves (a replayed or older release);
//! - that none of the [`Pins`] signed: the CA keys of `--trust-ca FILE`, or else of the first
//!   release loaded at start. A key that only the release itself vouches for is never enough.
//!
//! A refused release is logged once, counted in `lgpki_publication_refused_total{reason}`, and
//! the previous release stays in service.
//!
//! # Freshness
//! Every nextUpdate is capped at the release's `not_after` ([`OcspIssuer::with_not_after`]).
//! Once the release is past `not_after`, or older than `--max-age`, every OCSP request is
//! answered `tryLater` (RFC 6960 §2.3) and `/healthz` answers 503 with the reason.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use ca_core::ocsp::{CertId, Lookup, ResponseStatus};
use ca_core::publish::{Publication, PublishedStatus};
use ca_core::{CaSigner, Error, Result, SoftwareSigner};
use ca_http::{
    CacheConfig, CachingOcsp, Health, Metrics, MetricsSource, OcspAnswer, OcspIssuer, OcspSource,
    Repository, StatusLookup,
};
use time::OffsetDateTime;

/// How long a response is valid (nextUpdate − thisUpdate, RFC 6960 §4.2.1). A publication is
/// a snapshot that `lgpki publish` refreshes; an hour keeps relying parties' caches short
/// enough that a new release (a revocation) reaches them within the hour, while the
/// response cache spares signing (responses are re-signed after [`CacheConfig::max_age`]).
pub const RESPONSE_VALIDITY: time::Duration = time::Duration::hours(1);

/// One CA of a publication.
struct Ca {
    name: String,
    /// One per key generation that answers: the key in force first, then the retired ones
    /// (RFC 6960 §4.1.1: a CertID names its issuer by key, so each key is its own issuer).
    issuers: Vec<Arc<OcspIssuer>>,
    statuses: HashMap<Vec<u8>, PublishedStatus>,
    cert_der: Vec<u8>,
    crls: std::collections::BTreeMap<u32, Vec<u8>>,
    arls: std::collections::BTreeMap<u32, Vec<u8>>,
    issued_to_p7c: Option<Vec<u8>>,
    issued_by_p7c: Option<Vec<u8>>,
}

/// A publication's statuses, indexed for OCSP. Immutable: a newer release gets a new one, so
/// the epoch is constant.
pub struct PublicationLookup {
    cas: Vec<Ca>,
}

impl StatusLookup for PublicationLookup {
    fn epoch(&self) -> Result<u64> {
        Ok(0)
    }

    fn issuer(&self, id: &CertId) -> Option<Arc<OcspIssuer>> {
        self.cas
            .iter()
            .flat_map(|ca| ca.issuers.iter())
            .find(|issuer| issuer.matches(id))
            .cloned()
    }

    /// The statuses are the CA's, whichever of its key generations is asked (serials are
    /// unique per CA name across its keys).
    fn status(&self, issuer: &OcspIssuer, serial: &[u8]) -> Result<Lookup> {
        let Some(ca) = self.cas.iter().find(|ca| ca.name == issuer.name()) else {
            return Ok(Lookup::Unknown);
        };
        Ok(match ca.statuses.get(serial) {
            None => Lookup::Unknown,
            Some(PublishedStatus::Good) => Lookup::Good,
            Some(PublishedStatus::Revoked { time, reason }) => Lookup::Revoked {
                time: OffsetDateTime::from_unix_timestamp(*time)
                    .map_err(|e| Error::malformed("published revocation time", e))?,
                reason: *reason,
            },
        })
    }
}

/// A publication ready to serve: its OCSP source (with its own response cache) and its files.
pub struct Loaded {
    id: String,
    sequence: u64,
    created: i64,
    not_after: i64,
    signed_by: Vec<Vec<u8>>,
    ocsp: CachingOcsp<PublicationLookup>,
}

impl Loaded {
    /// Prepares `publication`: loads each CA's responder keys (the key in force's and each
    /// retired generation's) and checks each against its responder certificate (key match,
    /// id-kp-OCSPSigning).
    pub fn new(publication: Publication, metrics: &Arc<Metrics>) -> Result<Loaded> {
        let not_after = OffsetDateTime::from_unix_timestamp(publication.not_after)
            .map_err(|e| Error::malformed("release not_after", e))?;
        let mut cas = Vec::with_capacity(publication.cas.len());
        for ca in publication.cas {
            let what = format!("{} OCSP responder key", ca.name);
            let signer: Arc<dyn CaSigner> =
                Arc::new(SoftwareSigner::from_pkcs8(&ca.responder_key_pkcs8, &what)?);
            let mut issuers = vec![Arc::new(
                OcspIssuer::new(
                    &ca.name,
                    &ca.cert_der,
                    signer,
                    Some(ca.responder_cert_der),
                    RESPONSE_VALIDITY,
                )?
                .with_not_after(not_after),
            )];
            for old in ca.retired {
                let what = format!(
                    "{} generation {} OCSP responder key",
                    ca.name, old.generation
                );
                let signer: Arc<dyn CaSigner> =
                    Arc::new(SoftwareSigner::from_pkcs8(&old.responder_key_pkcs8, &what)?);
                // Its responder certificate ends with the last certificate that generation
                // signed (ca_core::publish): from then on its requests are answered tryLater,
                // and the next release no longer has it.
                let ends = responder_not_after(&old.responder_cert_der)?.min(not_after);
                issuers.push(Arc::new(
                    OcspIssuer::new(
                        &ca.name,
                        &old.cert_der,
                        signer,
                        Some(old.responder_cert_der),
                        RESPONSE_VALIDITY,
                    )?
                    .with_not_after(ends),
                ));
            }
            cas.push(Ca {
                name: ca.name,
                issuers,
                statuses: ca.statuses,
                cert_der: ca.cert_der,
                crls: ca.crls,
                arls: ca.arls,
                issued_to_p7c: ca.issued_to_p7c,
                issued_by_p7c: ca.issued_by_p7c,
            });
        }
        Ok(Loaded {
            id: publication.id,
            sequence: publication.sequence,
            created: publication.created,
            not_after: publication.not_after,
            signed_by: publication.signed_by,
            ocsp: CachingOcsp::new(
                PublicationLookup { cas },
                CacheConfig::default(),
                metrics.clone(),
            ),
        })
    }

    /// The release id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The release's sequence number.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// The CA keys (SubjectPublicKeyInfo DER) that signed the release.
    pub fn signed_by(&self) -> &[Vec<u8>] {
        &self.signed_by
    }

    /// How many CAs it serves.
    pub fn ca_count(&self) -> usize {
        self.ocsp.lookup().cas.len()
    }

    fn ca(&self, name: &str) -> Option<&Ca> {
        self.ocsp.lookup().cas.iter().find(|ca| ca.name == name)
    }
}

/// The notAfter of a responder certificate (DER).
fn responder_not_after(cert_der: &[u8]) -> Result<OffsetDateTime> {
    use der::Decode;
    let cert = x509_cert::Certificate::from_der(cert_der)
        .map_err(|e| Error::malformed("OCSP responder certificate", e))?;
    let secs = cert
        .tbs_certificate()
        .validity()
        .not_after
        .to_unix_duration()
        .as_secs();
    OffsetDateTime::from_unix_timestamp(secs as i64)
        .map_err(|e| Error::malformed("OCSP responder certificate notAfter", e))
}

/// The CA keys a release must be signed by (one of them at least), as SubjectPublicKeyInfo
/// DER: from `--trust-ca` files, or the signers of the first release loaded.
#[derive(Clone, Debug, Default)]
pub struct Pins(Vec<Vec<u8>>);

impl Pins {
    /// Pins the keys of these certificates (DER).
    pub fn from_certificates(certs: &[Vec<u8>]) -> Result<Pins> {
        use der::{Decode, Encode};
        let mut keys = Vec::new();
        for der_bytes in certs {
            let cert = x509_cert::Certificate::from_der(der_bytes)
                .map_err(|e| Error::malformed("--trust-ca certificate", e))?;
            keys.push(
                cert.tbs_certificate()
                    .subject_public_key_info()
                    .to_der()
                    .map_err(Error::encode("--trust-ca public key"))?,
            );
        }
        Ok(Pins(keys))
    }

    /// Trust on first use: pins the keys that signed the first release (each CA in it signed
    /// it with its own key, so this is every CA certificate of that release).
    pub fn first_release(first: &Loaded) -> Pins {
        Pins(first.signed_by.clone())
    }

    /// Whether a pinned key signed the release.
    pub fn admits(&self, signed_by: &[Vec<u8>]) -> bool {
        signed_by.iter().any(|k| self.0.contains(k))
    }

    /// How many keys are pinned.
    pub fn count(&self) -> usize {
        self.0.len()
    }
}

/// The publication being served, swapped whole when a newer release is loaded, with its
/// freshness rules and the count of refused releases.
pub struct Live {
    current: RwLock<Arc<Loaded>>,
    max_age: Option<Duration>,
    pins: Pins,
    refused: Mutex<BTreeMap<&'static str, u64>>,
    /// "Now" for the release's age (`--max-age`, health, metrics).
    clock: Arc<dyn ca_core::Clock>,
}

impl Live {
    /// Serves `first`; refuses later releases that `pins` did not sign; answers `tryLater` once
    /// the release is older than `max_age` by `clock`.
    pub fn new(
        first: Loaded,
        pins: Pins,
        max_age: Option<Duration>,
        clock: Arc<dyn ca_core::Clock>,
    ) -> Live {
        Live {
            current: RwLock::new(Arc::new(first)),
            max_age,
            pins,
            refused: Mutex::new(BTreeMap::new()),
            clock,
        }
    }

    /// The publication being served. The lock is held only to clone the `Arc`.
    pub fn current(&self) -> Arc<Loaded> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Serves `next` from now on; requests already running finish on the old one.
    pub fn swap(&self, next: Loaded) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(next);
    }

    /// Whether `candidate` may replace the release being served: newer sequence number and
    /// signed by a pinned key. `Err((reason, message))` otherwise.
    pub fn admit(
        &self,
        candidate: &Publication,
    ) -> std::result::Result<(), (&'static str, String)> {
        let serving = self.current();
        if candidate.sequence <= serving.sequence {
            return Err((
                "sequence",
                format!(
                    "release {} has sequence number {}, not newer than {} of release {} in service",
                    candidate.id, candidate.sequence, serving.sequence, serving.id
                ),
            ));
        }
        if !self.pins.admits(&candidate.signed_by) {
            return Err((
                "signer",
                format!(
                    "release {} is not signed by any pinned CA key ({} pinned)",
                    candidate.id,
                    self.pins.count()
                ),
            ));
        }
        Ok(())
    }

    /// Counts a refused release under `reason`.
    pub fn count_refusal(&self, reason: &'static str) {
        *self
            .refused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(reason)
            .or_default() += 1;
    }

    /// Why the release in service must not be used now (expired, or older than `--max-age`).
    pub fn staleness(&self, now: i64) -> Option<String> {
        let cur = self.current();
        if now >= cur.not_after {
            return Some(format!(
                "release {} (sequence {}) expired at {}: publish a new one",
                cur.id,
                cur.sequence,
                ca_core::rfc3339(cur.not_after)
            ));
        }
        let age = now - cur.created;
        match self.max_age {
            Some(max) if age > max.as_secs() as i64 => Some(format!(
                "release {} (sequence {}) is {age} s old, over --max-age {} s",
                cur.id,
                cur.sequence,
                max.as_secs()
            )),
            _ => None,
        }
    }

    fn stale_now(&self) -> bool {
        self.staleness(self.clock.unix()).is_some()
    }
}

impl Health for Live {
    fn problems(&self) -> Vec<String> {
        self.staleness(self.clock.unix()).into_iter().collect()
    }
}

impl MetricsSource for Live {
    fn render(&self, out: &mut String) {
        let cur = self.current();
        let now = self.clock.unix();
        let _ = writeln!(
            out,
            "# HELP lgpki_publication_age_seconds Age of the release in service.\n\
             # TYPE lgpki_publication_age_seconds gauge\n\
             lgpki_publication_age_seconds {}\n\
             # HELP lgpki_publication_sequence Sequence number of the release in service.\n\
             # TYPE lgpki_publication_sequence gauge\n\
             lgpki_publication_sequence {}\n\
             # HELP lgpki_publication_valid_seconds Seconds until the release in service expires.\n\
             # TYPE lgpki_publication_valid_seconds gauge\n\
             lgpki_publication_valid_seconds {}\n\
             # HELP lgpki_publication_stale Whether OCSP is answered tryLater (expired or over --max-age).\n\
             # TYPE lgpki_publication_stale gauge\n\
             lgpki_publication_stale {}",
            (now - cur.created).max(0),
            cur.sequence,
            cur.not_after - now,
            u8::from(self.staleness(now).is_some())
        );
        if let Some(max) = self.max_age {
            let _ = writeln!(
                out,
                "# HELP lgpki_publication_max_age_seconds The --max-age in force.\n\
                 # TYPE lgpki_publication_max_age_seconds gauge\n\
                 lgpki_publication_max_age_seconds {}",
                max.as_secs()
            );
        }
        let _ = writeln!(
            out,
            "# HELP lgpki_publication_refused_total Releases refused, by reason.\n\
             # TYPE lgpki_publication_refused_total counter"
        );
        for (reason, n) in self
            .refused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "lgpki_publication_refused_total{{reason=\"{reason}\"}} {n}"
            );
        }
    }
}

impl OcspSource for Live {
    fn answer(&self, request_der: &[u8]) -> OcspAnswer {
        if self.stale_now() {
            return OcspAnswer::status(ResponseStatus::TryLater);
        }
        self.current().ocsp.answer(request_der)
    }

    fn answer_cached(&self, request_der: &[u8]) -> Option<OcspAnswer> {
        if self.stale_now() {
            return Some(OcspAnswer::status(ResponseStatus::TryLater));
        }
        self.current().ocsp.answer_cached(request_der)
    }
}

impl Repository for Live {
    fn crl(&self, name: &str, generation: u32) -> Option<Vec<u8>> {
        self.current()
            .ca(name)
            .and_then(|ca| ca.crls.get(&generation).cloned())
    }

    fn ca_cert(&self, name: &str) -> Option<Vec<u8>> {
        self.current().ca(name).map(|ca| ca.cert_der.clone())
    }

    fn arl(&self, name: &str, generation: u32) -> Option<Vec<u8>> {
        self.current()
            .ca(name)
            .and_then(|ca| ca.arls.get(&generation).cloned())
    }

    fn certs_issued_to(&self, name: &str) -> Option<Vec<u8>> {
        self.current()
            .ca(name)
            .and_then(|ca| ca.issued_to_p7c.clone())
    }

    fn certs_issued_by(&self, name: &str) -> Option<Vec<u8>> {
        self.current()
            .ca(name)
            .and_then(|ca| ca.issued_by_p7c.clone())
    }
}

/// How often a refused release that stays current is checked again.
pub const REFUSED_RECHECK: Duration = Duration::from_secs(2);

/// Polls `DIR/current` every `interval` and swaps in a newer release once it has loaded fully
/// and passed [`Live::admit`]. A release that fails is reported once (stderr and
/// `lgpki_publication_refused_total`) and the old one kept; it is retried on each poll (the
/// error is transient if, say, a file was briefly unreadable).
pub async fn poll(dir: PathBuf, live: Arc<Live>, metrics: Arc<Metrics>, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut reported: Option<String> = None;
    // The release refused last and when: it is checked again (hashing every file) only every
    // REFUSED_RECHECK, not on every poll, while it stays current.
    let mut refused: Option<(String, std::time::Instant)> = None;
    loop {
        ticker.tick().await;
        if let Some((id, at)) = &refused
            && at.elapsed() < REFUSED_RECHECK
            && Publication::current_id(&dir).is_ok_and(|c| c == *id)
        {
            continue;
        }
        let load_dir = dir.clone();
        let serving = live.current().id().to_string();
        let metrics_for_load = metrics.clone();
        let live_for_load = live.clone();
        // File reads, hashing, signature checks and key parsing: off the async workers.
        let result = tokio::task::spawn_blocking(
            move || -> std::result::Result<Option<Loaded>, (&'static str, String)> {
                let id = Publication::current_id(&load_dir).map_err(|e| ("load", e.to_string()))?;
                if id == serving {
                    return Ok(None);
                }
                let publication = Publication::load(&load_dir).map_err(|e| match &e {
                    Error::ReleaseRefused { kind, .. } => (*kind, e.to_string()),
                    _ => ("load", e.to_string()),
                })?;
                live_for_load.admit(&publication)?;
                Loaded::new(publication, &metrics_for_load)
                    .map(Some)
                    .map_err(|e| ("load", e.to_string()))
            },
        )
        .await;
        match result {
            Ok(Ok(None)) => {
                reported = None;
                refused = None;
            }
            Ok(Ok(Some(next))) => {
                refused = None;
                eprintln!(
                    "ocsp-responder: now serving release {} (sequence {}, {} CA(s))",
                    next.id(),
                    next.sequence(),
                    next.ca_count()
                );
                live.swap(next);
                reported = None;
            }
            Ok(Err((reason, msg))) => {
                if let Ok(id) = Publication::current_id(&dir) {
                    refused = Some((id, std::time::Instant::now()));
                }
                if reported.as_deref() != Some(msg.as_str()) {
                    live.count_refusal(reason);
                    eprintln!(
                        "ocsp-responder: refused a release (reason={reason}), keeping release {} in service: {msg}",
                        live.current().id()
                    );
                    reported = Some(msg);
                }
            }
            Err(e) => eprintln!("ocsp-responder: publication loader failed: {e}"),
        }
    }
}
