//! `lgpki serve` as relying parties see it: OCSP with `openssl ocsp` (good, revoked with reason,
//! unknown, nonce, GET), pkilint on the responses, CRLs and CA certificates over HTTP, a
//! revocation by another process served within a second, and hostile OCSP requests answered
//! without a crash.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Env, KeyKind, Server, assert_ok, make_csr, openssl};

fn http(url: &str, body: Option<&[u8]>) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .new_agent();
    let mut resp = match body {
        Some(b) => agent
            .post(url)
            .header("Content-Type", "application/ocsp-request")
            .send(b)
            .expect("POST"),
        None => agent.get(url).call().expect("GET"),
    };
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
        .collect();
    let body = resp
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_vec()
        .expect("body");
    (status, headers, body)
}

fn ocsp_query(env: &Env, s: &Server, cert: &str, extra: &[&str]) -> String {
    let url = format!("{}/ocsp", s.http);
    let mut args = vec![
        "ocsp",
        "-issuer",
        env.path("org.pem")
            .to_str()
            .expect("utf8")
            .to_string()
            .leak(),
        "-cert",
        cert,
        "-url",
        url.as_str().to_string().leak(),
        "-CAfile",
        env.path("bundle.pem")
            .to_str()
            .expect("utf8")
            .to_string()
            .leak(),
    ];
    args.extend_from_slice(extra);
    let out = openssl(&args);
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn lint_ocsp(path: &std::path::Path) {
    common::assert_pkilint("lint_ocsp_response", &[], path);
}

#[test]
fn serve_answers_ocsp_crls_and_certificates() {
    let env = Env::init(&[]);
    let server = Server::start(&env);
    let org = env.lgpki(&["ca", "cert", "organization"]).stdout;
    std::fs::write(env.path("org.pem"), &org).expect("w");
    // The organization CA is self-signed: its own anchor.
    std::fs::write(env.path("bundle.pem"), &org).expect("w");
    let mut certs = Vec::new();
    for name in ["good", "bad"] {
        let csr = make_csr(
            env.dir.path(),
            name,
            KeyKind::P256,
            &format!("/C=JP/O=LGPKI/OU=千代田区/CN={name}"),
            &[],
        );
        let pem = env.path(&format!("{name}.pem"));
        assert_ok(
            &env.lgpki(&[
                "issue",
                "--profile",
                "staff",
                "--csr",
                csr.to_str().expect("utf8"),
                "--out",
                pem.to_str().expect("utf8"),
            ]),
            "issue",
        );
        certs.push(pem.display().to_string());
    }
    let (good, bad) = (&certs[0], &certs[1]);

    // good, with a nonce (openssl sends one by default and checks the echo).
    let out = ocsp_query(
        &env,
        &server,
        good,
        &["-respout", env.path("good.resp").to_str().expect("utf8")],
    );
    assert!(
        out.contains("Response verify OK")
            && out.contains(": good")
            && !out.contains("WARNING: no nonce"),
        "{out}"
    );
    lint_ocsp(&env.path("good.resp"));

    // Revoked by another process: served within a second, with reason.
    let serial = openssl(&["x509", "-in", bad, "-noout", "-serial"]);
    let serial = String::from_utf8_lossy(&serial.stdout)
        .trim()
        .trim_start_matches("serial=")
        .to_string();
    let out = ocsp_query(&env, &server, bad, &["-no_nonce"]);
    assert!(
        out.contains(": good"),
        "cached good before revocation: {out}"
    );
    assert_ok(
        &env.lgpki(&["revoke", "--serial", &serial, "--reason", "keyCompromise"]),
        "revoke",
    );
    std::thread::sleep(Duration::from_millis(1000));
    let out = ocsp_query(
        &env,
        &server,
        bad,
        &[
            "-no_nonce",
            "-respout",
            env.path("bad.resp").to_str().expect("utf8"),
        ],
    );
    assert!(
        out.contains(": revoked") && out.contains("Reason: keyCompromise"),
        "{out}"
    );
    lint_ocsp(&env.path("bad.resp"));

    // unknown: a serial this CA never issued.
    let out = ocsp_query(&env, &server, good, &[]);
    assert!(out.contains(": good"));
    let url = format!("{}/ocsp", server.http);
    let out = openssl(&[
        "ocsp",
        "-issuer",
        env.path("org.pem").to_str().expect("utf8"),
        "-serial",
        "0x1234567890",
        "-url",
        &url,
        "-CAfile",
        env.path("bundle.pem").to_str().expect("utf8"),
    ]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("0x1234567890: unknown"), "{said}");

    // GET (RFC 5019): base64 of the DER request in the path; caching headers.
    let req = env.path("req.der");
    assert_ok(
        &openssl(&[
            "ocsp",
            "-issuer",
            env.path("org.pem").to_str().expect("utf8"),
            "-cert",
            good,
            "-no_nonce",
            "-reqout",
            req.to_str().expect("utf8"),
        ]),
        "reqout",
    );
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(std::fs::read(&req).expect("req"));
    let enc: String = b64
        .chars()
        .map(|c| match c {
            '+' => "%2B".to_string(),
            '/' => "%2F".to_string(),
            '=' => "%3D".to_string(),
            c => c.to_string(),
        })
        .collect();
    let (status, headers, body) = http(&format!("{}/ocsp/{enc}", server.http), None);
    assert_eq!(status, 200);
    let h = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.clone())
    };
    assert!(
        h("cache-control").is_some_and(|v| v.contains("max-age=")),
        "{headers:?}"
    );
    assert!(
        h("etag").is_some() && h("last-modified").is_some(),
        "{headers:?}"
    );
    assert_eq!(
        h("content-type").as_deref(),
        Some("application/ocsp-response")
    );
    std::fs::write(env.path("get.resp"), &body).expect("w");
    let out = openssl(&[
        "ocsp",
        "-respin",
        env.path("get.resp").to_str().expect("utf8"),
        "-CAfile",
        env.path("bundle.pem").to_str().expect("utf8"),
        "-issuer",
        env.path("org.pem").to_str().expect("utf8"),
        "-cert",
        good,
    ]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(": good"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // CRLs and CA certificates over HTTP.
    let (status, headers, body) = http(&format!("{}/crl/organization.crl", server.http), None);
    assert_eq!(status, 200);
    assert!(
        headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("content-type") && v == "application/pkix-crl")
    );
    let parsed = ca_core::crl::ParsedCrl::parse(&body).expect("CRL parses");
    assert_eq!(
        parsed.entries.len(),
        1,
        "the revoked certificate is on the served CRL"
    );
    let (status, _, body) = http(&format!("{}/ca/bridge.crt", server.http), None);
    assert_eq!(status, 200);
    assert!(<x509_cert::Certificate as der::Decode>::from_der(&body).is_ok());
    assert_eq!(http(&format!("{}/ca/nope.crt", server.http), None).0, 404);
    assert_eq!(http(&format!("{}/healthz", server.http), None).0, 200);

    // Hostile requests: the conformance vectors, garbage, oversized bodies. Never a 5xx.
    let dir = std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/conformance/ocsp-crl/ocsp"
    ));
    let mut sent = 0;
    for e in std::fs::read_dir(dir).expect("conformance vectors") {
        let p = e.expect("entry").path();
        let (status, _, body) = http(
            &format!("{}/ocsp", server.http),
            Some(&std::fs::read(&p).expect("read")),
        );
        assert!(status < 500, "{}: HTTP {status}", p.display());
        if status == 200 {
            assert!(
                ca_core::ocsp::parse_response(&body).is_ok(),
                "{}: the answer is an OCSPResponse",
                p.display()
            );
        }
        sent += 1;
    }
    assert_eq!(sent, 26);
    let (status, _, body) = http(&format!("{}/ocsp", server.http), Some(b"\x30\x03\x02\x01"));
    assert_eq!(status, 200);
    assert_eq!(
        ca_core::ocsp::parse_response(&body)
            .expect("response")
            .status,
        ca_core::ocsp::ResponseStatus::MalformedRequest
    );
    let (status, _, _) = http(
        &format!("{}/ocsp", server.http),
        Some(&vec![0x30; 70 * 1024]),
    );
    assert_eq!(status, 413);
    assert_eq!(
        http(&format!("{}/healthz", server.http), None).0,
        200,
        "still up"
    );
}

