//! `asan pin`: status, verify, wrong and blocked PINs, unblock, change, PIN
//! formats, missing PINs.

use crate::checks::{line, sha256, verifies};
use crate::harness::{Image, PIN1, PIN2, PUK, asan};

#[test]
fn pin_status_human_and_json() {
    let image = Image::personalised();
    assert_eq!(
        asan(image.arg()).cmd("pin status").run().ok(),
        "PIN1: 3 of 3 tries left\nPIN2: 3 of 3 tries left\nPUK: 10 of 10 tries left\n"
    );
    asan(image.arg())
        .cmd("pin verify pin2")
        .stdin("00000\n")
        .run()
        .fails(3, "wrong PIN2");
    let v = asan(image.arg()).cmd("pin status --json").run().json();
    assert_eq!(v["pin1"]["tries_left"], 3);
    assert_eq!(v["pin1"]["max_tries"], 3);
    assert_eq!(v["pin2"]["tries_left"], 2);
    assert_eq!(v["pin2"]["max_tries"], 3);
    assert_eq!(v["puk"]["tries_left"], 10);
    assert_eq!(v["puk"]["max_tries"], 10);
    assert!(
        line(asan(image.arg()).cmd("pin status").run().ok(), "PIN2").contains("2 of 3 tries left")
    );
}

#[test]
fn pin_verify_each_pin_from_stdin_and_environment() {
    let image = Image::personalised();
    for (name, var, value, label) in [
        ("pin1", "ASAN_PIN1", PIN1, "PIN1"),
        ("pin2", "ASAN_PIN2", PIN2, "PIN2"),
        ("puk", "ASAN_PUK", PUK, "PUK"),
    ] {
        let out = asan(image.arg())
            .args(&["pin", "verify", name])
            .stdin(&format!("{value}\n"))
            .run();
        assert_eq!(out.ok(), format!("{label} is correct\n"));
        assert_eq!(out.stderr, "");
        let out = asan(image.arg())
            .args(&["pin", "verify", name])
            .env(var, value)
            .run();
        assert_eq!(out.ok(), format!("{label} is correct\n"));
        // The environment wins over standard input.
        let out = asan(image.arg())
            .args(&["--json", "pin", "verify", name])
            .env(var, value)
            .stdin("0\n")
            .run();
        let v = out.json();
        assert_eq!(v["ok"], true);
        assert_eq!(v["message"], format!("{label} is correct"));
    }
    assert_eq!(image.tries(), [3, 3, 10]);
}

#[test]
fn wrong_pin_exit_3_then_blocked_exit_4_then_unblock_keeping_the_value() {
    let image = Image::with_certificates();
    let wrong = || {
        asan(image.arg())
            .cmd("pin verify pin2")
            .stdin("99999\n")
            .run()
    };
    assert_eq!(
        wrong().fails(3, "wrong PIN2"),
        "asan: wrong PIN2, 2 tries left"
    );
    assert_eq!(image.tries(), [3, 2, 10]);
    assert_eq!(
        wrong().fails(3, "wrong PIN2"),
        "asan: wrong PIN2, 1 try left"
    );
    // The third wrong PIN: still a wrong PIN (the card answered 63C0), and
    // the message says that it is blocked now.
    let third = wrong();
    assert!(third.code == 3 || third.code == 4, "{third:#?}");
    third.fails(third.code, "blocked");
    assert_eq!(image.tries(), [3, 0, 10]);

    // Blocked: exit 4, even with the right PIN, and the message says what to do.
    let out = asan(image.arg())
        .cmd("pin verify pin2")
        .env("ASAN_PIN2", PIN2)
        .run();
    let msg = out.fails(4, "PIN2 is blocked");
    assert!(msg.contains("asan pin unblock pin2"), "{msg}");
    let digest = hex::encode(sha256(b"blocked"));
    asan(image.arg())
        .args(&["sign", "--digest", &digest])
        .env("ASAN_PIN2", PIN2)
        .run()
        .fails(4, "PIN2 is blocked");
    let text = asan(image.arg()).cmd("pin status").run().ok().to_owned();
    assert!(line(&text, "PIN2").contains("blocked"), "{text}");
    let text = asan(image.arg()).cmd("info").run().ok().to_owned();
    assert!(line(&text, "PIN2").ends_with("BLOCKED"), "{text}");
    let v = asan(image.arg()).cmd("info --json").run().json();
    assert_eq!(v["pins"]["pin2"]["tries_left"], 0);

    // A wrong PUK: exit 3, PIN2 stays blocked.
    let out = asan(image.arg())
        .cmd("pin unblock pin2 --keep")
        .stdin("87654321\n")
        .run();
    assert_eq!(out.fails(3, "wrong PUK"), "asan: wrong PUK, 9 tries left");
    assert_eq!(image.tries(), [3, 0, 9]);

    // The PUK unblocks PIN2 and keeps its value; PUK from stdin.
    let out = asan(image.arg())
        .cmd("pin unblock pin2 --keep")
        .stdin(&format!("{PUK}\n"))
        .run();
    assert_eq!(out.ok(), "PIN2 unblocked, value kept\n");
    assert_eq!(image.tries(), [3, 3, 10]);
    let out = asan(image.arg())
        .args(&["sign", "--digest", &digest])
        .env("ASAN_PIN2", PIN2)
        .run();
    assert!(verifies(&image.sign_key, &sha256(b"blocked"), out.ok()));
}

