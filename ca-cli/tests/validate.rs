//! `POST /validate` with a simulated GPKI made by `openssl`: a signer whose intermediate the
//! GPKI root revoked, with the root's CRL fetched from a loopback HTTP server, is invalid with
//! the reason; our own certificates are checked against the store; malformed JSON is 400 and
//! a 1.5 MB body 413. `verify --fetch` uses the same fetching and says how each certificate
//! was checked.

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{Env, Server, assert_ok, openssl_ok};

/// A loopback HTTP server answering GET /NAME with DIR/NAME (404 otherwise), until the test ends.
fn file_server(dir: &Path) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let dir = dir.to_path_buf();
    std::thread::spawn(move || {
        for mut s in listener.incoming().map_while(Result::ok) {
            let mut buf = [0u8; 4096];
            let n = s.read(&mut buf).unwrap_or(0);
            let head = String::from_utf8_lossy(&buf[..n]).to_string();
            let name = head
                .split_whitespace()
                .nth(1)
                .unwrap_or("/")
                .trim_start_matches('/')
                .to_string();
            let body = if name.is_empty() || name.contains('/') || name.contains("..") {
                None
            } else {
                std::fs::read(dir.join(&name)).ok()
            };
            let resp = match body {
                Some(b) => [
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        b.len()
                    )
                    .into_bytes(),
                    b,
                ]
                .concat(),
                None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_vec(),
            };
            let _ = s.write_all(&resp);
        }
    });
    format!("http://{addr}")
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf8")
}

/// A GPKI-like PKI: root → intermediate → signer, each CA with an `openssl ca` database; the
/// root revokes the intermediate. CRLs (DER) are written to `pub_dir` for the file server.
struct Gpki {
    root: std::path::PathBuf,
    int: std::path::PathBuf,
    leaf: std::path::PathBuf,
}

fn make_gpki(dir: &Path, pub_dir: &Path, base: &str, revoke_int: bool) -> Gpki {
    let key = |name: &str| {
        let k = dir.join(format!("{name}.key"));
        openssl_ok(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            p(&k),
        ]);
        k
    };
    let root_key = key("groot");
    let root = dir.join("groot.pem");
    openssl_ok(&[
        "req",
        "-x509",
        "-new",
        "-key",
        p(&root_key),
        "-subj",
        "/C=JP/O=GPKI/CN=GPKI Root CA",
        "-days",
        "30",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-out",
        p(&root),
    ]);
    let issue = |name: &str, subj: &str, ca: &Path, ca_key: &Path, ext: &str, serial: &str| {
        let k = key(name);
        let csr = dir.join(format!("{name}.csr"));
        openssl_ok(&["req", "-new", "-key", p(&k), "-subj", subj, "-out", p(&csr)]);
        let extf = dir.join(format!("{name}.ext"));
        std::fs::write(&extf, ext).expect("ext");
        let cert = dir.join(format!("{name}.pem"));
        openssl_ok(&[
            "x509",
            "-req",
            "-in",
            p(&csr),
            "-CA",
            p(ca),
            "-CAkey",
            p(ca_key),
            "-set_serial",
            serial,
            "-days",
            "20",
            "-extfile",
            p(&extf),
            "-out",
            p(&cert),
        ]);
        (cert, k)
    };
    let (int, int_key) = issue(
        "gint",
        "/C=JP/O=GPKI/CN=GPKI Intermediate CA",
        &root,
        &root_key,
        &format!(
            "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n\
             subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n\
             crlDistributionPoints=URI:{base}/groot.crl\n"
        ),
        "0x1001",
    );
    let (leaf, _) = issue(
        "gleaf",
        "/C=JP/O=GPKI/CN=GPKI Signer",
        &int,
        &int_key,
        &format!(
            "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n\
             subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n\
             crlDistributionPoints=URI:{base}/gint.crl\n"
        ),
        "0x2002",
    );
    // CRLs with `openssl ca`.
    let crl = |name: &str, cert: &Path, k: &Path, revoke: Option<&Path>| {
        let db = dir.join(format!("{name}-db"));
        std::fs::create_dir_all(&db).expect("db");
        std::fs::write(db.join("index.txt"), "").expect("index");
        std::fs::write(db.join("crlnumber"), "01\n").expect("crlnumber");
        let cnf = db.join("ca.cnf");
        std::fs::write(
            &cnf,
            format!(
                "[ca]\ndefault_ca=d\n[d]\ndatabase={}/index.txt\ncrlnumber={}/crlnumber\n\
                 default_md=sha256\ndefault_crl_days=1\ncrl_extensions=ext\n\
                 [ext]\nauthorityKeyIdentifier=keyid\n",
                db.display(),
                db.display()
            ),
        )
        .expect("cnf");
        if let Some(r) = revoke {
            openssl_ok(&[
                "ca",
                "-config",
                p(&cnf),
                "-revoke",
                p(r),
                "-keyfile",
                p(k),
                "-cert",
                p(cert),
                "-crl_reason",
                "keyCompromise",
            ]);
        }
        let pem = db.join("crl.pem");
        openssl_ok(&[
            "ca",
            "-config",
            p(&cnf),
            "-gencrl",
            "-keyfile",
            p(k),
            "-cert",
            p(cert),
            "-out",
            p(&pem),
        ]);
        openssl_ok(&[
            "crl",
            "-in",
            p(&pem),
            "-outform",
            "DER",
            "-out",
            p(&pub_dir.join(format!("{name}.crl"))),
        ]);
    };
    crl(
        "groot",
        &root,
        &root_key,
        revoke_int.then_some(int.as_path()),
    );
    crl("gint", &int, &int_key, None);
    Gpki { root, int, leaf }
}

