//! Test fixtures: a CA, leaf and delegated OCSP responder made with the `openssl` CLI, and
//! helpers to run `openssl` and pkilint.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ca_core::{KeyAlgorithm, SoftwareSigner, generate_pkcs8};

/// The conformance vectors shared by the project.
pub const CONFORMANCE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/conformance/ocsp-crl"
);

/// Runs a command and returns its output; panics with a clear message when it cannot start.
pub fn run(cmd: &mut Command) -> Output {
    match cmd.output() {
        Ok(o) => o,
        Err(e) => panic!("cannot run {cmd:?}: {e}"),
    }
}

/// Runs openssl with `args`; panics unless it succeeds. Returns stdout + stderr.
pub fn openssl_ok(dir: &Path, args: &[&str]) -> String {
    let out = run(Command::new("openssl").current_dir(dir).args(args));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "openssl {args:?} failed:\n{text}");
    text
}

/// Runs openssl with `args`; returns (success, stdout + stderr).
pub fn openssl(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = run(Command::new("openssl").current_dir(dir).args(args));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Finds a pkilint tool: `$PKILINT_BIN/<tool>`, then PATH, then the development venv.
pub fn pkilint_tool(tool: &str) -> PathBuf {
    if let Ok(dir) = std::env::var("PKILINT_BIN") {
        let p = Path::new(&dir).join(tool);
        if p.is_file() {
            return p;
        }
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let p = dir.join(tool);
            if p.is_file() {
                return p;
            }
        }
    }
    let venv = Path::new("/opt/pkilint/bin").join(tool);
    if venv.is_file() {
        return venv;
    }
    panic!(
        "pkilint's `{tool}` was not found: install pkilint (pip install pkilint) and put it on \
         PATH, or set PKILINT_BIN to the directory holding `{tool}`"
    );
}

/// Runs a pkilint linter at severity ERROR and panics on any finding; prints warnings.
pub fn pkilint_clean(tool: &str, extra: &[&str], file: &Path) {
    let bin = pkilint_tool(tool);
    let mut args = vec!["lint"];
    args.extend_from_slice(extra);
    let warn = run(Command::new(&bin)
        .args(&args)
        .args(["-s", "WARNING"])
        .arg(file));
    println!(
        "{tool} {} (WARNING and up):\n{}",
        file.display(),
        String::from_utf8_lossy(&warn.stdout)
    );
    let out = run(Command::new(&bin)
        .args(&args)
        .args(["-s", "ERROR"])
        .arg(file));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.trim().is_empty(),
        "{tool} found errors in {}:\n{text}",
        file.display()
    );
}

/// A test PKI made with the openssl CLI.
pub struct Pki {
    /// Temporary directory holding every file.
    pub dir: tempfile::TempDir,
    /// The CA's signer.
    pub ca_signer: SoftwareSigner,
    /// The CA certificate, DER.
    pub ca_der: Vec<u8>,
    /// The delegated responder's signer.
    pub responder_signer: SoftwareSigner,
    /// The delegated responder's certificate, DER.
    pub responder_der: Vec<u8>,
}

fn write_key(dir: &Path, name: &str, alg: KeyAlgorithm) -> SoftwareSigner {
    let pkcs8 = generate_pkcs8(alg).expect("generate key");
    let pem =
        der::pem::encode_string("PRIVATE KEY", der::pem::LineEnding::LF, &pkcs8).expect("pem");
    std::fs::write(dir.join(name), pem).expect("write key");
    SoftwareSigner::from_pkcs8(&pkcs8, name).expect("load key")
}

fn pem_to_der(path: &Path) -> Vec<u8> {
    let pem = std::fs::read(path).expect("read pem");
    der::pem::decode_vec(&pem).expect("decode pem").1
}

const CONFIG: &str = r#"
[req]
distinguished_name = dn
prompt = no
x509_extensions = v3_ca
[dn]
C = JP
O = LGPKI Test
CN = LGPKI Test CA
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
crlDistributionPoints = URI:http://repo.lgpki.example/crl/test.crl
[responder]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = OCSPSigning
noCheck = ignored
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"#;

impl Pki {
    /// Makes a CA (EC P-256), two leaves (serials 0x1001, 0x1002) and a delegated responder.
    pub fn new() -> Pki {
        Pki::with_ca_key(KeyAlgorithm::EcdsaP256)
    }

    /// Like [`Pki::new`] with a CA key of `ca_alg`.
    pub fn with_ca_key(ca_alg: KeyAlgorithm) -> Pki {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::write(d.join("openssl.cnf"), CONFIG).expect("config");
        let ca_signer = write_key(d, "ca.key", ca_alg);
        openssl_ok(
            d,
            &[
                "req",
                "-x509",
                "-new",
                "-config",
                "openssl.cnf",
                "-key",
                "ca.key",
                "-sha256",
                "-days",
                "3650",
                "-set_serial",
                "1",
                "-out",
                "ca.pem",
            ],
        );
        for (name, serial, ext, cn) in [
            ("leaf1", "0x1001", "leaf", "leaf one"),
            ("leaf2", "0x1002", "leaf", "leaf two"),
            ("responder", "0x2001", "responder", "OCSP responder"),
        ] {
            let _ = write_key(d, &format!("{name}.key"), KeyAlgorithm::EcdsaP256);
            openssl_ok(
                d,
                &[
                    "req",
                    "-new",
                    "-key",
                    &format!("{name}.key"),
                    "-subj",
                    &format!("/C=JP/O=LGPKI Test/CN={cn}"),
                    "-out",
                    &format!("{name}.csr"),
                ],
            );
            openssl_ok(
                d,
                &[
                    "x509",
                    "-req",
                    "-in",
                    &format!("{name}.csr"),
                    "-CA",
                    "ca.pem",
                    "-CAkey",
                    "ca.key",
                    "-set_serial",
                    serial,
                    "-days",
                    "365",
                    "-sha256",
                    "-extfile",
                    "openssl.cnf",
                    "-extensions",
                    ext,
                    "-out",
                    &format!("{name}.pem"),
                ],
            );
        }
        let responder_pkcs8 = {
            let pem = std::fs::read(d.join("responder.key")).expect("read key");
            der::pem::decode_vec(&pem).expect("pem").1
        };
        Pki {
            ca_der: pem_to_der(&d.join("ca.pem")),
            responder_der: pem_to_der(&d.join("responder.pem")),
            responder_signer: SoftwareSigner::from_pkcs8(&responder_pkcs8, "responder")
                .expect("responder"),
            ca_signer,
            dir,
        }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}
