//! The REST API of the RA port (issue 15): the remote CLI over it (submit without --org,
//! cert list/show/status, renewal, hold release with removeFromCRL in the next delta CRL read
//! by openssl), idempotency keys, the authorisation matrix, and the OpenAPI contract.

mod common;
mod ra_common;

use common::{StoreKind, assert_ok, json_lines, openssl_ok};
use ra_common::{Ra, serial_of};
use serde_json::{Value, json};

fn issued_via(ra: &Ra, csr: &str) -> (String, String) {
    let out = ra.remote(
        &ra.reg,
        &["request", "submit", "--profile", "staff", "--csr", csr],
    );
    assert_ok(&out, "submit without --org");
    let id = json_lines(&out.stdout)[0]["id"]
        .as_i64()
        .expect("id")
        .to_string();
    assert_ok(&ra.remote(&ra.app, &["request", "approve", &id]), "approve");
    let out = ra.remote(&ra.reg, &["request", "fetch", &id]);
    assert_ok(&out, "fetch");
    let v = &json_lines(&out.stdout)[0];
    (id, v["serial"].as_str().expect("serial").to_string())
}

fn remote_cli_over_the_rest_api(store: StoreKind) {
    let ra = Ra::start_on(store);
    let csr = ra.csr("subject", "山田太郎");
    // --org is optional: the client certificate decides the organisation.
    let (id, serial) = issued_via(&ra, &csr);
    assert!(!id.is_empty());

    // cert list / show / status run remotely, for the officer's organisation only.
    let out = ra.remote(&ra.reg, &["cert", "list"]);
    assert_ok(&out, "cert list");
    let list = json_lines(&out.stdout);
    assert!(
        list.iter().any(|c| c["serial"] == serial.as_str()),
        "{list:?}"
    );
    assert!(
        list.iter().all(|c| c["subject"]
            .as_str()
            .is_some_and(|s| s.contains("OU=千代田区"))),
        "only 千代田区's: {list:?}"
    );
    let out = ra.remote(&ra.sap, &["cert", "list"]);
    assert_ok(&out, "cert list as 札幌市");
    assert!(
        !json_lines(&out.stdout)
            .iter()
            .any(|c| c["serial"] == serial.as_str()),
        "札幌市 sees 千代田区's certificate"
    );
    let out = ra.remote(&ra.reg, &["cert", "show", &serial]);
    assert_ok(&out, "cert show");
    let shown = &json_lines(&out.stdout)[0];
    assert_eq!(shown["status"], "good");
    assert!(
        shown["pem"]
            .as_str()
            .expect("pem")
            .contains("BEGIN CERTIFICATE")
    );
    let out = ra.remote(&ra.sap, &["cert", "show", &serial]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "another organisation's certificate"
    );
    let out = ra.remote(&ra.reg, &["status", "--serial", &serial]);
    assert_ok(&out, "status");
    assert_eq!(json_lines(&out.stdout)[0]["status"], "good");
    let out = ra.remote(&ra.sap, &["status", "--serial", &serial]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json_lines(&out.stdout)[0]["status"], "unknown");

    // Expiring soon: a staff certificate lives longer than 10 days, shorter than 4000.
    let api = ra.client(Some(&ra.reg));
    let soon = api
        .get("/api/v1/certificates?expiring_within_days=10")
        .json();
    assert!(
        !soon
            .as_array()
            .expect("list")
            .iter()
            .any(|c| c["serial"] == serial.as_str())
    );
    let later = api
        .get("/api/v1/certificates?expiring_within_days=4000")
        .json();
    assert!(
        later
            .as_array()
            .expect("list")
            .iter()
            .any(|c| c["serial"] == serial.as_str())
    );
    let found = api.get("/api/v1/certificates?q=%E5%B1%B1%E7%94%B0").json(); // 山田
    assert_eq!(found.as_array().expect("list").len(), 1, "{found}");

    // Renewal (更新申請) with --supersede: the old certificate is revoked superseded once the
    // new one is issued.
    let new_csr = ra.csr("subject2", "ignored");
    let out = ra.remote(
        &ra.reg,
        &[
            "request",
            "renew",
            "--serial",
            &serial,
            "--csr",
            &new_csr,
            "--supersede",
        ],
    );
    assert_ok(&out, "renew");
    let r = &json_lines(&out.stdout)[0];
    assert_eq!(r["kind"], "renew");
    assert_eq!(
        r["subject"], "CN=山田太郎,OU=千代田区,O=LGPKI,C=JP",
        "subject kept"
    );
    let rid = r["id"].as_i64().expect("id").to_string();
    assert_eq!(
        json_lines(&ra.remote(&ra.reg, &["status", "--serial", &serial]).stdout)[0]["status"],
        "good",
        "pending: nothing revoked yet"
    );
    let out = ra.remote(&ra.reg, &["request", "approve", &rid]);
    assert_eq!(out.status.code(), Some(1), "a registrar does not approve");
    assert_ok(
        &ra.remote(&ra.app, &["request", "approve", &rid]),
        "approve renewal",
    );
    let out = ra.remote(&ra.reg, &["request", "fetch", &rid]);
    assert_ok(&out, "fetch renewal");
    let renewed = &json_lines(&out.stdout)[0];
    assert_ne!(renewed["serial"], serial.as_str());
    assert_eq!(renewed["subject"], "CN=山田太郎,OU=千代田区,O=LGPKI,C=JP");
    let st = &json_lines(&ra.remote(&ra.reg, &["status", "--serial", &serial]).stdout)[0];
    assert_eq!(st["status"], "revoked");
    assert_eq!(st["reason"], "superseded");
    // openssl agrees: the renewed certificate verifies against the chain.
    let pem = ra.env.path("renewed.pem");
    std::fs::write(&pem, renewed["pem"].as_str().expect("pem")).expect("w");
    let (root, chain) = ra.env.chain_files("organization");
    openssl_ok(&[
        "verify",
        "-x509_strict",
        "-CAfile",
        root.to_str().expect("utf8"),
        "-untrusted",
        chain.to_str().expect("utf8"),
        pem.to_str().expect("utf8"),
    ]);
    // Without --supersede the old certificate is left to expire.
    let renewed_serial = renewed["serial"].as_str().expect("serial").to_string();
    let out = ra.remote(
        &ra.reg,
        &[
            "request",
            "renew",
            "--serial",
            &renewed_serial,
            "--csr",
            &ra.csr("subject3", "x"),
        ],
    );
    assert_ok(&out, "renew, keep the old one");
    let rid2 = json_lines(&out.stdout)[0]["id"]
        .as_i64()
        .expect("id")
        .to_string();
    assert_ok(
        &ra.remote(&ra.app2, &["request", "approve", &rid2]),
        "approve",
    );
    assert_eq!(
        json_lines(
            &ra.remote(&ra.reg, &["status", "--serial", &renewed_serial])
                .stdout
        )[0]["status"],
        "good"
    );

    // certificateHold and its release: removeFromCRL in the next delta CRL (openssl reads it).
    assert_ok(
        &ra.env.lgpki(&[
            "revoke",
            "--serial",
            &renewed_serial,
            "--reason",
            "CERTIFICATEHOLD",
        ]),
        "hold (reason names are case-insensitive)",
    );
    let full = ra.env.path("full.crl");
    assert_ok(
        &ra.env.lgpki(&[
            "crl",
            "--ca",
            "organization",
            "--out",
            full.to_str().expect("utf8"),
        ]),
        "full CRL",
    );
    let out = ra.remote(&ra.reg, &["unhold", "--serial", &renewed_serial]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a registrar may not release a hold"
    );
    let out = ra.remote(&ra.sap, &["unhold", "--serial", &renewed_serial]);
    assert_eq!(out.status.code(), Some(1), "nor another organisation");
    assert_ok(
        &ra.remote(&ra.app, &["unhold", "--serial", &renewed_serial]),
        "approver releases the hold",
    );
    assert_eq!(
        json_lines(
            &ra.remote(&ra.reg, &["status", "--serial", &renewed_serial])
                .stdout
        )[0]["status"],
        "good"
    );
    let out = ra.remote(&ra.app, &["unhold", "--serial", &renewed_serial]);
    assert_eq!(out.status.code(), Some(1), "not on hold any more");
    assert!(String::from_utf8_lossy(&out.stderr).contains("not on hold"));
    let delta = ra.env.path("delta.crl");
    assert_ok(
        &ra.env.lgpki(&[
            "crl",
            "--ca",
            "organization",
            "--delta",
            "--out",
            delta.to_str().expect("utf8"),
        ]),
        "delta CRL",
    );
    let text = openssl_ok(&[
        "crl",
        "-inform",
        "DER",
        "-in",
        delta.to_str().expect("utf8"),
        "-noout",
        "-text",
    ]);
    assert!(text.contains("Delta CRL Indicator"), "{text}");
    let upper = renewed_serial.to_uppercase();
    let entry = text.split("Serial Number: ").find(|e| {
        e.trim_start()
            .trim_start_matches('0')
            .starts_with(upper.trim_start_matches('0'))
    });
    // The delta is made against the newest full CRL. `serve` signs a full CRL of its own within
    // a second of any revocation change, so that base may be one signed after the hold (the
    // entry must then be removeFromCRL, RFC 5280 §5.3.1) or already one signed after the
    // release (which lists nothing for it: the delta has no entry, and its base is newer than
    // the full CRL fetched while the hold was on). ca-core's crl tests cover removeFromCRL
    // without a running serve.
    let full_number = crl_number(&openssl_ok(&[
        "crl",
        "-inform",
        "DER",
        "-in",
        full.to_str().expect("utf8"),
        "-noout",
        "-text",
    ]));
    let base = number_after(&text, "Delta CRL Indicator");
    match entry {
        Some(entry) => assert!(entry.contains("Remove From CRL"), "{entry}"),
        None => assert!(
            base > full_number,
            "{renewed_serial} not in a delta CRL against base {base} (hold listed in \
             {full_number}):\n{text}"
        ),
    }
    // The full CRL listed it as on hold; the next full CRL does not list it at all.
    let full_text = openssl_ok(&[
        "crl",
        "-inform",
        "DER",
        "-in",
        full.to_str().expect("utf8"),
        "-noout",
        "-text",
    ]);
    assert!(full_text.contains("Certificate Hold"), "{full_text}");
    assert_ok(
        &ra.env.lgpki(&[
            "crl",
            "--ca",
            "organization",
            "--out",
            full.to_str().expect("utf8"),
        ]),
        "full CRL",
    );
    let full_text = openssl_ok(&[
        "crl",
        "-inform",
        "DER",
        "-in",
        full.to_str().expect("utf8"),
        "-noout",
        "-text",
    ]);
    assert!(!full_text.contains("Certificate Hold"), "{full_text}");
    assert_ok(&ra.env.lgpki(&["audit", "verify"]), "audit verify");
}

