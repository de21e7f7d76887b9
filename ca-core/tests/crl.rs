//! CRL encoder tests against OpenSSL and pkilint, parser tests on the shared conformance
//! vectors, and the 1,000,000-entry streaming test (ignored by default).

mod common;

use std::path::Path;

use ca_core::crl::{
    CrlEntry, CrlNumber, CrlParams, IssuingDistributionPoint, ParsedCrl, ReasonCode, crl_to_pem,
    encode_crl, issuer_fields_from_certificate,
};
use ca_core::{CaSigner, KeyAlgorithm, parse_spki};
use common::{CONFORMANCE, Pki, openssl, openssl_ok, pkilint_clean};
use time::macros::datetime;

fn params(pki: &Pki, number: u64) -> CrlParams {
    let (issuer_name_der, issuer_key_id) =
        issuer_fields_from_certificate(&pki.ca_der).expect("issuer fields");
    CrlParams {
        issuer_name_der,
        issuer_key_id,
        crl_number: CrlNumber::from(number),
        this_update: time::OffsetDateTime::now_utc() - time::Duration::hours(1),
        next_update: time::OffsetDateTime::now_utc() + time::Duration::days(7),
        issuing_distribution_point: None,
        delta_base: None,
        freshest_crl_uris: Vec::new(),
    }
}

fn entry(serial: u64, reason: Option<ReasonCode>) -> CrlEntry {
    CrlEntry {
        serial: serial.to_be_bytes().to_vec(),
        revocation_date: datetime!(2026-01-02 03:04:05 UTC),
        reason,
        invalidity_date: None,
    }
}

fn write_pem(dir: &Path, name: &str, der_bytes: &[u8]) {
    std::fs::write(dir.join(name), crl_to_pem(der_bytes).expect("pem")).expect("write");
}

fn ca_spki(pki: &Pki) -> spki::SubjectPublicKeyInfoOwned {
    parse_spki(pki.ca_signer.public_key_der()).expect("spki")
}

