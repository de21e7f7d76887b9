//! A retired key generation publishes its CRL until one CRL validity period after the last
//! certificate it signed expires (RFC 5280 §3.3: one scheduled CRL issued after that expiry),
//! and then no more (`Authority::list_generations`), on the injected clock.

use std::sync::Arc;

use ca_core::{Authority, FixedClock, InitOptions, PassphraseSource, RenewOptions};

/// A home made by `init` (software keys) in a new temporary directory.
fn fresh_home() -> (tempfile::TempDir, Authority) {
    let dir = tempfile::tempdir().expect("tmp");
    let pass = dir.path().join("pass");
    std::fs::write(&pass, "generations test passphrase").expect("passphrase");
    let ca = Authority::init(
        &dir.path().join("home"),
        InitOptions::software(PassphraseSource::File(pass)).expect("options"),
    )
    .expect("init");
    (dir, ca)
}

#[test]
fn a_retired_generation_publishes_until_one_crl_period_after_its_last_expiry() {
    let (_dir, mut ca) = fresh_home();
    let keep = time::Duration::days(7);
    assert_eq!(
        ca.list_generations("organization", keep).expect("list"),
        [1]
    );
    ca.renew_ca("organization", &RenewOptions::default())
        .expect("renew");
    assert_eq!(
        ca.list_generations("organization", keep).expect("list"),
        [1, 2]
    );
    let last = ca
        .store()
        .generation_last_expiry("organization", 1)
        .expect("read")
        .expect("generation 1 signed something");
    let at = |t: i64, ca: &mut Authority| {
        ca.set_clock(Arc::new(FixedClock::at_unix(t).expect("time")));
    };
    // Through the last expiry and one validity period beyond it, generation 1 publishes.
    for t in [last, last + keep.whole_seconds()] {
        at(t, &mut ca);
        assert_eq!(
            ca.list_generations("organization", keep).expect("list"),
            [1, 2],
            "at {t}"
        );
    }
    // A second later it does not, and signs no more CRLs or ARLs; the key in force always
    // publishes.
    at(last + keep.whole_seconds() + 1, &mut ca);
    assert_eq!(
        ca.list_generations("organization", keep).expect("list"),
        [2]
    );
    let err = ca
        .sign_crl_by_generation("organization", Some(1), false, Some(keep))
        .expect_err("generation 1 is done");
    assert!(err.to_string().contains("signs no more CRLs"), "{err}");
    assert!(
        ca.sign_arl_by_generation("organization", Some(1), Some(keep))
            .is_err()
    );
    // A generation the CA never had is named as such.
    let err = ca
        .sign_crl_by_generation("organization", Some(9), false, None)
        .expect_err("no generation 9");
    assert!(err.to_string().contains("generation"), "{err}");
}

/// `publish` certifies a delegated OCSP responder with each retired generation's own key
/// (RFC 6960 §4.2.2.2), but never one that outlives what that generation signed: issuing it
/// must not keep the generation alive (its CRLs, its OCSP answers, the next responder). Once
/// everything the generation signed has expired, the release has no responder for it.
#[test]
fn a_retired_generation_responder_ends_with_what_that_generation_signed() {
    use der::Decode;
    const CA: &str = "application-mail";
    let (dir, mut ca) = fresh_home();
    // Generation 1 signs one S/MIME certificate for 20 days, then the CA is renewed.
    let pkcs8 = ca_core::generate_pkcs8(ca_core::KeyAlgorithm::EcdsaP256).expect("key");
    let key = ca_core::SoftwareSigner::from_pkcs8(&pkcs8, "subscriber").expect("signer");
    let subject = ca_core::DistinguishedName::parse("CN=Mail,OU=千代田区,O=LGPKI,C=JP")
        .and_then(|dn| dn.to_der())
        .expect("dn");
    ca.issue(ca_core::IssuanceRequest {
        profile: "mail".into(),
        csr_der: ca_core::build_csr(&key, &subject).expect("csr"),
        ca: Some(CA.into()),
        sans: vec!["email:mail@example.lg.jp".into()],
        days: Some(20),
        ..Default::default()
    })
    .expect("issue");
    ca.renew_ca(CA, &RenewOptions::default()).expect("renew");
    let last = ca
        .store()
        .generation_last_expiry(CA, 1)
        .expect("read")
        .expect("generation 1 signed something");
    let now = ca.now().unix_timestamp();
    let out = dir.path().join("pub");
    let not_after = |der: &[u8]| {
        x509_cert::Certificate::from_der(der)
            .expect("certificate")
            .tbs_certificate()
            .validity()
            .not_after
            .to_unix_duration()
            .as_secs() as i64
    };
    let retired = |out: &std::path::Path| {
        ca_core::publish::Publication::load(out)
            .expect("release loads")
            .cas
            .into_iter()
            .find(|c| c.name == CA)
            .expect("CA")
            .retired
    };
    // Ten days before the last expiry: the responder profile's 30 days would outlive it.
    let at = |t: i64, ca: &mut Authority| {
        ca.set_clock(Arc::new(FixedClock::at_unix(t).expect("time")));
    };
    let early = last - 10 * 86_400;
    assert!(early > now, "generation 1 signs for more than 10 days");
    at(early, &mut ca);
    ca.publish(&out).expect("publish");
    let r = retired(&out);
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0].generation, 1);
    assert_eq!(
        not_after(&r[0].responder_cert_der),
        last,
        "capped at the last expiry"
    );
    assert_eq!(
        ca.store().generation_last_expiry(CA, 1).expect("read"),
        Some(last),
        "the responder certificate does not extend generation 1"
    );
    // A second past the last expiry, generation 1 answers for nothing any more.
    at(last + 1, &mut ca);
    ca.publish(&out).expect("publish");
    assert!(retired(&out).is_empty());
}
