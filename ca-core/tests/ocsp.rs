//! OCSP tests: requests made by `openssl ocsp`, responses checked by `openssl ocsp -respin` and
//! pkilint's `lint_ocsp_response`, the shared conformance vectors, GET decoding, and
//! truncation/bit-flip loops.

mod common;

use std::collections::HashMap;
use std::path::Path;

use ca_core::crl::ReasonCode;
use ca_core::ocsp::{
    CaHashes, CertId, CertStatus, HashAlgorithm, Lookup, MAX_REQUEST_SIZE, Responder, ResponderId,
    ResponseStatus, StatusSource, build_request, decode_get_path, parse_request, parse_response,
    status_response,
};
use ca_core::{CaSigner, Error, parse_spki};
use common::{CONFORMANCE, Pki, openssl_ok, pkilint_clean};
use time::macros::datetime;

const NOW: time::OffsetDateTime = datetime!(2026-11-23 06:00:00 UTC);

/// A status database for one CA.
struct Db {
    ca: CaHashes,
    statuses: HashMap<Vec<u8>, Lookup>,
}

impl StatusSource for Db {
    fn lookup(&self, cert_id: &CertId) -> Lookup {
        if !self.ca.matches(cert_id) {
            return Lookup::UnknownIssuer;
        }
        self.statuses
            .get(&cert_id.serial)
            .cloned()
            .unwrap_or(Lookup::Unknown)
    }
}

fn db(pki: &Pki) -> Db {
    let mut statuses = HashMap::new();
    statuses.insert(
        vec![0x10, 0x01],
        Lookup::Revoked {
            time: datetime!(2026-10-01 12:00:00 UTC),
            reason: Some(ReasonCode::KeyCompromise),
        },
    );
    statuses.insert(vec![0x10, 0x02], Lookup::Good);
    statuses.insert(vec![0x20, 0x01], Lookup::Good);
    Db {
        ca: CaHashes::from_certificate(&pki.ca_der).expect("hashes"),
        statuses,
    }
}

/// Asks `openssl ocsp` for a request, answers it with `responder`, writes the response.
fn answer(pki: &Pki, responder: &Responder<'_>, req_args: &[&str], name: &str) -> Vec<u8> {
    let d = pki.path();
    let req_file = format!("{name}.req");
    let mut args = vec!["ocsp", "-issuer", "ca.pem", "-reqout", &req_file];
    args.extend_from_slice(req_args);
    openssl_ok(d, &args);
    let req = std::fs::read(d.join(&req_file)).expect("request");
    let resp = responder.respond(&req, &db(pki), time::OffsetDateTime::now_utc());
    std::fs::write(d.join(format!("{name}.resp")), &resp).expect("write");
    resp
}

fn check_in_openssl(pki: &Pki, name: &str, cert_args: &[&str], expect: &[&str]) -> String {
    let resp_file = format!("{name}.resp");
    let mut args = vec![
        "ocsp",
        "-respin",
        &resp_file,
        "-CAfile",
        "ca.pem",
        "-issuer",
        "ca.pem",
        "-no_nonce",
    ];
    args.extend_from_slice(cert_args);
    let text = openssl_ok(pki.path(), &args);
    println!("{name}:\n{text}");
    assert!(text.contains("Response verify OK"), "{name}: {text}");
    for e in expect {
        assert!(text.contains(e), "{name}: lacks {e:?}:\n{text}");
    }
    text
}

