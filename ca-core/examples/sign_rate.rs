//! The raw signing rate of a CA's key, through the same [`CaSigner`] that issuance uses: `T`
//! threads, each with its own clone of the signer (a PKCS#11 signer takes one pooled session per
//! thread), sign a certificate-sized message for `S` seconds. The benchmark scripts in `bench/`
//! compare issuance against this number.
//!
//! ```sh
//! cargo run --release -p ca-core --example sign_rate -- HOME CA [THREADS] [SECONDS]
//! ```
//!
//! Prints one line: `signatures_per_second=N threads=T seconds=S`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ca_core::{Authority, PassphraseSource, Policies};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let home = PathBuf::from(
        args.first()
            .ok_or("usage: sign_rate HOME CA [THREADS] [SECONDS]")?,
    );
    let ca_name = args
        .get(1)
        .ok_or("usage: sign_rate HOME CA [THREADS] [SECONDS]")?;
    let threads: usize = match args.get(2) {
        Some(t) => t.parse()?,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let seconds: f64 = match args.get(3) {
        Some(s) => s.parse()?,
        None => 3.0,
    };
    let policies = if home.join("policies").is_dir() {
        Policies::load_dir(&home.join("policies"))?
    } else {
        Policies::embedded()?
    };
    let mut authority = Authority::open(&home, PassphraseSource::Default, policies)?;
    let ca = authority.load_ca(ca_name)?;
    // A TBSCertificate is about 500 octets; the digest cost is negligible next to the signature.
    let message = vec![0x5a_u8; 512];
    // One signature first, so that session set-up and login are not counted.
    ca.signer.sign(&message)?;
    let count = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let start = Instant::now();
    let failed = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let signer = ca.signer.clone();
                let (count, stop, message) = (&count, &stop, &message);
                s.spawn(move || -> bool {
                    while !stop.load(Ordering::Relaxed) {
                        if signer.sign(message).is_err() {
                            return true;
                        }
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                    false
                })
            })
            .collect();
        std::thread::sleep(Duration::from_secs_f64(seconds));
        stop.store(true, Ordering::Relaxed);
        handles.into_iter().any(|h| h.join().unwrap_or(true))
    });
    let elapsed = start.elapsed().as_secs_f64();
    if failed {
        return Err("a signature failed".into());
    }
    let n = count.load(Ordering::Relaxed);
    println!(
        "signatures_per_second={:.1} threads={threads} seconds={elapsed:.2}",
        n as f64 / elapsed
    );
    Ok(())
}
