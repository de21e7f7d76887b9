//! CA signing keys: algorithms, the [`KeyBackend`] and [`CaSigner`] seams, and the software
//! backend (encrypted PKCS#8 files).
//!
//! Everything a CA signs (certificates, CRLs, OCSP responses) goes through a [`CaSigner`], so the
//! same issuance code runs on software keys and on HSM keys (the PKCS#11 backend implements the
//! same traits).

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use const_oid::ObjectIdentifier;
use const_oid::db::rfc5912;
use der::asn1::{AnyRef, BitString};
use der::{Decode, Encode};
use pkcs8::EncodePrivateKey;
use ring::rand::SystemRandom;
use ring::signature::{self as rsig, KeyPair};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// A key algorithm a CA key or a subscriber key may have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum KeyAlgorithm {
    /// ECDSA on NIST P-256 (secp256r1).
    #[serde(rename = "ecdsa-p256")]
    EcdsaP256,
    /// ECDSA on NIST P-384 (secp384r1).
    #[serde(rename = "ecdsa-p384")]
    EcdsaP384,
    /// RSA with a 2048-bit modulus.
    #[serde(rename = "rsa-2048")]
    Rsa2048,
    /// RSA with a 3072-bit modulus.
    #[serde(rename = "rsa-3072")]
    Rsa3072,
    /// RSA with a 4096-bit modulus.
    #[serde(rename = "rsa-4096")]
    Rsa4096,
}

impl KeyAlgorithm {
    /// Every algorithm, in the order the CLI lists them.
    pub const ALL: [KeyAlgorithm; 5] = [
        KeyAlgorithm::EcdsaP256,
        KeyAlgorithm::EcdsaP384,
        KeyAlgorithm::Rsa2048,
        KeyAlgorithm::Rsa3072,
        KeyAlgorithm::Rsa4096,
    ];

    /// The CLI name (`ecdsa-p256`, `rsa-2048`, …).
    pub fn name(self) -> &'static str {
        match self {
            KeyAlgorithm::EcdsaP256 => "ecdsa-p256",
            KeyAlgorithm::EcdsaP384 => "ecdsa-p384",
            KeyAlgorithm::Rsa2048 => "rsa-2048",
            KeyAlgorithm::Rsa3072 => "rsa-3072",
            KeyAlgorithm::Rsa4096 => "rsa-4096",
        }
    }

    /// Whether this is an RSA algorithm.
    pub fn is_rsa(self) -> bool {
        matches!(
            self,
            KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096
        )
    }

    /// RSA modulus size in bits, or the EC field size.
    pub fn bits(self) -> usize {
        match self {
            KeyAlgorithm::EcdsaP256 => 256,
            KeyAlgorithm::EcdsaP384 => 384,
            KeyAlgorithm::Rsa2048 => 2048,
            KeyAlgorithm::Rsa3072 => 3072,
            KeyAlgorithm::Rsa4096 => 4096,
        }
    }

    /// The signature algorithm a CA with this key signs with: SHA-256 for P-256 and RSA-2048,
    /// SHA-384 for P-384 and the larger RSA keys (matching hash strength to key strength).
    pub fn signature_algorithm(self) -> SignatureAlgorithm {
        match self {
            KeyAlgorithm::EcdsaP256 => SignatureAlgorithm::EcdsaSha256,
            KeyAlgorithm::EcdsaP384 => SignatureAlgorithm::EcdsaSha384,
            KeyAlgorithm::Rsa2048 => SignatureAlgorithm::RsaPkcs1Sha256,
            KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => SignatureAlgorithm::RsaPkcs1Sha384,
        }
    }

    /// The algorithm of a SubjectPublicKeyInfo, if it is one we know (RSA of another size is
    /// reported by [`PublicKeyInfo`] instead).
    pub fn of_spki(spki: &SubjectPublicKeyInfoOwned) -> Option<KeyAlgorithm> {
        PublicKeyInfo::of(spki).ok()?.algorithm
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for KeyAlgorithm {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        KeyAlgorithm::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| Error::InvalidArgument {
                name: "--key-alg",
                value: s.to_string(),
                reason: "expected one of ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096"
                    .into(),
            })
    }
}

