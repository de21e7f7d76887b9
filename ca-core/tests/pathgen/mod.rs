//! Certificates made on the fly for path-building tests and the path-building benchmark
//! (`examples/cross_bag.rs`): ECDSA P-256 keys, any subject, issuer, key identifiers and
//! validity, so that bridges, cross-certificates, loops and decoys can be drawn at will.
#![allow(dead_code)]

use std::str::FromStr;
use std::time::Duration;

use ca_core::{CaSigner, KeyAlgorithm, SoftwareSigner, generate_pkcs8};
use const_oid::ObjectIdentifier;
use const_oid::db::rfc5280 as oids;
use der::asn1::{BitString, OctetString, UtcTime};
use der::{Decode, Encode, Sequence};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::certpolicy::PolicyInformation;
use x509_cert::ext::pkix::constraints::BasicConstraints;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, CertificatePolicies, KeyUsage, KeyUsages, SubjectKeyIdentifier,
};
use x509_cert::name::Name;

#[derive(Sequence)]
struct Validity {
    not_before: UtcTime,
    not_after: UtcTime,
}

#[derive(Sequence)]
struct Tbs {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    version: u8,
    serial: der::asn1::Uint,
    signature: AlgorithmIdentifierOwned,
    issuer: Name,
    validity: Validity,
    subject: Name,
    spki: SubjectPublicKeyInfoOwned,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT")]
    extensions: Vec<Extension>,
}

#[derive(Sequence)]
struct Cert {
    tbs: Tbs,
    alg: AlgorithmIdentifierOwned,
    sig: BitString,
}

/// A CA or subscriber: a name, a key and the key identifier its own issuers put in the SKI.
pub struct Entity {
    /// RFC 4514 subject.
    pub name: String,
    /// The signing key.
    pub signer: SoftwareSigner,
    /// Key identifier (20 bytes, derived from the key as RFC 5280 §4.2.1.2 method 1 would,
    /// but with SHA-256, like lgpki).
    pub key_id: Vec<u8>,
}

/// A new entity named `name` with a fresh P-256 key.
pub fn entity(name: &str) -> Entity {
    let pkcs8 = generate_pkcs8(KeyAlgorithm::EcdsaP256).expect("key generation");
    let signer = SoftwareSigner::from_pkcs8(&pkcs8, "test").expect("key");
    let key_id = ring::digest::digest(&ring::digest::SHA256, signer.public_key_der()).as_ref()
        [..20]
        .to_vec();
    Entity {
        name: name.to_owned(),
        signer,
        key_id,
    }
}

/// Another key identifier for the same key, as an issuer that hashes the key differently
/// (OpenSSL's SHA-1 of the whole SubjectPublicKeyInfo, say) would write it.
pub fn other_key_id(e: &Entity) -> Vec<u8> {
    ring::digest::digest(
        &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        e.signer.public_key_der(),
    )
    .as_ref()
    .to_vec()
}

fn ext<T: Encode>(oid: ObjectIdentifier, critical: bool, value: &T) -> Extension {
    Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(value.to_der().expect("encode")).expect("octets"),
    }
}

/// certificatePolicies with the given OIDs.
pub fn policies(list: &[ObjectIdentifier]) -> Extension {
    let cp = CertificatePolicies(
        list.iter()
            .map(|&p| PolicyInformation {
                policy_identifier: p,
                policy_qualifiers: None,
            })
            .collect(),
    );
    ext(oids::ID_CE_CERTIFICATE_POLICIES, false, &cp)
}

/// Default validity: 2020-09-13 to 2046-01-19 (seconds since the epoch).
pub const VALID: (u64, u64) = (1_600_000_000, 2_400_000_000);
/// A validation time inside [`VALID`].
pub const NOW: u64 = 2_000_000_000;

/// What one certificate says; [`Spec::sign`] makes it.
pub struct Spec<'a> {
    subject: &'a Entity,
    issuer: &'a Entity,
    serial: u64,
    ca: bool,
    validity: (u64, u64),
    ski: Option<Vec<u8>>,
    aki: Option<Vec<u8>>,
    aki_serial: Option<u64>,
    exts: Vec<Extension>,
}

