//! The PostgreSQL store: one CA on a throwaway PostgreSQL 15 cluster (see `common/pg.rs`),
//! then two instances (two homes with the same keys, two `lgpki serve`) sharing one database,
//! then faults (kill -9 of an instance, a PostgreSQL restart mid-batch).
//!
//! PostgreSQL missing is a failure, not a skip: CI installs it.

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::pg::{PgCluster, pg_env, second_home};
use common::{Env, KeyKind, Server, assert_ok, issue_staff, json_lines, make_csr, openssl};
use serde_json::Value;

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// No panic, and one of the contract's error exits.
fn assert_clean_failure(out: &Output, what: &str) {
    let t = text(out);
    assert!(!t.contains("panicked"), "{what} panicked: {t}");
    assert!(
        matches!(out.status.code(), Some(1 | 2)),
        "{what}: exit {:?}: {t}",
        out.status.code()
    );
}

/// Writes the organization CA's certificate and its chain to its self-signed root (the
/// organization CA is its own anchor) beside the home, for `openssl ocsp` and `openssl crl`.
fn ca_files(env: &Env) -> (String, String) {
    let org = env.lgpki(&["ca", "cert", "organization"]);
    assert_ok(&org, "ca cert organization");
    let chain = env.lgpki(&["ca", "cert", "organization", "--chain"]);
    assert_ok(&chain, "ca cert organization --chain");
    let org_path = env.path("org.pem");
    let bundle = env.path("bundle.pem");
    std::fs::write(&org_path, &org.stdout).expect("write");
    std::fs::write(&bundle, chain.stdout).expect("write");
    (org_path.display().to_string(), bundle.display().to_string())
}

