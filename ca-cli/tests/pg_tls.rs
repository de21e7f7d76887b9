//! TLS to the PostgreSQL store, with libpq's `sslmode` semantics (ca-core/src/store/pgtls.rs),
//! against real PostgreSQL 15 clusters (`common/pg.rs`) whose server certificates lgpki itself
//! issued (profile `server`, CA `application-server`, anchor `application`).
//!
//! What each connection really used is checked from the server's side: `pg_stat_ssl` for a
//! connection held open, and the server's log (`log_connections`) for the CLI's.
//!
//! PostgreSQL missing is a failure, not a skip: CI installs it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::pg::{PgCluster, PgHba, PgTls};
use common::{Env, KeyKind, assert_ok, issue_staff, make_csr};

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Exit 2 (the store could not be reached, an input error per the contract), no panic, and
/// the message says `what`; never the password.
fn assert_refused(out: &Output, pg: &PgCluster, what: &str, ctx: &str) {
    let t = text(out);
    assert!(!t.contains("panicked"), "{ctx} panicked: {t}");
    assert_eq!(out.status.code(), Some(2), "{ctx}: {t}");
    assert!(t.contains(what), "{ctx}: expected {what:?} in: {t}");
    assert!(!t.contains(&pg.password), "{ctx}: password shown: {t}");
}

/// The center's own PKI (an SQLite home): it issues the database server's certificates.
struct Pki {
    env: Env,
    /// The application root (the server certificates' anchor).
    root: PathBuf,
    /// Another self-signed anchor (organization): the wrong root.
    wrong_root: PathBuf,
}

impl Pki {
    fn new() -> Pki {
        let env = Env::init(&[]);
        let root = env.path("application-root.pem");
        let out = env.lgpki(&["ca", "cert", "application"]);
        assert_ok(&out, "ca cert application");
        std::fs::write(&root, &out.stdout).expect("write root");
        let wrong_root = env.path("organization-root.pem");
        let out = env.lgpki(&["ca", "cert", "organization"]);
        assert_ok(&out, "ca cert organization");
        std::fs::write(&wrong_root, &out.stdout).expect("write wrong root");
        Pki {
            env,
            root,
            wrong_root,
        }
    }

    /// A server certificate for `sans` (`--san` values) with its chain, and its key.
    fn server(&self, name: &str, dns: &str, sans: &[&str]) -> (PathBuf, PathBuf) {
        let dir = self.env.dir.path();
        let csr = make_csr(
            dir,
            name,
            KeyKind::P256,
            &format!("/C=JP/O=LGPKI/CN={dns}"),
            &[],
        );
        let leaf = self.env.path(&format!("{name}.pem"));
        let mut args = vec![
            "issue",
            "--profile",
            "server",
            "--csr",
            csr.to_str().expect("utf8"),
            "--out",
            leaf.to_str().expect("utf8"),
        ];
        for san in sans {
            args.extend(["--san", san]);
        }
        assert_ok(&self.env.lgpki(&args), "issue --profile server");
        let chain = self
            .env
            .lgpki(&["ca", "cert", "application-server", "--chain"]);
        assert_ok(&chain, "ca cert application-server --chain");
        let mut pem = std::fs::read(&leaf).expect("read leaf");
        pem.extend_from_slice(&chain.stdout);
        let full = self.env.path(&format!("{name}-chain.pem"));
        std::fs::write(&full, pem).expect("write chain");
        (full, dir.join(format!("{name}.key")))
    }
}

/// A TLS cluster with a certificate for 127.0.0.1 and db.city.lg.jp.
fn tls_cluster(pki: &Pki, hba: PgHba, client_ca: Option<&Path>) -> PgCluster {
    let (chain, key) = pki.server(
        "db",
        "db.city.lg.jp",
        &["dns:db.city.lg.jp", "ip:127.0.0.1"],
    );
    PgCluster::start_tls(&PgTls {
        cert_chain: &chain,
        key: &key,
        client_ca,
        hba,
    })
}

