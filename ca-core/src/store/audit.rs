//! The tamper-evident audit log: each record carries the SHA-256 of its own content and of the
//! record before it, so a changed, removed, inserted or reordered record breaks the chain at a
//! place [`verify_chain`] names.

use serde::{Deserialize, Serialize};

/// The `prev_hash` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One audit record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Position in the log, from 1, without gaps.
    pub seq: i64,
    /// When, RFC 3339 UTC.
    pub time: String,
    /// Who acted (`operator@local`, or an officer's certificate identity).
    pub actor: String,
    /// What was done (`init`, `ca.create`, `cert.issue`, `cert.revoke`, `crl.sign`, …).
    pub action: String,
    /// What it was done to (a serial, a CA name, …).
    pub target: String,
    /// `ok`, or why it was refused.
    pub outcome: String,
    /// Details as a JSON object text.
    pub details: String,
    /// The previous record's hash ([`GENESIS`] for the first).
    pub prev_hash: String,
    /// SHA-256 over this record's fields and `prev_hash`, hex.
    pub hash: String,
}

impl AuditRecord {
    /// The hash this record should carry: SHA-256 of the JSON array of its fields (an
    /// unambiguous encoding) including `prev_hash`.
    pub fn compute_hash(&self) -> String {
        let canonical = serde_json::to_string(&(
            self.seq,
            &self.time,
            &self.actor,
            &self.action,
            &self.target,
            &self.outcome,
            &self.details,
            &self.prev_hash,
        ))
        .unwrap_or_default();
        hex::encode(ring::digest::digest(
            &ring::digest::SHA256,
            canonical.as_bytes(),
        ))
    }
}

/// A signed checkpoint of the audit log: the hash of record `seq` (then the newest), signed
/// with the audit key, which the store does not hold. A log cut short below `seq`, or rewritten
/// up to it (even with every hash recomputed), no longer matches it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditCheckpoint {
    /// The record whose hash is signed.
    pub seq: i64,
    /// That record's hash.
    pub head_hash: String,
    /// When it was signed, RFC 3339 UTC.
    pub time: String,
    /// Signature algorithm name (e.g. `ecdsa-with-SHA256`).
    pub algorithm: String,
    /// The signature over [`AuditCheckpoint::message`], hex.
    pub signature: String,
}

impl AuditCheckpoint {
    /// The signed bytes: a JSON array naming what it is, `seq`, `head_hash` and `time`.
    pub fn message(seq: i64, head_hash: &str, time: &str) -> Vec<u8> {
        serde_json::to_vec(&("lgpki audit checkpoint v1", seq, head_hash, time)).unwrap_or_default()
    }
}

/// Checks a whole log in order. Returns the first bad record's position (`seq` as read, or the
/// index for a missing one) and what is wrong with it.
pub fn verify_chain(records: &[AuditRecord]) -> Result<(), (i64, String)> {
    let mut chain = ChainVerifier::default();
    records.iter().try_for_each(|r| chain.push(r))
}

/// Checks a log record by record, as it is read (a log too long to hold in memory): the same
/// rules as [`verify_chain`].
#[derive(Clone, Debug)]
pub struct ChainVerifier {
    /// Records checked so far.
    count: i64,
    /// The hash the next record must name as its `prev_hash`.
    prev: String,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        ChainVerifier {
            count: 0,
            prev: GENESIS.to_string(),
        }
    }
}

impl ChainVerifier {
    /// Checks the next record; the first bad one's position and what is wrong with it.
    pub fn push(&mut self, r: &AuditRecord) -> Result<(), (i64, String)> {
        let expected_seq = self.count + 1;
        if r.seq != expected_seq {
            return Err((
                r.seq,
                format!(
                    "record {} is out of place: expected record {expected_seq} (removed or reordered)",
                    r.seq
                ),
            ));
        }
        if r.prev_hash != self.prev {
            return Err((
                r.seq,
                format!(
                    "record {} does not follow record {} (prev_hash mismatch)",
                    r.seq,
                    r.seq - 1
                ),
            ));
        }
        if r.compute_hash() != r.hash {
            return Err((
                r.seq,
                format!("record {} was altered (hash mismatch)", r.seq),
            ));
        }
        self.count = expected_seq;
        self.prev = r.hash.clone();
        Ok(())
    }

    /// The newest record checked: (seq, hash); (0, [`GENESIS`]) before any.
    pub fn head(&self) -> (i64, &str) {
        (self.count, &self.prev)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<AuditRecord> {
        let mut prev = GENESIS.to_string();
        (1..=n)
            .map(|seq| {
                let mut r = AuditRecord {
                    seq,
                    time: "2026-11-23T00:00:00Z".into(),
                    actor: "operator@local".into(),
                    action: "cert.issue".into(),
                    target: format!("{seq:02x}"),
                    outcome: "ok".into(),
                    details: "{}".into(),
                    prev_hash: prev.clone(),
                    hash: String::new(),
                };
                r.hash = r.compute_hash();
                prev = r.hash.clone();
                r
            })
            .collect()
    }

    #[test]
    fn detects_edit_removal_and_reordering() {
        let good = chain(5);
        assert!(verify_chain(&good).is_ok());
        let mut edited = good.clone();
        edited[2].target = "ff".into();
        assert_eq!(verify_chain(&edited).map_err(|e| e.0), Err(3));
        let mut removed = good.clone();
        removed.remove(1);
        assert_eq!(verify_chain(&removed).map_err(|e| e.0), Err(3));
        let mut swapped = good.clone();
        swapped.swap(3, 4);
        assert!(verify_chain(&swapped).is_err());
        // Re-hashing an edited record does not help: the next record's prev_hash breaks.
        let mut rehashed = good;
        rehashed[1].target = "evil".into();
        rehashed[1].hash = rehashed[1].compute_hash();
        assert_eq!(verify_chain(&rehashed).map_err(|e| e.0), Err(3));
    }
}
