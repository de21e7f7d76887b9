//! TLS to PostgreSQL, with libpq's `sslmode` semantics, on rustls (ring).
//!
//! Several CA instances reach one database over the network, so the connection must be able
//! to encrypt and to authenticate the server. The URL's query (else libpq's environment
//! variables) chooses, as libpq does
//! (<https://www.postgresql.org/docs/15/libpq-ssl.html#LIBPQ-SSL-PROTECTION>, table 34.1):
//!
//! | `sslmode`     | encrypted            | server certificate checked                      |
//! |---------------|----------------------|-------------------------------------------------|
//! | `disable`     | no                   | no                                              |
//! | `prefer`      | if the server offers | only if a root certificate is available         |
//! | `require`     | yes, or fail         | only if a root certificate is available         |
//! | `verify-ca`   | yes, or fail         | chain to the root (the name is not checked)     |
//! | `verify-full` | yes, or fail         | chain to the root and the host name or address  |
//!
//! `prefer` is the default, as in libpq. `require` without a root certificate encrypts
//! without authenticating the server: it does not stop an active attacker. `allow` is not
//! supported (the client library cannot fall back from plain to TLS).
//!
//! Parameters: `sslmode`, `sslrootcert=FILE` (PEM; else `PGSSLROOTCERT`, else
//! `~/.postgresql/root.crt` when present), and the client certificate `sslcert=FILE` and
//! `sslkey=FILE` (PEM; else `PGSSLCERT`/`PGSSLKEY`, else `~/.postgresql/postgresql.crt` and
//! `.key` when present). As libpq, TLS is not used over a Unix socket.

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};

use crate::error::{Error, Result};

/// libpq's `sslmode` (`allow` aside).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SslMode {
    /// Plain TCP.
    Disable,
    /// TLS if the server offers it, else plain (libpq's default).
    Prefer,
    /// TLS or fail; the server is authenticated only when a root certificate is available.
    Require,
    /// TLS or fail; the server's certificate must chain to the root.
    VerifyCa,
    /// As `VerifyCa`, and the certificate must name the host connected to.
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Result<SslMode> {
        Ok(match value {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(Error::InvalidArgument {
                    name: "sslmode",
                    value: other.to_string(),
                    reason: "expected disable, prefer, require, verify-ca or verify-full \
                             (allow is not supported)"
                        .into(),
                });
            }
        })
    }

    /// The name as in a URL.
    pub(super) fn name(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    fn verifies(self) -> bool {
        matches!(self, SslMode::VerifyCa | SslMode::VerifyFull)
    }
}

/// The TLS parameters of a store URL, with the environment's and the default files' filled
/// in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct TlsParams {
    /// `sslmode` (None: `PGSSLMODE`, else `prefer`).
    mode: Option<SslMode>,
    /// `sslrootcert`.
    root_cert: Option<PathBuf>,
    /// `sslcert`.
    cert: Option<PathBuf>,
    /// `sslkey`.
    key: Option<PathBuf>,
}

/// The query parameters this module handles (tokio-postgres does not know them all).
const TLS_KEYS: [&str; 4] = ["sslmode", "sslrootcert", "sslcert", "sslkey"];

/// Splits `url` into the URL without its TLS parameters (for tokio-postgres) and those
/// parameters.
pub(super) fn split_url(url: &str) -> Result<(String, TlsParams)> {
    let mut params = TlsParams::default();
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_string(), params));
    };
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if !TLS_KEYS.contains(&key) {
            kept.push(pair);
            continue;
        }
        let value = percent_decode(value).map_err(|reason| Error::InvalidArgument {
            name: "--store",
            value: format!("{key}={value}"),
            reason,
        })?;
        match key {
            "sslmode" => params.mode = Some(SslMode::parse(&value)?),
            "sslrootcert" => params.root_cert = Some(PathBuf::from(value)),
            "sslcert" => params.cert = Some(PathBuf::from(value)),
            _ => params.key = Some(PathBuf::from(value)),
        }
    }
    let rest = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((rest, params))
}

