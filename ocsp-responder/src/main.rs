//! `ocsp-responder`: a stateless OCSP responder for what `lgpki publish` writes.
//!
//! Not yet built: it exits 2 with "not yet" until the revocation work lands.

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!(
        "ocsp-responder: not yet: the OCSP responder arrives with revocation (`lgpki publish`)"
    );
    ExitCode::from(2)
}
