//! The REST API of the RA port (`/api/v1/…`, mutual TLS): what registration officers do, as
//! the officer the client certificate names, for that officer's organisation only. Every
//! route is described in the OpenAPI 3 document served at `/api/openapi.json`, generated from
//! the annotations below (utoipa). Errors are `{"error": {"kind", "message", "exit"}}`.

use std::path::PathBuf;
use std::sync::Arc;

use axum::Json;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use ca_core::{Actor, Authority, CertRecord, CertStatus, Issued, OfficerRecord, RequestRecord};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

/// The shared state of the RA port.
pub struct RaApp {
    home: PathBuf,
    passphrase: ca_core::PassphraseSource,
    /// The `--store` URL `serve` was started with (None: the one recorded in home).
    store: Option<String>,
    /// Serialises submissions that carry an idempotency key (check, submit, record).
    idempotency: tokio::sync::Mutex<()>,
    /// Key of the web app's CSRF tokens (random per process).
    pub csrf_key: [u8; 32],
}

/// The client certificate of the connection (DER), if the client sent one.
#[derive(Clone, Debug)]
pub struct PeerCert(pub Option<Arc<Vec<u8>>>);

/// The authenticated officer of a request (set by `ra_server::authorise`).
#[derive(Clone, Debug)]
pub struct Officer(pub Actor);

impl<S: Send + Sync> FromRequestParts<S> for Officer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Officer>().cloned().ok_or_else(|| {
            ApiError::new(
                StatusCode::FORBIDDEN,
                "policy_refused",
                "no authenticated officer".into(),
                1,
            )
        })
    }
}

impl RaApp {
    /// State for the RA port of the CA in `home`.
    pub fn new(home: PathBuf, passphrase: ca_core::PassphraseSource) -> RaApp {
        let mut csrf_key = [0u8; 32];
        // A fresh key per process; without randomness the web app's forms cannot be protected,
        // so a failure leaves the key all zero only if the system has no CSPRNG at all.
        let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut csrf_key);
        RaApp {
            home,
            passphrase,
            store: None,
            idempotency: tokio::sync::Mutex::new(()),
            csrf_key,
        }
    }

    /// The same, on the store `store` names (`--store`).
    pub fn with_store(mut self, store: Option<String>) -> RaApp {
        self.store = store;
        self
    }

    fn open(
        home: &std::path::Path,
        store: Option<&str>,
        pass: ca_core::PassphraseSource,
    ) -> ca_core::Result<Authority> {
        let dir = home.join("policies");
        let policies = if dir.is_dir() {
            ca_core::Policies::load_dir(&dir)?
        } else {
            ca_core::Policies::embedded()?
        };
        Authority::open_in(home, store, pass, policies)
    }

    /// The officer a client certificate authenticates (registered, issued by this CA, good).
    pub async fn authenticate(&self, peer: Option<PeerCert>) -> Result<Actor, ApiError> {
        let Some(PeerCert(Some(der))) = peer else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "policy_refused",
                "no client certificate".into(),
                1,
            ));
        };
        let (home, pass, store) = (
            self.home.clone(),
            self.passphrase.clone(),
            self.store.clone(),
        );
        let r = tokio::task::spawn_blocking(move || {
            let mut ca = Self::open(&home, store.as_deref(), pass)?;
            ca.authenticate(&der)
        })
        .await;
        match r {
            Ok(Ok(actor)) => Ok(actor),
            Ok(Err(e)) if e.kind() == "policy_refused" => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "policy_refused",
                format!("client certificate refused: {e}"),
                1,
            )),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(ApiError::internal()),
        }
    }

    /// Runs `f` on the CA, acting as `actor`, on a blocking thread.
    pub async fn with_ca<T: Send + 'static>(
        &self,
        actor: &Actor,
        f: impl FnOnce(&mut Authority, &Actor) -> ca_core::Result<T> + Send + 'static,
    ) -> Result<T, ApiError> {
        let (home, pass, actor, store) = (
            self.home.clone(),
            self.passphrase.clone(),
            actor.clone(),
            self.store.clone(),
        );
        tokio::task::spawn_blocking(move || {
            let mut ca = Self::open(&home, store.as_deref(), pass)?;
            ca.act_as(&actor);
            f(&mut ca, &actor)
        })
        .await
        .map_err(|_| ApiError::internal())?
        .map_err(ApiError::from)
    }
}

