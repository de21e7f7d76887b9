//! Path building (RFC 4158) through a bag of cross-certificates, as issue 12's acceptance
//! draws it: a GPKI relying party (anchor: the GPKI bridge) validates an lgpki certificate,
//! leaf → organisation CA → LGPKI root ←cross— LGPKI bridge ←cross— GPKI bridge, once with only
//! the three certificates the path needs and once with 1,000 more in the bag: other CAs
//! cross-certified with the bridge both ways and with one another (loops of every length),
//! and same-subject decoys of the root, the bridge and the organisation CA under other keys.
//!
//! `PATH_BENCH_DIR=DIR` also writes the two bags as PEM (`anchors.pem`, `needed.pem`,
//! `bag.pem`, `target.pem`) for `bench/path_building.sh`, which times the JDK's
//! CertPathBuilder on the same files.
#![allow(missing_docs)]

#[path = "../tests/pathgen/mod.rs"]
mod pathgen;

use ca_core::{ValidationOptions, validate_path};
use criterion::{Criterion, criterion_group, criterion_main};
use pathgen::{NOW, entity, issue, self_signed};
use std::hint::black_box;

/// DER of one certificate, and of several.
type Der = Vec<u8>;
type Ders = Vec<Der>;

/// The target, the anchors, the certificates the path needs, and those plus `extra` more.
fn bag() -> (Der, Ders, Ders, Ders) {
    let root = entity("CN=LGPKI Root CA,O=LGPKI,C=JP");
    let bridge = entity("CN=LGPKI Bridge CA,O=LGPKI,C=JP");
    let org = entity("CN=LGPKI Organization CA,O=LGPKI,C=JP");
    let gpki = entity("CN=GPKI Bridge CA,O=Japanese Government,C=JP");
    let holder = entity("CN=Yamada Taro,OU=Soumu,OU=Chiyoda,O=LGPKI,C=JP");
    let leaf = issue(&holder, &org, 100).end_entity().sign();
    let needed = vec![
        issue(&org, &root, 2).sign(),
        issue(&root, &bridge, 3).sign(),
        issue(&bridge, &gpki, 4).sign(),
    ];
    let mut serial = 1000;
    let mut next = || {
        serial += 1;
        serial
    };
    let mut extra = Vec::new();
    // 30 other CAs cross-certified with the LGPKI bridge both ways (60), the first 20 of them
    // with one another both ways (380): loops through the bridge and among themselves.
    let others: Vec<_> = (0..30)
        .map(|i| entity(&format!("CN=Municipality {i} CA,O=LGPKI,C=JP")))
        .collect();
    for o in &others {
        extra.push(issue(o, &bridge, next()).sign());
        extra.push(issue(&bridge, o, next()).sign());
    }
    for a in &others[..20] {
        for b in &others[..20] {
            if a.name != b.name {
                extra.push(issue(a, b, next()).sign());
            }
        }
    }
    // Same-subject decoys under other keys (old generations, impostors): the root and the
    // bridge certified by the other CAs (200 each), the organisation CA by the root (160).
    for round in 0..8 {
        for (real, count) in [(&root, 25), (&bridge, 25), (&org, 20)] {
            let decoy = entity(&real.name);
            for k in 0..count {
                let issuer = if real.name == org.name {
                    &root
                } else {
                    &others[(round * 25 + k) % others.len()]
                };
                extra.push(issue(&decoy, issuer, next()).sign());
            }
        }
    }
    assert_eq!(extra.len(), 1000, "1,000 extra certificates");
    let mut full = needed.clone();
    full.extend(extra);
    (leaf, vec![self_signed(&gpki, 1)], needed, full)
}

fn bench(c: &mut Criterion) {
    let (leaf, anchors, needed, full) = bag();
    if let Some(dir) = std::env::var_os("PATH_BENCH_DIR") {
        let dir = std::path::Path::new(&dir);
        let join = |certs: &[Vec<u8>]| certs.iter().map(|c| pathgen::pem(c)).collect::<String>();
        std::fs::create_dir_all(dir).expect("PATH_BENCH_DIR");
        std::fs::write(dir.join("anchors.pem"), join(&anchors)).expect("anchors");
        std::fs::write(dir.join("needed.pem"), join(&needed)).expect("needed");
        std::fs::write(dir.join("bag.pem"), join(&full)).expect("bag");
        std::fs::write(dir.join("target.pem"), pathgen::pem(&leaf)).expect("target");
    }
    let opts = ValidationOptions::at(NOW);
    for (name, pool) in [
        (
            "path_building/bridge path, needed certificates only",
            &needed,
        ),
        (
            "path_building/bridge path, +1,000 cross-certificates",
            &full,
        ),
    ] {
        // A bench that measured a failure would be meaningless: validate once first.
        let path = validate_path(&leaf, pool, &anchors, &opts).expect("valid path");
        assert_eq!(path.chain.len(), 5);
        c.bench_function(name, |b| {
            b.iter(|| validate_path(black_box(&leaf), pool, &anchors, &opts).expect("valid"))
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
