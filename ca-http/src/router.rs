//! The HTTP routes: OCSP over HTTP (RFC 6960 appendix A, RFC 5019 §5–6), CRLs and CA
//! certificates, `/healthz` and `/metrics`, behind a request limiter.
//!
//! | route | method | answer |
//! |---|---|---|
//! | `/`, `/ocsp` | POST | OCSP, body `application/ocsp-request` (RFC 6960 A.1.1) |
//! | `/{base64}`, `/ocsp/{base64}` | GET | OCSP, URL-encoded base64 or base64url (RFC 5019 §5) |
//! | `/crl/{name}.crl`, `/crl/{name}.g{N}.crl` | GET | DER CRL of key generation 1 or N, `application/pkix-crl` (RFC 5280 §4.2.1.13 / RFC 2585) |
//! | `/ca/{name}.crt` | GET | DER certificate, `application/pkix-cert` (RFC 2585 §4.1) |
//! | `/arl/{name}.crl`, `/arl/{name}.g{N}.crl` | GET | DER ARL (onlyContainsCACerts) of key generation 1 or N, `application/pkix-crl` |
//! | `/issued-to/{name}.p7c`, `/issued-by/{name}.p7c` | GET | certs-only CMS, `application/pkcs7-mime` (RFC 5280 §4.2.2.1–2) |
//! | `/healthz` | GET | `200 ok`, or 503 with the reasons of the [`crate::Health`] check |
//! | `/validate` | POST | the [`crate::Validator`]'s JSON (413 over [`crate::MAX_VALIDATE_BODY`]) |
//! | `/tsa` | POST | RFC 3161 TimeStampResp from the [`crate::TimeStamper`] (415, 413 over [`crate::MAX_TSA_BODY`]) |
//! | `/metrics` | GET | Prometheus text format |
//!
//! OCSP answers are always HTTP 200 with an OCSPResponse, including `malformedRequest` for a
//! request that does not parse (RFC 6960 §2.3); HTTP errors are only for what is not an OCSP
//! request at all: 413 for a body over [`MAX_REQUEST_SIZE`] (decided from `Content-Length`
//! before reading, or while reading with the limit), 415 for a body declared as another media
//! type, 408 for a request not done within [`Limits::request_timeout`], 503 beyond
//! [`Limits::max_concurrent_requests`].

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use ca_core::dist::ListPoint;
use ca_core::ocsp::{HashAlgorithm, MAX_REQUEST_SIZE, ResponseStatus, decode_get_path};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use time::OffsetDateTime;
use tokio::sync::Semaphore;

use crate::metrics::Metrics;
use crate::{OcspAnswer, OcspSource, Repository, httpdate};

/// Media type of OCSP requests (RFC 6960 appendix C.1).
const OCSP_REQUEST: &str = "application/ocsp-request";
/// Media type of OCSP responses (RFC 6960 appendix C.2).
const OCSP_RESPONSE: &str = "application/ocsp-response";
/// Media type of DER CRLs (RFC 2585 §4.2).
const PKIX_CRL: &str = "application/pkix-crl";
/// Media type of DER certificates (RFC 2585 §4.1).
const PKIX_CERT: &str = "application/pkix-cert";
/// Media type of certs-only CMS bundles (`.p7c`, RFC 5280 §4.2.2.1; RFC 8551 §3.2.1).
const PKCS7_MIME: &str = "application/pkcs7-mime";
/// Prometheus text exposition format.
const PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Load limits of the router.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Requests handled at once; beyond it the answer is 503 with `Retry-After: 1` instead of a
    /// queue that grows with the load. `/healthz` and `/metrics` are not counted, so probes
    /// and monitoring still answer under overload.
    pub max_concurrent_requests: usize,
    /// The longest one request may take, reading its body included (slow clients), before the
    /// answer is 408.
    pub request_timeout: Duration,
}

