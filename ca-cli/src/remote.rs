//! The remote side of `--server`: registration commands sent to `lgpki serve`'s REST API
//! (`/api/v1/…`) over HTTPS with mutual TLS (rustls via ureq). The client certificate decides
//! who is acting and for which organisation.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use ureq::tls::{Certificate, ClientCert, PrivateKey, RootCerts, TlsConfig, TlsProvider};

use crate::output::CliError;
use crate::ra::RequestOp;

/// A configured client for one RA server.
pub struct Remote {
    base: String,
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

/// Percent-encodes a query value.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A path segment from user input (a serial): hex digits only, else a usage error.
fn segment(s: &str, what: &str) -> Result<String, CliError> {
    let t = s.trim();
    if t.is_empty() || !t.chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
        return Err(CliError::Core(ca_core::Error::InvalidArgument {
            name: "--serial",
            value: s.to_string(),
            reason: format!("{what}: hexadecimal digits"),
        }));
    }
    Ok(t.replace(':', ""))
}

impl Remote {
    /// A client for `server` authenticating with the given certificate and key, trusting
    /// `server_ca` for the server's certificate. A key that does not match the certificate is
    /// an input error here, before any connection.
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
        let key_bad = |e: String| {
            CliError::Core(ca_core::Error::malformed(
                format!("client key {}", key_path.display()),
                e,
            ))
        };
        let key = PrivateKey::from_pem(&read(key_path)?).map_err(|e| key_bad(e.to_string()))?;
        // The key must be the certificate's: rustls would otherwise fail deep inside (a panic
        // in earlier versions of this client).
        let key_der = rustls::pki_types::PrivateKeyDer::try_from(key.der().to_vec())
            .map_err(|e| key_bad(e.to_string()))?;
        let provider = rustls::crypto::ring::default_provider();
        let certified = rustls::sign::CertifiedKey::from_der(
            chain
                .iter()
                .map(|d| rustls::pki_types::CertificateDer::from(d.clone()))
                .collect(),
            key_der,
            &provider,
        );
        if let Err(e) = certified {
            return Err(CliError::Core(ca_core::Error::InvalidArgument {
                name: "--client-key",
                value: key_path.display().to_string(),
                reason: match e {
                    rustls::Error::InconsistentKeys(_) => format!(
                        "does not match the client certificate {}",
                        cert_path.display()
                    ),
                    other => format!("unusable with {}: {other}", cert_path.display()),
                },
            }));
        }
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
            base: server.trim_end_matches('/').to_string(),
            agent,
        })
    }

    /// Why a connection failed, in words an officer can act on.
    fn explain(&self, e: &ureq::Error) -> (String, u8) {
        let text = e.to_string();
        let lower = text.to_lowercase();
        let msg = match e {
            ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => format!(
                "{}: connection refused (is `lgpki serve` running there, with --ra-listen on that port?)",
                self.base
            ),
            ureq::Error::HostNotFound => format!("{}: host not found", self.base),
            ureq::Error::Timeout(_) => format!("{}: timed out", self.base),
            _ if lower.contains("notvalidforname")
                || lower.contains("not valid for name")
                || lower.contains("certnotvalidforname") =>
            {
                format!(
                    "{}: the server's certificate is not valid for this host name ({text})",
                    self.base
                )
            }
            _ if lower.contains("unknownissuer")
                || lower.contains("unknown issuer")
                || lower.contains("badsignature") =>
            {
                format!(
                    "{}: the server's certificate does not chain to --server-ca ({text}); is --server-ca the LGPKI root certificate?",
                    self.base
                )
            }
            _ if lower.contains("certificaterequired")
                || lower.contains("badcertificate")
                || lower.contains("bad certificate")
                || lower.contains("certificate required")
                || lower.contains("decrypterror")
                || lower.contains("alert") =>
            {
                format!(
                    "{}: the server rejected the client certificate ({text})",
                    self.base
                )
            }
            ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionReset => format!(
                "{}: the connection was closed during the handshake ({text}); the server may have rejected the client certificate",
                self.base
            ),
            _ => format!("{}: {text}", self.base),
        };
        (msg, 1)
    }

    /// Sends one request; JSON in and out. A server error comes back with its kind and exit
    /// code.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> Result<(u16, Value), CliError> {
        let url = format!("{}{path}", self.base);
        let result = match (method, body) {
            ("GET", _) => self.agent.get(&url).call(),
            ("DELETE", _) => self.agent.delete(&url).call(),
            (_, b) => {
                let bytes = serde_json::to_vec(b.unwrap_or(&json!({})))
                    .map_err(|e| CliError::Usage(e.to_string()))?;
                let mut req = self
                    .agent
                    .post(&url)
                    .header("Content-Type", "application/json");
                if let Some(k) = idempotency_key {
                    req = req.header("Idempotency-Key", k);
                }
                req.send(&bytes[..])
            }
        };
        let mut resp = result.map_err(|e| {
            let (msg, code) = self.explain(&e);
            CliError::Remote("connection".into(), msg, code)
        })?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .with_config()
            .limit(16 << 20)
            .read_to_string()
            .map_err(|e| CliError::Remote("connection".into(), format!("{url}: {e}"), 2))?;
        let v: Value = serde_json::from_str(&text).map_err(|e| {
            CliError::Remote(
                "protocol".into(),
                format!("{url}: HTTP {status}, not JSON: {e}"),
                2,
            )
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
        Ok((status, v))
    }

    /// Runs one registration operation through the REST API.
    pub fn call(&self, op: &RequestOp) -> Result<Value, CliError> {
        let key = new_idempotency_key();
        let b64 = |d: &[u8]| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(d)
        };
        let (_, v) = match op {
            RequestOp::Submit {
                profile,
                csr_der,
                org,
                subject,
                sans,
            } => self.send(
                "POST",
                "/api/v1/requests",
                Some(&json!({"profile": profile, "csr": b64(csr_der), "org": org, "subject": subject, "sans": sans})),
                Some(&key),
            )?,
            RequestOp::List { state } => self.send(
                "GET",
                &match state {
                    Some(s) => format!("/api/v1/requests?state={}", enc(s)),
                    None => "/api/v1/requests".into(),
                },
                None,
                None,
            )?,
            RequestOp::Approve { id } => self.send(
                "POST",
                &format!("/api/v1/requests/{id}/approve"),
                None,
                None,
            )?,
            RequestOp::Reject { id, reason } => self.send(
                "POST",
                &format!("/api/v1/requests/{id}/reject"),
                Some(&json!({"reason": reason})),
                None,
            )?,
            RequestOp::Fetch { id } => self.send(
                "GET",
                &format!("/api/v1/requests/{id}/certificate"),
                None,
                None,
            )?,
            RequestOp::RevokeRequest { serial, reason } => self.send(
                "POST",
                "/api/v1/revocation-requests",
                Some(&json!({"serial": serial, "reason": reason})),
                Some(&key),
            )?,
            RequestOp::Renew {
                serial,
                csr_der,
                supersede,
            } => self.send(
                "POST",
                &format!(
                    "/api/v1/certificates/{}/renewal",
                    segment(serial, "serial")?
                ),
                Some(&json!({"csr": b64(csr_der), "supersede": supersede})),
                Some(&key),
            )?,
            RequestOp::Unhold { serial } => self.send(
                "POST",
                &format!("/api/v1/certificates/{}/unhold", segment(serial, "serial")?),
                None,
                None,
            )?,
        };
        Ok(v)
    }
}