/// A certificate for `subject` issued by `issuer` (a CA certificate unless
/// [`Spec::end_entity`]); SKI and AKI are the two entities' key ids.
pub fn issue<'a>(subject: &'a Entity, issuer: &'a Entity, serial: u64) -> Spec<'a> {
    Spec {
        subject,
        issuer,
        serial,
        ca: true,
        validity: VALID,
        ski: Some(subject.key_id.clone()),
        aki: Some(issuer.key_id.clone()),
        aki_serial: None,
        exts: Vec::new(),
    }
}

impl Spec<'_> {
    /// Not a CA: no basicConstraints cA, keyUsage digitalSignature.
    pub fn end_entity(mut self) -> Self {
        self.ca = false;
        self
    }

    /// Another validity period (seconds since the epoch).
    pub fn validity(mut self, not_before: u64, not_after: u64) -> Self {
        self.validity = (not_before, not_after);
        self
    }

    /// Another subjectKeyIdentifier.
    pub fn ski(mut self, ski: Vec<u8>) -> Self {
        self.ski = Some(ski);
        self
    }

    /// Another authorityKeyIdentifier keyIdentifier.
    pub fn aki(mut self, aki: Vec<u8>) -> Self {
        self.aki = Some(aki);
        self
    }

    /// authorityCertSerialNumber in the authorityKeyIdentifier.
    pub fn aki_serial(mut self, serial: u64) -> Self {
        self.aki_serial = Some(serial);
        self
    }

    /// An extra extension.
    pub fn ext(mut self, e: Extension) -> Self {
        self.exts.push(e);
        self
    }

    /// The DER certificate.
    pub fn sign(self) -> Vec<u8> {
        let mut exts = self.exts;
        if let Some(ski) = self.ski {
            exts.push(ext(
                oids::ID_CE_SUBJECT_KEY_IDENTIFIER,
                false,
                &SubjectKeyIdentifier(OctetString::new(ski).expect("id")),
            ));
        }
        if let Some(aki) = self.aki {
            exts.push(ext(
                oids::ID_CE_AUTHORITY_KEY_IDENTIFIER,
                false,
                &AuthorityKeyIdentifier {
                    key_identifier: Some(OctetString::new(aki).expect("id")),
                    authority_cert_issuer: None,
                    authority_cert_serial_number: self
                        .aki_serial
                        .map(x509_cert::serial_number::SerialNumber::from),
                },
            ));
        }
        if self.ca {
            exts.push(ext(
                oids::ID_CE_BASIC_CONSTRAINTS,
                true,
                &BasicConstraints {
                    ca: true,
                    path_len_constraint: None,
                },
            ));
            exts.push(ext(
                oids::ID_CE_KEY_USAGE,
                true,
                &KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign),
            ));
        } else {
            exts.push(ext(
                oids::ID_CE_KEY_USAGE,
                true,
                &KeyUsage(KeyUsages::DigitalSignature.into()),
            ));
        }
        let alg = self.issuer.signer.algorithm().algorithm_identifier();
        let time = |s: u64| UtcTime::from_unix_duration(Duration::from_secs(s)).expect("time");
        let mut serial = self.serial.to_be_bytes().to_vec();
        while serial.len() > 1 && serial[0] == 0 {
            serial.remove(0);
        }
        if serial[0] & 0x80 != 0 {
            serial.insert(0, 0);
        }
        let tbs = Tbs {
            version: 2,
            serial: der::asn1::Uint::new(&serial).expect("serial"),
            signature: alg.clone(),
            issuer: Name::from_str(&self.issuer.name).expect("issuer"),
            validity: Validity {
                not_before: time(self.validity.0),
                not_after: time(self.validity.1),
            },
            subject: Name::from_str(&self.subject.name).expect("subject"),
            spki: SubjectPublicKeyInfoOwned::from_der(self.subject.signer.public_key_der())
                .expect("spki"),
            extensions: exts,
        };
        let tbs_der = tbs.to_der().expect("tbs");
        let sig = self.issuer.signer.sign(&tbs_der).expect("sign");
        Cert {
            tbs,
            alg,
            sig: BitString::from_bytes(&sig).expect("bits"),
        }
        .to_der()
        .expect("cert")
    }
}

/// A self-signed CA certificate for `e`.
pub fn self_signed(e: &Entity, serial: u64) -> Vec<u8> {
    issue(e, e, serial).sign()
}

/// PEM of one DER certificate.
pub fn pem(der: &[u8]) -> String {
    der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, der).expect("pem")
}
