//! The validation service of `serve` (証明書検証サーバ): `POST /validate` takes a certificate
//! and validation inputs as JSON, validates a path to a trust anchor (the home's self-signed
//! CAs and those given with `serve --trust`), checks each certificate's revocation status
//! (the store for certificates of this CA, CRLs and OCSP fetched over HTTP for other PKIs',
//! cached until their nextUpdate), and answers the JSON of `verify --json` plus
//! `"revocation"`, signed with the VA certificate as a detached CMS SignedData (RFC 5652) in
//! the `LGPKI-VA-Signature` header.

use std::sync::{Arc, Mutex, RwLock};

use base64::Engine;
use ca_core::revocation::{Methods, OwnStatus, RevocationChecker, Status};
use ca_core::{CaSigner, StatusReader};
use ca_http::{ValidateAnswer, Validator};
use der::{Decode, Encode};
use serde::Deserialize;
use x509_cert::Certificate;

use crate::output::CliError;

/// Most untrusted certificates one request may bring.
pub const MAX_UNTRUSTED: usize = 32;

/// A `/validate` request (field names fixed by the contract).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    certificate: String,
    #[serde(default)]
    untrusted: Vec<String>,
    #[serde(default)]
    policies: Vec<String>,
    #[serde(default)]
    explicit_policy: bool,
    #[serde(default)]
    inhibit_policy_mapping: bool,
    #[serde(default)]
    inhibit_any_policy: bool,
    at: Option<String>,
    purpose: Option<String>,
    name: Option<String>,
}

/// The VA key and certificate chain that sign `/validate` answers.
pub struct VaSigner {
    signer: Arc<dyn CaSigner>,
    cert: Vec<u8>,
    extra: Vec<Vec<u8>>,
}

impl VaSigner {
    /// The VA certificate kept in HOME/va (issued now by the bridge CA when missing or near
    /// its end), with its key.
    pub fn obtain(authority: &mut ca_core::Authority) -> Result<VaSigner, CliError> {
        let kept = crate::serve_certs::va().obtain(authority)?;
        let data = ca_core::input::read_limited(&kept.chain, ca_core::input::MAX_INPUT_FILE)?;
        let mut chain = ca_core::input::der_blocks(&data, &["CERTIFICATE"], "VA certificate")?;
        let kdata = ca_core::input::read_limited(&kept.key, 1 << 20)?;
        let key = ca_core::input::der_blocks(&kdata, &["PRIVATE KEY"], "VA key")?.remove(0);
        let signer = ca_core::SoftwareSigner::from_pkcs8(&key, "VA key")?;
        let cert = chain.remove(0);
        Ok(VaSigner {
            signer: Arc::new(signer),
            cert,
            extra: chain,
        })
    }

    /// Base64 of a detached CMS SignedData over `body` (RFC 5652; the builder the TSA's
    /// tokens share), with the VA certificate and its chain.
    fn sign(&self, body: &[u8]) -> ca_core::Result<String> {
        let mut certs = vec![self.cert.clone()];
        certs.extend(self.extra.iter().cloned());
        let der = ca_core::signed_data::sign_detached(
            ca_core::signed_data::Signer {
                key: self.signer.as_ref(),
                cert_der: &self.cert,
            },
            &certs,
            body,
            time::OffsetDateTime::now_utc(),
        )?;
        Ok(base64::engine::general_purpose::STANDARD.encode(der))
    }
}

/// `serve`'s [`Validator`].
pub struct ServeValidator {
    store: Mutex<Box<dyn StatusReader>>,
    served: Arc<RwLock<crate::serve::ServedCas>>,
    extra_anchors: Vec<Vec<u8>>,
    checker: RevocationChecker,
    va: VaSigner,
}

impl ServeValidator {
    /// A validator over the store, the CAs `serve` serves, extra anchors (`--trust`) and the
    /// VA signer.
    pub fn new(
        store: Box<dyn StatusReader>,
        served: Arc<RwLock<crate::serve::ServedCas>>,
        extra_anchors: Vec<Vec<u8>>,
        va: VaSigner,
    ) -> ServeValidator {
        ServeValidator {
            store: Mutex::new(store),
            served,
            extra_anchors,
            checker: RevocationChecker::new(),
            va,
        }
    }

