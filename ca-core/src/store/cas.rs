//! The CA capability of the store: CAs, key generations, renewals and cross-certificates.

use super::{CaGeneration, CaRecord, CaRenewal, CrossPair, CrossPairSide, PendingCert, PendingKey};
use crate::error::Result;

/// The CAs themselves: their records, key generations and renewals (with the keys being
/// generated for them), cross-certificate pairs and certificates other domains issued to them.
pub trait CaStore: Send {
    /// Records a CA together with its own certificate (issued by `cert.ca`), atomically.
    fn insert_ca(
        &mut self,
        actor: &str,
        ca: &CaRecord,
        cert: &PendingCert,
        cert_der: &[u8],
    ) -> Result<()>;

    /// All CAs, in creation order.
    fn cas(&self) -> Result<Vec<CaRecord>>;

    /// The CA named `name`.
    fn ca(&self, name: &str) -> Result<Option<CaRecord>>;

    /// The CA's retired key generations, oldest first (the one in force is in [`CaRecord`]).
    fn ca_generations(&self, ca: &str) -> Result<Vec<CaGeneration>>;

    /// The latest notAfter of the certificates that generation `generation` of `ca` signed
    /// (`None`: it signed none). Certificates recorded before generations existed count as
    /// generation 1.
    fn generation_last_expiry(&self, ca: &str, generation: u32) -> Result<Option<i64>>;

    /// Records, durably, that a key for a renewal of `key.ca` is about to be generated.
    fn record_pending_key(&mut self, key: &PendingKey) -> Result<()>;

    /// The keys renewals of `ca` were generating and did not switch to (stopped, failed, or
    /// still running), oldest first.
    fn pending_keys(&self, ca: &str) -> Result<Vec<PendingKey>>;

    /// Claims the pending key `label` of `ca` for removal: from now on no renewal switches
    /// to it. False when there is no such record.
    fn claim_pending_key(&mut self, ca: &str, label: &str) -> Result<bool>;

    /// Forgets the pending key `label` of `ca` (its key was removed).
    fn clear_pending_key(&mut self, ca: &str, label: &str) -> Result<()>;

    /// Switches a CA to its next key generation in one transaction: the generation in force
    /// is retired, the new record, CA certificate and link certificates are stored, the pending
    /// key is forgotten, and an audit record is appended. Refused (nothing changed) unless
    /// `renewal.ca.generation` is one above the generation in force and the pending key is
    /// still recorded and unclaimed.
    fn renew_ca(&mut self, actor: &str, renewal: &CaRenewal) -> Result<()>;

    /// Records a certificate another domain issued to our CA `ours` under `name`.
    fn import_cert(
        &mut self,
        actor: &str,
        name: &str,
        ours: &str,
        issuer: &str,
        der: &[u8],
    ) -> Result<()>;

    /// Imported certificates: (name, DER).
    fn imported_certs(&self) -> Result<Vec<(String, Vec<u8>)>>;

    /// Records cross-certificates as halves of our CAs' cross-certificate pairs, in one
    /// transaction with an audit record each. A side fills the empty half of the oldest pair of
    /// the same CA key and peer (name and key), else starts a new pair; a certificate already in
    /// that CA's pairs is skipped. Returns how many were recorded.
    fn record_cross_sides(&mut self, actor: &str, sides: &[CrossPairSide]) -> Result<usize>;

    /// The cross-certificate pairs of CA `ca` (all CAs' with `None`), oldest first.
    fn cross_pairs(&self, ca: Option<&str>) -> Result<Vec<CrossPair>>;
}
