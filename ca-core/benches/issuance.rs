//! The CPU work of issuing one certificate, step by step: CSR parsing and proof-of-possession
//! verification, TBS encoding, the pre-signing lint, and the CA signature.
#![allow(missing_docs)]

mod common;
use common as fixtures;

use ca_core::lint::{Expectation, IssuerFacts, lint_tbs};
use ca_core::{CaSigner, DistinguishedName, parse_csr, random_serial, verify_csr};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let ca = fixtures::ca();
    let csr = fixtures::csr();
    let verified = verify_csr(&csr).expect("csr verifies");
    let subject_der = DistinguishedName::parse("CN=山田太郎,OU=千代田区,O=LGPKI,C=JP")
        .expect("dn")
        .to_der()
        .expect("dn der");
    let serial = random_serial().expect("serial");
    let facts = IssuerFacts {
        subject_der: &ca.subject_der,
        ski: &ca.ski,
        validity: Some((ca.not_before, ca.not_after)),
        signature_algorithm: ca.signer.algorithm(),
    };
    let expect = Expectation {
        ca: false,
        min_rsa_bits: 2048,
    };

    c.bench_function("csr/parse", |b| {
        b.iter(|| parse_csr(black_box(&csr)).expect("parse"))
    });
    c.bench_function("csr/parse+verify (P-256)", |b| {
        b.iter(|| verify_csr(black_box(&csr)).expect("verify"))
    });
    c.bench_function("tbs/encode (staff, P-256)", |b| {
        b.iter(|| {
            fixtures::tbs(
                &ca,
                black_box(&verified.public_key_der),
                &subject_der,
                &serial,
            )
        })
    });
    let tbs = fixtures::tbs(&ca, &verified.public_key_der, &subject_der, &serial);
    c.bench_function("tbs/lint", |b| {
        b.iter(|| lint_tbs(black_box(&tbs), &facts, &expect).expect("lint clean"))
    });
    c.bench_function("tbs/encode+lint", |b| {
        b.iter(|| {
            let tbs = fixtures::tbs(&ca, &verified.public_key_der, &subject_der, &serial);
            lint_tbs(&tbs, &facts, &expect).expect("lint clean")
        })
    });
    c.bench_function("sign/ECDSA P-256 (ring)", |b| {
        b.iter(|| ca.signer.sign(black_box(&tbs)).expect("sign"))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