/// A fresh random idempotency key for one command (its retries, if any, reuse it).
fn new_idempotency_key() -> String {
    let mut b = [0u8; 16];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b);
    hex::encode(b)
}

/// `cert list`, `cert show` and `status` against the RA API.
pub fn cert_command(
    remote: &Remote,
    ctx: &crate::commands::Ctx,
    cmd: crate::cli::Command,
) -> crate::commands::CmdResult {
    use crate::cli::{CertCommand, Command, StatusArg};
    use crate::output::{print_json, print_text, table};
    match cmd {
        Command::Cert(CertCommand::List {
            ca,
            profile,
            status,
        }) => {
            let mut q = Vec::new();
            if let Some(p) = &profile {
                q.push(format!("profile={}", enc(p)));
            }
            if let Some(s) = status {
                q.push(format!(
                    "status={}",
                    match s {
                        StatusArg::Good => "good",
                        StatusArg::Revoked => "revoked",
                        StatusArg::Expired => "expired",
                    }
                ));
            }
            let path = if q.is_empty() {
                "/api/v1/certificates".to_string()
            } else {
                format!("/api/v1/certificates?{}", q.join("&"))
            };
            let (_, v) = remote.send("GET", &path, None, None)?;
            let items: Vec<Value> = v
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|c| ca.as_deref().is_none_or(|n| c["ca"] == n))
                .collect();
            if ctx.json {
                for c in &items {
                    print_json(&json!({
                        "serial": c["serial"], "ca": c["ca"], "profile": c["profile"],
                        "subject": c["subject"], "not_after": c["not_after"], "status": c["status"],
                    }));
                }
            } else {
                let s = |c: &Value, k: &str| c[k].as_str().unwrap_or("-").to_string();
                let rows: Vec<Vec<String>> = items
                    .iter()
                    .map(|c| {
                        vec![
                            s(c, "serial"),
                            s(c, "ca"),
                            s(c, "profile"),
                            s(c, "status"),
                            s(c, "not_after"),
                            s(c, "subject"),
                        ]
                    })
                    .collect();
                print_text(&table(
                    &["SERIAL", "CA", "PROFILE", "STATUS", "NOT_AFTER", "SUBJECT"],
                    &rows,
                ));
            }
            crate::commands::ok()
        }
        Command::Cert(CertCommand::Show { serial, ca }) => {
            let path = format!("/api/v1/certificates/{}", segment(&serial, "serial")?);
            let (_, c) = remote.send("GET", &path, None, None)?;
            if ca.as_deref().is_some_and(|n| c["ca"] != n) {
                return Err(CliError::Core(ca_core::Error::CertificateNotFound {
                    serial,
                }));
            }
            if ctx.json {
                print_json(&json!({
                    "serial": c["serial"], "ca": c["ca"], "profile": c["profile"], "subject": c["subject"],
                    "not_before": c["not_before"], "not_after": c["not_after"], "status": c["status"],
                    "revoked_at": c["revoked_at"], "reason": c["reason"], "pem": c["pem"],
                }));
            } else {
                let s = |k: &str| c[k].as_str().unwrap_or("-").to_string();
                let mut out = format!(
                    "serial:  {}\nca:      {}\nprofile: {}\nsubject: {}\nstatus:  {}\n",
                    s("serial"),
                    s("ca"),
                    s("profile"),
                    s("subject"),
                    s("status")
                );
                if let (Some(t), Some(r)) = (c["revoked_at"].as_str(), c["reason"].as_str()) {
                    out.push_str(&format!("revoked: {t} ({r})\n"));
                }
                out.push_str(c["pem"].as_str().unwrap_or_default());
                print_text(&out);
            }
            crate::commands::ok()
        }
        Command::Status { serial, ca } => {
            let path = format!("/api/v1/certificates/{}/status", segment(&serial, "serial")?);
            let v = match remote.send("GET", &path, None, None) {
                Ok((_, v)) if ca.as_deref().is_none_or(|n| v["ca"] == n) => v,
                Ok(_) => json!({"serial": serial, "ca": ca, "status": "unknown"}),
                Err(CliError::Remote(kind, _, _)) if kind == "not_found" => {
                    json!({"serial": serial, "ca": ca, "status": "unknown"})
                }
                Err(e) => return Err(e),
            };
            let status = v["status"].as_str().unwrap_or("unknown").to_string();
            if ctx.json {
                print_json(&v);
            } else if status == "revoked" {
                print_text(&format!(
                    "revoked {} {}\n",
                    v["revoked_at"].as_str().unwrap_or_default(),
                    v["reason"].as_str().unwrap_or("unspecified")
                ));
            } else {
                print_text(&format!("{status}\n"));
            }
            Ok(if status == "good" {
                std::process::ExitCode::SUCCESS
            } else {
                std::process::ExitCode::from(1)
            })
        }
        _ => Err(CliError::Usage(
            "with --server only `request …`, `revoke-request`, `unhold`, `cert list`, `cert show` and `status` run remotely".into(),
        )),
    }
}
