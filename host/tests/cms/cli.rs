//! `asan sign FILE` on a virtual card personalised through the CLI, checked
//! by the real `openssl cms -verify` and by `asan verify`.

use std::path::Path;
use std::process::Command;

use super::support::{asan, openssl, p, personalised_card, sha256, text};

const DOC: &[u8] = "Icarə müqaviləsi, 2026-11-01.\nBoth parties sign.\n".as_bytes();

fn openssl_verify(sig: &Path, content: Option<&Path>, root: &Path, out: &str) -> (bool, String) {
    let mut args = vec!["cms", "-verify", "-binary", "-inform", "DER", "-in", p(sig)];
    if let Some(c) = content {
        args.extend(["-content", p(c)]);
    }
    args.extend(["-CAfile", p(root), "-out", out]);
    openssl(&args)
}

#[test]
fn cli_signs_a_file_that_openssl_and_asan_verify() {
    let dir = tempfile::tempdir().unwrap();
    let (img, root) = personalised_card(dir.path());
    let doc = dir.path().join("contract.txt");
    std::fs::write(&doc, DOC).unwrap();
    let out = asan(&["--virtual", p(&img), "sign", p(&doc), "--json"], &[]);
    assert!(out.status.success(), "{:?}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let sig = dir.path().join("contract.txt.p7s");
    assert_eq!(json["file"], p(&doc));
    assert_eq!(json["signature_file"], p(&sig));
    assert_eq!(json["digest"], hex::encode(sha256(DOC)));
    assert!(
        json["signer"]
            .as_str()
            .unwrap()
            .contains("CN=Test Subscriber")
    );
    assert!(json["signing_time"].as_str().unwrap().ends_with('Z'));

    // Issue 6's command: `openssl cms -verify -binary -inform DER -content
    // FILE -CAfile ROOT` (with -in for the signature and -out for the content).
    let (ok, t) = openssl_verify(&sig, Some(&doc), &root, "/dev/null");
    assert!(ok && t.contains("Verification successful"), "{t}");

    let out = asan(&["verify", p(&doc), p(&sig), "--ca", p(&root)], &[]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert_eq!(stdout.matches("  OK  ").count(), 18, "{stdout}");
    assert!(!stdout.contains("FAILED"), "{stdout}");
    assert!(stdout.contains("form:            CAdES-BES"), "{stdout}");
    assert!(stdout.contains("the signature is valid"), "{stdout}");

    let out = asan(
        &["verify", p(&doc), p(&sig), "--ca", p(&root), "--json"],
        &[],
    );
    assert!(out.status.success(), "{:?}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["valid"], true);
    assert_eq!(json["checks"].as_array().unwrap().len(), 18);
    assert_eq!(json["cades_bes"], true);
    assert_eq!(json["path"].as_array().unwrap().len(), 2);

    std::fs::write(&doc, b"Icare muqavilesi, changed.\n").unwrap();
    let out = asan(&["verify", p(&doc), p(&sig), "--ca", p(&root)], &[]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("content digest failed"), "{stderr}");
    assert!(stdout.contains("FAILED  content digest"), "{stdout}");
    let (ok, t) = openssl_verify(&sig, Some(&doc), &root, "/dev/null");
    assert!(!ok, "openssl accepted changed content: {t}");
}

#[test]
fn cli_attached_signature_with_a_chain_file() {
    let dir = tempfile::tempdir().unwrap();
    let (img, root) = personalised_card(dir.path());
    let doc = dir.path().join("letter.txt");
    std::fs::write(&doc, DOC).unwrap();
    let sig = dir.path().join("letter.signed");
    let out = asan(
        &[
            "--virtual",
            p(&img),
            "sign",
            p(&doc),
            "--attached",
            "--chain",
            p(&root),
            "--profile",
            "citizen",
            "-o",
            p(&sig),
        ],
        &[],
    );
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(text(&out).0.contains("attached"));
    let content = dir.path().join("content.out");
    let certs = dir.path().join("certs.pem");
    let (ok, t) = openssl(&[
        "cms",
        "-verify",
        "-binary",
        "-inform",
        "DER",
        "-in",
        p(&sig),
        "-CAfile",
        p(&root),
        "-out",
        p(&content),
        "-certsout",
        p(&certs),
    ]);
    assert!(ok, "{t}");
    assert_eq!(std::fs::read(&content).unwrap(), DOC);
    let pem = std::fs::read_to_string(&certs).unwrap();
    assert_eq!(
        pem.matches("BEGIN CERTIFICATE").count(),
        2,
        "signer and chain"
    );

    let out = asan(&["verify", p(&sig), "--ca", p(&root)], &[]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(text(&out).0.contains("embedded content, 2 certificate(s)"));
    // The root in the message is not trusted because it is there: another
    // trust anchor refuses the signature.
    let other = dir.path().join("other-ca");
    assert!(asan(&["ca", "init", p(&other)], &[]).status.success());
    let out = asan(
        &["verify", p(&sig), "--ca", p(&other.join("root.pem"))],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    let out = asan(
        &["verify", p(&doc), p(&sig), "--ca", p(&root), "--json"],
        &[],
    );
    assert!(out.status.success(), "{:?}", text(&out));
}

#[test]
fn cli_wrong_pin2_writes_nothing_and_sign_digest_still_works() {
    let dir = tempfile::tempdir().unwrap();
    let (img, _) = personalised_card(dir.path());
    let doc = dir.path().join("doc.txt");
    std::fs::write(&doc, DOC).unwrap();
    let out = asan(
        &["--virtual", p(&img), "sign", p(&doc)],
        &[("ASAN_PIN2", "99999")],
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("wrong PIN2, 2 tries left"), "{stderr}");
    assert!(!dir.path().join("doc.txt.p7s").exists());

    let digest = hex::encode(sha256(DOC));
    let out = asan(&["--virtual", p(&img), "sign", "--digest", &digest], &[]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout.trim().len(), 128, "raw r || s in hex: {stdout}");
    assert!(stdout.trim().chars().all(|c| c.is_ascii_hexdigit()));

    let out = asan(
        &["--virtual", p(&img), "sign", p(&doc), "--digest", &digest],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "FILE and --digest conflict");
    let out = asan(&["--virtual", p(&img), "sign"], &[]);
    assert_eq!(out.status.code(), Some(2), "FILE or --digest is needed");
}

#[test]
fn cli_signs_a_large_file_in_constant_memory() {
    const SIZE: u64 = 64 << 20;
    let dir = tempfile::tempdir().unwrap();
    let (img, root) = personalised_card(dir.path());
    let big = dir.path().join("big.bin");
    // Sparse: no disk used, every byte zero.
    std::fs::File::create(&big).unwrap().set_len(SIZE).unwrap();
    let time = Path::new("/usr/bin/time");
    let out = if time.exists() {
        Command::new(time)
            .args(["-f", "%M", env!("CARGO_BIN_EXE_asan"), "--virtual", p(&img)])
            .args(["sign", p(&big), "--json"])
            .env("ASAN_PIN2", "12345")
            .output()
            .unwrap()
    } else {
        super::support::asan(&["--virtual", p(&img), "sign", p(&big), "--json"], &[])
    };
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let reference = Command::new("sha256sum").arg(&big).output().unwrap();
    let reference = String::from_utf8_lossy(&reference.stdout);
    assert_eq!(
        Some(json["digest"].as_str().unwrap()),
        reference.split(' ').next()
    );
    match stderr
        .trim()
        .lines()
        .last()
        .and_then(|l| l.parse::<u64>().ok())
    {
        Some(kib) => {
            println!("asan sign on a {} MiB file: peak RSS {kib} KiB", SIZE >> 20);
            assert!(
                kib < 32 * 1024,
                "peak RSS {kib} KiB: the file was read into memory"
            );
        }
        None => println!("no /usr/bin/time here: peak RSS not measured"),
    }
    let sig = dir.path().join("big.bin.p7s");
    let (ok, t) = openssl_verify(&sig, Some(&big), &root, "/dev/null");
    assert!(ok, "{t}");
}
