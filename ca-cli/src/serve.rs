//! `lgpki serve`: the CA service on the embedded store. Over HTTP: OCSP (RFC 6960 POST,
//! RFC 5019 GET) answered from the store with a response cache that a revocation (by any
//! process on the same home) invalidates within a poll interval, CRLs and CA certificates, health
//! and metrics. Over HTTPS with mutual TLS: the RA API that remote `lgpki` commands use.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ca_core::ocsp::{CertId, Lookup};
use ca_core::{Authority, SqliteStore, Store};
use ca_http::{CacheConfig, CachingOcsp, Metrics, OcspIssuer, Repository, StatusLookup};

use crate::cli::ServeArgs;
use crate::commands::{CmdResult, Ctx};
use crate::output::CliError;

/// How often `serve` looks for revocations made by other processes. The contract asks that a
/// revocation be served within a second.
pub const REVOCATION_POLL: Duration = Duration::from_millis(250);
/// nextUpdate of OCSP responses: thisUpdate + 1 hour (RFC 5019 §6 caching by relying parties is
/// bounded by this; a revocation reaches a caching client within the hour, others at once).
pub const OCSP_VALIDITY: time::Duration = time::Duration::hours(1);
/// A served CRL is re-signed when a revocation happened or after this long.
pub const CRL_REFRESH: Duration = Duration::from_secs(3600);

/// OCSP statuses straight from the store.
struct StoreLookup {
    store: Mutex<SqliteStore>,
    issuers: Vec<Arc<OcspIssuer>>,
    epoch: Arc<AtomicU64>,
}

impl StatusLookup for StoreLookup {
    fn epoch(&self) -> ca_core::Result<u64> {
        Ok(self.epoch.load(Ordering::Acquire))
    }

    fn issuer(&self, id: &CertId) -> Option<Arc<OcspIssuer>> {
        self.issuers.iter().find(|i| i.matches(id)).cloned()
    }

    fn status(&self, issuer: &OcspIssuer, serial: &[u8]) -> ca_core::Result<Lookup> {
        // Stored serials are DER INTEGER contents: a leading zero when the top bit is set.
        let mut bytes = serial.to_vec();
        if bytes.first().is_some_and(|b| b & 0x80 != 0) {
            bytes.insert(0, 0);
        }
        let hex = ca_core::serial_hex(&bytes);
        let store = self
            .store
            .lock()
            .map_err(|_| ca_core::Error::PolicyRefused {
                detail: "store lock poisoned".into(),
            })?;
        Ok(match store.cert_status(&hex, issuer.name())? {
            None => Lookup::Unknown,
            Some(status) => match status.revoked_at {
                None => Lookup::Good,
                Some(t) => Lookup::Revoked {
                    time: time::OffsetDateTime::from_unix_timestamp(t)
                        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
                    reason: status.reason.as_deref().and_then(|r| r.parse().ok()),
                },
            },
        })
    }
}

/// A signed CRL with the revocation epoch it covers and when it was made.
type CachedCrl = (u64, std::time::Instant, Vec<u8>);

/// CRLs (re-signed on revocation or age) and CA certificates.
struct StoreRepository {
    authority: Mutex<Authority>,
    epoch: Arc<AtomicU64>,
    crls: Mutex<HashMap<String, CachedCrl>>,
}

impl Repository for StoreRepository {
    fn crl(&self, name: &str) -> Option<Vec<u8>> {
        let epoch = self.epoch.load(Ordering::Acquire);
        let mut crls = self.crls.lock().ok()?;
        if let Some((e, at, der)) = crls.get(name)
            && *e == epoch
            && at.elapsed() < CRL_REFRESH
        {
            return Some(der.clone());
        }
        let mut ca = self.authority.lock().ok()?;
        ca.ca_record(name).ok()?;
        match ca.crl(name, false) {
            Ok(der) => {
                crls.insert(
                    name.to_string(),
                    (epoch, std::time::Instant::now(), der.clone()),
                );
                Some(der)
            }
            Err(e) => {
                eprintln!("lgpki serve: CRL of {name}: {e}");
                None
            }
        }
    }

    fn ca_cert(&self, name: &str) -> Option<Vec<u8>> {
        let ca = self.authority.lock().ok()?;
        if let Ok(r) = ca.ca_record(name) {
            return Some(r.cert_der);
        }
        // Cross-certificates in both directions: /ca/cross-SERIAL.crt, /ca/imported-….crt.
        ca.cross_certificates()
            .ok()?
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, der)| der)
    }
}

