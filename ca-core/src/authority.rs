//! The certificate authority as a whole: a home directory with a store, key backends and the
//! policies; creating the default hierarchy (`init`) and subordinate CAs (`ca create`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use const_oid::ObjectIdentifier;
use der::{Decode, Encode};
use time::{Duration, OffsetDateTime};
use x509_cert::Certificate;
use zeroize::Zeroizing;

use crate::build::{self, from_x509_time};
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::key::{CaSigner, KeyAlgorithm, KeyBackend, KeyRef, SoftwareBackend};
use crate::lint::{Expectation, IssuerFacts};
use crate::name::DistinguishedName;
use crate::profile::{CrossSpec, ExtendedKeyUsage, KeyUsageBit, Policies};
use crate::serial::Serial;
use crate::store::{CaRecord, PendingCert, SqliteStore, Store};

/// Environment variable holding the passphrase that encrypts software CA keys.
pub const PASSPHRASE_ENV: &str = "LGPKI_PASSPHRASE";
/// File in the home holding a generated passphrase (mode 0600) when none is supplied.
pub const PASSPHRASE_FILE: &str = "passphrase";
/// Metadata key `init` writes last; a store without it is not (yet) initialised.
const INITIALIZED_KEY: &str = "initialized";
/// Default base URL for CRL, OCSP and CA-certificate pointers.
pub const DEFAULT_BASE_URL: &str = "http://127.0.0.1:8080";

/// Where the passphrase for software keys comes from.
#[derive(Clone, Debug, Default)]
pub enum PassphraseSource {
    /// `--passphrase-file FILE`.
    File(PathBuf),
    /// `$LGPKI_PASSPHRASE`, else the home's generated `passphrase` file.
    #[default]
    Default,
}

impl PassphraseSource {
    fn read(&self, home: &Path) -> Result<Option<Zeroizing<String>>> {
        let from_file = |p: &Path| -> Result<Zeroizing<String>> {
            let s = std::fs::read_to_string(p).map_err(|source| Error::Io {
                path: p.to_path_buf(),
                source,
            })?;
            Ok(Zeroizing::new(s.trim_end_matches(['\n', '\r']).to_string()))
        };
        match self {
            PassphraseSource::File(p) => from_file(p).map(Some),
            PassphraseSource::Default => {
                if let Ok(v) = std::env::var(PASSPHRASE_ENV) {
                    return Ok(Some(Zeroizing::new(v)));
                }
                let p = home.join(PASSPHRASE_FILE);
                if p.exists() {
                    from_file(&p).map(Some)
                } else {
                    Ok(None)
                }
            }
        }
    }
}

/// Options of `lgpki init`.
#[derive(Clone, Debug)]
pub struct InitOptions {
    /// Key algorithm of every CA key.
    pub key_alg: KeyAlgorithm,
    /// A PKCS#11 URI naming the token for CA keys (None: software keys).
    pub key_uri: Option<String>,
    /// Base URL for pointers in issued certificates.
    pub base_url: String,
    /// Passphrase for software keys.
    pub passphrase: PassphraseSource,
    /// The policies (profiles and hierarchy).
    pub policies: Policies,
}

impl InitOptions {
    /// The defaults of `lgpki init`: ECDSA P-256 software keys encrypted with `passphrase`,
    /// [`DEFAULT_BASE_URL`] and the policies built into the binary.
    pub fn software(passphrase: PassphraseSource) -> Result<InitOptions> {
        Ok(InitOptions {
            key_alg: KeyAlgorithm::EcdsaP256,
            key_uri: None,
            base_url: DEFAULT_BASE_URL.into(),
            passphrase,
            policies: Policies::embedded()?,
        })
    }
}

