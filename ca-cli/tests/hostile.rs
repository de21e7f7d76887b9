//! Hostile input never panics.
//!
//! The library parsers get every input of a mutation corpus built from real seeds (a CSR, the
//! CA's certificates, CRLs and OCSP requests we make, and the pyca vectors in
//! `shared/conformance/ocsp-crl/`): every truncation, bit flips, edited DER length octets
//! (0, ±1, indefinite, 4-byte huge, too many length octets), 10,000-deep nested DER, and huge
//! inputs. A panic fails the test naming the parser and saving the input; a stack overflow
//! aborts the test binary, which fails it too.
//!
//! The CLI gets hostile files on `issue --csr`, `issue --batch`, `revoke --batch` and
//! `audit verify --file`: it must exit 1 or 2 with a message, never 101 (a panic) or a signal,
//! and the store must be unchanged and intact afterwards.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use ca_core::crl::ParsedCrl;
use ca_core::lint::{Expectation, IssuerFacts, lint_tbs};
use ca_core::{KeyAlgorithm, SignatureAlgorithm};
use common::{Env, KeyKind, Rng, assert_ok, json_lines, make_csr};
use der::{Decode, Encode};

/// The pyca vectors: malformed and edge-case CRLs, OCSP requests and responses, certificates.
const CONFORMANCE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/conformance/ocsp-crl"
);

/// Nesting depth of the deep-DER inputs.
const DEPTH: usize = 10_000;

/// DER length octets for `n`.
fn der_len(n: usize) -> Vec<u8> {
    if n < 0x80 {
        vec![n as u8]
    } else {
        let b = n.to_be_bytes();
        let skip = b.iter().take_while(|x| **x == 0).count();
        let mut v = vec![0x80 | (b.len() - skip) as u8];
        v.extend_from_slice(&b[skip..]);
        v
    }
}

/// `depth` nested `tag` TLVs around `inner`, definite lengths.
fn nested(tag: u8, depth: usize, inner: &[u8]) -> Vec<u8> {
    let mut v = inner.to_vec();
    for _ in 0..depth {
        let mut w = vec![tag];
        w.extend(der_len(v.len()));
        w.extend(v);
        v = w;
    }
    v
}

/// `depth` nested `tag` TLVs with indefinite lengths (BER, which DER forbids).
fn nested_indefinite(tag: u8, depth: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(depth * 4);
    v.extend(std::iter::repeat_n([tag, 0x80], depth).flatten());
    v.extend(std::iter::repeat_n(0u8, depth * 2));
    v
}

/// Positions of the length octets of every TLV header reachable from the top (constructed
/// values are walked into), with the header's length-octet count.
fn length_positions(data: &[u8]) -> Vec<(usize, usize)> {
    fn walk(data: &[u8], start: usize, end: usize, depth: usize, out: &mut Vec<(usize, usize)>) {
        let mut i = start;
        while i + 2 <= end && depth < 64 && out.len() < 4096 {
            let tag = data[i];
            let lpos = i + 1;
            let first = data[lpos];
            let (len, nlen) = if first < 0x80 {
                (first as usize, 1)
            } else {
                let n = (first & 0x7f) as usize;
                if n == 0 || n > 4 || lpos + 1 + n > end {
                    return;
                }
                let mut l = 0usize;
                for b in &data[lpos + 1..lpos + 1 + n] {
                    l = (l << 8) | *b as usize;
                }
                (l, 1 + n)
            };
            out.push((lpos, nlen));
            let cstart = lpos + nlen;
            let Some(cend) = cstart.checked_add(len).filter(|e| *e <= end) else {
                return;
            };
            if tag & 0x20 != 0 {
                walk(data, cstart, cend, depth + 1, out);
            } else if tag == 0x03 && cend > cstart + 1 {
                // A BIT STRING often wraps DER (a public key, a signature): try inside it.
                walk(data, cstart + 1, cend, depth + 1, out);
            } else if tag == 0x04 {
                walk(data, cstart, cend, depth + 1, out);
            }
            i = cend;
        }
    }
    let mut out = Vec::new();
    walk(data, 0, data.len(), 0, &mut out);
    out
}

