//! OCSP request parsing: RFC 6960 POST bodies (`parse_request`) and RFC 5019 GET paths
//! (`decode_get_path`, then `parse_request` on what it decodes).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = ca_core::ocsp::parse_request(data) {
        for id in &req.cert_ids {
            let _ = ca_core::ocsp::CertId::from_der(id.der());
        }
    }
    if let Ok(path) = std::str::from_utf8(data)
        && let Ok(der) = ca_core::ocsp::decode_get_path(path)
    {
        let _ = ca_core::ocsp::parse_request(&der);
    }
});