/// A CA ready to sign: its record, parsed certificate and signer.
#[derive(Clone, Debug)]
pub struct LoadedCa {
    /// The stored record.
    pub record: CaRecord,
    /// Its certificate.
    pub cert: Certificate,
    /// DER of its subject Name (the issuer of what it signs).
    pub subject_der: Vec<u8>,
    /// Its subjectKeyIdentifier.
    pub ski: Vec<u8>,
    /// Its certificate's validity.
    pub not_before: OffsetDateTime,
    /// Its certificate's validity.
    pub not_after: OffsetDateTime,
    /// Its signing key.
    pub signer: Arc<dyn CaSigner>,
    /// A retired key generation ([`Authority::load_generation`]), not the one in force: what
    /// it signs is recorded only as [`crate::PendingCert::by_retired_key`].
    pub retired: bool,
}

impl LoadedCa {
    /// What the pre-signing linter needs to know about this CA as an issuer.
    pub fn issuer_facts(&self) -> IssuerFacts<'_> {
        IssuerFacts {
            subject_der: &self.subject_der,
            ski: &self.ski,
            validity: Some((self.not_before, self.not_after)),
            signature_algorithm: self.signer.algorithm(),
        }
    }

    /// The cRLDistributionPoints URL of what this CA, as this key generation, signs: the
    /// generation's own CRL ([`crate::dist::ListPoint`]).
    pub fn crl_url(&self, base: &str) -> String {
        crate::dist::ListPoint::new(&self.record.name, self.record.generation).crl_url(base)
    }
}

/// Picks the key backend for a key reference.
pub trait KeyResolver: Send + Sync + std::fmt::Debug {
    /// The backend that generates keys for `uri` (None: software keys).
    fn generator(&self, key_uri: Option<&str>) -> Result<Arc<dyn KeyBackend>>;
    /// The backend that holds `key`.
    fn backend_for(&self, key: &KeyRef) -> Result<Arc<dyn KeyBackend>>;
}

/// The default resolver: software keys in the home; `pkcs11:` URIs through a hook that the
/// PKCS#11 backend provides.
#[derive(Debug)]
pub struct DefaultKeys {
    home: PathBuf,
    passphrase: PassphraseSource,
    soft: std::sync::OnceLock<Arc<dyn KeyBackend>>,
}

impl DefaultKeys {
    /// Keys for a home directory.
    pub fn new(home: &Path, passphrase: PassphraseSource) -> DefaultKeys {
        DefaultKeys {
            home: home.to_path_buf(),
            passphrase,
            soft: std::sync::OnceLock::new(),
        }
    }

    fn soft(&self) -> Result<Arc<dyn KeyBackend>> {
        if let Some(b) = self.soft.get() {
            return Ok(b.clone());
        }
        let pass = self.passphrase.read(&self.home)?.ok_or_else(|| {
            Error::key("soft", format!("no passphrase: set ${PASSPHRASE_ENV}, pass --passphrase-file, or keep {}/{PASSPHRASE_FILE}", self.home.display()))
        })?;
        let b: Arc<dyn KeyBackend> = Arc::new(SoftwareBackend::new(&self.home, pass));
        Ok(self.soft.get_or_init(|| b).clone())
    }
}

impl KeyResolver for DefaultKeys {
    fn generator(&self, key_uri: Option<&str>) -> Result<Arc<dyn KeyBackend>> {
        match key_uri {
            None => self.soft(),
            Some(uri) => pkcs11_backend(uri),
        }
    }

    fn backend_for(&self, key: &KeyRef) -> Result<Arc<dyn KeyBackend>> {
        if key.0.starts_with("soft:") {
            self.soft()
        } else if key.0.starts_with("pkcs11:") {
            pkcs11_backend(&key.0)
        } else {
            Err(Error::key(
                key.location(),
                "unknown key location (expected soft: or pkcs11:)",
            ))
        }
    }
}

fn pkcs11_backend(uri: &str) -> Result<Arc<dyn KeyBackend>> {
    Ok(Arc::new(crate::pkcs11::Pkcs11Backend::open(uri)?))
}

