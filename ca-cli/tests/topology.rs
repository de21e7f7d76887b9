//! The default topology `init` makes (policies/hierarchy.toml), checked with real peers:
//! - a GPKI stand-in (its own self-signed bridge and root, a ministry CA and a signer) and our
//!   bridge cross-certified both ways with policy mappings: a GPKI relying party anchored at the
//!   GPKI bridge only validates lgpki's 職責 and 利用者 certificates, and a municipal relying
//!   party anchored at the organisation CA only validates the GPKI signer, with explicit policy;
//!   `lgpki verify`, the JDK's PKIX CertPathBuilder and `openssl verify` agree;
//! - NSS `vfychain` and GnuTLS `certtool --verify` accept the TLS server, S/MIME, staff client
//!   and code-signing chains for their purposes (and refuse a chain for another purpose);
//! - pkilint is clean on every CA and cross certificate `init` makes; each CA asserts only the
//!   policies beneath it and each application sub-CA only its purpose's EKU;
//! - a home made the old way (root above bridge, organization and application) keeps working;
//! - `cross-certify --map` takes any X.660 OID (`2.999.1.1`).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{Env, KeyKind, Server, assert_ok, json_lines, make_csr, openssl};

const LG: &str = "1.2.392.200149.8.5.5";
const GP: &str = "1.2.392.100300.1.1";

/// The GPKI stand-in: a self-signed bridge, a self-signed root with a ministry CA beneath it,
/// and a cross-certificate pair between bridge and root.
const GPKI_HIERARCHY: &str = r#"
[[ca]]
name = "bridge"
description = "GPKI ブリッジ認証局"
subject = "CN=GPKI Bridge CA,O=GPKI,C=JP"
validity_days = 7300
profiles = []

[[ca]]
name = "root"
description = "GPKI 府省共用ルート認証局"
subject = "CN=GPKI Root CA,O=GPKI,C=JP"
validity_days = 7300
profiles = []

[[ca]]
name = "ministry"
description = "総務省 認証局"
parent = "root"
subject = "CN=GPKI Ministry CA,O=GPKI,C=JP"
validity_days = 3650
path_len = 0
profiles = ["official-position", "staff"]
ocsp_responder = true

[[cross]]
issuer = "bridge"
subject = "root"
policies = ["official-position", "staff"]
validity_days = 3650

[[cross]]
issuer = "root"
subject = "bridge"
policies = ["official-position", "staff"]
validity_days = 3650
"#;

/// The hierarchy `init` made before the bridge-hub topology: a root above bridge, organization
/// and application, each subordinate asserting every LGPKI class.
const OLD_HIERARCHY: &str = r#"
[[ca]]
name = "root"
description = "LGPKI ルート認証局 (trust anchor)"
subject = "CN=LGPKI Root CA,O=LGPKI,C=JP"
validity_days = 7300
profiles = []

[[ca]]
name = "bridge"
description = "LGPKI ブリッジ認証局"
parent = "root"
subject = "CN=LGPKI Bridge CA,O=LGPKI,C=JP"
validity_days = 3650
profiles = []
policies = ["official-position", "staff", "encryption", "organization", "server", "mail", "code-signing", "ocsp-signing", "sub-ca", "va", "timestamping", "sanitiser"]

[[ca]]
name = "organization"
description = "組織認証局"
parent = "root"
subject = "CN=LGPKI Organization CA,O=LGPKI,C=JP"
validity_days = 3650
path_len = 0
profiles = ["official-position", "staff", "encryption", "organization", "sanitiser"]
policies = ["official-position", "staff", "encryption", "organization", "server", "mail", "code-signing", "ocsp-signing", "sub-ca", "va", "timestamping", "sanitiser"]

[[ca]]
name = "application"
description = "アプリケーション認証局"
parent = "root"
subject = "CN=LGPKI Application CA,O=LGPKI,C=JP"
validity_days = 3650
path_len = 0
profiles = ["server", "mail", "code-signing", "timestamping"]
policies = ["official-position", "staff", "encryption", "organization", "server", "mail", "code-signing", "ocsp-signing", "sub-ca", "va", "timestamping", "sanitiser"]
"#;

