//! Copying a whole store: `store migrate --to URL` (one store into another, SQLite or
//! PostgreSQL, either way), `backup --out FILE` and `restore FILE`.
//!
//! Backend-neutral: a backend only reads and writes the raw rows of named tables
//! ([`RawStore`], in `transfer/sqlite.rs` and `transfer/postgres.rs`); which tables, in which
//! order, the backup file's format and every check live here. Every table of the schema is
//! copied: [`TABLES`] lists them, and a store holding a table that is neither listed nor one
//! backend's bookkeeping ([`INTERNAL_TABLES`]) is refused, so a new table cannot be dropped
//! silently.
//!
//! # What is checked
//! A copy is written in one transaction of the target and read back inside it before it
//! commits: each table's row count and the SHA-256 of all its rows in key order (every
//! certificate, revocation, request and audit record, byte for byte) must equal the source's,
//! and the audit hash chain must verify from its first record to its last. Anything else rolls
//! the transaction back: the target is as it was.
//!
//! # The backup file (format 1)
//! UTF-8 JSON Lines:
//! 1. a header `{"format":"lgpki-backup","version":1,"created":RFC3339,"source":"sqlite"|"postgres"}`;
//! 2. for each table, in [`TABLES`] order: `{"table":NAME,"columns":[NAMES]}`, then one JSON
//!    array per row (a cell is `null`, an integer, a string, or `{"b64":BASE64}` for bytes),
//!    then `{"end":NAME,"rows":N,"sha256":HEX}` (the table digest, see [`TableDigest`]);
//! 3. a trailer `{"done":{"tables":N,"rows":N},"sha256":HEX}`: the SHA-256 of every byte
//!    before the trailer line.
//!
//! `restore` reads the whole file and checks every digest before it touches the store, so a
//! cut-short or altered file changes nothing. The file holds no key: CA keys stay in `HOME/keys`
//! or the PKCS#11 token and are backed up separately.

mod postgres;
mod sqlite;

use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::{Value, json};

use super::audit::{AuditRecord, ChainVerifier};
use super::location::{StoreKind, redact_url, store_kind};
use super::{PgStore, SqliteStore};
use crate::error::{Error, Result};

/// Every table a store's schema holds, in load order (a table before those referring to it),
/// each with the columns its rows are ordered by (its primary key). A table added to the
/// schema must be added here (`every_schema_table_is_transferred` fails until it is).
pub const TABLES: &[(&str, &[&str])] = &[
    ("meta", &["key"]),
    ("cas", &["seq"]),
    ("certs", &["seq"]),
    ("crls", &["ca", "number"]),
    ("imported_certs", &["name"]),
    ("orgs", &["code"]),
    ("officers", &["id"]),
    ("requests", &["id"]),
    ("hold_releases", &["serial"]),
    ("audit", &["seq"]),
    ("org_names", &["name"]),
    ("audit_checkpoints", &["seq"]),
    ("timestamps", &["serial"]),
    ("ca_generations", &["ca", "generation"]),
    ("pending_keys", &["label"]),
    ("cross_pairs", &["id"]),
];

/// Tables of one backend's own bookkeeping, never copied (the target keeps its own).
pub const INTERNAL_TABLES: &[&str] = &["schema_version"];

/// The backup file's `format` value.
pub const FORMAT: &str = "lgpki-backup";
/// The backup file format version this lgpki writes and reads.
pub const FORMAT_VERSION: u64 = 1;
/// The longest line a backup file may hold (a row with a certificate, a CSR or an audit
/// record is far smaller).
pub const MAX_LINE: usize = 16 << 20;
/// Rows written to a target per statement batch.
const BATCH_ROWS: usize = 500;

/// One value of a stored row, as every backend reads and writes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cell {
    /// SQL NULL.
    Null,
    /// An integer (SQLite INTEGER, PostgreSQL BIGINT or INT; a PostgreSQL BOOLEAN as 0 or 1,
    /// as SQLite keeps it).
    Int(i64),
    /// Text.
    Text(String),
    /// Bytes (SQLite BLOB, PostgreSQL BYTEA).
    Blob(Vec<u8>),
}

/// A backend's raw access to its tables, for copying (see the module documentation).
pub(crate) trait RawStore {
    /// The store, for messages (no password).
    fn describe(&self) -> String;
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    /// The tables of the schema, without the database's own catalog tables.
    fn table_names(&mut self) -> Result<Vec<String>>;
    /// A table's columns, in schema order.
    fn columns(&mut self, table: &str) -> Result<Vec<String>>;
    /// Starts a read-only transaction on one consistent snapshot (concurrent writers go on).
    fn begin_snapshot(&mut self) -> Result<()>;
    /// Starts a write transaction that excludes every other writer of the store.
    fn begin_write(&mut self) -> Result<()>;
    /// Calls `f` with each row of `table` (`columns`, in that order), ordered by `order_by`
    /// (text compared bytewise, as SQLite does).
    fn scan(
        &mut self,
        table: &str,
        columns: &[String],
        order_by: &[&str],
        f: &mut dyn FnMut(Vec<Cell>) -> Result<()>,
    ) -> Result<()>;
    /// The number of rows of `table`.
    fn count(&mut self, table: &str) -> Result<u64>;
    /// Inserts rows (`columns`, in that order) into `table`, keys as given.
    fn insert(&mut self, table: &str, columns: &[String], rows: &[Vec<Cell>]) -> Result<()>;
    /// Deletes every row of `table`.
    fn delete_all(&mut self, table: &str) -> Result<()>;
    /// After `table` was loaded: generated keys continue after the highest one loaded.
    fn loaded(&mut self, table: &str) -> Result<()>;
    /// Commits the transaction.
    fn commit(&mut self) -> Result<()>;
    /// Rolls the transaction back (nothing when none is open).
    fn rollback(&mut self);
    /// Where `lgpki serve` instances use this store from, one line per host (PostgreSQL: any
    /// instance, whatever its home). Empty for SQLite, which only processes on this home open:
    /// [`crate::serve_lock`] finds those.
    fn serving_elsewhere(&mut self) -> Result<Vec<String>> {
        Ok(Vec::new())
    }
}