#[test]
fn base_crl_verifies_in_openssl_shows_every_field_and_lints_clean() {
    let pki = Pki::new();
    let d = pki.path();
    let mut p = params(&pki, 42);
    p.issuing_distribution_point = Some(IssuingDistributionPoint {
        full_name_uris: vec!["http://repo.lgpki.example/crl/test.crl".into()],
        only_contains_user_certs: true,
        only_contains_ca_certs: false,
    });
    p.freshest_crl_uris = vec!["http://repo.lgpki.example/crl/test-delta.crl".into()];
    let reasons = [
        None,
        Some(ReasonCode::Unspecified),
        Some(ReasonCode::KeyCompromise),
        Some(ReasonCode::CaCompromise),
        Some(ReasonCode::AffiliationChanged),
        Some(ReasonCode::Superseded),
        Some(ReasonCode::CessationOfOperation),
        Some(ReasonCode::CertificateHold),
        Some(ReasonCode::PrivilegeWithdrawn),
        Some(ReasonCode::AaCompromise),
    ];
    let mut entries: Vec<CrlEntry> = reasons
        .iter()
        .enumerate()
        .map(|(i, r)| entry(0x5000 + i as u64, *r))
        .collect();
    entries[2].invalidity_date = Some(datetime!(2025-12-31 00:00:00 UTC));
    // A 20-octet serial with the high bit clear, the largest RFC 5280 allows.
    entries.push(CrlEntry {
        serial: vec![0x7f; 20],
        ..entry(1, Some(ReasonCode::Superseded))
    });
    let der_bytes = encode_crl(p, entries.clone(), &pki.ca_signer).expect("encode");
    write_pem(d, "base.crl", &der_bytes);

    let verify = openssl_ok(
        d,
        &["crl", "-in", "base.crl", "-CAfile", "ca.pem", "-noout"],
    );
    assert!(verify.contains("verify OK"), "{verify}");
    let text = openssl_ok(d, &["crl", "-in", "base.crl", "-text", "-noout"]);
    println!("{text}");
    for want in [
        "Version 2 (0x1)",
        "X509v3 CRL Number",
        "42",
        "X509v3 Authority Key Identifier",
        "X509v3 Issuing Distribution Point",
        "http://repo.lgpki.example/crl/test.crl",
        "Only User Certificates",
        "X509v3 Freshest CRL",
        "Key Compromise",
        "CA Compromise",
        "Affiliation Changed",
        "Superseded",
        "Cessation Of Operation",
        "Certificate Hold",
        "Privilege Withdrawn",
        "AA Compromise",
        "Invalidity Date",
        "Dec 31 00:00:00 2025 GMT",
        "7F7F7F7F7F7F7F7F7F7F7F7F7F7F7F7F7F7F7F7F",
    ] {
        assert!(text.contains(want), "openssl crl -text lacks {want:?}");
    }
    // `unspecified` is written as no reasonCode (RFC 5280 §5.3.1).
    assert!(!text.contains("Unspecified"), "unspecified must be omitted");
    let aki_hex = {
        let (_, ski) = issuer_fields_from_certificate(&pki.ca_der).expect("fields");
        hex::encode_upper(ski)
    };
    let text_nocolons = text.replace(':', "");
    assert!(text_nocolons.contains(&aki_hex), "AKI is the CA's SKI");

    pkilint_clean(
        "lint_crl",
        &["-t", "CRL", "-p", "PKIX"],
        &d.join("base.crl"),
    );

    // Our parser reads back what we wrote.
    let parsed = ParsedCrl::parse(&der_bytes).expect("parse");
    parsed.verify_signature(&ca_spki(&pki)).expect("signature");
    assert_eq!(parsed.crl_number, Some(CrlNumber::from(42)));
    assert_eq!(parsed.entries.len(), entries.len());
    for (e, pe) in entries.iter().zip(&parsed.entries) {
        let want = e.reason.filter(|r| *r != ReasonCode::Unspecified);
        assert_eq!(pe.reason, want);
        assert_eq!(pe.invalidity_date, e.invalidity_date);
    }
    let idp = parsed.issuing_distribution_point.as_ref().expect("idp");
    assert!(idp.only_contains_user_certs && !idp.only_contains_ca_certs);
    assert_eq!(
        parsed.freshest_crl_uris,
        vec!["http://repo.lgpki.example/crl/test-delta.crl".to_string()]
    );
    assert!(parsed.usable_for_status() && !parsed.is_delta());
    assert!(parsed.find(&0x5002u64.to_be_bytes()).is_some());
}

