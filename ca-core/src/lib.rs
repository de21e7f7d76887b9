//! `ca-core`: the LGPKI certificate authority library.
//!
//! Profiles and policy OIDs are data (`policies/`); this crate applies them. Issuance follows a
//! check → lint → record → sign → record cycle; keys sit behind [`KeyBackend`]/[`CaSigner`] so
//! software and PKCS#11 keys sign the same way.
//!
//! | module | job |
//! |---|---|
//! | `profile` | profiles, policy OIDs and the default hierarchy from `policies/` |
//! | `key` | key algorithms, the key-backend seam, software keys |
//! | `csr` | PKCS#10 parsing and proof of possession |
//! | `name`, `san` | subject names and subjectAltNames |
//! | `build` | TBSCertificate and extension encoding |
//! | `lint` | RFC 5280 checks on the TBS before signing |
//! | `store` | the durable store (SQLite) |
//! | `authority` | the CA hierarchy: init, sub-CAs, loading keys |
//! | `issue` | the issuance pipeline, single and batch |
//! | `verify` | RFC 5280 §6 path building and validation with CRLs ([`validate_path`]) |
//! | `fetch`, `revocation` | CRL/OCSP fetching with limits; per-certificate revocation status of a path |
//! | `cms` | CMS SignedData and RFC 3161 tokens: parse, verify at the signature's time, sign; sanitisation receipts |
//! | `publish`, `repository` | signed publication releases; RFC 4523 directory entries |
//! | `signed_data` | CMS SignedData (RFC 5652) with one signer: VA answers, time-stamp tokens |
//! | `tsp`, `tsp_log` | RFC 3161 time-stamping: requests, tokens, the record of issued serials |
//! | `dist` | the CRL and ARL URLs of each CA key generation ([`dist::ListPoint`]) |
//! | `config` | `HOME/lgpki.toml`: freshness of CRLs, ARLs and OCSP answers, base URL ([`Settings`]) |
#![deny(missing_docs)]

mod audit_seal;
mod authority;
pub mod build;
mod clock;
pub mod cms;
pub mod config;
pub mod crl;
mod cross;
mod csr;
mod derw;
pub mod dist;
mod error;
pub mod fetch;
mod fsutil;
pub mod input;
mod issue;
mod key;
pub mod lint;
mod name;
pub mod ocsp;
mod oid;
mod org_names;
mod pkcs11;
mod profile;
pub mod publish;
mod ra;
mod renew;
pub mod repository;
pub mod revocation;
mod revoke;
mod san;
mod serial;
mod serve_lock;
pub mod signed_data;
pub mod sigverify;
mod store;
pub mod tsp;
pub mod tsp_log;
mod verify;

pub use audit_seal::{AUDIT_KEY_LABEL, AuditBreak, AuditReport, CHECKPOINT_FILE};
pub use authority::{
    Authority, DEFAULT_BASE_URL, DefaultKeys, InitOptions, KeyResolver, LoadedCa, NewCa,
    PASSPHRASE_ENV, PASSPHRASE_FILE, PassphraseSource, loaded_ca, now_seconds,
};
pub use clock::{Clock, FixedClock, SystemClock, system_clock};
pub use config::{Freshness, Settings};
pub use cross::{ANY_POLICY, CrossCertRequest, parse_mapping};
pub use csr::{MAX_CSR_BYTES, ParsedCsr, VerifiedCsr, build_csr, parse_csr, verify_csr};
pub use error::{Error, ErrorClass, LintFinding, Result};
pub use fsutil::{create_private_dir, write_atomic, write_private_file};
pub use issue::{BATCH_CHUNK, IssuanceRequest, Issued, apply_subject_rules, rfc3339};
pub use key::{
    CaSigner, KeyAlgorithm, KeyBackend, KeyRef, PublicKeyInfo, SignatureAlgorithm, SoftwareBackend,
    SoftwareSigner, ec_spki_der, generate_pkcs8, parse_spki, rsa_spki_der,
};
pub use name::{AttrType, DistinguishedName, find_forbidden_char, forbidden_char, name_to_string};
pub use oid::Oid;
pub use org_names::{MIN_DOMAIN_LABELS, OrgName};
pub use pkcs11::{ObjectType, PIN_ENV, Pkcs11Backend, Pkcs11Signer, Pkcs11Uri};
pub use profile::{
    CaSpec, CrossSpec, ExtendedKeyUsage, KeyUsageBit, OCSP_RESPONDER_PROFILE, Policies, Profile,
    SanRules, SanType, SubjectRules,
};
pub use ra::{Actor, OrgCertQuery, RENEWAL_REQUEST_ID_PREFIX, check_org_code};
pub use renew::{LINK_PROFILE, MAX_CA_DAYS, PAUSE_ENV, RenewOptions, Renewed};
pub use revoke::{DELTA_CRL_VALIDITY, FULL_CRL_VALIDITY, Revocation, RevocationStatus, SignedCrl};
pub use san::SanEntry;
pub use serial::{SERIAL_LEN, Serial, parse_serial_hex, random_serial, serial_hex};
pub use serve_lock::{SERVE_LOCK_FILE, ServeLock, hold_for_serving};
pub use store::{
    AuditCheckpoint, AuditRecord, CaRecord, CertFilter, CertRecord, CertStatus, OfficerRecord,
    OrgRecord, PendingCert, RequestKind, RequestRecord, RequestState, RevocationRequest,
    RevokeOutcome, RevokedEntry, Role, SqliteStore, Store, StoredStatus, verify_chain,
};
pub use store::{
    AuditLog, CaStore, CertStore, MetaStore, Registration, RevocationStore, StatusReader,
};
pub use store::{CaGeneration, CaRenewal, PendingKey};
pub use store::{CrossDirection, CrossPair, CrossPairSide};
pub use store::{
    PgStore, STORE_FILE, StoreKind, open_status_reader, open_store, open_timestamp_store,
    record_store, recorded_store, redact_url, store_kind, transfer,
};
pub use store::{SERVE_CLIENT_NAME, moved::MOVED_TO, name_store_client};
pub use verify::{
    Budget, DEFAULT_MAX_INTERMEDIATES, PathError, Purpose, ValidatedPath, ValidationOptions,
    validate_path,
};
