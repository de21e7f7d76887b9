//! Issuing end-entity certificates: check the CSR, apply the profile, lint the TBS, record it,
//! sign, record the certificate, and only then hand it back (the Boulder cycle, without the
//! throwaway-key step: the linter reads the exact TBS bytes that the CA key signs).
//!
//! Batches go through the same steps with one durable transaction per step for the whole chunk
//! (group commit), so the fsync cost is shared while every result is still durable before it is
//! reported.

use std::sync::Arc;

use time::Duration;

use crate::authority::{Authority, LoadedCa, now_seconds};
use crate::build::{self, TbsFields};
use crate::csr::parse_csr;
use crate::error::{Error, Result};
use crate::key::{CaSigner, PublicKeyInfo};
use crate::lint::{self, Expectation, IssuerFacts};
use crate::name::{AttrType, DistinguishedName};
use crate::profile::Profile;
use crate::san::{SanEntry, dns_under};
use crate::serial::{random_serial, serial_hex};
use crate::store::PendingCert;

/// How many requests share one durable transaction in a batch.
pub const BATCH_CHUNK: usize = 256;

/// A request to issue one certificate.
#[derive(Clone, Debug, Default)]
pub struct IssuanceRequest {
    /// Profile name.
    pub profile: String,
    /// The CSR, DER.
    pub csr_der: Vec<u8>,
    /// Issuing CA (None: the CA the hierarchy binds to the profile).
    pub ca: Option<String>,
    /// Subject DN overriding the CSR's (RFC 4514).
    pub subject: Option<String>,
    /// subjectAltNames (`dns:…` etc.) overriding the CSR's.
    pub sans: Vec<String>,
    /// Validity in days (None: the profile's default).
    pub days: Option<u32>,
    /// Idempotency key: a request with a key that was issued before returns that certificate.
    pub request_id: Option<String>,
}

/// An issued certificate.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Issued {
    /// Serial, lower-case hex.
    pub serial: String,
    /// Issuing CA.
    pub ca: String,
    /// Profile.
    pub profile: String,
    /// Subject, RFC 4514.
    pub subject: String,
    /// notBefore, RFC 3339.
    pub not_before: String,
    /// notAfter, RFC 3339.
    pub not_after: String,
    /// The certificate, PEM.
    pub pem: String,
    /// The certificate, DER.
    #[serde(skip)]
    pub der: Vec<u8>,
    /// True when an earlier issuance with the same request id was returned.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub replayed: bool,
}

struct Prepared {
    pending: PendingCert,
    signer: Arc<dyn CaSigner>,
    /// Already reserved by an earlier run that stopped before storing the certificate.
    reserved: bool,
}

/// RFC 3339 text of a Unix time.
pub fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

impl Authority {
    /// The CA that issues `profile` when no `--ca` is given.
    pub fn default_ca_for(&self, profile: &str) -> Result<String> {
        self.store
            .cas()?
            .into_iter()
            .find(|c| c.profiles.iter().any(|p| p == profile))
            .map(|c| c.name)
            .ok_or_else(|| Error::PolicyRefused {
                detail: format!("no CA is bound to profile {profile:?}; name one with --ca"),
            })
    }

    /// Issues one certificate.
    pub fn issue(&mut self, req: IssuanceRequest) -> Result<Issued> {
        let mut out = None;
        self.issue_batch(vec![req], |_, r| out = Some(r))?;
        out.unwrap_or_else(|| {
            Err(Error::PolicyRefused {
                detail: "nothing issued".into(),
            })
        })
    }

