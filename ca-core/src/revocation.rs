//! The revocation status of each certificate of a validated path, and where it came from
//! (RFC 5280 §6.3 with CRLs, RFC 6960 with OCSP): from the relying party's own store, from
//! CRLs supplied or fetched from the certificate's cRLDistributionPoints, or from the OCSP
//! responder in its authorityInfoAccess. `lgpki verify` and `serve`'s `/validate` share it.
//!
//! Fetched CRLs and OCSP answers are cached until their nextUpdate ([`RevocationChecker`]),
//! bounded in number; the fetches themselves are bounded in size and time
//! ([`crate::fetch`]). A CRL is used only through [`crate::validate_path`] with the
//! certificate's issuer as the trust anchor, so its signature, scope (issuingDistributionPoint),
//! and freshness are checked as in a full path validation.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use const_oid::db::rfc5280 as oids;
use der::{Decode, Encode};
use x509_cert::Certificate;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{AuthorityInfoAccessSyntax, CrlDistributionPoints, ExtendedKeyUsage};

use crate::ocsp::{self, CaHashes, CertId, HashAlgorithm};
use crate::verify::{PathError, ValidationOptions, validate_path};

/// Most fetched CRLs kept (by URL); beyond it the cache is emptied before adding one.
pub const MAX_CACHED_CRLS: usize = 256;
/// Most OCSP answers kept (by CertID).
pub const MAX_CACHED_OCSP: usize = 65_536;
/// How long fetched data without a nextUpdate is kept: it is fetched again after this.
pub const MAX_CACHE_SECONDS: u64 = 3600;

/// The revocation status of one certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// Not revoked, by the source named.
    Good,
    /// Revoked.
    Revoked {
        /// What the source says (reason, time).
        detail: String,
        /// When and why, when the source says so (a CRL entry, an OCSP RevokedInfo, the
        /// store): what judging a past time (a signature's) needs.
        at: Option<RevokedAt>,
    },
    /// A check was asked for but could not be completed (no CRL, no OCSP URL, a fetch
    /// failed…): not valid.
    Undetermined {
        /// Why.
        detail: String,
    },
    /// No check was asked for.
    NotChecked,
}

impl Status {
    /// `good`, `revoked`, `undetermined` or `not_checked`.
    pub fn name(&self) -> &'static str {
        match self {
            Status::Good => "good",
            Status::Revoked { .. } => "revoked",
            Status::Undetermined { .. } => "undetermined",
            Status::NotChecked => "not_checked",
        }
    }
}

/// When and why a certificate was revoked (RFC 5280 §5.1.2.6, §5.3.1, §5.3.2; RFC 6960
/// §4.2.1 RevokedInfo).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevokedAt {
    /// revocationDate / revocationTime, seconds since the Unix epoch.
    pub time: i64,
    /// The reason code, if given.
    pub reason: Option<crate::crl::ReasonCode>,
    /// invalidityDate (CRL entry extension), if given: when the key is known or suspected to
    /// have been compromised.
    pub invalidity: Option<i64>,
}

impl RevokedAt {
    /// The earliest time the certificate is no longer to be relied on: the invalidity date
    /// when it is earlier than the revocation date.
    pub fn effective(&self) -> i64 {
        self.invalidity.map_or(self.time, |i| i.min(self.time))
    }
}

/// Where a status came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// No source (not checked, or nothing to check with).
    None,
    /// The relying party's own store (certificates its CAs issued).
    Store,
    /// A CRL: the URL it was fetched from, or `None` when supplied.
    Crl(Option<String>),
    /// An OCSP responder, by URL.
    Ocsp(String),
}

impl Source {
    /// `none`, `store`, `crl` or `ocsp`.
    pub fn name(&self) -> &'static str {
        match self {
            Source::None => "none",
            Source::Store => "store",
            Source::Crl(_) => "crl",
            Source::Ocsp(_) => "ocsp",
        }
    }

    /// The URL of a fetched CRL or of the OCSP responder.
    pub fn url(&self) -> Option<&str> {
        match self {
            Source::Crl(u) => u.as_deref(),
            Source::Ocsp(u) => Some(u),
            _ => None,
        }
    }
}

/// One certificate's revocation status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertRevocation {
    /// The certificate's subject (RFC 4514).
    pub subject: String,
    /// Its status.
    pub status: Status,
    /// Where the status came from.
    pub source: Source,
}

