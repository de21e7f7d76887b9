//! Bad input gets a one-line message naming the problem, the contract's exit code, and changes
//! nothing in the store.

mod common;

use common::{Env, KeyKind, assert_ok, json_lines, make_csr, openssl_ok};

/// Runs `args`, expects `code`, a message on stderr containing `needle`, and an unchanged
/// certificate list. With `--json`, also checks the JSON error object.
fn refused(env: &Env, args: &[&str], code: i32, needle: &str) {
    let before = env.cert_list();
    let out = env.lgpki(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{args:?}: stderr {stderr}");
    assert!(
        stderr.contains(needle),
        "{args:?}: expected {needle:?} in {stderr}"
    );
    if stderr.starts_with("lgpki: error:") {
        assert_eq!(
            stderr.trim().lines().count(),
            1,
            "one-line message: {stderr}"
        );
    } else {
        assert!(stderr.starts_with("error:"), "clap usage errors: {stderr}");
    }
    assert_eq!(env.cert_list(), before, "{args:?} changed the store");
    // The same with --json: an error object on stdout, same exit code.
    let mut jargs = vec!["--json"];
    jargs.extend_from_slice(args);
    let out = env.lgpki(&jargs);
    assert_eq!(out.status.code(), Some(code));
    if stderr.starts_with("lgpki: error:") {
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "JSON error for {args:?}: {e}: {}",
                String::from_utf8_lossy(&out.stdout)
            )
        });
        assert!(
            v["error"]["kind"].is_string() && v["error"]["message"].is_string(),
            "{v}"
        );
    }
    assert_eq!(env.cert_list(), before);
}

fn s(p: &std::path::Path) -> &str {
    p.to_str().expect("utf8")
}

