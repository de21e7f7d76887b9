//! Operating a store: the TSA's serial log on PostgreSQL, `store migrate`, `backup` and
//! `restore` (SQLite and PostgreSQL, both directions), and `serve` answering 503 while
//! PostgreSQL is down. Each test runs its own throwaway cluster (see `common/pg.rs`).
//!
//! PostgreSQL missing is a failure, not a skip: CI installs it.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::pg::{PgCluster, pg_env};
use common::{Env, Server, assert_ok, openssl_ok};

fn p(path: &Path) -> &str {
    path.to_str().expect("utf8")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// An HTTP agent that hands back every status (no error for 4xx/5xx).
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .new_agent()
}

/// POST `body` to `url`: (status, body).
fn post(url: &str, content_type: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let mut resp = agent()
        .post(url)
        .header("Content-Type", content_type)
        .send(body)
        .expect("POST");
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_to_vec().expect("body"))
}

#[test]
fn tsa_serials_of_a_postgres_home_are_kept_in_the_database() {
    let pg = PgCluster::start();
    let env = pg_env(&pg, "tsa", &[]);
    let server = Server::start(&env);
    let data = env.path("contract.txt");
    std::fs::write(&data, "契約書: 令和8年度 庁舎清掃業務委託\n").expect("data");
    let tsq = env.path("q.tsq");
    openssl_ok(&[
        "ts",
        "-query",
        "-data",
        p(&data),
        "-sha256",
        "-cert",
        "-out",
        p(&tsq),
    ]);
    let query = std::fs::read(&tsq).expect("tsq");
    let mut serials = Vec::new();
    for i in 0..3 {
        let (status, body) = post(
            &format!("{}/tsa", server.http),
            "application/timestamp-query",
            &query,
        );
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let tsr = env.path(&format!("r{i}.tsr"));
        std::fs::write(&tsr, body).expect("tsr");
        let reply = openssl_ok(&["ts", "-reply", "-in", p(&tsr), "-text"]);
        let serial = reply
            .lines()
            .find_map(|l| l.strip_prefix("Serial number: "))
            .expect("serial in the reply")
            .trim()
            .trim_start_matches("0x")
            .to_ascii_lowercase();
        serials.push(serial);
        // openssl verifies the token up to the Application Root CA (its sub-CA issues TSA
        // certificates).
        let root = env.path("root.pem");
        std::fs::write(&root, env.lgpki(&["ca", "cert", "application"]).stdout).expect("root");
        let out = Command::new("openssl")
            .args(["ts", "-verify", "-data", p(&data), "-in", p(&tsr)])
            .args(["-CAfile", p(&root), "-untrusted"])
            .arg(env.home.join("tsa/chain.pem"))
            .output()
            .expect("openssl ts -verify");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Verification: OK"),
            "{}",
            text(&out)
        );
    }
    drop(server);
    // Every serial is a row of the database's timestamps table; the home has no SQLite file.
    let stored = pg.psql("tsa", "SELECT serial FROM timestamps ORDER BY serial");
    let mut want = serials.clone();
    want.sort();
    let stored: Vec<String> = stored
        .lines()
        .map(|s| s.trim_start_matches('0').to_string())
        .collect();
    let want: Vec<String> = want
        .iter()
        .map(|s| s.trim_start_matches('0').to_string())
        .collect();
    assert_eq!(stored, want);
    for f in ["lgpki.db", "lgpki.db-wal", "lgpki.db-shm"] {
        assert!(!env.home.join(f).exists(), "{f} made in a PostgreSQL home");
    }
}

/// Every table a store has (as `ca_core::transfer::TABLES`, which a unit test keeps equal to
/// the schema).
const TABLES: &[&str] = &[
    "meta",
    "cas",
    "certs",
    "crls",
    "imported_certs",
    "orgs",
    "officers",
    "requests",
    "hold_releases",
    "audit",
    "org_names",
    "audit_checkpoints",
    "timestamps",
    "ca_generations",
    "pending_keys",
];

