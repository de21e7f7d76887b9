//! Regression tests for the defects of issue 17 (found by probing as an attacker and as a
//! clumsy operator would): each test reproduces its defect against the real binary.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::{Env, KeyKind, Server, assert_ok, issued_count, json_lines, make_csr};

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.clone(), std::fs::read(&p).expect("read file")));
            }
        }
    }
    out.sort();
    out
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Item 1: a home whose keys are present but whose store is missing (a restore in progress):
/// `init` and a first-start `serve` fail naming the problem, and every file is still there,
/// byte for byte. A failed init in an existing home removes only what it created.
#[test]
fn failed_init_never_deletes_keys_or_passphrase_it_did_not_create() {
    let env = Env::init(&[]);
    for f in ["lgpki.db", "lgpki.db-wal", "lgpki.db-shm"] {
        let _ = std::fs::remove_file(env.home.join(f));
    }
    let before = snapshot(&env.home);
    assert!(
        before.iter().any(|(p, _)| p.ends_with("keys/bridge.p8")),
        "the home has keys"
    );
    assert!(before.iter().any(|(p, _)| p.ends_with("passphrase")));

    let out = env.lgpki(&["init"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("keys") && stderr(&out).contains("lgpki.db"),
        "names the problem: {}",
        stderr(&out)
    );
    assert_eq!(snapshot(&env.home), before, "init changed the home");

    // A home named explicitly that holds no CA is refused unless `serve --init` (issue 14);
    // with it, serve's first-start init meets the orphaned keys and must not delete them.
    let out = env
        .command(&[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--ra-listen",
            "127.0.0.1:0",
        ])
        .output()
        .expect("serve");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--init"), "{}", stderr(&out));
    assert_eq!(snapshot(&env.home), before, "serve changed the home");
    let out = env
        .command(&[
            "serve",
            "--init",
            "--listen",
            "127.0.0.1:0",
            "--ra-listen",
            "127.0.0.1:0",
        ])
        .output()
        .expect("serve");
    assert!(!out.status.success(), "serve started over orphaned keys");
    assert!(stderr(&out).contains("keys"), "{}", stderr(&out));
    assert_eq!(snapshot(&env.home), before, "serve --init changed the home");

    // A failure later in init (a bad --base-url) in a home holding the operator's own
    // passphrase file and other files: those stay, nothing new is left behind.
    let env = Env::new();
    std::fs::create_dir_all(&env.home).expect("home");
    std::fs::write(env.home.join("passphrase"), "operator's own passphrase\n").expect("pass");
    std::fs::write(env.home.join("notes.txt"), "keep me").expect("notes");
    let before = snapshot(&env.home);
    let out = env.lgpki(&["init", "--base-url", "ftp://example"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(
        snapshot(&env.home),
        before,
        "failed init removed or left files"
    );
}

use common::Officer;

/// A staff certificate for an officer (key by openssl, certificate by lgpki).
fn officer(env: &Env, name: &str, cn: &str, ou: &str) -> Officer {
    common::officer_cert(env, name, cn, ou)
}

fn remote(env: &Env, server: &Server, who: &Officer, args: &[&str]) -> std::process::Output {
    common::remote_as(env, &server.ra, who, args)
}

fn audit(env: &Env) -> Vec<serde_json::Value> {
    let out = env.lgpki(&["--json", "audit", "list"]);
    assert_ok(&out, "audit list");
    json_lines(&out.stdout)
}

/// Items 2 and 6, and issue 15's submit-time checks: officers get server names only inside
/// their own organisation's registered domains and networks; what can never be approved is
/// refused at submit; one person is one officer; refusals are audited.
#[test]
fn officers_are_bound_to_their_organisations_names_and_persons() {
    let env = Env::init(&[]);
    std::fs::write(
        env.path("root.pem"),
        // The RA listener's TLS certificate chains to the application root.
        env.lgpki(&["ca", "cert", "application"]).stdout,
    )
    .expect("root");
    // Registered names: bare lg.jp and too-wide networks are refused, overlaps too.
    for (bad, code) in [("lg.jp", 2), ("10.0.0.0/4", 2), ("10.1.2.1/24", 2)] {
        let out = env.lgpki(&[
            "org",
            "add",
            "--code",
            "131016",
            "--name",
            "千代田区",
            "--domain",
            bad,
        ]);
        assert_eq!(out.status.code(), Some(code), "{bad}: {}", stderr(&out));
    }
    assert!(
        json_lines(&env.lgpki(&["--json", "org", "list"]).stdout).is_empty(),
        "a refused name registers nothing"
    );
    assert_ok(
        &env.lgpki(&[
            "org",
            "add",
            "--code",
            "131016",
            "--name",
            "千代田区",
            "--domain",
            "city.chiyoda.lg.jp",
        ]),
        "org with domain",
    );
    assert_ok(
        &env.lgpki(&["org", "domain", "add", "--org", "131016", "10.1.2.0/24"]),
        "network",
    );
    assert_ok(
        &env.lgpki(&[
            "org",
            "add",
            "--code",
            "131024",
            "--name",
            "中央区",
            "--domain",
            "city.chuo.lg.jp",
        ]),
        "second org",
    );
    let out = env.lgpki(&[
        "org",
        "domain",
        "add",
        "--org",
        "131024",
        "www.city.chiyoda.lg.jp",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("registered to organisation 131016"));
    let orgs = json_lines(&env.lgpki(&["--json", "org", "list"]).stdout);
    assert_eq!(
        orgs[0]["domains"],
        serde_json::json!(["10.1.2.0/24", "city.chiyoda.lg.jp"])
    );

    let reg = officer(&env, "reg", "登録太郎", "千代田区");
    let app = officer(&env, "app", "承認花子", "千代田区");
    let app_again = officer(&env, "app2", "承認花子", "千代田区");
    let reg_as_app = officer(&env, "regapp", "登録太郎", "千代田区");
    for (o, role) in [
        (&reg, "registrar"),
        (&app, "approver"),
        (&app_again, "approver"),
    ] {
        assert_ok(
            &env.lgpki(&[
                "officer", "add", "--org", "131016", "--cert", &o.cert, "--role", role,
            ]),
            "officer add",
        );
    }
    // The registrar's second certificate may not make them an approver as well.
    let out = env.lgpki(&[
        "officer",
        "add",
        "--org",
        "131016",
        "--cert",
        &reg_as_app.cert,
        "--role",
        "approver",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("both registrar and approver"));
    // Also by an explicit person id, whatever the subject says.
    let other = officer(&env, "other", "別人", "千代田区");
    let out = env.lgpki(&[
        "officer",
        "add",
        "--org",
        "131016",
        "--cert",
        &other.cert,
        "--role",
        "registrar",
        "--person",
        "CN=承認花子,OU=千代田区,O=LGPKI,C=JP",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let server = Server::start(&env);

    let submit = |who: &Officer, profile: &str, csr: &Path, sans: &[&str]| {
        let mut args = vec![
            "request",
            "submit",
            "--profile",
            profile,
            "--csr",
            csr.to_str().expect("utf8"),
            "--org",
            "131016",
        ];
        for s in sans {
            args.push("--san");
            args.push(s);
        }
        remote(&env, &server, who, &args)
    };
    let www = make_csr(
        env.dir.path(),
        "www",
        KeyKind::P256,
        "/C=JP/O=LGPKI/CN=www.city.chiyoda.lg.jp",
        &[],
    );
    let bare = make_csr(env.dir.path(), "bare", KeyKind::P256, "/C=JP/O=LGPKI", &[]);
    let requests_before = json_lines(&env.lgpki(&["--json", "request", "list"]).stdout).len();
    let refused: Vec<(&str, &Path, Vec<&str>, &str)> = vec![
        (
            "server",
            &bare,
            vec!["dns:www.city.chuo.lg.jp"],
            "not among organisation 131016's registered names",
        ),
        ("server", &bare, vec!["dns:www.lg.jp"], "registered names"),
        ("server", &bare, vec!["dns:lg.jp"], "not the suffix itself"),
        ("server", &bare, vec!["ip:10.0.0.1"], "registered names"),
        // CN not among the SANs: could never be approved.
        (
            "server",
            &www,
            vec!["dns:mail.city.chiyoda.lg.jp"],
            "must also be a dNSName",
        ),
        ("sub-ca", &bare, vec![], "not one registration officers may"),
        (
            "ocsp-signing",
            &www,
            vec![],
            "not one registration officers may",
        ),
    ];
    for (profile, csr, sans, needle) in &refused {
        let out = submit(&reg, profile, csr, sans);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{profile} {sans:?}: {}",
            stderr(&out)
        );
        assert!(
            stderr(&out).contains(needle),
            "{profile} {sans:?}: expected {needle:?} in {}",
            stderr(&out)
        );
    }
    assert_eq!(
        json_lines(&env.lgpki(&["--json", "request", "list"]).stdout).len(),
        requests_before,
        "refused submissions left requests behind"
    );

    // Inside the organisation's names: accepted, and issued on approval.
    let out = submit(
        &reg,
        "server",
        &www,
        &["dns:www.city.chiyoda.lg.jp", "ip:10.1.2.10"],
    );
    assert_ok(&out, "submit inside the registered names");
    let id = json_lines(&out.stdout)[0]["id"]
        .as_i64()
        .expect("id")
        .to_string();
    // A registrar trying to approve is refused, and the refusal is recorded.
    let out = remote(&env, &server, &reg, &["request", "approve", &id]);
    assert_eq!(out.status.code(), Some(1));
    assert_ok(
        &remote(&env, &server, &app, &["request", "approve", &id]),
        "approve",
    );

    // The approver's two certificates are one person: submitting with one and approving with
    // the other is self-approval.
    let out = submit(&app, "server", &www, &["dns:www.city.chiyoda.lg.jp"]);
    assert_ok(&out, "approver submits");
    let own = json_lines(&out.stdout)[0]["id"]
        .as_i64()
        .expect("id")
        .to_string();
    let out = remote(&env, &server, &app_again, &["request", "approve", &own]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("may not approve their own request"));

    // Names are checked again at approval: a domain that is no longer the organisation's
    // (moved here behind the CA's back) stops issuance.
    let out = submit(&reg, "server", &www, &["dns:www.city.chiyoda.lg.jp"]);
    assert_ok(&out, "submit");
    let late = json_lines(&out.stdout)[0]["id"]
        .as_i64()
        .expect("id")
        .to_string();
    {
        let db = rusqlite::Connection::open(env.home.join("lgpki.db")).expect("db");
        db.execute(
            "UPDATE org_names SET org = '131024' WHERE name = 'city.chiyoda.lg.jp'",
            [],
        )
        .expect("move domain");
    }
    let issued = issued_count(&env);
    let out = remote(&env, &server, &app, &["request", "approve", &late]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("registered names"),
        "{}",
        stderr(&out)
    );
    assert_eq!(issued_count(&env), issued, "nothing issued");

    // The refusals are in the audit log, with who tried; the operator is named by OS user.
    let records = audit(&env);
    let refusals: Vec<&serde_json::Value> = records
        .iter()
        .filter(|r| {
            r["outcome"]
                .as_str()
                .is_some_and(|o| o.starts_with("refused"))
        })
        .collect();
    let has = |action: &str, needle: &str| {
        refusals.iter().any(|r| {
            r["action"] == action && r["outcome"].as_str().is_some_and(|o| o.contains(needle))
        })
    };
    assert!(
        has("request.approve", "needs the approver role"),
        "{refusals:?}"
    );
    assert!(has("request.approve", "their own request"), "{refusals:?}");
    assert!(
        has("request.submit.issue", "registered names"),
        "{refusals:?}"
    );
    assert!(
        refusals.iter().all(|r| r["actor"]
            .as_str()
            .is_some_and(|a| a.starts_with("officer#"))),
        "{refusals:?}"
    );
    assert!(
        records.iter().any(|r| r["action"] == "org.add"
            && r["actor"].as_str().is_some_and(|a| a.starts_with("os:"))),
        "the local operator is named by OS user"
    );
    assert!(!records.iter().any(|r| r["actor"] == "operator@local"));
    assert_ok(&env.lgpki(&["audit", "verify"]), "audit verify");
}

/// Item 2 for the operator: `issue` by the center itself may name any organisation's server,
/// but never the bare suffix lg.jp.
#[test]
fn operator_issue_refuses_the_bare_suffix() {
    let env = Env::init(&[]);
    let csr = make_csr(env.dir.path(), "s", KeyKind::P256, "/C=JP/O=LGPKI", &[]);
    let issue = |san: &str| {
        env.lgpki(&[
            "issue",
            "--profile",
            "server",
            "--csr",
            csr.to_str().expect("utf8"),
            "--san",
            san,
        ])
    };
    let out = issue("dns:lg.jp");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("not the suffix itself"));
    assert_ok(&issue("dns:www.city.chuo.lg.jp"), "operator issue");
}

/// Item 4 and issue 13: batch ids and RA request ids are separate namespaces, and an id reused
/// with a different request is refused instead of replaying another's certificate.
#[test]
fn batch_ids_cannot_take_over_other_requests() {
    let env = Env::init(&[]);
    assert_ok(
        &env.lgpki(&["org", "add", "--code", "131016", "--name", "千代田区"]),
        "org",
    );
    // An RA request of 千代田区, issued as request 1 (the operator approves alone).
    let ra_csr = make_csr(
        env.dir.path(),
        "ra",
        KeyKind::P256,
        "/C=JP/O=LGPKI/CN=千代田一郎",
        &[],
    );
    assert_ok(
        &env.lgpki(&[
            "request",
            "submit",
            "--profile",
            "staff",
            "--csr",
            ra_csr.to_str().expect("utf8"),
            "--org",
            "131016",
        ]),
        "submit",
    );
    let out = env.lgpki(&["--json", "request", "approve", "1"]);
    assert_ok(&out, "approve");
    let ra_serial = json_lines(&out.stdout)[0]["serial"]
        .as_str()
        .expect("serial")
        .to_string();

    let csr_text = |name: &str, cn: &str| {
        let p = make_csr(
            env.dir.path(),
            name,
            KeyKind::P256,
            &format!("/C=JP/O=LGPKI/OU=札幌市/CN={cn}"),
            &[],
        );
        std::fs::read_to_string(p).expect("csr")
    };
    let mallory = csr_text("mallory", "攻撃者");
    let taro = csr_text("taro", "札幌太郎");
    let hanako = csr_text("hanako", "札幌花子");
    let batch = |name: &str, lines: &[serde_json::Value]| {
        let f = env.path(name);
        let text: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        std::fs::write(&f, text.join("\n")).expect("batch");
        env.lgpki(&["--json", "issue", "--batch", f.to_str().expect("utf8")])
    };
    // The RA's id from a batch is just a batch id: a new certificate, not the RA's.
    let out = batch(
        "takeover.jsonl",
        &[serde_json::json!({"profile": "staff", "csr": mallory, "id": "ra-request-1"})],
    );
    assert_ok(&out, "batch");
    let r = &json_lines(&out.stdout)[0];
    assert_ne!(r["serial"].as_str(), Some(ra_serial.as_str()), "{r}");
    assert!(r.get("replayed").is_none(), "{r}");
    assert!(r["subject"].as_str().expect("subject").contains("攻撃者"));

    // Same id, same request: replayed. Same id, another request: refused, exit 1.
    let first = batch(
        "first.jsonl",
        &[serde_json::json!({"profile": "staff", "csr": taro, "id": "renewal-7"})],
    );
    assert_ok(&first, "first");
    let serial = json_lines(&first.stdout)[0]["serial"].clone();
    let out = batch(
        "again.jsonl",
        &[
            serde_json::json!({"profile": "staff", "csr": taro, "id": "renewal-7"}),
            serde_json::json!({"profile": "staff", "csr": hanako, "id": "renewal-7"}),
            serde_json::json!({"profile": "staff", "csr": taro, "id": "renewal-7", "subject": "CN=別人,OU=札幌市"}),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let lines = json_lines(&out.stdout);
    assert_eq!(lines[0]["serial"], serial);
    assert_eq!(lines[0]["replayed"], true);
    for l in &lines[1..] {
        assert!(
            l["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("different request")),
            "{l}"
        );
    }
}

/// Item 5: the audit chain is anchored by checkpoints signed with a key the store does not
/// hold; deleting tail records, or rewriting records and recomputing every hash, is detected.
#[test]
fn audit_truncation_and_rewriting_are_detected() {
    let tamper = |truncate: bool| {
        let env = Env::init(&[]);
        for i in 0..3 {
            common::issue_staff(&env, &format!("staff{i}"));
        }
        let out = env.lgpki(&["--json", "audit", "verify"]);
        assert_ok(&out, "verify");
        let v = &json_lines(&out.stdout)[0];
        assert_eq!(v["valid"], true);
        let n = v["records"].as_i64().expect("records");
        {
            let db = rusqlite::Connection::open(env.home.join("lgpki.db")).expect("db");
            // The attacker also removes every checkpoint the store holds.
            db.execute("DELETE FROM audit_checkpoints", []).expect("cp");
            if truncate {
                db.execute("DELETE FROM audit WHERE seq > ?1", [n - 2])
                    .expect("truncate");
            } else {
                // Rewrite record 3 and recompute every hash after it.
                let mut stmt = db
                    .prepare("SELECT seq, time, actor, action, target, outcome, details, prev_hash, hash FROM audit ORDER BY seq")
                    .expect("select");
                let mut recs: Vec<ca_core::AuditRecord> = stmt
                    .query_map([], |r| {
                        Ok(ca_core::AuditRecord {
                            seq: r.get(0)?,
                            time: r.get(1)?,
                            actor: r.get(2)?,
                            action: r.get(3)?,
                            target: r.get(4)?,
                            outcome: r.get(5)?,
                            details: r.get(6)?,
                            prev_hash: r.get(7)?,
                            hash: r.get(8)?,
                        })
                    })
                    .expect("query")
                    .collect::<Result<_, _>>()
                    .expect("rows");
                recs[2].actor = "someone-else".into();
                for i in 2..recs.len() {
                    recs[i].prev_hash = recs[i - 1].hash.clone();
                    recs[i].hash = recs[i].compute_hash();
                }
                assert!(ca_core::verify_chain(&recs).is_ok(), "a consistent forgery");
                for r in &recs {
                    db.execute(
                        "UPDATE audit SET actor = ?2, prev_hash = ?3, hash = ?4 WHERE seq = ?1",
                        rusqlite::params![r.seq, r.actor, r.prev_hash, r.hash],
                    )
                    .expect("rewrite");
                }
            }
        }
        let out = env.lgpki(&["audit", "verify"]);
        assert_eq!(out.status.code(), Some(1), "tampering not detected");
        let needle = if truncate { "truncated" } else { "rewritten" };
        assert!(stderr(&out).contains(needle), "{}", stderr(&out));
        // Later commands do not launder it by signing the forged head.
        common::issue_staff(&env, "after");
        assert_eq!(env.lgpki(&["audit", "verify"]).status.code(), Some(1));
    };
    tamper(true);
    tamper(false);
}

/// Item 6: private modes for the home and the store's files; names with control, bidi and
/// zero-width characters refused.
#[test]
fn private_modes_and_deceptive_characters() {
    let env = Env::init(&[]);
    let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode(&env.home), 0o700, "home");
    for f in [
        "lgpki.db",
        "lgpki.db-wal",
        "lgpki.db-shm",
        "passphrase",
        "keys/bridge.p8",
        "ocsp/application/key.pem",
        "keys/audit.p8",
        "audit-checkpoint.json",
    ] {
        let p = env.home.join(f);
        assert!(p.exists(), "{f} exists");
        assert_eq!(mode(&p), 0o600, "{f}");
    }
    // The audit key is made at init, and every change is sealed by a signed checkpoint.
    common::issue_staff(&env, "sealed");
    let out = env.lgpki(&["--json", "audit", "verify"]);
    assert_ok(&out, "audit verify");
    let v = &json_lines(&out.stdout)[0];
    assert_eq!(v["checkpoint"], v["records"], "{v}");
    assert_eq!(v["unanchored"], 0, "{v}");
    // A store left 0644 by an older version is narrowed on the next open.
    std::fs::set_permissions(
        env.home.join("lgpki.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .expect("chmod");
    assert_ok(&env.lgpki(&["ca", "list"]), "ca list");
    assert_eq!(mode(&env.home.join("lgpki.db")), 0o600);

    for (cn, needle) in [
        ("evil\u{202E}gpj.exe", "U+202E"),
        ("山田\u{200B}太郎", "U+200B"),
        ("a\u{2066}b", "U+2066"),
    ] {
        let csr = make_csr(
            env.dir.path(),
            "x",
            KeyKind::P256,
            &format!("/C=JP/O=LGPKI/OU=千代田区/CN={cn}"),
            &[],
        );
        let out = env.lgpki(&[
            "issue",
            "--profile",
            "staff",
            "--csr",
            csr.to_str().expect("utf8"),
        ]);
        assert_eq!(out.status.code(), Some(1), "{cn:?}");
        assert!(stderr(&out).contains(needle), "{}", stderr(&out));
        let out = env.lgpki(&[
            "issue",
            "--profile",
            "staff",
            "--csr",
            csr.to_str().expect("utf8"),
            "--subject",
            "CN=ok\u{7},OU=千代田区",
        ]);
        assert_eq!(out.status.code(), Some(1), "control character");
    }
    for name in ["千代田\u{202E}区", "千代田\u{FEFF}区", "千代田\u{1b}[31m区"] {
        let out = env.lgpki(&["org", "add", "--code", "131016", "--name", name]);
        assert_eq!(out.status.code(), Some(2), "{name:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("U+"), "{}", stderr(&out));
    }
    assert!(json_lines(&env.lgpki(&["--json", "org", "list"]).stdout).is_empty());
}