/// The certificate authority: home directory, store, keys and policies.
pub struct Authority {
    home: PathBuf,
    pub(crate) store: Box<dyn Store>,
    pub(crate) policies: Policies,
    pub(crate) keys: Arc<dyn KeyResolver>,
    pub(crate) loaded: HashMap<String, LoadedCa>,
    /// Who acts, as the audit log names them: passed to every audited store call (the local
    /// operator by default; [`Authority::act_as`] names another).
    pub(crate) actor: String,
    /// Where "now" comes from ([`Authority::set_clock`]; the system clock by default).
    pub(crate) clock: Arc<dyn Clock>,
    /// Sign an audit checkpoint when dropped (set once the home is fully initialised).
    seal_on_drop: bool,
}

impl Drop for Authority {
    fn drop(&mut self) {
        if self.seal_on_drop
            && let Err(e) = self.seal_audit()
        {
            // Nothing is lost: the records stay, unanchored until the next checkpoint, and
            // `audit verify` reports them.
            eprintln!("lgpki: warning: the audit log was not sealed with a checkpoint: {e}");
        }
    }
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority")
            .field("home", &self.home)
            .finish_non_exhaustive()
    }
}

impl Authority {
    /// Whether `home` holds a store (an SQLite file, or a recorded PostgreSQL URL).
    pub fn exists(home: &Path) -> bool {
        home.join(SqliteStore::FILE).exists() || home.join(crate::store::STORE_FILE).exists()
    }

    /// Whether the store `home` uses (`store`: a `--store` URL, see
    /// [`crate::store::open_store`]) holds an initialised CA. A database that cannot be reached
    /// counts as one, so that opening it reports the real error.
    pub fn exists_in(home: &Path, store: Option<&str>) -> bool {
        match crate::store::store_kind(home, store) {
            Ok(crate::store::StoreKind::Postgres(_)) if store.is_some() => {
                crate::store::open_store(home, store)
                    .and_then(|s| s.meta(INITIALIZED_KEY))
                    .map_or(true, |v| v.is_some())
            }
            _ => Authority::exists(home),
        }
    }

    /// The current time by this authority's clock, whole seconds: what issuance, revocation,
    /// CRLs and registration use as "now".
    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// Replaces the clock (e.g. with [`crate::FixedClock`] in tests).
    pub fn set_clock(&mut self, clock: Arc<dyn Clock>) {
        self.store.set_clock(clock.clone());
        self.clock = clock;
    }

    /// Opens the CA in `home`.
    pub fn open(
        home: &Path,
        passphrase: PassphraseSource,
        policies: Policies,
    ) -> Result<Authority> {
        Self::open_in(home, None, passphrase, policies)
    }

    /// Opens the CA in `home` on the store `store` names (`--store`; `None`: the one recorded
    /// in `home`, else SQLite).
    pub fn open_in(
        home: &Path,
        store: Option<&str>,
        passphrase: PassphraseSource,
        policies: Policies,
    ) -> Result<Authority> {
        let kind = crate::store::store_kind(home, store)?;
        if kind == crate::store::StoreKind::Sqlite && !home.join(SqliteStore::FILE).exists() {
            return Err(Error::NotInitialized {
                home: home.to_path_buf(),
            });
        }
        let store = crate::store::open_store(home, store)?;
        if store.meta(INITIALIZED_KEY)?.is_none() {
            return Err(Error::NotInitialized {
                home: home.to_path_buf(),
            });
        }
        let mut authority = Authority {
            home: home.to_path_buf(),
            store,
            actor: crate::ra::operator_label(),
            clock: crate::clock::system_clock(),
            policies,
            keys: Arc::new(DefaultKeys::new(home, passphrase)),
            loaded: HashMap::new(),
            seal_on_drop: true,
        };
        authority.migrate_cross_pairs()?;
        Ok(authority)
    }

    /// Replaces the key resolver (e.g. to add a PKCS#11 backend).
    pub fn set_keys(&mut self, keys: Arc<dyn KeyResolver>) {
        self.keys = keys;
        self.loaded.clear();
    }