/// `url` with relative `sslrootcert`, `sslcert` and `sslkey` files made absolute (against the
/// current directory): what a home records, so later commands run from anywhere find them.
pub(super) fn absolute_files(url: &str) -> Result<String> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok(url.to_string());
    };
    let mut pairs = Vec::new();
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if !matches!(key, "sslrootcert" | "sslcert" | "sslkey") {
            pairs.push(pair.to_string());
            continue;
        }
        let path =
            PathBuf::from(
                percent_decode(value).map_err(|reason| Error::InvalidArgument {
                    name: "--store",
                    value: format!("{key}={value}"),
                    reason,
                })?,
            );
        if path.is_absolute() || path.as_os_str().is_empty() {
            pairs.push(pair.to_string());
            continue;
        }
        let abs = std::path::absolute(&path).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        pairs.push(format!("{key}={}", percent_encode(&abs.to_string_lossy())));
    }
    Ok(format!("{base}?{}", pairs.join("&")))
}

/// `%`, `&`, `#`, `+`, `=` and spaces escaped, so a path stays one query value.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '%' | '&' | '#' | '+' | '=' | ' ' | '?' => out.push_str(&format!("%{:02X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// `%XX` escapes decoded (a URL's query value).
fn percent_decode(s: &str) -> std::result::Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or("a % not followed by two hexadecimal digits")?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "not UTF-8 once decoded".to_string())
}

/// How a store connects: plain, or TLS with the verification `sslmode` asks for.
#[derive(Clone)]
pub(super) struct TlsSetup {
    /// The effective mode.
    pub(super) mode: SslMode,
    /// The root certificate file in use, if any (for messages).
    root: Option<PathBuf>,
    /// The connector (None: `disable`).
    connector: Option<MakeRustls>,
}

impl std::fmt::Debug for TlsSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSetup")
            .field("mode", &self.mode)
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

/// An environment variable, if set and not empty.
fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// `~/.postgresql/NAME` if it exists (libpq's default files).
fn default_file(name: &str) -> Option<PathBuf> {
    let p = Path::new(&std::env::var_os("HOME")?)
        .join(".postgresql")
        .join(name);
    p.is_file().then_some(p)
}

fn bad_file(name: &'static str, path: &Path, reason: impl Into<String>) -> Error {
    Error::InvalidArgument {
        name,
        value: path.display().to_string(),
        reason: reason.into(),
    }
}

