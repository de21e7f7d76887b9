//! The durable record of issued time-stamp serial numbers (RFC 3161 §2.4.2: unique), with
//! group commit: the requests that arrive while one transaction is being committed are
//! recorded together in the next, so a burst of requests costs one fsync, not one each.

use std::sync::mpsc;

use crate::error::{Error, Result};

/// One issued (about to be signed) time-stamp token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimestampRecord {
    /// serialNumber, lower-case hex of its magnitude.
    pub serial: String,
    /// genTime, seconds since 1970.
    pub gen_time: i64,
    /// The TSA policy OID.
    pub policy: String,
    /// The hash algorithm of the messageImprint (`sha256`…).
    pub hash_alg: String,
    /// hashedMessage, lower-case hex.
    pub imprint: String,
}

/// Where issued time-stamp serials are kept: the home's store, SQLite or PostgreSQL (the
/// `timestamps` table of either), so a PostgreSQL home needs no SQLite file.
pub trait TimestampStore: Send {
    /// Records time-stamp tokens about to be issued, in one transaction (one commit for a
    /// batch of concurrent requests). For each, whether its serial was new: a serial seen
    /// before is not recorded again, and the caller draws another.
    fn record_timestamps(&mut self, stamps: &[TimestampRecord]) -> Result<Vec<bool>>;
    /// The number of time-stamp tokens recorded.
    fn timestamp_count(&self) -> Result<u64>;
}

/// Most records one transaction takes.
const MAX_BATCH: usize = 512;

type Job = (TimestampRecord, mpsc::Sender<Result<bool>>);

/// A writer thread that records time-stamps in the store, batching concurrent requests.
#[derive(Debug)]
pub struct TimestampLog {
    jobs: mpsc::Sender<Job>,
}

impl TimestampLog {
    /// Starts the writer thread over `store`. It ends when the log is dropped.
    pub fn start(mut store: Box<dyn TimestampStore>) -> Result<TimestampLog> {
        let (jobs, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("tsa-log".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut batch = vec![first];
                    while batch.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(j) => batch.push(j),
                            Err(_) => break,
                        }
                    }
                    let records: Vec<TimestampRecord> =
                        batch.iter().map(|(r, _)| r.clone()).collect();
                    match store.record_timestamps(&records) {
                        Ok(fresh) => {
                            for ((_, reply), f) in batch.into_iter().zip(fresh) {
                                let _ = reply.send(Ok(f));
                            }
                        }
                        Err(e) => {
                            let detail = e.to_string();
                            for (_, reply) in batch {
                                let _ = reply.send(Err(Error::PolicyRefused {
                                    detail: format!("recording the time-stamp: {detail}"),
                                }));
                            }
                        }
                    }
                }
            })
            .map_err(|e| Error::Io {
                path: "tsa-log thread".into(),
                source: e,
            })?;
        Ok(TimestampLog { jobs })
    }

    /// Records one time-stamp durably; `Ok(false)` when its serial was recorded before (draw
    /// another). Blocks until the transaction holding it has committed.
    pub fn record(&self, record: TimestampRecord) -> Result<bool> {
        let (tx, rx) = mpsc::channel();
        let gone = || Error::PolicyRefused {
            detail: "the time-stamp log has stopped".into(),
        };
        self.jobs.send((record, tx)).map_err(|_| gone())?;
        rx.recv().map_err(|_| gone())?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqliteStore;

    #[test]
    fn serials_are_recorded_once() {
        let dir = tempfile::tempdir().expect("dir");
        let store = SqliteStore::open(&dir.path().join("t.db")).expect("store");
        let log = TimestampLog::start(Box::new(store)).expect("log");
        let rec = |s: &str| TimestampRecord {
            serial: s.into(),
            gen_time: 1,
            policy: "1.2.3".into(),
            hash_alg: "sha256".into(),
            imprint: "00".into(),
        };
        assert!(log.record(rec("01")).expect("first"));
        assert!(!log.record(rec("01")).expect("again"));
        assert!(log.record(rec("02")).expect("other"));
        drop(log);
        let store = SqliteStore::open(&dir.path().join("t.db")).expect("store");
        assert_eq!(store.timestamp_count().expect("count"), 2);
    }
}