/// Refuses `what` on `store` while `lgpki serve` instances use it: they would go on answering
/// OCSP and serving CRLs from a store the home no longer uses.
fn refuse_while_served(store: &mut dyn RawStore, what: &str) -> Result<()> {
    let serving = store.serving_elsewhere()?;
    if serving.is_empty() {
        return Ok(());
    }
    Err(Error::PolicyRefused {
        detail: format!(
            "`lgpki serve` uses {} ({}): stop every instance before `{what}`",
            store.describe(),
            serving.join("; ")
        ),
    })
}

/// Opens the store `kind` of `home` for copying (creating an SQLite file or a PostgreSQL
/// schema as [`super::open_store`] does).
fn open_raw(home: &Path, kind: &StoreKind) -> Result<Box<dyn RawStore>> {
    Ok(match kind {
        StoreKind::Sqlite => {
            let path = home.join(SqliteStore::FILE);
            Box::new(sqlite::SqliteRaw::new(SqliteStore::open(&path)?, path))
        }
        StoreKind::Postgres(url) => Box::new(postgres::PgRaw::new(PgStore::open(url)?)),
    })
}

/// The digest of one table's rows, in key order: SHA-256 over each cell's tag (0 null, 1
/// integer, 2 text, 3 bytes) followed by, for an integer, its 8 octets big-endian, for text and
/// bytes, their length as 8 octets big-endian and the octets. The same rows give the same
/// digest whichever backend holds them.
#[derive(Clone)]
pub struct TableDigest {
    ctx: ring::digest::Context,
    rows: u64,
}

impl Default for TableDigest {
    fn default() -> Self {
        TableDigest {
            ctx: ring::digest::Context::new(&ring::digest::SHA256),
            rows: 0,
        }
    }
}

impl TableDigest {
    /// Adds one row.
    pub fn add(&mut self, row: &[Cell]) {
        for cell in row {
            match cell {
                Cell::Null => self.ctx.update(&[0]),
                Cell::Int(i) => {
                    self.ctx.update(&[1]);
                    self.ctx.update(&i.to_be_bytes());
                }
                Cell::Text(t) => {
                    self.ctx.update(&[2]);
                    self.ctx.update(&(t.len() as u64).to_be_bytes());
                    self.ctx.update(t.as_bytes());
                }
                Cell::Blob(b) => {
                    self.ctx.update(&[3]);
                    self.ctx.update(&(b.len() as u64).to_be_bytes());
                    self.ctx.update(b);
                }
            }
        }
        self.rows += 1;
    }

    /// (rows, hex SHA-256).
    pub fn finish(self) -> (u64, String) {
        (self.rows, hex::encode(self.ctx.finish().as_ref()))
    }
}

/// What was copied of one table.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TableSummary {
    /// The table.
    pub name: String,
    /// Its columns, as copied.
    pub columns: Vec<String>,
    /// Its rows.
    pub rows: u64,
    /// The [`TableDigest`] of its rows, hex.
    pub sha256: String,
}

/// What a backup, restore or migration copied and checked.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TransferReport {
    /// Where the rows came from (no password).
    pub from: String,
    /// Where they went (no password).
    pub to: String,
    /// Every table, in load order.
    pub tables: Vec<TableSummary>,
    /// The newest audit record copied: its seq (0 when the log is empty).
    pub audit_seq: i64,
    /// Certificates copied (reserved serials included).
    pub certificates: u64,
    /// The backup file's SHA-256 (its trailer), for `backup` and `restore`.
    pub file_sha256: Option<String>,
}

impl TransferReport {
    /// All rows of all tables.
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }
}

/// Receives a store's rows, table by table.
trait Sink {
    /// A table begins, with the columns of the rows that follow.
    fn begin_table(&mut self, table: &str, columns: &[String]) -> Result<()>;
    /// One row.
    fn row(&mut self, row: Vec<Cell>) -> Result<()>;
    /// The table is complete: its summary.
    fn end_table(&mut self, summary: &TableSummary) -> Result<()>;
}

/// Refuses a store holding a table that the copy would not cover.
fn check_covered(store: &mut dyn RawStore) -> Result<()> {
    let names = store.table_names()?;
    let unknown: Vec<&String> = names
        .iter()
        .filter(|n| !TABLES.iter().any(|(t, _)| t == n) && !INTERNAL_TABLES.contains(&n.as_str()))
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(Error::PolicyRefused {
            detail: format!(
                "{} has table(s) {unknown:?} that this lgpki does not know how to copy (newer schema?); nothing was copied",
                store.describe()
            ),
        })
    }
}