/// Fills every table of `env`'s store: certificates (one revoked, one held then released),
/// full and delta CRLs, an organisation with a registered name, an officer, a request; a
/// time-stamp serial and an imported certificate are written with `sql` (no CLI command makes
/// them on a fresh home). The revoked serial.
fn populate(env: &Env, sql: &dyn Fn(&str)) -> String {
    let (revoked, _) = common::issue_staff(env, "taro");
    let (held, _) = common::issue_staff(env, "hanako");
    common::issue_staff(env, "jiro");
    for args in [
        vec!["revoke", "--serial", &revoked, "--reason", "keyCompromise"],
        vec!["revoke", "--serial", &held, "--reason", "certificateHold"],
        vec!["unhold", "--serial", &held],
        vec!["org", "add", "--code", "131016", "--name", "千代田区"],
        vec![
            "org",
            "domain",
            "add",
            "--org",
            "131016",
            "city.chiyoda.lg.jp",
        ],
    ] {
        assert_ok(&env.lgpki(&args), &format!("{args:?}"));
    }
    for delta in [false, true] {
        let out = env.path("x.crl");
        let mut args = vec!["crl", "--ca", "organization", "--out", p(&out)];
        if delta {
            args.push("--delta");
        }
        assert_ok(&env.lgpki(&args), "crl");
    }
    let officer = common::officer_cert(env, "officer", "officer", "千代田区");
    assert_ok(
        &env.lgpki(&[
            "officer",
            "add",
            "--org",
            "131016",
            "--cert",
            &officer.cert,
            "--role",
            "approver",
        ]),
        "officer add",
    );
    let csr = common::make_csr(env.dir.path(), "req", common::KeyKind::P256, "/CN=req", &[]);
    assert_ok(
        &env.lgpki(&[
            "request",
            "submit",
            "--profile",
            "staff",
            "--csr",
            p(&csr),
            "--org",
            "131016",
            "--subject",
            "CN=申請者,OU=千代田区,O=LGPKI,C=JP",
        ]),
        "request submit",
    );
    sql(
        "INSERT INTO timestamps (serial, gen_time, policy, hash_alg, imprint) VALUES ('0a1b', 1, '1.2.3', 'sha256', '00')",
    );
    // A well-formed certificate (the store parses imported certificates to pair them): the
    // bridge's own, which certifies none of our CAs' keys under another issuer, so it pairs
    // nothing.
    let bridge_pem = String::from_utf8(env.lgpki(&["ca", "cert", "bridge"]).stdout).expect("pem");
    let b64: String = bridge_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let der = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64)
        .expect("bridge PEM");
    sql(&format!(
        "INSERT INTO imported_certs (name, ours, issuer, der) VALUES ('imported-test', 'bridge', 'CN=LGPKI Bridge CA', X'{}')",
        hex::encode(der)
    ));
    sql(
        "INSERT INTO pending_keys (ca, generation, label, key_uri, created_at) VALUES ('no-such-ca', 2, 'test', NULL, 1)",
    );
    assert_ok(&env.lgpki(&["ca", "renew", "organization"]), "ca renew");
    revoked
}

/// Row counts of every table of the SQLite store at `db`.
fn sqlite_counts(db: &Path) -> Vec<(String, i64)> {
    let c = rusqlite::Connection::open(db).expect("open db");
    TABLES
        .iter()
        .map(|t| {
            let n: i64 = c
                .query_row(&format!("SELECT COUNT(*) FROM {t}"), [], |r| r.get(0))
                .expect("count");
            (t.to_string(), n)
        })
        .collect()
}

/// Row counts of every table of database `db`, as psql reads them.
fn pg_counts(pg: &PgCluster, db: &str) -> Vec<(String, i64)> {
    TABLES
        .iter()
        .map(|t| {
            let n = pg.psql(db, &format!("SELECT COUNT(*) FROM {t}"));
            (t.to_string(), n.parse().expect("count"))
        })
        .collect()
}

