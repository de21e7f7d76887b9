//! One PostgreSQL connection, used synchronously.
//!
//! `tokio-postgres` splits a connection into a `Client` (requests) and a `Connection` (the
//! socket). The `Connection` runs on a thread of its own, on a one-thread tokio runtime; the
//! store's calls wait for their answers by parking the calling thread. Unlike the sync
//! `postgres` crate (which drives the socket with tokio's `block_on` on the calling thread,
//! and so panics on a thread of `serve`'s runtime), this works from any thread.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row, Statement};

use crate::error::{Error, Result};

/// Parameters of a statement.
pub(super) type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

struct ThreadWaker(std::thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs `f` to completion on the calling thread (the socket is driven elsewhere).
pub(super) fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

/// What went wrong, for [`Error::StoreBackend`]: the server's message and SQLSTATE, or the
/// client's (connection refused, connection closed). Never a password: neither holds one.
pub(super) fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => {
            let mut s = e.to_string();
            let mut src = std::error::Error::source(e);
            while let Some(inner) = src {
                s.push_str(": ");
                s.push_str(&inner.to_string());
                src = inner.source();
            }
            s
        }
    }
}

/// Maps a PostgreSQL error to the crate's error, naming what was being done.
pub(super) fn pg(context: &'static str) -> impl FnOnce(tokio_postgres::Error) -> Error {
    move |e| Error::StoreBackend {
        context,
        detail: describe(&e),
    }
}

/// A connected client with its prepared statements.
pub(super) struct Conn {
    client: Client,
    statements: Mutex<HashMap<String, Statement>>,
}

impl Conn {
    /// Connects with `config`, plain or over TLS (the socket's thread is started here).
    pub(super) fn connect(config: &super::location::PgConnect, target: &str) -> Result<Conn> {
        let config = config.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("lgpki-postgres".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = tx.send(Err(format!("starting the client runtime: {e}")));
                        return;
                    }
                };
                rt.block_on(async move {
                    match config.tls.connect(&config.config).await {
                        Ok((client, connection)) => {
                            if tx.send(Ok(client)).is_ok() {
                                // Runs until the client is dropped or the server goes away.
                                connection.await;
                            }
                        }
                        Err(detail) => {
                            let _ = tx.send(Err(detail));
                        }
                    }
                });
            });
        if let Err(e) = spawned {
            return Err(Error::StoreBackend {
                context: "connecting to PostgreSQL",
                detail: format!("{target}: starting a thread: {e}"),
            });
        }
        let client = rx
            .recv()
            .map_err(|e| e.to_string())
            .and_then(|r| r)
            .map_err(|detail| Error::StoreBackend {
                context: "connecting to PostgreSQL",
                detail: format!("{target}: {detail}"),
            })?;
        Ok(Conn {
            client,
            statements: Mutex::new(HashMap::new()),
        })
    }

    /// Whether the connection is gone (the server restarted or closed it).
    pub(super) fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    fn statement(&self, sql: &str) -> std::result::Result<Statement, tokio_postgres::Error> {
        if let Some(s) = self
            .statements
            .lock()
            .ok()
            .and_then(|m| m.get(sql).cloned())
        {
            return Ok(s);
        }
        let s = block_on(self.client.prepare(sql))?;
        if let Ok(mut m) = self.statements.lock() {
            m.insert(sql.to_string(), s.clone());
        }
        Ok(s)
    }

    /// All rows of a query.
    pub(super) fn query(
        &self,
        sql: &str,
        params: Params<'_>,
        what: &'static str,
    ) -> Result<Vec<Row>> {
        let st = self.statement(sql).map_err(pg(what))?;
        block_on(self.client.query(&st, params)).map_err(pg(what))
    }

    /// At most one row of a query.
    pub(super) fn query_opt(
        &self,
        sql: &str,
        params: Params<'_>,
        what: &'static str,
    ) -> Result<Option<Row>> {
        let st = self.statement(sql).map_err(pg(what))?;
        block_on(self.client.query_opt(&st, params)).map_err(pg(what))
    }

    /// Exactly one row of a query.
    pub(super) fn query_one(
        &self,
        sql: &str,
        params: Params<'_>,
        what: &'static str,
    ) -> Result<Row> {
        let st = self.statement(sql).map_err(pg(what))?;
        block_on(self.client.query_one(&st, params)).map_err(pg(what))
    }

    /// Runs a statement; the number of rows it changed.
    pub(super) fn execute_raw(
        &self,
        sql: &str,
        params: Params<'_>,
    ) -> std::result::Result<u64, tokio_postgres::Error> {
        let st = self.statement(sql)?;
        block_on(self.client.execute(&st, params))
    }

    /// Runs a statement; the number of rows it changed.
    pub(super) fn execute(&self, sql: &str, params: Params<'_>, what: &'static str) -> Result<u64> {
        self.execute_raw(sql, params).map_err(pg(what))
    }

    /// Runs one statement once per parameter set, pipelined (all sent before the first answer
    /// is awaited: one round trip for the lot, not one each); the rows each returned, in order.
    /// The first failure ends it (inside a transaction, the rest fail with it).
    pub(super) fn pipeline(
        &self,
        sql: &str,
        sets: &[Vec<&(dyn ToSql + Sync)>],
    ) -> std::result::Result<Vec<Vec<Row>>, tokio_postgres::Error> {
        let st = self.statement(sql)?;
        let st = &st;
        let futures = sets.iter().map(|p| self.client.query(st, p));
        block_on(futures_util::future::try_join_all(futures))
    }

    /// Runs statements without parameters.
    pub(super) fn batch(&self, sql: &str, what: &'static str) -> Result<()> {
        block_on(self.client.batch_execute(sql)).map_err(pg(what))
    }

    /// Streams the rows of a query into `f`, row by row.
    pub(super) fn for_each_row(
        &self,
        sql: &str,
        params: Params<'_>,
        what: &'static str,
        f: &mut dyn FnMut(&Row) -> Result<()>,
    ) -> Result<()> {
        use futures_util::StreamExt;
        let st = self.statement(sql).map_err(pg(what))?;
        let stream =
            block_on(self.client.query_raw(&st, params.iter().copied())).map_err(pg(what))?;
        let mut stream = std::pin::pin!(stream);
        while let Some(row) = block_on(stream.next()) {
            f(&row.map_err(pg(what))?)?;
        }
        Ok(())
    }
}
