//! Revocation end to end with the real binary: revoke, status, CRLs checked by OpenSSL and
//! pkilint, delta CRLs, idempotence, batches, and publications — on both key backends and both stores (SQLite, PostgreSQL).

mod common;

use common::{Backend, Env, StoreKind, assert_ok, json_lines, openssl, openssl_ok};

fn crl_pem(env: &Env, ca: &str, delta: bool) -> std::path::PathBuf {
    let out_path = env.path(&format!(
        "{ca}{}.crl.pem",
        if delta { "-delta" } else { "" }
    ));
    let mut args = vec![
        "crl",
        "--ca",
        ca,
        "--pem",
        "--out",
        out_path.to_str().expect("utf8"),
    ];
    if delta {
        args.push("--delta");
    }
    assert_ok(&env.lgpki(&args), "crl");
    out_path
}

fn lint_crl(path: &std::path::Path, kind: &str) {
    common::assert_pkilint("lint_crl", &["-t", kind, "-p", "PKIX"], path);
}

fn revocation_end_to_end(store: StoreKind, backend: Backend) {
    let env = Env::init_on(store, backend, &[]);
    let (good, good_pem) = common::issue_staff(&env, "good");
    let (bad, bad_pem) = common::issue_staff(&env, "bad");
    let (root, _) = env.chain_files("organization");

    // status before: good (exit 0); unknown serial: exit 1.
    let out = env.lgpki(&["--json", "status", "--serial", &bad]);
    assert_ok(&out, "status");
    assert_eq!(json_lines(&out.stdout)[0]["status"], "good");
    let out = env.lgpki(&["--json", "status", "--serial", "0badc0de"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json_lines(&out.stdout)[0]["status"], "unknown");

    // A full CRL before any revocation, to base a delta on.
    let base = crl_pem(&env, "organization", false);
    let out = env.lgpki(&[
        "--json",
        "revoke",
        "--serial",
        &bad,
        "--reason",
        "keyCompromise",
        "--invalidity-date",
        "2026-01-02T03:04:05Z",
    ]);
    assert_ok(&out, "revoke");
    let v = &json_lines(&out.stdout)[0];
    assert_eq!(v["reason"], "keyCompromise");
    assert_eq!(v["already_revoked"], false);
    let first_time = v["revoked_at"].clone();
    // Revoking twice keeps the first time and reason.
    let out = env.lgpki(&[
        "--json",
        "revoke",
        "--serial",
        &bad,
        "--reason",
        "superseded",
    ]);
    assert_ok(&out, "revoke again");
    let v = &json_lines(&out.stdout)[0];
    assert_eq!(
        (
            v["reason"].clone(),
            v["revoked_at"].clone(),
            v["already_revoked"].clone()
        ),
        ("keyCompromise".into(), first_time, true.into())
    );
    // status: revoked, exit 1.
    let out = env.lgpki(&["--json", "status", "--serial", &bad]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json_lines(&out.stdout)[0]["status"], "revoked");

    // Bad revocations: unknown serial, bad reason, removeFromCRL, future invalidity date.
    for (args, code) in [
        (
            vec!["revoke", "--serial", "0badc0de", "--reason", "superseded"],
            1,
        ),
        (vec!["revoke", "--serial", &good, "--reason", "stolen"], 2),
        (
            vec!["revoke", "--serial", &good, "--reason", "removeFromCRL"],
            2,
        ),
        (
            vec![
                "revoke",
                "--serial",
                &good,
                "--reason",
                "superseded",
                "--invalidity-date",
                "2999-01-01T00:00:00Z",
            ],
            2,
        ),
        (
            vec![
                "revoke",
                "--serial",
                &good,
                "--reason",
                "superseded",
                "--ca",
                "application",
            ],
            1,
        ),
    ] {
        let out = env.lgpki(&args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(
        json_lines(&env.lgpki(&["--json", "status", "--serial", &good]).stdout)[0]["status"],
        "good"
    );

    // The delta CRL against the base (CRL 1), made before the next full CRL: only the new revocation, with deltaCRLIndicator.
    let delta = crl_pem(&env, "organization", true);
    let dtext = openssl_ok(&[
        "crl",
        "-in",
        delta.to_str().expect("utf8"),
        "-noout",
        "-text",
    ]);
    assert!(
        dtext.contains("Delta CRL Indicator: critical") && dtext.contains(&bad.to_uppercase()),
        "{dtext}"
    );
    lint_crl(&delta, "CRL");
    let _ = base;

    // Full CRL: verifies with OpenSSL, lists the revocation with reason and invalidity date,
    // AKI = the CA's SKI, CRL number grows; pkilint clean.
    let full = crl_pem(&env, "organization", false);
    let ca_pem = env.path("org.pem");
    std::fs::write(&ca_pem, env.lgpki(&["ca", "cert", "organization"]).stdout).expect("w");
    let text = openssl(&[
        "crl",
        "-in",
        full.to_str().expect("utf8"),
        "-CAfile",
        ca_pem.to_str().expect("utf8"),
        "-noout",
        "-text",
    ]);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&text.stdout),
        String::from_utf8_lossy(&text.stderr)
    );
    assert!(all.contains("verify OK"), "{all}");
    assert!(
        all.contains(&bad.to_uppercase())
            && all.contains("Key Compromise")
            && all.contains("Invalidity Date"),
        "{all}"
    );
    let number = all
        .split("CRL Number:")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .expect("CRL number");
    assert_eq!(number, "3", "base 1, delta 2, this full CRL 3: {all}");
    assert!(!all.contains(&good.to_uppercase()));
    let ca_text = openssl_ok(&[
        "x509",
        "-in",
        ca_pem.to_str().expect("utf8"),
        "-noout",
        "-text",
    ]);
    let ski = ca_text
        .split("Subject Key Identifier:")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .expect("SKI")
        .to_string();
    assert!(all.contains(&ski), "CRL AKI must be the CA's SKI {ski}");
    lint_crl(&full, "CRL");

    // The bridge issues only CA certificates (its cross-certificates): its CRL is an ARL
    // (onlyContainsCACerts).
    let arl = crl_pem(&env, "bridge", false);
    let atext = openssl_ok(&["crl", "-in", arl.to_str().expect("utf8"), "-noout", "-text"]);
    assert!(atext.contains("Only CA Certificates"), "{atext}");
    lint_crl(&arl, "ARL");

    // openssl verify -crl_check_all: the revoked certificate is rejected, the good one passes.
    let crls = env.path("crls.pem");
    std::fs::write(
        &crls,
        [
            std::fs::read(&full).expect("r"),
            std::fs::read(&arl).expect("r"),
        ]
        .concat(),
    )
    .expect("w");
    // From the bridge as anchor, through its cross-certificate to the organization CA: the ARL
    // covers the cross-certificate, the CRL the leaf.
    let bridge = env.path("bridge.pem");
    std::fs::write(&bridge, env.lgpki(&["ca", "cert", "bridge"]).stdout).expect("w");
    let cross = common::cross_pem(&env, "bridge", "bridge-to-org.pem");
    let verify = |pem: &std::path::Path| {
        openssl(&[
            "verify",
            "-crl_check_all",
            "-CAfile",
            bridge.to_str().expect("utf8"),
            "-untrusted",
            cross.to_str().expect("utf8"),
            "-CRLfile",
            crls.to_str().expect("utf8"),
            pem.to_str().expect("utf8"),
        ])
    };
    let out = verify(&bad_pem);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !out.status.success() && said.contains("certificate revoked"),
        "{said}"
    );
    assert_ok(&verify(&good_pem), "verify good with CRLs");

    // OCSP from `lgpki serve`, signed with this backend's CA key (on the token for PKCS#11):
    // OpenSSL verifies the responses.
    let server = common::Server::start(&env);
    let bundle = env.path("bundle.pem");
    std::fs::write(
        &bundle,
        [
            std::fs::read(&ca_pem).expect("r"),
            std::fs::read(&root).expect("r"),
        ]
        .concat(),
    )
    .expect("w");
    let url = format!("{}/ocsp", server.http);
    for (pem, want) in [(&bad_pem, ": revoked"), (&good_pem, ": good")] {
        let out = openssl(&[
            "ocsp",
            "-issuer",
            ca_pem.to_str().expect("utf8"),
            "-cert",
            pem.to_str().expect("utf8"),
            "-url",
            &url,
            "-CAfile",
            bundle.to_str().expect("utf8"),
        ]);
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            said.contains("Response verify OK") && said.contains(want),
            "{backend:?}: {said}"
        );
    }
    drop(server);

    // cert list --status revoked shows exactly the revoked one.
    let revoked = json_lines(
        &env.lgpki(&["--json", "cert", "list", "--status", "revoked"])
            .stdout,
    );
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0]["serial"], bad.as_str());
    // Audit chain covers the revocation and the CRLs.
    assert_ok(&env.lgpki(&["audit", "verify"]), "audit verify");
}

