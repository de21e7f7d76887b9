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

/// A minimal HTTP/1.1 GET over loopback (so the test needs no curl): returns the status code,
/// the lower-cased head and the body.
pub fn http_get(url: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String, Vec<u8>) {
    use std::io::{Read, Write};
    let addr = url.strip_prefix("http://").expect("http URL");
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).expect("send");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of head");
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status code");
    (status, head, raw[split + 4..].to_vec())
}
