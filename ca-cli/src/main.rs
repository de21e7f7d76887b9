//! `lgpki`: the LGPKI certificate authority command line.
//!
//! The command names, flags, JSON shapes and exit codes follow `shared/contract/cli.md`:
//! exit 0 success, 1 refused or invalid, 2 usage or input error.

mod cli;
mod commands;
mod config_cmd;
mod output;
mod ra;
mod ra_server;
mod remote;
mod serve;
mod serve_certs;
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
            return ExitCode::from(code);
        }
    };
    let json = args.json;
    match commands::run(args) {
        Ok(code) => code,
        Err(e) => output::report_error(&e, json),
    }
}