/// A copy of policies/ with `hierarchy` as hierarchy.toml; for GPKI (`gpki`), O=GPKI and its
/// own policy arc.
fn policies_dir(dir: &Path, name: &str, hierarchy: &str, gpki: bool) -> PathBuf {
    let src = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../policies"));
    let dst = dir.join(name);
    std::fs::create_dir_all(dst.join("profiles")).expect("mkdir");
    let fix = |s: String| {
        if gpki {
            s.replace("LGPKI", "GPKI").replace(LG, GP)
        } else {
            s
        }
    };
    std::fs::write(
        dst.join("oids.toml"),
        fix(std::fs::read_to_string(src.join("oids.toml")).expect("read")),
    )
    .expect("write");
    std::fs::write(dst.join("hierarchy.toml"), hierarchy).expect("write");
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

fn s(p: &Path) -> &str {
    p.to_str().expect("utf8")
}

/// `ca cert NAME` saved to FILE.
fn ca_pem(env: &Env, name: &str, file: &str) -> PathBuf {
    let out = env.lgpki(&["ca", "cert", name]);
    assert_ok(&out, &format!("ca cert {name}"));
    let p = env.path(file);
    std::fs::write(&p, &out.stdout).expect("write");
    p
}

/// Every cross-certificate in the store (profile `cross`), as (issuing CA, subject, PEM file).
fn crosses(env: &Env, prefix: &str) -> Vec<(String, String, PathBuf)> {
    let out = env.lgpki(&["--json", "cert", "list", "--profile", "cross"]);
    assert_ok(&out, "cert list --profile cross");
    json_lines(&out.stdout)
        .iter()
        .map(|c| {
            let serial = c["serial"].as_str().expect("serial");
            let shown = env.lgpki(&["--json", "cert", "show", serial]);
            assert_ok(&shown, "cert show");
            let v = &json_lines(&shown.stdout)[0];
            let p = env.path(&format!("{prefix}-cross-{serial}.pem"));
            std::fs::write(&p, v["pem"].as_str().expect("pem")).expect("write");
            (
                c["ca"].as_str().expect("ca").to_string(),
                c["subject"].as_str().expect("subject").to_string(),
                p,
            )
        })
        .collect()
}

/// Issues `profile` for `subj` (with `sans`) from `env`'s default CA for it; returns the file.
fn issue(env: &Env, name: &str, profile: &str, subj: &str, sans: &[&str]) -> PathBuf {
    let csr = make_csr(env.dir.path(), name, KeyKind::P256, subj, &[]);
    let pem = env.path(&format!("{name}.pem"));
    let mut args = vec![
        "issue",
        "--profile",
        profile,
        "--csr",
        s(&csr),
        "--out",
        s(&pem),
    ];
    for san in sans {
        args.extend_from_slice(&["--san", san]);
    }
    assert_ok(&env.lgpki(&args), &format!("issue {profile}"));
    pem
}

fn cat(files: &[&Path], out: &Path) -> PathBuf {
    let mut all = Vec::new();
    for f in files {
        all.extend(std::fs::read(f).expect("read"));
    }
    std::fs::write(out, all).expect("write");
    out.to_path_buf()
}

fn said(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "{program} could not run ({e}); CI installs it (.ci/run); this test does not skip"
            )
        })
}

/// A relying party: one anchor, a bag of certificates, an initial policy, explicit policy.
#[derive(Clone)]
struct Rp<'a> {
    anchor: &'a Path,
    /// Everything available to `lgpki verify` and the JDK (path building picks).
    bag: &'a Path,
    /// The certificates of the path only, for `openssl verify -untrusted` (None: OpenSSL
    /// cannot build this path and is not asked).
    openssl_pool: Option<&'a Path>,
    policy: String,
    inhibit_mapping: bool,
}

/// `lgpki verify`, the JDK's CertPathBuilder and (where given a pool) `openssl verify` on the
/// same relying party; all must say `valid`. Returns lgpki's JSON answer and the JDK's output.
fn agree(env: &Env, rp: &Rp<'_>, leaf: &Path, valid: bool) -> (serde_json::Value, String) {
    let mut args = vec![
        "--json",
        "verify",
        s(leaf),
        "--trust",
        s(rp.anchor),
        "--untrusted",
        s(rp.bag),
        "--policy",
        &rp.policy,
        "--explicit-policy",
    ];
    if rp.inhibit_mapping {
        args.push("--inhibit-policy-mapping");
    }
    let out = env.lgpki(&args);
    let v = json_lines(&out.stdout)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("lgpki verify printed no JSON: {}", said(&out)));
    assert_eq!(v["valid"], valid, "lgpki verify of {}: {v}", leaf.display());
    assert_eq!(out.status.code(), Some(if valid { 0 } else { 1 }), "{v}");

    let java = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/java/PkixPolicy.java");
    let mut jargs = vec![java, s(rp.anchor), s(rp.bag), s(leaf), &rp.policy];
    if rp.inhibit_mapping {
        jargs.push("inhibit-mapping");
    }
    let j = run("java", &jargs);
    let jsaid = said(&j);
    assert_eq!(
        j.status.success(),
        valid,
        "the JDK's CertPathBuilder disagrees with lgpki verify on {}:\n{jsaid}\nlgpki: {v}",
        leaf.display()
    );

    if let Some(pool) = rp.openssl_pool {
        let mut oargs = vec![
            "verify",
            "-x509_strict",
            "-policy_check",
            "-explicit_policy",
            "-policy",
            &rp.policy,
            "-CAfile",
            s(rp.anchor),
            "-untrusted",
            s(pool),
        ];
        if rp.inhibit_mapping {
            oargs.push("-inhibit_map");
        }
        oargs.push(s(leaf));
        let o = openssl(&oargs);
        assert_eq!(
            o.status.success(),
            valid,
            "openssl verify disagrees on {}:\n{}",
            leaf.display(),
            said(&o)
        );
    }
    (v, jsaid)
}