fn revocation_with_software_keys(store: StoreKind) {
    revocation_end_to_end(store, Backend::Soft);
}

fn revocation_with_pkcs11_keys(store: StoreKind) {
    revocation_end_to_end(store, Backend::Pkcs11);
}

fn revoke_batch_reports_each_line(store: StoreKind) {
    let env = Env::init_on(store, Backend::Soft, &[]);
    let (a, _) = common::issue_staff(&env, "a");
    let (b, _) = common::issue_staff(&env, "b");
    let file = env.path("revoke.jsonl");
    let lines = [
        serde_json::json!({"serial": a, "reason": "affiliationChanged"}).to_string(),
        serde_json::json!({"serial": "00ff00ff", "reason": "superseded"}).to_string(),
        "nonsense".to_string(),
        serde_json::json!({"serial": b, "reason": "cessationOfOperation", "ca": "organization"})
            .to_string(),
        serde_json::json!({"serial": b, "reason": "bogus"}).to_string(),
    ];
    std::fs::write(&file, lines.join("\n")).expect("w");
    let out = env.lgpki(&["revoke", "--batch", file.to_str().expect("utf8")]);
    assert_eq!(out.status.code(), Some(1));
    let r = json_lines(&out.stdout);
    assert_eq!(r.len(), 5);
    for (i, v) in r.iter().enumerate() {
        assert_eq!(v["line"], i + 1);
    }
    assert_eq!(r[0]["status"], "revoked");
    assert_eq!(r[1]["error"]["kind"], "not_found");
    assert_eq!(r[2]["error"]["kind"], "malformed_input");
    assert_eq!(r[3]["reason"], "cessationOfOperation");
    assert_eq!(r[4]["error"]["kind"], "invalid_argument");
    assert_eq!(
        json_lines(
            &env.lgpki(&["--json", "cert", "list", "--status", "revoked"])
                .stdout
        )
        .len(),
        2
    );
}