#[test]
fn bad_inputs_are_refused_cleanly() {
    let env = Env::init(&[]);
    let d = env.dir.path();
    let good = make_csr(
        d,
        "good",
        KeyKind::P256,
        "/C=JP/O=LGPKI/OU=千代田区/CN=山田太郎",
        &[],
    );
    // One good issuance so the list is not trivially empty.
    assert_ok(
        &env.lgpki(&["issue", "--profile", "staff", "--csr", s(&good)]),
        "baseline issue",
    );

    // Malformed PEM (garbage base64) and malformed DER (truncated).
    let pem = env.path("bad.pem");
    std::fs::write(
        &pem,
        "-----BEGIN CERTIFICATE REQUEST-----\n!!!!\n-----END CERTIFICATE REQUEST-----\n",
    )
    .expect("w");
    refused(
        &env,
        &["issue", "--profile", "staff", "--csr", s(&pem)],
        2,
        "malformed",
    );
    let der = env.path("trunc.der");
    let full = openssl_ok(&["req", "-in", s(&good), "-outform", "DER"]);
    let _ = full;
    let der_bytes = std::process::Command::new("openssl")
        .args(["req", "-in", s(&good), "-outform", "DER"])
        .output()
        .expect("openssl")
        .stdout;
    std::fs::write(&der, &der_bytes[..der_bytes.len() / 2]).expect("w");
    refused(
        &env,
        &["issue", "--profile", "staff", "--csr", s(&der)],
        2,
        "malformed CSR",
    );
    let junk = env.path("junk.txt");
    std::fs::write(&junk, "hello").expect("w");
    refused(
        &env,
        &["issue", "--profile", "staff", "--csr", s(&junk)],
        2,
        "neither PEM nor DER",
    );
    refused(
        &env,
        &[
            "issue",
            "--profile",
            "staff",
            "--csr",
            s(&env.path("missing.csr")),
        ],
        2,
        "missing.csr",
    );

    // A DER CSR is accepted (the contract: PEM or DER).
    let whole = env.path("whole.der");
    std::fs::write(&whole, &der_bytes).expect("w");
    assert_ok(
        &env.lgpki(&["issue", "--profile", "staff", "--csr", s(&whole)]),
        "DER CSR",
    );

    // A CSR whose signature fails: flip the last byte of the signature.
    let mut tampered = der_bytes.clone();
    let n = tampered.len();
    tampered[n - 1] ^= 0x01;
    let bad_sig = env.path("badsig.der");
    std::fs::write(&bad_sig, &tampered).expect("w");
    refused(
        &env,
        &["issue", "--profile", "staff", "--csr", s(&bad_sig)],
        1,
        "CSR signature does not verify",
    );

    // Unknown profile, unknown CA, a CA that does not issue the profile.
    refused(
        &env,
        &["issue", "--profile", "nope", "--csr", s(&good)],
        1,
        "unknown profile \"nope\"",
    );
    refused(
        &env,
        &[
            "issue",
            "--profile",
            "staff",
            "--ca",
            "nope",
            "--csr",
            s(&good),
        ],
        1,
        "unknown CA \"nope\"",
    );
    refused(
        &env,
        &[
            "issue",
            "--profile",
            "staff",
            "--ca",
            "application",
            "--csr",
            s(&good),
        ],
        1,
        "does not issue profile",
    );
    refused(
        &env,
        &["issue", "--profile", "sub-ca", "--csr", s(&good)],
        1,
        "ca create",
    );

    // Weak keys: RSA-1024 refused.
    let weak = make_csr(
        d,
        "weak",
        KeyKind::Rsa(1024),
        "/C=JP/O=LGPKI/OU=千代田区/CN=山田太郎",
        &[],
    );
    refused(
        &env,
        &["issue", "--profile", "staff", "--csr", s(&weak)],
        1,
        "RSA-1024 is weaker than the minimum RSA-2048",
    );

    // SANs the profile forbids: a server name outside lg.jp, a DNS name on a staff certificate,
    // a server certificate without a dNSName, a bad SAN syntax.
    let web = make_csr(
        d,
        "web",
        KeyKind::P256,
        "/C=JP/O=LGPKI/CN=www.example.com",
        &["DNS:www.example.com"],
    );
    refused(
        &env,
        &["issue", "--profile", "server", "--csr", s(&web)],
        1,
        "must be a name under lg.jp",
    );
    refused(
        &env,
        &[
            "issue",
            "--profile",
            "staff",
            "--csr",
            s(&good),
            "--san",
            "dns:www.city.chiyoda.lg.jp",
        ],
        1,
        "dns names are not allowed",
    );
    let nosan = make_csr(
        d,
        "nosan",
        KeyKind::P256,
        "/C=JP/O=LGPKI/CN=www.city.chiyoda.lg.jp",
        &[],
    );
    refused(
        &env,
        &["issue", "--profile", "server", "--csr", s(&nosan)],
        1,
        "a subjectAltName of type dns or ip is required",
    );
    refused(
        &env,
        &[
            "issue",
            "--profile",
            "server",
            "--csr",
            s(&nosan),
            "--san",
            "dns:*.lg.jp",
        ],
        2,
        "invalid --san",
    );
    refused(
        &env,
        &[
            "issue",
            "--profile",
            "server",
            "--csr",
            s(&nosan),
            "--san",
            "dns:www.city.chiyoda.lg.jp",
            "--san",
            "dns:other.lg.jp",
            "--subject",
            "CN=www.evil.lg.jp",
        ],
        1,
        "must also be a dNSName",
    );

    // Subject rules: another O, a missing OU, a forbidden attribute.
    refused(
        &env,
        &[
            "issue",
            "--profile",
            "staff",
            "--csr",
            s(&good),
            "--subject",
            "CN=a,OU=b,O=Evil,C=JP",
        ],
        1,
        "O must be \"LGPKI\"",
    );
    refused(
        &env,
        &[
            "issue",
            "--profile",
            "staff",
            "--csr",
            s(&good),
            "--subject",
            "CN=a",
        ],
        1,
        "OU is required",
    );
    refused(
        &env,
        &[
            "issue",
            "--profile",
            "staff",
            "--csr",
            s(&good),
            "--subject",
            "CN=a,OU=b,L=Tokyo",
        ],
        1,
        "L is not allowed",
    );
    refused(
        &env,
        &[
            "issue",
            "--profile",
            "staff",
            "--csr",
            s(&good),
            "--subject",
            "CN=a,XX=b",
        ],
        2,
        "unknown attribute type",
    );

    // Validity beyond the profile's maximum.
    refused(
        &env,
        &[
            "issue",
            "--profile",
            "staff",
            "--csr",
            s(&good),
            "--days",
            "4000",
        ],
        1,
        "allows 1..=1826",
    );

    // Usage errors.
    refused(&env, &["issue", "--profile", "staff"], 2, "--csr");
    refused(
        &env,
        &["issue", "--profile", "staff", "--csr", s(&good), "--bogus"],
        2,
        "--bogus",
    );
    refused(
        &env,
        &[
            "ca",
            "create",
            "x",
            "--parent",
            "bridge",
            "--key-alg",
            "dsa-1024",
        ],
        2,
        "dsa-1024",
    );

    // init on an existing home: refused, exit 1, nothing changed.
    refused(&env, &["init"], 1, "already initialised");
    // Commands on a home without a store: exit 2.
    let empty = Env::new();
    let out = empty.lgpki(&["cert", "list"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("lgpki init"));
    assert!(
        !empty.home.join("lgpki.db").exists(),
        "a failed command must not create a store"
    );

    // Exactly the two good issuances are in the store.
    assert_eq!(common::issued_count(&env), 2);
}

#[test]
fn failed_init_leaves_nothing_behind() {
    let env = Env::new();
    let out = env.lgpki(&["init", "--base-url", "ftp://nowhere"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !env.home.exists(),
        "init failure must not leave a half-made home"
    );
    assert_ok(&env.lgpki(&["init"]), "init after a failed init");
}

#[test]
fn batch_reports_each_line_in_order_and_is_idempotent() {
    let env = Env::init(&[]);
    let d = env.dir.path();
    let csr = |name: &str, kind, subj: &str, sans: &[&str]| {
        std::fs::read_to_string(make_csr(d, name, kind, subj, sans)).expect("csr")
    };
    let staff = csr(
        "b1",
        KeyKind::P256,
        "/C=JP/O=LGPKI/OU=千代田区/CN=山田太郎",
        &[],
    );
    let web = csr(
        "b2",
        KeyKind::Rsa(2048),
        "/C=JP/O=LGPKI/CN=www.city.chiyoda.lg.jp",
        &["DNS:www.city.chiyoda.lg.jp"],
    );
    let weak = csr(
        "b3",
        KeyKind::Rsa(1024),
        "/C=JP/O=LGPKI/OU=千代田区/CN=弱鍵",
        &[],
    );
    let lines = [
        serde_json::json!({"profile": "staff", "csr": staff, "id": "renewal-2026-0001"}).to_string(),
        "{not json".to_string(),
        serde_json::json!({"profile": "server", "csr": web}).to_string(),
        serde_json::json!({"profile": "staff", "csr": weak}).to_string(),
        serde_json::json!({"profile": "mail", "csr": staff, "san": ["email:taro@city.chiyoda.lg.jp"], "subject": "CN=山田太郎,OU=千代田区"}).to_string(),
        serde_json::json!({"profile": "nope", "csr": staff}).to_string(),
    ];
    let file = env.path("batch.jsonl");
    std::fs::write(&file, lines.join("\n") + "\n").expect("w");
    let out = env.lgpki(&["issue", "--batch", file.to_str().expect("utf8")]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a failed line makes exit 1: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results = json_lines(&out.stdout);
    assert_eq!(results.len(), 6, "{results:?}");
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r["line"], i + 1, "results in input order: {r}");
    }
    let ok: Vec<usize> = results
        .iter()
        .enumerate()
        .filter(|(_, r)| r.get("serial").is_some())
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(ok, vec![1, 3, 5]);
    assert_eq!(results[1]["error"]["kind"], "malformed_input");
    assert_eq!(results[3]["error"]["kind"], "key_refused");
    assert_eq!(results[5]["error"]["kind"], "unknown_profile");
    assert_eq!(common::issued_count(&env), 3);
    // Every printed serial is in the store.
    for r in results.iter().filter(|r| r.get("serial").is_some()) {
        let serial = r["serial"].as_str().expect("serial");
        assert_ok(&env.lgpki(&["cert", "show", serial]), "cert show");
    }
    // Re-running the batch: the line with an id returns the same certificate, not a new one.
    let again = env.lgpki(&["issue", "--batch", file.to_str().expect("utf8")]);
    let again = json_lines(&again.stdout);
    assert_eq!(again[0]["serial"], results[0]["serial"], "idempotent by id");
    assert_eq!(again[0]["replayed"], true);
    assert_ne!(
        again[2]["serial"], results[2]["serial"],
        "lines without id issue anew"
    );
    assert_eq!(common::issued_count(&env), 5);
}

#[test]
fn several_processes_issue_into_one_store_at_once() {
    let env = Env::init(&[]);
    let csr = std::fs::read_to_string(make_csr(
        env.dir.path(),
        "c",
        KeyKind::P256,
        "/C=JP/O=LGPKI/OU=千代田区/CN=並行",
        &[],
    ))
    .expect("csr");
    let line = serde_json::json!({"profile": "staff", "csr": csr}).to_string();
    let mut children = Vec::new();
    for p in 0..4 {
        let file = env.path(&format!("batch{p}.jsonl"));
        std::fs::write(&file, vec![line.clone(); 25].join("\n")).expect("w");
        children.push(
            std::process::Command::new(env!("CARGO_BIN_EXE_lgpki"))
                .arg("--home")
                .arg(&env.home)
                .args(["issue", "--batch"])
                .arg(&file)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn"),
        );
    }
    let mut serials = std::collections::HashSet::new();
    for c in children {
        let out = c.wait_with_output().expect("wait");
        assert_ok(&out, "concurrent batch");
        for r in json_lines(&out.stdout) {
            assert!(
                serials.insert(r["serial"].as_str().expect("serial").to_string()),
                "duplicate serial {r}"
            );
        }
    }
    assert_eq!(serials.len(), 100);
    assert_eq!(common::issued_count(&env), 100);
}

#[test]
fn a_half_initialised_home_is_neither_used_nor_reinitialised() {
    // What another process sees while `init` runs (or after an init was killed): a store
    // without the "initialized" mark that init writes last.
    let env = Env::init(&[]);
    let db = rusqlite::Connection::open(env.home.join("lgpki.db")).expect("open store");
    db.execute("DELETE FROM meta WHERE key = 'initialized'", [])
        .expect("unmark");
    drop(db);
    let out = env.lgpki(&["cert", "list"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("no initialised CA store"));
    let out = env.lgpki(&["init"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("did not finish"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