/// Streams every table of `store` (inside its current transaction) into `sink`.
fn pump_store(store: &mut dyn RawStore, sink: &mut dyn Sink) -> Result<Vec<TableSummary>> {
    check_covered(store)?;
    let present = store.table_names()?;
    let mut out = Vec::new();
    for (table, order) in TABLES {
        // A table an older schema lacks is copied as empty.
        let columns = if present.iter().any(|n| n == table) {
            store.columns(table)?
        } else {
            Vec::new()
        };
        sink.begin_table(table, &columns)?;
        let mut digest = TableDigest::default();
        if !columns.is_empty() {
            store.scan(table, &columns, order, &mut |row| {
                digest.add(&row);
                sink.row(row)
            })?;
        }
        let (rows, sha256) = digest.finish();
        let summary = TableSummary {
            name: table.to_string(),
            columns,
            rows,
            sha256,
        };
        sink.end_table(&summary)?;
        out.push(summary);
    }
    Ok(out)
}

/// Rows of every table in `store`, for the emptiness check.
fn total_rows(store: &mut dyn RawStore) -> Result<u64> {
    let present = store.table_names()?;
    let mut n = 0;
    for (table, _) in TABLES {
        if present.iter().any(|p| p == table) {
            n += store.count(table)?;
        }
    }
    Ok(n)
}

/// Loads rows into a target inside its write transaction.
struct StoreSink<'a> {
    target: &'a mut dyn RawStore,
    present: Vec<String>,
    table: String,
    columns: Vec<String>,
    buffer: Vec<Vec<Cell>>,
}

impl StoreSink<'_> {
    fn flush(&mut self) -> Result<()> {
        if !self.buffer.is_empty() {
            let rows = std::mem::take(&mut self.buffer);
            self.target.insert(&self.table, &self.columns, &rows)?;
        }
        Ok(())
    }
}

impl Sink for StoreSink<'_> {
    fn begin_table(&mut self, table: &str, columns: &[String]) -> Result<()> {
        if !columns.is_empty() {
            if !self.present.iter().any(|p| p == table) {
                return Err(Error::PolicyRefused {
                    detail: format!(
                        "{} has no table {table} (an older lgpki made it?)",
                        self.target.describe()
                    ),
                });
            }
            let have = self.target.columns(table)?;
            if let Some(missing) = columns.iter().find(|c| !have.contains(c)) {
                return Err(Error::PolicyRefused {
                    detail: format!(
                        "{} has no column {table}.{missing} (an older lgpki made it?)",
                        self.target.describe()
                    ),
                });
            }
        }
        self.table = table.to_string();
        self.columns = columns.to_vec();
        Ok(())
    }

    fn row(&mut self, row: Vec<Cell>) -> Result<()> {
        self.buffer.push(row);
        if self.buffer.len() >= BATCH_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    fn end_table(&mut self, _summary: &TableSummary) -> Result<()> {
        self.flush()?;
        if !self.columns.is_empty() {
            self.target.loaded(&self.table)?;
        }
        Ok(())
    }
}

/// Reads every table of `store` back (the columns and order of `want`) and compares it with
/// `want`; the audit table's chain is verified on the way. The audit chain's head, and the
/// hash of audit record `probe` if there is one.
fn check_copy(
    store: &mut dyn RawStore,
    want: &[TableSummary],
    probe: Option<i64>,
) -> Result<((i64, String), Option<String>)> {
    let mut head = (0, super::audit::GENESIS.to_string());
    let mut probed = None;
    for summary in want {
        if summary.columns.is_empty() {
            continue;
        }
        let order = TABLES
            .iter()
            .find(|(t, _)| *t == summary.name)
            .map(|(_, o)| *o)
            .unwrap_or_default();
        let mut digest = TableDigest::default();
        let mut chain = (summary.name == "audit")
            .then(|| AuditColumns::new(&summary.columns))
            .transpose()?;
        store.scan(&summary.name, &summary.columns, order, &mut |row| {
            digest.add(&row);
            if let Some((cols, verifier)) = chain.as_mut() {
                let rec = cols.record(&row)?;
                verifier
                    .push(&rec)
                    .map_err(|(seq, why)| Error::PolicyRefused {
                        detail: format!(
                            "the copied audit log does not verify at record {seq}: {why}"
                        ),
                    })?;
                if Some(rec.seq) == probe {
                    probed = Some(rec.hash);
                }
            }
            Ok(())
        })?;
        let (rows, sha256) = digest.finish();
        if rows != summary.rows {
            return Err(Error::PolicyRefused {
                detail: format!(
                    "table {}: {rows} rows copied, {} expected",
                    summary.name, summary.rows
                ),
            });
        }
        if sha256 != summary.sha256 {
            return Err(Error::PolicyRefused {
                detail: format!(
                    "table {}: the copied rows differ from the source's (SHA-256 {sha256}, expected {})",
                    summary.name, summary.sha256
                ),
            });
        }
        if let Some((_, verifier)) = chain {
            let (seq, hash) = verifier.head();
            head = (seq, hash.to_string());
        }
    }
    Ok((head, probed))
}

/// Where the audit table's fields are in a row.
struct AuditColumns([usize; 9]);