    /// Creates the store and the default hierarchy in `home`. Refuses a home that holds a store.
    /// On failure, nothing is left behind.
    pub fn init(home: &Path, opts: InitOptions) -> Result<Authority> {
        Self::init_with_keys(home, opts, None)
    }

    /// [`Authority::init`] with a custom key resolver.
    pub fn init_with_keys(
        home: &Path,
        opts: InitOptions,
        keys: Option<Arc<dyn KeyResolver>>,
    ) -> Result<Authority> {
        Self::init_in(home, None, opts, keys)
    }

    /// [`Authority::init_with_keys`] on the store `store` names (`--store`: `sqlite`, the
    /// default, or `postgres://…`). A PostgreSQL URL is recorded in `home` (without its
    /// password), so later commands find the store without `--store`.
    pub fn init_in(
        home: &Path,
        store: Option<&str>,
        opts: InitOptions,
        keys: Option<Arc<dyn KeyResolver>>,
    ) -> Result<Authority> {
        let kind = crate::store::store_kind(home, store)?;
        if let crate::store::StoreKind::Postgres(_) = &kind
            && !Authority::exists(home)
        {
            // A database another home initialised (or a failed init left half-made).
            let db = crate::store::open_store(home, store)?;
            if db.meta(INITIALIZED_KEY)?.is_some() {
                return Err(Error::AlreadyInitialized {
                    home: home.to_path_buf(),
                });
            }
            if !db.cas()?.is_empty() {
                return Err(Error::PolicyRefused {
                    detail: "the PostgreSQL database holds an init that did not finish (or is still running); drop its tables to start again".into(),
                });
            }
        }
        if Authority::exists(home) {
            let store = crate::store::open_store(home, store)?;
            if store.meta(INITIALIZED_KEY)?.is_some() {
                return Err(Error::AlreadyInitialized {
                    home: home.to_path_buf(),
                });
            }
            return Err(Error::PolicyRefused {
                detail: format!(
                    "an init of {} did not finish (or is still running); remove it to start again",
                    home.display()
                ),
            });
        }
        refuse_leftover_keys(home)?;
        let fresh_home = !home.exists();
        crate::fsutil::create_private_dir(home)?;
        crate::fsutil::restrict_dir(home)?;
        // What was there before this run: clean-up after a failure removes only what this run
        // created, never a key or passphrase it did not make.
        let before = crate::fsutil::Snapshot::take(home);
        let result = crate::store::record_store(home, &kind)
            .and_then(|()| Self::init_inner(home, store, opts, keys));
        if result.is_err() {
            // Leave nothing half-made: a later `init` must start clean.
            if fresh_home {
                let _ = std::fs::remove_dir_all(home);
            } else {
                before.remove_newer(home);
            }
        }
        result
    }