    fn run(&self, body: &[u8]) -> Result<serde_json::Value, Refusal> {
        let req: Request =
            serde_json::from_slice(body).map_err(|e| format!("malformed JSON request: {e}"))?;
        let leaf = pem_cert(&req.certificate, "certificate")?;
        if req.untrusted.len() > MAX_UNTRUSTED {
            return Err(format!("at most {MAX_UNTRUSTED} untrusted certificates").into());
        }
        let mut pool = Vec::new();
        for (i, u) in req.untrusted.iter().enumerate() {
            pool.push(pem_cert(u, &format!("untrusted[{i}]"))?);
        }
        let time = match &req.at {
            Some(t) => {
                time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                    .map_err(|e| format!("at: not an RFC 3339 time: {e}"))?
                    .unix_timestamp()
            }
            None => time::OffsetDateTime::now_utc().unix_timestamp(),
        };
        let mut opts = ca_core::ValidationOptions::at(
            u64::try_from(time).map_err(|_| "at: before 1970".to_string())?,
        );
        for p in &req.policies {
            opts.initial_policy_set.push(
                p.parse::<ca_core::Oid>()
                    .map_err(|e| format!("policies: {p:?} is not an OID: {e}"))?,
            );
        }
        opts.initial_explicit_policy = req.explicit_policy;
        opts.initial_policy_mapping_inhibit = req.inhibit_policy_mapping;
        opts.initial_any_policy_inhibit = req.inhibit_any_policy;
        opts.purpose = req
            .purpose
            .as_deref()
            .map(|p| {
                p.parse().map_err(|_| {
                    format!("purpose: {p:?} is not server, client, email, code-signing or any")
                })
            })
            .transpose()?;
        opts.name = req.name.clone();

        let (own_cas, mut anchors) = {
            let served = self
                .served
                .read()
                .map_err(|_| "internal error".to_string())?;
            let anchors: Vec<Vec<u8>> = served
                .self_signed()
                .into_iter()
                .chain(self.extra_anchors.iter().cloned())
                .collect();
            (served.cas.clone(), anchors)
        };
        anchors.dedup();
        // The store is locked per status lookup only: path building and signature checks of
        // concurrent requests run in parallel.
        let own = OwnCas {
            store: &self.store,
            cas: &own_cas,
            down: std::cell::RefCell::new(None),
        };
        let result = crate::verify::evaluate(
            &leaf,
            &pool,
            &anchors,
            &opts,
            &self.checker,
            &Methods {
                fetch: true,
                ..Methods::default()
            },
            Some(&own),
        );
        // The store could not be asked: no answer rather than an undetermined one.
        if let Some(e) = own.down.into_inner() {
            return Err(Refusal::Unavailable(e));
        }
        Ok(result)
    }
}

impl Validator for ServeValidator {
    fn validate(&self, body: &[u8]) -> ValidateAnswer {
        match self.run(body) {
            Err(Refusal::BadRequest(reason)) => ValidateAnswer::BadRequest(reason),
            Err(Refusal::Unavailable(reason)) => ValidateAnswer::Unavailable(reason),
            Ok(json) => {
                let mut body = json.to_string().into_bytes();
                body.push(b'\n');
                let signature = match self.va.sign(&body) {
                    Ok(s) => Some(s),
                    Err(e) => {
                        tracing::error!(error = %e, "VA signature failed");
                        None
                    }
                };
                ValidateAnswer::Done { body, signature }
            }
        }
    }
}

/// Why a request gets no validation result.
enum Refusal {
    /// Not a validation request (400).
    BadRequest(String),
    /// The store cannot be reached (503).
    Unavailable(String),
}

impl From<String> for Refusal {
    fn from(s: String) -> Refusal {
        Refusal::BadRequest(s)
    }
}

fn pem_cert(text: &str, what: &str) -> Result<Vec<u8>, String> {
    let blocks = ca_core::input::der_blocks(text.as_bytes(), &["CERTIFICATE"], what)
        .map_err(|e| e.to_string())?;
    blocks
        .into_iter()
        .next()
        .ok_or_else(|| format!("{what}: no certificate"))
}

/// The status of certificates this home's CAs issued, from the store.
struct OwnCas<'a> {
    store: &'a Mutex<Box<dyn StatusReader>>,
    cas: &'a [(String, Vec<u8>)],
    /// Set when the store could not be reached (PostgreSQL down): the request is answered 503.
    down: std::cell::RefCell<Option<String>>,
}

impl OwnStatus for OwnCas<'_> {
    fn status(&self, cert: &Certificate, issuer: &Certificate) -> Option<Status> {
        let issuer_der = issuer.to_der().ok()?;
        let (name, _) = self.cas.iter().find(|(_, d)| *d == issuer_der)?;
        let serial = cert.tbs_certificate().serial_number().as_bytes();
        let lookup = match self.store.lock() {
            Ok(store) => crate::serve::store_lookup(store.as_ref(), serial, name),
            Err(_) => {
                return Some(Status::Undetermined {
                    detail: "store: internal error (a lookup panicked)".into(),
                });
            }
        };
        Some(match lookup {
            Ok(ca_core::ocsp::Lookup::Good) => Status::Good,
            Ok(ca_core::ocsp::Lookup::Revoked { time, reason }) => Status::Revoked {
                detail: format!(
                    "revoked at {}{}",
                    ca_core::rfc3339(time.unix_timestamp()),
                    reason
                        .map(|r| format!(", reason {r:?}"))
                        .unwrap_or_default()
                ),
                at: Some(ca_core::revocation::RevokedAt {
                    time: time.unix_timestamp(),
                    reason,
                    invalidity: None,
                }),
            },
            Ok(ca_core::ocsp::Lookup::Unknown | ca_core::ocsp::Lookup::UnknownIssuer) => {
                Status::Undetermined {
                    detail: format!("not a certificate CA {name} issued (unknown to the store)"),
                }
            }
            Err(e) => {
                if matches!(e, ca_core::Error::StoreBackend { .. }) {
                    *self.down.borrow_mut() = Some(e.to_string());
                }
                Status::Undetermined {
                    detail: format!("store: {e}"),
                }
            }
        })
    }
}

/// Whether DER `cert` is self-signed by name (subject = issuer).
pub fn is_self_issued(cert: &[u8]) -> bool {
    Certificate::from_der(cert)
        .is_ok_and(|c| c.tbs_certificate().subject() == c.tbs_certificate().issuer())
}
