//! The PKCS#11 (HSM) key backend: CA keys generated and kept on a token, named by RFC 7512
//! `pkcs11:` URIs.
//!
//! * [`Pkcs11Uri`] parses and writes the URIs (RFC 7512 §2.3); the PIN comes from
//!   `pin-source=file:PATH` or the environment variable [`PIN_ENV`], never from the URI itself.
//! * [`Pkcs11Backend`] implements [`KeyBackend`]: it generates key pairs on the token
//!   (PKCS#11 v2.40 base §5.14 `C_GenerateKeyPair`) that never leave it (CKA_SENSITIVE,
//!   CKA_EXTRACTABLE=false; v2.40 base §4.9) and loads them by CKA_ID.
//! * [`Pkcs11Signer`] implements [`CaSigner`]. It hashes in process and signs the hash with the
//!   plain mechanisms every token has: CKM_ECDSA (v2.40 mechanisms §2.3.6, raw `r‖s`, which we
//!   encode as a DER ECDSA-Sig-Value, RFC 5480 §2.2 / RFC 3279 §2.2.3) and CKM_RSA_PKCS over a
//!   DigestInfo we build (v2.40 mechanisms §2.1.6; RFC 8017 §9.2 EMSA-PKCS1-v1_5).
//!
//! Threads: a `cryptoki::Session` is `Send` but not `Sync`, so each token keeps a pool of
//! logged-in sessions; a signature takes one session from the pool (opening another when all
//! are busy) and gives it back. C_Login applies to every session of the application with that
//! token (v2.40 base §5.6), so the token is logged in once and later sessions inherit the
//! state; CKR_USER_ALREADY_LOGGED_IN counts as success. The module itself is loaded and
//! `C_Initialize`d once per process per module path (v2.40 base §5.4: a second C_Initialize
//! fails with CKR_CRYPTOKI_ALREADY_INITIALIZED).
//!
//! A caller picks the backend from the key reference: [`KeyRef::is_pkcs11`] tells a
//! `pkcs11:` key from a `soft:` one, and [`Pkcs11Backend::for_key`] opens the token the URI
//! names (module path, token and PIN source all come from the URI).

mod uri;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};

use const_oid::ObjectIdentifier;
use const_oid::db::rfc5912;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, SessionState, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use der::asn1::UintRef;
use der::{Decode, Encode};
use ring::digest;

use crate::error::{Error, Result};
use crate::key::{
    CaSigner, KeyAlgorithm, KeyBackend, KeyRef, SignatureAlgorithm, ec_spki_der, rsa_spki_der,
};

pub use uri::{ObjectType, PIN_ENV, Pkcs11Uri};

/// Sessions kept open in a token's pool when idle; more are opened under load and closed when
/// they come back to a full pool.
const MAX_IDLE_SESSIONS: usize = 32;

/// Length of the random CKA_ID given to generated keys.
const KEY_ID_LEN: usize = 16;

impl KeyRef {
    /// Whether this key reference is an RFC 7512 `pkcs11:` URI (scheme case-insensitive), i.e.
    /// a key for [`Pkcs11Backend`] rather than the software backend.
    pub fn is_pkcs11(&self) -> bool {
        self.0
            .get(..7)
            .is_some_and(|s| s.eq_ignore_ascii_case("pkcs11:"))
    }
}

// ---------------------------------------------------------------------------------------------
// Modules: one loaded, initialised context per module path per process.

struct Module {
    path: PathBuf,
    ctx: Pkcs11,
}

static MODULES: LazyLock<Mutex<HashMap<PathBuf, Arc<Module>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of our locks leaves the data consistent (a map or a pool).
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Loads and initialises the module at `path`, or returns the one already loaded.
fn module(path: &Path, at: &str) -> Result<Arc<Module>> {
    let fail = |detail: String| Error::key(at, format!("module-path={}: {detail}", path.display()));
    if !path.is_absolute() {
        return Err(fail("must be an absolute path".into()));
    }
    let canonical = std::fs::canonicalize(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => fail(
            "no such file: is the PKCS#11 module installed (for SoftHSM: apt install softhsm2)?"
                .into(),
        ),
        _ => fail(format!("cannot access: {e}")),
    })?;
    let mut modules = lock(&MODULES);
    if let Some(m) = modules.get(&canonical) {
        return Ok(m.clone());
    }
    let ctx = Pkcs11::new(&canonical)
        .map_err(|e| fail(format!("cannot load as a PKCS#11 module: {e}")))?;
    init_module(&ctx).map_err(|e| fail(format!("C_Initialize failed: {}", ck_text(&e))))?;
    let m = Arc::new(Module {
        path: canonical.clone(),
        ctx,
    });
    modules.insert(canonical, m.clone());
    Ok(m)
}

/// C_Initialize with OS locking (v2.40 base §5.4); "already initialised" (by another user of
/// the module in this process) is success.
fn init_module(ctx: &Pkcs11) -> std::result::Result<(), CkError> {
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => Ok(()),
        Err(e) => Err(e),
    }
}

// ---------------------------------------------------------------------------------------------
// Error text.

fn rv_of(e: &CkError) -> Option<RvError> {
    match e {
        CkError::Pkcs11(rv, _) => Some(*rv),
        _ => None,
    }
}