/// Runs `serve`.
pub fn serve(ctx: &Ctx, a: ServeArgs) -> CmdResult {
    if !Authority::exists(&ctx.home) {
        // First start on an empty home: the default hierarchy, software keys.
        let policies = ctx.policies()?;
        Authority::init(
            &ctx.home,
            ca_core::InitOptions {
                key_alg: ca_core::KeyAlgorithm::EcdsaP256,
                key_uri: None,
                base_url: format!("http://{}", a.listen),
                passphrase: ctx.passphrase.clone(),
                policies,
            },
        )?;
        eprintln!(
            "lgpki serve: initialised {} with the default hierarchy",
            ctx.home.display()
        );
    }
    let mut authority = ctx.open()?;
    let epoch = Arc::new(AtomicU64::new(authority.store().revocation_seq()? as u64));
    let mut issuers = Vec::new();
    for rec in authority.cas()? {
        let ca = authority.load_ca(&rec.name)?;
        issuers.push(Arc::new(OcspIssuer::new(
            &rec.name,
            &rec.cert_der,
            ca.signer.clone(),
            None,
            OCSP_VALIDITY,
        )?));
    }
    // The CA keys now sign OCSP responses (and CRLs on demand) in this process: on the record.
    let names: Vec<String> = authority.cas()?.into_iter().map(|c| c.name).collect();
    authority.store_mut().audit(
        "serve.start",
        &a.listen.to_string(),
        "ok",
        &serde_json::json!({"ocsp_signers": names, "ra_listen": a.ra_listen.to_string()}),
    )?;
    let metrics = Arc::new(Metrics::default());
    let lookup = StoreLookup {
        store: Mutex::new(SqliteStore::open(&ctx.home.join(SqliteStore::FILE))?),
        issuers,
        epoch: epoch.clone(),
    };
    let ocsp = Arc::new(CachingOcsp::new(
        lookup,
        CacheConfig::default(),
        metrics.clone(),
    ));
    let ra_state = crate::ra_server::RaState::new(ctx, &a, &mut authority)?;
    let repo = Arc::new(StoreRepository {
        authority: Mutex::new(authority),
        epoch: epoch.clone(),
        crls: Mutex::new(HashMap::new()),
    });
    let router = ca_http::router(ocsp, Some(repo), metrics);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Usage(format!("tokio runtime: {e}")))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(a.listen)
            .await
            .map_err(|e| bind_error(a.listen, e))?;
        let ra_listener = tokio::net::TcpListener::bind(a.ra_listen)
            .await
            .map_err(|e| bind_error(a.ra_listen, e))?;
        eprintln!(
            "lgpki serve: OCSP, CRLs and CA certificates on http://{}",
            listener
                .local_addr()
                .map(|x| x.to_string())
                .unwrap_or_default()
        );
        eprintln!(
            "lgpki serve: RA API (mutual TLS) on https://{}",
            ra_listener
                .local_addr()
                .map(|x| x.to_string())
                .unwrap_or_default()
        );
        // Revocations by other processes: poll the store's revocation sequence.
        let home = ctx.home.clone();
        let poll_epoch = epoch.clone();
        tokio::spawn(async move {
            let Ok(store) = SqliteStore::open(&home.join(SqliteStore::FILE)) else {
                return;
            };
            let store = Mutex::new(store);
            loop {
                tokio::time::sleep(REVOCATION_POLL).await;
                let seq = store.lock().ok().and_then(|s| s.revocation_seq().ok());
                if let Some(seq) = seq {
                    poll_epoch.store(seq as u64, Ordering::Release);
                }
            }
        });
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        let (ra_stop_tx, ra_stop_rx) = tokio::sync::watch::channel(false);
        let ra = tokio::spawn(crate::ra_server::run(ra_listener, ra_state, ra_stop_rx));
        let r = ca_http::serve(listener, router, shutdown).await;
        let _ = ra_stop_tx.send(true);
        let _ = ra.await;
        r.map_err(|e| CliError::Usage(format!("serve: {e}")))
    })?;
    Ok(ExitCode::SUCCESS)
}

fn bind_error(addr: SocketAddr, e: std::io::Error) -> CliError {
    CliError::Core(ca_core::Error::Io {
        path: addr.to_string().into(),
        source: e,
    })
}