/// The mutation corpus of one seed.
fn mutations(seed: &[u8], rng: &mut Rng) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let n = seed.len();
    // Truncations: every prefix of small seeds, a spread of them for large ones.
    let step = (n / 1500).max(1);
    for len in (0..n).step_by(step) {
        out.push(seed[..len].to_vec());
    }
    // Bit flips: one per byte for small seeds, 1,500 random ones otherwise; and a few
    // multi-byte garbles.
    let flips = if n <= 1500 { n } else { 1500 };
    for k in 0..flips {
        let pos = if n <= 1500 { k } else { rng.below(n) };
        let mut m = seed.to_vec();
        m[pos] ^= 1 << rng.below(8);
        out.push(m);
    }
    for _ in 0..200.min(n) {
        let mut m = seed.to_vec();
        for _ in 0..1 + rng.below(8) {
            let pos = rng.below(n);
            m[pos] = rng.next() as u8;
        }
        out.push(m);
    }
    // Length octets edited (at most 200 headers, spread over the seed).
    let headers = length_positions(seed);
    let stride = headers.len().div_ceil(200).max(1);
    for (pos, nlen) in headers.into_iter().step_by(stride) {
        let cur = &seed[pos..pos + nlen];
        let value = if nlen == 1 {
            cur[0] as usize
        } else {
            cur[1..].iter().fold(0usize, |a, b| (a << 8) | *b as usize)
        };
        let mut edits: Vec<Vec<u8>> = vec![
            vec![0x00],
            vec![0x80],
            vec![0x7f],
            vec![0x81, 0xff],
            vec![0x84, 0xff, 0xff, 0xff, 0xff],
            vec![0x84, 0x7f, 0xff, 0xff, 0xff],
            vec![0x88, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            vec![0x89, 1, 0, 0, 0, 0, 0, 0, 0, 0],
            vec![0xff],
            der_len(value + 1),
            der_len(value.saturating_sub(1)),
        ];
        if value < 0x80 {
            // A non-minimal length encoding (BER, not DER).
            edits.push(vec![0x81, value as u8]);
        }
        for e in edits {
            let mut m = seed[..pos].to_vec();
            m.extend(e);
            m.extend_from_slice(&seed[pos + nlen..]);
            out.push(m);
        }
    }
    // The seed's first inner value replaced by a 10,000-deep SEQUENCE.
    if let Some((pos, nlen)) = length_positions(seed).get(1).copied() {
        let inner_start = pos - 1;
        let mut m = seed[..inner_start].to_vec();
        m.extend(nested(0x30, DEPTH, &[]));
        m.extend_from_slice(&seed[(pos + nlen).min(n)..]);
        out.push(m);
    }
    out
}

