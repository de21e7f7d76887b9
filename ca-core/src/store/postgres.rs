//! The PostgreSQL store: several CA instances (`serve`s and CLIs on several machines) share one
//! database.
//!
//! Same semantics as [`super::SqliteStore`]:
//! - every transaction commits before its method returns (PostgreSQL's default
//!   `synchronous_commit = on`: durable once acknowledged);
//! - serials are unique (a UNIQUE constraint; a collision is [`Error::SerialCollision`], and
//!   issuance retries with a fresh serial);
//! - every state-changing method appends its audit records in the same transaction.
//!
//! Every write transaction that appends to the audit log first takes one transaction-level
//! advisory lock ([`WRITE_LOCK`]), as SQLite's `BEGIN IMMEDIATE` takes its write lock. So one
//! hash chain spans every instance, CRL numbers strictly increase across instances, the
//! revocation sequence never repeats, and a request's compare-and-set state change
//! ([`Registration::update_request`]) lets exactly one of two concurrent approvers through. Reserving
//! serials (no audit record) takes no lock: the UNIQUE constraint suffices.
//!
//! The schema is versioned ([`MIGRATIONS`]): migrations newer than the database's
//! `schema_version` are applied in order, in one transaction, under [`MIGRATE_LOCK`].
//!
//! A lost connection (the server restarted) fails the call in progress with a clear error and
//! is re-established by the next call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;

use super::audit::GENESIS;
use super::pgconn::{Conn, describe};
use super::{
    AuditCheckpoint, AuditRecord, CaGeneration, CaRecord, CaRenewal, CertFilter, CertRecord,
    CertStatus, CrossDirection, CrossPair, CrossPairSide, OfficerRecord, OrgRecord, PendingCert,
    PendingKey, ReasonCode, RequestRecord, RequestState, RevocationRequest, RevokeOutcome,
    RevokedEntry, Serial, StatusVisitor, StoredStatus,
};
use super::{AuditLog, CaStore, CertStore, MetaStore, Registration, RevocationStore, StatusReader};
use crate::clock::Clock;
use crate::error::{Error, Result};

/// Advisory lock key of write transactions (`pg_advisory_xact_lock`): "lgpkiwr".
pub const WRITE_LOCK: i64 = 0x006c_6770_6b69_7772;
/// Advisory lock key of schema migrations: "lgpkimg".
pub const MIGRATE_LOCK: i64 = 0x006c_6770_6b69_6d67;

/// Schema migrations, (version, SQL), applied in order.
pub const MIGRATIONS: &[(i32, &str)] = &[
    (1, SCHEMA_V1),
    (2, SCHEMA_V2_GENERATIONS),
    (3, SCHEMA_V3_TIMESTAMPS),
    (4, CROSS_PAIRS_V4),
];

/// CA key generations (`ca renew`): the generation in force on `cas` (NULL: 1), the one that
/// signed each certificate and CRL (NULL: 1, what stores made before generations hold), the
/// retired generations, and the key a renewal is generating.
const SCHEMA_V2_GENERATIONS: &str = "
ALTER TABLE cas ADD COLUMN generation BIGINT;
ALTER TABLE certs ADD COLUMN issuer_generation BIGINT;
ALTER TABLE crls ADD COLUMN generation BIGINT;
CREATE TABLE ca_generations (
    ca TEXT NOT NULL,
    generation BIGINT NOT NULL,
    cert_der BYTEA NOT NULL,
    key_ref TEXT NOT NULL,
    key_alg TEXT NOT NULL,
    retired_at BIGINT NOT NULL,
    PRIMARY KEY (ca, generation)
);
CREATE TABLE pending_keys (
    label TEXT PRIMARY KEY,
    ca TEXT NOT NULL,
    generation BIGINT NOT NULL,
    key_uri TEXT,
    created_at BIGINT NOT NULL,
    discarding BOOLEAN NOT NULL DEFAULT FALSE
);
";

/// Cross-certificate pairs (RFC 4523 §2.5), as in the SQLite store: one row per pair of our CA
/// `ca` (key `ca_key`) with a peer CA (name and key). The cross-certificates recorded before
/// are filled in by `Authority::open`.
const CROSS_PAIRS_V4: &str = "
CREATE TABLE cross_pairs (
    id BIGSERIAL PRIMARY KEY,
    ca TEXT NOT NULL,
    ca_key TEXT NOT NULL,
    peer TEXT NOT NULL,
    peer_key TEXT NOT NULL,
    issued_to_this_ca BYTEA,
    issued_by_this_ca BYTEA,
    created_at BIGINT NOT NULL,
    CHECK (issued_to_this_ca IS NOT NULL OR issued_by_this_ca IS NOT NULL)
);
CREATE INDEX cross_pairs_ca ON cross_pairs (ca, ca_key, peer, peer_key);
";

const SCHEMA_V1: &str = "
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE cas (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    parent TEXT,
    cert_der BYTEA NOT NULL,
    key_ref TEXT NOT NULL,
    key_alg TEXT NOT NULL,
    profiles TEXT NOT NULL
);
-- Every serial ever reserved, issued or not: the UNIQUE constraint makes reuse impossible.
CREATE TABLE certs (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    serial TEXT NOT NULL CONSTRAINT certs_serial_key UNIQUE,
    ca TEXT NOT NULL,
    profile TEXT NOT NULL,
    subject TEXT NOT NULL,
    not_before BIGINT NOT NULL,
    not_after BIGINT NOT NULL,
    state TEXT NOT NULL,
    tbs_der BYTEA NOT NULL,
    der BYTEA,
    request_id TEXT CONSTRAINT certs_request_id_key UNIQUE,
    reserved_at BIGINT NOT NULL,
    revoked_at BIGINT,
    reason TEXT,
    invalidity_date BIGINT,
    revoked_seq BIGINT
);
CREATE INDEX certs_ca ON certs (ca, state);
CREATE INDEX certs_revoked ON certs (ca, revoked_seq);
CREATE INDEX certs_revoked_seq ON certs (revoked_seq);
CREATE INDEX certs_crl ON certs (ca, serial, revoked_at, reason, invalidity_date, profile, state)
    WHERE state = 'issued' AND revoked_at IS NOT NULL;
