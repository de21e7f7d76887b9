//! The officers' web app in a real browser (issue 15): headless Chromium from Debian's packages
//! driven through chromedriver (W3C WebDriver over HTTP). Each officer is a separate browser
//! with its own NSS database ($HOME/.pki/nssdb: the officer's key and certificate, and the
//! LGPKI root as a trusted CA); Chromium picks the client certificate by itself through the
//! AutoSelectCertificateForUrls policy (a managed policy file, removed afterwards).
//!
//! A registrar submits a CSR (pasted PEM), an approver of the same 団体 approves it and
//! downloads the certificate (openssl verifies it), and an officer of another 団体 sees
//! nothing of it. Screenshots of the main pages go to `target/ra-screenshots/`.

mod common;
mod ra_common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use common::{assert_ok, openssl_ok};
use ra_common::{Ra, Who};
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const POLICY_DIR: &str = "/etc/chromium/policies/managed";

/// The managed policy file of this test; removed when dropped.
struct Policy(PathBuf);

impl Policy {
    fn install(origin: &str) -> Policy {
        std::fs::create_dir_all(POLICY_DIR).unwrap_or_else(|e| {
            panic!("{POLICY_DIR}: {e} (the browser test installs a Chromium policy; run it as root, as CI does)")
        });
        let path = Path::new(POLICY_DIR).join(format!("lgpki-test-{}.json", std::process::id()));
        let pattern = json!({"pattern": origin, "filter": {}}).to_string();
        std::fs::write(
            &path,
            json!({"AutoSelectCertificateForUrls": [pattern]}).to_string(),
        )
        .expect("policy");
        Policy(path)
    }
}

