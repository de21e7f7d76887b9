//! `ocsp-responder --data DIR [--listen ADDR]`: a stateless OCSP responder for what
//! `lgpki publish --out DIR` writes.
//!
//! It needs neither the CA's store nor its keys: each CA's responses are signed by the
//! delegated responder key in the publication (RFC 6960 §4.2.2.2), and the responder's
//! certificate goes into `certs`. After `lgpki ca renew`, each retired key generation that
//! still answers has its own responder, certified by that generation's key, and a CertID that
//! names the old key (issuerKeyHash) is answered with it. Serials not in the status snapshot
//! are `unknown`, issuers not in the publication `unauthorized` (RFC 5019 §2.2.3). It also serves the publication's
//! CRLs at `/crl/{name}.crl` and CA certificates at `/ca/{name}.crt`, plus `/healthz` and
//! `/metrics` (see `ca-http`).
//!
//! `DIR/current` is polled every [`POLL_INTERVAL`]; a newer release is loaded fully, checked
//! (files against its signed manifest, the CA signatures, a higher sequence number, a pinned
//! signer: see `publication`), then swapped in atomically (an `Arc` behind a lock), so no
//! request ever sees half of one. A release that fails is reported on stderr, counted in
//! `/metrics`, and the old one kept (a refused release that stays current is checked again
//! every 2 s, not on every poll).
//!
//! Pinning: `--trust-ca FILE` (repeatable) names the CA certificates whose keys must sign a
//! release; without it, the CAs of the first release loaded at start are pinned (trust on
//! first use). `--max-age DURATION`: once the release in service is older, OCSP requests are
//! answered `tryLater` and `/healthz` answers 503; so they are once the release's own
//! validity (`not_after`) has passed, which also caps every nextUpdate.
//!
//! Exit status: 0 after a signal (SIGINT/SIGTERM), 2 for bad arguments or a missing or
//! malformed DIR at start, 1 when the address cannot be bound.
#![deny(missing_docs)]

mod publication;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use ca_core::publish::Publication;
use ca_http::{Health, Limits, Metrics, MetricsSource, OcspSource, Repository, Services};
use clap::Parser;

use crate::publication::{Live, Loaded, Pins};

/// How often `DIR/current` is checked for a new release.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Command line.
#[derive(Parser, Debug)]
#[command(
    name = "ocsp-responder",
    version,
    about = "Stateless OCSP responder (RFC 6960, RFC 5019) for what `lgpki publish --out DIR` wrote"
)]
struct Args {
    /// The publication directory (`lgpki publish --out DIR`).
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8081")]
    listen: SocketAddr,
    /// The oldest release to answer from (e.g. `90s`, `15m`, `24h`, `7d`). Past it, OCSP
    /// requests are answered tryLater (RFC 6960 §2.3) and /healthz answers 503 with the
    /// reason. Without it, only the release's own validity (its CRLs' nextUpdate) applies.
    #[arg(long, value_name = "DURATION", value_parser = parse_max_age)]
    max_age: Option<Duration>,
    /// A CA certificate (PEM or DER; repeatable) whose key must have signed every release
    /// served. Without it, the CAs of the first release loaded at start are pinned.
    #[arg(long = "trust-ca", value_name = "FILE")]
    trust_ca: Vec<PathBuf>,
}

fn parse_max_age(text: &str) -> Result<Duration, String> {
    let d = ca_core::config::parse_duration(text)?;
    if !d.is_positive() {
        return Err("must be positive".into());
    }
    Ok(Duration::from_secs(d.whole_seconds().unsigned_abs()))
}

/// The keys of the `--trust-ca` certificates.
fn read_pins(files: &[PathBuf]) -> Result<Pins, String> {
    let mut certs = Vec::new();
    for f in files {
        let data = ca_core::input::read_limited(f, 1 << 20).map_err(|e| e.to_string())?;
        let what = f.display().to_string();
        certs.extend(
            ca_core::input::der_blocks(&data, &["CERTIFICATE"], &what)
                .map_err(|e| e.to_string())?,
        );
    }
    Pins::from_certificates(&certs).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let metrics = Arc::new(Metrics::new());
    let first = match Publication::load(&args.data).and_then(|p| Loaded::new(p, &metrics)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "ocsp-responder: cannot load the publication in {}: {e}",
                args.data.display()
            );
            return ExitCode::from(2);
        }
    };
    let pins = if args.trust_ca.is_empty() {
        Pins::first_release(&first)
    } else {
        match read_pins(&args.trust_ca) {
            Ok(p) if p.admits(first.signed_by()) => p,
            Ok(_) => {
                eprintln!(
                    "ocsp-responder: release {} in {} is not signed by a --trust-ca key",
                    first.id(),
                    args.data.display()
                );
                return ExitCode::from(2);
            }
            Err(e) => {
                eprintln!("ocsp-responder: --trust-ca: {e}");
                return ExitCode::from(2);
            }
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ocsp-responder: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(run(args, first, pins, metrics))
}

async fn run(args: Args, first: Loaded, pins: Pins, metrics: Arc<Metrics>) -> ExitCode {
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("ocsp-responder: cannot listen on {}: {e}", args.listen);
            return ExitCode::from(1);
        }
    };
    let addr = listener.local_addr().unwrap_or(args.listen);
    // One startup line, which ends with the URL.
    eprintln!(
        "ocsp-responder: serving release {} (sequence {}, {} CA(s), {} pinned CA key(s) from {}) on http://{addr}",
        first.id(),
        first.sequence(),
        first.ca_count(),
        pins.count(),
        if args.trust_ca.is_empty() {
            "the first release"
        } else {
            "--trust-ca"
        }
    );
    let live = Arc::new(Live::new(
        first,
        pins,
        args.max_age,
        ca_core::system_clock(),
    ));
    metrics.add_source(live.clone() as Arc<dyn MetricsSource>);
    tokio::spawn(publication::poll(
        args.data.clone(),
        live.clone(),
        metrics.clone(),
        POLL_INTERVAL,
    ));
    let ocsp: Arc<dyn OcspSource> = live.clone();
    let repo: Arc<dyn Repository> = live.clone();
    let health: Arc<dyn Health> = live;
    let router = ca_http::router_with_services(
        ocsp,
        Some(repo),
        metrics,
        Limits::default(),
        Services {
            health: Some(health),
            ..Services::default()
        },
    );
    match ca_http::serve(listener, router, shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ocsp-responder: {e}");
            ExitCode::from(1)
        }
    }
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    eprintln!("ocsp-responder: shutting down");
}
