//! The end-entity certificates `serve` holds itself, kept in HOME and reused across restarts:
//! the RA listener's TLS certificate (profile `server`), the validation service's VA
//! certificate (profile `va`, issued by the bridge CA) and the time-stamping authority's
//! certificate (profile `timestamping`, issued by the CA bound to it: the application CA). Each is issued anew only when missing,
//! about to expire (less than a third of its validity left), revoked, or when the names it
//! must carry changed. Keys are PKCS#8 files of mode 0600.

use std::path::{Path, PathBuf};

use ca_core::{Authority, input};
use der::Decode;
use x509_cert::Certificate;

use crate::output::CliError;

/// What one kept certificate is for.
pub struct Kept {
    /// The directory in HOME (`ra-tls`, `va`, `ocsp/NAME`).
    pub dir: String,
    /// The profile it is issued with.
    pub profile: &'static str,
    /// The issuing CA (`None`: the one the hierarchy binds to the profile).
    pub ca: Option<String>,
    /// The subject DN.
    pub subject: String,
    /// subjectAltNames (`ip:…`, `dns:…`).
    pub sans: Vec<String>,
}

/// Paths of a kept certificate chain (leaf first, PEM) and its key (PKCS#8 PEM).
pub struct KeptFiles {
    /// Certificate chain, leaf first, up to but not including the root.
    pub chain: PathBuf,
    /// The PKCS#8 key.
    pub key: PathBuf,
    /// Whether it was issued now (else reused).
    pub issued: bool,
}

const CHAIN: &str = "chain.pem";
const KEY: &str = "key.pem";
/// The names the certificate was issued for, one per line (subject, then SANs).
const NAMES: &str = "names";

