//! Issue 17 item 3 (regression): the RA port could be locked by anyone with any client
//! certificate — 260 connections sending a body at 1 byte/s held all 256 connection slots and
//! officers got EOF. Now the client certificate is authorised before a body is read, slow bodies
//! time out, and one client certificate holds at most a few connections.

mod common;
mod ra_common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{KeyKind, StoreKind, assert_ok, json_lines, make_key, openssl_ok};
use ra_common::{Ra, Who};

const ATTACK_CONNECTIONS: usize = 260;

fn tls_config(ra: &Ra, who: &Who) -> Arc<rustls::ClientConfig> {
    let root = std::fs::read(ra.env.path("root.pem")).expect("root");
    let mut roots = rustls::RootCertStore::empty();
    for d in ca_core::input::der_blocks(&root, &["CERTIFICATE"], "root").expect("der") {
        roots
            .add(rustls::pki_types::CertificateDer::from(d))
            .expect("root");
    }
    let chain = ca_core::input::der_blocks(
        &std::fs::read(&who.cert).expect("cert"),
        &["CERTIFICATE"],
        "cert",
    )
    .expect("der")
    .into_iter()
    .map(rustls::pki_types::CertificateDer::from)
    .collect();
    let key = ca_core::input::der_blocks(
        &std::fs::read(&who.key).expect("key"),
        &["PRIVATE KEY"],
        "key",
    )
    .expect("pkcs8")
    .remove(0);
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_client_auth_cert(
        chain,
        rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(key)),
    )
    .expect("client auth");
    Arc::new(cfg)
}

/// Outcomes of the slow senders.
#[derive(Default)]
struct Tally {
    connected: AtomicUsize,
    /// Answered (with any status) before the attack ended.
    answered: AtomicUsize,
    statuses: std::sync::Mutex<Vec<String>>,
}

/// Opens `n` TLS connections as `who`, each sending a request head announcing a 1000-byte body
/// and then the body at 1 byte/s until `stop`.
fn slow_senders(
    ra: &Ra,
    who: &Who,
    n: usize,
    stop: Arc<AtomicBool>,
    tally: Arc<Tally>,
) -> Vec<std::thread::JoinHandle<()>> {
    let cfg = tls_config(ra, who);
    let addr = ra.server.ra.trim_start_matches("https://").to_string();
    (0..n)
        .map(|_| {
            let (cfg, addr, stop, tally) = (cfg.clone(), addr.clone(), stop.clone(), tally.clone());
            std::thread::spawn(move || {
                let Ok(tcp) = TcpStream::connect(&addr) else {
                    return;
                };
                // The handshake may wait while 260 others are made; reads later poll every 50 ms.
                let _ = tcp.set_read_timeout(Some(Duration::from_secs(15)));
                let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
                let Ok(conn) = rustls::ClientConnection::new(cfg, name) else {
                    return;
                };
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                while tls.conn.is_handshaking() {
                    if tls.conn.complete_io(&mut tls.sock).is_err() {
                        return;
                    }
                }
                let _ = tls.sock.set_read_timeout(Some(Duration::from_millis(50)));
                let head = "POST /api/v1/requests HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n";
                if tls.write_all(head.as_bytes()).and_then(|_| tls.flush()).is_err() {
                    return;
                }
                tally.connected.fetch_add(1, Ordering::SeqCst);
                let mut buf = [0u8; 4096];
                let mut got = Vec::new();
                let mut last = Instant::now() - Duration::from_secs(1);
                while !stop.load(Ordering::SeqCst) {
                    if last.elapsed() >= Duration::from_secs(1) {
                        if tls.write_all(b" ").and_then(|_| tls.flush()).is_err() {
                            break;
                        }
                        last = Instant::now();
                    }
                    match tls.read(&mut buf) {
                        Ok(0) => break,
                        Ok(k) => {
                            got.extend_from_slice(&buf[..k]);
                            if got.windows(4).any(|w| w == b"\r\n\r\n") {
                                break;
                            }
                        }
                        Err(e)
                            if e.kind() == std::io::ErrorKind::WouldBlock
                                || e.kind() == std::io::ErrorKind::TimedOut => {}
                        Err(_) => break,
                    }
                }
                if !got.is_empty() {
                    tally.answered.fetch_add(1, Ordering::SeqCst);
                    let line = String::from_utf8_lossy(&got)
                        .lines()
                        .next()
                        .unwrap_or_default()
                        .to_string();
                    if let Ok(mut s) = tally.statuses.lock() {
                        s.push(line);
                    }
                }
            })
        })
        .collect()
}