/// Inputs that are hostile on their own.
fn standalone() -> Vec<Vec<u8>> {
    let mut v = vec![
        Vec::new(),
        vec![0x30],
        vec![0x30, 0x80],
        vec![0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
        vec![0x30, 0x88, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        vec![0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x00],
        nested(0x30, DEPTH, &[]),
        nested(0x31, DEPTH, &[]),
        nested(0xa0, DEPTH, &[]),
        nested(0x30, DEPTH, &[0x02, 0x01, 0x00]),
        nested_indefinite(0x30, DEPTH),
        // A certificate-shaped value whose TBS is 10,000 deep.
        nested(0x30, 1, &nested(0x30, DEPTH, &[])),
        // Huge: 17 MiB inside one SEQUENCE, and 17 MiB of SEQUENCE headers.
        {
            let mut h = vec![0x30, 0x84, 0x01, 0x10, 0x00, 0x00];
            h.resize(6 + 0x0110_0000, 0x41);
            h
        },
        [0x30u8, 0x82, 0xff, 0xff].repeat(17 << 18),
    ];
    // PEM wrappers around deep and truncated DER.
    let deep = nested(0x30, DEPTH, &[]);
    for label in ["CERTIFICATE REQUEST", "X509 CRL", "CERTIFICATE"] {
        v.push(ca_core::input::to_pem(label, &deep).into_bytes());
        v.push(format!("-----BEGIN {label}-----\nMIIB\n-----END {label}-----\n").into_bytes());
        v.push(format!("-----BEGIN {label}-----\n").into_bytes());
        v.push(format!("-----BEGIN {label}").into_bytes());
    }
    v
}

/// A named parser entry point.
type Parser = (&'static str, Box<dyn Fn(&[u8])>);

/// The parsers under test: each must return, whatever the input.
fn parsers() -> Vec<Parser> {
    let lint = |tbs: &[u8]| {
        for (ca, alg) in [
            (false, SignatureAlgorithm::EcdsaSha256),
            (true, SignatureAlgorithm::RsaPkcs1Sha256),
        ] {
            let _ = lint_tbs(
                tbs,
                &IssuerFacts {
                    subject_der: &[0x30, 0x00],
                    ski: &[1, 2, 3, 4],
                    validity: None,
                    signature_algorithm: alg,
                },
                &Expectation {
                    ca,
                    min_rsa_bits: 2048,
                },
            );
        }
    };
    vec![
        (
            "parse_csr",
            Box::new(|d: &[u8]| {
                if let Ok(p) = ca_core::parse_csr(d) {
                    let _ = p.verify_signature();
                }
            }),
        ),
        (
            "input::der_blocks",
            Box::new(|d: &[u8]| {
                let _ = ca_core::input::der_blocks(d, &["CERTIFICATE REQUEST", "X509 CRL"], "t");
            }),
        ),
        (
            "ParsedCrl::parse",
            Box::new(|d: &[u8]| {
                for p in [ParsedCrl::parse(d), ParsedCrl::parse_pem_or_der(d)]
                    .into_iter()
                    .flatten()
                {
                    let _ = (p.usable_for_status(), p.find(&[1]));
                }
            }),
        ),
        (
            "ocsp::parse_request",
            Box::new(|d: &[u8]| {
                let _ = ca_core::ocsp::parse_request(d);
            }),
        ),
        (
            "ocsp::parse_response",
            Box::new(|d: &[u8]| {
                let _ = ca_core::ocsp::parse_response(d);
            }),
        ),
        (
            "ocsp::decode_get_path",
            Box::new(|d: &[u8]| {
                let _ = ca_core::ocsp::decode_get_path(&String::from_utf8_lossy(d));
            }),
        ),
        (
            "certificate (x509, CaHashes, CRL issuer fields, lint_tbs)",
            Box::new(move |d: &[u8]| {
                let _ = ca_core::ocsp::CaHashes::from_certificate(d);
                let _ = ca_core::crl::issuer_fields_from_certificate(d);
                let _ = ca_core::parse_spki(d);
                if let Ok(cert) = x509_cert::Certificate::from_der(d)
                    && let Ok(tbs) = cert.tbs_certificate().to_der()
                {
                    lint(&tbs);
                }
                lint(d);
            }),
        ),
    ]
}

fn read_dir_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .collect();
    v.sort();
    v
}

/// DER of a conformance file (PEM decoded; DER as is; a PEM that does not decode kept raw).
fn der_of(path: &Path) -> Vec<u8> {
    let data = std::fs::read(path).expect("read vector");
    if data.starts_with(b"-----BEGIN") {
        der::pem::decode_vec(&data).map(|(_, d)| d).unwrap_or(data)
    } else {
        data
    }
}

/// Seeds: conformance vectors plus a CSR and a certificate made here.
fn seeds() -> Vec<(String, Vec<u8>)> {
    let base = Path::new(CONFORMANCE);
    let mut seeds = Vec::new();
    for sub in ["crl", "ocsp", "certs"] {
        for p in read_dir_files(&base.join(sub)) {
            let name = format!(
                "{sub}/{}",
                p.file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default()
            );
            seeds.push((name.clone(), der_of(&p)));
            // The raw PEM too, for the PEM paths.
            if p.extension().is_some_and(|e| e == "pem") {
                seeds.push((format!("{name} (PEM)"), std::fs::read(&p).expect("read")));
            }
        }
    }
    let pkcs8 = ca_core::generate_pkcs8(KeyAlgorithm::EcdsaP256).expect("key");
    let signer = ca_core::SoftwareSigner::from_pkcs8(&pkcs8, "t").expect("signer");
    let subject = ca_core::DistinguishedName::parse("CN=山田太郎,OU=千代田区,O=LGPKI,C=JP")
        .expect("dn")
        .to_der()
        .expect("der");
    seeds.push((
        "csr (P-256)".into(),
        ca_core::build_csr(&signer, &subject).expect("csr"),
    ));
    seeds
}

fn check(name: &str, input: &[u8], parsers: &[Parser]) {
    for (pname, f) in parsers {
        if catch_unwind(AssertUnwindSafe(|| f(input))).is_err() {
            let dump = std::env::temp_dir().join(format!(
                "lgpki-hostile-{}-{}.bin",
                pname
                    .split_whitespace()
                    .next()
                    .unwrap_or("p")
                    .replace("::", "-"),
                std::process::id()
            ));
            let _ = std::fs::write(&dump, input);
            panic!(
                "{pname} panicked on a mutation of {name} ({} bytes, saved to {})",
                input.len(),
                dump.display()
            );
        }
    }
}

#[test]
fn library_parsers_survive_mutated_der() {
    let t = std::time::Instant::now();
    let parsers = parsers();
    let mut rng = Rng::new(0x1234_5678_9abc_def1);
    let mut count = 0usize;
    let seeds = seeds();
    assert!(seeds.len() >= 60, "the conformance vectors are there");
    for (name, seed) in &seeds {
        check(name, seed, &parsers);
        // The 10k-entry CRL is large: mutate the small seeds fully, and it only by a sample.
        let mut m = mutations(seed, &mut rng);
        if seed.len() > 64 * 1024 {
            m.truncate(300);
        }
        count += m.len() + 1;
        for input in m {
            check(name, &input, &parsers);
        }
    }
    for input in standalone() {
        check("standalone", &input, &parsers);
        count += 1;
    }
    eprintln!(
        "{count} hostile inputs × {} parsers in {:?}",
        parsers.len(),
        t.elapsed()
    );
}

#[test]
fn the_malformed_conformance_vectors_are_refused() {
    let base = Path::new(CONFORMANCE);
    for f in [
        "crl/crl_unsupported_reason.pem",
        "crl/crl_dup_entry_ext.pem",
        "crl/crl_inval_cert_issuer_entry_ext.pem",
    ] {
        assert!(
            ParsedCrl::parse(&der_of(&base.join(f))).is_err(),
            "{f} must be refused"
        );
    }
    assert!(
        ca_core::ocsp::parse_request(&der_of(&base.join("ocsp/req-duplicate-ext.der"))).is_err()
    );
    for f in [
        "ocsp/resp-successful-no-response-bytes.der",
        "ocsp/resp-unknown-response-status.der",
        "ocsp/resp-response-type-unknown-oid.der",
    ] {
        assert!(
            ca_core::ocsp::parse_response(&der_of(&base.join(f))).is_err(),
            "{f} must be refused"
        );
    }
    // The good ones still parse (the refusals above are not "refuse everything").
    assert!(ParsedCrl::parse(&der_of(&base.join("crl/crl_all_reasons.pem"))).is_ok());
    assert!(ca_core::ocsp::parse_request(&der_of(&base.join("ocsp/req-sha1.der"))).is_ok());
}

/// Runs the CLI and checks it refused cleanly: exit 1 or 2, a message, no panic, no signal.
fn refused(env: &Env, args: &[&str]) -> std::process::Output {
    let out = no_crash(env, args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        matches!(out.status.code(), Some(1) | Some(2)),
        "{args:?}: exit {:?}\nstderr: {stderr}",
        out.status
    );
    assert!(
        stderr.starts_with("lgpki:")
            || stderr.starts_with("error:")
            || stdout.contains("\"error\""),
        "{args:?}: no message\nstdout: {stdout}\nstderr: {stderr}"
    );
    out
}

/// Runs the CLI and checks it ended by itself with 0, 1 or 2: no panic (101), no signal.
fn no_crash(env: &Env, args: &[&str]) -> std::process::Output {
    let out = env.lgpki(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let code = out.status.code();
    assert!(
        matches!(code, Some(0..=2)),
        "{args:?}: exit {:?} (101 is a panic, None a signal)\nstderr: {stderr}",
        out.status
    );
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    out
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf8")
}

#[test]
fn the_cli_refuses_hostile_files_cleanly() {
    let t = std::time::Instant::now();
    let env = Env::init(&[]);
    let csr_path = make_csr(
        env.dir.path(),
        "seed",
        KeyKind::P256,
        "/C=JP/O=LGPKI/OU=千代田区/CN=山田太郎",
        &[],
    );
    assert_ok(
        &env.lgpki(&["issue", "--profile", "staff", "--csr", s(&csr_path)]),
        "baseline issue",
    );
    let before = env.cert_list();
    let pem = std::fs::read(&csr_path).expect("csr");
    let der = der::pem::decode_vec(&pem).expect("pem").1;
    let mut rng = Rng::new(42);
    let mut runs = 0usize;

    // Files that are hostile however they are read.
    let mut files: Vec<(String, Vec<u8>)> = vec![
        ("empty".into(), Vec::new()),
        (
            "invalid utf-8".into(),
            vec![0xff, 0xfe, 0x00, 0x80, b'\n', 0xc3],
        ),
        ("nul".into(), vec![0; 64]),
        ("deep der".into(), nested(0x30, DEPTH, &[])),
        ("deep indefinite".into(), nested_indefinite(0x30, DEPTH)),
        (
            "deep pem".into(),
            ca_core::input::to_pem("CERTIFICATE REQUEST", &nested(0x30, DEPTH, &[])).into_bytes(),
        ),
        (
            "huge length".into(),
            vec![0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0x02],
        ),
        ("truncated der".into(), der[..der.len() / 2].to_vec()),
        ("truncated pem".into(), pem[..pem.len() / 2].to_vec()),
        (
            "deep json".into(),
            format!("{}{}", "[".repeat(DEPTH), "]".repeat(DEPTH)).into_bytes(),
        ),
        (
            "deep json object".into(),
            "{\"a\":".repeat(DEPTH).into_bytes(),
        ),
    ];
    for i in 0..6 {
        let mut m = der.clone();
        let pos = 1 + rng.below(m.len() - 1);
        m[pos] ^= 1 << rng.below(8);
        files.push((format!("bit flip {i} at {pos}"), m));
    }
    for (i, (pos, nlen)) in length_positions(&der).into_iter().take(6).enumerate() {
        let mut m = der[..pos].to_vec();
        m.extend([0x84, 0x7f, 0xff, 0xff, 0xff]);
        m.extend_from_slice(&der[pos + nlen..]);
        files.push((format!("length edit {i}"), m));
    }
    let paths: Vec<(String, PathBuf)> = files
        .iter()
        .enumerate()
        .map(|(i, (name, data))| {
            let p = env.path(&format!("hostile-{i}"));
            std::fs::write(&p, data).expect("write");
            (name.clone(), p)
        })
        .collect();
    // A 2 GiB sparse file (no disk space used) and a directory.
    let sparse = env.path("sparse");
    std::fs::File::create(&sparse)
        .and_then(|f| f.set_len(2 << 30))
        .expect("sparse");
    let mut all = paths.clone();
    all.push(("2 GiB sparse".into(), sparse.clone()));
    all.push(("a directory".into(), env.dir.path().to_path_buf()));
    all.push(("/dev/zero".into(), PathBuf::from("/dev/zero")));

    for (name, p) in &all {
        for args in [
            vec!["issue", "--profile", "staff", "--csr", s(p)],
            vec!["revoke", "--batch", s(p)],
            vec!["issue", "--batch", s(p)],
            vec!["audit", "verify", "--file", s(p)],
        ] {
            if name == "empty" && !args.contains(&"--csr") {
                // An empty batch is no work, and an empty export an empty chain: no crash is
                // all that is asked.
                no_crash(&env, &args);
            } else {
                refused(&env, &args);
            }
            runs += 1;
        }
    }

    // The pyca vectors (CRLs, OCSP messages, certificates: none is a CSR) as CSRs.
    for sub in ["crl", "ocsp", "certs"] {
        for p in read_dir_files(&Path::new(CONFORMANCE).join(sub)) {
            refused(&env, &["issue", "--profile", "staff", "--csr", s(&p)]);
            runs += 1;
        }
    }

    // Hostile batch lines: every line fails on its own, in order.
    let csr_text = String::from_utf8_lossy(&pem).into_owned();
    let bad_pems: Vec<String> = files
        .iter()
        .filter(|(n, _)| {
            n.starts_with("bit flip") || n.starts_with("length edit") || n.starts_with("deep der")
        })
        .map(|(_, d)| ca_core::input::to_pem("CERTIFICATE REQUEST", d))
        .collect();
    let mut issue_lines: Vec<String> = bad_pems
        .iter()
        .map(|p| serde_json::json!({"profile": "staff", "csr": p}).to_string())
        .collect();
    issue_lines.extend([
        serde_json::json!({"profile": "staff", "csr": csr_text, "days": u32::MAX}).to_string(),
        serde_json::json!({"profile": "staff", "csr": csr_text, "subject": "CN=".repeat(5000)}).to_string(),
        serde_json::json!({"profile": "staff", "csr": csr_text, "subject": format!("CN={}", "\\".repeat(9999))}).to_string(),
        serde_json::json!({"profile": "server", "csr": csr_text, "san": vec!["dns:a.lg.jp"; 5000]}).to_string(),
        serde_json::json!({"profile": "server", "csr": csr_text, "san": ["ip:999.1.1.1", "uri:", "email:@", "dns:", "x:y"]}).to_string(),
        serde_json::json!({"profile": "staff", "csr": csr_text, "ca": "../../etc"}).to_string(),
        serde_json::json!({"profile": 5, "csr": []}).to_string(),
        format!("{}{}", "[".repeat(DEPTH), "]".repeat(DEPTH)),
        format!("{{\"profile\":\"staff\",\"csr\":\"{}\"}}", "A".repeat(200_000)),
        "\u{0}\u{0}\u{0}".to_string(),
    ]);
    let issue_file = env.path("hostile-issue.jsonl");
    let mut bytes = issue_lines.join("\n").into_bytes();
    bytes.extend(b"\n\xff\xfe{\"profile\n");
    std::fs::write(&issue_file, &bytes).expect("w");
    let out = refused(&env, &["issue", "--batch", s(&issue_file)]);
    let results = json_lines(&out.stdout);
    assert_eq!(results.len(), issue_lines.len() + 1, "one result per line");
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r["line"], i + 1, "{r}");
        assert!(
            r["error"]["message"].is_string(),
            "line {} must fail: {r}",
            i + 1
        );
    }
    runs += 1;

    let revoke_lines = [
        serde_json::json!({"serial": "zz", "reason": "keyCompromise"}).to_string(),
        serde_json::json!({"serial": "f".repeat(10_000), "reason": "keyCompromise"}).to_string(),
        serde_json::json!({"serial": "", "reason": "keyCompromise"}).to_string(),
        serde_json::json!({"serial": "0x", "reason": "keyCompromise"}).to_string(),
        serde_json::json!({"serial": ":::", "reason": "keyCompromise"}).to_string(),
        serde_json::json!({"serial": "01", "reason": "bogus"}).to_string(),
        serde_json::json!({"serial": "01", "reason": "removeFromCRL"}).to_string(),
        serde_json::json!({"serial": "01", "reason": "keyCompromise", "invalidity_date": "9999-99-99"}).to_string(),
        serde_json::json!({"serial": "01", "reason": "keyCompromise", "invalidity_date": "+999999-01-01T00:00:00Z"}).to_string(),
        serde_json::json!({"serial": "01", "reason": "keyCompromise", "ca": "nope"}).to_string(),
        serde_json::json!({"serial": 1, "reason": null}).to_string(),
        format!("{}{}", "[".repeat(DEPTH), "]".repeat(DEPTH)),
        "{\"serial\": \"01\", \"reason\": \"keyCompromise\"".to_string(),
    ];
    let revoke_file = env.path("hostile-revoke.jsonl");
    std::fs::write(&revoke_file, revoke_lines.join("\n")).expect("w");
    let out = refused(&env, &["revoke", "--batch", s(&revoke_file)]);
    let results = json_lines(&out.stdout);
    assert_eq!(results.len(), revoke_lines.len(), "one result per line");
    assert!(
        results.iter().all(|r| r["error"]["message"].is_string()),
        "{results:?}"
    );
    runs += 1;

    // An exported audit log, edited: bit flips, truncation, reordering, huge numbers.
    let export = env.path("audit.jsonl");
    assert_ok(
        &env.lgpki(&["audit", "export", "--out", s(&export)]),
        "export",
    );
    let text = std::fs::read(&export).expect("export");
    let mut edits: Vec<Vec<u8>> = vec![
        text[..text.len() / 2].to_vec(),
        text.iter().rev().copied().collect(),
        String::from_utf8_lossy(&text)
            .replacen("\"seq\":1", "\"seq\":9223372036854775807", 1)
            .into_bytes(),
        String::from_utf8_lossy(&text)
            .replacen("\"seq\":2", "\"seq\":-9223372036854775808", 1)
            .into_bytes(),
        String::from_utf8_lossy(&text)
            .replacen("\"seq\":1", "\"seq\":1e999", 1)
            .into_bytes(),
    ];
    for _ in 0..6 {
        let mut m = text.clone();
        let pos = rng.below(m.len());
        m[pos] ^= 1 << rng.below(8);
        edits.push(m);
    }
    for (i, e) in edits.iter().enumerate() {
        let p = env.path(&format!("audit-edit-{i}.jsonl"));
        std::fs::write(&p, e).expect("w");
        let out = env.lgpki(&["audit", "verify", "--file", s(&p)]);
        // A flipped bit in a hash's letter case may still verify; everything else must not.
        if out.status.code() != Some(0) {
            refused(&env, &["audit", "verify", "--file", s(&p)]);
        }
        runs += 1;
    }

    // Nothing hostile changed the store, and it is intact.
    assert_eq!(env.cert_list(), before, "hostile input changed the store");
    assert_ok(&env.lgpki(&["audit", "verify"]), "audit verify");
    eprintln!("{runs} hostile CLI runs in {:?}", t.elapsed());
}
