//! `lgpki verify-signature`: CMS signatures made by `openssl cms -sign` with 職責
//! (official-position) certificates lgpki issued, judged at their signing time or time-stamp.

mod common;
mod sig_common;

use common::{KeyKind, assert_ok, openssl_ok};
use sig_common::{Fixture, json, p};

const OFFICIAL_POSITION: &str = "1.2.392.200149.8.5.5.1";
const STAFF: &str = "1.2.392.200149.8.5.5.2";

#[test]
fn openssl_signed_documents_verify_rsa_ecdsa_attached_detached() {
    let fx = Fixture::new();
    let doc = fx.env.path("contract.txt");
    std::fs::write(&doc, "契約書: 千代田区と株式会社の業務委託契約\n").expect("doc");
    let signers = [
        ("rsa", fx.signer("mayor-rsa", KeyKind::Rsa(2048))),
        ("ec", fx.signer("mayor-ec", KeyKind::P256)),
    ];
    for (kind, s) in &signers {
        let mut variants: Vec<(bool, Vec<&str>)> = vec![
            (true, vec!["-cades"]),
            (false, vec!["-cades"]),
            (true, vec![]),
            (false, vec![]),
        ];
        if *kind == "rsa" {
            variants.push((
                true,
                vec![
                    "-keyopt",
                    "rsa_padding_mode:pss",
                    "-keyopt",
                    "rsa_pss_saltlen:digest",
                ],
            ));
        }
        for (attached, extra) in variants {
            let sig = fx.sign(s, &doc, attached, &extra);
            let mut args = vec!["--policy", OFFICIAL_POSITION];
            if !attached {
                args.extend_from_slice(&["--content", p(&doc)]);
            }
            let out = fx.verify(&sig, &args);
            assert_ok(&out, &format!("{kind} attached={attached} {extra:?}"));
            let v = json(&out);
            for key in [
                "valid",
                "reason",
                "signer",
                "serial",
                "path",
                "policies",
                "signing_time",
                "timestamp",
            ] {
                assert!(v.get(key).is_some(), "{key} in {v}");
            }
            assert_eq!(v["valid"], true, "{v}");
            assert_eq!(v["serial"], s.serial.as_str(), "{v}");
            assert!(
                v["signer"].as_str().unwrap_or_default().contains("mayor"),
                "{v}"
            );
            // The signer and the organisation CA, its own anchor.
            assert_eq!(v["path"].as_array().map(Vec::len), Some(2), "{v}");
            assert_eq!(v["policies"][0], OFFICIAL_POSITION, "{v}");
            assert!(v["signing_time"].is_string(), "{v}");
            assert_eq!(v["time_source"], "signing-time", "{v}");
            assert!(v["timestamp"].is_null(), "{v}");
        }
    }
    // A policy the signer's path does not carry.
    let sig = fx.sign(&signers[1].1, &doc, true, &["-cades"]);
    let out = fx.verify(&sig, &["--policy", STAFF]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        json(&out)["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("policy"),
        "{}",
        json(&out)
    );
}

#[test]
fn mutations_and_wrong_anchor_are_invalid_with_a_reason_malformed_exits_2() {
    let fx = Fixture::new();
    let doc = fx.env.path("application.txt");
    std::fs::write(&doc, "申請書: 住民票の写しの交付\n").expect("doc");
    let s = fx.signer("clerk", KeyKind::P256);
    let attached = fx.sign(&s, &doc, true, &["-cades"]);
    let detached = fx.sign(&s, &doc, false, &["-cades"]);
    assert_ok(&fx.verify(&attached, &[]), "unchanged");
    let der = std::fs::read(&attached).expect("der");
    let reason = |out: &std::process::Output| {
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        json(out)["reason"].as_str().unwrap_or_default().to_string()
    };

    // Mutated content: detached with another file, attached with a byte of eContent changed.
    let other = fx.env.path("other.txt");
    std::fs::write(&other, "申請書: 住民票の写しの交付!\n").expect("other");
    let r = reason(&fx.verify(&detached, &["--content", p(&other)]));
    assert!(r.contains("message digest mismatch"), "{r}");
    let text = "住民票".as_bytes();
    let at = der
        .windows(text.len())
        .position(|w| w == text)
        .expect("content inside");
    let mut m = der.clone();
    m[at] ^= 0x01;
    let f = fx.env.path("mutated-content.p7");
    std::fs::write(&f, &m).expect("write");
    let r = reason(&fx.verify(&f, &[]));
    assert!(r.contains("message digest mismatch"), "{r}");

    // Mutated signature: the signature value is the last element of the (only) SignerInfo.
    let mut m = der.clone();
    let last = m.len() - 2;
    m[last] ^= 0x55;
    let f = fx.env.path("mutated-signature.p7");
    std::fs::write(&f, &m).expect("write");
    let r = reason(&fx.verify(&f, &[]));
    assert!(r.contains("signature does not verify"), "{r}");

    // The wrong trust anchor.
    let stranger = fx.env.path("stranger.pem");
    openssl_ok(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        p(&fx.env.path("stranger.key")),
        "-out",
        p(&stranger),
        "-days",
        "30",
        "-subj",
        "/CN=Stranger Root",
    ]);
    let out = fx.env.lgpki(&[
        "--json",
        "verify-signature",
        p(&attached),
        "--trust",
        p(&stranger),
        "--untrusted",
        p(&fx.chain),
    ]);
    let r = reason(&out);
    assert!(r.contains("path"), "{r}");

    // Malformed input: exit 2, named, no panic.
    for (name, bytes) in [
        ("truncated", der[..der.len() / 2].to_vec()),
        ("empty", Vec::new()),
        ("garbage", b"\x30\x82\xff\xff not a signature".to_vec()),
        ("indefinite", {
            let mut b = der.clone();
            b[1] = 0x80;
            b
        }),
    ] {
        let f = fx.env.path(&format!("{name}.p7"));
        std::fs::write(&f, bytes).expect("write");
        let out = fx.verify(&f, &[]);
        assert_eq!(out.status.code(), Some(2), "{name}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("malformed") || err.contains("CMS"),
            "{name}: {err}"
        );
    }
    // A detached signature without --content is a usage error.
    assert_eq!(fx.verify(&detached, &[]).status.code(), Some(2));
}