    fn init_inner(
        home: &Path,
        store: Option<&str>,
        opts: InitOptions,
        keys: Option<Arc<dyn KeyResolver>>,
    ) -> Result<Authority> {
        let mut passphrase = opts.passphrase.clone();
        if opts.key_uri.is_none() && passphrase.read(home)?.is_none() {
            // No passphrase supplied: generate one, kept 0600 beside the store.
            let mut raw = [0u8; 32];
            getrandom::fill(&mut raw).map_err(|e| Error::key("system RNG", e))?;
            let generated = Zeroizing::new(hex::encode(raw));
            crate::fsutil::write_private_file(
                &home.join(PASSPHRASE_FILE),
                generated.as_bytes(),
                true,
            )?;
            passphrase = PassphraseSource::File(home.join(PASSPHRASE_FILE));
        }
        validate_base_url(&opts.base_url)?;
        let store = crate::store::open_store(home, store)?;
        let mut ca = Authority {
            home: home.to_path_buf(),
            store,
            policies: opts.policies.clone(),
            keys: keys.unwrap_or_else(|| Arc::new(DefaultKeys::new(home, passphrase))),
            loaded: HashMap::new(),
            actor: crate::ra::operator_label(),
            clock: crate::clock::system_clock(),
            seal_on_drop: false,
        };
        ca.store
            .set_meta("base_url", opts.base_url.trim_end_matches('/'))?;
        ca.store.audit(&ca.actor,
            "init",
            &home.display().to_string(),
            "ok",
            &serde_json::json!({"base_url": opts.base_url, "key_alg": opts.key_alg.name(), "policy_arc": opts.policies.arc}),
        )?;
        for spec in opts.policies.hierarchy.clone() {
            let policies = opts
                .policies
                .ca_policy_classes(&spec.name)?
                .iter()
                .map(|c| opts.policies.class_oid(c))
                .collect::<Result<Vec<_>>>()?;
            ca.create_ca(&NewCa {
                name: spec.name.clone(),
                parent: spec.parent.clone(),
                subject: spec.subject.clone(),
                key_alg: opts.key_alg,
                key_uri: opts.key_uri.clone(),
                path_len: spec.path_len,
                validity_days: spec.validity_days,
                profiles: spec.profiles.clone(),
                extended_key_usage: spec.extended_key_usage.clone(),
                policies: Some(policies),
            })?;
        }
        for x in opts.policies.cross.clone() {
            ca.init_cross(&x)?;
        }
        // The audit key, beside the CA keys (the store never holds it).
        ca.create_audit_key(opts.key_alg, opts.key_uri.as_deref())?;
        // Written last: until it is there, other processes treat the home as not initialised
        // (an `init` in progress, or one that failed and is being cleaned up).
        ca.store
            .set_meta(INITIALIZED_KEY, &crate::issue::rfc3339(ca.clock.unix()))?;
        ca.seal_audit()?;
        ca.seal_on_drop = true;
        Ok(ca)
    }

    /// The home directory.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// The policies in force.
    pub fn policies(&self) -> &Policies {
        &self.policies
    }

    /// The store.
    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// The store, for writing (audit records of acts outside ca-core).
    pub fn store_mut(&mut self) -> &mut dyn Store {
        self.store.as_mut()
    }

    /// Base URL for pointers in certificates.
    /// `base_url` in `HOME/lgpki.toml` wins over the one `init` recorded.
    pub fn base_url(&self) -> Result<String> {
        if let Some(url) = crate::config::Settings::load(&self.home)?.base_url {
            return Ok(url);
        }
        Ok(self
            .store
            .meta("base_url")?
            .unwrap_or_else(|| DEFAULT_BASE_URL.to_string()))
    }

    /// All CAs.
    pub fn cas(&self) -> Result<Vec<CaRecord>> {
        self.store.cas()
    }

    /// The CA record named `name`.
    pub fn ca_record(&self, name: &str) -> Result<CaRecord> {
        self.store.ca(name)?.ok_or_else(|| Error::UnknownCa {
            name: name.to_string(),
        })
    }

    /// The CA's certificate chain, from the CA up to its root.
    pub fn chain(&self, name: &str) -> Result<Vec<CaRecord>> {
        let mut chain = vec![self.ca_record(name)?];
        while let Some(parent) = chain.last().and_then(|c| c.parent.clone()) {
            if chain.len() > 16 {
                return Err(Error::PolicyData {
                    file: "store".into(),
                    detail: "CA parent loop".into(),
                });
            }
            chain.push(self.ca_record(&parent)?);
        }
        Ok(chain)
    }

    /// Loads a CA with its signer, checking that the key matches the certificate.
    pub fn load_ca(&mut self, name: &str) -> Result<LoadedCa> {
        let record = self.ca_record(name)?;
        // A CA renewed since it was loaded (`ca renew`) signs with its new key from now on.
        if let Some(ca) = self.loaded.get(name)
            && ca.record.generation == record.generation
        {
            return Ok(ca.clone());
        }
        let key = KeyRef(record.key_ref.clone());
        let signer = self.keys.backend_for(&key)?.load(&key)?;
        let ca = loaded_ca(record, signer)?;
        self.loaded.insert(name.to_string(), ca.clone());
        Ok(ca)
    }

