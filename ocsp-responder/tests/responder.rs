//! `ocsp-responder` end to end: a publication made by ca-core's own `publish` (the code behind
//! `lgpki publish`) after `init`, `issue` and `revoke`, served by the real binary and queried
//! with `openssl ocsp` (POST, with and without a nonce) and a minimal HTTP client (RFC 5019
//! GET, caching headers, 304, CRLs and CA certificates); then a new release is picked up
//! without a restart, a broken one is refused while the old one keeps serving, and a missing
//! DIR exits 2.

mod common;

use common::{Responder, http_get, openssl, run, text};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use ca_core::input::to_pem;
use ca_core::publish::Publication;
use ca_core::{Authority, Revocation};

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
        let mut auth = common::init_home(&d.join("home"), &d.join("pass"));
        let mut issue = |name: &str| common::issue_staff(&mut auth, d, name);
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

#[test]
fn serves_a_publication_to_openssl_and_curl() {
    let mut pki = Pki::new();
    let responder = Responder::start(&pki.data(), &[]);
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

    get_and_repository(&pki, &url);

    // A new release (the good certificate revoked too) is picked up without a restart.
    let good = pki.good.clone();
    pki.revoke(&good);
    let id = pki.publish();
    responder.wait_for_log(&[&format!("now serving release {id}")]);
    let t = pki.query(&url, &["-cert", "good.pem"], false);
    assert!(t.contains("good.pem: revoked"), "{t}");

    // A broken release is refused and the old one keeps serving.
    let broken = pki.data().join("releases").join("broken");
    std::fs::create_dir_all(&broken).expect("mkdir");
    std::fs::write(broken.join("manifest.json"), "{not json").expect("manifest");
    let tmp_link = pki.data().join("current.tmp");
    std::os::unix::fs::symlink("releases/broken", &tmp_link).expect("symlink");
    std::fs::rename(&tmp_link, pki.data().join("current")).expect("swap");
    let line = responder.wait_for_log(&["keeping release"]);
    assert!(line.contains(&id), "{line}");
    let t = pki.query(&url, &["-cert", "good.pem"], false);
    assert!(
        t.contains("good.pem: revoked") && t.contains("Response verify OK"),
        "{t}"
    );

    // SIGTERM: a clean shutdown, exit 0.
    let mut responder = responder;
    let pid = responder.child.id().to_string();
    assert!(
        run(Command::new("kill").args(["-TERM", &pid]))
            .status
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = responder.child.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "no exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0));
}

/// RFC 5019 GET with caching headers and 304, and the repository routes.
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
    let (status, head, body) = http_get(url, &format!("/{escaped}"), &[]);
    assert_eq!(status, 200, "{head}");
    assert!(
        head.contains("content-type: application/ocsp-response"),
        "{head}"
    );
    let max_age: i64 = head
        .lines()
        .find_map(|l| l.strip_prefix("cache-control: max-age="))
        .and_then(|v| v.split(',').next())
        .and_then(|v| v.parse().ok())
        .expect("Cache-Control: max-age");
    // nextUpdate is an hour after thisUpdate (RFC 5019 §6.1: max-age up to nextUpdate).
    assert!((3500..=3600).contains(&max_age), "{head}");
    assert!(
        head.contains(", public, no-transform, must-revalidate"),
        "{head}"
    );
    assert!(
        head.contains("last-modified: ") && head.contains("expires: "),
        "{head}"
    );
    let etag = head
        .lines()
        .find_map(|l| l.strip_prefix("etag: "))
        .expect("etag")
        .trim()
        .to_string();
    std::fs::write(d.join("get.resp"), &body).expect("write");
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
    // Unescaped standard base64 under /ocsp/, and base64url: the same pre-produced response.
    let (_, _, again) = http_get(url, &format!("/ocsp/{b64}"), &[]);
    assert_eq!(again, body, "pre-produced response served again");
    let b64url = b64.replace('+', "-").replace('/', "_");
    let (_, _, again) = http_get(url, &format!("/{}", b64url.trim_end_matches('=')), &[]);
    assert_eq!(again, body);
    // Revalidation (RFC 9110 §13.1.2).
    let (status, _, body) = http_get(url, &format!("/{escaped}"), &[("If-None-Match", &etag)]);
    assert_eq!((status, body.len()), (304, 0));
    // Not base64: malformedRequest, HTTP 200 (RFC 6960 §2.3).
    let (status, _, body) = http_get(url, "/ocsp/not%20base64", &[]);
    assert_eq!((status, body.as_slice()), (200, &[0x30, 3, 0x0a, 1, 1][..]));

    let publication = Publication::load(&pki.data()).expect("load");
    let org = publication
        .cas
        .iter()
        .find(|c| c.name == "organization")
        .expect("organization CA");
    let (status, head, crl) = http_get(url, "/crl/organization.crl", &[]);
    assert_eq!(status, 200);
    assert!(
        head.contains("content-type: application/pkix-crl"),
        "{head}"
    );
    assert_eq!(crl, org.crl_der);
    let (status, head, crt) = http_get(url, "/ca/organization.crt", &[]);
    assert_eq!(status, 200);
    assert!(
        head.contains("content-type: application/pkix-cert"),
        "{head}"
    );
    assert_eq!(crt, org.cert_der);
    assert_eq!(http_get(url, "/crl/nope.crl", &[]).0, 404);
    assert_eq!(http_get(url, "/ca/nope.crt", &[]).0, 404);
    let (_, _, metrics) = http_get(url, "/metrics", &[]);
    let metrics = String::from_utf8(metrics).expect("utf-8");
    assert!(metrics.contains("lgpki_ocsp_cache_hits_total"), "{metrics}");
    let (status, _, body) = http_get(url, "/healthz", &[]);
    assert_eq!((status, body.as_slice()), (200, &b"ok\n"[..]));
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
