//! `HOME/serve.lock`: who may run beside whom on one home.
//!
//! `serve` holds the file's lock shared for as long as it runs (several `serve` processes may
//! share a home). `store migrate` and `restore` take it exclusively: a `serve` started on the old
//! store would go on answering OCSP and serving CRLs from it after the home moved on, so they
//! refuse while one runs, and a `serve` refuses to start while they run. The operating system
//! drops the lock when its process ends, a kill -9 included, so a crash never leaves the home
//! locked.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;

use crate::error::{Error, Result};

/// The lock file's name in the home.
pub const SERVE_LOCK_FILE: &str = "serve.lock";

/// A held lock on `HOME/serve.lock`; dropping it releases the lock.
#[derive(Debug)]
pub struct ServeLock {
    _file: File,
}

fn open(home: &Path) -> Result<File> {
    let path = home.join(SERVE_LOCK_FILE);
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| Error::Io { path, source })
}

/// Held by `serve` while it runs: refused while a migration or a restore of `home` runs.
pub fn hold_for_serving(home: &Path) -> Result<ServeLock> {
    let file = open(home)?;
    match file.try_lock_shared() {
        Ok(()) => Ok(ServeLock { _file: file }),
        Err(TryLockError::WouldBlock) => Err(Error::PolicyRefused {
            detail: format!(
                "a `store migrate` or `restore` is running on {} (it holds {SERVE_LOCK_FILE}): start `serve` once it has finished",
                home.display()
            ),
        }),
        Err(TryLockError::Error(source)) => Err(Error::Io {
            path: home.join(SERVE_LOCK_FILE),
            source,
        }),
    }
}

/// Held by `store migrate` and `restore` (`what`): refused while a `serve` runs on `home`.
pub(crate) fn hold_exclusive(home: &Path, what: &str) -> Result<ServeLock> {
    let file = open(home)?;
    match file.try_lock() {
        Ok(()) => Ok(ServeLock { _file: file }),
        Err(TryLockError::WouldBlock) => Err(Error::PolicyRefused {
            detail: format!(
                "`lgpki serve` is running on {} (it holds {SERVE_LOCK_FILE}): stop it before `{what}`, or it would go on answering from the store this replaces",
                home.display()
            ),
        }),
        Err(TryLockError::Error(source)) => Err(Error::Io {
            path: home.join(SERVE_LOCK_FILE),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serving_and_migrating_exclude_each_other() {
        let dir = std::env::temp_dir().join(format!("lgpki-serve-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let a = hold_for_serving(&dir).expect("first serve");
        let b = hold_for_serving(&dir).expect("a second serve shares the home");
        let e = hold_exclusive(&dir, "store migrate").expect_err("refused");
        assert!(
            e.to_string().contains("stop it before `store migrate`"),
            "{e}"
        );
        drop((a, b));
        let m = hold_exclusive(&dir, "store migrate").expect("no serve any more");
        let e = hold_for_serving(&dir).expect_err("refused");
        assert!(e.to_string().contains("start `serve` once"), "{e}");
        drop(m);
        hold_for_serving(&dir).expect("free again");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
