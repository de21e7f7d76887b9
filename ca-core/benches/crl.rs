//! CRL encoding: 10,000 revoked entries streamed through `CrlWriter` and signed.
#![allow(missing_docs)]

mod common;
use common as fixtures;

use ca_core::crl::{
    CrlEntry, CrlNumber, CrlParams, CrlWriter, IssuingDistributionPoint, ReasonCode,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use time::Duration;

const ENTRIES: usize = 10_000;

fn bench(c: &mut Criterion) {
    let ca = fixtures::ca();
    let entries: Vec<CrlEntry> = (0..ENTRIES)
        .map(|i| {
            let mut serial = [0x3c_u8; 16];
            serial[8..].copy_from_slice(&(i as u64).to_be_bytes());
            CrlEntry {
                serial: serial.to_vec(),
                revocation_date: ca.not_before + Duration::seconds(i as i64),
                reason: Some(if i % 3 == 0 {
                    ReasonCode::KeyCompromise
                } else {
                    ReasonCode::Superseded
                }),
                invalidity_date: (i % 10 == 0).then_some(ca.not_before),
            }
        })
        .collect();
    let params = || CrlParams {
        issuer_name_der: ca.subject_der.clone(),
        issuer_key_id: ca.ski.clone(),
        crl_number: CrlNumber::from(42),
        this_update: ca.not_before + Duration::days(2),
        next_update: ca.not_before + Duration::days(9),
        issuing_distribution_point: Some(IssuingDistributionPoint {
            full_name_uris: vec!["http://127.0.0.1:8080/crl/organization.crl".into()],
            only_contains_user_certs: false,
            only_contains_ca_certs: false,
        }),
        delta_base: None,
        freshest_crl_uris: Vec::new(),
    };
    let mut g = c.benchmark_group("crl");
    g.throughput(Throughput::Elements(ENTRIES as u64));
    g.bench_function("encode+sign 10k entries", |b| {
        b.iter(|| {
            let mut w = CrlWriter::new(params(), &ca.signer, ENTRIES).expect("writer");
            for e in &entries {
                w.push(e).expect("push");
            }
            w.finish(&ca.signer).expect("finish")
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
