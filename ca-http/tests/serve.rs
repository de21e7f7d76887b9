//! [`ca_http::serve`] over real loopback TCP: requests are served, the connection bound makes
//! extra connections wait (not fail), and shutdown stops the server.

use std::sync::Arc;
use std::time::Duration;

use ca_http::{Metrics, OcspAnswer, OcspSource, router, serve_with_limit};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

struct Echo;

impl OcspSource for Echo {
    fn answer(&self, request_der: &[u8]) -> OcspAnswer {
        OcspAnswer {
            der: request_der.to_vec(),
            successful: true,
            this_update: None,
            next_update: None,
            cacheable: false,
        }
    }
}

/// Sends one HTTP/1.1 request and reads the whole response (the request closes the
/// connection).
async fn request(stream: &mut TcpStream, head: &str, body: &[u8]) -> String {
    stream.write_all(head.as_bytes()).await.expect("write head");
    stream.write_all(body).await.expect("write body");
    let mut out = Vec::new();
    stream.read_to_end(&mut out).await.expect("read");
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_bounds_connections_and_shuts_down() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = router(Arc::new(Echo), None, Arc::new(Metrics::new()));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_with_limit(
        listener,
        app,
        async {
            let _ = stopped.await;
        },
        1,
    ));

    let post = "POST /ocsp HTTP/1.1\r\nHost: t\r\nContent-Type: application/ocsp-request\r\n\
                Content-Length: 4\r\nConnection: close\r\n\r\n";
    let mut a = TcpStream::connect(addr).await.expect("connect");
    let text = request(&mut a, post, b"\x30\x02\x05\x00").await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.contains("content-type: application/ocsp-response"),
        "{text}"
    );
    assert!(text.ends_with("\x30\x02\x05\x00"), "{text}");

    // One slot: an idle kept-alive connection holds it; a second connection is accepted by the
    // kernel but waits, and is served as soon as the first goes away.
    let idle = TcpStream::connect(addr).await.expect("connect idle");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut b = TcpStream::connect(addr).await.expect("connect b");
    b.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut buf = [0u8; 64];
    let waited = tokio::time::timeout(Duration::from_millis(300), b.read(&mut buf)).await;
    assert!(waited.is_err(), "served beyond the connection bound");
    drop(idle);
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), b.read_to_end(&mut out))
        .await
        .expect("served once the slot is free")
        .expect("read");
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.starts_with("HTTP/1.1 200") && text.ends_with("ok\n"),
        "{text}"
    );

    stop.send(()).expect("stop");
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("server stops")
        .expect("join")
        .expect("serve");
    assert!(TcpStream::connect(addr).await.is_err(), "listener closed");
}