/// A home on database `db` of `pg` through `url` (with its TLS parameters).
fn home_on(pg: &PgCluster, url: &str) -> (Env, Output) {
    let mut env = Env::new();
    env.vars.extend(pg.vars());
    let out = env.lgpki(&["--store", url, "init"]);
    (env, out)
}

/// `"postgres://…/DB?QUERY"`.
fn with_query(pg: &PgCluster, db: &str, query: &str) -> String {
    format!("{}?{query}", pg.url(db))
}

/// The lines of the server's log saying a connection of `user` to `db` was authorised.
fn authorized(pg: &PgCluster, db: &str) -> Vec<String> {
    std::fs::read_to_string(pg.log())
        .expect("server log")
        .lines()
        .filter(|l| l.contains("connection authorized") && l.contains(&format!("database={db}")))
        .map(str::to_string)
        .collect()
}

#[test]
fn verify_full_with_the_right_root_connects_over_tls_and_plain_clients_are_refused() {
    let pki = Pki::new();
    let pg = tls_cluster(&pki, PgHba::TlsOnly, None);
    let root = pki.root.display().to_string();
    pg.psql("postgres", "CREATE DATABASE full_ok");
    // channel_binding=require: SCRAM-SHA-256-PLUS or fail, so the server agrees with our
    // tls-server-end-point hash of its certificate (RFC 5929 §4.1).
    let url = with_query(
        &pg,
        "full_ok",
        &format!("sslmode=verify-full&sslrootcert={root}&channel_binding=require"),
    );
    let (env, out) = home_on(&pg, &url);
    assert_ok(
        &out,
        "init --store …?sslmode=verify-full&channel_binding=require",
    );
    // Later commands use the recorded URL, TLS parameters included, never the password.
    let recorded = std::fs::read_to_string(env.home.join("store.url")).expect("store.url");
    assert!(recorded.contains("sslmode=verify-full"), "{recorded}");
    assert!(!recorded.contains(&pg.password), "{recorded}");
    let (serial, _) = issue_staff(&env, "tls-user");
    let out = env.lgpki(&["cert", "show", &serial]);
    assert_ok(&out, "cert show over TLS");

    // The server saw TLS on every connection of the CLI (its log, log_connections = on).
    let lines = authorized(&pg, "full_ok");
    assert!(!lines.is_empty(), "no connection logged");
    for l in &lines {
        assert!(l.contains("SSL enabled"), "a connection without TLS: {l}");
    }

    // pg_stat_ssl, for a connection held open by the library (the password in the URL here:
    // a test process cannot set PGPASSWORD for itself).
    let with_pw = url.replacen("lgpki@", &format!("lgpki:{}@", pg.password), 1);
    let store = ca_core::PgStore::open(&with_pw).expect("open over TLS");
    let seen = pg.psql(
        "postgres",
        "SELECT s.ssl, s.version FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
         WHERE a.application_name = 'lgpki' AND a.datname = 'full_ok'",
    );
    assert!(seen.starts_with("t|TLSv1."), "pg_stat_ssl: {seen:?}");
    drop(store);

    // hostssl only: a plain client is refused by the server.
    let plain = with_query(&pg, "full_ok", "sslmode=disable");
    let out = env.lgpki(&["--store", &plain, "cert", "list"]);
    assert_refused(
        &out,
        &pg,
        "no encryption",
        "sslmode=disable against hostssl",
    );

    // The same from the environment (PGSSLMODE, PGSSLROOTCERT), as libpq reads them.
    let bare = pg.url("full_ok");
    let mut env2 = Env::new();
    env2.vars.extend(pg.vars());
    env2.vars.push(("PGSSLMODE".into(), "verify-full".into()));
    env2.vars
        .push(("PGSSLROOTCERT".into(), pki.wrong_root.display().to_string()));
    let out = env2.lgpki(&["--store", &bare, "cert", "list"]);
    assert_refused(
        &out,
        &pg,
        "PostgreSQL server certificate not trusted",
        "PGSSLROOTCERT wrong",
    );
    env2.vars.pop();
    env2.vars.push(("PGSSLROOTCERT".into(), root.clone()));
    let out = env2.lgpki(&["--store", &bare, "cert", "list"]);
    assert_ok(&out, "PGSSLMODE=verify-full PGSSLROOTCERT=right");

    // require without a root: encrypted, the server not authenticated (libpq's meaning).
    let out = env.lgpki(&[
        "--store",
        &with_query(&pg, "full_ok", "sslmode=require"),
        "cert",
        "list",
    ]);
    assert_ok(&out, "sslmode=require, no root");
    // require with a root: verified as verify-ca (libpq), so a wrong one fails.
    let out = env.lgpki(&[
        "--store",
        &with_query(
            &pg,
            "full_ok",
            &format!("sslmode=require&sslrootcert={}", pki.wrong_root.display()),
        ),
        "cert",
        "list",
    ]);
    assert_refused(
        &out,
        &pg,
        "PostgreSQL server certificate not trusted",
        "require with a wrong root",
    );
}