    /// Runs `work` while the CA's key loads on another thread (decrypting a software key runs a
    /// deliberately slow KDF; a token may be slow to log in), then checks the key against the
    /// certificate as [`Authority::load_ca`] does and caches the loaded CA. For work that needs
    /// the CA's record but not its key yet, such as streaming a CRL's entries.
    pub(crate) fn load_ca_during<T>(
        &mut self,
        name: &str,
        work: impl FnOnce(&mut Authority, &CaRecord) -> Result<T>,
    ) -> Result<(LoadedCa, T)> {
        let record = self.ca_record(name)?;
        if let Some(ca) = self.loaded.get(name).cloned()
            && ca.record.generation == record.generation
        {
            let t = work(self, &ca.record)?;
            return Ok((ca, t));
        }
        let key = KeyRef(record.key_ref.clone());
        let backend = self.keys.backend_for(&key)?;
        let (signer, t) = std::thread::scope(|s| {
            let loading = s.spawn(move || backend.load(&key));
            let t = work(self, &record);
            let signer = loading
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p));
            (signer, t)
        });
        let ca = loaded_ca(record, signer?)?;
        let t = t?;
        self.loaded.insert(name.to_string(), ca.clone());
        Ok((ca, t))
    }

    /// Creates a CA: a new key and a certificate signed by `parent` (or self-signed).
    pub fn create_ca(&mut self, new: &NewCa) -> Result<CaRecord> {
        if new.name.is_empty()
            || !new
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(Error::InvalidArgument {
                name: "NAME",
                value: new.name.clone(),
                reason: "CA names are ASCII letters, digits, '-' and '_'".into(),
            });
        }
        if self.store.ca(&new.name)?.is_some() {
            return Err(Error::CaExists {
                name: new.name.clone(),
            });
        }
        for p in &new.profiles {
            self.policies.profile(p)?;
        }
        let mut subject = DistinguishedName::parse(&new.subject)?;
        subject.canonicalize();
        let subject_der = subject.to_der()?;
        let parent = match &new.parent {
            Some(p) => Some(self.load_ca(p)?),
            None => None,
        };
        if let Some(p) = &parent {
            // RFC 5280 §4.2.1.9: a parent with pathLenConstraint 0 cannot have CA children.
            if let Some(Some(0)) = ca_path_len(&p.cert) {
                return Err(Error::PolicyRefused {
                    detail: format!(
                        "CA {:?} has pathLenConstraint 0 and cannot issue CA certificates",
                        p.record.name
                    ),
                });
            }
        }
        let backend = self.keys.generator(new.key_uri.as_deref())?;
        let key = backend.generate(new.key_alg, &new.name)?;
        let signer = backend.load(&key)?;
        let spki = signer.public_key_der().to_vec();
        let ski = build::key_identifier(&spki)?;
        let now = self.now();
        let mut not_after = now + Duration::days(i64::from(new.validity_days));
        if let Some(p) = &parent {
            not_after = not_after.min(p.not_after);
        }
        let base = self.base_url()?;
        let mut exts = vec![
            build::basic_constraints(true, new.path_len)?,
            build::key_usage(&[
                KeyUsageBit::DigitalSignature,
                KeyUsageBit::KeyCertSign,
                KeyUsageBit::CrlSign,
            ])?,
            build::subject_key_identifier(&ski)?,
        ];
        let (issuer_der, issuer_ski, issuer_signer, issuer_validity) = match &parent {
            Some(p) => (
                p.subject_der.clone(),
                p.ski.clone(),
                p.signer.clone(),
                Some((p.not_before, p.not_after)),
            ),
            None => (subject_der.clone(), ski.clone(), signer.clone(), None),
        };
        exts.push(build::authority_key_identifier(&issuer_ski)?);
        if !new.extended_key_usage.is_empty() {
            // RFC 5280 §4.2.1.12; CA/Browser Forum TLS BR §7.1.2.10.6 and Code Signing BR
            // §7.1.2.2: a purpose-split issuing CA names its purpose.
            exts.push(build::extended_key_usage(&new.extended_key_usage, false)?);
        }
        if let Some(p) = &parent {
            let oids = match &new.policies {
                Some(o) => o.clone(),
                None => self.lgpki_policy_oids()?,
            };
            if !oids.is_empty() {
                exts.push(build::certificate_policies(&oids)?);
            }
            exts.push(build::crl_distribution_point(&p.crl_url(&base))?);
            exts.push(build::issuer_access(&base, &p.record.name, true)?);
        }
        exts.push(build::ca_repository(&base, &new.name)?);
        let alg = issuer_signer.algorithm();
        let (serial, tbs) = build::linted_tbs(
            &IssuerFacts {
                subject_der: &issuer_der,
                ski: &issuer_ski,
                validity: issuer_validity,
                signature_algorithm: alg,
            },
            &Expectation {
                ca: true,
                min_rsa_bits: 2048,
            },
            &subject_der,
            &spki,
            now,
            not_after,
            &exts,
        )?;
        let pending = PendingCert {
            serial: Serial::from_der_content(&serial),
            ca: new.parent.clone().unwrap_or_else(|| new.name.clone()),
            profile: if parent.is_some() {
                "sub-ca".into()
            } else {
                "root".into()
            },
            subject: subject.to_string(),
            not_before: now.unix_timestamp(),
            not_after: not_after.unix_timestamp(),
            tbs_der: tbs.clone(),
            request_id: None,
            issuer_generation: parent.as_ref().map(|p| p.record.generation),
            by_retired_key: false,
        };
        let sig = issuer_signer.sign(&tbs)?;
        let cert_der = build::assemble(&tbs, alg.algorithm_identifier(), &sig)?;
        let record = CaRecord {
            name: new.name.clone(),
            parent: new.parent.clone(),
            cert_der: cert_der.clone(),
            key_ref: key.0.clone(),
            key_alg: new.key_alg,
            profiles: new.profiles.clone(),
            generation: 1,
        };
        self.store
            .insert_ca(&self.actor, &record, &pending, &cert_der)?;
        Ok(record)
    }

    /// Issues one cross-certificate of the default hierarchy (`hierarchy.toml` `[[cross]]`)
    /// through [`Authority::cross_certify`].
    fn init_cross(&mut self, x: &CrossSpec) -> Result<()> {
        let oid = |c: &str| self.policies.class_oid(c).map(crate::Oid::from);
        let policies = x
            .policies
            .iter()
            .map(|c| oid(c))
            .collect::<Result<Vec<_>>>()?;
        let mut mappings = Vec::new();
        for m in &x.mappings {
            let (a, b) = m.split_once('=').ok_or_else(|| Error::PolicyData {
                file: "hierarchy.toml".into(),
                detail: format!("mapping {m:?}: expected ISSUER_CLASS=SUBJECT_CLASS"),
            })?;
            mappings.push((oid(a)?, oid(b)?));
        }
        let subject_cert_der = self.ca_record(&x.subject)?.cert_der;
        self.cross_certify(&crate::cross::CrossCertRequest {
            ca: x.issuer.clone(),
            subject_cert_der,
            mappings,
            policies,
            require_explicit_policy: x.require_explicit_policy,
            path_len: x.path_len,
            days: x.validity_days,
            ..Default::default()
        })?;
        Ok(())
    }

    /// The policy OIDs of every LGPKI certificate class (asserted by subordinate CA certificates).
    pub fn lgpki_policy_oids(&self) -> Result<Vec<ObjectIdentifier>> {
        let mut oids = self
            .policies
            .profiles
            .values()
            .map(|p| p.policy())
            .collect::<Result<Vec<_>>>()?;
        oids.sort();
        oids.dedup();
        Ok(oids)
    }
}

