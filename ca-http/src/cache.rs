//! [`CachingOcsp`]: an [`OcspSource`] over a [`StatusLookup`] that signs with
//! [`Responder`] and keeps pre-produced responses.
//!
//! # The seam
//! A [`StatusLookup`] says which issuer a CertID names ([`StatusLookup::issuer`], returning an
//! [`OcspIssuer`]: the CA's CertID hashes and the key that signs its responses, either the CA
//! key or a delegated responder's, RFC 6960 §4.2.2.2), the status of a serial under that issuer
//! ([`StatusLookup::status`]), and an `epoch` that changes whenever any status may have
//! changed (a revocation). `lgpki serve` implements it over the store; `ocsp-responder` over a
//! loaded publication (whose epoch never changes: a new publication gets a new
//! `CachingOcsp`).
//!
//! # The cache
//! RFC 5019 §2.2 lets a responder send pre-produced responses, so a nonce-less request for a
//! single CertID (the RFC 5019 profile, and what browsers and OpenSSL without `-nonce` send)
//! is answered from a map keyed by the CertID's DER — which includes its hash algorithm, so
//! SHA-1 and SHA-256 requests are separate entries. An entry is used only while
//! - the lookup's epoch is the one it was produced under: an epoch change empties the whole
//!   cache, so a revocation is visible on the next request;
//! - it is younger than [`CacheConfig::max_age`] and than half of its validity (thisUpdate to
//!   nextUpdate), so clients never get a response about to expire.
//!
//! Requests with a nonce (RFC 8954) or several CertIDs are signed every time. The epoch is read
//! *before* the status, so a response produced while a revocation commits is stored under the
//! old epoch and dropped at once. The map holds at most [`CacheConfig::max_entries`]
//! responses; when full, expired entries are swept (at most once a second) and new responses
//! are not stored until there is room, so memory stays bounded.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use ca_core::ocsp::{
    CaHashes, CertId, HashAlgorithm, Lookup, OcspRequest, Responder, ResponseStatus, StatusSource,
    parse_request,
};
use ca_core::{CaSigner, Clock, Error, Result};
use time::{Duration, OffsetDateTime};

use crate::metrics::Metrics;
use crate::{OcspAnswer, OcspSource};

/// One CA as the responder serves it: its CertID hashes and the key that signs its OCSP
/// responses.
pub struct OcspIssuer {
    name: String,
    hashes: CaHashes,
    signer: Arc<dyn CaSigner>,
    responder_cert: Option<Vec<u8>>,
    validity: Duration,
    not_after: Option<OffsetDateTime>,
}

impl fmt::Debug for OcspIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OcspIssuer")
            .field("name", &self.name)
            .field("delegated", &self.responder_cert.is_some())
            .field("validity", &self.validity)
            .finish_non_exhaustive()
    }
}

impl OcspIssuer {
    /// The CA `name` with certificate `ca_cert_der`, whose responses `signer` signs. With
    /// `responder_cert` the signer is a delegated responder (RFC 6960 §4.2.2.2: the
    /// certificate must hold the signer's key and id-kp-OCSPSigning, and is sent in `certs`);
    /// without it `signer` must be the CA key. Each response is valid for `validity`
    /// (nextUpdate = thisUpdate + validity; none when zero).
    pub fn new(
        name: &str,
        ca_cert_der: &[u8],
        signer: Arc<dyn CaSigner>,
        responder_cert: Option<Vec<u8>>,
        validity: Duration,
    ) -> Result<OcspIssuer> {
        let hashes = CaHashes::from_certificate(ca_cert_der)?;
        // Checks the responder certificate against the key now rather than on every request.
        Responder::new(signer.as_ref(), responder_cert.as_deref(), validity)?;
        if responder_cert.is_none() {
            // Signed by the CA itself (RFC 6960 §4.2.2.2, first case): the key must be the
            // one in the CA certificate, compared by the CertID key hash.
            let spki = ca_core::parse_spki(signer.public_key_der())?;
            let key_hash = HashAlgorithm::Sha1.digest(spki.subject_public_key.raw_bytes());
            if key_hash != hashes.key_sha1 {
                return Err(Error::key(
                    name,
                    "the OCSP signing key is not the CA's key and no responder certificate was given",
                ));
            }
        }
        Ok(OcspIssuer {
            name: name.to_string(),
            hashes,
            signer,
            responder_cert,
            validity,
            not_after: None,
        })
    }

