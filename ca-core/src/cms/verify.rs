//! Verifying a CMS signature end to end: the SignerInfo's signature and attributes
//! ([`super::signer`]), a signature time-stamp token (RFC 3161 Appendix A) with its TSA's path,
//! the signer's certification path ([`crate::validate_path`], RFC 5280 §6, with policies), and
//! the revocation status of every certificate of the path judged at the signature's time.
//!
//! The time a signature is judged at is the time-stamp's genTime when a valid signature
//! time-stamp token is attached, else the signing-time attribute, else the verification time
//! (`now`). Revocation data is that current at `now`; a certificate revoked after the judged
//! time (revocationDate, or invalidityDate when earlier) does not invalidate the signature,
//! except that a revocation for key compromise does when no time-stamp proves the signature
//! existed before it: the signing-time attribute is then only the key holder's own claim
//! (ETSI EN 319 102-1 §5.6.2.1 uses time-stamps as proof of existence for this reason).

use const_oid::ObjectIdentifier;
use der::Decode;
use serde_json::{Value, json};
use x509_cert::Certificate;
use x509_cert::ext::pkix::{CrlDistributionPoints, ExtendedKeyUsage, KeyUsage};

use super::oids;
use super::parse::{self, SignedData};
use super::{signer, tsp};
use crate::crl::ReasonCode;
use crate::error::{Error, Result};
use crate::revocation::{CertRevocation, Methods, RevocationChecker, RevokedAt, Status};
use crate::verify::{ValidationOptions, validate_path};

/// Tolerated clock difference between signer, TSA and verifier, in seconds.
pub const CLOCK_SKEW: i64 = 300;

/// Inputs of [`verify`].
#[derive(Clone, Debug, Default)]
pub struct VerifyOptions {
    /// Trust anchors (DER certificates), for the signer and for TSAs.
    pub anchors: Vec<Vec<u8>>,
    /// Other certificates to build paths from.
    pub untrusted: Vec<Vec<u8>>,
    /// user-initial-policy-set; empty means anyPolicy.
    pub policies: Vec<ObjectIdentifier>,
    /// The verification time, seconds since the Unix epoch (revocation data must be current
    /// then; signature times must not be after it).
    pub now: i64,
    /// How to check revocation; nothing asked, nothing checked.
    pub methods: Methods,
}

/// A signature time-stamp that verified.
#[derive(Clone, Debug)]
pub struct TimestampReport {
    /// genTime.
    pub time: i64,
    /// Accuracy in microseconds, when the TSA gave one.
    pub accuracy_micros: Option<u64>,
    /// The TSA's policy.
    pub policy: String,
    /// The token's serial number (hex).
    pub serial: String,
    /// The TSA certificate's subject.
    pub tsa: String,
    /// The TSA's path, subjects, TSA first.
    pub path: Vec<String>,
}

impl TimestampReport {
    /// `{"time","accuracy_micros","policy","serial","tsa","path"}`.
    pub fn to_json(&self) -> Value {
        json!({
            "time": crate::rfc3339(self.time),
            "accuracy_micros": self.accuracy_micros,
            "policy": self.policy,
            "serial": self.serial,
            "tsa": self.tsa,
            "path": self.path,
        })
    }
}

/// The outcome of [`verify`].
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Whether the signature is valid.
    pub valid: bool,
    /// Why not, or `valid`.
    pub reason: String,
    /// The signer's subject.
    pub signer: Option<String>,
    /// The signer certificate's serial (hex).
    pub serial: Option<String>,
    /// The signer's certificate (DER).
    pub signer_cert: Option<Vec<u8>>,
    /// The path, subjects, signer first.
    pub path: Vec<String>,
    /// user-constrained-policy-set.
    pub policies: Vec<String>,
    /// The signing-time attribute.
    pub signing_time: Option<i64>,
    /// The signature time-stamp, when one verified.
    pub timestamp: Option<TimestampReport>,
    /// The time the signature was judged at.
    pub judged_at: i64,
    /// Where that time came from: `timestamp`, `signing-time` or `now`.
    pub time_source: &'static str,
    /// Each certificate's revocation status, with what it means at the judged time.
    pub revocation: Vec<Value>,
    /// eContentType.
    pub content_type: String,
    /// The signed content (encapsulated or the detached file).
    pub content: Vec<u8>,
}