/// What a subject public key is: its family, size and (when it is one of ours) algorithm.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKeyInfo {
    /// `true` for RSA, `false` for EC.
    pub is_rsa: bool,
    /// RSA modulus bits or EC curve size.
    pub bits: usize,
    /// The matching [`KeyAlgorithm`], if any.
    pub algorithm: Option<KeyAlgorithm>,
    /// For EC keys, the curve OID.
    pub curve: Option<ObjectIdentifier>,
}

impl PublicKeyInfo {
    /// Reads the algorithm and size of a SubjectPublicKeyInfo (RFC 5480 for EC, RFC 3279 §2.3.1
    /// for RSA).
    pub fn of(spki: &SubjectPublicKeyInfoOwned) -> Result<PublicKeyInfo> {
        let alg = &spki.algorithm;
        if alg.oid == rfc5912::RSA_ENCRYPTION {
            let key = spki
                .subject_public_key
                .as_bytes()
                .ok_or_else(|| Error::malformed("RSA public key", "BIT STRING has unused bits"))?;
            let rsa_key = RsaPublicKeyDer::from_der(key)
                .map_err(|e| Error::malformed("RSA public key", e))?;
            let n = rsa_key.modulus.as_bytes();
            let bits = n.len() * 8 - n.first().map_or(8, |b| b.leading_zeros() as usize);
            let algorithm = match bits {
                2048 => Some(KeyAlgorithm::Rsa2048),
                3072 => Some(KeyAlgorithm::Rsa3072),
                4096 => Some(KeyAlgorithm::Rsa4096),
                _ => None,
            };
            Ok(PublicKeyInfo {
                is_rsa: true,
                bits,
                algorithm,
                curve: None,
            })
        } else if alg.oid == rfc5912::ID_EC_PUBLIC_KEY {
            let curve = alg
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
                .ok_or_else(|| {
                    Error::malformed("EC public key", "parameters are not a named curve OID")
                })?;
            let (bits, algorithm) = if curve == rfc5912::SECP_256_R_1 {
                (256, Some(KeyAlgorithm::EcdsaP256))
            } else if curve == rfc5912::SECP_384_R_1 {
                (384, Some(KeyAlgorithm::EcdsaP384))
            } else if curve == rfc5912::SECP_521_R_1 {
                (521, None)
            } else {
                (0, None)
            };
            Ok(PublicKeyInfo {
                is_rsa: false,
                bits,
                algorithm,
                curve: Some(curve),
            })
        } else {
            Err(Error::malformed(
                "public key",
                format!("unsupported key algorithm {}", alg.oid),
            ))
        }
    }
}

/// RSAPublicKey (RFC 8017 A.1.1).
#[derive(der::Sequence)]
struct RsaPublicKeyDer<'a> {
    modulus: der::asn1::UintRef<'a>,
    #[allow(dead_code)]
    public_exponent: der::asn1::UintRef<'a>,
}

/// A signature algorithm a CA signs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SignatureAlgorithm {
    /// ecdsa-with-SHA256 (RFC 5758 §3.2).
    EcdsaSha256,
    /// ecdsa-with-SHA384 (RFC 5758 §3.2).
    EcdsaSha384,
    /// sha256WithRSAEncryption (RFC 4055 §5).
    RsaPkcs1Sha256,
    /// sha384WithRSAEncryption (RFC 4055 §5).
    RsaPkcs1Sha384,
    /// sha512WithRSAEncryption (RFC 4055 §5).
    RsaPkcs1Sha512,
}

