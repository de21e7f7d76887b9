//! Authority revocation lists (RFC 5280 §5.2.5, onlyContainsCACerts): revoking a CA certificate
//! or a cross-certificate puts it in its issuer's ARL (`crl --ca NAME --arl`), and nothing
//! else goes there. Checked with `openssl crl -verify`, `openssl verify -crl_check_all` (a
//! revoked sub-CA fails the chain below it; the ARL does not cover end-entity certificates),
//! `lgpki verify --crl`, and pkilint's `lint_crl -t ARL`.
//!
//! The CAs under test are made here (`ca create … --parent bridge`), so the test holds for any
//! default hierarchy in which `bridge` may issue CA certificates.

mod common;

use std::path::{Path, PathBuf};

use common::{Env, KeyKind, assert_ok, json_lines, make_csr, openssl};

fn json(env: &Env, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = env.lgpki(&all);
    assert_ok(&out, &format!("{args:?}"));
    json_lines(&out.stdout).remove(0)
}

fn ca_create(env: &Env, name: &str, parent: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "ca",
        "create",
        name,
        "--parent",
        parent,
        "--profile",
        "staff",
    ];
    args.extend_from_slice(extra);
    json(env, &args)["serial"]
        .as_str()
        .expect("serial")
        .to_string()
}

fn issue_staff_from(env: &Env, ca: &str, cn: &str) -> (String, PathBuf) {
    let csr = make_csr(
        env.dir.path(),
        cn,
        KeyKind::P256,
        &format!("/C=JP/O=LGPKI/OU=千代田区/CN={cn}"),
        &[],
    );
    let pem = env.path(&format!("{cn}.pem"));
    let v = json(
        env,
        &[
            "issue",
            "--profile",
            "staff",
            "--ca",
            ca,
            "--csr",
            csr.to_str().expect("utf8"),
            "--out",
            pem.to_str().expect("utf8"),
        ],
    );
    (v["serial"].as_str().expect("serial").to_string(), pem)
}

fn revoke(env: &Env, serial: &str, ca: &str) {
    let out = env.lgpki(&[
        "revoke",
        "--serial",
        serial,
        "--ca",
        ca,
        "--reason",
        "keyCompromise",
    ]);
    assert_ok(&out, "revoke");
}

/// Writes `crl --ca NAME [--arl] --pem` to FILE and returns its path.
fn crl(env: &Env, ca: &str, arl: bool, file: &str) -> PathBuf {
    let p = env.path(file);
    let mut args = vec![
        "crl",
        "--ca",
        ca,
        "--pem",
        "--out",
        p.to_str().expect("utf8"),
    ];
    if arl {
        args.push("--arl");
    }
    assert_ok(&env.lgpki(&args), &format!("crl {args:?}"));
    p
}

fn text(p: &Path) -> String {
    let out = openssl(&["crl", "-in", p.to_str().expect("utf8"), "-noout", "-text"]);
    assert!(out.status.success(), "openssl crl -text");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The serials a CRL lists, upper-case hex as OpenSSL prints them.
fn listed(p: &Path) -> Vec<String> {
    text(p)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Serial Number: "))
        .map(|s| s.trim().to_ascii_uppercase())
        .collect()
}

fn crl_number(p: &Path) -> String {
    let out = openssl(&[
        "crl",
        "-in",
        p.to_str().expect("utf8"),
        "-noout",
        "-crlnumber",
    ]);
    assert!(out.status.success(), "openssl crl -crlnumber");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .trim_start_matches("crlNumber=")
        .trim_start_matches("0x")
        .to_string()
}

fn upper(serial: &str) -> String {
    serial.trim_start_matches("00").to_ascii_uppercase()
}

fn ca_pem(env: &Env, name: &str) -> PathBuf {
    let out = env.lgpki(&["ca", "cert", name]);
    assert_ok(&out, "ca cert");
    let p = env.path(&format!("ca-{name}.pem"));
    std::fs::write(&p, &out.stdout).expect("write");
    p
}

/// `openssl crl -verify` with the issuing CA's certificate: the signature holds.
fn assert_signed_by(crl: &Path, ca: &Path) {
    let out = openssl(&[
        "crl",
        "-in",
        crl.to_str().expect("utf8"),
        "-CAfile",
        ca.to_str().expect("utf8"),
        "-verify",
        "-noout",
    ]);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && all.contains("verify OK"),
        "openssl crl -verify: {all}"
    );
}

fn lint_arl(p: &Path) {
    common::assert_pkilint("lint_crl", &["-t", "ARL", "-p", "PKIX"], p);
}

/// The PEM blocks of a file, each as its own string.
fn pem_blocks(pem: &str) -> Vec<String> {
    pem.split_inclusive("-----END CERTIFICATE-----\n")
        .filter(|b| b.contains("BEGIN CERTIFICATE"))
        .map(str::to_string)
        .collect()
}

