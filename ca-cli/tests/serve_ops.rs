//! Operating `lgpki serve`: CRLs and ARLs re-signed by themselves with short validities (and
//! verified by `openssl crl`), a CA created while it runs picked up, settings and
//! `config show`, the explicit-home gate, the RA TLS certificate kept across restarts,
//! `/healthz` reasons, latency histograms and JSON access logs.

mod common;

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Env, Server, assert_ok, openssl};

fn get(url: &str) -> (u16, Vec<u8>) {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .new_agent();
    let mut resp = agent.get(url).call().expect("GET");
    let status = resp.status().as_u16();
    let body = resp
        .body_mut()
        .with_config()
        .limit(16 << 20)
        .read_to_vec()
        .expect("body");
    (status, body)
}

/// `openssl crl -CAfile chain -verify` on a DER CRL: its text, and whether it verified.
fn verify_crl(env: &Env, der: &[u8], chain: &std::path::Path, name: &str) -> String {
    let f = env.path(name);
    std::fs::write(&f, der).expect("write crl");
    let out = openssl(&[
        "crl",
        "-inform",
        "DER",
        "-in",
        f.to_str().expect("utf8"),
        "-CAfile",
        chain.to_str().expect("utf8"),
        "-verify",
        "-noout",
        "-text",
    ]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "openssl crl: {text}");
    assert!(
        text.contains("verify OK"),
        "openssl crl did not verify: {text}"
    );
    text
}

fn field<'a>(text: &'a str, label: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(label))
        .unwrap_or_default()
        .trim()
}

fn openssl_time(t: &str) -> i64 {
    // e.g. "Dec  1 11:50:02 2026 GMT" → seconds via `date`.
    let out = Command::new("date")
        .args(["-u", "-d", t, "+%s"])
        .output()
        .expect("date");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("date +%s")
}

#[test]
fn crls_and_arls_are_re_signed_without_the_operator() {
    let env = Env::init(&[]);
    std::fs::write(
        env.home.join("lgpki.toml"),
        "[crl]\nvalidity = \"6s\"\nrefresh = \"2s\"\n[arl]\nvalidity = \"8s\"\nrefresh = \"2s\"\n",
    )
    .expect("settings");
    let shown = env.lgpki(&["--json", "config", "show"]);
    assert_ok(&shown, "config show");
    let v: serde_json::Value = serde_json::from_slice(&shown.stdout).expect("json");
    assert_eq!(v["crl"]["validity_seconds"], 6);
    assert_eq!(v["arl"]["validity_seconds"], 8);
    assert_eq!(v["ocsp"]["validity"], "1h", "default kept");

    let server = Server::start(&env);
    let (_, org_chain) = env.chain_files("organization");
    // The bridge issues only CA (cross-)certificates: it signs an ARL.
    let bridge = env.path("bridge.pem");
    std::fs::write(&bridge, env.lgpki(&["ca", "cert", "bridge"]).stdout).expect("bridge");
    let mut seen: Vec<(String, String)> = Vec::new();
    for round in 0..3 {
        if round > 0 {
            // Past the 2-second refresh, with no request in between.
            std::thread::sleep(Duration::from_millis(2600));
        }
        for (ca, chain, validity, arl) in [
            ("organization", &org_chain, 6, false),
            ("bridge", &bridge, 8, true),
        ] {
            let (status, der) = get(&format!("{}/crl/{ca}.crl", server.http));
            assert_eq!(status, 200, "{ca}");
            let text = verify_crl(&env, &der, chain, &format!("{ca}-{round}.crl"));
            let this = openssl_time(field(&text, "Last Update:"));
            let next = openssl_time(field(&text, "Next Update:"));
            assert_eq!(
                next - this,
                validity,
                "{ca}: nextUpdate - thisUpdate\n{text}"
            );
            assert!(
                next > time_now(),
                "{ca}: served a CRL past its nextUpdate\n{text}"
            );
            assert_eq!(
                text.contains("Only CA Certificates"),
                arl,
                "{ca}: ARL scope\n{text}"
            );
            let number = field(&text, "X509v3 CRL Number:").to_string();
            let number = if number.is_empty() {
                text.lines()
                    .skip_while(|l| !l.contains("X509v3 CRL Number"))
                    .nth(1)
                    .unwrap_or_default()
                    .trim()
                    .to_string()
            } else {
                number
            };
            if round > 0 {
                let prev = seen
                    .iter()
                    .rev()
                    .find(|(c, _)| c == ca)
                    .map(|(_, n)| n.clone())
                    .unwrap_or_default();
                assert_ne!(
                    prev, number,
                    "{ca}: not re-signed after the refresh interval"
                );
            }
            seen.push((ca.to_string(), number));
        }
    }
    // Still fresh long after the first CRL's nextUpdate.
    assert_eq!(get(&format!("{}/healthz", server.http)).0, 200);
}

