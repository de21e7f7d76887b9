//! A loaded publication as an OCSP status lookup and a repository, and the hot swap of a newer
//! release.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use ca_core::ocsp::{CertId, Lookup};
use ca_core::publish::{Publication, PublishedStatus};
use ca_core::{CaSigner, Error, Result, SoftwareSigner};
use ca_http::{
    CacheConfig, CachingOcsp, Metrics, OcspAnswer, OcspIssuer, OcspSource, Repository, StatusLookup,
};
use time::OffsetDateTime;

/// How long a response is valid (nextUpdate − thisUpdate, RFC 6960 §4.2.1). A publication is
/// a snapshot that `lgpki publish` refreshes; an hour keeps relying parties' caches short
/// enough that a new release (a revocation) reaches them within the hour, while the
/// response cache spares signing (responses are re-signed after [`CacheConfig::max_age`]).
pub const RESPONSE_VALIDITY: time::Duration = time::Duration::hours(1);

/// One CA of a publication.
struct Ca {
    issuer: Arc<OcspIssuer>,
    statuses: HashMap<Vec<u8>, PublishedStatus>,
    cert_der: Vec<u8>,
    crl_der: Vec<u8>,
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
            .find(|ca| ca.issuer.matches(id))
            .map(|ca| ca.issuer.clone())
    }

    fn status(&self, issuer: &OcspIssuer, serial: &[u8]) -> Result<Lookup> {
        let Some(ca) = self.cas.iter().find(|ca| ca.issuer.name() == issuer.name()) else {
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
    ocsp: CachingOcsp<PublicationLookup>,
}

impl Loaded {
    /// Prepares `publication`: loads each CA's responder key and checks it against the
    /// responder certificate (key match, id-kp-OCSPSigning).
    pub fn new(publication: Publication, metrics: &Arc<Metrics>) -> Result<Loaded> {
        let mut cas = Vec::with_capacity(publication.cas.len());
        for ca in publication.cas {
            let what = format!("{} OCSP responder key", ca.name);
            let signer: Arc<dyn CaSigner> =
                Arc::new(SoftwareSigner::from_pkcs8(&ca.responder_key_pkcs8, &what)?);
            let issuer = OcspIssuer::new(
                &ca.name,
                &ca.cert_der,
                signer,
                Some(ca.responder_cert_der),
                RESPONSE_VALIDITY,
            )?;
            cas.push(Ca {
                issuer: Arc::new(issuer),
                statuses: ca.statuses,
                cert_der: ca.cert_der,
                crl_der: ca.crl_der,
            });
        }
        Ok(Loaded {
            id: publication.id,
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

    /// How many CAs it serves.
    pub fn ca_count(&self) -> usize {
        self.ocsp.lookup().cas.len()
    }

    fn ca(&self, name: &str) -> Option<&Ca> {
        self.ocsp
            .lookup()
            .cas
            .iter()
            .find(|ca| ca.issuer.name() == name)
    }
}

/// The publication being served, swapped whole when a newer release is loaded.
pub struct Live {
    current: RwLock<Arc<Loaded>>,
}

impl Live {
    /// Serves `first`.
    pub fn new(first: Loaded) -> Live {
        Live {
            current: RwLock::new(Arc::new(first)),
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
}

impl OcspSource for Live {
    fn answer(&self, request_der: &[u8]) -> OcspAnswer {
        self.current().ocsp.answer(request_der)
    }

    fn answer_cached(&self, request_der: &[u8]) -> Option<OcspAnswer> {
        self.current().ocsp.answer_cached(request_der)
    }
}

impl Repository for Live {
    fn crl(&self, name: &str) -> Option<Vec<u8>> {
        self.current().ca(name).map(|ca| ca.crl_der.clone())
    }

    fn ca_cert(&self, name: &str) -> Option<Vec<u8>> {
        self.current().ca(name).map(|ca| ca.cert_der.clone())
    }
}

/// Polls `DIR/current` every `interval` and swaps in a newer release once it has loaded fully.
/// A release that fails to load is reported once and the old one kept; it is retried on each
/// poll (the error is transient if, say, a file was briefly unreadable).
pub async fn poll(dir: PathBuf, live: Arc<Live>, metrics: Arc<Metrics>, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut reported: Option<String> = None;
    loop {
        ticker.tick().await;
        let dir = dir.clone();
        let serving = live.current().id().to_string();
        let metrics_for_load = metrics.clone();
        // File reads and key parsing: off the async workers.
        let result = tokio::task::spawn_blocking(move || -> Result<Option<Loaded>> {
            let id = Publication::current_id(&dir)?;
            if id == serving {
                return Ok(None);
            }
            let publication = Publication::load(&dir)?;
            Loaded::new(publication, &metrics_for_load).map(Some)
        })
        .await;
        match result {
            Ok(Ok(None)) => reported = None,
            Ok(Ok(Some(next))) => {
                eprintln!(
                    "ocsp-responder: now serving release {} ({} CA(s))",
                    next.id(),
                    next.ca_count()
                );
                live.swap(next);
                reported = None;
            }
            Ok(Err(e)) => {
                let msg = e.to_string();
                if reported.as_deref() != Some(msg.as_str()) {
                    eprintln!(
                        "ocsp-responder: keeping release {}: the new publication does not load: {msg}",
                        live.current().id()
                    );
                    reported = Some(msg);
                }
            }
            Err(e) => eprintln!("ocsp-responder: publication loader failed: {e}"),
        }
    }
}
