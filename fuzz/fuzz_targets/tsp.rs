//! RFC 3161: `tsp::parse_response` (TimeStampResp), `tsp::parse_tst_info`, the token check
//! `tsp::check_token` on the input and on a response's token, and the sanitisation receipt's
//! content (`Receipt::from_der`).
#![no_main]

use ca_core::cms::{self, tsp};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(resp) = tsp::parse_response(data)
        && let Some(token) = &resp.token
    {
        let _ = tsp::check_token(token, b"data", &[]);
    }
    let _ = tsp::parse_tst_info(data);
    let _ = tsp::check_token(data, b"data", &[]);
    if let Ok(r) = cms::Receipt::from_der(data) {
        let _ = r.to_der();
        let _ = r.to_json();
    }
});