#[test]
fn a_wrong_root_or_a_missing_one_is_refused_before_anything_is_written() {
    let pki = Pki::new();
    let pg = tls_cluster(&pki, PgHba::Any, None);
    pg.psql("postgres", "CREATE DATABASE wrong_root");
    let url = with_query(
        &pg,
        "wrong_root",
        &format!(
            "sslmode=verify-full&sslrootcert={}",
            pki.wrong_root.display()
        ),
    );
    let (env, out) = home_on(&pg, &url);
    assert_refused(
        &out,
        &pg,
        "PostgreSQL server certificate not trusted",
        "verify-full with a wrong root",
    );
    // Nothing reached the database: no schema.
    let tables = pg.psql(
        "wrong_root",
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
    );
    assert_eq!(tables, "0");
    assert!(!env.home.join("store.url").exists());

    // verify-full without any root certificate: said before connecting.
    let out = env.lgpki(&[
        "--store",
        &with_query(&pg, "wrong_root", "sslmode=verify-full"),
        "cert",
        "list",
    ]);
    assert_refused(&out, &pg, "sslrootcert", "verify-full without a root");
    // A root file that does not exist, and one that holds no certificate.
    let missing = with_query(
        &pg,
        "wrong_root",
        "sslmode=verify-ca&sslrootcert=/nonexistent/root.pem",
    );
    let out = env.lgpki(&["--store", &missing, "cert", "list"]);
    assert_refused(&out, &pg, "/nonexistent/root.pem", "a missing root file");
    let empty = env.path("empty.pem");
    std::fs::write(&empty, "not a certificate\n").expect("write");
    let out = env.lgpki(&[
        "--store",
        &with_query(
            &pg,
            "wrong_root",
            &format!("sslmode=verify-ca&sslrootcert={}", empty.display()),
        ),
        "cert",
        "list",
    ]);
    assert_refused(
        &out,
        &pg,
        "no certificate in it",
        "a root file without a certificate",
    );
    // An unknown sslmode.
    let out = env.lgpki(&[
        "--store",
        &with_query(&pg, "wrong_root", "sslmode=verify_full"),
        "cert",
        "list",
    ]);
    assert_refused(&out, &pg, "expected disable, prefer", "sslmode=verify_full");
}

