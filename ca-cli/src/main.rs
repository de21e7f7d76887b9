//! `lgpki`: the LGPKI certificate authority command line.
//!
//! The command names, flags, JSON shapes and exit codes follow `shared/contract/cli.md`:
//! exit 0 success, 1 refused or invalid, 2 usage or input error.

mod cli;
mod commands;
mod config_cmd;
mod docs;
mod ldap_publish;
mod output;
mod publish_cmd;
mod ra;
mod ra_api;
mod ra_server;
mod ra_web;
mod receipt;
mod remote;
mod serve;
mod serve_certs;
mod signature;
mod store_cmd;
mod tsa;
mod validation;
mod verify;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = match cli::Cli::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            // Usage errors honour --json too (one error object on stdout).
            if code == 2 && std::env::args_os().any(|a| a == "--json") {
                let message = e.kind().to_string();
                let detail = e.to_string();
                let first = detail
                    .lines()
                    .find(|l| l.starts_with("error:"))
                    .map(|l| l.trim_start_matches("error:").trim().to_string())
                    .unwrap_or(message);
                output::print_json(
                    &serde_json::json!({"error": {"kind": "usage", "message": first}}),
                );
            }
            return ExitCode::from(code);
        }
    };
    let json = args.json;
    match commands::run(args) {
        Ok(code) => code,
        Err(e) => output::report_error(&e, json),
    }
}
