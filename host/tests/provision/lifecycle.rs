//! Service suspension, renewal, termination.

use crate::checks::{assert_no_secret, certificates, sha256_hex, verifies};
use crate::common::certificate_key;
use crate::lab::{BUSINESS_KEYS, Lab, PIN1, PIN2};

#[test]
fn suspended_service_refuses_signatures_until_resumed() {
    let lab = Lab::with_ca();
    lab.provision_with_pins("card.img", "business", &[]).ok();
    let digest = sha256_hex("service");
    lab.sign("card.img", PIN2, "citizen", &digest).ok();

    let out = lab.card(
        "card.img",
        &["service", "set", "business", "suspended"],
        &[],
        None,
    );
    assert!(out.ok().contains("suspended"), "{out:#?}");
    out.says("WARNING");
    let info = lab.info("card.img");
    assert_eq!(info["service"]["type"], "business");
    assert_eq!(info["service"]["active"], false);
    for profile in ["citizen", "business"] {
        lab.sign("card.img", PIN2, profile, &digest)
            .code(1)
            .says("service");
    }
    lab.card(
        "card.img",
        &["auth", "--challenge", "x"],
        &[("ASAN_PIN1", PIN1)],
        None,
    )
    .code(1)
    .says("service");
    // No PIN try was spent on the refusals.
    let info = lab.info("card.img");
    assert_eq!(info["pins"]["pin1"]["tries_left"], 3, "{info:#}");
    assert_eq!(info["pins"]["pin2"]["tries_left"], 3, "{info:#}");

    let out = lab.card(
        "card.img",
        &["--json", "service", "set", "business", "active"],
        &[],
        None,
    );
    assert_eq!(out.json()["ok"], true);
    assert_eq!(lab.info("card.img")["service"]["active"], true);
    for profile in ["citizen", "business"] {
        lab.sign("card.img", PIN2, profile, &digest).ok();
    }
    // Not a state clap knows.
    lab.card(
        "card.img",
        &["service", "set", "business", "paused"],
        &[],
        None,
    )
    .code(2);
}

#[test]
fn renewal_makes_new_citizen_keys_with_the_same_subject() {
    let lab = Lab::with_ca();
    lab.provision_with_pins("card.img", "business", &[]).ok();
    let old_sign = lab.certificate("card.img", "citizen", "sign");
    let old_auth = lab.certificate("card.img", "citizen", "auth");
    let old_business = certificates(&lab, "card.img", &BUSINESS_KEYS[2..]);
    std::fs::write(lab.path("old.der"), &old_sign).unwrap();
    let old_subject = lab.openssl(&[
        "x509",
        "-inform",
        "DER",
        "-in",
        "old.der",
        "-noout",
        "-subject",
        "-nameopt",
        "RFC2253,-esc_msb",
    ]);

    let out = lab.card(
        "card.img",
        &["provision", "renew", "--profile", "citizen", "--ca", "ca"],
        &[("ASAN_PIN1", PIN1), ("ASAN_PIN2", PIN2)],
        None,
    );
    assert!(out.ok().contains("renewed"), "{out:#?}");
    assert_no_secret(&out, &[PIN1, PIN2]);

    let new_sign = lab.certificate("card.img", "citizen", "sign");
    let new_auth = lab.certificate("card.img", "citizen", "auth");
    assert_ne!(certificate_key(&new_sign), certificate_key(&old_sign));
    assert_ne!(certificate_key(&new_auth), certificate_key(&old_auth));
    std::fs::write(lab.path("new.der"), &new_sign).unwrap();
    let new_subject = lab.openssl(&[
        "x509",
        "-inform",
        "DER",
        "-in",
        "new.der",
        "-noout",
        "-subject",
        "-nameopt",
        "RFC2253,-esc_msb",
    ]);
    assert_eq!(new_subject, old_subject);
    lab.openssl(&[
        "x509", "-inform", "DER", "-in", "new.der", "-out", "new.pem",
    ]);
    lab.openssl(&["verify", "-CAfile", "ca/root.pem", "new.pem"]);
    // The business certificates are untouched.
    assert_eq!(
        certificates(&lab, "card.img", &BUSINESS_KEYS[2..]),
        old_business
    );

    // The new key signs; the old certificate no longer verifies it.
    let digest = sha256_hex("after renewal");
    let out = lab.sign("card.img", PIN2, "citizen", &digest);
    assert!(verifies(&new_sign, &digest, out.ok()));
    assert!(!verifies(&old_sign, &digest, out.ok()));
    let out = lab.card(
        "card.img",
        &["auth", "--challenge", "y"],
        &[("ASAN_PIN1", PIN1)],
        None,
    );
    let signature = out.ok().lines().next().unwrap_or("");
    assert!(verifies(&new_auth, &sha256_hex("y"), signature));

    // A profile the service does not have is refused.
    lab.card(
        "card.img",
        &[
            "provision",
            "renew",
            "--profile",
            "government",
            "--ca",
            "ca",
        ],
        &[("ASAN_PIN1", PIN1), ("ASAN_PIN2", PIN2)],
        None,
    )
    .code(1)
    .says("does not include the government profile");
}

#[test]
fn termination_needs_the_serial_or_yes() {
    let lab = Lab::with_ca();
    lab.provision_with_pins("card.img", "citizen", &[]).ok();
    let serial = lab.info("card.img")["serial"].as_str().unwrap().to_owned();

    // A wrong confirmation, and none at all.
    let out = lab.card("card.img", &["terminate"], &[], Some("0000000000000000\n"));
    out.code(2).says("does not match").says(&serial);
    let out = lab.card("card.img", &["terminate"], &[], None);
    out.code(2);
    assert_eq!(lab.info("card.img")["life_cycle"], "operational");

    // The serial typed on stdin.
    let out = lab.card(
        "card.img",
        &["terminate"],
        &[],
        Some(&format!("{serial}\n")),
    );
    assert!(out.ok().contains("terminated"), "{out:#?}");
    let info = lab.info("card.img");
    assert_eq!(info["life_cycle"], "terminated", "{info:#}");
    let digest = sha256_hex("too late");
    lab.sign("card.img", PIN2, "citizen", &digest).code(1);
    lab.card(
        "card.img",
        &["auth", "--challenge", "x"],
        &[("ASAN_PIN1", PIN1)],
        None,
    )
    .code(1);
    let out = lab.card("card.img", &["info"], &[], None);
    assert!(out.ok().contains("terminated"), "{out:#?}");
    // Provisioning skips it; operator commands are refused.
    let out = lab.provision_with_pins("card.img", "citizen", &["--json"]);
    let report = out.json();
    assert_eq!(report["result"], "skipped", "{report:#}");
    assert!(report["error"].as_str().unwrap().contains("terminated"));
    lab.card(
        "card.img",
        &["service", "set", "citizen", "active"],
        &[],
        None,
    )
    .code(1);

    // --yes on a second card.
    lab.provision_with_pins("two.img", "citizen", &[]).ok();
    let out = lab.card("two.img", &["--json", "terminate", "--yes"], &[], None);
    assert_eq!(out.json()["ok"], true);
    assert_eq!(lab.info("two.img")["life_cycle"], "terminated");
    lab.sign("two.img", PIN2, "citizen", &digest).code(1);
}