/// An error answer: `{"error": {"kind", "message", "exit"}}` with an HTTP status.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// The body.
    pub body: ErrorBody,
}

/// The JSON of every error answer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// An error's kind, message and the exit code the CLI ends with.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// A short stable name (`policy_refused`, `not_found`, `malformed_input`, …).
    pub kind: String,
    /// What happened, for a person.
    pub message: String,
    /// 1 refused, 2 input error (the CLI's exit code).
    pub exit: u8,
}

impl ApiError {
    /// An error with the given status, kind, message and exit code.
    pub fn new(status: StatusCode, kind: &str, message: String, exit: u8) -> ApiError {
        ApiError {
            status,
            body: ErrorBody {
                error: ErrorDetail {
                    kind: kind.to_string(),
                    message,
                    exit,
                },
            },
        }
    }

    fn internal() -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "internal",
            "the request could not be completed".into(),
            2,
        )
    }

    fn bad_input(message: String) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "malformed_input", message, 2)
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.body.error.message
    }
}

impl From<ca_core::Error> for ApiError {
    fn from(e: ca_core::Error) -> Self {
        let kind = e.kind();
        if matches!(e, ca_core::Error::StoreBackend { .. }) {
            // The database is unreachable (PostgreSQL down or restarting): nothing was done;
            // the client may retry (503, exit 2 as a local command would).
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                format!("the store is unavailable, try again later: {e}"),
                2,
            );
        }
        let (status, exit) = match (kind, e.class()) {
            ("not_found", _) => (StatusCode::NOT_FOUND, 1),
            (_, ca_core::ErrorClass::Input) => (StatusCode::BAD_REQUEST, 2),
            (
                "subject_refused" | "san_refused" | "key_refused" | "unknown_profile"
                | "csr_signature" | "lint_failed",
                _,
            ) => (StatusCode::UNPROCESSABLE_ENTITY, 1),
            _ => (StatusCode::FORBIDDEN, 1),
        };
        ApiError::new(status, kind, e.to_string(), exit)
    }
}

impl From<crate::output::CliError> for ApiError {
    fn from(e: crate::output::CliError) -> Self {
        match e {
            crate::output::CliError::Core(c) => c.into(),
            other => ApiError::bad_input(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

/// A registration request.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RequestView {
    /// Request id.
    pub id: i64,
    /// `issue`, `renew` or `revoke`.
    pub kind: String,
    /// Organisation code.
    pub org: String,
    /// `pending`, `issued`, `rejected` or `revoked`.
    pub state: String,
    /// Profile (issue and renew).
    pub profile: Option<String>,
    /// Subject DN.
    pub subject: Option<String>,
    /// subjectAltNames.
    pub sans: Vec<String>,
    /// Who submitted it.
    pub submitted_by: String,
    /// Who decided it.
    pub decided_by: Option<String>,
    /// Why it was rejected.
    pub reject_reason: Option<String>,
    /// The issued certificate (issue), or the certificate renewed or to revoke.
    pub serial: Option<String>,
    /// Revocation reason (revoke); `superseded` on a renewal that revokes the old one.
    pub revoke_reason: Option<String>,
    /// When it was submitted (RFC 3339).
    pub created: String,
}

impl From<RequestRecord> for RequestView {
    fn from(r: RequestRecord) -> Self {
        RequestView {
            id: r.id,
            kind: r.kind.to_string(),
            org: r.org,
            state: r.state.to_string(),
            profile: r.profile,
            subject: r.subject,
            sans: r.sans,
            submitted_by: r.submitted_by,
            decided_by: r.decided_by,
            reject_reason: r.reject_reason,
            serial: r.serial.map(|s| s.to_string()),
            revoke_reason: r.revoke_reason.map(|r| r.to_string()),
            created: r.created,
        }
    }
}

/// An issued certificate with its PEM.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct IssuedView {
    /// Serial, hex.
    pub serial: String,
    /// Issuing CA.
    pub ca: String,
    /// Profile.
    pub profile: String,
    /// Subject DN.
    pub subject: String,
    /// notBefore (RFC 3339).
    pub not_before: String,
    /// notAfter (RFC 3339).
    pub not_after: String,
    /// The certificate, PEM.
    pub pem: String,
}

impl From<Issued> for IssuedView {
    fn from(i: Issued) -> Self {
        IssuedView {
            serial: i.serial.to_string(),
            ca: i.ca,
            profile: i.profile,
            subject: i.subject,
            not_before: i.not_before,
            not_after: i.not_after,
            pem: i.pem,
        }
    }
}

/// A certificate of the organisation, as `cert list --json` shows one.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CertView {
    /// Serial, hex.
    pub serial: String,
    /// Issuing CA.
    pub ca: String,
    /// Profile.
    pub profile: String,
    /// Subject DN.
    pub subject: String,
    /// notBefore (RFC 3339).
    pub not_before: String,
    /// notAfter (RFC 3339).
    pub not_after: String,
    /// `good`, `revoked` or `expired`.
    pub status: String,
    /// Revocation time (RFC 3339), if revoked.
    pub revoked_at: Option<String>,
    /// RFC 5280 reason name, if revoked.
    pub reason: Option<String>,
}

/// One certificate with its PEM, as `cert show --json` shows it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CertDetailView {
    /// The listing fields.
    #[serde(flatten)]
    pub cert: CertView,
    /// The certificate, PEM.
    pub pem: String,
}

