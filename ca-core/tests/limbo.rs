//! x509-limbo (`../shared/conformance/limbo/limbo.json.gz`): every testcase our features
//! allow, compared with `expected_result`.
//!
//! How a testcase is run: `trusted_certs` are the trust anchors, `untrusted_intermediates` the
//! pool, `peer_certificate` the target, at `validation_time` (now when null). SERVER cases
//! require the purpose serverAuth and the `expected_peer_name` (DNS or IP); CLIENT cases
//! require clientAuth and every `expected_peer_names` entry (RFC 822). A non-empty
//! `extended_key_usage` replaces the default purpose, `key_usage` is checked on the leaf by
//! this harness, `max_chain_depth` is the maximum number of intermediates, and `crls` turn
//! revocation checking on.
//!
//! Skipped, and why:
//! * features `pedantic-webpki-eku`, `pedantic-webpki-subscriber-key`,
//!   `pedantic-public-suffix-wildcard`, `pedantic-serial-number`, `pedantic-rfc5280`: CA/B Forum
//!   (Web PKI) profile rules or pedantic encoding rules that RFC 5280 path validation does not
//!   impose (PKITS 4.4.14 even requires a negative serial number to validate).
//! * the `webpki::` side of the three pairs that limbo marks `conflicts_with` an `rfc5280::`
//!   testcase (they cannot both pass): this validator follows RFC 5280 (an EE without EKU is
//!   valid for any purpose, a CA certificate may be a leaf, nameConstraints must be critical).
//!
//! No testcase is skipped for its signature algorithms: those with algorithms `sigverify` does
//! not support (DSA, P-521, Ed448, SHA-1 ECDSA...) expect FAILURE, or (BetterTLS path building)
//! have another path that avoids them.
//!
//! The whole run takes a few seconds; `LIMBO_ONLY=<id prefix>` restricts it, and
//! `--nocapture` shows the summary and the failures.

use std::collections::BTreeMap;
use std::io::Read;

use ca_core::{PathError, Purpose, ValidationOptions, validate_path};
use der::Decode;
use serde::Deserialize;
use x509_cert::Certificate;

/// Failures tolerated (the pyca/cryptography harness fails 14 testcases; issue 12 asks for at
/// most 10), kept at the measured count so that regressions fail the test. The known
/// failures, all false accepts of rules outside RFC 5280 path validation or contradicted by
/// other suites:
/// * `webpki::cn::*` (9): CA/B Forum BR 7.1.4.3 (subject CN must repeat a SAN entry). The 9,491
///   BetterTLS name-constraint testcases expect leaves whose CN is not in the SAN to validate.
/// * `rfc5280::pc::ica-noncritical-pc` (1): RFC 5280 §4.2.1.11 requires CAs to mark
///   policyConstraints critical, but PKITS 4.8.6, 4.10.x, 4.12.x require paths through
///   non-critical policyConstraints to validate.
const MAX_FAILURES: usize = 10;

const SKIPPED_FEATURES: &[&str] = &[];

#[derive(Deserialize)]
struct Limbo {
    testcases: Vec<Testcase>,
}

#[derive(Deserialize)]
struct PeerName {
    kind: String,
    value: String,
}

#[derive(Deserialize)]
struct Testcase {
    id: String,
    conflicts_with: Vec<String>,
    features: Vec<String>,
    validation_kind: String,
    trusted_certs: Vec<String>,
    untrusted_intermediates: Vec<String>,
    peer_certificate: String,
    validation_time: Option<String>,
    key_usage: Vec<String>,
    extended_key_usage: Vec<String>,
    expected_result: String,
    expected_peer_name: Option<PeerName>,
    expected_peer_names: Vec<PeerName>,
    max_chain_depth: Option<usize>,
    crls: Vec<String>,
}

fn pem_der(pem: &str) -> Vec<u8> {
    der::pem::decode_vec(pem.as_bytes())
        .map(|(_, d)| d)
        .unwrap_or_default()
}

fn purpose_of(name: &str) -> Option<Purpose> {
    match name {
        "serverAuth" => Some(Purpose::ServerAuth),
        "clientAuth" => Some(Purpose::ClientAuth),
        "codeSigning" => Some(Purpose::CodeSigning),
        "emailProtection" => Some(Purpose::EmailProtection),
        "anyExtendedKeyUsage" => Some(Purpose::Any),
        _ => None,
    }
}

/// Leaf keyUsage bits required by the testcase (an application check, done here).
fn leaf_key_usage_ok(leaf: &[u8], wanted: &[String]) -> bool {
    use x509_cert::ext::pkix::KeyUsage;
    let Ok(c) = Certificate::from_der(leaf) else {
        return false;
    };
    let Ok(Some(ku)) = c.tbs_certificate().get_extension::<KeyUsage>() else {
        return true;
    };
    let ku = ku.1;
    wanted.iter().all(|w| match w.as_str() {
        "digitalSignature" => ku.digital_signature(),
        "contentCommitment" => ku.non_repudiation(),
        "keyEncipherment" => ku.key_encipherment(),
        "dataEncipherment" => ku.data_encipherment(),
        "keyAgreement" => ku.key_agreement(),
        "keyCertSign" => ku.key_cert_sign(),
        "cRLSign" => ku.crl_sign(),
        "encipherOnly" => ku.encipher_only(),
        "decipherOnly" => ku.decipher_only(),
        _ => false,
    })
}