    /// Issues many certificates. `report(index, result)` is called in input order, each only
    /// after that certificate is durably stored. A failed request does not stop the others;
    /// `Err` is returned only when the store itself fails (results not yet reported are lost
    /// to the caller, but nothing reported is).
    pub fn issue_batch(
        &mut self,
        reqs: Vec<IssuanceRequest>,
        mut report: impl FnMut(usize, Result<Issued>),
    ) -> Result<()> {
        let mut index = 0;
        let mut reqs = reqs.into_iter().peekable();
        while reqs.peek().is_some() {
            let chunk: Vec<IssuanceRequest> = reqs.by_ref().take(BATCH_CHUNK).collect();
            let n = chunk.len();
            let results = self.issue_chunk(chunk)?;
            for (i, r) in results.into_iter().enumerate() {
                report(index + i, r);
            }
            index += n;
        }
        Ok(())
    }

    fn issue_chunk(&mut self, chunk: Vec<IssuanceRequest>) -> Result<Vec<Result<Issued>>> {
        // 1. Check and lint every request; failures are final for their line.
        let mut results: Vec<Option<Result<Issued>>> = Vec::with_capacity(chunk.len());
        let mut prepared: Vec<(usize, Prepared)> = Vec::new();
        for (i, req) in chunk.into_iter().enumerate() {
            if let Some(id) = &req.request_id {
                if let Some(rec) = self.store.cert_by_request_id(id)? {
                    results.push(Some(Ok(issued_from(
                        rec.serial,
                        rec.ca,
                        rec.profile,
                        rec.subject,
                        rec.not_before,
                        rec.not_after,
                        rec.der,
                        true,
                    ))));
                    continue;
                }
                // Reserved under this id but never stored: the process that reserved it was
                // stopped before step 4, and nothing was reported. Finish that issuance by
                // signing the recorded (linted) TBS, so the id still gets exactly one
                // certificate instead of being refused as used forever.
                if let Some(pending) = self.store.pending_by_request_id(id)? {
                    if prepared
                        .iter()
                        .any(|(_, p)| p.pending.request_id.as_ref() == Some(id))
                    {
                        // The same id twice in one chunk: finish it once, refuse the other.
                        results.push(Some(Err(Error::PolicyRefused {
                            detail: format!("request id {id:?} was used before"),
                        })));
                        continue;
                    }
                    match self.load_ca(&pending.ca) {
                        Ok(ca) => {
                            prepared.push((
                                i,
                                Prepared {
                                    pending,
                                    signer: ca.signer.clone(),
                                    reserved: true,
                                },
                            ));
                            results.push(None);
                        }
                        Err(e) => results.push(Some(Err(e))),
                    }
                    continue;
                }
            }
            match self.prepare(&req) {
                Ok(p) => {
                    prepared.push((i, p));
                    results.push(None);
                }
                Err(e) => results.push(Some(Err(e))),
            }
        }
        // 2. Record the intent (serials and TBS) durably. A serial collision is astronomically
        //    unlikely; if one happens, retry that request alone with a fresh serial.
        let pendings: Vec<PendingCert> = prepared
            .iter()
            .filter(|(_, p)| !p.reserved)
            .map(|(_, p)| p.pending.clone())
            .collect();
        if let Err(e) = self.store.reserve(&pendings) {
            if !matches!(
                e,
                Error::SerialCollision { .. } | Error::PolicyRefused { .. }
            ) {
                return Err(e);
            }
            let mut kept = Vec::new();
            for (i, mut p) in prepared {
                if p.reserved {
                    kept.push((i, p));
                    continue;
                }
                let mut outcome = self.store.reserve(std::slice::from_ref(&p.pending));
                if matches!(outcome, Err(Error::SerialCollision { .. })) {
                    match self.reserialize(&mut p) {
                        Ok(()) => outcome = self.store.reserve(std::slice::from_ref(&p.pending)),
                        Err(e) => outcome = Err(e),
                    }
                }
                match outcome {
                    Ok(()) => kept.push((i, p)),
                    Err(e @ (Error::SerialCollision { .. } | Error::PolicyRefused { .. })) => {
                        results[i] = Some(Err(e))
                    }
                    Err(e) => return Err(e),
                }
            }
            prepared = kept;
        }
        // 3. Sign. 4. Record the certificates durably. 5. Report.
        let mut signed: Vec<(usize, Vec<u8>, PendingCert)> = Vec::with_capacity(prepared.len());
        for (i, p) in prepared {
            let alg = p.signer.algorithm();
            let der = p.signer.sign(&p.pending.tbs_der).and_then(|sig| {
                build::assemble(&p.pending.tbs_der, alg.algorithm_identifier(), &sig)
            });
            match der {
                Ok(der) => signed.push((i, der, p.pending)),
                Err(e) => results[i] = Some(Err(e)),
            }
        }
        let rows: Vec<(String, Vec<u8>)> = signed
            .iter()
            .map(|(_, der, pc)| (pc.serial.clone(), der.clone()))
            .collect();
        self.store.complete(&rows)?;
        for (i, der, pc) in signed {
            results[i] = Some(Ok(issued_from(
                pc.serial,
                pc.ca,
                pc.profile,
                pc.subject,
                pc.not_before,
                pc.not_after,
                der,
                false,
            )));
        }
        Ok(results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(Error::PolicyRefused {
                        detail: "not issued".into(),
                    })
                })
            })
            .collect())
    }

    fn reserialize(&mut self, p: &mut Prepared) -> Result<()> {
        // The serial sits at a fixed place in the TBS; rebuilding is simpler than patching.
        let serial = random_serial()?;
        let old = hex::decode(&p.pending.serial).map_err(|e| Error::malformed("serial", e))?;
        if old.len() != serial.len() {
            return Err(Error::SerialCollision {
                serial: p.pending.serial.clone(),
            });
        }
        let pos = p
            .pending
            .tbs_der
            .windows(old.len())
            .position(|w| w == old.as_slice())
            .ok_or_else(|| Error::SerialCollision {
                serial: p.pending.serial.clone(),
            })?;
        p.pending.tbs_der[pos..pos + old.len()].copy_from_slice(&serial);
        p.pending.serial = serial_hex(&serial);
        Ok(())
    }

    fn prepare(&mut self, req: &IssuanceRequest) -> Result<Prepared> {
        let profile = self.policies.profile(&req.profile)?.clone();
        if profile.ca {
            return Err(Error::PolicyRefused {
                detail: format!(
                    "profile {:?} makes CA certificates: use `lgpki ca create`",
                    profile.name
                ),
            });
        }
        let ca_name = match &req.ca {
            Some(c) => c.clone(),
            None => self.default_ca_for(&profile.name)?,
        };
        let ca = self.load_ca(&ca_name)?;
        if !profile.any_ca && !ca.record.profiles.contains(&profile.name) {
            return Err(Error::PolicyRefused {
                detail: format!("CA {ca_name:?} does not issue profile {:?}", profile.name),
            });
        }
        let parsed = parse_csr(&req.csr_der)?;
        let key = PublicKeyInfo::of(&parsed.request.public_key)?;
        check_key(&profile, &key)?;
        let csr = parsed.verify_signature()?;
        let requested = match &req.subject {
            Some(s) => DistinguishedName::parse(s)?,
            None => csr.subject.clone(),
        };
        let sans = if req.sans.is_empty() {
            csr.requested_sans.clone()
        } else {
            req.sans
                .iter()
                .map(|s| SanEntry::parse(s))
                .collect::<Result<Vec<_>>>()?
        };
        let subject = apply_subject_rules(&profile, requested)?;
        check_sans(&profile, &subject, &sans)?;
        let days = req.days.unwrap_or(profile.validity_days);
        if days == 0 || days > profile.max_validity_days {
            return Err(Error::PolicyRefused {
                detail: format!(
                    "--days {days}: profile {:?} allows 1..={}",
                    profile.name, profile.max_validity_days
                ),
            });
        }
        let now = now_seconds();
        let not_after = (now + Duration::days(i64::from(days))).min(ca.not_after);
        let exts =
            self.leaf_extensions(&profile, &ca, &key, &csr.public_key_der, &subject, &sans)?;
        let subject_der = subject.to_der()?;
        let serial = random_serial()?;
        let alg = ca.signer.algorithm();
        let tbs = build::encode_tbs(&TbsFields {
            serial: &serial,
            signature: alg.algorithm_identifier(),
            issuer: &ca.subject_der,
            not_before: now,
            not_after,
            subject: &subject_der,
            spki: &csr.public_key_der,
            extensions: &exts,
        })?;
        lint::lint_tbs(
            &tbs,
            &IssuerFacts {
                subject_der: &ca.subject_der,
                ski: &ca.ski,
                validity: Some((ca.not_before, ca.not_after)),
                signature_algorithm: alg,
            },
            &Expectation {
                ca: false,
                min_rsa_bits: profile.min_rsa_bits,
            },
        )?;
        Ok(Prepared {
            pending: PendingCert {
                serial: serial_hex(&serial),
                ca: ca_name,
                profile: profile.name.clone(),
                subject: subject.to_string(),
                not_before: now.unix_timestamp(),
                not_after: not_after.unix_timestamp(),
                tbs_der: tbs,
                request_id: req.request_id.clone(),
            },
            signer: ca.signer.clone(),
            reserved: false,
        })
    }

    fn leaf_extensions(
        &self,
        profile: &Profile,
        ca: &LoadedCa,
        key: &PublicKeyInfo,
        spki_der: &[u8],
        subject: &DistinguishedName,
        sans: &[SanEntry],
    ) -> Result<Vec<x509_cert::ext::Extension>> {
        let base = self.base_url()?;
        let mut exts = vec![build::key_usage(profile.key_usage(key.is_rsa))?];
        if !profile.extended_key_usage.is_empty() {
            exts.push(build::extended_key_usage(&profile.extended_key_usage)?);
        }
        exts.push(build::subject_key_identifier(&build::key_identifier(
            spki_der,
        )?)?);
        exts.push(build::authority_key_identifier(&ca.ski)?);
        exts.push(build::certificate_policies(&[profile.policy()?])?);
        if profile.revocation_pointers {
            exts.push(build::crl_distribution_point(&format!(
                "{base}/crl/{}.crl",
                ca.record.name
            ))?);
            exts.push(build::authority_info_access(
                Some(&format!("{base}/ocsp")),
                &format!("{base}/ca/{}.crt", ca.record.name),
            )?);
        } else {
            exts.push(build::authority_info_access(
                None,
                &format!("{base}/ca/{}.crt", ca.record.name),
            )?);
        }
        if profile.ocsp_no_check {
            exts.push(build::ocsp_no_check()?);
        }
        if !sans.is_empty() {
            exts.push(build::subject_alt_name(sans, subject.is_empty())?);
        }
        Ok(exts)
    }
}