/// Runs the officer's `request list` while the attack is on; it must succeed.
fn officer_still_served(ra: &Ra, who: &Who) {
    let started = Instant::now();
    let out = ra.remote(who, &["request", "list"]);
    assert_ok(&out, "an officer during the attack");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "served, but only after {:?}",
        started.elapsed()
    );
    assert!(json_lines(&out.stdout).iter().all(|r| r["org"] == "131016"));
}

fn slow_bodies_from_any_client_certificate_do_not_lock_officers_out(store: StoreKind) {
    let ra = Ra::start_on(store);
    // Any client certificate: self-signed, not ours.
    let key = make_key(ra.env.dir.path(), "mallory", KeyKind::P256);
    let cert = ra.env.path("mallory.pem");
    openssl_ok(&[
        "req",
        "-x509",
        "-new",
        "-key",
        key.to_str().expect("utf8"),
        "-subj",
        "/CN=mallory",
        "-days",
        "30",
        "-out",
        cert.to_str().expect("utf8"),
    ]);
    let mallory = Who {
        cert: cert.display().to_string(),
        key: key.display().to_string(),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let threads = slow_senders(
        &ra,
        &mallory,
        ATTACK_CONNECTIONS,
        stop.clone(),
        tally.clone(),
    );
    std::thread::sleep(Duration::from_secs(3));
    officer_still_served(&ra, &ra.reg);
    stop.store(true, Ordering::SeqCst);
    for t in threads {
        let _ = t.join();
    }
    // Each was refused at its request head, before any body was read: 403 (not an officer)
    // on the connections within the per-client cap, 429 on those over it. The cap is applied
    // first because it costs nothing, while authenticating opens the store.
    let statuses = tally.statuses.lock().expect("lock").clone();
    let forbidden = statuses.iter().filter(|s| s.contains(" 403")).count();
    assert!(
        statuses.len() >= ATTACK_CONNECTIONS / 2
            && forbidden >= 1
            && statuses
                .iter()
                .all(|s| s.contains(" 403") || s.contains(" 429")),
        "{} connected, answers: {statuses:?}",
        tally.connected.load(Ordering::SeqCst)
    );
}

fn an_officer_holding_slow_connections_is_capped_and_timed_out(store: StoreKind) {
    let ra = Ra::start_on(store);
    // A registered officer's own certificate sends slow bodies on 260 connections.
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let threads = slow_senders(
        &ra,
        &ra.sap,
        ATTACK_CONNECTIONS,
        stop.clone(),
        tally.clone(),
    );
    std::thread::sleep(Duration::from_secs(3));
    officer_still_served(&ra, &ra.reg);
    // The bodies that never finish are cut off after the body timeout (10 s).
    std::thread::sleep(Duration::from_secs(10));
    stop.store(true, Ordering::SeqCst);
    for t in threads {
        let _ = t.join();
    }
    let statuses = tally.statuses.lock().expect("lock").clone();
    let too_many = statuses.iter().filter(|s| s.contains(" 429")).count();
    let timed_out = statuses.iter().filter(|s| s.contains(" 408")).count();
    assert!(
        too_many >= ATTACK_CONNECTIONS - 16,
        "over the per-client cap: {too_many} × 429 of {statuses:?}"
    );
    assert!(
        (1..=16).contains(&timed_out),
        "the capped few time out: {timed_out} × 408 of {statuses:?}"
    );
    // Nothing was submitted by the attack.
    assert!(json_lines(&ra.env.lgpki(&["--json", "request", "list"]).stdout).is_empty());
}

on_both_stores!(
    slow_bodies_from_any_client_certificate_do_not_lock_officers_out,
    an_officer_holding_slow_connections_is_capped_and_timed_out,
);