/// `CKR_PIN_INCORRECT`-style name of a return value (the crate's `Display` is a paragraph).
fn ckr_name(rv: RvError) -> String {
    let camel = format!("{rv:?}");
    let mut out = String::from("CKR");
    for c in camel.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// Short text for a cryptoki error: `C_Sign: CKR_DEVICE_ERROR`.
fn ck_text(e: &CkError) -> String {
    match e {
        CkError::Pkcs11(rv, func) => format!("C_{func:?}: {}", ckr_name(*rv)),
        other => other.to_string(),
    }
}

/// What a PKCS#11 error means for the operator, for the return values that have a clear cause.
/// (The token is named by the error's `key` field.)
fn explain(e: &CkError) -> String {
    let text = ck_text(e);
    let meaning = match rv_of(e) {
        Some(RvError::DeviceMemory) => "the token is full: no room for new objects",
        Some(RvError::HostMemory) => "out of host memory",
        Some(RvError::PinIncorrect) => "wrong PIN",
        Some(RvError::PinLocked) => "the user PIN is locked",
        Some(RvError::PinExpired) => "the user PIN has expired",
        Some(RvError::PinLenRange) => "wrong PIN length",
        Some(RvError::UserPinNotInitialized) => {
            "the token has no user PIN set (initialise it first)"
        }
        Some(RvError::TokenNotPresent | RvError::DeviceRemoved) => "the token is not present",
        Some(RvError::TokenWriteProtected) => "the token is write-protected",
        Some(RvError::SessionCount) => "the token has too many open sessions",
        Some(RvError::MechanismInvalid) => "the token does not support the mechanism",
        Some(RvError::SessionHandleInvalid | RvError::SessionClosed) => {
            "the session was closed and re-opening it did not help"
        }
        Some(RvError::UserNotLoggedIn) => "not logged in, and logging in again did not help",
        _ => return text,
    };
    format!("{meaning} ({text})")
}

/// How an operation lost what it needed, so that a retry may succeed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Loss {
    /// The session is gone (closed, token reset, module finalised): use a new session.
    Session,
    /// The session is fine but the login or the object handle went away (a C_Logout elsewhere
    /// in the application, a key found again): log in again and look the key up again.
    LoginOrHandle,
}

fn loss(e: &CkError) -> Option<Loss> {
    match rv_of(e)? {
        RvError::SessionHandleInvalid
        | RvError::SessionClosed
        | RvError::CryptokiNotInitialized
        | RvError::DeviceRemoved => Some(Loss::Session),
        RvError::UserNotLoggedIn | RvError::KeyHandleInvalid | RvError::ObjectHandleInvalid => {
            Some(Loss::LoginOrHandle)
        }
        _ => None,
    }
}

/// Errors of an operation run in a pooled session.
enum OpError {
    /// A PKCS#11 call failed.
    Ck(CkError),
    /// Something else, already explained.
    Other(Error),
}

impl From<CkError> for OpError {
    fn from(e: CkError) -> Self {
        OpError::Ck(e)
    }
}

impl From<Error> for OpError {
    fn from(e: Error) -> Self {
        OpError::Other(e)
    }
}

// ---------------------------------------------------------------------------------------------
// Tokens and their session pools.

/// Where the PIN came from, for messages (never the PIN).
fn pin_origin(uri: &Pkcs11Uri) -> String {
    match &uri.pin_source {
        Some(s) => format!("pin-source={s}"),
        None => format!("the {PIN_ENV} environment variable"),
    }
}

/// One token, the PIN to log in with and a pool of sessions with it.
struct Token {
    module: Arc<Module>,
    slot: Slot,
    /// The backend's URI (token attributes, module path, PIN source).
    uri: Pkcs11Uri,
    /// `pkcs11:token=…` for messages.
    name: String,
    pin: Option<AuthPin>,
    login_required: bool,
    /// CKF_PROTECTED_AUTHENTICATION_PATH: the PIN is entered on the device.
    protected_path: bool,
    /// What the token says it is (CK_TOKEN_INFO), to check key URIs against.
    ident: TokenIdent,
    idle: Mutex<Vec<Session>>,
}

/// The identifying fields of CK_TOKEN_INFO (v2.40 base §3.2) and the slot.
struct TokenIdent {
    label: String,
    serial: String,
    manufacturer: String,
    model: String,
    slot_id: u64,
}

impl Token {
    fn err(&self, detail: impl fmt::Display) -> Error {
        Error::key(&self.name, detail)
    }

    /// Opens a read/write session (v2.40 base §5.6 C_OpenSession; CKF_SERIAL_SESSION is
    /// always set by the crate) and logs it in if the token is not logged in yet.
    ///
    /// Sessions are closed explicitly (never on drop): a session whose handle went stale must
    /// not be "closed" later, since the module may have given the same handle number to a new
    /// session in the meantime.
    fn open(&self) -> Result<Session> {
        let ctx = &self.module.ctx;
        let session = match ctx.open_rw_session_no_drop(self.slot) {
            Err(CkError::Pkcs11(RvError::CryptokiNotInitialized, _)) => {
                // Someone finalised the module under us: initialise it again, once.
                init_module(ctx).map_err(|e| {
                    self.err(format!("re-initialising the module: {}", ck_text(&e)))
                })?;
                ctx.open_rw_session_no_drop(self.slot)
            }
            other => other,
        }
        .map_err(|e| self.err(format!("opening a session: {}", explain(&e))))?;
        match self.login(&session) {
            Ok(()) => Ok(session),
            Err(e) => {
                let _ = session.close();
                Err(e)
            }
        }
    }

