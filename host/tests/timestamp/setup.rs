//! The card, the asan and openssl commands, and small readers of their output.

use std::path::Path;
use std::process::{Command, Output};
use std::time::SystemTime;

pub const DOC: &[u8] = "Müqavilə № 42: tərəflər razılaşır.\n".as_bytes();

pub fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

pub fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `asan ARGS` in `dir` with the test PINs, under `faketime AT` if given.
pub fn asan_at(dir: &Path, at: Option<&str>, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = match at {
        Some(at) => {
            let mut c = Command::new("faketime");
            c.arg(at)
                .arg(env!("CARGO_BIN_EXE_asan"))
                .env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
            c
        }
        None => Command::new(env!("CARGO_BIN_EXE_asan")),
    };
    cmd.args(args)
        .current_dir(dir)
        .env("ASAN_PIN1", "1234")
        .env("ASAN_PIN2", "12345")
        .env("ASAN_PUK", "12345678")
        .env_remove("ASAN_TSA_TIMEOUT");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

pub fn asan(dir: &Path, args: &[&str]) -> Output {
    asan_at(dir, None, args, &[])
}

pub fn must(out: Output) -> Output {
    assert!(out.status.success(), "{:?}", text(&out));
    out
}

pub fn openssl(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    let (o, e) = text(&out);
    (out.status.success(), format!("{o}{e}"))
}

pub fn openssl_ok(dir: &Path, args: &[&str]) -> String {
    let (ok, t) = openssl(dir, args);
    assert!(ok, "openssl {args:?}: {t}");
    t
}

/// A development CA in `dir/ca` and a virtual card personalised from it
/// (`dir/card.img`, PIN2 12345), at the faked time `at` if given; and the
/// document `dir/doc.txt`.
pub fn card(dir: &Path, at: Option<&str>) {
    must(asan_at(dir, at, &["ca", "init", "ca"], &[]));
    must(asan_at(
        dir,
        at,
        &[
            "--virtual",
            "card.img",
            "provision",
            "--service",
            "citizen",
            "--ca",
            "ca",
        ],
        &[],
    ));
    std::fs::write(dir.join("doc.txt"), DOC).unwrap();
}

/// The files of `dir` whose names start with `.` (temporary files).
pub fn hidden(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect()
}

pub fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {:?}", text(out)))
}

/// RFC 3339 of a time (what `--at` takes).
pub fn rfc3339(t: SystemTime) -> String {
    asan_host::pki::rfc3339(t)
}
