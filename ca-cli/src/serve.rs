//! `lgpki serve`: the CA service on the embedded store. Over HTTP: OCSP (RFC 6960 POST,
//! RFC 5019 GET) answered from the store with a response cache that a revocation (by any
//! process on the same home) invalidates within a poll interval, CRLs and CA certificates, the
//! validation service (`POST /validate`), health and metrics. Over HTTPS with mutual TLS: the
//! RA API that remote `lgpki` commands use.
//!
//! A background thread keeps what is served fresh ([`Refresher`]): it re-signs each CA's CRL
//! (or ARL) before its nextUpdate, picks up CAs created or renewed while `serve` runs, and
//! watches that the store stays reachable; `/healthz` reports what it found.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use ca_core::ocsp::{CertId, Lookup};
use ca_core::{Authority, CaRecord, Settings, SqliteStore, StatusReader, Store};
use ca_http::{CacheConfig, CachingOcsp, Metrics, OcspIssuer, Repository, StatusLookup};

use crate::cli::{LogFormat, ServeArgs};
use crate::commands::{CmdResult, Ctx};
use crate::output::CliError;

/// How often `serve` looks for revocations made by other processes. The contract asks that a
/// revocation be served within a second.
pub const REVOCATION_POLL: Duration = Duration::from_millis(250);
/// How often the refresher looks at CRL ages, new or renewed CAs and the store.
pub const REFRESH_TICK: Duration = Duration::from_millis(500);
/// The store counts as unreachable when no read succeeded for this long.
pub const STORE_STALE: Duration = Duration::from_secs(5);

fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The CAs served now: OCSP issuers, and the CA certificates by name.
#[derive(Default)]
pub(crate) struct ServedCas {
    issuers: Vec<Arc<OcspIssuer>>,
    /// (name, certificate DER) of every CA, for matching issuers in `/validate`.
    pub(crate) cas: Vec<(String, Vec<u8>)>,
    /// When the first delegated OCSP responder certificate is due for renewal (a third of its
    /// life left): the CAs are picked up again then.
    responders_renew_at: Option<i64>,
}

impl ServedCas {
    fn add_issuer(&mut self, (issuer, renew_at): (Arc<OcspIssuer>, Option<i64>)) {
        self.issuers.push(issuer);
        if let Some(t) = renew_at {
            self.responders_renew_at = Some(self.responders_renew_at.map_or(t, |r| r.min(t)));
        }
    }
}

impl ServedCas {
    /// The certificates of the self-signed CAs: trust anchors of `/validate`.
    pub(crate) fn self_signed(&self) -> Vec<Vec<u8>> {
        self.cas
            .iter()
            .filter(|(_, d)| crate::validation::is_self_issued(d))
            .map(|(_, d)| d.clone())
            .collect()
    }
}

/// OCSP statuses straight from the store, through its read-only status capability (a
/// responder cannot write).
struct StoreLookup {
    store: Mutex<Box<dyn StatusReader>>,
    served: Arc<RwLock<ServedCas>>,
    epoch: Arc<AtomicU64>,
}

fn lock_error() -> ca_core::Error {
    ca_core::Error::PolicyRefused {
        detail: "store lock poisoned".into(),
    }
}

/// The store's status of serial `serial_der` (DER INTEGER contents or magnitude) under CA `ca`.
pub(crate) fn store_lookup(
    store: &dyn StatusReader,
    serial: &[u8],
    ca: &str,
) -> ca_core::Result<Lookup> {
    // Stored serials are DER INTEGER contents: a leading zero when the top bit is set.
    let mut bytes = serial.to_vec();
    if bytes.first().is_some_and(|b| b & 0x80 != 0) {
        bytes.insert(0, 0);
    }
    let hex = ca_core::Serial::from_der_content(&bytes);
    Ok(match store.cert_status(&hex, ca)? {
        None => Lookup::Unknown,
        Some(status) => match status.revoked_at {
            None => Lookup::Good,
            Some(t) => Lookup::Revoked {
                time: time::OffsetDateTime::from_unix_timestamp(t)
                    .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
                reason: status.reason,
            },
        },
    })
}