    /// Logs the application in to the token unless it is (C_Login, v2.40 base §5.6: the login
    /// applies to all sessions of the application with the token).
    fn login(&self, session: &Session) -> Result<()> {
        if !self.login_required {
            return Ok(());
        }
        let state = session
            .get_session_info()
            .map_err(|e| self.err(ck_text(&e)))?
            .session_state();
        if matches!(state, SessionState::RoUser | SessionState::RwUser) {
            return Ok(());
        }
        if self.pin.is_none() && !self.protected_path {
            return Err(self.err(format!(
                "token needs a PIN: add pin-source=file:PATH to the URI or set {PIN_ENV}"
            )));
        }
        // Without a PIN on a token with a protected authentication path (a PIN pad), C_Login
        // gets a NULL PIN (v2.40 base §5.6).
        match session.login(UserType::User, self.pin.as_ref()) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
            Err(e) => Err(self.err(format!(
                "login failed: {} (PIN from {})",
                explain(&e),
                pin_origin(&self.uri)
            ))),
        }
    }

    /// An idle session from the pool, or a new one.
    fn take(&self) -> Result<Pooled<'_>> {
        let idle = lock(&self.idle).pop();
        let session = match idle {
            Some(s) => s,
            None => self.open()?,
        };
        Ok(Pooled {
            token: self,
            session: Some(session),
        })
    }

    fn give_back(&self, session: Session) {
        let surplus = {
            let mut idle = lock(&self.idle);
            if idle.len() < MAX_IDLE_SESSIONS {
                idle.push(session);
                None
            } else {
                Some(session)
            }
        };
        if let Some(s) = surplus {
            let _ = s.close();
        }
    }

    /// Runs `op` in a pooled session. If the session was lost, the idle sessions are dropped
    /// (they are most likely gone too), `reset` runs (to forget cached object handles) and `op`
    /// is retried once in a new session; if the login or an object handle was lost, `reset`
    /// runs, the application logs in again and `op` is retried once in the same session.
    fn run<T>(
        &self,
        what: &str,
        mut op: impl FnMut(&Session) -> std::result::Result<T, OpError>,
        reset: impl Fn(),
    ) -> Result<T> {
        let mut session = self.take()?;
        let mut retried = false;
        loop {
            let e = match op(&session) {
                Ok(v) => return Ok(v),
                Err(OpError::Other(e)) => return Err(e),
                Err(OpError::Ck(e)) => e,
            };
            match loss(&e) {
                Some(Loss::Session) => {
                    session.discard();
                    if retried {
                        return Err(self.err(format!("{what}: {}", explain(&e))));
                    }
                    // The other idle sessions are most likely gone as well.
                    drop(std::mem::take(&mut *lock(&self.idle)));
                    reset();
                    session = self.take()?;
                }
                Some(Loss::LoginOrHandle) if !retried => {
                    reset();
                    self.login(&session)?;
                }
                _ => return Err(self.err(format!("{what}: {}", explain(&e)))),
            }
            retried = true;
        }
    }
}

impl Drop for Token {
    fn drop(&mut self) {
        for s in std::mem::take(&mut *lock(&self.idle)) {
            let _ = s.close();
        }
    }
}

/// A session taken from a token's pool; it goes back to the pool when dropped.
struct Pooled<'a> {
    token: &'a Token,
    session: Option<Session>,
}

impl Pooled<'_> {
    /// Forgets a session whose handle is no longer valid (without calling C_CloseSession).
    fn discard(mut self) {
        self.session = None;
    }
}

impl std::ops::Deref for Pooled<'_> {
    type Target = Session;
    fn deref(&self) -> &Session {
        // Only `discard` empties it, and `discard` consumes the guard.
        self.session
            .as_ref()
            .expect("a pooled session is present until discarded")
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if let Some(s) = self.session.take() {
            self.token.give_back(s);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The backend.

/// A [`KeyBackend`] whose keys live on a PKCS#11 token.
///
/// Constructed from a URI naming the module (`module-path`) and the token (`token`, and
/// optionally `serial`, `manufacturer`, `model`, `slot-id`), with the PIN from `pin-source` or
/// [`PIN_ENV`]. Construction logs in, so a wrong PIN is reported here.
pub struct Pkcs11Backend {
    token: Arc<Token>,
}

impl fmt::Debug for Pkcs11Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Backend")
            .field("token", &self.token.name)
            .field("module", &self.token.module.path)
            .finish_non_exhaustive()
    }
}

impl Pkcs11Backend {
    /// Opens the token named by `uri` (a `pkcs11:` URI string, see [`Pkcs11Uri::parse`]).
    pub fn open(uri: &str) -> Result<Pkcs11Backend> {
        Pkcs11Backend::from_uri(&Pkcs11Uri::parse(uri)?)
    }

    /// Opens the token holding `key` (module path, token and PIN source come from its URI),
    /// ready for [`KeyBackend::load`] of that key.
    pub fn for_key(key: &KeyRef) -> Result<Pkcs11Backend> {
        if !key.is_pkcs11() {
            return Err(Error::key(key.location(), "not a pkcs11: key reference"));
        }
        Pkcs11Backend::open(&key.0)
    }