#[test]
fn unblock_with_a_new_value_from_stdin_or_environment() {
    let image = Image::personalised();
    for _ in 0..3 {
        asan(image.arg())
            .cmd("pin verify pin1")
            .stdin("0000\n")
            .run();
    }
    assert_eq!(image.tries(), [0, 3, 10]);
    // Lines on stdin in the order asked: the PUK, then the new PIN1.
    let out = asan(image.arg())
        .cmd("pin unblock pin1")
        .stdin(&format!("{PUK}\n4321\n"))
        .run();
    assert_eq!(out.ok(), "PIN1 unblocked with a new value\n");
    assert_eq!(image.tries(), [3, 3, 10]);
    asan(image.arg())
        .cmd("pin verify pin1")
        .stdin("4321\n")
        .run()
        .ok();
    asan(image.arg())
        .cmd("pin verify pin1")
        .stdin(&format!("{PIN1}\n"))
        .run()
        .fails(3, "wrong PIN1, 2 tries left");

    // ASAN_PUK and ASAN_NEW_PIN; the PIN need not be blocked.
    let v = asan(image.arg())
        .cmd("pin unblock pin2 --json")
        .env("ASAN_PUK", PUK)
        .env("ASAN_NEW_PIN", "24680")
        .run()
        .json();
    assert_eq!(v["ok"], true);
    assert_eq!(v["message"], "PIN2 unblocked with a new value");
    asan(image.arg())
        .cmd("pin verify pin2")
        .env("ASAN_PIN2", "24680")
        .run()
        .ok();
    assert_eq!(image.tries(), [2, 3, 10]);

    // A missing new PIN is asked for by its variable; nothing is sent.
    asan(image.arg())
        .cmd("pin unblock pin1")
        .stdin(&format!("{PUK}\n"))
        .run()
        .fails(2, "ASAN_NEW_PIN");
    asan(image.arg())
        .cmd("pin unblock pin1")
        .run()
        .fails(2, "ASAN_PUK");
    assert_eq!(image.tries(), [2, 3, 10]);
}

#[test]
fn the_puk_cannot_be_unblocked() {
    let image = Image::personalised();
    for keep in [false, true] {
        let mut args = vec!["pin", "unblock", "puk"];
        if keep {
            args.push("--keep");
        }
        asan(image.arg())
            .args(&args)
            .stdin(&format!("{PUK}\n{PUK}\n"))
            .env("ASAN_PUK", PUK)
            .run()
            .fails(2, "PUK cannot be unblocked");
    }
    assert_eq!(image.tries(), [3, 3, 10]);
}