#[test]
fn ca_signed_good_revoked_unknown_verify_in_openssl_and_lint_clean() {
    let pki = Pki::new();
    let responder =
        Responder::new(&pki.ca_signer, None, time::Duration::hours(24)).expect("responder");
    let ca_spki = parse_spki(pki.ca_signer.public_key_der()).expect("spki");

    answer(
        &pki,
        &responder,
        &["-cert", "leaf2.pem", "-no_nonce"],
        "good",
    );
    check_in_openssl(
        &pki,
        "good",
        &["-cert", "leaf2.pem"],
        &["leaf2.pem: good", "Next Update"],
    );

    answer(
        &pki,
        &responder,
        &["-cert", "leaf1.pem", "-no_nonce"],
        "revoked",
    );
    check_in_openssl(
        &pki,
        "revoked",
        &["-cert", "leaf1.pem"],
        &[
            "leaf1.pem: revoked",
            "Reason: keyCompromise",
            "Revocation Time: Oct  1 12:00:00 2026 GMT",
        ],
    );

    answer(
        &pki,
        &responder,
        &["-serial", "0x1003", "-no_nonce"],
        "unknown",
    );
    check_in_openssl(
        &pki,
        "unknown",
        &["-serial", "0x1003"],
        &["0x1003: unknown"],
    );

    // SHA-256 CertIDs (RFC 6960 §4.1.1 allows any hash; RFC 5019 requires SHA-1 support).
    let resp = answer(
        &pki,
        &responder,
        &["-sha256", "-cert", "leaf2.pem", "-no_nonce"],
        "sha256",
    );
    check_in_openssl(
        &pki,
        "sha256",
        &["-sha256", "-cert", "leaf2.pem"],
        &["leaf2.pem: good"],
    );
    let parsed = parse_response(&resp).expect("parse");
    let basic = parsed.basic.expect("basic");
    assert_eq!(basic.responses[0].cert_id.hash, Some(HashAlgorithm::Sha256));

    for name in ["good", "revoked", "unknown", "sha256"] {
        pkilint_clean(
            "lint_ocsp_response",
            &[],
            &pki.path().join(format!("{name}.resp")),
        );
        let bytes = std::fs::read(pki.path().join(format!("{name}.resp"))).expect("read");
        let r = parse_response(&bytes).expect("parse");
        assert_eq!(r.status, ResponseStatus::Successful);
        let b = r.basic.expect("basic");
        b.verify_signature(&ca_spki)
            .expect("our parser verifies our signature");
        assert_eq!(
            b.responder_id,
            ResponderId::ByKey(responder.key_hash().to_vec())
        );
        assert!(b.certs.is_empty(), "the CA signs itself: no certs");
        assert_eq!(b.responses.len(), 1);
        let s = &b.responses[0];
        assert!(
            s.next_update
                .is_some_and(|nu| nu - s.this_update == time::Duration::hours(24))
        );
        match name {
            "revoked" => assert_eq!(
                s.status,
                CertStatus::Revoked {
                    time: datetime!(2026-10-01 12:00:00 UTC),
                    reason: Some(ReasonCode::KeyCompromise)
                }
            ),
            "unknown" => assert_eq!(s.status, CertStatus::Unknown),
            _ => assert_eq!(s.status, CertStatus::Good),
        }
    }
}

#[test]
fn delegated_responder_sends_its_certificate_and_verifies() {
    let pki = Pki::new();
    let responder = Responder::new(
        &pki.responder_signer,
        Some(&pki.responder_der),
        time::Duration::hours(4),
    )
    .expect("delegated");
    let resp = answer(
        &pki,
        &responder,
        &["-cert", "leaf1.pem", "-no_nonce"],
        "delegated",
    );
    check_in_openssl(
        &pki,
        "delegated",
        &["-cert", "leaf1.pem"],
        &["leaf1.pem: revoked"],
    );
    pkilint_clean(
        "lint_ocsp_response",
        &[],
        &pki.path().join("delegated.resp"),
    );
    let b = parse_response(&resp).expect("parse").basic.expect("basic");
    assert_eq!(b.certs, vec![pki.responder_der.clone()]);
    b.verify_signature(&parse_spki(pki.responder_signer.public_key_der()).expect("spki"))
        .expect("sig");

    // The responder certificate must hold the signing key and the OCSPSigning EKU (§4.2.2.2).
    Responder::new(
        &pki.ca_signer,
        Some(&pki.responder_der),
        time::Duration::hours(1),
    )
    .expect_err("key mismatch");
    Responder::new(&pki.ca_signer, Some(&pki.ca_der), time::Duration::hours(1))
        .expect_err("no OCSPSigning EKU");
}

