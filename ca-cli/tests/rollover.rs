//! CA key rollover (`ca renew`): generations, link certificates (RFC 4210 §4.4) and CRLs by
//! generation, checked with real peers, on the default topology's application root
//! (`application`, self-signed, signs an ARL) and its mail sub-CA (`application-mail`, re-issued
//! by the root's new key, signs the CRL of the mail certificates it issues).
//!
//! - The rollover matrix: relying parties holding only the old anchor or only the new one
//!   validate certificates issued before and after the renewal, through the link
//!   certificates, in `lgpki verify` and in `openssl verify -x509_strict -untrusted`; without
//!   the links they cannot (so the links do the work).
//! - CRLs signed by the old and by the new key verify (`openssl crl -verify`, `openssl verify
//!   -crl_check`), each carries its own key's AKI, and pkilint finds nothing in them, in the new
//!   CA certificates or in the link certificates.
//! - SoftHSM2, PostgreSQL, a store made before generations existed, kill -9 at every step of a
//!   renewal and at random moments, and bad input.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::pg::{PgCluster, pg_env};
use common::{Backend, Env, Rng, assert_ok, assert_pkilint, assert_pkilint_clean, openssl};
use serde_json::Value;

/// Runs `lgpki --json ARGS` and parses its one JSON object.
fn json(env: &Env, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = env.lgpki(&all);
    assert_ok(&out, &args.join(" "));
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

/// `ca list --json`, by name.
fn ca_list(env: &Env) -> Vec<Value> {
    let out = env.lgpki(&["--json", "ca", "list"]);
    assert_ok(&out, "ca list");
    common::json_lines(&out.stdout)
}

fn ca_entry(env: &Env, name: &str) -> Value {
    ca_list(env)
        .into_iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("CA {name} listed"))
}

/// Writes `lgpki ca cert ARGS` to `file` and returns its path.
fn save(env: &Env, args: &[&str], file: &str) -> PathBuf {
    let out = env.lgpki(args);
    assert_ok(&out, &args.join(" "));
    let p = env.path(file);
    std::fs::write(&p, &out.stdout).expect("write");
    p
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf8 path")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Concatenates files into `name`.
fn bundle(env: &Env, name: &str, files: &[&Path]) -> PathBuf {
    let mut all = Vec::new();
    for f in files {
        all.extend(std::fs::read(f).expect("read"));
    }
    let p = env.path(name);
    std::fs::write(&p, all).expect("write bundle");
    p
}

/// Splits a PEM file into one file per certificate, in order.
fn split_pem(env: &Env, file: &Path, prefix: &str) -> Vec<PathBuf> {
    let pem = std::fs::read_to_string(file).expect("read pem");
    pem.split_inclusive("-----END CERTIFICATE-----\n")
        .filter(|b| b.contains("BEGIN CERTIFICATE"))
        .enumerate()
        .map(|(i, b)| {
            let p = env.path(&format!("{prefix}{i}.pem"));
            std::fs::write(&p, b.trim_start()).expect("write");
            p
        })
        .collect()
}

/// `openssl x509 -noout ARGS -in FILE`.
fn x509(file: &Path, args: &[&str]) -> String {
    let mut all = vec!["x509", "-noout", "-in", s(file)];
    all.extend_from_slice(args);
    common::openssl_ok(&all)
}

/// The hex key identifier on the line after `label` in `openssl x509 -text`.
fn key_id(file: &Path, label: &str) -> String {
    let t = x509(file, &["-text"]);
    let mut lines = t.lines();
    while let Some(l) = lines.next() {
        if l.contains(label) {
            return lines
                .next()
                .unwrap_or_default()
                .trim()
                .trim_start_matches("keyid:")
                .to_string();
        }
    }
    panic!("{label} missing in {}", file.display());
}

/// `openssl verify -x509_strict -CAfile ANCHOR [-untrusted U] LEAF` (with extra args).
fn openssl_verify(anchor: &Path, untrusted: Option<&Path>, leaf: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["verify", "-x509_strict", "-CAfile", s(anchor)];
    if let Some(u) = untrusted {
        args.extend_from_slice(&["-untrusted", s(u)]);
    }
    args.extend_from_slice(extra);
    args.push(s(leaf));
    openssl(&args)
}

/// `lgpki verify LEAF --trust ANCHOR [--untrusted U] --json`.
fn lgpki_verify(env: &Env, anchor: &Path, untrusted: Option<&Path>, leaf: &Path) -> Value {
    let mut args = vec!["--json", "verify", s(leaf), "--trust", s(anchor)];
    if let Some(u) = untrusted {
        args.extend_from_slice(&["--untrusted", s(u)]);
    }
    let out = env.lgpki(&args);
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("verify --json: {e}: {}", text(&out)))
}

/// Issues a mail (S/MIME) certificate named `cn` from the application root's mail sub-CA
/// (the default topology's root → issuing CA pair); returns (serial, path).
fn staff(env: &Env, cn: &str) -> (String, PathBuf) {
    let csr = common::make_csr(
        env.dir.path(),
        cn,
        common::KeyKind::P256,
        &format!("/C=JP/O=LGPKI/OU=千代田区/CN={cn}"),
        &[],
    );
    let pem = env.path(&format!("{cn}.pem"));
    let v = json(
        env,
        &[
            "issue",
            "--profile",
            "mail",
            "--csr",
            s(&csr),
            "--san",
            &format!("email:{cn}@city.chiyoda.lg.jp"),
            "--out",
            s(&pem),
        ],
    );
    assert_eq!(v["ca"], "application-mail", "{v}");
    (v["serial"].as_str().expect("serial").to_string(), pem)
}

/// CA `name` in the current release under `out`, loaded as ocsp-responder loads it (every
/// file checked against its signed manifest).
fn published_ca(out: &Path, name: &str) -> ca_core::publish::PublishedCa {
    ca_core::publish::Publication::load(out)
        .expect("release loads")
        .cas
        .into_iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("{name} is in the release"))
}

/// The renewal output as the contract fixes it.
fn renew(env: &Env, args: &[&str]) -> Value {
    let mut all = vec!["ca", "renew"];
    all.extend_from_slice(args);
    let v = json(env, &all);
    let keys: Vec<&String> = v.as_object().expect("object").keys().collect();
    assert_eq!(keys, ["ca", "generation", "links", "serial"], "{v}");
    v
}

