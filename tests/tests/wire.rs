//! APDUs on the wire: what `asan` sends through pcscd to a card in a vpcd
//! reader, counted in the card's own log (`asan-vcard --verbose`). The
//! contract's minimum with the interference check kept: `sign --digest` 2
//! (SELECT, PSO: CDS with PIN2), `auth --digest` 3 once the reader's card
//! is known (SELECT, VERIFY, INTERNAL AUTHENTICATE; the key and the
//! certificate come from the cache and are confirmed by the signature),
//! `cert read` 3 (SELECT, SELECT EF, READ BINARY). A cache entry for
//! another key costs one GET PUBLIC KEY and the certificate read, never a
//! second signature or an interference warning.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../host/tests/common/run.rs"]
mod run;

use std::path::Path;

use asan_tests::{VirtualReader, asan_binary, reader_for};
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::ecdsa::{Signature, VerifyingKey};
use run::{Asan, Out};

const PORT: u16 = 35965;

fn asan(args: &[&str], env: &[(&str, &str)]) -> Out {
    env.iter()
        .fold(Asan::new(asan_binary()).args(args), |a, (k, v)| a.env(k, v))
        .run()
}

/// The APDUs the card logged after its first `lines` log lines.
fn received_since(reader: &VirtualReader, lines: usize) -> Vec<String> {
    reader
        .log()
        .lines()
        .skip(lines)
        .filter(|l| l.contains(" -> "))
        .map(str::to_owned)
        .collect()
}

/// Runs `asan` on the card in `reader` and returns its output and the
/// APDUs the card received meanwhile.
fn counted(reader: &VirtualReader, args: &[&str], env: &[(&str, &str)]) -> (Out, Vec<String>) {
    let before = reader.log().lines().count();
    let by_reader = ["--reader", reader_for(PORT)];
    let out = asan(&[&by_reader[..], args].concat(), env);
    (out, received_since(reader, before))
}

/// The command headers of the received APDUs, for messages.
fn headers(received: &[String]) -> Vec<&str> {
    received
        .iter()
        .map(|l| l.split(" -> ").next().unwrap_or_default())
        .collect()
}

fn verifies(key_hex: &str, digest: &[u8], signature_hex: &str) -> bool {
    let key = VerifyingKey::from_sec1_bytes(&hex::decode(key_hex).unwrap()).unwrap();
    let sig = Signature::from_slice(&hex::decode(signature_hex.trim()).unwrap()).unwrap();
    key.verify_prehash(digest, &sig).is_ok()
}

