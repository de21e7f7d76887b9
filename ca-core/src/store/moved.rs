//! The mark `store migrate` leaves in the store it copied from.
//!
//! After a migration the home uses the new store. The old one is marked, inside the
//! migration's own write transaction, so that:
//! - a writer that was waiting for the write lock during the copy refuses instead of writing
//!   where nobody looks any more (acknowledged, then lost);
//! - [`super::open_store`] refuses to open it again (an explicit `--store` naming it, or a
//!   second instance whose home still records it);
//! - a running `serve` notices within one refresh and stops, instead of answering OCSP and
//!   serving CRLs from data that no longer changes (stale data served as current).

use crate::error::{Error, Result};

/// The `meta` key of the mark; its value is where the store went (no password).
pub const MOVED_TO: &str = "moved_to";

/// Refuses with [`Error::StoreMoved`] when the store's `moved_to` value (`mark`) is set.
pub fn refuse_if_moved(mark: Option<String>) -> Result<()> {
    match mark {
        Some(to) => Err(Error::StoreMoved { to }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mark_refuses_and_names_where_the_store_went() {
        assert!(refuse_if_moved(None).is_ok());
        let e = refuse_if_moved(Some("postgres://ca@db/lgpki".into())).expect_err("refused");
        assert_eq!(e.kind(), "store_moved");
        assert!(e.to_string().contains("postgres://ca@db/lgpki"), "{e}");
    }
}