/// A CA to create.
#[derive(Clone, Debug)]
pub struct NewCa {
    /// Its name.
    pub name: String,
    /// Its issuer (None: self-signed root).
    pub parent: Option<String>,
    /// Subject DN.
    pub subject: String,
    /// Key algorithm.
    pub key_alg: KeyAlgorithm,
    /// PKCS#11 token URI for its key (None: software).
    pub key_uri: Option<String>,
    /// pathLenConstraint.
    pub path_len: Option<u8>,
    /// Validity of its certificate in days (clamped to the parent's).
    pub validity_days: u32,
    /// Profiles it issues by default.
    pub profiles: Vec<String>,
    /// extendedKeyUsage of its certificate (empty: none).
    pub extended_key_usage: Vec<ExtendedKeyUsage>,
    /// certificatePolicies of its certificate when it has a parent (None: every LGPKI class;
    /// empty: no extension).
    pub policies: Option<Vec<ObjectIdentifier>>,
}

/// Refuses to `init` over CA keys without a store: `keys/` holding files but no `lgpki.db` is a
/// restore in progress (or a store lost), and a new hierarchy would neither use nor replace them.
fn refuse_leftover_keys(home: &Path) -> Result<()> {
    let keys = home.join("keys");
    let found: Vec<String> = std::fs::read_dir(&keys)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    if found.is_empty() {
        return Ok(());
    }
    Err(Error::PolicyRefused {
        detail: format!(
            "{} holds {} key file(s) ({}) but there is no {}: restore the store beside them, or \
             move the keys away to start a new CA; nothing was changed",
            keys.display(),
            found.len(),
            found.join(", "),
            SqliteStore::FILE
        ),
    })
}