impl Report {
    /// The JSON of `verify-signature --json`:
    /// `{"valid","reason","signer","serial","path","policies","signing_time","timestamp",...}`.
    pub fn to_json(&self) -> Value {
        json!({
            "valid": self.valid,
            "reason": self.reason,
            "signer": self.signer,
            "serial": self.serial,
            "path": self.path,
            "policies": self.policies,
            "signing_time": self.signing_time.map(crate::rfc3339),
            "timestamp": self.timestamp.as_ref().map(TimestampReport::to_json),
            "judged_at": crate::rfc3339(self.judged_at),
            "time_source": self.time_source,
            "content_type": self.content_type,
            "revocation": self.revocation,
        })
    }

    fn invalid(mut self, reason: impl Into<String>) -> Report {
        self.valid = false;
        self.reason = reason.into();
        self
    }
}

/// Verifies the CMS SignedData `cms` (DER), over its own content or `detached`. `Err` only
/// for input that is malformed or does not fit (no content); every other failure is a
/// [`Report`] with `valid: false` and a reason.
pub fn verify(
    cms: &[u8],
    detached: Option<&[u8]>,
    opts: &VerifyOptions,
    checker: &RevocationChecker,
) -> Result<Report> {
    let sd = parse::parse(cms)?;
    verify_parsed(&sd, detached, opts, checker)
}

/// [`verify`] on a parsed SignedData.
pub fn verify_parsed(
    sd: &SignedData,
    detached: Option<&[u8]>,
    opts: &VerifyOptions,
    checker: &RevocationChecker,
) -> Result<Report> {
    let content: Vec<u8> = match (&sd.content, detached) {
        (Some(c), None) => c.clone(),
        (None, Some(d)) => d.to_vec(),
        (None, None) => {
            return Err(Error::InvalidArgument {
                name: "--content",
                value: String::new(),
                reason: "the signature is detached: give the signed file with --content".into(),
            });
        }
        (Some(_), Some(_)) => {
            return Err(Error::InvalidArgument {
                name: "--content",
                value: String::new(),
                reason: "the signature carries its content; --content is for detached ones".into(),
            });
        }
    };
    let mut report = Report {
        judged_at: opts.now,
        time_source: "now",
        content_type: sd.content_type.to_string(),
        content,
        ..Report::default()
    };
    let mut pool: Vec<Vec<u8>> = sd.certificates.clone();
    pool.extend(opts.untrusted.iter().cloned());

    // Every SignerInfo must verify; the report describes the first.
    let mut first = None;
    for (i, si) in sd.signer_infos.iter().enumerate() {
        match signer::check(sd, si, &report.content, &pool) {
            Ok(ok) => {
                if first.is_none() {
                    first = Some((ok, si));
                }
            }
            Err(reason) => {
                let which = if sd.signer_infos.len() > 1 {
                    format!("signer {}: ", i + 1)
                } else {
                    String::new()
                };
                return Ok(report.invalid(format!("{which}{reason}")));
            }
        }
    }
    let Some((ok, si)) = first else {
        return Ok(report.invalid("no SignerInfo"));
    };
    let cert =
        Certificate::from_der(&ok.cert).map_err(|e| Error::malformed("signer certificate", e))?;
    let tbs = cert.tbs_certificate();
    report.signer = Some(crate::name_to_string(tbs.subject()));
    report.serial = Some(crate::serial_hex(tbs.serial_number().as_bytes()));
    report.signer_cert = Some(ok.cert.clone());
    report.signing_time = ok.signing_time;

    // RFC 5280 §4.2.1.3: a key that signs documents asserts digitalSignature or
    // nonRepudiation when keyUsage is present.
    if let Ok(Some((_, ku))) = tbs.get_extension::<KeyUsage>()
        && !ku.digital_signature()
        && !ku.non_repudiation()
    {
        return Ok(report
            .invalid("the signer's keyUsage allows neither digitalSignature nor nonRepudiation"));
    }

    // A signature time-stamp token over the signature value (RFC 3161 Appendix A).
    let tokens = si.unsigned(oids::SIGNATURE_TIME_STAMP_TOKEN);
    let mut ts_revoked_later = Vec::new();
    for token in &tokens {
        match timestamp(token, &si.signature, opts, checker) {
            Ok((t, notes)) => {
                ts_revoked_later.extend(notes);
                if report
                    .timestamp
                    .as_ref()
                    .is_none_or(|cur| t.time < cur.time)
                {
                    report.timestamp = Some(t);
                }
            }
            Err(reason) => return Ok(report.invalid(format!("signature time-stamp: {reason}"))),
        }
    }
    if let Some(t) = report.timestamp.as_ref().map(|t| t.time) {
        report.judged_at = t;
        report.time_source = "timestamp";
        if let Some(s) = report.signing_time
            && s > t + CLOCK_SKEW
        {
            return Ok(report.invalid(format!(
                "the signing-time {} is after the time-stamp {}",
                crate::rfc3339(s),
                crate::rfc3339(t)
            )));
        }
    } else if let Some(s) = report.signing_time {
        report.judged_at = s;
        report.time_source = "signing-time";
    }
    if report.judged_at > opts.now + CLOCK_SKEW {
        let why = format!(
            "the {} {} is in the future",
            report.time_source,
            crate::rfc3339(report.judged_at)
        );
        return Ok(report.invalid(why));
    }

    // The signer's path at the judged time.
    let mut vopts = ValidationOptions::at(u64::try_from(report.judged_at).unwrap_or(0));
    vopts.initial_policy_set = opts.policies.iter().map(crate::Oid::from).collect();
    let path = match validate_path(&ok.cert, &pool, &opts.anchors, &vopts) {
        Ok(p) => p,
        Err(e) => {
            let why = format!(
                "signer's certificate path at {} ({}): {e}",
                crate::rfc3339(report.judged_at),
                report.time_source
            );
            return Ok(report.invalid(why));
        }
    };
    report.path = path
        .chain
        .iter()
        .map(|c| crate::name_to_string(c.tbs_certificate().subject()))
        .collect();
    report.policies = path
        .user_constrained_policy_set
        .iter()
        .map(ToString::to_string)
        .collect();
    if !opts.policies.is_empty() && path.user_constrained_policy_set.is_empty() {
        return Ok(report.invalid("no acceptable policy on the signer's path"));
    }

    // Revocation, current at `now`, judged at the judged time.
    if opts.methods.any() {
        let list = checker.check(
            &path.chain,
            &pool,
            u64::try_from(opts.now).unwrap_or(0),
            &opts.methods,
            None,
        );
        let proven = report.timestamp.is_some();
        let mut failure = None;
        for r in &list {
            let (verdict, v) = judge(r, report.judged_at, report.time_source, proven, false);
            report.revocation.push(v);
            if let Err(why) = verdict {
                failure.get_or_insert(why);
            }
        }
        if let Some(why) = failure {
            return Ok(report.invalid(why));
        }
    }
    report.valid = true;
    let mut reason = "valid".to_string();
    if !opts.methods.any() {
        reason.push_str(" (revocation not checked)");
    }
    for note in ts_revoked_later {
        reason.push_str(&format!("; {note}"));
    }
    report.reason = reason;
    Ok(report)
}