impl StatusLookup for StoreLookup {
    fn epoch(&self) -> ca_core::Result<u64> {
        Ok(self.epoch.load(Ordering::Acquire))
    }

    fn issuer(&self, id: &CertId) -> Option<Arc<OcspIssuer>> {
        let served = self.served.read().ok()?;
        served.issuers.iter().find(|i| i.matches(id)).cloned()
    }

    fn status(&self, issuer: &OcspIssuer, serial: &[u8]) -> ca_core::Result<Lookup> {
        let store = self.store.lock().map_err(|_| lock_error())?;
        store_lookup(store.as_ref(), serial, issuer.name())
    }
}

/// A signed CRL with the revocation epoch it covers, when it was made and its nextUpdate.
struct CachedCrl {
    epoch: u64,
    signed_at: i64,
    next_update: i64,
    der: Vec<u8>,
}

/// CRLs (re-signed on revocation, and by the refresher before their nextUpdate) and CA
/// certificates.
struct StoreRepository {
    authority: Mutex<Authority>,
    epoch: Arc<AtomicU64>,
    crls: Mutex<HashMap<String, CachedCrl>>,
    settings: Settings,
}

impl StoreRepository {
    /// Signs a new CRL of `name`, as generation `generation`'s key signs it (with `arl`: its
    /// authority revocation list, RFC 5280 §5.2.5 onlyContainsCACerts), now and keeps it under
    /// [`cache_key`]. `None` when that generation no longer publishes
    /// ([`Authority::list_generations`]).
    fn sign_kind(
        &self,
        name: &str,
        generation: u32,
        arl: bool,
    ) -> ca_core::Result<Option<Vec<u8>>> {
        let epoch = self.epoch.load(Ordering::Acquire);
        let mut ca = self.authority.lock().map_err(|_| lock_error())?;
        let rec = ca.ca_record(name)?;
        let fresh = if rec.profiles.is_empty() || arl {
            self.settings.arl
        } else {
            self.settings.crl
        };
        if !ca
            .list_generations(name, fresh.validity)?
            .contains(&generation)
        {
            return Ok(None);
        }
        let signed = if arl {
            ca.sign_arl_by_generation(name, Some(generation), Some(fresh.validity))?
        } else {
            ca.sign_crl_by_generation(name, Some(generation), false, Some(fresh.validity))?
        };
        let now = unix_now();
        let next_update = now + fresh.validity.whole_seconds();
        if let Ok(mut crls) = self.crls.lock() {
            crls.insert(
                cache_key(name, generation, arl),
                CachedCrl {
                    epoch,
                    signed_at: now,
                    next_update,
                    der: signed.der.clone(),
                },
            );
        }
        tracing::info!(
            ca = name,
            generation,
            arl,
            number = signed.number,
            entries = signed.entries,
            "CRL signed"
        );
        Ok(Some(signed.der))
    }

    /// The cached CRL (or ARL) of generation `generation` of `name` while current (signed
    /// since the last revocation and before its nextUpdate), else a new one.
    fn current(&self, name: &str, generation: u32, arl: bool) -> Option<Vec<u8>> {
        let epoch = self.epoch.load(Ordering::Acquire);
        if let Some(c) = self
            .crls
            .lock()
            .ok()?
            .get(&cache_key(name, generation, arl))
            && c.epoch == epoch
            && unix_now() < c.next_update
        {
            return Some(c.der.clone());
        }
        match self.sign_kind(name, generation, arl) {
            Ok(der) => der,
            Err(ca_core::Error::UnknownCa { .. }) => None,
            Err(e) => {
                tracing::error!(ca = name, generation, arl, error = %e, "CRL signing failed");
                None
            }
        }
    }

