//! Shared helpers for the CLI integration tests: a temporary CA home, running the real `lgpki`
//! binary, making keys and CSRs with the `openssl` CLI, and linting with pkilint.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub mod pg;

/// Where CA keys live in a test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Encrypted PKCS#8 files in the home.
    Soft,
    /// A private SoftHSM2 token made for the test.
    Pkcs11,
}

/// Where a test's CA keeps its records: the embedded SQLite file in HOME (the default) or a
/// database of this test binary's shared PostgreSQL cluster (`init --store URL`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreKind {
    /// `HOME/lgpki.db`.
    Sqlite,
    /// A fresh database in [`pg::shared`].
    Postgres,
}

/// Runs the suite function `name(StoreKind)` on both stores, as the tests `name::sqlite` and
/// `name::postgres` (a module and a function may share a name), so `cargo test` lists each
/// and `cargo test postgres` picks one store.
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[test]
            fn sqlite() {
                super::$name($crate::common::StoreKind::Sqlite)
            }
            #[test]
            fn postgres() {
                super::$name($crate::common::StoreKind::Postgres)
            }
        }
    )+};
}

/// The SoftHSM2 module; CI installs it (`apt-get install softhsm2`).
pub const SOFTHSM_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
pub const TOKEN_PIN: &str = "24681357";

/// A temporary directory with a CA home inside (and, for PKCS#11, a private SoftHSM token).
pub struct Env {
    pub dir: tempfile::TempDir,
    pub home: PathBuf,
    pub backend: Backend,
    /// Where the records are ([`Env::init_on`]; SQLite unless made there).
    pub store: StoreKind,
    /// The database in [`pg::shared`] when `store` is PostgreSQL.
    pub pg_db: Option<String>,
    /// Extra environment for every `lgpki` run (SOFTHSM2_CONF, PGPASSWORD).
    pub vars: Vec<(String, String)>,
}

impl Env {
    /// A fresh, not yet initialised home with software keys.
    pub fn new() -> Env {
        Env::with_backend(Backend::Soft)
    }

