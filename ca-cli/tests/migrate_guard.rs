//! `store migrate` never leaves a process working on the store it moved away from: it refuses
//! while `lgpki serve` runs on the store (on this home, or on another home sharing the
//! PostgreSQL database), it marks the old store so that nothing opens or writes it again, and a
//! `serve` that finds its store marked stops instead of answering from data nothing updates.
//! `restore` takes the same guard. Each test runs its own throwaway cluster.

mod common;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use common::pg::{PgCluster, pg_env, second_home};
use common::{Env, Server, assert_ok};

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

fn refused(out: &Output, code: i32, says: &str) {
    assert_eq!(out.status.code(), Some(code), "{}", text(out));
    assert!(
        text(out).contains(says),
        "wanted {says:?} in: {}",
        text(out)
    );
    assert!(!text(out).contains("panicked"), "{}", text(out));
}

#[test]
fn migrating_an_sqlite_home_waits_for_its_serve_and_marks_the_old_file() {
    let pg = PgCluster::start();
    let mut env = Env::init(&[]);
    env.vars.extend(pg.vars());
    common::issue_staff(&env, "before");
    let url = pg.create_db("target");
    let db = env.home.join("lgpki.db");

    // A serve on the home: refused, nothing changed, the serve still answers.
    let server = Server::start(&env);
    let out = env.lgpki(&["store", "migrate", "--to", &url]);
    refused(&out, 1, "stop it before `store migrate`");
    assert!(db.exists() && !env.home.join("store.url").exists());
    assert_eq!(
        pg.psql(
            "target",
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ),
        "0",
        "nothing was created in the target"
    );
    let health = ureq::get(&format!("{}/healthz", server.http)).call();
    assert!(health.is_ok(), "serve still answers");
    // restore takes the same guard, even with --force.
    let backup = env.path("b.lgpki");
    assert_ok(
        &env.lgpki(&["backup", "--out", p(&backup)]),
        "backup while serving",
    );
    let out = env.lgpki(&["restore", "--force", p(&backup)]);
    refused(&out, 1, "stop it before `restore`");
    drop(server);

    assert_ok(&env.lgpki(&["store", "migrate", "--to", &url]), "migrate");
    // While it was migrated, nobody could start a serve: the lock is released afterwards.
    let server = Server::start(&env);
    drop(server);

    // The old file is marked: a copy of it put back as a home's store is refused, by name of
    // where the store went, for reading and for writing alike.
    let moved = env.home.join("lgpki.db.migrated");
    assert!(moved.exists());
    // The migrated home copied whole, put back on its old file (as an instance that still
    // names `--store sqlite` would find it).
    let stale = Env::new();
    let out = std::process::Command::new("cp")
        .arg("-a")
        .arg(&env.home)
        .arg(&stale.home)
        .output()
        .expect("cp");
    assert_ok(&out, "cp -a home");
    std::fs::remove_file(stale.home.join("store.url")).expect("store.url");
    for suffix in ["", "-wal", "-shm"] {
        let from = stale.home.join(format!("lgpki.db.migrated{suffix}"));
        if from.exists() {
            std::fs::rename(&from, stale.home.join(format!("lgpki.db{suffix}"))).expect("mv");
        }
    }
    let out = stale.lgpki(&["cert", "list"]);
    refused(&out, 2, "this store was migrated to postgres://");
    assert!(
        !text(&out).contains("secret"),
        "no password: {}",
        text(&out)
    );
    let out = stale.lgpki(&[
        "--json",
        "revoke",
        "--serial",
        "01",
        "--reason",
        "keyCompromise",
    ]);
    refused(&out, 2, "store_moved");
    // The migrated home works on.
    common::issue_staff(&env, "after");
}

#[test]
fn a_postgres_store_served_from_another_home_is_not_migrated_and_a_moved_one_stops_serve() {
    let pg = PgCluster::start();
    let env = pg_env(&pg, "shared", &[]);
    let other = second_home(&env);
    let mut server = Server::start(&other);

    // The serve runs on another home (another machine): found through PostgreSQL's sessions.
    let out = env.lgpki(&["store", "migrate", "--to", "sqlite"]);
    refused(&out, 1, "`lgpki serve` uses postgres://");
    assert!(text(&out).contains("session(s) from"), "{}", text(&out));
    assert!(!env.home.join("lgpki.db").exists());
    assert_eq!(server.exit_within(Duration::from_millis(10)), None);

    // A migration that raced a starting serve leaves it on a marked store: it stops within a
    // refresh (exit 2), rather than answer OCSP from a store nothing updates any more.
    pg.psql(
        "shared",
        "INSERT INTO meta (key, value) VALUES ('moved_to', 'sqlite in /elsewhere')",
    );
    let status = server
        .exit_within(Duration::from_secs(10))
        .expect("serve stops once its store is marked moved");
    assert_eq!(status.code(), Some(2), "{status:?}");
    // Every command on it now names where the store went.
    let out = env.lgpki(&["cert", "list"]);
    refused(&out, 2, "this store was migrated to sqlite in /elsewhere");
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
    refused(&out, 2, "this store was migrated to sqlite in /elsewhere");
}
