//! [`RawStore`] over the PostgreSQL store: one connection, SQL built from the catalog's names.

use std::sync::Arc;

use tokio_postgres::Row;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

use super::sqlite::ident;
use super::{Cell, RawStore};
use crate::error::{Error, Result};
use crate::store::PgStore;
use crate::store::pgconn::{Conn, pg};
use crate::store::postgres::WRITE_LOCK;

/// A PostgreSQL store opened for copying.
pub(crate) struct PgRaw {
    store: PgStore,
    /// The connection of the open transaction.
    tx: Option<Arc<Conn>>,
}

impl PgRaw {
    /// Wraps `store`.
    pub(crate) fn new(store: PgStore) -> PgRaw {
        PgRaw { store, tx: None }
    }

    fn conn(&self) -> Result<Arc<Conn>> {
        match &self.tx {
            Some(c) => Ok(c.clone()),
            None => self.store.conn(),
        }
    }

    /// (name, data type) of each column of `table`, in schema order.
    fn typed_columns(&self, table: &str) -> Result<Vec<(String, String)>> {
        Ok(self
            .conn()?
            .query(
                "SELECT column_name::text, data_type::text FROM information_schema.columns
                 WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
                &[&table],
                "listing columns",
            )?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect())
    }

    fn begin(&mut self, sql: &str) -> Result<()> {
        let conn = self.store.conn()?;
        conn.batch(sql, "beginning a transaction")?;
        self.tx = Some(conn);
        Ok(())
    }
}

/// A cell of a row as PostgreSQL sent it.
fn cell(row: &Row, i: usize) -> Result<Cell> {
    let ty = row.columns().get(i).map(|c| c.type_().clone());
    let bad = |e: tokio_postgres::Error| Error::StoreBackend {
        context: "reading a row",
        detail: e.to_string(),
    };
    let v = match ty {
        Some(Type::INT8) => row
            .try_get::<_, Option<i64>>(i)
            .map_err(bad)?
            .map(Cell::Int),
        Some(Type::INT4) => row
            .try_get::<_, Option<i32>>(i)
            .map_err(bad)?
            .map(|v| Cell::Int(v.into())),
        Some(Type::INT2) => row
            .try_get::<_, Option<i16>>(i)
            .map_err(bad)?
            .map(|v| Cell::Int(v.into())),
        Some(Type::BOOL) => row
            .try_get::<_, Option<bool>>(i)
            .map_err(bad)?
            .map(|v| Cell::Int(v.into())),
        Some(Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME) => row
            .try_get::<_, Option<String>>(i)
            .map_err(bad)?
            .map(Cell::Text),
        Some(Type::BYTEA) => row
            .try_get::<_, Option<Vec<u8>>>(i)
            .map_err(bad)?
            .map(Cell::Blob),
        other => {
            return Err(Error::StoreBackend {
                context: "reading a row",
                detail: format!("a column of type {other:?}, which lgpki does not copy"),
            });
        }
    };
    Ok(v.unwrap_or(Cell::Null))
}

impl ToSql for Cell {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match (self, ty) {
            (Cell::Null, _) => Ok(IsNull::Yes),
            (Cell::Int(i), &Type::INT8) => i.to_sql(ty, out),
            (Cell::Int(i), &Type::INT4) => i32::try_from(*i)?.to_sql(ty, out),
            (Cell::Int(i), &Type::INT2) => i16::try_from(*i)?.to_sql(ty, out),
            (Cell::Int(i @ (0 | 1)), &Type::BOOL) => (*i == 1).to_sql(ty, out),
            (Cell::Text(t), &Type::TEXT | &Type::VARCHAR | &Type::BPCHAR | &Type::NAME) => {
                t.as_str().to_sql(ty, out)
            }
            (Cell::Blob(b), &Type::BYTEA) => b.as_slice().to_sql(ty, out),
            (cell, ty) => Err(format!(
                "a {} value for a column of type {ty}",
                match cell {
                    Cell::Int(_) => "integer",
                    Cell::Text(_) => "text",
                    _ => "bytes",
                }
            )
            .into()),
        }
    }

    fn accepts(ty: &Type) -> bool {
        matches!(
            *ty,
            Type::INT8
                | Type::BOOL
                | Type::INT4
                | Type::INT2
                | Type::TEXT
                | Type::VARCHAR
                | Type::BPCHAR
                | Type::NAME
                | Type::BYTEA
        )
    }

    to_sql_checked!();
}

impl RawStore for PgRaw {
    fn serving_elsewhere(&mut self) -> Result<Vec<String>> {
        // Sessions `serve` named (crate::store::SERVE_CLIENT_NAME), by host; this process's own
        // sessions excluded. Other users' rows show no client address to a non-superuser.
        let rows = self.conn()?.query(
            "SELECT COALESCE(host(client_addr), 'a local socket or another user'), count(*)
             FROM pg_stat_activity
             WHERE datname = current_database() AND application_name = $1
               AND pid <> pg_backend_pid()
             GROUP BY 1 ORDER BY 1",
            &[&crate::store::SERVE_CLIENT_NAME],
            "listing the database's sessions",
        )?;
        Ok(rows
            .iter()
            .map(|r| {
                let (host, n): (String, i64) = (r.get(0), r.get(1));
                format!("{n} session(s) from {host}")
            })
            .collect())
    }

