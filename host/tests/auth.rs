//! `asan auth --verify`: the relying party's check of an authentication
//! answer, with no card.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Output, Stdio};

fn asan(dir: &Path, args: &[&str], pin1: bool) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_asan"));
    c.args(args).current_dir(dir).stdin(Stdio::null());
    if pin1 {
        c.env("ASAN_PIN1", "1234")
            .env("ASAN_PIN2", "12345")
            .env("ASAN_PUK", "12345678");
    }
    let out = c.output().unwrap();
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    out
}

#[test]
fn answers_are_checked_without_a_card() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(asan(d, &["ca", "init", "ca"], false).status.success());
    assert!(asan(d, &["ca", "init", "other"], false).status.success());
    assert!(
        asan(
            d,
            &[
                "--virtual",
                "c.img",
                "provision",
                "--service",
                "citizen",
                "--ca",
                "ca"
            ],
            true
        )
        .status
        .success()
    );
    let out = asan(
        d,
        &[
            "--virtual",
            "c.img",
            "--json",
            "auth",
            "--challenge",
            "login 42",
        ],
        true,
    );
    assert!(out.status.success());
    std::fs::write(d.join("ans.json"), &out.stdout).unwrap();
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["challenge"], "login 42");

    let ok = asan(
        d,
        &[
            "auth",
            "--verify",
            "ans.json",
            "--ca",
            "ca/root.pem",
            "--challenge",
            "login 42",
        ],
        false,
    );
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("valid authentication answer"));

    // Another challenge, another root, a changed signature: refused, exit 1.
    let verify = |file: &str, extra: &[&str]| {
        let mut args = vec!["auth", "--verify", file];
        args.extend(extra);
        asan(d, &args, false)
    };
    let other = verify(
        "ans.json",
        &["--ca", "ca/root.pem", "--challenge", "login 43"],
    );
    assert_eq!(other.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&other.stderr).contains("login 43"));
    let root = verify(
        "ans.json",
        &["--ca", "other/root.pem", "--challenge", "login 42"],
    );
    assert_eq!(root.status.code(), Some(1));
    let mut bad = answer.clone();
    let sig = bad["signature"].as_str().unwrap().to_owned();
    let flipped = format!(
        "{}{}",
        if sig.starts_with('0') { "1" } else { "0" },
        &sig[1..]
    );
    bad["signature"] = serde_json::Value::String(flipped);
    std::fs::write(d.join("bad.json"), bad.to_string()).unwrap();
    let out = verify(
        "bad.json",
        &["--ca", "ca/root.pem", "--challenge", "login 42"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not verify"));
    // A changed challenge in the answer no longer matches its digest.
    let mut moved = answer.clone();
    moved["challenge"] = serde_json::Value::String("login 99".into());
    std::fs::write(d.join("moved.json"), moved.to_string()).unwrap();
    let out = verify("moved.json", &["--ca", "ca/root.pem", "--any-challenge"]);
    assert_eq!(out.status.code(), Some(1));
    // Not JSON: a usage error.
    std::fs::write(d.join("junk.json"), b"\x00\x01").unwrap();
    let out = verify("junk.json", &["--ca", "ca/root.pem", "--challenge", "x"]);
    assert_eq!(out.status.code(), Some(2));
}

/// Regression: without --challenge any signed digest was accepted, so an old
/// answer could be replayed. Now --challenge (or an explicit
/// --any-challenge, which the output flags) and --ca are required.
#[test]
fn a_verification_without_the_challenge_sent_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(asan(d, &["ca", "init", "ca"], false).status.success());
    let img = ["--virtual", "c.img"];
    let mut provision = img.to_vec();
    provision.extend(["provision", "--service", "citizen", "--ca", "ca"]);
    assert!(asan(d, &provision, true).status.success());
    let mut auth = img.to_vec();
    auth.extend(["--json", "auth", "--challenge", "login 7"]);
    let out = asan(d, &auth, true);
    assert!(out.status.success());
    std::fs::write(d.join("ans.json"), &out.stdout).unwrap();

    let out = asan(
        d,
        &["auth", "--verify", "ans.json", "--ca", "ca/root.pem"],
        false,
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--challenge"));
    let out = asan(
        d,
        &["auth", "--verify", "ans.json", "--challenge", "login 7"],
        false,
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--ca"));

    let args = [
        "auth",
        "--verify",
        "ans.json",
        "--ca",
        "ca/root.pem",
        "--any-challenge",
    ];
    let out = asan(d, &args, false);
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("WARNING: the challenge was not checked")
    );
    let mut json = vec!["--json"];
    json.extend(args);
    let out = asan(d, &json, false);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["valid"], true);
    assert_eq!(v["challenge_checked"], false);
    // The trust options belong to --verify.
    let mut misplaced = img.to_vec();
    misplaced.extend(["auth", "--challenge", "x", "--ca", "ca/root.pem"]);
    assert_eq!(asan(d, &misplaced, true).status.code(), Some(2));
}