impl Default for Limits {
    /// 256 concurrent requests: each holds at most a 64 KiB body and a blocking thread while it
    /// signs (tokio's blocking pool has 512), so a full house is ~16 MiB. 10 seconds is far
    /// beyond a signature or a status lookup and short enough that slow-body clients do not
    /// pin slots.
    fn default() -> Limits {
        Limits {
            max_concurrent_requests: 256,
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// Optional services beside OCSP and the repository (`lgpki serve` has them,
/// `ocsp-responder` does not).
#[derive(Clone, Default)]
pub struct Services {
    /// Answers `POST /validate` (404 without one).
    pub validator: Option<Arc<dyn crate::Validator>>,
    /// Decides `/healthz` (always `200 ok` without one).
    pub health: Option<Arc<dyn crate::Health>>,
    /// Answers `POST /tsa` (404 without one).
    pub timestamper: Option<Arc<dyn crate::TimeStamper>>,
}

#[derive(Clone)]
pub(crate) struct AppState {
    ocsp: Arc<dyn OcspSource>,
    repo: Option<Arc<dyn Repository>>,
    metrics: Arc<Metrics>,
    permits: Arc<Semaphore>,
    limits: Limits,
    pub(crate) services: Services,
}

/// The router with the default [`Limits`].
pub fn router(
    ocsp: Arc<dyn OcspSource>,
    repo: Option<Arc<dyn Repository>>,
    metrics: Arc<Metrics>,
) -> Router {
    router_with_limits(ocsp, repo, metrics, Limits::default())
}

/// The router: OCSP from `ocsp`, CRLs and CA certificates from `repo` (404 for all of them
/// without one), counters in `metrics`.
pub fn router_with_limits(
    ocsp: Arc<dyn OcspSource>,
    repo: Option<Arc<dyn Repository>>,
    metrics: Arc<Metrics>,
    limits: Limits,
) -> Router {
    router_with_services(ocsp, repo, metrics, limits, Services::default())
}

/// [`router_with_limits`] with the optional [`Services`] (`/validate`, a health check).
pub fn router_with_services(
    ocsp: Arc<dyn OcspSource>,
    repo: Option<Arc<dyn Repository>>,
    metrics: Arc<Metrics>,
    limits: Limits,
    services: Services,
) -> Router {
    let state = AppState {
        ocsp,
        repo,
        metrics,
        permits: Arc::new(Semaphore::new(limits.max_concurrent_requests)),
        limits,
        services,
    };
    Router::new()
        .route("/", post(ocsp_post))
        .route("/ocsp", post(ocsp_post))
        .route("/ocsp/{*request}", get(ocsp_get))
        .route("/healthz", get(crate::validate::healthz))
        .route("/validate", post(crate::validate::validate))
        .route("/tsa", post(crate::tsa::tsa))
        .route("/metrics", get(metrics_text))
        .route("/crl/{file}", get(crl))
        .route("/ca/{file}", get(ca_cert))
        .route("/arl/{file}", get(arl))
        .route("/issued-to/{file}", get(issued_to))
        .route("/issued-by/{file}", get(issued_by))
        .route("/{*request}", get(ocsp_get))
        .fallback(not_found_handler)
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

/// The metrics label of a request: a fixed name, whatever the path.
fn route_label(method: &Method, path: &str) -> &'static str {
    match path {
        "/healthz" => "healthz",
        "/metrics" => "metrics",
        "/validate" => "validate",
        "/tsa" => "tsa",
        p if p.starts_with("/crl/") => "crl",
        p if p.starts_with("/ca/") => "ca",
        p if p.starts_with("/arl/") => "crl",
        p if p.starts_with("/issued-to/") || p.starts_with("/issued-by/") => "ca",
        _ if method == Method::POST => "ocsp_post",
        _ if method == Method::GET || method == Method::HEAD => "ocsp_get",
        _ => "other",
    }
}

/// Counts every request, bounds concurrency (503 beyond the limit) and time (408).
async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = route_label(request.method(), request.uri().path());
    let started = std::time::Instant::now();
    let method = request.method().clone();
    // The access log names the path (cut short: an OCSP GET carries a request in it), never
    // a header or a body, so no credential or submitted certificate reaches the log.
    let path: String = request.uri().path().chars().take(120).collect();
    let _in_flight = state.metrics.start_request();
    let response = if matches!(route, "healthz" | "metrics") {
        next.run(request).await
    } else {
        match state.permits.clone().try_acquire_owned() {
            Err(_) => {
                state.metrics.record_rejected();
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(header::RETRY_AFTER, "1")],
                    "overloaded\n",
                )
                    .into_response()
            }
            Ok(_permit) => {
                match tokio::time::timeout(state.limits.request_timeout, next.run(request)).await {
                    Ok(r) => r,
                    Err(_) => (StatusCode::REQUEST_TIMEOUT, "request timeout\n").into_response(),
                }
            }
        }
    };
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    state.metrics.record_request(route, status);
    state.metrics.record_latency(route, elapsed);
    tracing::info!(
        target: "lgpki::access",
        method = %method,
        path = %path,
        route,
        status,
        micros = elapsed.as_micros() as u64,
        "request"
    );
    response
}