impl SignatureAlgorithm {
    /// The algorithm's OID.
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            SignatureAlgorithm::EcdsaSha256 => rfc5912::ECDSA_WITH_SHA_256,
            SignatureAlgorithm::EcdsaSha384 => rfc5912::ECDSA_WITH_SHA_384,
            SignatureAlgorithm::RsaPkcs1Sha256 => rfc5912::SHA_256_WITH_RSA_ENCRYPTION,
            SignatureAlgorithm::RsaPkcs1Sha384 => rfc5912::SHA_384_WITH_RSA_ENCRYPTION,
            SignatureAlgorithm::RsaPkcs1Sha512 => rfc5912::SHA_512_WITH_RSA_ENCRYPTION,
        }
    }

    /// The AlgorithmIdentifier: NULL parameters for RSA (RFC 4055 §5), absent for ECDSA
    /// (RFC 5758 §3.2).
    pub fn algorithm_identifier(self) -> AlgorithmIdentifierOwned {
        let parameters = match self {
            SignatureAlgorithm::EcdsaSha256 | SignatureAlgorithm::EcdsaSha384 => None,
            _ => Some(AnyRef::NULL.into()),
        };
        AlgorithmIdentifierOwned {
            oid: self.oid(),
            parameters,
        }
    }

    /// A short name for logs and JSON.
    pub fn name(self) -> &'static str {
        match self {
            SignatureAlgorithm::EcdsaSha256 => "ecdsa-with-SHA256",
            SignatureAlgorithm::EcdsaSha384 => "ecdsa-with-SHA384",
            SignatureAlgorithm::RsaPkcs1Sha256 => "sha256WithRSAEncryption",
            SignatureAlgorithm::RsaPkcs1Sha384 => "sha384WithRSAEncryption",
            SignatureAlgorithm::RsaPkcs1Sha512 => "sha512WithRSAEncryption",
        }
    }
}

/// A CA's private key, ready to sign. Implementations: software (ring) and PKCS#11.
pub trait CaSigner: Send + Sync + fmt::Debug {
    /// The signature algorithm this signer produces; it goes into the TBS, so the two cannot
    /// disagree.
    fn algorithm(&self) -> SignatureAlgorithm;
    /// The public key as a DER SubjectPublicKeyInfo.
    fn public_key_der(&self) -> &[u8];
    /// Signs `message` and returns the signature as it goes into an X.509 BIT STRING (DER
    /// ECDSA-Sig-Value for ECDSA, the raw value for RSA).
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>>;
}

/// Where a CA key lives: `soft:FILE` (relative to the home) or an RFC 7512 `pkcs11:` URI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRef(pub String);

impl KeyRef {
    /// `soft` or the PKCS#11 URI without its query (no PIN source or module path), as `ca list`
    /// shows it.
    pub fn location(&self) -> String {
        if self.0.starts_with("soft:") {
            "soft".to_string()
        } else {
            self.0.split('?').next().unwrap_or_default().to_string()
        }
    }
}

/// A place that makes and keeps CA keys.
pub trait KeyBackend: Send + Sync + fmt::Debug {
    /// Generates a new key named `label` and returns where it is.
    fn generate(&self, algorithm: KeyAlgorithm, label: &str) -> Result<KeyRef>;
    /// Loads a key for signing.
    fn load(&self, key: &KeyRef) -> Result<Arc<dyn CaSigner>>;
    /// Removes the key named `label` that [`KeyBackend::generate`] made (or began to make)
    /// and that nothing uses (a CA renewal that stopped before switching to it). Succeeds
    /// when there is no such key.
    fn discard(&self, label: &str) -> Result<()> {
        Err(Error::key(label, "this key backend cannot remove keys"))
    }
}

/// Software keys: PKCS#8 files encrypted with PBES2 (scrypt, AES-256-CBC; RFC 8018 §6.2),
/// mode 0600, under `DIR`.
pub struct SoftwareBackend {
    home: PathBuf,
    passphrase: Zeroizing<String>,
}

