//! Regression tests for the defects found while writing the provisioning
//! tests. All of them are fixed; each comment says what was wrong and what
//! holds now.

use serde_json::Value;

use crate::checks::{assert_fresh, certificates, sha256_hex};
use crate::lab::{BUSINESS_KEYS, FIN, Lab, NAME, ORG, OTHER_KEYS, PIN1, PIN2, VOEN, pin_env};

/// Found here (fixed in provision.rs, `personalise`): `provision --service
/// business` without `--voen` exited 2 (a usage error, which promises nothing
/// happened) — but the subject was checked only after the PINs were set, the
/// key pairs generated and the card activated, leaving the card operational
/// without certificates. The subject is now checked before the card changes:
/// exit 2 and the card is still fresh.
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

/// Found here (fixed in provision.rs, `SubjectSpec::resolve`): `--id`,
/// `--org` and `--voen` without `--name` were silently ignored, and the
/// certificates were issued for the development subject "Test Subscriber …"
/// with VÖEN 1234567890 instead of the data the operator typed. Any subject
/// option now needs both `--name` and `--id`: without them the command is
/// refused (exit 2) before the card changes. (Certificates with the
/// operator's data would pass this test too.)
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

/// Found here (fixed in provision.rs, `renew`): `provision renew` generated
/// the new key pairs (which deletes the profile's certificates) before it
/// used the PINs, so a mistyped PIN1 exited 3 and left the subscriber's
/// citizen profile without any certificate. PIN1 and PIN2 are now verified
/// first: a wrong one exits 3 and the keys and certificates stay as they were.
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

/// Found here (fixed in provision.rs, `renew`): after a renewal that failed
/// half-way (above), running it again with the right PINs found no
/// certificate to take the subject from and silently issued certificates for
/// the development subject "Test Subscriber …" — the subscriber's name and
/// FIN were lost. A wrong PIN no longer costs the certificates, so the second
/// run renews for the subscriber's subject; a renewal that finds no
/// certificate of the profile is refused instead of inventing a subject.
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

/// Found here (fixed in cli/provisioning.rs, `provision`): `asan --virtual
/// IMG provision --all-readers` ignored `--virtual` (and `--reader`) and
/// personalised every card on PC/SC instead (here PC/SC is pointed at a
/// socket that does not exist, so it only reported that pcscd was down). The
/// combination is now refused as a usage error (exit 2) before PC/SC is used.
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

/// Found here (fixed in provision.rs, `personalise`): the mailer line was
/// appended before the secure channel was opened. With wrong keys the card
/// was never touched, yet the mailer kept a line with PINs that were never
/// set; the re-run with the right keys generated other PINs and appended a
/// second line for the same serial, so a mailing house printing the file sent
/// the subscriber two letters, one of them wrong. The line is now written
/// only once the channel has proved the keys, and a re-run uses the PINs of
/// a line already there: every mailer line of a card holds its PINs.
#[test]
fn mailer_lines_of_a_card_all_hold_its_pins() {
    let lab = Lab::with_ca();
    lab.write_keys("other.keys", OTHER_KEYS);
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

/// Found here (fixed in keys.rs, `parse`): key-file errors in a value
/// (`enc` not hex, wrong length, `kvn` out of range) named the file but not
/// the line, unlike syntax errors. They now name both (`FILE:LINE: …`).
#[test]
fn key_file_value_errors_name_the_line() {
    let lab = Lab::new();
    lab.write_keys("bad.keys", "kvn = 30\nenc = ZZ112233445566778899AABBCCDDEEFF\nmac = 00112233445566778899AABBCCDDEEFF\ndek = 00112233445566778899AABBCCDDEEFF\n");
    lab.card(
        "card.img",
        &["service", "set", "citizen", "active", "--keys", "bad.keys"],
        &[],
        None,
    )
    .code(2)
    .says("bad.keys:2:");
}

/// Found here (fixed in provision.rs, `personalise`): with the PINs from
/// `ASAN_PIN1/2/PUK` and `--mailer FILE`, no line was written, although the
/// option says it appends the card's line. It is written now — once: when
/// the file already has the card's line with these PINs (an interrupted
/// run), none is added.
#[test]
fn pins_from_the_environment_get_their_mailer_line_once() {
    let lab = Lab::with_ca();
    let args = [
        "provision",
        "--service",
        "citizen",
        "--ca",
        "ca",
        "--mailer",
        "mailer.jsonl",
    ];
    // Two fresh cards; the second one's line is already in the file.
    let first = lab.info("first.img")["serial"].as_str().unwrap().to_owned();
    let second = lab.info("second.img")["serial"]
        .as_str()
        .unwrap()
        .to_owned();
    let line = format!(
        "{{\"serial\":\"{second}\",\"pin1\":\"{PIN1}\",\"pin2\":\"{PIN2}\",\"puk\":\"{}\"}}\n",
        crate::lab::PUK
    );
    std::fs::write(lab.path("mailer.jsonl"), line).unwrap();

    lab.card("first.img", &args, &pin_env(), None).ok();
    lab.card("second.img", &args, &pin_env(), None).ok();
    let lines = lab.mailer("mailer.jsonl");
    let of = |serial: &str| lines.iter().filter(|l| l["serial"] == serial).count();
    assert_eq!((of(&first), of(&second)), (1, 1), "{lines:?}");
    let last = lines.last().unwrap();
    assert_eq!(last["serial"], first.as_str());
    assert_eq!(last["pin1"], PIN1);
    assert_eq!(last["pin2"], PIN2);
    for img in ["first.img", "second.img"] {
        assert_eq!(lab.sign(img, PIN2, "citizen", &sha256_hex("m")).code, 0);
    }
}