#[test]
fn delta_crl_arl_and_empty_crl_lint_clean() {
    let pki = Pki::new();
    let d = pki.path();

    let mut delta = params(&pki, 43);
    delta.delta_base = Some(CrlNumber::from(42));
    let entries = vec![
        entry(0x6001, Some(ReasonCode::KeyCompromise)),
        entry(0x5007, Some(ReasonCode::RemoveFromCrl)),
    ];
    let der_bytes = encode_crl(delta, entries, &pki.ca_signer).expect("delta");
    write_pem(d, "delta.crl", &der_bytes);
    assert!(
        openssl_ok(
            d,
            &["crl", "-in", "delta.crl", "-CAfile", "ca.pem", "-noout"]
        )
        .contains("verify OK")
    );
    let text = openssl_ok(d, &["crl", "-in", "delta.crl", "-text", "-noout"]);
    assert!(
        text.contains("X509v3 Delta CRL Indicator: critical"),
        "{text}"
    );
    assert!(text.contains("Remove From CRL"), "{text}");
    pkilint_clean(
        "lint_crl",
        &["-t", "CRL", "-p", "PKIX"],
        &d.join("delta.crl"),
    );
    let parsed = ParsedCrl::parse(&der_bytes).expect("parse delta");
    assert_eq!(parsed.delta_base, Some(CrlNumber::from(42)));
    assert!(parsed.is_delta());

    // An ARL: onlyContainsCACerts, no entries (revokedCertificates absent, §5.1.2.6).
    let mut arl = params(&pki, 7);
    arl.issuing_distribution_point = Some(IssuingDistributionPoint {
        full_name_uris: vec!["http://repo.lgpki.example/crl/arl.crl".into()],
        only_contains_user_certs: false,
        only_contains_ca_certs: true,
    });
    let der_bytes = encode_crl(arl, Vec::new(), &pki.ca_signer).expect("arl");
    write_pem(d, "arl.crl", &der_bytes);
    assert!(
        openssl_ok(d, &["crl", "-in", "arl.crl", "-CAfile", "ca.pem", "-noout"])
            .contains("verify OK")
    );
    let text = openssl_ok(d, &["crl", "-in", "arl.crl", "-text", "-noout"]);
    assert!(
        text.contains("Only CA Certificates") && text.contains("No Revoked Certificates"),
        "{text}"
    );
    pkilint_clean("lint_crl", &["-t", "ARL", "-p", "PKIX"], &d.join("arl.crl"));
    assert!(
        ParsedCrl::parse(&der_bytes)
            .expect("arl")
            .entries
            .is_empty()
    );

    // A big CRL number (20 octets) and a nextUpdate after 2049 (GeneralizedTime, §5.1.2.5).
    let mut big = params(&pki, 1);
    big.crl_number = CrlNumber::from_be_bytes(&[0x12; 20]).expect("20 octets");
    big.next_update = datetime!(2050-06-01 00:00:00 UTC);
    let der_bytes = encode_crl(big, vec![entry(9, None)], &pki.ca_signer).expect("big");
    write_pem(d, "big.crl", &der_bytes);
    assert!(
        openssl_ok(d, &["crl", "-in", "big.crl", "-CAfile", "ca.pem", "-noout"])
            .contains("verify OK")
    );
    let text = openssl_ok(d, &["crl", "-in", "big.crl", "-text", "-noout"]);
    assert!(text.contains("Jun  1 00:00:00 2050 GMT"), "{text}");
    // GeneralizedTime tag 0x18 with 15 characters.
    assert!(
        der_bytes
            .windows(17)
            .any(|w| w == b"\x18\x0f20500601000000Z")
    );
    pkilint_clean("lint_crl", &["-t", "CRL", "-p", "PKIX"], &d.join("big.crl"));
    let parsed = ParsedCrl::parse(&der_bytes).expect("big");
    assert_eq!(
        parsed.crl_number.as_ref().map(|n| n.as_be_bytes().to_vec()),
        Some(vec![0x12; 20])
    );
}

#[test]
fn openssl_verify_crl_check_rejects_the_revoked_certificate() {
    let pki = Pki::new();
    let d = pki.path();
    let p = params(&pki, 1);
    let der_bytes = encode_crl(
        p,
        vec![entry(0x1001, Some(ReasonCode::KeyCompromise))],
        &pki.ca_signer,
    )
    .expect("crl");
    write_pem(d, "ca.crl", &der_bytes);
    let (ok, text) = openssl(
        d,
        &[
            "verify",
            "-crl_check",
            "-CAfile",
            "ca.pem",
            "-CRLfile",
            "ca.crl",
            "leaf1.pem",
        ],
    );
    assert!(
        !ok && text.contains("certificate revoked"),
        "leaf1 must be rejected:\n{text}"
    );
    let (ok, text) = openssl(
        d,
        &[
            "verify",
            "-crl_check",
            "-CAfile",
            "ca.pem",
            "-CRLfile",
            "ca.crl",
            "leaf2.pem",
        ],
    );
    assert!(ok && text.contains("OK"), "leaf2 must verify:\n{text}");
}