#[test]
fn nonce_is_echoed_and_checked_by_openssl() {
    let pki = Pki::new();
    let d = pki.path();
    let responder =
        Responder::new(&pki.ca_signer, None, time::Duration::hours(1)).expect("responder");
    // openssl adds a 16-octet nonce by default.
    openssl_ok(
        d,
        &[
            "ocsp",
            "-issuer",
            "ca.pem",
            "-cert",
            "leaf2.pem",
            "-reqout",
            "nonce.req",
        ],
    );
    let req_der = std::fs::read(d.join("nonce.req")).expect("req");
    let req = parse_request(&req_der).expect("parse");
    let nonce = req.nonce.clone().expect("nonce");
    assert_eq!(nonce.len(), 16);
    let resp = responder
        .build_response(&req, &db(&pki), NOW)
        .expect("response");
    std::fs::write(d.join("nonce.resp"), &resp).expect("write");
    let text = openssl_ok(
        d,
        &[
            "ocsp",
            "-reqin",
            "nonce.req",
            "-respin",
            "nonce.resp",
            "-CAfile",
            "ca.pem",
            "-issuer",
            "ca.pem",
            "-resp_text",
        ],
    );
    println!("{text}");
    assert!(text.contains("Response verify OK"), "{text}");
    assert!(text.contains("OCSP Nonce"), "{text}");
    assert!(
        !text.contains("Nonce Verify error") && !text.contains("WARNING: no nonce"),
        "{text}"
    );
    assert_eq!(
        parse_response(&resp)
            .expect("parse")
            .basic
            .expect("basic")
            .nonce,
        Some(nonce)
    );
    pkilint_clean("lint_ocsp_response", &[], &d.join("nonce.resp"));

    // A response without the nonce is flagged by openssl against the same request.
    let mut no_nonce = req.clone();
    no_nonce.nonce = None;
    std::fs::write(
        d.join("nonce2.resp"),
        responder
            .build_response(&no_nonce, &db(&pki), NOW)
            .expect("resp"),
    )
    .expect("w");
    let text = openssl_ok(
        d,
        &[
            "ocsp",
            "-reqin",
            "nonce.req",
            "-respin",
            "nonce2.resp",
            "-CAfile",
            "ca.pem",
            "-issuer",
            "ca.pem",
        ],
    );
    assert!(text.contains("WARNING: no nonce in response"), "{text}");

    // RFC 8954 §2.1 lengths: 1 and 32 are accepted, 0 and 33 refused.
    let ca = CaHashes::from_certificate(&pki.ca_der).expect("hashes");
    let id = CertId::new(HashAlgorithm::Sha1, &ca, &[0x10, 0x02]).expect("id");
    for n in [1usize, 32] {
        let r = parse_request(
            &build_request(std::slice::from_ref(&id), Some(&vec![7u8; n])).expect("req"),
        )
        .expect("parse");
        assert_eq!(r.nonce.map(|v| v.len()), Some(n));
    }
    for n in [0usize, 33] {
        let der_bytes = request_with_raw_nonce(&id, &vec![7u8; n]);
        assert!(
            parse_request(&der_bytes).is_err(),
            "nonce of {n} octets must be refused"
        );
        assert_eq!(
            parse_response(&responder.respond(&der_bytes, &db(&pki), NOW))
                .expect("p")
                .status,
            ResponseStatus::MalformedRequest
        );
    }
}