impl fmt::Debug for SoftwareBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SoftwareBackend")
            .field("home", &self.home)
            .finish_non_exhaustive()
    }
}

impl SoftwareBackend {
    /// A backend keeping key files under `home/keys/`, encrypted with `passphrase`.
    pub fn new(home: &Path, passphrase: Zeroizing<String>) -> SoftwareBackend {
        SoftwareBackend {
            home: home.to_path_buf(),
            passphrase,
        }
    }

    fn path_of(&self, key: &KeyRef) -> Result<PathBuf> {
        let rel = key
            .0
            .strip_prefix("soft:")
            .ok_or_else(|| Error::key(&key.0, "not a software key reference"))?;
        if rel.contains("..") || rel.starts_with('/') {
            return Err(Error::key(&key.0, "key path leaves the home directory"));
        }
        Ok(self.home.join(rel))
    }
}

impl KeyBackend for SoftwareBackend {
    fn generate(&self, algorithm: KeyAlgorithm, label: &str) -> Result<KeyRef> {
        if label.is_empty()
            || !label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(Error::key(
                label,
                "key labels are ASCII letters, digits, '-' and '_'",
            ));
        }
        let pkcs8 = generate_pkcs8(algorithm)?;
        let info = pkcs8::PrivateKeyInfoRef::try_from(pkcs8.as_slice())
            .map_err(|e| Error::key(label, e))?;
        let encrypted = info
            .encrypt(self.passphrase.as_bytes())
            .map_err(|e| Error::key(label, format!("encrypting: {e}")))?;
        let key = KeyRef(format!("soft:keys/{label}.p8"));
        let path = self.path_of(&key)?;
        if let Some(dir) = path.parent() {
            crate::fsutil::create_private_dir(dir)?;
        }
        crate::fsutil::write_private_file(&path, encrypted.as_bytes(), true)?;
        Ok(key)
    }

    fn discard(&self, label: &str) -> Result<()> {
        let path = self.path_of(&KeyRef(format!("soft:keys/{label}.p8")))?;
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(Error::Io { path, source }),
        }
    }

    fn load(&self, key: &KeyRef) -> Result<Arc<dyn CaSigner>> {
        let path = self.path_of(key)?;
        let der = std::fs::read(&path).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        let encrypted = pkcs8::EncryptedPrivateKeyInfoRef::try_from(der.as_slice())
            .map_err(|e| Error::key(&key.0, format!("not an encrypted PKCS#8 key: {e}")))?;
        let plain = encrypted
            .decrypt(self.passphrase.as_bytes())
            .map_err(|_| Error::key(&key.0, "cannot decrypt (wrong passphrase?)"))?;
        Ok(Arc::new(SoftwareSigner::from_pkcs8(
            plain.as_bytes(),
            &key.0,
        )?))
    }
}

/// Generates a key pair as unencrypted PKCS#8 DER (zeroised on drop).
pub fn generate_pkcs8(algorithm: KeyAlgorithm) -> Result<Zeroizing<Vec<u8>>> {
    let rng = SystemRandom::new();
    match algorithm {
        KeyAlgorithm::EcdsaP256 | KeyAlgorithm::EcdsaP384 => {
            let alg = ecdsa_signing_alg(algorithm);
            let doc = rsig::EcdsaKeyPair::generate_pkcs8(alg, &rng)
                .map_err(|_| Error::key(algorithm.name(), "ECDSA key generation failed"))?;
            Ok(Zeroizing::new(doc.as_ref().to_vec()))
        }
        _ => {
            let mut rng = pkcs8::rand_core::UnwrapErr(getrandom::SysRng);
            let key = rsa::RsaPrivateKey::new(&mut rng, algorithm.bits())
                .map_err(|e| Error::key(algorithm.name(), format!("RSA key generation: {e}")))?;
            let doc = key
                .to_pkcs8_der()
                .map_err(|e| Error::key(algorithm.name(), format!("RSA key encoding: {e}")))?;
            Ok(Zeroizing::new(doc.as_bytes().to_vec()))
        }
    }
}

