//! The OCSP client of `verify --check-ocsp`: asks each certificate's AIA OCSP responder
//! (RFC 6960, HTTP POST per appendix A.1) and checks the signed answer.

use std::time::Duration;

use ca_core::ocsp::{self, CaHashes, CertId, HashAlgorithm};
use der::Encode;
use x509_cert::Certificate;

/// The OCSP responder URL in a certificate's authorityInfoAccess, if any.
fn ocsp_url(cert: &Certificate) -> Option<String> {
    let (_, aia) = cert
        .tbs_certificate()
        .get_extension::<x509_cert::ext::pkix::AuthorityInfoAccessSyntax>()
        .ok()??;
    aia.0
        .iter()
        .find(|d| d.access_method == const_oid::db::rfc5280::ID_AD_OCSP)
        .and_then(|d| match &d.access_location {
            x509_cert::ext::pkix::name::GeneralName::UniformResourceIdentifier(u) => {
                Some(u.as_str().to_string())
            }
            _ => None,
        })
}

/// Checks every certificate of `chain` (leaf first) but the anchor that names an OCSP
/// responder. Err says which certificate is revoked or could not be checked.
pub fn check_chain(chain: &[Certificate], now: i64) -> Result<(), String> {
    for pair in chain.windows(2) {
        let (cert, issuer) = (&pair[0], &pair[1]);
        let Some(url) = ocsp_url(cert) else { continue };
        let subject = ca_core::name_to_string(cert.tbs_certificate().subject());
        let issuer_der = issuer.to_der().map_err(|e| e.to_string())?;
        let hashes = CaHashes::from_certificate(&issuer_der).map_err(|e| e.to_string())?;
        let id = CertId::new(
            HashAlgorithm::Sha1,
            &hashes,
            cert.tbs_certificate().serial_number().as_bytes(),
        )
        .map_err(|e| e.to_string())?;
        let mut nonce = [0u8; 16];
        getrandom_fill(&mut nonce);
        let req = ocsp::build_request(std::slice::from_ref(&id), Some(&nonce))
            .map_err(|e| e.to_string())?;
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .new_agent();
        let body = agent
            .post(&url)
            .header("Content-Type", "application/ocsp-request")
            .send(&req[..])
            .map_err(|e| format!("OCSP responder {url} for {subject}: {e}"))?
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_vec()
            .map_err(|e| format!("OCSP responder {url}: {e}"))?;
        let resp =
            ocsp::parse_response(&body).map_err(|e| format!("OCSP response from {url}: {e}"))?;
        let basic = resp
            .basic
            .ok_or_else(|| format!("OCSP responder {url} answered {}", resp.status.name()))?;
        let issuer_spki = issuer.tbs_certificate().subject_public_key_info();
        // Signed by the CA itself, or by a delegated responder certificate it issued
        // (RFC 6960 §4.2.2.2).
        let signed_ok = basic.verify_signature(issuer_spki).is_ok()
            || basic
                .certs
                .iter()
                .any(|c| delegated_responder_ok(c, &issuer_der, now, &basic));
        if !signed_ok {
            return Err(format!(
                "OCSP response for {subject} is not signed by its CA or a responder it authorised"
            ));
        }
        let single = basic
            .find(&id)
            .ok_or_else(|| format!("OCSP response for {subject} does not answer for it"))?;
        match &single.status {
            ocsp::CertStatus::Good => {}
            ocsp::CertStatus::Revoked { .. } => {
                return Err(format!("{subject} is revoked (OCSP {url})"));
            }
            ocsp::CertStatus::Unknown => {
                return Err(format!("{subject}: OCSP status unknown ({url})"));
            }
        }
    }
    Ok(())
}

/// A delegated responder certificate is acceptable when the CA issued it (a path to the CA as
/// anchor validates), it carries id-kp-OCSPSigning, and its key signed the response.
fn delegated_responder_ok(
    cert_der: &[u8],
    issuer_der: &[u8],
    now: i64,
    basic: &ocsp::BasicResponse,
) -> bool {
    let Ok(cert) = <Certificate as der::Decode>::from_der(cert_der) else {
        return false;
    };
    let eku_ok = cert
        .tbs_certificate()
        .get_extension::<x509_cert::ext::pkix::ExtendedKeyUsage>()
        .ok()
        .flatten()
        .is_some_and(|(_, e)| e.0.contains(&const_oid::db::rfc5280::ID_KP_OCSP_SIGNING));
    eku_ok
        && ca_core::validate_path(
            cert_der,
            &[],
            &[issuer_der.to_vec()],
            &ca_core::ValidationOptions::at(now.max(0) as u64),
        )
        .is_ok()
        && basic
            .verify_signature(cert.tbs_certificate().subject_public_key_info())
            .is_ok()
}

fn getrandom_fill(buf: &mut [u8]) {
    let rng = ring::rand::SystemRandom::new();
    let _ = ring::rand::SecureRandom::fill(&rng, buf);
}