impl CertRevocation {
    /// `{"subject","status","source"}` plus `"url"` and `"detail"` when there are any.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "subject": self.subject,
            "status": self.status.name(),
            "source": self.source.name(),
        });
        if let Some(u) = self.source.url() {
            v["url"] = u.into();
        }
        if let Status::Revoked { detail, .. } | Status::Undetermined { detail } = &self.status {
            v["detail"] = detail.as_str().into();
        }
        v
    }

    /// One line of text: `SUBJECT: STATUS (SOURCE URL): DETAIL`.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "{}: {} ({}",
            self.subject,
            self.status.name(),
            self.source.name()
        );
        if let Some(u) = self.source.url() {
            s.push(' ');
            s.push_str(u);
        }
        s.push(')');
        if let Status::Revoked { detail, .. } | Status::Undetermined { detail } = &self.status {
            s.push_str(": ");
            s.push_str(detail);
        }
        s
    }
}

/// The first entry that makes a path invalid (revoked, or undetermined), as a reason.
pub fn first_failure(list: &[CertRevocation]) -> Option<String> {
    list.iter().find_map(|r| match &r.status {
        Status::Revoked { detail, .. } => Some(format!("{} is revoked: {detail}", r.subject)),
        Status::Undetermined { detail } => Some(format!(
            "revocation status of {} undetermined: {detail}",
            r.subject
        )),
        _ => None,
    })
}

/// The status of certificates issued by the relying party's own CAs.
pub trait OwnStatus {
    /// `Some` when `issuer` is one of its own CAs (the status from its store), `None` for a
    /// certificate of another PKI.
    fn status(&self, cert: &Certificate, issuer: &Certificate) -> Option<Status>;
}

/// Which revocation checks to make.
#[derive(Clone, Debug, Default)]
pub struct Methods {
    /// DER CRLs supplied by the caller (complete and delta, any issuer).
    pub crls: Vec<Vec<u8>>,
    /// Fetch CRLs from cRLDistributionPoints, and ask OCSP when no CRL decides.
    pub fetch: bool,
    /// Ask each certificate's OCSP responder (authorityInfoAccess); a certificate without one
    /// is undetermined.
    pub ocsp: bool,
}

impl Methods {
    /// Whether any check is asked for.
    pub fn any(&self) -> bool {
        !self.crls.is_empty() || self.fetch || self.ocsp
    }
}

struct CachedCrl {
    der: Arc<Vec<u8>>,
    until: u64,
}

struct CachedOcsp {
    status: Status,
    until: u64,
}

/// Checks the certificates of a path, caching what it fetched until its nextUpdate.
#[derive(Default)]
pub struct RevocationChecker {
    crls: Mutex<HashMap<String, CachedCrl>>,
    ocsp: Mutex<HashMap<Vec<u8>, CachedOcsp>>,
}

impl std::fmt::Debug for RevocationChecker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevocationChecker").finish_non_exhaustive()
    }
}

impl RevocationChecker {
    /// An empty cache.
    pub fn new() -> RevocationChecker {
        RevocationChecker::default()
    }

    /// The status of every certificate of `chain` (target first, trust anchor last) but the
    /// anchor, at `time` (seconds since the Unix epoch). `pool` holds other certificates that
    /// may have issued a CRL (indirect CRLs). Own certificates are asked of `own` first.
    pub fn check(
        &self,
        chain: &[Certificate],
        pool: &[Vec<u8>],
        time: u64,
        how: &Methods,
        own: Option<&dyn OwnStatus>,
    ) -> Vec<CertRevocation> {
        let mut pool: Vec<Vec<u8>> = pool.to_vec();
        pool.extend(chain.iter().filter_map(|c| c.to_der().ok()));
        chain
            .windows(2)
            .map(|pair| {
                let (cert, issuer) = (&pair[0], &pair[1]);
                let subject = crate::name_to_string(cert.tbs_certificate().subject());
                let (status, source) = self.one(cert, issuer, &pool, time, how, own);
                CertRevocation {
                    subject,
                    status,
                    source,
                }
            })
            .collect()
    }