/// What a revocation status means at `at`. `proven`: a time-stamp proves the signature existed
/// then. `lenient_no_pointer`: a certificate without any revocation pointer may be
/// undetermined (short-lived TSA certificates, like the VA's).
fn judge(
    r: &CertRevocation,
    at: i64,
    source: &str,
    proven: bool,
    lenient_no_pointer: bool,
) -> (std::result::Result<(), String>, Value) {
    let mut v = r.to_json();
    let verdict = match &r.status {
        Status::Good | Status::NotChecked => Ok(()),
        Status::Undetermined { detail } => {
            if lenient_no_pointer {
                v["note"] = "no revocation pointer; not checked".into();
                Ok(())
            } else {
                Err(format!(
                    "revocation status of {} undetermined: {detail}",
                    r.subject
                ))
            }
        }
        Status::Revoked { detail, at: None } => Err(format!(
            "{} is revoked ({detail}); the revocation time is unknown",
            r.subject
        )),
        Status::Revoked { at: Some(ra), .. } => {
            v["revoked_at"] = crate::rfc3339(ra.time).into();
            v["revocation_reason"] = ra.reason.map_or("unspecified", ReasonCode::name).into();
            if let Some(i) = ra.invalidity {
                v["invalidity_date"] = crate::rfc3339(i).into();
            }
            judge_revoked(&r.subject, ra, at, source, proven, &mut v)
        }
    };
    (verdict, v)
}

