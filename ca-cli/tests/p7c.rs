//! Cross-certificate pairs as stored objects, `.p7c` bundles and the AIA/SIA that point at them:
//! - `ca cert NAME --cross` prints every cross-certificate issued to or by NAME, from the
//!   stored pairs (RFC 4523 crossCertificatePair), also in a home made before pairs were stored;
//! - `publish` writes certs-only CMS bundles (RFC 5652 degenerate SignedData) read by `openssl
//!   pkcs7 -print_certs`, and `serve` serves them as `application/pkcs7-mime`;
//! - certificates carry authorityInfoAccess caIssuers (RFC 5280 §4.2.2.1) and CA certificates
//!   subjectInfoAccess caRepository (§4.2.2.2) pointing at them, pkilint-clean;
//! - the JDK's CertPathBuilder, given only a leaf and another domain's anchor, discovers the
//!   path across the cross-certificate by fetching the bundles the AIA names.
//!
//! The CAs under test are made here, under `bridge`, so the test holds for any default
//! hierarchy in which `bridge` may issue CA certificates.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{Env, KeyKind, assert_ok, json_lines, make_csr, openssl};

fn json(env: &Env, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = env.lgpki(&all);
    assert_ok(&out, &format!("{args:?}"));
    json_lines(&out.stdout).remove(0)
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf8")
}

/// A self-signed CA made by OpenSSL (another domain's bridge): (certificate, key).
fn other_ca(env: &Env) -> (PathBuf, PathBuf) {
    let key = common::make_key(env.dir.path(), "other", KeyKind::P256);
    let cert = env.path("other.pem");
    let out = openssl(&[
        "req",
        "-new",
        "-x509",
        "-key",
        s(&key),
        "-subj",
        "/C=JP/O=Other Government/CN=Other Bridge CA",
        "-days",
        "3650",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-addext",
        "subjectKeyIdentifier=hash",
        "-out",
        s(&cert),
    ]);
    assert!(out.status.success(), "openssl req -x509");
    (cert, key)
}

