//! Loopback throughput of the full stack (`serve` → router → `CachingOcsp` → ECDSA P-256
//! signing): nonce-less requests (answered from the cache) against nonce requests (signed
//! every time). Ignored by default: run with
//! `cargo test --release -p ca-http --test throughput -- --ignored --nocapture`.
//!
//! Bounded: each phase sends at most `REQUESTS` requests over `CONNECTIONS` keep-alive
//! connections to 127.0.0.1 and stops after `MAX_PHASE_TIME` whatever it has done.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use ca_core::ocsp::{CaHashes, CertId, HashAlgorithm, Lookup, build_request};
use ca_core::{Error, Result};
use ca_http::{CacheConfig, CachingOcsp, Metrics, OcspIssuer, StatusLookup, router, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const CONNECTIONS: usize = 16;
const REQUESTS: usize = 20_000;
const MAX_PHASE_TIME: Duration = Duration::from_secs(10);

struct AllGood(Arc<OcspIssuer>);

impl StatusLookup for AllGood {
    fn epoch(&self) -> Result<u64> {
        Ok(0)
    }
    fn issuer(&self, id: &CertId) -> Option<Arc<OcspIssuer>> {
        self.0.matches(id).then(|| self.0.clone())
    }
    fn status(&self, _: &OcspIssuer, serial: &[u8]) -> Result<Lookup> {
        if serial.is_empty() {
            return Err(Error::malformed("serial", "empty"));
        }
        Ok(Lookup::Good)
    }
}

/// One keep-alive connection sending `bodies` in turn; returns how many got a 200.
async fn client(addr: std::net::SocketAddr, bodies: Vec<Vec<u8>>, deadline: Instant) -> usize {
    let Ok(mut s) = TcpStream::connect(addr).await else {
        return 0;
    };
    let _ = s.set_nodelay(true);
    let mut ok = 0;
    let mut buf = Vec::with_capacity(4096);
    for body in bodies {
        if Instant::now() > deadline {
            break;
        }
        let head = format!(
            "POST / HTTP/1.1\r\nHost: t\r\nContent-Type: application/ocsp-request\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        // One write per request (a split head and body would meet Nagle and delayed ACKs).
        let mut request = head.into_bytes();
        request.extend_from_slice(&body);
        if s.write_all(&request).await.is_err() {
            break;
        }
        // Read the head, then Content-Length octets.
        buf.clear();
        let mut chunk = [0u8; 4096];
        let (head_end, len) = loop {
            let Ok(n) = s.read(&mut chunk).await else {
                return ok;
            };
            if n == 0 {
                return ok;
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..p]).to_ascii_lowercase();
                let len = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                if head.starts_with("http/1.1 200") {
                    ok += 1;
                }
                break (p + 4, len);
            }
        };
        while buf.len() < head_end + len {
            let Ok(n) = s.read(&mut chunk).await else {
                return ok;
            };
            if n == 0 {
                return ok;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    }
    ok
}

async fn phase(addr: std::net::SocketAddr, name: &str, make: impl Fn(usize) -> Vec<u8>) {
    let per = REQUESTS / CONNECTIONS;
    let deadline = Instant::now() + MAX_PHASE_TIME;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..CONNECTIONS {
        let bodies: Vec<Vec<u8>> = (0..per).map(|i| make(c * per + i)).collect();
        tasks.push(tokio::spawn(client(addr, bodies, deadline)));
    }
    let mut ok = 0;
    for t in tasks {
        ok += t.await.unwrap_or(0);
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{name}: {ok} responses in {secs:.2} s = {:.0} req/s over {CONNECTIONS} connections",
        ok as f64 / secs
    );
    assert!(ok > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "load test: run explicitly"]
async fn loopback_throughput() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, signer) = common::make_ca(dir.path(), "Throughput CA");
    let issuer = Arc::new(
        OcspIssuer::new("t", &cert, signer, None, time::Duration::hours(1)).expect("issuer"),
    );
    let hashes: CaHashes = issuer.hashes().clone();
    let metrics = Arc::new(Metrics::new());
    let ocsp = Arc::new(CachingOcsp::new(
        AllGood(issuer),
        CacheConfig::default(),
        metrics.clone(),
    ));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(
        listener,
        router(ocsp, None, metrics.clone()),
        async {
            let _ = stopped.await;
        },
    ));
    let id = |serial: usize| {
        CertId::new(
            HashAlgorithm::Sha1,
            &hashes,
            &(serial as u32 + 1).to_be_bytes(),
        )
        .expect("id")
    };
    // 100 distinct certificates, asked for over and over: almost all cache hits.
    phase(addr, "cached (no nonce, 100 serials)", |i| {
        build_request(&[id(i % 100)], None).expect("request")
    })
    .await;
    // Every request signed.
    phase(addr, "signed (nonce)", |i| {
        build_request(&[id(i % 100)], Some(&(i as u64).to_be_bytes())).expect("request")
    })
    .await;
    println!(
        "cache hits {}, misses {}",
        metrics.cache_hits(),
        metrics.cache_misses()
    );
    let _ = stop.send(());
    let _ = server.await;
}
