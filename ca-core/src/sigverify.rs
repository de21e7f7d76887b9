//! Signature verification over a SubjectPublicKeyInfo (CSR proof of possession, certificate and
//! CRL signatures in path validation, OCSP responses).
//!
//! Supported: RSA PKCS#1 v1.5 with SHA-1/256/384/512 (RFC 4055 §5; SHA-1 only for verifying
//! legacy material), RSASSA-PSS with SHA-256/384/512, MGF1 with the same hash and salt length
//! equal to the hash length (RFC 4055 §3.1), ECDSA with SHA-256/384 on P-256/P-384 (RFC 5758
//! §3.2), and Ed25519 (RFC 8410).

use const_oid::ObjectIdentifier;
use const_oid::db::{rfc5912, rfc8410};
use der::{Decode, Tagged};
use ring::signature as rsig;
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

/// Why a signature did not verify.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The signature algorithm is one we do not verify.
    #[error("unsupported signature algorithm {0}")]
    UnsupportedAlgorithm(ObjectIdentifier),
    /// The signature algorithm does not fit the key (e.g. ECDSA with an RSA key).
    #[error("signature algorithm {alg} does not match the {key} key")]
    AlgorithmKeyMismatch {
        /// The signature algorithm.
        alg: ObjectIdentifier,
        /// The key algorithm.
        key: ObjectIdentifier,
    },
    /// Algorithm parameters that RFC 4055/5758 do not allow.
    #[error("bad signature algorithm parameters: {0}")]
    BadParameters(&'static str),
    /// The public key is malformed.
    #[error("malformed public key")]
    BadKey,
    /// The signature is wrong.
    #[error("signature mismatch")]
    Mismatch,
}

/// Verifies `signature` over `message` with the key in `spki` using `algorithm`.
pub fn verify_signature(
    spki: &SubjectPublicKeyInfoOwned,
    algorithm: &AlgorithmIdentifierOwned,
    message: &[u8],
    signature: &[u8],
) -> Result<(), SignatureError> {
    let key_oid = spki.algorithm.oid;
    let key_bytes = spki
        .subject_public_key
        .as_bytes()
        .ok_or(SignatureError::BadKey)?;
    let alg = algorithm.oid;
    let mismatch = || SignatureError::AlgorithmKeyMismatch { alg, key: key_oid };
    let params: &'static dyn rsig::VerificationAlgorithm = if key_oid == rfc5912::RSA_ENCRYPTION {
        if alg == rfc5912::ID_RSASSA_PSS {
            pss_params(algorithm)?
        } else {
            // RFC 4055 §5: the parameters MUST be NULL; many encoders omit them, which we accept.
            if let Some(p) = &algorithm.parameters
                && p.tag() != der::Tag::Null
            {
                return Err(SignatureError::BadParameters(
                    "RSA PKCS#1 v1.5 parameters must be NULL",
                ));
            }
            match alg {
                a if a == rfc5912::SHA_256_WITH_RSA_ENCRYPTION => &rsig::RSA_PKCS1_2048_8192_SHA256,
                a if a == rfc5912::SHA_384_WITH_RSA_ENCRYPTION => &rsig::RSA_PKCS1_2048_8192_SHA384,
                a if a == rfc5912::SHA_512_WITH_RSA_ENCRYPTION => &rsig::RSA_PKCS1_2048_8192_SHA512,
                a if a == rfc5912::SHA_1_WITH_RSA_ENCRYPTION => {
                    &rsig::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY
                }
                a if is_ecdsa(a) => return Err(mismatch()),
                _ => return Err(SignatureError::UnsupportedAlgorithm(alg)),
            }
        }
    } else if key_oid == rfc5912::ID_EC_PUBLIC_KEY {
        if algorithm.parameters.is_some() {
            // RFC 5758 §3.2: the parameters field MUST be absent.
            return Err(SignatureError::BadParameters(
                "ECDSA parameters must be absent",
            ));
        }
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
            .ok_or(SignatureError::BadKey)?;
        let p256 = curve == rfc5912::SECP_256_R_1;
        let p384 = curve == rfc5912::SECP_384_R_1;
        match alg {
            a if a == rfc5912::ECDSA_WITH_SHA_256 && p256 => &rsig::ECDSA_P256_SHA256_ASN1,
            a if a == rfc5912::ECDSA_WITH_SHA_384 && p256 => &rsig::ECDSA_P256_SHA384_ASN1,
            a if a == rfc5912::ECDSA_WITH_SHA_256 && p384 => &rsig::ECDSA_P384_SHA256_ASN1,
            a if a == rfc5912::ECDSA_WITH_SHA_384 && p384 => &rsig::ECDSA_P384_SHA384_ASN1,
            a if is_ecdsa(a) => return Err(SignatureError::UnsupportedAlgorithm(alg)),
            _ => return Err(mismatch()),
        }
    } else if key_oid == rfc8410::ID_ED_25519 {
        if alg != rfc8410::ID_ED_25519 {
            return Err(mismatch());
        }
        &rsig::ED25519
    } else {
        return Err(SignatureError::UnsupportedAlgorithm(key_oid));
    };
    rsig::UnparsedPublicKey::new(params, key_bytes)
        .verify(message, signature)
        .map_err(|_| SignatureError::Mismatch)
}

