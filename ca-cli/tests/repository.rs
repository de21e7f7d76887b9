//! The repository: `publish --ldap` into a real OpenLDAP `slapd` (Debian's package, started
//! here on a free loopback port from a `slapd.conf` in a temporary directory), checked with
//! `ldapsearch` and `openssl`; and `publish --watch` keeping a publication directory fresh.
//!
//! LDAP: the CA certificates, the cross-certificate pair (a certificate issued to our bridge by
//! another CA and one issued by the bridge to it), the CRLs and the ARLs are in the directory
//! and parse with `openssl x509` / `openssl crl` (and verify against their CA). After a
//! revocation, the next publish writes a new CRL (higher CRL number, listing the serial) into
//! the issuing CA's entry only: the other entries are not written at all (their `entryCSN` and
//! `modifyTimestamp` stay the same). The bind password never appears in the output.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::{Env, assert_ok, issue_staff, json_lines, openssl, openssl_ok};

const SLAPD: &str = "/usr/sbin/slapd";
const BASE: &str = "dc=lgpki,dc=test";
const ROOTDN: &str = "cn=admin,dc=lgpki,dc=test";
const PASSWORD: &str = "s3cret-bind-pw-for-test";

/// A private slapd; killed on drop.
struct Slapd {
    child: Child,
    url: String,
}

