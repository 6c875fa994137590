//! Independent checks of what the CLI printed (signatures, certificates,
//! validity dates) and small helpers.

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::ecdsa::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::harness::Image;

/// Verifies a raw `r || s` hex signature of `digest` with the P-256 point `key`.
pub fn verifies(key: &[u8], digest: &[u8], signature_hex: &str) -> bool {
    let vk = VerifyingKey::from_sec1_bytes(key).unwrap();
    let bytes = hex::decode(signature_hex.trim()).unwrap();
    assert_eq!(bytes.len(), 64, "a raw P-256 signature: {signature_hex}");
    let sig = Signature::from_slice(&bytes).unwrap();
    vk.verify_prehash(digest, &sig).is_ok()
}

/// PEM → DER with openssl (an independent decoder).
pub fn pem_to_der(image: &Image, pem: &str) -> Vec<u8> {
    std::fs::write(image.file("in.pem"), pem).unwrap();
    image.openssl("x509 -in in.pem -outform DER -out out.der", &[]);
    std::fs::read(image.file("out.der")).unwrap()
}

/// The validity dates openssl reads from a DER certificate, as the CLI
/// prints them (`2029-11-21T18:56:45Z`).
pub fn openssl_dates(image: &Image, der: &[u8]) -> (String, String) {
    std::fs::write(image.file("dates.der"), der).unwrap();
    let out = Command::new("openssl")
        .args(
            "x509 -inform DER -in dates.der -noout -startdate -enddate -dateopt iso_8601"
                .split(' '),
        )
        .current_dir(image.dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("openssl dates: {text}"))
            .replace(' ', "T")
    };
    (field("notBefore="), field("notAfter="))
}

/// Seconds since 1970 of `YYYY-MM-DDTHH:MM:SSZ`.
pub fn unix_seconds(t: &str) -> i64 {
    assert_eq!(t.len(), 20, "RFC 3339 UTC time: {t:?}");
    let n = |r: std::ops::Range<usize>| t[r].parse::<i64>().unwrap();
    let (y, m, d) = (n(0..4), n(5..7), n(8..10));
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + n(11..13) * 3600 + n(14..16) * 60 + n(17..19)
}

pub fn now() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

pub fn sha256(data: &[u8]) -> Vec<u8> {
    Sha256::digest(data).to_vec()
}

/// Hex of `n` bytes counting up from `start`.
pub fn hex_bytes(n: usize, start: u8) -> String {
    hex::encode(
        (0..n)
            .map(|i| start.wrapping_add(i as u8).wrapping_mul(7))
            .collect::<Vec<u8>>(),
    )
}

/// The line of `text` that starts with `prefix`.
pub fn line<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in:\n{text}"))
}