impl TlsSetup {
    /// Builds the connection's TLS from `params`, the environment (`PGSSLMODE`,
    /// `PGSSLROOTCERT`, `PGSSLCERT`, `PGSSLKEY`) and libpq's default files; applies the mode
    /// to `config`. Unreadable or malformed files are errors here, before connecting.
    pub(super) fn new(params: TlsParams, config: &mut tokio_postgres::Config) -> Result<TlsSetup> {
        let mode = match params.mode {
            Some(m) => m,
            None => match std::env::var("PGSSLMODE") {
                Ok(v) if !v.is_empty() => SslMode::parse(&v)?,
                _ => SslMode::Prefer,
            },
        };
        let unix_only = !config.get_hosts().is_empty()
            && config
                .get_hosts()
                .iter()
                .all(|h| !matches!(h, tokio_postgres::config::Host::Tcp(_)));
        if mode == SslMode::Disable || unix_only {
            config.ssl_mode(tokio_postgres::config::SslMode::Disable);
            return Ok(TlsSetup {
                mode: SslMode::Disable,
                root: None,
                connector: None,
            });
        }
        config.ssl_mode(if mode == SslMode::Prefer {
            tokio_postgres::config::SslMode::Prefer
        } else {
            tokio_postgres::config::SslMode::Require
        });
        let root = params
            .root_cert
            .or_else(|| env_path("PGSSLROOTCERT"))
            .or_else(|| default_file("root.crt"));
        if mode.verifies() && root.is_none() {
            return Err(Error::InvalidArgument {
                name: "sslmode",
                value: mode.name().into(),
                reason: "needs the root certificate that issued the server's: give \
                         sslrootcert=FILE in the URL (or PGSSLROOTCERT), or put it in \
                         ~/.postgresql/root.crt"
                    .into(),
            });
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let inner = match &root {
            Some(path) => Some(webpki_verifier(path, &provider)?),
            None => None,
        };
        let verifier = Arc::new(Verifier {
            inner,
            check_name: mode == SslMode::VerifyFull,
            provider: provider.clone(),
        });
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::StoreBackend {
                context: "setting up TLS to PostgreSQL",
                detail: e.to_string(),
            })?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let cert = params.cert.or_else(|| env_path("PGSSLCERT"));
        let key = params.key.or_else(|| env_path("PGSSLKEY"));
        let (cert, key) = match (cert, key) {
            (None, None) => (
                default_file("postgresql.crt"),
                default_file("postgresql.key"),
            ),
            given => given,
        };
        let tls = match (cert, key) {
            (None, None) => builder.with_no_client_auth(),
            (Some(cert), Some(key_path)) => {
                let (chain, key) = client_identity(&cert, &key_path)?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| bad_file("sslkey", &key_path, e.to_string()))?
            }
            (Some(cert), None) => {
                return Err(bad_file("sslcert", &cert, "given without sslkey"));
            }
            (None, Some(key)) => return Err(bad_file("sslkey", &key, "given without sslcert")),
        };
        Ok(TlsSetup {
            mode,
            root,
            connector: Some(MakeRustls(Arc::new(tls))),
        })
    }

    /// Connects with `config`; the client and the connection's driver (to be awaited).
    pub(super) async fn connect(
        &self,
        config: &tokio_postgres::Config,
    ) -> std::result::Result<
        (
            tokio_postgres::Client,
            Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
        ),
        String,
    > {
        match &self.connector {
            None => match config.connect(tokio_postgres::NoTls).await {
                Ok((c, conn)) => Ok((c, Box::pin(async move { drop(conn.await) }))),
                Err(e) => Err(self.explain(&e)),
            },
            Some(tls) => match config.connect(tls.clone()).await {
                Ok((c, conn)) => Ok((c, Box::pin(async move { drop(conn.await) }))),
                Err(e) => Err(self.explain(&e)),
            },
        }
    }

    /// A connection failure in words, naming a TLS problem as such.
    fn explain(&self, e: &tokio_postgres::Error) -> String {
        let described = super::pgconn::describe(e);
        let root = self
            .root
            .as_ref()
            .map_or_else(|| "none".to_string(), |p| p.display().to_string());
        if let Some(rustls::Error::InvalidCertificate(ce)) = find_rustls_error(e) {
            let what = match ce {
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. } => {
                    "PostgreSQL server certificate does not name the host connected to"
                }
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                    "PostgreSQL server certificate expired"
                }
                CertificateError::UnknownIssuer => {
                    "PostgreSQL server certificate not trusted (it does not chain to sslrootcert)"
                }
                _ => "PostgreSQL server certificate not trusted",
            };
            return format!(
                "{what} (sslmode={}, sslrootcert {root}): {ce}",
                self.mode.name()
            );
        }
        if described.contains("server does not support TLS") {
            return format!(
                "server does not support TLS, and sslmode={} requires it: {described}",
                self.mode.name()
            );
        }
        if let Some(other) = find_rustls_error(e) {
            return format!(
                "TLS to PostgreSQL failed (sslmode={}): {other}",
                self.mode.name()
            );
        }
        described
    }
}

