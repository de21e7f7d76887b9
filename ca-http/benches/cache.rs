//! The OCSP response cache of `serve` and `ocsp-responder`: a request answered from the
//! pre-produced responses on the server's own thread (`cached_at`: parse, epoch, shared-lock
//! lookup, copy) against one that is looked up and signed (`answer_at` with a nonce).
#![allow(missing_docs)]

use std::sync::Arc;

use ca_core::ocsp::{CertId, HashAlgorithm, Lookup, build_request};
use ca_core::{Authority, InitOptions, PassphraseSource, Result};
use ca_http::{CacheConfig, CachingOcsp, Metrics, OcspIssuer, StatusLookup};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use time::{Duration, OffsetDateTime};

/// Every serial is good; the epoch never changes.
struct AllGood(Arc<OcspIssuer>);

impl StatusLookup for AllGood {
    fn epoch(&self) -> Result<u64> {
        Ok(1)
    }

    fn issuer(&self, id: &CertId) -> Option<Arc<OcspIssuer>> {
        self.0.matches(id).then(|| self.0.clone())
    }

    fn status(&self, _: &OcspIssuer, _: &[u8]) -> Result<Lookup> {
        Ok(Lookup::Good)
    }
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tmp");
    let pass = dir.path().join("pass");
    std::fs::write(&pass, "bench passphrase").expect("passphrase");
    let mut ca = Authority::init(
        &dir.path().join("home"),
        InitOptions::software(PassphraseSource::File(pass)).expect("options"),
    )
    .expect("init");
    let org = ca.load_ca("organization").expect("organization CA");
    let issuer = OcspIssuer::new(
        "organization",
        &org.record.cert_der,
        org.signer.clone(),
        None,
        Duration::hours(1),
    )
    .expect("issuer");
    let id = CertId::new(HashAlgorithm::Sha1, issuer.hashes(), &[0x3c; 16]).expect("cert id");
    let plain = build_request(std::slice::from_ref(&id), None).expect("request");
    let nonced = build_request(std::slice::from_ref(&id), Some(&[7; 16])).expect("request");
    let ocsp = CachingOcsp::new(
        AllGood(Arc::new(issuer)),
        CacheConfig::default(),
        Arc::new(Metrics::new()),
    );
    let now = OffsetDateTime::now_utc();
    // Produce the response once; a bench of a miss would be meaningless.
    assert!(ocsp.answer_at(&plain, now).successful);
    assert!(ocsp.cached_at(&plain, now).is_some(), "cached");
    c.bench_function("cache/pre-produced answer (cached_at)", |b| {
        b.iter(|| ocsp.cached_at(black_box(&plain), now).expect("hit"))
    });
    c.bench_function("cache/signed answer (nonce, answer_at)", |b| {
        b.iter(|| ocsp.answer_at(black_box(&nonced), now))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
