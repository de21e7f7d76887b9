//! OCSP: request parsing and signed response building (one CertID, CA-signed, P-256).
#![allow(missing_docs)]

mod common;
use common as fixtures;

use ca_core::CaSigner;
use ca_core::ocsp::{
    CaHashes, CertId, HashAlgorithm, Lookup, Responder, StatusSource, build_request, parse_request,
};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use time::{Duration, OffsetDateTime};

struct AllGood;

impl StatusSource for AllGood {
    fn lookup(&self, _: &CertId) -> Lookup {
        Lookup::Good
    }
}

fn bench(c: &mut Criterion) {
    let ca = fixtures::ca();
    let hashes = CaHashes::from_parts(&ca.subject_der, ca.signer.public_key_der()).expect("hashes");
    let id = CertId::new(HashAlgorithm::Sha1, &hashes, &[0x3c; 16]).expect("cert id");
    let plain = build_request(std::slice::from_ref(&id), None).expect("request");
    let nonced = build_request(std::slice::from_ref(&id), Some(&[7; 16])).expect("request");
    let responder = Responder::new(&ca.signer, None, Duration::hours(1)).expect("responder");
    let now = OffsetDateTime::now_utc();

    c.bench_function("ocsp/parse request", |b| {
        b.iter(|| parse_request(black_box(&plain)).expect("parse"))
    });
    c.bench_function("ocsp/parse request with nonce", |b| {
        b.iter(|| parse_request(black_box(&nonced)).expect("parse"))
    });
    let req = parse_request(&plain).expect("parse");
    c.bench_function("ocsp/build signed response", |b| {
        b.iter(|| {
            responder
                .build_response(black_box(&req), &AllGood, now)
                .expect("response")
        })
    });
    c.bench_function("ocsp/respond (parse+build)", |b| {
        b.iter(|| responder.respond(black_box(&plain), &AllGood, now))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