#[test]
fn gpki_and_municipal_relying_parties_validate_across_both_bridges() {
    let lg = Env::init(&[]);
    let gp = Env::new();
    let gpol = policies_dir(gp.dir.path(), "gpki-policies", GPKI_HIERARCHY, true);
    assert_ok(
        &gp.lgpki(&[
            "init",
            "--policies",
            s(&gpol),
            "--base-url",
            "http://gpki.example:8080",
        ]),
        "init GPKI",
    );

    let lg_bridge = ca_pem(&lg, "bridge", "lg-bridge.pem");
    let lg_org = ca_pem(&lg, "organization", "lg-org.pem");
    let gp_bridge = ca_pem(&gp, "bridge", "gp-bridge.pem");
    let gp_root = ca_pem(&gp, "root", "gp-root.pem");
    let gp_ministry = ca_pem(&gp, "ministry", "gp-ministry.pem");

    // The bridges cross-certify each other, 職責 (.1) and 利用者 (.2) mapped; 暗号化 (.3) not.
    let x_lg_gp = lg.path("x-lg-gp.pem");
    assert_ok(
        &lg.lgpki(&[
            "cross-certify",
            "--ca",
            "bridge",
            "--subject-cert",
            s(&gp_bridge),
            "--map",
            &format!("{LG}.1={GP}.1"),
            "--map",
            &format!("{LG}.2={GP}.2"),
            "--out",
            s(&x_lg_gp),
        ]),
        "LGPKI bridge certifies GPKI bridge",
    );
    let x_gp_lg = gp.path("x-gp-lg.pem");
    assert_ok(
        &gp.lgpki(&[
            "cross-certify",
            "--ca",
            "bridge",
            "--subject-cert",
            s(&lg_bridge),
            "--map",
            &format!("{GP}.1={LG}.1"),
            "--map",
            &format!("{GP}.2={LG}.2"),
            "--out",
            s(&x_gp_lg),
        ]),
        "GPKI bridge certifies LGPKI bridge",
    );
    assert_ok(
        &lg.lgpki(&["cross-certify", "import", s(&x_gp_lg)]),
        "import",
    );
    assert_ok(
        &gp.lgpki(&["cross-certify", "import", s(&x_lg_gp)]),
        "import",
    );

    // Each side's init-made pair (hierarchy.toml [[cross]]).
    let lg_x = crosses(&lg, "lg");
    let gp_x = crosses(&gp, "gp");
    let find = |xs: &[(String, String, PathBuf)], ca: &str, subj: &str| -> PathBuf {
        xs.iter()
            .find(|(c, sub, _)| c == ca && sub.contains(subj))
            .unwrap_or_else(|| panic!("no cross-certificate {ca} -> {subj}: {xs:?}"))
            .2
            .clone()
    };
    let bridge_to_org = find(&lg_x, "bridge", "Organization CA");
    let org_to_bridge = find(&lg_x, "organization", "Bridge CA");
    let gbridge_to_groot = find(&gp_x, "bridge", "Root CA");

    // Everything either side publishes, in one bag (loops, self-signed and cross-certified
    // copies of the same subjects included): the builders must pick.
    let mut bag_files: Vec<&Path> = vec![
        &lg_bridge,
        &lg_org,
        &gp_bridge,
        &gp_root,
        &gp_ministry,
        &x_lg_gp,
        &x_gp_lg,
    ];
    let all_x: Vec<PathBuf> = lg_x.iter().chain(&gp_x).map(|x| x.2.clone()).collect();
    bag_files.extend(all_x.iter().map(PathBuf::as_path));
    let bag = cat(&bag_files, &lg.path("bag.pem"));

    // lgpki's 職責 and 利用者 certificates; the ministry's signer.
    let shokuseki = issue(
        &lg,
        "shokuseki",
        "official-position",
        "/C=JP/O=LGPKI/OU=千代田区/CN=千代田区長",
        &[],
    );
    let riyousha = issue(
        &lg,
        "riyousha",
        "staff",
        "/C=JP/O=LGPKI/OU=千代田区/CN=山田太郎",
        &[],
    );
    let angou = issue(
        &lg,
        "angou",
        "encryption",
        "/C=JP/O=LGPKI/OU=千代田区/CN=山田太郎",
        &[],
    );
    let signer = issue(
        &gp,
        "signer",
        "official-position",
        "/C=JP/O=GPKI/OU=総務省/CN=総務大臣",
        &[],
    );

    // The GPKI relying party: anchor = the GPKI bridge only.
    let gpki_pool = cat(&[&x_gp_lg, &bridge_to_org], &lg.path("gpki-pool.pem"));
    for (leaf, class, subjects) in [
        (&shokuseki, "1", "千代田区長"),
        (&riyousha, "2", "山田太郎"),
    ] {
        let rp = Rp {
            anchor: &gp_bridge,
            bag: &bag,
            openssl_pool: Some(&gpki_pool),
            policy: format!("{GP}.{class}"),
            inhibit_mapping: false,
        };
        let (v, jdk) = agree(&lg, &rp, leaf, true);
        // leaf, organisation CA (by our bridge), LGPKI bridge (by GPKI's), GPKI bridge (anchor).
        assert_eq!(v["path"].as_array().map(Vec::len), Some(4), "{v}");
        assert_eq!(
            v["policies"],
            serde_json::json!([format!("{GP}.{class}")]),
            "{v}"
        );
        assert!(
            jdk.contains(subjects) && jdk.contains("LGPKI Organization CA"),
            "{jdk}"
        );
        // The JDK's valid policy tree ends in the leaf's own domain: GPKI's class was mapped
        // to LGPKI's at the bridges.
        assert!(jdk.contains(&format!("policies: {LG}.{class}")), "{jdk}");
        // The same with mapping inhibited: no GPKI policy reaches the leaf.
        agree(
            &lg,
            &Rp {
                inhibit_mapping: true,
                ..rp
            },
            leaf,
            false,
        );
    }
    // 暗号化通信用 (.3) is not mapped at the bridges: refused with explicit policy.
    agree(
        &lg,
        &Rp {
            anchor: &gp_bridge,
            bag: &bag,
            openssl_pool: Some(&gpki_pool),
            policy: format!("{GP}.3"),
            inhibit_mapping: false,
        },
        &angou,
        false,
    );

    // The municipal relying party: anchor = the organisation CA only.
    let muni_pool = cat(
        &[&org_to_bridge, &x_lg_gp, &gbridge_to_groot, &gp_ministry],
        &lg.path("muni-pool.pem"),
    );
    let muni = Rp {
        anchor: &lg_org,
        bag: &bag,
        openssl_pool: Some(&muni_pool),
        policy: format!("{LG}.1"),
        inhibit_mapping: false,
    };
    let (v, jdk) = agree(&lg, &muni, &signer, true);
    // signer, ministry, GPKI root, GPKI bridge, LGPKI bridge, organisation CA (anchor).
    assert_eq!(v["path"].as_array().map(Vec::len), Some(6), "{v}");
    assert_eq!(v["policies"], serde_json::json!([format!("{LG}.1")]), "{v}");
    assert!(
        jdk.contains("GPKI Ministry CA") && jdk.contains("総務大臣"),
        "{jdk}"
    );
    assert!(
        jdk.contains(&format!("policies: {GP}.1")),
        "mapped to GPKI's: {jdk}"
    );
    agree(
        &lg,
        &Rp {
            inhibit_mapping: true,
            ..muni.clone()
        },
        &signer,
        false,
    );
    // The municipality's own 利用者 certificate validates under its anchor, directly.
    agree(
        &lg,
        &Rp {
            policy: format!("{LG}.2"),
            openssl_pool: Some(&muni_pool),
            ..muni.clone()
        },
        &riyousha,
        true,
    );
    // A relying party anchored at our bridge reaches the organisation's certificates through
    // the init-made cross-certificate.
    let bridge_pool = cat(&[&bridge_to_org], &lg.path("bridge-pool.pem"));
    agree(
        &lg,
        &Rp {
            anchor: &lg_bridge,
            bag: &bag,
            openssl_pool: Some(&bridge_pool),
            policy: format!("{LG}.2"),
            inhibit_mapping: false,
        },
        &riyousha,
        true,
    );
}

