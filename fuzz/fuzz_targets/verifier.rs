//! The verifier on hostile input: CMS messages, certificates, CRLs and
//! trust anchors as a relying party receives them. Nothing may panic.
//!
//! Input: a mode byte, then length-prefixed parts (two bytes, big endian):
//! the trust anchor, the message or certificate to check, then any number
//! of further certificates and CRLs.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use asan_host::cms::{VerifyOptions, verify_with};
use asan_host::pki::{Crl, Purpose, TrustAnchors, ValidationOptions, validate};
use libfuzzer_sys::fuzz_target;

fn parts(mut data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while data.len() >= 2 {
        let len = usize::from(u16::from_be_bytes([data[0], data[1]]));
        let rest = &data[2..];
        let take = len.min(rest.len());
        out.push(&rest[..take]);
        data = &rest[take..];
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let parts = parts(rest);
    let (Some(anchor), Some(subject)) = (parts.first(), parts.get(1)) else {
        return;
    };
    let Ok(anchors) = TrustAnchors::from_der(&[anchor.to_vec()], "fuzz") else {
        return;
    };
    let extra: Vec<Vec<u8>> = parts.iter().skip(2).map(|p| p.to_vec()).collect();
    let crls: Vec<Crl> = extra
        .iter()
        .filter_map(|d| Crl::from_der(d, "fuzz").ok())
        .collect();
    // A fixed time inside the seeds' validity (2026-12-01).
    let at = UNIX_EPOCH + Duration::from_secs(1_796_083_200);
    let purpose = match mode % 3 {
        0 => Purpose::Sign,
        1 => Purpose::Auth,
        _ => Purpose::Any,
    };
    if mode & 0x80 == 0 {
        let opts = ValidationOptions {
            at,
            purpose,
            crls,
            require_crl: mode & 0x40 != 0,
        };
        if let Ok(v) = validate(subject, &extra, &anchors, &opts) {
            assert_eq!(v.valid, v.checks.iter().all(|c| c.ok));
        }
    } else {
        let mut opts = VerifyOptions::at(at);
        opts.crls = crls;
        opts.extra_certificates = extra;
        opts.cades = mode & 0x40 != 0;
        if let Ok(v) = verify_with(subject, None, &anchors, &opts) {
            assert_eq!(v.valid, v.checks.iter().all(|c| c.ok));
            assert_eq!(v.signer_certificate().is_some(), v.valid);
        }
    }
});
