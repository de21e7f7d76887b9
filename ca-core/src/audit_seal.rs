//! Anchoring the audit chain: checkpoints of its newest hash signed with the audit key, a key
//! the store does not hold (`keys/audit.p8`, encrypted like the CA keys, or an object on the
//! CA's PKCS#11 token). The newest checkpoint is also kept in `HOME/audit-checkpoint.json`, so
//! that deleting checkpoints from the store does not hide a truncation either.
//!
//! Whoever can write the store can recompute every hash of the chain; only the audit key can
//! sign a checkpoint. A log cut short below a checkpoint, or rewritten up to it, fails
//! [`Authority::verify_audit`].

use std::path::PathBuf;
use std::sync::Arc;

use crate::authority::Authority;
use crate::error::{Error, Result};
use crate::key::{CaSigner, KeyAlgorithm, KeyRef};
use crate::store::{AuditCheckpoint, AuditRecord, verify_chain};

/// Metadata key naming where the audit key is.
pub const AUDIT_KEY_META: &str = "audit_key";
/// The key label (software: `keys/audit.p8`; PKCS#11: `object=audit`).
pub const AUDIT_KEY_LABEL: &str = "audit";
/// The newest checkpoint, beside the store (mode 0600).
pub const CHECKPOINT_FILE: &str = "audit-checkpoint.json";

/// What [`Authority::verify_audit`] found in an intact log.
#[derive(Clone, Debug, serde::Serialize)]
pub struct AuditReport {
    /// Records in the log.
    pub records: usize,
    /// The newest signed checkpoint (the record whose hash it signs), if any.
    pub checkpoint: Option<i64>,
    /// Checkpoints checked (signature and hash).
    pub checkpoints: usize,
    /// Records after the newest checkpoint (not yet anchored).
    pub unanchored: usize,
}

/// Why a log does not verify: the first bad record's position and what is wrong.
pub type AuditBreak = (i64, String);

impl Authority {
    fn checkpoint_file(&self) -> PathBuf {
        self.home().join(CHECKPOINT_FILE)
    }