    fn one(
        &self,
        cert: &Certificate,
        issuer: &Certificate,
        pool: &[Vec<u8>],
        time: u64,
        how: &Methods,
        own: Option<&dyn OwnStatus>,
    ) -> (Status, Source) {
        if let Some(s) = own.and_then(|o| o.status(cert, issuer)) {
            return (s, Source::Store);
        }
        if !how.any() {
            return (Status::NotChecked, Source::None);
        }
        let issuer_name = crate::name_to_string(issuer.tbs_certificate().subject());
        let mut why = Vec::new();
        if !how.crls.is_empty() {
            match crl_status(cert, issuer, pool, time, &how.crls) {
                s @ (Status::Good | Status::Revoked { .. }) => return (s, Source::Crl(None)),
                Status::Undetermined { detail } => why.push(format!(
                    "no usable CRL from issuer {issuer_name} ({detail})"
                )),
                Status::NotChecked => {}
            }
        }
        if how.fetch {
            let urls = crl_urls(cert);
            if urls.is_empty() {
                why.push("no CRL distribution point".into());
            }
            for url in urls {
                let der = match self.fetched_crl(&url, time) {
                    Ok(d) => d,
                    Err(e) => {
                        why.push(e.to_string());
                        continue;
                    }
                };
                let mut crls = how.crls.clone();
                crls.push(der.as_ref().clone());
                match crl_status(cert, issuer, pool, time, &crls) {
                    s @ (Status::Good | Status::Revoked { .. }) => {
                        return (s, Source::Crl(Some(url)));
                    }
                    Status::Undetermined { detail } => why.push(format!(
                        "CRL of issuer {issuer_name} from {url} not usable: {detail}"
                    )),
                    Status::NotChecked => {}
                }
            }
        }
        if how.ocsp || how.fetch {
            match ocsp_url(cert) {
                None => why.push("no OCSP responder URL in the certificate".into()),
                Some(url) => {
                    let s = self.ocsp_status(cert, issuer, &url, time);
                    match s {
                        Status::Good | Status::Revoked { .. } => return (s, Source::Ocsp(url)),
                        Status::Undetermined { detail } => {
                            why.push(detail);
                            return (
                                Status::Undetermined {
                                    detail: why.join("; "),
                                },
                                Source::Ocsp(url),
                            );
                        }
                        Status::NotChecked => {}
                    }
                }
            }
        }
        (
            Status::Undetermined {
                detail: why.join("; "),
            },
            Source::None,
        )
    }

    fn fetched_crl(&self, url: &str, time: u64) -> crate::Result<Arc<Vec<u8>>> {
        if let Ok(cache) = self.crls.lock()
            && let Some(c) = cache.get(url)
            && time < c.until
        {
            return Ok(c.der.clone());
        }
        let der = Arc::new(crate::fetch::http_get(url, crate::fetch::MAX_FETCHED_CRL)?);
        let next = <x509_cert::crl::CertificateList>::from_der(&der)
            .ok()
            .and_then(|l| l.tbs_cert_list.next_update)
            .map(|t| t.to_unix_duration().as_secs());
        // Kept until its nextUpdate (never past MAX_CACHE_SECONDS from now); a stale one is
        // not kept, so the next request fetches again.
        let until = next
            .unwrap_or(u64::MAX)
            .min(time.saturating_add(MAX_CACHE_SECONDS));
        if until > time
            && let Ok(mut cache) = self.crls.lock()
        {
            if cache.len() >= MAX_CACHED_CRLS {
                cache.clear();
            }
            cache.insert(
                url.to_string(),
                CachedCrl {
                    der: der.clone(),
                    until,
                },
            );
        }
        Ok(der)
    }

    fn ocsp_status(
        &self,
        cert: &Certificate,
        issuer: &Certificate,
        url: &str,
        time: u64,
    ) -> Status {
        let undetermined = |detail: String| Status::Undetermined { detail };
        let Ok(issuer_der) = issuer.to_der() else {
            return undetermined("issuer certificate does not encode".into());
        };
        let id = match CaHashes::from_certificate(&issuer_der).and_then(|h| {
            CertId::new(
                HashAlgorithm::Sha1,
                &h,
                cert.tbs_certificate().serial_number().as_bytes(),
            )
        }) {
            Ok(id) => id,
            Err(e) => return undetermined(e.to_string()),
        };
        let key = [id.issuer_key_hash.as_slice(), id.serial.as_slice()].concat();
        if let Ok(cache) = self.ocsp.lock()
            && let Some(c) = cache.get(&key)
            && time < c.until
        {
            return c.status.clone();
        }
        let (status, until) = match ask_ocsp(&id, issuer, &issuer_der, url, time) {
            Ok(x) => x,
            Err(detail) => return undetermined(detail),
        };
        if until > time
            && let Ok(mut cache) = self.ocsp.lock()
        {
            if cache.len() >= MAX_CACHED_OCSP {
                cache.clear();
            }
            cache.insert(
                key,
                CachedOcsp {
                    status: status.clone(),
                    until,
                },
            );
        }
        status
    }
}

