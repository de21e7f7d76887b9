//! Issue 12 item 5: any X.660 OID. Under arc 2 the second arc may exceed 39 (`2.999.1.1.1`,
//! first subidentifier 1079, two octets: X.690 §8.19.4). A certificate made by OpenSSL with
//! such a policy validates in `lgpki verify --policy 2.999.1.1.1 --explicit-policy` exactly
//! when `openssl verify -policy 2.999.1.1.1 -explicit_policy` accepts it.

mod common;

use std::path::Path;

use common::{Env, KeyKind, assert_ok, make_key, openssl, openssl_ok};

/// A root CA and a leaf asserting `policy`, both made by OpenSSL. Returns (root, leaf).
fn openssl_chain(dir: &Path, policy: &str) -> (String, String) {
    openssl_chain_with(dir, policy, "")
}

/// As [`openssl_chain`], with `extra` lines in the leaf's extfile.
fn openssl_chain_with(dir: &Path, policy: &str, extra: &str) -> (String, String) {
    let p = |n: &str| dir.join(n).display().to_string();
    let root_key = make_key(dir, "x660-root", KeyKind::P256);
    openssl_ok(&[
        "req",
        "-x509",
        "-new",
        "-key",
        root_key.to_str().expect("utf8"),
        "-subj",
        "/C=JP/O=X660 Test/CN=X660 Root",
        "-days",
        "365",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-out",
        &p("x660-root.pem"),
    ]);
    let leaf_key = make_key(dir, "x660-leaf", KeyKind::P256);
    openssl_ok(&[
        "req",
        "-new",
        "-key",
        leaf_key.to_str().expect("utf8"),
        "-subj",
        "/C=JP/O=X660 Test/CN=X660 Leaf",
        "-out",
        &p("x660-leaf.csr"),
    ]);
    std::fs::write(
        dir.join("x660.ext"),
        format!(
            "basicConstraints=critical,CA:FALSE\n\
             keyUsage=critical,digitalSignature\n\
             certificatePolicies={policy}\n\
             subjectKeyIdentifier=hash\n\
             authorityKeyIdentifier=keyid\n{extra}"
        ),
    )
    .expect("extfile");
    openssl_ok(&[
        "x509",
        "-req",
        "-in",
        &p("x660-leaf.csr"),
        "-CA",
        &p("x660-root.pem"),
        "-CAkey",
        root_key.to_str().expect("utf8"),
        "-set_serial",
        "0x1234567890",
        "-days",
        "30",
        "-extfile",
        &p("x660.ext"),
        "-out",
        &p("x660-leaf.pem"),
    ]);
    (p("x660-root.pem"), p("x660-leaf.pem"))
}

#[test]
fn policy_with_second_arc_above_39_validates_like_openssl() {
    let env = Env::new();
    let (root, leaf) = openssl_chain(env.dir.path(), "2.999.1.1.1");
    let text = openssl_ok(&["x509", "-in", &leaf, "-noout", "-text"]);
    assert!(text.contains("Policy: 2.999.1.1.1"), "{text}");

    for (asked, valid) in [("2.999.1.1.1", true), ("2.999.1.1.2", false)] {
        let ours = env.lgpki(&[
            "--json",
            "verify",
            &leaf,
            "--trust",
            &root,
            "--policy",
            asked,
            "--explicit-policy",
        ]);
        let v: serde_json::Value = serde_json::from_slice(&ours.stdout).unwrap_or_else(|e| {
            panic!(
                "verify --policy {asked}: {e}\nstderr: {}",
                String::from_utf8_lossy(&ours.stderr)
            )
        });
        let theirs = openssl(&[
            "verify",
            "-policy_check",
            "-explicit_policy",
            "-policy",
            asked,
            "-CAfile",
            &root,
            &leaf,
        ]);
        assert_eq!(v["valid"], valid, "lgpki, --policy {asked}: {v}");
        assert_eq!(
            theirs.status.success(),
            valid,
            "openssl, -policy {asked}: {}{}",
            String::from_utf8_lossy(&theirs.stdout),
            String::from_utf8_lossy(&theirs.stderr)
        );
        if valid {
            assert_eq!(ours.status.code(), Some(0));
            assert_eq!(v["policies"], serde_json::json!(["2.999.1.1.1"]), "{v}");
        } else {
            assert_eq!(ours.status.code(), Some(1), "{v}");
        }
    }
    // Without --policy: valid for anyPolicy, the certificate's policy reported.
    let out = env.lgpki(&["--json", "verify", &leaf, "--trust", &root]);
    assert_ok(&out, "verify without --policy");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["policies"], serde_json::json!(["2.999.1.1.1"]), "{v}");
}

#[test]
fn policy_flag_still_refuses_what_is_not_an_oid() {
    let env = Env::new();
    let (root, leaf) = openssl_chain(env.dir.path(), "2.999.1.1.1");
    for bad in ["3.1", "1.40.1", "2.999.x", "2..1", "1.02"] {
        let out = env.lgpki(&["verify", &leaf, "--trust", &root, "--policy", bad]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "--policy {bad}: {err}");
        assert!(err.contains("--policy"), "names the flag: {err}");
    }
}

/// An extKeyUsage purpose under arc 2 with a second arc above 39 does not make the certificate
/// unreadable: the serverAuth purpose next to it is found, as OpenSSL finds it.
#[test]
fn eku_with_second_arc_above_39_is_read() {
    let env = Env::new();
    let (root, leaf) = openssl_chain_with(
        env.dir.path(),
        "2.999.1.1.1",
        "extendedKeyUsage=serverAuth,2.999.3\nsubjectAltName=DNS:www.example.lg.jp\n",
    );
    let text = openssl_ok(&["x509", "-in", &leaf, "-noout", "-text"]);
    assert!(text.contains("2.999.3"), "{text}");
    assert_ok(
        &openssl(&["verify", "-purpose", "sslserver", "-CAfile", &root, &leaf]),
        "openssl verify -purpose sslserver",
    );
    for (purpose, valid) in [("server", true), ("client", false)] {
        let out = env.lgpki(&[
            "--json",
            "verify",
            &leaf,
            "--trust",
            &root,
            "--purpose",
            purpose,
        ]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        assert_eq!(v["valid"], valid, "--purpose {purpose}: {v}");
    }
}
