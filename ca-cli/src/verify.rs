//! `lgpki verify`: RFC 5280 §6 path validation with path building, and revocation checks from
//! supplied CRLs, OCSP (`--check-ocsp`) or fetched CRLs and OCSP (`--fetch`). It always says
//! how each certificate's revocation was checked (none, CRL, OCSP, store). [`evaluate`] is
//! shared with `serve`'s `/validate`.

use std::path::Path;
use std::process::ExitCode;

use ca_core::input;
use ca_core::revocation::{Methods, OwnStatus, RevocationChecker, first_failure};
use serde_json::{Value, json};

use crate::cli::VerifyArgs;
use crate::commands::{CmdResult, Ctx, parse_time};
use crate::output::{CliError, print_json, print_text};

pub(crate) fn certs_in(path: &Path) -> Result<Vec<Vec<u8>>, CliError> {
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

/// Validates `leaf` and checks revocation per `methods` (own certificates through `own`):
/// the JSON of `verify --json`, `{"valid","reason","path","policies","revocation"}`.
pub fn evaluate(
    leaf: &[u8],
    pool: &[Vec<u8>],
    anchors: &[Vec<u8>],
    opts: &ca_core::ValidationOptions,
    checker: &RevocationChecker,
    methods: &Methods,
    own: Option<&dyn OwnStatus>,
) -> Value {
    let mut base = opts.clone();
    base.check_revocation = false;
    base.crls = Vec::new();
    let path = match ca_core::validate_path(leaf, pool, anchors, &base) {
        Ok(p) => p,
        Err(e) => {
            return json!({"valid": false, "reason": e.to_string(), "path": [],
                "policies": [], "revocation": []});
        }
    };
    let revocation = checker.check(&path.chain, pool, opts.time, methods, own);
    let mut reason = None;
    if !methods.crls.is_empty() {
        // Supplied CRLs: the full RFC 5280 §6.3 check over the path as well (indirect and
        // delta CRLs, the CRL issuers' own status).
        let mut full = opts.clone();
        full.check_revocation = true;
        full.crls = methods.crls.clone();
        if let Err(e) = ca_core::validate_path(leaf, pool, anchors, &full) {
            reason = Some(first_failure(&revocation).unwrap_or_else(|| e.to_string()));
        }
    }
    let reason = reason.or_else(|| first_failure(&revocation));
    json!({
        "valid": reason.is_none(),
        "reason": reason.as_deref().unwrap_or("valid"),
        "path": path.chain.iter()
            .map(|c| ca_core::name_to_string(c.tbs_certificate().subject()))
            .collect::<Vec<_>>(),
        "policies": path.user_constrained_policy_set.iter()
            .map(|o| o.to_string())
            .collect::<Vec<_>>(),
        "revocation": revocation.iter().map(|r| r.to_json()).collect::<Vec<_>>(),
    })
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
            .push(p.parse::<ca_core::Oid>().map_err(|e| {
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
    opts.purpose = a
        .purpose
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(|_| CliError::Usage("bad --purpose".into()))?;
    opts.name = a.name.clone();
    let methods = Methods {
        crls,
        fetch: a.fetch,
        ocsp: a.check_ocsp,
    };
    let v = evaluate(
        &leaf,
        &pool,
        &anchors,
        &opts,
        &RevocationChecker::new(),
        &methods,
        None,
    );
    let valid = v["valid"].as_bool().unwrap_or(false);
    if ctx.json {
        print_json(&v);
    } else {
        let list = |key: &str| -> Vec<String> {
            v[key]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        let revocation: String = v["revocation"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|r| {
                        let mut line = format!(
                            "  {}: {} ({}",
                            r["subject"].as_str().unwrap_or_default(),
                            r["status"].as_str().unwrap_or_default(),
                            r["source"].as_str().unwrap_or_default()
                        );
                        if let Some(u) = r["url"].as_str() {
                            line += &format!(" {u}");
                        }
                        line.push(')');
                        if let Some(d) = r["detail"].as_str() {
                            line += &format!(": {d}");
                        }
                        line + "\n"
                    })
                    .collect()
            })
            .unwrap_or_default();
        let revocation = if revocation.is_empty() {
            String::new()
        } else {
            format!("revocation:\n{revocation}")
        };
        if valid {
            print_text(&format!(
                "valid\npath:\n{}policies: {}\n{revocation}",
                list("path")
                    .iter()
                    .map(|s| format!("  {s}\n"))
                    .collect::<String>(),
                list("policies").join(", ")
            ));
        } else {
            print_text(&format!(
                "invalid: {}\n{revocation}",
                v["reason"].as_str().unwrap_or_default()
            ));
        }
    }
    Ok(if valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