#[test]
fn rollover_matrix_and_crls_by_generation() {
    let env = Env::init(&[]);
    let old_root = save(&env, &["ca", "cert", "application"], "root-g1.pem");
    let org1 = save(&env, &["ca", "cert", "application-mail"], "org-g1.pem");
    let root = ca_entry(&env, "application");
    assert_eq!(root["generation"], 1);
    assert_eq!(root["self_signed"], true);
    assert_eq!(root["issues"], serde_json::json!(["ca"]));
    let org = ca_entry(&env, "application-mail");
    assert_eq!(org["self_signed"], false);
    assert_eq!(org["issues"], serde_json::json!(["ee"]));
    let (serial_a, a) = staff(&env, "before");

    // Renew the root (links) and its mail sub-CA (re-issued by the root's new key).
    let r = renew(&env, &["application"]);
    assert_eq!(r["ca"], "application");
    assert_eq!(r["generation"], 2);
    let link_serials: Vec<String> = r["links"]
        .as_array()
        .expect("links")
        .iter()
        .map(|l| l.as_str().expect("serial").to_string())
        .collect();
    assert_eq!(link_serials.len(), 2);
    let o = renew(&env, &["application-mail", "--days", "1000"]);
    assert_eq!(o["generation"], 2);
    assert_eq!(
        o["links"],
        serde_json::json!([]),
        "a subordinate CA has no links"
    );
    assert_eq!(ca_entry(&env, "application")["generation"], 2);
    assert_eq!(ca_entry(&env, "application-mail")["generation"], 2);
    assert_eq!(ca_entry(&env, "bridge")["generation"], 1);
    let new_root = save(&env, &["ca", "cert", "application"], "root-g2.pem");
    let org2 = save(&env, &["ca", "cert", "application-mail"], "org-g2.pem");
    let links = save(&env, &["ca", "cert", "application", "--links"], "links.pem");
    let (serial_b, b) = staff(&env, "after");

    // The new certificates: same subject, new keys, serials as reported.
    assert_eq!(
        x509(&new_root, &["-subject"]),
        x509(&old_root, &["-subject"])
    );
    assert_ne!(x509(&new_root, &["-pubkey"]), x509(&old_root, &["-pubkey"]));
    assert_eq!(
        x509(&new_root, &["-serial"]).trim().to_lowercase(),
        format!("serial={}", r["serial"].as_str().expect("serial"))
    );
    assert_eq!(
        x509(&org2, &["-serial"]).trim().to_lowercase(),
        format!("serial={}", o["serial"].as_str().expect("serial"))
    );
    let days = |f: &Path| {
        let t = x509(f, &["-startdate", "-enddate"]);
        t.lines().map(str::to_string).collect::<Vec<_>>()
    };
    assert_ne!(days(&org2), days(&org1));

    // Issuance switched: B names the organisation CA's new key, A the old one.
    let org1_ski = key_id(&org1, "Subject Key Identifier");
    let org2_ski = key_id(&org2, "Subject Key Identifier");
    assert_ne!(org1_ski, org2_ski);
    assert_eq!(key_id(&a, "Authority Key Identifier"), org1_ski);
    assert_eq!(key_id(&b, "Authority Key Identifier"), org2_ski);
    let old_ski = key_id(&old_root, "Subject Key Identifier");
    let new_ski = key_id(&new_root, "Subject Key Identifier");
    assert_eq!(key_id(&org2, "Authority Key Identifier"), new_ski);

    // The links, oldest first: OldWithNew (old key, signed by the new), then NewWithOld.
    let link_files = split_pem(&env, &links, "link");
    assert_eq!(link_files.len(), 2);
    let (old_with_new, new_with_old) = (&link_files[0], &link_files[1]);
    assert_eq!(
        x509(old_with_new, &["-serial"]).trim().to_lowercase(),
        format!("serial={}", link_serials[0])
    );
    assert_eq!(
        x509(old_with_new, &["-pubkey"]),
        x509(&old_root, &["-pubkey"])
    );
    assert_eq!(key_id(old_with_new, "Subject Key Identifier"), old_ski);
    assert_eq!(key_id(old_with_new, "Authority Key Identifier"), new_ski);
    assert_eq!(
        x509(new_with_old, &["-pubkey"]),
        x509(&new_root, &["-pubkey"])
    );
    assert_eq!(key_id(new_with_old, "Subject Key Identifier"), new_ski);
    assert_eq!(key_id(new_with_old, "Authority Key Identifier"), old_ski);
    for l in &link_files {
        let t = x509(l, &["-text"]);
        assert!(t.contains("CA:TRUE"), "{t}");
        assert!(t.contains("Certificate Sign, CRL Sign"), "{t}");
        // Self-issued (RFC 5280 §3.2), not self-signed.
        assert_eq!(
            x509(l, &["-subject"]).replace("subject=", ""),
            x509(l, &["-issuer"]).replace("issuer=", "")
        );
    }
    // Each link verifies under its signer and lies within the signer's validity.
    assert_ok(
        &openssl(&[
            "verify",
            "-partial_chain",
            "-CAfile",
            s(&new_root),
            s(old_with_new),
        ]),
        "OldWithNew signed by the new key",
    );
    assert_ok(
        &openssl(&[
            "verify",
            "-partial_chain",
            "-CAfile",
            s(&old_root),
            s(new_with_old),
        ]),
        "NewWithOld signed by the old key",
    );
    let end = |f: &Path| {
        let t = x509(f, &["-enddate"]);
        let d = t.trim().trim_start_matches("notAfter=").to_string();
        let out = Command::new("date")
            .args(["-u", "-d", &d, "+%s"])
            .output()
            .expect("date");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse::<i64>()
            .expect("epoch")
    };
    assert!(end(old_with_new) <= end(&new_root));
    assert!(end(new_with_old) <= end(&old_root));

    // pkilint: nothing in the new CA certificates or the links.
    for f in [&new_root, &org2, old_with_new, new_with_old] {
        assert_pkilint_clean(f);
    }

    // The matrix: every anchor validates every certificate through the links.
    let untrusted = bundle(&env, "untrusted.pem", &[&org1, &org2, &links]);
    let without_links = bundle(&env, "no-links.pem", &[&org1, &org2]);
    for (anchor, anchor_name) in [(&old_root, "old"), (&new_root, "new")] {
        for (leaf, leaf_name) in [(&a, "before"), (&b, "after")] {
            let what = format!("{anchor_name} anchor, certificate issued {leaf_name} renew");
            let out = openssl_verify(anchor, Some(&untrusted), leaf, &[]);
            assert_ok(&out, &format!("openssl verify: {what}"));
            let v = lgpki_verify(&env, anchor, Some(&untrusted), leaf);
            assert_eq!(v["valid"], true, "lgpki verify: {what}: {v}");
            // Across generations the path runs through a link: leaf, CA, link, anchor.
            let crosses = (anchor_name == "old") != (leaf_name == "before");
            let len = v["path"].as_array().map_or(0, Vec::len);
            assert_eq!(len, if crosses { 4 } else { 3 }, "{what}: {v}");
            if crosses {
                // Without the links there is no path (the links do the work).
                let out = openssl_verify(anchor, Some(&without_links), leaf, &[]);
                assert!(
                    !out.status.success(),
                    "{what} without links: {}",
                    text(&out)
                );
                let v = lgpki_verify(&env, anchor, Some(&without_links), leaf);
                assert_eq!(v["valid"], false, "{what} without links: {v}");
            }
        }
    }

    // CRLs by generation: each key signs one, with its own AKI.
    let crl = |ca: &str, g: &str| -> PathBuf {
        let p = env.path(&format!("{ca}-g{g}.crl"));
        let v = json(
            &env,
            &[
                "crl",
                "--ca",
                ca,
                "--generation",
                g,
                "--pem",
                "--out",
                s(&p),
            ],
        );
        assert_eq!(v["ca"], ca);
        p
    };
    let mut numbers = Vec::new();
    for (ca, g, cert, other, ski, kind) in [
        ("application-mail", "1", &org1, &org2, &org1_ski, "CRL"),
        ("application-mail", "2", &org2, &org1, &org2_ski, "CRL"),
        ("application", "1", &old_root, &new_root, &old_ski, "ARL"),
        ("application", "2", &new_root, &old_root, &new_ski, "ARL"),
    ] {
        let f = crl(ca, g);
        assert_ok(
            &openssl(&["crl", "-in", s(&f), "-noout", "-verify", "-CAfile", s(cert)]),
            &format!("{ca} generation {g} CRL verifies with its key"),
        );
        let out = openssl(&[
            "crl",
            "-in",
            s(&f),
            "-noout",
            "-verify",
            "-CAfile",
            s(other),
        ]);
        assert!(
            !text(&out).contains("verify OK"),
            "{ca} generation {g} CRL must not verify with the other key: {}",
            text(&out)
        );
        let t = openssl(&["crl", "-in", s(&f), "-noout", "-text"]);
        let t = String::from_utf8_lossy(&t.stdout).to_string();
        assert!(t.contains(ski.as_str()), "{ca} g{g} CRL AKI {ski}: {t}");
        assert_pkilint("lint_crl", &["-t", kind, "-p", "PKIX"], &f);
        let n = x509_crl_number(&f);
        numbers.push((ca, n));
    }
    // One CRL number sequence per CA name, increasing across its keys (RFC 5280 §5.2.3).
    assert!(
        numbers[1].1 > numbers[0].1 && numbers[3].1 > numbers[2].1,
        "{numbers:?}"
    );

    // `openssl verify -crl_check`: A with the old key's CRL, B with the new key's.
    let org_crl1 = env.path("application-mail-g1.crl");
    let org_crl2 = env.path("application-mail-g2.crl");
    for (leaf, c) in [(&a, &org_crl1), (&b, &org_crl2)] {
        for anchor in [&old_root, &new_root] {
            let out = openssl_verify(
                anchor,
                Some(&untrusted),
                leaf,
                &["-crl_check", "-CRLfile", s(c)],
            );
            assert_ok(&out, "openssl verify -crl_check");
        }
    }
    // A CRL of the other key does not cover a certificate (its AKI does not match).
    let out = openssl_verify(
        &new_root,
        Some(&untrusted),
        &a,
        &["-crl_check", "-CRLfile", s(&org_crl2)],
    );
    assert!(!out.status.success(), "{}", text(&out));

    // Revoke A (issued by the old key): the old key's next CRL lists it, and OpenSSL says so.
    assert_ok(
        &env.lgpki(&["revoke", "--serial", &serial_a, "--reason", "keyCompromise"]),
        "revoke A",
    );
    let revoked = crl("application-mail", "1");
    let out = openssl_verify(
        &new_root,
        Some(&untrusted),
        &a,
        &["-crl_check", "-CRLfile", s(&revoked)],
    );
    assert!(
        text(&out).contains("certificate revoked"),
        "A revoked on the old key's CRL: {}",
        text(&out)
    );
    let fresh2 = crl("application-mail", "2");
    let out = openssl_verify(
        &old_root,
        Some(&untrusted),
        &b,
        &["-crl_check", "-CRLfile", s(&fresh2)],
    );
    assert_ok(&out, "B still good on the new key's CRL");
    // Delta CRLs are based on a full CRL of the same key.
    let delta = env.path("org-g1-delta.crl");
    assert_ok(
        &env.lgpki(&[
            "crl",
            "--ca",
            "application-mail",
            "--generation",
            "1",
            "--delta",
            "--pem",
            "--out",
            s(&delta),
        ]),
        "delta CRL of generation 1",
    );
    assert_ok(
        &openssl(&[
            "crl",
            "-in",
            s(&delta),
            "-noout",
            "-verify",
            "-CAfile",
            s(&org1),
        ]),
        "the old key's delta CRL",
    );
    // `status` and `cert list` know both generations' certificates.
    assert!(text(&env.lgpki(&["status", "--serial", &serial_b])).contains("good"));
    let listed = env.cert_list();
    let links_listed = listed.iter().filter(|c| c["profile"] == "link").count();
    assert_eq!(links_listed, 2);

    // A second renewal: generation 3, links appended after the first pair.
    let r3 = renew(&env, &["application", "--key-alg", "ecdsa-p384"]);
    assert_eq!(r3["generation"], 3);
    let all_links = save(
        &env,
        &["ca", "cert", "application", "--links"],
        "links3.pem",
    );
    let files = split_pem(&env, &all_links, "l3-");
    assert_eq!(files.len(), 4);
    assert_eq!(
        std::fs::read_to_string(&files[0]).expect("read"),
        std::fs::read_to_string(old_with_new).expect("read")
    );
    let root3 = save(&env, &["ca", "cert", "application"], "root-g3.pem");
    assert!(x509(&root3, &["-text"]).contains("secp384r1"));
    assert_eq!(ca_entry(&env, "application")["key_alg"], "ecdsa-p384");
    // The oldest anchor reaches certificates under the newest key through both link pairs.
    let org3 = renew(&env, &["application-mail"]);
    assert_eq!(org3["generation"], 3);
    let (_, c) = staff(&env, "third");
    let org3_cert = save(&env, &["ca", "cert", "application-mail"], "org-g3.pem");
    let untrusted3 = bundle(&env, "untrusted3.pem", &[&org3_cert, &all_links]);
    for anchor in [&old_root, &new_root, &root3] {
        assert_ok(
            &openssl_verify(anchor, Some(&untrusted3), &c, &[]),
            "generation 3 leaf",
        );
        assert_eq!(
            lgpki_verify(&env, anchor, Some(&untrusted3), &c)["valid"],
            true
        );
    }
    assert_ok(&env.lgpki(&["audit", "verify"]), "audit verify");
}

