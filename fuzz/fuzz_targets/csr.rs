//! PKCS#10 parsing: the DER parser, proof of possession, and the PEM/DER input splitter the CLI
//! runs first.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(parsed) = ca_core::parse_csr(data) {
        let _ = parsed.verify_signature();
    }
    if let Ok(blocks) = ca_core::input::der_blocks(data, &["CERTIFICATE REQUEST"], "fuzz") {
        for b in blocks {
            let _ = ca_core::verify_csr(&b);
        }
    }
});
