//! Shared set-up of the RA port tests: a CA with two organisations (千代田区, 札幌市), their
//! officers (certificates issued by lgpki itself, keys made by openssl), a running `lgpki
//! serve`, and a small mutual-TLS HTTP client (ureq) for raw API calls.
#![allow(dead_code)]

use std::sync::Arc;

use crate::common::{Backend, Env, KeyKind, Server, StoreKind, assert_ok, make_key, openssl_ok};

/// An officer's (or would-be officer's) certificate and key files.
pub type Who = crate::common::Officer;

/// Makes a key with openssl and a staff certificate for it with lgpki itself (CN = `name`).
pub fn staff_cert(env: &Env, name: &str, ou: &str) -> Who {
    crate::common::officer_cert(env, name, name, ou)
}

/// The CA with its organisations, officers and a running server.
pub struct Ra {
    pub env: Env,
    pub server: Server,
    /// 千代田区 registrar.
    pub reg: Who,
    /// 千代田区 approvers.
    pub app: Who,
    pub app2: Who,
    /// 札幌市 approver.
    pub sap: Who,
    /// 札幌市 registrar.
    pub sap_reg: Who,
}

impl Ra {
    /// Sets everything up and starts `lgpki serve` (SQLite store).
    pub fn start() -> Ra {
        Ra::start_on(StoreKind::Sqlite)
    }

    /// [`Ra::start`] with the records in `store`.
    pub fn start_on(store: StoreKind) -> Ra {
        let env = Env::init_on(store, Backend::Soft, &[]);
        std::fs::write(
            env.path("root.pem"),
            // The RA listener's TLS certificate chains to the application root.
            env.lgpki(&["ca", "cert", "application"]).stdout,
        )
        .expect("root");
        assert_ok(
            &env.lgpki(&["org", "add", "--code", "131016", "--name", "千代田区"]),
            "org",
        );
        assert_ok(
            &env.lgpki(&["org", "add", "--code", "011002", "--name", "札幌市"]),
            "org 2",
        );
        let reg = staff_cert(&env, "registrar", "千代田区");
        let app = staff_cert(&env, "approver", "千代田区");
        let app2 = staff_cert(&env, "approver2", "千代田区");
        let sap = staff_cert(&env, "sapporo", "札幌市");
        let sap_reg = staff_cert(&env, "sapporo-reg", "札幌市");
        for (o, org, role) in [
            (&reg, "131016", "registrar"),
            (&app, "131016", "approver"),
            (&app2, "131016", "approver"),
            (&sap, "011002", "approver"),
            (&sap_reg, "011002", "registrar"),
        ] {
            assert_ok(
                &env.lgpki(&[
                    "officer", "add", "--org", org, "--cert", &o.cert, "--role", role,
                ]),
                "officer add",
            );
        }
        let server = Server::start(&env);
        Ra {
            env,
            server,
            reg,
            app,
            app2,
            sap,
            sap_reg,
        }
    }

    /// Runs `lgpki --json --server … ARGS` as `who`.
    pub fn remote(&self, who: &Who, args: &[&str]) -> std::process::Output {
        crate::common::remote_as(&self.env, &self.server.ra, who, args)
    }

    /// A CSR for a new key (subject `/C=JP/O=LGPKI/CN=cn`), PEM path.
    pub fn csr(&self, name: &str, cn: &str) -> String {
        let key = make_key(self.env.dir.path(), name, KeyKind::P256);
        let csr = self.env.path(&format!("{name}.csr"));
        openssl_ok(&[
            "req",
            "-new",
            "-utf8",
            "-key",
            key.to_str().expect("utf8"),
            "-subj",
            &format!("/C=JP/O=LGPKI/CN={cn}"),
            "-out",
            csr.to_str().expect("utf8"),
        ]);
        csr.display().to_string()
    }

    /// A raw API client authenticating as `who` (None: no client certificate).
    pub fn client(&self, who: Option<&Who>) -> Api {
        let root = std::fs::read(self.env.path("root.pem")).expect("root");
        let roots = ca_core::input::der_blocks(&root, &["CERTIFICATE"], "root").expect("der");
        let mut b = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::Rustls)
            .root_certs(ureq::tls::RootCerts::new_with_certs(
                &roots
                    .iter()
                    .map(|d| ureq::tls::Certificate::from_der(d).to_owned())
                    .collect::<Vec<_>>(),
            ));
        if let Some(w) = who {
            let chain = ca_core::input::der_blocks(
                &std::fs::read(&w.cert).expect("cert"),
                &["CERTIFICATE"],
                "cert",
            )
            .expect("der");
            let key =
                ureq::tls::PrivateKey::from_pem(&std::fs::read(&w.key).expect("key")).expect("key");
            let chain: Vec<_> = chain
                .iter()
                .map(|d| ureq::tls::Certificate::from_der(d).to_owned())
                .collect();
            b = b.client_cert(Some(ureq::tls::ClientCert::new_with_certs(&chain, key)));
        }
        let agent = ureq::Agent::config_builder()
            .tls_config(b.build())
            .http_status_as_error(false)
            .timeout_global(Some(std::time::Duration::from_secs(30)))
            .build()
            .new_agent();
        Api {
            base: self.server.ra.clone(),
            agent: Arc::new(agent),
        }
    }
}

/// A raw HTTPS client of the RA port.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub agent: Arc<ureq::Agent>,
}

/// An answer: status, content type and body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}), HTTP {}: {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Api {
    /// Sends a request; `Err` only for transport failures (e.g. a refused handshake).
    pub fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
        headers: &[(&str, &str)],
    ) -> Result<Answer, ureq::Error> {
        let url = format!("{}{path}", self.base);
        let mut resp = match method {
            "GET" => {
                let mut r = self.agent.get(&url);
                for (k, v) in headers {
                    r = r.header(*k, *v);
                }
                r.call()?
            }
            "DELETE" => {
                let mut r = self.agent.delete(&url);
                for (k, v) in headers {
                    r = r.header(*k, *v);
                }
                r.call()?
            }
            _ => {
                let mut r = self
                    .agent
                    .post(&url)
                    .header("Content-Type", "application/json");
                for (k, v) in headers {
                    r = r.header(*k, *v);
                }
                let bytes =
                    serde_json::to_vec(body.unwrap_or(&serde_json::json!({}))).expect("json");
                r.send(&bytes[..])?
            }
        };
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = resp
            .body_mut()
            .with_config()
            .limit(32 << 20)
            .read_to_vec()?;
        Ok(Answer {
            status: resp.status().as_u16(),
            content_type,
            body,
        })
    }

    /// GET, asserting the transport worked.
    pub fn get(&self, path: &str) -> Answer {
        self.call("GET", path, None, &[])
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// POST JSON, asserting the transport worked.
    pub fn post(&self, path: &str, body: &serde_json::Value) -> Answer {
        self.call("POST", path, Some(body), &[])
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }
}

/// The serial of a certificate file (hex, as openssl prints it).
pub fn serial_of(cert: &str) -> String {
    openssl_ok(&["x509", "-in", cert, "-noout", "-serial"])
        .trim()
        .trim_start_matches("serial=")
        .to_lowercase()
}
