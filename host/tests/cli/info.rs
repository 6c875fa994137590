//! `asan readers` and `asan info`, human-readable and JSON.

use serde_json::Value;

use crate::checks::{line, now, openssl_dates, unix_seconds};
use crate::harness::{
    BROKEN, BUSINESS_AUTH, BUSINESS_SIGN, CITIZEN_AUTH, CITIZEN_SIGN, GOVERNMENT_AUTH,
    GOVERNMENT_SIGN, Image, asan, asan_bare, write_certificates,
};
use crate::operator;

#[test]
fn readers_lists_the_virtual_card() {
    let image = Image::personalised();
    let out = asan(image.arg()).cmd("readers").run();
    assert_eq!(
        out.ok(),
        format!("virtual card {}: Asan İmza card\n", image.path.display())
    );
    assert_eq!(out.stderr, "");

    let v = asan(image.arg()).cmd("--json readers").run().json();
    let readers = v["readers"].as_array().unwrap();
    assert_eq!(readers.len(), 1, "{v}");
    let r = &readers[0];
    assert_eq!(r["name"], format!("virtual card {}", image.path.display()));
    assert_eq!(r["card_present"], true);
    assert_eq!(r["asan_imza"], true);
    assert_eq!(r["atr"], hex::encode_upper(asan_vcard::atr::ATR));

    // A factory-fresh card answers SELECT too.
    let fresh = Image::fresh();
    assert!(
        asan(fresh.arg())
            .cmd("readers")
            .run()
            .ok()
            .ends_with(": Asan İmza card\n")
    );
}

#[test]
fn readers_reports_why_an_image_cannot_be_used() {
    // Spec: a corrupt image is an error (exit 1) with the image's message,
    // not a card "without the Asan İmza applet".
    let image = Image::absent();
    std::fs::write(&image.path, b"not a card image").unwrap();
    asan(image.arg())
        .cmd("readers")
        .run()
        .fails(1, "is not an asan-vcard image");
    // An image that is not there is not made (a typo must not become a
    // blank card): a usage error naming it.
    let missing = image.file("nowhere/card.img");
    asan(&missing).cmd("readers").run().fails(2, "nowhere");
}

// ---------------------------------------------------------------------------
// asan info
// ---------------------------------------------------------------------------

/// A card with the citizen certificates, a broken certificate (business
/// auth) and an expired one (government sign).
fn info_image() -> Image {
    let image = Image::with_certificates();
    let expired = image.issue("expired", None, "-1");
    write_certificates(
        &image.path,
        &[(BUSINESS_AUTH, BROKEN.to_vec()), (GOVERNMENT_SIGN, expired)],
    );
    image
}

#[test]
fn info_human_readable() {
    let image = info_image();
    let auth_der = std::fs::read(image.file("auth.der")).unwrap();
    let (not_before, not_after) = openssl_dates(&image, &auth_der);
    let before = now();
    let out = asan(image.arg()).cmd("info").run();
    let after = now();
    let text = out.ok();
    assert_eq!(out.stderr, "", "a broken certificate is not an error");

    assert!(
        line(text, "Card").contains(&image.path.display().to_string()),
        "{text}"
    );
    let serial = line(text, "Serial").split_whitespace().nth(1).unwrap();
    assert_eq!(serial.len(), 16, "{text}");
    assert!(serial.chars().all(|c| c.is_ascii_hexdigit()), "{text}");
    assert!(line(text, "Life cycle").ends_with("operational"), "{text}");
    assert!(line(text, "Service").ends_with("citizen, active"), "{text}");
    assert!(line(text, "PIN1").ends_with("3 of 3 tries left"), "{text}");
    assert!(line(text, "PIN2").ends_with("3 of 3 tries left"), "{text}");
    assert!(line(text, "PUK").ends_with("10 of 10 tries left"), "{text}");

    // Certificates: profile, usage, subject, issuer, validity, days left.
    let certs = &text[text.find("Certificates").unwrap()..];
    assert_eq!(
        line(certs, "  citizen auth:"),
        "  citizen auth: SERIALNUMBER=7GH2K4P,CN=Test Citizen"
    );
    assert!(line(certs, "  citizen sign:").ends_with("SERIALNUMBER=7GH2K4P,CN=Test Citizen"));
    let auth_block = &certs[certs.find("  citizen auth:").unwrap()..];
    assert_eq!(
        line(auth_block, "    issuer")
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["issuer", "CN=Test", "Asan", "CA"]
    );
    let valid = line(auth_block, "    valid");
    assert!(
        valid.contains(&format!("{not_before} to {not_after}")),
        "{valid} vs openssl {not_before} / {not_after}"
    );
    let days: Vec<String> = [before, after]
        .iter()
        .map(|t| {
            format!(
                "({} days left)",
                (unix_seconds(&not_after) - t).div_euclid(86_400)
            )
        })
        .collect();
    assert!(
        days.iter().any(|d| valid.ends_with(d.as_str())),
        "{valid}, expected {days:?}"
    );

    // The broken certificate is reported with its cause.
    let broken = line(certs, "  business auth:");
    assert!(
        broken.contains("certificate problem: not a valid X.509 certificate"),
        "{broken}"
    );
    // The expired one says so.
    let gov = &certs[certs.find("  government sign:").unwrap()..];
    assert!(line(gov, "    valid").ends_with("(expired)"), "{gov}");
}

