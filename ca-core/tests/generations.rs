//! A retired key generation publishes its CRL until one CRL validity period after the last
//! certificate it signed expires (RFC 5280 §3.3: one scheduled CRL issued after that expiry),
//! and then no more (`Authority::list_generations`), on the injected clock.

use std::sync::Arc;

use ca_core::{Authority, FixedClock, InitOptions, PassphraseSource, RenewOptions};

#[test]
fn a_retired_generation_publishes_until_one_crl_period_after_its_last_expiry() {
    let dir = tempfile::tempdir().expect("tmp");
    let pass = dir.path().join("pass");
    std::fs::write(&pass, "generations test passphrase").expect("passphrase");
    let mut ca = Authority::init(
        &dir.path().join("home"),
        InitOptions::software(PassphraseSource::File(pass)).expect("options"),
    )
    .expect("init");
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
