//! Keys and secrets: no passphrase, PIN or private key material in what `lgpki` prints (with
//! every verbosity knob turned up), in the audit log or in the store; key files are 0600; and no
//! secret is accepted on the command line.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::{Env, KeyKind, assert_ok, make_csr, openssl_ok};

/// Verbosity knobs a Rust program might honour.
const LOUD: [(&str, &str); 4] = [
    ("RUST_LOG", "trace"),
    ("RUST_BACKTRACE", "full"),
    ("LGPKI_LOG", "trace"),
    ("RUST_LIB_BACKTRACE", "1"),
];

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

fn write_secret(p: &Path, text: &str) {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(p)
        .expect("secret file");
    std::io::Write::write_all(&mut f, text.as_bytes()).expect("write");
}

/// The private scalars of the home's software CA keys, in hex, decrypted with openssl.
fn private_scalars(home: &Path, pass_file: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(home.join("keys"))
        .expect("keys dir")
        .flatten()
    {
        let text = openssl_ok(&[
            "pkey",
            "-inform",
            "DER",
            "-in",
            e.path().to_str().expect("utf8"),
            "-passin",
            &format!("file:{}", pass_file.display()),
            "-text",
            "-noout",
        ]);
        let mut hexed = String::new();
        let mut on = false;
        for line in text.lines() {
            if line.starts_with("priv:") {
                on = true;
                continue;
            }
            if on && !line.starts_with(' ') {
                break;
            }
            if on {
                hexed.extend(line.trim().split(':').filter(|s| !s.is_empty()));
            }
        }
        let hexed = hexed.trim_start_matches("00").to_string();
        assert!(
            hexed.len() >= 60,
            "private scalar of {}",
            e.path().display()
        );
        out.push(hexed);
    }
    assert!(!out.is_empty(), "software CA keys exist");
    out
}

struct Transcript(Vec<u8>);

impl Transcript {
    fn run(&mut self, env: &Env, args: &[&str]) -> std::process::Output {
        let out = env.lgpki(args);
        self.0.extend_from_slice(&out.stdout);
        self.0.extend_from_slice(&out.stderr);
        out
    }

    fn ok(&mut self, env: &Env, args: &[&str]) -> std::process::Output {
        let out = self.run(env, args);
        assert_ok(&out, &args.join(" "));
        out
    }
}

fn assert_absent(haystack: &[u8], secret: &[u8], what: &str, secret_name: &str) {
    assert!(
        !haystack.windows(secret.len()).any(|w| w == secret),
        "{secret_name} appears in {what}"
    );
}

/// Runs a day's work on `env` and returns everything it printed.
fn workday(env: &Env, t: &mut Transcript, pass_args: &[&str]) {
    let a = |rest: &[&'static str]| -> Vec<String> {
        pass_args
            .iter()
            .map(|s| s.to_string())
            .chain(rest.iter().map(|s| s.to_string()))
            .collect()
    };
    let run = |t: &mut Transcript, v: Vec<String>| {
        let refs: Vec<&str> = v.iter().map(String::as_str).collect();
        t.ok(env, &refs)
    };
    let csr = make_csr(
        env.dir.path(),
        "user",
        KeyKind::P256,
        "/C=JP/O=LGPKI/OU=千代田区/CN=秘密太郎",
        &[],
    );
    let mut issue = a(&["--json", "issue", "--profile", "staff", "--csr"]);
    issue.push(csr.display().to_string());
    let out = run(t, issue);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let serial = v["serial"].as_str().expect("serial").to_string();
    let mut revoke = a(&["revoke", "--reason", "keyCompromise", "--serial"]);
    revoke.push(serial.clone());
    run(t, revoke);
    let crl = env.path("org.crl");
    let mut c = a(&["crl", "--ca", "organization", "--out"]);
    c.push(crl.display().to_string());
    run(t, c);
    let mut p = a(&["publish", "--out"]);
    p.push(env.path("pub").display().to_string());
    run(t, p);
    for args in [
        vec!["ca", "list"],
        vec!["cert", "list"],
        vec!["audit", "list"],
        vec!["--json", "audit", "list"],
        vec!["audit", "verify"],
    ] {
        run(t, a(&args));
    }
    let mut s = a(&["status", "--serial"]);
    s.push(serial);
    let v: Vec<&str> = s.iter().map(String::as_str).collect();
    t.run(env, &v);
}

