//! Printing results and errors the way the contract asks.

use std::io::Write;
use std::process::ExitCode;

use serde_json::{Value, json};

/// An error of the CLI: the library's, or a usage error found by the CLI itself.
#[derive(Debug)]
pub enum CliError {
    /// From ca-core.
    Core(ca_core::Error),
    /// A usage or input problem found here (exit 2).
    Usage(String),
    /// An error the RA server reported: kind, message, exit code.
    Remote(String, String, u8),
}

impl From<ca_core::Error> for CliError {
    fn from(e: ca_core::Error) -> Self {
        CliError::Core(e)
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CliError::Core(e) => {
                write!(f, "{e}")?;
                let mut src = std::error::Error::source(e);
                while let Some(s) = src {
                    let text = s.to_string();
                    if !e.to_string().contains(&text) {
                        write!(f, ": {text}")?;
                    }
                    src = s.source();
                }
                Ok(())
            }
            CliError::Usage(m) => f.write_str(m),
            CliError::Remote(_, m, _) => write!(f, "server: {m}"),
        }
    }
}

impl CliError {
    /// Exit code per the contract.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Core(e) => match e.class() {
                ca_core::ErrorClass::Refused => 1,
                ca_core::ErrorClass::Input => 2,
            },
            CliError::Usage(_) => 2,
            CliError::Remote(_, _, code) => *code,
        }
    }

    /// The `kind` in JSON errors.
    pub fn kind(&self) -> &'static str {
        match self {
            CliError::Core(e) => e.kind(),
            CliError::Usage(_) => "usage",
            CliError::Remote(kind, _, _) => {
                if kind == "connection" {
                    "connection"
                } else {
                    "remote"
                }
            }
        }
    }

    /// `{"kind", "message"}`.
    pub fn to_json(&self) -> Value {
        if let CliError::Remote(kind, message, _) = self {
            return json!({"kind": kind, "message": message});
        }
        json!({"kind": self.kind(), "message": self.to_string()})
    }
}

/// Prints an error (stderr text; with --json also JSON on stdout) and returns its exit code.
pub fn report_error(e: &CliError, json_mode: bool) -> ExitCode {
    eprintln!("lgpki: error: {e}");
    if json_mode {
        print_json(&json!({"error": e.to_json()}));
    }
    ExitCode::from(e.exit_code())
}

/// Prints one JSON object as a line and flushes (so a line is out once it is printed).
pub fn print_json(v: &Value) {
    let mut out = std::io::stdout().lock();
    // A closed stdout (e.g. `| head`) is not an error of ours.
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

/// Prints text to stdout.
pub fn print_text(s: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(s.as_bytes());
    let _ = out.flush();
}

/// Formats rows as left-aligned columns.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(c.chars().count());
            }
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<&str>, out: &mut String| {
        let n = cells.len();
        for (i, c) in cells.into_iter().enumerate() {
            out.push_str(c);
            if i + 1 < n {
                let pad = widths[i] + 2 - c.chars().count();
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    };
    line(header.to_vec(), &mut out);
    for r in rows {
        line(r.iter().map(String::as_str).collect(), &mut out);
    }
    out
}