    fn describe(&self) -> String {
        self.store.target().to_string()
    }

    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn table_names(&mut self) -> Result<Vec<String>> {
        Ok(self
            .conn()?
            .query(
                "SELECT table_name::text FROM information_schema.tables
                 WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name",
                &[],
                "listing tables",
            )?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    fn columns(&mut self, table: &str) -> Result<Vec<String>> {
        Ok(self
            .typed_columns(table)?
            .into_iter()
            .map(|(n, _)| n)
            .collect())
    }

    fn begin_snapshot(&mut self) -> Result<()> {
        // One snapshot for every table; writers of other instances go on meanwhile.
        self.begin("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
    }

    fn begin_write(&mut self) -> Result<()> {
        self.begin("BEGIN")?;
        // The lock every audited writer takes: no instance writes meanwhile.
        self.conn()?.execute(
            "SELECT pg_advisory_xact_lock($1)",
            &[&WRITE_LOCK],
            "waiting for the store's write lock",
        )?;
        Ok(())
    }

    fn scan(
        &mut self,
        table: &str,
        columns: &[String],
        order_by: &[&str],
        f: &mut dyn FnMut(Vec<Cell>) -> Result<()>,
    ) -> Result<()> {
        let types = self.typed_columns(table)?;
        let cols: Vec<String> = columns.iter().map(|c| ident(c)).collect();
        // Text keys in bytewise order, as SQLite orders them, so both give one digest.
        let order: Vec<String> = order_by
            .iter()
            .map(|c| {
                let text = types
                    .iter()
                    .any(|(n, t)| n == c && (t == "text" || t.starts_with("character")));
                if text {
                    format!("{} COLLATE \"C\"", ident(c))
                } else {
                    ident(c)
                }
            })
            .collect();
        let sql = format!(
            "SELECT {} FROM {} ORDER BY {}",
            cols.join(", "),
            ident(table),
            order.join(", ")
        );
        let n = columns.len();
        self.conn()?
            .for_each_row(&sql, &[], "reading a table", &mut |row| {
                let cells = (0..n).map(|i| cell(row, i)).collect::<Result<Vec<_>>>()?;
                f(cells)
            })
    }

    fn count(&mut self, table: &str) -> Result<u64> {
        let n: i64 = self
            .conn()?
            .query_one(
                &format!("SELECT COUNT(*) FROM {}", ident(table)),
                &[],
                "counting rows",
            )?
            .get(0);
        Ok(n as u64)
    }

    fn insert(&mut self, table: &str, columns: &[String], rows: &[Vec<Cell>]) -> Result<()> {
        let cols: Vec<String> = columns.iter().map(|c| ident(c)).collect();
        let marks: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
        // Keys as copied, also into GENERATED ALWAYS identity columns.
        let sql = format!(
            "INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE VALUES ({})",
            ident(table),
            cols.join(", "),
            marks.join(", ")
        );
        let sets: Vec<Vec<&(dyn ToSql + Sync)>> = rows
            .iter()
            .map(|r| r.iter().map(|c| c as &(dyn ToSql + Sync)).collect())
            .collect();
        self.conn()?
            .pipeline(&sql, &sets)
            .map_err(pg("copying rows"))?;
        Ok(())
    }

    fn delete_all(&mut self, table: &str) -> Result<()> {
        self.conn()?.execute(
            &format!("DELETE FROM {}", ident(table)),
            &[],
            "clearing a table",
        )?;
        Ok(())
    }

    fn loaded(&mut self, table: &str) -> Result<()> {
        let conn = self.conn()?;
        let identity: Vec<String> = conn
            .query(
                "SELECT column_name::text FROM information_schema.columns
                 WHERE table_schema = current_schema() AND table_name = $1 AND is_identity = 'YES'",
                &[&table],
                "listing identity columns",
            )?
            .iter()
            .map(|r| r.get(0))
            .collect();
        for col in identity {
            // The next generated key follows the highest one copied.
            conn.query_one(
                &format!(
                    "SELECT setval(pg_get_serial_sequence($1, $2), COALESCE((SELECT MAX({c}) FROM {t}), 0) + 1, false)",
                    c = ident(&col),
                    t = ident(table)
                ),
                &[&ident(table), &col],
                "advancing a key sequence",
            )?;
        }
        Ok(())
    }

    fn commit(&mut self) -> Result<()> {
        let conn = self.tx.take().ok_or_else(|| Error::StoreBackend {
            context: "committing the copy",
            detail: "no transaction".into(),
        })?;
        conn.batch("COMMIT", "committing the copy")
    }

    fn rollback(&mut self) {
        if let Some(conn) = self.tx.take()
            && !conn.is_closed()
        {
            let _ = conn.batch("ROLLBACK", "rolling back");
        }
    }
}
