//! The embedded SQLite store.
//!
//! SQLite runs in WAL mode with `synchronous=FULL`, so a committed transaction survives power
//! loss, and several processes (the CLI, `serve`, the responder) can use one store at once
//! (writers wait on a busy timeout). The SQL is kept to what PostgreSQL also accepts.

use std::path::Path;
use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::audit::GENESIS;
use super::{
    AuditCheckpoint, AuditRecord, CaGeneration, CaRecord, CaRenewal, CertFilter, CertRecord,
    CertStatus, CrossDirection, CrossPair, CrossPairSide, OfficerRecord, OrgRecord, PendingCert,
    PendingKey, ReasonCode, RequestRecord, RequestState, RevocationRequest, RevokeOutcome,
    RevokedEntry, Serial, StatusVisitor, StoredStatus,
};
use super::{AuditLog, CaStore, CertStore, MetaStore, Registration, RevocationStore, StatusReader};
use crate::clock::Clock;
use crate::error::{Error, Result};

/// The embedded SQLite store.
pub struct SqliteStore {
    pub(super) conn: Connection,
    /// Dates the store's own records ([`super::Store::set_clock`]).
    clock: Arc<dyn Clock>,
}

/// A write transaction and the time its records are dated with (the store's clock, read once
/// when it begins).
struct Txn<'a> {
    txn: rusqlite::Transaction<'a>,
    now: i64,
}

impl<'a> std::ops::Deref for Txn<'a> {
    type Target = rusqlite::Transaction<'a>;
    fn deref(&self) -> &Self::Target {
        &self.txn
    }
}