/// A status name.
pub fn status_name(s: CertStatus) -> &'static str {
    match s {
        CertStatus::Good => "good",
        CertStatus::Revoked => "revoked",
        CertStatus::Expired => "expired",
    }
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

impl From<&CertRecord> for CertView {
    fn from(c: &CertRecord) -> Self {
        CertView {
            serial: c.serial.to_string(),
            ca: c.ca.clone(),
            profile: c.profile.clone(),
            subject: c.subject.clone(),
            not_before: ca_core::rfc3339(c.not_before),
            not_after: ca_core::rfc3339(c.not_after),
            status: status_name(c.status_at(now())).into(),
            revoked_at: c.revoked_at.map(ca_core::rfc3339),
            reason: c.reason.map(|r| r.to_string()),
        }
    }
}

impl From<&CertRecord> for CertDetailView {
    fn from(c: &CertRecord) -> Self {
        CertDetailView {
            cert: c.into(),
            pem: ca_core::input::to_pem("CERTIFICATE", &c.der),
        }
    }
}

/// A certificate's revocation status, as `status --json` shows it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StatusView {
    /// Serial, hex.
    pub serial: String,
    /// Issuing CA.
    pub ca: String,
    /// `good` or `revoked`.
    pub status: String,
    /// Revocation time (RFC 3339).
    pub revoked_at: Option<String>,
    /// RFC 5280 reason name.
    pub reason: Option<String>,
    /// invalidityDate (RFC 3339).
    pub invalidity_date: Option<String>,
}

/// A registration officer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OfficerView {
    /// Officer id.
    pub id: i64,
    /// Organisation code.
    pub org: String,
    /// `registrar` or `approver`.
    pub role: String,
    /// Serial of the officer's certificate.
    pub cert_serial: String,
    /// Subject of the officer's certificate.
    pub subject: String,
}

impl From<OfficerRecord> for OfficerView {
    fn from(o: OfficerRecord) -> Self {
        OfficerView {
            id: o.id,
            org: o.org,
            role: o.role.to_string(),
            cert_serial: o.cert_serial.to_string(),
            subject: o.subject,
        }
    }
}

/// Who the client certificate authenticates.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MeView {
    /// Officer id.
    pub id: i64,
    /// Organisation code.
    pub org: String,
    /// Organisation name.
    pub org_name: String,
    /// `registrar` or `approver`.
    pub role: String,
    /// Subject of the officer's certificate.
    pub subject: String,
}

/// A new issuance request.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SubmitBody {
    /// Profile name.
    pub profile: String,
    /// The CSR: PEM, or base64 of its DER.
    pub csr: String,
    /// Organisation code [default: the officer's]; another organisation's is refused.
    #[serde(default)]
    pub org: Option<String>,
    /// Subject DN replacing the CSR's (the organisation's name is bound as OU).
    #[serde(default)]
    pub subject: Option<String>,
    /// subjectAltNames (`dns:…`, `email:…`, `uri:…`, `ip:…`).
    #[serde(default)]
    pub sans: Vec<String>,
}

