//! `lgpki verify`: RFC 5280 §6 path validation with path building, optional CRL and OCSP
//! revocation checks.

use std::path::Path;
use std::process::ExitCode;

use ca_core::input;
use const_oid::ObjectIdentifier;
use serde_json::json;

use crate::cli::VerifyArgs;
use crate::commands::{CmdResult, Ctx, parse_time};
use crate::output::{CliError, print_json, print_text};

fn certs_in(path: &Path) -> Result<Vec<Vec<u8>>, CliError> {
    let data = input::read_limited(path, input::MAX_INPUT_FILE)?;
    Ok(input::der_blocks(
        &data,
        &["CERTIFICATE", "TRUSTED CERTIFICATE"],
        &format!("certificates in {}", path.display()),
    )?)
}

fn crls_in(path: &Path) -> Result<Vec<Vec<u8>>, CliError> {
    let data = input::read_limited(path, 256 << 20)?;
    Ok(input::der_blocks(
        &data,
        &["X509 CRL"],
        &format!("CRLs in {}", path.display()),
    )?)
}

/// Runs `verify`.
pub fn verify(ctx: &Ctx, a: VerifyArgs) -> CmdResult {
    let mut leaf = certs_in(&a.cert)?;
    let leaf = leaf.remove(0);
    let mut anchors = Vec::new();
    for t in &a.trust {
        anchors.extend(certs_in(t)?);
    }
    let mut pool = Vec::new();
    for u in &a.untrusted {
        pool.extend(certs_in(u)?);
    }
    let mut crls = Vec::new();
    for c in &a.crl {
        crls.extend(crls_in(c)?);
    }
    let time = match &a.at {
        Some(t) => parse_time("--at", t)?.unix_timestamp(),
        None => time::OffsetDateTime::now_utc().unix_timestamp(),
    };
    let mut opts = ca_core::ValidationOptions::at(
        u64::try_from(time).map_err(|_| CliError::Usage("--at before 1970".into()))?,
    );
    for p in &a.policies {
        opts.initial_policy_set
            .push(ObjectIdentifier::new(p).map_err(|e| {
                CliError::Core(ca_core::Error::InvalidArgument {
                    name: "--policy",
                    value: p.clone(),
                    reason: e.to_string(),
                })
            })?);
    }
    opts.initial_explicit_policy = a.explicit_policy;
    opts.initial_policy_mapping_inhibit = a.inhibit_policy_mapping;
    opts.initial_any_policy_inhibit = a.inhibit_any_policy;
    opts.check_revocation = !crls.is_empty();
    opts.crls = crls;
    opts.purpose = a
        .purpose
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(|_| CliError::Usage("bad --purpose".into()))?;
    opts.name = a.name.clone();

    let result = ca_core::validate_path(&leaf, &pool, &anchors, &opts);
    let (valid, reason, path, policies) = match &result {
        Ok(p) => {
            let mut reason = "valid".to_string();
            let mut valid = true;
            if a.check_ocsp
                && let Err(why) = crate::ocsp_client::check_chain(&p.chain, time)
            {
                valid = false;
                reason = why;
            }
            (
                valid,
                reason,
                p.chain
                    .iter()
                    .map(|c| ca_core::name_to_string(c.tbs_certificate().subject()))
                    .collect::<Vec<_>>(),
                p.user_constrained_policy_set
                    .iter()
                    .map(|o| o.to_string())
                    .collect::<Vec<_>>(),
            )
        }
        Err(e) => (false, e.to_string(), Vec::new(), Vec::new()),
    };
    if ctx.json {
        print_json(&json!({"valid": valid, "reason": reason, "path": path, "policies": policies}));
    } else if valid {
        print_text(&format!(
            "valid\npath:\n{}policies: {}\n",
            path.iter().map(|s| format!("  {s}\n")).collect::<String>(),
            policies.join(", ")
        ));
    } else {
        print_text(&format!("invalid: {reason}\n"));
    }
    Ok(if valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