impl Txn<'_> {
    fn commit(self) -> rusqlite::Result<()> {
        self.txn.commit()
    }
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cas (
    seq INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    parent TEXT,
    cert_der BLOB NOT NULL,
    key_ref TEXT NOT NULL,
    key_alg TEXT NOT NULL,
    profiles TEXT NOT NULL
);
-- Every serial ever reserved, issued or not: the primary key makes reuse impossible.
CREATE TABLE IF NOT EXISTS certs (
    seq INTEGER PRIMARY KEY,
    serial TEXT NOT NULL UNIQUE,
    ca TEXT NOT NULL,
    profile TEXT NOT NULL,
    subject TEXT NOT NULL,
    not_before BIGINT NOT NULL,
    not_after BIGINT NOT NULL,
    state TEXT NOT NULL,
    -- The TBSCertificate while the serial is reserved ('pending'), to finish an interrupted
    -- issuance with the same bytes; emptied when the certificate (which holds it) is stored.
    tbs_der BLOB NOT NULL,
    der BLOB,
    request_id TEXT UNIQUE,
    reserved_at BIGINT NOT NULL,
    revoked_at BIGINT,
    reason TEXT,
    invalidity_date BIGINT,
    revoked_seq BIGINT
);
CREATE INDEX IF NOT EXISTS certs_ca ON certs (ca, state);
CREATE INDEX IF NOT EXISTS certs_revoked ON certs (ca, revoked_seq);
-- MAX(revoked_seq) (the revocation sequence: every revocation and every CRL reads it) without a
-- scan of every certificate.
CREATE INDEX IF NOT EXISTS certs_revoked_seq ON certs (revoked_seq);
-- A full CRL reads every revoked certificate of a CA in serial order: from this partial covering
-- index alone (no table rows, no sort). Only revoked certificates are in it, so issuance does
-- not pay for it.
CREATE INDEX IF NOT EXISTS certs_crl ON certs (ca, serial, revoked_at, reason, invalidity_date, profile, state)
    WHERE state = 'issued' AND revoked_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS crls (
    ca TEXT NOT NULL,
    number BIGINT NOT NULL,
    delta_base BIGINT,
    covers_seq BIGINT NOT NULL,
    made_at BIGINT NOT NULL,
    PRIMARY KEY (ca, number)
);
CREATE TABLE IF NOT EXISTS imported_certs (
    name TEXT PRIMARY KEY,
    ours TEXT NOT NULL,
    issuer TEXT NOT NULL,
    der BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS orgs (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS officers (
    id INTEGER PRIMARY KEY,
    org TEXT NOT NULL REFERENCES orgs (code),
    role TEXT NOT NULL,
    cert_issuer TEXT NOT NULL,
    cert_serial TEXT NOT NULL,
    subject TEXT NOT NULL,
    cert_der BLOB NOT NULL,
    UNIQUE (cert_issuer, cert_serial)
);
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    org TEXT NOT NULL REFERENCES orgs (code),
    state TEXT NOT NULL,
    profile TEXT,
    csr_der BLOB,
    subject TEXT,
    sans TEXT NOT NULL,
    submitted_by TEXT NOT NULL,
    decided_by TEXT,
    reject_reason TEXT,
    serial TEXT,
    revoke_reason TEXT,
    created TEXT NOT NULL
);
-- When a certificateHold was released (RFC 5280 §5.3.1): the certificate's row then has
-- revoked_at NULL, reason 'removeFromCRL' and a new revoked_seq, so a delta CRL newer than its
-- base lists it as removeFromCRL dated released_at.
CREATE TABLE IF NOT EXISTS hold_releases (
    serial TEXT PRIMARY KEY,
    released_at BIGINT NOT NULL
);
-- Hash-chained audit log (see audit.rs); seq has no gaps.
CREATE TABLE IF NOT EXISTS audit (
    seq BIGINT PRIMARY KEY,
    time TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    outcome TEXT NOT NULL,
    details TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
-- Names (DNS domains, IP networks) registered to organisations; one owner per name.
CREATE TABLE IF NOT EXISTS org_names (
    name TEXT PRIMARY KEY,
    org TEXT NOT NULL REFERENCES orgs (code)
);
-- Signed checkpoints of the audit chain (the key is not in the store).
CREATE TABLE IF NOT EXISTS audit_checkpoints (
    seq BIGINT PRIMARY KEY,
    head_hash TEXT NOT NULL,
    time TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    signature TEXT NOT NULL
);
-- Every RFC 3161 time-stamp token the TSA issued (serve's POST /tsa): the primary key keeps
-- serial numbers unique across restarts (RFC 3161 §2.4.2).
CREATE TABLE IF NOT EXISTS timestamps (
    serial TEXT PRIMARY KEY,
    gen_time BIGINT NOT NULL,
    policy TEXT NOT NULL,
    hash_alg TEXT NOT NULL,
    imprint TEXT NOT NULL
);
";

/// Cross-certificate pairs (RFC 4523 §2.5): one row per pair of our CA `ca` (key `ca_key`) with
/// a peer CA (name and key). The cross-certificates recorded before this table existed are
/// filled in by `Authority::open` (`cross::migrate_cross_pairs`).
const MIGRATION_CROSS_PAIRS: &str = "
CREATE TABLE IF NOT EXISTS cross_pairs (
    id INTEGER PRIMARY KEY,
    ca TEXT NOT NULL,
    ca_key TEXT NOT NULL,
    peer TEXT NOT NULL,
    peer_key TEXT NOT NULL,
    issued_to_this_ca BLOB,
    issued_by_this_ca BLOB,
    created_at BIGINT NOT NULL,
    CHECK (issued_to_this_ca IS NOT NULL OR issued_by_this_ca IS NOT NULL)
);
CREATE INDEX IF NOT EXISTS cross_pairs_ca ON cross_pairs (ca, ca_key, peer, peer_key);
";

/// Columns added after a table was first created: (table, column, type). Added on open when
/// missing, so older stores keep working.
const ADDED_COLUMNS: &[(&str, &str, &str)] = &[("officers", "person", "TEXT")];

/// Versioned schema migrations, (version, SQL), applied in order on open (one transaction,
/// recorded in `schema_version`), as [`super::PgStore`] does. Version 1: CA key generations;
/// 2: cross-certificate pairs.
pub const SQLITE_MIGRATIONS: &[(i32, &str)] =
    &[(1, MIGRATION_GENERATIONS), (2, MIGRATION_CROSS_PAIRS)];

/// CA key generations (`ca renew`): the generation in force on `cas` (NULL: 1), the one that
/// signed each certificate and CRL (NULL: 1, what stores made before generations hold), the
/// retired generations, and the key a renewal is generating.
const MIGRATION_GENERATIONS: &str = "
ALTER TABLE cas ADD COLUMN generation INTEGER;
ALTER TABLE certs ADD COLUMN issuer_generation INTEGER;
ALTER TABLE crls ADD COLUMN generation INTEGER;
CREATE TABLE ca_generations (
    ca TEXT NOT NULL,
    generation INTEGER NOT NULL,
    cert_der BLOB NOT NULL,
    key_ref TEXT NOT NULL,
    key_alg TEXT NOT NULL,
    retired_at BIGINT NOT NULL,
    PRIMARY KEY (ca, generation)
);
CREATE TABLE pending_keys (
    label TEXT PRIMARY KEY,
    ca TEXT NOT NULL,
    generation INTEGER NOT NULL,
    key_uri TEXT,
    created_at BIGINT NOT NULL,
    discarding INTEGER NOT NULL DEFAULT 0
);
";

/// Applies the [`SQLITE_MIGRATIONS`] the store has not had yet, in one write transaction
/// (another process opening the store at the same time waits, then finds them applied).
fn migrate(conn: &mut Connection) -> Result<()> {
    let newest = SQLITE_MIGRATIONS.last().map_or(0, |m| m.0);
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )
    .map_err(Error::store("creating the schema_version table"))?;
    let read = |c: &Connection| -> Result<i32> {
        c.query_row(
            "SELECT COALESCE(MAX(version), 0) FROM schema_version",
            [],
            |r| r.get(0),
        )
        .map_err(Error::store("reading the schema version"))
    };
    if read(conn)? == newest {
        return Ok(());
    }
    let txn = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(Error::store("beginning a migration"))?;
    let current = read(&txn)?;
    if current > newest {
        return Err(Error::StoreBackend {
            context: "opening the store",
            detail: format!(
                "the store's schema version {current} is newer than this lgpki's ({newest}); upgrade lgpki"
            ),
        });
    }
    for (version, sql) in SQLITE_MIGRATIONS.iter().filter(|m| m.0 > current) {
        txn.execute_batch(sql)
            .map_err(Error::store("applying a schema migration"))?;
        txn.execute(
            "INSERT INTO schema_version (version, applied_at) VALUES (?1, ?2)",
            params![version, crate::clock::SystemClock.unix()],
        )
        .map_err(Error::store("recording a schema migration"))?;
    }
    txn.commit()
        .map_err(Error::store("committing schema migrations"))
}

impl SqliteStore {
    /// The store file inside a home directory.
    pub const FILE: &'static str = "lgpki.db";

    /// Opens (creating if needed) the store at `path` with WAL and `synchronous=FULL`.
    pub fn open(path: &Path) -> Result<SqliteStore> {
        private_store_files(path)?;
        let mut conn = Connection::open(path).map_err(Error::store("opening the store"))?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(Error::store("setting busy timeout"))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(Error::store("enabling WAL"))?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(Error::store("setting synchronous=FULL"))?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(Error::store("enabling foreign keys"))?;
        // Every `lgpki` command opens and closes the store. By default the last connection to
        // close checkpoints the WAL into the database and deletes it (two fsyncs), and the next
        // open re-creates it (a directory fsync): ~20 ms per command on this disk, a third of
        // `lgpki crl` for a small CA. Committed transactions are already durable in the WAL
        // (synchronous=FULL); SQLite's automatic checkpoints still run as the WAL grows.
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
            true,
        )
        .map_err(Error::store("keeping the WAL on close"))?;
        conn.execute_batch(SCHEMA)
            .map_err(Error::store("creating the schema"))?;
        for (table, column, ty) in ADDED_COLUMNS {
            let present = conn
                .prepare(&format!("SELECT {column} FROM {table} LIMIT 0"))
                .is_ok();
            if !present {
                conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {ty}"))
                    .map_err(Error::store("adding a column"))?;
            }
        }
        migrate(&mut conn)?;
        Ok(SqliteStore {
            conn,
            clock: crate::clock::system_clock(),
        })
    }

    /// [`SqliteStore::open`], then refuses every write on the connection (`PRAGMA
    /// query_only`): for readers of revocation status ([`super::open_status_reader`]).
    pub fn open_read_only(path: &Path) -> Result<SqliteStore> {
        let store = SqliteStore::open(path)?;
        store
            .conn
            .pragma_update(None, "query_only", "ON")
            .map_err(Error::store("making the connection read-only"))?;
        Ok(store)
    }

    /// Runs a query and maps every row: the one shape all the listing methods share.
    fn list<T, P: rusqlite::Params>(
        &self,
        sql: &str,
        params: P,
        what: &'static str,
        map: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(Error::store(what))?;
        let rows = stmt.query_map(params, map).map_err(Error::store(what))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(Error::store(what))
    }

    /// A write transaction (SQLite's write lock), refused when `store migrate` moved the store
    /// away while this connection waited for the lock ([`super::moved`]).
    fn write_txn(&mut self) -> Result<Txn<'_>> {
        let now = self.clock.unix();
        let txn = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(Error::store("beginning a transaction"))?;
        let mark = txn
            .query_row(
                "SELECT value FROM meta WHERE key = ?1",
                [super::moved::MOVED_TO],
                |r| r.get::<_, String>(0),
            )
            .optional()
            .map_err(Error::store("beginning a transaction"))?;
        super::moved::refuse_if_moved(mark)?;
        Ok(Txn { txn, now })
    }

    /// Stores the certificate of the reserved serial `serial`, and hands back what its audit
    /// record names (CA, profile, subject) — `None` when `serial` is not reserved. The TBS was
    /// kept only to finish an interrupted reservation; the certificate holds it, so it is
    /// dropped (~45 % of a stored certificate's bytes).
    fn mark_issued(
        txn: &rusqlite::Transaction<'_>,
        serial: &Serial,
        der: &[u8],
    ) -> Result<Option<(String, String, String)>> {
        txn.prepare_cached(
            "UPDATE certs SET der = ?2, state = 'issued', tbs_der = X'' WHERE serial = ?1 AND state = 'pending'
             RETURNING ca, profile, subject",
        )
        .and_then(|mut stmt| {
            stmt.query_row(params![serial, der], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()
        })
        .map_err(Error::store("storing a certificate"))
    }

    fn insert_pending(txn: &rusqlite::Transaction<'_>, p: &PendingCert, now: i64) -> Result<()> {
        if let Some(expected) = p.issuer_generation {
            let current: Option<u32> = txn
                .prepare_cached("SELECT COALESCE(generation, 1) FROM cas WHERE name = ?1")
                .and_then(|mut stmt| stmt.query_row([&p.ca], |r| r.get(0)).optional())
                .map_err(Error::store("reading the CA's generation"))?;
            if let Some(current) = current {
                super::check_generation(&p.ca, expected, current, p.by_retired_key)?;
            }
        }
        Self::insert_pending_as(txn, p, now)
    }

    /// Records a reservation without checking its issuer generation (a renewal records
    /// certificates of the old and the new generation at once).
    fn insert_pending_as(txn: &rusqlite::Transaction<'_>, p: &PendingCert, now: i64) -> Result<()> {
        let r = txn
            .prepare_cached(
                "INSERT INTO certs (serial, ca, profile, subject, not_before, not_after, state, tbs_der, request_id, reserved_at, issuer_generation)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7, ?8, ?9,
                         COALESCE(?10, (SELECT generation FROM cas WHERE name = ?2)))",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    p.serial,
                    p.ca,
                    p.profile,
                    p.subject,
                    p.not_before,
                    p.not_after,
                    p.tbs_der,
                    p.request_id,
                    now,
                    p.issuer_generation
                ])
            });
        match r {
            Ok(_) => Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, Some(msg)))
                if e.code == rusqlite::ErrorCode::ConstraintViolation && msg.contains("serial") =>
            {
                Err(Error::SerialCollision {
                    serial: p.serial.to_string(),
                })
            }
            Err(rusqlite::Error::SqliteFailure(e, Some(msg)))
                if e.code == rusqlite::ErrorCode::ConstraintViolation
                    && msg.contains("request_id") =>
            {
                Err(Error::PolicyRefused {
                    detail: format!(
                        "request id {:?} was used before",
                        p.request_id.as_deref().unwrap_or_default()
                    ),
                })
            }
            Err(e) => Err(Error::store("recording a certificate")(e)),
        }
    }

    fn row_to_cert(row: &rusqlite::Row<'_>) -> rusqlite::Result<CertRecord> {
        Ok(CertRecord {
            serial: row.get(0)?,
            ca: row.get(1)?,
            profile: row.get(2)?,
            subject: row.get(3)?,
            not_before: row.get(4)?,
            not_after: row.get(5)?,
            der: row.get(6)?,
            revoked_at: row.get(7)?,
            // A released hold keeps 'removeFromCRL' for delta CRLs only: not a status.
            reason: row.get::<_, Option<ReasonCode>>(8)?.filter(
                |_| matches!(row.get_ref(7), Ok(v) if v != rusqlite::types::ValueRef::Null),
            ),
            invalidity_date: row.get(9)?,
        })
    }

    /// Records cross-certificate pair halves not yet recorded, in `txn`; how many were new.
    fn record_sides_in(
        txn: &Txn<'_>,
        actor: &str,
        sides: &[CrossPairSide],
        now: i64,
    ) -> Result<usize> {
        let mut recorded = 0;
        for side in sides {
            let col = match side.direction {
                CrossDirection::IssuedToThisCa => "issued_to_this_ca",
                CrossDirection::IssuedByThisCa => "issued_by_this_ca",
            };
            let known: i64 = txn
                .query_row(
                    &format!("SELECT COUNT(*) FROM cross_pairs WHERE ca = ?1 AND {col} = ?2"),
                    params![side.ca, side.der],
                    |r| r.get(0),
                )
                .map_err(Error::store("reading cross-certificate pairs"))?;
            if known > 0 {
                continue;
            }
            let open: Option<i64> = txn
                .query_row(
                    &format!(
                        "SELECT id FROM cross_pairs WHERE ca = ?1 AND ca_key = ?2 AND peer = ?3 AND peer_key = ?4 AND {col} IS NULL ORDER BY id LIMIT 1"
                    ),
                    params![side.ca, side.ca_key, side.peer, side.peer_key],
                    |r| r.get(0),
                )
                .optional()
                .map_err(Error::store("reading cross-certificate pairs"))?;
            let id = match open {
                Some(id) => {
                    txn.execute(
                        &format!("UPDATE cross_pairs SET {col} = ?2 WHERE id = ?1"),
                        params![id, side.der],
                    )
                    .map_err(Error::store("recording a cross-certificate pair"))?;
                    id
                }
                None => txn
                    .query_row(
                        &format!(
                            "INSERT INTO cross_pairs (ca, ca_key, peer, peer_key, {col}, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id"
                        ),
                        params![side.ca, side.ca_key, side.peer, side.peer_key, side.der, now],
                        |r| r.get(0),
                    )
                    .map_err(Error::store("recording a cross-certificate pair"))?,
            };
            Self::append_audit(
                txn,
                actor,
                "cross.pair",
                &side.ca,
                "ok",
                &serde_json::json!({"pair": id, "peer": side.peer, "half": side.direction}),
            )?;
            recorded += 1;
        }
        Ok(recorded)
    }

    /// Appends one audit record inside `txn` (the caller's transaction, so the record commits
    /// or rolls back with the change it describes).
    fn append_audit(
        txn: &Txn<'_>,
        actor: &str,
        action: &str,
        target: &str,
        outcome: &str,
        details: &serde_json::Value,
    ) -> Result<()> {
        AuditChain::start(txn)?.append(txn, actor, action, target, outcome, details)
    }

    fn next_revocation_seq(txn: &rusqlite::Transaction<'_>) -> Result<i64> {
        txn.query_row(
            "SELECT COALESCE(MAX(revoked_seq), 0) + 1 FROM certs",
            [],
            |r| r.get(0),
        )
        .map_err(Error::store("reading the revocation sequence"))
    }
}