#[test]
fn verify_full_checks_the_host_name_and_verify_ca_does_not() {
    let pki = Pki::new();
    // A certificate for another server: a DNS name only, no address.
    let (chain, key) = pki.server("other", "db2.city.lg.jp", &["dns:db2.city.lg.jp"]);
    let pg = PgCluster::start_tls(&PgTls {
        cert_chain: &chain,
        key: &key,
        client_ca: None,
        hba: PgHba::TlsOnly,
    });
    pg.psql("postgres", "CREATE DATABASE names");
    let root = pki.root.display();
    let full = with_query(
        &pg,
        "names",
        &format!("sslmode=verify-full&sslrootcert={root}"),
    );
    let (env, out) = home_on(&pg, &full);
    assert_refused(
        &out,
        &pg,
        "does not name the host connected to",
        "verify-full by 127.0.0.1 to a certificate for db2.city.lg.jp",
    );
    assert!(text(&out).contains("127.0.0.1"), "{}", text(&out));
    // verify-ca checks the chain only: the same server is accepted.
    let ca = with_query(
        &pg,
        "names",
        &format!("sslmode=verify-ca&sslrootcert={root}"),
    );
    let out = env.lgpki(&["--store", &ca, "init"]);
    assert_ok(&out, "verify-ca to a certificate for another name");
    let lines = authorized(&pg, "names");
    assert!(
        !lines.is_empty() && lines.iter().all(|l| l.contains("SSL enabled")),
        "{lines:?}"
    );
}

#[test]
fn require_against_a_server_without_tls_fails_and_disable_and_prefer_connect() {
    let pg = PgCluster::start();
    pg.psql("postgres", "CREATE DATABASE plain");
    let (env, out) = home_on(&pg, &with_query(&pg, "plain", "sslmode=require"));
    assert_refused(
        &out,
        &pg,
        "server does not support TLS",
        "sslmode=require against ssl = off",
    );
    assert!(text(&out).contains("sslmode=require"), "{}", text(&out));
    // disable: plain TCP.
    let out = env.lgpki(&[
        "--store",
        &with_query(&pg, "plain", "sslmode=disable"),
        "init",
    ]);
    assert_ok(&out, "sslmode=disable");
    // prefer (also the default): TLS if offered, else plain.
    let out = env.lgpki(&[
        "--store",
        &with_query(&pg, "plain", "sslmode=prefer"),
        "cert",
        "list",
    ]);
    assert_ok(&out, "sslmode=prefer against ssl = off");
    let out = env.lgpki(&["--store", &pg.url("plain"), "cert", "list"]);
    assert_ok(&out, "no sslmode against ssl = off");
}

#[test]
fn a_client_certificate_is_presented_when_the_server_requires_one() {
    let pki = Pki::new();
    // Client certificates chain to the organization CA (staff: clientAuth).
    let pg = tls_cluster(&pki, PgHba::TlsClientCert, Some(&pki.wrong_root));
    pg.psql("postgres", "CREATE DATABASE client_cert");
    let root = pki.root.display().to_string();
    let base = format!("sslmode=verify-full&sslrootcert={root}");
    let (env, out) = home_on(&pg, &with_query(&pg, "client_cert", &base));
    assert_refused(
        &out,
        &pg,
        "certificate",
        "no client certificate where the server requires one",
    );
    let (_, cert) = issue_staff(&pki.env, "db-client");
    let key = pki.env.dir.path().join("db-client.key");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    }
    let url = with_query(
        &pg,
        "client_cert",
        &format!("{base}&sslcert={}&sslkey={}", cert.display(), key.display()),
    );
    // A key others may read is refused, as libpq does.
    let out = env.lgpki(&["--store", &url, "init"]);
    assert_refused(&out, &pg, "chmod 0600", "a client key readable by others");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    let out = env.lgpki(&["--store", &url, "init"]);
    assert_ok(&out, "init with a client certificate");
    let with_pw = url.replacen("lgpki@", &format!("lgpki:{}@", pg.password), 1);
    let store = ca_core::PgStore::open(&with_pw).expect("open with a client certificate");
    let seen = pg.psql(
        "postgres",
        "SELECT s.ssl, s.client_dn FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
         WHERE a.application_name = 'lgpki' AND a.datname = 'client_cert'",
    );
    assert!(
        seen.starts_with("t|") && seen.contains("CN=db-client"),
        "pg_stat_ssl: {seen:?}"
    );
    drop(store);
}