    /// Caps every nextUpdate at `not_after` (the end of the data's own validity, e.g. a
    /// publication release's): a response never claims to be fresher than what it was made
    /// from. From `not_after` on, requests for this CA are answered `tryLater` (RFC 6960 §2.3).
    pub fn with_not_after(mut self, not_after: OffsetDateTime) -> OcspIssuer {
        self.not_after = Some(not_after);
        self
    }

    /// The CA's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The CA's CertID hashes.
    pub fn hashes(&self) -> &CaHashes {
        &self.hashes
    }

    /// Whether `id` names this CA as its issuer.
    pub fn matches(&self, id: &CertId) -> bool {
        self.hashes.matches(id)
    }

    /// How long each response is valid.
    pub fn validity(&self) -> Duration {
        self.validity
    }
}

/// Where [`CachingOcsp`] finds issuers and statuses. Methods are called on a blocking thread
/// and may query a database.
pub trait StatusLookup: Send + Sync + 'static {
    /// A value that changes whenever any certificate status may have changed (every
    /// revocation). Read on every request, also on the server's own (non-blocking) thread by
    /// [`CachingOcsp::cached_at`], so it must be cheap and must not block: an atomic, not a
    /// query. An error disables the cache for that request.
    fn epoch(&self) -> Result<u64>;

    /// The issuer `id` names (by hash algorithm, issuerNameHash and issuerKeyHash), or `None`
    /// when it is not served here (the response is then `unauthorized`, RFC 5019 §2.2.3).
    fn issuer(&self, id: &CertId) -> Option<Arc<OcspIssuer>>;

    /// The status of the certificate with serial `serial` (big-endian magnitude, as in
    /// [`CertId::serial`]) issued by `issuer`: `Good`, `Revoked` or `Unknown`. An error is
    /// answered `internalError` and not cached.
    fn status(&self, issuer: &OcspIssuer, serial: &[u8]) -> Result<Lookup>;
}

/// A shared lookup is a lookup (so the owner can keep a handle, e.g. to bump the epoch).
impl<L: StatusLookup + ?Sized> StatusLookup for Arc<L> {
    fn epoch(&self) -> Result<u64> {
        (**self).epoch()
    }

    fn issuer(&self, id: &CertId) -> Option<Arc<OcspIssuer>> {
        (**self).issuer(id)
    }

    fn status(&self, issuer: &OcspIssuer, serial: &[u8]) -> Result<Lookup> {
        (**self).status(issuer, serial)
    }
}

/// Cache bounds for [`CachingOcsp`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheConfig {
    /// The longest a pre-produced response is sent (also capped at half its validity).
    pub max_age: Duration,
    /// The most responses kept (a few hundred octets to ~2 KiB each with a responder
    /// certificate).
    pub max_entries: usize,
}

impl Default for CacheConfig {
    /// Five minutes and 20,000 responses (at most ~40 MiB). Five minutes bounds how stale a
    /// thisUpdate gets; revocations do not wait for it (the epoch empties the cache).
    fn default() -> CacheConfig {
        CacheConfig {
            max_age: Duration::minutes(5),
            max_entries: 20_000,
        }
    }
}

struct Entry {
    answer: OcspAnswer,
    expires: OffsetDateTime,
}

struct Cache {
    epoch: Option<u64>,
    map: HashMap<Vec<u8>, Entry>,
    last_sweep: Option<OffsetDateTime>,
}

/// An [`OcspSource`] that signs with each issuer's key through [`Responder`] and answers
/// nonce-less single-CertID requests from a cache of pre-produced responses (see the module
/// documentation for the rules).
pub struct CachingOcsp<L: StatusLookup> {
    lookup: L,
    config: CacheConfig,
    metrics: Arc<Metrics>,
    cache: RwLock<Cache>,
    /// "Now" for [`OcspSource::answer`]: producedAt, thisUpdate and cache freshness.
    clock: Arc<dyn Clock>,
}

impl<L: StatusLookup> fmt::Debug for CachingOcsp<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachingOcsp")
            .field("config", &self.config)
            .field("entries", &self.len())
            .finish_non_exhaustive()
    }
}