    /// Opens the token named by `uri`. Object attributes (`object`, `id`, `type`) in `uri` are
    /// ignored here; they select keys in [`KeyBackend::load`].
    pub fn from_uri(uri: &Pkcs11Uri) -> Result<Pkcs11Backend> {
        let token_uri = Pkcs11Uri {
            object: None,
            id: None,
            object_type: None,
            ..uri.clone()
        };
        let name = token_uri.token_location();
        let module_path = uri.module_path.as_deref().ok_or_else(|| {
            Error::key(
                &name,
                "the URI has no module-path (add ?module-path=/path/to/pkcs11-module.so)",
            )
        })?;
        if uri.token.is_none() && uri.serial.is_none() && uri.slot_id.is_none() {
            return Err(Error::key(
                &name,
                "the URI names no token (add token=LABEL, serial= or slot-id=)",
            ));
        }
        let module = module(module_path, &name)?;
        let slot = find_slot(&module, module_path, &token_uri, &name)?;
        let info = module
            .ctx
            .get_token_info(slot)
            .map_err(|e| Error::key(&name, ck_text(&e)))?;
        let pin = token_uri.read_pin()?.map(|p| AuthPin::from(p.as_str()));
        let token = Arc::new(Token {
            module,
            slot,
            uri: token_uri,
            name,
            pin,
            login_required: info.login_required(),
            protected_path: info.protected_authentication_path(),
            ident: TokenIdent {
                label: info.label().to_string(),
                serial: info.serial_number().to_string(),
                manufacturer: info.manufacturer_id().to_string(),
                model: info.model().to_string(),
                slot_id: slot.id(),
            },
            idle: Mutex::new(Vec::new()),
        });
        // Log in now: a wrong PIN or a missing token is reported when the backend is opened.
        drop(token.take()?);
        Ok(Pkcs11Backend { token })
    }

    /// The URI of a key on this token: the backend's token attributes (and the token label,
    /// if the backend was opened by serial or slot) and query, plus `object=label;id=…`.
    fn key_uri(&self, label: &str, id: &[u8]) -> Pkcs11Uri {
        let ours = &self.token.uri;
        Pkcs11Uri {
            token: Some(
                ours.token
                    .clone()
                    .unwrap_or_else(|| self.token.ident.label.clone()),
            ),
            object: Some(label.to_string()),
            id: Some(id.to_vec()),
            ..ours.clone()
        }
    }

