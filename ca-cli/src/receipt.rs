//! `lgpki receipt create` and `lgpki receipt verify`: sanitisation receipts (無害化証明), see
//! ca-core `cms::receipt` for the signed structure.

use std::process::ExitCode;
use std::sync::Arc;

use ca_core::cms::{self, Digest, Receipt};
use ca_core::revocation::RevocationChecker;
use ca_core::{CaSigner, KeyBackend};
use der::{Decode, Encode};
use serde_json::json;

use crate::cli::{ReceiptCreateArgs, ReceiptVerifyArgs};
use crate::commands::{CmdResult, Ctx};
use crate::output::{CliError, print_json, print_text};
use crate::signature::{cms_in, options, policy_oids, read_file, report_text};

fn refused(detail: String) -> CliError {
    CliError::Core(ca_core::Error::PolicyRefused { detail })
}

/// The gateway's signer: a PKCS#8 file or a PKCS#11 key.
fn load_signer(a: &ReceiptCreateArgs) -> Result<Arc<dyn CaSigner>, CliError> {
    if let Some(uri) = &a.key_uri {
        let key = ca_core::KeyRef(uri.clone());
        let backend = ca_core::Pkcs11Backend::for_key(&key)?;
        return Ok(backend.load(&key)?);
    }
    let path = a
        .key
        .as_ref()
        .ok_or_else(|| CliError::Usage("--key or --key-uri is required".into()))?;
    let data = ca_core::input::read_limited(path, 1 << 20)?;
    let der = ca_core::input::der_blocks(
        &data,
        &["PRIVATE KEY"],
        &format!("private key in {}", path.display()),
    )?;
    let key = der.into_iter().next().unwrap_or_default();
    Ok(Arc::new(ca_core::SoftwareSigner::from_pkcs8(
        &key,
        &path.display().to_string(),
    )?))
}

/// The `sanitiser` profile's policy OID.
fn sanitiser_policy(ctx: &Ctx) -> Result<const_oid::ObjectIdentifier, CliError> {
    Ok(ctx.policies()?.profile("sanitiser")?.policy()?)
}

