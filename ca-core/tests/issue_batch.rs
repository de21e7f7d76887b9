//! Batch issuance across chunks: results in input order, each reported once, and request ids
//! replayed even when the repeat sits in the chunk right after the first use (the library checks
//! the next chunk while it records the one before).

use ca_core::{
    Authority, BATCH_CHUNK, DistinguishedName, InitOptions, IssuanceRequest, KeyAlgorithm,
    PassphraseSource, SoftwareSigner, build_csr, generate_pkcs8,
};

fn csr(cn: &str) -> Vec<u8> {
    let pkcs8 = generate_pkcs8(KeyAlgorithm::EcdsaP256).expect("key");
    let key = SoftwareSigner::from_pkcs8(&pkcs8, "subscriber").expect("signer");
    let subject = DistinguishedName::parse(&format!("CN={cn},OU=bench,O=LGPKI,C=JP"))
        .expect("dn")
        .to_der()
        .expect("dn der");
    build_csr(&key, &subject).expect("csr")
}

#[test]
fn batches_keep_order_and_replay_ids_across_chunks() {
    let dir = tempfile::tempdir().expect("tmp");
    let home = dir.path().join("home");
    let pass = dir.path().join("pass");
    std::fs::write(&pass, "batch test passphrase").expect("passphrase");
    let mut ca = Authority::init(
        &home,
        InitOptions::software(PassphraseSource::File(pass)).expect("options"),
    )
    .expect("init");
    // What init itself issued (cross-certificates, delegated OCSP responders).
    let issued_by_init = ca
        .store()
        .audit_records()
        .expect("audit")
        .iter()
        .filter(|r| r.action == "cert.issue")
        .count();
    let good = csr("user");
    let n = BATCH_CHUNK + 40;
    let reqs: Vec<IssuanceRequest> = (0..n)
        .map(|i| IssuanceRequest {
            profile: "staff".into(),
            csr_der: if i == 5 {
                b"not a CSR".to_vec()
            } else {
                good.clone()
            },
            // Line BATCH_CHUNK + 3 repeats the id of line 3, one chunk later.
            request_id: Some(if i == BATCH_CHUNK + 3 {
                "id-3".into()
            } else {
                format!("id-{i}")
            }),
            ..IssuanceRequest::default()
        })
        .collect();
    let mut seen = Vec::new();
    ca.issue_batch(reqs, |i, r| seen.push((i, r)))
        .expect("batch");
    assert_eq!(
        seen.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        (0..n).collect::<Vec<_>>(),
        "each line reported once, in order"
    );
    let serial = |i: usize| match &seen[i].1 {
        Ok(issued) => (issued.serial.clone(), issued.replayed),
        Err(e) => panic!("line {i}: {e}"),
    };
    assert!(seen[5].1.is_err(), "a bad CSR fails its line only");
    let (first, replayed) = serial(3);
    assert!(!replayed);
    let (again, replayed) = serial(BATCH_CHUNK + 3);
    assert!(
        replayed,
        "the repeated id is answered with the first certificate"
    );
    assert_eq!(first, again);
    let mut serials: Vec<ca_core::Serial> = (0..n)
        .filter(|&i| i != 5 && i != BATCH_CHUNK + 3)
        .map(|i| serial(i).0)
        .collect();
    let issued = serials.len();
    serials.sort();
    serials.dedup();
    assert_eq!(serials.len(), issued, "serials are unique");
    // Every issued certificate has its audit record, and the chain is intact.
    let audit = ca.store().audit_records().expect("audit");
    ca_core::verify_chain(&audit).expect("chain intact");
    assert_eq!(
        audit.iter().filter(|r| r.action == "cert.issue").count(),
        issued_by_init + issued
    );
}
