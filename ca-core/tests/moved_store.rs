//! A store `store migrate` marked moved refuses writers that opened it before the mark (they
//! were waiting for the write lock during the copy): nothing is acknowledged into a store the
//! home no longer uses.

use ca_core::{AuditLog, MOVED_TO, MetaStore, SqliteStore};

#[test]
fn a_writer_opened_before_the_mark_is_refused_after_it() {
    let dir = std::env::temp_dir().join(format!("lgpki-moved-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("lgpki.db");
    let mut early = SqliteStore::open(&path).expect("open");
    early
        .audit("os:test", "test.before", "-", "ok", &serde_json::json!({}))
        .expect("a write before the mark");
    let mut migrate = SqliteStore::open(&path).expect("open");
    migrate
        .set_meta(MOVED_TO, "postgres://ca@db/lgpki")
        .expect("mark");
    let e = early
        .audit("os:test", "test.after", "-", "ok", &serde_json::json!({}))
        .expect_err("refused");
    assert_eq!(e.kind(), "store_moved", "{e}");
    assert!(e.to_string().contains("postgres://ca@db/lgpki"), "{e}");
    let records = early.audit_records().expect("still readable");
    assert!(records.iter().all(|r| r.action != "test.after"));
    let _ = std::fs::remove_dir_all(&dir);
}