impl AuditColumns {
    fn new(columns: &[String]) -> Result<(AuditColumns, ChainVerifier)> {
        let names = [
            "seq",
            "time",
            "actor",
            "action",
            "target",
            "outcome",
            "details",
            "prev_hash",
            "hash",
        ];
        let mut idx = [0; 9];
        for (i, n) in names.iter().enumerate() {
            idx[i] = columns
                .iter()
                .position(|c| c == n)
                .ok_or_else(|| Error::PolicyRefused {
                    detail: format!("the audit table has no column {n}"),
                })?;
        }
        Ok((AuditColumns(idx), ChainVerifier::default()))
    }

    fn record(&self, row: &[Cell]) -> Result<AuditRecord> {
        let text = |i: usize| match row.get(self.0[i]) {
            Some(Cell::Text(t)) => Ok(t.clone()),
            _ => Err(Error::PolicyRefused {
                detail: "an audit record has a field that is not text".into(),
            }),
        };
        let seq = match row.get(self.0[0]) {
            Some(Cell::Int(i)) => *i,
            _ => {
                return Err(Error::PolicyRefused {
                    detail: "an audit record has no integer seq".into(),
                });
            }
        };
        Ok(AuditRecord {
            seq,
            time: text(1)?,
            actor: text(2)?,
            action: text(3)?,
            target: text(4)?,
            outcome: text(5)?,
            details: text(6)?,
            prev_hash: text(7)?,
            hash: text(8)?,
        })
    }
}