/// serial → SHA-256 of the certificate, as SQLite holds them (hashed by `openssl dgst`).
fn sqlite_cert_hashes(db: &Path) -> Vec<String> {
    let c = rusqlite::Connection::open(db).expect("open db");
    let mut stmt = c
        .prepare("SELECT serial, hex(der) FROM certs WHERE der IS NOT NULL ORDER BY serial")
        .expect("prepare");
    let rows: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    rows.into_iter()
        .map(|(serial, der_hex)| {
            let der = hex::decode(der_hex).expect("hex");
            let f = tempfile::NamedTempFile::new().expect("tmp");
            std::fs::write(f.path(), der).expect("write");
            let out = openssl_ok(&["dgst", "-sha256", "-r", p(f.path())]);
            format!(
                "{serial}|{}",
                out.split_whitespace().next().unwrap_or_default()
            )
        })
        .collect()
}

/// serial → SHA-256 of the certificate, as PostgreSQL computes it.
fn pg_cert_hashes(pg: &PgCluster, db: &str) -> Vec<String> {
    pg.psql(
        db,
        "SELECT serial || '|' || encode(sha256(der), 'hex') FROM certs WHERE der IS NOT NULL ORDER BY serial COLLATE \"C\"",
    )
    .lines()
    .map(str::to_string)
    .collect()
}

fn assert_audit_intact(env: &Env) {
    let out = env.lgpki(&["audit", "verify"]);
    assert_ok(&out, "audit verify");
}

#[test]
fn store_migrate_sqlite_to_postgres_and_back_keeps_every_row() {
    let pg = PgCluster::start();
    let env = Env::init(&[]);
    let db = env.home.join("lgpki.db");
    let revoked = populate(&env, &|sql| {
        rusqlite::Connection::open(&db)
            .expect("db")
            .execute_batch(sql)
            .expect("sql");
    });
    let before = sqlite_counts(&db);
    assert!(
        before.iter().all(|(_, n)| *n > 0),
        "every table has rows: {before:?}"
    );
    let hashes = sqlite_cert_hashes(&db);
    let url = pg.create_db("moved");
    let mut env = env;
    env.vars.extend(pg.vars());

    // A non-empty target is refused and nothing changes.
    let other = pg_env(&pg, "occupied", &[]);
    let out = env.lgpki(&["store", "migrate", "--to", &pg.url("occupied")]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("not empty"), "{}", text(&out));
    assert!(db.exists() && !env.home.join("store.url").exists());
    assert_eq!(sqlite_counts(&db), before);
    drop(other);

    let out = env.lgpki(&["--json", "store", "migrate", "--to", &url]);
    assert_ok(&out, "store migrate to postgres");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["certificates"], before[2].1, "{v}");
    // The home now names the database; the old file is kept aside, out of the way.
    let recorded = std::fs::read_to_string(env.home.join("store.url")).expect("store.url");
    assert_eq!(recorded.trim(), url);
    assert!(!db.exists() && env.home.join("lgpki.db.migrated").exists());
    // Every row is there (the migration adds one audit record), every certificate hashes
    // the same in PostgreSQL as in SQLite.
    let after = pg_counts(&pg, "moved");
    for ((t, a), (_, b)) in before.iter().zip(&after) {
        let extra = i64::from(t == "audit");
        assert_eq!(*b, a + extra, "table {t}: {before:?} vs {after:?}");
    }
    assert_eq!(pg_cert_hashes(&pg, "moved"), hashes);
    assert_eq!(
        pg.psql(
            "moved",
            "SELECT action FROM audit ORDER BY seq DESC LIMIT 1"
        ),
        "store.migrate"
    );
    assert_audit_intact(&env);
    // The CA works on the new store: status, issuance, a new request (ids continue).
    let out = env.lgpki(&["--json", "status", "--serial", &revoked]);
    assert_eq!(out.status.code(), Some(1), "revoked: {}", text(&out));
    common::issue_staff(&env, "saburo");
    let csr = common::make_csr(env.dir.path(), "req2", common::KeyKind::P256, "/CN=r2", &[]);
    assert_ok(
        &env.lgpki(&[
            "request",
            "submit",
            "--profile",
            "staff",
            "--csr",
            p(&csr),
            "--org",
            "131016",
            "--subject",
            "CN=二人目,OU=千代田区,O=LGPKI,C=JP",
        ]),
        "request submit after migration",
    );
    assert_eq!(
        pg.psql("moved", "SELECT COUNT(DISTINCT id) FROM requests"),
        "2"
    );

    // And back to SQLite.
    let pg_before = pg_counts(&pg, "moved");
    let pg_hashes = pg_cert_hashes(&pg, "moved");
    let out = env.lgpki(&["store", "migrate", "--to", "sqlite"]);
    assert_ok(&out, "store migrate to sqlite");
    assert!(db.exists() && !env.home.join("store.url").exists());
    let back = sqlite_counts(&db);
    for ((t, a), (_, b)) in pg_before.iter().zip(&back) {
        let extra = i64::from(t == "audit");
        assert_eq!(*b, a + extra, "table {t}");
    }
    assert_eq!(sqlite_cert_hashes(&db), pg_hashes);
    assert_audit_intact(&env);
    common::issue_staff(&env, "shiro");
}