    /// A fresh home; for [`Backend::Pkcs11`] also a new SoftHSM token `lgpki` with its own
    /// `SOFTHSM2_CONF` and a PIN file (0600).
    pub fn with_backend(backend: Backend) -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path().join("home");
        let mut vars = Vec::new();
        if backend == Backend::Pkcs11 {
            assert!(
                Path::new(SOFTHSM_MODULE).exists(),
                "{SOFTHSM_MODULE} missing: apt-get install softhsm2 (CI installs it)"
            );
            let tokens = dir.path().join("tokens");
            std::fs::create_dir_all(&tokens).expect("token dir");
            let conf = dir.path().join("softhsm2.conf");
            std::fs::write(
                &conf,
                format!(
                    "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                    tokens.display()
                ),
            )
            .expect("conf");
            vars.push(("SOFTHSM2_CONF".to_string(), conf.display().to_string()));
            let out = Command::new("softhsm2-util")
                .args([
                    "--init-token",
                    "--free",
                    "--label",
                    "lgpki",
                    "--so-pin",
                    "12345678",
                    "--pin",
                    TOKEN_PIN,
                ])
                .env("SOFTHSM2_CONF", &conf)
                .output()
                .expect("softhsm2-util (apt-get install softhsm2)");
            assert_ok(&out, "softhsm2-util --init-token");
            use std::os::unix::fs::OpenOptionsExt;
            let pin = dir.path().join("pin");
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&pin)
                .expect("pin file");
            std::io::Write::write_all(&mut f, TOKEN_PIN.as_bytes()).expect("pin");
        }
        Env {
            dir,
            home,
            backend,
            store: StoreKind::Sqlite,
            pg_db: None,
            vars,
        }
    }

    /// The RFC 7512 URI of the test token (PIN from a file).
    pub fn token_uri(&self) -> String {
        format!(
            "pkcs11:token=lgpki?module-path={SOFTHSM_MODULE}&pin-source=file:{}",
            self.dir.path().join("pin").display()
        )
    }

    /// A home initialised with `init` and the given extra arguments.
    pub fn init(extra: &[&str]) -> Env {
        Env::init_with(Backend::Soft, extra)
    }

    /// A home initialised with `init` on `backend` (PKCS#11: `--key-uri` of the test token).
    pub fn init_with(backend: Backend, extra: &[&str]) -> Env {
        Env::init_on(StoreKind::Sqlite, backend, extra)
    }

    /// [`Env::init_with`] on `store`: for PostgreSQL, `--store URL init` on a fresh database
    /// of the shared cluster (recorded in HOME, so later commands need no flag), with its
    /// `PGPASSWORD` in [`Env::vars`].
    pub fn init_on(store: StoreKind, backend: Backend, extra: &[&str]) -> Env {
        let mut env = Env::with_backend(backend);
        let uri = env.token_uri();
        let url;
        let mut args = Vec::new();
        if store == StoreKind::Postgres {
            let cluster = pg::shared();
            let db = pg::fresh_db();
            url = cluster.create_db(&db);
            env.vars.extend(cluster.vars());
            env.store = store;
            env.pg_db = Some(db);
            args.extend_from_slice(&["--store", url.as_str()]);
        }
        args.push("init");
        if backend == Backend::Pkcs11 {
            args.extend_from_slice(&["--key-uri", &uri]);
        }
        args.extend_from_slice(extra);
        let out = env.lgpki(&args);
        assert_ok(&out, "init");
        env
    }

    /// The integer that `sql` (one row, one column) gives on this home's store, read directly
    /// (`rusqlite` on `HOME/lgpki.db`, `psql` on the PostgreSQL database): for tests that look
    /// at what the CLI does not show, e.g. reservations a kill left behind.
    pub fn store_count(&self, sql: &str) -> i64 {
        match (self.store, &self.pg_db) {
            (StoreKind::Postgres, Some(db)) => {
                let out = pg::shared().psql(db, sql);
                out.parse()
                    .unwrap_or_else(|e| panic!("{sql}: {out:?} is not an integer: {e}"))
            }
            _ => {
                let db = rusqlite::Connection::open(self.home.join("lgpki.db"))
                    .expect("open the SQLite store");
                db.query_row(sql, [], |r| r.get::<_, i64>(0))
                    .unwrap_or_else(|e| panic!("{sql}: {e}"))
            }
        }
    }

    /// A path inside the temporary directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs `lgpki --home HOME ARGS…`.
    pub fn lgpki(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run lgpki")
    }

    /// `lgpki --home HOME ARGS…`, not yet run (to spawn it, e.g. to kill it).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_lgpki"));
        c.arg("--home")
            .arg(&self.home)
            .args(args)
            .env_remove("LGPKI_HOME")
            .env_remove("LGPKI_PASSPHRASE")
            // PostgreSQL credentials only from the test's own `vars` (common/pg.rs).
            .env_remove("PGPASSWORD")
            .env_remove("PGPASSFILE")
            .envs(self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        c
    }

    /// `cert list --json` as parsed lines.
    pub fn cert_list(&self) -> Vec<serde_json::Value> {
        let out = self.lgpki(&["--json", "cert", "list"]);
        assert_ok(&out, "cert list");
        json_lines(&out.stdout)
    }

    /// Writes the CA's chain (CA up to its self-signed root) and that root alone (the trust
    /// anchor of what the CA issues: `organization` is its own); returns (root, chain) paths.
    pub fn chain_files(&self, ca: &str) -> (PathBuf, PathBuf) {
        // Not `root.pem`: tests keep the RA listener's anchor (the application root) there.
        let root = self.path(&format!("{ca}-anchor.pem"));
        let chain = self.path(&format!("{ca}-chain.pem"));
        let out = self.lgpki(&["ca", "cert", ca, "--chain"]);
        assert_ok(&out, "ca cert --chain");
        std::fs::write(&chain, &out.stdout).expect("write chain");
        let blocks =
            ca_core::input::der_blocks(&out.stdout, &["CERTIFICATE"], "chain").expect("chain PEM");
        let top = blocks.last().expect("a chain ends at its root");
        std::fs::write(&root, ca_core::input::to_pem("CERTIFICATE", top)).expect("write root");
        (root, chain)
    }
}

/// The cross-certificate `init` made with `issuer` as its issuer (hierarchy.toml `[[cross]]`:
/// `bridge` certifies `organization` and back), written to FILE in the test directory.
pub fn cross_pem(env: &Env, issuer: &str, file: &str) -> PathBuf {
    let out = env.lgpki(&[
        "--json",
        "cert",
        "list",
        "--profile",
        "cross",
        "--ca",
        issuer,
    ]);
    assert_ok(&out, "cert list --profile cross");
    let list = json_lines(&out.stdout);
    let serial = list
        .first()
        .and_then(|c| c["serial"].as_str())
        .unwrap_or_else(|| panic!("{issuer} issued no cross-certificate: {list:?}"));
    let shown = env.lgpki(&["--json", "cert", "show", serial]);
    assert_ok(&shown, "cert show");
    let v = &json_lines(&shown.stdout)[0];
    let p = env.path(file);
    std::fs::write(&p, v["pem"].as_str().expect("pem")).expect("write cross");
    p
}

/// How many end-entity certificates `cert list` shows (CA certificates are listed too, with
/// profile `root`, `sub-ca` or `cross`; the VA, TSA and delegated OCSP responder certificates
/// init issues are the services' own).
pub fn issued_count(env: &Env) -> usize {
    env.cert_list()
        .iter()
        .filter(|c| {
            !matches!(
                c["profile"].as_str(),
                Some("root" | "sub-ca" | "cross" | "va" | "timestamping" | "ocsp-signing")
            )
        })
        .count()
}

