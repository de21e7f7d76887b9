//! `store migrate --to URL`, `backup --out FILE` and `restore FILE [--force]`: the whole store
//! copied and checked by `ca_core::transfer`, reported here.

use std::path::Path;

use ca_core::transfer::{self, TransferReport};
use serde_json::json;

use crate::commands::{CmdResult, Ctx, ok};
use crate::output::{print_json, print_text};

/// The report as JSON: what was copied, from where to where.
fn report_json(r: &TransferReport) -> serde_json::Value {
    let tables: serde_json::Map<String, serde_json::Value> = r
        .tables
        .iter()
        .map(|t| (t.name.clone(), json!(t.rows)))
        .collect();
    let mut v = json!({
        "from": r.from,
        "to": r.to,
        "rows": r.rows(),
        "certificates": r.certificates,
        "audit_seq": r.audit_seq,
        "tables": tables,
    });
    if let Some(sha) = &r.file_sha256 {
        v["sha256"] = sha.clone().into();
    }
    v
}

fn print(ctx: &Ctx, r: &TransferReport, what: &str, tail: &str) -> CmdResult {
    if ctx.json {
        print_json(&report_json(r));
    } else {
        print_text(&format!(
            "{what} {} rows ({} certificates, audit log up to record {}) from {} to {}{tail}\n",
            r.rows(),
            r.certificates,
            r.audit_seq,
            r.from,
            r.to
        ));
    }
    ok()
}

/// `store migrate --to URL`.
pub fn migrate(ctx: &Ctx, to: &str) -> CmdResult {
    let r = transfer::migrate(&ctx.home, ctx.store.as_deref(), to)?;
    print(
        ctx,
        &r,
        "migrated",
        &format!("; checked; {} now uses it", ctx.home.display()),
    )
}

/// `backup --out FILE`.
pub fn backup(ctx: &Ctx, out: &Path) -> CmdResult {
    let r = transfer::backup(&ctx.home, ctx.store.as_deref(), out)?;
    let sha = r.file_sha256.clone().unwrap_or_default();
    print(ctx, &r, "backed up", &format!(" (SHA-256 {sha})"))
}

/// `restore FILE [--force]`.
pub fn restore(ctx: &Ctx, file: &Path, force: bool) -> CmdResult {
    let r =
        transfer::restore(&ctx.home, ctx.store.as_deref(), file, force).map_err(|e| match e {
            // A live store is refused without --force: say how to replace it on purpose.
            ca_core::Error::PolicyRefused { detail } if !force => ca_core::Error::PolicyRefused {
                detail: format!("{detail} (`restore --force` replaces what the store holds)"),
            },
            e => e,
        })?;
    print(ctx, &r, "restored", "; checked")
}