    /// The newest checkpoint in `HOME/audit-checkpoint.json`, if any.
    fn file_checkpoint(&self) -> Result<Option<AuditCheckpoint>> {
        let path = self.checkpoint_file();
        match std::fs::read(&path) {
            Ok(data) => serde_json::from_slice(&data)
                .map(Some)
                .map_err(|e| Error::malformed(path.display().to_string(), e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(Error::Io { path, source }),
        }
    }

    /// Creates the audit key: on the PKCS#11 token named by `key_uri` (or the root CA's token
    /// when `None` and the root's key is on one), else as an encrypted software key.
    pub(crate) fn create_audit_key(
        &mut self,
        alg: KeyAlgorithm,
        key_uri: Option<&str>,
    ) -> Result<KeyRef> {
        let root_uri = self
            .cas()?
            .into_iter()
            .find(|c| c.parent.is_none())
            .map(|c| c.key_ref)
            .filter(|k| k.starts_with("pkcs11:"));
        let uri = key_uri.map(str::to_string).or(root_uri);
        let key = self
            .keys
            .generator(uri.as_deref())?
            .generate(alg, AUDIT_KEY_LABEL)?;
        self.store.set_meta(AUDIT_KEY_META, &key.0)?;
        self.store.audit(
            &self.actor,
            "audit.key.create",
            AUDIT_KEY_LABEL,
            "ok",
            &serde_json::json!({"key": key.location(), "key_alg": alg.name()}),
        )?;
        Ok(key)
    }

    /// The audit key, ready to sign (created first when `create` and the home has none: homes
    /// made before audit checkpoints existed).
    fn audit_signer(&mut self, create: bool) -> Result<Option<Arc<dyn CaSigner>>> {
        let key = match self.store.meta(AUDIT_KEY_META)? {
            Some(k) => KeyRef(k),
            None if create => {
                let alg = self
                    .cas()?
                    .into_iter()
                    .find(|c| c.parent.is_none())
                    .map_or(KeyAlgorithm::EcdsaP256, |c| c.key_alg);
                self.create_audit_key(alg, None)?
            }
            None => return Ok(None),
        };
        // A software audit key is always the home's keys/audit.p8: the store cannot point the
        // check at a key file of the writer's choosing.
        if key.0.starts_with("soft:") && key.0 != format!("soft:keys/{AUDIT_KEY_LABEL}.p8") {
            return Err(Error::key(
                &key.0,
                "the audit key reference was changed in the store",
            ));
        }
        Ok(Some(self.keys.backend_for(&key)?.load(&key)?))
    }

    /// Signs a checkpoint of the audit log's newest record if it moved since the newest
    /// checkpoint. Before signing, the records since that checkpoint must extend it (a log
    /// rewritten meanwhile is never sealed). Returns the new checkpoint, if one was made.
    pub fn seal_audit(&mut self) -> Result<Option<AuditCheckpoint>> {
        let Some((head, _)) = self.store.audit_head()? else {
            return Ok(None);
        };
        let newest = self.newest_checkpoint()?;
        if newest.as_ref().is_some_and(|c| c.seq >= head) {
            return Ok(None);
        }
        if let Some(cp) = &newest {
            let since = self.store.audit_records_from(cp.seq)?;
            check_extends(cp, &since).map_err(|(seq, why)| Error::PolicyRefused {
                detail: format!(
                    "the audit log does not extend its checkpoint at record {}: record {seq}: {why}",
                    cp.seq
                ),
            })?;
        }
        let Some(signer) = self.audit_signer(true)? else {
            return Ok(None);
        };
        let file = self.checkpoint_file();
        let on_file = self.file_checkpoint()?.map_or(0, |c| c.seq);
        let clock = self.clock.clone();
        self.store.seal_audit(&mut |seq, hash| {
            let time = crate::issue::rfc3339(clock.unix());
            let sig = signer.sign(&AuditCheckpoint::message(seq, hash, &time))?;
            let cp = AuditCheckpoint {
                seq,
                head_hash: hash.to_string(),
                time,
                algorithm: signer.algorithm().name().to_string(),
                signature: hex::encode(sig),
            };
            if seq > on_file {
                write_private_atomic(&file, &serde_json::to_vec(&cp).unwrap_or_default())?;
            }
            Ok(cp)
        })
    }

    /// The newest checkpoint, from the store or the home's file.
    fn newest_checkpoint(&self) -> Result<Option<AuditCheckpoint>> {
        let in_store = self.store.audit_checkpoints()?.pop();
        let on_file = self.file_checkpoint()?;
        Ok(match (in_store, on_file) {
            (Some(a), Some(b)) => Some(if b.seq > a.seq { b } else { a }),
            (a, b) => a.or(b),
        })
    }

    /// Checks the store's audit log: the hash chain end to end, then every signed checkpoint
    /// (the store's and the home's newest) against the audit key and against the record it
    /// names. A log cut short below a checkpoint, or rewritten up to one, is named.
    pub fn verify_audit(&mut self) -> Result<std::result::Result<AuditReport, AuditBreak>> {
        let records = self.store.audit_records()?;
        if let Err(e) = verify_chain(&records) {
            return Ok(Err(e));
        }
        let mut checkpoints = self.store.audit_checkpoints()?;
        if let Some(f) = self.file_checkpoint()?
            && !checkpoints.contains(&f)
        {
            checkpoints.push(f);
        }
        checkpoints.sort_by_key(|c| c.seq);
        let signer = self.audit_signer(false)?;
        let Some(signer) = signer else {
            if let Some(c) = checkpoints.last() {
                return Ok(Err((
                    c.seq,
                    format!(
                        "checkpoint of record {} exists but the store names no audit key (its \
                         reference was removed)",
                        c.seq
                    ),
                )));
            }
            return Ok(Ok(AuditReport {
                records: records.len(),
                checkpoint: None,
                checkpoints: 0,
                unanchored: records.len(),
            }));
        };
        let spki = crate::key::parse_spki(signer.public_key_der())?;
        let alg = signer.algorithm();
        for c in &checkpoints {
            let sig = hex::decode(&c.signature).unwrap_or_default();
            let good = c.algorithm == alg.name()
                && crate::sigverify::verify_signature(
                    &spki,
                    &alg.algorithm_identifier(),
                    &AuditCheckpoint::message(c.seq, &c.head_hash, &c.time),
                    &sig,
                )
                .is_ok();
            if !good {
                return Ok(Err((
                    c.seq,
                    format!(
                        "the checkpoint of record {} is not signed by the audit key",
                        c.seq
                    ),
                )));
            }
            match records.get((c.seq - 1).max(0) as usize) {
                None => {
                    return Ok(Err((
                        c.seq,
                        format!(
                            "the log was truncated: it ends at record {} but record {} was \
                             signed at {}",
                            records.len(),
                            c.seq,
                            c.time
                        ),
                    )));
                }
                Some(r) if r.seq != c.seq || r.hash != c.head_hash => {
                    return Ok(Err((
                        c.seq,
                        format!(
                            "the log was rewritten: record {} is not the one signed at {} \
                             (hashes recomputed after the fact)",
                            c.seq, c.time
                        ),
                    )));
                }
                Some(_) => {}
            }
        }
        let newest = checkpoints.last().map(|c| c.seq);
        Ok(Ok(AuditReport {
            records: records.len(),
            checkpoint: newest,
            checkpoints: checkpoints.len(),
            unanchored: records.len() - newest.unwrap_or(0).max(0) as usize,
        }))
    }
}

/// Whether `since` (records from `cp.seq` on) starts with the checkpointed record and is a
/// well-linked chain after it.
fn check_extends(
    cp: &AuditCheckpoint,
    since: &[AuditRecord],
) -> std::result::Result<(), AuditBreak> {
    let first = since
        .first()
        .filter(|r| r.seq == cp.seq && r.hash == cp.head_hash)
        .ok_or_else(|| (cp.seq, "it is not the record that was signed".to_string()))?;
    let mut prev = first.hash.clone();
    for (i, r) in since.iter().enumerate().skip(1) {
        if r.seq != cp.seq + i as i64 || r.prev_hash != prev || r.compute_hash() != r.hash {
            return Err((r.seq, "altered, removed or out of place".into()));
        }
        prev = r.hash.clone();
    }
    Ok(())
}

/// Writes `data` to `path` (mode 0600) through a temporary file and a rename.
fn write_private_atomic(path: &std::path::Path, data: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    crate::fsutil::write_private_file(&tmp, data, true)?;
    std::fs::rename(&tmp, path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}
