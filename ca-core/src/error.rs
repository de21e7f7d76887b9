//! The one error type of `ca-core`.
//!
//! Every variant carries the context an operator needs to act on it (which file, which profile,
//! which rule). [`Error::class`] sorts errors into the contract's exit classes: input errors
//! (exit 2) and refusals (exit 1).

use std::path::PathBuf;

/// How the CLI contract classifies an error (`../shared/contract/cli.md`, "Exit codes").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// Refused or invalid: policy, authorization, lint or validation failure (exit 1).
    Refused,
    /// Usage or input error: unreadable or malformed input, bad argument, store I/O (exit 2).
    Input,
}

/// One finding of the pre-signing linter ([`crate::lint`]).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LintFinding {
    /// Short stable name of the rule, e.g. `aki_matches_issuer_ski`.
    pub rule: &'static str,
    /// The RFC section (or profile rule) the check comes from.
    pub source: &'static str,
    /// What was wrong with this certificate.
    pub detail: String,
}

impl std::fmt::Display for LintFinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.rule, self.source, self.detail)
    }
}

/// Errors of the CA library.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// Input that is not well-formed PEM, DER or JSON.
    #[error("malformed {what}: {detail}")]
    Malformed {
        /// What was being read, e.g. `CSR in req.pem`.
        what: String,
        /// What is wrong with it.
        detail: String,
    },
    /// An argument that has the wrong form (a DN, SAN, time, algorithm name…).
    #[error("invalid {name} {value:?}: {reason}")]
    InvalidArgument {
        /// The argument's name, e.g. `--san`.
        name: &'static str,
        /// The value given.
        value: String,
        /// Why it is refused.
        reason: String,
    },
    /// Input larger than the limit for its kind.
    #[error("{what} is {size} bytes, over the limit of {limit}")]
    TooLarge {
        /// What was read.
        what: String,
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The CSR's self-signature does not verify (no proof of possession, RFC 2986 §3).
    #[error("CSR signature does not verify: {detail}")]
    CsrSignature {
        /// Why.
        detail: String,
    },
    /// No profile of that name in `policies/`.
    #[error("unknown profile {name:?} (known: {known})")]
    UnknownProfile {
        /// The name asked for.
        name: String,
        /// The profiles that exist.
        known: String,
    },
    /// No CA of that name.
    #[error("unknown CA {name:?}")]
    UnknownCa {
        /// The name asked for.
        name: String,
    },
    /// A CA of that name exists already.
    #[error("a CA named {name:?} exists already")]
    CaExists {
        /// The name.
        name: String,
    },
    /// The key in the request is of an algorithm or size the profile does not allow.
    #[error("profile {profile:?} refuses the key: {detail}")]
    KeyRefused {
        /// The profile.
        profile: String,
        /// Why (algorithm, size).
        detail: String,
    },
    /// The subject does not satisfy the profile's subject rules.
    #[error("profile {profile:?} refuses the subject: {detail}")]
    SubjectRefused {
        /// The profile.
        profile: String,
        /// Which rule.
        detail: String,
    },
    /// A subjectAltName that the profile forbids, or a missing required one.
    #[error("profile {profile:?} refuses the subjectAltName: {detail}")]
    SanRefused {
        /// The profile.
        profile: String,
        /// Which rule.
        detail: String,
    },
    /// A publication release that is not what lgpki signed: a file does not match the signed
    /// manifest, a signature does not verify, or the manifest is malformed.
    #[error("release {release} refused ({kind}): {detail}")]
    ReleaseRefused {
        /// The release id.
        release: String,
        /// What failed: `manifest`, `files` or `signature`.
        kind: &'static str,
        /// Which file or signer, and why.
        detail: String,
    },
    /// The CA may not issue this profile, or the request is otherwise against policy.
    #[error("refused by policy: {detail}")]
    PolicyRefused {
        /// Which rule.
        detail: String,
    },
    /// The pre-signing linter found problems; nothing was signed.
    #[error("lint failed, nothing signed: {}", findings.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    LintFailed {
        /// The findings.
        findings: Vec<LintFinding>,
    },
    /// `init` on a home that holds a store already.
    #[error("{home} is already initialised")]
    AlreadyInitialized {
        /// The home directory.
        home: PathBuf,
    },
    /// A command that needs a store was run on a home without one.
    #[error(
        "{home} holds no initialised CA store (run `lgpki init` first, or wait for the one in progress)"
    )]
    NotInitialized {
        /// The home directory.
        home: PathBuf,
    },
    /// A generated serial is in use already (the generator is retried before this surfaces).
    #[error("serial {serial} is already in use")]
    SerialCollision {
        /// The serial, in hex.
        serial: String,
    },
    /// No certificate with that serial.
    #[error("no certificate with serial {serial}")]
    CertificateNotFound {
        /// The serial, in hex.
        serial: String,
    },
    /// The store's database (SQLite, or the PostgreSQL server) failed or could not be reached.
    /// Backend errors stay inside the store: only their message crosses this seam (issue 13).
    #[error("store: {context}: {detail}")]
    StoreBackend {
        /// What was being done.
        context: &'static str,
        /// What the server or the client said (never a password).
        detail: String,
    },
    /// The store was migrated elsewhere (`store migrate`): it takes no more writes and is not
    /// opened again, so nothing acknowledged lands where the home no longer looks, and nothing
    /// it holds is served as current.
    #[error(
        "this store was migrated to {to}, which the home uses now: run the command again (without a --store naming the old one); a `serve` started before the migration stops and must be restarted"
    )]
    StoreMoved {
        /// Where it went (no password).
        to: String,
    },
    /// A key could not be generated, loaded or used.
    #[error("key {key}: {detail}")]
    Key {
        /// The key's location (file name or URI; never key material).
        key: String,
        /// What went wrong.
        detail: String,
    },
    /// DER encoding of something we built failed (a bug or an over-long field).
    #[error("encoding {what}: {source}")]
    Encode {
        /// What was being encoded.
        what: &'static str,
        /// The encoder's error.
        #[source]
        source: der::Error,
    },
    /// Policy data in `policies/` is inconsistent.
    #[error("policy data {file}: {detail}")]
    PolicyData {
        /// The file.
        file: String,
        /// What is wrong.
        detail: String,
    },
    /// Revocation data could not be fetched (not http, too large, too slow, an HTTP error).
    #[error("fetching {url}: {detail}")]
    Fetch {
        /// The URL (cut to 200 characters).
        url: String,
        /// What went wrong.
        detail: String,
    },
}