/// Adapts a [`StatusLookup`] with a chosen issuer to [`StatusSource`], keeping the first error.
struct Statuses<'a, L: StatusLookup> {
    lookup: &'a L,
    issuer: &'a OcspIssuer,
    error: RefCell<Option<Error>>,
}

impl<L: StatusLookup> StatusSource for Statuses<'_, L> {
    fn lookup(&self, cert_id: &CertId) -> Lookup {
        match self.lookup.status(self.issuer, &cert_id.serial) {
            Ok(l) => l,
            Err(e) => {
                self.error.borrow_mut().get_or_insert(e);
                Lookup::Unknown
            }
        }
    }
}

impl<L: StatusLookup> CachingOcsp<L> {
    /// A caching source over `lookup`, counting cache hits and misses in `metrics`.
    pub fn new(lookup: L, config: CacheConfig, metrics: Arc<Metrics>) -> CachingOcsp<L> {
        CachingOcsp {
            lookup,
            config,
            metrics,
            cache: RwLock::new(Cache {
                epoch: None,
                map: HashMap::new(),
                last_sweep: None,
            }),
            clock: ca_core::system_clock(),
        }
    }

    /// The same, answering as of `clock`'s time (the system clock by default).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> CachingOcsp<L> {
        self.clock = clock;
        self
    }

    /// The lookup.
    pub fn lookup(&self) -> &L {
        &self.lookup
    }

    /// How many responses are cached.
    pub fn len(&self) -> usize {
        self.read().map.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    // A panic while holding the lock leaves a consistent map (no multi-step updates), so a
    // poisoned lock is used as it is.
    fn read(&self) -> RwLockReadGuard<'_, Cache> {
        self.cache.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Cache> {
        self.cache.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The pre-produced response to `request_der` as of `now`, if one is cached and fresh
    /// (what [`OcspSource::answer_cached`] does with the current time). Never signs.
    pub fn cached_at(&self, request_der: &[u8], now: OffsetDateTime) -> Option<OcspAnswer> {
        let request = parse_request(request_der).ok()?;
        let [id] = request.cert_ids.as_slice() else {
            return None;
        };
        if request.nonce.is_some() || id.hash.is_none() {
            return None;
        }
        let epoch = self.lookup.epoch().ok()?;
        let hit = self.get(id.der(), epoch, now)?;
        self.metrics.cache_hit();
        Some(hit)
    }

    /// Answers `request_der` as of `now` (what [`OcspSource::answer`] does with the current
    /// time; tests pass their own clock).
    pub fn answer_at(&self, request_der: &[u8], now: OffsetDateTime) -> OcspAnswer {
        let Ok(request) = parse_request(request_der) else {
            return OcspAnswer::status(ResponseStatus::MalformedRequest);
        };
        let key = match request.cert_ids.as_slice() {
            [id] if request.nonce.is_none() && id.hash.is_some() => Some(id.der().to_vec()),
            _ => None,
        };
        let epoch = match &key {
            Some(_) => self.lookup.epoch().ok(),
            None => None,
        };
        let key = match (key, epoch) {
            (Some(key), Some(epoch)) => {
                if let Some(hit) = self.get(&key, epoch, now) {
                    self.metrics.cache_hit();
                    return hit;
                }
                self.metrics.cache_miss();
                Some((key, epoch))
            }
            _ => {
                self.metrics.cache_bypass();
                None
            }
        };
        let answer = self.sign(&request, now);
        if let Some((key, epoch)) = key
            && answer.successful
        {
            self.put(key, epoch, &answer, now);
        }
        answer
    }

    fn get(&self, key: &[u8], epoch: u64, now: OffsetDateTime) -> Option<OcspAnswer> {
        {
            // The common case under load, on a shared lock: same epoch, fresh entry.
            let cache = self.read();
            if cache.epoch == Some(epoch) {
                match cache.map.get(key) {
                    Some(e) if now < e.expires => return Some(e.answer.clone()),
                    Some(_) => {}
                    None => return None,
                }
            }
        }
        let mut cache = self.write();
        if cache.epoch != Some(epoch) {
            // A revocation (or the first request): everything cached may be stale.
            cache.map.clear();
            cache.epoch = Some(epoch);
            return None;
        }
        match cache.map.get(key) {
            Some(e) if now < e.expires => Some(e.answer.clone()),
            Some(_) => {
                cache.map.remove(key);
                None
            }
            None => None,
        }
    }

    fn put(&self, key: Vec<u8>, epoch: u64, answer: &OcspAnswer, now: OffsetDateTime) {
        let Some(this_update) = answer.this_update else {
            return;
        };
        let mut expires = this_update + self.config.max_age;
        if let Some(next) = answer.next_update {
            expires = expires.min(this_update + (next - this_update) / 2);
        }
        if expires <= now {
            return;
        }
        let mut cache = self.write();
        if cache.epoch != Some(epoch) {
            // Produced under an older epoch: a revocation committed meanwhile.
            return;
        }
        if cache.map.len() >= self.config.max_entries && !cache.map.contains_key(&key) {
            let due = cache
                .last_sweep
                .is_none_or(|t| now - t >= Duration::seconds(1));
            if due {
                cache.map.retain(|_, e| now < e.expires);
                cache.last_sweep = Some(now);
            }
            if cache.map.len() >= self.config.max_entries {
                return;
            }
        }
        cache.map.insert(
            key,
            Entry {
                answer: answer.clone(),
                expires,
            },
        );
    }

    /// Signs a response to `request` (no cache).
    fn sign(&self, request: &OcspRequest, now: OffsetDateTime) -> OcspAnswer {
        // One response is signed by one key: every CertID must name the same issuer. CertIDs
        // with an unsupported hash algorithm name no issuer and are answered `unknown`.
        let mut issuer: Option<Arc<OcspIssuer>> = None;
        for id in request.cert_ids.iter().filter(|id| id.hash.is_some()) {
            match (self.lookup.issuer(id), &issuer) {
                (None, _) => return OcspAnswer::status(ResponseStatus::Unauthorized),
                (Some(i), None) => issuer = Some(i),
                (Some(i), Some(prev)) if Arc::ptr_eq(&i, prev) => {}
                (Some(_), Some(_)) => return OcspAnswer::status(ResponseStatus::Unauthorized),
            }
        }
        let Some(issuer) = issuer else {
            return OcspAnswer::status(ResponseStatus::Unauthorized);
        };
        let Ok(this_update) = now.replace_nanosecond(0) else {
            return OcspAnswer::status(ResponseStatus::InternalError);
        };
        // nextUpdate never goes beyond the issuer's own data validity (RFC 6960 §4.2.2.1:
        // nextUpdate is when newer information will be available; nothing newer than the
        // data exists after it expires, so the response must not claim to last longer).
        let mut validity = issuer.validity;
        if let Some(not_after) = issuer.not_after {
            let left = not_after - this_update;
            if !left.is_positive() {
                return OcspAnswer::status(ResponseStatus::TryLater);
            }
            validity = if validity.is_positive() {
                validity.min(left)
            } else {
                left
            };
        }
        let statuses = Statuses {
            lookup: &self.lookup,
            issuer: &issuer,
            error: RefCell::new(None),
        };
        let der = Responder::new(
            issuer.signer.as_ref(),
            issuer.responder_cert.as_deref(),
            validity,
        )
        .and_then(|r| r.build_response(request, &statuses, this_update));
        match der {
            // The store could not be asked (a database down or restarting): tryLater, "try
            // again later" (RFC 6960 §2.3); nothing stale is served as current.
            Ok(_) if statuses.error.borrow().is_some() => {
                OcspAnswer::status(ResponseStatus::TryLater)
            }
            Ok(der) => OcspAnswer {
                der,
                successful: true,
                this_update: Some(this_update),
                next_update: validity.is_positive().then(|| this_update + validity),
                cacheable: request.nonce.is_none(),
            },
            Err(_) => OcspAnswer::status(ResponseStatus::InternalError),
        }
    }
}

impl<L: StatusLookup> OcspSource for CachingOcsp<L> {
    fn answer(&self, request_der: &[u8]) -> OcspAnswer {
        self.answer_at(request_der, self.clock.now())
    }

    fn answer_cached(&self, request_der: &[u8]) -> Option<OcspAnswer> {
        self.cached_at(request_der, self.clock.now())
    }
}