#[test]
fn request_extensions_unknown_critical_refused_noncritical_ignored() {
    let ca = CaHashes::from_parts(&[0x30, 0], &{
        let pki_key = ca_core::generate_pkcs8(ca_core::KeyAlgorithm::EcdsaP256).expect("key");
        ca_core::SoftwareSigner::from_pkcs8(&pki_key, "k")
            .expect("signer")
            .public_key_der()
            .to_vec()
    })
    .expect("hashes");
    let id = CertId::new(HashAlgorithm::Sha1, &ca, &[1]).expect("id");
    let unknown_oid = [0x06, 0x03, 0x2a, 0x03, 0x04];
    for (critical, ok) in [(false, true), (true, false)] {
        let crit: &[u8] = if critical { &[0x01, 0x01, 0xff] } else { &[] };
        let ext = tlv(
            0x30,
            &[&unknown_oid[..], crit, &tlv(0x04, &[0x05, 0x00])].concat(),
        );
        let list = tlv(0x30, &tlv(0x30, id.der()));
        let exts = tlv(0xa2, &tlv(0x30, &ext));
        let der_bytes = tlv(0x30, &tlv(0x30, &[list, exts].concat()));
        assert_eq!(parse_request(&der_bytes).is_ok(), ok, "critical={critical}");
    }
    // An explicitly encoded v1 is tolerated (not strict DER, X.690 §11.5, but harmless and sent
    // by some clients); any other version is undefined and refused.
    let list = tlv(0x30, &tlv(0x30, id.der()));
    for (v, ok) in [(0u8, true), (1, false)] {
        let version = tlv(0xa0, &[0x02, 0x01, v]);
        let der_bytes = tlv(0x30, &tlv(0x30, &[version, list.clone()].concat()));
        assert_eq!(parse_request(&der_bytes).is_ok(), ok, "version {v}");
    }
    // An empty requestList is refused.
    assert!(parse_request(&tlv(0x30, &tlv(0x30, &tlv(0x30, &[])))).is_err());
}

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    if content.len() < 128 {
        v.push(content.len() as u8);
    } else {
        v.extend_from_slice(&[0x82, (content.len() >> 8) as u8, content.len() as u8]);
    }
    v.extend_from_slice(content);
    v
}

fn request_with_raw_nonce(id: &CertId, nonce: &[u8]) -> Vec<u8> {
    let list = tlv(0x30, &tlv(0x30, id.der()));
    let oid = [
        0x06, 0x09, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x02,
    ];
    let ext = tlv(0x30, &[&oid[..], &tlv(0x04, &tlv(0x04, nonce))].concat());
    let exts = tlv(0xa2, &tlv(0x30, &ext));
    tlv(0x30, &tlv(0x30, &[list, exts].concat()))
}

#[test]
fn non_success_responses() {
    let pki = Pki::new();
    let d = pki.path();
    let responder =
        Responder::new(&pki.ca_signer, None, time::Duration::hours(1)).expect("responder");
    // A CertID for another CA: unauthorized (RFC 5019 §2.2.3).
    let other = std::fs::read(Path::new(CONFORMANCE).join("ocsp/req-sha1.der")).expect("req");
    let resp = responder.respond(&other, &db(&pki), NOW);
    assert_eq!(resp, status_response(ResponseStatus::Unauthorized));
    std::fs::write(d.join("unauth.resp"), &resp).expect("w");
    let (_, text) = common::openssl(d, &["ocsp", "-respin", "unauth.resp", "-CAfile", "ca.pem"]);
    assert!(text.contains("unauthorized (6)"), "{text}");
    // Garbage: malformedRequest.
    let resp = responder.respond(b"\x30\x03\x02\x01", &db(&pki), NOW);
    assert_eq!(
        parse_response(&resp).expect("p").status,
        ResponseStatus::MalformedRequest
    );
    // Over the size limit: malformedRequest, and parse_request says TooLarge.
    let big = vec![0x30; MAX_REQUEST_SIZE + 1];
    assert!(matches!(parse_request(&big), Err(Error::TooLarge { .. })));
    assert_eq!(
        parse_response(&responder.respond(&big, &db(&pki), NOW))
            .expect("p")
            .status,
        ResponseStatus::MalformedRequest
    );
    for s in [
        ResponseStatus::MalformedRequest,
        ResponseStatus::InternalError,
        ResponseStatus::TryLater,
        ResponseStatus::Unauthorized,
        ResponseStatus::SigRequired,
    ] {
        let der_bytes = status_response(s);
        let r = parse_response(&der_bytes).expect("parse");
        assert_eq!(r.status, s);
        assert!(r.basic.is_none());
        std::fs::write(d.join("status.resp"), &der_bytes).expect("w");
        let (_, text) = common::openssl(
            d,
            &["ocsp", "-respin", "status.resp", "-resp_text", "-noverify"],
        );
        assert!(text.contains(&format!("({})", s.code())), "{s:?}: {text}");
    }
    // Two CertIDs in one request: one SingleResponse each, in order.
    let ca = CaHashes::from_certificate(&pki.ca_der).expect("hashes");
    let ids = [
        CertId::new(HashAlgorithm::Sha1, &ca, &[0x10, 0x01]).expect("id"),
        CertId::new(HashAlgorithm::Sha256, &ca, &[0x10, 0x02]).expect("id"),
    ];
    let resp = responder.respond(&build_request(&ids, None).expect("req"), &db(&pki), NOW);
    let b = parse_response(&resp).expect("parse").basic.expect("basic");
    assert_eq!(b.responses.len(), 2);
    assert!(matches!(
        b.find(&ids[0]).expect("first").status,
        CertStatus::Revoked { .. }
    ));
    assert_eq!(b.find(&ids[1]).expect("second").status, CertStatus::Good);
    assert_eq!(b.produced_at, NOW);
}

