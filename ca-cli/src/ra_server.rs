//! The RA port of `lgpki serve`: HTTPS with mutual TLS (rustls via tokio-rustls) feeding one
//! axum router: the REST API under `/api/v1/` ([`crate::ra_api`]), its OpenAPI document at
//! `/api/openapi.json`, and the officers' web app at `/` ([`crate::ra_web`]).
//!
//! The TLS layer demands a client certificate and proof of its key (the handshake signature);
//! who the client is — an officer registered with a certificate this CA issued, within its
//! validity and not revoked — is decided per request against the store, *before* the request
//! body is read, so every refusal carries a clear reason and a client that is not an officer
//! cannot hold a connection open by sending a body slowly. Bodies must arrive within
//! [`BODY_TIMEOUT`], and one client certificate may hold at most [`MAX_CONNECTIONS_PER_CLIENT`]
//! connections (issue 17: 260 slow connections locked every officer out).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

use crate::cli::ServeArgs;
use crate::commands::Ctx;
use crate::output::CliError;
use crate::ra_api::{ApiError, Officer, PeerCert, RaApp};

/// Largest RA request body: a CSR and a few fields.
pub const MAX_RA_BODY: usize = 256 * 1024;
/// A TLS handshake, and the request head after it, must arrive within this time.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// The whole request body must arrive within this time after the head (slow senders).
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections the RA port holds at once, all clients together.
pub const MAX_CONNECTIONS: usize = 256;
/// Connections one client certificate may hold at once.
pub const MAX_CONNECTIONS_PER_CLIENT: usize = 8;

/// What the RA listener needs.
pub struct RaState {
    ctx: Ctx,
    tls: Arc<rustls::ServerConfig>,
}

impl RaState {
    /// The TLS configuration: `--tls-cert/--tls-key`, or a `server` certificate the hierarchy
    /// issues now for the RA listener's IP address.
    pub fn new(
        ctx: &Ctx,
        a: &ServeArgs,
        authority: &mut ca_core::Authority,
    ) -> Result<RaState, CliError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let (chain, key) = match (&a.tls_cert, &a.tls_key) {
            (Some(c), Some(k)) => {
                let data = ca_core::input::read_limited(c, ca_core::input::MAX_INPUT_FILE)?;
                let chain =
                    ca_core::input::der_blocks(&data, &["CERTIFICATE"], &c.display().to_string())?;
                let kdata = ca_core::input::read_limited(k, 1 << 20)?;
                let key = ca_core::input::der_blocks(
                    &kdata,
                    &["PRIVATE KEY"],
                    &format!("PKCS#8 key {}", k.display()),
                )?
                .remove(0);
                (chain, key)
            }
            (None, None) => self_issued(authority, a)?,
            _ => {
                return Err(CliError::Usage(
                    "--tls-cert and --tls-key go together".into(),
                ));
            }
        };
        let verifier = Arc::new(AnyClientCert {
            provider: provider.clone(),
        });
        let cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| CliError::Usage(format!("TLS: {e}")))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(
                chain.into_iter().map(CertificateDer::from).collect(),
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)),
            )
            .map_err(|e| CliError::Usage(format!("TLS certificate: {e}")))?;
        Ok(RaState {
            ctx: ctx.clone(),
            tls: Arc::new(cfg),
        })
    }
}

/// Issues a `server` certificate for the RA listener (IP SAN) with a fresh in-memory key.
fn self_issued(
    authority: &mut ca_core::Authority,
    a: &ServeArgs,
) -> Result<(Vec<Vec<u8>>, Vec<u8>), CliError> {
    let ip = if a.ra_listen.ip().is_unspecified() {
        std::net::IpAddr::from([127, 0, 0, 1])
    } else {
        a.ra_listen.ip()
    };
    let pkcs8 = ca_core::generate_pkcs8(ca_core::KeyAlgorithm::EcdsaP256)?;
    let signer = ca_core::SoftwareSigner::from_pkcs8(&pkcs8, "RA TLS key")?;
    let subject = ca_core::DistinguishedName::parse("O=LGPKI,C=JP")?;
    let csr = ca_core::build_csr(&signer, &subject.to_der()?)?;
    let issued = authority.issue(ca_core::IssuanceRequest {
        profile: "server".into(),
        csr_der: csr,
        sans: vec![format!("ip:{ip}")],
        ..Default::default()
    })?;
    let ca = authority.chain(&issued.ca)?;
    let mut chain = vec![issued.der];
    chain.extend(
        ca.into_iter()
            .filter(|c| c.parent.is_some())
            .map(|c| c.cert_der),
    );
    Ok((chain, pkcs8.to_vec()))
}

