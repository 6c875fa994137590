//! Defects found while writing these tests (they fail until fixed).

use serde_json::Value;

use crate::checks::{assert_fresh, certificates, sha256_hex};
use crate::lab::{BUSINESS_KEYS, FIN, Lab, NAME, ORG, OTHER_KEYS, PIN1, PIN2, VOEN, pin_env};

/// `provision --service business` without `--voen` exits 2 (a usage error,
/// which promises nothing happened) — but the subject is checked only after
/// the PINs were set, the key pairs generated and the card activated: the
/// card is left operational without certificates.
#[test]
fn business_subject_is_checked_before_the_card_is_activated() {
    let lab = Lab::with_ca();
    let out = lab.card(
        "card.img",
        &[
            "provision",
            "--service",
            "business",
            "--ca",
            "ca",
            "--name",
            NAME,
            "--id",
            FIN,
            "--org",
            ORG,
        ],
        &pin_env(),
        None,
    );
    out.code(2).says("VÖEN");
    assert_fresh(&lab, "card.img");
}

/// `--id`, `--org` and `--voen` without `--name` are silently ignored: the
/// certificates are issued for the development subject "Test Subscriber …"
/// with VÖEN 1234567890 instead of the data the operator typed.
#[test]
fn subject_options_without_name_are_not_replaced_by_a_test_subject() {
    let lab = Lab::with_ca();
    let out = lab.card(
        "card.img",
        &[
            "provision",
            "--service",
            "business",
            "--ca",
            "ca",
            "--id",
            FIN,
            "--org",
            ORG,
            "--voen",
            VOEN,
        ],
        &pin_env(),
        None,
    );
    if out.code == 0 {
        let der = lab.certificate("card.img", "business", "sign");
        std::fs::write(lab.path("b.der"), der).unwrap();
        let subject = lab.openssl(&[
            "x509",
            "-inform",
            "DER",
            "-in",
            "b.der",
            "-noout",
            "-subject",
            "-nameopt",
            "RFC2253,-esc_msb",
        ]);
        assert!(
            subject.contains(&format!("serialNumber={FIN}"))
                && subject.contains(&format!("O={ORG}"))
                && subject.contains(&format!("VOEN-{VOEN}")),
            "the operator's --id/--org/--voen were dropped: {subject}"
        );
    } else {
        // Refusing (a usage error, card untouched) is fine too.
        out.code(2);
        assert_fresh(&lab, "card.img");
    }
}

/// `provision renew` generates the new key pairs (which deletes the
/// profile's certificates) before it uses the PINs: a mistyped PIN1 exits 3
/// and leaves the subscriber's citizen profile without any certificate.
#[test]
fn renew_with_a_wrong_pin_keeps_the_current_certificates() {
    let lab = Lab::with_ca();
    lab.provision_with_pins("card.img", "citizen", &[]).ok();
    let before = certificates(&lab, "card.img", &BUSINESS_KEYS[..2]);
    let out = lab.card(
        "card.img",
        &["provision", "renew", "--profile", "citizen", "--ca", "ca"],
        &[("ASAN_PIN1", "9999"), ("ASAN_PIN2", PIN2)],
        None,
    );
    out.code(3).says("wrong PIN1");
    let info = lab.info("card.img");
    assert_eq!(
        info["certificates"].as_array().unwrap().len(),
        2,
        "a failed renewal destroyed the certificates: {info:#}"
    );
    assert_eq!(certificates(&lab, "card.img", &BUSINESS_KEYS[..2]), before);
}