impl Kept {
    fn names(&self) -> String {
        std::iter::once(self.subject.as_str())
            .chain(self.sans.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The kept certificate, reused when still good, else issued now and written to HOME.
    pub fn obtain(&self, authority: &mut Authority) -> Result<KeptFiles, CliError> {
        let dir = authority.home().join(&self.dir);
        let files = KeptFiles {
            chain: dir.join(CHAIN),
            key: dir.join(KEY),
            issued: false,
        };
        if self.reusable(authority, &dir, &files.chain)? {
            return Ok(files);
        }
        let pkcs8 = ca_core::generate_pkcs8(ca_core::KeyAlgorithm::EcdsaP256)?;
        let signer = ca_core::SoftwareSigner::from_pkcs8(&pkcs8, &self.dir)?;
        let subject = ca_core::DistinguishedName::parse(&self.subject)?;
        let csr = ca_core::build_csr(&signer, &subject.to_der()?)?;
        let issued = authority.issue(ca_core::IssuanceRequest {
            profile: self.profile.into(),
            csr_der: csr,
            ca: self.ca.clone(),
            sans: self.sans.clone(),
            ..Default::default()
        })?;
        let mut pem = pem_block("CERTIFICATE", &issued.der);
        for c in authority.chain(&issued.ca)? {
            if c.parent.is_some() {
                pem.push_str(&pem_block("CERTIFICATE", &c.cert_der));
            }
        }
        ca_core::create_private_dir(&dir)?;
        // Key first: a chain on disk always has its key beside it.
        ca_core::write_private_file(
            &files.key,
            pem_block("PRIVATE KEY", &pkcs8).as_bytes(),
            false,
        )?;
        ca_core::write_atomic(&files.chain, pem.as_bytes())?;
        ca_core::write_atomic(&dir.join(NAMES), self.names().as_bytes())?;
        Ok(KeptFiles {
            issued: true,
            ..files
        })
    }

    fn reusable(&self, authority: &Authority, dir: &Path, chain: &Path) -> Result<bool, CliError> {
        let names_ok = std::fs::read_to_string(dir.join(NAMES)).is_ok_and(|n| n == self.names());
        if !names_ok || !dir.join(KEY).exists() {
            return Ok(false);
        }
        let Ok(data) = input::read_limited(chain, input::MAX_INPUT_FILE) else {
            return Ok(false);
        };
        let Some(leaf) = input::der_blocks(&data, &["CERTIFICATE"], "kept certificate")
            .ok()
            .and_then(|b| b.into_iter().next())
        else {
            return Ok(false);
        };
        let Ok(cert) = Certificate::from_der(&leaf) else {
            return Ok(false);
        };
        let v = cert.tbs_certificate().validity();
        let nb = v.not_before.to_unix_duration().as_secs() as i64;
        let na = v.not_after.to_unix_duration().as_secs() as i64;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        if now < nb || na - now < (na - nb) / 3 {
            return Ok(false);
        }
        // Not revoked, and still a certificate of this store (not one from an older home).
        let serial = ca_core::serial_hex(cert.tbs_certificate().serial_number().as_bytes());
        if !matches!(
            authority.status(&serial, None)?,
            ca_core::RevocationStatus::Good(_)
        ) {
            return Ok(false);
        }
        issued_by_current_key(authority, &cert)
    }
}

/// Whether `cert` names (AKI, RFC 5280 §4.2.1.1) the key its CA holds now: after `ca renew`
/// a kept certificate from the retired key is issued anew, so that e.g. a delegated OCSP
/// responder is certified by the key whose CertID it answers for (RFC 6960 §4.2.2.2).
fn issued_by_current_key(authority: &Authority, cert: &Certificate) -> Result<bool, CliError> {
    use x509_cert::ext::pkix::{AuthorityKeyIdentifier, SubjectKeyIdentifier};
    let serial =
        ca_core::Serial::from_der_content(cert.tbs_certificate().serial_number().as_bytes());
    let Some(rec) = authority.store().cert(&serial, None)? else {
        return Ok(false);
    };
    let ca = authority.ca_record(&rec.ca)?;
    let Ok(ca_cert) = Certificate::from_der(&ca.cert_der) else {
        return Ok(false);
    };
    let aki = cert
        .tbs_certificate()
        .get_extension::<AuthorityKeyIdentifier>()
        .ok()
        .flatten()
        .and_then(|(_, a)| a.key_identifier);
    let ski = ca_cert
        .tbs_certificate()
        .get_extension::<SubjectKeyIdentifier>()
        .ok()
        .flatten()
        .map(|(_, s)| s.0);
    Ok(matches!((aki, ski), (Some(a), Some(s)) if a == s))
}

/// One PEM block (RFC 7468), 64 columns.
pub fn pem_block(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut s = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        s.push_str(std::str::from_utf8(line).unwrap_or_default());
        s.push('\n');
    }
    s.push_str(&format!("-----END {label}-----\n"));
    s
}

/// The RA listener's certificate: its IP address and, from `HOME/lgpki.toml`, its DNS name.
pub fn ra_tls(listen: std::net::SocketAddr, dns_name: Option<&str>) -> Kept {
    let ip = if listen.ip().is_unspecified() {
        std::net::IpAddr::from([127, 0, 0, 1])
    } else {
        listen.ip()
    };
    let mut sans = vec![format!("ip:{ip}")];
    let mut subject = "O=LGPKI,C=JP".to_string();
    if let Some(d) = dns_name {
        sans.insert(0, format!("dns:{d}"));
        subject = format!("CN={d},O=LGPKI,C=JP");
    }
    Kept {
        dir: "ra-tls".into(),
        profile: "server",
        ca: None,
        subject,
        sans,
    }
}

/// The validation service's VA certificate, issued by the bridge CA.
pub fn va() -> Kept {
    Kept {
        dir: "va".into(),
        profile: "va",
        ca: Some("bridge".into()),
        subject: "CN=Validation Authority".into(),
        sans: Vec::new(),
    }
}

/// The time-stamping authority's certificate, issued by the CA bound to profile
/// `timestamping` (the application CA in the default hierarchy).
pub fn tsa() -> Kept {
    Kept {
        dir: "tsa".into(),
        profile: "timestamping",
        ca: None,
        subject: "CN=Time-Stamping Authority".into(),
        sans: Vec::new(),
    }
}

/// The delegated OCSP responder certificate of CA `ca` (profile `ocsp-signing`, RFC 6960
/// §4.2.2.2), kept in `HOME/ocsp/CA`; `init` makes one for each CA the hierarchy marks
/// `ocsp_responder`.
pub fn ocsp_responder(ca: &str) -> Kept {
    Kept {
        dir: format!("ocsp/{ca}"),
        profile: ca_core::OCSP_RESPONDER_PROFILE,
        ca: Some(ca.to_string()),
        // O and C come from the profile's fixed attributes (as for the VA and TSA).
        subject: format!("CN=OCSP Responder {ca}"),
        sans: Vec::new(),
    }
}