/// Demands a client certificate and checks the handshake signature (proof of the key); the
/// certificate itself is judged per request against the store ([`ca_core::Authority::authenticate`]).
#[derive(Debug)]
struct AnyClientCert {
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ClientCertVerifier for AnyClientCert {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _ee: &CertificateDer<'_>,
        _inter: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Connections held per client certificate (SHA-256 of its DER).
#[derive(Default)]
struct PerClient(std::sync::Mutex<std::collections::HashMap<[u8; 32], usize>>);

/// One connection counted against its client; released when dropped.
struct ClientSlot {
    table: Arc<PerClient>,
    key: [u8; 32],
}

impl PerClient {
    fn acquire(self: &Arc<Self>, cert: &[u8]) -> Option<ClientSlot> {
        let digest = ring::digest::digest(&ring::digest::SHA256, cert);
        let mut key = [0u8; 32];
        key.copy_from_slice(digest.as_ref());
        let mut map = self.0.lock().ok()?;
        let n = map.entry(key).or_insert(0);
        if *n >= MAX_CONNECTIONS_PER_CLIENT {
            return None;
        }
        *n += 1;
        Some(ClientSlot {
            table: self.clone(),
            key,
        })
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        if let Ok(mut map) = self.table.0.lock()
            && let Some(n) = map.get_mut(&self.key)
        {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.key);
            }
        }
    }
}

/// The router of the RA port: API, OpenAPI document and web app, every route behind
/// [`authorise`].
pub fn router(app: Arc<RaApp>) -> axum::Router {
    crate::ra_api::routes()
        .merge(crate::ra_web::routes())
        .layer(axum::middleware::from_fn_with_state(app.clone(), authorise))
        .with_state(app)
}

/// Authenticates the client certificate as an officer before anything else — in particular
/// before the body is read — then reads the body (at most [`MAX_RA_BODY`] within
/// [`BODY_TIMEOUT`]). A refused client gets its answer at once and the connection is closed.
async fn authorise(State(app): State<Arc<RaApp>>, req: Request, next: Next) -> Response {
    let html = !req.uri().path().starts_with("/api/");
    let peer = req.extensions().get::<PeerCert>().cloned();
    let actor = match app.authenticate(peer).await {
        Ok(a) => a,
        Err(e) => {
            let mut r = if html {
                crate::ra_web::refusal_page(&e, req.headers())
            } else {
                e.into_response()
            };
            r.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            return r;
        }
    };
    let (mut parts, body) = req.into_parts();
    let bytes =
        match tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, MAX_RA_BODY)).await {
            Ok(Ok(b)) => b,
            Ok(Err(_)) => {
                let mut r = ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    format!("request body over {MAX_RA_BODY} bytes"),
                    2,
                )
                .into_response();
                r.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
                return r;
            }
            Err(_) => {
                let mut r = ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "timeout",
                    format!("the request body did not arrive within {BODY_TIMEOUT:?}"),
                    2,
                )
                .into_response();
                r.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
                return r;
            }
        };
    parts.extensions.insert(Officer(actor));
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// Accepts RA connections until `stop` turns true.
pub async fn run(
    listener: tokio::net::TcpListener,
    state: RaState,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(state.tls.clone());
    let app = Arc::new(
        RaApp::new(state.ctx.home.clone(), state.ctx.passphrase.clone())
            .with_store(state.ctx.store.clone()),
    );
    let router = router(app);
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let per_client = Arc::new(PerClient::default());
    loop {
        let tcp = tokio::select! {
            r = listener.accept() => match r { Ok((s, _)) => s, Err(_) => continue },
            _ = stop.changed() => return,
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            drop(tcp);
            continue;
        };
        let acceptor = acceptor.clone();
        let router = router.clone();
        let per_client = per_client.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let Ok(Ok(tls)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await
            else {
                return;
            };
            let peer = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| c.to_vec());
            let slot = match &peer {
                Some(p) => per_client.acquire(p),
                None => None,
            };
            let too_many = peer.is_some() && slot.is_none();
            let peer = PeerCert(peer.map(Arc::new));
            let svc = hyper::service::service_fn(
                move |mut req: hyper::Request<hyper::body::Incoming>| {
                    let router = router.clone();
                    let peer = peer.clone();
                    async move {
                        if too_many {
                            let mut r = ApiError::new(
                            StatusCode::TOO_MANY_REQUESTS,
                            "too_many_connections",
                            format!(
                                "this client certificate holds {MAX_CONNECTIONS_PER_CLIENT} connections already"
                            ),
                            1,
                        )
                        .into_response();
                            r.headers_mut()
                                .insert(header::CONNECTION, HeaderValue::from_static("close"));
                            return Ok::<_, std::convert::Infallible>(r);
                        }
                        req.extensions_mut().insert(peer);
                        let req = req.map(Body::new);
                        Ok(tower::ServiceExt::oneshot(router, req)
                            .await
                            .unwrap_or_else(|e| match e {}))
                    }
                },
            );
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HANDSHAKE_TIMEOUT)
                .serve_connection(TokioIo::new(tls), svc)
                .await;
            drop(slot);
        });
    }
}