/// Runs `receipt create`.
pub fn create(ctx: &Ctx, a: ReceiptCreateArgs) -> CmdResult {
    let original = read_file(&a.original)?;
    let sanitised = read_file(&a.sanitised)?;
    let (sig_der, detached, signature_hash) = match &a.signature {
        Some(s) => {
            let file = read_file(s)?;
            let der = cms_in(s)?;
            (
                der,
                Some(original.as_slice()),
                Some(Digest::Sha256.hash(&file)),
            )
        }
        None => (cms_in(&a.original)?, None, None),
    };
    let opts = options(&a.trust, policy_oids(&a.policies)?)?;
    let checker = RevocationChecker::new();
    let report = cms::verify(&sig_der, detached, &opts, &checker)?;
    if !report.valid {
        return Err(refused(format!(
            "no receipt: the original signature is invalid: {}",
            report.reason
        )));
    }
    let signer_cert = report
        .signer_cert
        .clone()
        .ok_or_else(|| refused("no signer certificate".into()))?;

    // The gateway's own certificate must be a valid `sanitiser` certificate now.
    let mut chain = crate::verify::certs_in(&a.cert)?;
    let gw_cert = chain.remove(0);
    let mut gw_opts = ca_core::ValidationOptions::at(u64::try_from(opts.now).unwrap_or(0));
    gw_opts.initial_policy_set = vec![sanitiser_policy(ctx)?.into()];
    let mut pool = chain.clone();
    pool.extend(opts.untrusted.iter().cloned());
    let gw_path = ca_core::validate_path(&gw_cert, &pool, &opts.anchors, &gw_opts)
        .map_err(|e| refused(format!("the gateway certificate --cert: {e}")))?;
    if gw_path.user_constrained_policy_set.is_empty() {
        return Err(refused(
            "the gateway certificate --cert is not a `sanitiser` certificate (policy)".into(),
        ));
    }
    let signer = load_signer(&a)?;
    let gw = x509_cert::Certificate::from_der(&gw_cert)
        .map_err(|e| CliError::Usage(format!("--cert: {e}")))?;
    let sanitiser = gw
        .tbs_certificate()
        .subject()
        .to_der()
        .map_err(|e| CliError::Usage(format!("--cert: {e}")))?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let receipt = Receipt {
        original_hash: Digest::Sha256.hash(&original),
        sanitised_hash: Digest::Sha256.hash(&sanitised),
        signature_hash,
        signer_cert,
        reason: report.reason.clone(),
        judged_at: report.judged_at,
        time_source: report.time_source.to_string(),
        validated_at: opts.now,
        signing_time: report.signing_time,
        timestamp_time: report.timestamp.as_ref().map(|t| t.time),
        path: report.path.clone(),
        policies: report
            .policies
            .iter()
            .filter_map(|p| const_oid::ObjectIdentifier::new(p).ok())
            .collect(),
        revocation: report
            .revocation
            .iter()
            .map(|r| {
                let mut line = format!(
                    "{}: {} ({})",
                    r["subject"].as_str().unwrap_or_default(),
                    r["status"].as_str().unwrap_or_default(),
                    r["source"].as_str().unwrap_or_default()
                );
                if let Some(n) = r["note"].as_str() {
                    line += &format!(": {n}");
                }
                line
            })
            .collect(),
        sanitiser,
        sanitised_at: now,
    };
    let content = receipt.to_der()?;
    let mut out = cms::sign(
        &cms::SignRequest {
            content: &content,
            content_type: cms::RECEIPT_CONTENT_TYPE,
            detached: false,
            signing_time: now,
        },
        signer.as_ref(),
        &gw_cert,
        &chain,
    )?;
    if let Some(url) = &a.tsa {
        out = crate::signature::timestamp_cms(&out, url)?;
    }
    // What the LGWAN side will check, checked here first (with the TSA's path).
    let own = cms::verify(&out, None, &opts, &checker)?;
    if !own.valid {
        return Err(refused(format!(
            "the receipt made does not verify: {}",
            own.reason
        )));
    }
    ca_core::write_atomic(&a.out, &out)?;
    let v = json!({
        "out": a.out.display().to_string(),
        "receipt": receipt.to_json(),
        "timestamp": own.timestamp.as_ref().map(cms::TimestampReport::to_json),
    });
    if ctx.json {
        print_json(&v);
    } else {
        print_text(&format!(
            "receipt written to {}\noriginal signature: {}\n{}",
            a.out.display(),
            report.reason,
            report_text(&report.to_json())
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `receipt verify`.
pub fn verify(ctx: &Ctx, a: ReceiptVerifyArgs) -> CmdResult {
    let der = cms_in(&a.receipt)?;
    let sanitised = read_file(&a.sanitised)?;
    let opts = options(&a.trust, vec![sanitiser_policy(ctx)?])?;
    let report = cms::verify(&der, None, &opts, &RevocationChecker::new())?;
    let fail = |reason: String, v: serde_json::Value| -> CmdResult {
        if ctx.json {
            print_json(&json!({"valid": false, "reason": reason, "receipt": v}));
        } else {
            print_text(&format!("invalid: {reason}\n"));
        }
        Ok(ExitCode::from(1))
    };
    if !report.valid {
        return fail(
            format!("the receipt's signature: {}", report.reason),
            report.to_json(),
        );
    }
    if report.content_type != cms::RECEIPT_CONTENT_TYPE.to_string() {
        return fail(
            format!(
                "not a sanitisation receipt (eContentType {})",
                report.content_type
            ),
            report.to_json(),
        );
    }
    let receipt = Receipt::from_der(&report.content)?;
    if Digest::Sha256.hash(&sanitised) != receipt.sanitised_hash {
        return fail(
            format!(
                "{} is not the sanitised file of this receipt (SHA-256 differs)",
                a.sanitised.display()
            ),
            report.to_json(),
        );
    }
    let original = receipt.to_json();
    if ctx.json {
        print_json(&json!({
            "valid": true,
            "reason": "valid",
            "receipt": report.to_json(),
            "original": original,
        }));
    } else {
        let s = |k: &str| original[k].as_str().unwrap_or("-").to_string();
        print_text(&format!(
            "valid: the sanitised file matches the receipt\nreceipt signed by {} at {}{}\n\
             the original signature said: {}\n  signer: {}\n  serial: {}\n  signing time: {}\n  \
             time-stamp: {}\n  judged at: {} ({})\n  validated at: {}\n  path: {}\n",
            report.signer.as_deref().unwrap_or("-"),
            report
                .signing_time
                .map(ca_core::rfc3339)
                .unwrap_or_default(),
            report
                .timestamp
                .as_ref()
                .map(|t| format!(", time-stamped {} by {}", ca_core::rfc3339(t.time), t.tsa))
                .unwrap_or_else(|| ", not time-stamped".into()),
            s("reason"),
            s("signer"),
            s("serial"),
            s("signing_time"),
            s("timestamp"),
            s("judged_at"),
            s("time_source"),
            s("validated_at"),
            receipt.path.join(" <- "),
        ));
    }
    Ok(ExitCode::SUCCESS)
}
