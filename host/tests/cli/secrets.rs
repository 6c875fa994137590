//! `--trace` with its PIN redaction, `--json`, and PINs that never appear
//! in any output.

use crate::checks::{sha256, verifies};
use crate::common::run::contains_word;
use crate::harness::{Image, PIN1, PIN2, PUK, asan};

/// The trace lines on stderr that carry a command with PIN data.
fn assert_pin_blocks_hidden(stderr: &str, header: &str) {
    let lines: Vec<&str> = stderr.lines().filter(|l| l.contains(header)).collect();
    assert!(!lines.is_empty(), "no {header} in the trace:\n{stderr}");
    for l in lines {
        assert!(l.ends_with(&format!("{header} ***")), "{l}");
    }
    assert!(stderr.lines().all(|l| l.starts_with("asan: ")), "{stderr}");
}

#[test]
fn trace_logs_every_apdu_with_pin_blocks_as_stars() {
    let image = Image::with_certificates();
    let digest = sha256(b"traced");
    let out = asan(image.arg())
        .args(&["--trace", "sign", "--digest", &hex::encode(&digest)])
        .env("ASAN_PIN2", PIN2)
        .run();
    assert!(verifies(&image.sign_key, &digest, out.ok()));
    assert_eq!(out.ok().lines().count(), 1, "the trace goes to stderr only");
    // Contract 1.1: one PSO: CDS carrying the key, PIN2 and digest — all of
    // its data hidden, since it holds the PIN2 block.
    assert_pin_blocks_hidden(&out.stderr, "002A9EAC2F");
    assert!(!out.stderr.contains("3132333435"), "{}", out.stderr);
    assert!(
        out.stderr.contains("00A404000AF04153414E494D5A410100"),
        "{}",
        out.stderr
    );
    let lines = out.stderr.lines().filter(|l| l.contains("> ")).count();
    assert_eq!(lines, 2, "SELECT and the signature: {}", out.stderr);
    assert!(out.stderr.contains("9000"));

    // VERIFY of PIN1, a wrong one, CHANGE REFERENCE DATA, RESET RETRY COUNTER.
    let out = asan(image.arg())
        .cmd("--trace pin verify pin1")
        .stdin(&format!("{PIN1}\n"))
        .run();
    out.ok();
    assert_pin_blocks_hidden(&out.stderr, "0020008108");
    let out = asan(image.arg())
        .cmd("--trace pin verify pin1")
        .stdin("4321\n")
        .run();
    assert_eq!(out.code, 3);
    assert_pin_blocks_hidden(&out.stderr, "0020008108");
    assert!(out.stderr.contains("63C2"), "{}", out.stderr);
    assert_eq!(
        out.stderr.lines().last(),
        Some("asan: wrong PIN1, 2 tries left")
    );
    let out = asan(image.arg())
        .cmd("--trace pin change pin2")
        .stdin(&format!("{PIN2}\n54321\n"))
        .run();
    out.ok();
    assert_pin_blocks_hidden(&out.stderr, "0024008210");
    let out = asan(image.arg())
        .cmd("--trace pin unblock pin1")
        .stdin(&format!("{PUK}\n{PIN1}\n"))
        .run();
    out.ok();
    assert_pin_blocks_hidden(&out.stderr, "002C008110");
    let out = asan(image.arg())
        .cmd("--trace pin unblock pin2 --keep")
        .env("ASAN_PUK", PUK)
        .run();
    out.ok();
    assert_pin_blocks_hidden(&out.stderr, "002C018208");
    let out = asan(image.arg())
        .cmd("--trace auth --challenge traced")
        .env("ASAN_PIN1", PIN1)
        .run();
    out.ok();
    assert_pin_blocks_hidden(&out.stderr, "0020008108");

    // --trace with --json: stdout is still one JSON object.
    let out = asan(image.arg()).cmd("--trace --json info").run();
    assert_eq!(out.json()["life_cycle"], "operational");
    assert!(out.stderr.contains("> "), "{}", out.stderr);
    // Without --trace, a success prints nothing on stderr.
    assert_eq!(asan(image.arg()).cmd("info").run().stderr, "");
}

#[test]
fn distinctive_pins_never_appear_in_any_output() {
    // The run() harness checks every run for the PINs it passes; here the
    // PINs are changed to values that cannot hide in other numbers, and
    // every command runs with --trace, with and without --json.
    let image = Image::with_certificates();
    let (p1, p2, puk) = ("7093", "58216", "40417733");
    for (pin, old, new) in [("pin1", PIN1, p1), ("pin2", PIN2, p2), ("puk", PUK, puk)] {
        asan(image.arg())
            .args(&["--trace", "pin", "change", pin])
            .stdin(&format!("{old}\n{new}\n"))
            .run()
            .ok();
    }
    let digest = hex::encode(sha256(b"secret-free"));
    for json in [false, true] {
        let mut g = vec!["--trace"];
        if json {
            g.push("--json");
        }
        let runs = [
            asan(image.arg())
                .args(&g)
                .cmd("pin verify pin1")
                .env("ASAN_PIN1", p1)
                .run(),
            asan(image.arg())
                .args(&g)
                .cmd("pin verify pin2")
                .stdin(&format!("{p2}\n"))
                .run(),
            asan(image.arg())
                .args(&g)
                .cmd("pin verify puk")
                .env("ASAN_PUK", puk)
                .run(),
            asan(image.arg())
                .args(&g)
                .args(&["sign", "--digest", &digest])
                .env("ASAN_PIN2", p2)
                .run(),
            asan(image.arg())
                .args(&g)
                .cmd("auth --challenge c")
                .env("ASAN_PIN1", p1)
                .run(),
            asan(image.arg())
                .args(&g)
                .cmd("pin unblock pin1")
                .env("ASAN_PUK", puk)
                .env("ASAN_NEW_PIN", p1)
                .run(),
            asan(image.arg()).args(&g).cmd("info").run(),
            asan(image.arg()).args(&g).cmd("pin status").run(),
        ];
        for out in &runs {
            out.ok();
            let all = format!("{}{}", out.stdout, out.stderr);
            for secret in [p1, p2, puk] {
                // As a word: the digits may occur by chance inside hex (signatures).
                assert!(!contains_word(&all, secret), "{secret} in {out:#?}");
                assert!(
                    !all.to_lowercase().contains(&hex::encode(secret)),
                    "{out:#?}"
                );
            }
        }
        // Wrong values are secrets too.
        let out = asan(image.arg())
            .args(&g)
            .cmd("pin verify pin2")
            .env("ASAN_PIN2", "96307")
            .run();
        assert_eq!(out.code, 3);
        assert!(!contains_word(
            &format!("{}{}", out.stdout, out.stderr),
            "96307"
        ));
        asan(image.arg())
            .cmd("pin verify pin2")
            .env("ASAN_PIN2", p2)
            .run()
            .ok();
    }
}
