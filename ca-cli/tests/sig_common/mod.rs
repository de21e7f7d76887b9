//! Shared fixtures for the signature and receipt tests: a CA home with `official-position`
//! signers whose keys openssl holds, documents signed with `openssl cms -sign`, and an RFC 3161
//! TSA played by `openssl ts -reply` behind a small HTTP server on loopback (its URL is a
//! parameter, so lgpki's own `/tsa` can take its place).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::{Env, KeyKind, assert_ok, make_csr, openssl, openssl_ok};

/// `p(path)` as &str.
pub fn p(path: &Path) -> &str {
    path.to_str().expect("utf8 path")
}

/// A signer: key (PEM, openssl's), certificate, serial.
pub struct Signer {
    pub key: PathBuf,
    pub cert: PathBuf,
    pub serial: String,
}

/// A home, its root and organization chain files, and a TSA.
pub struct Fixture {
    pub env: Env,
    pub root: PathBuf,
    pub chain: PathBuf,
    pub tsa: Tsa,
}

impl Fixture {
    pub fn new() -> Fixture {
        let env = Env::init(&[]);
        let (root, chain) = env.chain_files("organization");
        let tsa = Tsa::start(&env.path("tsa"));
        Fixture {
            env,
            root,
            chain,
            tsa,
        }
    }

    /// An `official-position` (職責) certificate from lgpki for a new openssl key.
    pub fn signer(&self, name: &str, kind: KeyKind) -> Signer {
        self.issue(name, kind, "official-position")
    }

    /// A certificate of `profile` from lgpki for a new openssl key.
    pub fn issue(&self, name: &str, kind: KeyKind, profile: &str) -> Signer {
        let dir = self.env.dir.path();
        let csr = make_csr(
            dir,
            name,
            kind,
            &format!("/C=JP/O=LGPKI/OU=千代田区/CN={name}"),
            &[],
        );
        let cert = self.env.path(&format!("{name}.pem"));
        let out = self.env.lgpki(&[
            "--json",
            "issue",
            "--profile",
            profile,
            "--csr",
            p(&csr),
            "--out",
            p(&cert),
        ]);
        assert_ok(&out, "issue");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        Signer {
            key: dir.join(format!("{name}.key")),
            cert,
            serial: v["serial"].as_str().expect("serial").to_string(),
        }
    }

    /// Signs `doc` with `openssl cms -sign` (`-cades` adds signing-certificate-v2). Attached
    /// signatures are written as DER, detached ones as PEM. `extra` goes to openssl as is.
    pub fn sign(&self, s: &Signer, doc: &Path, attached: bool, extra: &[&str]) -> PathBuf {
        let out = doc.with_extension(format!(
            "{}{}.p7",
            if attached { "att" } else { "det" },
            extra.join("").replace([':', '-'], "")
        ));
        let mut args = vec![
            "cms",
            "-sign",
            "-binary",
            "-in",
            p(doc),
            "-signer",
            p(&s.cert),
            "-inkey",
            p(&s.key),
            "-certfile",
            p(&self.chain),
            "-md",
            "sha256",
            "-out",
            p(&out),
        ];
        args.extend_from_slice(if attached {
            &["-nodetach", "-outform", "DER"]
        } else {
            &["-outform", "PEM"]
        });
        args.extend_from_slice(extra);
        openssl_ok(&args);
        out
    }

    /// The full CRL of the organization CA (the signers' issuer and their anchor), fresh.
    pub fn crls(&self) -> Vec<String> {
        let f = self.env.path("organization.crl");
        assert_ok(
            &self
                .env
                .lgpki(&["crl", "--ca", "organization", "--out", p(&f)]),
            "crl",
        );
        vec!["--crl".to_string(), p(&f).to_string()]
    }