fn validate_base_url(url: &str) -> Result<()> {
    let ok = (url.starts_with("http://") || url.starts_with("https://"))
        && url.len() > 8
        && url.is_ascii()
        && !url.chars().any(|c| c.is_ascii_whitespace());
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidArgument {
            name: "--base-url",
            value: url.to_string(),
            reason: "expected an http:// or https:// URL".into(),
        })
    }
}

/// The system clock's current time, whole seconds (code outside an [`Authority`]; inside,
/// [`Authority::now`] reads the injected [`Clock`]).
pub fn now_seconds() -> OffsetDateTime {
    crate::clock::SystemClock.now()
}

fn ca_path_len(cert: &Certificate) -> Option<Option<u8>> {
    let (_, bc) = cert
        .tbs_certificate()
        .get_extension::<x509_cert::ext::pkix::BasicConstraints>()
        .ok()??;
    Some(bc.path_len_constraint)
}

/// Builds a [`LoadedCa`], refusing a key that does not match the certificate.
pub fn loaded_ca(record: CaRecord, signer: Arc<dyn CaSigner>) -> Result<LoadedCa> {
    let cert = Certificate::from_der(&record.cert_der)
        .map_err(|e| Error::malformed("stored CA certificate", e))?;
    let tbs = cert.tbs_certificate();
    let spki_der = tbs
        .subject_public_key_info()
        .to_der()
        .map_err(Error::encode("CA public key"))?;
    if spki_der != signer.public_key_der() {
        return Err(Error::key(
            KeyRef(record.key_ref.clone()).location(),
            format!("the key does not match CA {:?}'s certificate", record.name),
        ));
    }
    let subject_der = tbs
        .subject()
        .to_der()
        .map_err(Error::encode("CA subject"))?;
    let ski = build::key_identifier(&spki_der)?;
    let not_before = from_x509_time(&tbs.validity().not_before);
    let not_after = from_x509_time(&tbs.validity().not_after);
    Ok(LoadedCa {
        record,
        cert,
        subject_der,
        ski,
        not_before,
        not_after,
        signer,
        retired: false,
    })
}
