//! `lgpki completions SHELL` and `lgpki man`: generated from the command-line grammar.

use std::process::ExitCode;

use clap::CommandFactory;

use crate::cli::Cli;
use crate::commands::CmdResult;
use crate::output::CliError;

/// Shell completions for `shell` on stdout.
pub fn completions(shell: clap_complete::Shell) -> CmdResult {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "lgpki", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}

/// The man page (roff) on stdout.
pub fn man() -> CmdResult {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut out)
        .map_err(|e| CliError::Usage(format!("man page: {e}")))?;
    crate::output::print_text(&String::from_utf8_lossy(&out));
    Ok(ExitCode::SUCCESS)
}