/// The rustls error behind a connection error, if any (inside an `io::Error`).
fn find_rustls_error(e: &tokio_postgres::Error) -> Option<&rustls::Error> {
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(err) = src {
        if let Some(r) = err.downcast_ref::<rustls::Error>() {
            return Some(r);
        }
        if let Some(r) = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(r);
        }
        src = err.source();
    }
    None
}

/// A verifier of the server's certificate against the roots in `path` (PEM).
fn webpki_verifier(
    path: &Path,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<WebPkiServerVerifier>> {
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad_file("sslrootcert", path, e.to_string()))?;
    for cert in certs {
        let cert = cert.map_err(|e| bad_file("sslrootcert", path, e.to_string()))?;
        roots
            .add(cert)
            .map_err(|e| bad_file("sslrootcert", path, e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(bad_file("sslrootcert", path, "no certificate in it (PEM)"));
    }
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| bad_file("sslrootcert", path, e.to_string()))
}

/// The client's certificate chain and key (PEM files). As libpq, a key file others may read
/// is refused.
fn client_identity(
    cert: &Path,
    key: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| bad_file("sslcert", cert, e.to_string()))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| bad_file("sslcert", cert, e.to_string()))?;
    if chain.is_empty() {
        return Err(bad_file("sslcert", cert, "no certificate in it (PEM)"));
    }
    let meta = std::fs::metadata(key).map_err(|source| Error::Io {
        path: key.to_path_buf(),
        source,
    })?;
    if std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o077 != 0 {
        return Err(bad_file(
            "sslkey",
            key,
            "group or others may read it: chmod 0600 it (as libpq requires)",
        ));
    }
    let der =
        PrivateKeyDer::from_pem_file(key).map_err(|e| bad_file("sslkey", key, e.to_string()))?;
    Ok((chain, der))
}

/// The server certificate check `sslmode` asks for.
#[derive(Debug)]
struct Verifier {
    /// The chain check against the root certificate (None: no root, nothing checked).
    inner: Option<Arc<WebPkiServerVerifier>>,
    /// Whether the certificate must name the host (`verify-full`).
    check_name: bool,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let Some(inner) = &self.inner else {
            // `prefer`/`require` without a root certificate: libpq encrypts without
            // authenticating the server (documented in the README).
            return Ok(ServerCertVerified::assertion());
        };
        // webpki checks the chain first and the name last, so a name error means the chain
        // verified.
        match inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
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
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
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

/// tokio-postgres's TLS maker on a rustls client configuration.
#[derive(Clone)]
struct MakeRustls(Arc<rustls::ClientConfig>);

impl<S> MakeTlsConnect<S> for MakeRustls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsConnect;
    type Error = rustls::pki_types::InvalidDnsNameError;

    fn make_tls_connect(
        &mut self,
        domain: &str,
    ) -> std::result::Result<RustlsConnect, Self::Error> {
        Ok(RustlsConnect {
            name: ServerName::try_from(domain.to_string())?,
            connector: tokio_rustls::TlsConnector::from(self.0.clone()),
        })
    }
}

/// One TLS handshake to do.
struct RustlsConnect {
    name: ServerName<'static>,
    connector: tokio_rustls::TlsConnector,
}

impl<S> TlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = std::io::Error;
    type Future = Pin<
        Box<dyn std::future::Future<Output = std::io::Result<RustlsStream<S>>> + Send + 'static>,
    >;

    fn connect(self, stream: S) -> Self::Future {
        let fut = self.connector.connect(self.name, stream);
        Box::pin(async move { fut.await.map(RustlsStream) })
    }
}

/// A TLS session to the server.
struct RustlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for RustlsStream<S> {
    /// `tls-server-end-point` (RFC 5929 §4.1), for SCRAM-SHA-256-PLUS.
    fn channel_binding(&self) -> ChannelBinding {
        let (_, session) = self.0.get_ref();
        session
            .peer_certificates()
            .and_then(|c| c.first())
            .and_then(|cert| end_point_hash(cert.as_ref()))
            .map_or_else(ChannelBinding::none, ChannelBinding::tls_server_end_point)
    }
}

