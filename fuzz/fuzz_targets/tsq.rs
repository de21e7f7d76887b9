//! RFC 3161 TimeStampReq parsing (`tsp::parse_request`, what `serve`'s `POST /tsa` runs on
//! every body) and the rejection it encodes (`Rejection::to_der`).
#![no_main]

use ca_core::tsp::{TsaPolicy, parse_request};
use der::Encode;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let policy = TsaPolicy {
        policy: der::oid::ObjectIdentifier::new_unwrap("1.2.392.200149.8.5.5.11"),
    };
    match parse_request(data, &policy) {
        Ok(accepted) => {
            // What the token echoes must encode again.
            let _ = accepted.request.message_imprint.to_der();
            let _ = accepted.request.nonce.as_ref().map(|n| n.to_der());
        }
        Err(rejection) => {
            let _ = rejection.to_der();
        }
    }
});