    /// Whether a CA of CAs (no end-entity profiles): its CRL is its ARL.
    fn issues_only_cas(&self, name: &str) -> Option<bool> {
        Some(
            self.authority
                .lock()
                .ok()?
                .ca_record(name)
                .ok()?
                .profiles
                .is_empty(),
        )
    }

    /// A certs-only CMS bundle (`.p7c`, RFC 5280 §4.2.2.1–2) of the certificates issued to
    /// (`to`) or by CA `name`.
    fn bundle(&self, name: &str, to: bool) -> Option<Vec<u8>> {
        let ca = self.authority.lock().ok()?;
        let certs = if to {
            ca.certificates_issued_to(name)
        } else {
            ca.ca_certificates_issued_by(name)
        };
        certs.ok().map(|c| ca_core::signed_data::certs_only(&c))
    }

    /// Whether the CRL cached under `key` must be signed again: none yet, a revocation since,
    /// or older than its refresh interval.
    fn due(&self, key: &str, is_arl: bool) -> bool {
        let fresh = if is_arl {
            self.settings.arl
        } else {
            self.settings.crl
        };
        let epoch = self.epoch.load(Ordering::Acquire);
        let Ok(crls) = self.crls.lock() else {
            return true;
        };
        crls.get(key).is_none_or(|c| {
            c.epoch != epoch
                || unix_now() - c.signed_at >= fresh.effective_refresh().whole_seconds()
        })
    }
}

impl Repository for StoreRepository {
    fn crl(&self, name: &str, generation: u32) -> Option<Vec<u8>> {
        self.current(name, generation, false)
    }

    fn arl(&self, name: &str, generation: u32) -> Option<Vec<u8>> {
        // A CA of CAs: its CRL is its ARL.
        let arl = !self.issues_only_cas(name)?;
        self.current(name, generation, arl)
    }

    fn certs_issued_to(&self, name: &str) -> Option<Vec<u8>> {
        self.bundle(name, true)
    }