#[test]
fn the_fewest_apdus_the_contract_allows() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let image = d.join("card.img");
    let bare = |args: &[&str]| {
        let out = std::process::Command::new(asan_binary())
            .args(args)
            .current_dir(d)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    bare(&["ca", "init", "ca"]);
    bare(&[
        "provision",
        "--virtual",
        "card.img",
        "--service",
        "citizen",
        "--ca",
        "ca",
        "--mailer",
        "pins.jsonl",
    ]);
    let pins: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(d.join("pins.jsonl"))
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    let (pin1, pin2) = (
        pins["pin1"].as_str().unwrap(),
        pins["pin2"].as_str().unwrap(),
    );
    let cache = d.join("cache");
    let cache_dir = cache.to_str().unwrap();
    let reader = VirtualReader::start(PORT, Path::new(&image));
    let digest = [0x5Au8; 32];
    let digest_hex = hex::encode(digest);

    // sign --digest: SELECT and PSO with PIN2.
    let (out, got) = counted(
        &reader,
        &["sign", "--digest", &digest_hex],
        &[("ASAN_PIN2", pin2), ("ASAN_CACHE_DIR", cache_dir)],
    );
    out.ok();
    assert_eq!(got.len(), 2, "{got:#?}");

    // cert read: SELECT, SELECT EF, READ BINARY.
    let cert = d.join("auth.der");
    let (out, got) = counted(
        &reader,
        &[
            "cert",
            "read",
            "--profile",
            "citizen",
            "--usage",
            "auth",
            "-o",
            cert.to_str().unwrap(),
        ],
        &[("ASAN_CACHE_DIR", cache_dir)],
    );
    out.ok();
    assert_eq!(got.len(), 3, "{got:#?}");

    // auth --digest: the first time the key and the certificate are read.
    let env = [("ASAN_PIN1", pin1), ("ASAN_CACHE_DIR", cache_dir)];
    let (first, got) = counted(&reader, &["--json", "auth", "--digest", &digest_hex], &env);
    let first: serde_json::Value = serde_json::from_str(first.ok()).unwrap();
    assert_eq!(got.len(), 6, "{got:#?}");
    let cert_pem = first["certificate"].as_str().unwrap().to_owned();
    // Then: SELECT, VERIFY, INTERNAL AUTHENTICATE, and the same answer.
    let (second, got) = counted(&reader, &["--json", "auth", "--digest", &digest_hex], &env);
    let second: serde_json::Value = serde_json::from_str(second.ok()).unwrap();
    assert_eq!(got.len(), 3, "{:#?}", headers(&got));
    assert!(
        got[0].contains("00 A4 04 00")
            && got[1].contains("00 20 00 81")
            && got[2].contains("00 88 00 00"),
        "{got:#?}"
    );
    assert_eq!(second["certificate"].as_str().unwrap(), cert_pem);
    let key_hex = {
        let der = std::fs::read(&cert).unwrap();
        // The SEC1 point is the last 65 bytes of the SubjectPublicKeyInfo:
        // find it after the id-ecPublicKey / prime256v1 OIDs.
        let oid = [0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];
        let at = der.windows(oid.len()).position(|w| w == oid).unwrap() + oid.len();
        hex::encode(&der[at + 3..at + 3 + 65])
    };
    assert!(verifies(
        &key_hex,
        &digest,
        second["signature"].as_str().unwrap()
    ));

    // A cache that names another key for this reader (another card was
    // here, or new keys): one GET PUBLIC KEY after the signature, no
    // second signature and no warning; the cached certificate is used only
    // because it certifies the key the card then confirms.
    let file = cache.join("cards.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let valid_other = {
        // A real point: the signing key's, from the CA-issued signing certificate on the card.
        let sign_cert = d.join("sign.der");
        asan(
            &[
                "--reader",
                reader_for(PORT),
                "cert",
                "read",
                "--profile",
                "citizen",
                "--usage",
                "sign",
                "-o",
                sign_cert.to_str().unwrap(),
            ],
            &[],
        )
        .ok();
        let der = std::fs::read(&sign_cert).unwrap();
        let oid = [0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];
        let at = der.windows(oid.len()).position(|w| w == oid).unwrap() + oid.len();
        hex::encode(&der[at + 3..at + 3 + 65])
    };
    assert_ne!(valid_other, key_hex);
    v["entries"][0]["public_key"] = serde_json::Value::String(valid_other);
    std::fs::write(&file, serde_json::to_vec(&v).unwrap()).unwrap();
    let (third, got) = counted(&reader, &["--json", "auth", "--digest", &digest_hex], &env);
    assert!(!third.stderr.contains("warning"), "{}", third.stderr);
    let third: serde_json::Value = serde_json::from_str(third.ok()).unwrap();
    assert_eq!(got.len(), 4, "{:#?}", headers(&got));
    assert!(
        got[3].contains("00 47 81 11"),
        "GET PUBLIC KEY after the signature: {got:#?}"
    );
    assert_eq!(third["certificate"].as_str().unwrap(), cert_pem);
    assert!(verifies(
        &key_hex,
        &digest,
        third["signature"].as_str().unwrap()
    ));
    // And the cache is right again.
    let (_, got) = counted(&reader, &["--json", "auth", "--digest", &digest_hex], &env);
    assert_eq!(got.len(), 3, "{got:#?}");

    // ASAN_CACHE_DIR=off: no cache, the key and certificate read each time.
    let (_, got) = counted(
        &reader,
        &["auth", "--digest", &digest_hex],
        &[("ASAN_PIN1", pin1), ("ASAN_CACHE_DIR", "off")],
    );
    assert_eq!(got.len(), 6, "{got:#?}");
    reader.stop();
}