fn ecdsa_signing_alg(algorithm: KeyAlgorithm) -> &'static rsig::EcdsaSigningAlgorithm {
    if algorithm == KeyAlgorithm::EcdsaP384 {
        &rsig::ECDSA_P384_SHA384_ASN1_SIGNING
    } else {
        &rsig::ECDSA_P256_SHA256_ASN1_SIGNING
    }
}

enum SoftKey {
    Ecdsa(rsig::EcdsaKeyPair),
    Rsa(rsig::RsaKeyPair),
}

/// A [`CaSigner`] over a private key held in process memory (ring).
pub struct SoftwareSigner {
    key: SoftKey,
    algorithm: SignatureAlgorithm,
    spki_der: Vec<u8>,
    rng: SystemRandom,
}

impl fmt::Debug for SoftwareSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SoftwareSigner")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl SoftwareSigner {
    /// Loads an unencrypted PKCS#8 private key (EC P-256/P-384 or RSA ≥ 2048 bits).
    /// `name` is used in error messages only.
    pub fn from_pkcs8(pkcs8_der: &[u8], name: &str) -> Result<SoftwareSigner> {
        let info = pkcs8::PrivateKeyInfoRef::try_from(pkcs8_der)
            .map_err(|e| Error::key(name, format!("not a PKCS#8 key: {e}")))?;
        let rng = SystemRandom::new();
        let oid = info.algorithm.oid;
        if oid == rfc5912::ID_EC_PUBLIC_KEY {
            let curve = info
                .algorithm
                .parameters_oid()
                .map_err(|e| Error::key(name, format!("EC key without named curve: {e}")))?;
            let key_alg = if curve == rfc5912::SECP_256_R_1 {
                KeyAlgorithm::EcdsaP256
            } else if curve == rfc5912::SECP_384_R_1 {
                KeyAlgorithm::EcdsaP384
            } else {
                return Err(Error::key(name, format!("unsupported curve {curve}")));
            };
            let pair = rsig::EcdsaKeyPair::from_pkcs8(ecdsa_signing_alg(key_alg), pkcs8_der, &rng)
                .map_err(|e| Error::key(name, format!("EC key rejected: {e}")))?;
            let spki_der = ec_spki_der(curve, pair.public_key().as_ref())?;
            Ok(SoftwareSigner {
                key: SoftKey::Ecdsa(pair),
                algorithm: key_alg.signature_algorithm(),
                spki_der,
                rng,
            })
        } else if oid == rfc5912::RSA_ENCRYPTION {
            let pair = rsig::RsaKeyPair::from_pkcs8(pkcs8_der)
                .map_err(|e| Error::key(name, format!("RSA key rejected: {e}")))?;
            let spki_der = rsa_spki_der(pair.public().as_ref())?;
            let bits = pair.public().modulus_len() * 8;
            let algorithm = if bits >= 3072 {
                SignatureAlgorithm::RsaPkcs1Sha384
            } else {
                SignatureAlgorithm::RsaPkcs1Sha256
            };
            Ok(SoftwareSigner {
                key: SoftKey::Rsa(pair),
                algorithm,
                spki_der,
                rng,
            })
        } else {
            Err(Error::key(name, format!("unsupported key algorithm {oid}")))
        }
    }
}

impl CaSigner for SoftwareSigner {
    fn algorithm(&self) -> SignatureAlgorithm {
        self.algorithm
    }

    fn public_key_der(&self) -> &[u8] {
        &self.spki_der
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        match &self.key {
            SoftKey::Ecdsa(pair) => pair
                .sign(&self.rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| Error::key("software", "ECDSA signing failed")),
            SoftKey::Rsa(pair) => {
                let padding: &dyn rsig::RsaEncoding = match self.algorithm {
                    SignatureAlgorithm::RsaPkcs1Sha384 => &rsig::RSA_PKCS1_SHA384,
                    SignatureAlgorithm::RsaPkcs1Sha512 => &rsig::RSA_PKCS1_SHA512,
                    _ => &rsig::RSA_PKCS1_SHA256,
                };
                let mut sig = vec![0; pair.public().modulus_len()];
                pair.sign(padding, &self.rng, message, &mut sig)
                    .map_err(|_| Error::key("software", "RSA signing failed"))?;
                Ok(sig)
            }
        }
    }
}

