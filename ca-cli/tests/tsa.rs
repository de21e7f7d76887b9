//! `POST /tsa` (RFC 3161) against real peers: requests made by `openssl ts -query`, answers
//! read by `openssl ts -reply -text` and verified by `openssl ts -verify` up to the LGPKI root;
//! the TSA certificate `init` issues is lint-clean for pkilint; every refusal gate fires (415,
//! 413, badDataFormat, badAlg, unacceptedPolicy); serials are distinct and recorded.

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{Env, Server, assert_ok, openssl_ok};

fn p(path: &Path) -> &str {
    path.to_str().expect("utf8")
}

/// The policy OID of class `timestamping`, read from `policies/oids.toml`.
fn tsa_policy() -> String {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/oids.toml"),
    )
    .expect("oids.toml");
    let v: toml_lite::Oids = toml_lite::parse(&text);
    format!("{}.{}", v.arc, v.timestamping)
}

/// Just enough of `oids.toml` (two keys) without a TOML dependency in the tests.
mod toml_lite {
    pub struct Oids {
        pub arc: String,
        pub timestamping: u32,
    }
    pub fn parse(text: &str) -> Oids {
        let value = |key: &str| {
            text.lines()
                .find_map(|l| {
                    let (k, v) = l.split_once('=')?;
                    (k.trim() == key).then(|| v.split('#').next().unwrap_or("").trim().to_string())
                })
                .unwrap_or_else(|| panic!("{key} not in oids.toml"))
        };
        Oids {
            arc: value("arc").trim_matches('"').to_string(),
            timestamping: value("timestamping").parse().expect("class number"),
        }
    }
}

/// POST `body` to `url` with `content_type`: (status, content type, body).
fn post(url: &str, content_type: &str, body: &[u8]) -> (u16, String, Vec<u8>) {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .new_agent();
    let mut resp = agent
        .post(url)
        .header("Content-Type", content_type)
        .send(body)
        .expect("POST");
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = resp.body_mut().read_to_vec().expect("body");
    (status, ct, body)
}

/// A home with a running server, a datum, and the TSA's chain and the root on disk.
struct Fixture {
    env: Env,
    server: Server,
    data: PathBuf,
    root: PathBuf,
    tsa_chain: PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        let env = Env::init(&[]);
        let server = Server::start(&env);
        let data = env.path("contract.txt");
        std::fs::write(&data, "契約書: 令和8年度 庁舎清掃業務委託\n").expect("data");
        let root = env.path("root.pem");
        // The TSA certificate chains to the application root (through its time-stamping CA).
        std::fs::write(&root, env.lgpki(&["ca", "cert", "application"]).stdout).expect("root");
        let tsa_chain = env.home.join("tsa/chain.pem");
        Fixture {
            env,
            server,
            data,
            root,
            tsa_chain,
        }
    }

    fn url(&self) -> String {
        format!("{}/tsa", self.server.http)
    }

    /// `openssl ts -query` with `args`, POSTed: (request file, response file, HTTP status).
    fn stamp(&self, name: &str, args: &[&str]) -> (PathBuf, PathBuf) {
        let tsq = self.env.path(&format!("{name}.tsq"));
        let tsr = self.env.path(&format!("{name}.tsr"));
        let mut q = vec!["ts", "-query", "-data", p(&self.data), "-out", p(&tsq)];
        q.extend_from_slice(args);
        openssl_ok(&q);
        let (status, ct, body) = post(
            &self.url(),
            "application/timestamp-query",
            &std::fs::read(&tsq).expect("tsq"),
        );
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        assert_eq!(ct, "application/timestamp-reply");
        std::fs::write(&tsr, body).expect("tsr");
        (tsq, tsr)
    }

    /// `openssl ts -verify -data FILE -in RESP -CAfile root -untrusted tsa-chain`.
    fn verify(&self, data: &Path, tsr: &Path) -> std::process::Output {
        Command::new("openssl")
            .args(["ts", "-verify", "-data", p(data), "-in", p(tsr)])
            .args(["-CAfile", p(&self.root), "-untrusted", p(&self.tsa_chain)])
            .output()
            .expect("openssl ts -verify")
    }
}

