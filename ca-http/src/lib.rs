//! `ca-http`: the HTTP side of revocation serving for lgpki — OCSP (RFC 6960 POST, RFC 5019
//! GET), CRLs and CA certificates, a health check and Prometheus metrics — on axum.
//!
//! This crate knows nothing about the store or the publication format; it serves through two
//! traits, so `lgpki serve` (over the SQLite store) and `ocsp-responder` (over a publication
//! directory) share the HTTP code:
//!
//! | seam | job |
//! |---|---|
//! | [`OcspSource`] | DER request in, DER response out |
//! | [`Repository`] | CRLs and CA certificates by name |
//! | [`StatusLookup`] | issuers and certificate statuses, for [`CachingOcsp`] |
//!
//! [`CachingOcsp`] turns a [`StatusLookup`] into an [`OcspSource`] that signs with
//! [`ca_core::ocsp::Responder`] and keeps pre-produced responses (RFC 5019 §2.2) for
//! nonce-less single-certificate requests, so throughput is bound by a hash-map lookup rather
//! than by signing.
//!
//! | module | job |
//! |---|---|
//! | `cache` | [`CachingOcsp`], [`StatusLookup`], [`OcspIssuer`] |
//! | `metrics` | [`Metrics`]: counters and their Prometheus text exposition |
//! | `router` | [`router`]: routes, OCSP over HTTP, caching headers, the request limiter |
//! | `server` | [`serve`]: the accept loop with a connection bound and slow-client timeouts |
//! | `tsa` | `POST /tsa` (RFC 3161 time-stamping) over a [`TimeStamper`] |
//! | `validate` | `POST /validate` over a [`Validator`], `/healthz` over a [`Health`] check |
//! | `httpdate` | IMF-fixdate formatting for `Last-Modified`/`Expires` |
#![deny(missing_docs)]

mod cache;
mod httpdate;
mod metrics;
mod router;
mod server;
mod tsa;
mod validate;

use time::OffsetDateTime;

pub use cache::{CacheConfig, CachingOcsp, OcspIssuer, StatusLookup};
pub use metrics::{Metrics, MetricsSource};
pub use router::{Limits, Services, router, router_with_limits, router_with_services};
pub use server::{HEADER_READ_TIMEOUT, MAX_CONNECTIONS, SHUTDOWN_GRACE, serve, serve_with_limit};
pub use tsa::{MAX_TSA_BODY, TimeStamper};
pub use validate::{Health, MAX_VALIDATE_BODY, SIGNATURE_HEADER, ValidateAnswer, Validator};

/// Answers OCSP requests (DER in, DER out). Implemented by `lgpki serve` (over the store) and
/// by `ocsp-responder` (over a publication), usually through [`CachingOcsp`].
///
/// `answer` runs on a blocking thread (tokio's `spawn_blocking`), so it may sign or query a
/// database synchronously. It must not panic; a panic is answered `internalError`.
pub trait OcspSource: Send + Sync + 'static {
    /// Answers one request. `cacheable` in the answer is false when the request had a nonce.
    fn answer(&self, request_der: &[u8]) -> OcspAnswer;

    /// Answers from memory, without blocking, signing or I/O, when the answer is already
    /// there (a pre-produced response, RFC 5019 §2.2); `None` otherwise. The router calls it
    /// on its own thread first and only sends a request to [`OcspSource::answer`] on a
    /// blocking thread when it returns `None`, so the common case costs no thread hand-off.
    fn answer_cached(&self, request_der: &[u8]) -> Option<OcspAnswer> {
        let _ = request_der;
        None
    }
}

/// One OCSP answer: the DER OCSPResponse and what the HTTP layer needs for caching headers
/// (RFC 5019 §6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OcspAnswer {
    /// The DER OCSPResponse.
    pub der: Vec<u8>,
    /// Whether responseStatus is `successful` (RFC 6960 §4.2.1).
    pub successful: bool,
    /// thisUpdate of the (first) SingleResponse; `Last-Modified` on GET.
    pub this_update: Option<OffsetDateTime>,
    /// nextUpdate of the (first) SingleResponse; `Cache-Control: max-age` and `Expires` on GET.
    pub next_update: Option<OffsetDateTime>,
    /// False when the request had a nonce: the response is for that client only.
    pub cacheable: bool,
}

impl OcspAnswer {
    /// A non-successful answer (`malformedRequest`, `internalError`, `tryLater`,
    /// `unauthorized`…): the 5-octet OCSPResponse without responseBytes (RFC 6960 §2.3).
    pub fn status(status: ca_core::ocsp::ResponseStatus) -> OcspAnswer {
        OcspAnswer {
            der: ca_core::ocsp::status_response(status),
            successful: status == ca_core::ocsp::ResponseStatus::Successful,
            this_update: None,
            next_update: None,
            cacheable: false,
        }
    }
}

/// Serves CRLs and CA certificates by name (DER), for `/crl/{name}.crl` and `/ca/{name}.crt`.
///
/// CRLs and ARLs are per key generation of a CA: `/crl/NAME.crl` is generation 1's,
/// `/crl/NAME.gN.crl` generation N's ([`ca_core::dist::ListPoint`]), each signed by that
/// generation's key, as the certificates it signed name them.
pub trait Repository: Send + Sync + 'static {
    /// The current DER CRL that generation `generation` of the CA `name` signs, if it still
    /// publishes one.
    fn crl(&self, name: &str, generation: u32) -> Option<Vec<u8>>;
    /// The DER certificate of the CA `name`, if there is one.
    fn ca_cert(&self, name: &str) -> Option<Vec<u8>>;
    /// The current DER authority revocation list (RFC 5280 §5.2.5 onlyContainsCACerts) that
    /// generation `generation` of the CA `name` signs, for `/arl/{name}.crl` (generation 1)
    /// and `/arl/{name}.gN.crl`.
    fn arl(&self, _name: &str, _generation: u32) -> Option<Vec<u8>> {
        None
    }
    /// A certs-only CMS SignedData (`.p7c`) of the certificates issued to the CA `name`, for
    /// `/issued-to/{name}.p7c` (authorityInfoAccess caIssuers, RFC 5280 §4.2.2.1).
    fn certs_issued_to(&self, _name: &str) -> Option<Vec<u8>> {
        None
    }
    /// A certs-only CMS SignedData (`.p7c`) of the CA certificates the CA `name` issued, for
    /// `/issued-by/{name}.p7c` (subjectInfoAccess caRepository, RFC 5280 §4.2.2.2).
    fn certs_issued_by(&self, _name: &str) -> Option<Vec<u8>> {
        None
    }
}
