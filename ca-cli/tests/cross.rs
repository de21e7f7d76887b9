//! GPKI ⇄ LGPKI cross-certification end to end: our topology (`lgpki init`: self-signed bridge
//! and organisation CA, cross-certified both ways) and a GPKI stand-in (a second lgpki home with
//! its own names and policy arc), bridges cross-certified both
//! ways with policy mappings, validated in both directions with explicit policy by `lgpki verify`
//! and by `openssl verify -policy_check`, and rejected when the policy is not mapped, when mapping
//! is inhibited, when the cross-certificate is revoked, and when name constraints exclude the leaf.

mod common;

use std::path::{Path, PathBuf};

use common::{Env, KeyKind, assert_ok, json_lines, make_csr, openssl};

const LG: &str = "1.2.392.200149.8.5.5";
const GP: &str = "1.2.392.100300.1.1";

/// A copy of policies/ renamed for the GPKI stand-in: O=GPKI, its own policy arc.
fn gpki_policies(dir: &Path) -> PathBuf {
    let src = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../policies"));
    let dst = dir.join("gpki-policies");
    std::fs::create_dir_all(dst.join("profiles")).expect("mkdir");
    let fix = |s: String| s.replace("LGPKI", "GPKI").replace(LG, GP);
    for f in ["oids.toml", "hierarchy.toml"] {
        std::fs::write(
            dst.join(f),
            fix(std::fs::read_to_string(src.join(f)).expect("read")),
        )
        .expect("write");
    }
    for e in std::fs::read_dir(src.join("profiles")).expect("profiles") {
        let p = e.expect("entry").path();
        std::fs::write(
            dst.join("profiles").join(p.file_name().expect("name")),
            fix(std::fs::read_to_string(&p).expect("read")),
        )
        .expect("write");
    }
    dst
}

fn save(env: &Env, args: &[&str], file: &str) -> String {
    let out = env.lgpki(args);
    assert_ok(&out, &format!("{args:?}"));
    let p = env.path(file);
    std::fs::write(&p, &out.stdout).expect("write");
    p.display().to_string()
}

fn cross(env: &Env, subject: &str, extra: &[&str], out: &str) -> (String, String) {
    let path = env.path(out).display().to_string();
    let mut args = vec![
        "--json",
        "cross-certify",
        "--ca",
        "bridge",
        "--subject-cert",
        subject,
        "--out",
        &path,
    ];
    args.extend_from_slice(extra);
    let o = env.lgpki(&args);
    assert_ok(&o, &format!("cross-certify {extra:?}"));
    let serial = json_lines(&o.stdout)[0]["serial"]
        .as_str()
        .expect("serial")
        .to_string();
    (path, serial)
}

struct Check<'a> {
    leaf: &'a str,
    anchor: &'a str,
    pool: Vec<&'a str>,
    crls: Vec<&'a str>,
    policy: String,
    inhibit_mapping: bool,
}

/// Runs `lgpki verify` and `openssl verify` on the same inputs; both must give `valid`.
fn agree(env: &Env, c: &Check<'_>, valid: bool, reason_needle: &str) -> serde_json::Value {
    let mut args = vec![
        "--json",
        "verify",
        c.leaf,
        "--trust",
        c.anchor,
        "--policy",
        &c.policy,
        "--explicit-policy",
    ];
    for p in &c.pool {
        args.extend_from_slice(&["--untrusted", p]);
    }
    for crl in &c.crls {
        args.extend_from_slice(&["--crl", crl]);
    }
    if c.inhibit_mapping {
        args.push("--inhibit-policy-mapping");
    }
    let out = env.lgpki(&args);
    let v = json_lines(&out.stdout).into_iter().next().expect("json");
    assert_eq!(
        out.status.code(),
        Some(if valid { 0 } else { 1 }),
        "lgpki verify: {v}"
    );
    assert_eq!(v["valid"], valid, "{v}");
    assert!(
        v["reason"]
            .as_str()
            .is_some_and(|r| r.contains(reason_needle)),
        "expected {reason_needle:?}: {v}"
    );

    let pool = env.path("pool.pem");
    let mut all = Vec::new();
    for p in &c.pool {
        all.extend(std::fs::read(p).expect("pool"));
    }
    std::fs::write(&pool, all).expect("pool");
    let mut oargs = vec![
        "verify",
        "-policy_check",
        "-explicit_policy",
        "-policy",
        &c.policy,
        "-CAfile",
        c.anchor,
        "-untrusted",
        pool.to_str().expect("utf8"),
    ];
    let crlfile = env.path("crls.pem");
    if !c.crls.is_empty() {
        let mut all = Vec::new();
        for p in &c.crls {
            all.extend(std::fs::read(p).expect("crl"));
        }
        std::fs::write(&crlfile, all).expect("crls");
        oargs.extend_from_slice(&[
            "-crl_check_all",
            "-CRLfile",
            crlfile.to_str().expect("utf8"),
        ]);
    }
    if c.inhibit_mapping {
        oargs.push("-inhibit_map");
    }
    oargs.push(c.leaf);
    let o = openssl(&oargs);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        o.status.success(),
        valid,
        "openssl verify disagrees ({}):\n{said}",
        if valid {
            "expected valid"
        } else {
            "expected invalid"
        }
    );
    v
}