CREATE TABLE crls (
    ca TEXT NOT NULL,
    number BIGINT NOT NULL,
    delta_base BIGINT,
    covers_seq BIGINT NOT NULL,
    made_at BIGINT NOT NULL,
    PRIMARY KEY (ca, number)
);
CREATE TABLE imported_certs (
    name TEXT PRIMARY KEY,
    ours TEXT NOT NULL,
    issuer TEXT NOT NULL,
    der BYTEA NOT NULL
);
CREATE TABLE orgs (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
CREATE TABLE officers (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org TEXT NOT NULL REFERENCES orgs (code),
    role TEXT NOT NULL,
    cert_issuer TEXT NOT NULL,
    cert_serial TEXT NOT NULL,
    subject TEXT NOT NULL,
    cert_der BYTEA NOT NULL,
    person TEXT,
    UNIQUE (cert_issuer, cert_serial)
);
CREATE TABLE requests (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind TEXT NOT NULL,
    org TEXT NOT NULL REFERENCES orgs (code),
    state TEXT NOT NULL,
    profile TEXT,
    csr_der BYTEA,
    subject TEXT,
    sans TEXT NOT NULL,
    submitted_by TEXT NOT NULL,
    decided_by TEXT,
    reject_reason TEXT,
    serial TEXT,
    revoke_reason TEXT,
    created TEXT NOT NULL
);
CREATE TABLE hold_releases (
    serial TEXT PRIMARY KEY,
    released_at BIGINT NOT NULL
);
CREATE TABLE audit (
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
CREATE TABLE org_names (
    name TEXT PRIMARY KEY,
    org TEXT NOT NULL REFERENCES orgs (code)
);
CREATE TABLE audit_checkpoints (
    seq BIGINT PRIMARY KEY,
    head_hash TEXT NOT NULL,
    time TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    signature TEXT NOT NULL
);
";

/// Version 3: the RFC 3161 time-stamp serials of `serve`'s TSA (as SQLite's `timestamps`), so a
/// PostgreSQL home keeps them in the database, not in a file of its own.
const SCHEMA_V3_TIMESTAMPS: &str = "
CREATE TABLE timestamps (
    serial TEXT PRIMARY KEY,
    gen_time BIGINT NOT NULL,
    policy TEXT NOT NULL,
    hash_alg TEXT NOT NULL,
    imprint TEXT NOT NULL
);
";

/// The PostgreSQL store.
pub struct PgStore {
    config: super::location::PgConnect,
    /// The URL without its password, for messages.
    target: String,
    conn: Mutex<Option<Arc<Conn>>>,
    /// Dates the store's own records ([`super::Store::set_clock`]).
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

/// A transaction; rolled back when dropped uncommitted.
struct Tx {
    conn: Arc<Conn>,
    open: bool,
    /// The time its records are dated with (the store's clock, read once when it began).
    now: i64,
}

impl Tx {
    fn commit(mut self, what: &'static str) -> Result<()> {
        self.open = false;
        self.conn.batch("COMMIT", what)
    }
}

impl std::ops::Deref for Tx {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        &self.conn
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        if self.open && !self.conn.is_closed() {
            let _ = self.conn.batch("ROLLBACK", "rolling back");
        }
    }
}

/// Stores the certificate of a reserved serial; the TBS (which the certificate holds) is
/// dropped.
const MARK_ISSUED: &str = "UPDATE certs SET der = $2, state = 'issued', tbs_der = ''::bytea WHERE serial = $1 AND state = 'pending'
                 RETURNING ca, profile, subject";

/// [`MARK_ISSUED`] for many: `$1` the serials, `$2` their certificates, in the same order.
/// Returns the serial with each row, as rows come back in no set order.
const MARK_ISSUED_ALL: &str = "UPDATE certs SET der = u.der, state = 'issued', tbs_der = ''::bytea
                 FROM UNNEST($1::TEXT[], $2::BYTEA[]) AS u(serial, der)
                 WHERE certs.serial = u.serial AND certs.state = 'pending'
                 RETURNING certs.serial, certs.ca, certs.profile, certs.subject";

const CERT_COLUMNS: &str =
    "serial, ca, profile, subject, not_before, not_after, der, revoked_at, reason, invalidity_date";

const REQUEST_COLUMNS: &str = "id, kind, org, state, profile, csr_der, subject, sans, submitted_by, decided_by, reject_reason, serial, revoke_reason, created";

const OFFICER_COLUMNS: &str = "id, org, role, cert_issuer, cert_serial, subject, cert_der, person";

/// Column `i` of `r` as a `T`: a value the type refuses (a damaged row) is a store error, not
/// a panic.
fn col<'a, T: tokio_postgres::types::FromSql<'a>>(r: &'a Row, i: usize) -> Result<T> {
    r.try_get(i).map_err(|e| Error::StoreBackend {
        context: "reading a row",
        detail: describe(&e),
    })
}

fn row_to_cert(r: &Row) -> Result<CertRecord> {
    let revoked_at: Option<i64> = r.get(7);
    Ok(CertRecord {
        serial: col(r, 0)?,
        ca: r.get(1),
        profile: r.get(2),
        subject: r.get(3),
        not_before: r.get(4),
        not_after: r.get(5),
        der: r.get::<_, Option<Vec<u8>>>(6).unwrap_or_default(),
        revoked_at,
        // A released hold keeps 'removeFromCRL' for delta CRLs only: not a status.
        reason: col::<Option<ReasonCode>>(r, 8)?.filter(|_| revoked_at.is_some()),
        invalidity_date: r.get(9),
    })
}

fn row_to_request(r: &Row) -> Result<RequestRecord> {
    let sans: String = r.get(7);
    Ok(RequestRecord {
        id: r.get(0),
        kind: col(r, 1)?,
        org: r.get(2),
        state: col(r, 3)?,
        profile: r.get(4),
        csr_der: r.get(5),
        subject: r.get(6),
        sans: serde_json::from_str(&sans).unwrap_or_default(),
        submitted_by: r.get(8),
        decided_by: r.get(9),
        reject_reason: r.get(10),
        serial: col(r, 11)?,
        revoke_reason: col(r, 12)?,
        created: r.get(13),
    })
}

fn row_to_officer(r: &Row) -> Result<OfficerRecord> {
    let subject: String = r.get(5);
    Ok(OfficerRecord {
        id: r.get(0),
        org: r.get(1),
        role: col(r, 2)?,
        cert_issuer: r.get(3),
        cert_serial: col(r, 4)?,
        cert_der: r.get(6),
        person: r
            .get::<_, Option<String>>(7)
            .unwrap_or_else(|| subject.clone()),
        subject,
    })
}

fn row_to_audit(r: &Row) -> AuditRecord {
    AuditRecord {
        seq: r.get(0),
        time: r.get(1),
        actor: r.get(2),
        action: r.get(3),
        target: r.get(4),
        outcome: r.get(5),
        details: r.get(6),
        prev_hash: r.get(7),
        hash: r.get(8),
    }
}

/// The end of the audit chain inside one write transaction (which holds [`WRITE_LOCK`], so no
/// other instance extends the chain meanwhile).
struct AuditChain {
    seq: i64,
    hash: String,
    time: String,
}

impl AuditChain {
    fn start(tx: &Tx) -> Result<AuditChain> {
        let (seq, hash) = tx
            .query_opt(
                "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
                &[],
                "reading the audit chain",
            )?
            .map(|r| (r.get(0), r.get(1)))
            .unwrap_or_else(|| (0, GENESIS.to_string()));
        Ok(AuditChain {
            seq,
            hash,
            time: crate::issue::rfc3339(tx.now),
        })
    }

    fn append(
        &mut self,
        tx: &Tx,
        actor: &str,
        action: &str,
        target: &str,
        outcome: &str,
        details: &serde_json::Value,
    ) -> Result<()> {
        let rec = self.next(actor, action, target, outcome, details);
        Self::insert(tx, &[rec])
    }

    /// The next record of the chain, not yet inserted (see [`AuditChain::insert`]).
    fn next(
        &mut self,
        actor: &str,
        action: &str,
        target: &str,
        outcome: &str,
        details: &serde_json::Value,
    ) -> AuditRecord {
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
        self.seq = rec.seq;
        self.hash = rec.hash.clone();
        rec
    }

    /// Inserts records made by [`AuditChain::next`], in order: one statement for the lot,
    /// its columns as arrays (a statement per record costs the server a parse-free but still
    /// full executor run each; one `UNNEST` costs one).
    fn insert(tx: &Tx, recs: &[AuditRecord]) -> Result<()> {
        if recs.is_empty() {
            return Ok(());
        }
        let column = |f: fn(&AuditRecord) -> &str| -> Vec<&str> { recs.iter().map(f).collect() };
        let seqs: Vec<i64> = recs.iter().map(|r| r.seq).collect();
        let (times, actors, actions) = (
            column(|r| &r.time),
            column(|r| &r.actor),
            column(|r| &r.action),
        );
        let (targets, outcomes, details) = (
            column(|r| &r.target),
            column(|r| &r.outcome),
            column(|r| &r.details),
        );
        let (prevs, hashes) = (column(|r| &r.prev_hash), column(|r| &r.hash));
        tx.execute(
            "INSERT INTO audit (seq, time, actor, action, target, outcome, details, prev_hash, hash)
             SELECT * FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[],
                                  $6::TEXT[], $7::TEXT[], $8::TEXT[], $9::TEXT[])",
            &[
                &seqs, &times, &actors, &actions, &targets, &outcomes, &details, &prevs, &hashes,
            ],
            "appending to the audit log",
        )?;
        Ok(())
    }
}

impl PgStore {
    /// Connects to the database `url` names (`postgres://USER@HOST:PORT/DB`; the password
    /// from the URL, else `PGPASSWORD`, else `~/.pgpass`) and brings its schema up to date.
    pub fn open(url: &str) -> Result<PgStore> {
        let (config, target) = super::location::pg_config(url)?;
        let store = PgStore {
            config,
            target,
            conn: Mutex::new(None),
            clock: crate::clock::system_clock(),
        };
        store.migrate()?;
        Ok(store)
    }

    /// [`PgStore::open`], then every connection it makes (also after a reconnect) starts its
    /// transactions read-only (`default_transaction_read_only`), so the server refuses every
    /// write: for readers of revocation status ([`super::open_status_reader`]).
    pub fn open_read_only(url: &str) -> Result<PgStore> {
        let mut store = PgStore::open(url)?;
        const READ_ONLY: &str = "-c default_transaction_read_only=on";
        let options = match store.config.config.get_options() {
            Some(o) if !o.trim().is_empty() => format!("{o} {READ_ONLY}"),
            _ => READ_ONLY.to_string(),
        };
        store.config.config.options(&options);
        // The connection the migration used was made without the option.
        if let Ok(mut slot) = store.conn.lock() {
            *slot = None;
        }
        Ok(store)
    }

    /// The database's URL without its password, for messages.
    pub(super) fn target(&self) -> &str {
        &self.target
    }

    /// The database's schema version after [`PgStore::open`].
    pub fn schema_version(&self) -> Result<i32> {
        let conn = self.conn()?;
        let row = conn.query_one(
            "SELECT COALESCE(MAX(version), 0) FROM schema_version",
            &[],
            "reading the schema version",
        )?;
        Ok(row.get(0))
    }

    fn migrate(&self) -> Result<()> {
        let newest = MIGRATIONS.last().map_or(0, |m| m.0);
        // Up to date (the common case): no lock, so opening the store does not serialise
        // instances.
        let conn = self.conn()?;
        let present: bool = conn
            .query_one(
                "SELECT to_regclass('schema_version') IS NOT NULL",
                &[],
                "reading the schema version",
            )?
            .get(0);
        if present {
            let current: i32 = conn
                .query_one(
                    "SELECT COALESCE(MAX(version), 0) FROM schema_version",
                    &[],
                    "reading the schema version",
                )?
                .get(0);
            if current == newest {
                return Ok(());
            }
        }
        let tx = self.begin(Some(MIGRATE_LOCK))?;
        tx.batch(
            "CREATE TABLE IF NOT EXISTS schema_version (version INT PRIMARY KEY, applied_at BIGINT NOT NULL)",
            "creating the schema_version table",
        )?;
        let current: i32 = tx
            .query_one(
                "SELECT COALESCE(MAX(version), 0) FROM schema_version",
                &[],
                "reading the schema version",
            )?
            .get(0);
        if current > newest {
            return Err(Error::StoreBackend {
                context: "opening the store",
                detail: format!(
                    "{}: the database's schema version {current} is newer than this lgpki's ({newest}); upgrade lgpki",
                    self.target
                ),
            });
        }
        for (version, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
            tx.batch(sql, "applying a schema migration")?;
            tx.execute(
                "INSERT INTO schema_version (version, applied_at) VALUES ($1, $2)",
                &[version, &tx.now],
                "recording a schema migration",
            )?;
        }
        tx.commit("committing schema migrations")
    }

    /// The connection, (re)connecting when there is none or it was lost.
    pub(super) fn conn(&self) -> Result<Arc<Conn>> {
        let mut slot = self.conn.lock().map_err(|_| Error::StoreBackend {
            context: "connecting to PostgreSQL",
            detail: "connection lock poisoned".into(),
        })?;
        if let Some(c) = slot.as_ref()
            && !c.is_closed()
        {
            return Ok(c.clone());
        }
        *slot = None;
        let c = Arc::new(Conn::connect(&self.config, &self.target)?);
        *slot = Some(c.clone());
        Ok(c)
    }

    /// Begins a transaction, first taking the advisory lock `lock` if given.
    fn begin(&self, lock: Option<i64>) -> Result<Tx> {
        let conn = self.conn()?;
        conn.batch("BEGIN", "beginning a transaction")?;
        let tx = Tx {
            conn,
            open: true,
            now: self.clock.unix(),
        };
        if let Some(key) = lock {
            tx.execute(
                "SELECT pg_advisory_xact_lock($1)",
                &[&key],
                "waiting for the store's write lock",
            )?;
        }
        Ok(tx)
    }

    /// A write transaction: serialised with every other writer on the database.
    /// Refused when `store migrate` moved the store away while this instance waited for the
    /// lock ([`super::moved`]).
    fn write_txn(&self) -> Result<Tx> {
        let tx = self.begin(Some(WRITE_LOCK))?;
        let mark = tx
            .query_opt(
                "SELECT value FROM meta WHERE key = $1",
                &[&super::moved::MOVED_TO],
                "beginning a transaction",
            )?
            .map(|r| r.get(0));
        super::moved::refuse_if_moved(mark)?;
        Ok(tx)
    }

    /// Records cross-certificate pair halves not yet recorded, in `tx`; how many were new.
    fn record_sides_in(tx: &Tx, actor: &str, sides: &[CrossPairSide], now: i64) -> Result<usize> {
        let mut recorded = 0;
        for side in sides {
            let col = match side.direction {
                CrossDirection::IssuedToThisCa => "issued_to_this_ca",
                CrossDirection::IssuedByThisCa => "issued_by_this_ca",
            };
            let known: i64 = tx
                .query_one(
                    &format!("SELECT COUNT(*) FROM cross_pairs WHERE ca = $1 AND {col} = $2"),
                    &[&side.ca, &side.der],
                    "reading cross-certificate pairs",
                )?
                .get(0);
            if known > 0 {
                continue;
            }
            let open = tx.query_opt(
                &format!(
                    "SELECT id FROM cross_pairs WHERE ca = $1 AND ca_key = $2 AND peer = $3 AND peer_key = $4 AND {col} IS NULL ORDER BY id LIMIT 1"
                ),
                &[&side.ca, &side.ca_key, &side.peer, &side.peer_key],
                "reading cross-certificate pairs",
            )?;
            let id: i64 = match open {
                Some(row) => {
                    let id: i64 = row.get(0);
                    tx.execute(
                        &format!("UPDATE cross_pairs SET {col} = $2 WHERE id = $1"),
                        &[&id, &side.der],
                        "recording a cross-certificate pair",
                    )?;
                    id
                }
                None => tx
                    .query_one(
                        &format!(
                            "INSERT INTO cross_pairs (ca, ca_key, peer, peer_key, {col}, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id"
                        ),
                        &[&side.ca, &side.ca_key, &side.peer, &side.peer_key, &side.der, &now],
                        "recording a cross-certificate pair",
                    )?
                    .get(0),
            };
            Self::append_audit(
                tx,
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

    fn append_audit(
        tx: &Tx,
        actor: &str,
        action: &str,
        target: &str,
        outcome: &str,
        details: &serde_json::Value,
    ) -> Result<()> {
        AuditChain::start(tx)?.append(tx, actor, action, target, outcome, details)
    }

    fn insert_pending(tx: &Tx, p: &PendingCert, now: i64) -> Result<()> {
        Self::insert_pendings(tx, std::slice::from_ref(p), now)
    }

    /// Records reservations in one statement. A serial or request id used before fails the lot
    /// ([`Error::SerialCollision`] or a refusal naming the id; the caller retries one by one).
    /// A reservation prepared with another key generation than the issuing CA's in force
    /// fails the lot too.
    fn insert_pendings(tx: &Tx, pending: &[PendingCert], now: i64) -> Result<()> {
        let mut checked: Vec<(&str, u32, bool)> = Vec::new();
        for p in pending {
            let Some(expected) = p.issuer_generation else {
                continue;
            };
            if checked.contains(&(p.ca.as_str(), expected, p.by_retired_key)) {
                continue;
            }
            let current = tx.query_opt(
                "SELECT COALESCE(generation, 1) FROM cas WHERE name = $1",
                &[&p.ca],
                "reading the CA's generation",
            )?;
            if let Some(row) = current {
                super::check_generation(
                    &p.ca,
                    expected,
                    row.get::<_, i64>(0) as u32,
                    p.by_retired_key,
                )?;
            }
            checked.push((p.ca.as_str(), expected, p.by_retired_key));
        }
        Self::insert_pendings_as(tx, pending, now)
    }

    /// Records reservations without checking their issuer generation (a renewal records
    /// certificates of the old and the new generation at once).
    fn insert_pendings_as(tx: &Tx, pending: &[PendingCert], now: i64) -> Result<()> {
        // One statement for the chunk, its columns as arrays, rows inserted in order.
        let serials: Vec<&str> = pending.iter().map(|p| p.serial.as_str()).collect();
        let cas: Vec<&str> = pending.iter().map(|p| p.ca.as_str()).collect();
        let profiles: Vec<&str> = pending.iter().map(|p| p.profile.as_str()).collect();
        let subjects: Vec<&str> = pending.iter().map(|p| p.subject.as_str()).collect();
        let not_befores: Vec<i64> = pending.iter().map(|p| p.not_before).collect();
        let not_afters: Vec<i64> = pending.iter().map(|p| p.not_after).collect();
        let tbss: Vec<&[u8]> = pending.iter().map(|p| p.tbs_der.as_slice()).collect();
        let request_ids: Vec<Option<&str>> =
            pending.iter().map(|p| p.request_id.as_deref()).collect();
        let generations: Vec<Option<i64>> = pending
            .iter()
            .map(|p| p.issuer_generation.map(i64::from))
            .collect();
        let r = tx.execute_raw(
            "INSERT INTO certs (serial, ca, profile, subject, not_before, not_after, state, tbs_der, request_id, reserved_at, issuer_generation)
             SELECT u.serial, u.ca, u.profile, u.subject, u.not_before, u.not_after, 'pending', u.tbs, u.request_id, $10,
                    COALESCE(u.generation, (SELECT generation FROM cas WHERE name = u.ca))
             FROM UNNEST($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::BIGINT[], $6::BIGINT[],
                         $7::BYTEA[], $8::TEXT[], $9::BIGINT[])
                  WITH ORDINALITY AS u(serial, ca, profile, subject, not_before, not_after, tbs, request_id, generation, n)
             ORDER BY u.n",
            &[
                &serials,
                &cas,
                &profiles,
                &subjects,
                &not_befores,
                &not_afters,
                &tbss,
                &request_ids,
                &generations,
                &now,
            ],
        );
        let Err(e) = r else { return Ok(()) };
        let db = e
            .as_db_error()
            .filter(|d| *d.code() == SqlState::UNIQUE_VIOLATION);
        let constraint = db.and_then(|d| d.constraint());
        // "Key (serial)=(…) already exists.": which one, when the server says.
        let culprit = |field: fn(&PendingCert) -> Option<&str>| {
            let detail = db.and_then(|d| d.detail()).unwrap_or_default();
            pending
                .iter()
                .filter_map(field)
                .find(|v| detail.contains(&format!("=({v})")))
                .or_else(|| pending.first().and_then(field))
                .unwrap_or_default()
                .to_string()
        };
        match constraint {
            Some("certs_serial_key") => Err(Error::SerialCollision {
                serial: culprit(|p| Some(p.serial.as_str())),
            }),
            Some("certs_request_id_key") => Err(Error::PolicyRefused {
                detail: format!(
                    "request id {:?} was used before",
                    culprit(|p| p.request_id.as_deref())
                ),
            }),
            _ => Err(Error::StoreBackend {
                context: "recording a certificate",
                detail: describe(&e),
            }),
        }
    }

    fn mark_issued(
        tx: &Tx,
        serial: &Serial,
        der: &[u8],
    ) -> Result<Option<(String, String, String)>> {
        Ok(tx
            .query_opt(
                MARK_ISSUED,
                &[&serial.as_str(), &der],
                "storing a certificate",
            )?
            .map(|r| (r.get(0), r.get(1), r.get(2))))
    }

    fn next_revocation_seq(tx: &Tx) -> Result<i64> {
        Ok(tx
            .query_one(
                "SELECT COALESCE(MAX(revoked_seq), 0) + 1 FROM certs",
                &[],
                "reading the revocation sequence",
            )?
            .get(0))
    }

    fn cert_where(tx: &Conn, serial: &Serial, ca: Option<&str>) -> Result<Option<CertRecord>> {
        tx.query_opt(
            &format!(
                "SELECT {CERT_COLUMNS} FROM certs WHERE serial = $1 AND state = 'issued' AND ($2::TEXT IS NULL OR ca = $2)"
            ),
            &[&serial.as_str(), &ca],
            "reading a certificate",
        )?
        .as_ref()
        .map(row_to_cert)
        .transpose()
    }
}

impl super::Store for PgStore {
    fn set_clock(&mut self, clock: Arc<dyn Clock>) {
        self.clock = clock;
    }
}

impl MetaStore for PgStore {
    fn meta(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn()?
            .query_opt(
                "SELECT value FROM meta WHERE key = $1",
                &[&key],
                "reading metadata",
            )?
            .map(|r| r.get(0)))
    }

    fn set_meta(&mut self, key: &str, value: &str) -> Result<()> {
        self.conn()?
            .execute(
                "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                &[&key, &value],
                "writing metadata",
            )
            .map(|_| ())
    }
}

impl CertStore for PgStore {
    fn reserve(&mut self, pending: &[PendingCert]) -> Result<()> {
        let tx = self.begin(None)?;
        Self::insert_pendings(&tx, pending, tx.now)?;
        tx.commit("committing reserved serials")
    }

    fn complete(&mut self, actor: &str, issued: &[(Serial, Vec<u8>)]) -> Result<()> {
        let tx = self.write_txn()?;
        let mut chain = AuditChain::start(&tx)?;
        // One UPDATE for the chunk, then one INSERT of its audit records.
        let serials: Vec<&str> = issued.iter().map(|(s, _)| s.as_str()).collect();
        let ders: Vec<&[u8]> = issued.iter().map(|(_, d)| d.as_slice()).collect();
        let rows = tx.query(MARK_ISSUED_ALL, &[&serials, &ders], "storing a certificate")?;
        let mut stored: HashMap<&str, (&str, &str, &str)> = HashMap::with_capacity(rows.len());
        for r in &rows {
            stored.insert(r.get(0), (r.get(1), r.get(2), r.get(3)));
        }
        let mut recs = Vec::with_capacity(issued.len());
        for (serial, _) in issued {
            // A serial not pending (never reserved, or stored already) fails the chunk.
            let Some((ca, profile, subject)) = stored.remove(serial.as_str()) else {
                return Err(Error::SerialCollision {
                    serial: serial.to_string(),
                });
            };
            recs.push(chain.next(
                actor,
                "cert.issue",
                serial.as_str(),
                "ok",
                &serde_json::json!({"ca": ca, "profile": profile, "subject": subject}),
            ));
        }
        AuditChain::insert(&tx, &recs)?;
        tx.commit("committing certificates")
    }

    fn certs(&self, filter: &CertFilter) -> Result<Vec<CertRecord>> {
        let mut sql = format!("SELECT {CERT_COLUMNS} FROM certs WHERE state = 'issued'");
        let mut args: Vec<&(dyn ToSql + Sync)> = Vec::new();
        if let Some(ca) = &filter.ca {
            args.push(ca);
            sql.push_str(&format!(" AND ca = ${}", args.len()));
        }
        if let Some(p) = &filter.profile {
            args.push(p);
            sql.push_str(&format!(" AND profile = ${}", args.len()));
        }
        match filter.status {
            Some(CertStatus::Revoked) => sql.push_str(" AND revoked_at IS NOT NULL"),
            Some(CertStatus::Good) => {
                args.push(&filter.now);
                sql.push_str(&format!(
                    " AND revoked_at IS NULL AND not_after >= ${}",
                    args.len()
                ));
            }
            Some(CertStatus::Expired) => {
                args.push(&filter.now);
                sql.push_str(&format!(
                    " AND revoked_at IS NULL AND not_after < ${}",
                    args.len()
                ));
            }
            None => {}
        }
        sql.push_str(" ORDER BY seq");
        let rows = self.conn()?.query(&sql, &args, "listing certificates")?;
        rows.iter().map(row_to_cert).collect()
    }

    fn cert(&self, serial: &Serial, ca: Option<&str>) -> Result<Option<CertRecord>> {
        let conn = self.conn()?;
        Self::cert_where(&conn, serial, ca)
    }

    fn cert_by_request_id(&self, request_id: &str) -> Result<Option<CertRecord>> {
        self.conn()?
            .query_opt(
                &format!(
                    "SELECT {CERT_COLUMNS} FROM certs WHERE request_id = $1 AND state = 'issued'"
                ),
                &[&request_id],
                "reading a certificate",
            )?
            .as_ref()
            .map(row_to_cert)
            .transpose()
    }

    fn pending_by_request_id(&self, request_id: &str) -> Result<Option<PendingCert>> {
        self.conn()?
            .query_opt(
                "SELECT serial, ca, profile, subject, not_before, not_after, tbs_der, request_id, COALESCE(issuer_generation, 1)
                 FROM certs WHERE request_id = $1 AND state = 'pending'",
                &[&request_id],
                "reading a reservation",
            )?
            .map(|r| {
                Ok(PendingCert {
                    serial: col(&r, 0)?,
                    ca: r.get(1),
                    profile: r.get(2),
                    subject: r.get(3),
                    not_before: r.get(4),
                    not_after: r.get(5),
                    tbs_der: r.get(6),
                    request_id: r.get(7),
                    issuer_generation: Some(r.get::<_, i64>(8) as u32),
                    by_retired_key: false,
                })
            })
            .transpose()
    }
}

impl StatusReader for PgStore {
    fn cert_status(&self, serial: &Serial, ca: &str) -> Result<Option<StoredStatus>> {
        self.conn()?
            .query_opt(
                "SELECT revoked_at, reason FROM certs WHERE serial = $1 AND state = 'issued' AND ca = $2",
                &[&serial.as_str(), &ca],
                "reading a certificate's status",
            )?
            .map(|r| {
                let revoked_at: Option<i64> = r.get(0);
                Ok(StoredStatus {
                    revoked_at,
                    reason: col::<Option<ReasonCode>>(&r, 1)?.filter(|_| revoked_at.is_some()),
                })
            })
            .transpose()
    }

    fn for_each_revoked(
        &self,
        ca: &str,
        since_seq: Option<i64>,
        f: &mut dyn FnMut(&RevokedEntry<'_>) -> Result<()>,
    ) -> Result<()> {
        let sql = if since_seq.is_some() {
            "SELECT c.serial, COALESCE(c.revoked_at, h.released_at), c.reason, c.invalidity_date, c.profile
             FROM certs c LEFT JOIN hold_releases h ON h.serial = c.serial AND c.revoked_at IS NULL
             WHERE c.ca = $1 AND c.state = 'issued' AND c.revoked_seq > $2
               AND (c.revoked_at IS NOT NULL OR (c.reason = 'removeFromCRL' AND h.released_at IS NOT NULL))
             ORDER BY c.serial"
        } else {
            "SELECT serial, revoked_at, reason, invalidity_date, profile FROM certs
             WHERE ca = $1 AND state = 'issued' AND revoked_at IS NOT NULL AND $2::BIGINT = 0
             ORDER BY serial"
        };
        let since = since_seq.unwrap_or(0);
        self.conn()?
            .for_each_row(sql, &[&ca, &since], "listing revocations", &mut |row| {
                let profile: &str = row.get(4);
                f(&RevokedEntry {
                    serial: row.get(0),
                    revoked_at: row.get(1),
                    reason: col(row, 2)?,
                    invalidity_date: row.get(3),
                    is_ca: super::is_ca_profile(profile),
                })
            })
    }

    fn for_each_status(&self, ca: &str, f: &mut StatusVisitor<'_>) -> Result<()> {
        self.conn()?.for_each_row(
            "SELECT serial, revoked_at, reason FROM certs WHERE ca = $1 AND state = 'issued' ORDER BY seq",
            &[&ca],
            "listing statuses",
            &mut |row| f(row.get(0), row.get(1), col(row, 2)?),
        )
    }

    fn revocation_seq(&self) -> Result<i64> {
        Ok(self
            .conn()?
            .query_one(
                "SELECT COALESCE(MAX(revoked_seq), 0) FROM certs",
                &[],
                "reading the revocation sequence",
            )?
            .get(0))
    }

    fn last_full_crl_for(&self, ca: &str, generation: Option<u32>) -> Result<Option<(u64, i64)>> {
        let generation = generation.map(i64::from);
        Ok(self
            .conn()?
            .query_opt(
                "SELECT number, covers_seq FROM crls WHERE ca = $1 AND delta_base IS NULL
                   AND COALESCE(generation, 1) = COALESCE($2::BIGINT, (SELECT COALESCE(generation, 1) FROM cas WHERE name = $1), 1)
                 ORDER BY number DESC LIMIT 1",
                &[&ca, &generation],
                "reading CRLs",
            )?
            .map(|r| (r.get::<_, i64>(0) as u64, r.get(1))))
    }
}

impl RevocationStore for PgStore {
    fn revoke(
        &mut self,
        actor: &str,
        reqs: &[RevocationRequest],
    ) -> Result<Vec<Result<RevokeOutcome>>> {
        let tx = self.write_txn()?;
        let mut chain = AuditChain::start(&tx)?;
        let mut seq = Self::next_revocation_seq(&tx)? - 1;
        let mut out = Vec::with_capacity(reqs.len());
        for r in reqs {
            let Some(mut rec) = Self::cert_where(&tx, &r.serial, r.ca.as_deref())? else {
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
            tx.execute(
                "UPDATE certs SET revoked_at = $2, reason = $3, invalidity_date = $4, revoked_seq = $5 WHERE serial = $1",
                &[&rec.serial.as_str(), &time, &r.reason.name(), &r.invalidity_date, &seq],
                "recording a revocation",
            )?;
            chain.append(
                &tx,
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
        tx.commit("committing revocations")?;
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
        // Under the write lock: no other instance allocates a number meanwhile, so numbers
        // strictly increase across instances (RFC 5280 §5.2.3).
        let tx = self.write_txn()?;
        let last: i64 = tx
            .query_one(
                "SELECT COALESCE(MAX(number), 0) FROM crls WHERE ca = $1",
                &[&ca],
                "reading the CRL number",
            )?
            .get(0);
        let number = last + 1;
        let generation: i64 = match generation {
            Some(g) => i64::from(g),
            None => tx
                .query_one(
                    "SELECT COALESCE(MAX(generation), 1) FROM cas WHERE name = $1",
                    &[&ca],
                    "reading the CA's generation",
                )?
                .get(0),
        };
        let base = delta_base.map(|b| b as i64);
        tx.execute(
            "INSERT INTO crls (ca, number, delta_base, covers_seq, made_at, generation) VALUES ($1, $2, $3, $4, $5, $6)",
            &[&ca, &number, &base, &covers_seq, &tx.now, &generation],
            "recording a CRL",
        )?;
        Self::append_audit(
            &tx,
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
        tx.commit("committing a CRL number")?;
        Ok(number as u64)
    }

    fn release_hold(
        &mut self,
        actor: &str,
        serial: &Serial,
        ca: Option<&str>,
        time: i64,
    ) -> Result<CertRecord> {
        let tx = self.write_txn()?;
        let mut rec =
            Self::cert_where(&tx, serial, ca)?.ok_or_else(|| Error::CertificateNotFound {
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
        let seq = Self::next_revocation_seq(&tx)?;
        tx.execute(
            "UPDATE certs SET revoked_at = NULL, reason = 'removeFromCRL', invalidity_date = NULL, revoked_seq = $2 WHERE serial = $1",
            &[&rec.serial.as_str(), &seq],
            "releasing a hold",
        )?;
        tx.execute(
            "INSERT INTO hold_releases (serial, released_at) VALUES ($1, $2)
             ON CONFLICT (serial) DO UPDATE SET released_at = excluded.released_at",
            &[&rec.serial.as_str(), &time],
            "releasing a hold",
        )?;
        Self::append_audit(
            &tx,
            actor,
            "cert.unhold",
            rec.serial.as_str(),
            "ok",
            &serde_json::json!({"ca": rec.ca, "held_since": rec.revoked_at.map(crate::issue::rfc3339)}),
        )?;
        tx.commit("committing a hold release")?;
        rec.revoked_at = None;
        rec.reason = None;
        rec.invalidity_date = None;
        Ok(rec)
    }
}

impl CaStore for PgStore {
    fn insert_ca(
        &mut self,
        actor: &str,
        ca: &CaRecord,
        cert: &PendingCert,
        cert_der: &[u8],
    ) -> Result<()> {
        let tx = self.write_txn()?;
        let exists: i64 = tx
            .query_one(
                "SELECT COUNT(*) FROM cas WHERE name = $1",
                &[&ca.name],
                "checking CA name",
            )?
            .get(0);
        if exists > 0 {
            return Err(Error::CaExists {
                name: ca.name.clone(),
            });
        }
        Self::insert_pending(&tx, cert, tx.now)?;
        Self::mark_issued(&tx, &cert.serial, cert_der)?;
        let profiles = serde_json::to_string(&ca.profiles).unwrap_or_else(|_| "[]".into());
        tx.execute(
            "INSERT INTO cas (name, parent, cert_der, key_ref, key_alg, profiles) VALUES ($1, $2, $3, $4, $5, $6)",
            &[&ca.name, &ca.parent, &cert_der, &ca.key_ref, &ca.key_alg.name(), &profiles],
            "recording the CA",
        )?;
        Self::append_audit(
            &tx,
            actor,
            "ca.create",
            &ca.name,
            "ok",
            &serde_json::json!({
                "serial": cert.serial, "parent": ca.parent, "subject": cert.subject,
                "key_alg": ca.key_alg.name(), "key": crate::key::KeyRef(ca.key_ref.clone()).location(),
            }),
        )?;
        tx.commit("committing the CA")
    }

    fn cas(&self) -> Result<Vec<CaRecord>> {
        let rows = self.conn()?.query(
            "SELECT name, parent, cert_der, key_ref, key_alg, profiles, COALESCE(generation, 1) FROM cas ORDER BY seq",
            &[],
            "listing CAs",
        )?;
        rows.iter()
            .map(|r| {
                let alg: String = r.get(4);
                let profiles: String = r.get(5);
                Ok(CaRecord {
                    name: r.get(0),
                    parent: r.get(1),
                    cert_der: r.get(2),
                    key_ref: r.get(3),
                    key_alg: alg.parse()?,
                    profiles: serde_json::from_str(&profiles)
                        .map_err(|e| Error::malformed("stored CA profiles", e))?,
                    generation: r.get::<_, i64>(6) as u32,
                })
            })
            .collect()
    }

    fn ca(&self, name: &str) -> Result<Option<CaRecord>> {
        Ok(self.cas()?.into_iter().find(|c| c.name == name))
    }

    fn ca_generations(&self, ca: &str) -> Result<Vec<CaGeneration>> {
        let rows = self.conn()?.query(
            "SELECT ca, generation, cert_der, key_ref, key_alg, retired_at FROM ca_generations
             WHERE ca = $1 ORDER BY generation",
            &[&ca],
            "listing CA generations",
        )?;
        rows.iter()
            .map(|r| {
                let alg: String = r.get(4);
                Ok(CaGeneration {
                    ca: r.get(0),
                    generation: r.get::<_, i64>(1) as u32,
                    cert_der: r.get(2),
                    key_ref: r.get(3),
                    key_alg: alg.parse()?,
                    retired_at: r.get(5),
                })
            })
            .collect()
    }

    fn generation_last_expiry(&self, ca: &str, generation: u32) -> Result<Option<i64>> {
        Ok(self
            .conn()?
            .query_one(
                "SELECT MAX(not_after) FROM certs WHERE ca = $1 AND state = 'issued'
                   AND COALESCE(issuer_generation, 1) = $2",
                &[&ca, &i64::from(generation)],
                "reading a generation's certificates",
            )?
            .get(0))
    }

    fn record_pending_key(&mut self, key: &PendingKey) -> Result<()> {
        self.conn()?
            .execute(
                "INSERT INTO pending_keys (ca, generation, label, key_uri, created_at) VALUES ($1, $2, $3, $4, $5)",
                &[&key.ca, &i64::from(key.generation), &key.label, &key.key_uri, &self.clock.unix()],
                "recording a pending key",
            )
            .map(|_| ())
    }

    fn pending_keys(&self, ca: &str) -> Result<Vec<PendingKey>> {
        Ok(self
            .conn()?
            .query(
                "SELECT ca, generation, label, key_uri FROM pending_keys WHERE ca = $1 ORDER BY created_at, label",
                &[&ca],
                "reading pending keys",
            )?
            .iter()
            .map(|r| PendingKey {
                ca: r.get(0),
                generation: r.get::<_, i64>(1) as u32,
                label: r.get(2),
                key_uri: r.get(3),
            })
            .collect())
    }

    fn claim_pending_key(&mut self, ca: &str, label: &str) -> Result<bool> {
        self.conn()?
            .execute(
                "UPDATE pending_keys SET discarding = TRUE WHERE ca = $1 AND label = $2",
                &[&ca, &label],
                "claiming a pending key",
            )
            .map(|n| n > 0)
    }

    fn clear_pending_key(&mut self, ca: &str, label: &str) -> Result<()> {
        self.conn()?
            .execute(
                "DELETE FROM pending_keys WHERE ca = $1 AND label = $2",
                &[&ca, &label],
                "forgetting a pending key",
            )
            .map(|_| ())
    }

    fn renew_ca(&mut self, actor: &str, renewal: &CaRenewal) -> Result<()> {
        let tx = self.write_txn()?;
        let name = &renewal.ca.name;
        let Some(row) = tx.query_opt(
            "SELECT COALESCE(generation, 1), cert_der, key_ref, key_alg FROM cas WHERE name = $1 FOR UPDATE",
            &[name],
            "reading the CA",
        )?
        else {
            return Err(Error::UnknownCa { name: name.clone() });
        };
        let generation: i64 = row.get(0);
        let cert_der: Vec<u8> = row.get(1);
        let key_ref: String = row.get(2);
        let key_alg: String = row.get(3);
        super::check_generation(
            name,
            renewal.ca.generation.saturating_sub(1),
            generation as u32,
            false,
        )?;
        let now = tx.now;
        tx.execute(
            "INSERT INTO ca_generations (ca, generation, cert_der, key_ref, key_alg, retired_at) VALUES ($1, $2, $3, $4, $5, $6)",
            &[name, &generation, &cert_der, &key_ref, &key_alg, &now],
            "retiring the CA's generation",
        )?;
        tx.execute(
            "UPDATE cas SET cert_der = $2, key_ref = $3, key_alg = $4, generation = $5 WHERE name = $1",
            &[
                name,
                &renewal.cert_der,
                &renewal.ca.key_ref,
                &renewal.ca.key_alg.name(),
                &i64::from(renewal.ca.generation),
            ],
            "recording the CA's new generation",
        )?;
        for (pending, der) in std::iter::once((&renewal.cert, &renewal.cert_der))
            .chain(renewal.links.iter().map(|(p, d)| (p, d)))
            .chain(renewal.crosses.iter().map(|(p, d)| (p, d)))
        {
            Self::insert_pendings_as(&tx, std::slice::from_ref(pending), now)?;
            Self::mark_issued(&tx, &pending.serial, der)?;
        }
        Self::record_sides_in(&tx, actor, &renewal.cross_sides, now)?;
        if let Some(label) = &renewal.pending_label {
            let n = tx.execute(
                "DELETE FROM pending_keys WHERE ca = $1 AND label = $2 AND NOT discarding",
                &[name, label],
                "forgetting the pending key",
            )?;
            if n == 0 {
                return Err(super::renewal_cancelled(name));
            }
        }
        Self::append_audit(
            &tx,
            actor,
            "ca.renew",
            name,
            "ok",
            &super::renewal_details(renewal),
        )?;
        tx.commit("committing the renewal")
    }

    fn import_cert(
        &mut self,
        actor: &str,
        name: &str,
        ours: &str,
        issuer: &str,
        der: &[u8],
    ) -> Result<()> {
        let tx = self.write_txn()?;
        tx.execute(
            "INSERT INTO imported_certs (name, ours, issuer, der) VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING",
            &[&name, &ours, &issuer, &der],
            "importing a certificate",
        )?;
        Self::append_audit(
            &tx,
            actor,
            "cross.import",
            name,
            "ok",
            &serde_json::json!({"ca": ours, "issuer": issuer}),
        )?;
        tx.commit("committing an import")
    }

    fn imported_certs(&self) -> Result<Vec<(String, Vec<u8>)>> {
        Ok(self
            .conn()?
            .query(
                "SELECT name, der FROM imported_certs ORDER BY name",
                &[],
                "listing imports",
            )?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect())
    }

    fn record_cross_sides(&mut self, actor: &str, sides: &[CrossPairSide]) -> Result<usize> {
        let tx = self.write_txn()?;
        let recorded = Self::record_sides_in(&tx, actor, sides, tx.now)?;
        tx.commit("committing cross-certificate pairs")?;
        Ok(recorded)
    }

    fn cross_pairs(&self, ca: Option<&str>) -> Result<Vec<CrossPair>> {
        Ok(self
            .conn()?
            .query(
                "SELECT id, ca, ca_key, peer, peer_key, issued_to_this_ca, issued_by_this_ca FROM cross_pairs
                 WHERE $1::TEXT IS NULL OR ca = $1 ORDER BY id",
                &[&ca],
                "listing cross-certificate pairs",
            )?
            .iter()
            .map(|r| CrossPair {
                id: r.get(0),
                ca: r.get(1),
                ca_key: r.get(2),
                peer: r.get(3),
                peer_key: r.get(4),
                issued_to_this_ca: r.get(5),
                issued_by_this_ca: r.get(6),
            })
            .collect())
    }
}

impl Registration for PgStore {
    fn add_org(&mut self, actor: &str, org: &OrgRecord) -> Result<()> {
        let tx = self.write_txn()?;
        let exists: i64 = tx
            .query_one(
                "SELECT COUNT(*) FROM orgs WHERE code = $1 OR name = $2",
                &[&org.code, &org.name],
                "reading organisations",
            )?
            .get(0);
        if exists > 0 {
            return Err(Error::PolicyRefused {
                detail: format!(
                    "organisation {} or name {:?} is registered already",
                    org.code, org.name
                ),
            });
        }
        tx.execute(
            "INSERT INTO orgs (code, name) VALUES ($1, $2)",
            &[&org.code, &org.name],
            "registering an organisation",
        )?;
        Self::append_audit(
            &tx,
            actor,
            "org.add",
            &org.code,
            "ok",
            &serde_json::json!({"name": org.name}),
        )?;
        tx.commit("committing an organisation")
    }

    fn orgs(&self) -> Result<Vec<OrgRecord>> {
        Ok(self
            .conn()?
            .query(
                "SELECT code, name FROM orgs ORDER BY code",
                &[],
                "listing organisations",
            )?
            .iter()
            .map(|r| OrgRecord {
                code: r.get(0),
                name: r.get(1),
            })
            .collect())
    }

    fn add_officer(&mut self, actor: &str, o: &OfficerRecord) -> Result<i64> {
        let tx = self.write_txn()?;
        let exists: i64 = tx
            .query_one(
                "SELECT COUNT(*) FROM officers WHERE cert_issuer = $1 AND cert_serial = $2",
                &[&o.cert_issuer, &o.cert_serial.as_str()],
                "reading officers",
            )?
            .get(0);
        if exists > 0 {
            return Err(Error::PolicyRefused {
                detail: format!(
                    "certificate {} is registered to an officer already",
                    o.cert_serial
                ),
            });
        }
        let id: i64 = tx
            .query_one(
                "INSERT INTO officers (org, role, cert_issuer, cert_serial, subject, cert_der, person) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                &[&o.org, &o.role.name(), &o.cert_issuer, &o.cert_serial.as_str(), &o.subject, &o.cert_der, &o.person],
                "registering an officer",
            )?
            .get(0);
        Self::append_audit(
            &tx,
            actor,
            "officer.add",
            &id.to_string(),
            "ok",
            &serde_json::json!({"org": o.org, "role": o.role, "subject": o.subject, "cert_serial": o.cert_serial, "person": o.person}),
        )?;
        tx.commit("committing an officer")?;
        Ok(id)
    }

    fn officers(&self) -> Result<Vec<OfficerRecord>> {
        self.conn()?
            .query(
                &format!("SELECT {OFFICER_COLUMNS} FROM officers ORDER BY id"),
                &[],
                "listing officers",
            )?
            .iter()
            .map(row_to_officer)
            .collect()
    }

    fn add_request(&mut self, actor: &str, q: &RequestRecord) -> Result<i64> {
        let tx = self.write_txn()?;
        let sans = serde_json::to_string(&q.sans).unwrap_or_else(|_| "[]".into());
        let id: i64 = tx
            .query_one(
                "INSERT INTO requests (kind, org, state, profile, csr_der, subject, sans, submitted_by, serial, revoke_reason, created)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
                &[&q.kind.name(), &q.org, &q.state.name(), &q.profile, &q.csr_der, &q.subject, &sans, &q.submitted_by, &q.serial.as_ref().map(Serial::as_str), &q.revoke_reason.map(ReasonCode::name), &q.created],
                "recording a request",
            )?
            .get(0);
        Self::append_audit(
            &tx,
            actor,
            &format!("request.submit.{}", q.kind),
            &id.to_string(),
            "ok",
            &serde_json::json!({"org": q.org, "profile": q.profile, "subject": q.subject, "serial": q.serial}),
        )?;
        tx.commit("committing a request")?;
        Ok(id)
    }

    fn request(&self, id: i64) -> Result<Option<RequestRecord>> {
        self.conn()?
            .query_opt(
                &format!("SELECT {REQUEST_COLUMNS} FROM requests WHERE id = $1"),
                &[&id],
                "reading a request",
            )?
            .as_ref()
            .map(row_to_request)
            .transpose()
    }

    fn requests(
        &self,
        org: Option<&str>,
        state: Option<RequestState>,
    ) -> Result<Vec<RequestRecord>> {
        self.conn()?
            .query(
                &format!("SELECT {REQUEST_COLUMNS} FROM requests WHERE ($1::TEXT IS NULL OR org = $1) AND ($2::TEXT IS NULL OR state = $2) ORDER BY id"),
                &[&org, &state.map(RequestState::name)],
                "listing requests",
            )?
            .iter()
            .map(row_to_request)
            .collect()
    }

    fn update_request(
        &mut self,
        actor: &str,
        q: &RequestRecord,
        from: RequestState,
        action: &str,
    ) -> Result<()> {
        let tx = self.write_txn()?;
        // Compare-and-set on the state: of two approvers racing on two instances, one moves
        // the request and the other finds it no longer in `from`.
        let n = tx.execute(
            "UPDATE requests SET state = $2, decided_by = $3, reject_reason = $4, serial = $5 WHERE id = $1 AND state = $6",
            &[&q.id, &q.state.name(), &q.decided_by, &q.reject_reason, &q.serial.as_ref().map(Serial::as_str), &from.name()],
            "updating a request",
        )?;
        if n != 1 {
            return Err(Error::PolicyRefused {
                detail: format!("request {} is no longer {from}", q.id),
            });
        }
        Self::append_audit(
            &tx,
            actor,
            action,
            &q.id.to_string(),
            "ok",
            &serde_json::json!({"org": q.org, "state": q.state, "serial": q.serial, "reason": q.reject_reason}),
        )?;
        tx.commit("committing a request")
    }

    fn add_org_names(&mut self, actor: &str, org: &str, names: &[String]) -> Result<()> {
        let tx = self.write_txn()?;
        for name in names {
            let owner: Option<String> = tx
                .query_opt(
                    "SELECT org FROM org_names WHERE name = $1",
                    &[name],
                    "reading registered names",
                )?
                .map(|r| r.get(0));
            if let Some(owner) = owner {
                return Err(Error::PolicyRefused {
                    detail: format!("{name} is registered to organisation {owner} already"),
                });
            }
            tx.execute(
                "INSERT INTO org_names (name, org) VALUES ($1, $2)",
                &[name, &org],
                "registering a name",
            )?;
        }
        Self::append_audit(
            &tx,
            actor,
            "org.names.add",
            org,
            "ok",
            &serde_json::json!({"names": names}),
        )?;
        tx.commit("committing names")
    }

    fn org_names(&self, org: Option<&str>) -> Result<Vec<(String, String)>> {
        Ok(self
            .conn()?
            .query(
                "SELECT org, name FROM org_names WHERE ($1::TEXT IS NULL OR org = $1) ORDER BY org, name",
                &[&org],
                "listing registered names",
            )?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect())
    }

    fn remove_officer(&mut self, actor: &str, id: i64) -> Result<Option<OfficerRecord>> {
        let tx = self.write_txn()?;
        let Some(rec) = tx
            .query_opt(
                &format!("SELECT {OFFICER_COLUMNS} FROM officers WHERE id = $1"),
                &[&id],
                "reading an officer",
            )?
            .as_ref()
            .map(row_to_officer)
            .transpose()?
        else {
            return Ok(None);
        };
        tx.execute(
            "DELETE FROM officers WHERE id = $1",
            &[&id],
            "removing an officer",
        )?;
        Self::append_audit(
            &tx,
            actor,
            "officer.remove",
            &id.to_string(),
            "ok",
            &serde_json::json!({"org": rec.org, "role": rec.role, "subject": rec.subject, "cert_serial": rec.cert_serial}),
        )?;
        tx.commit("committing an officer removal")?;
        Ok(Some(rec))
    }
}

impl AuditLog for PgStore {
    fn audit(
        &mut self,
        actor: &str,
        action: &str,
        target: &str,
        outcome: &str,
        details: &serde_json::Value,
    ) -> Result<()> {
        let tx = self.write_txn()?;
        Self::append_audit(&tx, actor, action, target, outcome, details)?;
        tx.commit("committing an audit record")
    }

    fn audit_records(&self) -> Result<Vec<AuditRecord>> {
        self.audit_records_from(i64::MIN)
    }

    fn audit_head(&self) -> Result<Option<(i64, String)>> {
        Ok(self
            .conn()?
            .query_opt(
                "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
                &[],
                "reading the audit chain",
            )?
            .map(|r| (r.get(0), r.get(1))))
    }

    fn audit_records_from(&self, seq: i64) -> Result<Vec<AuditRecord>> {
        Ok(self
            .conn()?
            .query(
                "SELECT seq, time, actor, action, target, outcome, details, prev_hash, hash FROM audit WHERE seq >= $1 ORDER BY seq",
                &[&seq],
                "reading the audit log",
            )?
            .iter()
            .map(row_to_audit)
            .collect())
    }

    fn seal_audit(
        &mut self,
        seal: &mut dyn FnMut(i64, &str) -> Result<AuditCheckpoint>,
    ) -> Result<Option<AuditCheckpoint>> {
        let tx = self.write_txn()?;
        let head: Option<(i64, String)> = tx
            .query_opt(
                "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
                &[],
                "reading the audit chain",
            )?
            .map(|r| (r.get(0), r.get(1)));
        let Some((seq, hash)) = head else {
            return Ok(None);
        };
        let cp = seal(seq, &hash)?;
        tx.execute(
            "INSERT INTO audit_checkpoints (seq, head_hash, time, algorithm, signature) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (seq) DO NOTHING",
            &[&cp.seq, &cp.head_hash, &cp.time, &cp.algorithm, &cp.signature],
            "recording an audit checkpoint",
        )?;
        tx.commit("committing an audit checkpoint")?;
        Ok(Some(cp))
    }

    fn audit_checkpoints(&self) -> Result<Vec<AuditCheckpoint>> {
        Ok(self
            .conn()?
            .query(
                "SELECT seq, head_hash, time, algorithm, signature FROM audit_checkpoints ORDER BY seq",
                &[],
                "reading audit checkpoints",
            )?
            .iter()
            .map(|r| AuditCheckpoint {
                seq: r.get(0),
                head_hash: r.get(1),
                time: r.get(2),
                algorithm: r.get(3),
                signature: r.get(4),
            })
            .collect())
    }
}

impl crate::tsp_log::TimestampStore for PgStore {
    fn record_timestamps(
        &mut self,
        stamps: &[crate::tsp_log::TimestampRecord],
    ) -> Result<Vec<bool>> {
        // No advisory lock: the primary key keeps serials unique across instances (RFC 3161
        // §2.4.2), and no audit record is appended.
        let tx = self.begin(None)?;
        let sets: Vec<Vec<&(dyn ToSql + Sync)>> = stamps
            .iter()
            .map(|t| -> Vec<&(dyn ToSql + Sync)> {
                vec![&t.serial, &t.gen_time, &t.policy, &t.hash_alg, &t.imprint]
            })
            .collect();
        let rows = tx
            .pipeline(
                "INSERT INTO timestamps (serial, gen_time, policy, hash_alg, imprint)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (serial) DO NOTHING RETURNING serial",
                &sets,
            )
            .map_err(super::pgconn::pg("recording a time-stamp"))?;
        tx.commit("recording a time-stamp")?;
        Ok(rows.iter().map(|r| !r.is_empty()).collect())
    }

    fn timestamp_count(&self) -> Result<u64> {
        let n: i64 = self
            .conn()?
            .query_one(
                "SELECT COUNT(*) FROM timestamps",
                &[],
                "counting time-stamps",
            )?
            .get(0);
        Ok(n as u64)
    }
}
