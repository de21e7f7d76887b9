//! A throwaway PostgreSQL 15 cluster for tests: `initdb` in a temporary directory, `pg_ctl
//! start` on a free loopback port (its Unix socket also in the directory), stopped and removed
//! on drop.
//!
//! The cluster runs as the `postgres` OS user (initdb refuses root, and CI runs as root) via
//! `runuser -u postgres --` when the test runs as root. Password authentication (SCRAM) is on:
//! the superuser `lgpki` has a random password that the tests pass as `PGPASSWORD`, never in a
//! URL. PostgreSQL missing is a failure, not a skip (CI installs `postgresql`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::{Env, assert_ok};

/// Where Debian's PostgreSQL 15 server binaries are.
pub const PG_BIN: &str = "/usr/lib/postgresql/15/bin";
/// The cluster's superuser.
pub const PG_USER: &str = "lgpki";

/// A running throwaway cluster.
pub struct PgCluster {
    dir: tempfile::TempDir,
    /// The TCP port on 127.0.0.1.
    pub port: u16,
    /// The superuser's password (give it as `PGPASSWORD`).
    pub password: String,
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
}

/// `bin ARGS…` as the `postgres` user when running as root.
fn pg_command(bin: &str) -> Command {
    let path = Path::new(PG_BIN).join(bin);
    assert!(
        path.exists(),
        "{} missing: install PostgreSQL 15 (apt-get install postgresql; CI installs it)",
        path.display()
    );
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(path);
        c
    } else {
        Command::new(path)
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn check(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: {:?}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Gives a path to the `postgres` user (when root), so the server can write there.
fn hand_over(path: &Path) {
    if is_root() {
        let out = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(path)
            .output()
            .expect("chown");
        check(&out, "chown to postgres");
    }
}

impl PgCluster {
    /// initdb and start a new cluster.
    pub fn start() -> PgCluster {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
                .expect("chmod");
        }
        let mut raw = [0u8; 12];
        getrandom(&mut raw);
        let password = raw.iter().map(|b| format!("{b:02x}")).collect::<String>();
        let pwfile = dir.path().join("pw");
        std::fs::write(&pwfile, &password).expect("pwfile");
        for d in ["data", "sock", "log"] {
            std::fs::create_dir(dir.path().join(d)).expect("mkdir");
        }
        hand_over(dir.path());
        let out = pg_command("initdb")
            .arg("-D")
            .arg(dir.path().join("data"))
            .args([
                "-U",
                PG_USER,
                "--auth=scram-sha-256",
                "-E",
                "UTF8",
                "--no-sync",
            ])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .expect("run initdb");
        check(&out, "initdb");
        let _ = std::fs::remove_file(&pwfile);
        let cluster = PgCluster {
            dir,
            port: free_port(),
            password,
        };
        cluster.pg_ctl(&["start"]);
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The server's log file.
    pub fn log(&self) -> PathBuf {
        self.dir.path().join("log").join("postgres.log")
    }

    fn pg_ctl(&self, action: &[&str]) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c shared_buffers=32MB -c max_connections=60",
            self.port,
            self.dir.path().join("sock").display()
        );
        let out = pg_command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.log())
            .args(["-o", &opts, "-w", "-t", "60"])
            .args(action)
            .output()
            .expect("run pg_ctl");
        check(&out, &format!("pg_ctl {action:?}"));
    }

    /// `pg_ctl restart -m fast` (connections are cut, in-flight transactions roll back).
    pub fn restart(&self) {
        self.pg_ctl(&["restart", "-m", "fast"]);
    }

    /// `pg_ctl start` after [`PgCluster::stop`].
    pub fn start_again(&self) {
        self.pg_ctl(&["start"]);
    }

    /// `pg_ctl stop -m fast`.
    pub fn stop(&self) {
        self.pg_ctl(&["stop", "-m", "fast"]);
    }

    /// `postgres://lgpki@127.0.0.1:PORT/DB` (no password: it comes from `PGPASSWORD`).
    pub fn url(&self, db: &str) -> String {
        format!("postgres://{PG_USER}@127.0.0.1:{}/{db}", self.port)
    }

    /// Environment for `lgpki` to reach the cluster (`PGPASSWORD`).
    pub fn vars(&self) -> Vec<(String, String)> {
        vec![("PGPASSWORD".to_string(), self.password.clone())]
    }

    /// Runs SQL with `psql` (over the Unix socket) in database `db`; its output.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = Command::new(Path::new(PG_BIN).join("psql"))
            .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(self.dir.path().join("sock"))
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                PG_USER,
                "-d",
                db,
                "-c",
                sql,
            ])
            .env("PGPASSWORD", &self.password)
            .output()
            .expect("run psql");
        check(&out, &format!("psql {sql}"));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Creates database `name`; its URL.
    pub fn create_db(&self, name: &str) -> String {
        self.psql("postgres", &format!("CREATE DATABASE {name}"));
        self.url(name)
    }
}

