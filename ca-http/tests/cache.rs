//! [`CachingOcsp`] against a real CA key (made with the `openssl` CLI): cache hits return the
//! identical signed bytes, an epoch change or age invalidates, nonces and multi-CertID
//! requests bypass the cache, errors are never cached, the entry bound holds.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use ca_core::FixedClock;
use ca_core::ocsp::{
    CaHashes, CertId, CertStatus, HashAlgorithm, Lookup, ResponseStatus, build_request,
    parse_response, status_response,
};
use ca_core::{Error, Result, parse_spki};
use ca_http::{CacheConfig, CachingOcsp, Metrics, OcspIssuer, OcspSource, StatusLookup};
use common::make_ca;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const NOW: OffsetDateTime = datetime!(2026-11-23 06:00:00 UTC);

/// An in-memory status database with a settable epoch and call counters.
struct Db {
    issuer: Arc<OcspIssuer>,
    statuses: Mutex<HashMap<Vec<u8>, Lookup>>,
    epoch: AtomicU64,
    status_calls: AtomicUsize,
    fail: std::sync::atomic::AtomicBool,
}

impl StatusLookup for Db {
    fn epoch(&self) -> Result<u64> {
        Ok(self.epoch.load(Ordering::SeqCst))
    }
    fn issuer(&self, id: &CertId) -> Option<Arc<OcspIssuer>> {
        self.issuer.matches(id).then(|| self.issuer.clone())
    }
    fn status(&self, _: &OcspIssuer, serial: &[u8]) -> Result<Lookup> {
        self.status_calls.fetch_add(1, Ordering::SeqCst);
        if self.fail.load(Ordering::SeqCst) {
            return Err(Error::malformed("test store", "unavailable"));
        }
        Ok(self
            .statuses
            .lock()
            .expect("lock")
            .get(serial)
            .cloned()
            .unwrap_or(Lookup::Unknown))
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    db: Arc<Db>,
    ocsp: CachingOcsp<Arc<Db>>,
    metrics: Arc<Metrics>,
    hashes: CaHashes,
    spki: Vec<u8>,
}

fn fixture(config: CacheConfig) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, signer) = make_ca(dir.path(), "Cache Test CA");
    let spki = signer.public_key_der().to_vec();
    let issuer = OcspIssuer::new("test", &cert, signer, None, Duration::hours(1)).expect("issuer");
    let hashes = issuer.hashes().clone();
    let db = Arc::new(Db {
        issuer: Arc::new(issuer),
        statuses: Mutex::new(HashMap::from([
            (vec![0x10, 0x01], Lookup::Good),
            (vec![0x10, 0x02], Lookup::Good),
        ])),
        epoch: AtomicU64::new(1),
        status_calls: AtomicUsize::new(0),
        fail: Default::default(),
    });
    let metrics = Arc::new(Metrics::new());
    let ocsp = CachingOcsp::new(db.clone(), config, metrics.clone());
    Fixture {
        _dir: dir,
        db,
        ocsp,
        metrics,
        hashes,
        spki,
    }
}

impl Fixture {
    fn id(&self, hash: HashAlgorithm, serial: &[u8]) -> CertId {
        CertId::new(hash, &self.hashes, serial).expect("cert id")
    }

    fn request(&self, serial: &[u8], nonce: Option<&[u8]>) -> Vec<u8> {
        build_request(&[self.id(HashAlgorithm::Sha1, serial)], nonce).expect("request")
    }

    fn calls(&self) -> usize {
        self.db.status_calls.load(Ordering::SeqCst)
    }

    /// The single status in a successful response, checking its signature.
    fn status_of(&self, der: &[u8]) -> (CertStatus, OffsetDateTime) {
        let resp = parse_response(der).expect("parse");
        let basic = resp.basic.expect("successful");
        basic
            .verify_signature(&parse_spki(&self.spki).expect("spki"))
            .expect("signature");
        assert_eq!(basic.responses.len(), 1);
        (basic.responses[0].status.clone(), basic.produced_at)
    }
}