/// `openssl ocsp` against `server` for `cert`, verifying the response; the status word.
fn ocsp_status(files: &(String, String), server: &Server, cert: &Path) -> String {
    let url = format!("{}/ocsp", server.http);
    let out = openssl(&[
        "ocsp",
        "-issuer",
        &files.0,
        "-cert",
        cert.to_str().expect("utf8"),
        "-url",
        &url,
        "-CAfile",
        &files.1,
    ]);
    let t = text(&out);
    assert!(t.contains("Response verify OK"), "openssl ocsp: {t}");
    let line = t
        .lines()
        .find(|l| l.starts_with(cert.to_str().expect("utf8")))
        .unwrap_or_default();
    line.rsplit(": ")
        .next()
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// A batch of `n` staff lines with ids `PREFIX-i` over a few CSRs.
fn write_batch(env: &Env, name: &str, prefix: &str, n: usize) -> std::path::PathBuf {
    let csrs: Vec<String> = (0..3)
        .map(|i| {
            std::fs::read_to_string(make_csr(
                env.dir.path(),
                &format!("{prefix}-k{i}"),
                KeyKind::P256,
                &format!("/C=JP/O=LGPKI/OU=千代田区/CN={prefix}{i}"),
                &[],
            ))
            .expect("csr")
        })
        .collect();
    let text: String = (0..n)
        .map(|i| {
            serde_json::json!({"profile": "staff", "csr": csrs[i % csrs.len()], "id": format!("{prefix}-{i}")})
                .to_string()
                + "\n"
        })
        .collect();
    let path = env.path(name);
    std::fs::write(&path, text).expect("write batch");
    path
}

fn batch_command(env: &Env, file: &Path) -> Command {
    let mut c = env.command(&["issue", "--batch", file.to_str().expect("utf8")]);
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    c
}

/// A spawned batch whose stdout lines arrive as they are written.
struct Running {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    stderr: std::thread::JoinHandle<String>,
}

fn spawn_batch(env: &Env, file: &Path) -> Running {
    use std::io::{BufRead, Read};
    let mut child = batch_command(env, file).spawn().expect("spawn batch");
    let stdout = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let stderr = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    Running {
        child,
        lines: rx,
        stderr,
    }
}

impl Running {
    /// Waits for the first acknowledged line.
    fn first_ack(&self) -> String {
        self.lines
            .recv_timeout(Duration::from_secs(60))
            .expect("a first acknowledgement")
    }

    /// Waits for the end; (exit status, acknowledged lines including `first`, stderr).
    fn finish(mut self, first: String) -> (std::process::ExitStatus, Vec<Value>, String) {
        let status = self.child.wait().expect("wait");
        let mut lines = vec![first];
        lines.extend(self.lines.iter());
        let stderr = self.stderr.join().unwrap_or_default();
        let acked = lines
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        (status, acked, stderr)
    }
}

/// Serials of the issued certificates in the store (any home of the CA).
fn stored_serials(env: &Env) -> Vec<String> {
    env.cert_list()
        .iter()
        .map(|c| c["serial"].as_str().expect("serial").to_string())
        .collect()
}

fn assert_unique(serials: &[String]) {
    let set: HashSet<&String> = serials.iter().collect();
    assert_eq!(set.len(), serials.len(), "a serial appears twice");
}

fn audit_intact(env: &Env) {
    let out = env.lgpki(&["audit", "verify"]);
    assert_ok(&out, "audit verify");
    assert!(text(&out).contains("chain intact"), "{}", text(&out));
}

#[test]
fn one_ca_end_to_end_on_postgres() {
    let pg = PgCluster::start();
    let env = pg_env(&pg, "e2e", &[]);
    // The URL is recorded without a password; there is no SQLite file.
    let recorded = std::fs::read_to_string(env.home.join("store.url")).expect("store.url");
    assert_eq!(recorded.trim(), pg.url("e2e"));
    assert!(!recorded.contains(&pg.password));
    assert!(
        !env.home.join("lgpki.db").exists(),
        "the store is PostgreSQL"
    );
    // Version 2: CA key generations (`ca renew`); 3: time-stamps; 4: cross-certificate pairs.
    assert_eq!(
        pg.psql("e2e", "SELECT MAX(version) FROM schema_version"),
        "4"
    );

    let (serial, pem) = issue_staff(&env, "taro");
    common::assert_pkilint_clean(&pem);
    assert_eq!(
        pg.psql(
            "e2e",
            &format!("SELECT state FROM certs WHERE serial = '{serial}'")
        ),
        "issued"
    );
    assert_ok(
        &env.lgpki(&["revoke", "--serial", &serial, "--reason", "keyCompromise"]),
        "revoke",
    );
    let crl = env.path("org.crl");
    let out = env.lgpki(&[
        "--json",
        "crl",
        "--ca",
        "organization",
        "--out",
        crl.to_str().expect("utf8"),
    ]);
    assert_ok(&out, "crl");
    let (_, bundle) = ca_files(&env);
    let out = openssl(&[
        "crl",
        "-inform",
        "DER",
        "-in",
        crl.to_str().expect("utf8"),
        "-CAfile",
        &bundle,
        "-noout",
        "-text",
    ]);
    let t = text(&out);
    assert!(out.status.success() && t.contains("verify OK"), "{t}");
    assert!(t.contains(&serial.to_uppercase()), "the CRL lists it: {t}");
    assert!(t.contains("Key Compromise"), "{t}");

    // Later commands need no --store: the home names the database.
    let out = env.lgpki(&["--json", "status", "--serial", &serial]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "revoked: exit 1: {}",
        text(&out)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["status"], "revoked", "{v}");
    audit_intact(&env);
    // A database migrated by a newer lgpki is refused, not misread.
    pg.psql(
        "e2e",
        "INSERT INTO schema_version (version, applied_at) VALUES (99, 0)",
    );
    let out = env.lgpki(&["cert", "list"]);
    assert_clean_failure(&out, "a newer schema");
    assert!(
        text(&out).contains("schema version 99 is newer"),
        "{}",
        text(&out)
    );
    pg.psql("e2e", "DELETE FROM schema_version WHERE version = 99");
    assert_ok(&env.lgpki(&["cert", "list"]), "cert list");
    // Re-running init on the same database is refused.
    let again = Env::new();
    let mut again = again;
    again.vars = env.vars.clone();
    let out = again.lgpki(&["--store", &pg.url("e2e"), "init"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
}

#[test]
fn a_wrong_password_is_a_clear_error_and_is_never_shown() {
    let pg = PgCluster::start();
    let mut env = pg_env(&pg, "pw", &[]);
    env.vars = vec![("PGPASSWORD".into(), "wrong-Secret-4711".into())];
    let out = env.lgpki(&["cert", "list"]);
    assert_clean_failure(&out, "cert list with a wrong password");
    let t = text(&out);
    assert!(t.contains("password authentication failed"), "{t}");
    assert!(!t.contains("wrong-Secret-4711"), "{t}");
    // A password in the URL is never echoed either.
    let url = format!("postgres://lgpki:Url-Secret-0815@127.0.0.1:{}/pw", pg.port);
    let out = env.lgpki(&["--store", &url, "cert", "list"]);
    assert_clean_failure(&out, "a wrong password in the URL");
    assert!(!text(&out).contains("Url-Secret-0815"), "{}", text(&out));
    // The password from a pgpass file instead (PGPASSFILE; `*` matches any database).
    let pgpass = env.path("pgpass");
    std::fs::write(
        &pgpass,
        format!("# test\n127.0.0.1:{}:*:lgpki:{}\n", pg.port, pg.password),
    )
    .expect("pgpass");
    env.vars = vec![("PGPASSFILE".into(), pgpass.display().to_string())];
    let out = env.lgpki(&["cert", "list"]);
    assert_ok(&out, "cert list with the password from PGPASSFILE");
    // Nothing listens: a clear error, no panic.
    pg.stop();
    let mut env = env;
    env.vars = pg.vars();
    let out = env.lgpki(&["cert", "list"]);
    assert_clean_failure(&out, "cert list with the server down");
    assert!(
        text(&out).contains("connecting to PostgreSQL"),
        "{}",
        text(&out)
    );
}

#[test]
fn two_instances_share_one_database() {
    let pg = PgCluster::start();
    let a = pg_env(&pg, "two", &[]);
    let b = second_home(&a);
    let sa = Server::start(&a);
    let sb = Server::start(&b);
    let files = ca_files(&a);

    // A revocation through one instance is answered by the other's OCSP within 1 s.
    let (serial, pem) = issue_staff(&a, "hanako");
    assert_eq!(ocsp_status(&files, &sb, &pem), "good");
    assert_eq!(ocsp_status(&files, &sa, &pem), "good");
    assert_ok(
        &a.lgpki(&["revoke", "--serial", &serial, "--reason", "keyCompromise"]),
        "revoke on A",
    );
    let revoked_at = Instant::now();
    loop {
        let status = ocsp_status(&files, &sb, &pem);
        if status == "revoked" {
            break;
        }
        assert!(
            revoked_at.elapsed() < Duration::from_secs(1),
            "B still answers {status} 1 s after A revoked"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "B's OCSP answered revoked {} ms after A's revocation",
        revoked_at.elapsed().as_millis()
    );

    // Concurrent batches from two processes: unique serials, every acknowledged one stored.
    const LINES: usize = 300;
    let fa = write_batch(&a, "a.jsonl", "a", LINES);
    let fb = write_batch(&b, "b.jsonl", "b", LINES);
    let pa = batch_command(&a, &fa).spawn().expect("spawn");
    let pb = batch_command(&b, &fb).spawn().expect("spawn");
    // Meanwhile both instances sign CRLs: CRL numbers strictly increase across instances.
    let crl_runs: Vec<std::thread::JoinHandle<Vec<u64>>> = [&a, &b]
        .iter()
        .enumerate()
        .map(|(k, env)| {
            let home = env.home.clone();
            let vars = env.vars.clone();
            let dir = env.dir.path().to_path_buf();
            std::thread::spawn(move || {
                let mut numbers = Vec::new();
                for i in 0..6 {
                    let out_file = dir.join(format!("c{k}-{i}.crl"));
                    let out = Command::new(env!("CARGO_BIN_EXE_lgpki"))
                        .arg("--home")
                        .arg(&home)
                        .args(["--json", "crl", "--ca", "organization", "--out"])
                        .arg(&out_file)
                        .envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                        .output()
                        .expect("crl");
                    assert_ok(&out, "crl");
                    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
                    let n: u64 = v["crl_number"]
                        .as_str()
                        .and_then(|n| n.parse().ok())
                        .expect("crl_number");
                    // The file says the same.
                    let parsed = openssl(&[
                        "crl",
                        "-inform",
                        "DER",
                        "-in",
                        out_file.to_str().expect("utf8"),
                        "-noout",
                        "-crlnumber",
                    ]);
                    let t = text(&parsed);
                    let hex = t
                        .trim()
                        .trim_start_matches("crlNumber=")
                        .trim_start_matches("0x");
                    assert_eq!(u64::from_str_radix(hex, 16).ok(), Some(n), "{t}");
                    numbers.push(n);
                }
                numbers
            })
        })
        .collect();
    let oa = pa.wait_with_output().expect("wait");
    let ob = pb.wait_with_output().expect("wait");
    assert_ok(&oa, "batch on A");
    assert_ok(&ob, "batch on B");
    let mut acked = Vec::new();
    for out in [&oa, &ob] {
        let lines = json_lines(&out.stdout);
        assert_eq!(lines.len(), LINES);
        for l in &lines {
            assert!(l.get("error").is_none(), "{l}");
            acked.push(l["serial"].as_str().expect("serial").to_string());
        }
    }
    assert_unique(&acked);
    let stored = stored_serials(&b);
    assert_unique(&stored);
    let stored: HashSet<&String> = stored.iter().collect();
    for s in &acked {
        assert!(stored.contains(s), "acknowledged {s} is not in the store");
    }
    let mut all = Vec::new();
    for h in crl_runs {
        let numbers = h.join().expect("crl thread");
        assert!(
            numbers.windows(2).all(|w| w[0] < w[1]),
            "one instance's CRL numbers go back: {numbers:?}"
        );
        all.extend(numbers);
    }
    let distinct: HashSet<u64> = all.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        all.len(),
        "a CRL number was used twice: {all:?}"
    );
    // The servers' own CRL signing shares the numbering: none repeats in the store.
    assert_eq!(
        pg.psql(
            "two",
            "SELECT COUNT(*) = COUNT(DISTINCT (ca, number)) FROM crls"
        ),
        "t"
    );

    // One audit chain over everything both instances did.
    audit_intact(&a);
    audit_intact(&b);
    // B's OCSP knows A's batch.
    let one = a.path("one.pem");
    let out = a.lgpki(&["cert", "show", &acked[0]]);
    assert_ok(&out, "cert show");
    std::fs::write(&one, &out.stdout).expect("write");
    assert_eq!(ocsp_status(&files, &sb, &one), "good");
}

#[test]
fn two_approvals_of_one_request_on_two_instances_issue_one_certificate() {
    let pg = PgCluster::start();
    let a = pg_env(&pg, "ra", &[]);
    // The RA listener's TLS certificate chains to the application root.
    std::fs::write(
        a.path("root.pem"),
        a.lgpki(&["ca", "cert", "application"]).stdout,
    )
    .expect("root");
    assert_ok(
        &a.lgpki(&["org", "add", "--code", "131016", "--name", "千代田区"]),
        "org add",
    );
    let reg = common::officer_cert(&a, "registrar", "registrar", "千代田区");
    let app1 = common::officer_cert(&a, "approver1", "approver1", "千代田区");
    let app2 = common::officer_cert(&a, "approver2", "approver2", "千代田区");
    for (o, role) in [
        (&reg, "registrar"),
        (&app1, "approver"),
        (&app2, "approver"),
    ] {
        assert_ok(
            &a.lgpki(&[
                "officer", "add", "--org", "131016", "--cert", &o.cert, "--role", role,
            ]),
            "officer add",
        );
    }
    let b = second_home(&a);
    let sa = Server::start(&a);
    let sb = Server::start(&b);
    let mut last_serial = String::new();
    for round in 0..3 {
        let csr = make_csr(
            a.dir.path(),
            &format!("subject{round}"),
            KeyKind::P256,
            &format!("/C=JP/O=LGPKI/CN=山田{round}"),
            &[],
        );
        let out = common::remote_as(
            &a,
            &sa.ra,
            &reg,
            &[
                "request",
                "submit",
                "--profile",
                "staff",
                "--csr",
                csr.to_str().expect("utf8"),
                "--org",
                "131016",
            ],
        );
        assert_ok(&out, "submit");
        let id = json_lines(&out.stdout)[0]["id"]
            .as_i64()
            .expect("id")
            .to_string();
        let before = common::issued_count(&a);
        // Both approvers at once, one through each instance.
        let (ra_a, ra_b) = (sa.ra.clone(), sb.ra.clone());
        let results: Vec<Output> = std::thread::scope(|s| {
            let h1 = s.spawn(|| {
                common::remote_as(&a, &ra_a, &app1, &["request", "approve", id.as_str()])
            });
            let h2 = s.spawn(|| {
                common::remote_as(&a, &ra_b, &app2, &["request", "approve", id.as_str()])
            });
            vec![h1.join().expect("h1"), h2.join().expect("h2")]
        });
        let ok = results.iter().filter(|o| o.status.success()).count();
        for o in &results {
            assert!(!text(o).contains("panicked"), "{}", text(o));
        }
        assert_eq!(
            ok,
            1,
            "round {round}: exactly one approval succeeds: {:?}",
            results.iter().map(text).collect::<Vec<_>>()
        );
        assert_eq!(
            common::issued_count(&a),
            before + 1,
            "round {round}: exactly one certificate"
        );
        let reqs = json_lines(&a.lgpki(&["--json", "request", "list"]).stdout);
        let r = reqs
            .iter()
            .find(|r| r["id"].as_i64().map(|n| n.to_string()).as_deref() == Some(id.as_str()))
            .expect("request");
        assert_eq!(r["state"], "issued", "{r}");
        last_serial = r["serial"].as_str().expect("serial").to_string();
    }
    // A revocation through serve A's RA API (requested and approved there) is answered by
    // serve B's OCSP within 1 s.
    let files = ca_files(&a);
    let pem = a.path("last.pem");
    let out = a.lgpki(&["cert", "show", &last_serial]);
    assert_ok(&out, "cert show");
    std::fs::write(&pem, &out.stdout).expect("write");
    assert_eq!(ocsp_status(&files, &sb, &pem), "good");
    let out = common::remote_as(
        &a,
        &sa.ra,
        &reg,
        &[
            "revoke-request",
            "--serial",
            &last_serial,
            "--reason",
            "keyCompromise",
        ],
    );
    assert_ok(&out, "revoke-request through A");
    let rid = json_lines(&out.stdout)[0]["id"]
        .as_i64()
        .expect("id")
        .to_string();
    let out = common::remote_as(&a, &sa.ra, &app1, &["request", "approve", &rid]);
    assert_ok(&out, "approve the revocation through A");
    let revoked_at = Instant::now();
    loop {
        let status = ocsp_status(&files, &sb, &pem);
        if status == "revoked" {
            break;
        }
        assert!(
            revoked_at.elapsed() < Duration::from_secs(1),
            "B still answers {status} 1 s after A revoked"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    audit_intact(&a);
}

#[test]
fn killing_one_instance_leaves_the_other_serving() {
    let pg = PgCluster::start();
    let a = pg_env(&pg, "kill", &[]);
    let b = second_home(&a);
    let sa = Server::start(&a);
    let sb = Server::start(&b);
    let files = ca_files(&a);
    let (_, pem) = issue_staff(&a, "jiro");
    assert_eq!(ocsp_status(&files, &sa, &pem), "good");
    let before = common::issued_count(&a);

    // kill -9 of a CLI instance in the middle of a batch (after its first acknowledgement).
    let fa = write_batch(&a, "a.jsonl", "a", 1500);
    let run = spawn_batch(&a, &fa);
    let first = run.first_ack();
    let mut run = run;
    let _ = run.child.kill();
    let (status, acked, _) = run.finish(first);
    assert_eq!(
        status.code(),
        None,
        "killed mid-batch (it had not finished)"
    );
    // And kill -9 of serve A.
    drop(sa);
    // B keeps serving and issuing.
    assert_eq!(ocsp_status(&files, &sb, &pem), "good");
    let fb = write_batch(&b, "b.jsonl", "b", 100);
    let out = batch_command(&b, &fb).output().expect("batch on B");
    assert_ok(&out, "batch on B after the kills");
    // The killed batch re-run on B: acknowledged lines replay, the rest are issued once.
    let out = batch_command(&b, &fa).output().expect("re-run");
    assert_ok(&out, "re-run of the killed batch");
    let rerun = json_lines(&out.stdout);
    for l in &acked {
        let Some(line) = l["line"].as_u64() else {
            continue;
        };
        let again = &rerun[line as usize - 1];
        assert_eq!(again["serial"], l["serial"], "line {line}");
        assert_eq!(again["replayed"], true, "line {line}");
    }
    let serials = stored_serials(&b);
    assert_unique(&serials);
    assert_eq!(common::issued_count(&b), before + 100 + 1500);
    audit_intact(&b);
    assert_eq!(ocsp_status(&files, &sb, &pem), "good");
}

#[test]
fn a_postgres_restart_mid_batch_loses_nothing_acknowledged() {
    let pg = PgCluster::start();
    let env = pg_env(&pg, "restart", &[]);
    let file = write_batch(&env, "r.jsonl", "r", 3000);
    let run = spawn_batch(&env, &file);
    let first = run.first_ack();
    pg.restart();
    let (status, acked, stderr) = run.finish(first);
    let failed = acked.iter().filter(|l| l.get("error").is_some()).count();
    eprintln!(
        "batch during the restart: exit {:?}, {} lines printed, {failed} failed; {}",
        status.code(),
        acked.len(),
        stderr.trim()
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        matches!(status.code(), Some(0..=2)),
        "exit 0, 1 or 2: {status:?} {stderr}"
    );
    if !status.success() {
        assert!(
            stderr.contains("store"),
            "the error names the store: {stderr}"
        );
    }
    let good: Vec<&Value> = acked.iter().filter(|l| l.get("error").is_none()).collect();
    // Nothing acknowledged is lost, and no serial is duplicated.
    let stored = stored_serials(&env);
    assert_unique(&stored);
    let set: HashSet<&String> = stored.iter().collect();
    for l in &good {
        let s = l["serial"].as_str().expect("serial").to_string();
        assert!(set.contains(&s), "acknowledged {s} was lost");
    }
    // The resubmitted batch replays by id and completes.
    let out = batch_command(&env, &file).output().expect("re-run");
    assert_ok(&out, "re-run after the restart");
    let rerun = json_lines(&out.stdout);
    assert_eq!(rerun.len(), 3000);
    for l in &good {
        let line = l["line"].as_u64().expect("line") as usize;
        assert_eq!(rerun[line - 1]["serial"], l["serial"], "line {line}");
        assert_eq!(rerun[line - 1]["replayed"], true, "line {line}");
    }
    assert_unique(&stored_serials(&env));
    assert_eq!(common::issued_count(&env), 3000);
    audit_intact(&env);
}

#[test]
fn one_batch_sent_to_two_instances_at_once_issues_each_id_once() {
    // The two may race for a reservation (one finishing what the other reserved): the loser
    // stops with a clear error (exit 1), never with a second certificate for an id.
    let pg = PgCluster::start();
    let a = pg_env(&pg, "same", &[]);
    let b = second_home(&a);
    const LINES: usize = 600;
    let file = write_batch(&a, "same.jsonl", "same", LINES);
    let before = common::issued_count(&a);
    let pa = batch_command(&a, &file).spawn().expect("spawn");
    let pb = batch_command(&b, &file).spawn().expect("spawn");
    let outs = [
        pa.wait_with_output().expect("wait"),
        pb.wait_with_output().expect("wait"),
    ];
    for o in &outs {
        assert!(!text(o).contains("panicked"), "{}", text(o));
        assert!(matches!(o.status.code(), Some(0 | 1)), "{}", text(o));
    }
    let results: Vec<Vec<Value>> = outs.iter().map(|o| json_lines(&o.stdout)).collect();
    for (o, r) in outs.iter().zip(&results) {
        let errors: Vec<&Value> = r.iter().filter(|l| l.get("error").is_some()).collect();
        eprintln!(
            "exit {:?}: {} lines, {} refused (first: {:?}); {}",
            o.status.code(),
            r.len(),
            errors.len(),
            errors.first(),
            String::from_utf8_lossy(&o.stderr).trim()
        );
    }
    // Per line, the two answers never name two different certificates.
    for i in 0..LINES {
        let serials: HashSet<&str> = results
            .iter()
            .filter_map(|r| r.get(i))
            .filter_map(|l| l["serial"].as_str())
            .collect();
        assert!(
            serials.len() <= 1,
            "line {}: two certificates {serials:?}",
            i + 1
        );
    }
    // Re-run: every id answers with its one certificate, and there is one per id.
    let out = batch_command(&a, &file).output().expect("re-run");
    assert_ok(&out, "re-run");
    let rerun = json_lines(&out.stdout);
    assert_eq!(rerun.len(), LINES);
    for (i, l) in rerun.iter().enumerate() {
        for r in &results {
            if let Some(s) = r.get(i).and_then(|x| x["serial"].as_str()) {
                assert_eq!(l["serial"], s, "line {}", i + 1);
                assert_eq!(l["replayed"], true, "line {}: {l}", i + 1);
            }
        }
    }
    assert_eq!(common::issued_count(&a), before + LINES);
    assert_unique(&stored_serials(&a));
    audit_intact(&a);
}