    fn certs_issued_by(&self, name: &str) -> Option<Vec<u8>> {
        self.bundle(name, false)
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

/// The CRL cache's key: the list's path as served, `crl/FILE` or (for the ARL of a CA that
/// also issues end-entity certificates) `arl/FILE`, FILE naming the CA and the key generation
/// ([`ca_core::dist::ListPoint`]).
fn cache_key(name: &str, generation: u32, arl: bool) -> String {
    let file = ca_core::dist::ListPoint::new(name, generation).file_name();
    if arl {
        format!("arl/{file}")
    } else {
        format!("crl/{file}")
    }
}

/// The CA name of a [`cache_key`].
fn cache_key_ca(key: &str) -> Option<&str> {
    let file = key
        .strip_prefix("crl/")
        .or_else(|| key.strip_prefix("arl/"))?;
    ca_core::dist::ListPoint::parse(file).map(|p| p.ca)
}

/// What the refresher last saw, for `/healthz`.
#[derive(Default)]
struct HealthState {
    /// Unix time of the last successful store read.
    store_ok_at: AtomicU64,
    /// Problems found by the last refresher pass (CRL signing, CA loading).
    problems: Mutex<Vec<String>>,
}

struct ServeHealth {
    state: Arc<HealthState>,
    repo: Arc<StoreRepository>,
    served: Arc<RwLock<ServedCas>>,
}

impl ca_http::Health for ServeHealth {
    fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let now = unix_now();
        let ok_at = self.state.store_ok_at.load(Ordering::Acquire) as i64;
        if now - ok_at > STORE_STALE.as_secs() as i64 {
            out.push(format!(
                "store unreachable: no successful read for {}s",
                now - ok_at
            ));
        }
        if let Ok(p) = self.state.problems.lock() {
            out.extend(p.iter().cloned());
        }
        let names: Vec<String> = self
            .served
            .read()
            .map(|s| s.cas.iter().map(|(n, _)| n.clone()).collect())
            .unwrap_or_default();
        if let Ok(crls) = self.repo.crls.lock() {
            // Every key generation's lists that the refresher keeps (it drops those of a
            // generation that no longer publishes).
            for n in &names {
                let mut any = false;
                for (key, c) in crls.iter().filter(|(k, _)| cache_key_ca(k) == Some(n)) {
                    any = true;
                    if c.next_update <= now {
                        out.push(format!("CRL {key} of {n}: stale (past its nextUpdate)"));
                    }
                }
                if !any {
                    out.push(format!("CRL of {n}: not signed yet"));
                }
            }
        }
        if self
            .served
            .read()
            .is_ok_and(|s| s.issuers.len() < s.cas.len())
        {
            out.push("OCSP: not every CA has a signer loaded".into());
        }
        out
    }
}

/// Keeps CRLs fresh, picks up new and renewed CAs, and checks the store (a thread).
struct Refresher {
    /// Set, and `moved_signal` notified, when the store turns out to have been migrated
    /// away: `serve` then stops rather than answer from a store nothing updates any more.
    moved: Arc<Mutex<Option<String>>>,
    moved_signal: Arc<tokio::sync::Notify>,
    ctx: Ctx,
    repo: Arc<StoreRepository>,
    served: Arc<RwLock<ServedCas>>,
    health: Arc<HealthState>,
    /// Read only: the CAs, and whether `store migrate` moved the store away.
    store: Box<dyn Store>,
    ocsp_validity: time::Duration,
}

impl Refresher {
    fn run(mut self, stop: Arc<std::sync::atomic::AtomicBool>) {
        while !stop.load(Ordering::Acquire) {
            let mut problems = Vec::new();
            match self.pass(&mut problems) {
                Ok(()) => self
                    .health
                    .store_ok_at
                    .store(unix_now() as u64, Ordering::Release),
                Err(ca_core::Error::StoreMoved { to }) => {
                    tracing::error!(to = %to, "the store was migrated: stopping");
                    if let Ok(mut m) = self.moved.lock() {
                        *m = Some(to);
                    }
                    self.moved_signal.notify_one();
                    return;
                }
                Err(e) => problems.push(format!("store unreachable: {e}")),
            }
            for p in &problems {
                tracing::warn!(problem = %p, "refresh");
            }
            if let Ok(mut h) = self.health.problems.lock() {
                *h = problems;
            }
            std::thread::sleep(REFRESH_TICK);
        }
    }

    fn pass(&mut self, problems: &mut Vec<String>) -> ca_core::Result<()> {
        // The store file must still be there (a moved or unmounted volume keeps an open
        // SQLite connection working on the old inode).
        let path = self.ctx.home.join(SqliteStore::FILE);
        let sqlite = ca_core::store_kind(&self.ctx.home, self.ctx.store.as_deref())?
            == ca_core::StoreKind::Sqlite;
        if sqlite && !path.exists() {
            return Err(ca_core::Error::NotInitialized {
                home: self.ctx.home.clone(),
            });
        }
        // Migrated away (`store migrate`, ca_core::MOVED_TO): nothing changes here any more.
        if let Some(to) = self.store.meta(ca_core::MOVED_TO)? {
            return Err(ca_core::Error::StoreMoved { to });
        }
        let cas = self.store.cas()?;
        let changed = self.served.read().map_or(true, |s| {
            s.responders_renew_at.is_some_and(|t| unix_now() >= t)
                || s.cas.len() != cas.len()
                || cas
                    .iter()
                    .any(|c| !s.cas.iter().any(|(n, d)| *n == c.name && *d == c.cert_der))
        });
        if changed {
            self.pick_up(&cas, problems);
        }
        for rec in &cas {
            let is_arl = rec.profiles.is_empty();
            let fresh = if is_arl {
                self.repo.settings.arl
            } else {
                self.repo.settings.crl
            };
            let generations = match self.repo.authority.lock() {
                Ok(a) => a.list_generations(&rec.name, fresh.validity)?,
                Err(_) => return Err(lock_error()),
            };
            // A generation that no longer publishes is not refreshed (list_generations says
            // why): its lists leave the cache, and its URL answers 404.
            if let Ok(mut crls) = self.repo.crls.lock() {
                crls.retain(|k, _| {
                    cache_key_ca(k) != Some(&rec.name)
                        || generations.iter().any(|g| {
                            *k == cache_key(&rec.name, *g, false)
                                || *k == cache_key(&rec.name, *g, true)
                        })
                });
            }
            // Each generation that publishes keeps its CRL fresh, signed with its own key:
            // a revocation (any generation's certificate) makes every one due.
            for &g in &generations {
                if self.repo.due(&cache_key(&rec.name, g, false), is_arl)
                    && let Err(e) = self.repo.sign_kind(&rec.name, g, false)
                {
                    problems.push(format!(
                        "CRL of {} (key generation {g}): re-signing failed: {e}",
                        rec.name
                    ));
                }
                // The ARL of a CA that also issues end-entity certificates, once served.
                let arl_key = cache_key(&rec.name, g, true);
                let served_arl = self
                    .repo
                    .crls
                    .lock()
                    .is_ok_and(|c| c.contains_key(&arl_key));
                if !is_arl
                    && served_arl
                    && self.repo.due(&arl_key, true)
                    && let Err(e) = self.repo.sign_kind(&rec.name, g, true)
                {
                    problems.push(format!(
                        "ARL of {} (key generation {g}): re-signing failed: {e}",
                        rec.name
                    ));
                }
            }
        }
        Ok(())
    }