fn submissions_are_idempotent_by_key(store: StoreKind) {
    let ra = Ra::start_on(store);
    let csr = std::fs::read_to_string(ra.csr("idem", "冪等")).expect("csr");
    let api = ra.client(Some(&ra.reg));
    let body = json!({"profile": "staff", "csr": csr});
    let first = api
        .call(
            "POST",
            "/api/v1/requests",
            Some(&body),
            &[("Idempotency-Key", "k-1")],
        )
        .expect("post");
    assert_eq!(first.status, 201, "{}", first.text());
    let again = api
        .call(
            "POST",
            "/api/v1/requests",
            Some(&body),
            &[("Idempotency-Key", "k-1")],
        )
        .expect("post");
    assert_eq!(again.status, 200, "{}", again.text());
    assert_eq!(first.json()["id"], again.json()["id"]);
    let other = json!({"profile": "staff", "csr": csr, "subject": "CN=別人"});
    let conflict = api
        .call(
            "POST",
            "/api/v1/requests",
            Some(&other),
            &[("Idempotency-Key", "k-1")],
        )
        .expect("post");
    assert_eq!(conflict.status, 409, "{}", conflict.text());
    assert_eq!(conflict.json()["error"]["kind"], "idempotency_conflict");
    // Keys are per officer: another officer's same key is a new request.
    let api2 = ra.client(Some(&ra.app));
    let theirs = api2
        .call(
            "POST",
            "/api/v1/requests",
            Some(&body),
            &[("Idempotency-Key", "k-1")],
        )
        .expect("post");
    assert_eq!(theirs.status, 201);
    assert_ne!(theirs.json()["id"], first.json()["id"]);
    let all = api.get("/api/v1/requests").json();
    assert_eq!(all.as_array().expect("list").len(), 2, "{all}");
}

