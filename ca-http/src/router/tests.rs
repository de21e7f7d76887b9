//! Router tests with an in-memory [`OcspSource`] and [`Repository`]: HTTP framing, GET
//! decoding, RFC 5019 §6 caching headers, 304, 413/415/404, limits, health and metrics.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use tower::ServiceExt;

use super::*;

/// Answers every request with `RESPONSE`, remembering what it was sent.
struct FakeOcsp {
    seen: Mutex<Vec<Vec<u8>>>,
    calls: AtomicUsize,
    cacheable: bool,
    /// Held by a test to keep `answer` blocked; `entered` tells when it is.
    gate: Mutex<()>,
    entered: AtomicBool,
    panic: bool,
}

const RESPONSE: &[u8] = b"\x30\x03\x0a\x01\x00 fake successful response";

impl FakeOcsp {
    fn new() -> Arc<FakeOcsp> {
        Arc::new(FakeOcsp {
            seen: Mutex::new(Vec::new()),
            calls: AtomicUsize::new(0),
            cacheable: true,
            gate: Mutex::new(()),
            entered: AtomicBool::new(false),
            panic: false,
        })
    }

    fn seen(&self) -> Vec<Vec<u8>> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl OcspSource for FakeOcsp {
    fn answer(&self, request_der: &[u8]) -> OcspAnswer {
        self.entered.store(true, Ordering::SeqCst);
        let _gate = self.gate.lock();
        self.calls.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut s) = self.seen.lock() {
            s.push(request_der.to_vec());
        }
        assert!(!self.panic, "source panics on purpose");
        let now = OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .expect("nanos");
        OcspAnswer {
            der: RESPONSE.to_vec(),
            successful: true,
            this_update: Some(now),
            next_update: Some(now + time::Duration::hours(1)),
            cacheable: self.cacheable,
        }
    }
}

struct FakeRepo;

impl Repository for FakeRepo {
    fn crl(&self, name: &str, generation: u32) -> Option<Vec<u8>> {
        (name == "root" && generation <= 2).then(|| format!("root crl g{generation}").into_bytes())
    }
    fn arl(&self, name: &str, generation: u32) -> Option<Vec<u8>> {
        (name == "root").then(|| format!("root arl g{generation}").into_bytes())
    }
    fn ca_cert(&self, name: &str) -> Option<Vec<u8>> {
        (name == "root").then(|| b"root cert".to_vec())
    }
}

fn app(ocsp: Arc<FakeOcsp>) -> (Router, Arc<Metrics>) {
    let metrics = Arc::new(Metrics::new());
    let r = router(ocsp, Some(Arc::new(FakeRepo)), metrics.clone());
    (r, metrics)
}

async fn send(router: &Router, req: Request<Body>) -> (StatusCode, HeaderMap, Bytes) {
    let resp = router.clone().oneshot(req).await.expect("infallible");
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    (status, headers, body)
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).expect("request")
}

fn post(uri: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(uri)
        .header(header::CONTENT_TYPE, OCSP_REQUEST)
        .body(body.into())
        .expect("request")
}

fn malformed() -> Vec<u8> {
    ca_core::ocsp::status_response(ResponseStatus::MalformedRequest)
}

#[tokio::test]
async fn post_at_root_and_ocsp() {
    let ocsp = FakeOcsp::new();
    let (r, _) = app(ocsp.clone());
    for path in ["/", "/ocsp"] {
        let (status, headers, body) = send(&r, post(path, b"\x30\x00".to_vec())).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(headers[header::CONTENT_TYPE], OCSP_RESPONSE);
        assert_eq!(&body[..], RESPONSE);
        // POST responses carry no RFC 5019 caching headers.
        assert!(headers.get(header::ETAG).is_none());
    }
    assert_eq!(
        ocsp.seen(),
        vec![b"\x30\x00".to_vec(), b"\x30\x00".to_vec()]
    );
}