/// `openssl ts -reply -in RESP -text`.
fn reply_text(tsr: &Path) -> String {
    openssl_ok(&["ts", "-reply", "-in", p(tsr), "-text"])
}

/// The value after `key` on its line of openssl's text.
fn field(text: &str, key: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .unwrap_or_else(|| panic!("no {key:?} in:\n{text}"))
        .trim()
        .to_string()
}

#[test]
fn tokens_verify_with_openssl_and_carry_policy_accuracy_nonce() {
    let f = Fixture::new();
    let policy = tsa_policy();
    let (tsq, tsr) = f.stamp("a", &["-sha256", "-cert"]);
    let text = reply_text(&tsr);
    assert_eq!(field(&text, "Status:"), "Granted.", "{text}");
    assert_eq!(field(&text, "Policy OID:"), policy, "{text}");
    assert!(
        field(&text, "Accuracy:").starts_with("0x01 seconds"),
        "{text}"
    );
    assert!(
        field(&text, "TSA:").contains("CN=Time-Stamping Authority"),
        "certReq asks for the TSA name: {text}"
    );
    let query = openssl_ok(&["ts", "-query", "-in", p(&tsq), "-text"]);
    assert_eq!(
        field(&text, "Nonce:"),
        field(&query, "Nonce:"),
        "nonce echoed"
    );
    // The imprint echoed: -queryfile makes openssl compare imprint and nonce with the request.
    let out = Command::new("openssl")
        .args(["ts", "-verify", "-queryfile", p(&tsq), "-in", p(&tsr)])
        .args(["-CAfile", p(&f.root), "-untrusted", p(&f.tsa_chain)])
        .output()
        .expect("openssl");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Verification: OK"),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let out = f.verify(&f.data, &tsr);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.contains("Verification: OK"),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The same token does not verify over other data.
    let other = f.env.path("other.txt");
    std::fs::write(&other, "契約書: 改ざん\n").expect("other");
    let out = f.verify(&other, &tsr);
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("Verification: OK"),
        "a token over other data verified"
    );

    // Without certReq: no TSA name, no certificate in the token, still verifiable with the
    // certificate given; SHA-512 imprints work too.
    let (_, tsr2) = f.stamp("b", &["-sha512"]);
    let text2 = reply_text(&tsr2);
    assert_eq!(field(&text2, "TSA:"), "unspecified", "{text2}");
    let out = f.verify(&f.data, &tsr2);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Verification: OK"),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Distinct serials of at least 64 bits, each recorded in the store.
    let s1 = field(&text, "Serial number:");
    let s2 = field(&text2, "Serial number:");
    assert_ne!(s1, s2);
    for s in [&s1, &s2] {
        let hex = s.trim_start_matches("0x");
        assert!(hex.len() > 16, "serial {s} under 64 bits");
    }
    let db = rusqlite::Connection::open(f.env.home.join("lgpki.db")).expect("db");
    let serials: Vec<String> = db
        .prepare("SELECT serial FROM timestamps")
        .expect("select")
        .query_map([], |r| r.get(0))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("serials");
    assert_eq!(serials.len(), 2);
    for s in [&s1, &s2] {
        let hex = s.trim_start_matches("0x").to_ascii_lowercase();
        assert!(
            serials
                .iter()
                .any(|r| r.trim_start_matches('0') == hex.trim_start_matches('0')),
            "{hex} not in {serials:?}"
        );
    }
}

