//! The read-only revocation-status capability of the store.

use super::{RevokedEntry, Serial, StatusVisitor, StoredStatus};
use crate::error::Result;

/// Read-only revocation status: what an OCSP responder, a status cache and path validation
/// need, and nothing more. It has no method that writes, so code handed a `&dyn StatusReader`
/// (the OCSP path, [`crate::revocation::OwnStatus`] implementations) cannot change the store,
/// as Boulder's `StorageAuthorityReadOnly` cannot.
pub trait StatusReader: Send {
    /// Only the revocation state of the certificate `serial` that `ca` issued (`None`
    /// when `ca` issued no such certificate): what an OCSP answer needs, without reading the
    /// certificate itself.
    fn cert_status(&self, serial: &Serial, ca: &str) -> Result<Option<StoredStatus>>;

    /// Calls `f` for every revoked certificate of `ca` (with `since_seq`: only those revoked or
    /// changed after that revocation sequence number), in serial order, streaming. The entry
    /// borrows from the row being read: nothing is allocated per revoked certificate.
    fn for_each_revoked(
        &self,
        ca: &str,
        since_seq: Option<i64>,
        f: &mut dyn FnMut(&RevokedEntry<'_>) -> Result<()>,
    ) -> Result<()>;

    /// Calls `f(serial, revoked_at, reason)` for every certificate `ca` issued, streaming
    /// (for status snapshots: no certificate bodies are read).
    fn for_each_status(&self, ca: &str, f: &mut StatusVisitor<'_>) -> Result<()>;

    /// The highest revocation sequence number so far (0 if none): changes whenever any
    /// revocation does, so caches can tell when to refresh.
    fn revocation_seq(&self) -> Result<i64>;

    /// The newest full CRL of `ca`: (CRL number, revocation sequence it covered).
    fn last_full_crl(&self, ca: &str) -> Result<Option<(u64, i64)>> {
        self.last_full_crl_for(ca, None)
    }

    /// [`StatusReader::last_full_crl`] of the CRLs generation `generation` of `ca` signed (`None`:
    /// the generation in force): a delta CRL's base is signed by the same key.
    fn last_full_crl_for(&self, ca: &str, generation: Option<u32>) -> Result<Option<(u64, i64)>>;
}
