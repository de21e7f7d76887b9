//! Shared fixtures for the criterion benchmarks: an in-memory P-256 CA and a subscriber CSR.
#![allow(dead_code, missing_docs)]

use ca_core::build::{self, TbsFields};
use ca_core::{
    CaSigner, DistinguishedName, ExtendedKeyUsage, KeyAlgorithm, KeyUsageBit, SoftwareSigner,
    build_csr, generate_pkcs8,
};
use time::{Duration, OffsetDateTime};

pub struct Ca {
    pub signer: SoftwareSigner,
    pub subject_der: Vec<u8>,
    pub ski: Vec<u8>,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

pub fn signer(alg: KeyAlgorithm) -> SoftwareSigner {
    let pkcs8 = generate_pkcs8(alg).expect("key");
    SoftwareSigner::from_pkcs8(&pkcs8, "bench").expect("signer")
}

pub fn ca() -> Ca {
    let signer = signer(KeyAlgorithm::EcdsaP256);
    let subject_der = DistinguishedName::parse("CN=LGPKI Organization CA,O=LGPKI,C=JP")
        .expect("dn")
        .to_der()
        .expect("dn der");
    let ski = build::key_identifier(signer.public_key_der()).expect("ski");
    let now = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .expect("now");
    Ca {
        signer,
        subject_der,
        ski,
        not_before: now - Duration::days(1),
        not_after: now + Duration::days(3650),
    }
}

/// A P-256 CSR for a staff subject.
pub fn csr() -> Vec<u8> {
    let key = signer(KeyAlgorithm::EcdsaP256);
    let subject = DistinguishedName::parse("CN=山田太郎,OU=千代田区,O=LGPKI,C=JP")
        .expect("dn")
        .to_der()
        .expect("dn der");
    build_csr(&key, &subject).expect("csr")
}

/// The staff profile's extensions for a subscriber key.
pub fn staff_extensions(ca: &Ca, spki_der: &[u8]) -> Vec<x509_cert::ext::Extension> {
    let base = "http://127.0.0.1:8080";
    vec![
        build::key_usage(&[KeyUsageBit::DigitalSignature]).expect("ku"),
        build::extended_key_usage(
            &[
                ExtendedKeyUsage::ClientAuth,
                ExtendedKeyUsage::EmailProtection,
            ],
            false,
        )
        .expect("eku"),
        build::subject_key_identifier(&build::key_identifier(spki_der).expect("kid")).expect("ski"),
        build::authority_key_identifier(&ca.ski).expect("aki"),
        build::certificate_policies(&["1.2.392.200091.99.1.1".parse().expect("oid")])
            .expect("policies"),
        build::crl_distribution_point(&format!("{base}/crl/organization.crl")).expect("cdp"),
        build::authority_info_access(
            Some(&format!("{base}/ocsp")),
            &format!("{base}/ca/organization.crt"),
        )
        .expect("aia"),
    ]
}

/// A TBSCertificate for `spki_der` under the staff profile.
pub fn tbs(ca: &Ca, spki_der: &[u8], subject_der: &[u8], serial: &[u8]) -> Vec<u8> {
    let exts = staff_extensions(ca, spki_der);
    build::encode_tbs(&TbsFields {
        serial,
        signature: ca.signer.algorithm().algorithm_identifier(),
        issuer: &ca.subject_der,
        not_before: ca.not_before + Duration::days(1),
        not_after: ca.not_before + Duration::days(1096),
        subject: subject_der,
        spki: spki_der,
        extensions: &exts,
    })
    .expect("tbs")
}