#[test]
fn issuer_hashes_match_openssl_cert_ids() {
    let pki = Pki::new();
    let d = pki.path();
    let ca = CaHashes::from_certificate(&pki.ca_der).expect("hashes");
    for (flag, alg) in [
        ("-sha1", HashAlgorithm::Sha1),
        ("-sha256", HashAlgorithm::Sha256),
    ] {
        openssl_ok(
            d,
            &[
                "ocsp",
                flag,
                "-issuer",
                "ca.pem",
                "-cert",
                "leaf1.pem",
                "-no_nonce",
                "-reqout",
                "h.req",
            ],
        );
        let req = parse_request(&std::fs::read(d.join("h.req")).expect("r")).expect("parse");
        let id = &req.cert_ids[0];
        assert_eq!(id.hash, Some(alg));
        assert!(
            ca.matches(id),
            "{alg:?}: openssl's CertID matches our issuer hashes"
        );
        assert_eq!(id.serial, vec![0x10, 0x01]);
        assert_eq!(
            ca.hashes(alg).0.len(),
            if alg == HashAlgorithm::Sha1 { 20 } else { 32 }
        );
    }
}

#[test]
fn get_paths_decode_in_every_base64_form() {
    use base64::Engine;
    let der_bytes =
        std::fs::read(Path::new(CONFORMANCE).join("ocsp/req-ext-nonce.der")).expect("req");
    let std_b64 = base64::engine::general_purpose::STANDARD.encode(&der_bytes);
    let url_escaped = std_b64
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    let url_safe = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&der_bytes);
    let lower_escaped = std_b64.replace('+', "%2b").replace('/', "%2f");
    for form in [
        std_b64.clone(),
        format!("/{std_b64}"),
        url_escaped,
        url_safe,
        lower_escaped,
        std_b64.trim_end_matches('=').to_string(),
    ] {
        assert_eq!(decode_get_path(&form).expect(&form), der_bytes, "{form}");
    }
    assert!(decode_get_path("/not*base64").is_err());
    assert!(decode_get_path("/%zz").is_err());
    assert!(decode_get_path("/%2").is_err());
    let huge = "A".repeat(MAX_REQUEST_SIZE * 2);
    assert!(matches!(
        decode_get_path(&huge),
        Err(Error::TooLarge { .. })
    ));
    // What openssl sends with -url: the request decodes to the same DER.
    parse_request(&decode_get_path(&format!("/{std_b64}")).expect("get")).expect("parse");
}

/// README table of the conformance folder: requests.
const REQ_EXPECT: &[(&str, bool)] = &[
    ("req-sha1.der", true),
    ("req-multi-sha1.der", true),
    ("req-invalid-hash-alg.der", true),
    ("req-ext-nonce.der", true),
    ("req-ext-unknown-oid.der", true),
    ("req-duplicate-ext.der", false),
    ("req-acceptable-responses.der", true),
    ("ocsp-army.valid-req.der", true),
    ("ocsp-army.revoked-req.der", true),
    ("ocsp-army.inapplicable-req.der", true),
];

