//! CMS SignedData (RFC 5652) and RFC 3161 time-stamp tokens: parsing ([`parse`]), checking a
//! signature and its attributes ([`signer`]), verifying a signature end to end with path
//! validation and revocation at the signature's time ([`verify()`]), building SignedData
//! ([`build`]), the time-stamp protocol's client side ([`tsp`]), and sanitisation receipts
//! ([`receipt`]).
//!
//! Encoding and decoding are the project's own (a strict DER reader in `tlv`, the writer in
//! `derw`): the `cms` and `x509-tsp` crates are on another `der` line.

pub mod build;
pub mod parse;
pub mod receipt;
pub mod signer;
mod tlv;
pub mod tsp;
mod verify;

pub use build::{SignRequest, add_unsigned_attribute, sign, sign_detached};
pub use parse::{SignedData, SignerInfo, parse, parse_input};
pub use receipt::{RECEIPT_CONTENT_TYPE, Receipt};
pub use signer::Digest;
pub use verify::{
    CLOCK_SKEW, Report, TimestampReport, VerifyOptions, check_tsa_eku, verify, verify_parsed,
};

/// Object identifiers of RFC 5652, RFC 3161 and RFC 5035.
pub mod oids {
    use const_oid::ObjectIdentifier;

    /// id-data (RFC 5652 §4).
    pub const DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
    /// id-signedData (RFC 5652 §5.1).
    pub const SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
    /// id-contentType (RFC 5652 §11.1).
    pub const CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
    /// id-messageDigest (RFC 5652 §11.2).
    pub const MESSAGE_DIGEST: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
    /// id-signingTime (RFC 5652 §11.3).
    pub const SIGNING_TIME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.5");
    /// id-aa-signingCertificate (RFC 2634 §5.4).
    pub const SIGNING_CERTIFICATE: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.12");
    /// id-aa-signingCertificateV2 (RFC 5035 §3).
    pub const SIGNING_CERTIFICATE_V2: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");
    /// id-aa-signatureTimeStampToken (RFC 3161 Appendix A).
    pub const SIGNATURE_TIME_STAMP_TOKEN: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.14");
    /// id-ct-TSTInfo (RFC 3161 §2.4.2).
    pub const TST_INFO: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
}