/// Tolerated clock difference for OCSP thisUpdate in the future (RFC 5019 §4 leaves it to
/// local policy).
const OCSP_CLOCK_SKEW: u64 = 300;

/// Asks `url` about `id` and checks the signed answer: signed by the issuer or by a delegated
/// responder it certified (RFC 6960 §4.2.2.2), answering for `id`, current at `time`.
fn ask_ocsp(
    id: &CertId,
    issuer: &Certificate,
    issuer_der: &[u8],
    url: &str,
    time: u64,
) -> Result<(Status, u64), String> {
    let req = ocsp::build_request(std::slice::from_ref(id), None).map_err(|e| e.to_string())?;
    let body = crate::fetch::http_post(
        url,
        "application/ocsp-request",
        &req,
        crate::fetch::MAX_FETCHED_OCSP,
    )
    .map_err(|e| e.to_string())?;
    let resp = ocsp::parse_response(&body).map_err(|e| format!("OCSP response from {url}: {e}"))?;
    let basic = resp
        .basic
        .ok_or_else(|| format!("OCSP responder {url} answered {}", resp.status.name()))?;
    if !basic.unknown_critical_extensions.is_empty() {
        return Err(format!(
            "OCSP response from {url} has an unknown critical extension"
        ));
    }
    let signed_ok = basic
        .verify_signature(issuer.tbs_certificate().subject_public_key_info())
        .is_ok()
        || basic
            .certs
            .iter()
            .any(|c| delegated_responder_ok(c, issuer_der, time, &basic));
    if !signed_ok {
        return Err(format!(
            "OCSP response from {url} is not signed by the issuer or a responder it authorised"
        ));
    }
    let single = basic
        .find(id)
        .ok_or_else(|| format!("OCSP response from {url} does not answer for the certificate"))?;
    let this = single.this_update.unix_timestamp().max(0) as u64;
    let next = single.next_update.map(|t| t.unix_timestamp().max(0) as u64);
    if this > time + OCSP_CLOCK_SKEW || next.is_some_and(|n| n < time) {
        return Err(format!("OCSP response from {url} is not current"));
    }
    let until = next
        .unwrap_or(time)
        .min(time.saturating_add(MAX_CACHE_SECONDS));
    let status = match &single.status {
        ocsp::CertStatus::Good => Status::Good,
        ocsp::CertStatus::Revoked { time, reason } => Status::Revoked {
            detail: format!(
                "revoked at {}{}",
                crate::rfc3339(time.unix_timestamp()),
                reason
                    .map(|r| format!(", reason {r:?}"))
                    .unwrap_or_default()
            ),
            at: Some(RevokedAt {
                time: time.unix_timestamp(),
                reason: *reason,
                invalidity: None,
            }),
        },
        ocsp::CertStatus::Unknown => Status::Undetermined {
            detail: format!("OCSP responder {url} answered unknown"),
        },
    };
    Ok((status, until))
}

/// A delegated responder certificate is acceptable when the issuer issued it (a path to the
/// issuer as anchor validates), it carries id-kp-OCSPSigning, and its key signed the response.
fn delegated_responder_ok(
    cert_der: &[u8],
    issuer_der: &[u8],
    time: u64,
    basic: &ocsp::BasicResponse,
) -> bool {
    let Ok(cert) = Certificate::from_der(cert_der) else {
        return false;
    };
    let eku_ok = cert
        .tbs_certificate()
        .get_extension::<ExtendedKeyUsage>()
        .ok()
        .flatten()
        .is_some_and(|(_, e)| e.0.contains(&oids::ID_KP_OCSP_SIGNING));
    eku_ok
        && validate_path(
            cert_der,
            &[],
            &[issuer_der.to_vec()],
            &ValidationOptions::at(time),
        )
        .is_ok()
        && basic
            .verify_signature(cert.tbs_certificate().subject_public_key_info())
            .is_ok()
}