/// DER SubjectPublicKeyInfo for an EC point (RFC 5480 §2).
pub fn ec_spki_der(curve: ObjectIdentifier, point: &[u8]) -> Result<Vec<u8>> {
    let spki = SubjectPublicKeyInfoOwned {
        algorithm: AlgorithmIdentifierOwned {
            oid: rfc5912::ID_EC_PUBLIC_KEY,
            parameters: Some(der::Any::from(&curve)),
        },
        subject_public_key: BitString::from_bytes(point).map_err(Error::encode("EC point"))?,
    };
    spki.to_der()
        .map_err(Error::encode("EC SubjectPublicKeyInfo"))
}

/// DER SubjectPublicKeyInfo for an RSAPublicKey (RFC 3279 §2.3.1).
pub fn rsa_spki_der(rsa_public_key_der: &[u8]) -> Result<Vec<u8>> {
    let spki = SubjectPublicKeyInfoOwned {
        algorithm: AlgorithmIdentifierOwned {
            oid: rfc5912::RSA_ENCRYPTION,
            parameters: Some(AnyRef::NULL.into()),
        },
        subject_public_key: BitString::from_bytes(rsa_public_key_der)
            .map_err(Error::encode("RSA public key"))?,
    };
    spki.to_der()
        .map_err(Error::encode("RSA SubjectPublicKeyInfo"))
}

/// Parses a DER SubjectPublicKeyInfo.
pub fn parse_spki(der_bytes: &[u8]) -> Result<SubjectPublicKeyInfoOwned> {
    SubjectPublicKeyInfoOwned::from_der(der_bytes).map_err(|e| Error::malformed("public key", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn software_keys_round_trip_encrypted_and_sign_verifiably() {
        let dir = tempfile::tempdir().expect("tempdir");
        let backend = SoftwareBackend::new(dir.path(), Zeroizing::new("pass".into()));
        for alg in [
            KeyAlgorithm::EcdsaP256,
            KeyAlgorithm::EcdsaP384,
            KeyAlgorithm::Rsa2048,
        ] {
            let key = backend.generate(alg, alg.name()).expect("generate");
            let signer = backend.load(&key).expect("load");
            assert_eq!(signer.algorithm(), alg.signature_algorithm());
            let spki = parse_spki(signer.public_key_der()).expect("spki");
            assert_eq!(KeyAlgorithm::of_spki(&spki), Some(alg));
            let sig = signer.sign(b"message").expect("sign");
            crate::sigverify::verify_signature(
                &spki,
                &alg.signature_algorithm().algorithm_identifier(),
                b"message",
                &sig,
            )
            .expect("signature verifies");
            assert!(
                crate::sigverify::verify_signature(
                    &spki,
                    &alg.signature_algorithm().algorithm_identifier(),
                    b"messagf",
                    &sig,
                )
                .is_err()
            );
            let file =
                std::fs::read(dir.path().join(format!("keys/{}.p8", alg.name()))).expect("file");
            // The file is an encrypted PKCS#8 document, not the plain key.
            assert!(pkcs8::EncryptedPrivateKeyInfoRef::try_from(file.as_slice()).is_ok());
        }
        let wrong = SoftwareBackend::new(dir.path(), Zeroizing::new("other".into()));
        let err = wrong
            .load(&KeyRef("soft:keys/ecdsa-p256.p8".into()))
            .expect_err("wrong pass");
        assert!(err.to_string().contains("wrong passphrase"), "{err}");
    }
}