    /// `lgpki [--json] verify-signature FILE ARGS… --trust root --trust tsa-root --untrusted chain`.
    pub fn verify(&self, file: &Path, extra: &[&str]) -> Output {
        let mut args = vec!["--json", "verify-signature", p(file)];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[
            "--trust",
            p(&self.root),
            "--trust",
            p(&self.tsa.root),
            "--untrusted",
            p(&self.chain),
        ]);
        self.env.lgpki(&args)
    }
}

/// The JSON of a command's stdout.
pub fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// An RFC 3161 TSA: `openssl ts -reply` with a certificate (EKU timeStamping, critical) under
/// its own root, answering HTTP POSTs on loopback.
pub struct Tsa {
    pub url: String,
    pub root: PathBuf,
    pub cert: PathBuf,
}

impl Tsa {
    pub fn start(dir: &Path) -> Tsa {
        std::fs::create_dir_all(dir).expect("tsa dir");
        let f = |n: &str| dir.join(n);
        openssl_ok(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            p(&f("root.key")),
            "-out",
            p(&f("root.pem")),
            "-days",
            "30",
            "-subj",
            "/CN=Test TSA Root",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        openssl_ok(&[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            p(&f("tsa.key")),
            "-out",
            p(&f("tsa.csr")),
            "-subj",
            "/CN=Test TSA",
        ]);
        std::fs::write(
            f("tsa.ext"),
            "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n\
             extendedKeyUsage=critical,timeStamping\nsubjectKeyIdentifier=hash\n\
             authorityKeyIdentifier=keyid\n",
        )
        .expect("ext");
        openssl_ok(&[
            "x509",
            "-req",
            "-in",
            p(&f("tsa.csr")),
            "-CA",
            p(&f("root.pem")),
            "-CAkey",
            p(&f("root.key")),
            "-CAcreateserial",
            "-days",
            "30",
            "-extfile",
            p(&f("tsa.ext")),
            "-out",
            p(&f("tsa.pem")),
        ]);
        std::fs::write(f("serial"), "01\n").expect("serial");
        std::fs::write(
            f("tsa.cnf"),
            format!(
                "[ tsa ]\ndefault_tsa = tsa_config\n[ tsa_config ]\nserial = {}\n\
                 crypto_device = builtin\nsigner_digest = sha256\ndefault_policy = 1.2.3.4.1\n\
                 digests = sha256, sha384, sha512\naccuracy = secs:1, millisecs:500\n\
                 ordering = no\ntsa_name = no\ness_cert_id_chain = no\ness_cert_id_alg = sha256\n",
                p(&f("serial"))
            ),
        )
        .expect("cnf");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/tsa", listener.local_addr().expect("addr"));
        let d = dir.to_path_buf();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut c) = conn else { continue };
                let _ = serve_one(&mut c, &d);
            }
        });
        Tsa {
            url,
            root: f("root.pem"),
            cert: f("tsa.pem"),
        }
    }
}

/// Answers one HTTP/1.1 POST with `openssl ts -reply` over its body.
fn serve_one(c: &mut std::net::TcpStream, dir: &Path) -> std::io::Result<()> {
    c.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = c.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 65536 {
            return Ok(());
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
        .min(1 << 20);
    while buf.len() < head_end + len {
        let n = c.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let q = dir.join("q.tsq");
    let r = dir.join("r.tsr");
    std::fs::write(&q, &buf[head_end..])?;
    let out = openssl(&[
        "ts",
        "-reply",
        "-config",
        p(&dir.join("tsa.cnf")),
        "-queryfile",
        p(&q),
        "-inkey",
        p(&dir.join("tsa.key")),
        "-signer",
        p(&dir.join("tsa.pem")),
        "-out",
        p(&r),
    ]);
    let body = if out.status.success() {
        std::fs::read(&r)?
    } else {
        Vec::new()
    };
    let status = if body.is_empty() {
        "500 Error"
    } else {
        "200 OK"
    };
    write!(
        c,
        "HTTP/1.1 {status}\r\nContent-Type: application/timestamp-reply\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    )?;
    c.write_all(&body)?;
    c.flush()
}
