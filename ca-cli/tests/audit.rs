//! The audit log: every state change leaves a hash-chained record; an exported copy is checked
//! offline and any edit, removal or reordering is named.

mod common;

use common::{Env, KeyKind, assert_ok, json_lines, make_csr};

#[test]
fn audit_chain_records_changes_and_names_the_first_bad_record() {
    let env = Env::init(&[]);
    let csr = make_csr(
        env.dir.path(),
        "a",
        KeyKind::P256,
        "/C=JP/O=LGPKI/OU=千代田区/CN=監査",
        &[],
    );
    assert_ok(
        &env.lgpki(&[
            "issue",
            "--profile",
            "staff",
            "--csr",
            csr.to_str().expect("utf8"),
        ]),
        "issue",
    );
    // A refused issuance changes nothing, so it adds no record.
    let out = env.lgpki(&[
        "issue",
        "--profile",
        "server",
        "--csr",
        csr.to_str().expect("utf8"),
    ]);
    assert_eq!(out.status.code(), Some(1));

    let list = env.lgpki(&["--json", "audit", "list"]);
    assert_ok(&list, "audit list");
    let records = json_lines(&list.stdout);
    let actions: Vec<&str> = records
        .iter()
        .map(|r| r["action"].as_str().expect("action"))
        .collect();
    assert_eq!(
        actions,
        [
            "init",
            // The seven CAs of the default topology.
            "ca.create",
            "ca.create",
            "ca.create",
            "ca.create",
            "ca.create",
            "ca.create",
            "ca.create",
            // The bridge ⇄ organisation cross-certificate pair: each issuance, then the halves
            // it fills (issuedByThisCA of the issuer, issuedToThisCA of the subject; RFC 4523).
            "cert.issue",
            "cross.pair",
            "cross.pair",
            "cert.issue",
            "cross.pair",
            "cross.pair",
            "audit.key.create",
            // init's VA certificate (the validation service's signer), TSA certificate (the
            // time-stamping authority's) and the five delegated OCSP responder certificates
            // (application root and sub-CAs), then the staff one.
            "cert.issue",
            "cert.issue",
            "cert.issue",
            "cert.issue",
            "cert.issue",
            "cert.issue",
            "cert.issue",
            "cert.issue"
        ]
    );
    assert_ok(&env.lgpki(&["audit", "verify"]), "store chain verifies");

    let export = env.path("audit.jsonl");
    assert_ok(
        &env.lgpki(&["audit", "export", "--out", export.to_str().expect("utf8")]),
        "export",
    );
    assert_ok(
        &env.lgpki(&["audit", "verify", "--file", export.to_str().expect("utf8")]),
        "export verifies",
    );
    let text = std::fs::read_to_string(&export).expect("read");
    let lines: Vec<&str> = text.lines().collect();

    let check = |name: &str, content: String, needle: &str| {
        let f = env.path(name);
        std::fs::write(&f, content).expect("write");
        let out = env.lgpki(&["audit", "verify", "--file", f.to_str().expect("utf8")]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
        assert!(
            stderr.contains(needle),
            "{name}: expected {needle:?} in {stderr}"
        );
    };
    // Edit one record (the issuance's target serial).
    let mut edited = lines.clone();
    let tampered = edited[8].replace("\"action\":\"cert.issue\"", "\"action\":\"cert.revoke\"");
    assert_ne!(tampered, edited[8]);
    edited[8] = &tampered;
    check("edited.jsonl", edited.join("\n"), "record 9 was altered");
    // Remove one.
    let mut removed = lines.clone();
    removed.remove(2);
    check(
        "removed.jsonl",
        removed.join("\n"),
        "record 4 is out of place",
    );
    // Reorder two.
    let mut swapped = lines.clone();
    swapped.swap(3, 4);
    check(
        "swapped.jsonl",
        swapped.join("\n"),
        "record 5 is out of place",
    );
}
