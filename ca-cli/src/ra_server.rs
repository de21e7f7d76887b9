//! The RA API of `lgpki serve`: HTTPS with mutual TLS (rustls). The TLS layer demands a client
//! certificate and proof of its key (the handshake signature); who the client is — an officer
//! registered with a certificate this CA issued, within its validity and not revoked — is decided
//! per request against the store, so every refusal carries a clear reason.
//!
//! One endpoint: `POST /api/v1/ra` with a JSON [`RequestOp`]; the answer is `{"ok": …}` or
//! `{"error": {"kind", "message", "exit"}}`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use serde_json::json;

use crate::cli::ServeArgs;
use crate::commands::Ctx;
use crate::output::CliError;
use crate::ra::{RequestOp, run_request};

/// Largest RA request body: a CSR and a few fields.
pub const MAX_RA_BODY: usize = 256 * 1024;
/// A TLS handshake must finish within this time (slow clients).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

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
            ctx: Ctx {
                home: ctx.home.clone(),
                json: ctx.json,
                passphrase: ctx.passphrase.clone(),
            },
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

/// Accepts RA connections until `stop` turns true.
pub async fn run(
    listener: tokio::net::TcpListener,
    state: RaState,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(state.tls.clone());
    let home: Arc<(PathBuf, ca_core::PassphraseSource)> =
        Arc::new((state.ctx.home.clone(), state.ctx.passphrase.clone()));
    let slots = Arc::new(tokio::sync::Semaphore::new(256));
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
        let home = home.clone();
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
            let svc =
                hyper::service::service_fn(move |req| handle(req, peer.clone(), home.clone()));
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HANDSHAKE_TIMEOUT)
                .serve_connection(TokioIo::new(tls), svc)
                .await;
        });
    }
}

async fn handle(
    req: Request<hyper::body::Incoming>,
    peer: Option<Vec<u8>>,
    home: Arc<(PathBuf, ca_core::PassphraseSource)>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    if req.method() != hyper::Method::POST || req.uri().path() != "/api/v1/ra" {
        return Ok(reply(
            StatusCode::NOT_FOUND,
            json!({"error": {"kind": "not_found", "message": "POST /api/v1/ra", "exit": 2}}),
        ));
    }
    let body = match Limited::new(req.into_body(), MAX_RA_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return Ok(reply(
                StatusCode::PAYLOAD_TOO_LARGE,
                json!({"error": {"kind": "too_large", "message": format!("request body over {MAX_RA_BODY} bytes"), "exit": 2}}),
            ));
        }
    };
    let op: RequestOp = match serde_json::from_slice(&body) {
        Ok(op) => op,
        Err(e) => {
            return Ok(reply(
                StatusCode::BAD_REQUEST,
                json!({"error": {"kind": "malformed_input", "message": format!("RA request: {e}"), "exit": 2}}),
            ));
        }
    };
    let result =
        tokio::task::spawn_blocking(move || -> Result<serde_json::Value, ca_core::Error> {
            let peer = peer.ok_or_else(|| ca_core::Error::PolicyRefused {
                detail: "no client certificate".into(),
            })?;
            let policies = {
                let dir = home.0.join("policies");
                if dir.is_dir() {
                    ca_core::Policies::load_dir(&dir)?
                } else {
                    ca_core::Policies::embedded()?
                }
            };
            let mut ca = ca_core::Authority::open(&home.0, home.1.clone(), policies)?;
            let actor = ca
                .authenticate(&peer)
                .map_err(|e| ca_core::Error::PolicyRefused {
                    detail: format!("client certificate refused: {e}"),
                })?;
            run_request(&mut ca, &actor, op)
        })
        .await;
    Ok(match result {
        Ok(Ok(v)) => reply(StatusCode::OK, json!({"ok": v})),
        Ok(Err(e)) => {
            let exit = match e.class() {
                ca_core::ErrorClass::Refused => 1,
                ca_core::ErrorClass::Input => 2,
            };
            let status = if exit == 1 {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::BAD_REQUEST
            };
            reply(
                status,
                json!({"error": {"kind": e.kind(), "message": e.to_string(), "exit": exit}}),
            )
        }
        Err(_) => reply(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": {"kind": "internal", "message": "the request could not be completed", "exit": 2}}),
        ),
    })
}

fn reply(status: StatusCode, v: serde_json::Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(v.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}
