//! Personalisation with generated PINs and the PIN mailer or with PINs from
//! the environment, a development CA, openssl checks; re-runs that skip.

use crate::checks::{
    assert_fresh, assert_no_secret, certificates, digits, mode, openssl_subject, sha256_hex,
    verifies,
};
use crate::lab::{BUSINESS_KEYS, FIN, Lab, NAME, ORG, PIN1, PIN2, PUK, VOEN};

#[test]
fn business_card_with_generated_pins_and_development_ca() {
    let lab = Lab::with_ca();
    let out = lab.provision_business("card.img", "mailer.jsonl", &[]);
    out.ok();
    assert!(out.stdout.contains("personalised"), "{out:#?}");
    // No --keys: a loud warning.
    out.says("WARNING").says("default test keys");

    // The mailer: one JSON line, mode 0600.
    let mailer = lab.mailer("mailer.jsonl");
    assert_eq!(mailer.len(), 1, "{mailer:?}");
    let line = mailer[0].as_object().unwrap();
    let mut fields: Vec<&str> = line.keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(fields, ["pin1", "pin2", "puk", "serial"]);
    let pins = lab.pins("mailer.jsonl", "card.img");
    assert!(digits(&pins.pin1, 4), "{pins:?}");
    assert!(digits(&pins.pin2, 5), "{pins:?}");
    assert!(digits(&pins.puk, 8), "{pins:?}");
    assert_eq!(mode(&lab.path("mailer.jsonl")), 0o600);
    // Nothing secret on stdout or stderr (PUK also as a plain substring).
    assert_no_secret(&out, &[&pins.pin1, &pins.pin2, &pins.puk]);
    assert!(!out.stdout.contains(&pins.puk) && !out.stderr.contains(&pins.puk));

    // The card.
    let info = lab.info("card.img");
    assert_eq!(info["life_cycle"], "operational", "{info:#}");
    assert_eq!(info["service"]["type"], "business");
    assert_eq!(info["service"]["active"], true);
    assert_eq!(info["serial"], pins.serial.as_str());
    let certs = info["certificates"].as_array().unwrap();
    assert_eq!(certs.len(), 4, "{info:#}");
    for c in certs {
        assert!(c.get("error").is_none(), "{c:#}");
        // Three years.
        let days = c["days_left"].as_i64().unwrap();
        assert!((1094..=1096).contains(&days), "{c:#}");
    }
    for pin in ["pin1", "pin2", "puk"] {
        assert_eq!(info["pins"][pin]["set"], true);
    }

    // Each certificate: openssl verify, key usage, subject.
    for (profile, usage) in BUSINESS_KEYS {
        lab.certificate("card.img", profile, usage);
        let der = format!("card.img-{profile}-{usage}.der");
        let pem = format!("{profile}-{usage}.pem");
        lab.openssl(&["x509", "-inform", "DER", "-in", &der, "-out", &pem]);
        let verified = lab.openssl(&["verify", "-CAfile", "ca/root.pem", &pem]);
        assert!(verified.contains(": OK"), "{verified}");
        let text = lab.openssl(&["x509", "-in", &pem, "-text", "-noout"]);
        if usage == "auth" {
            assert!(text.contains("Digital Signature"), "{text}");
            assert!(text.contains("TLS Web Client Authentication"), "{text}");
            assert!(!text.contains("Non Repudiation"), "{text}");
        } else {
            assert!(text.contains("Non Repudiation"), "{text}");
            assert!(!text.contains("Digital Signature"), "{text}");
            assert!(!text.contains("TLS Web Client Authentication"), "{text}");
        }
        assert!(text.contains("CA:FALSE"), "{text}");
        let subject = openssl_subject(&lab, &pem);
        assert!(subject.contains(&format!("CN={NAME}")), "{subject}");
        assert!(
            subject.contains(&format!("serialNumber={FIN}")),
            "{subject}"
        );
        assert!(subject.contains("C=AZ"), "{subject}");
        if profile == "business" {
            assert!(subject.contains(&format!("O={ORG}")), "{subject}");
            assert!(
                subject.contains(&format!("organizationIdentifier=VOEN-{VOEN}")),
                "{subject}"
            );
        } else {
            assert!(!subject.contains("O="), "{subject}");
            assert!(!subject.contains("organizationIdentifier"), "{subject}");
        }
    }

    // The PINs from the mailer work: PIN2 signs (both profiles), PIN1
    // authenticates; the signatures verify with the certificates.
    let digest = sha256_hex("Muqavila 2026-11");
    for profile in ["citizen", "business"] {
        let out = lab.sign("card.img", &pins.pin2, profile, &digest);
        let cert = lab.certificate("card.img", profile, "sign");
        assert!(verifies(&cert, &digest, out.ok()), "{out:#?}");
        assert_no_secret(&out, &[&pins.pin2]);
    }
    let out = lab.card(
        "card.img",
        &["auth", "--challenge", "x"],
        &[("ASAN_PIN1", &pins.pin1)],
        None,
    );
    let cert = lab.certificate("card.img", "citizen", "auth");
    // `asan auth` prints the signature, then the certificate.
    let signature = out.ok().lines().next().unwrap_or("");
    assert!(verifies(&cert, &sha256_hex("x"), signature), "{out:#?}");
}