#[tokio::test]
async fn post_without_content_type_is_accepted_other_types_are_415() {
    let ocsp = FakeOcsp::new();
    let (r, _) = app(ocsp.clone());
    let req = Request::post("/").body(Body::from("x")).expect("request");
    assert_eq!(send(&r, req).await.0, StatusCode::OK);
    let req = Request::post("/")
        .header(
            header::CONTENT_TYPE,
            "application/OCSP-request; charset=binary",
        )
        .body(Body::from("x"))
        .expect("request");
    assert_eq!(send(&r, req).await.0, StatusCode::OK);
    let req = Request::post("/")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("x"))
        .expect("request");
    assert_eq!(send(&r, req).await.0, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(ocsp.calls.load(Ordering::SeqCst), 2);
}

/// A body that never yields data: reading it would hang.
struct Endless;

impl http_body::Body for Endless {
    type Data = Bytes;
    type Error = std::io::Error;
    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        Poll::Pending
    }
}

#[tokio::test]
async fn oversized_post_is_413() {
    let ocsp = FakeOcsp::new();
    let (r, metrics) = app(ocsp.clone());
    // Declared too large: refused from Content-Length alone, the body is never read (reading
    // `Endless` would hang the test).
    let req = Request::post("/")
        .header(header::CONTENT_TYPE, OCSP_REQUEST)
        .header(header::CONTENT_LENGTH, (MAX_REQUEST_SIZE + 1).to_string())
        .body(Body::new(Endless))
        .expect("request");
    assert_eq!(send(&r, req).await.0, StatusCode::PAYLOAD_TOO_LARGE);
    // Undeclared (chunked) and too large: refused while reading.
    let (status, _, _) = send(&r, post("/ocsp", vec![0u8; MAX_REQUEST_SIZE + 1])).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // Exactly the limit is fine.
    let (status, _, _) = send(&r, post("/ocsp", vec![0u8; MAX_REQUEST_SIZE])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ocsp.calls.load(Ordering::SeqCst), 1);
    assert_eq!(metrics.requests("ocsp_post", 413), 2);
}

#[tokio::test]
async fn get_decodes_standard_and_url_base64() {
    let ocsp = FakeOcsp::new();
    let (r, _) = app(ocsp.clone());
    // Chosen so that standard base64 has '+' and '/', and needs padding.
    let der: Vec<u8> = vec![0xfb, 0xff, 0xbf, 0x30];
    use base64::Engine;
    let std_b64 = base64::engine::general_purpose::STANDARD.encode(&der);
    assert!(std_b64.contains('+') && std_b64.contains('/') && std_b64.ends_with('='));
    let escaped = std_b64
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    let url_b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&der);
    for uri in [
        format!("/{std_b64}"),
        format!("/ocsp/{std_b64}"),
        format!("/{escaped}"),
        format!("/ocsp/{escaped}"),
        format!("/{url_b64}"),
        format!("/ocsp/{url_b64}"),
    ] {
        let (status, headers, body) = send(&r, get(&uri)).await;
        assert_eq!(status, StatusCode::OK, "{uri}");
        assert_eq!(headers[header::CONTENT_TYPE], OCSP_RESPONSE);
        assert_eq!(&body[..], RESPONSE, "{uri}");
    }
    assert!(ocsp.seen().iter().all(|s| *s == der));
    assert_eq!(ocsp.seen().len(), 6);
}

#[tokio::test]
async fn malformed_get_is_malformed_request_with_200() {
    let ocsp = FakeOcsp::new();
    let (r, metrics) = app(ocsp.clone());
    for uri in ["/not*base64!", "/ocsp/%zz", "/ocsp/@@@@", "/favicon.ico"] {
        let (status, headers, body) = send(&r, get(uri)).await;
        assert_eq!(status, StatusCode::OK, "{uri}");
        assert_eq!(headers[header::CONTENT_TYPE], OCSP_RESPONSE);
        assert_eq!(&body[..], malformed(), "{uri}");
        assert!(headers.get(header::ETAG).is_none());
    }
    // A long path that is not base64 (the URI limit of `http` is 64 KiB; hyper's head
    // limit in `serve` is the same).
    let big = "*".repeat(60_000);
    let (status, _, body) = send(&r, get(&format!("/{big}"))).await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &malformed()[..]));
    assert_eq!(ocsp.calls.load(Ordering::SeqCst), 0);
    assert!(
        metrics
            .render()
            .contains("lgpki_ocsp_responses_total{status=\"malformedRequest\"} 5\n")
    );
}