/// What the store holds that an API call could change.
fn snapshot(ra: &Ra) -> (Vec<Value>, Vec<Value>, Vec<Value>) {
    (
        json_lines(&ra.env.lgpki(&["--json", "request", "list"]).stdout),
        ra.env.cert_list(),
        json_lines(&ra.env.lgpki(&["--json", "officer", "list"]).stdout),
    )
}

/// One row of the authorisation matrix: what, as whom, method, path, body, expected status.
type Case<'a> = (
    &'static str,
    &'a ra_common::Api,
    &'static str,
    String,
    Option<Value>,
    u16,
);
fn authorisation_matrix(store: StoreKind) {
    let ra = Ra::start_on(store);
    // A pending request of 千代田区 (by the registrar), one by an approver, and an issued
    // certificate of 千代田区.
    let csr = std::fs::read_to_string(ra.csr("m1", "行列")).expect("csr");
    let reg = ra.client(Some(&ra.reg));
    let app = ra.client(Some(&ra.app));
    let pending = reg
        .post("/api/v1/requests", &json!({"profile": "staff", "csr": csr}))
        .json()["id"]
        .as_i64()
        .expect("id");
    let own = app
        .post("/api/v1/requests", &json!({"profile": "staff", "csr": csr}))
        .json()["id"]
        .as_i64()
        .expect("id");
    let (_, serial) = issued_via(&ra, &ra.csr("m2", "発行済"));

    // Officers who will lose their standing: one revoked, one removed by an approver.
    let gone = ra_common::staff_cert(&ra.env, "gone", "千代田区");
    let removed = ra_common::staff_cert(&ra.env, "removed", "千代田区");
    let mut ids = Vec::new();
    for w in [&gone, &removed] {
        let pem = std::fs::read_to_string(&w.cert).expect("pem");
        let a = app.post(
            "/api/v1/officers",
            &json!({"certificate": pem, "role": "approver"}),
        );
        assert_eq!(a.status, 201, "{}", a.text());
        ids.push(a.json()["id"].as_i64().expect("id"));
    }
    assert_ok(
        &ra.env.lgpki(&[
            "revoke",
            "--serial",
            &serial_of(&gone.cert),
            "--reason",
            "affiliationChanged",
        ]),
        "revoke an officer's certificate",
    );
    let d = app
        .call("DELETE", &format!("/api/v1/officers/{}", ids[1]), None, &[])
        .expect("delete");
    assert_eq!(d.status, 200, "{}", d.text());
    // A 札幌市 certificate (to offer as an officer of 千代田区).
    let sap_pem = std::fs::read_to_string(&ra.sap_reg.cert).expect("pem");

    let before = snapshot(&ra);
    let sap = ra.client(Some(&ra.sap));
    let gone_c = ra.client(Some(&gone));
    let removed_c = ra.client(Some(&removed));
    let csr_body = json!({"profile": "staff", "csr": csr});
    let cases: Vec<Case> = vec![
        // Another organisation: sees nothing, decides nothing.
        (
            "other org: read request",
            &sap,
            "GET",
            format!("/api/v1/requests/{pending}"),
            None,
            403,
        ),
        (
            "other org: approve",
            &sap,
            "POST",
            format!("/api/v1/requests/{pending}/approve"),
            None,
            403,
        ),
        (
            "other org: reject",
            &sap,
            "POST",
            format!("/api/v1/requests/{pending}/reject"),
            Some(json!({"reason": "x"})),
            403,
        ),
        (
            "other org: fetch",
            &sap,
            "GET",
            format!("/api/v1/requests/{pending}/certificate"),
            None,
            403,
        ),
        (
            "other org: certificate",
            &sap,
            "GET",
            format!("/api/v1/certificates/{serial}"),
            None,
            404,
        ),
        (
            "other org: status",
            &sap,
            "GET",
            format!("/api/v1/certificates/{serial}/status"),
            None,
            404,
        ),
        (
            "other org: revoke request",
            &sap,
            "POST",
            "/api/v1/revocation-requests".into(),
            Some(json!({"serial": serial, "reason": "keyCompromise"})),
            403,
        ),
        (
            "other org: renewal",
            &sap,
            "POST",
            format!("/api/v1/certificates/{serial}/renewal"),
            Some(json!({"csr": csr})),
            404,
        ),
        (
            "other org: unhold",
            &sap,
            "POST",
            format!("/api/v1/certificates/{serial}/unhold"),
            None,
            404,
        ),
        (
            "other org: submit for 千代田区",
            &sap,
            "POST",
            "/api/v1/requests".into(),
            Some(json!({"profile": "staff", "csr": csr, "org": "131016"})),
            403,
        ),
        (
            "other org: remove officer",
            &sap,
            "DELETE",
            format!("/api/v1/officers/{}", ids[0]),
            None,
            403,
        ),
        // Self-approval and roles.
        (
            "self-approval",
            &app,
            "POST",
            format!("/api/v1/requests/{own}/approve"),
            None,
            403,
        ),
        (
            "registrar approves",
            &reg,
            "POST",
            format!("/api/v1/requests/{pending}/approve"),
            None,
            403,
        ),
        (
            "registrar adds an officer",
            &reg,
            "POST",
            "/api/v1/officers".into(),
            Some(json!({"certificate": sap_pem, "role": "approver"})),
            403,
        ),
        (
            "approver adds another org's officer",
            &app,
            "POST",
            "/api/v1/officers".into(),
            Some(json!({"certificate": sap_pem, "role": "registrar"})),
            403,
        ),
        (
            "approver removes themselves",
            &app,
            "DELETE",
            "/api/v1/officers/2".into(),
            None,
            403,
        ),
        // A revoked officer and a removed officer: nothing at all.
        (
            "revoked officer: list",
            &gone_c,
            "GET",
            "/api/v1/requests".into(),
            None,
            403,
        ),
        (
            "revoked officer: approve",
            &gone_c,
            "POST",
            format!("/api/v1/requests/{pending}/approve"),
            None,
            403,
        ),
        (
            "removed officer: list",
            &removed_c,
            "GET",
            "/api/v1/requests".into(),
            None,
            403,
        ),
        (
            "removed officer: approve",
            &removed_c,
            "POST",
            format!("/api/v1/requests/{pending}/approve"),
            None,
            403,
        ),
        (
            "removed officer: submit",
            &removed_c,
            "POST",
            "/api/v1/requests".into(),
            Some(csr_body.clone()),
            403,
        ),
        (
            "removed officer: web app",
            &removed_c,
            "GET",
            "/".into(),
            None,
            403,
        ),
    ];
    for (what, client, method, path, body, status) in &cases {
        let a = client
            .call(method, path, body.as_ref(), &[])
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(a.status, *status, "{what}: {}", a.text());
        if !path.starts_with("/api/") {
            assert!(
                a.text().contains("client certificate refused"),
                "{what}: {}",
                a.text()
            );
            continue;
        }
        let e = a.json();
        assert!(e["error"]["kind"].is_string(), "{what}: {e}");
        assert!(e["error"]["message"].is_string(), "{what}: {e}");
        assert_eq!(snapshot(&ra), before, "{what} changed something");
    }

    // No client certificate: the handshake itself fails; nothing is answered.
    let none = ra.client(None);
    assert!(none.call("GET", "/api/v1/requests", None, &[]).is_err());
    assert!(none.call("GET", "/", None, &[]).is_err());

    // A key that does not match the certificate: the CLI says so (exit 2), never panics.
    let mismatched = ra_common::Who {
        cert: ra.reg.cert.clone(),
        key: ra.app.key.clone(),
    };
    let out = ra.remote(&mismatched, &["request", "list"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("does not match the client certificate"),
        "{err}"
    );
    let out = ra.remote(&mismatched, &["request", "list"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("\"error\""),
        "--json error"
    );
    assert_eq!(snapshot(&ra), before, "nothing changed");
}

/// A minimal JSON Schema check for the shapes utoipa writes: `$ref`, `type` (with null),
/// `required`, `properties`, `items`, `allOf`.
fn conforms(doc: &Value, schema: &Value, v: &Value, at: &str) -> Result<(), String> {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.trim_start_matches("#/components/schemas/");
        return conforms(doc, &doc["components"]["schemas"][name], v, at);
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for s in all {
            conforms(doc, s, v, at)?;
        }
    }
    if let Some(one) = schema.get("oneOf").and_then(Value::as_array)
        && !one.iter().any(|s| conforms(doc, s, v, at).is_ok())
    {
        return Err(format!("{at}: matches none of oneOf"));
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if !types.is_empty() {
        let ok = types.iter().any(|t| match *t {
            "object" => v.is_object(),
            "array" => v.is_array(),
            "string" => v.is_string(),
            "integer" => v.is_i64() || v.is_u64(),
            "number" => v.is_number(),
            "boolean" => v.is_boolean(),
            "null" => v.is_null(),
            _ => false,
        });
        if !ok {
            return Err(format!("{at}: {v} is not {types:?}"));
        }
    }
    if let Some(req) = schema.get("required").and_then(Value::as_array) {
        for k in req.iter().filter_map(Value::as_str) {
            if v.get(k).is_none() {
                return Err(format!("{at}: required {k:?} missing in {v}"));
            }
        }
    }
    if let (Some(props), Some(obj)) = (
        schema.get("properties").and_then(Value::as_object),
        v.as_object(),
    ) {
        for (k, s) in props {
            if let Some(x) = obj.get(k) {
                conforms(doc, s, x, &format!("{at}.{k}"))?;
            }
        }
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), v.as_array()) {
        for (i, x) in arr.iter().enumerate() {
            conforms(doc, items, x, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

fn the_api_keeps_to_its_openapi_document(store: StoreKind) {
    let ra = Ra::start_on(store);
    let reg = ra.client(Some(&ra.reg));
    let app = ra.client(Some(&ra.app));
    let doc = reg.get("/api/openapi.json").json();
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{doc}"
    );
    let (_, serial) = issued_via(&ra, &ra.csr("c1", "契約"));
    let csr = std::fs::read_to_string(ra.csr("c2", "契約二")).expect("csr");
    let pending = reg
        .post("/api/v1/requests", &json!({"profile": "staff", "csr": csr}))
        .json()["id"]
        .as_i64()
        .expect("id");
    let newcomer = ra_common::staff_cert(&ra.env, "newcomer", "千代田区");
    let newcomer_pem = std::fs::read_to_string(&newcomer.cert).expect("pem");

    // One call (or more: success and refusal) per documented operation, in an order that
    // leaves each its preconditions. A documented operation without a call fails the test.
    type Call = (&'static str, &'static str, String, Option<Value>, bool);
    let calls: Vec<Call> = vec![
        (
            "get",
            "/api/openapi.json",
            "/api/openapi.json".into(),
            None,
            false,
        ),
        ("get", "/api/v1/me", "/api/v1/me".into(), None, false),
        (
            "get",
            "/api/v1/requests",
            "/api/v1/requests?state=pending".into(),
            None,
            false,
        ),
        (
            "post",
            "/api/v1/requests",
            "/api/v1/requests".into(),
            Some(json!({"profile": "staff", "csr": csr})),
            false,
        ),
        (
            "post",
            "/api/v1/requests",
            "/api/v1/requests".into(),
            Some(json!({"profile": "nope", "csr": csr})),
            false,
        ),
        (
            "post",
            "/api/v1/requests",
            "/api/v1/requests".into(),
            Some(json!({"profile": "staff", "csr": "garbage"})),
            false,
        ),
        (
            "get",
            "/api/v1/requests/{id}",
            format!("/api/v1/requests/{pending}"),
            None,
            false,
        ),
        (
            "get",
            "/api/v1/requests/{id}/certificate",
            format!("/api/v1/requests/{pending}/certificate"),
            None,
            false,
        ),
        (
            "post",
            "/api/v1/requests/{id}/approve",
            format!("/api/v1/requests/{pending}/approve"),
            None,
            true,
        ),
        (
            "post",
            "/api/v1/requests/{id}/approve",
            format!("/api/v1/requests/{pending}/approve"),
            None,
            false,
        ),
        (
            "get",
            "/api/v1/requests/{id}/certificate",
            format!("/api/v1/requests/{pending}/certificate"),
            None,
            false,
        ),
        (
            "post",
            "/api/v1/requests/{id}/reject",
            format!("/api/v1/requests/{pending}/reject"),
            Some(json!({"reason": "late"})),
            true,
        ),
        (
            "post",
            "/api/v1/revocation-requests",
            "/api/v1/revocation-requests".into(),
            Some(json!({"serial": serial, "reason": "keyCompromise"})),
            false,
        ),
        (
            "post",
            "/api/v1/revocation-requests",
            "/api/v1/revocation-requests".into(),
            Some(json!({"serial": serial, "reason": "no-such-reason"})),
            false,
        ),
        (
            "get",
            "/api/v1/certificates",
            "/api/v1/certificates?status=good".into(),
            None,
            false,
        ),
        (
            "get",
            "/api/v1/certificates",
            "/api/v1/certificates?status=bogus".into(),
            None,
            false,
        ),
        (
            "get",
            "/api/v1/certificates/{serial}",
            format!("/api/v1/certificates/{serial}"),
            None,
            false,
        ),
        (
            "get",
            "/api/v1/certificates/{serial}",
            "/api/v1/certificates/0badc0de".into(),
            None,
            false,
        ),
        (
            "get",
            "/api/v1/certificates/{serial}/status",
            format!("/api/v1/certificates/{serial}/status"),
            None,
            false,
        ),
        (
            "post",
            "/api/v1/certificates/{serial}/renewal",
            format!("/api/v1/certificates/{serial}/renewal"),
            Some(json!({"csr": csr, "supersede": true})),
            false,
        ),
        (
            "post",
            "/api/v1/certificates/{serial}/unhold",
            format!("/api/v1/certificates/{serial}/unhold"),
            None,
            true,
        ),
        (
            "get",
            "/api/v1/officers",
            "/api/v1/officers".into(),
            None,
            false,
        ),
        (
            "post",
            "/api/v1/officers",
            "/api/v1/officers".into(),
            Some(json!({"certificate": newcomer_pem, "role": "registrar"})),
            true,
        ),
        (
            "post",
            "/api/v1/officers",
            "/api/v1/officers".into(),
            Some(json!({"certificate": newcomer_pem, "role": "registrar"})),
            false,
        ),
        (
            "delete",
            "/api/v1/officers/{id}",
            "/api/v1/officers/6".into(),
            None,
            true,
        ),
        (
            "delete",
            "/api/v1/officers/{id}",
            "/api/v1/officers/6".into(),
            None,
            true,
        ),
    ];
    let mut covered = std::collections::BTreeSet::new();
    for (method, template, path, body, as_approver) in &calls {
        let op = &doc["paths"][*template][*method];
        assert!(op.is_object(), "{method} {template} is not documented");
        covered.insert(format!("{method} {template}"));
        let client = if *as_approver { &app } else { &reg };
        let a = client
            .call(&method.to_uppercase(), path, body.as_ref(), &[])
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let documented = &op["responses"][a.status.to_string()];
        assert!(
            documented.is_object(),
            "{method} {path} answered {} which is not documented: {}",
            a.status,
            a.text()
        );
        assert!(
            a.content_type.starts_with("application/json"),
            "{method} {path}: {}",
            a.content_type
        );
        let schema = &documented["content"]["application/json"]["schema"];
        conforms(
            &doc,
            schema,
            &a.json(),
            &format!("{method} {path} {}", a.status),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("item").keys() {
            assert!(
                covered.contains(&format!("{method} {path}")),
                "documented {method} {path} has no contract call"
            );
        }
    }
    // Not documented, not served.
    let a = reg.get("/api/v1/nothing-here");
    assert_eq!(a.status, 404);
    assert_eq!(a.json()["error"]["kind"], "not_found");
}

/// The CRL Number in `openssl crl -text` output.
fn crl_number(text: &str) -> u64 {
    number_after(text, "X509v3 CRL Number")
}

/// The decimal number on the line after the one holding `label` in `openssl crl -text` output.
fn number_after(text: &str, label: &str) -> u64 {
    let mut lines = text.lines().skip_while(|l| !l.contains(label));
    lines.next();
    lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("no number after {label}:\n{text}"))
}

on_both_stores!(
    remote_cli_over_the_rest_api,
    submissions_are_idempotent_by_key,
    authorisation_matrix,
    the_api_keeps_to_its_openapi_document,
);