#[test]
fn info_json_has_every_key_of_the_spec() {
    let image = info_image();
    let human = asan(image.arg()).cmd("info").run();
    let v = asan(image.arg()).cmd("info --json").run().json();

    let serial = v["serial"].as_str().unwrap();
    assert_eq!(
        line(human.ok(), "Serial").split_whitespace().nth(1),
        Some(serial)
    );
    assert_eq!(v["life_cycle"], "operational");
    assert_eq!(v["service"]["type"], "citizen");
    assert_eq!(v["service"]["active"], true);
    for (pin, max) in [("pin1", 3), ("pin2", 3), ("puk", 10)] {
        assert_eq!(v["pins"][pin]["tries_left"], max, "{pin}: {v}");
        assert_eq!(v["pins"][pin]["max_tries"], max, "{pin}: {v}");
    }

    let certs = v["certificates"].as_array().unwrap();
    assert_eq!(certs.len(), 4, "{v}");
    let find = |profile: &str, usage: &str| {
        certs
            .iter()
            .find(|c| c["profile"] == profile && c["usage"] == usage)
            .unwrap_or_else(|| panic!("no {profile} {usage} in {v}"))
    };
    for (usage, file) in [("auth", "auth.der"), ("sign", "sign.der")] {
        let c = find("citizen", usage);
        let der = std::fs::read(image.file(file)).unwrap();
        let (not_before, not_after) = openssl_dates(&image, &der);
        assert_eq!(c["subject"], "SERIALNUMBER=7GH2K4P,CN=Test Citizen", "{c}");
        assert_eq!(c["issuer"], "CN=Test Asan CA", "{c}");
        assert_eq!(c["not_before"], not_before.as_str(), "{c}");
        assert_eq!(c["not_after"], not_after.as_str(), "{c}");
        let left = (unix_seconds(&not_after) - now()).div_euclid(86_400);
        let days = c["days_left"].as_i64().unwrap();
        assert!(
            (left..=left + 1).contains(&days),
            "{c}: days_left {days}, expected {left}"
        );
        assert!((1093..=1095).contains(&days), "{c}");
        assert!(c.get("error").is_none(), "{c}");
    }
    let broken = find("business", "auth");
    assert!(
        broken["error"]
            .as_str()
            .unwrap()
            .starts_with("certificate problem: not a valid X.509 certificate"),
        "{broken}"
    );
    let expired = find("government", "sign");
    assert!(expired["days_left"].as_i64().unwrap() < 0, "{expired}");
}

#[test]
fn info_of_a_factory_fresh_card() {
    let image = Image::fresh();
    let text = asan(image.arg()).cmd("info").run().ok().to_owned();
    assert!(
        line(&text, "Life cycle").ends_with("initialisation"),
        "{text}"
    );
    assert!(line(&text, "Service").ends_with("not set"), "{text}");
    assert!(line(&text, "PIN1").ends_with("not set"), "{text}");
    assert!(line(&text, "Certificates").ends_with("none"), "{text}");
    let v = asan(image.arg()).cmd("--json info").run().json();
    assert_eq!(v["life_cycle"], "initialisation");
    assert_eq!(v["service"], Value::Null);
    assert_eq!(v["certificates"], serde_json::json!([]));
    assert_eq!(v["pins"]["pin1"]["set"], false);
}