#[tokio::test]
async fn a_panicking_source_is_internal_error_not_5xx() {
    let ocsp = Arc::new(FakeOcsp {
        panic: true,
        ..Arc::into_inner(FakeOcsp::new()).expect("sole owner")
    });
    let (r, _) = app(ocsp);
    let (status, _, body) = send(&r, post("/", b"\x30\x00".to_vec())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        &body[..],
        ca_core::ocsp::status_response(ResponseStatus::InternalError)
    );
}

#[tokio::test]
async fn get_caching_headers_and_304() {
    let ocsp = FakeOcsp::new();
    let (r, _) = app(ocsp.clone());
    let (status, headers, body) = send(&r, get("/ocsp/MAA=")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(&body[..], RESPONSE);
    let cc = headers[header::CACHE_CONTROL].to_str().expect("ascii");
    let max_age: i64 = cc
        .strip_prefix("max-age=")
        .and_then(|s| s.split(',').next())
        .and_then(|s| s.parse().ok())
        .expect("max-age first");
    assert!((3590..=3600).contains(&max_age), "{cc}");
    assert!(
        cc.ends_with(", public, no-transform, must-revalidate"),
        "{cc}"
    );
    let last_modified = headers[header::LAST_MODIFIED].to_str().expect("ascii");
    assert!(last_modified.ends_with(" GMT"), "{last_modified}");
    assert!(headers.contains_key(header::EXPIRES));
    let etag = headers[header::ETAG].to_str().expect("ascii").to_string();
    assert_eq!(
        etag,
        format!(
            "\"{}\"",
            hex::encode(HashAlgorithm::Sha256.digest(RESPONSE))
        )
    );

    for inm in [
        etag.clone(),
        format!("W/{etag}"),
        format!("\"x\", {etag}"),
        "*".into(),
    ] {
        let req = Request::get("/ocsp/MAA=")
            .header(header::IF_NONE_MATCH, &inm)
            .body(Body::empty())
            .expect("request");
        let (status, headers, body) = send(&r, req).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED, "{inm}");
        assert!(body.is_empty());
        assert_eq!(headers[header::ETAG], etag.as_str());
        assert!(headers.contains_key(header::CACHE_CONTROL));
    }
    let req = Request::get("/ocsp/MAA=")
        .header(header::IF_NONE_MATCH, "\"other\"")
        .body(Body::empty())
        .expect("request");
    assert_eq!(send(&r, req).await.0, StatusCode::OK);
}

