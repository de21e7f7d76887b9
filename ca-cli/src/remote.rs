//! The remote side of `--server`: registration commands sent to `lgpki serve`'s RA API over
//! HTTPS with mutual TLS (rustls via ureq). The client certificate decides who is acting.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use ureq::tls::{Certificate, ClientCert, PrivateKey, RootCerts, TlsConfig, TlsProvider};

use crate::output::CliError;
use crate::ra::RequestOp;

/// A configured client for one RA server.
pub struct Remote {
    url: String,
    agent: ureq::Agent,
}

fn need<'a>(v: Option<&'a Path>, flag: &str) -> Result<&'a Path, CliError> {
    v.ok_or_else(|| CliError::Usage(format!("--server needs {flag}")))
}

fn read(path: &Path) -> Result<Vec<u8>, CliError> {
    Ok(ca_core::input::read_limited(
        path,
        ca_core::input::MAX_INPUT_FILE,
    )?)
}

impl Remote {
    /// A client for `server` authenticating with the given certificate and key, trusting
    /// `server_ca` for the server's certificate.
    pub fn new(
        server: &str,
        cert: Option<&Path>,
        key: Option<&Path>,
        server_ca: Option<&Path>,
    ) -> Result<Remote, CliError> {
        if !server.starts_with("https://") {
            return Err(CliError::Usage(format!(
                "--server {server}: the RA API is HTTPS (https://HOST:PORT)"
            )));
        }
        let cert_path = need(cert, "--client-cert")?;
        let key_path = need(key, "--client-key")?;
        let ca_path = need(server_ca, "--server-ca (the LGPKI root certificate)")?;
        let chain = ca_core::input::der_blocks(
            &read(cert_path)?,
            &["CERTIFICATE"],
            &format!("client certificate {}", cert_path.display()),
        )?;
        let key = PrivateKey::from_pem(&read(key_path)?).map_err(|e| {
            CliError::Core(ca_core::Error::malformed(
                format!("client key {}", key_path.display()),
                e,
            ))
        })?;
        let roots = ca_core::input::der_blocks(
            &read(ca_path)?,
            &["CERTIFICATE"],
            &format!("server CA {}", ca_path.display()),
        )?;
        let chain: Vec<Certificate<'static>> = chain
            .iter()
            .map(|d| Certificate::from_der(d).to_owned())
            .collect();
        let roots: Vec<Certificate<'static>> = roots
            .iter()
            .map(|d| Certificate::from_der(d).to_owned())
            .collect();
        let tls = TlsConfig::builder()
            .provider(TlsProvider::Rustls)
            .root_certs(RootCerts::Specific(Arc::new(roots)))
            .client_cert(Some(ClientCert::new_with_certs(&chain, key)))
            .build();
        let agent = ureq::Agent::config_builder()
            .tls_config(tls)
            .timeout_global(Some(Duration::from_secs(60)))
            .http_status_as_error(false)
            .build()
            .new_agent();
        Ok(Remote {
            url: format!("{}/api/v1/ra", server.trim_end_matches('/')),
            agent,
        })
    }

    /// Sends one operation; the server's error comes back with its kind and exit code.
    pub fn call(&self, op: &RequestOp) -> Result<Value, CliError> {
        let body = serde_json::to_vec(op).map_err(|e| CliError::Usage(e.to_string()))?;
        let mut resp = self
            .agent
            .post(&self.url)
            .header("Content-Type", "application/json")
            .send(&body[..])
            .map_err(|e| {
                CliError::Remote(
                    "connection".into(),
                    format!(
                        "{}: {e} (is the client certificate one this CA issued and registered?)",
                        self.url
                    ),
                    1,
                )
            })?;
        let text = resp
            .body_mut()
            .with_config()
            .limit(16 << 20)
            .read_to_string()
            .map_err(|e| CliError::Remote("connection".into(), format!("{}: {e}", self.url), 2))?;
        let v: Value = serde_json::from_str(&text).map_err(|e| {
            CliError::Remote("protocol".into(), format!("{}: not JSON: {e}", self.url), 2)
        })?;
        if let Some(err) = v.get("error") {
            let code = err["exit"]
                .as_u64()
                .and_then(|c| u8::try_from(c).ok())
                .filter(|c| *c == 1 || *c == 2)
                .unwrap_or(1);
            return Err(CliError::Remote(
                err["kind"].as_str().unwrap_or("remote").to_string(),
                err["message"].as_str().unwrap_or("refused").to_string(),
                code,
            ));
        }
        Ok(v.get("ok").cloned().unwrap_or(Value::Null))
    }
}