#[test]
fn info_survives_hostile_certificate_files() {
    let image = Image::personalised();
    // The card only takes a well-framed outer SEQUENCE; inside anything goes.
    let real = image.issue("real", None, "30");
    let mut bad_tag = real.clone();
    bad_tag[4] = 0x31; // tbsCertificate is a SET now
    let mut bad_len = real.clone();
    bad_len[6] = bad_len[6].wrapping_add(1); // tbsCertificate one byte longer
    let mut filler = vec![0x30, 0x81, 0x80];
    filler.extend_from_slice(&[0xFF; 128]);
    write_certificates(
        &image.path,
        &[
            (CITIZEN_AUTH, vec![0x30, 0x00]),
            (CITIZEN_SIGN, operator::certificate(4096, 0xC7)),
            (BUSINESS_AUTH, filler),
            (BUSINESS_SIGN, bad_tag),
            (GOVERNMENT_AUTH, bad_len),
            (GOVERNMENT_SIGN, BROKEN.to_vec()),
        ],
    );
    let out = asan(image.arg()).cmd("info").run();
    let text = out.ok();
    let certs = &text[text.find("Certificates").unwrap()..];
    assert_eq!(
        certs
            .lines()
            .filter(|l| l.contains("certificate problem"))
            .count(),
        6,
        "{text}"
    );
    let v = asan(image.arg()).cmd("info --json").run().json();
    let certs = v["certificates"].as_array().unwrap();
    assert_eq!(certs.len(), 6);
    assert!(certs.iter().all(|c| c["error"].is_string()), "{v}");
    for (profile, usage) in [
        ("citizen", "auth"),
        ("citizen", "sign"),
        ("business", "auth"),
    ] {
        asan(image.arg())
            .args(&["cert", "read", "--profile", profile, "--usage", usage])
            .run()
            .fails(1, "certificate problem");
    }
}

#[test]
fn info_of_a_certificate_valid_past_2049() {
    // After 2049 X.509 dates are GeneralizedTime, not UTCTime.
    let image = Image::personalised();
    let der = image.issue("century", Some(&image.sign_key), "36500");
    write_certificates(&image.path, &[(CITIZEN_SIGN, der.clone())]);
    let (not_before, not_after) = openssl_dates(&image, &der);
    let v = asan(image.arg()).cmd("info --json").run().json();
    let c = &v["certificates"][0];
    assert_eq!(c["not_before"], not_before.as_str(), "{c}");
    assert_eq!(c["not_after"], not_after.as_str(), "{c}");
    let left = (unix_seconds(&not_after) - now()).div_euclid(86_400);
    let days = c["days_left"].as_i64().unwrap();
    assert!((left..=left + 1).contains(&days) && days > 36_000, "{c}");
    // The text comes from a later run: the certificate was issued for a
    // whole number of days, so a second may have taken one day off.
    let text = asan(image.arg()).cmd("info").run().ok().to_owned();
    assert!(
        text.contains(&format!("({days} days left)"))
            || text.contains(&format!("({} days left)", days - 1)),
        "{days}: {text}"
    );
}

#[test]
fn subjects_name_the_organisation_identifier() {
    // A Business card from the development CA: its subject carries the
    // VÖEN as organizationIdentifier, which is printed by name.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    asan_bare()
        .args(&["ca", "init", &format!("{d}/ca")])
        .run()
        .ok();
    let image = format!("{d}/biz.img");
    asan_bare()
        .args(&[
            "provision",
            "--virtual",
            &image,
            "--service",
            "business",
            "--ca",
            &format!("{d}/ca"),
            "--mailer",
            &format!("{d}/pins.jsonl"),
            "--voen",
            "1234567890",
            "--org",
            "ASAN LLC",
            "--name",
            "Ali Valiyev",
            "--id",
            "6XKQ2P1",
        ])
        .run()
        .ok();
    for args in [&["info"][..], &["--json", "info"][..]] {
        let out = asan_bare().args(&["--virtual", &image]).args(args).run();
        let text = out.ok();
        assert!(
            text.contains("organizationIdentifier=VOEN-1234567890,SERIALNUMBER=6XKQ2P1"),
            "{text}"
        );
        assert!(!text.contains("2.5.4.97"), "{text}");
    }
}
