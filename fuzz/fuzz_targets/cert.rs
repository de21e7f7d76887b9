//! Certificate parsing and the pre-signing linter: x509 `Certificate` decoding, the helpers that
//! read a CA certificate (OCSP CA hashes, CRL issuer fields), the SPKI parser, and `lint_tbs`
//! on the certificate's TBS and on the raw input.
#![no_main]

use ca_core::SignatureAlgorithm;
use ca_core::lint::{Expectation, IssuerFacts, lint_tbs};
use der::{Decode, Encode};
use libfuzzer_sys::fuzz_target;

fn lint(tbs: &[u8]) {
    for (ca, alg) in [
        (false, SignatureAlgorithm::EcdsaSha256),
        (true, SignatureAlgorithm::RsaPkcs1Sha256),
    ] {
        let _ = lint_tbs(
            tbs,
            &IssuerFacts {
                subject_der: &[0x30, 0x00],
                ski: &[1, 2, 3, 4],
                validity: None,
                signature_algorithm: alg,
            },
            &Expectation {
                ca,
                min_rsa_bits: 2048,
            },
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = ca_core::ocsp::CaHashes::from_certificate(data);
    let _ = ca_core::crl::issuer_fields_from_certificate(data);
    let _ = ca_core::parse_spki(data);
    if let Ok(cert) = x509_cert::Certificate::from_der(data) {
        if let Ok(tbs) = cert.tbs_certificate().to_der() {
            lint(&tbs);
        }
        let _ = ca_core::PublicKeyInfo::of(cert.tbs_certificate().subject_public_key_info());
    }
    lint(data);
});
