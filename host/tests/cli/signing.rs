//! `asan auth` and `asan sign`: signatures that verify with the card's keys,
//! the certificates and openssl; refusals.

use serde_json::Value;

use crate::checks::{hex_bytes, line, pem_to_der, sha256, verifies};
use crate::common::certificate_key;
use crate::harness::{Image, PIN1, PIN2, asan, operator, read_public_key, with_card};

#[test]
fn auth_signs_a_digest_with_the_authentication_key() {
    let image = Image::with_certificates();
    for (len, upper) in [(20, false), (32, true), (48, false), (64, false)] {
        let mut digest_hex = hex_bytes(len, len as u8);
        if upper {
            digest_hex = digest_hex.to_uppercase();
        }
        let digest = hex::decode(&digest_hex).unwrap();
        let out = asan(image.arg())
            .args(&["auth", "--digest", &digest_hex])
            .env("ASAN_PIN1", PIN1)
            .run();
        let text = out.ok();
        // The signature, then the authentication certificate (PEM).
        let sig = text.lines().next().unwrap_or("");
        assert!(text.contains("-----BEGIN CERTIFICATE-----"), "{text}");
        assert_eq!(out.stderr, "");
        assert!(verifies(&image.auth_key, &digest, sig), "{len}-byte digest");
        assert!(
            !verifies(&image.sign_key, &digest, sig),
            "not the signing key"
        );
    }
    // PIN1 from stdin.
    let digest = sha256(b"stdin");
    let out = asan(image.arg())
        .args(&["auth", "--digest", &hex::encode(&digest)])
        .stdin(&format!("{PIN1}\n"))
        .run();
    assert!(verifies(
        &image.auth_key,
        &digest,
        out.ok().lines().next().unwrap_or("")
    ));
}

#[test]
fn auth_challenge_signs_the_sha256_of_the_text() {
    let image = Image::personalised();
    let text = "login to e-gov.az, nonce 8c1f 2a";
    let out = asan(image.arg())
        .args(&["auth", "--challenge", text])
        .env("ASAN_PIN1", PIN1)
        .run();
    assert!(verifies(
        &image.auth_key,
        &sha256(text.as_bytes()),
        out.ok()
    ));
    // Without a certificate, --json says so with null.
    let v = asan(image.arg())
        .args(&["auth", "--challenge", text, "--json"])
        .env("ASAN_PIN1", PIN1)
        .run()
        .json();
    assert_eq!(v["certificate"], Value::Null);
    assert_eq!(v["digest"], hex::encode(sha256(text.as_bytes())));
}

#[test]
fn auth_json_includes_the_certificate_and_its_key_verifies() {
    let image = Image::with_certificates();
    let text = "challenge 17";
    let v = asan(image.arg())
        .args(&["--json", "auth", "--challenge", text])
        .stdin(&format!("{PIN1}\n"))
        .run()
        .json();
    assert_eq!(v["profile"], "citizen");
    let digest = sha256(text.as_bytes());
    assert_eq!(v["digest"], hex::encode(&digest));
    let signature = v["signature"].as_str().unwrap();
    let pem = v["certificate"].as_str().unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----\n"), "{pem}");
    let der = pem_to_der(&image, pem);
    assert_eq!(der, std::fs::read(image.file("auth.der")).unwrap());
    let key = certificate_key(&der);
    assert_eq!(key, image.auth_key);
    assert!(verifies(&key, &digest, signature));
}