/// A `--batch` of `n` staff lines over one CSR.
fn batch_file(env: &Env, n: usize) -> std::path::PathBuf {
    let csr = common::make_csr(env.dir.path(), "b", common::KeyKind::P256, "/CN=b", &[]);
    let pem = std::fs::read_to_string(csr).expect("csr");
    let lines: String = (0..n)
        .map(|i| {
            format!(
                "{}\n",
                serde_json::json!({"profile": "staff", "csr": pem, "subject": format!("CN=職員{i},OU=総務部,O=LGPKI,C=JP")})
            )
        })
        .collect();
    let f = env.path("batch.jsonl");
    std::fs::write(&f, lines).expect("batch");
    f
}

#[test]
fn backup_while_serving_restores_and_damaged_files_change_nothing() {
    let env = Env::init(&[]);
    let server = Server::start(&env);
    let batch = batch_file(&env, 2000);
    let mut running = env
        .command(&["issue", "--batch", p(&batch)])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("batch");
    // Backups taken while the batch issues and serve runs: each one restores into a fresh
    // home and checks (counts, digests, audit chain).
    let mut backups = Vec::new();
    for i in 0..3 {
        std::thread::sleep(Duration::from_millis(150));
        let file = env.path(&format!("b{i}.lgpki"));
        let out = env.lgpki(&["--json", "backup", "--out", p(&file)]);
        assert_ok(&out, "backup");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        backups.push((file, v));
    }
    assert!(running.wait().expect("wait").success());
    let ocsp_alive = agent().get(&format!("{}/healthz", server.http)).call();
    assert!(ocsp_alive.is_ok());
    drop(server);
    // At least one certificate newer than every backup.
    common::issue_staff(&env, "newest");
    for (file, v) in &backups {
        let fresh = Env::new();
        let out = fresh.lgpki(&["--json", "restore", p(file)]);
        assert_ok(&out, "restore into a fresh home");
        let r: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(r["certificates"], v["certificates"], "{r} vs {v}");
        assert_eq!(r["sha256"], v["sha256"]);
        let counts = sqlite_counts(&fresh.home.join("lgpki.db"));
        assert_eq!(counts[2].1, v["certificates"].as_i64().expect("n"));
        let f = std::fs::read_to_string(file).expect("file");
        assert!(f.starts_with("{\"created\""), "{}", &f[..80]);
        assert!(f.lines().last().unwrap_or_default().contains("\"done\""));
    }
    let live = env.home.join("lgpki.db");
    let live_counts = sqlite_counts(&live);
    let (first, first_v) = &backups[0];
    assert!(first_v["certificates"].as_i64() < Some(live_counts[2].1));

    // A live store is not overwritten without --force.
    let out = env.lgpki(&["restore", p(first)]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("not empty"), "{}", text(&out));
    assert_eq!(sqlite_counts(&live), live_counts);

    // Damaged files: a clear error, exit 2, nothing changed — even with --force.
    let good = std::fs::read(first).expect("read");
    let cut = env.path("cut.lgpki");
    std::fs::write(&cut, &good[..good.len() - 200]).expect("write");
    let flipped = env.path("flipped.lgpki");
    let mut bytes = good.clone();
    let at = bytes
        .windows(6)
        .position(|w| w == b"\"b64\":")
        .expect("a blob")
        + 12;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    std::fs::write(&flipped, &bytes).expect("write");
    let junk = env.path("junk.lgpki");
    std::fs::write(&junk, "not a backup\n").expect("write");
    for (file, says) in [
        (&cut, "cut short"),
        (&flipped, "do not match"),
        (&junk, "line 1"),
    ] {
        let out = env.lgpki(&["restore", "--force", p(file)]);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{}: {}",
            file.display(),
            text(&out)
        );
        assert!(text(&out).contains(says), "{}", text(&out));
        assert!(!text(&out).contains("panicked"));
        assert_eq!(sqlite_counts(&live), live_counts, "{}", file.display());
    }

    // --force replaces the live store with the older backup; the audit log verifies, and the
    // home's newer checkpoint is moved aside and named in the restore record.
    let out = env.lgpki(&["restore", "--force", p(first)]);
    assert_ok(&out, "restore --force");
    let restored = sqlite_counts(&live);
    assert_eq!(restored[2].1, first_v["certificates"].as_i64().expect("n"));
    assert_audit_intact(&env);
    let aside = std::fs::read_dir(&env.home)
        .expect("home")
        .filter_map(|e| e.ok())
        .any(|e| e.file_name().to_string_lossy().contains("pre-restore"));
    assert!(aside, "the newer checkpoint is kept aside");
    let exported = env.path("audit.jsonl");
    assert_ok(
        &env.lgpki(&["audit", "export", "--out", p(&exported)]),
        "audit export",
    );
    let last = std::fs::read_to_string(&exported)
        .expect("export")
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    assert!(
        last.contains("store.restore") && last.contains("checkpoint_moved_aside"),
        "{last}"
    );
    common::issue_staff(&env, "after-restore");
}