/// The CRL number of a PEM CRL.
fn x509_crl_number(f: &Path) -> u64 {
    let out = openssl(&["crl", "-in", s(f), "-noout", "-crlnumber"]);
    let t = String::from_utf8_lossy(&out.stdout).to_string();
    let hex = t
        .trim()
        .trim_start_matches("crlNumber=0x")
        .trim_start_matches("crlNumber=");
    u64::from_str_radix(hex, 16).unwrap_or_else(|_| panic!("crlNumber: {t}"))
}

#[test]
fn renew_with_softhsm() {
    let env = Env::init_with(Backend::Pkcs11, &[]);
    let old_root = save(&env, &["ca", "cert", "application"], "root-g1.pem");
    let org1 = save(&env, &["ca", "cert", "application-mail"], "org-g1.pem");
    let (_, a) = staff(&env, "before");
    renew(&env, &["application"]);
    renew(&env, &["application-mail"]);
    for name in ["application", "application-mail"] {
        let e = ca_entry(&env, name);
        assert_eq!(e["generation"], 2);
        assert!(
            e["key_location"]
                .as_str()
                .unwrap_or_default()
                .starts_with("pkcs11"),
            "{e}"
        );
    }
    let new_root = save(&env, &["ca", "cert", "application"], "root-g2.pem");
    let org2 = save(&env, &["ca", "cert", "application-mail"], "org-g2.pem");
    let links = save(&env, &["ca", "cert", "application", "--links"], "links.pem");
    let (_, b) = staff(&env, "after");
    let untrusted = bundle(&env, "untrusted.pem", &[&org1, &org2, &links]);
    for anchor in [&old_root, &new_root] {
        for leaf in [&a, &b] {
            assert_ok(
                &openssl_verify(anchor, Some(&untrusted), leaf, &[]),
                "openssl verify (HSM)",
            );
            assert_eq!(
                lgpki_verify(&env, anchor, Some(&untrusted), leaf)["valid"],
                true
            );
        }
    }
    // The new keys are on the token, private and not extractable.
    let out = Command::new("pkcs11-tool")
        .args([
            "--module",
            common::SOFTHSM_MODULE,
            "--token-label",
            "lgpki",
            "--login",
            "--pin",
            common::TOKEN_PIN,
            "--list-objects",
            "--type",
            "privkey",
        ])
        .envs(env.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .expect("pkcs11-tool (apt-get install opensc)");
    assert_ok(&out, "pkcs11-tool --list-objects");
    let listing = String::from_utf8_lossy(&out.stdout);
    for label in ["application-g2-", "application-mail-g2-"] {
        let block = listing
            .split("Private Key Object")
            .find(|b| b.contains(label))
            .unwrap_or_else(|| panic!("{label} key on the token: {listing}"));
        assert!(block.contains("never extractable"), "{block}");
    }
    // The old key (still on the token) signs the old generation's CRL.
    let f = env.path("org-g1.crl");
    assert_ok(
        &env.lgpki(&[
            "crl",
            "--ca",
            "application-mail",
            "--generation",
            "1",
            "--pem",
            "--out",
            s(&f),
        ]),
        "crl generation 1 (HSM)",
    );
    assert_ok(
        &openssl(&[
            "crl",
            "-in",
            s(&f),
            "-noout",
            "-verify",
            "-CAfile",
            s(&org1),
        ]),
        "old-key CRL from the token",
    );
    assert_pkilint("lint_crl", &["-t", "CRL", "-p", "PKIX"], &f);
    for l in split_pem(&env, &links, "hsm-link") {
        assert_pkilint_clean(&l);
    }
}

#[test]
fn renew_on_postgres() {
    let pg = PgCluster::start();
    let env = pg_env(&pg, "renew", &[]);
    let old_root = save(&env, &["ca", "cert", "application"], "root-g1.pem");
    let org1 = save(&env, &["ca", "cert", "application-mail"], "org-g1.pem");
    let (_, a) = staff(&env, "before");
    cross_both_ways(&env);
    check_crosses(&env, 1);
    renew(&env, &["application"]);
    renew(&env, &["application-mail"]);
    assert_eq!(ca_entry(&env, "application-mail")["generation"], 2);
    // The cross-certificates re-issued with the switch (one PostgreSQL transaction).
    check_crosses(&env, 2);
    let new_root = save(&env, &["ca", "cert", "application"], "root-g2.pem");
    let org2 = save(&env, &["ca", "cert", "application-mail"], "org-g2.pem");
    let links = save(&env, &["ca", "cert", "application", "--links"], "links.pem");
    assert_eq!(split_pem(&env, &links, "pglink").len(), 2);
    let (_, b) = staff(&env, "after");
    let untrusted = bundle(&env, "untrusted.pem", &[&org1, &org2, &links]);
    for anchor in [&old_root, &new_root] {
        for leaf in [&a, &b] {
            assert_ok(
                &openssl_verify(anchor, Some(&untrusted), leaf, &[]),
                "openssl verify (PostgreSQL)",
            );
        }
    }
    for (g, cert) in [("1", &org1), ("2", &org2)] {
        let f = env.path(&format!("org-g{g}.crl"));
        assert_ok(
            &env.lgpki(&[
                "crl",
                "--ca",
                "application-mail",
                "--generation",
                g,
                "--pem",
                "--out",
                s(&f),
            ]),
            "crl by generation (PostgreSQL)",
        );
        assert_ok(
            &openssl(&["crl", "-in", s(&f), "-noout", "-verify", "-CAfile", s(cert)]),
            "CRL by generation verifies (PostgreSQL)",
        );
    }
    // The migration is versioned: schema version 2 holds the generations.
    let v = pg.psql(
        "renew",
        "SELECT COUNT(*) FROM schema_version WHERE version = 2",
    );
    assert_eq!(v.trim(), "1", "{v}");
    let g = pg.psql("renew", "SELECT COUNT(*) FROM ca_generations");
    assert_eq!(g.trim(), "2", "{g}");
    // publish: the retired mail key certifies its own delegated OCSP responder (RFC 6960
    // §4.2.2.2), recorded on PostgreSQL as generation 1's; the release loads (its loader
    // checks each responder against its generation's CA certificate).
    let g1_responders = || {
        pg.psql(
            "renew",
            "SELECT COUNT(*) FROM certs WHERE ca = 'application-mail' AND profile = 'ocsp-signing' AND issuer_generation = 1 AND state = 'issued'",
        )
        .trim()
        .parse::<u32>()
        .expect("count")
    };
    let before = g1_responders();
    let out = env.path("pub");
    assert_ok(
        &env.lgpki(&["publish", "--out", s(&out)]),
        "publish (PostgreSQL)",
    );
    let mail = published_ca(&out, "application-mail");
    assert_eq!(
        mail.retired
            .iter()
            .map(|g| g.generation)
            .collect::<Vec<_>>(),
        [1]
    );
    assert_eq!(g1_responders(), before + 1);
}

/// Turns an initialised SQLite home back into what lgpki made before generations existed
/// (no generation columns or tables, no schema_version).
fn make_pre_generation_store(home: &Path) {
    let conn = rusqlite::Connection::open(home.join("lgpki.db")).expect("open store");
    conn.execute_batch(
        "ALTER TABLE cas DROP COLUMN generation;
         ALTER TABLE certs DROP COLUMN issuer_generation;
         ALTER TABLE crls DROP COLUMN generation;
         DROP TABLE ca_generations;
         DROP TABLE pending_keys;
         DROP TABLE schema_version;",
    )
    .expect("downgrade the store");
}

#[test]
fn a_store_from_before_generations_keeps_working() {
    let env = Env::init(&[]);
    let (serial_a, a) = staff(&env, "old-home");
    let org1 = save(&env, &["ca", "cert", "application-mail"], "org-g1.pem");
    let root = save(&env, &["ca", "cert", "application"], "root.pem");
    make_pre_generation_store(&env.home);
    // Opened by this lgpki: migrated, every CA at generation 1, its certificates generation 1.
    for c in ca_list(&env) {
        assert_eq!(c["generation"], 1, "{c}");
    }
    let conn = rusqlite::Connection::open(env.home.join("lgpki.db")).expect("open");
    let version: i64 = conn
        .query_row("SELECT MAX(version) FROM schema_version", [], |r| r.get(0))
        .expect("schema_version");
    // 1: generations; 2: cross-certificate pairs.
    assert_eq!(version, 2);
    drop(conn);
    let f = env.path("org.crl");
    assert_ok(
        &env.lgpki(&["crl", "--ca", "application-mail", "--pem", "--out", s(&f)]),
        "crl on the migrated store",
    );
    assert_ok(
        &env.lgpki(&["revoke", "--serial", &serial_a, "--reason", "superseded"]),
        "revoke",
    );
    renew(&env, &["application-mail"]);
    // The old key still covers A: its CRL lists A as revoked.
    let g1 = env.path("org-g1.crl");
    assert_ok(
        &env.lgpki(&[
            "crl",
            "--ca",
            "application-mail",
            "--generation",
            "1",
            "--pem",
            "--out",
            s(&g1),
        ]),
        "generation 1 CRL",
    );
    let out = openssl_verify(&root, Some(&org1), &a, &["-crl_check", "-CRLfile", s(&g1)]);
    assert!(text(&out).contains("certificate revoked"), "{}", text(&out));
}

/// Key files in the home.
fn key_files(env: &Env) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(env.home.join("keys"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Every key reference the store knows: CAs in force, retired generations and pending keys.
fn known_keys(env: &Env) -> Vec<String> {
    let conn = rusqlite::Connection::open(env.home.join("lgpki.db")).expect("open");
    let mut out = Vec::new();
    for sql in [
        "SELECT key_ref FROM cas",
        "SELECT key_ref FROM ca_generations",
        "SELECT 'soft:keys/' || label || '.p8' FROM pending_keys",
    ] {
        let mut stmt = conn.prepare(sql).expect("prepare");
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .expect("query");
        out.extend(rows.map(|r| r.expect("row")));
    }
    out
}

/// After a kill: one generation in force (its certificate, key and chain agree), every key
/// file known to the store, issuance and CRLs working, the audit log intact. Returns the
/// generation in force.
fn check_after_kill(env: &Env, root: &Path) -> u64 {
    let known = known_keys(env);
    for f in key_files(env) {
        // The audit key is kept beside the CA keys; the store never holds it.
        if f.ends_with(".p8") && f != format!("{}.p8", ca_core::AUDIT_KEY_LABEL) {
            assert!(
                known.iter().any(|k| k.ends_with(&format!("keys/{f}"))),
                "key file {f} unknown to the store ({known:?})"
            );
        }
    }
    let generation = ca_entry(env, "application-mail")["generation"]
        .as_u64()
        .expect("generation");
    let org = save(env, &["ca", "cert", "application-mail"], "org-now.pem");
    assert_ok(
        &openssl_verify(root, None, &org, &[]),
        "the organisation CA certificate in force chains to the root",
    );
    let (_, leaf) = staff(env, &format!("after-kill-{generation}"));
    assert_ok(
        &openssl_verify(root, Some(&org), &leaf, &[]),
        "issued with the key in force",
    );
    let f = env.path("after-kill.crl");
    assert_ok(
        &env.lgpki(&["crl", "--ca", "application-mail", "--pem", "--out", s(&f)]),
        "crl after the kill",
    );
    assert_ok(
        &openssl(&["crl", "-in", s(&f), "-noout", "-verify", "-CAfile", s(&org)]),
        "CRL signed by the key in force",
    );
    assert_ok(
        &env.lgpki(&["audit", "verify"]),
        "audit verify after the kill",
    );
    generation
}

/// Starts `ca renew application-mail` paused at `point` (or not paused), stderr piped.
fn spawn_renew(env: &Env, point: Option<&str>) -> std::process::Child {
    let mut c = env.command(&["ca", "renew", "application-mail"]);
    if let Some(p) = point {
        c.env("LGPKI_TEST_PAUSE_AT", p);
    }
    c.stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn lgpki")
}

/// Gives `application-mail` a cross-certificate each way: one from the bridge to it, one from
/// it to another domain's CA (OpenSSL-made).
fn cross_both_ways(env: &Env) {
    let key = common::make_key(env.dir.path(), "peer", common::KeyKind::P256);
    let peer = env.path("peer.pem");
    common::openssl_ok(&[
        "req",
        "-x509",
        "-new",
        "-key",
        s(&key),
        "-subj",
        "/C=JP/O=Peer/CN=Peer Bridge CA",
        "-days",
        "3650",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-out",
        s(&peer),
    ]);
    let mail = save(
        env,
        &["ca", "cert", "application-mail"],
        "mail-for-cross.pem",
    );
    for (ca, subject) in [("bridge", &mail), ("application-mail", &peer)] {
        let out = env.path("cross-out.pem");
        assert_ok(
            &env.lgpki(&[
                "cross-certify",
                "--ca",
                ca,
                "--subject-cert",
                s(subject),
                "--out",
                s(&out),
            ]),
            "cross-certify",
        );
    }
}

/// The cross-certificates of `application-mail` agree with the generation in force: one from
/// the bridge certifying its key in force, one it signed with that key, each recorded as a
/// pair half (`ca cert --cross`), and two per generation (what each renewal re-issues) — the
/// old generation with the old crosses, or the new one with the re-issued ones.
fn check_crosses(env: &Env, generation: u64) {
    let mail = save(env, &["ca", "cert", "application-mail"], "mail-now.pem");
    let pubkey = x509(&mail, &["-pubkey"]);
    let ski = key_id(&mail, "Subject Key Identifier");
    let all = crosses(env, &format!("k{generation}"));
    let subject = x509(&mail, &["-subject"]);
    let issuer = subject.replace("subject=", "issuer=");
    let to_it = all
        .iter()
        .filter(|(_, p)| x509(p, &["-subject"]) == subject && x509(p, &["-pubkey"]) == pubkey)
        .count();
    let by_it = all
        .iter()
        .filter(|(_, p)| {
            x509(p, &["-issuer"]) == issuer && key_id(p, "Authority Key Identifier") == ski
        })
        .count();
    assert_eq!(
        (to_it, by_it),
        (1, 1),
        "generation {generation}: one cross to its key and one by it"
    );
    // init's bridge⇄organization pair, then two per generation of application-mail.
    assert_eq!(
        all.len() as u64,
        2 + 2 * generation,
        "generation {generation}"
    );
    let paired = env.lgpki(&["ca", "cert", "application-mail", "--cross"]);
    assert_ok(&paired, "ca cert --cross");
    assert_eq!(
        String::from_utf8_lossy(&paired.stdout)
            .matches("BEGIN CERTIFICATE")
            .count() as u64,
        2 * generation,
        "every cross of application-mail recorded as a pair half"
    );
}

#[test]
fn kill_9_during_renew_leaves_one_generation_in_force() {
    use std::io::Read;
    let env = Env::init(&[]);
    let root = save(&env, &["ca", "cert", "application"], "root.pem");
    cross_both_ways(&env);
    check_crosses(&env, 1);
    let mut expected = 1;
    // At each step of a renewal: paused there, then SIGKILL.
    for (point, switched) in [
        ("renew-pending", false),
        ("renew-key", false),
        ("renew-signed", false),
        ("renew-committed", true),
    ] {
        let mut child = spawn_renew(&env, Some(point));
        let mut stderr = child.stderr.take().expect("stderr");
        let mut seen = Vec::new();
        let mut buf = [0u8; 256];
        let start = Instant::now();
        while !String::from_utf8_lossy(&seen).contains(&format!("paused at {point}")) {
            let n = stderr.read(&mut buf).expect("read stderr");
            assert!(
                n > 0,
                "lgpki ended before {point}: {}",
                String::from_utf8_lossy(&seen)
            );
            seen.extend_from_slice(&buf[..n]);
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "no pause at {point}"
            );
        }
        child.kill().expect("SIGKILL");
        let status = child.wait().expect("wait");
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(9));
        if switched {
            expected += 1;
        }
        assert_eq!(check_after_kill(&env, &root), expected, "killed at {point}");
        check_crosses(&env, expected);
    }
    // A renewal after the kills removes the key the stopped one left behind.
    renew(&env, &["application-mail"]);
    expected += 1;
    assert_eq!(check_after_kill(&env, &root), expected);
    check_crosses(&env, expected);
    let conn = rusqlite::Connection::open(env.home.join("lgpki.db")).expect("open");
    let pending: i64 = conn
        .query_row("SELECT COUNT(*) FROM pending_keys", [], |r| r.get(0))
        .expect("pending keys");
    assert_eq!(pending, 0);
    drop(conn);
    // Key files: exactly the ones the store uses (in force and retired).
    let known = known_keys(&env);
    let audit_key = format!("{}.p8", ca_core::AUDIT_KEY_LABEL);
    assert_eq!(
        key_files(&env)
            .iter()
            .filter(|f| f.ends_with(".p8") && **f != audit_key)
            .count(),
        known.len()
    );

    // And at random moments within how long one renewal takes here (timed first: on a fast
    // machine a sub-CA's renewal ends in well under a second).
    let started = Instant::now();
    assert_ok(
        &env.lgpki(&["ca", "renew", "application-mail"]),
        "timed renew",
    );
    let window = started.elapsed().max(Duration::from_millis(50));
    let mut rng = Rng::from_env("LGPKI_CRASH_SEED");
    let mut kills = 0;
    for _ in 0..12 {
        let before = ca_entry(&env, "application-mail")["generation"]
            .as_u64()
            .expect("generation");
        let mut child = spawn_renew(&env, None);
        std::thread::sleep(rng.duration(window));
        let killed = child.try_wait().expect("try_wait").is_none();
        let _ = child.kill();
        let _ = child.wait();
        kills += usize::from(killed);
        let after = check_after_kill(&env, &root);
        assert!(
            after == before || after == before + 1,
            "{before} -> {after}"
        );
        check_crosses(&env, after);
    }
    assert!(kills >= 3, "only {kills} kills landed while lgpki worked");
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let env = Env::init(&[]);
    let snapshot = |env: &Env| {
        (
            ca_list(env),
            env.cert_list(),
            key_files(env),
            text(&env.lgpki(&["audit", "list"])),
        )
    };
    let before = snapshot(&env);
    for (args, code, needle) in [
        (vec!["ca", "renew", "nosuch"], 1, "nosuch"),
        (
            vec!["ca", "renew", "application", "--days", "0"],
            2,
            "--days",
        ),
        (
            vec!["ca", "renew", "application", "--days", "99999"],
            2,
            "--days",
        ),
        (vec!["ca", "renew", "application", "--days=-5"], 2, "--days"),
        (
            vec!["ca", "renew", "application", "--days", "ten"],
            2,
            "--days",
        ),
        (
            vec!["ca", "renew", "application", "--key-alg", "dsa-1024"],
            2,
            "dsa-1024",
        ),
        (
            vec![
                "ca",
                "renew",
                "application",
                "--key-uri",
                "pkcs11:token=none?module-path=/nonexistent/libnone.so",
            ],
            1,
            "libnone.so",
        ),
        (vec!["ca", "renew"], 2, "NAME"),
        (vec!["ca", "cert", "nosuch", "--links"], 1, "nosuch"),
        (
            vec![
                "crl",
                "--ca",
                "application",
                "--generation",
                "7",
                "--out",
                "/dev/null",
            ],
            2,
            "generation",
        ),
    ] {
        let out = env.lgpki(&args);
        let t = text(&out);
        assert!(
            out.status.code().is_some_and(|c| c != 0),
            "{args:?} must fail: {t}"
        );
        assert!(!t.contains("panicked"), "{args:?}: {t}");
        assert!(t.contains(needle), "{args:?} must name {needle}: {t}");
        let want = if code == 1 { [1, 1] } else { [2, 2] };
        assert!(
            want.contains(&out.status.code().unwrap_or(-1)),
            "{args:?} exit {:?}: {t}",
            out.status.code()
        );
    }
    assert_eq!(snapshot(&env), before, "bad input changed the store");
    // With --json, the error is one object naming its kind.
    let out = env.lgpki(&["--json", "ca", "renew", "nosuch"]);
    let v: Value = serde_json::from_slice(&out.stdout).expect("json error");
    assert_eq!(v["error"]["kind"], "unknown_ca");
    // A generation that signed nothing still valid signs no CRL: a CA never renewed has only
    // generation 1, and asking for it is asking for the one in force.
    let out = env.lgpki(&[
        "crl",
        "--ca",
        "application",
        "--generation",
        "1",
        "--out",
        s(&env.path("g1.crl")),
    ]);
    assert_ok(&out, "generation in force by number");
}

/// The certificates of profile `cross`, oldest first: (serial, PEM file).
fn crosses(env: &Env, tag: &str) -> Vec<(String, PathBuf)> {
    let out = env.lgpki(&["--json", "cert", "list", "--profile", "cross"]);
    assert_ok(&out, "cert list --profile cross");
    common::json_lines(&out.stdout)
        .iter()
        .map(|c| {
            let serial = c["serial"].as_str().expect("serial").to_string();
            let p = save(
                env,
                &["cert", "show", &serial],
                &format!("{tag}-{serial}.pem"),
            );
            // Only the certificate (`cert show` also prints its status).
            let pem = std::fs::read_to_string(&p).expect("read");
            let start = pem.find("-----BEGIN CERTIFICATE-----").expect("PEM");
            let end = pem.find("-----END CERTIFICATE-----").expect("PEM") + 26;
            std::fs::write(&p, format!("{}\n", &pem[start..end])).expect("write");
            (serial, p)
        })
        .collect()
}

/// The extensions of a certificate that a re-issue keeps (all but the key identifiers).
fn kept_extensions(f: &Path) -> Vec<String> {
    let t = x509(
        f,
        &[
            "-text",
            "-certopt",
            "no_subject,no_issuer,no_pubkey,no_sigdump,no_validity,no_serial,no_header,no_version,no_signame",
        ],
    );
    let mut out = Vec::new();
    let mut skip = false;
    for l in t.lines() {
        let l = l.trim();
        if l.starts_with("X509v3 Subject Key Identifier")
            || l.starts_with("X509v3 Authority Key Identifier")
        {
            skip = true;
            continue;
        }
        if l.starts_with("X509v3 ") || l.starts_with("Signature") {
            skip = false;
        }
        if !skip {
            out.push(l.to_string());
        }
    }
    out
}

#[test]
fn cross_certificates_to_and_from_a_renewed_ca_are_reissued() {
    let env = Env::init(&[]);
    // Another domain's bridge CA (OpenSSL-made), cross-certified by our bridge with a policy
    // mapping and constraints; and our bridge certifying our root (a cross to one of ours).
    let key = common::make_key(env.dir.path(), "gpki", common::KeyKind::P256);
    let gpki = env.path("gpki.pem");
    common::openssl_ok(&[
        "req",
        "-x509",
        "-new",
        "-key",
        s(&key),
        "-subj",
        "/C=JP/O=GPKI/CN=GPKI Bridge CA",
        "-days",
        "3650",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-out",
        s(&gpki),
    ]);
    let root1 = save(&env, &["ca", "cert", "application"], "root-g1.pem");
    let oid = "1.2.392.100300.1.1.2";
    let cross = |subject: &Path, extra: &[&str], out: &str| {
        let mut args = vec![
            "cross-certify",
            "--ca",
            "bridge",
            "--subject-cert",
            s(subject),
        ];
        args.extend_from_slice(extra);
        let p = env.path(out);
        args.extend_from_slice(&["--out", s(&p)]);
        assert_ok(&env.lgpki(&args), "cross-certify");
    };
    let map = format!("{oid}=1.2.392.999.1");
    cross(
        &gpki,
        &[
            "--map",
            &map,
            "--require-explicit-policy",
            "0",
            "--inhibit-policy-mapping",
            "1",
            "--permit",
            "O=GPKI,C=JP",
            "--path-len",
            "1",
            "--days",
            "400",
        ],
        "x-gpki.pem",
    );
    cross(&root1, &[], "x-root.pem");
    // init's bridge⇄organization pair, and the two above.
    let before = crosses(&env, "b");
    assert_eq!(before.len(), 4);
    let bridge1 = save(&env, &["ca", "cert", "bridge"], "bridge-g1.pem");
    let bridge1_subject = x509(&bridge1, &["-subject"]).replace("subject=", "issuer=");

    // Renewing the bridge re-issues the three it issued, signed by its new key, and the
    // organisation's cross to it, now certifying the bridge's new key.
    let out = env.lgpki(&["ca", "renew", "bridge"]);
    assert_ok(&out, "renew bridge");
    assert_eq!(
        text(&out).matches("cross-certificate re-issued").count(),
        4,
        "{}",
        text(&out)
    );
    let bridge2 = save(&env, &["ca", "cert", "bridge"], "bridge-g2.pem");
    let after = crosses(&env, "a");
    assert_eq!(after.len(), 8);
    let bridge2_ski = key_id(&bridge2, "Subject Key Identifier");
    let reissued: Vec<&PathBuf> = after
        .iter()
        .filter(|(serial, _)| !before.iter().any(|(b, _)| b == serial))
        .map(|(_, p)| p)
        .collect();
    assert_eq!(reissued.len(), 4);
    let mut by_bridge = 0;
    for (_, old) in &before {
        let subject = x509(old, &["-subject"]);
        let issuer = x509(old, &["-issuer"]);
        let new = reissued
            .iter()
            .find(|n| x509(n, &["-subject"]) == subject && x509(n, &["-issuer"]) == issuer)
            .unwrap_or_else(|| panic!("no re-issue of {subject} by {issuer}"));
        assert_pkilint_clean(new);
        if issuer == bridge1_subject {
            by_bridge += 1;
            assert_eq!(key_id(new, "Authority Key Identifier"), bridge2_ski);
            assert_eq!(
                x509(new, &["-pubkey"]),
                x509(old, &["-pubkey"]),
                "same subject key"
            );
            // The same constraints and mappings; the distribution point is the new key's
            // CRL (each key generation signs its own, at its own URL).
            let cdp_of = |f: &Path| cdp(f).unwrap_or_default();
            assert!(cdp_of(old).ends_with("/crl/bridge.crl"), "{}", cdp_of(old));
            assert!(
                cdp_of(new).ends_with("/crl/bridge.g2.crl"),
                "{}",
                cdp_of(new)
            );
            let without_cdp = |f: &Path| {
                kept_extensions(f)
                    .into_iter()
                    .filter(|l| !l.contains("/crl/"))
                    .collect::<Vec<_>>()
            };
            assert_eq!(
                without_cdp(new),
                without_cdp(old),
                "same constraints and mappings"
            );
            if subject.contains("O = GPKI") || subject.contains("O=GPKI") {
                assert!(
                    kept_extensions(new)
                        .iter()
                        .any(|l| l.contains("1.2.392.999.1"))
                );
            }
        } else {
            // The organisation's cross to the bridge now certifies the bridge's new key.
            assert_eq!(x509(new, &["-pubkey"]), x509(&bridge2, &["-pubkey"]));
        }
    }
    assert_eq!(by_bridge, 3);

    // Renewing the root re-issues the bridge's cross to it, now certifying the root's new key.
    let out = env.lgpki(&["ca", "renew", "application"]);
    assert_ok(&out, "renew root");
    let root2 = save(&env, &["ca", "cert", "application"], "root-g2.pem");
    let last = crosses(&env, "c");
    assert_eq!(last.len(), 9, "{}", text(&out));
    let newest = &last[8].1;
    assert_eq!(x509(newest, &["-pubkey"]), x509(&root2, &["-pubkey"]));
    assert_eq!(key_id(newest, "Authority Key Identifier"), bridge2_ski);
    assert_pkilint_clean(newest);
    // It chains: the root's new key, certified by the bridge, which the old root certified.
    let bridge_and_links = bundle(&env, "bl.pem", &[&bridge2]);
    assert_ok(
        &openssl(&[
            "verify",
            "-x509_strict",
            "-partial_chain",
            "-CAfile",
            s(&bridge_and_links),
            s(newest),
        ]),
        "re-issued cross to the root verifies under the bridge's new key",
    );
}

#[test]
fn serve_answers_ocsp_with_the_key_that_signed_each_certificate() {
    let env = Env::init(&[]);
    let root1 = save(&env, &["ca", "cert", "application"], "root-g1.pem");
    let org1 = save(&env, &["ca", "cert", "application-mail"], "org-g1.pem");
    let (serial_a, a) = staff(&env, "before");
    renew(&env, &["application-mail"]);
    let org2 = save(&env, &["ca", "cert", "application-mail"], "org-g2.pem");
    let (_, b) = staff(&env, "after");
    assert_ok(
        &env.lgpki(&["revoke", "--serial", &serial_a, "--reason", "keyCompromise"]),
        "revoke A",
    );
    let server = common::Server::start(&env);
    let url = format!("{}/ocsp", server.http);
    let query = |issuer: &Path, cert: &Path, resp: &str| {
        let r = env.path(resp);
        let out = openssl(&[
            "ocsp",
            "-issuer",
            s(issuer),
            "-cert",
            s(cert),
            "-url",
            &url,
            "-CAfile",
            s(&root1),
            "-respout",
            s(&r),
        ]);
        (text(&out), r)
    };
    // A (old key): answered, revoked, and the response verifies with the old key only.
    let (t, ra) = query(&org1, &a, "a.ocsp");
    assert!(t.contains("Response verify OK"), "{t}");
    assert!(
        t.contains(": revoked") && t.contains("keyCompromise"),
        "{t}"
    );
    // B (new key): good, signed by the new key.
    let (t, rb) = query(&org2, &b, "b.ocsp");
    assert!(t.contains("Response verify OK"), "{t}");
    assert!(t.contains(": good"), "{t}");
    // Each response is signed by the key its CertID names (directly for the retired key, through
    // the delegated responder that key in force certified for the new one): the other CA
    // certificate does not verify it.
    for (resp, own, other) in [(&ra, &org1, &org2), (&rb, &org2, &org1)] {
        let verify = |ca: &Path| {
            openssl(&[
                "ocsp",
                "-respin",
                s(resp),
                "-CAfile",
                s(&root1),
                "-verify_other",
                s(ca),
            ])
        };
        let out = verify(own);
        assert!(text(&out).contains("Response verify OK"), "{}", text(&out));
        let out = verify(other);
        assert!(!text(&out).contains("Response verify OK"), "{}", text(&out));
    }
    for r in [&ra, &rb] {
        assert_pkilint("lint_ocsp_response", &[], r);
    }
}

/// Spawns `ca renew organization` paused at `point` for `secs` seconds and returns once it
/// is paused: the child and a thread collecting the rest of its stderr.
fn paused_renew(
    env: &Env,
    point: &str,
    secs: u32,
) -> (std::process::Child, std::thread::JoinHandle<String>) {
    use std::io::Read;
    let mut c = env.command(&["ca", "renew", "application-mail"]);
    c.env("LGPKI_TEST_PAUSE_AT", point)
        .env("LGPKI_TEST_PAUSE_SECS", secs.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn");
    let mut stderr = child.stderr.take().expect("stderr");
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&seen).contains(&format!("paused at {point}")) {
        let n = stderr.read(&mut buf).expect("read");
        assert!(n > 0, "{}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    let rest = std::thread::spawn(move || {
        let _ = stderr.read_to_end(&mut seen);
        String::from_utf8_lossy(&seen).into_owned()
    });
    (child, rest)
}

/// No key pending, and exactly the key files the store uses.
fn no_stray_keys(env: &Env) {
    let conn = rusqlite::Connection::open(env.home.join("lgpki.db")).expect("open");
    let pending: i64 = conn
        .query_row("SELECT COUNT(*) FROM pending_keys", [], |r| r.get(0))
        .expect("pending keys");
    assert_eq!(pending, 0);
    let audit_key = format!("{}.p8", ca_core::AUDIT_KEY_LABEL);
    let files = key_files(env)
        .into_iter()
        .filter(|f| f.ends_with(".p8") && *f != audit_key)
        .count();
    assert_eq!(files, known_keys(env).len());
}

#[test]
fn two_renewals_at_once_leave_one_new_generation_and_no_stray_key() {
    use std::os::unix::process::ExitStatusExt;
    let env = Env::init(&[]);
    let root = save(&env, &["ca", "cert", "application"], "root.pem");

    // 1. A renewal paused with its certificates signed (not switched) while a second runs to
    //    the end: the first is refused at its switch (the generation moved on), nothing of it
    //    stays.
    let (mut first, rest) = paused_renew(&env, "renew-signed", 4);
    assert_eq!(renew(&env, &["application-mail"])["generation"], 2);
    let status = first.wait().expect("wait");
    let t = rest.join().expect("stderr");
    assert_eq!(status.code(), Some(1), "{t}");
    assert!(t.contains("nothing was"), "{t}");
    assert_eq!(check_after_kill(&env, &root), 2);
    no_stray_keys(&env);

    // 2. A renewal paused the same way while a second one removes its key and is killed
    //    before switching: the first is refused at its switch (its key was claimed), the
    //    generation stays, and the next renewal cleans up.
    let (mut first, rest) = paused_renew(&env, "renew-signed", 4);
    let (mut second, _) = paused_renew(&env, "renew-pending", 600);
    second.kill().expect("SIGKILL");
    assert_eq!(second.wait().expect("wait").signal(), Some(9));
    let status = first.wait().expect("wait");
    let t = rest.join().expect("stderr");
    assert_eq!(status.code(), Some(1), "{t}");
    assert!(t.contains("cancelled"), "{t}");
    assert_eq!(check_after_kill(&env, &root), 2);
    assert_eq!(renew(&env, &["application-mail"])["generation"], 3);
    no_stray_keys(&env);
}

/// The cRLDistributionPoints URI of a certificate (None without one).
fn cdp(f: &Path) -> Option<String> {
    let t = x509(f, &["-ext", "crlDistributionPoints"]);
    t.lines()
        .find_map(|l| l.trim().strip_prefix("URI:").map(str::to_string))
}

/// GET `url`: (status, body).
fn http_get(url: &str) -> (u16, Vec<u8>) {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .new_agent();
    let mut resp = agent.get(url).call().expect("GET");
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_to_vec().expect("body"))
}

