//! `ca-core`: the LGPKI certificate authority library.
//!
//! Profiles and policy OIDs are data (`policies/`); this crate applies them. Issuance follows a
//! lint → record → sign → record cycle; keys sit behind [`KeyBackend`]/[`CaSigner`] so software
//! and PKCS#11 keys sign the same way. [`validate_path`] builds and validates certification
//! paths (RFC 5280 §6, with CRL revocation checking).
#![deny(missing_docs)]

mod error;
mod fsutil;
mod key;
pub mod sigverify;
mod verify;

pub use error::{Error, ErrorClass, LintFinding, Result};
pub use fsutil::{create_private_dir, write_atomic, write_private_file};
pub use key::{
    CaSigner, KeyAlgorithm, KeyBackend, KeyRef, PublicKeyInfo, SignatureAlgorithm, SoftwareBackend,
    SoftwareSigner, ec_spki_der, generate_pkcs8, parse_spki, rsa_spki_der,
};
pub use verify::{
    Budget, DEFAULT_MAX_INTERMEDIATES, PathError, Purpose, ValidatedPath, ValidationOptions,
    validate_path,
};
