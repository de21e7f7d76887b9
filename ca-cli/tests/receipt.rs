//! `lgpki receipt create` / `receipt verify`: sanitisation receipts end to end, checked by
//! `openssl cms -verify`, `openssl ts -verify` and pkilint.

mod common;
mod sig_common;

use common::{KeyKind, assert_ok, assert_pkilint_clean, openssl, openssl_ok};
use sig_common::{Fixture, Signer, json, p};

/// The gateway's `sanitiser` certificate (issued by the organization CA) and a PEM with it and
/// its chain.
fn gateway(fx: &Fixture) -> (Signer, std::path::PathBuf) {
    let gw = fx.issue("gateway-1", KeyKind::P256, "sanitiser");
    assert_pkilint_clean(&gw.cert);
    let text = openssl_ok(&["x509", "-in", p(&gw.cert), "-noout", "-text"]);
    assert!(text.contains("1.2.392.200149.8.5.5.12"), "{text}");
    assert!(text.contains("LGPKI Organization CA"), "{text}");
    let both = fx.env.path("gateway-chain.pem");
    let mut pem = std::fs::read(&gw.cert).expect("cert");
    pem.extend(std::fs::read(&fx.chain).expect("chain"));
    std::fs::write(&both, pem).expect("write");
    (gw, both)
}

/// What a sanitiser does: strip the "macro" line and rewrite the file.
fn sanitise(fx: &Fixture, original: &std::path::Path, name: &str) -> std::path::PathBuf {
    let text = std::fs::read_to_string(original).expect("original");
    let clean: String = text
        .lines()
        .filter(|l| !l.starts_with("MACRO"))
        .map(|l| format!("{l}\r\n"))
        .collect();
    let out = fx.env.path(name);
    std::fs::write(&out, clean).expect("sanitised");
    out
}

fn create(
    fx: &Fixture,
    (gw, gw_chain): &(Signer, std::path::PathBuf),
    original: &std::path::Path,
    signature: Option<&std::path::Path>,
    sanitised: &std::path::Path,
    out: &std::path::Path,
    extra: &[&str],
) -> std::process::Output {
    let mut args = vec![
        "--json",
        "receipt",
        "create",
        "--original",
        p(original),
        "--sanitised",
        p(sanitised),
        "--key",
        p(&gw.key),
        "--cert",
        p(gw_chain),
        "--trust",
        p(&fx.root),
        "--trust",
        p(&fx.tsa.root),
        "--untrusted",
        p(&fx.chain),
        "--tsa",
        &fx.tsa.url,
        "--out",
        p(out),
    ];
    if let Some(s) = signature {
        args.extend_from_slice(&["--signature", p(s)]);
    }
    args.extend_from_slice(extra);
    fx.env.lgpki(&args)
}

fn verify(
    fx: &Fixture,
    receipt: &std::path::Path,
    sanitised: &std::path::Path,
) -> std::process::Output {
    fx.env.lgpki(&[
        "--json",
        "receipt",
        "verify",
        p(receipt),
        "--sanitised",
        p(sanitised),
        "--trust",
        p(&fx.root),
        "--trust",
        p(&fx.tsa.root),
    ])
}