/// Appends one audit record (the copy's own act) after `head`, inside the target's
/// transaction.
fn append_audit(
    target: &mut dyn RawStore,
    head: &(i64, String),
    action: &str,
    subject: &str,
    details: Value,
) -> Result<()> {
    let mut rec = AuditRecord {
        seq: head.0 + 1,
        time: crate::issue::rfc3339(time::OffsetDateTime::now_utc().unix_timestamp()),
        actor: crate::ra::operator_label(),
        action: action.to_string(),
        target: subject.to_string(),
        outcome: "ok".into(),
        details: details.to_string(),
        prev_hash: head.1.clone(),
        hash: String::new(),
    };
    rec.hash = rec.compute_hash();
    let columns: Vec<String> = [
        "seq",
        "time",
        "actor",
        "action",
        "target",
        "outcome",
        "details",
        "prev_hash",
        "hash",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let row = vec![
        Cell::Int(rec.seq),
        Cell::Text(rec.time),
        Cell::Text(rec.actor),
        Cell::Text(rec.action),
        Cell::Text(rec.target),
        Cell::Text(rec.outcome),
        Cell::Text(rec.details),
        Cell::Text(rec.prev_hash),
        Cell::Text(rec.hash),
    ];
    target.insert("audit", &columns, &[row])
}

/// The audit record of a copy, from what was copied and the hash of the probed record:
/// (action, target, details).
type AuditOf<'a> = dyn Fn(&[TableSummary], Option<&str>) -> (String, String, Value) + 'a;

/// Loads what `fill` pumps into `target` in one write transaction (after `clear`ing it, or
/// refusing a non-empty one), checks the copy against the summaries `fill` returns, appends
/// the audit record of the act, and commits. Any failure rolls back.
#[allow(clippy::type_complexity)] // as merged from main; the signature is its own
fn load(
    target: &mut dyn RawStore,
    clear: bool,
    fill: &mut dyn FnMut(&mut dyn Sink) -> Result<Vec<TableSummary>>,
    probe: Option<i64>,
    audit: &AuditOf<'_>,
) -> Result<(Vec<TableSummary>, i64, Option<String>)> {
    target.begin_write()?;
    let result = (|| {
        check_covered(target)?;
        let present = target.table_names()?;
        if clear {
            for (table, _) in TABLES.iter().rev() {
                if present.iter().any(|p| p == table) {
                    target.delete_all(table)?;
                }
            }
        } else {
            let n = total_rows(target)?;
            if n > 0 {
                return Err(Error::PolicyRefused {
                    detail: format!(
                        "{} is not empty ({n} rows); nothing was copied",
                        target.describe()
                    ),
                });
            }
        }
        let summaries = {
            let mut sink = StoreSink {
                target: &mut *target,
                present,
                table: String::new(),
                columns: Vec::new(),
                buffer: Vec::new(),
            };
            fill(&mut sink)?
        };
        let (head, probed) = check_copy(target, &summaries, probe)?;
        let (action, subject, details) = audit(&summaries, probed.as_deref());
        append_audit(target, &head, &action, &subject, details)?;
        Ok((summaries, head.0 + 1, probed))
    })();
    match result {
        Ok(r) => {
            target.commit()?;
            Ok(r)
        }
        Err(e) => {
            target.rollback();
            Err(e)
        }
    }
}

fn certificates(tables: &[TableSummary]) -> u64 {
    tables
        .iter()
        .find(|t| t.name == "certs")
        .map_or(0, |t| t.rows)
}

fn counts(tables: &[TableSummary]) -> Value {
    Value::Object(
        tables
            .iter()
            .map(|t| (t.name.clone(), json!(t.rows)))
            .collect(),
    )
}

fn describe_kind(home: &Path, kind: &StoreKind) -> String {
    match kind {
        StoreKind::Sqlite => format!("sqlite {}", home.join(SqliteStore::FILE).display()),
        StoreKind::Postgres(url) => redact_url(url),
    }
}

/// `store migrate --to URL`: copies the whole store of `home` (the one `explicit` or the home
/// names) into the empty store `to` (`sqlite` for `HOME/lgpki.db`, or `postgres://…`), checks
/// the copy (see the module documentation), then switches `home` to it: `HOME/store.url` names
/// the new database (removed for SQLite), and an old SQLite file is renamed
/// `lgpki.db.migrated` so that nothing reads it by mistake. Every instance on the store must be
/// stopped first: the source is held for writing while it is copied.
pub fn migrate(home: &Path, explicit: Option<&str>, to: &str) -> Result<TransferReport> {
    let from_kind = store_kind(home, explicit)?;
    let to_kind = store_kind(home, Some(to))?;
    let (from, to_desc) = (
        describe_kind(home, &from_kind),
        describe_kind(home, &to_kind),
    );
    if from_kind == to_kind
        || matches!((&from_kind, &to_kind), (StoreKind::Postgres(a), StoreKind::Postgres(b)) if redact_url(a) == redact_url(b))
    {
        return Err(Error::InvalidArgument {
            name: "--to",
            value: to_desc,
            reason: "the home already uses this store".into(),
        });
    }
    if !crate::Authority::exists_in(home, explicit) {
        return Err(Error::NotInitialized {
            home: home.to_path_buf(),
        });
    }
    let sqlite_target = home.join(SqliteStore::FILE);
    let made_file = to_kind == StoreKind::Sqlite && !sqlite_target.exists();
    let _no_serve = crate::serve_lock::hold_exclusive(home, "store migrate")?;
    let result = (|| {
        let mut source = open_raw(home, &from_kind)?;
        refuse_while_served(source.as_mut(), "store migrate")?;
        let mut target = open_raw(home, &to_kind)?;
        // Held for writing: nothing changes the source between the copy and the switch.
        source.begin_write()?;
        let copied = load(
            target.as_mut(),
            false,
            &mut |sink| pump_store(source.as_mut(), sink),
            None,
            &|tables, _| {
                (
                    "store.migrate".into(),
                    to_desc.clone(),
                    json!({"from": from, "rows": counts(tables)}),
                )
            },
        );
        let (tables, audit_seq, _) = match copied {
            Ok(c) => c,
            Err(e) => {
                source.rollback();
                return Err(e);
            }
        };
        // The source is marked moved in the same write transaction (super::moved): a writer
        // waiting for the lock meanwhile refuses rather than writing where the home no longer
        // looks, and the store is never opened again. Committed only once the home is
        // switched; a failed switch rolls the mark back with the rest.
        if let Err(e) = source.insert(
            "meta",
            &["key".to_string(), "value".to_string()],
            &[vec![
                Cell::Text(super::moved::MOVED_TO.into()),
                Cell::Text(to_desc.clone()),
            ]],
        ) {
            source.rollback();
            return Err(e);
        }
        if let Err(e) = switch_home(home, &from_kind, &to_kind) {
            source.rollback();
            return Err(e);
        }
        source.commit().map_err(|e| Error::StoreBackend {
            context: "marking the old store moved",
            detail: format!(
                "the home now uses {to_desc}, but {from} could not be marked: stop every process still using it ({e})"
            ),
        })?;
        Ok(TransferReport {
            from: from.clone(),
            to: to_desc.clone(),
            certificates: certificates(&tables),
            tables,
            audit_seq,
            file_sha256: None,
        })
    })();
    if result.is_err() && made_file {
        remove_sqlite_files(&sqlite_target);
    }
    result
}

/// Makes a rename or a new file in `dir` durable (best effort).
fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

fn remove_sqlite_files(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_os_string();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}

/// Points `home` at `to` after a migration from `from`.
fn switch_home(home: &Path, from: &StoreKind, to: &StoreKind) -> Result<()> {
    let url_file = home.join(super::STORE_FILE);
    match to {
        StoreKind::Postgres(_) => super::record_store(home, to)?,
        StoreKind::Sqlite => match std::fs::remove_file(&url_file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(Error::Io {
                    path: url_file,
                    source,
                });
            }
        },
    }
    if *from == StoreKind::Sqlite {
        let db = home.join(SqliteStore::FILE);
        for suffix in ["", "-wal", "-shm"] {
            let mut old = db.as_os_str().to_os_string();
            old.push(suffix);
            let mut new = db.as_os_str().to_os_string();
            new.push(".migrated");
            new.push(suffix);
            if Path::new(&old).exists() {
                std::fs::rename(&old, &new).map_err(|source| Error::Io {
                    path: PathBuf::from(&old),
                    source,
                })?;
            }
        }
    }
    sync_dir(home);
    Ok(())
}

/// Writes the backup file as rows stream in, hashing every byte.
struct FileSink<W: Write> {
    out: W,
    file_ctx: ring::digest::Context,
    rows: u64,
    tables: u64,
}

impl<W: Write> FileSink<W> {
    fn line(&mut self, v: &Value) -> Result<()> {
        let mut text = serde_json::to_vec(v).map_err(|e| Error::malformed("backup line", e))?;
        text.push(b'\n');
        self.file_ctx.update(&text);
        self.out.write_all(&text).map_err(|source| Error::Io {
            path: "backup file".into(),
            source,
        })
    }
}

fn cell_json(c: Cell) -> Value {
    match c {
        Cell::Null => Value::Null,
        Cell::Int(i) => json!(i),
        Cell::Text(t) => Value::String(t),
        Cell::Blob(b) => json!({"b64": base64::engine::general_purpose::STANDARD.encode(b)}),
    }
}

