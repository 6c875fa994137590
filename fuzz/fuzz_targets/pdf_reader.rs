//! The PDF reader, verifier and signing update on hostile files: whatever
//! the bytes, opening, listing pages, verifying every signature (with no
//! trust anchor) and preparing a signature's update return a result and
//! never panic or loop.
#![no_main]

use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use asan_host::cms::VerifyOptions;
use asan_host::pdf::{PdfFile, SignatureFields, prepare, verify_file};
use asan_host::pki::TrustAnchors;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(pdf) = PdfFile::from_bytes(data.to_vec()) else {
        return;
    };
    let last = pdf.sections.len() - 1;
    let _ = pdf.pages(last);
    let at = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let _ = verify_file(&pdf, Path::new("fuzz.pdf"), &TrustAnchors::default(), &VerifyOptions::at(at));
    let fields = SignatureFields {
        signer: "Fuzz".into(),
        time: at,
        reason: None,
        location: None,
        visible: None,
        reserve: 16,
    };
    if let Ok(mut prepared) = prepare(&pdf, &fields) {
        let _ = prepared.fill(&[0x30, 0x00]);
    }
});