/// The status of `cert` by `crls`, through a path validation with `issuer` as the anchor
/// (RFC 5280 §6.3: signature, scope and freshness of the CRL are checked there).
fn crl_status(
    cert: &Certificate,
    issuer: &Certificate,
    pool: &[Vec<u8>],
    time: u64,
    crls: &[Vec<u8>],
) -> Status {
    let (Ok(cert_der), Ok(issuer_der)) = (cert.to_der(), issuer.to_der()) else {
        return Status::Undetermined {
            detail: "certificate does not encode".into(),
        };
    };
    let mut opts = ValidationOptions::at(time);
    opts.check_revocation = true;
    opts.crls = crls.to_vec();
    match validate_path(&cert_der, pool, &[issuer_der], &opts) {
        Ok(_) => Status::Good,
        Err(e @ PathError::Revoked { .. }) => Status::Revoked {
            detail: e.to_string(),
            at: crl_entry(cert, crls),
        },
        Err(e) => Status::Undetermined {
            detail: e.to_string(),
        },
    }
}

/// The entry for `cert` on one of `crls` issued by its issuer (direct CRLs; the newest entry
/// when several CRLs list it): revocationDate, reasonCode and invalidityDate.
fn crl_entry(cert: &Certificate, crls: &[Vec<u8>]) -> Option<RevokedAt> {
    use x509_cert::ext::pkix::CrlReason;
    let tbs = cert.tbs_certificate();
    let mut best: Option<RevokedAt> = None;
    for der in crls {
        let Ok(list) = <x509_cert::crl::CertificateList>::from_der(der) else {
            continue;
        };
        if &list.tbs_cert_list.issuer != tbs.issuer() {
            continue;
        }
        for rc in list.tbs_cert_list.revoked_certificates.iter().flatten() {
            if rc.serial_number.as_bytes() != tbs.serial_number().as_bytes() {
                continue;
            }
            let mut at = RevokedAt {
                time: rc.revocation_date.to_unix_duration().as_secs() as i64,
                reason: None,
                invalidity: None,
            };
            for ext in rc.crl_entry_extensions.iter().flatten() {
                let v = ext.extn_value.as_bytes();
                if ext.extn_id == oids::ID_CE_CRL_REASONS {
                    at.reason = CrlReason::from_der(v)
                        .ok()
                        .and_then(|r| crate::crl::ReasonCode::from_code(r as u8));
                } else if ext.extn_id == oids::ID_CE_INVALIDITY_DATE {
                    at.invalidity = der::asn1::GeneralizedTime::from_der(v)
                        .ok()
                        .map(|t| t.to_unix_duration().as_secs() as i64);
                }
            }
            if best.as_ref().is_none_or(|b| b.time < at.time) {
                best = Some(at);
            }
        }
    }
    best
}

/// The http URLs of a certificate's cRLDistributionPoints (fullName URIs).
pub fn crl_urls(cert: &Certificate) -> Vec<String> {
    let Ok(Some((_, cdp))) = cert
        .tbs_certificate()
        .get_extension::<CrlDistributionPoints>()
    else {
        return Vec::new();
    };
    cdp.0
        .iter()
        .filter_map(|dp| match &dp.distribution_point {
            Some(DistributionPointName::FullName(names)) => Some(names),
            _ => None,
        })
        .flatten()
        .filter_map(|n| match n {
            GeneralName::UniformResourceIdentifier(u) if u.as_str().starts_with("http://") => {
                Some(u.as_str().to_string())
            }
            _ => None,
        })
        .collect()
}

/// The OCSP responder URL in a certificate's authorityInfoAccess, if any.
pub fn ocsp_url(cert: &Certificate) -> Option<String> {
    let (_, aia) = cert
        .tbs_certificate()
        .get_extension::<AuthorityInfoAccessSyntax>()
        .ok()??;
    aia.0
        .iter()
        .find(|d| d.access_method == oids::ID_AD_OCSP)
        .and_then(|d| match &d.access_location {
            GeneralName::UniformResourceIdentifier(u) => Some(u.as_str().to_string()),
            _ => None,
        })
}