#[test]
fn a_blocked_puk_exits_4() {
    let image = Image::personalised();
    for i in (0..10).rev() {
        let out = asan(image.arg())
            .cmd("pin verify puk")
            .stdin("00000000\n")
            .run();
        assert!(out.code == 3 || (i == 0 && out.code == 4), "{out:#?}");
        out.fails(out.code, &format!("wrong PUK, {i} tr"));
    }
    assert_eq!(image.tries(), [3, 3, 0]);
    let msg = asan(image.arg())
        .cmd("pin unblock pin2 --keep")
        .env("ASAN_PUK", PUK)
        .run()
        .fails(4, "PUK is blocked")
        .to_owned();
    assert!(msg.contains("replaced"), "{msg}");
    asan(image.arg())
        .cmd("pin verify puk")
        .env("ASAN_PUK", PUK)
        .run()
        .fails(4, "PUK is blocked");
}

#[test]
fn bad_pin_format_is_a_usage_error_and_costs_no_try() {
    let image = Image::personalised();
    // Spend one try of each, so that a bad value that reached the card
    // would show (as a lower counter, or a reset one).
    asan(image.arg())
        .cmd("pin verify pin1")
        .stdin("0000\n")
        .run()
        .fails(3, "PIN1");
    asan(image.arg())
        .cmd("pin verify pin2")
        .stdin("00000\n")
        .run()
        .fails(3, "PIN2");
    asan(image.arg())
        .cmd("pin verify puk")
        .stdin("00000000\n")
        .run()
        .fails(3, "PUK");
    assert_eq!(image.tries(), [2, 2, 9]);

    // Command (DIGEST: a valid digest), environment (VAR=value), stdin, message.
    #[rustfmt::skip]
    let cases = [
        ("pin verify pin1", "", "123\n", "invalid PIN1: it must have 4 to 8 digits, not 3"),
        ("pin verify pin1", "", "123456789\n", "invalid PIN1: it must have 4 to 8 digits, not 9"),
        ("pin verify pin1", "", "12a4\n", "invalid PIN1: only digits"),
        ("pin verify pin1", "", "\n", "invalid PIN1"),
        ("pin verify pin1", "", " 1234\n", "invalid PIN1"),
        ("pin verify pin2", "", "1234\n", "invalid PIN2: it must have 5 to 8 digits, not 4"),
        ("pin verify pin2", "ASAN_PIN2=12 345", "", "invalid PIN2"),
        ("pin verify puk", "", "1234567\n", "invalid PUK: it must have exactly 8 digits, not 7"),
        ("sign --digest DIGEST", "ASAN_PIN2=1234", "", "invalid PIN2"),
        ("auth --digest DIGEST", "ASAN_PIN1=abcd", "", "invalid PIN1"),
        ("auth --challenge hi", "", "123\n", "invalid PIN1"),
        ("pin change pin2", "", "12345\n1234\n", "invalid PIN2"),
        ("pin change pin1", "", "12\n4321\n", "invalid PIN1"),
        ("pin change puk", "", "12345678\n8765432\n", "invalid PUK"),
        ("pin unblock pin2", "", "1234\n54321\n", "invalid PUK"),
        ("pin unblock pin2", "", "12345678\n1\n", "invalid PIN2"),
        ("pin unblock pin1 --keep", "ASAN_PUK=123456789", "", "invalid PUK"),
    ];
    let digest = hex::encode(sha256(b"x"));
    for (command, env, stdin, needle) in cases {
        let mut cmd = asan(image.arg())
            .cmd("--trace")
            .cmd(&command.replace("DIGEST", &digest))
            .stdin(stdin);
        if let Some((k, v)) = env.split_once('=') {
            cmd = cmd.env(k, v);
        }
        let out = cmd.run();
        // One line only, with --trace: not a single APDU was sent.
        let msg = out.fails(2, needle);
        assert!(msg.ends_with("(nothing was sent to the card)"), "{msg}");
    }
    assert_eq!(image.tries(), [2, 2, 9], "a bad format never costs a try");
    // The old values still hold.
    asan(image.arg())
        .cmd("pin verify pin2")
        .env("ASAN_PIN2", PIN2)
        .run()
        .ok();
    asan(image.arg())
        .cmd("pin verify puk")
        .env("ASAN_PUK", PUK)
        .run()
        .ok();
}

