//! The CA's durable store: the [`Store`] trait and its embedded SQLite implementation.
//!
//! SQLite runs in WAL mode with `synchronous=FULL`, so a committed transaction survives power
//! loss, and several processes (the CLI, `serve`, the responder) can use one store at once
//! (writers wait on a busy timeout). The SQL is kept to what PostgreSQL also accepts, for the
//! high-availability backend that will implement the same trait.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::error::{Error, Result};
use crate::key::KeyAlgorithm;

/// A CA as the store keeps it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CaRecord {
    /// The CA's name.
    pub name: String,
    /// The CA that issued its certificate (None: self-signed).
    pub parent: Option<String>,
    /// Its certificate, DER.
    #[serde(skip)]
    pub cert_der: Vec<u8>,
    /// Where its key is (`soft:keys/NAME.p8` or a `pkcs11:` URI).
    pub key_ref: String,
    /// Its key algorithm.
    pub key_alg: KeyAlgorithm,
    /// The profiles it issues by default.
    pub profiles: Vec<String>,
}

/// Life-cycle state of an issued certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CertStatus {
    /// Issued and not revoked (may still be expired; see [`CertRecord::status_at`]).
    Good,
    /// Revoked.
    Revoked,
    /// Past notAfter.
    Expired,
}

/// An issued certificate.
#[derive(Clone, Debug)]
pub struct CertRecord {
    /// Serial in lower-case hex.
    pub serial: String,
    /// Issuing CA.
    pub ca: String,
    /// Profile it was issued under.
    pub profile: String,
    /// Subject, RFC 4514.
    pub subject: String,
    /// notBefore, Unix seconds.
    pub not_before: i64,
    /// notAfter, Unix seconds.
    pub not_after: i64,
    /// The certificate, DER.
    pub der: Vec<u8>,
    /// Revocation time, Unix seconds, if revoked.
    pub revoked_at: Option<i64>,
    /// RFC 5280 reason name, if revoked.
    pub reason: Option<String>,
}

impl CertRecord {
    /// good / revoked / expired at `now` (Unix seconds).
    pub fn status_at(&self, now: i64) -> CertStatus {
        if self.revoked_at.is_some() {
            CertStatus::Revoked
        } else if self.not_after < now {
            CertStatus::Expired
        } else {
            CertStatus::Good
        }
    }
}

/// A certificate about to be signed: recorded (with its TBS) before the CA key signs.
#[derive(Clone, Debug)]
pub struct PendingCert {
    /// Serial in lower-case hex.
    pub serial: String,
    /// Issuing CA.
    pub ca: String,
    /// Profile.
    pub profile: String,
    /// Subject, RFC 4514.
    pub subject: String,
    /// notBefore, Unix seconds.
    pub not_before: i64,
    /// notAfter, Unix seconds.
    pub not_after: i64,
    /// The linted TBSCertificate that will be signed.
    pub tbs_der: Vec<u8>,
    /// A caller-chosen idempotency key (e.g. a batch line's `id`), unique when set.
    pub request_id: Option<String>,
}

/// Which certificates `cert list` shows.
#[derive(Clone, Debug, Default)]
pub struct CertFilter {
    /// Only this CA's.
    pub ca: Option<String>,
    /// Only this profile's.
    pub profile: Option<String>,
    /// Only certificates with this status (at `now`).
    pub status: Option<CertStatus>,
    /// The time status is judged at, Unix seconds.
    pub now: i64,
}

/// The CA's persistent state.
pub trait Store: Send {
    /// A metadata value (e.g. `base_url`).
    fn meta(&self, key: &str) -> Result<Option<String>>;
    /// Sets a metadata value.
    fn set_meta(&mut self, key: &str, value: &str) -> Result<()>;
    /// Records a CA together with its own certificate (issued by `cert.ca`), atomically.
    fn insert_ca(&mut self, ca: &CaRecord, cert: &PendingCert, cert_der: &[u8]) -> Result<()>;
    /// All CAs, in creation order.
    fn cas(&self) -> Result<Vec<CaRecord>>;
    /// The CA named `name`.
    fn ca(&self, name: &str) -> Result<Option<CaRecord>>;
    /// Records certificates about to be signed, in one durable transaction. Fails with
    /// [`Error::SerialCollision`] (and records nothing) if any serial was ever used before.
    fn reserve(&mut self, pending: &[PendingCert]) -> Result<()>;
    /// Stores signed certificates for reserved serials, in one durable transaction.
    fn complete(&mut self, issued: &[(String, Vec<u8>)]) -> Result<()>;
    /// Issued certificates matching `filter`, ordered by issuance.
    fn certs(&self, filter: &CertFilter) -> Result<Vec<CertRecord>>;
    /// The issued certificate with `serial` (hex), optionally of one CA.
    fn cert(&self, serial: &str, ca: Option<&str>) -> Result<Option<CertRecord>>;
    /// The serial already issued for idempotency key `request_id`, if any.
    fn cert_by_request_id(&self, request_id: &str) -> Result<Option<CertRecord>>;
}

/// The embedded SQLite store.
pub struct SqliteStore {
    conn: Connection,
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
    tbs_der BLOB NOT NULL,
    der BLOB,
    request_id TEXT UNIQUE,
    reserved_at BIGINT NOT NULL,
    revoked_at BIGINT,
    reason TEXT,
    invalidity_date BIGINT
);
CREATE INDEX IF NOT EXISTS certs_ca ON certs (ca, state);
";

impl SqliteStore {
    /// The store file inside a home directory.
    pub const FILE: &'static str = "lgpki.db";

