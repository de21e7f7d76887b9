//! [`serve`]: the accept loop. HTTP/1.1 only (OCSP clients and CRL fetchers speak it; RFC
//! 5019 §5 is written for it), with a bound on open connections, a header-read timeout for
//! slow or idle clients, and graceful shutdown.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Connections open at once. Beyond it, new connections wait in the kernel's listen backlog
/// (they are not accepted, so they cost this process nothing) until one closes. Each open
/// connection holds a read buffer of a few KiB and at most one request in flight (HTTP/1.1
/// without pipelining beyond hyper's), so 1,024 connections stay within tens of MiB; requests
/// beyond the router's own limit get 503.
pub const MAX_CONNECTIONS: usize = 1024;

/// How long a client has to send a complete request head, counted from when the server
/// starts waiting for one — so it is also the idle timeout of a kept-alive connection.
/// Slowloris-style clients are cut off after it and give their connection slot back.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long shutdown waits for requests in flight before dropping their connections.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Largest request head hyper buffers (request line and headers). A GET request line holds
/// the base64 of a request of at most 64 KiB, URL-encoded: up to ~350 KiB in theory, but a
/// real RFC 5019 request is under 255 octets (§5 says POST beyond that), so 64 KiB is ample.
const MAX_HEAD_SIZE: usize = 64 * 1024;

/// Serves `router` on `listener` until `shutdown` completes, with [`MAX_CONNECTIONS`].
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    serve_with_limit(listener, router, shutdown, MAX_CONNECTIONS).await
}

/// [`serve`] with another bound on open connections (tests, small deployments). Returns when
/// `shutdown` has completed and the requests in flight have finished (or after
/// [`SHUTDOWN_GRACE`]). Accept errors (such as running out of file descriptors) are logged to
/// stderr and retried after a short pause rather than ending the server.
pub async fn serve_with_limit(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send,
    max_connections: usize,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, _peer)) => stream,
                Err(e) => {
                    eprintln!("ca-http: accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Small responses: send them without Nagle's delay. A failure here is harmless.
        let _ = stream.set_nodelay(true);
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .max_buf_size(MAX_HEAD_SIZE)
            .keep_alive(true)
            .serve_connection(
                TokioIo::new(stream),
                TowerToHyperService::new(router.clone()),
            );
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // Errors are per connection (client reset, timeout) and end only that connection.
            let _ = connection.await;
            drop(permit);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {},
        () = tokio::time::sleep(SHUTDOWN_GRACE) => {},
    }
    Ok(())
}