/// vfychain (NSS, libpkix: `-pp`) on LEAF with INTERMEDIATES for USAGE, against DB.
fn vfychain(db: &Path, usage: &str, chain: &[&Path]) -> Output {
    let mut args = vec!["-d", s(db), "-pp", "-u", usage];
    for c in chain {
        args.extend_from_slice(&["-a", s(c)]);
    }
    run("vfychain", &args)
}

/// `certtool --verify` (GnuTLS) of CHAIN (leaf first) against ANCHOR for PURPOSE.
fn certtool(env: &Env, anchor: &Path, chain: &[&Path], purpose: &str, name: &str) -> Output {
    let file = cat(chain, &env.path(&format!("{name}-gnutls-chain.pem")));
    run(
        "certtool",
        &[
            "--verify",
            "--load-ca-certificate",
            s(anchor),
            "--infile",
            s(&file),
            "--verify-purpose",
            purpose,
        ],
    )
}

#[test]
fn purpose_split_chains_pass_nss_and_gnutls() {
    let env = Env::init(&[]);
    let app = ca_pem(&env, "application", "app-root.pem");
    let org = ca_pem(&env, "organization", "org.pem");
    let server_ca = ca_pem(&env, "application-server", "app-server.pem");
    let mail_ca = ca_pem(&env, "application-mail", "app-mail.pem");
    let code_ca = ca_pem(&env, "application-code-signing", "app-code.pem");

    // `issue` without --ca reaches the sub-CA bound to each profile.
    let server = issue(
        &env,
        "server",
        "server",
        "/C=JP/O=LGPKI/CN=www.city.chiyoda.lg.jp",
        &["dns:www.city.chiyoda.lg.jp"],
    );
    let mail = issue(
        &env,
        "mail",
        "mail",
        "/C=JP/O=LGPKI/OU=千代田区/CN=山田太郎",
        &["email:taro@city.chiyoda.lg.jp"],
    );
    let code = issue(
        &env,
        "code",
        "code-signing",
        "/C=JP/O=LGPKI/OU=千代田区/CN=千代田区 情報政策課",
        &[],
    );
    let staff = issue(
        &env,
        "staff",
        "staff",
        "/C=JP/O=LGPKI/OU=千代田区/CN=山田太郎",
        &[],
    );
    for (leaf, ca) in [
        (&server, "application-server"),
        (&mail, "application-mail"),
        (&code, "application-code-signing"),
        (&staff, "organization"),
    ] {
        let issuer = openssl(&["x509", "-noout", "-issuer", "-in", s(leaf)]);
        let expected = ca_pem(&env, ca, &format!("{ca}-check.pem"));
        let subject = openssl(&["x509", "-noout", "-subject", "-in", s(&expected)]);
        assert_eq!(
            String::from_utf8_lossy(&issuer.stdout).replace("issuer=", ""),
            String::from_utf8_lossy(&subject.stdout).replace("subject=", ""),
            "{} should be issued by {ca}",
            leaf.display()
        );
    }

    // NSS: both roots trusted for every use.
    let db = env.path("nssdb");
    std::fs::create_dir_all(&db).expect("mkdir");
    let o = run("certutil", &["-N", "-d", s(&db), "--empty-password"]);
    assert!(o.status.success(), "certutil -N: {}", said(&o));
    for (nick, root) in [("app", &app), ("org", &org)] {
        let o = run(
            "certutil",
            &[
                "-A",
                "-d",
                s(&db),
                "-n",
                nick,
                "-t",
                "CT,C,C",
                "-i",
                s(root),
            ],
        );
        assert!(o.status.success(), "certutil -A: {}", said(&o));
    }
    // certUsageSSLServer 1, EmailSigner 4, SSLClient 0, ObjectSigner 6.
    for (usage, chain) in [
        ("1", vec![server.as_path(), server_ca.as_path()]),
        ("4", vec![mail.as_path(), mail_ca.as_path()]),
        ("0", vec![staff.as_path()]),
        ("6", vec![code.as_path(), code_ca.as_path()]),
    ] {
        let o = vfychain(&db, usage, &chain);
        assert!(
            o.status.success() && said(&o).contains("Chain is good"),
            "vfychain -u {usage} {}: {}",
            chain[0].display(),
            said(&o)
        );
    }
    // …and the purposes do not leak: the server chain is no code-signing chain, the
    // code-signing chain no TLS server chain.
    let o = vfychain(&db, "6", &[&server, &server_ca]);
    assert!(
        !o.status.success(),
        "vfychain -u 6 on a TLS chain: {}",
        said(&o)
    );
    let o = vfychain(&db, "1", &[&code, &code_ca]);
    assert!(
        !o.status.success(),
        "vfychain -u 1 on a code-signing chain: {}",
        said(&o)
    );

    // GnuTLS: each chain for its purpose, and not for another.
    const SERVER: &str = "1.3.6.1.5.5.7.3.1";
    const CLIENT: &str = "1.3.6.1.5.5.7.3.2";
    const CODE: &str = "1.3.6.1.5.5.7.3.3";
    const EMAIL: &str = "1.3.6.1.5.5.7.3.4";
    for (name, anchor, chain, purpose) in [
        (
            "server",
            &app,
            vec![server.as_path(), server_ca.as_path()],
            SERVER,
        ),
        ("mail", &app, vec![mail.as_path(), mail_ca.as_path()], EMAIL),
        ("staff", &org, vec![staff.as_path()], CLIENT),
        ("code", &app, vec![code.as_path(), code_ca.as_path()], CODE),
    ] {
        let o = certtool(&env, anchor, &chain, purpose, name);
        assert!(
            o.status.success() && said(&o).contains("Verified"),
            "certtool --verify {name} for {purpose}: {}",
            said(&o)
        );
    }
    let o = certtool(&env, &app, &[&server, &server_ca], CODE, "server-as-code");
    assert!(
        !o.status.success(),
        "GnuTLS took a TLS chain for code signing: {}",
        said(&o)
    );
    let o = certtool(&env, &app, &[&mail, &mail_ca], SERVER, "mail-as-server");
    assert!(
        !o.status.success(),
        "GnuTLS took an S/MIME chain for TLS: {}",
        said(&o)
    );

    // `serve` answers for the sub-CA through its delegated responder (RFC 6960 §4.2.2.2), and
    // for the organisation CA with the CA's own key; OpenSSL verifies both answers.
    let srv = Server::start(&env);
    for (leaf, issuer, anchor, delegated) in [
        (&server, &server_ca, &app, true),
        (&staff, &org, &org, false),
    ] {
        let o = openssl(&[
            "ocsp",
            "-issuer",
            s(issuer),
            "-cert",
            s(leaf),
            "-url",
            &format!("{}/ocsp", srv.http),
            "-CAfile",
            s(anchor),
            "-verify_other",
            s(issuer),
            "-resp_text",
        ]);
        let text = said(&o);
        assert!(
            o.status.success() && text.contains("Response verify OK") && text.contains(": good"),
            "openssl ocsp for {}: {text}",
            leaf.display()
        );
        // A delegated responder sends its certificate (RFC 6960 §4.2.2.2); the CA does not.
        assert_eq!(
            text.contains("CN=OCSP Responder application-server"),
            delegated,
            "{text}"
        );
    }
}

