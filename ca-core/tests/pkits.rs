//! NIST PKITS v1.0.1 (`../shared/conformance/pkits`): every row except the DSA ones.
//!
//! For each row the trust anchor is `certs[0]`, the target `certs[-1]`, and the certificates in
//! between are given as an unordered pool of untrusted certificates (so path building is
//! exercised, including for the CRL-signing certificates some rows list). Revocation checking
//! is on, with exactly the row's CRLs. The expected VALID/INVALID must match, and on valid rows
//! the user-constrained-policy-set must equal PKITS'.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use ca_core::{ValidationOptions, validate_path};

/// Rows skipped: DSA signatures (4.1.4, 4.1.5), which `sigverify` does not support.
const SKIPPED: &[&str] = &["4.1.4", "4.1.5"];

fn root() -> PathBuf {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/conformance/pkits"
    ))
    .to_path_buf()
}

fn read(p: PathBuf) -> Vec<u8> {
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn oids(v: &serde_json::Value) -> Vec<ca_core::Oid> {
    v.as_array()
        .expect("list of OIDs")
        .iter()
        .map(|s| s.as_str().and_then(|s| s.parse().ok()).expect("OID"))
        .collect()
}

#[test]
fn pkits() {
    let dir = root();
    let json: serde_json::Value =
        serde_json::from_slice(&read(dir.join("expected.json"))).expect("expected.json");
    // 2011-04-15T00:00:00Z, the table's validation_time.
    assert_eq!(json["validation_time"], "2011-04-15T00:00:00Z");
    let time = 1_302_825_600;
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    let mut failures = Vec::new();
    for t in json["tests"].as_array().expect("tests") {
        let id = t["id"].as_str().expect("id");
        if SKIPPED.contains(&t["pkits_number"].as_str().expect("number")) {
            skipped += 1;
            continue;
        }
        let certs: Vec<Vec<u8>> = t["certs"]
            .as_array()
            .expect("certs")
            .iter()
            .map(|c| read(dir.join("certs").join(c.as_str().expect("name"))))
            .collect();
        let crls: Vec<Vec<u8>> = t["crls"]
            .as_array()
            .expect("crls")
            .iter()
            .map(|c| read(dir.join("crls").join(c.as_str().expect("name"))))
            .collect();
        let s = &t["settings"];
        let mut opts = ValidationOptions::at(time);
        opts.initial_policy_set = oids(&s["initial_policy_set"]);
        opts.initial_explicit_policy = s["initial_explicit_policy"] == true;
        opts.initial_policy_mapping_inhibit = s["initial_policy_mapping_inhibit"] == true;
        opts.initial_any_policy_inhibit = s["initial_any_policy_inhibit"] == true;
        opts.crls = crls;
        opts.check_revocation = true;
        let n = certs.len();
        // Reversed, so that the builder cannot rely on the PDF's top-down order.
        let pool: Vec<Vec<u8>> = certs[1..n - 1].iter().rev().cloned().collect();
        let result = validate_path(&certs[n - 1], &pool, &certs[..1], &opts);
        let want_valid = t["expected"]["valid"] == true;
        let ok = match (&result, want_valid) {
            (Ok(p), true) => {
                let want: BTreeSet<_> = oids(&t["expected"]["user_constrained_policy_set"])
                    .into_iter()
                    .collect();
                let got: BTreeSet<_> = p.user_constrained_policy_set.iter().cloned().collect();
                if want == got {
                    true
                } else {
                    failures.push(format!("{id}: policy set {got:?}, expected {want:?}"));
                    false
                }
            }
            (Err(_), false) => true,
            (Ok(_), false) => {
                failures.push(format!("{id} ({}): VALID, expected INVALID", t["name"]));
                false
            }
            (Err(e), true) => {
                failures.push(format!(
                    "{id} ({}): INVALID ({e}), expected VALID",
                    t["name"]
                ));
                false
            }
        };
        if ok {
            passed += 1;
        } else {
            failed += 1;
        }
        if std::env::var_os("PKITS_VERBOSE").is_some() {
            match &result {
                Ok(p) => println!("{id}: VALID {:?}", p.user_constrained_policy_set),
                Err(e) => println!("{id}: INVALID {e}"),
            }
        }
    }
    for f in &failures {
        println!("FAIL {f}");
    }
    println!("pkits: {passed} passed, {failed} failed, {skipped} skipped (DSA)");
    assert_eq!(failed, 0, "PKITS failures");
}
