//! [`RawStore`] over the SQLite store: plain SQL on its one connection.

use std::path::PathBuf;

use rusqlite::types::ValueRef;

use super::{Cell, RawStore};
use crate::error::{Error, Result};
use crate::store::SqliteStore;

/// An SQLite store opened for copying.
pub(crate) struct SqliteRaw {
    store: SqliteStore,
    path: PathBuf,
}

impl SqliteRaw {
    /// Wraps `store`, the file at `path`.
    pub(crate) fn new(store: SqliteStore, path: PathBuf) -> SqliteRaw {
        SqliteRaw { store, path }
    }
}

/// `"name"`, quoted as an SQL identifier.
pub(super) fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn cell(v: ValueRef<'_>) -> rusqlite::Result<Cell> {
    Ok(match v {
        ValueRef::Null => Cell::Null,
        ValueRef::Integer(i) => Cell::Int(i),
        ValueRef::Text(t) => Cell::Text(
            String::from_utf8(t.to_vec())
                .map_err(|e| rusqlite::Error::Utf8Error(e.utf8_error()))?,
        ),
        ValueRef::Blob(b) => Cell::Blob(b.to_vec()),
        ValueRef::Real(_) => {
            return Err(rusqlite::Error::InvalidColumnType(
                0,
                "a REAL value (no lgpki table holds one)".into(),
                rusqlite::types::Type::Real,
            ));
        }
    })
}

impl rusqlite::ToSql for Cell {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, Value};
        Ok(match self {
            Cell::Null => ToSqlOutput::Owned(Value::Null),
            Cell::Int(i) => ToSqlOutput::Owned(Value::Integer(*i)),
            Cell::Text(t) => ToSqlOutput::Borrowed(ValueRef::Text(t.as_bytes())),
            Cell::Blob(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
        })
    }
}

impl RawStore for SqliteRaw {
    fn describe(&self) -> String {
        format!("sqlite {}", self.path.display())
    }

    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn table_names(&mut self) -> Result<Vec<String>> {
        let mut stmt = self
            .store
            .conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
            .map_err(Error::store("listing tables"))?;
        let rows = stmt
            .query_map([], |r| r.get(0))
            .map_err(Error::store("listing tables"))?;
        rows.collect::<rusqlite::Result<Vec<String>>>()
            .map_err(Error::store("listing tables"))
    }

    fn columns(&mut self, table: &str) -> Result<Vec<String>> {
        let mut stmt = self
            .store
            .conn
            .prepare("SELECT name FROM pragma_table_info(?1) ORDER BY cid")
            .map_err(Error::store("listing columns"))?;
        let rows = stmt
            .query_map([table], |r| r.get(0))
            .map_err(Error::store("listing columns"))?;
        rows.collect::<rusqlite::Result<Vec<String>>>()
            .map_err(Error::store("listing columns"))
    }

    fn begin_snapshot(&mut self) -> Result<()> {
        // A deferred transaction's first read fixes its snapshot (WAL): writers go on.
        self.store
            .conn
            .execute_batch("BEGIN DEFERRED")
            .map_err(Error::store("beginning a snapshot"))
    }

    fn begin_write(&mut self) -> Result<()> {
        self.store
            .conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(Error::store("beginning a transaction"))
    }

    fn scan(
        &mut self,
        table: &str,
        columns: &[String],
        order_by: &[&str],
        f: &mut dyn FnMut(Vec<Cell>) -> Result<()>,
    ) -> Result<()> {
        let cols: Vec<String> = columns.iter().map(|c| ident(c)).collect();
        let order: Vec<String> = order_by.iter().map(|c| ident(c)).collect();
        let sql = format!(
            "SELECT {} FROM {} ORDER BY {}",
            cols.join(", "),
            ident(table),
            order.join(", ")
        );
        let mut stmt = self
            .store
            .conn
            .prepare(&sql)
            .map_err(Error::store("reading a table"))?;
        let mut rows = stmt.query([]).map_err(Error::store("reading a table"))?;
        while let Some(row) = rows.next().map_err(Error::store("reading a table"))? {
            let cells = (0..columns.len())
                .map(|i| row.get_ref(i).and_then(cell))
                .collect::<rusqlite::Result<Vec<Cell>>>()
                .map_err(Error::store("reading a row"))?;
            f(cells)?;
        }
        Ok(())
    }

    fn count(&mut self, table: &str) -> Result<u64> {
        self.store
            .conn
            .query_row(&format!("SELECT COUNT(*) FROM {}", ident(table)), [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n as u64)
            .map_err(Error::store("counting rows"))
    }

    fn insert(&mut self, table: &str, columns: &[String], rows: &[Vec<Cell>]) -> Result<()> {
        let cols: Vec<String> = columns.iter().map(|c| ident(c)).collect();
        let marks: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
        let sql = format!(
            "INSERT INTO {} ({}) VALUES ({})",
            ident(table),
            cols.join(", "),
            marks.join(", ")
        );
        let mut stmt = self
            .store
            .conn
            .prepare_cached(&sql)
            .map_err(Error::store("copying rows"))?;
        for row in rows {
            stmt.execute(rusqlite::params_from_iter(row.iter()))
                .map_err(Error::store("copying rows"))?;
        }
        Ok(())
    }

    fn delete_all(&mut self, table: &str) -> Result<()> {
        self.store
            .conn
            .execute(&format!("DELETE FROM {}", ident(table)), [])
            .map(|_| ())
            .map_err(Error::store("clearing a table"))
    }

    fn loaded(&mut self, _table: &str) -> Result<()> {
        // INTEGER PRIMARY KEY: new rows take the highest key + 1 by themselves.
        Ok(())
    }

    fn commit(&mut self) -> Result<()> {
        self.store
            .conn
            .execute_batch("COMMIT")
            .map_err(Error::store("committing the copy"))
    }

    fn rollback(&mut self) {
        if !self.store.conn.is_autocommit() {
            let _ = self.store.conn.execute_batch("ROLLBACK");
        }
    }
}