#[test]
fn auth_usage_errors_and_wrong_pin() {
    let image = Image::personalised();
    for (digest, needle) in [
        (hex_bytes(19, 1), "20 to 64 bytes, not 19"),
        (hex_bytes(65, 1), "20 to 64 bytes, not 65"),
        (String::new(), "20 to 64 bytes"),
        ("xyz".into(), "not hex"),
        ("abc".into(), "not hex"),
    ] {
        asan(image.arg())
            .args(&["auth", "--digest", &digest])
            .env("ASAN_PIN1", PIN1)
            .run()
            .fails(2, needle);
    }
    asan(image.arg())
        .args(&["auth", "--digest", &hex_bytes(32, 1), "--challenge", "x"])
        .env("ASAN_PIN1", PIN1)
        .run()
        .usage_error();
    asan(image.arg())
        .cmd("auth")
        .env("ASAN_PIN1", PIN1)
        .run()
        .usage_error();
    asan(image.arg())
        .cmd("auth --challenge x --profile nobody")
        .env("ASAN_PIN1", PIN1)
        .run()
        .usage_error();
    assert_eq!(image.tries(), [3, 3, 10]);
    let out = asan(image.arg())
        .cmd("auth --challenge x")
        .env("ASAN_PIN1", "0000")
        .run();
    assert_eq!(out.fails(3, "wrong PIN1"), "asan: wrong PIN1, 2 tries left");
}

// ---------------------------------------------------------------------------
// asan sign
// ---------------------------------------------------------------------------

#[test]
fn sign_digest_verifies_with_the_card_key_and_the_certificate() {
    let image = Image::with_certificates();
    let digest = sha256(b"a document");
    let out = asan(image.arg())
        .args(&["sign", "--digest", &hex::encode(&digest)])
        .env("ASAN_PIN2", PIN2)
        .run();
    let sig = out.ok().trim_end().to_owned();
    assert_eq!(out.ok(), format!("{sig}\n"), "one line of hex");
    assert_eq!(sig.len(), 128);
    assert_eq!(out.stderr, "");
    assert!(verifies(&image.sign_key, &digest, &sig));
    assert!(!verifies(&image.auth_key, &digest, &sig));
    let cert_key = certificate_key(&std::fs::read(image.file("sign.der")).unwrap());
    assert!(verifies(&cert_key, &digest, &sig));

    // --json, PIN2 from stdin, explicit --profile citizen.
    let v = asan(image.arg())
        .args(&[
            "sign",
            "--json",
            "--profile",
            "citizen",
            "--digest",
            &hex::encode(&digest),
        ])
        .stdin(&format!("{PIN2}\n"))
        .run()
        .json();
    assert_eq!(v["profile"], "citizen");
    assert_eq!(v["digest"], hex::encode(&digest));
    assert!(verifies(
        &cert_key,
        &digest,
        v["signature"].as_str().unwrap()
    ));
    assert_eq!(image.tries(), [3, 3, 10]);
}

#[test]
fn signatures_verify_with_openssl_and_the_certificate_read_by_the_cli() {
    // An independent verifier: openssl, with the public key of the
    // certificate that `asan cert read --pem` wrote, over the message itself.
    let image = Image::with_certificates();
    for (usage, command, pin) in [
        ("sign", "sign --digest", ("ASAN_PIN2", PIN2)),
        ("auth", "auth --challenge", ("ASAN_PIN1", PIN1)),
    ] {
        let message = format!("message for {usage}");
        std::fs::write(image.file("message.txt"), &message).unwrap();
        let arg = if usage == "sign" {
            hex::encode(sha256(message.as_bytes()))
        } else {
            message.clone()
        };
        let out = asan(image.arg())
            .cmd(command)
            .args(&[&arg])
            .env(pin.0, pin.1)
            .run();
        let sig = out.ok().lines().next().unwrap_or("").trim();
        let pem = image.file(&format!("{usage}.pem"));
        asan(image.arg())
            .cmd(&format!(
                "cert read --profile citizen --usage {usage} --pem -o"
            ))
            .args(&[pem.to_str().unwrap()])
            .run()
            .ok();
        std::fs::write(
            image.file("sig.cnf"),
            format!(
                "asn1=SEQUENCE:sig\n[sig]\nr=INTEGER:0x{}\ns=INTEGER:0x{}\n",
                &sig[..64],
                &sig[64..]
            ),
        )
        .unwrap();
        image.openssl("asn1parse -genconf sig.cnf -noout -out sig.der", &[]);
        image.openssl(
            "x509 -pubkey -noout -out pub.pem -in",
            &[pem.to_str().unwrap()],
        );
        image.openssl(
            "dgst -sha256 -verify pub.pem -signature sig.der message.txt",
            &[],
        );
    }
}