/// A rejection.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RejectBody {
    /// Why.
    pub reason: String,
}

/// A revocation request.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RevokeBody {
    /// Serial, hex.
    pub serial: String,
    /// RFC 5280 reason name (case-insensitive).
    pub reason: String,
}

/// A renewal (更新申請).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RenewBody {
    /// The new CSR: PEM, or base64 of its DER.
    pub csr: String,
    /// Revoke the old certificate `superseded` once the new one is issued (else it is left to
    /// expire).
    #[serde(default)]
    pub supersede: bool,
}

/// A new officer of the organisation.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OfficerAddBody {
    /// The officer's certificate (PEM), issued by this CA for the organisation.
    pub certificate: String,
    /// `registrar` or `approver`.
    pub role: String,
}

/// Filter of `GET /api/v1/requests`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct RequestQuery {
    /// Only in this state.
    pub state: Option<String>,
}

/// Filter of `GET /api/v1/certificates`.
#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct CertQuery {
    /// Text the subject or serial contains.
    pub q: Option<String>,
    /// Only this profile's.
    pub profile: Option<String>,
    /// `good`, `revoked` or `expired`.
    pub status: Option<String>,
    /// Only good certificates expiring within this many days.
    pub expiring_within_days: Option<u32>,
}

impl CertQuery {
    /// The core query.
    pub fn to_core(&self) -> Result<ca_core::OrgCertQuery, ApiError> {
        let status = match self.status.as_deref().filter(|s| !s.is_empty()) {
            None => None,
            Some("good") => Some(CertStatus::Good),
            Some("revoked") => Some(CertStatus::Revoked),
            Some("expired") => Some(CertStatus::Expired),
            Some(other) => {
                return Err(ApiError::bad_input(format!(
                    "status {other:?}: good, revoked or expired"
                )));
            }
        };
        Ok(ca_core::OrgCertQuery {
            text: self.q.clone().filter(|s| !s.is_empty()),
            profile: self.profile.clone().filter(|s| !s.is_empty()),
            status,
            expiring_within_days: self.expiring_within_days,
        })
    }
}

/// A CSR given as PEM or as base64 of its DER.
pub fn csr_from_text(text: &str) -> Result<Vec<u8>, ApiError> {
    let t = text.trim();
    let der = if t.starts_with("-----BEGIN") {
        let mut blocks = ca_core::input::der_blocks(
            t.as_bytes(),
            &["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"],
            "CSR",
        )?;
        if blocks.len() != 1 {
            return Err(ApiError::bad_input("CSR: exactly one PEM block".into()));
        }
        blocks.remove(0)
    } else {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(t)
            .map_err(|e| ApiError::bad_input(format!("CSR: neither PEM nor base64 DER: {e}")))?
    };
    if der.len() > ca_core::MAX_CSR_BYTES {
        return Err(ApiError::bad_input(format!(
            "CSR over {} bytes",
            ca_core::MAX_CSR_BYTES
        )));
    }
    Ok(der)
}

fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_input(format!("request body: {e}")))
}

/// An `Idempotency-Key` header: 1 to 128 visible ASCII characters.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let s = v
        .to_str()
        .ok()
        .filter(|s| !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            ApiError::bad_input("Idempotency-Key: 1 to 128 visible ASCII characters".into())
        })?;
    Ok(Some(s.to_string()))
}