/// After a renewal that failed half-way (above), running it again with the
/// right PINs finds no certificate to take the subject from and silently
/// issues certificates for the development subject "Test Subscriber …" —
/// the subscriber's name and FIN are lost.
#[test]
fn renew_after_a_failed_attempt_keeps_the_subscribers_subject() {
    let lab = Lab::with_ca();
    lab.provision_with_pins("card.img", "citizen", &[]).ok();
    lab.card(
        "card.img",
        &["provision", "renew", "--profile", "citizen", "--ca", "ca"],
        &[("ASAN_PIN1", "9999"), ("ASAN_PIN2", PIN2)],
        None,
    )
    .code(3);
    let out = lab.card(
        "card.img",
        &["provision", "renew", "--profile", "citizen", "--ca", "ca"],
        &[("ASAN_PIN1", PIN1), ("ASAN_PIN2", PIN2)],
        None,
    );
    if out.code == 0 {
        let der = lab.certificate("card.img", "citizen", "sign");
        std::fs::write(lab.path("c.der"), der).unwrap();
        let subject = lab.openssl(&[
            "x509",
            "-inform",
            "DER",
            "-in",
            "c.der",
            "-noout",
            "-subject",
            "-nameopt",
            "RFC2253,-esc_msb",
        ]);
        assert!(
            subject.contains(&format!("CN={NAME}")) && subject.contains(FIN),
            "renewal issued certificates for another subject: {subject}"
        );
    } else {
        // Refusing without the subscriber's data is acceptable.
        assert!(!out.stderr.is_empty());
    }
}

/// `asan --virtual IMG provision --all-readers` ignores `--virtual` and
/// personalises every card on PC/SC instead (here PC/SC is pointed at a
/// socket that does not exist, so it only reports that pcscd is down). The
/// two options together should be refused as a usage error.
#[test]
fn virtual_with_all_readers_does_not_reach_pcsc() {
    let lab = Lab::with_ca();
    let out = lab.card(
        "card.img",
        &[
            "provision",
            "--all-readers",
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
    assert!(
        !out.stderr.contains("PC/SC"),
        "--virtual was ignored, the batch went to PC/SC: {out:#?}"
    );
    out.code(2);
}

/// The mailer line is appended before the secure channel is opened. With
/// wrong keys the card is never touched, yet the mailer keeps a line with
/// PINs that were never set; the re-run with the right keys generates other
/// PINs and appends a second line for the same serial. A mailing house
/// printing the file sends the subscriber two letters, one of them wrong.
#[test]
fn mailer_lines_of_a_card_all_hold_its_pins() {
    let lab = Lab::with_ca();
    std::fs::write(lab.path("other.keys"), OTHER_KEYS).unwrap();
    let args = [
        "provision",
        "--service",
        "citizen",
        "--ca",
        "ca",
        "--mailer",
        "mailer.jsonl",
    ];
    let mut wrong = args.to_vec();
    wrong.extend(["--keys", "other.keys"]);
    lab.card("card.img", &wrong, &[], None).code(1);
    assert_fresh(&lab, "card.img");
    lab.card("card.img", &args, &[], None).ok();

    let serial = lab.info("card.img")["serial"].as_str().unwrap().to_owned();
    let lines: Vec<Value> = lab
        .mailer("mailer.jsonl")
        .into_iter()
        .filter(|l| l["serial"] == serial.as_str())
        .collect();
    assert!(!lines.is_empty());
    let digest = sha256_hex("mailer");
    for line in &lines {
        let pin2 = line["pin2"].as_str().unwrap();
        assert_eq!(
            lab.sign("card.img", pin2, "citizen", &digest).code,
            0,
            "the mailer holds {} lines for {serial}; this one has PINs the card never had: {line}",
            lines.len()
        );
    }
}

/// Key-file errors in a value (`enc` not hex, wrong length, `kvn` out of
/// range) name the file but not the line, unlike syntax errors
/// (`FILE:LINE: …`).
#[test]
fn key_file_value_errors_name_the_line() {
    let lab = Lab::new();
    std::fs::write(
        lab.path("bad.keys"),
        "kvn = 30\nenc = ZZ112233445566778899AABBCCDDEEFF\nmac = 00112233445566778899AABBCCDDEEFF\ndek = 00112233445566778899AABBCCDDEEFF\n",
    )
    .unwrap();
    lab.card(
        "card.img",
        &["service", "set", "citizen", "active", "--keys", "bad.keys"],
        &[],
        None,
    )
    .code(2)
    .says("bad.keys:2:");
}