#[allow(clippy::too_many_arguments)]
fn issued_from(
    serial: String,
    ca: String,
    profile: String,
    subject: String,
    nb: i64,
    na: i64,
    der: Vec<u8>,
    replayed: bool,
) -> Issued {
    Issued {
        pem: crate::input::to_pem("CERTIFICATE", &der),
        serial,
        ca,
        profile,
        subject,
        not_before: rfc3339(nb),
        not_after: rfc3339(na),
        der,
        replayed,
    }
}

fn check_key(profile: &Profile, key: &PublicKeyInfo) -> Result<()> {
    let refuse = |detail: String| Error::KeyRefused {
        profile: profile.name.clone(),
        detail,
    };
    if key.is_rsa && key.bits < profile.min_rsa_bits {
        return Err(refuse(format!(
            "RSA-{} is weaker than the minimum RSA-{}",
            key.bits, profile.min_rsa_bits
        )));
    }
    match key.algorithm {
        Some(a) if profile.key_algorithms.contains(&a) => Ok(()),
        Some(a) => Err(refuse(format!("{a} keys are not allowed"))),
        None if key.is_rsa => Err(refuse(format!(
            "RSA-{} is not an allowed size (2048, 3072, 4096)",
            key.bits
        ))),
        None => Err(refuse(format!(
            "curve {} is not allowed (P-256, P-384)",
            key.curve.map(|c| c.to_string()).unwrap_or_default()
        ))),
    }
}