fn json_cell(v: Value) -> Option<Cell> {
    Some(match v {
        Value::Null => Cell::Null,
        Value::Number(n) => Cell::Int(n.as_i64()?),
        Value::String(s) => Cell::Text(s),
        Value::Object(mut m) if m.len() == 1 => match m.remove("b64")? {
            Value::String(s) => Cell::Blob(
                base64::engine::general_purpose::STANDARD
                    .decode(s.as_bytes())
                    .ok()?,
            ),
            _ => return None,
        },
        _ => return None,
    })
}

impl<W: Write> Sink for FileSink<W> {
    fn begin_table(&mut self, table: &str, columns: &[String]) -> Result<()> {
        self.line(&json!({"table": table, "columns": columns}))
    }

    fn row(&mut self, row: Vec<Cell>) -> Result<()> {
        self.rows += 1;
        self.line(&Value::Array(row.into_iter().map(cell_json).collect()))
    }

    fn end_table(&mut self, s: &TableSummary) -> Result<()> {
        self.tables += 1;
        self.line(&json!({"end": s.name, "rows": s.rows, "sha256": s.sha256}))
    }
}

/// `backup --out FILE`: one consistent snapshot of the whole store of `home`, taken while
/// other processes (a running `serve`) go on working, written to `out` (0600; a temporary file
/// renamed into place once complete and synced, so `out` is never a partial backup). The
/// backup is recorded in the store's audit log.
pub fn backup(home: &Path, explicit: Option<&str>, out: &Path) -> Result<TransferReport> {
    let kind = store_kind(home, explicit)?;
    if !crate::Authority::exists_in(home, explicit) {
        return Err(Error::NotInitialized {
            home: home.to_path_buf(),
        });
    }
    let from = describe_kind(home, &kind);
    let mut source = open_raw(home, &kind)?;
    let dir = match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .ok_or_else(|| Error::InvalidArgument {
            name: "--out",
            value: out.display().to_string(),
            reason: "not a file name".into(),
        })?;
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    let file = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io(&tmp))?
    };
    let written = (|| {
        let mut sink = FileSink {
            out: BufWriter::new(file),
            file_ctx: ring::digest::Context::new(&ring::digest::SHA256),
            rows: 0,
            tables: 0,
        };
        sink.line(&json!({
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "created": crate::issue::rfc3339(time::OffsetDateTime::now_utc().unix_timestamp()),
            "source": source.backend(),
        }))?;
        source.begin_snapshot()?;
        let pumped = pump_store(source.as_mut(), &mut sink);
        source.rollback();
        let tables = pumped?;
        let file_sha = hex::encode(sink.file_ctx.clone().finish().as_ref());
        let trailer =
            json!({"done": {"tables": sink.tables, "rows": sink.rows}, "sha256": file_sha});
        let mut text = serde_json::to_vec(&trailer).map_err(|e| Error::malformed("trailer", e))?;
        text.push(b'\n');
        sink.out.write_all(&text).map_err(io(&tmp))?;
        let f = sink.out.into_inner().map_err(|e| Error::Io {
            path: tmp.clone(),
            source: e.into_error(),
        })?;
        f.sync_all().map_err(io(&tmp))?;
        Ok((tables, file_sha))
    })();
    let (tables, file_sha) = match written {
        Ok(w) => w,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    if let Err(source) = std::fs::rename(&tmp, out) {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::Io {
            path: out.to_path_buf(),
            source,
        });
    }
    sync_dir(&dir);
    let audit_seq = tables
        .iter()
        .find(|t| t.name == "audit")
        .map_or(0, |t| t.rows as i64);
    let mut store = super::open_store(home, explicit)?;
    store.audit(
        &crate::ra::operator_label(),
        "store.backup",
        &out.display().to_string(),
        "ok",
        &json!({"rows": counts(&tables), "sha256": file_sha, "audit_seq": audit_seq}),
    )?;
    Ok(TransferReport {
        from,
        to: out.display().to_string(),
        certificates: certificates(&tables),
        tables,
        audit_seq,
        file_sha256: Some(file_sha),
    })
}

/// Reads a backup file line by line (each at most [`MAX_LINE`]), hashing every byte.
struct FileSource {
    path: PathBuf,
    reader: std::io::BufReader<std::fs::File>,
    ctx: ring::digest::Context,
    line_no: u64,
    /// The last line read, raw.
    buf: Vec<u8>,
}