/// Runs a submission `f` at most once per (officer, idempotency key): a retry with the same key
/// and the same body gets the request made the first time (status 200 instead of 201); the
/// same key with another body is refused (409).
pub async fn idempotent(
    app: &RaApp,
    actor: &Actor,
    key: Option<String>,
    body: &[u8],
    f: impl FnOnce(&mut Authority, &Actor) -> ca_core::Result<RequestRecord> + Send + 'static,
) -> Result<(StatusCode, Json<RequestView>), ApiError> {
    let Some(key) = key else {
        let r = app.with_ca(actor, f).await?;
        return Ok((StatusCode::CREATED, Json(r.into())));
    };
    let _guard = app.idempotency.lock().await;
    let who = match actor {
        Actor::Officer { id, org, .. } => format!("{org}:{id}"),
        Actor::Operator => "operator".into(),
    };
    let meta_key = format!("ra.idempotency:{who}:{key}");
    let digest = hex::encode(ring::digest::digest(&ring::digest::SHA256, body));
    let (mk, dg) = (meta_key.clone(), digest.clone());
    let earlier = app
        .with_ca(actor, move |ca, actor| {
            let Some(v) = ca.store().meta(&mk)? else {
                return Ok(None);
            };
            let (id, hash) = v.split_once(' ').unwrap_or((&v, ""));
            if hash != dg {
                return Err(ca_core::Error::PolicyRefused {
                    detail: "Idempotency-Key was used before for a different request".into(),
                });
            }
            let id: i64 = id.parse().unwrap_or(-1);
            Ok(ca
                .request_list(actor, None)?
                .into_iter()
                .find(|r| r.id == id))
        })
        .await
        .map_err(|e| {
            if e.status == StatusCode::FORBIDDEN && e.message().contains("Idempotency-Key") {
                ApiError::new(
                    StatusCode::CONFLICT,
                    "idempotency_conflict",
                    e.message().to_string(),
                    1,
                )
            } else {
                e
            }
        })?;
    if let Some(r) = earlier {
        return Ok((StatusCode::OK, Json(r.into())));
    }
    let r = app
        .with_ca(actor, move |ca, actor| {
            let r = f(ca, actor)?;
            ca.store_mut()
                .set_meta(&meta_key, &format!("{} {digest}", r.id))?;
            Ok(r)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(r.into())))
}

/// The routes of the API, each with its handler (the contract test checks that every one of
/// them is in the OpenAPI document and nothing else is).
pub fn api_routes() -> Vec<(&'static str, MethodRouter<Arc<RaApp>>)> {
    vec![
        ("/api/openapi.json", get(openapi_json)),
        ("/api/v1/me", get(me)),
        ("/api/v1/requests", get(list_requests).post(submit_request)),
        ("/api/v1/requests/{id}", get(get_request)),
        ("/api/v1/requests/{id}/approve", post(approve_request)),
        ("/api/v1/requests/{id}/reject", post(reject_request)),
        (
            "/api/v1/requests/{id}/certificate",
            get(request_certificate),
        ),
        ("/api/v1/revocation-requests", post(submit_revocation)),
        ("/api/v1/certificates", get(list_certificates)),
        ("/api/v1/certificates/{serial}", get(get_certificate)),
        (
            "/api/v1/certificates/{serial}/status",
            get(certificate_status),
        ),
        (
            "/api/v1/certificates/{serial}/renewal",
            post(submit_renewal),
        ),
        (
            "/api/v1/certificates/{serial}/unhold",
            post(unhold_certificate),
        ),
        ("/api/v1/officers", get(list_officers).post(add_officer)),
        (
            "/api/v1/officers/{id}",
            axum::routing::delete(remove_officer),
        ),
    ]
}

/// The API's routes on a router (with a JSON 404 for unknown `/api/` paths).
pub fn routes() -> axum::Router<Arc<RaApp>> {
    let mut r = axum::Router::new();
    for (path, m) in api_routes() {
        r = r.route(path, m);
    }
    r.route("/api/{*rest}", axum::routing::any(api_not_found))
}

async fn api_not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such API route; see /api/openapi.json".into(),
        2,
    )
}

/// The OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "lgpki RA API",
        description = "Registration officers (登録分局) of LGPKI: requests, revocation requests, renewals, the organisation's certificates and officers. Mutual TLS: the client certificate decides the officer and the organisation."
    ),
    paths(
        openapi_json,
        me,
        list_requests,
        submit_request,
        get_request,
        approve_request,
        reject_request,
        request_certificate,
        submit_revocation,
        list_certificates,
        get_certificate,
        certificate_status,
        submit_renewal,
        unhold_certificate,
        list_officers,
        add_officer,
        remove_officer
    ),
    components(schemas(
        ErrorBody,
        ErrorDetail,
        RequestView,
        IssuedView,
        CertView,
        CertDetailView,
        StatusView,
        OfficerView,
        MeView,
        SubmitBody,
        RejectBody,
        RevokeBody,
        RenewBody,
        OfficerAddBody
    ))
)]
pub struct ApiDoc;