#[tokio::test]
async fn nonce_responses_are_not_for_caches() {
    let ocsp = Arc::new(FakeOcsp {
        cacheable: false,
        ..Arc::into_inner(FakeOcsp::new()).expect("sole owner")
    });
    let (r, _) = app(ocsp);
    let (status, headers, _) = send(&r, get("/MAA=")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    assert!(headers.get(header::ETAG).is_none());
    assert!(headers.get(header::LAST_MODIFIED).is_none());
}

#[tokio::test]
async fn crl_and_ca_certificates() {
    let (r, _) = app(FakeOcsp::new());
    let (status, headers, body) = send(&r, get("/crl/root.crl")).await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"root crl g1"[..]));
    assert_eq!(headers[header::CONTENT_TYPE], PKIX_CRL);
    // Each key generation's list at its own name (ca_core::dist::ListPoint).
    let (status, _, body) = send(&r, get("/crl/root.g2.crl")).await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"root crl g2"[..]));
    let (status, headers, body) = send(&r, get("/arl/root.g7.crl")).await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"root arl g7"[..]));
    assert_eq!(headers[header::CONTENT_TYPE], PKIX_CRL);
    let (status, _, body) = send(&r, get("/arl/root.crl")).await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"root arl g1"[..]));
    let (status, headers, body) = send(&r, get("/ca/root.crt")).await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"root cert"[..]));
    assert_eq!(headers[header::CONTENT_TYPE], PKIX_CERT);
    for uri in [
        "/crl/other.crl",
        "/crl/root",
        "/crl/root.crt",
        "/ca/other.crt",
        "/ca/root.crl",
        "/crl/",
        "/crl/a/b.crl",
        "/ca/",
        // A generation the repository no longer publishes, and names that are no generation.
        "/crl/root.g3.crl",
        "/crl/root.g1.crl",
        "/crl/root.g02.crl",
        "/crl/root.g.crl",
        "/arl/root.g0.crl",
        "/arl/root.x.crl",
    ] {
        assert_eq!(send(&r, get(uri)).await.0, StatusCode::NOT_FOUND, "{uri}");
    }
    // Without a repository everything there is 404.
    let r = router(FakeOcsp::new(), None, Arc::new(Metrics::new()));
    assert_eq!(
        send(&r, get("/crl/root.crl")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(send(&r, get("/ca/root.crt")).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn healthz_and_metrics() {
    let (r, _) = app(FakeOcsp::new());
    let (status, _, body) = send(&r, get("/healthz")).await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"ok\n"[..]));
    send(&r, post("/", b"\x30\x00".to_vec())).await;
    send(&r, get("/crl/nope.crl")).await;
    let (status, headers, body) = send(&r, get("/metrics")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .expect("ascii")
            .starts_with("text/plain; version=0.0.4")
    );
    let text = String::from_utf8(body.to_vec()).expect("utf-8");
    for line in [
        "lgpki_http_requests_total{route=\"healthz\",status=\"200\"} 1",
        "lgpki_http_requests_total{route=\"ocsp_post\",status=\"200\"} 1",
        "lgpki_http_requests_total{route=\"crl\",status=\"404\"} 1",
        "lgpki_ocsp_responses_total{status=\"successful\"} 1",
        // The /metrics request itself is in flight while it renders.
        "lgpki_http_requests_in_flight 1",
        "lgpki_ocsp_cache_hits_total 0",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
// The std lock is held on purpose across awaits: it blocks the source's blocking thread, not
// this task.
#[allow(clippy::await_holding_lock)]
async fn beyond_the_concurrency_limit_is_503() {
    let ocsp = FakeOcsp::new();
    let metrics = Arc::new(Metrics::new());
    let limits = Limits {
        max_concurrent_requests: 1,
        ..Limits::default()
    };
    let r = router_with_limits(ocsp.clone(), None, metrics.clone(), limits);
    let held = ocsp.gate.lock().expect("gate");
    let first = tokio::spawn({
        let r = r.clone();
        async move { send(&r, post("/", b"\x30\x00".to_vec())).await }
    });
    while !ocsp.entered.load(Ordering::SeqCst) {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let (status, headers, _) = send(&r, post("/", b"\x30\x00".to_vec())).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers[header::RETRY_AFTER], "1");
    // Probes still answer at the limit.
    assert_eq!(send(&r, get("/healthz")).await.0, StatusCode::OK);
    assert_eq!(metrics.in_flight(), 1);
    drop(held);
    let (status, _, body) = first.await.expect("join");
    assert_eq!((status, &body[..]), (StatusCode::OK, RESPONSE));
    // The slot is free again.
    assert_eq!(
        send(&r, post("/", b"\x30\x00".to_vec())).await.0,
        StatusCode::OK
    );
    assert_eq!(metrics.requests("ocsp_post", 503), 1);
    assert_eq!(metrics.in_flight(), 0);
}

#[tokio::test]
async fn slow_bodies_time_out_with_408() {
    let ocsp = FakeOcsp::new();
    let limits = Limits {
        request_timeout: std::time::Duration::from_millis(100),
        ..Limits::default()
    };
    let r = router_with_limits(ocsp.clone(), None, Arc::new(Metrics::new()), limits);
    let req = Request::post("/")
        .header(header::CONTENT_TYPE, OCSP_REQUEST)
        .body(Body::new(Endless))
        .expect("request");
    assert_eq!(send(&r, req).await.0, StatusCode::REQUEST_TIMEOUT);
    assert_eq!(ocsp.calls.load(Ordering::SeqCst), 0);
}

#[test]
fn route_labels_are_a_fixed_set() {
    assert_eq!(route_label(&Method::POST, "/"), "ocsp_post");
    assert_eq!(route_label(&Method::GET, "/MEow"), "ocsp_get");
    assert_eq!(route_label(&Method::GET, "/crl/x.crl"), "crl");
    assert_eq!(route_label(&Method::GET, "/ca/x.crt"), "ca");
    assert_eq!(route_label(&Method::POST, "/tsa"), "tsa");
    assert_eq!(route_label(&Method::DELETE, "/x"), "other");
}

/// Echoes the request back with a prefix, or panics on `panic`.
struct FakeStamper;

impl crate::TimeStamper for FakeStamper {
    fn stamp(&self, request_der: &[u8]) -> Vec<u8> {
        assert!(request_der != b"panic", "stamper panics on purpose");
        [b"reply:".as_slice(), request_der].concat()
    }
}

fn tsa_post(content_type: Option<&str>, body: impl Into<Body>) -> Request<Body> {
    let mut b = Request::post("/tsa");
    if let Some(ct) = content_type {
        b = b.header(header::CONTENT_TYPE, ct);
    }
    b.body(body.into()).expect("request")
}

#[tokio::test]
async fn tsa_gates_and_answers() {
    const QUERY: &str = "application/timestamp-query";
    // Without a time-stamper: 404.
    let (plain, _) = app(FakeOcsp::new());
    assert_eq!(
        send(&plain, tsa_post(Some(QUERY), "x")).await.0,
        StatusCode::NOT_FOUND
    );
    let services = Services {
        timestamper: Some(Arc::new(FakeStamper)),
        ..Services::default()
    };
    let r = router_with_services(
        FakeOcsp::new(),
        None,
        Arc::new(Metrics::new()),
        Limits::default(),
        services,
    );
    let (status, headers, body) = send(&r, tsa_post(Some(QUERY), "\x30\x00")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/timestamp-reply");
    assert_eq!(&body[..], b"reply:\x30\x00");
    // Parameters and case are ignored.
    let ct = Some("Application/TimeStamp-Query; charset=binary");
    assert_eq!(send(&r, tsa_post(ct, "x")).await.0, StatusCode::OK);
    // RFC 3161 §3.4: the type is required; another one is 415.
    for ct in [None, Some("application/ocsp-request"), Some("text/plain")] {
        assert_eq!(
            send(&r, tsa_post(ct, "x")).await.0,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{ct:?}"
        );
    }
    // 413 from Content-Length (the endless body is never read), and while reading a body
    // of undeclared length; exactly the limit is read.
    let req = Request::post("/tsa")
        .header(header::CONTENT_TYPE, QUERY)
        .header(
            header::CONTENT_LENGTH,
            (crate::MAX_TSA_BODY + 1).to_string(),
        )
        .body(Body::new(Endless))
        .expect("request");
    assert_eq!(send(&r, req).await.0, StatusCode::PAYLOAD_TOO_LARGE);
    let big = vec![0x30; crate::MAX_TSA_BODY + 1];
    assert_eq!(
        send(&r, tsa_post(Some(QUERY), big)).await.0,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    let limit = vec![0x30; crate::MAX_TSA_BODY];
    assert_eq!(
        send(&r, tsa_post(Some(QUERY), limit)).await.0,
        StatusCode::OK
    );
    // A panicking stamper is a 500, not a dropped connection.
    assert_eq!(
        send(&r, tsa_post(Some(QUERY), "panic")).await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
}
