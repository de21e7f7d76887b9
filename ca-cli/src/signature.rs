//! `lgpki verify-signature` and `lgpki timestamp-signature`: CMS (RFC 5652) signatures judged at
//! their signing time or time-stamp (ca-core `cms`), and adding an RFC 3161 signature
//! time-stamp token to one.

use std::path::Path;
use std::process::ExitCode;

use ca_core::cms;
use ca_core::input;
use ca_core::revocation::{Methods, RevocationChecker};
use const_oid::ObjectIdentifier;
use serde_json::Value;

use crate::cli::{SignatureTrustArgs, TimestampSignatureArgs, VerifySignatureArgs};
use crate::commands::{CmdResult, Ctx, parse_time};
use crate::output::{CliError, print_json, print_text};
use crate::verify::certs_in;

/// Largest signed file or signature read: 64 MiB.
pub const MAX_SIGNED_FILE: usize = cms::parse::MAX_CMS;

/// Reads a file of at most [`MAX_SIGNED_FILE`] bytes.
pub fn read_file(path: &Path) -> Result<Vec<u8>, CliError> {
    Ok(input::read_limited(path, MAX_SIGNED_FILE)?)
}

/// The DER of the CMS in `path` (DER, or PEM `CMS`/`PKCS7`).
pub fn cms_in(path: &Path) -> Result<Vec<u8>, CliError> {
    let data = read_file(path)?;
    let der = input::der_blocks(
        &data,
        &["CMS", "PKCS7"],
        &format!("CMS SignedData in {}", path.display()),
    )?;
    der.into_iter()
        .next()
        .ok_or_else(|| CliError::Usage(format!("{}: no CMS", path.display())))
}

/// Parses policy OIDs given with `--policy`.
pub fn policy_oids(list: &[String]) -> Result<Vec<ObjectIdentifier>, CliError> {
    list.iter()
        .map(|p| {
            ObjectIdentifier::new(p).map_err(|e| {
                CliError::Core(ca_core::Error::InvalidArgument {
                    name: "--policy",
                    value: p.clone(),
                    reason: e.to_string(),
                })
            })
        })
        .collect()
}

/// The verification options from the shared flags.
pub fn options(
    t: &SignatureTrustArgs,
    policies: Vec<ObjectIdentifier>,
) -> Result<cms::VerifyOptions, CliError> {
    let mut anchors = Vec::new();
    for f in &t.trust {
        anchors.extend(certs_in(f)?);
    }
    let mut untrusted = Vec::new();
    for f in &t.untrusted {
        untrusted.extend(certs_in(f)?);
    }
    let mut crls = Vec::new();
    for f in &t.crl {
        let data = input::read_limited(f, 256 << 20)?;
        crls.extend(input::der_blocks(
            &data,
            &["X509 CRL"],
            &format!("CRLs in {}", f.display()),
        )?);
    }
    let now = match &t.at {
        Some(s) => parse_time("--at", s)?.unix_timestamp(),
        None => time::OffsetDateTime::now_utc().unix_timestamp(),
    };
    Ok(cms::VerifyOptions {
        anchors,
        untrusted,
        policies,
        now,
        methods: Methods {
            crls,
            fetch: t.fetch,
            ocsp: false,
        },
    })
}

/// Human-readable lines of a report (after the first line).
pub fn report_text(v: &Value) -> String {
    let s = |k: &str| v[k].as_str().map(str::to_string);
    let mut out = String::new();
    if let Some(x) = s("signer") {
        out += &format!("signer: {x}\n");
    }
    if let Some(x) = s("serial") {
        out += &format!("serial: {x}\n");
    }
    if let Some(x) = s("signing_time") {
        out += &format!("signing time: {x}\n");
    }
    if let Some(t) = v["timestamp"].as_object() {
        out += &format!(
            "time-stamp: {} by {} (serial {})\n",
            t["time"].as_str().unwrap_or_default(),
            t["tsa"].as_str().unwrap_or_default(),
            t["serial"].as_str().unwrap_or_default()
        );
    }
    if let Some(x) = s("judged_at").filter(|_| v["signer"].is_string()) {
        out += &format!(
            "judged at: {x} ({})\n",
            v["time_source"].as_str().unwrap_or_default()
        );
    }
    if let Some(p) = v["path"].as_array().filter(|p| !p.is_empty()) {
        out += "path:\n";
        for x in p {
            out += &format!("  {}\n", x.as_str().unwrap_or_default());
        }
    }
    if let Some(p) = v["policies"].as_array().filter(|p| !p.is_empty()) {
        let list: Vec<&str> = p.iter().filter_map(Value::as_str).collect();
        out += &format!("policies: {}\n", list.join(", "));
    }
    if let Some(r) = v["revocation"].as_array().filter(|r| !r.is_empty()) {
        out += "revocation:\n";
        for x in r {
            let mut line = format!(
                "  {}: {} ({})",
                x["subject"].as_str().unwrap_or_default(),
                x["status"].as_str().unwrap_or_default(),
                x["source"].as_str().unwrap_or_default()
            );
            if let Some(n) = x["note"].as_str().or(x["detail"].as_str()) {
                line += &format!(": {n}");
            }
            out += &line;
            out.push('\n');
        }
    }
    out
}

/// Runs `verify-signature`.
pub fn verify_signature(ctx: &Ctx, a: VerifySignatureArgs) -> CmdResult {
    let der = cms_in(&a.file)?;
    let content = a.content.as_deref().map(read_file).transpose()?;
    let opts = options(&a.trust, policy_oids(&a.policies)?)?;
    let report = cms::verify(&der, content.as_deref(), &opts, &RevocationChecker::new())?;
    let v = report.to_json();
    if ctx.json {
        print_json(&v);
    } else if report.valid {
        print_text(&format!("{}\n{}", report.reason, report_text(&v)));
    } else {
        print_text(&format!("invalid: {}\n{}", report.reason, report_text(&v)));
    }
    Ok(if report.valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Runs `timestamp-signature`.
pub fn timestamp_signature(ctx: &Ctx, a: TimestampSignatureArgs) -> CmdResult {
    let der = cms_in(&a.file)?;
    let out = timestamp_cms(&der, &a.tsa)?;
    ca_core::write_atomic(&a.out, &out)?;
    if ctx.json {
        print_json(&serde_json::json!({"out": a.out.display().to_string()}));
    } else {
        print_text(&format!(
            "time-stamped signature written to {}\n",
            a.out.display()
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// Asks the TSA at `url` for a token over each signer's signature value and adds it as
/// id-aa-signatureTimeStampToken (RFC 3161 Appendix A).
pub fn timestamp_cms(der: &[u8], url: &str) -> Result<Vec<u8>, CliError> {
    let sd = cms::parse(der)?;
    let mut out = der.to_vec();
    // One SignerInfo at a time: each gets the token over its own signature value.
    if sd.signer_infos.len() != 1 {
        return Err(CliError::Core(ca_core::Error::PolicyRefused {
            detail: "time-stamping is done for signatures with exactly one signer".into(),
        }));
    }
    let token = cms::tsp::request_token(url, &sd.signer_infos[0].signature)?;
    out = cms::add_unsigned_attribute(&out, cms::oids::SIGNATURE_TIME_STAMP_TOKEN, &token)?;
    Ok(out)
}