impl crate::tsp_log::TimestampStore for SqliteStore {
    fn record_timestamps(
        &mut self,
        stamps: &[crate::tsp_log::TimestampRecord],
    ) -> Result<Vec<bool>> {
        let txn = self.write_txn()?;
        let mut fresh = Vec::with_capacity(stamps.len());
        {
            let mut stmt = txn
                .prepare_cached(
                    "INSERT INTO timestamps (serial, gen_time, policy, hash_alg, imprint)
                     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (serial) DO NOTHING",
                )
                .map_err(Error::store("recording a time-stamp"))?;
            for t in stamps {
                let n = stmt
                    .execute(params![
                        t.serial, t.gen_time, t.policy, t.hash_alg, t.imprint
                    ])
                    .map_err(Error::store("recording a time-stamp"))?;
                fresh.push(n == 1);
            }
        }
        txn.commit()
            .map_err(Error::store("recording a time-stamp"))?;
        Ok(fresh)
    }

    fn timestamp_count(&self) -> Result<u64> {
        self.conn
            .query_row("SELECT COUNT(*) FROM timestamps", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n as u64)
            .map_err(Error::store("counting time-stamps"))
    }
}

/// Creates the store file 0600 (SQLite gives its `-wal` and `-shm` files the database file's
/// mode) and narrows an existing store's files made 0644 by older versions.
fn private_store_files(path: &Path) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if !path.exists() {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(source) => {
                return Err(Error::Io {
                    path: path.to_path_buf(),
                    source,
                });
            }
        }
    }
    let name = path.as_os_str().to_os_string();
    for suffix in ["", "-wal", "-shm"] {
        let mut p = name.clone();
        p.push(suffix);
        // Best effort: a reader that does not own the store still opens it.
        let _ = crate::fsutil::restrict_file(Path::new(&p));
    }
    Ok(())
}

const REQUEST_COLUMNS: &str = "id, kind, org, state, profile, csr_der, subject, sans, submitted_by, decided_by, reject_reason, serial, revoke_reason, created";

fn row_to_request(r: &rusqlite::Row<'_>) -> rusqlite::Result<RequestRecord> {
    let sans: String = r.get(7)?;
    Ok(RequestRecord {
        id: r.get(0)?,
        kind: r.get(1)?,
        org: r.get(2)?,
        state: r.get(3)?,
        profile: r.get(4)?,
        csr_der: r.get(5)?,
        subject: r.get(6)?,
        sans: serde_json::from_str(&sans).unwrap_or_default(),
        submitted_by: r.get(8)?,
        decided_by: r.get(9)?,
        reject_reason: r.get(10)?,
        serial: r.get(11)?,
        revoke_reason: r.get(12)?,
        created: r.get(13)?,
    })
}

fn row_to_officer(r: &rusqlite::Row<'_>) -> rusqlite::Result<OfficerRecord> {
    Ok(OfficerRecord {
        id: r.get(0)?,
        org: r.get(1)?,
        role: r.get(2)?,
        cert_issuer: r.get(3)?,
        cert_serial: r.get(4)?,
        subject: r.get(5)?,
        cert_der: r.get(6)?,
        person: r
            .get::<_, Option<String>>(7)?
            .unwrap_or_else(|| r.get(5).unwrap_or_default()),
    })
}

/// The end of the audit chain inside one write transaction: read once, then extended in memory
/// record by record, each record inserted in the same transaction. A write transaction holds
/// SQLite's write lock (BEGIN IMMEDIATE), so no other writer can extend the chain meanwhile.
struct AuditChain {
    seq: i64,
    hash: String,
    time: String,
}

