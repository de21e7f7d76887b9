//! Regression tests for reliability bugs found by the crash, hostile-input and fuzz tests; each
//! failed before its fix.

mod common;

use common::{Env, KeyKind, assert_ok, json_lines, make_csr};

/// Regression: an oversized `issue --batch` line used to be skipped by reading the rest of it
/// into memory, so `issue --batch /dev/zero` grew without bound until the OOM killer ended it.
/// Now the skip keeps nothing and stops the batch past 64 MiB.
#[test]
fn an_endless_batch_line_ends_the_batch_instead_of_eating_memory() {
    let env = Env::init(&[]);
    let mut child = env
        .command(&["issue", "--batch", "/dev/zero"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if start.elapsed() > std::time::Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("issue --batch /dev/zero did not end in 60 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().expect("stdout"), &mut stdout)
        .expect("read");
    assert_eq!(status.code(), Some(1), "{stdout}");
    let results = json_lines(stdout.as_bytes());
    assert_eq!(results.len(), 1, "{results:?}");
    assert_eq!(results[0]["line"], 1);
    assert_eq!(results[0]["error"]["kind"], "too_large");
}

/// Puts the issued certificate of batch id `id` back into the state a kill between
/// `Store::reserve` and `Store::complete` leaves: reserved (serial, TBS, id), no certificate.
/// Complete empties the TBS (the certificate holds it), so it is restored from the certificate.
/// Batch ids are stored in their own namespace (`batch:ID`), apart from RA request ids.
fn unfinish(db: &rusqlite::Connection, id: &str) {
    use der::{Decode, Encode};
    let id = &format!("batch:{id}");
    let der: Vec<u8> = db
        .query_row("SELECT der FROM certs WHERE request_id = ?1", [id], |r| {
            r.get(0)
        })
        .expect("certificate");
    let tbs = x509_cert::Certificate::from_der(&der)
        .expect("parse")
        .tbs_certificate()
        .to_der()
        .expect("tbs");
    let n = db
        .execute(
            "UPDATE certs SET state = 'pending', der = NULL, tbs_der = ?2 WHERE request_id = ?1",
            rusqlite::params![id, tbs],
        )
        .expect("update");
    assert_eq!(n, 1, "{id}");
}

/// complete also seals the audit chain after appending its records: a kill before it leaves
/// no checkpoint past the records that remain, in the store or mirrored in HOME.
fn unseal_tail(db: &rusqlite::Connection, home: &std::path::Path) {
    db.execute(
        "DELETE FROM audit_checkpoints WHERE seq > (SELECT MAX(seq) FROM audit)",
        [],
    )
    .expect("delete checkpoints");
    // The checkpoint mirrored in HOME is then the newest one that remains.
    let newest: serde_json::Value = db
        .query_row(
            "SELECT seq, head_hash, time, algorithm, signature FROM audit_checkpoints \
             ORDER BY seq DESC LIMIT 1",
            [],
            |r| {
                Ok(serde_json::json!({
                    "seq": r.get::<_, i64>(0)?,
                    "head_hash": r.get::<_, String>(1)?,
                    "time": r.get::<_, String>(2)?,
                    "algorithm": r.get::<_, String>(3)?,
                    "signature": r.get::<_, String>(4)?,
                }))
            },
        )
        .expect("newest checkpoint");
    std::fs::write(
        home.join("audit-checkpoint.json"),
        serde_json::to_vec(&newest).expect("json"),
    )
    .expect("write checkpoint");
}

/// Regression: a process killed between recording a batch line's reservation (serial, TBS and
/// `id`) and storing its certificate left the `id` taken by a row that never completes, so
/// every later run of the same batch refused that line ("request id … was used before") and
/// the line could never be issued. Seen with real kills (1 round in 20 of a 256-line batch
/// killed at a random moment refused all 256 ids on the re-run). Now the re-run finishes the
/// reservation: it signs the recorded TBS, so the id gets exactly one certificate, with the
/// reserved serial.
#[test]
fn a_batch_id_reserved_by_a_killed_run_is_finished_not_refused() {
    let env = Env::init(&[]);
    let csr = std::fs::read_to_string(make_csr(
        env.dir.path(),
        "r",
        KeyKind::P256,
        "/C=JP/O=LGPKI/OU=千代田区/CN=再開",
        &[],
    ))
    .expect("csr");
    let file = env.path("batch.jsonl");
    let lines: Vec<String> = (1..=3)
        .map(|i| {
            serde_json::json!({"profile": "staff", "csr": csr, "id": format!("renew-{i}")})
                .to_string()
        })
        .collect();
    std::fs::write(&file, lines.join("\n")).expect("write");
    let out = env.lgpki(&["issue", "--batch", file.to_str().expect("utf8")]);
    assert_ok(&out, "first run");
    let first = json_lines(&out.stdout);
    let serial = |v: &serde_json::Value| v["serial"].as_str().expect("serial").to_string();
    let (s1, s2, s3) = (serial(&first[0]), serial(&first[1]), serial(&first[2]));

    // The state a SIGKILL between Store::reserve and Store::complete leaves for lines 2 and 3:
    // their rows reserved (serial, TBS, id) without a certificate, and no cert.issue records
    // (complete appends them, last, in its own transaction).
    {
        let db = rusqlite::Connection::open(env.home.join("lgpki.db")).expect("open db");
        unfinish(&db, "renew-2");
        unfinish(&db, "renew-3");
        let n = db
            .execute(
                "DELETE FROM audit WHERE action = 'cert.issue' AND target IN (?1, ?2)",
                [&s2, &s3],
            )
            .expect("delete");
        assert_eq!(n, 2);
        unseal_tail(&db, &env.home);
    }
    assert_ok(
        &env.lgpki(&["audit", "verify"]),
        "the crashed state is consistent",
    );
    assert_eq!(common::issued_count(&env), 1);

    let out = env.lgpki(&["issue", "--batch", file.to_str().expect("utf8")]);
    let again = json_lines(&out.stdout);
    assert!(
        out.status.success(),
        "re-run after the kill: {:?} {again:?}",
        out.status.code()
    );
    assert_eq!(again[0]["serial"], s1.as_str());
    assert_eq!(again[0]["replayed"], true);
    assert_eq!(
        again[1]["serial"],
        s2.as_str(),
        "the reserved serial is finished"
    );
    assert_eq!(
        again[2]["serial"],
        s3.as_str(),
        "the reserved serial is finished"
    );
    assert_eq!(common::issued_count(&env), 3, "one certificate per id");
    assert_ok(&env.lgpki(&["audit", "verify"]), "audit verify");
    // The finished certificate is a real one for its serial, and a third run replays it.
    let pem = env.path("s2.pem");
    std::fs::write(&pem, again[1]["pem"].as_str().expect("pem")).expect("w");
    let text = common::openssl_ok(&[
        "x509",
        "-in",
        pem.to_str().expect("utf8"),
        "-noout",
        "-serial",
    ]);
    assert_eq!(text.trim().trim_start_matches("serial=").to_lowercase(), s2);
    let (root, chain) = env.chain_files("organization");
    common::openssl_ok(&[
        "verify",
        "-x509_strict",
        "-CAfile",
        root.to_str().expect("utf8"),
        "-untrusted",
        chain.to_str().expect("utf8"),
        pem.to_str().expect("utf8"),
    ]);
    let third = json_lines(
        &env.lgpki(&["issue", "--batch", file.to_str().expect("utf8")])
            .stdout,
    );
    assert_eq!(third[1]["serial"], s2.as_str());
    assert_eq!(third[1]["replayed"], true);

    // The same unfinished id on two lines of one batch: finished once, the other line refused.
    {
        let db = rusqlite::Connection::open(env.home.join("lgpki.db")).expect("open db");
        unfinish(&db, "renew-3");
        db.execute(
            "DELETE FROM audit WHERE action = 'cert.issue' AND target = ?1",
            [&s3],
        )
        .expect("delete");
        unseal_tail(&db, &env.home);
    }
    let twice = env.path("twice.jsonl");
    std::fs::write(&twice, format!("{}\n{}\n", lines[2], lines[2])).expect("write");
    let out = env.lgpki(&["issue", "--batch", twice.to_str().expect("utf8")]);
    let r = json_lines(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{r:?}");
    assert_eq!(r[0]["serial"], s3.as_str());
    assert_eq!(r[1]["error"]["kind"], "policy_refused");
    assert_eq!(common::issued_count(&env), 3);
    assert_ok(&env.lgpki(&["audit", "verify"]), "audit verify");
}
