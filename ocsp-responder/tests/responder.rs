//! `ocsp-responder` end to end: a publication made by ca-core's own `publish` (the code behind
//! `lgpki publish`) after `init`, `issue` and `revoke`, served by the real binary and queried
//! with `openssl ocsp` (POST, with and without a nonce) and `curl` (RFC 5019 GET, caching
//! headers, 304, CRLs and CA certificates); then a new release is picked up without a restart,
//! a broken one is refused while the old one keeps serving, and a missing DIR exits 2.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ca_core::input::to_pem;
use ca_core::publish::Publication;
use ca_core::{
    Authority, DEFAULT_BASE_URL, InitOptions, IssuanceRequest, KeyAlgorithm, PassphraseSource,
    Policies, Revocation,
};

fn run(cmd: &mut Command) -> Output {
    match cmd.output() {
        Ok(o) => o,
        Err(e) => panic!("cannot run {cmd:?}: {e}"),
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn openssl(dir: &Path, args: &[&str]) -> String {
    let out = run(Command::new("openssl").current_dir(dir).args(args));
    let t = text(&out);
    assert!(out.status.success(), "openssl {args:?}:\n{t}");
    t
}

/// A CA home with two issued certificates, one revoked, and a publication of it.
struct Pki {
    dir: tempfile::TempDir,
    auth: Authority,
    good: String,
    bad: String,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::write(d.join("pass"), "responder test passphrase\n").expect("pass");
        let mut auth = Authority::init(
            &d.join("home"),
            InitOptions {
                key_alg: KeyAlgorithm::EcdsaP256,
                key_uri: None,
                base_url: DEFAULT_BASE_URL.into(),
                passphrase: PassphraseSource::File(d.join("pass")),
                policies: Policies::embedded().expect("policies"),
            },
        )
        .expect("init");
        let mut issue = |name: &str| -> String {
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
        };
        let good = issue("good");
        let bad = issue("bad");
        let mut pki = Pki {
            dir,
            auth,
            good,
            bad,
        };
        pki.revoke(&pki.bad.clone());
        pki.publish();
        let publication = Publication::load(&pki.data()).expect("load");
        let mut chain = String::new();
        for ca in &publication.cas {
            let pem = to_pem("CERTIFICATE", &ca.cert_der);
            std::fs::write(pki.path(&format!("{}.ca.pem", ca.name)), &pem).expect("ca pem");
            chain.push_str(&pem);
        }
        std::fs::write(pki.path("chain.pem"), chain).expect("chain");
        pki
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn data(&self) -> PathBuf {
        self.path("pub")
    }

    fn revoke(&mut self, serial: &str) {
        let r = self
            .auth
            .revoke(&[Revocation {
                serial: serial.into(),
                reason: "keyCompromise".into(),
                ca: None,
                invalidity_date: None,
            }])
            .expect("revoke");
        assert!(r.iter().all(Result::is_ok), "{r:?}");
    }

    fn publish(&mut self) -> String {
        self.auth.publish(&self.data()).expect("publish").id
    }

    /// `openssl ocsp` against `url` for `cert` (a file name in the directory, or `-serial`).
    fn query(&self, url: &str, target: &[&str], nonce: bool) -> String {
        let mut args = vec![
            "ocsp",
            "-url",
            url,
            "-issuer",
            "organization.ca.pem",
            "-CAfile",
            "chain.pem",
            "-resp_text",
        ];
        args.extend_from_slice(target);
        if !nonce {
            args.push("-no_nonce");
        }
        let out = run(Command::new("openssl")
            .current_dir(self.dir.path())
            .args(&args));
        text(&out)
    }
}

/// The running responder; killed on drop.
struct Responder {
    child: Child,
    url: String,
    stderr: mpsc::Receiver<String>,
}

impl Responder {
    fn start(data: &Path) -> Responder {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ocsp-responder"))
            .arg("--data")
            .arg(data)
            .args(["--listen", "127.0.0.1:0"])
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

    /// Waits for a stderr line containing `needle`.
    fn wait_for_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.stderr.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        panic!("no log line containing {needle:?}");
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn curl(dir: &Path, args: &[&str]) -> String {
    let out = run(Command::new("curl")
        .current_dir(dir)
        .args(["-sS"])
        .args(args));
    let t = text(&out);
    assert!(out.status.success(), "curl {args:?}:\n{t}");
    t
}

fn has_curl() -> bool {
    Command::new("curl").arg("--version").output().is_ok()
}

#[test]
fn serves_a_publication_to_openssl_and_curl() {
    let mut pki = Pki::new();
    let responder = Responder::start(&pki.data());
    let url = responder.url.clone();

    // good / revoked / unknown, with and without a nonce; every response verified by openssl
    // against the chain (the delegated responder certificate is in `certs`).
    for nonce in [true, false] {
        let t = pki.query(&url, &["-cert", "good.pem"], nonce);
        assert!(t.contains("Response verify OK"), "{t}");
        assert!(t.contains("good.pem: good"), "{t}");
        assert!(!t.contains("WARNING: no nonce in response"), "{t}");
        let t = pki.query(&url, &["-cert", "bad.pem"], nonce);
        assert!(t.contains("Response verify OK"), "{t}");
        assert!(t.contains("bad.pem: revoked"), "{t}");
        assert!(t.contains("Reason: keyCompromise"), "{t}");
        let t = pki.query(&url, &["-serial", "0x0123456789abcdef"], nonce);
        assert!(t.contains("Response verify OK"), "{t}");
        assert!(t.contains("0x0123456789abcdef: unknown"), "{t}");
        // The responder signs with the delegated key; nonces are echoed when sent.
        assert!(t.contains("OCSP Signing"), "{t}");
        assert_eq!(t.contains("OCSP Nonce"), nonce, "{t}");
    }
    // Also at /ocsp.
    let t = pki.query(&format!("{url}/ocsp"), &["-cert", "good.pem"], false);
    assert!(t.contains("good.pem: good"), "{t}");
    // An issuer not in the publication: unauthorized (RFC 5019 §2.2.3).
    openssl(
        pki.dir.path(),
        &[
            "req",
            "-x509",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "stranger.key",
            "-subj",
            "/CN=Stranger CA",
            "-out",
            "stranger.pem",
        ],
    );
    let out = run(Command::new("openssl").current_dir(pki.dir.path()).args([
        "ocsp",
        "-url",
        &url,
        "-issuer",
        "stranger.pem",
        "-serial",
        "0x01",
        "-no_nonce",
    ]));
    assert!(text(&out).contains("unauthorized (6)"), "{}", text(&out));

    if has_curl() {
        get_and_repository(&pki, &url);
    } else {
        eprintln!("curl not installed: GET checks skipped");
    }

    // A new release (the good certificate revoked too) is picked up without a restart.
    let good = pki.good.clone();
    pki.revoke(&good);
    let id = pki.publish();
    responder.wait_for_log(&format!("now serving release {id}"));
    let t = pki.query(&url, &["-cert", "good.pem"], false);
    assert!(t.contains("good.pem: revoked"), "{t}");

    // A broken release is refused and the old one keeps serving.
    let broken = pki.data().join("releases").join("broken");
    std::fs::create_dir_all(&broken).expect("mkdir");
    std::fs::write(broken.join("manifest.json"), "{not json").expect("manifest");
    let tmp_link = pki.data().join("current.tmp");
    std::os::unix::fs::symlink("releases/broken", &tmp_link).expect("symlink");
    std::fs::rename(&tmp_link, pki.data().join("current")).expect("swap");
    let line = responder.wait_for_log("keeping release");
    assert!(line.contains(&id), "{line}");
    let t = pki.query(&url, &["-cert", "good.pem"], false);
    assert!(
        t.contains("good.pem: revoked") && t.contains("Response verify OK"),
        "{t}"
    );
}

/// RFC 5019 GET with caching headers and 304, and the repository routes, with curl.
fn get_and_repository(pki: &Pki, url: &str) {
    let d = pki.dir.path();
    openssl(
        d,
        &[
            "ocsp",
            "-issuer",
            "organization.ca.pem",
            "-cert",
            "good.pem",
            "-no_nonce",
            "-reqout",
            "get.req",
        ],
    );
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD
        .encode(std::fs::read(d.join("get.req")).expect("req"));
    let escaped = b64
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    let headers = curl(
        d,
        &["-D", "-", "-o", "get.resp", &format!("{url}/{escaped}")],
    )
    .to_ascii_lowercase();
    assert!(headers.starts_with("http/1.1 200"), "{headers}");
    assert!(
        headers.contains("content-type: application/ocsp-response"),
        "{headers}"
    );
    assert!(
        headers.contains(", public, no-transform, must-revalidate"),
        "{headers}"
    );
    assert!(headers.contains("last-modified: "), "{headers}");
    let etag = headers
        .lines()
        .find_map(|l| l.strip_prefix("etag: "))
        .expect("etag")
        .trim()
        .to_string();
    let t = openssl(
        d,
        &[
            "ocsp",
            "-respin",
            "get.resp",
            "-issuer",
            "organization.ca.pem",
            "-cert",
            "good.pem",
            "-CAfile",
            "chain.pem",
        ],
    );
    assert!(
        t.contains("Response verify OK") && t.contains("good.pem: good"),
        "{t}"
    );
    // Unescaped standard base64 under /ocsp/ is the same request: the cached response.
    curl(d, &["-o", "get2.resp", &format!("{url}/ocsp/{b64}")]);
    assert_eq!(
        std::fs::read(d.join("get.resp")).expect("r1"),
        std::fs::read(d.join("get2.resp")).expect("r2"),
        "pre-produced response served again"
    );
    // Revalidation.
    let status = curl(
        d,
        &[
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-H",
            &format!("If-None-Match: {etag}"),
            &format!("{url}/{escaped}"),
        ],
    );
    assert_eq!(status, "304");

    let publication = Publication::load(&pki.data()).expect("load");
    let org = publication
        .cas
        .iter()
        .find(|c| c.name == "organization")
        .expect("organization CA");
    curl(
        d,
        &["-o", "org.crl", &format!("{url}/crl/organization.crl")],
    );
    assert_eq!(std::fs::read(d.join("org.crl")).expect("crl"), org.crl_der);
    curl(d, &["-o", "org.crt", &format!("{url}/ca/organization.crt")]);
    assert_eq!(std::fs::read(d.join("org.crt")).expect("crt"), org.cert_der);
    let status = curl(
        d,
        &[
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &format!("{url}/crl/nope.crl"),
        ],
    );
    assert_eq!(status, "404");
    let metrics = curl(d, &[&format!("{url}/metrics")]);
    assert!(metrics.contains("lgpki_ocsp_cache_hits_total"), "{metrics}");
    assert_eq!(curl(d, &[&format!("{url}/healthz")]), "ok\n");
}

#[test]
fn a_missing_or_malformed_dir_exits_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing");
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    for data in [&missing, &empty] {
        let out = run(Command::new(env!("CARGO_BIN_EXE_ocsp-responder"))
            .arg("--data")
            .arg(data)
            .args(["--listen", "127.0.0.1:0"]));
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(
            text(&out).contains("cannot load the publication"),
            "{}",
            text(&out)
        );
    }
    let out = run(Command::new(env!("CARGO_BIN_EXE_ocsp-responder")).arg("--bogus"));
    assert_eq!(out.status.code(), Some(2));
}