#[test]
fn tsa_certificate_is_critical_timestamping_and_lint_clean() {
    let env = Env::init(&[]);
    let chain = env.home.join("tsa/chain.pem");
    let key = env.home.join("tsa/key.pem");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&key).expect("key").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "TSA key mode {mode:o}");
    let leaf = env.path("tsa.pem");
    let pem = openssl_ok(&["x509", "-in", p(&chain)]);
    std::fs::write(&leaf, &pem).expect("leaf");
    let text = openssl_ok(&["x509", "-in", p(&leaf), "-noout", "-text"]);
    let eku = text
        .split("X509v3 Extended Key Usage:")
        .nth(1)
        .expect("EKU present");
    assert!(eku.trim_start().starts_with("critical"), "{text}");
    assert!(
        eku.lines().nth(1).unwrap_or_default().trim() == "Time Stamping",
        "{text}"
    );
    assert!(text.contains(&tsa_policy()), "{text}");
    common::assert_pkilint_clean(&leaf);
    // The issuer is the application root's time-stamping CA, and the certificate is on the
    // record.
    assert!(
        text.contains("CN = LGPKI Application CA - Time-Stamping\n"),
        "{text}"
    );
    let listed = env.cert_list();
    assert!(
        listed.iter().any(|c| c["profile"] == "timestamping"),
        "{listed:?}"
    );
}

#[test]
fn gates_refuse_with_http_status_or_fail_info() {
    let f = Fixture::new();
    let url = f.url();
    let (tsq, _) = f.stamp("ok", &["-sha256"]);
    let good = std::fs::read(&tsq).expect("tsq");

    // 415: another media type.
    let (status, _, _) = post(&url, "application/octet-stream", &good);
    assert_eq!(status, 415);

    // 413 from Content-Length, before the body is read.
    let addr = f.server.http.trim_start_matches("http://").to_string();
    let mut conn = std::net::TcpStream::connect(&addr).expect("connect");
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let head = format!(
        "POST /tsa HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/timestamp-query\r\n\
         Content-Length: 100000\r\nConnection: close\r\n\r\n"
    );
    conn.write_all(head.as_bytes()).expect("head");
    let _ = conn.write_all(&vec![0x30; 100_000]);
    let mut answer = Vec::new();
    let _ = conn.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    let rejected = |name: &str, body: &[u8], reason: &str| {
        let (status, ct, resp) = post(&url, "application/timestamp-query", body);
        assert_eq!(status, 200, "{name}");
        assert_eq!(ct, "application/timestamp-reply", "{name}");
        let tsr = f.env.path(&format!("{name}.tsr"));
        std::fs::write(&tsr, resp).expect("tsr");
        let text = reply_text(&tsr);
        assert_eq!(field(&text, "Status:"), "Rejected.", "{name}: {text}");
        assert!(text.contains(reason), "{name}: {text}");
        assert!(text.contains("TST info:\nNot included."), "{name}: {text}");
    };
    // Malformed DER: a rejection with badDataFormat (like /ocsp's malformedRequest).
    rejected(
        "garbage",
        b"\x30\x82\x01\x00not DER at all",
        "the data submitted has the wrong format",
    );
    rejected(
        "truncated",
        &good[..good.len() - 3],
        "the data submitted has the wrong format",
    );
    // An unknown hash algorithm: badAlg.
    let md5 = f.env.path("md5.tsq");
    openssl_ok(&["ts", "-query", "-data", p(&f.data), "-md5", "-out", p(&md5)]);
    rejected(
        "md5",
        &std::fs::read(&md5).expect("md5"),
        "unrecognized or unsupported algorithm identifier",
    );
    // A policy that is not ours: unacceptedPolicy.
    let foreign = f.env.path("foreign.tsq");
    openssl_ok(&[
        "ts",
        "-query",
        "-data",
        p(&f.data),
        "-sha256",
        "-tspolicy",
        "1.2.3.4",
        "-out",
        p(&foreign),
    ]);
    rejected(
        "foreign-policy",
        &std::fs::read(&foreign).expect("foreign"),
        "the requested TSA policy is not supported by the TSA",
    );
    // Our own policy asked for explicitly is granted.
    let ours = f.env.path("ours.tsq");
    openssl_ok(&[
        "ts",
        "-query",
        "-data",
        p(&f.data),
        "-sha256",
        "-tspolicy",
        &tsa_policy(),
        "-out",
        p(&ours),
    ]);
    let (_, _, resp) = post(
        &url,
        "application/timestamp-query",
        &std::fs::read(&ours).expect("ours"),
    );
    let tsr = f.env.path("ours.tsr");
    std::fs::write(&tsr, resp).expect("tsr");
    assert_eq!(field(&reply_text(&tsr), "Status:"), "Granted.");
    // A SHA-256 imprint of 20 octets: badDataFormat. The request is the good one with the
    // imprint's OCTET STRING shortened (openssl will not make such a request).
    let short = short_imprint(&good);
    rejected("short", &short, "the data submitted has the wrong format");
    // Nothing but the granted requests is on the record.
    let db = rusqlite::Connection::open(f.env.home.join("lgpki.db")).expect("db");
    let n: i64 = db
        .query_row("SELECT COUNT(*) FROM timestamps", [], |r| r.get(0))
        .expect("count");
    assert_eq!(n, 2);
    assert_ok(&f.env.lgpki(&["audit", "verify"]), "audit verify");
}