#[test]
fn receipts_bind_original_signature_and_sanitised_copy() {
    let fx = Fixture::new();
    let gw = gateway(&fx);
    let original = fx.env.path("application.txt");
    std::fs::write(&original, "申請書\nMACRO AutoOpen()\n氏名: 山田太郎\n").expect("doc");
    let crls = fx.crls();
    let crl_args: Vec<&str> = crls.iter().map(String::as_str).collect();
    for (kind, key) in [("rsa", KeyKind::Rsa(2048)), ("ec", KeyKind::P256)] {
        let s = fx.signer(&format!("applicant-{kind}"), key);
        let crls = fx.crls();
        let crl_args: Vec<&str> = crls.iter().map(String::as_str).collect();
        for attached in [true, false] {
            let sig = fx.sign(&s, &original, attached, &["-cades"]);
            let sanitised = sanitise(&fx, &original, &format!("clean-{kind}-{attached}.txt"));
            let receipt = fx.env.path(&format!("receipt-{kind}-{attached}.p7"));
            let (orig, signature) = if attached {
                (sig.as_path(), None)
            } else {
                (original.as_path(), Some(sig.as_path()))
            };
            let out = create(&fx, &gw, orig, signature, &sanitised, &receipt, &crl_args);
            assert_ok(&out, &format!("receipt create {kind} attached={attached}"));
            let v = json(&out);
            assert_eq!(v["receipt"]["serial"], s.serial.as_str(), "{v}");
            assert!(v["timestamp"]["time"].is_string(), "{v}");

            // openssl verifies the receipt's signature to the LGPKI root.
            let content = fx.env.path("receipt-content.der");
            let o = openssl(&[
                "cms",
                "-verify",
                "-inform",
                "DER",
                "-in",
                p(&receipt),
                "-CAfile",
                p(&fx.root),
                "-out",
                p(&content),
            ]);
            assert!(
                o.status.success()
                    && String::from_utf8_lossy(&o.stderr).contains("Verification successful"),
                "openssl cms -verify: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            let dump = openssl_ok(&["asn1parse", "-inform", "DER", "-in", p(&content)]);
            assert!(
                dump.contains("applicant"),
                "the signer's certificate is inside"
            );

            // The receipt's time-stamp token verifies with openssl ts over the signature value.
            check_token_with_openssl(&fx, &receipt);

            let out = verify(&fx, &receipt, &sanitised);
            assert_ok(&out, "receipt verify");
            let v = json(&out);
            assert_eq!(v["valid"], true, "{v}");
            assert_eq!(v["original"]["serial"], s.serial.as_str(), "{v}");
            assert_eq!(v["original"]["result"], "valid", "{v}");
            assert!(
                v["receipt"]["signer"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("gateway-1"),
                "{v}"
            );
            assert!(v["receipt"]["timestamp"]["time"].is_string(), "{v}");
            assert_eq!(
                v["original"]["signature_sha256"].is_string(),
                !attached,
                "{v}"
            );
            // Text mode says what the original signature said.
            let text = fx.env.lgpki(&[
                "receipt",
                "verify",
                p(&receipt),
                "--sanitised",
                p(&sanitised),
                "--trust",
                p(&fx.root),
                "--trust",
                p(&fx.tsa.root),
            ]);
            assert_ok(&text, "receipt verify (text)");
            let t = String::from_utf8_lossy(&text.stdout);
            assert!(t.contains("the original signature said: valid"), "{t}");
            assert!(t.contains(&s.serial), "{t}");

            // Another file is refused; so is the original itself.
            for wrong in [original.as_path(), sig.as_path()] {
                let out = verify(&fx, &receipt, wrong);
                assert_eq!(out.status.code(), Some(1), "{}", json(&out));
                assert!(
                    json(&out)["reason"]
                        .as_str()
                        .unwrap_or_default()
                        .contains("not the sanitised file"),
                    "{}",
                    json(&out)
                );
            }
        }
    }
    // A tampered receipt does not verify (a byte of its content changed).
    let receipt = fx.env.path("receipt-ec-true.p7");
    let mut der = std::fs::read(&receipt).expect("receipt");
    let at = der
        .windows(b"applicant".len())
        .position(|w| w == b"applicant")
        .expect("name inside");
    der[at] ^= 0x20;
    let tampered = fx.env.path("tampered.p7");
    std::fs::write(&tampered, der).expect("write");
    let out = verify(&fx, &tampered, &fx.env.path("clean-ec-true.txt"));
    assert_eq!(out.status.code(), Some(1), "{}", json(&out));
    // Without the trust anchor of the TSA, the receipt's time-stamp does not verify.
    let out = fx.env.lgpki(&[
        "--json",
        "receipt",
        "verify",
        p(&receipt),
        "--sanitised",
        p(&fx.env.path("clean-ec-true.txt")),
        "--trust",
        p(&fx.root),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", json(&out));
    assert!(
        json(&out)["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("time-stamp"),
        "{}",
        json(&out)
    );
    let _ = crl_args;
}

/// Extracts the receipt's signature value and its signatureTimeStampToken and has
/// `openssl ts -verify` check the token over the value, to the TSA root.
fn check_token_with_openssl(fx: &Fixture, receipt: &std::path::Path) {
    let dump = openssl_ok(&[
        "cms",
        "-cmsout",
        "-inform",
        "DER",
        "-in",
        p(receipt),
        "-noout",
        "-print",
    ]);
    assert!(
        dump.contains("id-smime-aa-timeStampToken") || dump.contains("1.2.840.113549.1.9.16.2.14"),
        "{dump}"
    );
    // The token is the value of the unsigned attribute: find it by parsing offsets.
    let parse = openssl_ok(&["asn1parse", "-inform", "DER", "-in", p(receipt)]);
    let lines: Vec<&str> = parse.lines().collect();
    let i = lines
        .iter()
        .position(|l| l.contains(":id-smime-aa-timeStampToken"))
        .expect("token attribute");
    // The SET and then the token's ContentInfo SEQUENCE follow the attribute's OID.
    let token_line = lines[i + 2];
    let off: usize = token_line
        .split(':')
        .next()
        .expect("offset")
        .trim()
        .parse()
        .expect("num");
    let der = std::fs::read(receipt).expect("receipt");
    let hl: usize = token_line
        .split("hl=")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .expect("hl");
    let l: usize = token_line
        .split(" l=")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .expect("l");
    let token = fx.env.path("token.der");
    std::fs::write(&token, &der[off..off + hl + l]).expect("token");
    // The signature value: the OCTET STRING just before the unsigned attributes.
    let sig_line = lines[..i]
        .iter()
        .rev()
        .find(|l| l.contains("OCTET STRING"))
        .expect("signature");
    let off: usize = sig_line
        .split(':')
        .next()
        .expect("o")
        .trim()
        .parse()
        .expect("n");
    let hl: usize = sig_line
        .split("hl=")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .expect("hl");
    let l: usize = sig_line
        .split(" l=")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .expect("l");
    let value = fx.env.path("sigvalue.bin");
    std::fs::write(&value, &der[off + hl..off + hl + l]).expect("value");
    let o = openssl(&[
        "ts",
        "-verify",
        "-data",
        p(&value),
        "-in",
        p(&token),
        "-token_in",
        "-CAfile",
        p(&fx.tsa.root),
        "-untrusted",
        p(&fx.tsa.cert),
    ]);
    assert!(
        o.status.success() && String::from_utf8_lossy(&o.stdout).contains("OK"),
        "openssl ts -verify: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn no_receipt_for_an_invalid_signature_or_a_signer_revoked_before_signing() {
    let fx = Fixture::new();
    let gw = gateway(&fx);
    let original = fx.env.path("contract.txt");
    std::fs::write(&original, "契約書\nMACRO x\n").expect("doc");
    let s = fx.signer("signer", KeyKind::P256);
    let sanitised = sanitise(&fx, &original, "clean.txt");

    // Detached signature over another file: invalid, no receipt.
    let sig = fx.sign(&s, &original, false, &["-cades"]);
    let receipt = fx.env.path("r1.p7");
    let out = create(&fx, &gw, &sanitised, Some(&sig), &sanitised, &receipt, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("message digest mismatch"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!receipt.exists(), "nothing written");

    // Revoked for keyCompromise, then signing: no receipt.
    assert_ok(
        &fx.env
            .lgpki(&["revoke", "--serial", &s.serial, "--reason", "keyCompromise"]),
        "revoke",
    );
    std::thread::sleep(std::time::Duration::from_secs(2));
    let late = fx.sign(&s, &original, true, &["-cades"]);
    let crls = fx.crls();
    let crl_args: Vec<&str> = crls.iter().map(String::as_str).collect();
    let receipt = fx.env.path("r2.p7");
    let out = create(&fx, &gw, &late, None, &sanitised, &receipt, &crl_args);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("keyCompromise") && err.contains("revoked"),
        "{err}"
    );
    assert!(!receipt.exists(), "nothing written");

    // A gateway certificate of another profile cannot sign receipts.
    let other = fx.issue("not-a-gateway", KeyKind::P256, "staff");
    let other_cert = other.cert.clone();
    let other = (other, other_cert);
    let good = fx.signer("good", KeyKind::P256);
    let sig = fx.sign(&good, &original, true, &["-cades"]);
    let out = create(&fx, &other, &sig, None, &sanitised, &receipt, &[]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!receipt.exists(), "nothing written");
}

#[test]
fn a_signer_revoked_after_a_time_stamp_still_gets_a_receipt_with_the_times() {
    let fx = Fixture::new();
    let gw = gateway(&fx);
    let original = fx.env.path("order.txt");
    std::fs::write(&original, "命令書\n").expect("doc");
    let s = fx.signer("chief", KeyKind::Rsa(2048));
    let sig = fx.sign(&s, &original, true, &["-cades"]);
    let stamped = fx.env.path("order.ts.p7");
    assert_ok(
        &fx.env.lgpki(&[
            "timestamp-signature",
            p(&sig),
            "--tsa",
            &fx.tsa.url,
            "--out",
            p(&stamped),
        ]),
        "timestamp-signature",
    );
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_ok(
        &fx.env
            .lgpki(&["revoke", "--serial", &s.serial, "--reason", "keyCompromise"]),
        "revoke",
    );
    let crls = fx.crls();
    let crl_args: Vec<&str> = crls.iter().map(String::as_str).collect();
    let sanitised = sanitise(&fx, &original, "clean.txt");
    let receipt = fx.env.path("r.p7");
    let out = create(&fx, &gw, &stamped, None, &sanitised, &receipt, &crl_args);
    assert_ok(
        &out,
        "receipt for a signature time-stamped before the revocation",
    );
    let out = verify(&fx, &receipt, &sanitised);
    assert_ok(&out, "verify");
    let v = json(&out);
    let o = &v["original"];
    assert_eq!(o["time_source"], "timestamp", "{v}");
    let ts = o["timestamp"].as_str().expect("timestamp");
    let line = o["revocation"][0].as_str().unwrap_or_default();
    assert!(
        line.contains("revoked at") && line.contains("keyCompromise"),
        "{line}"
    );
    assert!(line.contains(ts), "the time-stamp time is stated: {line}");
}

#[test]
fn the_gateway_key_may_live_in_a_pkcs11_token() {
    let fx = Fixture::new();
    let gw = gateway(&fx);
    // A private SoftHSM2 token holding the gateway's key pair (imported with pkcs11-tool).
    let dir = fx.env.path("hsm");
    std::fs::create_dir_all(dir.join("tokens")).expect("dir");
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            dir.join("tokens").display()
        ),
    )
    .expect("conf");
    let module = common::SOFTHSM_MODULE;
    let run = |cmd: &str, args: &[&str]| {
        let out = std::process::Command::new(cmd)
            .args(args)
            .env("SOFTHSM2_CONF", &conf)
            .output()
            .unwrap_or_else(|e| panic!("{cmd}: {e}"));
        assert_ok(&out, cmd);
    };
    run(
        "softhsm2-util",
        &[
            "--init-token",
            "--free",
            "--label",
            "gw",
            "--so-pin",
            "12345678",
            "--pin",
            "24681357",
        ],
    );
    let p8 = dir.join("gw.p8");
    let spki = dir.join("gw.spki");
    openssl_ok(&[
        "pkcs8",
        "-topk8",
        "-nocrypt",
        "-in",
        p(&gw.0.key),
        "-outform",
        "DER",
        "-out",
        p(&p8),
    ]);
    openssl_ok(&[
        "pkey",
        "-in",
        p(&gw.0.key),
        "-pubout",
        "-outform",
        "DER",
        "-out",
        p(&spki),
    ]);
    for (file, kind) in [(&p8, "privkey"), (&spki, "pubkey")] {
        run(
            "pkcs11-tool",
            &[
                "--module",
                module,
                "--token-label",
                "gw",
                "--login",
                "--pin",
                "24681357",
                "--write-object",
                p(file),
                "--type",
                kind,
                "--id",
                "0a",
                "--label",
                "gateway",
            ],
        );
    }
    let pin = dir.join("pin");
    std::fs::write(&pin, "24681357").expect("pin");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&pin, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let uri = format!(
        "pkcs11:token=gw;object=gateway;id=%0a?module-path={module}&pin-source=file:{}",
        p(&pin)
    );

    let original = fx.env.path("doc.txt");
    std::fs::write(&original, "文書\nMACRO y\n").expect("doc");
    let s = fx.signer("hsm-signer", KeyKind::P256);
    let sig = fx.sign(&s, &original, true, &["-cades"]);
    let sanitised = sanitise(&fx, &original, "clean.txt");
    let receipt = fx.env.path("r.p7");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lgpki"))
        .arg("--home")
        .arg(&fx.env.home)
        .args([
            "receipt",
            "create",
            "--original",
            p(&sig),
            "--sanitised",
            p(&sanitised),
            "--key-uri",
            &uri,
            "--cert",
            p(&gw.1),
            "--trust",
            p(&fx.root),
            "--trust",
            p(&fx.tsa.root),
            "--tsa",
            &fx.tsa.url,
            "--out",
            p(&receipt),
        ])
        .env("SOFTHSM2_CONF", &conf)
        .output()
        .expect("lgpki");
    assert_ok(&out, "receipt create with a PKCS#11 key");
    openssl_ok(&[
        "cms",
        "-verify",
        "-inform",
        "DER",
        "-in",
        p(&receipt),
        "-CAfile",
        p(&fx.root),
        "-out",
        "/dev/null",
    ]);
    assert_ok(&verify(&fx, &receipt, &sanitised), "receipt verify");
}