    /// New or renewed CAs: a fresh `Authority` (its key cache holds the old keys), a signer
    /// for each CA's OCSP answers, and their CRLs signed anew.
    fn pick_up(&mut self, cas: &[CaRecord], problems: &mut Vec<String>) {
        let mut authority = match self.ctx.open() {
            Ok(a) => a,
            Err(e) => {
                problems.push(format!("reloading the CAs: {e}"));
                return;
            }
        };
        let mut served = ServedCas::default();
        for rec in cas {
            match issuer_for(&mut authority, rec, self.ocsp_validity) {
                Ok(i) => served.add_issuer(i),
                Err(e) => problems.push(format!("OCSP signer of {}: {e}", rec.name)),
            }
            // A renewed CA's retired keys answer for what they signed (the CertID names the
            // issuer's key, RFC 6960 §4.1.1) until the last of it expires.
            match old_generation_issuers(&mut authority, rec, self.ocsp_validity) {
                Ok(old) => served.issuers.extend(old),
                Err(e) => problems.push(format!("OCSP signer of {}'s older keys: {e}", rec.name)),
            }
            served.cas.push((rec.name.clone(), rec.cert_der.clone()));
        }
        let names: Vec<&str> = cas.iter().map(|c| c.name.as_str()).collect();
        tracing::info!(cas = ?names, "CAs loaded");
        if let Ok(mut a) = self.repo.authority.lock() {
            *a = authority;
        }
        if let Ok(mut crls) = self.repo.crls.lock() {
            // A renewed CA signs with its new key from now on: every CRL is signed anew.
            crls.clear();
        }
        if let Ok(mut s) = self.served.write() {
            *s = served;
        }
    }
}

fn issuer_for(
    authority: &mut Authority,
    rec: &CaRecord,
    validity: time::Duration,
) -> ca_core::Result<(Arc<OcspIssuer>, Option<i64>)> {
    if let Some((signer, cert)) = delegated_responder(authority, &rec.name)? {
        let parsed = <x509_cert::Certificate as der::Decode>::from_der(&cert)
            .map_err(|e| ca_core::Error::malformed("OCSP responder certificate", e))?;
        let v = parsed.tbs_certificate().validity();
        let nb = v.not_before.to_unix_duration().as_secs() as i64;
        let na = v.not_after.to_unix_duration().as_secs() as i64;
        let issuer = OcspIssuer::new(&rec.name, &rec.cert_der, signer, Some(cert), validity)?;
        return Ok((Arc::new(issuer), Some(na - (na - nb) / 3)));
    }
    let ca = authority.load_ca(&rec.name)?;
    let issuer = OcspIssuer::new(&rec.name, &rec.cert_der, ca.signer.clone(), None, validity)?;
    Ok((Arc::new(issuer), None))
}

/// A delegated OCSP responder: its signing key and its certificate (DER).
type DelegatedResponder = (Arc<dyn ca_core::CaSigner>, Vec<u8>);

/// The delegated OCSP responder `init` made for CA `name` (`HOME/ocsp/NAME`, RFC 6960
/// §4.2.2.2), renewed when a third of its life is left: its key and certificate. `None` for a
/// CA without one (its own key answers).
fn delegated_responder(
    authority: &mut Authority,
    name: &str,
) -> ca_core::Result<Option<DelegatedResponder>> {
    let kept = crate::serve_certs::ocsp_responder(name);
    if !authority.home().join(&kept.dir).is_dir() {
        return Ok(None);
    }
    let files = kept
        .obtain(authority)
        .map_err(|e| ca_core::Error::PolicyRefused {
            detail: format!("the delegated OCSP responder of {name}: {e}"),
        })?;
    let data = ca_core::input::read_limited(&files.chain, ca_core::input::MAX_INPUT_FILE)?;
    let cert = ca_core::input::der_blocks(&data, &["CERTIFICATE"], "OCSP responder certificate")?
        .remove(0);
    let kdata = ca_core::input::read_limited(&files.key, 1 << 20)?;
    let key = ca_core::input::der_blocks(&kdata, &["PRIVATE KEY"], "OCSP responder key")?.remove(0);
    let signer = ca_core::SoftwareSigner::from_pkcs8(&key, "OCSP responder key")?;
    Ok(Some((Arc::new(signer), cert)))
}

/// OCSP signers for the retired key generations of `rec` that still signed something valid.
fn old_generation_issuers(
    authority: &mut Authority,
    rec: &CaRecord,
    validity: time::Duration,
) -> ca_core::Result<Vec<Arc<OcspIssuer>>> {
    let mut out = Vec::new();
    for g in authority.live_generations(&rec.name)? {
        let ca = authority.load_generation(&rec.name, Some(g.generation))?;
        out.push(Arc::new(OcspIssuer::new(
            &rec.name,
            &g.cert_der,
            ca.signer.clone(),
            None,
            validity,
        )?));
    }
    Ok(out)
}

/// Whether the home was named on the command line or in `LGPKI_HOME` (not the default).
fn home_named_explicitly() -> bool {
    std::env::var_os("LGPKI_HOME").is_some()
        || std::env::args_os().any(|a| {
            a.to_str()
                .is_some_and(|s| s == "--home" || s.starts_with("--home="))
        })
}

/// Structured logs on stderr: text or JSON lines; `LGPKI_LOG` (e.g. `warn`) sets the level.
fn init_logging(format: LogFormat) {
    let level = std::env::var("LGPKI_LOG")
        .ok()
        .and_then(|l| l.parse::<tracing::Level>().ok())
        .unwrap_or(tracing::Level::INFO);
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .with_ansi(false);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Runs `serve`.
pub fn serve(ctx: &Ctx, a: ServeArgs) -> CmdResult {
    init_logging(a.log_format);
    // Named so that `store migrate` and `restore` on another home see this instance.
    ca_core::name_store_client(ca_core::SERVE_CLIENT_NAME);
    if !Authority::exists_in(&ctx.home, ctx.store.as_deref()) {
        if home_named_explicitly() && !a.init {
            // A typo in --home or LGPKI_HOME must not mint a new root.
            return Err(CliError::Usage(format!(
                "{} holds no CA (named by --home or LGPKI_HOME); give `serve --init` to create one there",
                ctx.home.display()
            )));
        }
        // First start on an empty home: the default hierarchy, software keys.
        let policies = ctx.policies()?;
        let mut authority = Authority::init_in(
            &ctx.home,
            ctx.store.as_deref(),
            ca_core::InitOptions {
                key_alg: ca_core::KeyAlgorithm::EcdsaP256,
                key_uri: None,
                base_url: format!("http://{}", a.listen),
                passphrase: ctx.passphrase.clone(),
                policies,
            },
            None,
        )?;
        crate::commands::after_init(&mut authority)?;
        tracing::info!(home = %ctx.home.display(), "initialised with the default hierarchy");
    }
    // Held while serving: `store migrate` and `restore` refuse meanwhile (ca_core::serve_lock).
    let _serving = ca_core::hold_for_serving(&ctx.home)?;
    let settings = Settings::load(&ctx.home)?;
    let mut authority = ctx.open()?;
    let epoch = Arc::new(AtomicU64::new(authority.store().revocation_seq()? as u64));
    let mut served = ServedCas::default();
    for rec in authority.cas()? {
        served.add_issuer(issuer_for(&mut authority, &rec, settings.ocsp.validity)?);
        served.issuers.extend(old_generation_issuers(
            &mut authority,
            &rec,
            settings.ocsp.validity,
        )?);
        served.cas.push((rec.name.clone(), rec.cert_der.clone()));
    }
    let served = Arc::new(RwLock::new(served));
    // The CA keys now sign OCSP responses (and CRLs on demand) in this process: on the record.
    let names: Vec<String> = authority.cas()?.into_iter().map(|c| c.name).collect();
    authority.store_mut().audit(
        &ca_core::Actor::Operator.label(),
        "serve.start",
        &a.listen.to_string(),
        "ok",
        &serde_json::json!({"ocsp_signers": names, "ra_listen": a.ra_listen.to_string()}),
    )?;
    // The RA listener's certificate: given, or kept in HOME/ra-tls and reused across restarts.
    let mut a = a;
    if a.tls_cert.is_none() && a.tls_key.is_none() {
        let kept = crate::serve_certs::ra_tls(a.ra_listen, settings.ra_dns_name.as_deref())
            .obtain(&mut authority)?;
        tracing::info!(issued = kept.issued, chain = %kept.chain.display(), "RA TLS certificate");
        a.tls_cert = Some(kept.chain);
        a.tls_key = Some(kept.key);
    }
    let va = crate::validation::VaSigner::obtain(&mut authority)?;
    let timestamper = if crate::commands::tsa_available(&authority)? {
        Some(Arc::new(crate::tsa::ServeTimeStamper::obtain(
            &mut authority,
            ca_core::open_timestamp_store(&ctx.home, ctx.store.as_deref())?,
            settings.tsa_accuracy,
        )?) as Arc<dyn ca_http::TimeStamper>)
    } else {
        tracing::warn!("no CA is bound to profile timestamping: /tsa is off");
        None
    };
    let mut anchors: Vec<Vec<u8>> = Vec::new();
    for t in &a.trust {
        anchors.extend(crate::verify::certs_in(t)?);
    }
    let metrics = Arc::new(Metrics::default());
    let lookup = StoreLookup {
        store: Mutex::new(ca_core::open_status_reader(
            &ctx.home,
            ctx.store.as_deref(),
        )?),
        served: served.clone(),
        epoch: epoch.clone(),
    };
    let ocsp = Arc::new(CachingOcsp::new(
        lookup,
        CacheConfig {
            max_age: settings.ocsp.effective_refresh(),
            ..CacheConfig::default()
        },
        metrics.clone(),
    ));
    let ra_state = crate::ra_server::RaState::new(ctx, &a, &mut authority)?;
    let repo = Arc::new(StoreRepository {
        authority: Mutex::new(authority),
        epoch: epoch.clone(),
        crls: Mutex::new(HashMap::new()),
        settings: settings.clone(),
    });
    let health_state = Arc::new(HealthState::default());
    health_state
        .store_ok_at
        .store(unix_now() as u64, Ordering::Release);
    let validator = crate::validation::ServeValidator::new(
        ca_core::open_status_reader(&ctx.home, ctx.store.as_deref())?,
        served.clone(),
        anchors,
        va,
    );
    let services = ca_http::Services {
        validator: Some(Arc::new(validator)),
        health: Some(Arc::new(ServeHealth {
            state: health_state.clone(),
            repo: repo.clone(),
            served: served.clone(),
        })),
        timestamper,
    };
    let router = ca_http::router_with_services(
        ocsp,
        Some(repo.clone()),
        metrics,
        ca_http::Limits::default(),
        services,
    );
    let moved = Arc::new(Mutex::new(None));
    let moved_signal = Arc::new(tokio::sync::Notify::new());
    let mut refresher = Refresher {
        moved: moved.clone(),
        moved_signal: moved_signal.clone(),
        ctx: ctx.clone(),
        repo,
        served,
        health: health_state,
        store: ca_core::open_store(&ctx.home, ctx.store.as_deref())?,
        ocsp_validity: settings.ocsp.validity,
    };
    // Every CRL signed before the first request, so /healthz is right from the start.
    let mut first = Vec::new();
    refresher.pass(&mut first)?;
    for p in &first {
        tracing::warn!(problem = %p, "refresh");
    }
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let refresher_stop = stop.clone();
    let refresher = std::thread::spawn(move || refresher.run(refresher_stop));

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Usage(format!("tokio runtime: {e}")))?;
    let result = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(a.listen)
            .await
            .map_err(|e| bind_error(a.listen, e))?;
        let ra_listener = tokio::net::TcpListener::bind(a.ra_listen)
            .await
            .map_err(|e| bind_error(a.ra_listen, e))?;
        let http = listener
            .local_addr()
            .map(|x| x.to_string())
            .unwrap_or_default();
        let ra = ra_listener
            .local_addr()
            .map(|x| x.to_string())
            .unwrap_or_default();
        tracing::info!(
            http = %http,
            ra = %ra,
            crl_validity = %ca_core::config::format_duration(settings.crl.validity),
            crl_refresh = %ca_core::config::format_duration(settings.crl.effective_refresh()),
            "serving"
        );
        eprintln!("lgpki serve: OCSP, CRLs and CA certificates on http://{http}");
        eprintln!("lgpki serve: validation service at http://{http}/validate");
        eprintln!("lgpki serve: RFC 3161 time-stamping at http://{http}/tsa");
        eprintln!("lgpki serve: RA API (mutual TLS) on https://{ra}");
        // Revocations by other processes: poll the store's revocation sequence.
        let home = ctx.home.clone();
        let store_url = ctx.store.clone();
        let poll_epoch = epoch.clone();
        tokio::spawn(async move {
            let Ok(store) = ca_core::open_status_reader(&home, store_url.as_deref()) else {
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
        let shutdown = async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                () = moved_signal.notified() => {}
            }
        };
        let (ra_stop_tx, ra_stop_rx) = tokio::sync::watch::channel(false);
        let ra = tokio::spawn(crate::ra_server::run(ra_listener, ra_state, ra_stop_rx));
        let r = ca_http::serve(listener, router, shutdown).await;
        let _ = ra_stop_tx.send(true);
        let _ = ra.await;
        r.map_err(|e| CliError::Usage(format!("serve: {e}")))
    });
    stop.store(true, Ordering::Release);
    let _ = refresher.join();
    result?;
    if let Some(to) = moved.lock().ok().and_then(|m| m.clone()) {
        return Err(ca_core::Error::StoreMoved { to }.into());
    }
    Ok(ExitCode::SUCCESS)
}

fn bind_error(addr: SocketAddr, e: std::io::Error) -> CliError {
    CliError::Core(ca_core::Error::Io {
        path: addr.to_string().into(),
        source: e,
    })
}
