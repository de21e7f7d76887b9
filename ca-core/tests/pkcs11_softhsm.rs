//! The PKCS#11 backend against SoftHSM2.
//!
//! SoftHSM reads `SOFTHSM2_CONF` once, at `C_Initialize`, and a module is initialised once per
//! process; environment variables are process-wide (and setting them needs `unsafe`, which
//! the workspace forbids). So every test runs its body in a child process: the test (parent)
//! makes a private token directory with a `softhsm2.conf`, initialises the tokens with
//! `softhsm2-util`, then re-runs this test binary for just that test with `SOFTHSM2_CONF` (and,
//! where wanted, `LGPKI_PKCS11_PIN`) set. Tests are thereby isolated from each other and from
//! the system's SoftHSM tokens, and run in parallel safely.
//!
//! If SoftHSM2 is not installed the tests FAIL (CI installs `softhsm2` and `opensc`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use ca_core::sigverify::verify_signature;
use ca_core::{
    CaSigner, KeyAlgorithm, KeyBackend, KeyRef, PIN_ENV, Pkcs11Backend, Pkcs11Uri, parse_spki,
};

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
/// Set in the child: the test's private directory.
const CHILD_DIR: &str = "LGPKI_TEST_SOFTHSM_DIR";
const SO_PIN: &str = "so-12345678";

/// A token the parent initialises before starting the child.
struct TokenSpec {
    label: &'static str,
    pin: &'static str,
}

const CA: TokenSpec = TokenSpec {
    label: "lgpki-ca",
    pin: "user-pin-0001",
};
const OTHER: TokenSpec = TokenSpec {
    label: "other",
    pin: "user-pin-0002",
};

fn require_tools() {
    assert!(
        Path::new(MODULE).exists(),
        "SoftHSM2 is not installed ({MODULE} is missing): install it with \
         `apt-get install softhsm2 opensc` (CI installs it); these tests do not skip"
    );
    for tool in ["softhsm2-util", "pkcs11-tool"] {
        let found = Command::new(tool).arg("--help").output().is_ok();
        assert!(
            found,
            "{tool} is not installed: `apt-get install softhsm2 opensc` (CI installs it)"
        );
    }
}