impl AuditChain {
    fn start(txn: &Txn<'_>) -> Result<AuditChain> {
        let last: Option<(i64, String)> = txn
            .prepare_cached("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
            .and_then(|mut stmt| {
                stmt.query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
            })
            .map_err(Error::store("reading the audit chain"))?;
        let (seq, hash) = last.unwrap_or_else(|| (0, GENESIS.to_string()));
        Ok(AuditChain {
            seq,
            hash,
            time: crate::issue::rfc3339(txn.now),
        })
    }

    fn append(
        &mut self,
        txn: &rusqlite::Transaction<'_>,
        actor: &str,
        action: &str,
        target: &str,
        outcome: &str,
        details: &serde_json::Value,
    ) -> Result<()> {
        let mut rec = AuditRecord {
            seq: self.seq + 1,
            time: self.time.clone(),
            actor: actor.to_string(),
            action: action.to_string(),
            target: target.to_string(),
            outcome: outcome.to_string(),
            details: details.to_string(),
            prev_hash: std::mem::take(&mut self.hash),
            hash: String::new(),
        };
        rec.hash = rec.compute_hash();
        txn.prepare_cached(
            "INSERT INTO audit (seq, time, actor, action, target, outcome, details, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .and_then(|mut stmt| {
            stmt.execute(params![
                rec.seq,
                rec.time,
                rec.actor,
                rec.action,
                rec.target,
                rec.outcome,
                rec.details,
                rec.prev_hash,
                rec.hash
            ])
        })
        .map_err(Error::store("appending to the audit log"))?;
        self.seq = rec.seq;
        self.hash = rec.hash;
        Ok(())
    }
}

const CERT_COLUMNS: &str =
    "serial, ca, profile, subject, not_before, not_after, der, revoked_at, reason, invalidity_date";

impl super::Store for SqliteStore {
    fn set_clock(&mut self, clock: Arc<dyn Clock>) {
        self.clock = clock;
    }
}

impl MetaStore for SqliteStore {
    fn meta(&self, key: &str) -> Result<Option<String>> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(Error::store("reading metadata"))
    }

    fn set_meta(&mut self, key: &str, value: &str) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .map(|_| ())
            .map_err(Error::store("writing metadata"))
    }
}

impl CertStore for SqliteStore {
    fn reserve(&mut self, pending: &[PendingCert]) -> Result<()> {
        let txn = self.write_txn()?;
        let now = txn.now;
        for p in pending {
            Self::insert_pending(&txn, p, now)?;
        }
        txn.commit()
            .map_err(Error::store("committing reserved serials"))
    }

    fn complete(&mut self, actor: &str, issued: &[(Serial, Vec<u8>)]) -> Result<()> {
        let txn = self.write_txn()?;
        let mut chain = AuditChain::start(&txn)?;
        for (serial, der) in issued {
            let row = Self::mark_issued(&txn, serial, der)?;
            let Some((ca, profile, subject)) = row else {
                return Err(Error::SerialCollision {
                    serial: serial.to_string(),
                });
            };
            chain.append(
                &txn,
                actor,
                "cert.issue",
                serial.as_str(),
                "ok",
                &serde_json::json!({"ca": ca, "profile": profile, "subject": subject}),
            )?;
        }
        txn.commit()
            .map_err(Error::store("committing certificates"))
    }

    fn certs(&self, filter: &CertFilter) -> Result<Vec<CertRecord>> {
        let mut sql = format!("SELECT {CERT_COLUMNS} FROM certs WHERE state = 'issued'");
        let mut args: Vec<Box<dyn rusqlite::ToSql>> = Vec::new();
        if let Some(ca) = &filter.ca {
            args.push(Box::new(ca.clone()));
            sql.push_str(&format!(" AND ca = ?{}", args.len()));
        }
        if let Some(p) = &filter.profile {
            args.push(Box::new(p.clone()));
            sql.push_str(&format!(" AND profile = ?{}", args.len()));
        }
        match filter.status {
            Some(CertStatus::Revoked) => sql.push_str(" AND revoked_at IS NOT NULL"),
            Some(CertStatus::Good) => {
                args.push(Box::new(filter.now));
                sql.push_str(&format!(
                    " AND revoked_at IS NULL AND not_after >= ?{}",
                    args.len()
                ));
            }
            Some(CertStatus::Expired) => {
                args.push(Box::new(filter.now));
                sql.push_str(&format!(
                    " AND revoked_at IS NULL AND not_after < ?{}",
                    args.len()
                ));
            }
            None => {}
        }
        sql.push_str(" ORDER BY seq");
        let mut stmt = self
            .conn
            .prepare(&sql)
            .map_err(Error::store("listing certificates"))?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(args.iter()), Self::row_to_cert)
            .map_err(Error::store("listing certificates"))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(Error::store("reading certificates"))
    }

    fn cert(&self, serial: &Serial, ca: Option<&str>) -> Result<Option<CertRecord>> {
        let sql = format!(
            "SELECT {CERT_COLUMNS} FROM certs WHERE serial = ?1 AND state = 'issued' AND (?2 IS NULL OR ca = ?2)"
        );
        self.conn
            .query_row(&sql, params![serial, ca], Self::row_to_cert)
            .optional()
            .map_err(Error::store("reading a certificate"))
    }

    fn cert_by_request_id(&self, request_id: &str) -> Result<Option<CertRecord>> {
        let sql =
            format!("SELECT {CERT_COLUMNS} FROM certs WHERE request_id = ?1 AND state = 'issued'");
        self.conn
            .query_row(&sql, [request_id], Self::row_to_cert)
            .optional()
            .map_err(Error::store("reading a certificate"))
    }

    fn pending_by_request_id(&self, request_id: &str) -> Result<Option<PendingCert>> {
        self.conn
            .query_row(
                "SELECT serial, ca, profile, subject, not_before, not_after, tbs_der, request_id, COALESCE(issuer_generation, 1)
                 FROM certs WHERE request_id = ?1 AND state = 'pending'",
                [request_id],
                |r| {
                    Ok(PendingCert {
                        serial: r.get(0)?,
                        ca: r.get(1)?,
                        profile: r.get(2)?,
                        subject: r.get(3)?,
                        not_before: r.get(4)?,
                        not_after: r.get(5)?,
                        tbs_der: r.get(6)?,
                        request_id: r.get(7)?,
                        issuer_generation: Some(r.get(8)?),
                        by_retired_key: false,
                    })
                },
            )
            .optional()
            .map_err(Error::store("reading a reservation"))
    }
}

impl StatusReader for SqliteStore {
    fn cert_status(&self, serial: &Serial, ca: &str) -> Result<Option<StoredStatus>> {
        self.conn
            .prepare_cached(
                "SELECT revoked_at, reason FROM certs WHERE serial = ?1 AND state = 'issued' AND ca = ?2",
            )
            .and_then(|mut stmt| {
                stmt.query_row(params![serial, ca], |r| {
                    let revoked_at: Option<i64> = r.get(0)?;
                    Ok(StoredStatus {
                        revoked_at,
                        // A released hold's 'removeFromCRL' is not a status.
                        reason: r
                            .get::<_, Option<ReasonCode>>(1)?
                            .filter(|_| revoked_at.is_some()),
                    })
                })
                .optional()
            })
            .map_err(Error::store("reading a certificate's status"))
    }

