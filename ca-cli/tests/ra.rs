//! Registration over the network: `lgpki serve` with its mutual-TLS RA API, officers made with
//! lgpki itself, and the remote CLI driven through every rule and refusal.

mod common;

use std::process::Command;

use common::{
    Backend, Env, KeyKind, Server, StoreKind, assert_ok, json_lines, make_key, openssl_ok,
};

use common::Officer;

/// Makes a key with openssl and a staff certificate for it with lgpki itself.
fn officer(env: &Env, name: &str, ou: &str) -> Officer {
    common::officer_cert(env, name, name, ou)
}

fn remote(env: &Env, server: &Server, who: &Officer, args: &[&str]) -> std::process::Output {
    common::remote_as(env, &server.ra, who, args)
}

fn state(env: &Env) -> (Vec<serde_json::Value>, usize) {
    let reqs = json_lines(&env.lgpki(&["--json", "request", "list"]).stdout);
    (reqs, common::issued_count(env))
}

fn officers_act_for_their_own_organisation_only(store: StoreKind) {
    let env = Env::init_on(store, Backend::Soft, &[]);
    std::fs::write(
        env.path("root.pem"),
        // The RA listener's TLS certificate chains to the application root.
        env.lgpki(&["ca", "cert", "application"]).stdout,
    )
    .expect("root");
    assert_ok(
        &env.lgpki(&["org", "add", "--code", "131016", "--name", "千代田区"]),
        "org",
    );
    assert_ok(
        &env.lgpki(&["org", "add", "--code", "011002", "--name", "札幌市"]),
        "org 2",
    );
    let bad_org = env.lgpki(&["org", "add", "--code", "131017", "--name", "誤り"]);
    assert_eq!(bad_org.status.code(), Some(2), "wrong check digit");

    let reg = officer(&env, "registrar", "千代田区");
    let app = officer(&env, "approver", "千代田区");
    let app2 = officer(&env, "approver2", "千代田区");
    let sap = officer(&env, "sapporo", "札幌市");
    for (o, org, role) in [
        (&reg, "131016", "registrar"),
        (&app, "131016", "approver"),
        (&app2, "131016", "approver"),
        (&sap, "011002", "approver"),
    ] {
        assert_ok(
            &env.lgpki(&[
                "officer", "add", "--org", org, "--cert", &o.cert, "--role", role,
            ]),
            "officer add",
        );
    }
    let server = Server::start(&env);

    let subject_key = make_key(env.dir.path(), "subject", KeyKind::P256);
    let csr = env.path("subject.csr");
    openssl_ok(&[
        "req",
        "-new",
        "-utf8",
        "-key",
        subject_key.to_str().expect("utf8"),
        "-subj",
        "/C=JP/O=LGPKI/CN=山田太郎",
        "-out",
        csr.to_str().expect("utf8"),
    ]);
    let csr = csr.to_str().expect("utf8");

    // 1. A registrar submits for their organisation; OU is bound to the organisation's name.
    let out = remote(
        &env,
        &server,
        &reg,
        &[
            "request",
            "submit",
            "--profile",
            "staff",
            "--csr",
            csr,
            "--org",
            "131016",
        ],
    );
    assert_ok(&out, "submit");
    let r = &json_lines(&out.stdout)[0];
    assert_eq!(r["state"], "pending");
    assert_eq!(r["subject"], "CN=山田太郎,OU=千代田区,O=LGPKI,C=JP");
    let id = r["id"].as_i64().expect("id").to_string();

    // Refusals change nothing.
    let before = state(&env);
    let refusals: Vec<(&Officer, Vec<&str>, &str)> = vec![
        (&reg, vec!["request", "approve", &id], "approver role"),
        (&sap, vec!["request", "approve", &id], "no request"),
        (
            &sap,
            vec!["request", "reject", &id, "--reason", "x"],
            "no request",
        ),
        (&sap, vec!["request", "fetch", &id], "no request"),
        (
            &reg,
            vec![
                "request",
                "submit",
                "--profile",
                "staff",
                "--csr",
                csr,
                "--org",
                "011002",
            ],
            "you act for organisation 131016",
        ),
        (
            &reg,
            vec![
                "request",
                "submit",
                "--profile",
                "staff",
                "--csr",
                csr,
                "--org",
                "131016",
                "--subject",
                "CN=x,OU=札幌市",
            ],
            "is not your organisation",
        ),
        (
            &reg,
            vec![
                "request",
                "submit",
                "--profile",
                "staff",
                "--csr",
                csr,
                "--org",
                "131016",
                "--subject",
                // The 団体 is the first OU; naming our organisation second does not help.
                "/C=JP/O=LGPKI/OU=札幌市/OU=千代田区/CN=x",
            ],
            "OU \"札幌市\" is not your organisation",
        ),
        (
            &reg,
            vec![
                "request",
                "submit",
                "--profile",
                "nope",
                "--csr",
                csr,
                "--org",
                "131016",
            ],
            "unknown profile",
        ),
    ];
    for (who, args, needle) in &refusals {
        let out = remote(&env, &server, who, args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains(needle),
            "{args:?}: expected {needle:?} in {err}"
        );
        assert_eq!(state(&env), before, "{args:?} changed something");
    }
    // Another organisation does not even see the request.
    let out = remote(&env, &server, &sap, &["request", "list"]);
    assert_ok(&out, "list as other org");
    assert!(json_lines(&out.stdout).is_empty());

    // 2. An approver submits; the same approver cannot approve it, another one can.
    let out = remote(
        &env,
        &server,
        &app,
        &[
            "request",
            "submit",
            "--profile",
            "staff",
            "--csr",
            csr,
            "--org",
            "131016",
            "--subject",
            "/C=JP/O=LGPKI/OU=千代田区/OU=総務部/CN=山田太郎",
        ],
    );
    assert_ok(&out, "approver submits");
    // Two OUs, 団体 then 部署: the organisation check reads the first.
    assert_eq!(
        json_lines(&out.stdout)[0]["subject"],
        "CN=山田太郎,OU=総務部,OU=千代田区,O=LGPKI,C=JP"
    );
    let own = json_lines(&out.stdout)[0]["id"]
        .as_i64()
        .expect("id")
        .to_string();
    let out = remote(&env, &server, &app, &["request", "approve", &own]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("may not approve their own request"));
    assert_ok(
        &remote(
            &env,
            &server,
            &app2,
            &["request", "reject", &own, "--reason", "duplicate"],
        ),
        "reject by the other approver",
    );

    // 3. The approver approves the registrar's request: issued, fetchable by the registrar.
    let out = remote(&env, &server, &app, &["request", "approve", &id]);
    assert_ok(&out, "approve");
    assert_eq!(json_lines(&out.stdout)[0]["state"], "issued");
    let out = remote(&env, &server, &reg, &["request", "fetch", &id]);
    assert_ok(&out, "fetch");
    let issued = &json_lines(&out.stdout)[0];
    let serial = issued["serial"].as_str().expect("serial").to_string();
    assert!(
        issued["pem"]
            .as_str()
            .expect("pem")
            .contains("BEGIN CERTIFICATE")
    );
    assert_eq!(
        json_lines(
            &remote(
                &env,
                &server,
                &reg,
                &["request", "list", "--state", "issued"]
            )
            .stdout
        )
        .len(),
        1
    );

    // 4. Revocation requests: not for another organisation's certificate; approved → revoked.
    let out = remote(
        &env,
        &server,
        &sap,
        &[
            "revoke-request",
            "--serial",
            &serial,
            "--reason",
            "keyCompromise",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not belong to your organisation"));
    let out = remote(
        &env,
        &server,
        &reg,
        &[
            "revoke-request",
            "--serial",
            &serial,
            "--reason",
            "keyCompromise",
        ],
    );
    assert_ok(&out, "revoke-request");
    let rid = json_lines(&out.stdout)[0]["id"]
        .as_i64()
        .expect("id")
        .to_string();
    assert_eq!(
        json_lines(&env.lgpki(&["--json", "status", "--serial", &serial]).stdout)[0]["status"],
        "good",
        "pending until approved"
    );
    assert_ok(
        &remote(&env, &server, &app, &["request", "approve", &rid]),
        "approve revocation",
    );
    assert_eq!(
        json_lines(&env.lgpki(&["--json", "status", "--serial", &serial]).stdout)[0]["status"],
        "revoked"
    );

    // 5. Client certificates that must be refused: self-signed (foreign), revoked, not an
    //    officer's.
    let before = state(&env);
    let foreign_key = make_key(env.dir.path(), "foreign", KeyKind::P256);
    let foreign_cert = env.path("foreign.pem");
    openssl_ok(&[
        "req",
        "-x509",
        "-new",
        "-key",
        foreign_key.to_str().expect("utf8"),
        "-subj",
        "/C=JP/O=LGPKI/OU=千代田区/CN=registrar",
        "-days",
        "30",
        "-out",
        foreign_cert.to_str().expect("utf8"),
    ]);
    let foreign = Officer {
        cert: foreign_cert.display().to_string(),
        key: foreign_key.display().to_string(),
    };
    let nobody = officer(&env, "nobody", "千代田区");
    let before = (before.0, before.1 + 1); // the "nobody" certificate just issued
    let reg_serial = openssl_ok(&["x509", "-in", &reg.cert, "-noout", "-serial"])
        .trim()
        .trim_start_matches("serial=")
        .to_string();
    assert_ok(
        &env.lgpki(&[
            "revoke",
            "--serial",
            &reg_serial,
            "--reason",
            "affiliationChanged",
        ]),
        "revoke the registrar's certificate",
    );
    for (who, needle) in [
        (&foreign, "not issued by this CA"),
        (&reg, "is revoked"),
        (&nobody, "does not belong to a registered officer"),
    ] {
        let out = remote(
            &env,
            &server,
            who,
            &[
                "request",
                "submit",
                "--profile",
                "staff",
                "--csr",
                csr,
                "--org",
                "131016",
            ],
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{needle}: {err}");
        assert!(err.contains(needle), "expected {needle:?} in {err}");
    }
    assert_eq!(state(&env).0, before.0, "refused clients changed nothing");

    // Every act is in the audit log with the officer as actor, and the chain verifies.
    let audit = json_lines(&env.lgpki(&["--json", "audit", "list"]).stdout);
    assert!(
        audit.iter().any(|r| r["action"] == "request.approve"
            && r["actor"]
                .as_str()
                .is_some_and(|a| a.contains("approver of 131016"))),
        "{audit:?}"
    );
    assert!(audit.iter().any(|r| r["action"] == "cert.revoke"
        && r["actor"].as_str().is_some_and(|a| a.contains("officer#"))));
    assert_ok(&env.lgpki(&["audit", "verify"]), "audit verify");
}

fn missing_and_expired_client_certificates_are_refused(store: StoreKind) {
    let env = Env::init_on(store, Backend::Soft, &[]);
    std::fs::write(
        env.path("root.pem"),
        // The RA listener's TLS certificate chains to the application root.
        env.lgpki(&["ca", "cert", "application"]).stdout,
    )
    .expect("root");
    assert_ok(
        &env.lgpki(&["org", "add", "--code", "131016", "--name", "千代田区"]),
        "org",
    );
    let server = Server::start(&env);

    // No client certificate at all: the TLS handshake demands one.
    let root = std::fs::read(env.path("root.pem")).expect("root");
    let roots = ca_core::input::der_blocks(&root, &["CERTIFICATE"], "root").expect("der");
    let tls = ureq::tls::TlsConfig::builder()
        .provider(ureq::tls::TlsProvider::Rustls)
        .root_certs(ureq::tls::RootCerts::new_with_certs(
            &roots
                .iter()
                .map(|d| ureq::tls::Certificate::from_der(d).to_owned())
                .collect::<Vec<_>>(),
        ))
        .build();
    let agent = ureq::Agent::config_builder()
        .tls_config(tls)
        .http_status_as_error(false)
        .build()
        .new_agent();
    let r = agent.get(&format!("{}/api/v1/requests", server.ra)).call();
    assert!(
        r.is_err(),
        "a request without a client certificate must fail the handshake"
    );

    // An expired certificate signed by our organisation CA (made with openssl ca from the CA's
    // own key, so only its dates are wrong).
    let key = env.home.join("keys/organization.p8");
    let pass = std::fs::read_to_string(env.home.join("passphrase")).expect("passphrase");
    let ca_key = env.path("org-ca.key");
    let out = Command::new("openssl")
        .args([
            "pkcs8",
            "-inform",
            "DER",
            "-in",
            key.to_str().expect("utf8"),
            "-passin",
            "stdin",
            "-out",
            ca_key.to_str().expect("utf8"),
        ])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().expect("stdin").write_all(pass.as_bytes())?;
            c.wait_with_output()
        })
        .expect("openssl pkcs8");
    assert_ok(&out, "decrypt the CA key for the test");
    std::fs::write(
        env.path("org-ca.pem"),
        env.lgpki(&["ca", "cert", "organization"]).stdout,
    )
    .expect("w");
    let old_key = make_key(env.dir.path(), "old", KeyKind::P256);
    let csr = env.path("old.csr");
    openssl_ok(&[
        "req",
        "-new",
        "-utf8",
        "-key",
        old_key.to_str().expect("utf8"),
        "-subj",
        "/C=JP/O=LGPKI/OU=千代田区/CN=old",
        "-out",
        csr.to_str().expect("utf8"),
    ]);
    let cadir = env.path("ossl-ca");
    std::fs::create_dir_all(&cadir).expect("mkdir");
    std::fs::write(cadir.join("index.txt"), "").expect("w");
    let conf = env.path("ca.cnf");
    std::fs::write(&conf, format!("[ca]\ndefault_ca=c\n[c]\ndatabase={d}/index.txt\nnew_certs_dir={d}\nserial={d}/serial\ndefault_md=sha256\npolicy=p\nunique_subject=no\nemail_in_dn=no\n[p]\ncommonName=supplied\n[ext]\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n", d = cadir.display())).expect("w");
    std::fs::write(cadir.join("serial"), "7F01\n").expect("w");
    let old = env.path("old.pem");
    openssl_ok(&[
        "ca",
        "-batch",
        "-config",
        conf.to_str().expect("utf8"),
        "-extensions",
        "ext",
        "-cert",
        env.path("org-ca.pem").to_str().expect("utf8"),
        "-keyfile",
        ca_key.to_str().expect("utf8"),
        "-in",
        csr.to_str().expect("utf8"),
        "-out",
        old.to_str().expect("utf8"),
        "-startdate",
        "20200101000000Z",
        "-enddate",
        "20210101000000Z",
        "-notext",
    ]);
    let expired = Officer {
        cert: old.display().to_string(),
        key: old_key.display().to_string(),
    };
    let out = remote(&env, &server, &expired, &["request", "list"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("not within its validity period"), "{err}");
}

on_both_stores!(
    officers_act_for_their_own_organisation_only,
    missing_and_expired_client_certificates_are_refused,
);