fn judge_revoked(
    subject: &str,
    ra: &RevokedAt,
    at: i64,
    source: &str,
    proven: bool,
    v: &mut Value,
) -> std::result::Result<(), String> {
    let reason = ra.reason.map_or("unspecified", ReasonCode::name);
    let when = crate::rfc3339(ra.effective());
    if ra.effective() <= at {
        return Err(format!(
            "{subject} was revoked at {when} ({reason}), not after the {source} {}",
            crate::rfc3339(at)
        ));
    }
    let compromise = matches!(
        ra.reason,
        Some(ReasonCode::KeyCompromise | ReasonCode::CaCompromise | ReasonCode::AaCompromise)
    );
    if compromise && !proven {
        return Err(format!(
            "{subject} was revoked at {when} ({reason}); the {source} {} is the signer's own \
             claim and no time-stamp proves the signature existed before the revocation",
            crate::rfc3339(at)
        ));
    }
    v["status_at_signature"] = "good".into();
    v["note"] = format!(
        "revoked at {when} ({reason}), after the {source} {}: good at that time",
        crate::rfc3339(at)
    )
    .into();
    Ok(())
}

/// Checks one signature time-stamp token over `signature`: the token itself, the TSA
/// certificate's EKU (RFC 3161 §2.3: only id-kp-timeStamping, critical), its path to the trust
/// anchors at genTime, and its revocation. Returns the report and notes on TSA certificates
/// revoked after genTime.
fn timestamp(
    token: &[u8],
    signature: &[u8],
    opts: &VerifyOptions,
    checker: &RevocationChecker,
) -> std::result::Result<(TimestampReport, Vec<String>), String> {
    let checked = tsp::check_token(token, signature, &opts.untrusted).map_err(|e| e.to_string())?;
    let cert = Certificate::from_der(&checked.tsa_cert).map_err(|e| e.to_string())?;
    check_tsa_eku(&cert)?;
    let gen_time = checked.info.gen_time;
    if gen_time > opts.now + CLOCK_SKEW {
        return Err(format!(
            "genTime {} is in the future",
            crate::rfc3339(gen_time)
        ));
    }
    let mut pool = checked.certificates.clone();
    pool.extend(opts.untrusted.iter().cloned());
    let vopts = ValidationOptions::at(u64::try_from(gen_time).unwrap_or(0));
    let path = validate_path(&checked.tsa_cert, &pool, &opts.anchors, &vopts)
        .map_err(|e| format!("TSA certificate path at {}: {e}", crate::rfc3339(gen_time)))?;
    let mut notes = Vec::new();
    if opts.methods.any() {
        let list = checker.check(
            &path.chain,
            &pool,
            u64::try_from(opts.now).unwrap_or(0),
            &opts.methods,
            None,
        );
        for r in &list {
            let c = path
                .chain
                .iter()
                .find(|c| crate::name_to_string(c.tbs_certificate().subject()) == r.subject);
            let lenient = c.is_some_and(|c| !has_revocation_pointer(c));
            let (verdict, v) = judge(r, gen_time, "time-stamp", true, lenient);
            verdict.map_err(|e| format!("TSA: {e}"))?;
            if let Some(n) = v.get("note").and_then(Value::as_str)
                && v.get("revoked_at").is_some()
            {
                notes.push(format!("TSA certificate {}: {n}", r.subject));
            }
        }
    }
    Ok((
        TimestampReport {
            time: gen_time,
            accuracy_micros: checked.info.accuracy_micros,
            policy: checked.info.policy.to_string(),
            serial: crate::serial_hex(&checked.info.serial),
            tsa: crate::name_to_string(cert.tbs_certificate().subject()),
            path: path
                .chain
                .iter()
                .map(|c| crate::name_to_string(c.tbs_certificate().subject()))
                .collect(),
        },
        notes,
    ))
}

/// RFC 3161 §2.3: the TSA certificate has one extendedKeyUsage, critical, with only
/// id-kp-timeStamping.
pub fn check_tsa_eku(cert: &Certificate) -> std::result::Result<(), String> {
    let tsa = const_oid::db::rfc5280::ID_KP_TIME_STAMPING;
    match cert.tbs_certificate().get_extension::<ExtendedKeyUsage>() {
        Ok(Some((true, eku))) if eku.0 == [tsa] => Ok(()),
        Ok(Some((false, _))) => {
            Err("the TSA certificate's extendedKeyUsage is not critical (RFC 3161 §2.3)".into())
        }
        Ok(Some(_)) => Err(
            "the TSA certificate's extendedKeyUsage is not id-kp-timeStamping alone (RFC 3161 §2.3)"
                .into(),
        ),
        _ => Err("the TSA certificate has no extendedKeyUsage id-kp-timeStamping (RFC 3161 §2.3)".into()),
    }
}

fn has_revocation_pointer(c: &Certificate) -> bool {
    matches!(
        c.tbs_certificate().get_extension::<CrlDistributionPoints>(),
        Ok(Some(_))
    ) || crate::revocation::ocsp_url(c).is_some()
}
