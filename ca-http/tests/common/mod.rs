//! Test fixtures shared by the integration tests.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use ca_core::{CaSigner, KeyAlgorithm, SoftwareSigner, generate_pkcs8};

/// A self-signed CA made with openssl: (certificate DER, signer).
pub fn make_ca(dir: &Path, cn: &str) -> (Vec<u8>, Arc<dyn CaSigner>) {
    let pkcs8 = generate_pkcs8(KeyAlgorithm::EcdsaP256).expect("key");
    let pem =
        der::pem::encode_string("PRIVATE KEY", der::pem::LineEnding::LF, &pkcs8).expect("pem");
    let key = dir.join(format!("{cn}.key"));
    std::fs::write(&key, pem).expect("write key");
    let cert = dir.join(format!("{cn}.der"));
    let out = Command::new("openssl")
        .args(["req", "-x509", "-new", "-key"])
        .arg(&key)
        .args(["-subj", &format!("/C=JP/O=LGPKI Test/CN={cn}")])
        .args(["-days", "30", "-outform", "DER", "-out"])
        .arg(&cert)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let signer = SoftwareSigner::from_pkcs8(&pkcs8, cn).expect("signer");
    (std::fs::read(&cert).expect("cert"), Arc::new(signer))
}