impl Drop for Policy {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// One officer's browser: a chromedriver (and through it Chromium) with its own HOME.
struct Browser {
    driver: Child,
    url: String,
    session: String,
    agent: ureq::Agent,
    shots: PathBuf,
    name: String,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self
            .agent
            .delete(&format!("{}/session/{}", self.url, self.session))
            .call();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port")
}

fn run_ok(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_ok(&out, what);
}

impl Browser {
    fn start(ra: &Ra, who: &Who, name: &str, shots: &Path) -> Browser {
        let home = ra.env.path(&format!("browser-{name}"));
        let nssdb = home.join(".pki/nssdb");
        std::fs::create_dir_all(&nssdb).expect("nssdb dir");
        let db = format!("sql:{}", nssdb.display());
        run_ok(
            Command::new("certutil").args(["-N", "-d", &db, "--empty-password"]),
            "certutil -N",
        );
        run_ok(
            Command::new("certutil").args([
                "-A",
                "-d",
                &db,
                "-n",
                "LGPKI root",
                "-t",
                "C,,",
                "-i",
                ra.env.path("root.pem").to_str().expect("utf8"),
            ]),
            "certutil -A (trust the LGPKI root)",
        );
        let p12 = ra.env.path(&format!("{name}.p12"));
        openssl_ok(&[
            "pkcs12",
            "-export",
            "-inkey",
            &who.key,
            "-in",
            &who.cert,
            "-name",
            name,
            "-passout",
            "pass:",
            "-out",
            p12.to_str().expect("utf8"),
        ]);
        run_ok(
            Command::new("pk12util").args(["-i", p12.to_str().expect("utf8"), "-d", &db, "-W", ""]),
            "pk12util -i",
        );
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .env("HOME", &home)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{CHROMEDRIVER}: {e} (apt-get install chromium-driver)"));
        let url = format!("http://127.0.0.1:{port}");
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .new_agent();
        let deadline = Instant::now() + Duration::from_secs(20);
        while agent.get(&format!("{url}/status")).call().is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = home.join("chromium-profile");
        let downloads = home.join("downloads");
        std::fs::create_dir_all(&downloads).expect("downloads");
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "acceptInsecureCerts": false,
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--window-size=1280,1000",
                    format!("--user-data-dir={}", profile.display()),
                ],
                "prefs": {
                    "download.default_directory": downloads.display().to_string(),
                    "download.prompt_for_download": false,
                },
            },
        }}});
        let mut r = agent
            .post(&format!("{url}/session"))
            .send_json(&caps)
            .expect("new session");
        let v: Value = r.body_mut().read_json().expect("json");
        let session = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_string();
        let b = Browser {
            driver,
            url,
            session,
            agent,
            shots: shots.to_path_buf(),
            name: name.to_string(),
        };
        b.cmd(
            "POST",
            "goog/cdp/execute",
            json!({"cmd": "Page.setDownloadBehavior", "params": {"behavior": "allow", "downloadPath": downloads.display().to_string()}}),
        );
        b
    }

    fn cmd(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}/session/{}/{path}", self.url, self.session);
        let mut r = match method {
            "GET" => self.agent.get(&url).call(),
            _ => self.agent.post(&url).send_json(&body),
        }
        .unwrap_or_else(|e| panic!("webdriver {path}: {e}"));
        let v: Value = r.body_mut().read_json().expect("json");
        if v["value"].get("error").is_some() {
            panic!("webdriver {path}: {v}");
        }
        v["value"].clone()
    }

    fn goto(&self, url: &str) {
        self.cmd("POST", "url", json!({ "url": url }));
    }

    fn find(&self, css: &str) -> String {
        let v = self.cmd(
            "POST",
            "element",
            json!({"using": "css selector", "value": css}),
        );
        v.as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element {css}"))
            .to_string()
    }

    fn click(&self, css: &str) {
        let e = self.find(css);
        self.cmd("POST", &format!("element/{e}/click"), json!({}));
    }

    fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css);
        self.cmd(
            "POST",
            &format!("element/{e}/value"),
            json!({ "text": text }),
        );
    }

    fn text(&self, css: &str) -> String {
        let e = self.find(css);
        self.cmd("GET", &format!("element/{e}/text"), json!({}))
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Clicks and waits until the browser has navigated away from the current URL: a click
    /// returns once the event is dispatched, and the URL may change after the page source.
    fn click_to_new_page(&self, css: &str) -> String {
        let before = self.current_url();
        self.click(css);
        self.wait_for(&format!("navigation away from {before} after {css}"), |b| {
            let now = b.current_url();
            (now != before && b.ready()).then_some(now)
        })
    }

    /// Polls `check` until it gives a value (at most 15 s).
    fn wait_for<T>(&self, what: &str, check: impl Fn(&Self) -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(v) = check(self) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {}",
                self.page()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn ready(&self) -> bool {
        self.cmd(
            "POST",
            "execute/sync",
            json!({"script": "return document.readyState", "args": []}),
        )
        .as_str()
            == Some("complete")
    }

    fn current_url(&self) -> String {
        self.cmd("GET", "url", json!({}))
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    fn page(&self) -> String {
        self.cmd("GET", "source", json!({}))
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    fn screenshot(&self, what: &str) {
        let png = self.cmd("GET", "screenshot", json!({}));
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap_or_default())
            .expect("png");
        assert!(bytes.starts_with(b"\x89PNG"), "screenshot is a PNG");
        std::fs::write(self.shots.join(format!("{}-{what}.png", self.name)), bytes)
            .expect("screenshot");
    }
}

fn screenshot_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .map(|p| p.join("ra-screenshots"))
        .unwrap_or_else(|| PathBuf::from("ra-screenshots"));
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

#[test]
fn officers_in_a_real_browser() {
    for tool in [
        CHROMIUM,
        CHROMEDRIVER,
        "/usr/bin/pk12util",
        "/usr/bin/certutil",
    ] {
        assert!(
            Path::new(tool).exists(),
            "{tool} missing: apt-get install chromium chromium-driver libnss3-tools (.ci/run does)"
        );
    }
    let ra = Ra::start();
    let origin = ra.server.ra.clone();
    let _policy = Policy::install(&origin);
    let shots = screenshot_dir();
    let csr = std::fs::read_to_string(ra.csr("browser-subject", "鈴木花子")).expect("csr");

    // The registrar: dashboard (Japanese), submit a pasted CSR.
    let reg = Browser::start(&ra, &ra.reg, "registrar", &shots);
    reg.goto(&format!("{origin}/"));
    let page = reg.page();
    assert!(page.contains("ダッシュボード"), "{page}");
    assert!(page.contains("registrar"), "the officer is named: {page}");
    reg.screenshot("dashboard");
    reg.goto(&format!("{origin}/requests/new"));
    assert!(reg.page().contains("プロファイルの規則"));
    reg.type_into("#csr_pem", &csr);
    reg.screenshot("submit");
    let url = reg.click_to_new_page("form[action='/requests'] button[type=submit]");
    let id: i64 = url
        .rsplit('/')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a request page: {url}: {}", reg.page()));
    assert!(reg.text(".state").contains("承認待ち"));
    assert!(reg.page().contains("CN=鈴木花子,OU=千代田区,O=LGPKI,C=JP"));
    reg.screenshot("request-pending");
    // The English switch.
    reg.goto(&format!("{origin}/lang/en"));
    reg.goto(&format!("{origin}/requests/{id}"));
    assert!(reg.text(".state").contains("pending"));
    reg.screenshot("request-pending-en");
    // A registrar gets no approve button.
    assert!(!reg.page().contains("id=\"approve\""));

    // The approver of the same 団体 approves and downloads the certificate.
    let app = Browser::start(&ra, &ra.app, "approver", &shots);
    app.goto(&format!("{origin}/"));
    assert!(
        app.page().contains(&format!("/requests/{id}")),
        "pending approval on the dashboard"
    );
    app.goto(&format!("{origin}/requests/{id}"));
    app.screenshot("request-to-approve");
    app.click("#approve");
    app.wait_for("the request to show as issued", |b| {
        (b.ready()
            && b.page().contains("id=\"issued-cert\"")
            && b.text(".state").contains("発行済み"))
        .then_some(())
    });
    app.click_to_new_page("#issued-cert");
    app.screenshot("certificate");
    assert!(app.page().contains("鈴木花子"));
    let serial_url = app.current_url();
    let serial = serial_url.rsplit('/').next().expect("serial").to_string();
    app.click("#download-pem");
    let downloads = ra.env.path("browser-approver").join("downloads");
    let file = downloads.join(format!("{serial}.pem"));
    let deadline = Instant::now() + Duration::from_secs(20);
    while !file.exists() {
        assert!(
            Instant::now() < deadline,
            "the browser did not download {}",
            file.display()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(300));
    let (root, chain) = ra.env.chain_files("organization");
    openssl_ok(&[
        "verify",
        "-x509_strict",
        "-CAfile",
        root.to_str().expect("utf8"),
        "-untrusted",
        chain.to_str().expect("utf8"),
        file.to_str().expect("utf8"),
    ]);

    // An officer of another 団体 sees nothing of it.
    let sap = Browser::start(&ra, &ra.sap, "sapporo", &shots);
    sap.goto(&format!("{origin}/"));
    assert!(!sap.page().contains("鈴木花子"));
    sap.goto(&format!("{origin}/certificates"));
    assert!(!sap.page().contains("鈴木花子"));
    assert!(!sap.page().contains(&serial));
    sap.goto(&format!("{origin}/requests/{id}"));
    let page = sap.page();
    assert!(!page.contains("鈴木花子"), "{page}");
    assert!(page.contains("no request"), "{page}");
    sap.screenshot("other-org-refused");
    sap.goto(&format!("{origin}/certificates/{serial}"));
    assert!(!sap.page().contains("鈴木花子"));

    for s in [
        "registrar-dashboard",
        "registrar-submit",
        "approver-certificate",
    ] {
        assert!(shots.join(format!("{s}.png")).exists(), "{s}");
    }
}
