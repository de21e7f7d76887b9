//! The injected clock is the time issuance, revocation and CRLs use (checked by `openssl`), and
//! refused registration acts are in the audit log under the party who tried them, named
//! explicitly (no `act_as` before).

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use ca_core::{
    Actor, Authority, DistinguishedName, FixedClock, InitOptions, IssuanceRequest, Issued,
    KeyAlgorithm, PassphraseSource, Revocation, Role, SoftwareSigner, build_csr, generate_pkcs8,
};

fn csr(cn: &str) -> Vec<u8> {
    let pkcs8 = generate_pkcs8(KeyAlgorithm::EcdsaP256).expect("key");
    let key = SoftwareSigner::from_pkcs8(&pkcs8, "subscriber").expect("signer");
    let subject = DistinguishedName::parse(&format!("CN={cn},OU=千代田区,O=LGPKI,C=JP"))
        .expect("dn")
        .to_der()
        .expect("dn der");
    build_csr(&key, &subject).expect("csr")
}

fn init(dir: &Path) -> Authority {
    let pass = dir.join("pass");
    std::fs::write(&pass, "clock test passphrase").expect("passphrase");
    Authority::init(
        &dir.join("home"),
        InitOptions::software(PassphraseSource::File(pass)).expect("options"),
    )
    .expect("init")
}

fn issue(ca: &mut Authority, cn: &str) -> Issued {
    ca.issue(IssuanceRequest {
        profile: "staff".into(),
        csr_der: csr(cn),
        ca: None,
        subject: None,
        sans: Vec::new(),
        days: None,
        request_id: None,
    })
    .expect("issue")
}

fn openssl(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl must be installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn issuance_revocation_and_crls_take_the_injected_time() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut ca = init(dir.path());
    // Tomorrow at 00:00:00 UTC: within the CA's validity, and never what the system clock says.
    let t = (time::OffsetDateTime::now_utc() + time::Duration::days(1))
        .replace_time(time::Time::MIDNIGHT);
    let head = ca.store().audit_head().expect("head").map_or(0, |h| h.0);
    ca.set_clock(Arc::new(FixedClock::at(t)));
    assert_eq!(ca.now(), t);
    let issued = issue(&mut ca, "clock");
    assert_eq!(issued.not_before, ca_core::rfc3339(t.unix_timestamp()));
    std::fs::write(dir.path().join("leaf.pem"), &issued.pem).expect("leaf");
    let start = openssl(
        dir.path(),
        &["x509", "-in", "leaf.pem", "-noout", "-startdate"],
    );
    let want = t
        .format(&time::macros::format_description!(
            "[month repr:short] [day padding:space] [hour]:[minute]:[second] [year] GMT"
        ))
        .expect("format");
    assert_eq!(start.trim(), format!("notBefore={want}"));
    let out = ca
        .revoke(&[Revocation {
            serial: issued.serial.to_string(),
            reason: "keyCompromise".into(),
            ca: None,
            invalidity_date: None,
        }])
        .expect("revoke");
    let rec = out[0].as_ref().expect("revoked");
    assert_eq!(rec.record.revoked_at, Some(t.unix_timestamp()));
    let crl = ca.crl(&issued.ca, false).expect("crl");
    std::fs::write(dir.path().join("ca.crl"), crl).expect("crl file");
    let text = openssl(
        dir.path(),
        &["crl", "-inform", "DER", "-in", "ca.crl", "-noout", "-text"],
    );
    assert!(text.contains(&format!("Last Update: {want}")), "{text}");
    assert!(text.contains(&format!("Revocation Date: {want}")), "{text}");
    // The store dates its own records by the same clock: every audit record since (the
    // issuance, the revocation, the CRL) carries the injected time, not the system's.
    let records = ca.store().audit_records_from(head + 1).expect("audit");
    let actions: Vec<&str> = records.iter().map(|r| r.action.as_str()).collect();
    assert!(actions.iter().any(|a| a.contains("issue")), "{actions:?}");
    assert!(actions.iter().any(|a| a.contains("revoke")), "{actions:?}");
    let stamp = ca_core::rfc3339(t.unix_timestamp());
    for r in &records {
        assert_eq!(r.time, stamp, "{} {}", r.seq, r.action);
    }
}

#[test]
fn refused_registration_acts_are_audited_under_who_tried() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut ca = init(dir.path());
    let op = Actor::Operator;
    ca.org_add(&op, "131016", "千代田区").expect("org");
    let reg_cert = issue(&mut ca, "registrar");
    let appr_cert = issue(&mut ca, "approver");
    ca.officer_add(&op, "131016", &reg_cert.der, Role::Registrar)
        .expect("registrar");
    ca.officer_add(&op, "131016", &appr_cert.der, Role::Approver)
        .expect("approver");
    let registrar = ca.authenticate(&reg_cert.der).expect("registrar signs in");
    let approver = ca.authenticate(&appr_cert.der).expect("approver signs in");
    let refusals = |ca: &Authority, action: &str| -> Vec<(String, String, String)> {
        ca.store()
            .audit_records()
            .expect("audit")
            .into_iter()
            .filter(|r| r.action == action && r.outcome.starts_with("refused: "))
            .map(|r| (r.actor, r.target, r.outcome))
            .collect()
    };

    // 1. A registrar trying to approve.
    let req = ca
        .request_submit(&registrar, "staff", &csr("user one"), "131016", None, &[])
        .expect("submit");
    ca.request_approve(&registrar, req.id)
        .expect_err("a registrar may not approve");
    let seen = refusals(&ca, "request.approve");
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].0, registrar.label());
    assert_eq!(seen[0].1, req.id.to_string());
    assert!(seen[0].2.contains("approver role"), "{seen:?}");

    // 2. An approver approving their own request.
    let own = ca
        .request_submit(&approver, "staff", &csr("user two"), "131016", None, &[])
        .expect("submit");
    ca.request_approve(&approver, own.id)
        .expect_err("no self-approval");
    let seen = refusals(&ca, "request.approve");
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[1].0, approver.label());
    assert_eq!(seen[1].1, own.id.to_string());
    assert!(seen[1].2.contains("their own request"), "{seen:?}");

    // 3. A revoked client certificate signing in.
    ca.revoke(&[Revocation {
        serial: reg_cert.serial.to_string(),
        reason: "keyCompromise".into(),
        ca: None,
        invalidity_date: None,
    }])
    .expect("revoke")[0]
        .as_ref()
        .expect("revoked");
    ca.authenticate(&reg_cert.der)
        .expect_err("a revoked certificate authenticates nobody");
    let seen = refusals(&ca, "ra.authenticate");
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].0, format!("client certificate {}", reg_cert.serial));
    assert_eq!(seen[0].1, reg_cert.serial.to_string());
    assert!(seen[0].2.contains("is revoked"), "{seen:?}");

    // The approval that is allowed is recorded under the approver, not the operator.
    ca.request_approve(&approver, req.id).expect("approve");
    let records = ca.store().audit_records().expect("audit");
    let approved = records
        .iter()
        .find(|r| r.action == "request.approve" && r.outcome == "ok")
        .expect("approval recorded");
    assert_eq!(approved.actor, approver.label());
    let issued = records
        .iter()
        .rev()
        .find(|r| r.action == "cert.issue")
        .expect("issuance recorded");
    assert_eq!(
        issued.actor,
        approver.label(),
        "the approval's issuance too"
    );
    // The chain is intact after all of it.
    ca_core::verify_chain(&records).expect("chain intact");
}