fn time_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[test]
fn a_ca_created_while_serving_is_served() {
    let env = Env::init(&[]);
    let server = Server::start(&env);
    let out = env.lgpki(&["ca", "create", "city", "--parent", "application"]);
    assert_ok(&out, "ca create");
    let city = env.path("city.pem");
    std::fs::write(&city, env.lgpki(&["ca", "cert", "city"]).stdout).expect("city");
    let root = env.path("root.pem");
    std::fs::write(&root, env.lgpki(&["ca", "cert", "application"]).stdout).expect("root");
    let bundle = env.path("city-bundle.pem");
    std::fs::write(
        &bundle,
        [
            std::fs::read(&city).expect("city"),
            std::fs::read(&root).expect("root"),
        ]
        .concat(),
    )
    .expect("bundle");
    let deadline = Instant::now() + Duration::from_secs(10);
    let answer = loop {
        let out = openssl(&[
            "ocsp",
            "-issuer",
            city.to_str().expect("utf8"),
            "-serial",
            "0x0123456789",
            "-url",
            &format!("{}/ocsp", server.http),
            "-CAfile",
            bundle.to_str().expect("utf8"),
        ]);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if text.contains("0x0123456789: unknown") || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!(
        answer.contains("0x0123456789: unknown") && answer.contains("Response verify OK"),
        "the new CA's OCSP is answered (signed, unknown serial), not unauthorized: {answer}"
    );
    let (status, der) = get(&format!("{}/crl/city.crl", server.http));
    assert_eq!(status, 200);
    verify_crl(&env, &der, &bundle, "city.crl");
}

#[test]
fn an_explicit_home_that_does_not_exist_is_refused_unless_init() {
    let dir = tempfile::tempdir().expect("tempdir");
    let typo = dir.path().join("lgpki-dta");
    let bin = env!("CARGO_BIN_EXE_lgpki");
    for by_env in [false, true] {
        let mut c = Command::new(bin);
        if by_env {
            c.env("LGPKI_HOME", &typo);
        } else {
            c.arg("--home").arg(&typo).env_remove("LGPKI_HOME");
        }
        let out = c
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--ra-listen",
                "127.0.0.1:0",
            ])
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(2), "by_env {by_env}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--init"), "{err}");
        assert!(!typo.exists(), "nothing created at {}", typo.display());
    }
    // With --init it creates the CA there; without any home given, ./lgpki-data.
    for (args, home) in [
        (
            vec!["--home", typo.to_str().expect("utf8"), "serve", "--init"],
            typo.clone(),
        ),
        (vec!["serve"], dir.path().join("lgpki-data")),
    ] {
        let mut child = Command::new(bin)
            .current_dir(dir.path())
            .env_remove("LGPKI_HOME")
            .args(&args)
            .args(["--listen", "127.0.0.1:0", "--ra-listen", "127.0.0.1:0"])
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn");
        let lines = std::io::BufReader::new(child.stderr.take().expect("stderr")).lines();
        let mut started = false;
        for line in lines.map_while(Result::ok) {
            if line.contains("CA certificates on http://") {
                started = true;
                break;
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        assert!(started, "{args:?} did not start");
        assert!(home.join("lgpki.db").exists(), "{}", home.display());
        assert!(home.join("lgpki.toml").exists(), "settings example written");
    }
}

#[test]
fn the_ra_certificate_is_reused_across_restarts() {
    let env = Env::init(&[]);
    for _ in 0..4 {
        let server = Server::start(&env);
        drop(server);
    }
    let servers = env
        .cert_list()
        .into_iter()
        .filter(|c| c["profile"] == "server")
        .count();
    assert_eq!(servers, 1, "four starts, one RA TLS certificate");
    // Its key is private.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(env.home.join("ra-tls/key.pem"))
        .expect("key")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // A DNS name in the settings: a new certificate that carries it, kept from then on.
    std::fs::write(
        env.home.join("lgpki.toml"),
        "ra_dns_name = \"ca.example.lg.jp\"\n",
    )
    .expect("settings");
    drop(Server::start(&env));
    drop(Server::start(&env));
    let servers = env
        .cert_list()
        .into_iter()
        .filter(|c| c["profile"] == "server")
        .count();
    assert_eq!(servers, 2, "one more for the new name, then reused");
    let chain = std::fs::read_to_string(env.home.join("ra-tls/chain.pem")).expect("chain");
    let f = env.path("ra.pem");
    std::fs::write(&f, chain).expect("write");
    let text = String::from_utf8_lossy(
        &openssl(&[
            "x509",
            "-in",
            f.to_str().expect("utf8"),
            "-noout",
            "-ext",
            "subjectAltName",
        ])
        .stdout,
    )
    .to_string();
    assert!(text.contains("DNS:ca.example.lg.jp"), "{text}");
}

#[test]
fn healthz_metrics_and_json_logs() {
    let env = Env::init(&[]);
    let mut child = env
        .command(&[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--ra-listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
        ])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stderr = child.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let http = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("serve started");
        if let Some(rest) = line.split("CA certificates on ").nth(1) {
            break rest.trim().to_string();
        }
    };
    let (status, body) = get(&format!("{http}/healthz"));
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let _ = get(&format!("{http}/crl/organization.crl"));
    let (_, metrics) = get(&format!("{http}/metrics"));
    let metrics = String::from_utf8_lossy(&metrics);
    assert!(
        metrics.contains("lgpki_http_request_duration_seconds_bucket{route=\"crl\",le=\"+Inf\"} 1"),
        "{metrics}"
    );
    // The store goes away (an unmounted volume): 503 with the reason; back: 200.
    let db = env.home.join("lgpki.db");
    let moved = env.path("moved.db");
    std::fs::rename(&db, &moved).expect("move store");
    let deadline = Instant::now() + Duration::from_secs(15);
    let (mut status, mut body) = (200, Vec::new());
    while status == 200 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        (status, body) = get(&format!("{http}/healthz"));
    }
    assert_eq!(status, 503);
    assert!(
        String::from_utf8_lossy(&body).contains("store unreachable"),
        "{}",
        String::from_utf8_lossy(&body)
    );
    std::fs::rename(&moved, &db).expect("restore store");
    let deadline = Instant::now() + Duration::from_secs(15);
    while status != 200 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        (status, body) = get(&format!("{http}/healthz"));
    }
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let _ = child.kill();
    let _ = child.wait();
    // Every log line is JSON; one access line per request, without bodies or headers.
    let lines: Vec<String> = rx.try_iter().collect();
    let mut access = 0;
    for l in lines.iter().filter(|l| l.starts_with('{')) {
        let v: serde_json::Value = serde_json::from_str(l).expect("JSON log line");
        if v["target"] == "lgpki::access" {
            access += 1;
            assert!(v["fields"]["status"].is_number(), "{l}");
            assert!(v["fields"]["route"].is_string(), "{l}");
        }
    }
    assert!(access >= 4, "access lines: {lines:?}");
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("passphrase") || l.contains("PRIVATE KEY")),
        "{lines:?}"
    );
}
