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
        // openssl verifies the token up to the LGPKI root.
        let root = env.path("root.pem");
        std::fs::write(&root, env.lgpki(&["ca", "cert", "root"]).stdout).expect("root");
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
