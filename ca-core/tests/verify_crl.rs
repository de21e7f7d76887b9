//! Revocation checking against CRLs made by this crate's own CRL encoder (`ca_core::crl`),
//! on a CA and leaves made with the `openssl` CLI (the shared test fixture).

mod common;

use ca_core::crl::{
    CrlEntry, CrlNumber, CrlParams, ReasonCode, encode_crl, issuer_fields_from_certificate,
};
use ca_core::{PathError, ValidationOptions, validate_path};
use common::Pki;

fn pem_der(pki: &Pki, name: &str) -> Vec<u8> {
    let pem = std::fs::read(pki.path().join(name)).expect("read pem");
    der::pem::decode_vec(&pem).expect("pem").1
}

fn crl(
    pki: &Pki,
    number: u64,
    delta_base: Option<u64>,
    revoked: &[(u64, Option<ReasonCode>)],
) -> Vec<u8> {
    let (issuer_name_der, issuer_key_id) =
        issuer_fields_from_certificate(&pki.ca_der).expect("issuer fields");
    let params = CrlParams {
        issuer_name_der,
        issuer_key_id,
        crl_number: CrlNumber::from(number),
        this_update: time::OffsetDateTime::now_utc() - time::Duration::hours(1),
        next_update: time::OffsetDateTime::now_utc() + time::Duration::days(7),
        issuing_distribution_point: None,
        delta_base: delta_base.map(CrlNumber::from),
        freshest_crl_uris: Vec::new(),
    };
    let entries: Vec<CrlEntry> = revoked
        .iter()
        .map(|&(serial, reason)| CrlEntry {
            serial: serial.to_be_bytes().to_vec(),
            revocation_date: time::OffsetDateTime::now_utc() - time::Duration::hours(2),
            reason,
            invalidity_date: None,
        })
        .collect();
    encode_crl(params, entries, &pki.ca_signer).expect("crl")
}

fn check(pki: &Pki, leaf: &str, crls: Vec<Vec<u8>>) -> Result<(), PathError> {
    let opts = ValidationOptions {
        crls,
        check_revocation: true,
        ..ValidationOptions::default()
    };
    validate_path(
        &pem_der(pki, leaf),
        &[],
        std::slice::from_ref(&pki.ca_der),
        &opts,
    )
    .map(|_| ())
}

#[test]
fn our_crls_revoke_and_clear() {
    let pki = Pki::new();
    let full = crl(&pki, 1, None, &[(0x1001, Some(ReasonCode::KeyCompromise))]);
    let err = check(&pki, "leaf1.pem", vec![full.clone()]).expect_err("leaf1 is revoked");
    assert!(
        matches!(&err, PathError::Revoked { serial, reason, .. } if serial == "1001" && reason == "keyCompromise"),
        "{err}"
    );
    assert_eq!(check(&pki, "leaf2.pem", vec![full]), Ok(()));
    // No CRL: the status cannot be determined, unless revocation checking is off.
    assert!(matches!(
        check(&pki, "leaf2.pem", vec![]),
        Err(PathError::RevocationUnknown { .. })
    ));
    let opts = ValidationOptions {
        check_revocation: false,
        ..ValidationOptions::default()
    };
    assert!(
        validate_path(
            &pem_der(&pki, "leaf1.pem"),
            &[],
            std::slice::from_ref(&pki.ca_der),
            &opts
        )
        .is_ok()
    );
}

#[test]
fn our_delta_crls_are_applied() {
    let pki = Pki::new();
    let base = crl(
        &pki,
        1,
        None,
        &[(0x1001, Some(ReasonCode::CertificateHold))],
    );
    // The delta revokes leaf2 and releases leaf1 from hold (removeFromCRL, RFC 5280 §5.3.1).
    let delta = crl(
        &pki,
        2,
        Some(1),
        &[
            (0x1002, Some(ReasonCode::KeyCompromise)),
            (0x1001, Some(ReasonCode::RemoveFromCrl)),
        ],
    );
    assert!(matches!(
        check(&pki, "leaf1.pem", vec![base.clone()]),
        Err(PathError::Revoked { .. })
    ));
    assert_eq!(
        check(&pki, "leaf1.pem", vec![base.clone(), delta.clone()]),
        Ok(())
    );
    assert!(matches!(
        check(&pki, "leaf2.pem", vec![base, delta]),
        Err(PathError::Revoked { .. })
    ));
}
