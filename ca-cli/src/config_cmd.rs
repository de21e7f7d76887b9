//! `config show`: the settings in force for the home (`HOME/lgpki.toml` with its defaults
//! filled in), as text or JSON.

use ca_core::Settings;
use ca_core::config::format_duration;

use crate::commands::{CmdResult, Ctx, ok};
use crate::output::{print_json, print_text};

/// Runs `config show`.
pub fn show(ctx: &Ctx) -> CmdResult {
    let s = Settings::load(&ctx.home)?;
    let file = ctx.home.join(Settings::FILE);
    // The base URL in force: the file's, else the one init recorded.
    let base_url = match &s.base_url {
        Some(u) => Some(u.clone()),
        None if ca_core::Authority::exists(&ctx.home) => Some(ctx.open()?.base_url()?),
        None => None,
    };
    if ctx.json {
        let mut v = s.to_json(&file);
        v["base_url"] = base_url.into();
        v["file_exists"] = file.exists().into();
        print_json(&v);
        return ok();
    }
    let mut out = format!(
        "file: {}{}\n",
        file.display(),
        if file.exists() {
            ""
        } else {
            " (absent: defaults)"
        }
    );
    out += &format!("base_url: {}\n", base_url.as_deref().unwrap_or("-"));
    out += &format!("ra_dns_name: {}\n", s.ra_dns_name.as_deref().unwrap_or("-"));
    for (name, f) in [("crl", s.crl), ("arl", s.arl), ("ocsp", s.ocsp)] {
        out += &format!(
            "{name}: validity {}, refresh {}\n",
            format_duration(f.validity),
            format_duration(f.effective_refresh())
        );
    }
    out += &format!("tsa: accuracy {}\n", format_duration(s.tsa_accuracy));
    print_text(&out);
    ok()
}
