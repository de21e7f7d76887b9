//! CMS SignedData: `cms::parse` and `parse_input` (PEM/DER), the per-signer check of every
//! SignerInfo, the end-to-end `cms::verify` (no anchors, no revocation fetching), and
//! `add_unsigned_attribute` (the re-encoder that adds a time-stamp token).
#![no_main]

use ca_core::cms;
use ca_core::revocation::RevocationChecker;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = cms::parse_input(data);
    if let Ok(sd) = cms::parse(data) {
        let content = sd.content.clone().unwrap_or_default();
        for si in &sd.signer_infos {
            let _ = cms::signer::check(&sd, si, &content, &[]);
        }
        let _ = cms::add_unsigned_attribute(data, cms::oids::SIGNATURE_TIME_STAMP_TOKEN, &[5, 0]);
    }
    let opts = cms::VerifyOptions::default();
    let checker = RevocationChecker::new();
    let _ = cms::verify(data, None, &opts, &checker);
    let _ = cms::verify(data, Some(b"detached"), &opts, &checker);
});