/// Writes a DER CRL as PEM to `name` and returns its path.
fn crl_pem(env: &Env, der: &[u8], name: &str) -> PathBuf {
    let d = env.path(&format!("{name}.der"));
    std::fs::write(&d, der).expect("write");
    let p = env.path(name);
    common::openssl_ok(&["crl", "-inform", "DER", "-in", s(&d), "-out", s(&p)]);
    p
}

/// `openssl crl -text` of a PEM CRL.
fn crl_text(f: &Path) -> String {
    common::openssl_ok(&["crl", "-in", s(f), "-noout", "-text"])
}

/// The authorityKeyIdentifier keyid of a PEM CRL.
fn crl_aki(f: &Path) -> String {
    let t = crl_text(f);
    let mut lines = t.lines();
    while let Some(l) = lines.next() {
        if l.contains("Authority Key Identifier") {
            return lines
                .next()
                .unwrap_or_default()
                .trim()
                .trim_start_matches("keyid:")
                .to_string();
        }
    }
    panic!("no AKI in {}", f.display());
}

/// Whether `openssl crl -verify -CAfile CA` accepts the CRL's signature.
fn crl_verifies(f: &Path, ca: &Path) -> bool {
    text(&openssl(&[
        "crl",
        "-in",
        s(f),
        "-noout",
        "-verify",
        "-CAfile",
        s(ca),
    ]))
    .contains("verify OK")
}