enum Outcome {
    Skip(String),
    Ran(Result<(), String>),
}

fn run(t: &Testcase) -> Outcome {
    if let Some(f) = t
        .features
        .iter()
        .find(|f| SKIPPED_FEATURES.contains(&f.as_str()))
    {
        return Outcome::Skip(format!("feature {f}"));
    }
    if let Some(c) = t.conflicts_with.iter().find(|c| c.starts_with("rfc5280::"))
        && t.id.starts_with("webpki::")
    {
        return Outcome::Skip(format!("conflicts with {c}"));
    }
    let leaf = pem_der(&t.peer_certificate);
    let pool: Vec<Vec<u8>> = t
        .untrusted_intermediates
        .iter()
        .map(|p| pem_der(p))
        .collect();
    let anchors: Vec<Vec<u8>> = t.trusted_certs.iter().map(|p| pem_der(p)).collect();
    let time = match &t.validation_time {
        Some(s) => {
            match time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339) {
                Ok(t) => t.unix_timestamp().max(0) as u64,
                Err(e) => return Outcome::Skip(format!("bad validation_time: {e}")),
            }
        }
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    };
    let mut opts = ValidationOptions::at(time);
    opts.purpose = Some(if t.validation_kind == "CLIENT" {
        Purpose::ClientAuth
    } else {
        Purpose::ServerAuth
    });
    if let Some(e) = t.extended_key_usage.first() {
        match purpose_of(e) {
            Some(p) => opts.purpose = Some(p),
            None => return Outcome::Skip(format!("extended_key_usage {e}")),
        }
    }
    if let Some(d) = t.max_chain_depth {
        opts.max_intermediates = d;
    }
    if !t.crls.is_empty() {
        opts.crls = t.crls.iter().map(|p| pem_der(p)).collect();
        opts.check_revocation = true;
    }
    let mut names: Vec<&PeerName> = t.expected_peer_names.iter().collect();
    names.extend(t.expected_peer_name.iter());
    if !leaf_key_usage_ok(&leaf, &t.key_usage) {
        return Outcome::Ran(Err("leaf keyUsage lacks a required bit".into()));
    }
    let mut check = |name: Option<&PeerName>| -> Result<(), PathError> {
        // `check_name` tells DNS, IP and RFC 822 names apart by their syntax; the kind must
        // agree with it.
        if let Some(n) = name {
            let inferred = if n.value.parse::<std::net::IpAddr>().is_ok() {
                "IP"
            } else if n.value.contains('@') {
                "RFC822"
            } else {
                "DNS"
            };
            assert_eq!(inferred, n.kind, "peer name {}", n.value);
        }
        opts.name = name.map(|n| n.value.clone());
        validate_path(&leaf, &pool, &anchors, &opts).map(|_| ())
    };
    let r = if names.is_empty() {
        check(None)
    } else {
        names.iter().try_for_each(|n| check(Some(n)))
    };
    Outcome::Ran(r.map_err(|e| e.to_string()))
}

#[test]
fn limbo() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/conformance/limbo/limbo.json.gz"
    );
    let mut json = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).expect("limbo.json.gz"))
        .read_to_end(&mut json)
        .expect("gunzip");
    let limbo: Limbo = serde_json::from_slice(&json).expect("limbo.json");
    let only = std::env::var("LIMBO_ONLY").ok();
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    let mut per_ns: BTreeMap<String, [usize; 3]> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut skip_reasons: BTreeMap<String, usize> = BTreeMap::new();
    for t in &limbo.testcases {
        if only.as_deref().is_some_and(|o| !t.id.starts_with(o)) {
            continue;
        }
        let ns = t.id.split("::").next().unwrap_or("").to_owned();
        let counts = per_ns.entry(ns).or_default();
        let start = std::time::Instant::now();
        let outcome = run(t);
        let took = start.elapsed();
        if took.as_millis() > 2000 {
            println!("SLOW {} took {took:?}", t.id);
        }
        match outcome {
            Outcome::Skip(why) => {
                skipped += 1;
                counts[2] += 1;
                println!("SKIP {}: {why}", t.id);
                *skip_reasons.entry(why).or_default() += 1;
            }
            Outcome::Ran(r) => {
                let got = if r.is_ok() { "SUCCESS" } else { "FAILURE" };
                if got == t.expected_result {
                    passed += 1;
                    counts[0] += 1;
                } else {
                    failed += 1;
                    counts[1] += 1;
                    failures.push(format!(
                        "{}: expected {}, got {got} ({})",
                        t.id,
                        t.expected_result,
                        r.err().unwrap_or_default()
                    ));
                }
            }
        }
    }
    for f in &failures {
        println!("FAIL {f}");
    }
    for (ns, [p, f, s]) in &per_ns {
        println!("  {ns}: {p} passed, {f} failed, {s} skipped");
    }
    for (why, n) in &skip_reasons {
        println!("  skipped {n}: {why}");
    }
    println!("limbo: {passed} passed, {failed} failed, {skipped} skipped");
    assert!(
        failed <= MAX_FAILURES,
        "{failed} limbo failures, more than {MAX_FAILURES}"
    );
}
