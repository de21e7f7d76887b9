//! `POST /tsa`: RFC 3161 time-stamping over HTTP (§3.4), the HTTP side only. What a request
//! means and how its token is signed is the [`TimeStamper`]'s job (`lgpki serve` implements it
//! over `ca_core::tsp` and its store).
//!
//! HTTP errors are only for what is not a time-stamp request at all: 415 for a body not
//! declared `application/timestamp-query` (RFC 3161 §3.4 makes the type mandatory), 413 for a
//! body over [`MAX_TSA_BODY`]. Everything else, malformed DER included, is answered 200 with a
//! TimeStampResp: granted, or rejection with a failInfo (badDataFormat for malformed DER), as
//! `/ocsp` answers malformedRequest.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::router::AppState;

/// Largest `/tsa` request body: a TimeStampReq with a SHA-512 imprint and a nonce is under
/// 200 octets; 64 KiB leaves room for extensions and bounds what a request can pin.
pub const MAX_TSA_BODY: usize = 64 * 1024;

/// Media type of a time-stamp request (RFC 3161 §4).
const QUERY: &str = "application/timestamp-query";
/// Media type of a time-stamp response (RFC 3161 §4).
const REPLY: &str = "application/timestamp-reply";

/// Answers time-stamp requests for `POST /tsa`. Runs on a blocking thread: it signs and
/// records the serial number durably. It must not panic (a panic is answered 500).
pub trait TimeStamper: Send + Sync + 'static {
    /// The DER TimeStampResp (granted or rejection) for one DER TimeStampReq.
    fn stamp(&self, request_der: &[u8]) -> Vec<u8>;
}

/// Whether a Content-Type header names `application/timestamp-query` (parameters and case
/// ignored). Unlike OCSP, a missing header is refused: RFC 3161 §3.4 requires it.
fn is_query_type(headers: &HeaderMap) -> bool {
    headers.get(header::CONTENT_TYPE).is_some_and(|v| {
        v.to_str().is_ok_and(|s| {
            s.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .eq_ignore_ascii_case(QUERY)
        })
    })
}

/// `POST /tsa`: 404 without a [`TimeStamper`], 415 for another media type, 413 beyond
/// [`MAX_TSA_BODY`] (from Content-Length before reading, or while reading), else 200 with the
/// TimeStampResp.
pub(crate) async fn tsa(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let Some(stamper) = state.services.timestamper.clone() else {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    };
    if !is_query_type(&headers) {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("expected Content-Type: {QUERY}\n"),
        )
            .into_response();
    }
    let too_large = || {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("time-stamp requests are at most {MAX_TSA_BODY} octets\n"),
        )
            .into_response()
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_TSA_BODY as u64) {
        return too_large();
    }
    let der = match Limited::new(body, MAX_TSA_BODY).collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => return too_large(),
        Err(_) => return (StatusCode::BAD_REQUEST, "unreadable body\n").into_response(),
    };
    match tokio::task::spawn_blocking(move || stamper.stamp(&der)).await {
        Ok(reply) => {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(REPLY));
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            (StatusCode::OK, h, reply).into_response()
        }
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response(),
    }
}
