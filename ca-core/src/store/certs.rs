//! The issuance capability of the store: serial reservations and issued certificates.

use super::{CertFilter, CertRecord, PendingCert, Serial};
use crate::error::Result;

/// Issuance: reserving serials (with the TBS about to be signed), storing the signed
/// certificates, and reading them back.
pub trait CertStore: Send {
    /// Records certificates about to be signed, in one durable transaction. Fails with
    /// [`Error::SerialCollision`] (and records nothing) if any serial was ever used before.
    fn reserve(&mut self, pending: &[PendingCert]) -> Result<()>;

    /// Stores signed certificates for reserved serials, in one durable transaction.
    fn complete(&mut self, actor: &str, issued: &[(Serial, Vec<u8>)]) -> Result<()>;

    /// Issued certificates matching `filter`, ordered by issuance.
    fn certs(&self, filter: &CertFilter) -> Result<Vec<CertRecord>>;

    /// The issued certificate with `serial`, optionally of one CA.
    fn cert(&self, serial: &Serial, ca: Option<&str>) -> Result<Option<CertRecord>>;

    /// The serial already issued for idempotency key `request_id`, if any.
    fn cert_by_request_id(&self, request_id: &str) -> Result<Option<CertRecord>>;

    /// A reservation for idempotency key `request_id` that was never completed (its process
    /// stopped between [`CertStore::reserve`] and [`CertStore::complete`]), if any.
    fn pending_by_request_id(&self, request_id: &str) -> Result<Option<PendingCert>>;
}
