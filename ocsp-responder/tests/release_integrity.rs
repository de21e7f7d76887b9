//! Signed releases and freshness, end to end with the real `ocsp-responder` binary and
//! `openssl ocsp`:
//! - a release older than `--max-age` is answered `tryLater` and `/healthz` is 503, while the
//!   same release under a longer max-age answers, with nextUpdate capped at the release's own
//!   validity;
//! - a release with an older status file spliced in is refused (also when the manifest hash is
//!   patched to match: the signature then fails), the previous release stays in service and
//!   the revoked certificate is never answered good; the intact release is then accepted;
//! - a release with a lower sequence number is refused;
//! - a release signed only by a CA key that is not pinned (another home) is refused.

mod common;

use common::{Responder, init_home, openssl, run, text};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use ca_core::input::to_pem;
use ca_core::publish::Publication;
use ca_core::{Authority, Revocation};

/// A CA home with two issued certificates (`good`, `bad`), none revoked yet.
struct Pki {
    dir: tempfile::TempDir,
    auth: Authority,
    bad: String,
}

impl Pki {
    fn new(settings: Option<&str>) -> Pki {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::write(d.join("pass"), "release test passphrase\n").expect("pass");
        let mut auth = init_home(&d.join("home"), &d.join("pass"));
        if let Some(s) = settings {
            std::fs::write(d.join("home").join("lgpki.toml"), s).expect("lgpki.toml");
        }
        let mut issue = |name: &str| common::issue_staff(&mut auth, d, name);
        issue("good");
        let bad = issue("bad");
        Pki { dir, auth, bad }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn data(&self) -> PathBuf {
        self.path("pub")
    }

    fn revoke_bad(&mut self) {
        let r = self
            .auth
            .revoke(&[Revocation {
                serial: self.bad.clone(),
                reason: "keyCompromise".into(),
                ca: None,
                invalidity_date: None,
            }])
            .expect("revoke");
        assert!(r.iter().all(Result::is_ok), "{r:?}");
    }

    /// Publishes into `out` and writes the CA chain for openssl; returns the release id.
    fn publish_to(&mut self, out: &Path) -> String {
        let id = self.auth.publish(out).expect("publish").id;
        let publication = Publication::load(out).expect("load");
        let mut chain = String::new();
        for ca in &publication.cas {
            let pem = to_pem("CERTIFICATE", &ca.cert_der);
            std::fs::write(self.path(&format!("{}.ca.pem", ca.name)), &pem).expect("ca pem");
            chain.push_str(&pem);
        }
        std::fs::write(self.path("chain.pem"), chain).expect("chain");
        id
    }

    fn publish(&mut self) -> String {
        let data = self.data();
        self.publish_to(&data)
    }

    /// `openssl ocsp` for `cert`, no nonce; with `respout`, the DER response is kept there.
    fn query(&self, url: &str, cert: &str, respout: Option<&str>) -> String {
        let mut args = vec![
            "ocsp",
            "-url",
            url,
            "-issuer",
            "organization.ca.pem",
            "-CAfile",
            "chain.pem",
            "-cert",
            cert,
            "-no_nonce",
            "-resp_text",
        ];
        if let Some(f) = respout {
            args.extend_from_slice(&["-respout", f]);
        }
        text(&run(Command::new("openssl")
            .current_dir(self.dir.path())
            .args(&args)))
    }
}

/// Points `DIR/current` at `releases/<id>` atomically, as publish does.
fn switch_current(data: &Path, id: &str) {
    let tmp = data.join(".current-test");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(Path::new("releases").join(id), &tmp).expect("symlink");
    std::fs::rename(&tmp, data.join("current")).expect("swap current");
}

fn copy_dir(from: &Path, to: &Path) {
    let out = run(Command::new("cp").arg("-a").arg(from).arg(to));
    assert!(out.status.success(), "cp: {}", text(&out));
}

/// [`common::http_get`] with the body as text.
fn text_get(url: &str, path: &str) -> (u16, String) {
    let (status, _, body) = common::http_get(url, path, &[]);
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// The value of an unlabelled sample in Prometheus text.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

#[test]
fn a_release_older_than_max_age_is_answered_try_later() {
    // CRLs valid for 20 minutes: the release is valid for 20 minutes, less than the
    // responder's one-hour answers, so nextUpdate must be capped.
    let mut pki = Pki::new(Some(
        "[crl]\nvalidity = \"20m\"\n[arl]\nvalidity = \"20m\"\n",
    ));
    pki.publish();
    let publication = Publication::load(&pki.data()).expect("load");
    assert_eq!(publication.sequence, 1);
    std::thread::sleep(Duration::from_secs(6));

    // --max-age 4s on a 6-second-old release.
    let stale = Responder::start(&pki.data(), &["--max-age", "4s"]);
    let t = pki.query(&stale.url, "good.pem", None);
    assert!(t.contains("trylater (3)"), "{t}");
    assert!(!t.contains("good.pem: good"), "{t}");
    let (status, body) = text_get(&stale.url, "/healthz");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("over --max-age 4 s"), "{body}");
    let (_, metrics) = text_get(&stale.url, "/metrics");
    assert!(
        metric(&metrics, "lgpki_publication_age_seconds") >= 6.0,
        "{metrics}"
    );
    assert_eq!(metric(&metrics, "lgpki_publication_sequence"), 1.0);
    assert_eq!(metric(&metrics, "lgpki_publication_stale"), 1.0);
    assert!(
        metrics.contains("lgpki_ocsp_responses_total{status=\"tryLater\"}"),
        "{metrics}"
    );
    drop(stale);

    // The same release under a day's max-age: answered, healthy, and nextUpdate within the
    // release's own validity.
    let fresh = Responder::start(&pki.data(), &["--max-age", "24h"]);
    let t = pki.query(&fresh.url, "good.pem", Some("good.resp"));
    assert!(
        t.contains("Response verify OK") && t.contains("good.pem: good"),
        "{t}"
    );
    let resp = ca_core::ocsp::parse_response(&std::fs::read(pki.path("good.resp")).expect("resp"))
        .expect("parse response");
    let single = &resp.basic.expect("basic").responses[0];
    let next = single.next_update.expect("nextUpdate").unix_timestamp();
    assert!(
        next <= publication.not_after,
        "{next} > {}",
        publication.not_after
    );
    assert!(
        next - single.this_update.unix_timestamp() < 3600,
        "nextUpdate was not capped: {single:?}"
    );
    let (status, body) = text_get(&fresh.url, "/healthz");
    assert_eq!((status, body.as_str()), (200, "ok\n"));
}

#[test]
fn spliced_older_or_foreign_releases_are_refused() {
    let mut pki = Pki::new(None);
    let data = pki.data();
    // Release 1: before the revocation.
    let r1 = pki.publish();
    let old_status = std::fs::read(
        data.join("releases")
            .join(&r1)
            .join("status/organization.bin"),
    )
    .expect("old status");
    // Release 2: `bad` revoked.
    pki.revoke_bad();
    let r2 = pki.publish();
    let responder = Responder::start(&data, &[]);
    let url = responder.url.clone();
    let t = pki.query(&url, "bad.pem", None);
    assert!(
        t.contains("Response verify OK") && t.contains("bad.pem: revoked"),
        "{t}"
    );

    // Release 3, made in a copy of the directory (so the sequence continues) and brought in.
    let side = pki.path("side");
    copy_dir(&data, &side);
    let r3 = pki.publish_to(&side);
    let rel3 = data.join("releases").join(&r3);
    copy_dir(&side.join("releases").join(&r3), &rel3);
    let good_status = std::fs::read(rel3.join("status/organization.bin")).expect("status");
    assert_ne!(good_status, old_status);

    // Spliced: release 1's status file (bad not yet revoked) in release 3.
    std::fs::write(rel3.join("status/organization.bin"), &old_status).expect("splice");
    switch_current(&data, &r3);
    let line = responder.wait_for_log(&["refused", "reason=files", &r2]);
    assert!(line.contains("status/organization.bin"), "{line}");
    let t = pki.query(&url, "bad.pem", None);
    assert!(t.contains("bad.pem: revoked"), "{t}");
    assert!(!t.contains("bad.pem: good"), "{t}");

    // The same splice with the manifest's hash patched to match: the signature fails.
    let manifest_path = rel3.join("manifest.json");
    let manifest = std::fs::read_to_string(&manifest_path).expect("manifest");
    let spliced_manifest = manifest.replace(
        &hex::encode(openssl_sha256(&good_status)),
        &hex::encode(openssl_sha256(&old_status)),
    );
    assert_ne!(spliced_manifest, manifest);
    std::fs::write(&manifest_path, &spliced_manifest).expect("patch manifest");
    let line = responder.wait_for_log(&["refused", "reason=signature"]);
    assert!(line.contains("does not verify"), "{line}");
    let t = pki.query(&url, "bad.pem", None);
    assert!(
        t.contains("bad.pem: revoked") && !t.contains("bad.pem: good"),
        "{t}"
    );

    // Repaired: the intact release 3 is accepted.
    std::fs::write(&manifest_path, &manifest).expect("restore manifest");
    std::fs::write(rel3.join("status/organization.bin"), &good_status).expect("restore");
    responder.wait_for_log(&["now serving release", &r3, "sequence 3"]);

    // Release 1 again (intact, correctly signed, but sequence 1 < 3): refused.
    switch_current(&data, &r1);
    let line = responder.wait_for_log(&["refused", "reason=sequence"]);
    assert!(line.contains("not newer than 3"), "{line}");
    let t = pki.query(&url, "bad.pem", None);
    assert!(
        t.contains("bad.pem: revoked") && !t.contains("bad.pem: good"),
        "{t}"
    );

    // A release from another home (valid in itself, newer sequence, but signed only by CA keys
    // that were never pinned): refused.
    let other_dir = pki.path("other");
    std::fs::create_dir(&other_dir).expect("mkdir");
    let mut other = init_home(&other_dir.join("home"), &pki.path("pass"));
    let foreign_side = pki.path("foreign");
    copy_dir(&side, &foreign_side);
    let r4 = other.publish(&foreign_side).expect("publish other").id;
    assert!(Publication::load(&foreign_side).expect("load").sequence > 3);
    copy_dir(
        &foreign_side.join("releases").join(&r4),
        &data.join("releases").join(&r4),
    );
    switch_current(&data, &r4);
    let line = responder.wait_for_log(&["refused", "reason=signer"]);
    assert!(line.contains("not signed by any pinned CA key"), "{line}");
    let t = pki.query(&url, "bad.pem", None);
    assert!(
        t.contains("bad.pem: revoked") && t.contains("Response verify OK"),
        "{t}"
    );

    let (_, metrics) = text_get(&url, "/metrics");
    for reason in ["files", "signature", "sequence", "signer"] {
        assert!(
            metrics.contains(&format!(
                "lgpki_publication_refused_total{{reason=\"{reason}\"}} 1"
            )),
            "{reason}:\n{metrics}"
        );
    }
    assert_eq!(metric(&metrics, "lgpki_publication_sequence"), 3.0);

    drop(responder);
    // --trust-ca: the other home's CA certificates do not admit our release; ours do.
    switch_current(&data, &r3);
    let foreign = Publication::load(&foreign_side).expect("load foreign");
    let foreign_pem: String = foreign
        .cas
        .iter()
        .map(|c| to_pem("CERTIFICATE", &c.cert_der))
        .collect();
    std::fs::write(pki.path("foreign.pem"), foreign_pem).expect("foreign pem");
    let out = run(Command::new(env!("CARGO_BIN_EXE_ocsp-responder"))
        .arg("--data")
        .arg(&data)
        .args(["--listen", "127.0.0.1:0", "--trust-ca"])
        .arg(pki.path("foreign.pem")));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("not signed by a --trust-ca key"),
        "{}",
        text(&out)
    );
    let chain = pki.path("chain.pem");
    let pinned = Responder::start(&data, &["--trust-ca", chain.to_str().expect("utf8")]);
    let t = pki.query(&pinned.url, "bad.pem", None);
    assert!(
        t.contains("bad.pem: revoked") && t.contains("Response verify OK"),
        "{t}"
    );
    drop(pinned);