fn post(url: &str, body: &[u8]) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .new_agent();
    let mut resp = agent
        .post(url)
        .header("Content-Type", "application/json")
        .send(body)
        .expect("POST");
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
        .collect();
    let body = resp
        .body_mut()
        .with_config()
        .limit(16 << 20)
        .read_to_vec()
        .expect("body");
    (status, headers, body)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).expect("read")
}

#[test]
fn validate_gpki_signer_with_revoked_intermediate_and_own_certificates() {
    let env = Env::init(&[]);
    let pub_dir = env.path("pub");
    std::fs::create_dir_all(&pub_dir).expect("pub");
    let base = file_server(&pub_dir);
    let gdir = env.path("gpki");
    std::fs::create_dir_all(&gdir).expect("gpki");
    let g = make_gpki(&gdir, &pub_dir, &base, true);

    // verify --fetch: the same fetching, and the reason names the revoked intermediate.
    let out = env.lgpki(&[
        "--json",
        "verify",
        p(&g.leaf),
        "--trust",
        p(&g.root),
        "--untrusted",
        p(&g.int),
        "--fetch",
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(
        v["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("GPKI Intermediate CA,O=GPKI,C=JP is revoked"),
        "{v}"
    );
    assert_eq!(v["revocation"][0]["status"], "good", "{v}");
    assert_eq!(v["revocation"][0]["source"], "crl", "{v}");
    assert_eq!(v["revocation"][1]["status"], "revoked", "{v}");
    // Without --fetch: valid, and it says nothing was checked.
    let out = env.lgpki(&[
        "verify",
        p(&g.leaf),
        "--trust",
        p(&g.root),
        "--untrusted",
        p(&g.int),
    ]);
    assert_ok(&out, "verify without revocation");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("not_checked (none)"), "{text}");
    // --check-ocsp: no OCSP URL in these certificates → undetermined, not valid.
    let out = env.lgpki(&[
        "verify",
        p(&g.leaf),
        "--trust",
        p(&g.root),
        "--untrusted",
        p(&g.int),
        "--check-ocsp",
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("undetermined") && text.contains("no OCSP responder URL"),
        "{text}"
    );
    // A CRL supplied for the signer only: the missing one is named by its issuer.
    let out = env.lgpki(&[
        "verify",
        p(&g.leaf),
        "--trust",
        p(&g.root),
        "--untrusted",
        p(&g.int),
        "--crl",
        p(&pub_dir.join("gint.crl")),
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("no usable CRL from issuer CN=GPKI Root CA"),
        "{text}"
    );

    // The service, with the GPKI root as an extra anchor.
    let server = Server::start_with(&env, &["--trust", p(&g.root)]);
    let url = format!("{}/validate", server.http);
    let req = serde_json::json!({
        "certificate": read(&g.leaf),
        "untrusted": [read(&g.int)],
        "purpose": "any",
    });
    let (status, headers, body) = post(&url, req.to_string().as_bytes());
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(v["valid"], false, "{v}");
    let reason = v["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("GPKI Intermediate CA,O=GPKI,C=JP is revoked"),
        "{reason}"
    );
    assert!(
        reason.contains("keyCompromise") || reason.contains("Key"),
        "{reason}"
    );
    assert_eq!(v["revocation"][1]["source"], "crl");
    assert_eq!(
        v["revocation"][1]["url"].as_str(),
        Some(format!("{base}/groot.crl").as_str())
    );
    for key in ["valid", "reason", "path", "policies", "revocation"] {
        assert!(v.get(key).is_some(), "{key} in {v}");
    }
    // The VA signature: see `va_signature_verifies_with_openssl_cms`.
    let _ = headers;

    // Our own staff certificate: from the store, valid; then revoked, invalid.
    let (serial, staff) = common::issue_staff(&env, "yamada");
    let (_, chain) = env.chain_files("organization");
    let req = serde_json::json!({"certificate": read(&staff), "untrusted": [read(&chain)]});
    let (status, _, body) = post(&url, req.to_string().as_bytes());
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(v["revocation"][0]["source"], "store", "{v}");
    assert_ok(
        &env.lgpki(&["revoke", "--serial", &serial, "--reason", "keyCompromise"]),
        "revoke",
    );
    let (_, _, body) = post(&url, req.to_string().as_bytes());
    let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(v["valid"], false, "{v}");
    assert_eq!(v["revocation"][0]["status"], "revoked", "{v}");

    // Limits: malformed JSON and unknown fields are 400 with a reason; 1.5 MB is 413.
    for bad in [
        &b"{not json"[..],
        b"{\"certificate\": 5}",
        b"{\"cert\": \"x\"}",
    ] {
        let (status, _, body) = post(&url, bad);
        assert_eq!(status, 400, "{}", String::from_utf8_lossy(bad));
        let v: serde_json::Value = serde_json::from_slice(&body).expect("json error");
        assert!(
            !v["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .is_empty()
        );
    }
    // The server answers 413 from Content-Length without reading the body, so the client
    // may see its write cut: read the status line over a raw connection.
    let addr = server.http.trim_start_matches("http://").to_string();
    let mut conn = std::net::TcpStream::connect(&addr).expect("connect");
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let head = format!(
        "POST /validate HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: 1500000\r\nConnection: close\r\n\r\n"
    );
    conn.write_all(head.as_bytes()).expect("head");
    let _ = conn.write_all(&vec![b' '; 1_500_000]);
    let mut answer = Vec::new();
    let _ = conn.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
}

#[test]
fn va_signature_verifies_with_openssl_cms() {
    let env = Env::init(&[]);
    let server = Server::start(&env);
    let (_, staff) = common::issue_staff(&env, "suzuki");
    let (_, chain) = env.chain_files("organization");
    let req = serde_json::json!({"certificate": read(&staff), "untrusted": [read(&chain)]});
    let (status, headers, body) = post(
        &format!("{}/validate", server.http),
        req.to_string().as_bytes(),
    );
    assert_eq!(status, 200);
    check_signature(&env, &headers, &body);
}

/// The `LGPKI-VA-Signature` header verifies with `openssl cms` over the exact body, signed by
/// the VA certificate under the LGPKI root.
fn check_signature(env: &Env, headers: &[(String, String)], body: &[u8]) {
    let Some((_, sig)) = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("lgpki-va-signature"))
    else {
        panic!("no LGPKI-VA-Signature header: {headers:?}");
    };
    use base64::Engine;
    let der = base64::engine::general_purpose::STANDARD
        .decode(sig)
        .expect("base64");
    let sig_f = env.path("va-sig.der");
    let body_f = env.path("va-body.json");
    std::fs::write(&sig_f, der).expect("sig");
    std::fs::write(&body_f, body).expect("body");
    // The VA certificate is the bridge's; the bridge is self-signed.
    let root = env.path("lgpki-root.pem");
    std::fs::write(&root, env.lgpki(&["ca", "cert", "bridge"]).stdout).expect("root");
    let out = Command::new("openssl")
        .args([
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            p(&sig_f),
            "-content",
            p(&body_f),
            "-CAfile",
            p(&root),
            "-out",
            "/dev/null",
        ])
        .output()
        .expect("openssl cms");
    assert!(
        out.status.success()
            && String::from_utf8_lossy(&out.stderr).contains("Verification successful"),
        "openssl cms: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A changed body does not verify.
    let mut tampered = body.to_vec();
    tampered[2] ^= 1;
    std::fs::write(&body_f, tampered).expect("body");
    let out = Command::new("openssl")
        .args([
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            p(&sig_f),
            "-content",
            p(&body_f),
            "-CAfile",
            p(&root),
            "-out",
            "/dev/null",
        ])
        .output()
        .expect("openssl cms");
    assert!(!out.status.success(), "a tampered body verified");
}