/// README table: responses (`Some(status)` = parses with that status).
const RESP_EXPECT: &[(&str, Option<ResponseStatus>)] = &[
    ("resp-sha256.der", Some(ResponseStatus::Successful)),
    (
        "resp-invalid-signature-oid.der",
        Some(ResponseStatus::Successful),
    ),
    ("resp-unauthorized.der", Some(ResponseStatus::Unauthorized)),
    ("resp-unknown-response-status.der", None),
    ("resp-successful-no-response-bytes.der", None),
    ("resp-response-type-unknown-oid.der", None),
    ("resp-revoked.der", Some(ResponseStatus::Successful)),
    ("resp-revoked-reason.der", Some(ResponseStatus::Successful)),
    (
        "resp-revoked-no-next-update.der",
        Some(ResponseStatus::Successful),
    ),
    (
        "resp-responder-key-hash.der",
        Some(ResponseStatus::Successful),
    ),
    (
        "resp-delegate-unknown-cert.der",
        Some(ResponseStatus::Successful),
    ),
    (
        "resp-single-extension-reason.der",
        Some(ResponseStatus::Successful),
    ),
    ("resp-sct-extension.der", Some(ResponseStatus::Successful)),
    (
        "resp-unknown-extension.der",
        Some(ResponseStatus::Successful),
    ),
    (
        "resp-unknown-hash-alg.der",
        Some(ResponseStatus::Successful),
    ),
    (
        "ocsp-army.deps.mil-resp.der",
        Some(ResponseStatus::Successful),
    ),
];