#[test]
fn rsa_and_p384_cas_sign_crls_openssl_accepts() {
    for alg in [KeyAlgorithm::Rsa2048, KeyAlgorithm::EcdsaP384] {
        let pki = Pki::with_ca_key(alg);
        let d = pki.path();
        let der_bytes = encode_crl(
            params(&pki, 5),
            vec![entry(0x1001, Some(ReasonCode::Superseded))],
            &pki.ca_signer,
        )
        .expect("crl");
        write_pem(d, "ca.crl", &der_bytes);
        let text = openssl_ok(d, &["crl", "-in", "ca.crl", "-CAfile", "ca.pem", "-noout"]);
        assert!(text.contains("verify OK"), "{alg}: {text}");
        pkilint_clean("lint_crl", &["-t", "CRL", "-p", "PKIX"], &d.join("ca.crl"));
        let parsed = ParsedCrl::parse(&der_bytes).expect("parse");
        parsed.verify_signature(&ca_spki(&pki)).expect("signature");
        let (ok, text) = openssl(
            d,
            &[
                "verify",
                "-crl_check",
                "-CAfile",
                "ca.pem",
                "-CRLfile",
                "ca.crl",
                "leaf1.pem",
            ],
        );
        assert!(!ok && text.contains("certificate revoked"), "{alg}: {text}");
    }
}

#[test]
fn encoder_refuses_what_rfc_5280_forbids() {
    let pki = Pki::new();
    let s = &pki.ca_signer;
    let bad = |e: Vec<CrlEntry>| encode_crl(params(&pki, 2), e, s).expect_err("refused");
    // removeFromCRL only in delta CRLs (§5.3.1).
    bad(vec![entry(5, Some(ReasonCode::RemoveFromCrl))]);
    // Serial zero and serials over 20 octets (§4.1.2.2).
    bad(vec![entry(0, None)]);
    bad(vec![CrlEntry {
        serial: vec![0x80; 20],
        ..entry(1, None)
    }]);
    // nextUpdate not after thisUpdate.
    let mut p = params(&pki, 2);
    p.next_update = p.this_update;
    encode_crl(p, Vec::new(), s).expect_err("nextUpdate");
    // Delta base not below the CRL number; Freshest CRL in a delta (§5.2.4, §5.2.6).
    let mut p = params(&pki, 2);
    p.delta_base = Some(CrlNumber::from(2));
    encode_crl(p, Vec::new(), s).expect_err("base");
    let mut p = params(&pki, 3);
    p.delta_base = Some(CrlNumber::from(2));
    p.freshest_crl_uris = vec!["http://x.example/d.crl".into()];
    encode_crl(p, Vec::new(), s).expect_err("freshest in delta");
    // Both only* flags (§5.2.5).
    let mut p = params(&pki, 2);
    p.issuing_distribution_point = Some(IssuingDistributionPoint {
        full_name_uris: vec![],
        only_contains_user_certs: true,
        only_contains_ca_certs: true,
    });
    encode_crl(p, Vec::new(), s).expect_err("idp flags");
    // Over-long CRL numbers.
    CrlNumber::from_be_bytes(&[0x80; 20]).expect_err("21 octets as INTEGER");
}

#[test]
fn reason_codes_round_trip_by_name() {
    for r in ReasonCode::ALL {
        assert_eq!(r.name().parse::<ReasonCode>().expect("parse"), r);
        assert_eq!(ReasonCode::from_code(r.code()), Some(r));
    }
    assert_eq!(
        "cACompromise".parse::<ReasonCode>().expect("name"),
        ReasonCode::CaCompromise
    );
    assert!("7".parse::<ReasonCode>().is_err());
    assert!(ReasonCode::from_code(7).is_none());
}

