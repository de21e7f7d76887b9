//! Regression tests for reliability bugs found by the crash, hostile-input and fuzz tests; each
//! failed before its fix.

mod common;

use common::{Env, json_lines};

/// Regression: an oversized `issue --batch` line used to be skipped by reading the rest of it
/// into memory, so `issue --batch /dev/zero` grew without bound until the OOM killer ended it.
/// Now the skip keeps nothing and stops the batch past 64 MiB.
#[test]
fn an_endless_batch_line_ends_the_batch_instead_of_eating_memory() {
    let env = Env::init(&[]);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_lgpki"))
        .arg("--home")
        .arg(&env.home)
        .args(["issue", "--batch", "/dev/zero"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if start.elapsed() > std::time::Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("issue --batch /dev/zero did not end in 60 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().expect("stdout"), &mut stdout)
        .expect("read");
    assert_eq!(status.code(), Some(1), "{stdout}");
    let results = json_lines(stdout.as_bytes());
    assert_eq!(results.len(), 1, "{results:?}");
    assert_eq!(results[0]["line"], 1);
    assert_eq!(results[0]["error"]["kind"], "too_large");
}