/// Parses JSON Lines.
pub fn json_lines(stdout: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

/// Asserts exit 0, printing stderr otherwise.
pub fn assert_ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({:?}):\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `openssl ARGS…`, returning its output (not asserting success).
pub fn openssl(args: &[&str]) -> Output {
    Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl is installed")
}

/// Runs `openssl` and asserts success.
pub fn openssl_ok(args: &[&str]) -> String {
    let out = openssl(args);
    assert_ok(&out, &format!("openssl {}", args.join(" ")));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Key types for test CSRs.
#[derive(Clone, Copy, Debug)]
pub enum KeyKind {
    P256,
    P384,
    Rsa(u32),
}

/// Generates a key with openssl and returns its path.
pub fn make_key(dir: &Path, name: &str, kind: KeyKind) -> PathBuf {
    let key = dir.join(format!("{name}.key"));
    let k = key.to_str().expect("utf8 path");
    match kind {
        KeyKind::P256 => openssl_ok(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            k,
        ]),
        KeyKind::P384 => openssl_ok(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-384",
            "-out",
            k,
        ]),
        KeyKind::Rsa(bits) => openssl_ok(&[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            &format!("rsa_keygen_bits:{bits}"),
            "-out",
            k,
        ]),
    };
    key
}

/// Makes a CSR with openssl (`subj` in openssl's /C=JP/... form, UTF-8) with optional SANs
/// (openssl syntax, e.g. "DNS:www.city.lg.jp"). Returns the CSR path (PEM).
pub fn make_csr(dir: &Path, name: &str, kind: KeyKind, subj: &str, sans: &[&str]) -> PathBuf {
    let key = make_key(dir, name, kind);
    let csr = dir.join(format!("{name}.csr"));
    let mut args: Vec<String> = vec![
        "req".into(),
        "-new".into(),
        "-utf8".into(),
        "-key".into(),
        key.display().to_string(),
        "-subj".into(),
        subj.into(),
        "-out".into(),
        csr.display().to_string(),
    ];
    if !sans.is_empty() {
        args.push("-addext".into());
        args.push(format!("subjectAltName={}", sans.join(",")));
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    openssl_ok(&refs);
    csr
}

/// The pkilint tool `name`: from $PKILINT_BIN, PATH, or /opt/pkilint/bin. Panics with a clear
/// message if pkilint is not installed (CI installs it; see .ci/run).
pub fn pkilint_tool(name: &str) -> PathBuf {
    if let Ok(dir) = std::env::var("PKILINT_BIN") {
        let p = Path::new(&dir).join(name);
        if p.exists() {
            return p;
        }
    }
    if let Ok(path) = std::env::var("PATH") {
        for d in std::env::split_paths(&path) {
            let p = d.join(name);
            if p.exists() {
                return p;
            }
        }
    }
    let p = Path::new("/opt/pkilint/bin").join(name);
    assert!(
        p.exists(),
        "{name} not found: install pkilint (pip install pkilint) and put it on PATH or set PKILINT_BIN"
    );
    p
}

/// Runs a pkilint tool (`lint_pkix_cert`, `lint_crl`, `lint_ocsp_response`) with `lint
/// -s WARNING`, the extra arguments and FILE, and asserts it reports nothing.
pub fn assert_pkilint(tool: &str, extra: &[&str], file: &Path) {
    let out = Command::new(pkilint_tool(tool))
        .args(["lint", "-s", "WARNING"])
        .args(extra)
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("run {tool}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.trim().is_empty(),
        "{tool} findings for {}:\n{text}",
        file.display()
    );
}

/// `lint_pkix_cert` reports nothing for this certificate.
pub fn assert_pkilint_clean(pem: &Path) {
    assert_pkilint("lint_pkix_cert", &[], pem);
}

/// A running `lgpki serve` on ephemeral ports, killed on drop.
pub struct Server {
    child: std::process::Child,
    /// `http://127.0.0.1:PORT` of OCSP, CRLs and CA certificates.
    pub http: String,
    /// `https://127.0.0.1:PORT` of the RA API.
    pub ra: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts `lgpki serve` on `env`'s home with ephemeral ports, read back from its stderr.
    pub fn start(env: &Env) -> Server {
        Server::start_with(env, &[])
    }

    /// [`Server::start`] with more `serve` arguments (e.g. `--trust FILE`).
    pub fn start_with(env: &Env, extra: &[&str]) -> Server {
        Server::start_at(env, "127.0.0.1:0", extra)
    }

    /// [`Server::start_with`] with OCSP, CRLs and CA certificates on `listen` (e.g. the port
    /// `init --base-url` named, for certificates whose AIA points at it).
    pub fn start_at(env: &Env, listen: &str, extra: &[&str]) -> Server {
        use std::io::BufRead;
        let mut child = Command::new(env!("CARGO_BIN_EXE_lgpki"))
            .arg("--home")
            .arg(&env.home)
            .args(["serve", "--listen", listen, "--ra-listen", "127.0.0.1:0"])
            .args(extra)
            .envs(env.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("spawn serve");
        let mut lines = std::io::BufReader::new(child.stderr.take().expect("stderr")).lines();
        let (mut http, mut ra) = (None, None);
        while http.is_none() || ra.is_none() {
            let line = lines.next().expect("serve exited early").expect("read");
            if let Some(rest) = line.split("CA certificates on ").nth(1) {
                http = Some(rest.trim().to_string());
            }
            if let Some(rest) = line.split("RA API (mutual TLS) on ").nth(1) {
                ra = Some(rest.trim().to_string());
            }
        }
        // Keep draining stderr so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server {
            child,
            http: http.unwrap_or_default(),
            ra: ra.unwrap_or_default(),
        }
    }

    /// The server's exit status if it exits within `limit` (`None`: still running).
    pub fn exit_within(&mut self, limit: std::time::Duration) -> Option<std::process::ExitStatus> {
        let until = std::time::Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if std::time::Instant::now() >= until {
                return None;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

/// A small xorshift generator for tests that need random choices: no dependency, and a printed
/// seed replays a run.
pub struct Rng(u64);

impl Rng {
    /// A generator with a fixed seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    /// Seeded from `$var` if set, else from the clock; prints the seed to replay the run.
    pub fn from_env(var: &str) -> Rng {
        let seed = std::env::var(var)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
            });
        eprintln!("random seed: {var}={seed}");
        Rng::new(seed)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform-ish in `0..n` (0 for n = 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// A duration in `0..=max`, in microseconds.
    pub fn duration(&mut self, max: std::time::Duration) -> std::time::Duration {
        std::time::Duration::from_micros(self.next() % (max.as_micros() as u64 + 1))
    }
}

/// Issues a `staff` certificate (P-256, OU 千代田区, CN `name`) to `name.pem`; returns its serial
/// and path.
pub fn issue_staff(env: &Env, name: &str) -> (String, std::path::PathBuf) {
    let csr = make_csr(
        env.dir.path(),
        name,
        KeyKind::P256,
        &format!("/C=JP/O=LGPKI/OU=千代田区/CN={name}"),
        &[],
    );
    let pem = env.path(&format!("{name}.pem"));
    let out = env.lgpki(&[
        "--json",
        "issue",
        "--profile",
        "staff",
        "--csr",
        csr.to_str().expect("utf8"),
        "--out",
        pem.to_str().expect("utf8"),
    ]);
    assert_ok(&out, "issue");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    (v["serial"].as_str().expect("serial").to_string(), pem)
}

/// An officer's (or would-be officer's) certificate and key files.
#[derive(Clone, Debug)]
pub struct Officer {
    pub cert: String,
    pub key: String,
}

/// A staff certificate for an officer: the key made by openssl, the certificate issued by
/// lgpki itself for `/C=JP/O=LGPKI/OU=ou/CN=cn`; files named after `file`.
pub fn officer_cert(env: &Env, file: &str, cn: &str, ou: &str) -> Officer {
    let key = make_key(env.dir.path(), file, KeyKind::P256);
    let csr = env.path(&format!("{file}.csr"));
    openssl_ok(&[
        "req",
        "-new",
        "-utf8",
        "-key",
        key.to_str().expect("utf8"),
        "-subj",
        &format!("/C=JP/O=LGPKI/OU={ou}/CN={cn}"),
        "-out",
        csr.to_str().expect("utf8"),
    ]);
    let cert = env.path(&format!("{file}.pem"));
    assert_ok(
        &env.lgpki(&[
            "issue",
            "--profile",
            "staff",
            "--csr",
            csr.to_str().expect("utf8"),
            "--out",
            cert.to_str().expect("utf8"),
        ]),
        "officer cert",
    );
    Officer {
        cert: cert.display().to_string(),
        key: key.display().to_string(),
    }
}

/// Runs `lgpki --json --server RA … ARGS` as `who`, trusting `HOME/../root.pem` (the test
/// writes the root there) for the server.
pub fn remote_as(env: &Env, ra: &str, who: &Officer, args: &[&str]) -> Output {
    let root = env.path("root.pem");
    let mut all = vec![
        "--json",
        "--server",
        ra,
        "--server-ca",
        root.to_str().expect("utf8"),
        "--client-cert",
        &who.cert,
        "--client-key",
        &who.key,
    ];
    all.extend_from_slice(args);
    env.lgpki(&all)
}
