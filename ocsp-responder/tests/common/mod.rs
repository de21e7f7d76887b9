//! Shared set-up of the `ocsp-responder` end-to-end tests: running commands, openssl, a CA home
//! made by ca-core itself, and staff certificates issued from openssl-made keys.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

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
    issued.serial.to_string()
}

/// The running responder; killed on drop.
pub struct Responder {
    /// The responder process.
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    stderr: mpsc::Receiver<String>,
}

impl Responder {
    /// Starts `ocsp-responder --data DATA --listen 127.0.0.1:0 EXTRA…` and reads its URL from
    /// the startup line.
    pub fn start(data: &Path, extra: &[&str]) -> Responder {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ocsp-responder"))
            .arg("--data")
            .arg(data)
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start ocsp-responder");
        let (tx, rx) = mpsc::channel();
        let stderr = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("startup line");
        let url = first
            .split("on ")
            .last()
            .filter(|u| u.starts_with("http://"))
            .unwrap_or_else(|| panic!("unexpected startup line: {first}"))
            .to_string();
        Responder {
            child,
            url,
            stderr: rx,
        }
    }

    /// Waits for a stderr line containing every one of `needles`.
    pub fn wait_for_log(&self, needles: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.stderr.recv_timeout(left) {
                Ok(line) if needles.iter().all(|n| line.contains(n)) => return line,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        panic!("no log line containing {needles:?}");
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
