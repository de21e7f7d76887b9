//! Path validation (RFC 5280 §6), in-process as `lgpki verify` runs it: a staff certificate
//! issued by the default hierarchy (root → organization → leaf), with and without checking the
//! CRLs of both CAs (§6.3).
#![allow(missing_docs)]

mod common;
use common as fixtures;

use ca_core::{
    Authority, InitOptions, IssuanceRequest, PassphraseSource, ValidationOptions, validate_path,
};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tmp");
    let pass = dir.path().join("pass");
    std::fs::write(&pass, "bench passphrase").expect("passphrase");
    let mut ca = Authority::init(
        &dir.path().join("home"),
        InitOptions::software(PassphraseSource::File(pass)).expect("options"),
    )
    .expect("init");
    let leaf = ca
        .issue(IssuanceRequest {
            profile: "staff".into(),
            csr_der: fixtures::csr(),
            ..IssuanceRequest::default()
        })
        .expect("issue")
        .der;
    let root = ca.ca_record("root").expect("root").cert_der;
    let org = ca.ca_record("organization").expect("organization").cert_der;
    let crls = vec![
        ca.crl("root", false).expect("root ARL"),
        ca.crl("organization", false).expect("organization CRL"),
    ];
    let now = time::OffsetDateTime::now_utc().unix_timestamp() as u64;
    let untrusted = [org];
    let anchors = [root];
    let plain = ValidationOptions::at(now);
    let mut revocation = ValidationOptions::at(now);
    revocation.crls = crls;
    revocation.check_revocation = true;
    for (name, opts) in [
        ("verify/path (3 certificates)", &plain),
        ("verify/path (3 certificates) + 2 CRLs", &revocation),
    ] {
        // A bench that measured a failure would be meaningless: validate once first.
        validate_path(&leaf, &untrusted, &anchors, opts).expect("valid path");
        c.bench_function(name, |b| {
            b.iter(|| validate_path(black_box(&leaf), &untrusted, &anchors, opts).expect("valid"))
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