#[test]
fn no_secret_leaks_and_key_files_are_private() {
    let mut env = Env::new();
    env.vars
        .extend(LOUD.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let pass = "Zq7-correct-horse-battery-staple-4711";
    let pass_file = env.path("passphrase.txt");
    write_secret(&pass_file, pass);
    let pf = pass_file.to_str().expect("utf8").to_string();
    let mut t = Transcript(Vec::new());
    t.ok(&env, &["--passphrase-file", &pf, "init"]);
    workday(&env, &mut t, &["--passphrase-file", &pf]);

    // A wrong passphrase is refused without echoing it.
    let wrong = "WrongPass-zzz-98765-never-print-me";
    let wrong_file = env.path("wrong.txt");
    write_secret(&wrong_file, wrong);
    let csr = env.path("user.csr");
    let out = t.run(
        &env,
        &[
            "--passphrase-file",
            wrong_file.to_str().expect("utf8"),
            "issue",
            "--profile",
            "staff",
            "--csr",
            csr.to_str().expect("utf8"),
        ],
    );
    assert!(
        matches!(out.status.code(), Some(1) | Some(2)),
        "wrong passphrase: {:?}",
        out.status
    );
    assert!(!out.stderr.is_empty(), "a message for a wrong passphrase");

    // Key files and the directory holding them are private.
    let keys = env.home.join("keys");
    let mut n = 0;
    for e in std::fs::read_dir(&keys).expect("keys").flatten() {
        assert_eq!(mode(&e.path()), 0o600, "{}", e.path().display());
        n += 1;
    }
    assert_eq!(n, 8, "one key file per CA (seven), and the audit key");
    // The delegated OCSP responders' keys (HOME/ocsp/NAME/key.pem) are private too.
    let mut responders = 0;
    for e in std::fs::read_dir(env.home.join("ocsp"))
        .expect("ocsp")
        .flatten()
    {
        assert_eq!(mode(&e.path()) & 0o077, 0, "{}", e.path().display());
        assert_eq!(
            mode(&e.path().join("key.pem")),
            0o600,
            "{}",
            e.path().display()
        );
        responders += 1;
    }
    assert_eq!(responders, 5, "the application root and its four sub-CAs");
    assert!(keys.join("audit.p8").is_file(), "the audit key file");
    assert_eq!(mode(&keys) & 0o077, 0, "keys/ is not open to others");
    assert!(
        !env.home.join("passphrase").exists(),
        "no generated passphrase when one was supplied"
    );
    let release = env.path("pub").join("current");
    for e in std::fs::read_dir(release.join("ocsp"))
        .expect("ocsp")
        .flatten()
    {
        if e.path().extension().is_some_and(|x| x == "key") {
            assert_eq!(mode(&e.path()), 0o600, "{}", e.path().display());
        }
    }

    // Nothing secret in what was printed, the audit log, or the store file.
    let export = env.path("audit.jsonl");
    t.ok(
        &env,
        &["audit", "export", "--out", export.to_str().expect("utf8")],
    );
    let audit = std::fs::read(&export).expect("audit");
    let mut db = std::fs::read(env.home.join("lgpki.db")).expect("db");
    if let Ok(wal) = std::fs::read(env.home.join("lgpki.db-wal")) {
        db.extend(wal);
    }
    let scalars = private_scalars(&env.home, &pass_file);
    for (what, hay) in [("output", &t.0), ("audit log", &audit), ("store", &db)] {
        assert_absent(hay, pass.as_bytes(), what, "the passphrase");
        assert_absent(hay, wrong.as_bytes(), what, "the wrong passphrase");
        assert_absent(hay, b"PRIVATE KEY", what, "a PEM private key");
        for s in &scalars {
            assert_absent(hay, s.as_bytes(), what, "a CA private key (hex)");
            assert_absent(
                hay,
                &hex::decode(s).expect("hex"),
                what,
                "a CA private key (bytes)",
            );
        }
    }
    // The responder keys in the publication stay out of the output and the store too.
    for e in std::fs::read_dir(release.join("ocsp"))
        .expect("ocsp")
        .flatten()
    {
        if e.path().extension().is_some_and(|x| x == "key") {
            let key = std::fs::read(e.path()).expect("key");
            // ECPrivateKey (RFC 5915): version 1, then the 32-octet privateKey OCTET STRING.
            let at = key
                .windows(5)
                .position(|w| w == [0x02, 0x01, 0x01, 0x04, 0x20])
                .expect("an RFC 5915 P-256 private key")
                + 5;
            let tail = &key[at..at + 32];
            for (what, hay) in [("output", &t.0), ("audit log", &audit), ("store", &db)] {
                assert_absent(hay, tail, what, "a responder key");
            }
        }
    }
}

#[test]
fn a_generated_passphrase_stays_in_its_0600_file() {
    let mut env = Env::new();
    env.vars
        .extend(LOUD.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let mut t = Transcript(Vec::new());
    t.ok(&env, &["init"]);
    let pfile = env.home.join("passphrase");
    assert_eq!(mode(&pfile), 0o600);
    let pass = std::fs::read_to_string(&pfile).expect("passphrase");
    assert!(pass.trim().len() >= 16, "a generated passphrase is long");
    workday(&env, &mut t, &[]);
    // The same passphrase through the environment works, and is not printed either.
    env.vars
        .push(("LGPKI_PASSPHRASE".into(), pass.trim().to_string()));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lgpki"))
        .arg("--home")
        .arg(&env.home)
        .args(["crl", "--ca", "bridge", "--out"])
        .arg(env.path("bridge.crl"))
        .env("LGPKI_PASSPHRASE", pass.trim())
        .envs(LOUD)
        .output()
        .expect("run");
    assert_ok(&out, "crl with $LGPKI_PASSPHRASE");
    t.0.extend(&out.stdout);
    t.0.extend(&out.stderr);
    let export = env.path("audit.jsonl");
    t.ok(
        &env,
        &["audit", "export", "--out", export.to_str().expect("utf8")],
    );
    let audit = std::fs::read(&export).expect("audit");
    let db = std::fs::read(env.home.join("lgpki.db")).expect("db");
    for (what, hay) in [("output", &t.0), ("audit log", &audit), ("store", &db)] {
        assert_absent(
            hay,
            pass.trim().as_bytes(),
            what,
            "the generated passphrase",
        );
    }
    let scalars = private_scalars(&env.home, &pfile);
    for s in &scalars {
        assert_absent(&t.0, s.as_bytes(), "output", "a CA private key");
    }
}

#[test]
fn no_secret_is_accepted_on_the_command_line() {
    let env = Env::init(&[]);
    let secret = "9911223344";
    let inline = format!("--passphrase={secret}");
    for args in [
        vec!["--passphrase", secret, "ca", "list"],
        vec![inline.as_str(), "ca", "list"],
        vec!["--pin", secret, "ca", "list"],
        vec!["ca", "list", "--password", secret],
        vec!["init", "--passphrase", secret],
        vec!["issue", "--pin", secret, "--profile", "staff", "--csr", "x"],
    ]
    .iter()
    .map(|v| v.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = env.lgpki(&refs);
        assert_eq!(out.status.code(), Some(2), "{refs:?} must be a usage error");
    }
    // A PIN inside a PKCS#11 URI (RFC 7512 pin-value) is refused, and not echoed.
    let other = Env::new();
    let uri = format!("pkcs11:token=lgpki?module-path=/nonexistent.so&pin-value={secret}");
    let out = other.lgpki(&["init", "--key-uri", &uri]);
    assert!(
        matches!(out.status.code(), Some(1) | Some(2)),
        "pin-value: {:?}",
        out.status
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("pin-value"), "names the problem: {text}");
    assert!(!text.contains(secret), "echoes the PIN: {text}");
    assert!(!other.home.join("lgpki.db").exists(), "nothing created");
    // Every flag that takes a secret takes a file: none named like a secret takes a value.
    for sub in [
        vec!["--help"],
        vec!["init", "--help"],
        vec!["issue", "--help"],
        vec!["ca", "create", "--help"],
        vec!["revoke", "--help"],
        vec!["publish", "--help"],
    ] {
        let out = env.lgpki(&sub);
        assert_ok(&out, &sub.join(" "));
        let help = String::from_utf8_lossy(&out.stdout).to_lowercase();
        for word in help.split_whitespace() {
            let flag = word.trim_matches(|c: char| c == ',' || c == '[' || c == ']');
            if flag.starts_with("--")
                && ["pass", "pin", "secret", "password", "token"]
                    .iter()
                    .any(|s| flag.contains(s))
            {
                assert!(
                    flag.ends_with("-file") || flag.contains("-file="),
                    "{sub:?}: flag {flag} takes a secret on the command line"
                );
            }
        }
    }
}