#[test]
fn a_postgres_backup_restores_into_sqlite_and_back() {
    let pg = PgCluster::start();
    let env = pg_env(&pg, "src", &[]);
    populate(&env, &|sql| {
        // SQLite's blob literal X'..' is PostgreSQL's '\x..'::bytea.
        let sql = match sql.find("X'") {
            Some(i) => {
                let end = i + 2 + sql[i + 2..].find('\'').expect("closing quote");
                format!(
                    "{}'\\x{}'::bytea{}",
                    &sql[..i],
                    &sql[i + 2..end],
                    &sql[end + 1..]
                )
            }
            None => sql.to_string(),
        };
        pg.psql("src", &sql);
    });
    let file = env.path("pg.lgpki");
    assert_ok(&env.lgpki(&["backup", "--out", p(&file)]), "backup");
    let src = pg_counts(&pg, "src");
    // Into a fresh SQLite home (with the CA's keys: a copy of the PostgreSQL home's files).
    let fresh = Env::new();
    std::fs::create_dir_all(&fresh.home).expect("home");
    let out = Command::new("cp")
        .arg("-a")
        .arg(env.home.join("keys"))
        .arg(env.home.join("passphrase"))
        .arg(&fresh.home)
        .output()
        .expect("cp");
    assert_ok(&out, "cp keys");
    assert_ok(&fresh.lgpki(&["restore", p(&file)]), "restore into sqlite");
    let db = fresh.home.join("lgpki.db");
    let got = sqlite_counts(&db);
    for ((t, a), (_, b)) in src.iter().zip(&got) {
        // The source gained its `store.backup` record after the snapshot; the copy gained
        // its `store.restore` record.
        assert_eq!(*b, *a, "table {t}");
    }
    assert_eq!(sqlite_cert_hashes(&db), pg_cert_hashes(&pg, "src"));
    // And that SQLite home's backup into a new PostgreSQL database.
    let file2 = fresh.path("sqlite.lgpki");
    assert_ok(&fresh.lgpki(&["backup", "--out", p(&file2)]), "backup");
    let url = pg.create_db("dst");
    let mut third = Env::new();
    third.vars.extend(pg.vars());
    let out = third.lgpki(&["--store", &url, "restore", p(&file2)]);
    assert_ok(&out, "restore into postgres");
    assert_eq!(pg_cert_hashes(&pg, "dst"), pg_cert_hashes(&pg, "src"));
    let recorded = std::fs::read_to_string(third.home.join("store.url")).expect("store.url");
    assert_eq!(recorded.trim(), url);
}

