//! The audit-log capability of the store: records, the chain's head, and checkpoints.

use super::{AuditCheckpoint, AuditRecord};
use crate::error::Result;

/// The audit log: appending records for acts that change nothing else, reading the hash
/// chain, and sealing it with signed checkpoints.
pub trait AuditLog: Send {
    /// Appends an audit record for an act that changes nothing else in the store.
    fn audit(
        &mut self,
        actor: &str,
        action: &str,
        target: &str,
        outcome: &str,
        details: &serde_json::Value,
    ) -> Result<()>;

    /// The whole audit log, in order.
    fn audit_records(&self) -> Result<Vec<AuditRecord>>;

    /// The newest audit record's (seq, hash), if any.
    fn audit_head(&self) -> Result<Option<(i64, String)>>;

    /// Audit records from `seq` on, in order.
    fn audit_records_from(&self, seq: i64) -> Result<Vec<AuditRecord>>;

    /// Seals the audit log: inside one write transaction (no other writer extends the chain
    /// meanwhile) calls `seal` with the newest record's (seq, hash) and records the checkpoint
    /// it returns. `None` when the log is empty.
    fn seal_audit(
        &mut self,
        seal: &mut dyn FnMut(i64, &str) -> Result<AuditCheckpoint>,
    ) -> Result<Option<AuditCheckpoint>>;

    /// The signed audit checkpoints, oldest first.
    fn audit_checkpoints(&self) -> Result<Vec<AuditCheckpoint>>;
}
