//! Shared set-up of the `ocsp-responder` end-to-end tests: running commands, openssl, a CA home
//! made by ca-core itself, and staff certificates issued from openssl-made keys.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

use ca_core::{
    Authority, DEFAULT_BASE_URL, InitOptions, IssuanceRequest, KeyAlgorithm, PassphraseSource,
    Policies,
};

/// Runs `cmd` to completion (a command that cannot start fails the test).
pub fn run(cmd: &mut Command) -> Output {
    match cmd.output() {
        Ok(o) => o,
        Err(e) => panic!("cannot run {cmd:?}: {e}"),
    }
}

/// stdout then stderr, as text.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs openssl in `dir` and asserts it succeeded; its output.
pub fn openssl(dir: &Path, args: &[&str]) -> String {
    let out = run(Command::new("openssl").current_dir(dir).args(args));
    let t = text(&out);
    assert!(out.status.success(), "openssl {args:?}:\n{t}");
    t
}

/// A new CA home (P-256 keys, passphrase from `pass`).
pub fn init_home(home: &Path, pass: &Path) -> Authority {
    Authority::init(
        home,
        InitOptions {
            key_alg: KeyAlgorithm::EcdsaP256,
            key_uri: None,
            base_url: DEFAULT_BASE_URL.into(),
            passphrase: PassphraseSource::File(pass.to_path_buf()),
            policies: Policies::embedded().expect("policies"),
        },
    )
    .expect("init")
}

/// Issues a `staff` certificate for a new openssl key `DIR/NAME.key`; writes `DIR/NAME.pem` and
/// returns the serial.
pub fn issue_staff(auth: &mut Authority, d: &Path, name: &str) -> String {
    openssl(
        d,
        &[
            "req",
            "-new",
            "-utf8",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-subj",
            &format!("/C=JP/O=LGPKI/OU=千代田区/CN={name}"),
            "-outform",
            "DER",
            "-out",
            &format!("{name}.csr"),
        ],
    );
    let issued = auth
        .issue(IssuanceRequest {
            profile: "staff".into(),
            csr_der: std::fs::read(d.join(format!("{name}.csr"))).expect("csr"),
            ..Default::default()
        })
        .expect("issue");
    std::fs::write(d.join(format!("{name}.pem")), &issued.pem).expect("pem");
    issued.serial
}
