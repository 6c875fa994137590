//! Checks of what provisioning printed and left: PINs in the output,
//! certificates and signatures, file modes, fresh cards, APDU counts.

use std::collections::HashSet;
use std::path::Path;

use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::ecdsa::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::common::certificate_key;
use crate::common::run::Out;
use crate::lab::Lab;

/// The words of `text` (runs of letters and digits): a PIN printed anywhere
/// in an output would be one of them, while digits that merely occur inside
/// a hex string do not count.
pub fn words(text: &str) -> HashSet<&str> {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect()
}

pub fn assert_no_secret(out: &Out, secrets: &[&str]) {
    for secret in secrets {
        for (stream, text) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            assert!(
                !words(text).contains(secret),
                "asan {:?} printed a PIN on {stream}: {out:#?}",
                out.args
            );
        }
    }
}

pub fn digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
}

/// SHA-256 of `text`, hex.
pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Whether `signature_hex` (raw r‖s) signs `digest_hex` under the
/// certificate's key.
pub fn verifies(der: &[u8], digest_hex: &str, signature_hex: &str) -> bool {
    let key = VerifyingKey::from_sec1_bytes(&certificate_key(der)).unwrap();
    let sig = Signature::from_slice(&hex::decode(signature_hex.trim()).unwrap()).unwrap();
    key.verify_prehash(&hex::decode(digest_hex).unwrap(), &sig)
        .is_ok()
}

/// The subject as openssl prints it (RFC 2253, UTF-8 kept).
pub fn openssl_subject(lab: &Lab, pem: &str) -> String {
    lab.openssl(&[
        "x509",
        "-in",
        pem,
        "-noout",
        "-subject",
        "-nameopt",
        "RFC2253,-esc_msb",
    ])
}

/// Reads all the card's certificates of `keys` as DER.
pub fn certificates(lab: &Lab, img: &str, keys: &[(&str, &str)]) -> Vec<Vec<u8>> {
    keys.iter()
        .map(|(p, u)| lab.certificate(img, p, u))
        .collect()
}

pub fn mode(path: &Path) -> u32 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        0o600
    }
}

pub fn assert_fresh(lab: &Lab, img: &str) {
    let info = lab.info(img);
    assert_eq!(info["life_cycle"], "initialisation", "{info:#}");
    for pin in ["pin1", "pin2", "puk"] {
        assert_eq!(info["pins"][pin]["set"], false, "{info:#}");
    }
    assert!(
        info["keys"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["present"] == false),
        "{info:#}"
    );
}

/// The APDUs a `--trace` run sent (lines starting with `asan: >`).
pub fn apdus(stderr: &str) -> usize {
    stderr.lines().filter(|l| l.starts_with("asan: >")).count()
}