    // A responder started on the spliced release refuses it outright.
    std::fs::write(rel3.join("status/organization.bin"), &old_status).expect("splice");
    switch_current(&data, &r3);
    let out = run(Command::new(env!("CARGO_BIN_EXE_ocsp-responder"))
        .arg("--data")
        .arg(&data)
        .args(["--listen", "127.0.0.1:0"]));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("does not match the signed manifest"),
        "{}",
        text(&out)
    );
}

#[test]
fn the_manifest_signature_verifies_with_openssl() {
    let mut pki = Pki::new(None);
    let id = pki.publish();
    let rel = pki.data().join("releases").join(&id);
    let sigs: serde_json::Value =
        serde_json::from_slice(&std::fs::read(rel.join("manifest.sig")).expect("sig"))
            .expect("json");
    let list = sigs["signatures"].as_array().expect("signatures");
    let publication = Publication::load(&pki.data()).expect("load");
    assert_eq!(list.len(), publication.cas.len());
    use base64::Engine as _;
    for s in list {
        let ca = s["ca"].as_str().expect("ca");
        let sig = base64::engine::general_purpose::STANDARD
            .decode(s["signature"].as_str().expect("signature"))
            .expect("base64");
        std::fs::write(pki.path("sig.bin"), &sig).expect("write");
        openssl(
            pki.dir.path(),
            &[
                "x509",
                "-inform",
                "DER",
                "-in",
                rel.join(format!("ca/{ca}.crt")).to_str().expect("path"),
                "-pubkey",
                "-noout",
                "-out",
                "pub.pem",
            ],
        );
        let t = openssl(
            pki.dir.path(),
            &[
                "dgst",
                "-sha256",
                "-verify",
                "pub.pem",
                "-signature",
                "sig.bin",
                rel.join("manifest.json").to_str().expect("path"),
            ],
        );
        assert!(t.contains("Verified OK"), "{ca}: {t}");
    }
}

fn openssl_sha256(data: &[u8]) -> Vec<u8> {
    use std::process::Stdio as S;
    // Computed with openssl, independently of lgpki's own hashing.
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha256", "-binary"])
        .stdin(S::piped())
        .stdout(S::piped())
        .spawn()
        .expect("openssl dgst");
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(data)
            .expect("write");
    }
    child.wait_with_output().expect("wait").stdout
}