fn crl(env: &Env, ca: &str, file: &str) -> String {
    let p = env.path(file).display().to_string();
    assert_ok(
        &env.lgpki(&["crl", "--ca", ca, "--pem", "--out", &p]),
        "crl",
    );
    p
}

#[test]
fn lgpki_and_gpki_validate_each_other_through_the_bridges() {
    let lg = Env::init(&[]);
    let gp = Env::new();
    let gpol = gpki_policies(gp.dir.path());
    assert_ok(
        &gp.lgpki(&[
            "init",
            "--policies",
            gpol.to_str().expect("utf8"),
            "--base-url",
            "http://gpki.example:8080",
        ]),
        "init GPKI",
    );

    let lg_bridge = save(&lg, &["ca", "cert", "bridge"], "lg-bridge.pem");
    let gp_bridge = save(&gp, &["ca", "cert", "bridge"], "gp-bridge.pem");
    let gp_org = save(&gp, &["ca", "cert", "organization"], "gp-org.pem");
    let lg_org = save(&lg, &["ca", "cert", "organization"], "lg-org.pem");
    // Each side's init-made pair: its bridge certifies its organisation CA (x3, x4) and back.
    let x3 = common::cross_pem(&gp, "bridge", "x3.pem")
        .display()
        .to_string();
    let x4 = common::cross_pem(&lg, "bridge", "x4.pem")
        .display()
        .to_string();
    let lg_org_bridge = common::cross_pem(&lg, "organization", "lg-org-bridge.pem")
        .display()
        .to_string();
    let gp_org_bridge = common::cross_pem(&gp, "organization", "gp-org-bridge.pem")
        .display()
        .to_string();

    // Bridges cross-certify each other with staff (.2) and official-position (.1) mapped; each
    // bridge also certifies its own organisation CA, so paths continue into the other domain.
    let lg_staff = format!("{LG}.2");
    let gp_staff = format!("{GP}.2");
    let map_lg = [format!("{LG}.2={GP}.2"), format!("{LG}.1={GP}.1")];
    let map_gp = [format!("{GP}.2={LG}.2"), format!("{GP}.1={LG}.1")];
    let (x1, x1_serial) = cross(
        &lg,
        &gp_bridge,
        &["--map", &map_lg[0], "--map", &map_lg[1]],
        "x1.pem",
    );
    let (x2, _) = cross(
        &gp,
        &lg_bridge,
        &["--map", &map_gp[0], "--map", &map_gp[1]],
        "x2.pem",
    );
    for x in [&x1, &x2, &x3, &x4, &lg_org_bridge, &gp_org_bridge] {
        common::assert_pkilint_clean(Path::new(x));
    }
    // Each side imports the certificate issued to it.
    assert_ok(
        &lg.lgpki(&["cross-certify", "import", &x2]),
        "import x2 into LGPKI",
    );
    assert_ok(
        &gp.lgpki(&["cross-certify", "import", &x1]),
        "import x1 into GPKI",
    );
    assert_eq!(
        json_lines(&lg.lgpki(&["--json", "cross-certify", "list"]).stdout).len(),
        4,
        "x1, the init-made pair and imported x2"
    );
    let bad = lg.lgpki(&["cross-certify", "import", &x3]);
    assert_eq!(bad.status.code(), Some(1), "x3 certifies no LGPKI CA");
    let bad = lg.lgpki(&[
        "cross-certify",
        "--ca",
        "bridge",
        "--subject-cert",
        &gp_bridge,
        "--map",
        &format!("2.5.29.32.0={GP}.2"),
        "--out",
        "/dev/null",
    ]);
    assert_eq!(bad.status.code(), Some(2), "anyPolicy cannot be mapped");

    // Leaves: a GPKI staff certificate and an LGPKI staff certificate.
    let gcsr = make_csr(
        gp.dir.path(),
        "gleaf",
        KeyKind::P256,
        "/C=JP/O=GPKI/OU=総務省/CN=霞が関太郎",
        &[],
    );
    let gp_leaf = gp.path("gleaf.pem").display().to_string();
    assert_ok(
        &gp.lgpki(&[
            "issue",
            "--profile",
            "staff",
            "--csr",
            gcsr.to_str().expect("utf8"),
            "--out",
            &gp_leaf,
        ]),
        "GPKI leaf",
    );
    let lcsr = make_csr(
        lg.dir.path(),
        "lleaf",
        KeyKind::P256,
        "/C=JP/O=LGPKI/OU=千代田区/CN=山田太郎",
        &[],
    );
    let lg_leaf = lg.path("lleaf.pem").display().to_string();
    assert_ok(
        &lg.lgpki(&[
            "issue",
            "--profile",
            "staff",
            "--csr",
            lcsr.to_str().expect("utf8"),
            "--out",
            &lg_leaf,
        ]),
        "LGPKI leaf",
    );

    // A: a municipality's gateway (trusting the LGPKI organisation CA) accepts the ministry's
    //    certificate: leaf, GPKI organisation CA (by GPKI's bridge), GPKI bridge (by ours), our
    //    bridge (by our organisation CA), the anchor.
    let a = Check {
        leaf: &gp_leaf,
        anchor: &lg_org,
        pool: vec![&lg_org_bridge, &x1, &x3],
        crls: vec![],
        policy: lg_staff.clone(),
        inhibit_mapping: false,
    };
    let v = agree(&lg, &a, true, "valid");
    assert_eq!(v["path"].as_array().map(Vec::len), Some(5), "{v}");
    assert_eq!(
        v["policies"],
        serde_json::json!([lg_staff]),
        "user-constrained policy set in our domain: {v}"
    );

    // B: a ministry's gateway (trusting the GPKI organisation CA) accepts the LGPKI
    //    職責/staff certificate.
    let b = Check {
        leaf: &lg_leaf,
        anchor: &gp_org,
        pool: vec![&gp_org_bridge, &x2, &x4],
        crls: vec![],
        policy: gp_staff.clone(),
        inhibit_mapping: false,
    };
    let v = agree(&gp, &b, true, "valid");
    assert_eq!(v["policies"], serde_json::json!([gp_staff]));

    // C: the policy is not mapped (only official-position is), so explicit staff policy fails.
    let (x1_unmapped, _) = cross(&lg, &gp_bridge, &["--map", &map_lg[1]], "x1-unmapped.pem");
    let c = Check {
        pool: vec![&lg_org_bridge, &x1_unmapped, &x3],
        ..Check { ..a_clone(&a) }
    };
    agree(&lg, &c, false, "explicit policy");

    // D: mapping inhibited by the relying party.
    let d = Check {
        inhibit_mapping: true,
        ..a_clone(&a)
    };
    agree(&lg, &d, false, "explicit policy");

    // E: with every CRL of the path the chain is valid; once the cross-certificate is revoked,
    //    it is not. The relying party here trusts our bridge: `openssl verify -crl_check_all`
    //    also checks the anchor against its issuer's CRL, and the bridge's ARL (no distribution
    //    point) covers the self-signed bridge, while the organisation CA's CRL (scoped to its
    //    distribution point) cannot cover the organisation CA as an anchor.
    let gp_bridge_crl = crl(&gp, "bridge", "gp-bridge.crl");
    let gp_org_crl = crl(&gp, "organization", "gp-org.crl");
    let lg_bridge_crl = crl(&lg, "bridge", "lg-bridge.crl");
    let e_ok = Check {
        anchor: &lg_bridge,
        pool: vec![&x1, &x3],
        crls: vec![&lg_bridge_crl, &gp_bridge_crl, &gp_org_crl],
        ..a_clone(&a)
    };
    agree(&lg, &e_ok, true, "valid");
    assert_ok(
        &lg.lgpki(&["revoke", "--serial", &x1_serial, "--reason", "cACompromise"]),
        "revoke x1",
    );
    let lg_bridge_crl2 = crl(&lg, "bridge", "lg-bridge-2.crl");
    let e = Check {
        crls: vec![&lg_bridge_crl2, &gp_bridge_crl, &gp_org_crl],
        ..a_clone(&e_ok)
    };
    agree(&lg, &e, false, "revoked");

    // F: name constraints on the cross-certificate exclude the ministry's OU.
    let (x1_nc, _) = cross(
        &lg,
        &gp_bridge,
        &["--map", &map_lg[0], "--exclude", "OU=総務省,O=GPKI,C=JP"],
        "x1-nc.pem",
    );
    let f = Check {
        pool: vec![&lg_org_bridge, &x1_nc, &x3],
        ..a_clone(&a)
    };
    agree(&lg, &f, false, "name");
    // …while permitting it works.
    let (x1_ok, _) = cross(
        &lg,
        &gp_bridge,
        &["--map", &map_lg[0], "--permit", "O=GPKI,C=JP"],
        "x1-permit.pem",
    );
    let g = Check {
        pool: vec![&lg_org_bridge, &x1_ok, &x3],
        ..a_clone(&a)
    };
    agree(&lg, &g, true, "valid");
}

fn a_clone<'a>(c: &Check<'a>) -> Check<'a> {
    Check {
        leaf: c.leaf,
        anchor: c.anchor,
        pool: c.pool.clone(),
        crls: c.crls.clone(),
        policy: c.policy.clone(),
        inhibit_mapping: c.inhibit_mapping,
    }
}