fn is_ecdsa(oid: ObjectIdentifier) -> bool {
    [
        rfc5912::ECDSA_WITH_SHA_224,
        rfc5912::ECDSA_WITH_SHA_256,
        rfc5912::ECDSA_WITH_SHA_384,
        rfc5912::ECDSA_WITH_SHA_512,
    ]
    .contains(&oid)
}

/// RSASSA-PSS-params (RFC 4055 §3.1); only the hash / MGF1-same-hash / salt = hash length
/// combinations that ring verifies are accepted.
fn pss_params(
    algorithm: &AlgorithmIdentifierOwned,
) -> Result<&'static dyn rsig::VerificationAlgorithm, SignatureError> {
    #[derive(der::Sequence)]
    struct PssParams {
        #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
        hash: Option<AlgorithmIdentifierOwned>,
        #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
        mask_gen: Option<AlgorithmIdentifierOwned>,
        #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
        salt_length: Option<u32>,
        #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
        trailer_field: Option<u32>,
    }
    let bad = SignatureError::BadParameters;
    let any = algorithm
        .parameters
        .as_ref()
        .ok_or(bad("RSASSA-PSS without parameters"))?;
    let der_bytes = der::Encode::to_der(any).map_err(|_| bad("RSASSA-PSS parameters"))?;
    let p = PssParams::from_der(&der_bytes).map_err(|_| bad("malformed RSASSA-PSS parameters"))?;
    // Default hash is SHA-1, which ring does not verify with PSS.
    let hash = p
        .hash
        .map(|h| h.oid)
        .ok_or(bad("RSASSA-PSS with SHA-1 is not supported"))?;
    let mgf = p
        .mask_gen
        .ok_or(bad("RSASSA-PSS with MGF1-SHA-1 is not supported"))?;
    if mgf.oid != rfc5912::ID_MGF_1 {
        return Err(bad("RSASSA-PSS mask generation is not MGF1"));
    }
    let mgf_hash = mgf
        .parameters
        .as_ref()
        .and_then(|a| a.decode_as::<AlgorithmIdentifierOwned>().ok())
        .map(|a| a.oid)
        .ok_or(bad("MGF1 without hash"))?;
    if mgf_hash != hash {
        return Err(bad("MGF1 hash differs from the message hash"));
    }
    if p.trailer_field.unwrap_or(1) != 1 {
        return Err(bad("RSASSA-PSS trailer field must be 1"));
    }
    let salt = p.salt_length.unwrap_or(20);
    match (hash, salt) {
        (h, 32) if h == rfc5912::ID_SHA_256 => Ok(&rsig::RSA_PSS_2048_8192_SHA256),
        (h, 48) if h == rfc5912::ID_SHA_384 => Ok(&rsig::RSA_PSS_2048_8192_SHA384),
        (h, 64) if h == rfc5912::ID_SHA_512 => Ok(&rsig::RSA_PSS_2048_8192_SHA512),
        _ => Err(bad("RSASSA-PSS hash/salt combination not supported")),
    }
}
