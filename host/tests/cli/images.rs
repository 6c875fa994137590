//! Images that cannot be used, unwritable output, usage errors and `--help`.

use std::process::{Command, Stdio};

use crate::checks::{hex_bytes, line};
use crate::harness::{Image, PIN1, PIN2, asan, asan_bare, open_image};

#[test]
fn a_missing_image_directory_is_an_error() {
    let image = Image::absent();
    let missing = image.file("nowhere/card.img");
    let digest = hex_bytes(32, 1);
    for args in [
        &["info"][..],
        &["pin", "status"][..],
        &["cert", "read", "--profile", "citizen", "--usage", "sign"][..],
        &["sign", "--digest", &digest][..],
        &["--json", "info"][..],
    ] {
        let out = asan(&missing).args(args).env("ASAN_PIN2", PIN2).run();
        out.fails(2, missing.to_str().unwrap());
        // With --create: the directory is still missing, an I/O error.
        let out = asan(&missing)
            .args(&["--create"])
            .args(args)
            .env("ASAN_PIN2", PIN2)
            .run();
        out.fails(1, missing.to_str().unwrap());
    }
    assert!(!image.file("nowhere").exists(), "nothing is created");
}

#[test]
fn a_corrupt_image_is_refused_and_left_alone() {
    let good = Image::personalised();
    let bytes = good.bytes();
    let mut flipped = bytes.clone();
    flipped[600] ^= 0x5A;
    let cases: [(&str, Vec<u8>, &str); 5] = [
        (
            "garbage",
            b"this is not a card image at all".to_vec(),
            "is not an asan-vcard image",
        ),
        ("empty", Vec::new(), "is not an asan-vcard image"),
        ("truncated", bytes[..1000].to_vec(), "truncated or damaged"),
        ("flipped", flipped, "fails its checksum"),
        (
            "longer",
            [bytes.clone(), vec![0; 10]].concat(),
            "truncated or damaged",
        ),
    ];
    for (name, content, needle) in cases {
        let image = Image::absent();
        std::fs::write(&image.path, &content).unwrap();
        for args in [
            &["info"][..],
            &["pin", "status"][..],
            &["--json", "info"][..],
        ] {
            let out = asan(image.arg()).args(args).run();
            let msg = out.fails(1, needle);
            assert!(msg.contains(image.path.to_str().unwrap()), "{name}: {msg}");
        }
        asan(image.arg())
            .cmd("pin verify pin1")
            .env("ASAN_PIN1", PIN1)
            .run()
            .fails(1, needle);
        assert_eq!(
            image.bytes(),
            content,
            "{name}: the image is never replaced"
        );
    }
    // A directory where the image should be.
    let image = Image::absent();
    std::fs::create_dir(&image.path).unwrap();
    asan(image.arg())
        .cmd("info")
        .run()
        .fails(1, image.path.to_str().unwrap());
}

#[test]
fn an_image_in_use_is_refused() {
    let image = Image::personalised();
    let (_held, created) = open_image(&image.path);
    assert!(!created);
    asan(image.arg())
        .expect_locked()
        .cmd("info")
        .run()
        .fails(1, "in use by another asan-vcard process");
}

#[test]
fn an_absent_image_is_made_only_when_asked() {
    // A typo (`--virtual crad.img`) must not silently become a blank card.
    let image = Image::absent();
    for args in [&["info"][..], &["pin", "status"][..], &["readers"][..]] {
        asan(image.arg())
            .args(args)
            .run()
            .fails(2, "no such card image");
        assert!(!image.path.exists(), "{args:?} made an image");
    }
    // --create makes a factory-fresh card, which persists.
    let text = asan(image.arg()).cmd("--create info").run().ok().to_owned();
    assert!(
        line(&text, "Life cycle").ends_with("initialisation"),
        "{text}"
    );
    assert!(image.path.exists());
    let again = asan(image.arg()).cmd("info").run().ok().to_owned();
    assert_eq!(line(&again, "Serial"), line(&text, "Serial"));
    // Global options that choose a card are refused where none is used.
    for cmd in ["ca init ca", "tsa init tsa --ca ca", "demo"] {
        asan(image.arg()).cmd(cmd).run().fails(2, "uses none");
    }
    asan_bare()
        .cmd("--reader x verify a b --ca c")
        .run()
        .fails(2, "uses none");
}

#[test]
fn an_unwritable_stdout_or_stderr_is_an_error_not_a_panic() {
    let image = Image::personalised();
    let full = || {
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap()
    };
    let run = |args: &[&str], stdout: Stdio, stderr: Stdio| {
        let status = Command::new(env!("CARGO_BIN_EXE_asan"))
            .arg("--virtual")
            .arg(&image.path)
            .args(args)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .status()
            .unwrap();
        status
            .code()
            .unwrap_or_else(|| panic!("asan {args:?}: killed: {status}"))
    };
    // Results that cannot be written: exit 1 with a message.
    let out = Command::new(env!("CARGO_BIN_EXE_asan"))
        .arg("--virtual")
        .arg(&image.path)
        .arg("info")
        .stdout(full())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("asan: "),
        "{out:?}"
    );
    // A trace or an error message that cannot be written: never a panic
    // (exit 101).
    let code = run(&["--trace", "info"], Stdio::null(), Stdio::from(full()));
    assert!(
        code == 0 || code == 1,
        "asan --trace info with stderr on /dev/full: exit {code}"
    );
    let code = run(
        &["pin", "verify", "pin1"],
        Stdio::null(),
        Stdio::from(full()),
    );
    assert_eq!(code, 2, "asan pin verify (no PIN) with stderr on /dev/full");
}

#[test]
fn usage_errors_exit_2_and_help_exits_0() {
    let image = Image::personalised();
    for args in [
        &[][..],
        &["frobnicate"][..],
        &["pin"][..],
        &["pin", "verify"][..],
        &["pin", "verify", "pin3"][..],
        &["pin", "unblock"][..],
        &["pin", "status", "--keep"][..],
        &["info", "--bogus"][..],
        &["--reader"][..],
    ] {
        asan(image.arg()).args(args).run().usage_error();
    }
    let help = asan_bare().cmd("--help").run();
    for word in [
        "readers",
        "info",
        "pin",
        "auth",
        "sign",
        "cert",
        "--reader",
        "--virtual",
        "--json",
        "--trace",
    ] {
        assert!(
            help.ok().contains(word),
            "--help lacks {word}: {}",
            help.stdout
        );
    }
    for sub in [
        &["pin", "--help"][..],
        &["cert", "read", "--help"][..],
        &["sign", "--help"][..],
    ] {
        asan_bare().args(sub).run().ok();
    }
    assert!(asan_bare().cmd("--version").run().ok().starts_with("asan "));
    // Global options after the command.
    let v = asan_bare()
        .args(&["info", "--json", "--virtual", image.path.to_str().unwrap()])
        .run()
        .json();
    assert_eq!(v["life_cycle"], "operational");
}