/// Applies a profile's subject rules: fixed attributes set (a different requested value is
/// refused), required ones present, nothing outside the allowed set, lengths within RFC 5280
/// Appendix A bounds. The result is in canonical order.
pub fn apply_subject_rules(
    profile: &Profile,
    mut dn: DistinguishedName,
) -> Result<DistinguishedName> {
    let refuse = |detail: String| Error::SubjectRefused {
        profile: profile.name.clone(),
        detail,
    };
    for (attr, value) in &profile.subject.fixed {
        let ty = AttrType::from_short(attr)
            .ok_or_else(|| refuse(format!("unknown attribute {attr}")))?;
        match dn.get(ty) {
            Some(v) if v != value => {
                return Err(refuse(format!(
                    "{} must be {value:?}, not {v:?}",
                    ty.short()
                )));
            }
            _ => dn.set(ty, value),
        }
    }
    for attr in &profile.subject.required {
        let ty = AttrType::from_short(attr)
            .ok_or_else(|| refuse(format!("unknown attribute {attr}")))?;
        if dn.get(ty).is_none_or(|v| v.trim().is_empty()) {
            return Err(refuse(format!("{} is required", ty.short())));
        }
    }
    for (ty, value) in dn.attrs() {
        if !profile
            .subject
            .allowed
            .iter()
            .any(|a| AttrType::from_short(a) == Some(ty))
        {
            return Err(refuse(format!("{} is not allowed", ty.short())));
        }
        let n = value.chars().count();
        if n > ty.max_len() {
            return Err(refuse(format!(
                "{} has {n} characters; at most {}",
                ty.short(),
                ty.max_len()
            )));
        }
        if value.chars().any(|c| c.is_control()) {
            return Err(refuse(format!(
                "{} contains control characters",
                ty.short()
            )));
        }
    }
    dn.canonicalize();
    Ok(dn)
}