impl FileSource {
    fn open(path: &Path) -> Result<FileSource> {
        let f = std::fs::File::open(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(FileSource {
            path: path.to_path_buf(),
            reader: std::io::BufReader::new(f),
            ctx: ring::digest::Context::new(&ring::digest::SHA256),
            line_no: 0,
            buf: Vec::new(),
        })
    }

    fn bad(&self, detail: impl std::fmt::Display) -> Error {
        Error::Malformed {
            what: format!("backup file {}", self.path.display()),
            detail: format!("line {}: {detail}", self.line_no),
        }
    }

    /// The next line as JSON (its bytes not yet hashed: see [`FileSource::hash_line`]); None
    /// at the end of the file.
    fn next(&mut self) -> Result<Option<Value>> {
        self.buf.clear();
        let n = std::io::Read::take(&mut self.reader, MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut self.buf)
            .map_err(|source| Error::Io {
                path: self.path.clone(),
                source,
            })?;
        if n == 0 {
            return Ok(None);
        }
        self.line_no += 1;
        if self.buf.len() > MAX_LINE {
            return Err(self.bad(format!("longer than {MAX_LINE} bytes")));
        }
        if self.buf.last() != Some(&b'\n') {
            return Err(self.bad("cut short (no newline)"));
        }
        serde_json::from_slice(&self.buf)
            .map(Some)
            .map_err(|e| self.bad(format!("not JSON: {e}")))
    }

    fn hash_line(&mut self) {
        self.ctx.update(&self.buf);
    }

    fn expect(&mut self) -> Result<Value> {
        let v = self.next()?;
        self.hash_line();
        v.ok_or_else(|| self.bad("the file ends early (no trailer): cut short?"))
    }

    /// Reads the whole file into `sink`, checking its structure, every table digest and the
    /// file's own SHA-256. The tables and the file digest.
    fn pump(&mut self, sink: &mut dyn Sink) -> Result<(Vec<TableSummary>, String)> {
        let header = self.expect()?;
        if header.get("format").and_then(Value::as_str) != Some(FORMAT) {
            return Err(self.bad("not an lgpki backup (no \"format\": \"lgpki-backup\" header)"));
        }
        match header.get("version").and_then(Value::as_u64) {
            Some(FORMAT_VERSION) => {}
            v => {
                return Err(self.bad(format!(
                    "backup format version {v:?}; this lgpki reads version {FORMAT_VERSION}"
                )));
            }
        }
        let mut tables = Vec::new();
        for (table, _) in TABLES {
            let begin = self.expect()?;
            if begin.get("table").and_then(Value::as_str) != Some(table) {
                return Err(self.bad(format!("expected the start of table {table}")));
            }
            let columns: Vec<String> = begin
                .get("columns")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .map(|c| c.as_str().map(str::to_string))
                        .collect::<Option<Vec<_>>>()
                })
                .and_then(|c| c)
                .ok_or_else(|| self.bad("a table without its column names"))?;
            sink.begin_table(table, &columns)?;
            let mut digest = TableDigest::default();
            let end = loop {
                let v = self.expect()?;
                let Value::Array(cells) = v else {
                    break v;
                };
                if cells.len() != columns.len() {
                    return Err(self.bad(format!(
                        "a row of {table} with {} values for {} columns",
                        cells.len(),
                        columns.len()
                    )));
                }
                let row = cells
                    .into_iter()
                    .map(json_cell)
                    .collect::<Option<Vec<Cell>>>()
                    .ok_or_else(|| self.bad(format!("a value of {table} that is not a cell")))?;
                digest.add(&row);
                sink.row(row)?;
            };
            let (rows, sha256) = digest.finish();
            if end.get("end").and_then(Value::as_str) != Some(table) {
                return Err(self.bad(format!("expected the end of table {table}")));
            }
            if end.get("rows").and_then(Value::as_u64) != Some(rows)
                || end.get("sha256").and_then(Value::as_str) != Some(sha256.as_str())
            {
                return Err(self.bad(format!(
                    "table {table}: its {rows} rows do not match the count and digest recorded for it (altered or cut short)"
                )));
            }
            let summary = TableSummary {
                name: table.to_string(),
                columns,
                rows,
                sha256,
            };
            sink.end_table(&summary)?;
            tables.push(summary);
        }
        let file_sha = hex::encode(self.ctx.clone().finish().as_ref());
        let trailer = self
            .next()?
            .ok_or_else(|| self.bad("the file ends early (no trailer): cut short?"))?;
        if trailer.get("done").is_none() {
            return Err(self.bad("expected the trailer (a table this lgpki does not know?)"));
        }
        if trailer.get("sha256").and_then(Value::as_str) != Some(file_sha.as_str()) {
            return Err(self.bad("the file's SHA-256 does not match its trailer (altered)"));
        }
        if self.next()?.is_some() {
            return Err(self.bad("data after the trailer"));
        }
        Ok((tables, file_sha))
    }
}

/// Checks a file's structure and digests, keeping nothing.
struct NullSink;

impl Sink for NullSink {
    fn begin_table(&mut self, _: &str, _: &[String]) -> Result<()> {
        Ok(())
    }
    fn row(&mut self, _: Vec<Cell>) -> Result<()> {
        Ok(())
    }
    fn end_table(&mut self, _: &TableSummary) -> Result<()> {
        Ok(())
    }
}

/// Checks a backup file without a store: its structure, every table digest and the file
/// digest.
pub fn check_backup(file: &Path) -> Result<TransferReport> {
    let (tables, sha) = FileSource::open(file)?.pump(&mut NullSink)?;
    Ok(TransferReport {
        from: file.display().to_string(),
        to: String::new(),
        certificates: certificates(&tables),
        audit_seq: tables
            .iter()
            .find(|t| t.name == "audit")
            .map_or(0, |t| t.rows as i64),
        tables,
        file_sha256: Some(sha),
    })
}