    /// Opens (creating if needed) the store at `path` with WAL and `synchronous=FULL`.
    pub fn open(path: &Path) -> Result<SqliteStore> {
        let conn = Connection::open(path).map_err(Error::store("opening the store"))?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(Error::store("setting busy timeout"))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(Error::store("enabling WAL"))?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(Error::store("setting synchronous=FULL"))?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(Error::store("enabling foreign keys"))?;
        conn.execute_batch(SCHEMA)
            .map_err(Error::store("creating the schema"))?;
        Ok(SqliteStore { conn })
    }

    fn write_txn(&mut self) -> Result<rusqlite::Transaction<'_>> {
        self.conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(Error::store("beginning a transaction"))
    }

    fn insert_pending(txn: &rusqlite::Transaction<'_>, p: &PendingCert, now: i64) -> Result<()> {
        let r = txn.execute(
            "INSERT INTO certs (serial, ca, profile, subject, not_before, not_after, state, tbs_der, request_id, reserved_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7, ?8, ?9)",
            params![p.serial, p.ca, p.profile, p.subject, p.not_before, p.not_after, p.tbs_der, p.request_id, now],
        );
        match r {
            Ok(_) => Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, Some(msg)))
                if e.code == rusqlite::ErrorCode::ConstraintViolation && msg.contains("serial") =>
            {
                Err(Error::SerialCollision {
                    serial: p.serial.clone(),
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
            reason: row.get(8)?,
        })
    }
}

const CERT_COLUMNS: &str =
    "serial, ca, profile, subject, not_before, not_after, der, revoked_at, reason";

fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

impl Store for SqliteStore {
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

    fn insert_ca(&mut self, ca: &CaRecord, cert: &PendingCert, cert_der: &[u8]) -> Result<()> {
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
        Self::insert_pending(&txn, cert, now_unix())?;
        txn.execute(
            "UPDATE certs SET der = ?2, state = 'issued' WHERE serial = ?1",
            params![cert.serial, cert_der],
        )
        .map_err(Error::store("recording the CA certificate"))?;
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
        txn.commit().map_err(Error::store("committing the CA"))
    }

    fn cas(&self) -> Result<Vec<CaRecord>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT name, parent, cert_der, key_ref, key_alg, profiles FROM cas ORDER BY seq",
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
                ))
            })
            .map_err(Error::store("listing CAs"))?;
        let mut out = Vec::new();
        for row in rows {
            let (name, parent, cert_der, key_ref, alg, profiles) =
                row.map_err(Error::store("reading a CA"))?;
            out.push(CaRecord {
                name,
                parent,
                cert_der,
                key_ref,
                key_alg: alg.parse()?,
                profiles: serde_json::from_str(&profiles)
                    .map_err(|e| Error::malformed("stored CA profiles", e))?,
            });
        }
        Ok(out)
    }

    fn ca(&self, name: &str) -> Result<Option<CaRecord>> {
        Ok(self.cas()?.into_iter().find(|c| c.name == name))
    }

    fn reserve(&mut self, pending: &[PendingCert]) -> Result<()> {
        let txn = self.write_txn()?;
        let now = now_unix();
        for p in pending {
            Self::insert_pending(&txn, p, now)?;
        }
        txn.commit()
            .map_err(Error::store("committing reserved serials"))
    }

    fn complete(&mut self, issued: &[(String, Vec<u8>)]) -> Result<()> {
        let txn = self.write_txn()?;
        {
            let mut stmt = txn
                .prepare_cached("UPDATE certs SET der = ?2, state = 'issued' WHERE serial = ?1 AND state = 'pending'")
                .map_err(Error::store("storing certificates"))?;
            for (serial, der) in issued {
                let n = stmt
                    .execute(params![serial, der])
                    .map_err(Error::store("storing a certificate"))?;
                if n != 1 {
                    return Err(Error::SerialCollision {
                        serial: serial.clone(),
                    });
                }
            }
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

    fn cert(&self, serial: &str, ca: Option<&str>) -> Result<Option<CertRecord>> {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(serial: &str) -> PendingCert {
        PendingCert {
            serial: serial.into(),
            ca: "org".into(),
            profile: "staff".into(),
            subject: "CN=a".into(),
            not_before: 0,
            not_after: i64::MAX / 2,
            tbs_der: vec![0x30, 0],
            request_id: None,
        }
    }

    #[test]
    fn serials_are_never_reused_and_pending_rows_are_not_listed() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut s = SqliteStore::open(&dir.path().join("db")).expect("open");
        s.reserve(&[pending("01"), pending("02")]).expect("reserve");
        assert!(s.certs(&CertFilter::default()).expect("list").is_empty());
        s.complete(&[("01".into(), vec![1])]).expect("complete");
        assert_eq!(s.certs(&CertFilter::default()).expect("list").len(), 1);
        // A reserved-but-never-issued serial (a crash between reserve and complete) stays taken.
        let err = s
            .reserve(&[pending("03"), pending("02")])
            .expect_err("collision");
        assert!(matches!(err, Error::SerialCollision { .. }), "{err}");
        // The failed batch recorded nothing: 03 is still free.
        s.reserve(&[pending("03")]).expect("03 free");
        // Completing twice is refused.
        assert!(s.complete(&[("01".into(), vec![1])]).is_err());
        drop(s);
        let s = SqliteStore::open(&dir.path().join("db")).expect("reopen");
        assert_eq!(
            s.cert("01", None).expect("get").map(|c| c.der),
            Some(vec![1])
        );
    }
}
