//! `ocsp-responder --data DIR [--listen ADDR]`: a stateless OCSP responder for what
//! `lgpki publish --out DIR` writes.
//!
//! It needs neither the CA's store nor its keys: each CA's responses are signed by the
//! delegated responder key in the publication (RFC 6960 §4.2.2.2), and the responder's
//! certificate goes into `certs`. Serials not in the status snapshot are `unknown`, issuers
//! not in the publication `unauthorized` (RFC 5019 §2.2.3). It also serves the publication's
//! CRLs at `/crl/{name}.crl` and CA certificates at `/ca/{name}.crt`, plus `/healthz` and
//! `/metrics` (see `ca-http`).
//!
//! `DIR/current` is polled every [`POLL_INTERVAL`]; a newer release is loaded fully, then
//! swapped in atomically (an `Arc` behind a lock), so no request ever sees half of one. A
//! release that fails to load is reported on stderr and the old one kept.
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
use ca_http::{Metrics, OcspSource, Repository};
use clap::Parser;

use crate::publication::{Live, Loaded};

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
    runtime.block_on(run(args, first, metrics))
}

async fn run(args: Args, first: Loaded, metrics: Arc<Metrics>) -> ExitCode {
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("ocsp-responder: cannot listen on {}: {e}", args.listen);
            return ExitCode::from(1);
        }
    };
    let addr = listener.local_addr().unwrap_or(args.listen);
    eprintln!(
        "ocsp-responder: serving release {} ({} CA(s)) on http://{addr}",
        first.id(),
        first.ca_count()
    );
    let live = Arc::new(Live::new(first));
    tokio::spawn(publication::poll(
        args.data.clone(),
        live.clone(),
        metrics.clone(),
        POLL_INTERVAL,
    ));
    let ocsp: Arc<dyn OcspSource> = live.clone();
    let repo: Arc<dyn Repository> = live;
    let router = ca_http::router(ocsp, Some(repo), metrics);
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
