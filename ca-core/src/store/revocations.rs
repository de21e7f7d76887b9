//! The revocation capability of the store: revoking, holds and CRL numbers.

use super::{CertRecord, RevocationRequest, RevokeOutcome, Serial, StatusReader};
use crate::error::Result;

/// Revocation and CRL bookkeeping: revoking, releasing holds, allocating CRL numbers. It
/// reads status too (a CRL is built from what it covers).
pub trait RevocationStore: StatusReader + Send {
    /// Revokes certificates in one durable transaction. Each request gets its own outcome; a
    /// certificate revoked before keeps its first time and reason (a `certificateHold` may be
    /// made permanent with another reason).
    fn revoke(
        &mut self,
        actor: &str,
        reqs: &[RevocationRequest],
    ) -> Result<Vec<Result<RevokeOutcome>>>;

    /// Releases a `certificateHold` (RFC 5280 §5.3.1): the certificate is good again, and the
    /// next delta CRL lists it with reason removeFromCRL (dated `time`). Refused unless the
    /// certificate is on hold. Advances the revocation sequence, so caches refresh.
    fn release_hold(
        &mut self,
        actor: &str,
        serial: &Serial,
        ca: Option<&str>,
        time: i64,
    ) -> Result<CertRecord>;

    /// Allocates the next CRL number of `ca` (monotonic, never reused, durable) and records the
    /// CRL: its revocation sequence coverage and, for a delta, its base.
    /// (The generation in force signs: [`RevocationStore::record_crl_for`] with `None`.)
    fn record_crl(
        &mut self,
        actor: &str,
        ca: &str,
        covers_seq: i64,
        delta_base: Option<u64>,
    ) -> Result<u64> {
        self.record_crl_for(actor, ca, None, covers_seq, delta_base)
    }

    /// [`RevocationStore::record_crl`] for the CRL signed by generation `generation` of `ca` (`None`:
    /// the generation in force). CRL numbers are one sequence per CA name, so they increase
    /// for each key too (RFC 5280 §5.2.3).
    fn record_crl_for(
        &mut self,
        actor: &str,
        ca: &str,
        generation: Option<u32>,
        covers_seq: i64,
        delta_base: Option<u64>,
    ) -> Result<u64>;
}