/// The OpenAPI 3 document of this API.
#[utoipa::path(get, path = "/api/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3 document", content_type = "application/json", body = Object)))]
async fn openapi_json() -> Response {
    Json(ApiDoc::openapi()).into_response()
}

/// Who the client certificate authenticates.
#[utoipa::path(get, path = "/api/v1/me", tag = "officers",
    responses((status = 200, body = MeView), (status = 403, body = ErrorBody)))]
async fn me(
    State(app): State<Arc<RaApp>>,
    Officer(actor): Officer,
) -> Result<Json<MeView>, ApiError> {
    let v = app
        .with_ca(&actor, |ca, actor| match actor {
            Actor::Officer {
                id,
                org,
                role,
                subject,
            } => Ok(MeView {
                id: *id,
                org: org.clone(),
                org_name: ca.org(org)?.name,
                role: role.to_string(),
                subject: subject.clone(),
            }),
            Actor::Operator => Err(ca_core::Error::PolicyRefused {
                detail: "not an officer".into(),
            }),
        })
        .await?;
    Ok(Json(v))
}

/// The organisation's requests.
#[utoipa::path(get, path = "/api/v1/requests", tag = "requests", params(RequestQuery),
    responses((status = 200, body = [RequestView]), (status = 403, body = ErrorBody)))]
async fn list_requests(
    State(app): State<Arc<RaApp>>,
    Officer(actor): Officer,
    Query(q): Query<RequestQuery>,
) -> Result<Json<Vec<RequestView>>, ApiError> {
    let v = app
        .with_ca(&actor, move |ca, actor| {
            let state = q.state.as_deref().filter(|s| !s.is_empty());
            ca.request_list(actor, state.map(str::parse).transpose()?)
        })
        .await?;
    Ok(Json(v.into_iter().map(Into::into).collect()))
}

/// Submits an issuance request (checked in full now). With `Idempotency-Key`, a retry returns
/// the request made the first time (200).
#[utoipa::path(post, path = "/api/v1/requests", tag = "requests", request_body = SubmitBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")),
    responses((status = 201, body = RequestView), (status = 200, description = "A retry: the request made the first time", body = RequestView),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn submit_request(
    State(app): State<Arc<RaApp>>,
    Officer(actor): Officer,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<RequestView>), ApiError> {
    let b: SubmitBody = json_body(&body)?;
    let csr = csr_from_text(&b.csr)?;
    let key = idempotency_key(&headers)?;
    idempotent(&app, &actor, key, &body, move |ca, actor| {
        let org = match (&b.org, actor) {
            (Some(o), _) => o.clone(),
            (None, Actor::Officer { org, .. }) => org.clone(),
            (None, Actor::Operator) => {
                return Err(ca_core::Error::InvalidArgument {
                    name: "org",
                    value: String::new(),
                    reason: "the operator names the organisation".into(),
                });
            }
        };
        ca.request_submit(actor, &b.profile, &csr, &org, b.subject.as_deref(), &b.sans)
    })
    .await
}

/// One request.
#[utoipa::path(get, path = "/api/v1/requests/{id}", tag = "requests", params(("id" = i64, Path)),
    responses((status = 200, body = RequestView), (status = 403, body = ErrorBody)))]
async fn get_request(
    State(app): State<Arc<RaApp>>,
    Officer(actor): Officer,
    Path(id): Path<i64>,
) -> Result<Json<RequestView>, ApiError> {
    let r = app
        .with_ca(&actor, move |ca, actor| {
            ca.request_list(actor, None)?
                .into_iter()
                .find(|r| r.id == id)
                .ok_or_else(|| ca_core::Error::PolicyRefused {
                    detail: format!("no request {id} for you"),
                })
        })
        .await?;
    Ok(Json(r.into()))
}