/// A home initialised with `init --store URL` on a new database `db` of `cluster` (extra
/// `init` arguments in `extra`); `PGPASSWORD` is in its environment.
pub fn pg_env(cluster: &PgCluster, db: &str, extra: &[&str]) -> Env {
    let url = cluster.create_db(db);
    let mut env = Env::new();
    env.vars.extend(cluster.vars());
    let mut args = vec!["--store", url.as_str(), "init"];
    args.extend_from_slice(extra);
    let out = env.lgpki(&args);
    assert_ok(&out, "init --store");
    env
}

/// Another home for the same CA (a second instance, as on another machine): a copy of `env`'s
/// home (keys, passphrase, recorded store URL, settings) in a new temporary directory.
pub fn second_home(env: &Env) -> Env {
    let mut other = Env::new();
    other.vars = env.vars.clone();
    let out = Command::new("cp")
        .arg("-a")
        .arg(&env.home)
        .arg(&other.home)
        .output()
        .expect("cp");
    assert_ok(&out, "cp -a home");
    other
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = pg_command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}

fn getrandom(buf: &mut [u8]) {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(buf))
        .expect("/dev/urandom");
}

/// The one cluster this test binary shares between its PostgreSQL variants (each test makes its
/// own database in it with [`fresh_db`]). Started on first use.
///
/// A `static` is never dropped, so `Drop` cannot stop it. Instead a guardian process started
/// with the cluster polls the test binary's pid and, once it is gone (ended, panicked or killed
/// with SIGKILL), stops the cluster (`-m immediate`) and removes its directory. The guardian
/// holds no pipe of the test (stdin, stdout and stderr are /dev/null), so `cargo test | tee`
/// never waits on it. PostgreSQL missing fails every PostgreSQL variant with [`pg_command`]'s
/// message.
pub fn shared() -> &'static PgCluster {
    static CLUSTER: std::sync::OnceLock<PgCluster> = std::sync::OnceLock::new();
    CLUSTER.get_or_init(|| {
        let cluster = PgCluster::start();
        let stop = pg_command("pg_ctl");
        let script = r#"while kill -0 "$TEST_PID" 2>/dev/null; do sleep 0.2; done
"$@"
rm -rf "$CLUSTER_DIR""#;
        let guardian = Command::new("sh")
            .args(["-c", script, "lgpki-pg-guardian"])
            .arg(stop.get_program())
            .args(stop.get_args())
            .arg("-D")
            .arg(cluster.data())
            .args(["-m", "immediate", "-w", "stop"])
            .env("TEST_PID", std::process::id().to_string())
            .env("CLUSTER_DIR", cluster.dir.path())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        if let Err(e) = guardian {
            // Without a guardian the cluster would outlive the tests: stop it and fail.
            drop(cluster);
            panic!("cannot start the cluster's guardian (sh): {e}");
        }
        cluster
    })
}

/// A database name not used before in this test binary's shared cluster.
pub fn fresh_db() -> String {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("t{}_{n}", std::process::id())
}