/// The DER TimeStampReq `good` (SHA-256, no policy, a nonce, no certReq) with its 32-octet
/// hashedMessage cut to 20 octets, lengths fixed up.
fn short_imprint(good: &[u8]) -> Vec<u8> {
    use der::{Decode, Encode};
    #[derive(der::Sequence)]
    struct Imprint {
        alg: der::Any,
        hash: der::asn1::OctetString,
    }
    #[derive(der::Sequence)]
    struct Req {
        version: der::Any,
        imprint: Imprint,
        nonce: Option<der::asn1::Int>,
    }
    let mut r = Req::from_der(good).expect("openssl's request");
    r.imprint.hash = der::asn1::OctetString::new(&r.imprint.hash.as_bytes()[..20]).expect("os");
    r.to_der().expect("der")
}

/// `serve` issues the TSA certificate on a home that lacks it (as for the VA certificate),
/// reuses it on the next start, and serials stay distinct and recorded across the restart.
#[test]
fn serve_issues_a_missing_tsa_certificate_and_reuses_it() {
    let mut f = Fixture::new();
    let first = std::fs::read(&f.tsa_chain).expect("init's chain");
    // A home without HOME/tsa: serve issues one.
    drop(f.server);
    std::fs::remove_dir_all(f.env.home.join("tsa")).expect("rm tsa");
    f.server = Server::start(&f.env);
    let issued = std::fs::read(&f.tsa_chain).expect("serve's chain");
    assert_ne!(first, issued, "a new TSA certificate");
    let (_, tsr1) = f.stamp("r1", &["-sha256", "-cert"]);
    assert!(field(&reply_text(&tsr1), "Accuracy:").starts_with("0x01 seconds"));
    // Restarted with another accuracy in HOME/lgpki.toml: the same certificate, tokens still
    // verify, a new serial, the accuracy configured.
    drop(f.server);
    let settings = f.env.home.join("lgpki.toml");
    let text = std::fs::read_to_string(&settings).expect("settings");
    std::fs::write(
        &settings,
        text.replace("# accuracy = \"1s\"", "accuracy = \"3s\""),
    )
    .expect("settings");
    f.server = Server::start(&f.env);
    assert_eq!(
        std::fs::read(&f.tsa_chain).expect("chain"),
        issued,
        "reused"
    );
    let (_, tsr2) = f.stamp("r2", &["-sha256", "-cert"]);
    for tsr in [&tsr1, &tsr2] {
        let out = f.verify(&f.data, tsr);
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Verification: OK"),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(field(&reply_text(&tsr2), "Accuracy:").starts_with("0x03 seconds"));
    assert_ne!(
        field(&reply_text(&tsr1), "Serial number:"),
        field(&reply_text(&tsr2), "Serial number:")
    );
    let tsa_certs = f
        .env
        .cert_list()
        .iter()
        .filter(|c| c["profile"] == "timestamping")
        .count();
    assert_eq!(tsa_certs, 2, "init's and serve's");
    let db = rusqlite::Connection::open(f.env.home.join("lgpki.db")).expect("db");
    let n: i64 = db
        .query_row("SELECT COUNT(*) FROM timestamps", [], |r| r.get(0))
        .expect("count");
    assert_eq!(n, 2);
}