/// Approves a pending request (an approver of the organisation who did not submit it): an
/// issue or renewal request is issued now, a revocation request revokes now.
#[utoipa::path(post, path = "/api/v1/requests/{id}/approve", tag = "requests", params(("id" = i64, Path)),
    responses((status = 200, body = RequestView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn approve_request(
    State(app): State<Arc<RaApp>>,
    Officer(actor): Officer,
    Path(id): Path<i64>,
) -> Result<Json<RequestView>, ApiError> {
    let r = app
        .with_ca(&actor, move |ca, actor| ca.request_approve(actor, id))
        .await?;
    Ok(Json(r.into()))
}

/// Rejects a pending request.
#[utoipa::path(post, path = "/api/v1/requests/{id}/reject", tag = "requests", params(("id" = i64, Path)),
    request_body = RejectBody,
    responses((status = 200, body = RequestView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn reject_request(
    State(app): State<Arc<RaApp>>,
    Officer(actor): Officer,
    Path(id): Path<i64>,
    body: axum::body::Bytes,
) -> Result<Json<RequestView>, ApiError> {
    let b: RejectBody = json_body(&body)?;
    let r = app
        .with_ca(&actor, move |ca, actor| {
            ca.request_reject(actor, id, &b.reason)
        })
        .await?;
    Ok(Json(r.into()))
}

/// The certificate an issued request (issue or renewal) produced.
#[utoipa::path(get, path = "/api/v1/requests/{id}/certificate", tag = "requests", params(("id" = i64, Path)),
    responses((status = 200, body = IssuedView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn request_certificate(
    State(app): State<Arc<RaApp>>,
    Officer(actor): Officer,
    Path(id): Path<i64>,
) -> Result<Json<IssuedView>, ApiError> {
    let i = app
        .with_ca(&actor, move |ca, actor| ca.request_certificate(actor, id))
        .await?;
    Ok(Json(i.into()))
}

/// Asks for the revocation of one of the organisation's certificates (approved by an approver).
#[utoipa::path(post, path = "/api/v1/revocation-requests", tag = "requests", request_body = RevokeBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")),
    responses((status = 201, body = RequestView), (status = 200, description = "A retry", body = RequestView), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn submit_revocation(
    State(app): State<Arc<RaApp>>,
    Officer(actor): Officer,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<RequestView>), ApiError> {
    let b: RevokeBody = json_body(&body)?;
    let key = idempotency_key(&headers)?;
    idempotent(&app, &actor, key, &body, move |ca, actor| {
        ca.revoke_request(actor, &b.serial, &b.reason)
    })
    .await
}

/// The organisation's certificates: all, a search, or those expiring within N days.
#[utoipa::path(get, path = "/api/v1/certificates", tag = "certificates", params(CertQuery),
    responses((status = 200, body = [CertView]), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_certificates(
    State(app): State<Arc<RaApp>>,
    Officer(actor): Officer,
    Query(q): Query<CertQuery>,
) -> Result<Json<Vec<CertView>>, ApiError> {
    let q = q.to_core()?;
    let v = app
        .with_ca(&actor, move |ca, actor| ca.org_certificates(actor, &q))
        .await?;
    Ok(Json(v.iter().map(CertView::from).collect()))
}

/// One of the organisation's certificates, with its PEM.
#[utoipa::path(get, path = "/api/v1/certificates/{serial}", tag = "certificates", params(("serial" = String, Path)),
    responses((status = 200, body = CertDetailView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_certificate(
    State(app): State<Arc<RaApp>>,
    Officer(actor): Officer,
    Path(serial): Path<String>,
) -> Result<Json<CertDetailView>, ApiError> {
    let c = app
        .with_ca(&actor, move |ca, actor| ca.org_certificate(actor, &serial))
        .await?;
    Ok(Json((&c).into()))
}

/// The revocation status of one of the organisation's certificates.
#[utoipa::path(get, path = "/api/v1/certificates/{serial}/status", tag = "certificates", params(("serial" = String, Path)),
    responses((status = 200, body = StatusView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn certificate_status(
    State(app): State<Arc<RaApp>>,
    Officer(actor): Officer,
    Path(serial): Path<String>,
) -> Result<Json<StatusView>, ApiError> {
    let c = app
        .with_ca(&actor, move |ca, actor| ca.org_certificate(actor, &serial))
        .await?;
    Ok(Json(StatusView {
        serial: c.serial.to_string(),
        ca: c.ca,
        status: if c.revoked_at.is_some() {
            "revoked"
        } else {
            "good"
        }
        .into(),
        revoked_at: c.revoked_at.map(ca_core::rfc3339),
        reason: c.reason.map(|r| r.to_string()),
        invalidity_date: c.invalidity_date.map(ca_core::rfc3339),
    }))
}

/// A renewal (更新申請) of one of the organisation's certificates: same subject, profile and
/// subjectAltNames, a new key. Once issued, the old certificate is revoked `superseded` if
/// `supersede`, else left to expire.
#[utoipa::path(post, path = "/api/v1/certificates/{serial}/renewal", tag = "certificates", params(("serial" = String, Path),
    ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")),
    request_body = RenewBody,
    responses((status = 201, body = RequestView), (status = 200, description = "A retry", body = RequestView), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn submit_renewal(
    State(app): State<Arc<RaApp>>,
    Officer(actor): Officer,
    Path(serial): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<RequestView>), ApiError> {
    let b: RenewBody = json_body(&body)?;
    let csr = csr_from_text(&b.csr)?;
    let key = idempotency_key(&headers)?;
    let mut keyed = serial.as_bytes().to_vec();
    keyed.extend_from_slice(&body);
    idempotent(&app, &actor, key, &keyed, move |ca, actor| {
        ca.request_renew(actor, &serial, &csr, b.supersede)
    })
    .await
}

/// Releases a certificateHold (an approver): the certificate is good again and appears as
/// removeFromCRL in the next delta CRL (RFC 5280 §5.3.1).
#[utoipa::path(post, path = "/api/v1/certificates/{serial}/unhold", tag = "certificates", params(("serial" = String, Path)),
    responses((status = 200, body = CertDetailView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn unhold_certificate(
    State(app): State<Arc<RaApp>>,
    Officer(actor): Officer,
    Path(serial): Path<String>,
) -> Result<Json<CertDetailView>, ApiError> {
    let c = app
        .with_ca(&actor, move |ca, actor| ca.unhold(actor, &serial))
        .await?;
    Ok(Json((&c).into()))
}

/// The organisation's officers.
#[utoipa::path(get, path = "/api/v1/officers", tag = "officers",
    responses((status = 200, body = [OfficerView]), (status = 403, body = ErrorBody)))]
async fn list_officers(
    State(app): State<Arc<RaApp>>,
    Officer(actor): Officer,
) -> Result<Json<Vec<OfficerView>>, ApiError> {
    let v = app
        .with_ca(&actor, |ca, actor| ca.org_officers(actor))
        .await?;
    Ok(Json(v.into_iter().map(Into::into).collect()))
}

/// Registers an officer of the organisation (an approver).
#[utoipa::path(post, path = "/api/v1/officers", tag = "officers", request_body = OfficerAddBody,
    responses((status = 201, body = OfficerView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn add_officer(
    State(app): State<Arc<RaApp>>,
    Officer(actor): Officer,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<OfficerView>), ApiError> {
    let b: OfficerAddBody = json_body(&body)?;
    let mut certs =
        ca_core::input::der_blocks(b.certificate.as_bytes(), &["CERTIFICATE"], "certificate")?;
    let der = certs.remove(0);
    let o = app
        .with_ca(&actor, move |ca, actor| {
            ca.officer_add_by_approver(actor, &der, b.role.parse()?)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(o.into())))
}

/// Removes an officer of the organisation (another approver of it).
#[utoipa::path(delete, path = "/api/v1/officers/{id}", tag = "officers", params(("id" = i64, Path)),
    responses((status = 200, body = OfficerView), (status = 403, body = ErrorBody)))]
async fn remove_officer(
    State(app): State<Arc<RaApp>>,
    Officer(actor): Officer,
    Path(id): Path<i64>,
) -> Result<Json<OfficerView>, ApiError> {
    let o = app
        .with_ca(&actor, move |ca, actor| ca.officer_remove(actor, id))
        .await?;
    Ok(Json(o.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every route the router serves is in the OpenAPI document, and every documented path is
    /// served.
    #[test]
    fn every_route_is_documented_and_every_documented_path_is_routed() {
        let doc = ApiDoc::openapi();
        let documented: std::collections::BTreeSet<String> =
            doc.paths.paths.keys().cloned().collect();
        let routed: std::collections::BTreeSet<String> = api_routes()
            .into_iter()
            .map(|(p, _)| p.to_string())
            .collect();
        assert_eq!(documented, routed);
    }
}