/// The README of the conformance folder, as a table: file → parse expected to succeed.
const CRL_EXPECT: &[(&str, bool)] = &[
    ("crl_empty.pem", true),
    ("crl_empty_no_sequence.der", true),
    ("crl_no_next_update.pem", true),
    ("crl_all_reasons.pem", true),
    ("crl_unsupported_reason.pem", false),
    ("crl_dup_entry_ext.pem", false),
    ("crl_inval_cert_issuer_entry_ext.pem", false),
    ("crl_md2_unknown_crit_entry_ext.pem", true),
    ("crl_unrecognized_extension.der", true),
    ("crl_ian_aia_aki.pem", true),
    ("crl_delta_crl_indicator.pem", true),
    ("crl_idp_fullname_only.pem", true),
    ("crl_idp_relativename_only.pem", true),
    ("crl_idp_only_ca.pem", true),
    ("crl_idp_fullname_only_user.pem", true),
    ("crl_idp_fullname_only_aa.pem", true),
    ("crl_idp_fullname_indirect_crl.pem", true),
    ("crl_idp_reasons_only.pem", true),
    ("crl_idp_relative_user_all_reasons.pem", true),
    ("crl_invalid_time.der", false),
    ("crl_bad_version.pem", false),
    ("crl_inner_outer_mismatch.der", false),
    // Strict: a PrintableString with characters outside its alphabet is refused.
    ("crl_issuer_invalid_printable_string.der", false),
    ("crl_almost_10k.pem", true),
    ("valid_signature_crl.pem", true),
    ("invalid_signature_crl.pem", true),
];

fn read_cert_spki(path: &Path) -> spki::SubjectPublicKeyInfoOwned {
    use der::{Decode, Encode};
    let pem = std::fs::read(path).expect("cert");
    let der_bytes = der::pem::decode_vec(&pem).expect("pem").1;
    let cert = x509_cert::Certificate::from_der(&der_bytes).expect("cert");
    let spki_der = cert
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .expect("spki");
    parse_spki(&spki_der).expect("spki")
}

