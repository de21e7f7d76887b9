//! CA key generations in a publication, end to end with `openssl ocsp`: after `ca renew`,
//! `ocsp-responder` answers for a certificate the retired key issued, signed by a delegated
//! responder that the retired key certified (RFC 6960 §4.2.2.2: "issued directly by the CA
//! that is identified in the request"), and for one the new key issued with the new key's
//! responder; both generations' CRLs are served at their distribution points. The previous
//! release's responder is kept per generation, and a release whose old-generation responder
//! was not certified by that generation's key is refused even when its manifest is signed.

mod common;

use common::{Responder, http_get, init_home, issue_staff, openssl, run, text};
use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use ca_core::input::to_pem;
use ca_core::publish::Publication;
use ca_core::{Authority, RenewOptions, Revocation};

const CA: &str = "organization";

/// `openssl ocsp` for `cert` issued by `issuer`, trusting only `trust`, without a nonce.
fn ocsp(dir: &Path, url: &str, issuer: &str, cert: &str, trust: &str) -> String {
    text(&run(Command::new("openssl").current_dir(dir).args([
        "ocsp",
        "-url",
        url,
        "-issuer",
        issuer,
        "-cert",
        cert,
        "-CAfile",
        trust,
        "-no_nonce",
        "-resp_text",
    ])))
}

fn write_pem(dir: &Path, name: &str, der: &[u8]) {
    std::fs::write(dir.join(name), to_pem("CERTIFICATE", der)).expect("write pem");
}

/// The Authority Key Identifier of a PEM certificate, as openssl prints it.
fn key_id(dir: &Path, file: &str, ext: &str) -> String {
    let t = openssl(dir, &["x509", "-in", file, "-noout", "-ext", ext]);
    t.lines()
        .nth(1)
        .map(|l| l.trim().trim_start_matches("keyid:").to_string())
        .expect("key identifier")
}