fn publish_writes_an_atomic_release_with_statuses(store: StoreKind) {
    let env = Env::init_on(store, Backend::Soft, &[]);
    let (a, _) = common::issue_staff(&env, "a");
    assert_ok(
        &env.lgpki(&["revoke", "--serial", &a, "--reason", "keyCompromise"]),
        "revoke",
    );
    let dir = env.path("pub");
    let out = env.lgpki(&["--json", "publish", "--out", dir.to_str().expect("utf8")]);
    assert_ok(&out, "publish");
    let first = json_lines(&out.stdout)[0]["release"]
        .as_str()
        .expect("id")
        .to_string();
    let publication = ca_core::publish::Publication::load(&dir).expect("load");
    assert_eq!(publication.id, first);
    let org = publication
        .cas
        .iter()
        .find(|c| c.name == "organization")
        .expect("org");
    let serial = hex::decode(&a).expect("hex");
    assert!(matches!(
        org.statuses.get(&serial),
        Some(ca_core::publish::PublishedStatus::Revoked {
            reason: Some(ca_core::crl::ReasonCode::KeyCompromise),
            ..
        })
    ));
    // The responder certificate is an OCSP-signing certificate of this CA, and its key matches.
    let cert_pem = env.path("resp.pem");
    std::fs::write(
        &cert_pem,
        ca_core::input::to_pem("CERTIFICATE", &org.responder_cert_der),
    )
    .expect("w");
    let text = openssl_ok(&[
        "x509",
        "-in",
        cert_pem.to_str().expect("utf8"),
        "-noout",
        "-text",
    ]);
    assert!(
        text.contains("OCSP Signing")
            && text.contains("OCSP No Check")
            && text.contains("Issuer: C = JP, O = LGPKI, CN = LGPKI Organization CA"),
        "{text}"
    );
    use std::os::unix::fs::PermissionsExt;
    let key_mode = std::fs::metadata(dir.join("current/ocsp/organization.key"))
        .expect("key")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(key_mode, 0o600);
    // What a killed publish leaves behind is cleaned up by the next one.
    std::fs::create_dir_all(dir.join(".staging-killed/ocsp")).expect("mkdir");
    std::fs::write(dir.join(".staging-killed/ocsp/organization.key"), b"secret").expect("w");
    // A second publish switches `current` and re-uses the responder key.
    let out = env.lgpki(&["--json", "publish", "--out", dir.to_str().expect("utf8")]);
    assert_ok(&out, "publish again");
    let second = ca_core::publish::Publication::load(&dir).expect("load");
    assert_ne!(second.id, first);
    let org2 = second
        .cas
        .iter()
        .find(|c| c.name == "organization")
        .expect("org");
    assert!(
        !dir.join(".staging-killed").exists(),
        "leftover staging removed"
    );
    assert_eq!(
        org2.responder_cert_der, org.responder_cert_der,
        "responder certificate re-used"
    );
}

on_both_stores!(
    revocation_with_software_keys,
    revocation_with_pkcs11_keys,
    revoke_batch_reports_each_line,
    publish_writes_an_atomic_release_with_statuses,
);