#[test]
fn conformance_crls_parse_as_the_readme_table_says() {
    let dir = Path::new(CONFORMANCE).join("crl");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("conformance folder {} missing: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    files.sort();
    assert_eq!(
        files.len(),
        CRL_EXPECT.len(),
        "every CRL in the folder has a row: {files:?}"
    );
    let (mut ok, mut rejected) = (0, 0);
    for (name, expect_ok) in CRL_EXPECT {
        let bytes = std::fs::read(dir.join(name)).expect("read");
        let got = ParsedCrl::parse_pem_or_der(&bytes);
        println!(
            "{name}: {}",
            match &got {
                Ok(c) => format!("OK, {} entries", c.entries.len()),
                Err(e) => format!("rejected: {e}"),
            }
        );
        assert_eq!(got.is_ok(), *expect_ok, "{name}: {:?}", got.as_ref().err());
        if got.is_ok() { ok += 1 } else { rejected += 1 }
    }
    println!("CRL vectors: {ok} parsed, {rejected} rejected");
    let load =
        |n: &str| ParsedCrl::parse_pem_or_der(&std::fs::read(dir.join(n)).expect("read")).expect(n);

    assert!(load("crl_empty_no_sequence.der").entries.is_empty());
    assert!(load("crl_no_next_update.pem").next_update.is_none());
    assert!(!load("crl_no_next_update.pem").usable_for_status());
    let all = load("crl_all_reasons.pem");
    assert_eq!(all.entries.len(), 12);
    let reasons: Vec<ReasonCode> = all.entries.iter().filter_map(|e| e.reason).collect();
    for r in ReasonCode::ALL {
        assert!(reasons.contains(&r), "crl_all_reasons carries {r}");
    }
    assert!(all.unknown_critical_extensions.is_empty());
    let md2 = load("crl_md2_unknown_crit_entry_ext.pem");
    assert!(
        !md2.usable_for_status(),
        "an unknown critical entry extension makes the CRL unusable"
    );
    let delta = load("crl_delta_crl_indicator.pem");
    assert_eq!(
        delta.delta_base.as_ref().and_then(CrlNumber::to_u128),
        Some(12345678901234567890)
    );
    assert!(
        load("crl_idp_only_ca.pem")
            .issuing_distribution_point
            .expect("idp")
            .only_contains_ca_certs
    );
    assert!(
        load("crl_idp_fullname_only_aa.pem")
            .issuing_distribution_point
            .expect("idp")
            .only_contains_attribute_certs
    );
    assert!(
        load("crl_idp_fullname_indirect_crl.pem")
            .issuing_distribution_point
            .expect("idp")
            .indirect_crl
    );
    assert!(
        load("crl_idp_reasons_only.pem")
            .issuing_distribution_point
            .expect("idp")
            .only_some_reasons
    );
    assert!(
        load("crl_idp_relativename_only.pem")
            .issuing_distribution_point
            .expect("idp")
            .relative_name
    );
    assert_eq!(load("crl_almost_10k.pem").entries.len(), 9999);

    let certs = Path::new(CONFORMANCE).join("certs");
    load("valid_signature_crl.pem")
        .verify_signature(&read_cert_spki(&certs.join("valid_signature_cert.pem")))
        .expect("valid signature verifies");
    assert!(
        load("invalid_signature_crl.pem")
            .verify_signature(&read_cert_spki(&certs.join("invalid_signature_cert.pem")))
            .is_err(),
        "invalid signature must fail"
    );
}

#[test]
fn crl_parser_survives_truncation_and_bit_flips() {
    let dir = Path::new(CONFORMANCE).join("crl");
    let bytes = std::fs::read(dir.join("crl_all_reasons.pem")).expect("read");
    let der_bytes = der::pem::decode_vec(&bytes).expect("pem").1;
    let mut parsed = 0;
    for cut in 0..der_bytes.len() {
        parsed += usize::from(ParsedCrl::parse(&der_bytes[..cut]).is_ok());
    }
    assert_eq!(parsed, 0, "no strict prefix of a CRL is a CRL");
    for i in 0..der_bytes.len() * 8 {
        let mut m = der_bytes.clone();
        m[i / 8] ^= 1 << (i % 8);
        let _ = ParsedCrl::parse(&m);
    }
}

/// Peak resident set size of this process, from /proc (Linux).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
#[ignore = "1,000,000 entries: run in release with --ignored"]
fn million_entry_crl_streams() {
    let pki = Pki::new();
    let before = peak_rss_kib();
    let start = std::time::Instant::now();
    let n: u64 = 1_000_000;
    let entries = (0..n).map(|i| CrlEntry {
        // 16-octet random-looking serials, like the issuance serials.
        serial: {
            let mut s = [0u8; 16];
            s[0] = 0x40 | (i as u8 & 0x3f);
            s[8..].copy_from_slice(&(i.wrapping_mul(0x9e37_79b9_7f4a_7c15)).to_be_bytes());
            s.to_vec()
        },
        revocation_date: datetime!(2026-01-02 03:04:05 UTC),
        reason: if i % 3 == 0 {
            Some(ReasonCode::KeyCompromise)
        } else {
            None
        },
        invalidity_date: None,
    });
    let der_bytes = encode_crl(params(&pki, 1000), entries, &pki.ca_signer).expect("encode");
    let elapsed = start.elapsed();
    let after = peak_rss_kib();
    println!(
        "1M-entry CRL: {} bytes ({:.1} MiB) in {:.2?}; peak RSS before {:?} KiB, after {:?} KiB",
        der_bytes.len(),
        der_bytes.len() as f64 / 1048576.0,
        elapsed,
        before,
        after
    );
    std::fs::write(pki.path().join("big.crl"), &der_bytes).expect("write");
    let start = std::time::Instant::now();
    let text = openssl_ok(
        pki.path(),
        &[
            "crl", "-inform", "DER", "-in", "big.crl", "-CAfile", "ca.pem", "-noout",
        ],
    );
    assert!(text.contains("verify OK"), "{text}");
    println!("openssl crl -verify on it: {:.2?}", start.elapsed());
    let start = std::time::Instant::now();
    let parsed = ParsedCrl::parse(&der_bytes).expect("parse");
    assert_eq!(parsed.entries.len() as u64, n);
    println!("ParsedCrl::parse on it: {:.2?}", start.elapsed());
}