impl Error {
    /// The contract's class of this error.
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::Io { .. }
            | Error::Malformed { .. }
            | Error::InvalidArgument { .. }
            | Error::TooLarge { .. }
            | Error::NotInitialized { .. }
            | Error::StoreBackend { .. }
            | Error::StoreMoved { .. }
            | Error::PolicyData { .. } => ErrorClass::Input,
            _ => ErrorClass::Refused,
        }
    }

    /// A short stable name for the error, used as `error.kind` in `--json` output.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Io { .. } => "io",
            Error::Malformed { .. } => "malformed_input",
            Error::InvalidArgument { .. } => "invalid_argument",
            Error::TooLarge { .. } => "too_large",
            Error::CsrSignature { .. } => "csr_signature",
            Error::UnknownProfile { .. } => "unknown_profile",
            Error::UnknownCa { .. } => "unknown_ca",
            Error::CaExists { .. } => "ca_exists",
            Error::KeyRefused { .. } => "key_refused",
            Error::SubjectRefused { .. } => "subject_refused",
            Error::SanRefused { .. } => "san_refused",
            Error::PolicyRefused { .. } => "policy_refused",
            Error::LintFailed { .. } => "lint_failed",
            Error::AlreadyInitialized { .. } => "already_initialized",
            Error::NotInitialized { .. } => "not_initialized",
            Error::SerialCollision { .. } => "serial_collision",
            Error::CertificateNotFound { .. } => "not_found",
            Error::StoreBackend { .. } => "store",
            Error::StoreMoved { .. } => "store_moved",
            Error::Key { .. } => "key",
            Error::Encode { .. } => "encode",
            Error::PolicyData { .. } => "policy_data",
            Error::Fetch { .. } => "fetch",
            Error::ReleaseRefused { .. } => "release_refused",
        }
    }

    /// Shorthand for [`Error::Malformed`].
    pub fn malformed(what: impl Into<String>, detail: impl ToString) -> Self {
        Error::Malformed {
            what: what.into(),
            detail: detail.to_string(),
        }
    }

    /// Shorthand for [`Error::Key`].
    pub fn key(key: impl Into<String>, detail: impl ToString) -> Self {
        Error::Key {
            key: key.into(),
            detail: detail.to_string(),
        }
    }

    /// Shorthand for [`Error::Encode`].
    pub fn encode(what: &'static str) -> impl FnOnce(der::Error) -> Self {
        move |source| Error::Encode { what, source }
    }

    /// Shorthand for [`Error::StoreBackend`] from an SQLite error (crate-private: rusqlite
    /// types stay out of the public API).
    pub(crate) fn store(context: &'static str) -> impl FnOnce(rusqlite::Error) -> Self {
        move |source| Error::StoreBackend {
            context,
            detail: source.to_string(),
        }
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