#[test]
fn verify_check_ocsp_asks_the_responder_named_in_the_certificate() {
    // The AIA URL in issued certificates must point at this server: pick a free port first.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let env = Env::init(&["--base-url", &base]);
    let listen = format!("127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_lgpki"))
        .arg("--home")
        .arg(&env.home)
        .args(["serve", "--listen", &listen, "--ra-listen", "127.0.0.1:0"])
        .stderr(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn serve");
    let up = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        std::net::TcpStream::connect(&listen).is_ok()
    });
    assert!(up, "serve did not come up");
    let (serial, leaf) = common::issue_staff(&env, "leaf");
    // Anchored at the bridge, through its cross-certificate to the organization CA: both the
    // cross-certificate (the bridge's answer) and the leaf are checked over OCSP.
    std::fs::write(
        env.path("root.pem"),
        env.lgpki(&["ca", "cert", "bridge"]).stdout,
    )
    .expect("w");
    std::fs::copy(
        common::cross_pem(&env, "bridge", "bridge-to-org.pem"),
        env.path("chain.pem"),
    )
    .expect("w");
    let verify = || {
        env.lgpki(&[
            "--json",
            "verify",
            leaf.to_str().expect("utf8"),
            "--trust",
            env.path("root.pem").to_str().expect("utf8"),
            "--untrusted",
            env.path("chain.pem").to_str().expect("utf8"),
            "--check-ocsp",
        ])
    };
    let out = verify();
    assert_ok(&out, "verify --check-ocsp (good)");
    assert_ok(
        &env.lgpki(&["revoke", "--serial", &serial, "--reason", "keyCompromise"]),
        "revoke",
    );
    std::thread::sleep(Duration::from_millis(1000));
    let out = verify();
    let v = &common::json_lines(&out.stdout)[0];
    assert_eq!(out.status.code(), Some(1), "{v}");
    assert!(
        v["reason"].as_str().is_some_and(|r| r.contains("revoked")),
        "{v}"
    );
    let _ = child.kill();
    let _ = child.wait();
}