/// Whether a Content-Type header names `application/ocsp-request` (parameters and case
/// ignored). A missing header is accepted: some clients omit it.
fn is_ocsp_request_type(headers: &HeaderMap) -> bool {
    match headers.get(header::CONTENT_TYPE) {
        None => true,
        Some(v) => v.to_str().is_ok_and(|s| {
            s.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .eq_ignore_ascii_case(OCSP_REQUEST)
        }),
    }
}

/// RFC 6960 appendix A.1.1: the DER request is the POST body.
async fn ocsp_post(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    if !is_ocsp_request_type(&headers) {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("expected Content-Type: {OCSP_REQUEST}\n"),
        )
            .into_response();
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_REQUEST_SIZE as u64) {
        // Refused before reading a byte of the body.
        return too_large();
    }
    let der = match Limited::new(body, MAX_REQUEST_SIZE).collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => return too_large(),
        Err(_) => return (StatusCode::BAD_REQUEST, "unreadable body\n").into_response(),
    };
    let answer = answer(&state, der).await;
    ocsp_response(answer, None)
}

fn too_large() -> Response {
    (
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("OCSP requests are at most {MAX_REQUEST_SIZE} octets\n"),
    )
        .into_response()
}

/// RFC 5019 §5 / RFC 6960 appendix A.1: `GET {url}/{url-encoding of base64 of DER}`. The raw
/// path is used (not axum's decoded capture) because `decode_get_path` does the
/// percent-decoding and base64 may contain `/`.
async fn ocsp_get(State(state): State<AppState>, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path();
    if path.starts_with("/crl/") || path.starts_with("/ca/") {
        // Not OCSP (base64 of a DER SEQUENCE starts with `M`): deeper repository paths.
        return not_found().into_response();
    }
    let encoded = path
        .strip_prefix("/ocsp/")
        .or_else(|| path.strip_prefix('/'))
        .unwrap_or(path);
    let answer = match decode_get_path(encoded) {
        Ok(der) => answer(&state, der).await,
        Err(_) => {
            let a = OcspAnswer::status(ResponseStatus::MalformedRequest);
            state.metrics.record_ocsp_status(status_name(&a));
            a
        }
    };
    let if_none_match = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    ocsp_response(answer, Some(if_none_match))
}

/// Answers from the source's memory when it can ([`OcspSource::answer_cached`], on this
/// thread), else runs the source on a blocking thread (it may sign or query a database); a
/// panic in the source is answered `internalError`, never a 5xx.
async fn answer<D: AsRef<[u8]> + Send + 'static>(state: &AppState, der: D) -> OcspAnswer {
    let ocsp = state.ocsp.clone();
    let cached = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        ocsp.answer_cached(der.as_ref())
    }));
    let answer = match cached {
        Ok(Some(answer)) => answer,
        Ok(None) => tokio::task::spawn_blocking(move || ocsp.answer(der.as_ref()))
            .await
            .unwrap_or_else(|_| OcspAnswer::status(ResponseStatus::InternalError)),
        Err(_) => OcspAnswer::status(ResponseStatus::InternalError),
    };
    state.metrics.record_ocsp_status(status_name(&answer));
    answer
}

/// The responseStatus name of an answer (the last octet of a non-successful response).
fn status_name(answer: &OcspAnswer) -> &'static str {
    if answer.successful {
        return "successful";
    }
    answer
        .der
        .last()
        .and_then(|c| ResponseStatus::from_code(*c))
        .map_or("other", ResponseStatus::name)
}