#[test]
fn a_cache_hit_returns_the_identical_signed_bytes() {
    let f = fixture(CacheConfig::default());
    let req = f.request(&[0x10, 0x01], None);
    let first = f.ocsp.answer_at(&req, NOW);
    assert!(first.successful && first.cacheable);
    assert_eq!(first.this_update, Some(NOW));
    assert_eq!(first.next_update, Some(NOW + Duration::hours(1)));
    assert_eq!(f.status_of(&first.der), (CertStatus::Good, NOW));
    let later = f.ocsp.answer_at(&req, NOW + Duration::seconds(30));
    assert_eq!(later, first, "the pre-produced response, byte for byte");
    assert_eq!(f.calls(), 1);
    assert_eq!((f.metrics.cache_hits(), f.metrics.cache_misses()), (1, 1));
    assert_eq!(f.ocsp.len(), 1);
    // SHA-256 CertIDs are a separate entry (the key is the CertID DER, algorithm included).
    let req256 =
        build_request(&[f.id(HashAlgorithm::Sha256, &[0x10, 0x01])], None).expect("request");
    let a256 = f.ocsp.answer_at(&req256, NOW);
    assert_ne!(a256.der, first.der);
    assert_eq!(f.ocsp.len(), 2);
}

#[test]
fn an_epoch_change_invalidates_the_whole_cache() {
    let f = fixture(CacheConfig::default());
    let r1 = f.request(&[0x10, 0x01], None);
    let r2 = f.request(&[0x10, 0x02], None);
    f.ocsp.answer_at(&r1, NOW);
    f.ocsp.answer_at(&r2, NOW);
    assert_eq!(f.ocsp.len(), 2);
    // A revocation commits: the store changes the status and the epoch.
    let revoked_at = datetime!(2026-11-23 05:59:00 UTC);
    f.db.statuses.lock().expect("lock").insert(
        vec![0x10, 0x01],
        Lookup::Revoked {
            time: revoked_at,
            reason: Some(ca_core::crl::ReasonCode::KeyCompromise),
        },
    );
    f.db.epoch.fetch_add(1, Ordering::SeqCst);
    let after = f.ocsp.answer_at(&r1, NOW + Duration::seconds(1));
    assert_eq!(
        f.status_of(&after.der),
        (
            CertStatus::Revoked {
                time: revoked_at,
                reason: Some(ca_core::crl::ReasonCode::KeyCompromise)
            },
            NOW + Duration::seconds(1)
        )
    );
    // The other entry went too.
    assert_eq!(f.ocsp.len(), 1);
    f.ocsp.answer_at(&r2, NOW + Duration::seconds(1));
    assert_eq!(f.calls(), 4);
}

#[test]
fn entries_expire_after_max_age_and_half_the_validity() {
    let f = fixture(CacheConfig {
        max_age: Duration::minutes(5),
        max_entries: 10,
    });
    let req = f.request(&[0x10, 0x01], None);
    let first = f.ocsp.answer_at(&req, NOW);
    let hit = f.ocsp.answer_at(&req, NOW + Duration::seconds(299));
    assert_eq!(hit.der, first.der);
    let fresh = f.ocsp.answer_at(&req, NOW + Duration::seconds(300));
    assert_ne!(fresh.der, first.der);
    assert_eq!(fresh.this_update, Some(NOW + Duration::seconds(300)));
    assert_eq!(f.calls(), 2);

    // With a longer max age, half the validity (30 minutes of 1 hour) caps it.
    let f = fixture(CacheConfig {
        max_age: Duration::hours(10),
        max_entries: 10,
    });
    let first = f.ocsp.answer_at(&req_for(&f), NOW);
    let hit = f.ocsp.answer_at(&req_for(&f), NOW + Duration::minutes(29));
    assert_eq!(hit.der, first.der);
    let fresh = f.ocsp.answer_at(&req_for(&f), NOW + Duration::minutes(30));
    assert_ne!(fresh.der, first.der);
}

fn req_for(f: &Fixture) -> Vec<u8> {
    f.request(&[0x10, 0x01], None)
}

#[test]
fn nonce_requests_bypass_the_cache() {
    let f = fixture(CacheConfig::default());
    for nonce in [b"nonce one".as_slice(), b"nonce two"] {
        let a = f
            .ocsp
            .answer_at(&f.request(&[0x10, 0x01], Some(nonce)), NOW);
        assert!(a.successful && !a.cacheable);
        let basic = parse_response(&a.der).expect("parse").basic.expect("basic");
        assert_eq!(
            basic.nonce.as_deref(),
            Some(nonce),
            "nonce echoed (RFC 8954)"
        );
    }
    assert_eq!(f.calls(), 2);
    assert!(f.ocsp.is_empty());
    // A nonce-less request afterwards is cached as usual.
    f.ocsp.answer_at(&f.request(&[0x10, 0x01], None), NOW);
    assert_eq!(f.ocsp.len(), 1);
    assert!(
        f.metrics
            .render()
            .contains("lgpki_ocsp_cache_bypass_total 2\n")
    );
}