#[test]
fn sign_needs_a_32_byte_hex_digest() {
    let image = Image::personalised();
    for (digest, needle) in [
        (hex_bytes(31, 3), "32 bytes, not 31"),
        (hex_bytes(33, 3), "32 bytes, not 33"),
        (hex_bytes(20, 3), "32 bytes, not 20"),
        (hex_bytes(64, 3), "32 bytes, not 64"),
        (String::new(), "32 bytes, not 0"),
        (format!("{}zz", hex_bytes(31, 3)), "not hex"),
    ] {
        asan(image.arg())
            .args(&["sign", "--digest", &digest])
            .env("ASAN_PIN2", PIN2)
            .run()
            .fails(2, needle);
    }
    asan(image.arg())
        .cmd("sign")
        .env("ASAN_PIN2", PIN2)
        .run()
        .usage_error();
    asan(image.arg())
        .args(&[
            "sign",
            "--digest",
            &hex_bytes(32, 3),
            "--profile",
            "private",
        ])
        .env("ASAN_PIN2", PIN2)
        .run()
        .usage_error();
    assert_eq!(image.tries(), [3, 3, 10]);
    let out = asan(image.arg())
        .args(&["sign", "--digest", &hex_bytes(32, 3)])
        .env("ASAN_PIN2", "54321")
        .run();
    assert_eq!(out.fails(3, "wrong PIN2"), "asan: wrong PIN2, 2 tries left");
}

#[test]
fn sign_with_a_profile_the_citizen_card_does_not_have() {
    let image = Image::personalised();
    let digest = hex::encode(sha256(b"business letter"));
    for profile in ["business", "government"] {
        let out = asan(image.arg())
            .args(&["sign", "--profile", profile, "--digest", &digest])
            .env("ASAN_PIN2", PIN2)
            .run();
        // A clear message: which profile, not a bare command name.
        let msg = out.fails(1, profile).to_owned();
        assert!(!msg.ends_with("MSE: SET"), "{msg}");
        let out = asan(image.arg())
            .args(&["auth", "--profile", profile, "--challenge", "x"])
            .env("ASAN_PIN1", PIN1)
            .run();
        out.fails(1, profile);
    }
    assert_eq!(image.tries(), [3, 3, 10], "no PIN try spent");
}

#[test]
fn business_keys_on_a_business_card() {
    let image = Image::personalised();
    operator(
        &image.path,
        &[
            ([0x80, 0x47, 0x80, 0x12], vec![]),
            ([0x80, 0x47, 0x80, 0x22], vec![]),
            ([0x80, 0xDA, 0x00, 0x43], vec![2, 1]),
        ],
    );
    let (auth, sign) = with_card(&image.path, |tx| {
        (read_public_key(tx, 0x12), read_public_key(tx, 0x22))
    });
    let text = asan(image.arg()).cmd("info").run().ok().to_owned();
    assert!(
        line(&text, "Service").ends_with("business, active"),
        "{text}"
    );
    assert_eq!(
        asan(image.arg()).cmd("info --json").run().json()["service"]["type"],
        "business"
    );

    let digest = sha256(b"invoice 42");
    let out = asan(image.arg())
        .args(&[
            "sign",
            "--profile",
            "business",
            "--digest",
            &hex::encode(&digest),
        ])
        .env("ASAN_PIN2", PIN2)
        .run();
    assert!(verifies(&sign, &digest, out.ok()));
    assert!(!verifies(&image.sign_key, &digest, out.ok()));
    // The citizen key is still the default.
    let out = asan(image.arg())
        .args(&["sign", "--digest", &hex::encode(&digest)])
        .env("ASAN_PIN2", PIN2)
        .run();
    assert!(verifies(&image.sign_key, &digest, out.ok()));
    let out = asan(image.arg())
        .cmd("auth --profile business --challenge portal")
        .env("ASAN_PIN1", PIN1)
        .run();
    assert!(verifies(&auth, &sha256(b"portal"), out.ok()));
    let v = asan(image.arg())
        .cmd("auth --profile business --challenge portal --json")
        .env("ASAN_PIN1", PIN1)
        .run()
        .json();
    assert_eq!(v["profile"], "business");
}