/// An OCSP response. `get` is `Some(If-None-Match)` for GET requests, which get the RFC 5019
/// §6 caching headers when the answer is successful and cacheable.
fn ocsp_response(answer: OcspAnswer, get: Option<Option<String>>) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(OCSP_RESPONSE),
    );
    if let Some(if_none_match) = get {
        if answer.cacheable {
            let etag = format!(
                "\"{}\"",
                hex::encode(HashAlgorithm::Sha256.digest(&answer.der))
            );
            caching_headers(&mut headers, &answer, &etag);
            if if_none_match.is_some_and(|v| etag_matches(&v, &etag)) {
                // RFC 9110 §13.1.2: 304 carries the validators and caching headers, no body.
                headers.remove(header::CONTENT_TYPE);
                return (StatusCode::NOT_MODIFIED, headers).into_response();
            }
        } else {
            // A nonce makes the response specific to this client (RFC 5019 §2.1.1, RFC 8954).
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
    } else if !answer.successful {
        // POSTed and failed answers are not for caches either.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    (StatusCode::OK, headers, answer.der).into_response()
}

/// RFC 5019 §6.2: `Cache-Control: max-age=<nextUpdate − now>, public, no-transform,
/// must-revalidate`, `Last-Modified` (thisUpdate), `Expires` (nextUpdate), `ETag`.
fn caching_headers(headers: &mut HeaderMap, answer: &OcspAnswer, etag: &str) {
    let now = OffsetDateTime::now_utc();
    let max_age = answer
        .next_update
        .map_or(0, |n| (n - now).whole_seconds().max(0));
    let cc = format!("max-age={max_age}, public, no-transform, must-revalidate");
    let dated = [
        (header::LAST_MODIFIED, answer.this_update),
        (header::EXPIRES, answer.next_update),
    ];
    for (name, value) in dated
        .into_iter()
        .filter_map(|(n, t)| Some((n, httpdate::format(t?)?)))
        .chain([
            (header::CACHE_CONTROL, cc),
            (header::ETAG, etag.to_string()),
        ])
    {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    }
}

/// RFC 9110 §13.1.2 If-None-Match: `*` or a list of entity tags, compared weakly.
fn etag_matches(if_none_match: &str, etag: &str) -> bool {
    if_none_match.split(',').map(str::trim).any(|t| {
        t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag.strip_prefix("W/").unwrap_or(etag)
    })
}

async fn metrics_text(State(state): State<AppState>) -> Response {
    ([(header::CONTENT_TYPE, PROMETHEUS)], state.metrics.render()).into_response()
}

/// `/crl/{name}.crl` (generation 1) and `/crl/{name}.g{N}.crl`.
async fn crl(State(state): State<AppState>, Path(file): Path<String>) -> Response {
    let found = ListPoint::parse(&file)
        .zip(state.repo.as_ref())
        .and_then(|(at, repo)| repo.crl(at.ca, at.generation));
    der_or_404(found, PKIX_CRL)
}

/// `/ca/{name}.crt`.
async fn ca_cert(State(state): State<AppState>, Path(file): Path<String>) -> Response {
    let found = file
        .strip_suffix(".crt")
        .zip(state.repo.as_ref())
        .and_then(|(name, repo)| repo.ca_cert(name));
    der_or_404(found, PKIX_CERT)
}

/// `/arl/{name}.crl` (generation 1) and `/arl/{name}.g{N}.crl`.
async fn arl(State(state): State<AppState>, Path(file): Path<String>) -> Response {
    let found = ListPoint::parse(&file)
        .zip(state.repo.as_ref())
        .and_then(|(at, repo)| repo.arl(at.ca, at.generation));
    der_or_404(found, PKIX_CRL)
}

/// `/issued-to/{name}.p7c`.
async fn issued_to(State(state): State<AppState>, Path(file): Path<String>) -> Response {
    let found = file
        .strip_suffix(".p7c")
        .zip(state.repo.as_ref())
        .and_then(|(name, repo)| repo.certs_issued_to(name));
    der_or_404(found, PKCS7_MIME)
}

/// `/issued-by/{name}.p7c`.
async fn issued_by(State(state): State<AppState>, Path(file): Path<String>) -> Response {
    let found = file
        .strip_suffix(".p7c")
        .zip(state.repo.as_ref())
        .and_then(|(name, repo)| repo.certs_issued_by(name));
    der_or_404(found, PKCS7_MIME)
}

fn der_or_404(der: Option<Vec<u8>>, media_type: &'static str) -> Response {
    match der {
        Some(der) => ([(header::CONTENT_TYPE, media_type)], der).into_response(),
        None => not_found().into_response(),
    }
}

async fn not_found_handler() -> Response {
    not_found().into_response()
}

fn not_found() -> (StatusCode, &'static str) {
    (StatusCode::NOT_FOUND, "not found\n")
}

#[cfg(test)]
mod tests;
