//! `asan ca init --crl-url`, `asan ca revoke` and `asan ca crl`: output,
//! JSON keys, exit codes, and that refusals change nothing.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use asan_applet::CertificateProfile;

use crate::support::{arg, asan, csr_for, openssl, openssl_ok, openssl_self_signed, snapshot};

/// `asan ca issue DIR REQ --profile citizen --usage sign -o OUT`.
fn issue(dir: &Path, name: &str) -> PathBuf {
    let parent = dir.parent().unwrap();
    let req = parent.join(format!("{name}.csr"));
    std::fs::write(&req, csr_for(CertificateProfile::Citizen)).unwrap();
    let out = parent.join(format!("{name}.pem"));
    asan()
        .args(&[
            "ca",
            "issue",
            arg(dir),
            arg(&req),
            "--profile",
            "citizen",
            "--usage",
            "sign",
        ])
        .args(&["-o", arg(&out)])
        .run()
        .ok();
    out
}

fn keys(v: &serde_json::Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

#[test]
fn revoke_then_publish_a_crl() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    let out = asan().args(&["ca", "init", arg(&dir)]).run();
    let canonical = std::fs::canonicalize(&dir).unwrap();
    assert!(
        out.ok().contains(&format!(
            "CRL distribution point: file://{}/root.crl",
            canonical.display()
        )),
        "{out:?}"
    );
    let leaf = issue(&dir, "leaf");
    let kept = issue(&dir, "kept");

    let v = asan()
        .args(&[
            "--json",
            "ca",
            "revoke",
            arg(&dir),
            arg(&leaf),
            "--reason",
            "keyCompromise",
        ])
        .run()
        .json();
    assert_eq!(
        keys(&v),
        ["reason", "revoked_at", "serial", "subject"]
            .map(String::from)
            .into()
    );
    assert_eq!(v["reason"], "key-compromise");
    assert!(
        v["subject"].as_str().unwrap().contains("CN=Rashad Aliyev"),
        "{v}"
    );
    let serial = v["serial"].as_str().unwrap().to_owned();
    assert!(dir.join("issued").join(format!("{serial}.pem")).is_file());

    let before = snapshot(&dir);
    let line = asan()
        .args(&[
            "ca",
            "revoke",
            arg(&dir),
            arg(&leaf),
            "--reason",
            "superseded",
        ])
        .run()
        .fails(1, "already revoked")
        .to_owned();
    assert!(
        line.contains("key-compromise") && line.contains(arg(&leaf)),
        "{line}"
    );
    assert_eq!(snapshot(&dir), before);

    let v = asan()
        .args(&["--json", "ca", "crl", arg(&dir)])
        .run()
        .json();
    assert_eq!(
        keys(&v),
        [
            "crl_number",
            "file",
            "next_update",
            "revoked",
            "this_update"
        ]
        .map(String::from)
        .into()
    );
    assert_eq!(v["crl_number"], 1);
    assert_eq!(v["revoked"], 1);
    let crl = dir.join("root.crl");
    assert_eq!(v["file"], arg(&crl));
    let text = asan().args(&["ca", "crl", arg(&dir), "--days", "2"]).run();
    let text = text.ok();
    assert!(
        text.starts_with(&format!("CRL number 2 written to {}", crl.display()))
            && text.contains("1 revoked certificate\n"),
        "{text}"
    );
    let verify = |cert: &Path| {
        openssl(&[
            "verify",
            "-crl_check_all",
            "-CRLfile",
            arg(&crl),
            "-CAfile",
            arg(&dir.join("root.pem")),
            arg(cert),
        ])
    };
    let (ok, out) = verify(&leaf);
    assert!(!ok && out.contains("certificate revoked"), "{out}");
    let (ok, out) = verify(&kept);
    assert!(ok && out.contains(": OK"), "{out}");

    // A DER certificate, text output: one line.
    let der = tmp.path().join("kept.der");
    openssl_ok(&[
        "x509",
        "-in",
        arg(&kept),
        "-outform",
        "DER",
        "-out",
        arg(&der),
    ]);
    let out = asan().args(&["ca", "revoke", arg(&dir), arg(&der)]).run();
    let line = out.ok();
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(
        line.starts_with("revoked ") && line.contains("reason unspecified"),
        "{line}"
    );
}

#[test]
fn every_reason_and_its_rfc_spelling() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    asan().args(&["ca", "init", arg(&dir)]).run().ok();
    for (i, (spelling, name)) in [
        ("unspecified", "unspecified"),
        ("key-compromise", "key-compromise"),
        ("cACompromise", "ca-compromise"),
        ("affiliationChanged", "affiliation-changed"),
        ("superseded", "superseded"),
        ("cessation-of-operation", "cessation-of-operation"),
        ("certificateHold", "certificate-hold"),
        ("privilege-withdrawn", "privilege-withdrawn"),
    ]
    .into_iter()
    .enumerate()
    {
        let cert = issue(&dir, &format!("c{i}"));
        let v = asan()
            .args(&[
                "--json",
                "ca",
                "revoke",
                arg(&dir),
                arg(&cert),
                "--reason",
                spelling,
            ])
            .run()
            .json();
        assert_eq!(v["reason"], name, "{spelling}");
    }
    let cert = issue(&dir, "bogus");
    asan()
        .args(&[
            "ca",
            "revoke",
            arg(&dir),
            arg(&cert),
            "--reason",
            "removeFromCRL",
        ])
        .run()
        .usage_error();
    let v = asan()
        .args(&["--json", "ca", "crl", arg(&dir)])
        .run()
        .json();
    assert_eq!(v["revoked"], 8);
}

#[test]
fn refusals_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    asan().args(&["ca", "init", arg(&dir)]).run().ok();
    issue(&dir, "ours");
    let before = snapshot(&dir);

    let (key, foreign) = (tmp.path().join("f.key"), tmp.path().join("f.pem"));
    openssl_self_signed(&key, &foreign, "/C=AZ/CN=Foreign", &[]);
    asan()
        .args(&["ca", "revoke", arg(&dir), arg(&foreign)])
        .run()
        .fails(1, "this CA did not issue the certificate");

    let missing = tmp.path().join("missing/dir/x.crl");
    asan()
        .args(&["ca", "crl", arg(&dir), "-o", arg(&missing)])
        .run()
        .fails(1, "missing/dir/x.crl");
    assert!(!tmp.path().join("missing").exists());
    for days in ["0", "367", "-1"] {
        asan()
            .args(&["ca", "crl", arg(&dir), "--days", days])
            .run()
            .usage_error();
    }
    assert_eq!(snapshot(&dir), before);

    let bad = tmp.path().join("bad");
    asan()
        .args(&[
            "ca",
            "init",
            arg(&bad),
            "--crl-url",
            "ftp://crl.example.invalid/x.crl",
        ])
        .run()
        .fails(2, "CRL URL");
    assert!(!bad.exists());
    let good = tmp.path().join("good");
    let v = asan()
        .args(&[
            "--json",
            "ca",
            "init",
            arg(&good),
            "--crl-url",
            "https://crl.example.invalid/a.crl",
        ])
        .run()
        .json();
    assert_eq!(v["crl_url"], "https://crl.example.invalid/a.crl");
}
