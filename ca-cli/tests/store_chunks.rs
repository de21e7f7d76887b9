//! The store's two-step issuance of a chunk (`reserve`, then `complete`), called directly on
//! both backends: each step is all or nothing, and each of its refusals fires. On PostgreSQL a
//! chunk is one statement per step (columns sent as arrays), so a bad row must still fail the
//! whole chunk and name itself.
//!
//! PostgreSQL missing is a failure, not a skip: CI installs it.

mod common;

use ca_core::{
    AuditLog, CertFilter, CertStore, Error, PendingCert, PgStore, Serial, SqliteStore, verify_chain,
};

fn sn(hex: &str) -> Serial {
    hex.parse().expect("serial")
}

fn pending(serial: &str, request_id: Option<&str>) -> PendingCert {
    PendingCert {
        serial: sn(serial),
        ca: "organization".into(),
        profile: "staff".into(),
        subject: format!("CN=user {serial}"),
        not_before: 1_700_000_000,
        not_after: 1_900_000_000,
        tbs_der: vec![0x30, 0x01, serial.len() as u8],
        request_id: request_id.map(str::to_string),
        issuer_generation: None,
        by_retired_key: false,
    }
}

fn listed<S: CertStore>(store: &S) -> Vec<String> {
    store
        .certs(&CertFilter::default())
        .expect("list")
        .into_iter()
        .map(|c| c.serial.as_str().to_string())
        .collect()
}

fn issued_serials<S: AuditLog>(store: &S) -> Vec<String> {
    store
        .audit_records()
        .expect("audit")
        .into_iter()
        .filter(|r| r.action == "cert.issue")
        .map(|r| r.target)
        .collect()
}

fn chunk_steps_are_all_or_nothing<S: CertStore + AuditLog>(store: &mut S) {
    store
        .reserve(&[
            pending("0a01", Some("line-1")),
            pending("0a02", Some("line-2")),
            pending("0a03", None),
        ])
        .expect("reserve three");
    // Reserved but not completed: not listed.
    assert!(listed(store).is_empty());

    // A serial taken before fails the chunk, names the serial, and records nothing of it.
    let e = store
        .reserve(&[pending("0a04", None), pending("0a02", None)])
        .expect_err("serial collision");
    assert!(
        matches!(&e, Error::SerialCollision { serial } if serial == "0a02"),
        "{e}"
    );
    // A request id used before: refused, naming the id.
    let e = store
        .reserve(&[pending("0a05", None), pending("0a06", Some("line-2"))])
        .expect_err("request id reused");
    assert!(e.to_string().contains("line-2"), "{e}");
    // Neither refused chunk left anything behind: 0a04, 0a05 and 0a06 are free.
    store
        .reserve(&[
            pending("0a04", None),
            pending("0a05", None),
            pending("0a06", None),
        ])
        .expect("the refused chunks recorded nothing");

    store
        .complete(
            "os:test",
            &[(sn("0a02"), vec![0x30, 2]), (sn("0a01"), vec![0x30, 1])],
        )
        .expect("complete two");
    let mut got = listed(store);
    got.sort();
    assert_eq!(got, ["0a01", "0a02"]);
    // Audit records in the order the chunk was given.
    assert_eq!(issued_serials(store), ["0a02", "0a01"]);

    // A serial never reserved fails the whole chunk, naming it: 0a03 stays pending.
    let e = store
        .complete(
            "os:test",
            &[(sn("0a03"), vec![0x30, 3]), (sn("0bad"), vec![0x30, 9])],
        )
        .expect_err("unreserved serial");
    assert!(
        matches!(&e, Error::SerialCollision { serial } if serial == "0bad"),
        "{e}"
    );
    // Completing a serial twice is refused the same way.
    let e = store
        .complete("os:test", &[(sn("0a01"), vec![0x30, 7])])
        .expect_err("completed twice");
    assert!(
        matches!(&e, Error::SerialCollision { serial } if serial == "0a01"),
        "{e}"
    );
    let mut got = listed(store);
    got.sort();
    assert_eq!(got, ["0a01", "0a02"], "a refused chunk stored nothing");
    assert_eq!(issued_serials(store), ["0a02", "0a01"]);
    let first = store
        .certs(&CertFilter::default())
        .expect("list")
        .into_iter()
        .find(|c| c.serial.as_str() == "0a01")
        .expect("0a01");
    assert_eq!(
        first.der,
        vec![0x30, 1],
        "the refused re-completion kept the first"
    );

    store
        .complete("os:test", &[(sn("0a03"), vec![0x30, 3])])
        .expect("0a03 still pending after the refused chunk");
    let records = store.audit_records().expect("audit");
    verify_chain(&records).expect("the audit chain is intact");
    assert_eq!(issued_serials(store), ["0a02", "0a01", "0a03"]);
}

#[test]
fn chunk_steps_are_all_or_nothing_on_sqlite() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut store = SqliteStore::open(&dir.path().join("lgpki.db")).expect("open");
    chunk_steps_are_all_or_nothing(&mut store);
}

#[test]
fn chunk_steps_are_all_or_nothing_on_postgres() {
    let cluster = common::pg::shared();
    let db = common::pg::fresh_db();
    let url = cluster.create_db(&db);
    let password = cluster
        .vars()
        .into_iter()
        .find(|(k, _)| k == "PGPASSWORD")
        .map(|(_, v)| v)
        .expect("the cluster's password");
    let url = url.replacen(
        &format!("{}@", common::pg::PG_USER),
        &format!("{}:{password}@", common::pg::PG_USER),
        1,
    );
    let mut store = PgStore::open(&url).expect("open");
    chunk_steps_are_all_or_nothing(&mut store);
}