#[test]
fn a_suspended_service_refuses_to_sign() {
    let image = Image::personalised();
    operator(&image.path, &[([0x80, 0xDA, 0x00, 0x43], vec![1, 0])]);
    let text = asan(image.arg()).cmd("info").run().ok().to_owned();
    assert!(
        line(&text, "Service").ends_with("citizen, suspended"),
        "{text}"
    );
    assert_eq!(
        asan(image.arg()).cmd("--json info").run().json()["service"]["active"],
        false
    );
    asan(image.arg())
        .args(&["sign", "--digest", &hex_bytes(32, 9)])
        .env("ASAN_PIN2", PIN2)
        .run()
        .fails(1, "suspended");
    asan(image.arg())
        .cmd("auth --challenge x")
        .env("ASAN_PIN1", PIN1)
        .run()
        .fails(1, "suspended");
}

#[test]
fn a_card_not_yet_personalised_refuses_to_sign() {
    let image = Image::fresh();
    asan(image.arg())
        .args(&["sign", "--digest", &hex_bytes(32, 9)])
        .env("ASAN_PIN2", PIN2)
        .run()
        .fails(1, "the card refuses");
    asan(image.arg())
        .cmd("pin verify pin1")
        .env("ASAN_PIN1", PIN1)
        .run()
        .fails(1, "");
}

#[test]
fn several_files_take_one_pin2_entry_and_no_signature_file_is_replaced_without_force() {
    let image = Image::with_certificates();
    let files: Vec<String> = ["one.txt", "two.txt", "three.txt"]
        .iter()
        .map(|n| {
            let p = image.file(n);
            std::fs::write(&p, format!("the document {n}")).unwrap();
            p.to_str().unwrap().to_owned()
        })
        .collect();
    let args: Vec<&str> = files.iter().map(String::as_str).collect();
    let before = image.tries();
    let out = asan(image.arg())
        .args(&["--json", "sign"])
        .args(&args)
        .env("ASAN_PIN2", PIN2)
        .run();
    let v = out.json();
    let signed = v["files"].as_array().unwrap();
    assert_eq!(signed.len(), 3, "{v}");
    for (entry, file) in signed.iter().zip(&files) {
        assert_eq!(entry["file"], file.as_str());
        let p7s = format!("{file}.p7s");
        assert_eq!(entry["signature_file"], p7s.as_str());
        // openssl verifies each detached signature over its own file.
        image.openssl(
            "cms -verify -binary -inform DER -purpose any -noverify -out /dev/null -content",
            &[file, "-in", &p7s],
        );
    }
    assert_eq!(image.tries(), before, "no PIN try spent");

    // The signature files exist now: refused before the card is asked.
    let first = std::fs::read(format!("{}.p7s", files[0])).unwrap();
    let out = asan(image.arg())
        .args(&["sign"])
        .args(&args)
        .env("ASAN_PIN2", "00000")
        .run();
    out.fails(2, "exists; give --force to replace it");
    assert_eq!(image.tries(), before, "a refused output costs no PIN try");
    assert_eq!(std::fs::read(format!("{}.p7s", files[0])).unwrap(), first);
    // With --force they are replaced (new signatures: ECDSA is randomised).
    asan(image.arg())
        .args(&["sign", "--force"])
        .args(&args)
        .env("ASAN_PIN2", PIN2)
        .run()
        .ok();
    assert_ne!(std::fs::read(format!("{}.p7s", files[0])).unwrap(), first);
    // -o names the output of one file only.
    asan(image.arg())
        .args(&["sign", "-o", "x.p7s"])
        .args(&args)
        .env("ASAN_PIN2", PIN2)
        .run()
        .fails(2, "-o names the output of one file");
}