/// The other CA certifies our bridge (subject and key kept as they are): the cross-certificate
/// that `cross-certify import` takes.
fn other_certifies(env: &Env, other: &Path, key: &Path, subject: &Path) -> PathBuf {
    let ext = env.path("x.cnf");
    std::fs::write(
        &ext,
        "[v3]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n\
         subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n",
    )
    .expect("write");
    let out_p = env.path("imported.pem");
    // The subject's name (as OpenSSL writes it back, same encoding) and its public key.
    let o = openssl(&[
        "x509",
        "-in",
        s(subject),
        "-noout",
        "-subject",
        "-nameopt",
        "compat",
    ]);
    assert!(o.status.success());
    let name = String::from_utf8_lossy(&o.stdout)
        .trim()
        .trim_start_matches("subject=")
        .to_string();
    let pubkey = env.path("subject.pub");
    let o = openssl(&[
        "x509",
        "-in",
        s(subject),
        "-noout",
        "-pubkey",
        "-out",
        s(&pubkey),
    ]);
    assert!(o.status.success());
    let out = openssl(&[
        "x509",
        "-new",
        "-subj",
        &name,
        "-force_pubkey",
        s(&pubkey),
        "-CA",
        s(other),
        "-CAkey",
        s(key),
        "-set_serial",
        "0x5a17",
        "-extfile",
        s(&ext),
        "-extensions",
        "v3",
        "-days",
        "365",
        "-out",
        s(&out_p),
    ]);
    assert!(
        out.status.success(),
        "openssl x509 -CA: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out_p
}

/// DER of every certificate in a PEM text, in order.
fn ders(pem: &str) -> Vec<Vec<u8>> {
    use base64::Engine as _;
    pem.split("-----BEGIN CERTIFICATE-----")
        .skip(1)
        .map(|b| {
            let body: String = b
                .split("-----END CERTIFICATE-----")
                .next()
                .unwrap_or_default()
                .split_whitespace()
                .collect();
            base64::engine::general_purpose::STANDARD
                .decode(body)
                .expect("base64")
        })
        .collect()
}

fn pem_file_ders(p: &Path) -> Vec<Vec<u8>> {
    ders(&std::fs::read_to_string(p).expect("read"))
}

fn cross_of(env: &Env, name: &str) -> Vec<Vec<u8>> {
    let out = env.lgpki(&["ca", "cert", name, "--cross"]);
    assert_ok(&out, "ca cert --cross");
    let mut v = ders(&String::from_utf8_lossy(&out.stdout));
    v.sort();
    v
}

/// `openssl pkcs7 -print_certs` of a DER bundle: the certificates, PEM.
fn p7c_certs(der: &[u8], dir: &Path) -> Vec<Vec<u8>> {
    let p = dir.join("bundle.p7c");
    std::fs::write(&p, der).expect("write");
    let out = openssl(&["pkcs7", "-inform", "DER", "-in", s(&p), "-print_certs"]);
    assert!(
        out.status.success(),
        "openssl pkcs7 reads the bundle: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut v = ders(&String::from_utf8_lossy(&out.stdout));
    v.sort();
    v
}

/// The subject name of certificate `der`, DER.
fn subject_der(der: &[u8]) -> Vec<u8> {
    use der::{Decode, Encode};
    let c = x509_cert::Certificate::from_der(der).expect("certificate");
    c.tbs_certificate().subject().to_der().expect("subject")
}

fn sorted(mut v: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    v.sort();
    v
}

fn ca_der(env: &Env, name: &str) -> Vec<u8> {
    let out = env.lgpki(&["ca", "cert", name]);
    assert_ok(&out, "ca cert");
    ders(&String::from_utf8_lossy(&out.stdout)).remove(0)
}

fn ext_text(pem: &Path) -> String {
    let out = openssl(&[
        "x509",
        "-in",
        s(pem),
        "-noout",
        "-ext",
        "authorityInfoAccess,subjectInfoAccess",
    ]);
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn cross_pairs_are_stored_and_listed_and_old_homes_are_migrated() {
    let env = Env::init(&[]);
    let (other, other_key) = other_ca(&env);
    let bridge_pem = env.path("bridge.pem");
    std::fs::write(
        &bridge_pem,
        env.lgpki(&["ca", "cert", "bridge"]).stdout.as_slice(),
    )
    .expect("write");
    let before = cross_of(&env, "bridge");
    // bridge → other, and other → bridge imported.
    let ours = env.path("ours.pem");
    json(
        &env,
        &[
            "cross-certify",
            "--ca",
            "bridge",
            "--subject-cert",
            s(&other),
            "--out",
            s(&ours),
        ],
    );
    let theirs = other_certifies(&env, &other, &other_key, &bridge_pem);
    assert_ok(
        &env.lgpki(&["cross-certify", "import", s(&theirs)]),
        "import",
    );
    let mut want = before.clone();
    want.extend(pem_file_ders(&ours));
    want.extend(pem_file_ders(&theirs));
    let want = sorted(want);
    assert_eq!(
        cross_of(&env, "bridge"),
        want,
        "ca cert bridge --cross: both halves"
    );
    // The pair is one row: issuedToThisCA (theirs) with issuedByThisCA (ours).
    let db = rusqlite::Connection::open(env.home.join("lgpki.db")).expect("db");
    let paired: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM cross_pairs WHERE ca = 'bridge' AND issued_to_this_ca = ?1 AND issued_by_this_ca = ?2",
            rusqlite::params![pem_file_ders(&theirs)[0], pem_file_ders(&ours)[0]],
            |r| r.get(0),
        )
        .expect("query");
    assert_eq!(paired, 1, "one pair holds both directions");
    // An unknown CA is an error.
    let o = env.lgpki(&["ca", "cert", "nope", "--cross"]);
    assert_ne!(o.status.code(), Some(0));

    // A home made before pairs were stored: no table, schema version 1, never migrated.
    db.execute_batch(
        "DROP TABLE cross_pairs; DELETE FROM schema_version WHERE version >= 2; DELETE FROM meta WHERE key = 'cross_pairs_migrated';",
    )
    .expect("downgrade");
    drop(db);
    assert_eq!(
        cross_of(&env, "bridge"),
        want,
        "the cross-certificates of an old home are migrated into pairs"
    );
    let db = rusqlite::Connection::open(env.home.join("lgpki.db")).expect("db");
    let version: i64 = db
        .query_row("SELECT MAX(version) FROM schema_version", [], |r| r.get(0))
        .expect("version");
    assert!(version >= 2, "the migration is recorded");
    let rows: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM cross_pairs WHERE ca = 'bridge' AND issued_to_this_ca IS NOT NULL AND issued_by_this_ca IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .expect("query");
    assert!(rows >= 1, "paired again after the migration");
    // Opening again migrates nothing twice.
    assert_eq!(cross_of(&env, "bridge"), want);
    let pairs_after: i64 = db
        .query_row("SELECT COUNT(*) FROM cross_pairs", [], |r| r.get(0))
        .expect("count");
    assert_eq!(cross_of(&env, "bridge"), want);
    let pairs_again: i64 = db
        .query_row("SELECT COUNT(*) FROM cross_pairs", [], |r| r.get(0))
        .expect("count");
    assert_eq!(pairs_after, pairs_again);
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn get(url: &str) -> (u16, String, Vec<u8>) {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .new_agent();
    let mut resp = agent.get(url).call().expect("GET");
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let status = resp.status().as_u16();
    let body = resp.body_mut().read_to_vec().expect("body");
    (status, ct, body)
}

const JAVA_CHECK: &str = r#"
import java.io.FileInputStream;
import java.security.cert.*;
import java.util.*;

public class AiaCheck {
    public static void main(String[] a) throws Exception {
        CertificateFactory cf = CertificateFactory.getInstance("X.509");
        X509Certificate anchor, leaf;
        try (FileInputStream in = new FileInputStream(a[0])) { anchor = (X509Certificate) cf.generateCertificate(in); }
        try (FileInputStream in = new FileInputStream(a[1])) { leaf = (X509Certificate) cf.generateCertificate(in); }
        X509CertSelector sel = new X509CertSelector();
        sel.setCertificate(leaf);
        PKIXBuilderParameters p = new PKIXBuilderParameters(Set.of(new TrustAnchor(anchor, null)), sel);
        p.addCertStore(CertStore.getInstance("Collection", new CollectionCertStoreParameters(List.of(leaf))));
        p.setRevocationEnabled(false);
        try {
            PKIXCertPathBuilderResult r = (PKIXCertPathBuilderResult) CertPathBuilder.getInstance("PKIX").build(p);
            for (Certificate c : r.getCertPath().getCertificates())
                System.out.println(((X509Certificate) c).getSubjectX500Principal().getName() + " <- " + ((X509Certificate) c).getIssuerX500Principal().getName());
            System.out.println("VALID");
        } catch (CertPathBuilderException e) {
            System.out.println("INVALID " + e.getMessage());
            System.exit(1);
        }
    }
}
"#;

fn jdk_builds(env: &Env, anchor: &Path, leaf: &Path, aia: bool) -> (bool, String) {
    let src = env.path("AiaCheck.java");
    std::fs::write(&src, JAVA_CHECK).expect("write");
    let out = Command::new("java")
        .arg(format!("-Dcom.sun.security.enableAIAcaIssuers={aia}"))
        .arg(&src)
        .arg(anchor)
        .arg(leaf)
        .output()
        .expect("java (apt-get install default-jdk-headless)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success() && text.contains("VALID"), text)
}

#[test]
fn bundles_are_published_served_named_by_aia_and_sia_and_lead_the_jdk_across() {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let env = Env::init(&["--base-url", &base]);
    let (other, other_key) = other_ca(&env);
    // Our own sub-CA under the bridge, and a staff certificate it issues.
    json(
        &env,
        &[
            "ca",
            "create",
            "sub-x",
            "--parent",
            "bridge",
            "--profile",
            "staff",
        ],
    );
    let csr = make_csr(
        env.dir.path(),
        "leaf",
        KeyKind::P256,
        "/C=JP/O=LGPKI/OU=千代田区/CN=leaf",
        &[],
    );
    let leaf = env.path("leaf.pem");
    json(
        &env,
        &[
            "issue",
            "--profile",
            "staff",
            "--ca",
            "sub-x",
            "--csr",
            s(&csr),
            "--out",
            s(&leaf),
        ],
    );
    let bridge_pem = env.path("bridge.pem");
    std::fs::write(&bridge_pem, env.lgpki(&["ca", "cert", "bridge"]).stdout).expect("write");
    let sub_pem = env.path("sub-x.pem");
    std::fs::write(&sub_pem, env.lgpki(&["ca", "cert", "sub-x"]).stdout).expect("write");
    let ours = env.path("ours.pem");
    json(
        &env,
        &[
            "cross-certify",
            "--ca",
            "bridge",
            "--subject-cert",
            s(&other),
            "--out",
            s(&ours),
        ],
    );
    let theirs = other_certifies(&env, &other, &other_key, &bridge_pem);
    assert_ok(
        &env.lgpki(&["cross-certify", "import", s(&theirs)]),
        "import",
    );

    // AIA and SIA name the bundles; pkilint is clean on what carries them.
    let leaf_ext = ext_text(&leaf);
    assert!(
        leaf_ext.contains(&format!("CA Issuers - URI:{base}/issued-to/sub-x.p7c")),
        "{leaf_ext}"
    );
    let sub_ext = ext_text(&sub_pem);
    assert!(
        sub_ext.contains(&format!("CA Issuers - URI:{base}/issued-to/bridge.p7c"))
            && sub_ext.contains(&format!("CA Repository - URI:{base}/issued-by/sub-x.p7c")),
        "{sub_ext}"
    );
    let ours_ext = ext_text(&ours);
    assert!(
        ours_ext.contains(&format!("CA Issuers - URI:{base}/issued-to/bridge.p7c"))
            && !ours_ext.contains("CA Repository"),
        "a cross-certificate to another domain names no repository of theirs: {ours_ext}"
    );
    for p in [&leaf, &sub_pem, &ours] {
        common::assert_pkilint_clean(p);
    }

    // publish writes the bundles; OpenSSL reads them.
    let pubdir = env.path("pub");
    assert_ok(&env.lgpki(&["publish", "--out", s(&pubdir)]), "publish");
    let cur = pubdir.join("current");
    let bridge_to = std::fs::read(cur.join("issued-to/bridge.p7c")).expect("issued-to");
    let mut want_to = vec![ca_der(&env, "bridge")];
    want_to.extend(pem_file_ders(&theirs));
    // init's cross-certificate from the organisation CA to the bridge (the pair's other half
    // is the bridge's own, in issued-by).
    let bridge_subject = subject_der(&ca_der(&env, "bridge"));
    want_to.extend(
        cross_of(&env, "organization")
            .into_iter()
            .filter(|d| subject_der(d) == bridge_subject),
    );
    assert_eq!(
        p7c_certs(&bridge_to, env.dir.path()),
        sorted(want_to.clone()),
        "issued-to/bridge.p7c: the bridge's certificate and the cross-certificate to it"
    );
    let bridge_by = p7c_certs(
        &std::fs::read(cur.join("issued-by/bridge.p7c")).expect("issued-by"),
        env.dir.path(),
    );
    for d in [pem_file_ders(&ours).remove(0), ca_der(&env, "sub-x")] {
        assert!(
            bridge_by.contains(&d),
            "issued-by/bridge.p7c holds the cross-certificate and sub-x's certificate"
        );
    }
    assert!(
        !bridge_by.contains(&ca_der(&env, "bridge")),
        "only what the bridge issued to other CAs"
    );
    let arl = cur.join("arl/sub-x.crl");
    let o = openssl(&["crl", "-inform", "DER", "-in", s(&arl), "-noout", "-text"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("Only CA Certificates"),
        "publish writes each CA's ARL"
    );

    // serve serves them.
    let _serve = common::Server::start_at(&env, &format!("127.0.0.1:{port}"), &[]);
    let (status, ct, body) = get(&format!("{base}/issued-to/bridge.p7c"));
    assert_eq!((status, ct.as_str()), (200, "application/pkcs7-mime"));
    assert_eq!(p7c_certs(&body, env.dir.path()), sorted(want_to));
    let (status, ct, body) = get(&format!("{base}/issued-by/sub-x.p7c"));
    assert_eq!((status, ct.as_str()), (200, "application/pkcs7-mime"));
    assert!(
        p7c_certs(&body, env.dir.path()).is_empty(),
        "sub-x issued no CA certificate"
    );
    let (status, ct, body) = get(&format!("{base}/arl/bridge.crl"));
    assert_eq!((status, ct.as_str()), (200, "application/pkix-crl"));
    let arl_file = env.path("served-arl.crl");
    std::fs::write(&arl_file, &body).expect("write");
    let o = openssl(&[
        "crl",
        "-inform",
        "DER",
        "-in",
        s(&arl_file),
        "-CAfile",
        s(&bridge_pem),
        "-verify",
        "-noout",
    ]);
    assert!(o.status.success(), "the served ARL verifies");
    assert_eq!(get(&format!("{base}/issued-to/nope.p7c")).0, 404);

    // The JDK, anchored on the other domain's CA alone and given only the leaf, finds the
    // path leaf ← sub-x ← bridge ←cross— other by fetching the bundles the AIA names; without
    // AIA fetching it cannot.
    let (ok, out) = jdk_builds(&env, &other, &leaf, true);
    assert!(ok, "JDK CertPathBuilder with AIA: {out}");
    assert!(
        out.contains("CN=LGPKI Bridge CA") && out.contains("CN=Other Bridge CA"),
        "through the cross-certificate: {out}"
    );
    let (ok, out) = jdk_builds(&env, &other, &leaf, false);
    assert!(!ok, "without the bundles there is no path: {out}");
}

/// After `ca renew`, a certificate signed by the retired key still names
/// `issued-to/NAME.p7c`; the bundle holds the link certificates, so a relying party that holds
/// only the new self-signed certificate (the JDK, fetching what the AIA names) reaches the old
/// key through OldWithNew. Without AIA fetching it cannot: the bundle is what finds the path.
#[test]
fn after_a_renewal_the_bundle_leads_an_old_certificate_to_the_new_anchor() {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let env = Env::init(&["--base-url", &base]);
    let csr = make_csr(
        env.dir.path(),
        "old",
        KeyKind::P256,
        "/C=JP/O=LGPKI/OU=千代田区/CN=old leaf",
        &[],
    );
    let leaf = env.path("old.pem");
    json(
        &env,
        &[
            "issue",
            "--profile",
            "staff",
            "--csr",
            s(&csr),
            "--out",
            s(&leaf),
        ],
    );
    let old_anchor = env.path("org-old.pem");
    std::fs::write(
        &old_anchor,
        env.lgpki(&["ca", "cert", "organization"]).stdout,
    )
    .expect("write");
    json(&env, &["ca", "renew", "organization"]);
    let new_anchor = env.path("org-new.pem");
    std::fs::write(
        &new_anchor,
        env.lgpki(&["ca", "cert", "organization"]).stdout,
    )
    .expect("write");
    assert_ne!(
        pem_file_ders(&old_anchor),
        pem_file_ders(&new_anchor),
        "renew made a new certificate"
    );
    assert!(
        ext_text(&leaf).contains(&format!(
            "CA Issuers - URI:{base}/issued-to/organization.p7c"
        )),
        "the old certificate names the bundle"
    );

    // publish: the bundle holds both generations' certificates and both link certificates.
    let pubdir = env.path("pub");
    assert_ok(&env.lgpki(&["publish", "--out", s(&pubdir)]), "publish");
    let bundle = p7c_certs(
        &std::fs::read(pubdir.join("current/issued-to/organization.p7c")).expect("bundle"),
        env.dir.path(),
    );
    let links = ders(&String::from_utf8_lossy(
        &env.lgpki(&["ca", "cert", "organization", "--links"]).stdout,
    ));
    assert_eq!(links.len(), 2, "OldWithNew and NewWithOld");
    for d in links
        .iter()
        .chain(&pem_file_ders(&old_anchor))
        .chain(&pem_file_ders(&new_anchor))
    {
        assert!(bundle.contains(d), "issued-to/organization.p7c lacks one");
    }

    let _serve = common::Server::start_at(&env, &format!("127.0.0.1:{port}"), &[]);
    let (status, _, body) = get(&format!("{base}/issued-to/organization.p7c"));
    assert_eq!(status, 200);
    assert_eq!(
        p7c_certs(&body, env.dir.path()),
        bundle,
        "serve and publish agree"
    );

    let (ok, out) = jdk_builds(&env, &new_anchor, &leaf, false);
    assert!(!ok, "without AIA the JDK has no path: {out}");
    let (ok, out) = jdk_builds(&env, &new_anchor, &leaf, true);
    assert!(
        ok,
        "JDK CertPathBuilder with AIA, new anchor, old certificate: {out}"
    );
    let (ok, out) = jdk_builds(&env, &old_anchor, &leaf, false);
    assert!(ok, "the old anchor still validates it directly: {out}");
}