    /// Checks that the token attributes and module of `key` match this backend's token
    /// (RFC 7512 §2.5: every attribute present must match).
    fn check_same_token(&self, key: &Pkcs11Uri, at: &str) -> Result<()> {
        let ident = &self.token.ident;
        for (name, theirs, mine) in [
            ("token", key.token.as_deref(), ident.label.as_str()),
            ("serial", key.serial.as_deref(), ident.serial.as_str()),
            (
                "manufacturer",
                key.manufacturer.as_deref(),
                ident.manufacturer.as_str(),
            ),
            ("model", key.model.as_deref(), ident.model.as_str()),
        ] {
            if let Some(t) = theirs.filter(|t| *t != mine) {
                return Err(Error::key(
                    at,
                    format!("{name}={t} in the key URI, but this backend is on {name}={mine}"),
                ));
            }
        }
        if let Some(id) = key.slot_id.filter(|id| *id != ident.slot_id) {
            return Err(Error::key(
                at,
                format!(
                    "slot-id={id} in the key URI, but this backend is on slot-id={}",
                    ident.slot_id
                ),
            ));
        }
        if let Some(p) = &key.module_path {
            let same = std::fs::canonicalize(p).is_ok_and(|c| c == self.token.module.path);
            if !same {
                return Err(Error::key(
                    at,
                    format!(
                        "module-path={} in the key URI, but this backend uses {}",
                        p.display(),
                        self.token.module.path.display()
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// The slot whose token matches every token attribute of `uri` (RFC 7512 §2.5: all attributes
/// present must match).
fn find_slot(module: &Module, given: &Path, uri: &Pkcs11Uri, at: &str) -> Result<Slot> {
    let slots = module
        .ctx
        .get_slots_with_token()
        .map_err(|e| Error::key(at, format!("listing slots: {}", ck_text(&e))))?;
    let mut found = Vec::new();
    let mut labels = Vec::new();
    for slot in slots {
        let Ok(info) = module.ctx.get_token_info(slot) else {
            continue;
        };
        if info.token_initialized() {
            labels.push(format!("{:?}", info.label()));
        }
        let eq = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        if eq(&uri.token, info.label())
            && eq(&uri.serial, info.serial_number())
            && eq(&uri.manufacturer, info.manufacturer_id())
            && eq(&uri.model, info.model())
            && uri.slot_id.is_none_or(|id| id == slot.id())
        {
            found.push(slot);
        }
    }
    match found.as_slice() {
        [slot] => Ok(*slot),
        [] => {
            let which = match &uri.token {
                Some(t) => format!("token={t}"),
                None => "the token attributes".to_string(),
            };
            Err(Error::key(
                at,
                format!(
                    "no token matches {which} in module-path={} (tokens present: {})",
                    given.display(),
                    if labels.is_empty() {
                        "none".to_string()
                    } else {
                        labels.join(", ")
                    }
                ),
            ))
        }
        _ => Err(Error::key(
            at,
            format!(
                "{} tokens match; add serial= or slot-id= to the URI to pick one",
                found.len()
            ),
        )),
    }
}

fn id_text(id: &[u8]) -> String {
    id.iter().map(|b| format!("%{b:02X}")).collect()
}

/// CKA_EC_PARAMS (v2.40 mechanisms §2.3.3): the DER OID of a named curve.
fn curve_of(alg: KeyAlgorithm) -> ObjectIdentifier {
    if alg == KeyAlgorithm::EcdsaP384 {
        rfc5912::SECP_384_R_1
    } else {
        rfc5912::SECP_256_R_1
    }
}

impl KeyBackend for Pkcs11Backend {
    /// Generates a key pair on the token (v2.40 base §5.14 C_GenerateKeyPair) with
    /// CKM_EC_KEY_PAIR_GEN (v2.40 mechanisms §2.3.5) or CKM_RSA_PKCS_KEY_PAIR_GEN (§2.1.4,
    /// public exponent 65537). Both halves are token objects with CKA_LABEL = `label` and a
    /// random 16-byte CKA_ID; the private key is private, sensitive, not extractable and may
    /// only sign (v2.40 base §4.9).
    fn generate(&self, algorithm: KeyAlgorithm, label: &str) -> Result<KeyRef> {
        let at = self.token.name.clone();
        if label.is_empty() || label.len() > 255 || label.chars().any(char::is_control) {
            return Err(Error::key(
                at,
                format!(
                    "object={label:?}: a key label is 1 to 255 bytes without control characters"
                ),
            ));
        }
        let mut id = [0u8; KEY_ID_LEN];
        getrandom::fill(&mut id).map_err(|e| Error::key(&at, format!("random CKA_ID: {e}")))?;
        let common = [
            Attribute::Token(true),
            Attribute::Id(id.to_vec()),
            Attribute::Label(label.as_bytes().to_vec()),
        ];
        let mut public: Vec<Attribute> = common.to_vec();
        // One key, one purpose: the pair only signs and verifies (tokens default other
        // usages such as CKA_DECRYPT / CKA_DERIVE to true; v2.40 base §4.7-§4.9).
        public.extend([
            Attribute::Private(false),
            Attribute::Verify(true),
            Attribute::Encrypt(false),
            Attribute::Wrap(false),
            Attribute::Derive(false),
        ]);
        let mut private: Vec<Attribute> = common.to_vec();
        private.extend([
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            Attribute::Decrypt(false),
            Attribute::Unwrap(false),
            Attribute::Derive(false),
        ]);
        let mechanism = if algorithm.is_rsa() {
            public.extend([
                Attribute::ModulusBits((algorithm.bits() as u64).into()),
                Attribute::PublicExponent(vec![0x01, 0x00, 0x01]),
            ]);
            private.push(Attribute::KeyType(KeyType::RSA));
            Mechanism::RsaPkcsKeyPairGen
        } else {
            let params = curve_of(algorithm)
                .to_der()
                .map_err(Error::encode("EC curve OID"))?;
            public.push(Attribute::EcParams(params));
            private.push(Attribute::KeyType(KeyType::EC));
            Mechanism::EccKeyPairGen
        };
        let what = format!("generating {algorithm} key object={label}");
        let mut attempt = 0;
        self.token.run(
            &what,
            |s| {
                attempt += 1;
                // A retry after a lost session: the first attempt may have completed.
                let done = attempt > 1
                    && !s
                        .find_objects(&[
                            Attribute::Class(ObjectClass::PRIVATE_KEY),
                            Attribute::Id(id.to_vec()),
                        ])?
                        .is_empty();
                if !done {
                    s.generate_key_pair(&mechanism, &public, &private)?;
                }
                Ok(())
            },
            || {},
        )?;
        let uri = self.key_uri(label, &id);
        Ok(KeyRef(uri.to_string()))
    }

    /// Destroys every key object labelled `label` (private and public) on the token.
    fn discard(&self, label: &str) -> Result<()> {
        self.token.run(
            &format!("removing key object={label}"),
            |s| {
                for class in [ObjectClass::PRIVATE_KEY, ObjectClass::PUBLIC_KEY] {
                    for h in s.find_objects(&[
                        Attribute::Class(class),
                        Attribute::Label(label.as_bytes().to_vec()),
                    ])? {
                        s.destroy_object(h)?;
                    }
                }
                Ok(())
            },
            || {},
        )
    }

    /// Loads the key `key` names: the private key by CKA_ID (and CKA_LABEL when the URI has
    /// `object=`; labels alone are not unique), the public key by the same CKA_ID.
    fn load(&self, key: &KeyRef) -> Result<Arc<dyn CaSigner>> {
        let uri = Pkcs11Uri::parse(&key.0)?;
        let at = uri.location();
        self.check_same_token(&uri, &at)?;
        if uri.object_type.is_some_and(|t| t != ObjectType::Private) {
            return Err(Error::key(
                at,
                "type= must be private (or absent) for a signing key",
            ));
        }
        if uri.id.is_none() && uri.object.is_none() {
            return Err(Error::key(
                at,
                "the URI names no key: add id= (and object=)",
            ));
        }
        let signer = Pkcs11Signer::find(self.token.clone(), &uri, at)?;
        Ok(Arc::new(signer))
    }
}

// ---------------------------------------------------------------------------------------------
// The signer.

#[derive(Clone, Copy, Debug)]
enum KeyKind {
    /// ECDSA; the field size in bytes (r and s each have this length in CKM_ECDSA output).
    Ec { field_len: usize },
    /// RSA; the modulus length in bytes.
    Rsa { modulus_len: usize },
}

/// A [`CaSigner`] whose private key stays on a PKCS#11 token. `Send + Sync`: signatures from
/// several threads run in parallel, each in its own session from the token's pool.
pub struct Pkcs11Signer {
    token: Arc<Token>,
    /// The key's URI without query, for messages.
    at: String,
    /// Template that finds the private key (class, CKA_ID, maybe CKA_LABEL).
    template: Vec<Attribute>,
    /// The private key's handle, found again after a lost session.
    handle: Mutex<Option<ObjectHandle>>,
    kind: KeyKind,
    algorithm: SignatureAlgorithm,
    spki_der: Vec<u8>,
}

impl fmt::Debug for Pkcs11Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Signer")
            .field("key", &self.at)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

fn attr_bytes(attrs: &[Attribute], which: AttributeType) -> Option<Vec<u8>> {
    attrs.iter().find_map(|a| match (a, which) {
        (Attribute::Id(v), AttributeType::Id)
        | (Attribute::EcParams(v), AttributeType::EcParams)
        | (Attribute::EcPoint(v), AttributeType::EcPoint)
        | (Attribute::Modulus(v), AttributeType::Modulus)
        | (Attribute::PublicExponent(v), AttributeType::PublicExponent) => Some(v.clone()),
        _ => None,
    })
}

/// Removes leading zero bytes of a big-endian integer.
fn strip_zeros(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|&&x| x == 0).count();
    &b[n..]
}

impl Pkcs11Signer {
    fn find(token: Arc<Token>, uri: &Pkcs11Uri, at: String) -> Result<Pkcs11Signer> {
        let mut template = vec![Attribute::Class(ObjectClass::PRIVATE_KEY)];
        if let Some(id) = &uri.id {
            template.push(Attribute::Id(id.clone()));
        }
        if let Some(label) = &uri.object {
            template.push(Attribute::Label(label.as_bytes().to_vec()));
        }
        let what = describe(uri);
        let loaded = token.run(
            "loading the key",
            |s| {
                let handle = find_one(s, &template, &what, &at)?;
                let attrs = s.get_attributes(
                    handle,
                    &[
                        AttributeType::KeyType,
                        AttributeType::Sign,
                        AttributeType::Id,
                    ],
                )?;
                let key_type = attrs.iter().find_map(|a| match a {
                    Attribute::KeyType(t) => Some(*t),
                    _ => None,
                });
                let can_sign = attrs.iter().any(|a| matches!(a, Attribute::Sign(true)));
                if !can_sign {
                    return Err(
                        Error::key(&at, format!("{what} cannot sign (CKA_SIGN is false)")).into(),
                    );
                }
                let id = attr_bytes(&attrs, AttributeType::Id).unwrap_or_default();
                let public = s.find_objects(&[
                    Attribute::Class(ObjectClass::PUBLIC_KEY),
                    Attribute::Id(id.clone()),
                ])?;
                let (kind, algorithm, spki_der) = match key_type {
                    Some(t) if t == KeyType::EC => {
                        let Some(&pubkey) = public.first() else {
                            return Err(Error::key(
                                &at,
                                format!("no public key with id={} next to {what}", id_text(&id)),
                            )
                            .into());
                        };
                        let attrs = s.get_attributes(
                            pubkey,
                            &[AttributeType::EcParams, AttributeType::EcPoint],
                        )?;
                        ec_public(&attrs, &at)?
                    }
                    Some(t) if t == KeyType::RSA => {
                        // Fall back to the private key's CKA_MODULUS / CKA_PUBLIC_EXPONENT
                        // (v2.40 mechanisms §2.1.3) when the token keeps no public key object.
                        let from = public.first().copied().unwrap_or(handle);
                        let attrs = s.get_attributes(
                            from,
                            &[AttributeType::Modulus, AttributeType::PublicExponent],
                        )?;
                        rsa_public(&attrs, &at)?
                    }
                    _ => {
                        return Err(Error::key(
                            &at,
                            format!("{what} is neither an EC nor an RSA key"),
                        )
                        .into());
                    }
                };
                Ok((handle, kind, algorithm, spki_der))
            },
            || {},
        )?;
        let (handle, kind, algorithm, spki_der) = loaded;
        Ok(Pkcs11Signer {
            token,
            at,
            template,
            handle: Mutex::new(Some(handle)),
            kind,
            algorithm,
            spki_der,
        })
    }

    /// The private key's handle, found again (by the same template) when it was forgotten.
    fn key_handle(&self, session: &Session) -> std::result::Result<ObjectHandle, OpError> {
        if let Some(h) = *lock(&self.handle) {
            return Ok(h);
        }
        let h = find_one(session, &self.template, "private key (deleted?)", &self.at)?;
        *lock(&self.handle) = Some(h);
        Ok(h)
    }
}

/// "object=NAME id=%01…" for messages.
fn describe(uri: &Pkcs11Uri) -> String {
    let mut parts = Vec::new();
    if let Some(o) = &uri.object {
        parts.push(format!("object={o}"));
    }
    if let Some(id) = &uri.id {
        parts.push(format!("id={}", id_text(id)));
    }
    format!("private key {}", parts.join(" "))
}

fn find_one(
    s: &Session,
    template: &[Attribute],
    what: &str,
    at: &str,
) -> std::result::Result<ObjectHandle, OpError> {
    let found = s.find_objects(template)?;
    match found.as_slice() {
        [h] => Ok(*h),
        [] => Err(Error::key(at, format!("no {what} on the token")).into()),
        _ => Err(Error::key(
            at,
            format!("{} objects match {what}; name the key by id=", found.len()),
        )
        .into()),
    }
}

/// SPKI and algorithm from CKA_EC_PARAMS / CKA_EC_POINT (v2.40 mechanisms §2.3.3). The point
/// is specified as a DER OCTET STRING holding the X9.62 ECPoint; some tokens return the bare
/// point, which we accept too.
fn ec_public(
    attrs: &[Attribute],
    at: &str,
) -> std::result::Result<(KeyKind, SignatureAlgorithm, Vec<u8>), OpError> {
    let bad = |d: &str| OpError::Other(Error::key(at, d));
    let params = attr_bytes(attrs, AttributeType::EcParams)
        .ok_or_else(|| bad("public key without CKA_EC_PARAMS"))?;
    let point = attr_bytes(attrs, AttributeType::EcPoint)
        .ok_or_else(|| bad("public key without CKA_EC_POINT"))?;
    let curve = ObjectIdentifier::from_der(&params)
        .map_err(|_| bad("CKA_EC_PARAMS is not a named-curve OID"))?;
    let (alg, field_len) = if curve == rfc5912::SECP_256_R_1 {
        (KeyAlgorithm::EcdsaP256, 32)
    } else if curve == rfc5912::SECP_384_R_1 {
        (KeyAlgorithm::EcdsaP384, 48)
    } else {
        return Err(Error::key(at, format!("unsupported curve {curve}")).into());
    };
    let raw_len = 1 + 2 * field_len;
    let raw = if point.len() == raw_len && point[0] == 0x04 {
        point
    } else {
        der::asn1::OctetString::from_der(&point)
            .ok()
            .map(|o| o.as_bytes().to_vec())
            .filter(|p| p.len() == raw_len && p[0] == 0x04)
            .ok_or_else(|| bad("CKA_EC_POINT is not an uncompressed point on the key's curve"))?
    };
    let spki = ec_spki_der(curve, &raw)?;
    Ok((KeyKind::Ec { field_len }, alg.signature_algorithm(), spki))
}

/// SPKI and algorithm from CKA_MODULUS / CKA_PUBLIC_EXPONENT (v2.40 mechanisms §2.1.2).
fn rsa_public(
    attrs: &[Attribute],
    at: &str,
) -> std::result::Result<(KeyKind, SignatureAlgorithm, Vec<u8>), OpError> {
    let bad = |d: &str| OpError::Other(Error::key(at, d));
    let n = attr_bytes(attrs, AttributeType::Modulus)
        .ok_or_else(|| bad("RSA key without CKA_MODULUS"))?;
    let e = attr_bytes(attrs, AttributeType::PublicExponent)
        .ok_or_else(|| bad("RSA key without CKA_PUBLIC_EXPONENT"))?;
    let n = strip_zeros(&n);
    let bits = n.len() * 8 - n.first().map_or(8, |b| b.leading_zeros() as usize);
    if bits < 2048 {
        return Err(Error::key(
            at,
            format!("RSA key of {bits} bits: at least 2048 are required"),
        )
        .into());
    }
    #[derive(der::Sequence)]
    struct RsaPublicKey<'a> {
        modulus: UintRef<'a>,
        public_exponent: UintRef<'a>,
    }
    let der = RsaPublicKey {
        modulus: UintRef::new(n).map_err(Error::encode("RSA modulus"))?,
        public_exponent: UintRef::new(strip_zeros(&e)).map_err(Error::encode("RSA exponent"))?,
    }
    .to_der()
    .map_err(Error::encode("RSAPublicKey"))?;
    let spki = rsa_spki_der(&der)?;
    // Same rule as the software backend: SHA-384 from 3072 bits on.
    let algorithm = if bits >= 3072 {
        SignatureAlgorithm::RsaPkcs1Sha384
    } else {
        SignatureAlgorithm::RsaPkcs1Sha256
    };
    Ok((
        KeyKind::Rsa {
            modulus_len: n.len(),
        },
        algorithm,
        spki,
    ))
}

/// DER prefixes of DigestInfo for SHA-256/384/512 (RFC 8017 §9.2, note 1).
const DIGEST_INFO_SHA256: &[u8] = &[
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];
const DIGEST_INFO_SHA384: &[u8] = &[
    0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05,
    0x00, 0x04, 0x30,
];
const DIGEST_INFO_SHA512: &[u8] = &[
    0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05,
    0x00, 0x04, 0x40,
];

/// ECDSA-Sig-Value (RFC 3279 §2.2.3).
#[derive(der::Sequence)]
struct EcdsaSigValue<'a> {
    r: UintRef<'a>,
    s: UintRef<'a>,
}

impl CaSigner for Pkcs11Signer {
    fn algorithm(&self) -> SignatureAlgorithm {
        self.algorithm
    }

    fn public_key_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// Hashes `message` in process and signs the hash on the token (v2.40 base §5.11 C_Sign):
    /// CKM_ECDSA over the hash, or CKM_RSA_PKCS over the DigestInfo. A lost session is
    /// re-opened (and logged in, and the key found again) and the signature retried once.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        let (hash, prefix): (&'static digest::Algorithm, &[u8]) = match self.algorithm {
            SignatureAlgorithm::EcdsaSha256 => (&digest::SHA256, &[]),
            SignatureAlgorithm::EcdsaSha384 => (&digest::SHA384, &[]),
            SignatureAlgorithm::RsaPkcs1Sha256 => (&digest::SHA256, DIGEST_INFO_SHA256),
            SignatureAlgorithm::RsaPkcs1Sha384 => (&digest::SHA384, DIGEST_INFO_SHA384),
            SignatureAlgorithm::RsaPkcs1Sha512 => (&digest::SHA512, DIGEST_INFO_SHA512),
        };
        let mut data = prefix.to_vec();
        data.extend_from_slice(digest::digest(hash, message).as_ref());
        let mechanism = match self.kind {
            KeyKind::Ec { .. } => Mechanism::Ecdsa,
            KeyKind::Rsa { .. } => Mechanism::RsaPkcs,
        };
        let raw = self.token.run(
            "signing",
            |s| {
                let key = self.key_handle(s)?;
                Ok(s.sign(&mechanism, key, &data)?)
            },
            || *lock(&self.handle) = None,
        )?;
        match self.kind {
            KeyKind::Ec { field_len } => {
                // CKM_ECDSA returns r‖s, each exactly field_len bytes (v2.40 mechanisms §2.3.1).
                if raw.len() != 2 * field_len {
                    return Err(Error::key(
                        &self.at,
                        format!(
                            "CKM_ECDSA returned {} bytes, expected {}",
                            raw.len(),
                            2 * field_len
                        ),
                    ));
                }
                let (r, s) = raw.split_at(field_len);
                EcdsaSigValue {
                    r: UintRef::new(r).map_err(Error::encode("ECDSA r"))?,
                    s: UintRef::new(s).map_err(Error::encode("ECDSA s"))?,
                }
                .to_der()
                .map_err(Error::encode("ECDSA-Sig-Value"))
            }
            KeyKind::Rsa { modulus_len } => {
                if raw.len() != modulus_len {
                    return Err(Error::key(
                        &self.at,
                        format!(
                            "CKM_RSA_PKCS returned {} bytes, expected {modulus_len}",
                            raw.len()
                        ),
                    ));
                }
                Ok(raw)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_values_get_names_and_explanations() {
        assert_eq!(ckr_name(RvError::PinIncorrect), "CKR_PIN_INCORRECT");
        assert_eq!(
            ckr_name(RvError::CryptokiAlreadyInitialized),
            "CKR_CRYPTOKI_ALREADY_INITIALIZED"
        );
        let full = CkError::Pkcs11(
            RvError::DeviceMemory,
            cryptoki::context::Function::GenerateKeyPair,
        );
        assert_eq!(
            explain(&full),
            "the token is full: no room for new objects (C_GenerateKeyPair: CKR_DEVICE_MEMORY)"
        );
        let pin = CkError::Pkcs11(RvError::PinIncorrect, cryptoki::context::Function::Login);
        assert_eq!(explain(&pin), "wrong PIN (C_Login: CKR_PIN_INCORRECT)");
        let sign = |rv| CkError::Pkcs11(rv, cryptoki::context::Function::Sign);
        assert_eq!(
            loss(&sign(RvError::SessionHandleInvalid)),
            Some(Loss::Session)
        );
        assert_eq!(
            loss(&sign(RvError::KeyHandleInvalid)),
            Some(Loss::LoginOrHandle)
        );
        assert_eq!(
            loss(&sign(RvError::UserNotLoggedIn)),
            Some(Loss::LoginOrHandle)
        );
        assert_eq!(loss(&full), None);
    }

    #[test]
    fn digest_info_prefixes_match_rfc8017() {
        // The prefix is the DER of DigestInfo with an empty digest: check it against the
        // encoder (AlgorithmIdentifier with NULL parameters, RFC 8017 §9.2 note 1).
        for (oid, prefix, len) in [
            (rfc5912::ID_SHA_256, DIGEST_INFO_SHA256, 32usize),
            (rfc5912::ID_SHA_384, DIGEST_INFO_SHA384, 48),
            (rfc5912::ID_SHA_512, DIGEST_INFO_SHA512, 64),
        ] {
            #[derive(der::Sequence)]
            struct DigestInfo {
                alg: spki::AlgorithmIdentifierOwned,
                digest: der::asn1::OctetString,
            }
            let der = DigestInfo {
                alg: spki::AlgorithmIdentifierOwned {
                    oid,
                    parameters: Some(der::asn1::Null.into()),
                },
                digest: der::asn1::OctetString::new(vec![0xab; len]).expect("octets"),
            }
            .to_der()
            .expect("der");
            assert_eq!(&der[..prefix.len()], prefix);
            assert_eq!(der.len(), prefix.len() + len);
        }
    }

    #[test]
    fn ec_points_are_accepted_wrapped_and_bare() {
        let params = rfc5912::SECP_256_R_1.to_der().expect("oid");
        let mut point = vec![0x04];
        point.extend([7u8; 64]);
        let wrapped = der::asn1::OctetString::new(point.clone())
            .expect("octets")
            .to_der()
            .expect("der");
        for p in [point.clone(), wrapped] {
            let attrs = [Attribute::EcParams(params.clone()), Attribute::EcPoint(p)];
            let Ok((kind, alg, spki)) = ec_public(&attrs, "k") else {
                panic!("EC point refused");
            };
            assert!(matches!(kind, KeyKind::Ec { field_len: 32 }));
            assert_eq!(alg, SignatureAlgorithm::EcdsaSha256);
            assert_eq!(
                spki,
                ec_spki_der(rfc5912::SECP_256_R_1, &point).expect("spki")
            );
        }
        let short = [
            Attribute::EcParams(params),
            Attribute::EcPoint(vec![0x04; 10]),
        ];
        assert!(ec_public(&short, "k").is_err());
    }

    #[test]
    fn key_refs_tell_pkcs11_from_software() {
        assert!(KeyRef("pkcs11:token=a;id=%01".into()).is_pkcs11());
        assert!(KeyRef("PKCS11:token=a".into()).is_pkcs11());
        assert!(!KeyRef("soft:keys/a.p8".into()).is_pkcs11());
        assert!(!KeyRef("pkcs1".into()).is_pkcs11());
    }
}