#[test]
fn answers_for_certificates_of_a_retired_key_with_a_responder_that_key_certified() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    std::fs::write(d.join("pass"), "generations test passphrase\n").expect("pass");
    let mut auth = init_home(&d.join("home"), &d.join("pass"));
    let data = d.join("pub");

    // Generation 1 issues `old` and publishes (its responder is certified by key 1).
    let old = issue_staff(&mut auth, d, "old");
    let old_ca = auth.ca_record(CA).expect("CA").cert_der;
    write_pem(d, "old-ca.pem", &old_ca);
    auth.publish(&data).expect("publish 1");
    let first = Publication::load(&data).expect("load 1");
    let g1_responder = first
        .cas
        .iter()
        .find(|c| c.name == CA)
        .expect("CA in release 1")
        .responder_cert_der
        .clone();

    // Renew, issue `new` with key 2, revoke `old`, publish again.
    let renewed = auth.renew_ca(CA, &RenewOptions::default()).expect("renew");
    assert_eq!(renewed.generation, 2);
    issue_staff(&mut auth, d, "new");
    let new_ca = auth.ca_record(CA).expect("CA").cert_der;
    assert_ne!(new_ca, old_ca);
    write_pem(d, "new-ca.pem", &new_ca);
    let r = auth
        .revoke(&[Revocation {
            serial: old.clone(),
            reason: "keyCompromise".into(),
            ca: None,
            invalidity_date: None,
        }])
        .expect("revoke");
    assert!(r.iter().all(Result::is_ok), "{r:?}");
    auth.publish(&data).expect("publish 2");

    let release = Publication::load(&data).expect("load 2");
    let org = release.cas.iter().find(|c| c.name == CA).expect("CA");
    assert_eq!(org.cert_der, new_ca, "ca/{CA}.crt is the key in force's");
    assert_eq!(org.retired.len(), 1, "{:?}", org.retired);
    let g1 = &org.retired[0];
    assert_eq!(g1.generation, 1);
    assert_eq!(g1.cert_der, old_ca);
    // Kept per generation: release 1's responder (certified by key 1) serves generation 1 now;
    // the key in force gets its own, not the one key 1 certified.
    assert_eq!(g1.responder_cert_der, g1_responder);
    assert_ne!(org.responder_cert_der, g1_responder);
    // The release layout: old names for the key in force, .g1 for the retired key.
    let cur = data.join("current");
    for f in [
        "ca/organization.crt",
        "ocsp/organization.crt",
        "ocsp/organization.key",
        "ca/organization.g1.crt",
        "ocsp/organization.g1.crt",
        "ocsp/organization.g1.key",
        "crl/organization.crl",
        "crl/organization.g2.crl",
    ] {
        assert!(cur.join(f).is_file(), "{f}");
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(cur.join("ocsp/organization.g1.key"))
        .expect("key")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "a responder key is private");
    // Each responder certificate names its issuer's key: key 1's SKI, key 2's SKI.
    write_pem(d, "g1-responder.pem", &g1.responder_cert_der);
    write_pem(d, "g2-responder.pem", &org.responder_cert_der);
    let old_ski = key_id(d, "old-ca.pem", "subjectKeyIdentifier");
    let new_ski = key_id(d, "new-ca.pem", "subjectKeyIdentifier");
    assert_ne!(old_ski, new_ski);
    assert_eq!(
        key_id(d, "g1-responder.pem", "authorityKeyIdentifier"),
        old_ski
    );
    assert_eq!(
        key_id(d, "g2-responder.pem", "authorityKeyIdentifier"),
        new_ski
    );

    let responder = Responder::start(&data, &[]);
    let url = responder.url.clone();
    // The old certificate, asked with the old CA certificate (CertID of key 1) and verified
    // by openssl against the old CA alone: openssl requires the signer to be certified
    // directly by the CA that the CertID names, with id-kp-OCSPSigning (RFC 6960 §4.2.2.2).
    let t = ocsp(d, &url, "old-ca.pem", "old.pem", "old-ca.pem");
    assert!(t.contains("Response verify OK"), "{t}");
    assert!(t.contains("old.pem: revoked"), "{t}");
    assert!(t.contains("Reason: keyCompromise"), "{t}");
    // The same answer does not verify against the new CA alone: its signer is key 1's.
    let t = ocsp(d, &url, "old-ca.pem", "old.pem", "new-ca.pem");
    assert!(!t.contains("Response verify OK"), "{t}");
    // The new certificate via the new CA: good, signed by key 2's responder.
    let t = ocsp(d, &url, "new-ca.pem", "new.pem", "new-ca.pem");
    assert!(t.contains("Response verify OK"), "{t}");
    assert!(t.contains("new.pem: good"), "{t}");
    let t = ocsp(d, &url, "new-ca.pem", "new.pem", "old-ca.pem");
    assert!(!t.contains("Response verify OK"), "{t}");

    // Both generations' CRLs at their distribution points, as published.
    for (path, generation) in [
        ("/crl/organization.crl", 1),
        ("/crl/organization.g2.crl", 2),
    ] {
        let (status, _, body) = http_get(&url, path, &[]);
        assert_eq!(status, 200, "{path}");
        assert_eq!(body, org.crls[&generation], "{path}");
    }
    drop(responder);

    // A release whose generation 1 responder is key 2's (swapped in, manifest rehashed and
    // re-signed by the CAs' own keys) is refused: RFC 6960 §4.2.2.2 wants it certified by
    // key 1. The same rewrite without the swap loads, so the refusal is the swap's.
    let rel = data.join("releases").join(&release.id);
    let mut forged = |swap: bool, tag: &str| -> ca_core::Result<Publication> {
        let copy = d.join(tag);
        let out = run(Command::new("cp").arg("-a").arg(&rel).arg(&copy));
        assert!(out.status.success(), "{}", text(&out));
        if swap {
            for ext in ["crt", "key"] {
                let cur = std::fs::read(copy.join(format!("ocsp/organization.{ext}"))).expect("r");
                std::fs::write(copy.join(format!("ocsp/organization.g1.{ext}")), cur).expect("w");
            }
        }
        resign(&mut auth, &copy);
        Publication::load_release(&copy, &release.id)
    };
    forged(false, "unchanged").expect("a rewritten, unchanged release loads");
    let err = forged(true, "swapped").expect_err("a responder key 1 did not certify");
    let msg = err.to_string();
    assert!(msg.contains("organization.g1.crt"), "{msg}");
    assert!(msg.contains("not signed by the CA's key"), "{msg}");
}

/// Rewrites the manifest of the release in `dir` with the SHA-256 of its files as they are
/// now, and has every CA sign it again with its key in force (what a forger holding the CA
/// keys but not following publish would do).
fn resign(auth: &mut Authority, dir: &Path) {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).expect("manifest"))
            .expect("json");
    let files: Vec<String> = manifest["files"]
        .as_object()
        .expect("files")
        .keys()
        .cloned()
        .collect();
    for f in files {
        let out = run(Command::new("openssl")
            .args(["dgst", "-sha256", "-r"])
            .arg(dir.join(&f)));
        assert!(out.status.success(), "{}", text(&out));
        let hex = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .expect("digest")
            .to_string();
        manifest["files"][&f] = serde_json::Value::String(hex);
    }
    let bytes = serde_json::to_vec_pretty(&manifest).expect("encode");
    std::fs::write(dir.join("manifest.json"), &bytes).expect("write manifest");
    let mut sigs: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.sig")).expect("sig"))
            .expect("json");
    for s in sigs["signatures"].as_array_mut().expect("signatures") {
        let ca = s["ca"].as_str().expect("ca").to_string();
        let signer = auth.load_ca(&ca).expect("CA key").signer;
        let sig = signer.sign(&bytes).expect("sign");
        s["signature"] = serde_json::Value::String(b64.encode(sig));
    }
    std::fs::write(
        dir.join("manifest.sig"),
        serde_json::to_vec_pretty(&sigs).expect("encode"),
    )
    .expect("write sig");
}