impl Slapd {
    fn start(dir: &Path) -> Slapd {
        assert!(
            Path::new(SLAPD).exists(),
            "{SLAPD} is missing: apt-get install slapd ldap-utils (.ci/run installs them)"
        );
        let db = dir.join("ldap-db");
        std::fs::create_dir_all(&db).expect("db dir");
        let conf = dir.join("slapd.conf");
        std::fs::write(
            &conf,
            format!(
                "include /etc/ldap/schema/core.schema\n\
                 pidfile {d}/slapd.pid\n\
                 argsfile {d}/slapd.args\n\
                 modulepath /usr/lib/ldap\n\
                 moduleload back_mdb\n\
                 database mdb\n\
                 maxsize 10485760\n\
                 suffix \"{BASE}\"\n\
                 rootdn \"{ROOTDN}\"\n\
                 rootpw {PASSWORD}\n\
                 directory {db}\n",
                d = dir.display(),
                db = db.display()
            ),
        )
        .expect("slapd.conf");
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
            l.local_addr().expect("addr").port()
        };
        let url = format!("ldap://127.0.0.1:{port}");
        let child = Command::new(SLAPD)
            .arg("-f")
            .arg(&conf)
            .args(["-h", &format!("{url}/"), "-d", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start slapd");
        let mut slapd = Slapd { child, url };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = slapd.child.try_wait() {
                panic!("slapd exited at start: {status}");
            }
            assert!(Instant::now() < deadline, "slapd did not listen on {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        // The suffix entry, added with ldapadd.
        let ldif = dir.join("base.ldif");
        std::fs::write(
            &ldif,
            format!("dn: {BASE}\nobjectClass: dcObject\nobjectClass: organization\ndc: lgpki\no: lgpki\n"),
        )
        .expect("ldif");
        let out = Command::new("ldapadd")
            .args(["-x", "-H", &slapd.url, "-D", ROOTDN, "-w", PASSWORD, "-f"])
            .arg(&ldif)
            .output()
            .expect("ldapadd (apt-get install ldap-utils)");
        assert_ok(&out, "ldapadd base");
        slapd
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One entry of `ldapsearch -LLL` output: attribute (lower case) → values.
type Entry = BTreeMap<String, Vec<Vec<u8>>>;

/// Every entry under BASE with an objectClass of pkiCA, by DN, with operational attributes.
fn search(url: &str) -> BTreeMap<String, Entry> {
    let out = Command::new("ldapsearch")
        .args([
            "-x",
            "-LLL",
            "-o",
            "ldif-wrap=no",
            "-H",
            url,
            "-b",
            BASE,
            "(objectClass=pkiCA)",
            "*",
            "entryCSN",
            "modifyTimestamp",
        ])
        .output()
        .expect("ldapsearch");
    assert_ok(&out, "ldapsearch");
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let mut entries = BTreeMap::new();
    for block in text.split("\n\n").filter(|b| !b.trim().is_empty()) {
        let mut entry = Entry::new();
        let mut dn = String::new();
        for line in block.lines() {
            let (attr, value) = if let Some((a, v)) = line.split_once(":: ") {
                (
                    a,
                    base64::engine::general_purpose::STANDARD
                        .decode(v.trim())
                        .expect("base64 value"),
                )
            } else if let Some((a, v)) = line.split_once(": ") {
                (a, v.as_bytes().to_vec())
            } else {
                panic!("unexpected LDIF line {line:?}");
            };
            if attr.eq_ignore_ascii_case("dn") {
                dn = String::from_utf8(value).expect("dn");
                continue;
            }
            let attr = attr.split(';').next().unwrap_or(attr).to_ascii_lowercase();
            entry.entry(attr).or_default().push(value);
        }
        entries.insert(dn.to_ascii_lowercase(), entry);
    }
    entries
}

/// Runs openssl, asserts success, returns stdout and stderr ("verify OK" is on stderr).
fn openssl_both(args: &[&str]) -> String {
    let out = openssl(args);
    assert_ok(&out, &format!("openssl {}", args.join(" ")));
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn one<'a>(e: &'a Entry, attr: &str) -> &'a [u8] {
    let v = e
        .get(attr)
        .unwrap_or_else(|| panic!("no {attr} in {:?}", e.keys()));
    assert_eq!(v.len(), 1, "{attr}");
    &v[0]
}

fn write(dir: &Path, name: &str, data: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, data).expect("write");
    p.display().to_string()
}

/// CRL number as openssl prints it (hex).
fn crl_number(der_file: &str) -> u64 {
    let t = openssl_ok(&[
        "crl",
        "-inform",
        "DER",
        "-in",
        der_file,
        "-noout",
        "-crlnumber",
    ]);
    let hex = t.trim().strip_prefix("crlNumber=").expect("crlNumber");
    u64::from_str_radix(hex.trim_start_matches("0x"), 16).expect("hex CRL number")
}

fn publish_ldap(env: &Env, url: &str, pw_file: &Path) -> Vec<serde_json::Value> {
    let out = env.lgpki(&[
        "--json",
        "publish",
        "--ldap",
        url,
        "--bind-dn",
        ROOTDN,
        "--bind-password-file",
        pw_file.to_str().expect("utf8"),
        "--base",
        BASE,
    ]);
    assert_ok(&out, "publish --ldap");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains(PASSWORD), "the password was printed: {all}");
    let v = json_lines(&out.stdout);
    v[0]["entries"].as_array().expect("entries").clone()
}

fn actions(entries: &[serde_json::Value]) -> BTreeMap<String, String> {
    entries
        .iter()
        .map(|e| {
            (
                e["ca"].as_str().expect("ca").to_string(),
                e["action"].as_str().expect("action").to_string(),
            )
        })
        .collect()
}

#[test]
fn publish_ldap_writes_rfc4523_entries_and_only_what_changed() {
    let env = Env::init(&[]);
    let d = env.dir.path();
    let (serial, _) = issue_staff(&env, "alice");

    // Another CA, made with openssl, and cross-certificates both ways with our bridge.
    openssl_ok(&[
        "req",
        "-x509",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        &write(d, "stranger.key", b""),
        "-subj",
        "/C=JP/O=Stranger/CN=Stranger CA",
        "-days",
        "30",
        "-out",
        &write(d, "stranger.pem", b""),
    ]);
    let bridge = env.lgpki(&["ca", "cert", "bridge"]);
    assert_ok(&bridge, "ca cert bridge");
    let bridge_pem = write(d, "bridge.pem", &bridge.stdout);
    let reverse_pem = d.join("reverse.pem").display().to_string();
    assert_ok(
        &env.lgpki(&[
            "cross-certify",
            "--ca",
            "bridge",
            "--subject-cert",
            &write(
                d,
                "stranger2.pem",
                &std::fs::read(d.join("stranger.pem")).expect("pem"),
            ),
            "--out",
            &reverse_pem,
        ]),
        "cross-certify the stranger",
    );
    let ext = write(
        d,
        "ext.cnf",
        b"basicConstraints=critical,CA:true\nkeyUsage=critical,keyCertSign,cRLSign\n",
    );
    let forward_pem = d.join("forward.pem").display().to_string();
    let bridge_pub = d.join("bridge.pub.pem").display().to_string();
    openssl_ok(&[
        "x509",
        "-in",
        &bridge_pem,
        "-pubkey",
        "-noout",
        "-out",
        &bridge_pub,
    ]);
    openssl_ok(&[
        "x509",
        "-new",
        "-subj",
        "/C=JP/O=LGPKI/CN=LGPKI Bridge CA",
        "-force_pubkey",
        &bridge_pub,
        "-CA",
        &d.join("stranger.pem").display().to_string(),
        "-CAkey",
        &d.join("stranger.key").display().to_string(),
        "-set_serial",
        "77",
        "-days",
        "30",
        "-extfile",
        &ext,
        "-out",
        &forward_pem,
    ]);
    assert_ok(
        &env.lgpki(&["cross-certify", "import", &forward_pem]),
        "import the certificate issued to our bridge",
    );
    let der_of = |pem: &str| -> Vec<u8> {
        let out = openssl(&["x509", "-in", pem, "-outform", "DER"]);
        assert!(out.status.success());
        out.stdout
    };
    let (forward, reverse) = (der_of(&forward_pem), der_of(&reverse_pem));

    let slapd = Slapd::start(d);
    let pw = d.join("bind.pw");
    std::fs::write(&pw, format!("{PASSWORD}\n")).expect("pw");

    // A wrong password: refused, nothing written.
    let bad_pw = d.join("bad.pw");
    std::fs::write(&bad_pw, "wrong\n").expect("pw");
    let out = env.lgpki(&[
        "publish",
        "--ldap",
        &slapd.url,
        "--bind-dn",
        ROOTDN,
        "--bind-password-file",
        bad_pw.to_str().expect("utf8"),
        "--base",
        BASE,
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("bind"),
        "{out:?}"
    );
    assert!(search(&slapd.url).is_empty());

    let first = publish_ldap(&env, &slapd.url, &pw);
    let cas: Vec<String> = json_lines(&env.lgpki(&["--json", "ca", "list"]).stdout)
        .iter()
        .map(|c| c["name"].as_str().expect("name").to_string())
        .collect();
    assert!(cas.len() >= 3, "{cas:?}");
    assert!(actions(&first).values().all(|a| a == "added"), "{first:?}");
    assert_eq!(first.len(), cas.len());

    let entries = search(&slapd.url);
    assert_eq!(entries.len(), cas.len(), "{:?}", entries.keys());
    let mut crl_numbers = BTreeMap::new();
    for name in &cas {
        let e = &entries[&format!("cn={name},{BASE}")];
        let classes: Vec<String> = e["objectclass"]
            .iter()
            .map(|c| String::from_utf8_lossy(c).to_ascii_lowercase())
            .collect();
        assert!(classes.contains(&"pkica".into()), "{classes:?}");
        assert!(
            classes.contains(&"certificationauthority".into()),
            "{classes:?}"
        );
        // The CA certificate is the one `ca cert` prints.
        let ca_der = one(e, "cacertificate");
        let ca_file = write(d, &format!("{name}.ca.der"), ca_der);
        let ours = env.lgpki(&["ca", "cert", name]);
        assert_ok(&ours, "ca cert");
        let ours_pem = write(d, &format!("{name}.ca.pem"), &ours.stdout);
        assert_eq!(ca_der, der_of(&ours_pem), "{name}");
        openssl_ok(&[
            "x509", "-inform", "DER", "-in", &ca_file, "-noout", "-subject",
        ]);
        // CRL and ARL: both parse and verify against the CA.
        for attr in ["certificaterevocationlist", "authorityrevocationlist"] {
            let f = write(d, &format!("{name}.{attr}.der"), one(e, attr));
            let t = openssl_both(&[
                "crl", "-inform", "DER", "-in", &f, "-CAfile", &ours_pem, "-noout", "-text",
            ]);
            assert!(t.contains("verify OK"), "{name} {attr}: {t}");
        }
        let crl_file = d.join(format!("{name}.certificaterevocationlist.der"));
        crl_numbers.insert(name.clone(), crl_number(crl_file.to_str().expect("utf8")));
    }
    // ARLs say onlyContainsCACerts: the organization CA's (it also issues end-entity
    // certificates) is its own ARL, not its CRL.
    let org_arl = d.join("organization.authorityrevocationlist.der");
    let t = openssl_ok(&[
        "crl",
        "-inform",
        "DER",
        "-in",
        org_arl.to_str().expect("utf8"),
        "-noout",
        "-text",
    ]);
    assert!(t.contains("Only CA Certificates"), "{t}");
    // ARLs of the CAs of CAs say onlyContainsCACerts.
    let root_arl = d.join("bridge.authorityrevocationlist.der");
    let t = openssl_ok(&[
        "crl",
        "-inform",
        "DER",
        "-in",
        root_arl.to_str().expect("utf8"),
        "-noout",
        "-text",
    ]);
    assert!(
        t.contains("Only CA Certificates") || t.contains("onlyCA"),
        "{t}"
    );

    // The bridge's cross pairs, forward = issued to the bridge, reverse = issued by it: with
    // the stranger, and with our organisation CA (the pair init makes).
    let bridge_entry = &entries[&format!("cn=bridge,{BASE}")];
    let pairs = &bridge_entry["crosscertificatepair"];
    assert_eq!(pairs.len(), 2, "two pairs");
    let pair = pairs
        .iter()
        .find(|p| p.windows(forward.len()).any(|w| w == forward.as_slice()))
        .expect("the stranger's pair");
    let org_entry = &entries[&format!("cn=organization,{BASE}")];
    assert_eq!(
        org_entry["crosscertificatepair"].len(),
        1,
        "the bridge pair"
    );
    let pair_file = write(d, "pair.der", pair);
    let parsed = openssl_ok(&["asn1parse", "-inform", "DER", "-in", &pair_file]);
    assert!(
        parsed.contains("cont [ 0 ]") && parsed.contains("cont [ 1 ]"),
        "{parsed}"
    );
    // Explicit tags: the certificates follow their [0]/[1] headers whole.
    for (cert, tag) in [(&forward, 0xa0u8), (&reverse, 0xa1u8)] {
        let pos = pair
            .windows(cert.len())
            .position(|w| w == cert.as_slice())
            .expect("certificate in the pair");
        assert_eq!(pair[pos - 1 - len_octets(cert.len())], tag);
        let f = write(d, &format!("pair-{tag:x}.der"), cert);
        openssl_ok(&["x509", "-inform", "DER", "-in", &f, "-noout", "-subject"]);
    }
    assert!(!entries[&format!("cn=application,{BASE}")].contains_key("crosscertificatepair"));

    // Published again with nothing changed: no entry written.
    std::thread::sleep(Duration::from_millis(1100));
    let again = publish_ldap(&env, &slapd.url, &pw);
    assert!(
        actions(&again).values().all(|a| a == "unchanged"),
        "{again:?}"
    );
    let same = search(&slapd.url);
    for (dn, e) in &entries {
        assert_eq!(e["entrycsn"], same[dn]["entrycsn"], "{dn} rewritten");
    }

    // A revocation: the next publish replaces the organization CA's CRLs, and nothing else.
    let rev = env.lgpki(&["revoke", "--serial", &serial, "--reason", "keyCompromise"]);
    assert_ok(&rev, "revoke");
    std::thread::sleep(Duration::from_millis(1100));
    let third = publish_ldap(&env, &slapd.url, &pw);
    let acts = actions(&third);
    for (ca, action) in &acts {
        let want = if ca == "organization" {
            "modified"
        } else {
            "unchanged"
        };
        assert_eq!(action, want, "{ca}: {third:?}");
    }
    let org = third
        .iter()
        .find(|e| e["ca"] == "organization")
        .expect("organization");
    let changed: Vec<&str> = org["attributes"]
        .as_array()
        .expect("attributes")
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    // The revoked certificate is an end-entity one: the organization CA's ARL
    // (onlyContainsCACerts, its own attribute) does not list it and stays as it was.
    assert_eq!(changed, ["certificateRevocationList;binary"]);
    let after = search(&slapd.url);
    for (dn, e) in &entries {
        let unchanged = e["entrycsn"] == after[dn]["entrycsn"]
            && e["modifytimestamp"] == after[dn]["modifytimestamp"];
        assert_eq!(unchanged, !dn.starts_with("cn=organization,"), "{dn}");
    }
    let org_entry = &after[&format!("cn=organization,{BASE}")];
    let f = write(
        d,
        "org-new.crl.der",
        one(org_entry, "certificaterevocationlist"),
    );
    let t = openssl_both(&[
        "crl",
        "-inform",
        "DER",
        "-in",
        &f,
        "-CAfile",
        &d.join("organization.ca.pem").display().to_string(),
        "-noout",
        "-text",
    ]);
    assert!(t.contains("verify OK"), "{t}");
    assert!(
        t.to_ascii_uppercase()
            .contains(&format!("SERIAL NUMBER: {}", serial.to_ascii_uppercase())),
        "{serial} not listed:\n{t}"
    );
    assert!(crl_number(&f) > crl_numbers["organization"]);
}

/// After `ca renew organization`, the CA's one entry holds the CRL and the ARL of each key
/// generation (RFC 4523 §2.3-2.4 are multi-valued): each value verifies against exactly one of
/// the CA's two certificates, and each key's lists are kept while current, so publishing
/// again writes nothing; a revocation replaces the CRLs of both keys, each listing it.
#[test]
fn publish_ldap_holds_the_lists_of_every_key_generation() {
    let env = Env::init(&[]);
    let d = env.dir.path();
    let (serial, _) = issue_staff(&env, "old-alice");
    let cert = |tag: &str| {
        let out = env.lgpki(&["ca", "cert", "organization"]);
        assert_ok(&out, "ca cert");
        write(d, &format!("org-{tag}.pem"), &out.stdout)
    };
    let old_ca = cert("g1");
    assert_ok(&env.lgpki(&["ca", "renew", "organization"]), "ca renew");
    let new_ca = cert("g2");
    let slapd = Slapd::start(d);
    let pw = d.join("bind.pw");
    std::fs::write(&pw, format!("{PASSWORD}\n")).expect("pw");
    let first = publish_ldap(&env, &slapd.url, &pw);
    assert!(actions(&first).values().all(|a| a == "added"), "{first:?}");

    let verifies = |der: &[u8], ca: &str, tag: &str| -> bool {
        let f = write(d, tag, der);
        let out = openssl(&["crl", "-inform", "DER", "-in", &f, "-CAfile", ca, "-noout"]);
        out.status.success() && String::from_utf8_lossy(&out.stderr).contains("verify OK")
    };
    // Per attribute: one value by each key, none by both.
    let by_key = |e: &Entry, attr: &str| -> (Vec<u8>, Vec<u8>) {
        let values = &e[attr];
        assert_eq!(values.len(), 2, "{attr}: one per key generation");
        let mut old = None;
        let mut new = None;
        for (i, v) in values.iter().enumerate() {
            let (o, n) = (
                verifies(v, &old_ca, &format!("{attr}-{i}-o.der")),
                verifies(v, &new_ca, &format!("{attr}-{i}-n.der")),
            );
            assert!(o != n, "{attr} value {i}: signed by exactly one key");
            if o {
                old = Some(v.clone());
            } else {
                new = Some(v.clone());
            }
        }
        (old.expect("old key's"), new.expect("new key's"))
    };
    let entries = search(&slapd.url);
    let org = &entries[&format!("cn=organization,{BASE}")];
    for attr in ["certificaterevocationlist", "authorityrevocationlist"] {
        by_key(org, attr);
    }
    // cACertificate is the key in force's certificate.
    let new_der = openssl(&["x509", "-in", &new_ca, "-outform", "DER"]).stdout;
    assert_eq!(one(org, "cacertificate"), new_der.as_slice());

    // Nothing changed: every list kept, no entry written.
    std::thread::sleep(Duration::from_millis(1100));
    let again = publish_ldap(&env, &slapd.url, &pw);
    assert!(
        actions(&again).values().all(|a| a == "unchanged"),
        "{again:?}"
    );
    assert_eq!(
        search(&slapd.url)[&format!("cn=organization,{BASE}")]["entrycsn"],
        org["entrycsn"]
    );

    // The old key's certificate revoked: both keys' CRLs are replaced, each listing it.
    assert_ok(
        &env.lgpki(&["revoke", "--serial", &serial, "--reason", "keyCompromise"]),
        "revoke",
    );
    std::thread::sleep(Duration::from_millis(1100));
    let third = publish_ldap(&env, &slapd.url, &pw);
    assert_eq!(actions(&third)["organization"], "modified", "{third:?}");
    let after = search(&slapd.url);
    let (old_crl, new_crl) = by_key(
        &after[&format!("cn=organization,{BASE}")],
        "certificaterevocationlist",
    );
    for (der, tag) in [(&old_crl, "old"), (&new_crl, "new")] {
        let f = write(d, &format!("revoked-{tag}.der"), der);
        let t = openssl_ok(&["crl", "-inform", "DER", "-in", &f, "-noout", "-text"]);
        assert!(
            t.to_ascii_uppercase()
                .contains(&format!("SERIAL NUMBER: {}", serial.to_ascii_uppercase())),
            "{tag} key's CRL does not list {serial}:\n{t}"
        );
    }
}

/// Octets of a DER length field for `len`.
fn len_octets(len: usize) -> usize {
    match len {
        0..=0x7f => 1,
        0x80..=0xff => 2,
        0x100..=0xffff => 3,
        _ => 4,
    }
}

/// The running `publish --watch`; killed on drop.
struct Watch(Child);

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn current_release(dir: &Path) -> Option<(u64, String)> {
    let link = std::fs::read_link(dir.join("current")).ok()?;
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join(&link).join("manifest.json")).ok()?).ok()?;
    Some((
        manifest["sequence"].as_u64()?,
        manifest["state"].as_str()?.to_string(),
    ))
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn publish_watch_republishes_on_change_and_before_expiry() {
    let env = Env::init(&[]);
    // Releases valid for 16 seconds: re-published after 8 without any change (a release of
    // the seven CAs takes a few seconds to sign, so the margin is wider than a release).
    std::fs::write(
        env.home.join("lgpki.toml"),
        "[crl]\nvalidity = \"16s\"\n[arl]\nvalidity = \"16s\"\n",
    )
    .expect("lgpki.toml");
    let (serial, _) = issue_staff(&env, "bob");
    let out: PathBuf = env.path("pub");
    let watch = Watch(
        env.command(&[
            "publish",
            "--out",
            out.to_str().expect("utf8"),
            "--watch",
            "--interval",
            "1s",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("publish --watch"),
    );
    wait_for("the first release", || current_release(&out).is_some());
    let (seq1, state1) = current_release(&out).expect("release");
    // No change: a new release only once half the validity (8 s) has passed.
    std::thread::sleep(Duration::from_millis(2000));
    assert_eq!(current_release(&out).expect("release").0, seq1);
    wait_for("a re-publish before expiry", || {
        current_release(&out).is_some_and(|(s, _)| s > seq1)
    });
    let (seq2, state2) = current_release(&out).expect("release");
    assert_eq!(state2, state1, "nothing changed in the store");
    // A revocation: published within a few intervals, and the status snapshot says revoked.
    assert_ok(
        &env.lgpki(&["revoke", "--serial", &serial, "--reason", "keyCompromise"]),
        "revoke",
    );
    let t0 = Instant::now();
    wait_for("a release after the revocation", || {
        current_release(&out).is_some_and(|(s, st)| s > seq2 && st != state1)
    });
    assert!(t0.elapsed() < Duration::from_secs(4), "{:?}", t0.elapsed());
    let p = ca_core::publish::Publication::load(&out).expect("load");
    let org = p
        .cas
        .iter()
        .find(|c| c.name == "organization")
        .expect("org");
    let magnitude = hex::decode(serial.strip_prefix("00").unwrap_or(&serial)).expect("hex");
    assert!(
        matches!(
            org.statuses.get(&magnitude),
            Some(ca_core::publish::PublishedStatus::Revoked { .. })
        ),
        "{serial}"
    );
    drop(watch);
}
