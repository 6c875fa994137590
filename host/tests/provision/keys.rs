//! Key files: wrong keys, malformed files, keys rotated with PUT KEY.

use crate::checks::assert_fresh;
use crate::lab::{Lab, OTHER_KEYS, pin_env};

#[test]
fn wrong_keys_stop_at_the_card_cryptogram_and_the_card_stays_fresh() {
    let lab = Lab::with_ca();
    lab.write_keys("other.keys", OTHER_KEYS);
    let out = lab.card(
        "card.img",
        &[
            "provision",
            "--service",
            "citizen",
            "--ca",
            "ca",
            "--keys",
            "other.keys",
        ],
        &pin_env(),
        None,
    );
    out.code(1).says("card cryptogram does not match");
    // With a key file there is no test-key warning.
    assert!(!out.stderr.contains("WARNING"), "{out:#?}");
    assert_fresh(&lab, "card.img");

    // The same for the other operator commands.
    for args in [
        &["service", "set", "citizen", "active"][..],
        &["terminate", "--yes"][..],
    ] {
        let mut all = args.to_vec();
        all.extend(["--keys", "other.keys"]);
        lab.card("card.img", &all, &[], None)
            .code(1)
            .says("card cryptogram does not match");
    }
    assert_fresh(&lab, "card.img");
    assert!(lab.info("card.img")["service"].is_null());

    // A key version the card does not have.
    lab.write_keys("kvn31.keys", OTHER_KEYS.replace("kvn = 30", "kvn = 31"));
    lab.card(
        "card.img",
        &[
            "service",
            "set",
            "citizen",
            "active",
            "--keys",
            "kvn31.keys",
        ],
        &[],
        None,
    )
    .code(1)
    .says("no SCP03 key set with version 31");
    assert_fresh(&lab, "card.img");
}

#[test]
fn malformed_key_files_are_usage_errors_with_file_and_line() {
    let lab = Lab::with_ca();
    for (text, expect) in [
        ("kvn: 30\n", "bad.keys:1:"),
        ("# keys\nkvn = 30\nfoo = 00\n", "bad.keys:3:"),
        (
            "kvn = 30\n\nenc = 00112233445566778899AABBCCDDEEFF\nmac 00\n",
            "bad.keys:4:",
        ),
    ] {
        lab.write_keys("bad.keys", text);
        let out = lab.card(
            "card.img",
            &[
                "provision",
                "--service",
                "citizen",
                "--ca",
                "ca",
                "--keys",
                "bad.keys",
            ],
            &pin_env(),
            None,
        );
        out.code(2).says(expect);
    }
    // Incomplete or out of range: still a usage error naming the file.
    for text in [
        "kvn = 30\nenc = 00112233445566778899AABBCCDDEEFF\n",
        "kvn = 80\nenc = 00112233445566778899AABBCCDDEEFF\nmac = 00112233445566778899AABBCCDDEEFF\ndek = 00112233445566778899AABBCCDDEEFF\n",
        "kvn = 30\nenc = 0011\nmac = 00112233445566778899AABBCCDDEEFF\ndek = 00112233445566778899AABBCCDDEEFF\n",
    ] {
        lab.write_keys("bad.keys", text);
        lab.card(
            "card.img",
            &["service", "set", "citizen", "active", "--keys", "bad.keys"],
            &[],
            None,
        )
        .code(2)
        .says("bad.keys");
    }
    // A missing key file.
    lab.card(
        "card.img",
        &["service", "set", "citizen", "active", "--keys", "none.keys"],
        &[],
        None,
    )
    .code(1)
    .says("none.keys");
    assert_fresh(&lab, "card.img");
}

#[test]
fn keys_rotated_with_put_key_are_used_from_a_key_file() {
    use asan_applet::scp03::{SecurityLevel, StaticKeys};
    use asan_host::operator::Operator;
    use asan_host::transport::Transport;

    let lab = Lab::with_ca();
    lab.info("card.img");
    let new = StaticKeys {
        enc: *b"0123456789abcdef",
        mac: *b"fedcba9876543210",
        dek: *b"ABCDEFGHIJKLMNOP",
        kvn: 0x31,
    };
    {
        let transport = crate::common::open_image(&lab.path("card.img"));
        let mut card = asan_host::AsanCard::open(transport).unwrap();
        let extended = card.transport().extended_length();
        let level = SecurityLevel::from_byte(0x33).unwrap();
        card.exclusive(|a| {
            Operator::open(a, &StaticKeys::default_test_keys(), level, extended)?
                .put_key(&StaticKeys::default_test_keys(), &new)
        })
        .unwrap();
    }
    assert_eq!(lab.info("card.img")["scp_key_version"], 0x31);

    // The key file of the new set (written as an operator would).
    let file = format!(
        "# card keys after rotation\nkvn = 31\nenc = {}\nmac = {}\ndek = {}\n",
        hex::encode_upper(new.enc),
        hex::encode(new.mac),
        hex::encode_upper(new.dek)
    );
    lab.write_keys("card.keys", file);

    // The default keys no longer open a channel.
    lab.provision_with_pins("card.img", "citizen", &[])
        .code(1)
        .says("no SCP03 key set with version 30");
    assert_fresh(&lab, "card.img");

    let out = lab.provision_with_pins("card.img", "citizen", &["--keys", "card.keys"]);
    out.ok();
    assert!(!out.stderr.contains("WARNING"), "{out:#?}");
    assert_eq!(lab.info("card.img")["life_cycle"], "operational");
    lab.card(
        "card.img",
        &[
            "service",
            "set",
            "citizen",
            "suspended",
            "--keys",
            "card.keys",
            "--level",
            "03",
        ],
        &[],
        None,
    )
    .ok();
    assert_eq!(lab.info("card.img")["service"]["active"], false);
}