fn ocsp_vector(name: &str) -> Vec<u8> {
    let p = Path::new(CONFORMANCE).join("ocsp").join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn conformance_requests_and_responses_parse_as_the_readme_table_says() {
    let n = std::fs::read_dir(Path::new(CONFORMANCE).join("ocsp"))
        .expect("folder")
        .count();
    assert_eq!(
        n,
        REQ_EXPECT.len() + RESP_EXPECT.len(),
        "every vector has a row"
    );
    for (name, ok) in REQ_EXPECT {
        let r = parse_request(&ocsp_vector(name));
        println!(
            "{name}: {:?}",
            r.as_ref()
                .map(|r| r.cert_ids.len())
                .map_err(ToString::to_string)
        );
        assert_eq!(r.is_ok(), *ok, "{name}: {r:?}");
    }
    assert_eq!(
        parse_request(&ocsp_vector("req-multi-sha1.der"))
            .expect("multi")
            .cert_ids
            .len(),
        2
    );
    let bad_hash = parse_request(&ocsp_vector("req-invalid-hash-alg.der")).expect("parse");
    assert_eq!(bad_hash.cert_ids[0].hash, None);
    assert!(
        parse_request(&ocsp_vector("req-ext-nonce.der"))
            .expect("nonce")
            .nonce
            .is_some()
    );

    // A CertID with an unknown hash is answered `unknown` without asking the source.
    let pki = Pki::new();
    let responder =
        Responder::new(&pki.ca_signer, None, time::Duration::hours(1)).expect("responder");
    let resp = responder
        .build_response(&bad_hash, &db(&pki), NOW)
        .expect("resp");
    let b = parse_response(&resp).expect("parse").basic.expect("basic");
    assert_eq!(b.responses[0].status, CertStatus::Unknown);

    for (name, expect) in RESP_EXPECT {
        let r = parse_response(&ocsp_vector(name));
        println!(
            "{name}: {:?}",
            r.as_ref().map(|r| r.status).map_err(ToString::to_string)
        );
        assert_eq!(
            r.as_ref().ok().map(|r| r.status),
            *expect,
            "{name}: {:?}",
            r.err()
        );
    }
    let basic = |n: &str| {
        parse_response(&ocsp_vector(n))
            .expect(n)
            .basic
            .expect("basic")
    };

    // Signature checks with Let's Encrypt X3.
    let x3 = {
        use der::{Decode, Encode};
        let pem =
            std::fs::read(Path::new(CONFORMANCE).join("certs/letsencryptx3.pem")).expect("x3");
        let der_bytes = der::pem::decode_vec(&pem).expect("pem").1;
        let cert = x509_cert::Certificate::from_der(&der_bytes).expect("cert");
        parse_spki(
            &cert
                .tbs_certificate()
                .subject_public_key_info()
                .to_der()
                .expect("spki"),
        )
        .expect("spki")
    };
    let good = basic("resp-sha256.der");
    good.verify_signature(&x3).expect("resp-sha256 verifies");
    assert!(matches!(good.responder_id, ResponderId::ByName(_)));
    assert_eq!(good.responses[0].status, CertStatus::Good);
    assert!(
        basic("resp-invalid-signature-oid.der")
            .verify_signature(&x3)
            .is_err(),
        "md2 refused"
    );

    assert!(matches!(
        basic("resp-revoked.der").responses[0].status,
        CertStatus::Revoked { .. }
    ));
    assert!(matches!(
        basic("resp-revoked.der").responder_id,
        ResponderId::ByKey(_)
    ));
    let reason = basic("resp-revoked-reason.der");
    assert!(matches!(
        reason.responses[0].status,
        CertStatus::Revoked {
            reason: Some(_),
            ..
        }
    ));
    assert!(!reason.certs.is_empty());
    assert!(
        basic("resp-revoked-no-next-update.der").responses[0]
            .next_update
            .is_none()
    );
    let delegate = basic("resp-delegate-unknown-cert.der");
    assert_eq!(delegate.responses[0].status, CertStatus::Unknown);
    assert!(!delegate.certs.is_empty());
    assert!(
        basic("resp-unknown-extension.der")
            .unknown_critical_extensions
            .is_empty()
    );
    assert_eq!(
        basic("resp-unknown-hash-alg.der").responses[0].cert_id.hash,
        None
    );

    // The army response answers several CertIDs; each request matches its own.
    let army = basic("ocsp-army.deps.mil-resp.der");
    assert!(army.responses.len() > 1);
    for req in ["ocsp-army.valid-req.der", "ocsp-army.revoked-req.der"] {
        let r = parse_request(&ocsp_vector(req)).expect("req");
        assert!(army.find(&r.cert_ids[0]).is_some(), "{req} is answered");
    }
    let revoked = parse_request(&ocsp_vector("ocsp-army.revoked-req.der")).expect("req");
    assert!(matches!(
        army.find(&revoked.cert_ids[0]).expect("found").status,
        CertStatus::Revoked { .. }
    ));
}

#[test]
fn request_parser_and_responder_survive_truncation_and_bit_flips() {
    let pki = Pki::new();
    let responder =
        Responder::new(&pki.ca_signer, None, time::Duration::hours(1)).expect("responder");
    let source = db(&pki);
    let ca = CaHashes::from_certificate(&pki.ca_der).expect("hashes");
    let id = CertId::new(HashAlgorithm::Sha256, &ca, &[0x10, 0x01]).expect("id");
    let mut inputs: Vec<Vec<u8>> = REQ_EXPECT.iter().map(|(n, _)| ocsp_vector(n)).collect();
    inputs.push(build_request(std::slice::from_ref(&id), Some(&[9u8; 32])).expect("req"));
    let (mut runs, mut accepted) = (0usize, 0usize);
    for input in &inputs {
        for cut in 0..input.len() {
            runs += 1;
            assert!(
                parse_request(&input[..cut]).is_err(),
                "a strict prefix never parses"
            );
            let resp = responder.respond(&input[..cut], &source, NOW);
            assert_eq!(resp, status_response(ResponseStatus::MalformedRequest));
        }
        for bit in 0..input.len() * 8 {
            runs += 1;
            let mut m = input.clone();
            m[bit / 8] ^= 1 << (bit % 8);
            accepted += usize::from(parse_request(&m).is_ok());
            let resp = responder.respond(&m, &source, NOW);
            parse_response(&resp).expect("every answer is a well-formed OCSPResponse");
        }
    }
    // And the response parser over the response vectors.
    for (name, _) in RESP_EXPECT {
        let input = ocsp_vector(name);
        for cut in 0..input.len() {
            runs += 1;
            let _ = parse_response(&input[..cut]);
        }
        for bit in (0..input.len() * 8).step_by(3) {
            runs += 1;
            let mut m = input.clone();
            m[bit / 8] ^= 1 << (bit % 8);
            let _ = parse_response(&m);
        }
    }
    println!("{runs} mutated inputs, {accepted} mutated requests still parsed");
}