/// The policy OIDs and extendedKeyUsage of a certificate, as `openssl x509 -text` prints them.
fn text(p: &Path) -> String {
    String::from_utf8_lossy(&openssl(&["x509", "-noout", "-text", "-in", s(p)]).stdout).into_owned()
}

fn policies_of(t: &str) -> Vec<String> {
    let mut v: Vec<String> = t
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Policy: "))
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

#[test]
fn init_makes_the_topology_pkilint_clean_with_policies_and_ekus_beneath_each_ca() {
    let env = Env::init(&[]);
    let out = env.lgpki(&["--json", "ca", "list"]);
    assert_ok(&out, "ca list");
    let cas = json_lines(&out.stdout);
    let parent = |n: &str| {
        cas.iter()
            .find(|c| c["name"] == n)
            .unwrap_or_else(|| panic!("no CA {n}: {cas:?}"))["parent"]
            .clone()
    };
    for root in ["bridge", "organization", "application"] {
        assert!(parent(root).is_null(), "{root} is self-signed");
    }
    assert!(
        !cas.iter().any(|c| c["name"] == "root"),
        "no root CA above the bridge"
    );
    let lg = |n: u32| format!("{LG}.{n}");
    // (sub-CA, its EKU as openssl names it, the policies it asserts).
    let subs = [
        (
            "application-server",
            "TLS Web Server Authentication",
            vec![lg(5), lg(8)],
        ),
        ("application-mail", "E-mail Protection", vec![lg(6), lg(8)]),
        (
            "application-code-signing",
            "Code Signing",
            vec![lg(7), lg(8)],
        ),
        (
            "application-timestamping",
            "Time Stamping",
            vec![lg(11), lg(8)],
        ),
    ];
    for (name, eku, policies) in &subs {
        assert_eq!(parent(name), "application", "{name}");
        let p = ca_pem(&env, name, &format!("{name}.pem"));
        let t = text(&p);
        let eku_line = t
            .lines()
            .skip_while(|l| !l.contains("X509v3 Extended Key Usage"))
            .nth(1)
            .unwrap_or_else(|| panic!("{name} has no EKU:\n{t}"));
        assert_eq!(eku_line.trim(), *eku, "{name}: only its purpose");
        let mut want = policies.clone();
        want.sort();
        assert_eq!(policies_of(&t), want, "{name}: only the classes beneath it");
        common::assert_pkilint_clean(&p);
    }
    for root in ["bridge", "organization", "application"] {
        let p = ca_pem(&env, root, &format!("{root}.pem"));
        let t = text(&p);
        assert!(
            policies_of(&t).is_empty(),
            "{root}: a trust anchor asserts no policy"
        );
        assert!(!t.contains("Extended Key Usage"), "{root}: no EKU");
        common::assert_pkilint_clean(&p);
    }
    // The bridge ⇄ organisation pair, one each way, each with the classes it carries.
    let xs = crosses(&env, "init");
    assert_eq!(xs.len(), 2, "{xs:?}");
    for (ca, subject, file) in &xs {
        let t = text(file);
        let got = policies_of(&t);
        match ca.as_str() {
            "bridge" => {
                assert!(subject.contains("Organization CA"), "{subject}");
                assert_eq!(got, vec![lg(1), lg(12), lg(2), lg(3), lg(4)], "{t}");
                assert!(t.contains("pathlen:0"), "{t}");
            }
            "organization" => {
                assert!(subject.contains("Bridge CA"), "{subject}");
                assert_eq!(got, vec![lg(1), lg(10), lg(2), lg(3), lg(4)], "{t}");
            }
            other => panic!("unexpected cross-certificate issuer {other}"),
        }
        assert!(
            !got.contains(&lg(5)),
            "no Web-server class across the bridge"
        );
        common::assert_pkilint_clean(file);
    }
    // Delegated OCSP responders for the application root and each sub-CA: OCSPSigning, nocheck,
    // issued by their CA (openssl verify with purpose ocsphelper would take any CA; check the
    // signature and the EKU).
    for name in std::iter::once("application").chain(subs.iter().map(|s| s.0)) {
        let chain = env.home.join("ocsp").join(name).join("chain.pem");
        assert!(chain.exists(), "no delegated OCSP responder for {name}");
        let leaf = env.path(&format!("{name}-responder.pem"));
        let first = std::fs::read_to_string(&chain).expect("chain");
        let end = first.find("-----END CERTIFICATE-----").expect("pem") + 26;
        std::fs::write(&leaf, &first[..end]).expect("write");
        let t = text(&leaf);
        assert!(
            t.contains("OCSP Signing") && t.contains("OCSP No Check"),
            "{t}"
        );
        let ca = env.path(&format!("{name}.pem"));
        if !ca.exists() {
            ca_pem(&env, name, &format!("{name}.pem"));
        }
        let root = env.path("application.pem");
        let o = openssl(&[
            "verify",
            "-x509_strict",
            "-CAfile",
            s(&root),
            "-untrusted",
            s(&ca),
            "-purpose",
            "ocsphelper",
            s(&leaf),
        ]);
        assert!(o.status.success(), "{name} responder: {}", said(&o));
        common::assert_pkilint_clean(&leaf);
    }
    // The organisation CA and the bridge have none (their CA keys answer).
    assert!(!env.home.join("ocsp").join("organization").exists());
    assert!(!env.home.join("ocsp").join("bridge").exists());
}

#[test]
fn homes_made_the_old_way_keep_working() {
    let env = Env::new();
    let old = policies_dir(env.dir.path(), "old-policies", OLD_HIERARCHY, false);
    assert_ok(
        &env.lgpki(&["init", "--policies", s(&old)]),
        "init (old hierarchy)",
    );
    // Later commands run with the built-in policies (the new hierarchy), as after an upgrade.
    let out = env.lgpki(&["--json", "ca", "list"]);
    assert_ok(&out, "open: ca list");
    let names: Vec<String> = json_lines(&out.stdout)
        .iter()
        .map(|c| c["name"].as_str().expect("name").to_string())
        .collect();
    assert_eq!(names, ["root", "bridge", "organization", "application"]);
    let root = ca_pem(&env, "root", "root.pem");
    let org = ca_pem(&env, "organization", "org.pem");
    let app = ca_pem(&env, "application", "app.pem");
    // The old application CA asserts every class (as homes made before did).
    assert!(policies_of(&text(&app)).contains(&format!("{LG}.1")));

    // issue: each profile still goes to the CA of that home bound to it.
    let staff = issue(
        &env,
        "staff",
        "staff",
        "/C=JP/O=LGPKI/OU=千代田区/CN=山田太郎",
        &[],
    );
    let server = issue(
        &env,
        "server",
        "server",
        "/C=JP/O=LGPKI/CN=www.city.chiyoda.lg.jp",
        &["dns:www.city.chiyoda.lg.jp"],
    );
    let untrusted = cat(&[&org, &app], &env.path("old-pool.pem"));
    for (leaf, purpose) in [(&staff, "sslclient"), (&server, "sslserver")] {
        let out = env.lgpki(&[
            "--json",
            "verify",
            s(leaf),
            "--trust",
            s(&root),
            "--untrusted",
            s(&untrusted),
            "--policy",
            &format!("{LG}.{}", if purpose == "sslclient" { 2 } else { 5 }),
            "--explicit-policy",
        ]);
        let v = &json_lines(&out.stdout)[0];
        assert_eq!(v["valid"], true, "{v}");
        assert_eq!(v["path"].as_array().map(Vec::len), Some(3), "{v}");
        let o = openssl(&[
            "verify",
            "-x509_strict",
            "-purpose",
            purpose,
            "-CAfile",
            s(&root),
            "-untrusted",
            s(&untrusted),
            s(leaf),
        ]);
        assert!(o.status.success(), "openssl verify: {}", said(&o));
    }

    // OCSP from `serve`: good, then revoked; the CRL says revoked too.
    let srv = Server::start(&env);
    let ocsp = |leaf: &Path| {
        let o = openssl(&[
            "ocsp",
            "-issuer",
            s(&org),
            "-cert",
            s(leaf),
            "-url",
            &format!("{}/ocsp", srv.http),
            "-CAfile",
            s(&root),
            "-verify_other",
            s(&org),
        ]);
        said(&o)
    };
    let before = ocsp(&staff);
    assert!(before.contains(": good"), "{before}");
    let serial = openssl(&["x509", "-noout", "-serial", "-in", s(&staff)]);
    let serial = String::from_utf8_lossy(&serial.stdout)
        .trim()
        .trim_start_matches("serial=")
        .to_lowercase();
    assert_ok(
        &env.lgpki(&["revoke", "--serial", &serial, "--reason", "keyCompromise"]),
        "revoke",
    );
    let mut after = String::new();
    for _ in 0..50 {
        after = ocsp(&staff);
        if after.contains(": revoked") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(after.contains(": revoked"), "{after}");
    drop(srv);
    let crl = env.path("org.crl");
    assert_ok(
        &env.lgpki(&["crl", "--ca", "organization", "--pem", "--out", s(&crl)]),
        "crl",
    );
    let arl = env.path("root.crl");
    assert_ok(
        &env.lgpki(&["crl", "--ca", "root", "--pem", "--out", s(&arl)]),
        "root ARL",
    );
    let crls = cat(&[&crl, &arl], &env.path("crls.pem"));
    let o = openssl(&[
        "verify",
        "-crl_check_all",
        "-CRLfile",
        s(&crls),
        "-CAfile",
        s(&root),
        "-untrusted",
        s(&untrusted),
        s(&staff),
    ]);
    assert!(
        !o.status.success() && said(&o).contains("revoked"),
        "openssl with the CRLs: {}",
        said(&o)
    );
    let o = openssl(&[
        "verify",
        "-crl_check_all",
        "-CRLfile",
        s(&crls),
        "-CAfile",
        s(&root),
        "-untrusted",
        s(&untrusted),
        s(&server),
    ]);
    assert!(
        !o.status.success(),
        "the application CA's CRL was not given: {}",
        said(&o)
    );
    let out = env.lgpki(&[
        "--json",
        "verify",
        s(&staff),
        "--trust",
        s(&root),
        "--untrusted",
        s(&untrusted),
        "--crl",
        s(&crl),
        "--crl",
        s(&arl),
    ]);
    let v = &json_lines(&out.stdout)[0];
    assert_eq!(v["valid"], false, "{v}");
    assert!(
        v["reason"].as_str().is_some_and(|r| r.contains("revoked")),
        "{v}"
    );
    // `ca create` under the old root still works, and the hierarchy is left as it was.
    assert_ok(
        &env.lgpki(&["ca", "create", "extra", "--parent", "root"]),
        "ca create under root",
    );
}

#[test]
fn cross_certify_map_takes_any_x660_oid() {
    let env = Env::init(&[]);
    let other = Env::new();
    let pol = policies_dir(other.dir.path(), "gpki-policies", GPKI_HIERARCHY, true);
    assert_ok(&other.lgpki(&["init", "--policies", s(&pol)]), "init other");
    let subject = ca_pem(&other, "bridge", "other-bridge.pem");
    let out = env.path("x-2999.pem");
    assert_ok(
        &env.lgpki(&[
            "cross-certify",
            "--ca",
            "bridge",
            "--subject-cert",
            s(&subject),
            "--map",
            &format!("{LG}.2=2.999.1.1"),
            "--map",
            "2.999.1079.7=2.999.1.2",
            "--out",
            s(&out),
        ]),
        "--map with 2.999 arcs",
    );
    let t = text(&out);
    assert!(t.contains("2.999.1.1") && t.contains("2.999.1079.7"), "{t}");
    assert_eq!(
        policies_of(&t),
        vec![format!("{LG}.2"), "2.999.1079.7".into()]
    );
    // The policyMappings extension decodes in OpenSSL: issuer:subject pairs.
    assert!(
        t.contains(&format!("{LG}.2:2.999.1.1")) && t.contains("2.999.1079.7:2.999.1.2"),
        "{t}"
    );
    // The JDK reads it too (pkilint's decoder, pyasn1-fasder, refuses a second arc above 39
    // under arc 2, so it cannot be the peer here).
    let k = run("keytool", &["-printcert", "-file", s(&out)]);
    let kt = said(&k);
    assert!(
        k.status.success() && kt.contains("2.999.1.1") && kt.contains("2.999.1079.7"),
        "keytool -printcert: {kt}"
    );
    // Still refused: not an OID, a first arc above 2, anyPolicy; nothing is written.
    for bad in [
        "1.2.3",
        "3.1=1.2",
        "0.40=1.2",
        "2.5.29.32.0=1.2.3",
        "1.2.3=abc",
    ] {
        let o = env.lgpki(&[
            "cross-certify",
            "--ca",
            "bridge",
            "--subject-cert",
            s(&subject),
            "--map",
            bad,
            "--out",
            s(&env.path("never.pem")),
        ]);
        assert_eq!(o.status.code(), Some(2), "--map {bad}: {}", said(&o));
        assert!(said(&o).contains("--map"), "names the flag: {}", said(&o));
        assert!(!env.path("never.pem").exists());
    }
}