#[test]
fn several_cert_ids_are_signed_each_time_in_order() {
    let f = fixture(CacheConfig::default());
    let ids = [
        f.id(HashAlgorithm::Sha1, &[0x10, 0x02]),
        f.id(HashAlgorithm::Sha256, &[0x99]),
    ];
    let req = build_request(&ids, None).expect("request");
    let a = f.ocsp.answer_at(&req, NOW);
    let basic = parse_response(&a.der).expect("parse").basic.expect("basic");
    assert_eq!(basic.responses.len(), 2);
    assert_eq!(basic.responses[0].status, CertStatus::Good);
    assert_eq!(basic.responses[1].status, CertStatus::Unknown);
    f.ocsp.answer_at(&req, NOW);
    assert_eq!(f.calls(), 4);
    assert!(f.ocsp.is_empty());
}

#[test]
fn malformed_unauthorized_and_errors_are_not_cached() {
    let f = fixture(CacheConfig::default());
    for bad in [&b""[..], b"\x30\x00", b"garbage", &[0x30, 0x82, 0xff, 0xff]] {
        let a = f.ocsp.answer_at(bad, NOW);
        assert_eq!(a.der, status_response(ResponseStatus::MalformedRequest));
        assert!(!a.successful && !a.cacheable);
    }
    // Another CA's CertID: unauthorized (RFC 5019 §2.2.3).
    let dir = tempfile::tempdir().expect("tempdir");
    let (other, _) = make_ca(dir.path(), "Other CA");
    let other = CaHashes::from_certificate(&other).expect("hashes");
    let req = build_request(
        &[CertId::new(HashAlgorithm::Sha1, &other, &[1]).expect("id")],
        None,
    )
    .expect("request");
    assert_eq!(
        f.ocsp.answer_at(&req, NOW).der,
        status_response(ResponseStatus::Unauthorized)
    );
    // A failing store: tryLater (RFC 6960 §2.3), and the next request tries again.
    f.db.fail.store(true, Ordering::SeqCst);
    let req = f.request(&[0x10, 0x01], None);
    assert_eq!(
        f.ocsp.answer_at(&req, NOW).der,
        status_response(ResponseStatus::TryLater)
    );
    assert!(f.ocsp.is_empty());
    f.db.fail.store(false, Ordering::SeqCst);
    assert!(f.ocsp.answer_at(&req, NOW).successful);
    assert_eq!(f.ocsp.len(), 1);
}

#[test]
fn the_entry_bound_holds() {
    let f = fixture(CacheConfig {
        max_age: Duration::minutes(5),
        max_entries: 3,
    });
    for serial in 1u8..=5 {
        f.ocsp.answer_at(&f.request(&[serial], None), NOW);
    }
    assert_eq!(f.ocsp.len(), 3);
    // Once the old entries expire they are swept and new ones fit.
    let later = NOW + Duration::minutes(6);
    f.ocsp.answer_at(&f.request(&[9], None), later);
    assert_eq!(f.ocsp.len(), 1);
}

#[test]
fn a_key_that_is_not_the_ca_key_needs_a_responder_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, _) = make_ca(dir.path(), "CA one");
    let (_, other_signer) = make_ca(dir.path(), "CA two");
    let err = OcspIssuer::new("one", &cert, other_signer, None, Duration::hours(1))
        .expect_err("mismatched key");
    assert!(err.to_string().contains("not the CA's key"), "{err}");
}