/// `restore FILE [--force]`: checks the whole backup file first (a garbled or cut-short file
/// changes nothing), then loads it into the store of `home` in one transaction, checks the
/// copy (counts, digests, the audit chain) and commits, with a `store.restore` audit record.
/// A store holding data is refused unless `force`, which replaces it. A home without a store
/// gets one (with `--store URL`: recorded, as `init --store` does).
///
/// The home's signed audit checkpoint (`HOME/audit-checkpoint.json`) names a record of the log
/// as it was; when the restored log does not hold that record (an older backup: the records
/// after it are gone), the file is moved aside to `audit-checkpoint.json.pre-restore-TIME`, and
/// the `store.restore` record names the checkpoint it replaced, so the loss stays on record.
pub fn restore(
    home: &Path,
    explicit: Option<&str>,
    file: &Path,
    force: bool,
) -> Result<TransferReport> {
    let checked = check_backup(file)?;
    let kind = store_kind(home, explicit)?;
    let to = describe_kind(home, &kind);
    let existed = crate::Authority::exists_in(home, explicit);
    crate::fsutil::create_private_dir(home)?;
    let _no_serve = crate::serve_lock::hold_exclusive(home, "restore")?;
    let sqlite_path = home.join(SqliteStore::FILE);
    let made_file = kind == StoreKind::Sqlite && !sqlite_path.exists();
    let cp_file = home.join(crate::CHECKPOINT_FILE);
    let home_checkpoint: Option<super::AuditCheckpoint> = std::fs::read(&cp_file)
        .ok()
        .and_then(|d| serde_json::from_slice(&d).ok());
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let aside = home.join(format!("{}.pre-restore-{now}", crate::CHECKPOINT_FILE));
    let result = (|| {
        let mut target = open_raw(home, &kind)?;
        refuse_while_served(target.as_mut(), "restore")?;
        let file_sha = checked.file_sha256.clone().unwrap_or_default();
        let (tables, audit_seq, probed) = load(
            target.as_mut(),
            force,
            &mut |sink| {
                let (tables, sha) = FileSource::open(file)?.pump(sink)?;
                if sha != file_sha {
                    return Err(Error::PolicyRefused {
                        detail: format!("{} changed while it was restored", file.display()),
                    });
                }
                Ok(tables)
            },
            home_checkpoint.as_ref().map(|c| c.seq),
            &|tables, probed| {
                let mut details =
                    json!({"sha256": file_sha, "rows": counts(tables), "replaced": force});
                if let Some(cp) = &home_checkpoint
                    && probed != Some(cp.head_hash.as_str())
                {
                    details["checkpoint_moved_aside"] = json!({
                        "seq": cp.seq, "head_hash": cp.head_hash, "time": cp.time,
                        "file": aside.file_name().map(|n| n.to_string_lossy().to_string()),
                    });
                }
                ("store.restore".into(), file.display().to_string(), details)
            },
        )?;
        if let Some(cp) = &home_checkpoint
            && probed.as_deref() != Some(cp.head_hash.as_str())
        {
            std::fs::rename(&cp_file, &aside).map_err(|source| Error::Io {
                path: cp_file.clone(),
                source,
            })?;
        }
        if !existed && explicit.is_some() {
            super::record_store(home, &kind)?;
        }
        Ok(TransferReport {
            from: file.display().to_string(),
            to: to.clone(),
            certificates: certificates(&tables),
            tables,
            audit_seq,
            file_sha256: checked.file_sha256.clone(),
        })
    })();
    if result.is_err() && made_file {
        remove_sqlite_files(&sqlite_path);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every table SQLite's schema creates is copied, or is bookkeeping: a table added to the
    /// schema without a line in [`TABLES`] fails here.
    #[test]
    fn every_schema_table_is_transferred() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("lgpki.db");
        let mut raw = sqlite::SqliteRaw::new(SqliteStore::open(&path).expect("open"), path);
        let names = raw.table_names().expect("tables");
        for n in &names {
            assert!(
                TABLES.iter().any(|(t, _)| t == n) || INTERNAL_TABLES.contains(&n.as_str()),
                "table {n} of the SQLite schema is not in transfer::TABLES"
            );
        }
        for (t, order) in TABLES {
            assert!(
                names.iter().any(|n| n == t),
                "{t} listed but not in the schema"
            );
            let cols = raw.columns(t).expect("columns");
            for o in *order {
                assert!(cols.iter().any(|c| c == o), "{t} has no column {o}");
            }
        }
    }

    #[test]
    fn digests_do_not_depend_on_cell_boundaries() {
        let mut a = TableDigest::default();
        a.add(&[Cell::Text("ab".into()), Cell::Text("c".into())]);
        let mut b = TableDigest::default();
        b.add(&[Cell::Text("a".into()), Cell::Text("bc".into())]);
        assert_ne!(a.finish().1, b.finish().1);
        let mut c = TableDigest::default();
        c.add(&[Cell::Null]);
        let mut d = TableDigest::default();
        d.add(&[Cell::Text(String::new())]);
        assert_ne!(c.finish().1, d.finish().1);
    }

    #[test]
    fn cells_survive_json() {
        for c in [
            Cell::Null,
            Cell::Int(i64::MIN),
            Cell::Int(i64::MAX),
            Cell::Text("令和 \"x\"\n".into()),
            Cell::Blob(vec![0, 255, 10]),
            Cell::Blob(Vec::new()),
        ] {
            assert_eq!(json_cell(cell_json(c.clone())), Some(c));
        }
        assert_eq!(json_cell(json!(1.5)), None);
        assert_eq!(json_cell(json!(true)), None);
        assert_eq!(json_cell(json!({"b64": "!!"})), None);
    }
}