/// GET `url`: (status, body).
fn get(url: &str) -> (u16, String) {
    match agent().get(url).call() {
        Ok(mut r) => (
            r.status().as_u16(),
            r.body_mut().read_to_string().unwrap_or_default(),
        ),
        Err(e) => (0, e.to_string()),
    }
}

/// Polls `f` every 250 ms until it holds, at most `secs` seconds.
fn eventually(secs: u64, what: &str, mut f: impl FnMut() -> Option<String>) {
    let until = std::time::Instant::now() + Duration::from_secs(secs);
    let mut last = String::new();
    while std::time::Instant::now() < until {
        match f() {
            None => return,
            Some(s) => last = s,
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("{what} within {secs}s; last: {last}");
}

#[test]
fn serve_answers_503_while_postgres_is_down_and_recovers() {
    let pg = PgCluster::start();
    let env = pg_env(&pg, "down", &[]);
    assert_ok(
        &env.lgpki(&["org", "add", "--code", "131016", "--name", "千代田区"]),
        "org add",
    );
    let officer = common::officer_cert(&env, "officer", "officer", "千代田区");
    assert_ok(
        &env.lgpki(&[
            "officer",
            "add",
            "--org",
            "131016",
            "--cert",
            &officer.cert,
            "--role",
            "approver",
        ]),
        "officer add",
    );
    // The RA listener's certificate comes from the Application Root CA's TLS sub-CA.
    std::fs::write(
        env.path("root.pem"),
        env.lgpki(&["ca", "cert", "application"]).stdout,
    )
    .expect("root");
    let (_, cert) = common::issue_staff(&env, "taro");
    let pem = std::fs::read_to_string(&cert).expect("cert");
    let org = String::from_utf8(env.lgpki(&["ca", "cert", "organization"]).stdout).expect("pem");
    let server = Server::start(&env);
    let validate = || {
        post(
            &format!("{}/validate", server.http),
            "application/json",
            serde_json::json!({"certificate": pem, "untrusted": [org]})
                .to_string()
                .as_bytes(),
        )
    };
    eventually(20, "healthz 200 at start", || {
        let (s, b) = get(&format!("{}/healthz", server.http));
        (s != 200).then(|| format!("{s} {b}"))
    });
    let (s, b) = validate();
    let body = String::from_utf8_lossy(&b);
    assert_eq!(s, 200, "{body}");
    assert!(body.contains("\"valid\":true"), "{body}");
    let list = common::remote_as(&env, &server.ra, &officer, &["request", "list"]);
    assert_ok(&list, "request list");

    pg.stop();
    // Every endpoint that needs the store says so: 503 with a reason, not a wrong answer.
    eventually(20, "healthz 503 while PostgreSQL is down", || {
        let (s, b) = get(&format!("{}/healthz", server.http));
        (s != 503 || !b.contains("store unreachable")).then(|| format!("{s} {b}"))
    });
    let (s, b) = validate();
    let body = String::from_utf8_lossy(&b);
    assert_eq!(s, 503, "{body}");
    assert!(body.contains("store_unavailable"), "{body}");
    let out = common::remote_as(&env, &server.ra, &officer, &["request", "list"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("unavailable"), "{}", text(&out));
    assert!(!text(&out).contains("panicked"));
    // A local command: a clear error, exit 2.
    let out = env.lgpki(&["cert", "list"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));

    pg.start_again();
    eventually(30, "healthz 200 after PostgreSQL is back", || {
        let (s, b) = get(&format!("{}/healthz", server.http));
        (s != 200).then(|| format!("{s} {b}"))
    });
    let (s, b) = validate();
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&b));
    let out = common::remote_as(&env, &server.ra, &officer, &["request", "list"]);
    assert_ok(&out, "request list after recovery");
}
