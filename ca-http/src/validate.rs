//! `POST /validate` (the validation service, 証明書検証サーバ) and the health seam of
//! `/healthz`: the HTTP side only. What a request means and how the answer is signed is the
//! [`Validator`]'s job (`lgpki serve` implements it over its store and trust anchors).

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::router::AppState;

/// Largest `/validate` request body: a certificate, a few untrusted ones and options fit in
/// far less; 1 MiB bounds the memory a request can pin (a larger body is answered 413).
pub const MAX_VALIDATE_BODY: usize = 1 << 20;

/// The response header holding the base64 DER CMS SignedData (RFC 5652, detached) over the
/// exact response body.
pub const SIGNATURE_HEADER: &str = "LGPKI-VA-Signature";

/// What a [`Validator`] answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValidateAnswer {
    /// A result (valid or not): the JSON body and its detached signature (base64 DER CMS).
    Done {
        /// The JSON response body, exactly as signed.
        body: Vec<u8>,
        /// Base64 of the DER CMS SignedData over `body`, when the service signs.
        signature: Option<String>,
    },
    /// The request is not a validation request (malformed JSON, a missing or bad field): 400
    /// with this reason.
    BadRequest(String),
    /// The answer needs the store, which cannot be reached now (PostgreSQL down): 503 with
    /// `Retry-After` and this reason; the client asks again later.
    Unavailable(String),
}

/// Validates certificates for `POST /validate`. Runs on a blocking thread: it may query a
/// database, fetch CRLs over HTTP and sign. It must not panic (a panic is answered 500).
pub trait Validator: Send + Sync + 'static {
    /// Answers one request body (JSON).
    fn validate(&self, body: &[u8]) -> ValidateAnswer;
}

/// Says whether the service is healthy, for `/healthz`.
pub trait Health: Send + Sync + 'static {
    /// What is wrong now (stale CRLs or OCSP data, an unreachable store…); empty when all is
    /// well. Must be cheap: it runs on every probe.
    fn problems(&self) -> Vec<String>;
}

/// `POST /validate`: 413 beyond [`MAX_VALIDATE_BODY`] (from Content-Length before reading, or
/// while reading), 400 for what the validator refuses, else 200 with the JSON result and the
/// signature header.
pub(crate) async fn validate(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(validator) = state.services.validator.clone() else {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = || {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("validation requests are at most {MAX_VALIDATE_BODY} octets\n"),
        )
            .into_response()
    };
    if declared.is_some_and(|n| n > MAX_VALIDATE_BODY as u64) {
        return too_large();
    }
    let bytes = match Limited::new(body, MAX_VALIDATE_BODY).collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => return too_large(),
        Err(_) => return (StatusCode::BAD_REQUEST, "unreadable body\n").into_response(),
    };
    let answer = tokio::task::spawn_blocking(move || validator.validate(&bytes)).await;
    match answer {
        Ok(ValidateAnswer::Done { body, signature }) => {
            let mut h = HeaderMap::new();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            if let Some(v) = signature.and_then(|s| HeaderValue::from_str(&s).ok()) {
                h.insert(SIGNATURE_HEADER, v);
            }
            (StatusCode::OK, h, body).into_response()
        }
        Ok(ValidateAnswer::BadRequest(reason)) => {
            let body = serde_json::json!({"error": {"kind": "bad_request", "message": reason}});
            (
                StatusCode::BAD_REQUEST,
                [(header::CONTENT_TYPE, "application/json")],
                format!("{body}\n"),
            )
                .into_response()
        }
        Ok(ValidateAnswer::Unavailable(reason)) => {
            let body =
                serde_json::json!({"error": {"kind": "store_unavailable", "message": reason}});
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [
                    (header::CONTENT_TYPE, "application/json"),
                    (header::RETRY_AFTER, "5"),
                ],
                format!("{body}\n"),
            )
                .into_response()
        }
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response(),
    }
}

/// `/healthz`: `200 ok`, or 503 with one reason per line.
pub(crate) async fn healthz(State(state): State<AppState>) -> Response {
    let problems = match state.services.health.clone() {
        None => Vec::new(),
        Some(h) => tokio::task::spawn_blocking(move || h.problems())
            .await
            .unwrap_or_else(|_| vec!["health check failed".into()]),
    };
    if problems.is_empty() {
        (StatusCode::OK, "ok\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            problems
                .iter()
                .map(|p| format!("{p}\n"))
                .collect::<String>(),
        )
            .into_response()
    }
}