    fn for_each_revoked(
        &self,
        ca: &str,
        since_seq: Option<i64>,
        f: &mut dyn FnMut(&RevokedEntry<'_>) -> Result<()>,
    ) -> Result<()> {
        // A full CRL reads the covering index certs_crl in serial order; a delta CRL reads only
        // what changed since its base through certs_revoked (ca, revoked_seq).
        let sql = if since_seq.is_some() {
            "SELECT c.serial, COALESCE(c.revoked_at, h.released_at), c.reason, c.invalidity_date, c.profile
             FROM certs c LEFT JOIN hold_releases h ON h.serial = c.serial AND c.revoked_at IS NULL
             WHERE c.ca = ?1 AND c.state = 'issued' AND c.revoked_seq > ?2
               AND (c.revoked_at IS NOT NULL OR (c.reason = 'removeFromCRL' AND h.released_at IS NOT NULL))
             ORDER BY c.serial"
        } else {
            "SELECT serial, revoked_at, reason, invalidity_date, profile FROM certs
             WHERE ca = ?1 AND state = 'issued' AND revoked_at IS NOT NULL AND ?2 = 0
             ORDER BY serial"
        };
        let mut stmt = self
            .conn
            .prepare(sql)
            .map_err(Error::store("listing revocations"))?;
        let mut rows = stmt
            .query(params![ca, since_seq.unwrap_or(0)])
            .map_err(Error::store("listing revocations"))?;
        let read = || Error::store("reading revocations");
        while let Some(row) = rows.next().map_err(read())? {
            let text = |i: usize| row.get_ref(i).and_then(|v| Ok(v.as_str()?)).map_err(read());
            let profile = text(4)?;
            f(&RevokedEntry {
                serial: text(0)?,
                revoked_at: row.get(1).map_err(read())?,
                reason: row.get(2).map_err(read())?,
                invalidity_date: row.get(3).map_err(read())?,
                is_ca: super::is_ca_profile(profile),
            })?;
        }
        Ok(())
    }

    fn for_each_status(&self, ca: &str, f: &mut StatusVisitor<'_>) -> Result<()> {
        let mut stmt = self
            .conn
            .prepare("SELECT serial, revoked_at, reason FROM certs WHERE ca = ?1 AND state = 'issued' ORDER BY seq")
            .map_err(Error::store("listing statuses"))?;
        let mut rows = stmt.query([ca]).map_err(Error::store("listing statuses"))?;
        while let Some(row) = rows.next().map_err(Error::store("reading statuses"))? {
            let read = || Error::store("reading statuses");
            let serial = row
                .get_ref(0)
                .and_then(|v| Ok(v.as_str()?))
                .map_err(read())?;
            let revoked_at: Option<i64> = row.get(1).map_err(read())?;
            let reason: Option<ReasonCode> = row.get(2).map_err(read())?;
            f(serial, revoked_at, reason)?;
        }
        Ok(())
    }

    fn revocation_seq(&self) -> Result<i64> {
        self.conn
            .query_row("SELECT COALESCE(MAX(revoked_seq), 0) FROM certs", [], |r| {
                r.get(0)
            })
            .map_err(Error::store("reading the revocation sequence"))
    }

    fn last_full_crl_for(&self, ca: &str, generation: Option<u32>) -> Result<Option<(u64, i64)>> {
        self.conn
            .query_row(
                "SELECT number, covers_seq FROM crls WHERE ca = ?1 AND delta_base IS NULL
                   AND COALESCE(generation, 1) = COALESCE(?2, (SELECT COALESCE(generation, 1) FROM cas WHERE name = ?1), 1)
                 ORDER BY number DESC LIMIT 1",
                params![ca, generation],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)),
            )
            .optional()
            .map_err(Error::store("reading CRLs"))
    }
}

impl RevocationStore for SqliteStore {
    fn revoke(
        &mut self,
        actor: &str,
        reqs: &[RevocationRequest],
    ) -> Result<Vec<Result<RevokeOutcome>>> {
        let txn = self.write_txn()?;
        let mut chain = AuditChain::start(&txn)?;
        let mut seq = Self::next_revocation_seq(&txn)? - 1;
        let mut out = Vec::with_capacity(reqs.len());
        let sql = format!(
            "SELECT {CERT_COLUMNS} FROM certs WHERE serial = ?1 AND state = 'issued' AND (?2 IS NULL OR ca = ?2)"
        );
        for r in reqs {
            let current = txn
                .prepare_cached(&sql)
                .and_then(|mut stmt| {
                    stmt.query_row(params![r.serial, r.ca], Self::row_to_cert)
                        .optional()
                })
                .map_err(Error::store("reading a certificate"))?;
            let Some(mut rec) = current else {
                out.push(Err(Error::CertificateNotFound {
                    serial: r.serial.to_string(),
                }));
                continue;
            };
            if !super::revocation_changes(&rec, r.reason) {
                out.push(Ok(RevokeOutcome {
                    record: rec,
                    already: true,
                }));
                continue;
            }
            seq += 1;
            let time = rec.revoked_at.unwrap_or(r.time);
            txn.prepare_cached(
                "UPDATE certs SET revoked_at = ?2, reason = ?3, invalidity_date = ?4, revoked_seq = ?5 WHERE serial = ?1",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![rec.serial, time, r.reason, r.invalidity_date, seq])
            })
            .map_err(Error::store("recording a revocation"))?;
            chain.append(
                &txn,
                actor,
                "cert.revoke",
                rec.serial.as_str(),
                "ok",
                &serde_json::json!({
                    "ca": rec.ca, "reason": r.reason, "invalidity_date": r.invalidity_date.map(crate::issue::rfc3339),
                }),
            )?;
            rec.revoked_at = Some(time);
            rec.reason = Some(r.reason);
            rec.invalidity_date = r.invalidity_date;
            out.push(Ok(RevokeOutcome {
                record: rec,
                already: false,
            }));
        }
        txn.commit()
            .map_err(Error::store("committing revocations"))?;
        Ok(out)
    }

    fn record_crl_for(
        &mut self,
        actor: &str,
        ca: &str,
        generation: Option<u32>,
        covers_seq: i64,
        delta_base: Option<u64>,
    ) -> Result<u64> {
        let txn = self.write_txn()?;
        let last: i64 = txn
            .query_row(
                "SELECT COALESCE(MAX(number), 0) FROM crls WHERE ca = ?1",
                [ca],
                |r| r.get(0),
            )
            .map_err(Error::store("reading the CRL number"))?;
        let number = last + 1;
        let generation: u32 = match generation {
            Some(g) => g,
            None => txn
                .query_row(
                    "SELECT COALESCE(MAX(generation), 1) FROM cas WHERE name = ?1",
                    [ca],
                    |r| r.get(0),
                )
                .map_err(Error::store("reading the CA's generation"))?,
        };
        txn.execute(
            "INSERT INTO crls (ca, number, delta_base, covers_seq, made_at, generation) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![ca, number, delta_base.map(|b| b as i64), covers_seq, txn.now, generation],
        )
        .map_err(Error::store("recording a CRL"))?;
        Self::append_audit(
            &txn,
            actor,
            if delta_base.is_some() {
                "crl.sign.delta"
            } else {
                "crl.sign"
            },
            ca,
            "ok",
            &serde_json::json!({"crl_number": number, "delta_base": delta_base, "generation": generation}),
        )?;
        txn.commit()
            .map_err(Error::store("committing a CRL number"))?;
        Ok(number as u64)
    }

    fn release_hold(
        &mut self,
        actor: &str,
        serial: &Serial,
        ca: Option<&str>,
        time: i64,
    ) -> Result<CertRecord> {
        let txn = self.write_txn()?;
        let sql = format!(
            "SELECT {CERT_COLUMNS} FROM certs WHERE serial = ?1 AND state = 'issued' AND (?2 IS NULL OR ca = ?2)"
        );
        let mut rec = txn
            .query_row(&sql, params![serial, ca], Self::row_to_cert)
            .optional()
            .map_err(Error::store("reading a certificate"))?
            .ok_or_else(|| Error::CertificateNotFound {
                serial: serial.to_string(),
            })?;
        if rec.revoked_at.is_none() || rec.reason != Some(ReasonCode::CertificateHold) {
            return Err(Error::PolicyRefused {
                detail: format!(
                    "certificate {serial} is not on hold (status: {}); only certificateHold can be released (RFC 5280 §5.3.1)",
                    rec.reason
                        .filter(|_| rec.revoked_at.is_some())
                        .map_or("good", ReasonCode::name)
                ),
            });
        }
        let seq = Self::next_revocation_seq(&txn)?;
        txn.execute(
            "UPDATE certs SET revoked_at = NULL, reason = 'removeFromCRL', invalidity_date = NULL, revoked_seq = ?2 WHERE serial = ?1",
            params![rec.serial, seq],
        )
        .map_err(Error::store("releasing a hold"))?;
        txn.execute(
            "INSERT OR REPLACE INTO hold_releases (serial, released_at) VALUES (?1, ?2)",
            params![rec.serial, time],
        )
        .map_err(Error::store("releasing a hold"))?;
        Self::append_audit(
            &txn,
            actor,
            "cert.unhold",
            rec.serial.as_str(),
            "ok",
            &serde_json::json!({"ca": rec.ca, "held_since": rec.revoked_at.map(crate::issue::rfc3339)}),
        )?;
        txn.commit()
            .map_err(Error::store("committing a hold release"))?;
        rec.revoked_at = None;
        rec.reason = None;
        rec.invalidity_date = None;
        Ok(rec)
    }
}