/// `openssl verify -x509_strict -crl_check_all` of LEAF with the chain of CA `ca` (its last,
/// self-signed certificate the anchor) and CRLS; (success, output).
fn openssl_verify(env: &Env, ca: &str, leaf: &Path, crls: &[&Path]) -> (bool, String) {
    let out = env.lgpki(&["ca", "cert", ca, "--chain"]);
    assert_ok(&out, "ca cert --chain");
    let blocks = pem_blocks(&String::from_utf8_lossy(&out.stdout));
    let (anchor, rest) = blocks.split_last().expect("a chain");
    let anchor_p = env.path("anchor.pem");
    let untrusted_p = env.path("untrusted.pem");
    let crls_p = env.path("crls.pem");
    std::fs::write(&anchor_p, anchor).expect("write");
    std::fs::write(&untrusted_p, rest.concat()).expect("write");
    let mut all = String::new();
    for c in crls {
        all.push_str(&std::fs::read_to_string(c).expect("crl"));
    }
    std::fs::write(&crls_p, all).expect("write");
    let out = openssl(&[
        "verify",
        "-x509_strict",
        "-crl_check_all",
        "-CAfile",
        anchor_p.to_str().expect("utf8"),
        "-untrusted",
        untrusted_p.to_str().expect("utf8"),
        "-CRLfile",
        crls_p.to_str().expect("utf8"),
        leaf.to_str().expect("utf8"),
    ]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The names of CA `ca` and of the CAs above it, from `ca list --json`.
fn ancestry(env: &Env, ca: &str) -> Vec<String> {
    let out = env.lgpki(&["--json", "ca", "list"]);
    assert_ok(&out, "ca list");
    let cas = json_lines(&out.stdout);
    let mut names = vec![ca.to_string()];
    loop {
        let last = names.last().expect("one").clone();
        let parent = cas
            .iter()
            .find(|c| c["name"] == last.as_str())
            .and_then(|c| c["parent"].as_str())
            .map(str::to_string);
        match parent {
            Some(p) if !names.contains(&p) => names.push(p),
            _ => return names,
        }
    }
}

#[test]
fn a_revoked_sub_ca_is_in_its_issuers_arl_and_fails_the_chain_below_it() {
    let env = Env::init(&[]);
    // sub-a (under bridge) issues staff certificates and one CA, sub-b.
    ca_create(&env, "sub-a", "bridge", &[]);
    let sub_b = ca_create(&env, "sub-b", "sub-a", &["--path-len", "0"]);
    let (_, leaf_b) = issue_staff_from(&env, "sub-b", "leaf-b");
    let (leaf_a_serial, leaf_a) = issue_staff_from(&env, "sub-a", "leaf-a");

    // Every CA above sub-a gets its own CRL; sub-a is covered by its ARL only.
    let above: Vec<PathBuf> = ancestry(&env, "sub-a")[1..]
        .iter()
        .map(|n| crl(&env, n, false, &format!("{n}.crl.pem")))
        .collect();
    let sub_b_crl = crl(&env, "sub-b", false, "sub-b.crl.pem");
    let arl_before = crl(&env, "sub-a", true, "sub-a.arl1.pem");
    assert!(listed(&arl_before).is_empty(), "nothing revoked yet");
    let mut crls: Vec<&Path> = above.iter().map(PathBuf::as_path).collect();
    crls.push(&sub_b_crl);
    crls.push(&arl_before);
    let (ok, out) = openssl_verify(&env, "sub-b", &leaf_b, &crls);
    assert!(ok, "before the revocation the chain is good: {out}");

    // sub-b's certificate and an end-entity certificate of sub-a are revoked.
    revoke(&env, &sub_b, "sub-a");
    revoke(&env, &leaf_a_serial, "sub-a");
    let arl = crl(&env, "sub-a", true, "sub-a.arl2.pem");
    let full = crl(&env, "sub-a", false, "sub-a.full.pem");
    assert_eq!(
        listed(&arl),
        vec![upper(&sub_b)],
        "the ARL lists the revoked CA certificate and nothing else"
    );
    let mut in_full = listed(&full);
    in_full.sort();
    let mut want = vec![upper(&sub_b), upper(&leaf_a_serial)];
    want.sort();
    assert_eq!(in_full, want, "the complete CRL lists both");
    let t = text(&arl);
    assert!(
        t.contains("Issuing Distribution Point: critical") && t.contains("Only CA Certificates"),
        "the ARL's issuingDistributionPoint says onlyContainsCACerts: {t}"
    );
    assert_eq!(
        (crl_number(&arl_before), crl_number(&arl)),
        ("01".to_string(), "02".to_string()),
        "the ARL's own sequence of CRL numbers (RFC 5280 §5.2.3)"
    );
    let sub_a_pem = ca_pem(&env, "sub-a");
    assert_signed_by(&arl, &sub_a_pem);
    assert_signed_by(&full, &sub_a_pem);
    lint_arl(&arl);
    lint_arl(&arl_before);
    common::assert_pkilint("lint_crl", &["-t", "CRL", "-p", "PKIX"], &full);

    // The revoked sub-CA fails the chain below it, on the ARL alone.
    let mut crls: Vec<&Path> = above.iter().map(PathBuf::as_path).collect();
    crls.push(&sub_b_crl);
    crls.push(&arl);
    let (ok, out) = openssl_verify(&env, "sub-b", &leaf_b, &crls);
    assert!(
        !ok && out.contains("certificate revoked"),
        "openssl refuses the chain through the revoked sub-CA: {out}"
    );
    // lgpki verify agrees.
    let anchor = env.path("anchor.pem");
    let untrusted = env.path("untrusted.pem");
    let crls_file = env.path("crls.pem");
    let v = env.lgpki(&[
        "--json",
        "verify",
        leaf_b.to_str().expect("utf8"),
        "--trust",
        anchor.to_str().expect("utf8"),
        "--untrusted",
        untrusted.to_str().expect("utf8"),
        "--crl",
        crls_file.to_str().expect("utf8"),
    ]);
    assert_eq!(v.status.code(), Some(1), "lgpki verify: revoked");
    let j = json_lines(&v.stdout).remove(0);
    assert_eq!(j["valid"], false);
    assert!(
        j["reason"].as_str().unwrap_or_default().contains("revoked"),
        "lgpki verify names the revocation: {j}"
    );

    // The ARL does not speak for end-entity certificates: with only the ARL of sub-a, the
    // CRL's scope differs for sub-a's leaf (OpenSSL: "different CRL scope"), and with the
    // complete CRL it is revoked.
    let mut crls: Vec<&Path> = above.iter().map(PathBuf::as_path).collect();
    crls.push(&arl);
    let (ok, out) = openssl_verify(&env, "sub-a", &leaf_a, &crls);
    assert!(
        !ok && out.contains("different CRL scope"),
        "an ARL is out of scope for an end-entity certificate: {out}"
    );
    let mut crls: Vec<&Path> = above.iter().map(PathBuf::as_path).collect();
    crls.push(&full);
    let (ok, out) = openssl_verify(&env, "sub-a", &leaf_a, &crls);
    assert!(!ok && out.contains("certificate revoked"), "{out}");
}

/// A self-signed CA made by OpenSSL: (certificate, key).
fn other_ca(env: &Env, name: &str, cn: &str) -> (PathBuf, PathBuf) {
    let key = common::make_key(env.dir.path(), name, KeyKind::P256);
    let cert = env.path(&format!("{name}.pem"));
    let out = openssl(&[
        "req",
        "-new",
        "-x509",
        "-key",
        key.to_str().expect("utf8"),
        "-subj",
        &format!("/C=JP/O=Other/CN={cn}"),
        "-days",
        "3650",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-addext",
        "subjectKeyIdentifier=hash",
        "-out",
        cert.to_str().expect("utf8"),
    ]);
    assert!(out.status.success(), "openssl req -x509");
    (cert, key)
}

#[test]
fn a_revoked_cross_certificate_is_in_the_bridge_arl() {
    let env = Env::init(&[]);
    let (other, _) = other_ca(&env, "other", "Other Bridge CA");
    let out_p = env.path("cross.pem");
    let v = json(
        &env,
        &[
            "cross-certify",
            "--ca",
            "bridge",
            "--subject-cert",
            other.to_str().expect("utf8"),
            "--out",
            out_p.to_str().expect("utf8"),
        ],
    );
    let serial = v["serial"].as_str().expect("serial").to_string();
    revoke(&env, &serial, "bridge");
    let arl = crl(&env, "bridge", true, "bridge.arl.pem");
    assert!(
        listed(&arl).contains(&upper(&serial)),
        "the revoked cross-certificate is in the bridge's ARL"
    );
    let t = text(&arl);
    assert!(t.contains("Only CA Certificates"), "{t}");
    assert_signed_by(&arl, &ca_pem(&env, "bridge"));
    lint_arl(&arl);

    // A CA that issues end-entity certificates: its ARL leaves them out.
    let (staff, _) = issue_staff_from(&env, "organization", "taro");
    revoke(&env, &staff, "organization");
    let org_arl = crl(&env, "organization", true, "org.arl.pem");
    assert!(
        !listed(&org_arl).contains(&upper(&staff)),
        "a revoked end-entity certificate is not in the ARL"
    );
    assert!(text(&org_arl).contains("Only CA Certificates"));
    assert_signed_by(&org_arl, &ca_pem(&env, "organization"));
    lint_arl(&org_arl);
    let org_crl = crl(&env, "organization", false, "org.crl.pem");
    assert!(listed(&org_crl).contains(&upper(&staff)));

    // --arl and --delta do not go together; an unknown CA is an input error.
    let o = env.lgpki(&["crl", "--ca", "bridge", "--arl", "--delta", "--out", "x"]);
    assert_eq!(o.status.code(), Some(2));
    let o = env.lgpki(&["crl", "--ca", "nope", "--arl", "--out", "x"]);
    assert_ne!(o.status.code(), Some(0));
}