#[test]
fn the_non_blocking_path_only_answers_fresh_pre_produced_responses() {
    let f = fixture(CacheConfig::default());
    let req = f.request(&[0x10, 0x01], None);
    // Nothing produced yet: the router must go to the signing path.
    assert_eq!(f.ocsp.cached_at(&req, NOW), None);
    assert_eq!(f.calls(), 0, "cached_at never looks up a status or signs");
    let first = f.ocsp.answer_at(&req, NOW);
    assert_eq!(
        f.ocsp.cached_at(&req, NOW + Duration::seconds(1)),
        Some(first.clone())
    );
    assert_eq!(f.calls(), 1);
    // Nonces, malformed requests and stale entries are not answered from memory.
    assert_eq!(
        f.ocsp.cached_at(&f.request(&[0x10, 0x01], Some(b"n")), NOW),
        None
    );
    assert_eq!(f.ocsp.cached_at(b"\x30\x03\x02\x01", NOW), None);
    assert_eq!(f.ocsp.cached_at(&req, NOW + Duration::minutes(5)), None);
    // A revocation (epoch change) takes the entry away from the fast path at once.
    f.ocsp.answer_at(&req, NOW + Duration::seconds(2));
    assert!(f.ocsp.cached_at(&req, NOW + Duration::seconds(3)).is_some());
    f.db.epoch.fetch_add(1, Ordering::SeqCst);
    assert_eq!(f.ocsp.cached_at(&req, NOW + Duration::seconds(3)), None);
    assert!(f.ocsp.is_empty());
}

/// [`OcspIssuer::with_not_after`]: nextUpdate is capped at the data's own end of validity, and
/// from then on the answer is tryLater (RFC 6960 §2.3), never a response claiming fresh data.
#[test]
fn next_update_never_goes_beyond_the_data_validity() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, signer) = make_ca(dir.path(), "Capped CA");
    let spki = parse_spki(signer.public_key_der()).expect("spki");
    let not_after = NOW + Duration::minutes(10);
    let issuer = OcspIssuer::new("capped", &cert, signer, None, Duration::hours(1))
        .expect("issuer")
        .with_not_after(not_after);
    let hashes = issuer.hashes().clone();
    let db = Arc::new(Db {
        issuer: Arc::new(issuer),
        statuses: Mutex::new(HashMap::from([(vec![0x10, 0x01], Lookup::Good)])),
        epoch: AtomicU64::new(1),
        status_calls: AtomicUsize::new(0),
        fail: Default::default(),
    });
    let ocsp = CachingOcsp::new(db, CacheConfig::default(), Arc::new(Metrics::new()));
    let id = CertId::new(HashAlgorithm::Sha1, &hashes, &[0x10, 0x01]).expect("id");
    let req = build_request(&[id], Some(b"nonce-1")).expect("request");

    // An hour's validity, but the data ends in ten minutes: nextUpdate is the data's end.
    let a = ocsp.answer_at(&req, NOW);
    assert!(a.successful);
    assert_eq!(a.next_update, Some(not_after));
    let resp = parse_response(&a.der).expect("parse");
    let basic = resp.basic.expect("basic");
    basic.verify_signature(&spki).expect("signature");
    assert_eq!(basic.responses[0].next_update, Some(not_after));

    // Far from the end: the configured hour applies.
    let early = NOW - Duration::hours(2);
    let a = ocsp.answer_at(&req, early);
    assert_eq!(a.next_update, Some(early + Duration::hours(1)));

    // At and after the end: tryLater.
    for t in [not_after, not_after + Duration::seconds(1)] {
        let a = ocsp.answer_at(&req, t);
        assert!(!a.successful);
        assert_eq!(a.der, status_response(ResponseStatus::TryLater));
    }
}

#[test]
fn the_injected_clock_dates_answers() {
    let f = fixture(CacheConfig::default());
    // NOW is not what the system clock says: an answer dated NOW comes from the clock given.
    let ocsp = CachingOcsp::new(
        f.db.clone(),
        CacheConfig::default(),
        Arc::new(Metrics::new()),
    )
    .with_clock(Arc::new(FixedClock::at(NOW)));
    let req = f.request(&[0x10, 0x01], None);
    let answer = ocsp.answer(&req);
    assert!(answer.successful);
    assert_eq!(answer.this_update, Some(NOW));
    assert_eq!(answer.next_update, Some(NOW + Duration::hours(1)));
    // producedAt, in the signed response itself.
    assert_eq!(f.status_of(&answer.der), (CertStatus::Good, NOW));
    // The cached path judges freshness by the same clock: the pre-produced answer is served.
    assert_eq!(ocsp.answer_cached(&req), Some(answer));
}