#[test]
fn pin_change_reads_the_old_then_the_new_value() {
    let image = Image::personalised();
    // Both from stdin, in order.
    let out = asan(image.arg())
        .cmd("pin change pin1")
        .stdin("1234\n4321\n")
        .run();
    assert_eq!(out.ok(), "PIN1 changed\n");
    asan(image.arg())
        .cmd("pin verify pin1")
        .env("ASAN_PIN1", "4321")
        .run()
        .ok();
    asan(image.arg())
        .cmd("pin verify pin1")
        .env("ASAN_PIN1", PIN1)
        .run()
        .fails(3, "wrong PIN1");
    // CR LF line ends.
    asan(image.arg())
        .cmd("pin change pin1")
        .stdin("4321\r\n86420\r\n")
        .run()
        .ok();
    asan(image.arg())
        .cmd("pin verify pin1")
        .stdin("86420\n")
        .run()
        .ok();

    // Both from the environment: ASAN_PIN2 and ASAN_NEW_PIN.
    let v = asan(image.arg())
        .cmd("--json pin change pin2")
        .env("ASAN_PIN2", PIN2)
        .env("ASAN_NEW_PIN", "54321")
        .run()
        .json();
    assert_eq!(v["ok"], true);
    assert_eq!(v["message"], "PIN2 changed");
    let digest = sha256(b"after the change");
    let sig = asan(image.arg())
        .args(&["sign", "--digest", &hex::encode(&digest)])
        .env("ASAN_PIN2", "54321")
        .run();
    assert!(verifies(&image.sign_key, &digest, sig.ok()));
    // Mixed: the current value from the environment, the new one from stdin.
    asan(image.arg())
        .cmd("pin change pin2")
        .env("ASAN_PIN2", "54321")
        .stdin("67890123\n")
        .run()
        .ok();
    asan(image.arg())
        .cmd("pin verify pin2")
        .stdin("67890123\n")
        .run()
        .ok();

    // The PUK, then an unblock with the new PUK.
    assert_eq!(
        asan(image.arg())
            .cmd("pin change puk")
            .stdin("12345678\n87654321\n")
            .run()
            .ok(),
        "PUK changed\n"
    );
    asan(image.arg())
        .cmd("pin unblock pin1 --keep")
        .stdin("87654321\n")
        .run()
        .ok();

    // A wrong current value: exit 3, nothing changed.
    asan(image.arg())
        .cmd("pin change pin1")
        .stdin("0000\n1111\n")
        .run()
        .fails(3, "wrong PIN1, 2 tries left");
    asan(image.arg())
        .cmd("pin verify pin1")
        .stdin("1111\n")
        .run()
        .fails(3, "wrong PIN1");
    asan(image.arg())
        .cmd("pin verify pin1")
        .stdin("86420\n")
        .run()
        .ok();
    // The new value missing: exit 2 naming ASAN_NEW_PIN, no try spent.
    asan(image.arg())
        .cmd("pin change pin1")
        .stdin("86420\n")
        .run()
        .fails(2, "ASAN_NEW_PIN");
    asan(image.arg())
        .cmd("pin change pin1")
        .run()
        .fails(2, "ASAN_PIN1");
    assert_eq!(image.tries(), [3, 3, 10]);
}

#[test]
fn a_missing_pin_names_its_variable() {
    let image = Image::personalised();
    let digest = hex::encode(sha256(b"x"));
    for (args, var) in [
        (vec!["pin", "verify", "pin1"], "ASAN_PIN1"),
        (vec!["pin", "verify", "pin2"], "ASAN_PIN2"),
        (vec!["pin", "verify", "puk"], "ASAN_PUK"),
        (vec!["sign", "--digest", &digest], "ASAN_PIN2"),
        (vec!["auth", "--challenge", "x"], "ASAN_PIN1"),
        (vec!["pin", "unblock", "pin2", "--keep"], "ASAN_PUK"),
    ] {
        asan(image.arg()).args(&args).run().fails(2, var);
    }
    assert_eq!(image.tries(), [3, 3, 10]);
}