#[test]
fn provisioning_an_operational_card_again_is_skipped() {
    let lab = Lab::with_ca();
    lab.provision_business("card.img", "mailer.jsonl", &[]).ok();
    let before = lab.info("card.img");
    let certs = certificates(&lab, "card.img", &BUSINESS_KEYS);

    // Text, then JSON.
    let out = lab.provision_business("card.img", "mailer.jsonl", &[]);
    assert!(out.ok().contains("skipped"), "{out:#?}");
    let out = lab.provision_business("card.img", "mailer.jsonl", &["--json"]);
    let report = out.json();
    assert_eq!(report["result"], "skipped", "{report:#}");
    assert_eq!(report["serial"], before["serial"]);
    assert!(report["error"].as_str().unwrap().contains("operational"));
    // A different service on the command line changes nothing either.
    let out = lab.card(
        "card.img",
        &[
            "provision",
            "--service",
            "citizen",
            "--ca",
            "ca",
            "--mailer",
            "mailer.jsonl",
        ],
        &[],
        None,
    );
    assert!(out.ok().contains("skipped"), "{out:#?}");

    let after = lab.info("card.img");
    assert_eq!(after["serial"], before["serial"]);
    assert_eq!(after["service"], before["service"]);
    assert_eq!(after["pins"], before["pins"]);
    assert_eq!(certificates(&lab, "card.img", &BUSINESS_KEYS), certs);
    assert_eq!(lab.mailer("mailer.jsonl").len(), 1, "no second mailer line");
}

#[test]
fn generated_pins_without_mailer_are_refused_and_the_card_is_untouched() {
    let lab = Lab::with_ca();
    // The image is created by this first command.
    lab.info("card.img");
    let image = std::fs::read(lab.path("card.img")).unwrap();
    let out = lab.card(
        "card.img",
        &["provision", "--service", "citizen", "--ca", "ca"],
        &[],
        None,
    );
    out.code(2).says("--mailer");
    assert_eq!(std::fs::read(lab.path("card.img")).unwrap(), image);
    assert_fresh(&lab, "card.img");
}

#[test]
fn pins_from_the_environment_are_the_cards_pins() {
    let lab = Lab::with_ca();
    let out = lab.provision_with_pins("card.img", "citizen", &["--trace", "--level", "03"]);
    out.ok();
    assert_no_secret(&out, &[PIN1, PIN2, PUK]);
    // The trace shows no PIN block, not even hex-encoded.
    for pin in [PIN1, PIN2, PUK] {
        let block = hex::encode_upper(pin.as_bytes());
        assert!(!out.stderr.contains(&block), "PIN {pin} in the trace");
    }
    assert!(out.stderr.contains("***"), "{}", out.stderr);

    let digest = sha256_hex("env pins");
    let out = lab.sign("card.img", PIN2, "citizen", &digest);
    let cert = lab.certificate("card.img", "citizen", "sign");
    assert!(verifies(&cert, &digest, out.ok()));
    let out = lab.card(
        "card.img",
        &["auth", "--challenge", "x"],
        &[("ASAN_PIN1", PIN1)],
        None,
    );
    out.ok();
    // A wrong PIN2 costs a try; the PUK unblocks-and-keeps.
    lab.sign("card.img", "97531", "citizen", &digest)
        .code(3)
        .says("wrong PIN2, 2 tries left");
    lab.card(
        "card.img",
        &["pin", "unblock", "pin2", "--keep"],
        &[("ASAN_PUK", PUK)],
        None,
    )
    .ok();
    assert_eq!(lab.info("card.img")["pins"]["pin2"]["tries_left"], 3);
}