/// Runs `body` in a child process with a fresh SoftHSM token directory holding `tokens`.
/// `env_pin` goes into `LGPKI_PKCS11_PIN` in the child (otherwise the variable is removed).
fn with_softhsm(test: &str, tokens: &[TokenSpec], env_pin: Option<&str>, body: impl FnOnce(&Path)) {
    if let Some(dir) = std::env::var_os(CHILD_DIR) {
        body(Path::new(&dir));
        return;
    }
    require_tools();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    std::fs::create_dir(dir.join("tokens")).expect("tokendir");
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n\
             slots.removable = false\n",
            dir.join("tokens").display()
        ),
    )
    .expect("conf");
    for t in tokens {
        let out = Command::new("softhsm2-util")
            .args([
                "--init-token",
                "--free",
                "--label",
                t.label,
                "--so-pin",
                SO_PIN,
                "--pin",
                t.pin,
            ])
            .env("SOFTHSM2_CONF", &conf)
            .output()
            .expect("run softhsm2-util");
        assert!(
            out.status.success(),
            "softhsm2-util --init-token: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        write_pin(&dir.join(format!("{}.pin", t.label)), t.pin);
    }
    let mut cmd = Command::new(std::env::current_exe().expect("test binary"));
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env("SOFTHSM2_CONF", &conf)
        .env(CHILD_DIR, dir)
        .env_remove(PIN_ENV);
    if let Some(pin) = env_pin {
        cmd.env(PIN_ENV, pin);
    }
    let out = cmd.output().expect("run the test binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(out.status.success(), "child test {test} failed");
    assert!(stdout.contains("1 passed"), "child did not run {test}");
}

/// Writes a PIN file with mode 0600 (the backend refuses files other users can read).
fn write_pin(path: &Path, pin: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, format!("{pin}\n")).expect("pin file");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

fn pin_file(dir: &Path, t: &TokenSpec) -> PathBuf {
    dir.join(format!("{}.pin", t.label))
}

/// The backend URI for token `t` with its PIN file.
fn token_uri(dir: &Path, t: &TokenSpec) -> String {
    format!(
        "pkcs11:token={}?module-path={MODULE}&pin-source=file:{}",
        t.label,
        pin_file(dir, t).display()
    )
}

fn assert_verifies(signer: &dyn CaSigner, message: &[u8], sig: &[u8]) {
    let spki = parse_spki(signer.public_key_der()).expect("SPKI");
    verify_signature(
        &spki,
        &signer.algorithm().algorithm_identifier(),
        message,
        sig,
    )
    .expect("signature verifies");
}

fn list_objects(t: &TokenSpec) -> String {
    let out = Command::new("pkcs11-tool")
        .args([
            "--module",
            MODULE,
            "--token-label",
            t.label,
            "--login",
            "--pin",
            t.pin,
            "--list-objects",
        ])
        .output()
        .expect("run pkcs11-tool");
    assert!(
        out.status.success(),
        "pkcs11-tool: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn generates_every_algorithm_on_the_token_and_signs_verifiably() {
    with_softhsm(
        "generates_every_algorithm_on_the_token_and_signs_verifiably",
        &[CA],
        None,
        |dir| {
            let backend = Pkcs11Backend::open(&token_uri(dir, &CA)).expect("open backend");
            let mut keys = Vec::new();
            for alg in KeyAlgorithm::ALL {
                let label = format!("ca-{alg}");
                let t = Instant::now();
                let key = backend.generate(alg, &label).expect("generate");
                println!("generated {alg} in {:?}: {}", t.elapsed(), key.0);
                // The URI names token, object and a 16-byte id, and carries module and PIN source.
                let uri = Pkcs11Uri::parse(&key.0).expect("key URI parses");
                assert_eq!(uri.token.as_deref(), Some(CA.label));
                assert_eq!(uri.object.as_deref(), Some(label.as_str()));
                assert_eq!(uri.id.as_ref().map(Vec::len), Some(16));
                assert_eq!(uri.module_path.as_deref(), Some(Path::new(MODULE)));
                assert_eq!(
                    uri.pin_source,
                    Some(format!("file:{}", pin_file(dir, &CA).display()))
                );
                assert!(key.is_pkcs11());
                assert!(!key.location().contains("pin-source"), "{}", key.location());

                let signer = backend.load(&key).expect("load");
                assert_eq!(signer.algorithm(), alg.signature_algorithm());
                let spki = parse_spki(signer.public_key_der()).expect("SPKI");
                assert_eq!(KeyAlgorithm::of_spki(&spki), Some(alg));
                let sig = signer.sign(b"tbsCertificate").expect("sign");
                assert_verifies(signer.as_ref(), b"tbsCertificate", &sig);
                assert!(
                    verify_signature(
                        &spki,
                        &alg.signature_algorithm().algorithm_identifier(),
                        b"tbsCertificatf",
                        &sig
                    )
                    .is_err(),
                    "signature must not verify over another message"
                );
                keys.push((alg, label, key, signer));
            }

            // A caller holding only the KeyRef opens the backend from it.
            for (_, _, key, signer) in &keys {
                let again = Pkcs11Backend::for_key(key)
                    .expect("backend from key")
                    .load(key)
                    .expect("load");
                assert_eq!(again.public_key_der(), signer.public_key_der());
                let sig = again.sign(b"crl").expect("sign");
                assert_verifies(signer.as_ref(), b"crl", &sig);
            }

            // Every private key is on the token, sensitive and never extractable (pkcs11-tool).
            let listing = list_objects(&CA);
            println!("{listing}");
            let privates: Vec<&str> = listing
                .split("Private Key Object")
                .skip(1)
                .map(|b| b.split("Public Key Object").next().unwrap_or(b))
                .collect();
            assert_eq!(privates.len(), KeyAlgorithm::ALL.len(), "{listing}");
            for (_, label, _, _) in &keys {
                let block = privates
                    .iter()
                    .find(|b| b.contains(&format!("label:      {label}\n")))
                    .unwrap_or_else(|| panic!("no private key {label} in\n{listing}"));
                let access = block
                    .lines()
                    .find(|l| l.trim_start().starts_with("Access:"))
                    .expect("Access line");
                assert!(access.contains("sensitive"), "{label}: {access}");
                assert!(access.contains("always sensitive"), "{label}: {access}");
                assert!(access.contains("never extractable"), "{label}: {access}");
                assert!(
                    access.contains("local"),
                    "{label}: generated on the token: {access}"
                );
                let usage = block
                    .lines()
                    .find(|l| l.trim_start().starts_with("Usage:"))
                    .expect("Usage line");
                assert_eq!(usage.trim(), "Usage:      sign", "{label}: sign only");
            }
        },
    );
}

#[test]
fn labels_are_not_unique_keys_are_found_by_id() {
    with_softhsm(
        "labels_are_not_unique_keys_are_found_by_id",
        &[CA],
        None,
        |dir| {
            let backend = Pkcs11Backend::open(&token_uri(dir, &CA)).expect("open");
            let a = backend
                .generate(KeyAlgorithm::EcdsaP256, "same")
                .expect("a");
            let b = backend
                .generate(KeyAlgorithm::EcdsaP256, "same")
                .expect("b");
            assert_ne!(a, b);
            let sa = backend.load(&a).expect("load a");
            let sb = backend.load(&b).expect("load b");
            assert_ne!(sa.public_key_der(), sb.public_key_der());
            // By label alone the key is ambiguous: refused, not a guess.
            let by_label = KeyRef(format!("pkcs11:token={};object=same", CA.label));
            let err = backend.load(&by_label).expect_err("ambiguous");
            assert!(
                err.to_string()
                    .contains("2 objects match private key object=same; name the key by id="),
                "{err}"
            );
            // A unique label alone is enough.
            backend
                .generate(KeyAlgorithm::EcdsaP256, "unique")
                .expect("c");
            let unique = KeyRef(format!(
                "pkcs11:token={};object=unique;type=private",
                CA.label
            ));
            backend.load(&unique).expect("load by unique label");
        },
    );
}

#[test]
fn pin_from_environment_variable() {
    with_softhsm(
        "pin_from_environment_variable",
        &[CA],
        Some(CA.pin),
        |_dir| {
            let uri = format!("pkcs11:token={}?module-path={MODULE}", CA.label);
            let backend = Pkcs11Backend::open(&uri).expect("PIN from LGPKI_PKCS11_PIN");
            let key = backend
                .generate(KeyAlgorithm::EcdsaP384, "env")
                .expect("generate");
            assert!(!key.0.contains("pin-source"), "{}", key.0);
            let signer = backend.load(&key).expect("load");
            let sig = signer.sign(b"m").expect("sign");
            assert_verifies(signer.as_ref(), b"m", &sig);
        },
    );
}

#[test]
fn errors_name_the_uri_part_at_fault() {
    with_softhsm(
        "errors_name_the_uri_part_at_fault",
        &[CA, OTHER],
        None,
        |dir| {
            let check = |uri: &str, wants: &[&str]| {
                let err = Pkcs11Backend::open(uri).expect_err(uri);
                let msg = err.to_string();
                println!("{msg}");
                for w in wants {
                    assert!(msg.contains(w), "{uri}: want {w:?} in {msg:?}");
                }
                for pin in [CA.pin, OTHER.pin, "wrong-pin-9999"] {
                    assert!(!msg.contains(pin), "PIN in message: {msg}");
                }
                assert_eq!(
                    err.kind(),
                    if msg.starts_with("invalid") {
                        "invalid_argument"
                    } else {
                        "key"
                    }
                );
            };
            // Wrong PIN first: once the token is logged in, the login state is per application
            // (PKCS#11 v2.40 §5.6) and a second login is not checked.
            let wrong = dir.join("wrong.pin");
            write_pin(&wrong, "wrong-pin-9999");
            check(
                &format!(
                    "pkcs11:token={}?module-path={MODULE}&pin-source=file:{}",
                    CA.label,
                    wrong.display()
                ),
                &[
                    "key pkcs11:token=lgpki-ca: login failed: wrong PIN (C_Login: CKR_PIN_INCORRECT)",
                    &format!("pin-source=file:{}", wrong.display()),
                ],
            );
            // No PIN anywhere.
            check(
                &format!("pkcs11:token={}?module-path={MODULE}", CA.label),
                &["token needs a PIN", "pin-source=file:PATH", PIN_ENV],
            );
            // Missing PIN file.
            check(
                &format!(
                    "pkcs11:token={}?module-path={MODULE}&pin-source=file:{}/nope",
                    CA.label,
                    dir.display()
                ),
                &["pin-source=file:", "/nope: cannot read"],
            );
            // Missing module file, and a file that is no PKCS#11 module.
            check(
                "pkcs11:token=lgpki-ca?module-path=/nonexistent/libpkcs11.so",
                &[
                    "module-path=/nonexistent/libpkcs11.so: no such file",
                    "apt install softhsm2",
                ],
            );
            check(
                "pkcs11:token=lgpki-ca?module-path=/etc/hostname",
                &["module-path=/etc/hostname: cannot load as a PKCS#11 module"],
            );
            check("pkcs11:token=lgpki-ca", &["no module-path"]);
            // Missing token label: the message lists the tokens there are.
            check(
                &format!(
                    "pkcs11:token=nope?module-path={MODULE}&pin-source=file:{}",
                    pin_file(dir, &CA).display()
                ),
                &[
                    &format!(
                        "no token matches token=nope in module-path={MODULE} (tokens present: "
                    ),
                    "\"lgpki-ca\"",
                    "\"other\"",
                ],
            );
            // The free (uninitialised) slot SoftHSM always offers is not listed.
            let err = Pkcs11Backend::open(&format!("pkcs11:token=nope?module-path={MODULE}"))
                .expect_err("no token");
            assert!(!err.to_string().contains("\"\""), "{err}");
            check(
                &format!("pkcs11:object=x?module-path={MODULE}"),
                &["names no token"],
            );
            // pin-value is refused outright.
            check(
                &format!(
                    "pkcs11:token=lgpki-ca?module-path={MODULE}&pin-value={}",
                    CA.pin
                ),
                &["pin-value is refused"],
            );

            // Missing key id / object on a good token.
            let backend = Pkcs11Backend::open(&token_uri(dir, &CA)).expect("open");
            let key = backend
                .generate(KeyAlgorithm::EcdsaP256, "present")
                .expect("generate");
            for (uri, want) in [
                (
                    "pkcs11:token=lgpki-ca;id=%00%01%02",
                    "no private key id=%00%01%02 on the token",
                ),
                (
                    "pkcs11:token=lgpki-ca;object=ghost",
                    "no private key object=ghost on the token",
                ),
                ("pkcs11:token=lgpki-ca", "the URI names no key"),
                (
                    "pkcs11:token=other;object=present",
                    "token=other in the key URI, but this backend is on token=lgpki-ca",
                ),
                (
                    "pkcs11:token=lgpki-ca;object=present;type=public",
                    "type= must be private",
                ),
            ] {
                let err = backend.load(&KeyRef(uri.into())).expect_err(uri);
                assert!(err.to_string().contains(want), "{uri}: {err}");
            }
            // Right id, wrong label: all attributes must match (RFC 7512 §2.5).
            let uri = Pkcs11Uri::parse(&key.0).expect("uri");
            let mismatch = Pkcs11Uri {
                object: Some("renamed".into()),
                ..uri
            };
            let err = backend
                .load(&KeyRef(mismatch.to_string()))
                .expect_err("label mismatch");
            assert!(
                err.to_string()
                    .contains("no private key object=renamed id=%"),
                "{err}"
            );
            // A key deleted from the token while loaded: the signer looks for it again, once.
            let doomed = backend
                .generate(KeyAlgorithm::EcdsaP256, "doomed")
                .expect("generate");
            let signer = backend.load(&doomed).expect("load");
            signer.sign(b"while it lasts").expect("sign");
            {
                use cryptoki::context::Pkcs11;
                use cryptoki::object::Attribute;
                let ctx = Pkcs11::new(MODULE).expect("second context");
                let slot = ctx
                    .get_slots_with_token()
                    .expect("slots")
                    .into_iter()
                    .find(|s| ctx.get_token_info(*s).is_ok_and(|i| i.label() == CA.label))
                    .expect("slot");
                // The application is logged in already (login state is per application).
                let session = ctx.open_rw_session(slot).expect("session");
                let id = Pkcs11Uri::parse(&doomed.0).expect("uri").id.expect("id");
                for object in session.find_objects(&[Attribute::Id(id)]).expect("find") {
                    session.destroy_object(object).expect("C_DestroyObject");
                }
            }
            let err = signer.sign(b"after deletion").expect_err("key is gone");
            let want = format!(
                "key {}: no private key (deleted?) on the token",
                doomed.location()
            );
            assert!(err.to_string().contains(&want), "{err}");

            // Bad labels are refused before touching the token.
            let err = backend
                .generate(KeyAlgorithm::EcdsaP256, "")
                .expect_err("empty label");
            assert!(err.to_string().contains("object=\"\""), "{err}");
        },
    );
}

/// Closes every session of the process with the token under the backend's feet: a second
/// context on the same module finalises it (C_Finalize closes all sessions and logs out).
fn pull_the_rug(reinitialise: bool) {
    use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
    let ctx = Pkcs11::new(MODULE).expect("second context");
    ctx.clone().finalize().expect("C_Finalize");
    if reinitialise {
        ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
            .expect("C_Initialize");
    }
}

#[test]
fn sessions_lost_mid_run_are_reopened() {
    with_softhsm("sessions_lost_mid_run_are_reopened", &[CA], None, |dir| {
        let backend = Pkcs11Backend::open(&token_uri(dir, &CA)).expect("open");
        let key = backend
            .generate(KeyAlgorithm::EcdsaP256, "resilient")
            .expect("generate");
        let rsa = backend
            .generate(KeyAlgorithm::Rsa2048, "resilient-rsa")
            .expect("generate");
        let signer = backend.load(&key).expect("load");
        let rsa_signer = backend.load(&rsa).expect("load");
        let sig = signer.sign(b"before").expect("sign");
        assert_verifies(signer.as_ref(), b"before", &sig);

        // The module is finalised and initialised again (an HSM restart): every session handle
        // is stale and the login is gone.
        pull_the_rug(true);
        let sig = signer
            .sign(b"after restart")
            .expect("sign after the sessions were closed");
        assert_verifies(signer.as_ref(), b"after restart", &sig);
        let sig = rsa_signer
            .sign(b"after restart")
            .expect("RSA sign after the sessions were closed");
        assert_verifies(rsa_signer.as_ref(), b"after restart", &sig);

        // The module is finalised and left so: the backend initialises it again.
        pull_the_rug(false);
        let sig = signer
            .sign(b"after finalize")
            .expect("sign after C_Finalize");
        assert_verifies(signer.as_ref(), b"after finalize", &sig);

        // Someone logs the application out (C_Logout applies to all sessions, v2.40 §5.6).
        {
            use cryptoki::context::Pkcs11;
            let ctx = Pkcs11::new(MODULE).expect("second context");
            let slot = ctx
                .get_slots_with_token()
                .expect("slots")
                .into_iter()
                .find(|s| ctx.get_token_info(*s).is_ok_and(|i| i.label() == CA.label))
                .expect("slot");
            let session = ctx.open_ro_session(slot).expect("session");
            session.logout().expect("C_Logout");
        }
        let sig = signer.sign(b"after logout").expect("sign after logout");
        assert_verifies(signer.as_ref(), b"after logout", &sig);
        // Generation right after a restart retries in a new session, and makes one key.
        pull_the_rug(true);
        let later = backend
            .generate(KeyAlgorithm::EcdsaP384, "later")
            .expect("generate after the sessions were closed");
        let signer = backend.load(&later).expect("exactly one key with that id");
        let sig = signer.sign(b"later").expect("sign");
        assert_verifies(signer.as_ref(), b"later", &sig);
    });
}

/// Signs `per_thread` messages on each of `threads` threads, then verifies every signature.
/// Returns signatures per second (signing only).
fn sign_many(signer: &Arc<dyn CaSigner>, threads: usize, per_thread: usize) -> f64 {
    let start = Instant::now();
    let signed: Vec<Vec<(String, Vec<u8>)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let signer = signer.clone();
                scope.spawn(move || {
                    (0..per_thread)
                        .map(|i| {
                            let msg = format!("thread {t} message {i}");
                            let sig = signer.sign(msg.as_bytes()).expect("sign");
                            (msg, sig)
                        })
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("signing thread"))
            .collect()
    });
    let rate = (threads * per_thread) as f64 / start.elapsed().as_secs_f64();
    let all: Vec<_> = signed.into_iter().flatten().collect();
    assert_eq!(all.len(), threads * per_thread);
    for (msg, sig) in &all {
        assert_verifies(signer.as_ref(), msg.as_bytes(), sig);
    }
    rate
}

#[test]
fn signs_from_many_threads() {
    with_softhsm("signs_from_many_threads", &[CA], None, |dir| {
        let backend = Pkcs11Backend::open(&token_uri(dir, &CA)).expect("open");
        let key = backend
            .generate(KeyAlgorithm::EcdsaP256, "busy")
            .expect("generate");
        let signer = backend.load(&key).expect("load");
        fn assert_send_sync<T: Send + Sync>(_: &T) {}
        assert_send_sync(&signer);
        assert_send_sync(&backend);
        let rate = sign_many(&signer, 4, 200);
        println!("P-256: 4 threads x 200 signatures, all verified: {rate:.0} signatures/s");
        for threads in [1, 2, 4] {
            let rate = sign_many(&signer, threads, 2000 / threads);
            println!("P-256: {threads} thread(s): {rate:.0} signatures/s");
        }
        let rsa = backend
            .load(
                &backend
                    .generate(KeyAlgorithm::Rsa2048, "busy-rsa")
                    .expect("generate"),
            )
            .expect("load");
        let rate = sign_many(&rsa, 4, 50);
        println!("RSA-2048: 4 threads x 50 signatures, all verified: {rate:.0} signatures/s");

        // Two threads on two different keys (SoftHSM serialises work on one key object).
        let other = backend
            .load(
                &backend
                    .generate(KeyAlgorithm::EcdsaP256, "busy-2")
                    .expect("generate"),
            )
            .expect("load");
        let start = Instant::now();
        std::thread::scope(|scope| {
            for s in [&signer, &other] {
                scope.spawn(move || {
                    for i in 0..1000 {
                        s.sign(format!("{i}").as_bytes()).expect("sign");
                    }
                });
            }
        });
        let rate = 2000.0 / start.elapsed().as_secs_f64();
        println!("P-256: 2 threads on 2 keys: {rate:.0} signatures/s");
    });
}

#[test]
fn tokens_are_found_by_serial_or_slot_id() {
    with_softhsm(
        "tokens_are_found_by_serial_or_slot_id",
        &[CA, OTHER],
        None,
        |dir| {
            use cryptoki::context::Pkcs11;
            let ctx = Pkcs11::new(MODULE).expect("context");
            // The module is not initialised yet in this process: Pkcs11Backend does it below, so
            // open the backend first, then ask the token for its serial and slot.
            let by_label = Pkcs11Backend::open(&token_uri(dir, &OTHER)).expect("open by label");
            let (slot, info) = ctx
                .get_slots_with_token()
                .expect("slots")
                .into_iter()
                .find_map(|s| {
                    let i = ctx.get_token_info(s).ok()?;
                    (i.label() == OTHER.label).then_some((s, i))
                })
                .expect("token");
            let pin = format!("pin-source=file:{}", pin_file(dir, &OTHER).display());
            let by_serial = format!(
                "pkcs11:serial={}?module-path={MODULE}&{pin}",
                info.serial_number()
            );
            let backend = Pkcs11Backend::open(&by_serial).expect("open by serial");
            let key = backend
                .generate(KeyAlgorithm::EcdsaP256, "by-serial")
                .expect("generate");
            let uri = Pkcs11Uri::parse(&key.0).expect("uri");
            // The token label is added so the key reference reads well in listings.
            assert_eq!(uri.token.as_deref(), Some(OTHER.label));
            assert_eq!(uri.serial.as_deref(), Some(info.serial_number()));
            by_label.load(&key).expect("same token, opened by label");

            let by_slot = format!("pkcs11:slot-id={}?module-path={MODULE}&{pin}", slot.id());
            let backend = Pkcs11Backend::open(&by_slot).expect("open by slot-id");
            let signer = backend.load(&key).expect("load");
            let sig = signer.sign(b"m").expect("sign");
            assert_verifies(signer.as_ref(), b"m", &sig);

            // A key URI naming another slot or serial is refused.
            let wrong_slot = Pkcs11Uri {
                slot_id: Some(slot.id() + 1),
                ..uri.clone()
            };
            let err = backend
                .load(&KeyRef(wrong_slot.to_string()))
                .expect_err("other slot");
            assert!(
                err.to_string()
                    .contains(&format!("slot-id={} in the key URI", slot.id() + 1)),
                "{err}"
            );
            let wrong_serial = Pkcs11Uri {
                serial: Some("0000".into()),
                ..uri
            };
            let err = backend
                .load(&KeyRef(wrong_serial.to_string()))
                .expect_err("other serial");
            assert!(
                err.to_string()
                    .contains("serial=0000 in the key URI, but this backend is on serial="),
                "{err}"
            );
        },
    );
}