impl CaStore for SqliteStore {
    fn insert_ca(
        &mut self,
        actor: &str,
        ca: &CaRecord,
        cert: &PendingCert,
        cert_der: &[u8],
    ) -> Result<()> {
        let txn = self.write_txn()?;
        let exists: bool = txn
            .query_row(
                "SELECT COUNT(*) FROM cas WHERE name = ?1",
                [&ca.name],
                |r| r.get::<_, i64>(0),
            )
            .map_err(Error::store("checking CA name"))?
            > 0;
        if exists {
            return Err(Error::CaExists {
                name: ca.name.clone(),
            });
        }
        Self::insert_pending(&txn, cert, txn.now)?;
        Self::mark_issued(&txn, &cert.serial, cert_der)?;
        txn.execute(
            "INSERT INTO cas (name, parent, cert_der, key_ref, key_alg, profiles) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                ca.name,
                ca.parent,
                cert_der,
                ca.key_ref,
                ca.key_alg.name(),
                serde_json::to_string(&ca.profiles).unwrap_or_else(|_| "[]".into())
            ],
        )
        .map_err(Error::store("recording the CA"))?;
        Self::append_audit(
            &txn,
            actor,
            "ca.create",
            &ca.name,
            "ok",
            &serde_json::json!({
                "serial": cert.serial, "parent": ca.parent, "subject": cert.subject,
                "key_alg": ca.key_alg.name(), "key": crate::key::KeyRef(ca.key_ref.clone()).location(),
            }),
        )?;
        txn.commit().map_err(Error::store("committing the CA"))
    }

    fn cas(&self) -> Result<Vec<CaRecord>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT name, parent, cert_der, key_ref, key_alg, profiles, COALESCE(generation, 1) FROM cas ORDER BY seq",
            )
            .map_err(Error::store("listing CAs"))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, u32>(6)?,
                ))
            })
            .map_err(Error::store("listing CAs"))?;
        let mut out = Vec::new();
        for row in rows {
            let (name, parent, cert_der, key_ref, alg, profiles, generation) =
                row.map_err(Error::store("reading a CA"))?;
            out.push(CaRecord {
                name,
                parent,
                cert_der,
                key_ref,
                key_alg: alg.parse()?,
                profiles: serde_json::from_str(&profiles)
                    .map_err(|e| Error::malformed("stored CA profiles", e))?,
                generation,
            });
        }
        Ok(out)
    }

    fn ca(&self, name: &str) -> Result<Option<CaRecord>> {
        Ok(self.cas()?.into_iter().find(|c| c.name == name))
    }

    fn ca_generations(&self, ca: &str) -> Result<Vec<CaGeneration>> {
        let rows = self.list(
            "SELECT ca, generation, cert_der, key_ref, key_alg, retired_at FROM ca_generations
             WHERE ca = ?1 ORDER BY generation",
            [ca],
            "listing CA generations",
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, u32>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, i64>(5)?,
                ))
            },
        )?;
        rows.into_iter()
            .map(|(ca, generation, cert_der, key_ref, alg, retired_at)| {
                Ok(CaGeneration {
                    ca,
                    generation,
                    cert_der,
                    key_ref,
                    key_alg: alg.parse()?,
                    retired_at,
                })
            })
            .collect()
    }

    fn generation_last_expiry(&self, ca: &str, generation: u32) -> Result<Option<i64>> {
        self.conn
            .query_row(
                "SELECT MAX(not_after) FROM certs WHERE ca = ?1 AND state = 'issued'
                   AND COALESCE(issuer_generation, 1) = ?2",
                params![ca, generation],
                |r| r.get(0),
            )
            .map_err(Error::store("reading a generation's certificates"))
    }

    fn record_pending_key(&mut self, key: &PendingKey) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO pending_keys (label, ca, generation, key_uri, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![key.label, key.ca, key.generation, key.key_uri, self.clock.unix()],
            )
            .map(|_| ())
            .map_err(Error::store("recording a pending key"))
    }

    fn pending_keys(&self, ca: &str) -> Result<Vec<PendingKey>> {
        self.list(
            "SELECT ca, generation, label, key_uri FROM pending_keys WHERE ca = ?1 ORDER BY created_at, label",
            [ca],
            "reading pending keys",
            |r| {
                Ok(PendingKey {
                    ca: r.get(0)?,
                    generation: r.get(1)?,
                    label: r.get(2)?,
                    key_uri: r.get(3)?,
                })
            },
        )
    }

    fn claim_pending_key(&mut self, ca: &str, label: &str) -> Result<bool> {
        self.conn
            .execute(
                "UPDATE pending_keys SET discarding = 1 WHERE ca = ?1 AND label = ?2",
                params![ca, label],
            )
            .map(|n| n > 0)
            .map_err(Error::store("claiming a pending key"))
    }

    fn clear_pending_key(&mut self, ca: &str, label: &str) -> Result<()> {
        self.conn
            .execute(
                "DELETE FROM pending_keys WHERE ca = ?1 AND label = ?2",
                params![ca, label],
            )
            .map(|_| ())
            .map_err(Error::store("forgetting a pending key"))
    }

    fn renew_ca(&mut self, actor: &str, renewal: &CaRenewal) -> Result<()> {
        let txn = self.write_txn()?;
        let name = &renewal.ca.name;
        let current: Option<(u32, Vec<u8>, String, String)> = txn
            .query_row(
                "SELECT COALESCE(generation, 1), cert_der, key_ref, key_alg FROM cas WHERE name = ?1",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()
            .map_err(Error::store("reading the CA"))?;
        let Some((generation, cert_der, key_ref, key_alg)) = current else {
            return Err(Error::UnknownCa { name: name.clone() });
        };
        super::check_generation(
            name,
            renewal.ca.generation.saturating_sub(1),
            generation,
            false,
        )?;
        let now = txn.now;
        txn.execute(
            "INSERT INTO ca_generations (ca, generation, cert_der, key_ref, key_alg, retired_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![name, generation, cert_der, key_ref, key_alg, now],
        )
        .map_err(Error::store("retiring the CA's generation"))?;
        txn.execute(
            "UPDATE cas SET cert_der = ?2, key_ref = ?3, key_alg = ?4, generation = ?5 WHERE name = ?1",
            params![
                name,
                renewal.cert_der,
                renewal.ca.key_ref,
                renewal.ca.key_alg.name(),
                renewal.ca.generation
            ],
        )
        .map_err(Error::store("recording the CA's new generation"))?;
        for (pending, der) in std::iter::once((&renewal.cert, &renewal.cert_der))
            .chain(renewal.links.iter().map(|(p, d)| (p, d)))
            .chain(renewal.crosses.iter().map(|(p, d)| (p, d)))
        {
            Self::insert_pending_as(&txn, pending, now)?;
            Self::mark_issued(&txn, &pending.serial, der)?;
        }
        Self::record_sides_in(&txn, actor, &renewal.cross_sides, now)?;
        if let Some(label) = &renewal.pending_label {
            let n = txn
                .execute(
                    "DELETE FROM pending_keys WHERE ca = ?1 AND label = ?2 AND discarding = 0",
                    params![name, label],
                )
                .map_err(Error::store("forgetting the pending key"))?;
            if n == 0 {
                return Err(super::renewal_cancelled(name));
            }
        }
        Self::append_audit(
            &txn,
            actor,
            "ca.renew",
            name,
            "ok",
            &super::renewal_details(renewal),
        )?;
        txn.commit().map_err(Error::store("committing the renewal"))
    }

    fn import_cert(
        &mut self,
        actor: &str,
        name: &str,
        ours: &str,
        issuer: &str,
        der: &[u8],
    ) -> Result<()> {
        let txn = self.write_txn()?;
        txn.execute(
            "INSERT INTO imported_certs (name, ours, issuer, der) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (name) DO NOTHING",
            params![name, ours, issuer, der],
        )
        .map_err(Error::store("importing a certificate"))?;
        Self::append_audit(
            &txn,
            actor,
            "cross.import",
            name,
            "ok",
            &serde_json::json!({"ca": ours, "issuer": issuer}),
        )?;
        txn.commit().map_err(Error::store("committing an import"))
    }

    fn imported_certs(&self) -> Result<Vec<(String, Vec<u8>)>> {
        self.list(
            "SELECT name, der FROM imported_certs ORDER BY name",
            [],
            "listing imports",
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }

    fn record_cross_sides(&mut self, actor: &str, sides: &[CrossPairSide]) -> Result<usize> {
        let txn = self.write_txn()?;
        let recorded = Self::record_sides_in(&txn, actor, sides, txn.now)?;
        txn.commit()
            .map_err(Error::store("committing cross-certificate pairs"))?;
        Ok(recorded)
    }

    fn cross_pairs(&self, ca: Option<&str>) -> Result<Vec<CrossPair>> {
        self.list(
            "SELECT id, ca, ca_key, peer, peer_key, issued_to_this_ca, issued_by_this_ca FROM cross_pairs
             WHERE ?1 IS NULL OR ca = ?1 ORDER BY id",
            params![ca],
            "listing cross-certificate pairs",
            |r| {
                Ok(CrossPair {
                    id: r.get(0)?,
                    ca: r.get(1)?,
                    ca_key: r.get(2)?,
                    peer: r.get(3)?,
                    peer_key: r.get(4)?,
                    issued_to_this_ca: r.get(5)?,
                    issued_by_this_ca: r.get(6)?,
                })
            },
        )
    }
}

impl Registration for SqliteStore {
    fn add_org(&mut self, actor: &str, org: &OrgRecord) -> Result<()> {
        let txn = self.write_txn()?;
        let exists: i64 = txn
            .query_row(
                "SELECT COUNT(*) FROM orgs WHERE code = ?1 OR name = ?2",
                params![org.code, org.name],
                |r| r.get(0),
            )
            .map_err(Error::store("reading organisations"))?;
        if exists > 0 {
            return Err(Error::PolicyRefused {
                detail: format!(
                    "organisation {} or name {:?} is registered already",
                    org.code, org.name
                ),
            });
        }
        txn.execute(
            "INSERT INTO orgs (code, name) VALUES (?1, ?2)",
            params![org.code, org.name],
        )
        .map_err(Error::store("registering an organisation"))?;
        Self::append_audit(
            &txn,
            actor,
            "org.add",
            &org.code,
            "ok",
            &serde_json::json!({"name": org.name}),
        )?;
        txn.commit()
            .map_err(Error::store("committing an organisation"))
    }

    fn orgs(&self) -> Result<Vec<OrgRecord>> {
        self.list(
            "SELECT code, name FROM orgs ORDER BY code",
            [],
            "listing organisations",
            |r| {
                Ok(OrgRecord {
                    code: r.get(0)?,
                    name: r.get(1)?,
                })
            },
        )
    }

    fn add_officer(&mut self, actor: &str, o: &OfficerRecord) -> Result<i64> {
        let txn = self.write_txn()?;
        let exists: i64 = txn
            .query_row(
                "SELECT COUNT(*) FROM officers WHERE cert_issuer = ?1 AND cert_serial = ?2",
                params![o.cert_issuer, o.cert_serial],
                |r| r.get(0),
            )
            .map_err(Error::store("reading officers"))?;
        if exists > 0 {
            return Err(Error::PolicyRefused {
                detail: format!(
                    "certificate {} is registered to an officer already",
                    o.cert_serial
                ),
            });
        }
        txn.execute(
            "INSERT INTO officers (org, role, cert_issuer, cert_serial, subject, cert_der, person) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![o.org, o.role, o.cert_issuer, o.cert_serial, o.subject, o.cert_der, o.person],
        )
        .map_err(Error::store("registering an officer"))?;
        let id = txn.last_insert_rowid();
        Self::append_audit(
            &txn,
            actor,
            "officer.add",
            &id.to_string(),
            "ok",
            &serde_json::json!({"org": o.org, "role": o.role, "subject": o.subject, "cert_serial": o.cert_serial, "person": o.person}),
        )?;
        txn.commit()
            .map_err(Error::store("committing an officer"))?;
        Ok(id)
    }

    fn officers(&self) -> Result<Vec<OfficerRecord>> {
        self.list(
            "SELECT id, org, role, cert_issuer, cert_serial, subject, cert_der, person FROM officers ORDER BY id",
            [],
            "listing officers",
            row_to_officer,
        )
    }

    fn add_request(&mut self, actor: &str, q: &RequestRecord) -> Result<i64> {
        let txn = self.write_txn()?;
        txn.execute(
            "INSERT INTO requests (kind, org, state, profile, csr_der, subject, sans, submitted_by, serial, revoke_reason, created)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![q.kind, q.org, q.state, q.profile, q.csr_der, q.subject, serde_json::to_string(&q.sans).unwrap_or_else(|_| "[]".into()), q.submitted_by, q.serial, q.revoke_reason, q.created],
        )
        .map_err(Error::store("recording a request"))?;
        let id = txn.last_insert_rowid();
        Self::append_audit(
            &txn,
            actor,
            &format!("request.submit.{}", q.kind),
            &id.to_string(),
            "ok",
            &serde_json::json!({"org": q.org, "profile": q.profile, "subject": q.subject, "serial": q.serial}),
        )?;
        txn.commit().map_err(Error::store("committing a request"))?;
        Ok(id)
    }

    fn request(&self, id: i64) -> Result<Option<RequestRecord>> {
        self.conn
            .query_row(
                &format!("SELECT {REQUEST_COLUMNS} FROM requests WHERE id = ?1"),
                [id],
                row_to_request,
            )
            .optional()
            .map_err(Error::store("reading a request"))
    }

    fn requests(
        &self,
        org: Option<&str>,
        state: Option<RequestState>,
    ) -> Result<Vec<RequestRecord>> {
        self.list(
            &format!("SELECT {REQUEST_COLUMNS} FROM requests WHERE (?1 IS NULL OR org = ?1) AND (?2 IS NULL OR state = ?2) ORDER BY id"),
            params![org, state],
            "listing requests",
            row_to_request,
        )
    }

    fn update_request(
        &mut self,
        actor: &str,
        q: &RequestRecord,
        from: RequestState,
        action: &str,
    ) -> Result<()> {
        let txn = self.write_txn()?;
        let n = txn
            .execute(
                "UPDATE requests SET state = ?2, decided_by = ?3, reject_reason = ?4, serial = ?5 WHERE id = ?1 AND state = ?6",
                params![q.id, q.state, q.decided_by, q.reject_reason, q.serial, from],
            )
            .map_err(Error::store("updating a request"))?;
        if n != 1 {
            return Err(Error::PolicyRefused {
                detail: format!("request {} is no longer {from}", q.id),
            });
        }
        Self::append_audit(
            &txn,
            actor,
            action,
            &q.id.to_string(),
            "ok",
            &serde_json::json!({"org": q.org, "state": q.state, "serial": q.serial, "reason": q.reject_reason}),
        )?;
        txn.commit().map_err(Error::store("committing a request"))
    }

    fn add_org_names(&mut self, actor: &str, org: &str, names: &[String]) -> Result<()> {
        let txn = self.write_txn()?;
        for name in names {
            let owner: Option<String> = txn
                .query_row("SELECT org FROM org_names WHERE name = ?1", [name], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(Error::store("reading registered names"))?;
            if let Some(owner) = owner {
                return Err(Error::PolicyRefused {
                    detail: format!("{name} is registered to organisation {owner} already"),
                });
            }
            txn.execute(
                "INSERT INTO org_names (name, org) VALUES (?1, ?2)",
                params![name, org],
            )
            .map_err(Error::store("registering a name"))?;
        }
        Self::append_audit(
            &txn,
            actor,
            "org.names.add",
            org,
            "ok",
            &serde_json::json!({"names": names}),
        )?;
        txn.commit().map_err(Error::store("committing names"))
    }

    fn org_names(&self, org: Option<&str>) -> Result<Vec<(String, String)>> {
        self.list(
            "SELECT org, name FROM org_names WHERE (?1 IS NULL OR org = ?1) ORDER BY org, name",
            [org],
            "listing registered names",
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }

    fn remove_officer(&mut self, actor: &str, id: i64) -> Result<Option<OfficerRecord>> {
        let txn = self.write_txn()?;
        let rec = txn
            .query_row(
                "SELECT id, org, role, cert_issuer, cert_serial, subject, cert_der, person FROM officers WHERE id = ?1",
                [id],
                row_to_officer,
            )
            .optional()
            .map_err(Error::store("reading an officer"))?;
        let Some(rec) = rec else {
            return Ok(None);
        };
        txn.execute("DELETE FROM officers WHERE id = ?1", [id])
            .map_err(Error::store("removing an officer"))?;
        Self::append_audit(
            &txn,
            actor,
            "officer.remove",
            &id.to_string(),
            "ok",
            &serde_json::json!({"org": rec.org, "role": rec.role, "subject": rec.subject, "cert_serial": rec.cert_serial}),
        )?;
        txn.commit()
            .map_err(Error::store("committing an officer removal"))?;
        Ok(Some(rec))
    }
}

impl AuditLog for SqliteStore {
    fn audit(
        &mut self,
        actor: &str,
        action: &str,
        target: &str,
        outcome: &str,
        details: &serde_json::Value,
    ) -> Result<()> {
        let txn = self.write_txn()?;
        Self::append_audit(&txn, actor, action, target, outcome, details)?;
        txn.commit()
            .map_err(Error::store("committing an audit record"))
    }

    fn audit_records(&self) -> Result<Vec<AuditRecord>> {
        self.audit_records_from(i64::MIN)
    }

    fn audit_head(&self) -> Result<Option<(i64, String)>> {
        self.conn
            .query_row(
                "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(Error::store("reading the audit chain"))
    }

    fn audit_records_from(&self, seq: i64) -> Result<Vec<AuditRecord>> {
        self.list(
            "SELECT seq, time, actor, action, target, outcome, details, prev_hash, hash FROM audit WHERE seq >= ?1 ORDER BY seq",
            [seq],
            "reading the audit log",
            |r| {
                Ok(AuditRecord {
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
            },
        )
    }

    fn seal_audit(
        &mut self,
        seal: &mut dyn FnMut(i64, &str) -> Result<AuditCheckpoint>,
    ) -> Result<Option<AuditCheckpoint>> {
        let txn = self.write_txn()?;
        let head: Option<(i64, String)> = txn
            .query_row(
                "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(Error::store("reading the audit chain"))?;
        let Some((seq, hash)) = head else {
            return Ok(None);
        };
        let cp = seal(seq, &hash)?;
        txn.execute(
            "INSERT INTO audit_checkpoints (seq, head_hash, time, algorithm, signature) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (seq) DO NOTHING",
            params![cp.seq, cp.head_hash, cp.time, cp.algorithm, cp.signature],
        )
        .map_err(Error::store("recording an audit checkpoint"))?;
        txn.commit()
            .map_err(Error::store("committing an audit checkpoint"))?;
        Ok(Some(cp))
    }

    fn audit_checkpoints(&self) -> Result<Vec<AuditCheckpoint>> {
        self.list(
            "SELECT seq, head_hash, time, algorithm, signature FROM audit_checkpoints ORDER BY seq",
            [],
            "reading audit checkpoints",
            |r| {
                Ok(AuditCheckpoint {
                    seq: r.get(0)?,
                    head_hash: r.get(1)?,
                    time: r.get(2)?,
                    algorithm: r.get(3)?,
                    signature: r.get(4)?,
                })
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sn(hex: &str) -> Serial {
        hex.parse().expect("serial")
    }

    fn pending(serial: &str) -> PendingCert {
        PendingCert {
            serial: sn(serial),
            ca: "org".into(),
            profile: "staff".into(),
            subject: "CN=a".into(),
            not_before: 0,
            not_after: i64::MAX / 2,
            tbs_der: vec![0x30, 0],
            request_id: None,
            issuer_generation: None,
            by_retired_key: false,
        }
    }

    #[test]
    fn serials_are_never_reused_and_pending_rows_are_not_listed() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut s = SqliteStore::open(&dir.path().join("db")).expect("open");
        s.reserve(&[pending("01"), pending("02")]).expect("reserve");
        assert!(s.certs(&CertFilter::default()).expect("list").is_empty());
        s.complete("test", &[(sn("01"), vec![1])])
            .expect("complete");
        assert_eq!(s.certs(&CertFilter::default()).expect("list").len(), 1);
        // A reserved-but-never-issued serial (a crash between reserve and complete) stays taken.
        let err = s
            .reserve(&[pending("03"), pending("02")])
            .expect_err("collision");
        assert!(matches!(err, Error::SerialCollision { .. }), "{err}");
        // The failed batch recorded nothing: 03 is still free.
        s.reserve(&[pending("03")]).expect("03 free");
        // Completing twice is refused.
        assert!(s.complete("test", &[(sn("01"), vec![1])]).is_err());
        drop(s);
        let s = SqliteStore::open(&dir.path().join("db")).expect("reopen");
        assert_eq!(
            s.cert(&sn("01"), None).expect("get").map(|c| c.der),
            Some(vec![1])
        );
    }

    #[test]
    fn cert_status_reads_only_issued_certificates_of_the_named_ca() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut s = SqliteStore::open(&dir.path().join("db")).expect("open");
        s.reserve(&[pending("01"), pending("02"), pending("03")])
            .expect("reserve");
        s.complete("test", &[(sn("01"), vec![1]), (sn("02"), vec![2])])
            .expect("complete");
        let good = StoredStatus {
            revoked_at: None,
            reason: None,
        };
        assert_eq!(s.cert_status(&sn("01"), "org").expect("01"), Some(good));
        assert_eq!(s.cert_status(&sn("01"), "other").expect("other CA"), None);
        assert_eq!(s.cert_status(&sn("03"), "org").expect("pending"), None);
        assert_eq!(s.cert_status(&sn("04"), "org").expect("absent"), None);
        let outcomes = s
            .revoke(
                "test",
                &[RevocationRequest {
                    serial: sn("02"),
                    ca: None,
                    reason: ReasonCode::KeyCompromise,
                    time: 1_700_000_000,
                    invalidity_date: None,
                }],
            )
            .expect("revoke");
        assert!(outcomes.iter().all(|o| o.is_ok()));
        assert_eq!(
            s.cert_status(&sn("02"), "org").expect("02"),
            Some(StoredStatus {
                revoked_at: Some(1_700_000_000),
                reason: Some(ReasonCode::KeyCompromise),
            })
        );
    }

    #[test]
    fn a_status_reader_connection_refuses_writes() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("db");
        let mut s = SqliteStore::open(&path).expect("open");
        s.reserve(&[pending("01")]).expect("reserve");
        s.complete("test", &[(sn("01"), vec![1])])
            .expect("complete");
        let mut ro = SqliteStore::open_read_only(&path).expect("open read-only");
        // It reads what the writer wrote ...
        assert!(ro.cert_status(&sn("01"), "org").expect("status").is_some());
        assert_eq!(ro.revocation_seq().expect("seq"), 0);
        // ... and the connection itself refuses every write, whatever method is called on the
        // concrete type (the `StatusReader` it is handed out as has none).
        let revoked = ro.revoke(
            "test",
            &[RevocationRequest {
                serial: sn("01"),
                ca: None,
                reason: ReasonCode::KeyCompromise,
                time: 1_700_000_000,
                invalidity_date: None,
            }],
        );
        assert!(revoked.is_err(), "{revoked:?}");
        assert!(ro.set_meta("k", "v").is_err());
        assert!(
            ro.audit("test", "a", "t", "ok", &serde_json::json!({}))
                .is_err()
        );
        drop(ro);
        let s = SqliteStore::open(&path).expect("reopen");
        assert_eq!(
            s.cert_status(&sn("01"), "org").expect("status"),
            Some(StoredStatus {
                revoked_at: None,
                reason: None,
            })
        );
        assert_eq!(s.meta("k").expect("meta"), None);
        assert!(
            s.audit_records()
                .expect("audit")
                .iter()
                .all(|r| r.action != "a")
        );
    }
}