/// RFC 5929 §4.1: the certificate's hash with its signature's hash function, SHA-256 in place
/// of MD5 and SHA-1; none for a signature without one hash function (Ed25519, RSA-PSS).
fn end_point_hash(cert: &[u8]) -> Option<Vec<u8>> {
    use const_oid::db::rfc5912 as oids;
    use der::Decode;
    let parsed = x509_cert::Certificate::from_der(cert).ok()?;
    let alg = parsed.signature_algorithm().oid;
    let digest = if [
        oids::SHA_1_WITH_RSA_ENCRYPTION,
        oids::SHA_256_WITH_RSA_ENCRYPTION,
        oids::ECDSA_WITH_SHA_256,
        oids::MD_5_WITH_RSA_ENCRYPTION,
    ]
    .contains(&alg)
    {
        &ring::digest::SHA256
    } else if [oids::SHA_384_WITH_RSA_ENCRYPTION, oids::ECDSA_WITH_SHA_384].contains(&alg) {
        &ring::digest::SHA384
    } else if [oids::SHA_512_WITH_RSA_ENCRYPTION, oids::ECDSA_WITH_SHA_512].contains(&alg) {
        &ring::digest::SHA512
    } else {
        return None;
    };
    Some(ring::digest::digest(digest, cert).as_ref().to_vec())
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_url_names_its_files_absolutely() {
        let cwd = std::env::current_dir().expect("cwd");
        let url = absolute_files(
            "postgres://ca@h/db?sslmode=verify-full&sslrootcert=certs/root%20ca.pem&sslkey=/k.pem&connect_timeout=3",
        )
        .expect("absolute");
        let (rest, p) = split_url(&url).expect("split");
        assert_eq!(rest, "postgres://ca@h/db?connect_timeout=3");
        assert_eq!(p.root_cert, Some(cwd.join("certs/root ca.pem")));
        assert_eq!(p.key.as_deref(), Some(Path::new("/k.pem")));
        assert_eq!(
            absolute_files("postgres://ca@h/db").expect("same"),
            "postgres://ca@h/db"
        );
    }

    #[test]
    fn tls_parameters_are_taken_out_of_the_url() {
        let (rest, p) = split_url(
            "postgres://ca@db.example:5432/lgpki?connect_timeout=3&sslmode=verify-full&sslrootcert=%2Fetc%2Froot.pem",
        )
        .expect("split");
        assert_eq!(
            rest,
            "postgres://ca@db.example:5432/lgpki?connect_timeout=3"
        );
        assert_eq!(p.mode, Some(SslMode::VerifyFull));
        assert_eq!(p.root_cert.as_deref(), Some(Path::new("/etc/root.pem")));
        let (rest, p) = split_url("postgres://ca@h/db?sslmode=disable").expect("split");
        assert_eq!(rest, "postgres://ca@h/db");
        assert_eq!(p.mode, Some(SslMode::Disable));
    }

    #[test]
    fn unknown_modes_are_refused() {
        let err = split_url("postgres://ca@h/db?sslmode=allow").expect_err("allow");
        assert!(err.to_string().contains("allow is not supported"), "{err}");
        assert!(split_url("postgres://ca@h/db?sslmode=verify_full").is_err());
        assert!(split_url("postgres://ca@h/db?sslrootcert=%2").is_err());
    }

    #[test]
    fn verifying_modes_need_a_root() {
        let mut config: tokio_postgres::Config = "postgres://ca@h/db".parse().expect("config");
        let params = TlsParams {
            mode: Some(SslMode::VerifyFull),
            root_cert: Some(PathBuf::from("/nonexistent/root.pem")),
            ..TlsParams::default()
        };
        let err = TlsSetup::new(params, &mut config).expect_err("missing file");
        assert!(err.to_string().contains("/nonexistent/root.pem"), "{err}");
    }
}