#[test]
fn revocation_is_judged_at_the_signing_time_or_the_time_stamp() {
    let fx = Fixture::new();
    let doc = fx.env.path("order.txt");
    std::fs::write(&doc, "命令書\n").expect("doc");
    let s = fx.signer("officer", KeyKind::P256);
    let plain = fx.sign(&s, &doc, true, &["-cades"]);
    let stamped = fx.env.path("order.ts.p7");
    assert_ok(
        &fx.env.lgpki(&[
            "timestamp-signature",
            p(&plain),
            "--tsa",
            &fx.tsa.url,
            "--out",
            p(&stamped),
        ]),
        "timestamp-signature",
    );
    // Before any revocation: both valid, the stamped one judged at the time-stamp.
    let crls = fx.crls();
    let crl_args: Vec<&str> = crls.iter().map(String::as_str).collect();
    let out = fx.verify(&stamped, &crl_args);
    assert_ok(&out, "stamped, not revoked");
    let v = json(&out);
    assert_eq!(v["time_source"], "timestamp", "{v}");
    assert_eq!(v["timestamp"]["tsa"], "CN=Test TSA", "{v}");
    assert_eq!(v["revocation"][0]["status"], "good", "{v}");
    // openssl agrees the signature (with its unsigned attribute) still verifies.
    openssl_ok(&[
        "cms",
        "-verify",
        "-inform",
        "DER",
        "-in",
        p(&stamped),
        "-CAfile",
        p(&fx.root),
        "-out",
        "/dev/null",
    ]);

    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_ok(
        &fx.env
            .lgpki(&["revoke", "--serial", &s.serial, "--reason", "keyCompromise"]),
        "revoke",
    );
    let crls = fx.crls();
    let crl_args: Vec<&str> = crls.iter().map(String::as_str).collect();

    // Time-stamped before the revocation: valid, with both times stated.
    let out = fx.verify(&stamped, &crl_args);
    assert_ok(&out, "stamped before the revocation");
    let v = json(&out);
    let ts = v["timestamp"]["time"]
        .as_str()
        .expect("ts time")
        .to_string();
    let revoked = v["revocation"][0]["revoked_at"]
        .as_str()
        .expect("revoked_at")
        .to_string();
    assert!(ts < revoked, "{v}");
    assert_eq!(v["revocation"][0]["status"], "revoked", "{v}");
    assert_eq!(
        v["revocation"][0]["revocation_reason"], "keyCompromise",
        "{v}"
    );
    assert_eq!(v["revocation"][0]["status_at_signature"], "good", "{v}");

    // Not time-stamped: the signing time is the key holder's claim, and the key is compromised.
    let out = fx.verify(&plain, &crl_args);
    assert_eq!(out.status.code(), Some(1));
    let r = json(&out)["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        r.contains("keyCompromise") && r.contains("no time-stamp"),
        "{r}"
    );

    // Signed after the revocation: invalid.
    std::thread::sleep(std::time::Duration::from_secs(1));
    let late_doc = fx.env.path("late.txt");
    std::fs::write(&late_doc, "後の文書\n").expect("doc");
    let late = fx.sign(&s, &late_doc, true, &["-cades"]);
    let out = fx.verify(&late, &crl_args);
    assert_eq!(out.status.code(), Some(1));
    let r = json(&out)["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(r.contains("was revoked") && r.contains("not after"), "{r}");

    // Without revocation data, revocation is said not to be checked.
    let out = fx.verify(&plain, &[]);
    assert_ok(&out, "no revocation data");
    assert!(
        json(&out)["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("not checked")
    );
}

#[test]
fn a_revocation_for_another_reason_after_the_signing_time_leaves_it_valid() {
    let fx = Fixture::new();
    let doc = fx.env.path("notice.txt");
    std::fs::write(&doc, "通知\n").expect("doc");
    let s = fx.signer("moved", KeyKind::Rsa(2048));
    let sig = fx.sign(&s, &doc, false, &["-cades"]);
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_ok(
        &fx.env.lgpki(&[
            "revoke",
            "--serial",
            &s.serial,
            "--reason",
            "affiliationChanged",
        ]),
        "revoke",
    );
    let crls = fx.crls();
    let mut args: Vec<&str> = crls.iter().map(String::as_str).collect();
    args.extend_from_slice(&["--content", p(&doc)]);
    let out = fx.verify(&sig, &args);
    assert_ok(&out, "revoked later, affiliationChanged");
    let v = json(&out);
    assert_eq!(v["time_source"], "signing-time", "{v}");
    assert!(
        v["signing_time"].as_str().unwrap_or_default()
            < v["revocation"][0]["revoked_at"]
                .as_str()
                .unwrap_or_default(),
        "{v}"
    );
}

#[test]
fn fetch_reads_the_crls_named_in_the_certificates() {
    // The CDP URLs in issued certificates must point at this server: pick a free port first.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let env = common::Env::init(&["--base-url", &base]);
    let listen = format!("127.0.0.1:{port}");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_lgpki"))
        .arg("--home")
        .arg(&env.home)
        .args(["serve", "--listen", &listen, "--ra-listen", "127.0.0.1:0"])
        .stderr(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn serve");
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _guard = Kill(child_take(&mut child));
    let up = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        std::net::TcpStream::connect(&listen).is_ok()
    });
    assert!(up, "serve did not come up");
    let (root, chain) = env.chain_files("organization");
    let dir = env.dir.path();
    let csr = common::make_csr(dir, "f", KeyKind::P256, "/C=JP/O=LGPKI/OU=港区/CN=f", &[]);
    let cert = env.path("f.pem");
    let out = env.lgpki(&[
        "--json",
        "issue",
        "--profile",
        "official-position",
        "--csr",
        p(&csr),
        "--out",
        p(&cert),
    ]);
    assert_ok(&out, "issue");
    let serial = json(&out)["serial"].as_str().expect("serial").to_string();
    let doc = env.path("d.txt");
    std::fs::write(&doc, "fetch\n").expect("doc");
    let sig = env.path("d.p7");
    openssl_ok(&[
        "cms",
        "-sign",
        "-binary",
        "-nodetach",
        "-cades",
        "-in",
        p(&doc),
        "-signer",
        p(&cert),
        "-inkey",
        p(&dir.join("f.key")),
        "-outform",
        "DER",
        "-out",
        p(&sig),
    ]);
    let verify = || {
        env.lgpki(&[
            "--json",
            "verify-signature",
            p(&sig),
            "--trust",
            p(&root),
            "--untrusted",
            p(&chain),
            "--fetch",
        ])
    };
    let out = verify();
    assert_ok(&out, "fetch");
    let v = json(&out);
    assert_eq!(v["revocation"][0]["source"], "crl", "{v}");
    assert!(
        v["revocation"][0]["url"]
            .as_str()
            .unwrap_or_default()
            .starts_with(&base),
        "{v}"
    );
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_ok(
        &env.lgpki(&["revoke", "--serial", &serial, "--reason", "keyCompromise"]),
        "revoke",
    );
    // serve publishes the revocation in its next CRL: poll for it.
    let mut out = verify();
    for _ in 0..50 {
        if out.status.code() == Some(1) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
        out = verify();
    }
    assert_eq!(out.status.code(), Some(1), "{}", json(&out));
    assert!(
        json(&out)["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("keyCompromise")
    );
}

fn child_take(c: &mut std::process::Child) -> std::process::Child {
    // Moves the child out so that the guard owns it.
    std::mem::replace(
        c,
        std::process::Command::new("true")
            .spawn()
            .expect("spawn true"),
    )
}
