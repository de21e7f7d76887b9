//! `publish`: a signed release into `--out DIR`, the CAs' entries into `--ldap URL`, once or,
//! with `--watch`, whenever the store changed or the release is half-way through its validity.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use ca_core::Authority;
use ca_core::publish::Publication;
use serde_json::json;

use crate::cli::PublishArgs;
use crate::commands::{CmdResult, Ctx};
use crate::ldap_publish::{LdapTarget, sync};
use crate::output::{CliError, print_json, print_text};

/// Runs `publish`.
pub fn publish(ctx: &Ctx, a: PublishArgs) -> CmdResult {
    let ldap = match (&a.ldap, &a.bind_dn, &a.bind_password_file) {
        (Some(url), Some(dn), Some(file)) => Some(LdapTarget::new(url, dn, file, a.base.clone())?),
        (None, _, _) => None,
        _ => {
            return Err(CliError::Usage(
                "--ldap needs --bind-dn and --bind-password-file".into(),
            ));
        }
    };
    let interval = ca_core::config::parse_duration(&a.interval)
        .ok()
        .filter(|d| d.is_positive())
        .map(|d| Duration::from_secs(d.whole_seconds().unsigned_abs()))
        .ok_or_else(|| {
            CliError::Usage(format!(
                "--interval {:?}: expected a positive duration such as 30s or 5m",
                a.interval
            ))
        })?;
    let mut ca = ctx.open()?;
    if !a.watch {
        if let Some(out) = &a.out {
            publish_dir(ctx, &mut ca, out)?;
        }
        if let Some(t) = &ldap {
            publish_ldap(ctx, &mut ca, t)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    watch(ctx, &mut ca, a.out.as_deref(), ldap.as_ref(), interval)
}

fn publish_dir(ctx: &Ctx, ca: &mut Authority, out: &Path) -> Result<(), CliError> {
    let report = ca.publish(out)?;
    if ctx.json {
        print_json(&json!({
            "release": report.id,
            "sequence": report.sequence,
            "not_after": ca_core::rfc3339(report.not_after),
            "path": report.path.display().to_string(),
            "cas": report.cas.iter().map(|(n, c)| json!({"name": n, "certificates": c})).collect::<Vec<_>>(),
        }));
    } else {
        print_text(&format!(
            "published release {} (sequence {}, valid until {}) to {}\n",
            report.id,
            report.sequence,
            ca_core::rfc3339(report.not_after),
            out.display()
        ));
        for (n, c) in &report.cas {
            print_text(&format!(
                "  {n}: certificate, CRL, OCSP responder, {c} statuses\n"
            ));
        }
    }
    Ok(())
}

fn publish_ldap(ctx: &Ctx, ca: &mut Authority, t: &LdapTarget) -> Result<(), CliError> {
    let reports = sync(ca, t)?;
    if ctx.json {
        print_json(&json!({"ldap": t.url, "entries": reports}));
    } else {
        for r in &reports {
            let what = if r.attributes.is_empty() {
                String::new()
            } else {
                format!(" ({})", r.attributes.join(", "))
            };
            print_text(&format!("ldap {}: {} {}{what}\n", t.url, r.action, r.dn));
        }
    }
    Ok(())
}

/// Whether `out` needs a new release: none loads, the store changed since the current one, or
/// half its validity has passed (so relying parties never see data near its end).
fn due(ca: &Authority, out: &Path) -> Result<Option<&'static str>, CliError> {
    let Ok(current) = Publication::load(out) else {
        return Ok(Some("no valid current release"));
    };
    if current.state != ca.publication_state()? {
        return Ok(Some("the store changed"));
    }
    let now = ca_core::now_seconds().unix_timestamp();
    if now >= current.created + (current.not_after - current.created) / 2 {
        return Ok(Some("half the release's validity has passed"));
    }
    Ok(None)
}

fn watch(
    ctx: &Ctx,
    ca: &mut Authority,
    out: Option<&Path>,
    ldap: Option<&LdapTarget>,
    interval: Duration,
) -> CmdResult {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Usage(format!("cannot start the runtime: {e}")))?;
    let mut stop = std::pin::pin!(shutdown_signal());
    loop {
        if let Some(out) = out
            && let Some(reason) = due(ca, out)?
        {
            if !ctx.json {
                print_text(&format!("publishing: {reason}\n"));
            }
            // A failed publish (a full disk, a locked key) is reported and retried next time.
            if let Err(e) = publish_dir(ctx, ca, out) {
                eprintln!("lgpki: publish to {} failed: {e}", out.display());
            }
        }
        if let Some(t) = ldap
            && let Err(e) = publish_ldap(ctx, ca, t)
        {
            eprintln!("lgpki: publish to {} failed: {e}", t.url);
        }
        let stopped = runtime.block_on(async {
            tokio::select! {
                () = tokio::time::sleep(interval) => false,
                () = &mut stop => true,
            }
        });
        if stopped {
            return Ok(ExitCode::SUCCESS);
        }
    }
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        () = term => {},
    }
}