#[test]
fn each_key_generation_publishes_its_own_crl_where_its_certificates_point() {
    const BASE: &str = "http://127.0.0.1:8080";
    let env = Env::init(&[]);
    let root1 = save(&env, &["ca", "cert", "application"], "root-g1.pem");
    let mail1 = save(&env, &["ca", "cert", "application-mail"], "mail-g1.pem");
    let (a_rev, a_rev_pem) = staff(&env, "old-revoked");
    let (_, a_good_pem) = staff(&env, "old-good");
    // Generation 1 keeps the URL certificates had before generations existed.
    assert_eq!(
        cdp(&a_rev_pem).as_deref(),
        Some(format!("{BASE}/crl/application-mail.crl").as_str())
    );
    assert_eq!(
        cdp(&mail1).as_deref(),
        Some(format!("{BASE}/crl/application.crl").as_str())
    );

    // Renew the root, then the mail CA (now certified by the root's new key).
    renew(&env, &["application"]);
    renew(&env, &["application-mail"]);
    let root2 = save(&env, &["ca", "cert", "application"], "root-g2.pem");
    let mail2 = save(&env, &["ca", "cert", "application-mail"], "mail-g2.pem");
    let links = save(&env, &["ca", "cert", "application", "--links"], "links.pem");
    let (b_rev, b_rev_pem) = staff(&env, "new-revoked");
    let (_, b_good_pem) = staff(&env, "new-good");
    // What generation 2 signs names generation 2's list; the re-issued mail CA names the
    // root's generation 2 list (its signer), not the one its old certificate named.
    assert_eq!(
        cdp(&b_rev_pem).as_deref(),
        Some(format!("{BASE}/crl/application-mail.g2.crl").as_str())
    );
    assert_eq!(
        cdp(&mail2).as_deref(),
        Some(format!("{BASE}/crl/application.g2.crl").as_str())
    );
    assert_eq!(cdp(&a_good_pem), cdp(&a_rev_pem));
    assert_eq!(cdp(&b_good_pem), cdp(&b_rev_pem));
    for l in split_pem(&env, &links, "gl") {
        let t = x509(&l, &["-text"]);
        assert!(!t.contains("CRL Distribution"), "a link names no CRL: {t}");
    }
    let untrusted = bundle(&env, "untrusted.pem", &[&mail1, &mail2, &links]);
    let mail1_ski = key_id(&mail1, "Subject Key Identifier");
    let mail2_ski = key_id(&mail2, "Subject Key Identifier");
    let root1_ski = key_id(&root1, "Subject Key Identifier");
    let root2_ski = key_id(&root2, "Subject Key Identifier");

    let server = common::Server::start(&env);
    let fetch = |url: &str, tag: &str| -> PathBuf {
        let path = url.strip_prefix(BASE).expect("a URL under the base");
        let (status, der) = http_get(&format!("{}{path}", server.http));
        assert_eq!(status, 200, "GET {path}");
        crl_pem(&env, &der, tag)
    };
    let a_url = cdp(&a_rev_pem).expect("CDP");
    let b_url = cdp(&b_rev_pem).expect("CDP");
    // Before any revocation: both certificates of each generation are good on the CRL
    // their own CDP serves (the served CRL is cached from here on).
    for (leaf, url) in [
        (&a_rev_pem, &a_url),
        (&a_good_pem, &a_url),
        (&b_rev_pem, &b_url),
        (&b_good_pem, &b_url),
    ] {
        let c = fetch(url, "before.crl");
        assert_ok(
            &openssl_verify(
                &root2,
                Some(&untrusted),
                leaf,
                &["-crl_check", "-CRLfile", s(&c)],
            ),
            "good before the revocations",
        );
    }

    // Revoke one certificate of each generation while serve runs.
    for serial in [&a_rev, &b_rev] {
        assert_ok(
            &env.lgpki(&["revoke", "--serial", serial, "--reason", "keyCompromise"]),
            "revoke",
        );
    }
    let listed = |f: &Path, serial: &str| {
        crl_text(f).to_lowercase().contains(&format!(
            "serial number: {}",
            serial.trim_start_matches("00")
        ))
    };
    // Each URL serves, within the contract's second, a CRL listing both revocations: the old
    // generation's cached CRL is not served as current after a revocation.
    let deadline = Instant::now() + Duration::from_secs(5);
    let (a_crl, b_crl) = loop {
        let a_crl = fetch(&a_url, "served-g1.crl");
        let b_crl = fetch(&b_url, "served-g2.crl");
        if [&a_crl, &b_crl]
            .iter()
            .all(|f| listed(f, &a_rev) && listed(f, &b_rev))
        {
            break (a_crl, b_crl);
        }
        assert!(
            Instant::now() < deadline,
            "revocations not served: {}",
            crl_text(&a_crl)
        );
        std::thread::sleep(Duration::from_millis(100));
    };

    // The gate: each URL is signed by the key whose certificates name it, with that key's
    // AKI and that URL as its issuingDistributionPoint, and not by the other key.
    for (f, own, other, ski, url) in [
        (&a_crl, &mail1, &mail2, &mail1_ski, &a_url),
        (&b_crl, &mail2, &mail1, &mail2_ski, &b_url),
    ] {
        assert!(crl_verifies(f, own), "{url} signed by its generation's key");
        assert!(
            !crl_verifies(f, other),
            "{url} must not be signed by the other key"
        );
        assert_eq!(crl_aki(f), *ski, "{url}: AKI is its signer's SKI");
        assert!(
            crl_text(f).contains(&format!("URI:{url}")),
            "{url}: IDP {}",
            crl_text(f)
        );
        assert_pkilint("lint_crl", &["-t", "CRL", "-p", "PKIX"], f);
    }
    // One CRL number sequence for the CA name, across its keys (RFC 5280 §5.2.3).
    assert_ne!(x509_crl_number(&a_crl), x509_crl_number(&b_crl));

    // openssl -crl_check, each certificate with the CRL its CDP serves, from either anchor.
    let check = |leaf: &Path, crl: &Path, revoked: bool, what: &str| {
        for anchor in [&root1, &root2] {
            let out = openssl_verify(
                anchor,
                Some(&untrusted),
                leaf,
                &["-crl_check", "-CRLfile", s(crl)],
            );
            if revoked {
                assert!(
                    text(&out).contains("certificate revoked"),
                    "{what}: {}",
                    text(&out)
                );
            } else {
                assert_ok(&out, what);
            }
        }
    };
    check(&a_rev_pem, &a_crl, true, "old generation, revoked (serve)");
    check(&a_good_pem, &a_crl, false, "old generation, good (serve)");
    check(&b_rev_pem, &b_crl, true, "new generation, revoked (serve)");
    check(&b_good_pem, &b_crl, false, "new generation, good (serve)");
    // The old generation's certificate with the new key's CRL: OpenSSL finds no CRL for it
    // (the AKI differs), which is what serving the old URL with the new key would do.
    let out = openssl_verify(
        &root2,
        Some(&untrusted),
        &a_good_pem,
        &["-crl_check", "-CRLfile", s(&b_crl)],
    );
    assert!(!out.status.success(), "{}", text(&out));

    // The ARLs: each root generation's at its own URL, signed by its key.
    for (file, own, other, ski, kind_url) in [
        ("application.crl", &root1, &root2, &root1_ski, "g1"),
        ("application.g2.crl", &root2, &root1, &root2_ski, "g2"),
    ] {
        let (status, der) = http_get(&format!("{}/arl/{file}", server.http));
        assert_eq!(status, 200, "/arl/{file}");
        let f = crl_pem(&env, &der, &format!("arl-{kind_url}.crl"));
        assert!(
            crl_verifies(&f, own) && !crl_verifies(&f, other),
            "/arl/{file}"
        );
        assert_eq!(crl_aki(&f), *ski);
        assert_pkilint("lint_crl", &["-t", "ARL", "-p", "PKIX"], &f);
    }
    // The root's generation 2 list is the one the re-issued mail CA names.
    let root_crl = fetch(&cdp(&mail2).expect("CDP"), "root-g2.crl");
    assert!(crl_verifies(&root_crl, &root2) && !crl_verifies(&root_crl, &root1));
    // No other names: generation 1 has one URL; a generation the CA never had, none.
    for path in [
        "/crl/application-mail.g1.crl",
        "/crl/application-mail.g3.crl",
        "/arl/application.g9.crl",
    ] {
        assert_eq!(http_get(&format!("{}{path}", server.http)).0, 404, "{path}");
    }
    drop(server);

    // publish: the same files under crl/ and arl/, the same verdicts.
    let out = env.path("pub");
    assert_ok(&env.lgpki(&["publish", "--out", s(&out)]), "publish");
    let published = |url: &str, tag: &str| -> PathBuf {
        let rel = url
            .strip_prefix(BASE)
            .expect("under the base")
            .trim_start_matches('/');
        let der = std::fs::read(out.join("current").join(rel)).expect("published CRL");
        crl_pem(&env, &der, tag)
    };
    let pa = published(&a_url, "pub-g1.crl");
    let pb = published(&b_url, "pub-g2.crl");
    for (f, own, other, ski) in [
        (&pa, &mail1, &mail2, &mail1_ski),
        (&pb, &mail2, &mail1, &mail2_ski),
    ] {
        assert!(crl_verifies(f, own) && !crl_verifies(f, other));
        assert_eq!(crl_aki(f), *ski);
        assert_pkilint("lint_crl", &["-t", "CRL", "-p", "PKIX"], f);
    }
    check(&a_rev_pem, &pa, true, "old generation, revoked (publish)");
    check(&a_good_pem, &pa, false, "old generation, good (publish)");
    check(&b_rev_pem, &pb, true, "new generation, revoked (publish)");
    check(&b_good_pem, &pb, false, "new generation, good (publish)");
    for f in [
        "arl/application.crl",
        "arl/application.g2.crl",
        "arl/application-mail.g2.crl",
    ] {
        assert!(out.join("current").join(f).is_file(), "{f} published");
    }
    assert!(!out.join("current/crl/application-mail.g1.crl").exists());
    // ocsp-responder's loader reads the release (every file in its signed manifest).
    let mail = published_ca(&out, "application-mail");
    assert_eq!(mail.crls.keys().copied().collect::<Vec<_>>(), [1, 2]);
    assert_eq!(mail.crl_der, mail.crls[&2], "the key in force's CRL");
}
