//! CRL parsing: `ParsedCrl::parse` (DER) and `parse_pem_or_der`, then the lookups a relying
//! party makes on a parsed CRL.
#![no_main]

use ca_core::crl::ParsedCrl;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for parsed in [ParsedCrl::parse(data), ParsedCrl::parse_pem_or_der(data)]
        .into_iter()
        .flatten()
    {
        let _ = parsed.usable_for_status();
        let _ = parsed.is_delta();
        let _ = parsed.find(&[1]);
        if let Some(e) = parsed.entries.first() {
            let _ = parsed.find(&e.serial);
        }
        let _ = parsed.crl_number.as_ref().map(|n| n.to_u128());
    }
});