fn check_sans(profile: &Profile, subject: &DistinguishedName, sans: &[SanEntry]) -> Result<()> {
    let refuse = |detail: String| Error::SanRefused {
        profile: profile.name.clone(),
        detail,
    };
    for s in sans {
        if !profile.san.allowed.contains(&s.kind()) {
            return Err(refuse(format!(
                "{s}: {} names are not allowed",
                s.kind().prefix()
            )));
        }
        if let SanEntry::Dns(d) = s
            && !profile.san.dns_suffixes.is_empty()
            && !profile.san.dns_suffixes.iter().any(|suf| dns_under(d, suf))
        {
            return Err(refuse(format!(
                "{s}: must be under {}",
                profile.san.dns_suffixes.join(" or ")
            )));
        }
    }
    for (i, s) in sans.iter().enumerate() {
        if sans[..i].contains(s) {
            return Err(refuse(format!("{s} appears twice")));
        }
    }
    for req in &profile.san.required {
        if !sans.iter().any(|s| s.kind() == *req) {
            return Err(refuse(format!(
                "a {} subjectAltName is required",
                req.prefix()
            )));
        }
    }
    if profile.subject.cn_in_san
        && let Some(cn) = subject.get(AttrType::Cn)
    {
        let cn_l = cn.to_ascii_lowercase();
        if !sans
            .iter()
            .any(|s| matches!(s, SanEntry::Dns(d) if *d == cn_l))
        {
            return Err(refuse(format!("CN {cn:?} must also be a dNSName")));
        }
    }
    if subject.is_empty() && sans.is_empty() {
        return Err(refuse(
            "a certificate needs a subject or a subjectAltName".into(),
        ));
    }
    Ok(())
}
