//! `asan sign --tsa` and `asan verify` as a user runs them.

use std::net::TcpListener;
use std::time::{Duration, SystemTime};

use asan_host::cms::{TimeStampInfo, timestamp_of};
use sha2::{Digest, Sha256};

use crate::servers::*;
use crate::setup::*;

#[test]
fn signed_with_an_openssl_tsa_and_verified_by_asan_and_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    card(d, None);
    let ossl = openssl_tsa(d);
    let url = serve_openssl(&ossl, Mode::Reply);

    let out = must(asan(
        d,
        &[
            "--virtual",
            "card.img",
            "--json",
            "sign",
            "doc.txt",
            "--tsa",
            &url,
        ],
    ));
    let signed = json(&out);
    assert_eq!(
        signed["timestamp"]["tsa"], "CN=OpenSSL Test TSA",
        "{signed}"
    );
    assert_eq!(signed["timestamp"]["policy"], "1.2.3.4.1", "{signed}");
    assert_eq!(signed["timestamp"]["serial"], "01", "{signed}");
    let p7s = std::fs::read(d.join("doc.txt.p7s")).unwrap();

    // Our verifier: the TSA's root given apart from the signer's.
    let args = [
        "verify",
        "doc.txt",
        "doc.txt.p7s",
        "--ca",
        "ca/root.pem",
        "--tsa-ca",
        "ossl/root.pem",
    ];
    let out = asan(d, &args);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("time stamp:      ")
            && stdout.contains("by CN=OpenSSL Test TSA (serial 01, policy 1.2.3.4.1)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("(the signer's path, at the time stamp's genTime; the TSA's path at"),
        "{stdout}"
    );
    assert!(
        stdout.contains("OK      signature time-stamp: token of CN=OpenSSL Test TSA"),
        "{stdout}"
    );
    assert!(
        stdout.contains("OK      time-stamp authority: CN=OpenSSL Test TSA <- CN=OpenSSL Test Root (trust anchor)"),
        "{stdout}"
    );
    assert!(stdout.contains("form:            CAdES-T"), "{stdout}");
    let mut json_args = args.to_vec();
    json_args.push("--json");
    let v = json(&must(asan(d, &json_args)));
    assert_eq!(v["valid"], true);
    assert_eq!(v["checks"].as_array().unwrap().len(), 20, "{v}");
    assert_eq!(v["timestamp"]["valid"], true, "{v}");
    assert_eq!(v["timestamp"]["tsa"], "CN=OpenSSL Test TSA");
    assert_eq!(
        v["timestamp"]["tsa_path"],
        serde_json::json!(["CN=OpenSSL Test TSA", "CN=OpenSSL Test Root"])
    );
    // The signer's path was validated at genTime (openssl's genTime has
    // milliseconds; the report is to the second).
    assert_eq!(v["validation_time"], v["timestamp"]["gen_time"], "{v}");
    let imprint = hex::encode(Sha256::digest(signature_value(&p7s)));
    assert_eq!(v["timestamp"]["imprint"], format!("SHA-256 {imprint}"));

    // The TSA certificate is one for time stamping, for us as for openssl;
    // with its extendedKeyUsage not critical it is not, for either.
    must(asan(
        d,
        &[
            "cert",
            "verify",
            "ossl/tsa.pem",
            "--ca",
            "ossl/root.pem",
            "--purpose",
            "timestamp",
        ],
    ));
    let out = asan(
        d,
        &[
            "cert",
            "verify",
            "ossl/tsa-nc.pem",
            "--ca",
            "ossl/root.pem",
            "--purpose",
            "timestamp",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    assert!(
        text(&out).1.contains(
            "extended key usage failed: CN=OpenSSL Test TSA: its extendedKeyUsage timeStamping \
             is not critical"
        ),
        "{:?}",
        text(&out)
    );
    let (ok, t) = openssl(
        d,
        &[
            "verify",
            "-purpose",
            "timestampsign",
            "-CAfile",
            "ossl/root.pem",
            "ossl/tsa-nc.pem",
        ],
    );
    assert!(!ok, "{t}");
    let out = asan(
        d,
        &[
            "cert",
            "verify",
            "ossl/tsa.pem",
            "--ca",
            "ossl/root.pem",
            "--purpose",
            "sign",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "not for document signing");

    // Without --tsa-ca the TSA must chain to --ca: it does not.
    let out = asan(d, &args[..5]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("time-stamp authority failed"), "{stderr}");
    assert!(stdout.contains("FAILED  time-stamp authority"), "{stdout}");
    assert!(
        stdout.contains("(the time stamp is not valid, so not its genTime)"),
        "{stdout}"
    );

    // openssl reads the CAdES-T signature (the token is an unsigned
    // attribute) ...
    let (ok, t) = openssl(
        d,
        &[
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            "doc.txt.p7s",
            "-content",
            "doc.txt",
            "-CAfile",
            "ca/root.pem",
            "-out",
            "/dev/null",
        ],
    );
    assert!(ok && t.contains("Verification successful"), "{t}");
    // ... and verifies the token over the signature value.
    let info: TimeStampInfo = timestamp_of(&p7s).unwrap().unwrap();
    std::fs::write(d.join("token.der"), &info.token).unwrap();
    std::fs::write(d.join("signature.bin"), signature_value(&p7s)).unwrap();
    let t = openssl_ok(
        d,
        &[
            "ts",
            "-verify",
            "-data",
            "signature.bin",
            "-in",
            "token.der",
            "-token_in",
            "-CAfile",
            "ossl/root.pem",
        ],
    );
    assert!(t.contains("Verification: OK"), "{t}");
    // The recipe of docs/signing.md: the signature value and the token
    // found by asn1parse, written out with -strparse.
    let listing = openssl_ok(d, &["asn1parse", "-inform", "DER", "-in", "doc.txt.p7s"]);
    let lines: Vec<&str> = listing.lines().collect();
    let offset = |line: &str| line.split(':').next().unwrap().trim().to_owned();
    let unsigned = lines
        .iter()
        .position(|l| l.contains("cons: cont [ 1 ]"))
        .unwrap_or_else(|| panic!("{listing}"));
    assert!(
        lines[unsigned - 1].contains("prim: OCTET STRING"),
        "{listing}"
    );
    assert!(
        lines[unsigned + 2].ends_with(":id-smime-aa-timeStampToken"),
        "{listing}"
    );
    for (line, file) in [(unsigned - 1, "sig2.bin"), (unsigned + 4, "token2.der")] {
        openssl_ok(
            d,
            &[
                "asn1parse",
                "-inform",
                "DER",
                "-in",
                "doc.txt.p7s",
                "-strparse",
                &offset(lines[line]),
                "-noout",
                "-out",
                file,
            ],
        );
    }
    assert_eq!(
        std::fs::read(d.join("sig2.bin")).unwrap(),
        signature_value(&p7s)
    );
    assert_eq!(std::fs::read(d.join("token2.der")).unwrap(), info.token);
    let t = openssl_ok(
        d,
        &["ts", "-reply", "-in", "token2.der", "-token_in", "-text"],
    );
    // openssl's token has what ours do not: genTime with milliseconds,
    // accuracy in milliseconds, ordering, the TSA's name; all read.
    assert!(t.contains("TSA: DirName:/CN=OpenSSL Test TSA"), "{t}");
    assert!(t.contains("Ordering: yes"), "{t}");
    assert!(t.contains("0x01F4 millis"), "{t}");
}

#[test]
fn signed_with_asan_tsa_serve() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    card(d, None);
    must(asan(d, &["tsa", "init", "tsa", "--ca", "ca"]));
    let (mut server, url) = asan_tsa_serve(d, "tsa");
    let out = asan(
        d,
        &[
            "--virtual",
            "card.img",
            "sign",
            "doc.txt",
            "--attached",
            "-o",
            "doc.p7m",
            "--tsa",
            &url,
        ],
    );
    server.kill().unwrap();
    server.wait().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("(CMS CAdES-T, attached,"), "{stdout}");
    assert!(
        stdout.contains("time stamp:   ")
            && stdout.contains(
                "by CN=Asan Imza Development TSA,O=Asan Imza Development CA,C=AZ (serial 01"
            ),
        "{stdout}"
    );
    // One root for the signer and the TSA: --ca is enough.
    let out = must(asan(
        d,
        &["verify", "doc.p7m", "--ca", "ca/root.pem", "--json"],
    ));
    let v = json(&out);
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(v["timestamp"]["valid"], true, "{v}");
    assert_eq!(
        v["timestamp"]["policy"],
        "2.25.61485682124220308471771109637782283797.2.1"
    );
    let names: Vec<&str> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names[4..8],
        [
            "signing-time",
            "signing-certificate-v2",
            "signature time-stamp",
            "time-stamp authority"
        ]
    );
    // A TSA root that is not the TSA's: the token is not trusted.
    must(asan(d, &["ca", "init", "other"]));
    let out = asan(
        d,
        &[
            "verify",
            "doc.p7m",
            "--ca",
            "ca/root.pem",
            "--tsa-ca",
            "other/root.pem",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    assert!(
        text(&out).1.contains("time-stamp authority failed"),
        "{:?}",
        text(&out)
    );
}

#[test]
fn a_failing_tsa_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    card(d, None);
    let ossl = openssl_tsa(d);
    let down = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/", l.local_addr().unwrap())
    };
    let cases = [
        (down, "connection refused (is the TSA running?)"),
        (serve_openssl(&ossl, Mode::Silent), "no answer within 0.5 s"),
        (
            serve_openssl(&ossl, Mode::Garbage),
            "the answer is not a TimeStampResp",
        ),
        (
            serve_openssl(&ossl, Mode::OtherImprint),
            "it is not a token for this data",
        ),
        (
            serve_openssl(&ossl, Mode::Reject),
            "the request was refused: rejection",
        ),
    ];
    for (url, expected) in &cases {
        let started = std::time::Instant::now();
        let out = asan_at(
            d,
            None,
            &["--virtual", "card.img", "sign", "doc.txt", "--tsa", url],
            &[("ASAN_TSA_TIMEOUT", "0.5")],
        );
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{url}: {stdout}{stderr}");
        assert!(
            stderr.starts_with(&format!("asan: time stamp: the TSA at {url}: "))
                || stderr.contains(&format!("time stamp: the TSA at {url}: ")),
            "{stderr}"
        );
        assert!(stderr.contains(expected), "{expected}: {stderr}");
        assert!(!d.join("doc.txt.p7s").exists(), "{url}: a file was written");
        assert_eq!(hidden(d), Vec::<String>::new(), "temporary files left");
        assert!(started.elapsed() < Duration::from_secs(30));
    }
    // The rejection names openssl's failure.
    let out = asan_at(
        d,
        None,
        &[
            "--virtual",
            "card.img",
            "sign",
            "doc.txt",
            "--tsa",
            &cases[4].0,
        ],
        &[],
    );
    assert!(text(&out).1.contains("failure: badAlg"), "{:?}", text(&out));
    // An existing signature file is left as it was: refused before the
    // card without --force, and with --force kept when the TSA fails.
    std::fs::write(d.join("doc.txt.p7s"), b"the old one").unwrap();
    let sign = |force: bool| {
        let mut args = vec![
            "--virtual",
            "card.img",
            "sign",
            "doc.txt",
            "--tsa",
            &cases[2].0,
        ];
        if force {
            args.push("--force");
        }
        asan(d, &args)
    };
    let out = sign(false);
    assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
    assert!(text(&out).1.contains("--force"), "{:?}", text(&out));
    let out = sign(true);
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    assert_eq!(
        std::fs::read(d.join("doc.txt.p7s")).unwrap(),
        b"the old one"
    );
    // https and other schemes: a usage error before the card is asked.
    for url in ["https://tsa.example/", "ftp://tsa.example/"] {
        let out = asan_at(
            d,
            None,
            &["--virtual", "card.img", "sign", "doc.txt", "--tsa", url],
            &[("ASAN_PIN2", "00000")],
        );
        assert_eq!(out.status.code(), Some(2), "{url}: {:?}", text(&out));
        assert!(text(&out).1.contains("plain HTTP only"), "{:?}", text(&out));
    }
    // The wrong PIN2 above never reached the card: the right one works.
    let url = serve_openssl(&ossl, Mode::Reply);
    let out = must(asan(
        d,
        &[
            "--virtual",
            "card.img",
            "sign",
            "doc.txt",
            "-o",
            "ok.p7s",
            "--tsa",
            &url,
        ],
    ));
    assert!(text(&out).0.contains("CAdES-T"));
    assert_eq!(hidden(d), Vec::<String>::new());
}

#[test]
fn a_time_stamp_keeps_a_signature_valid_after_the_certificate_expired() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The CA and the card 1094 days ago: the signing certificate (1095
    // days) expires tomorrow.
    card(d, Some("1094 days ago"));
    must(asan(d, &["tsa", "init", "tsa", "--ca", "ca"]));
    let (mut server, url) = asan_tsa_serve(d, "tsa");
    let out = asan(
        d,
        &[
            "--virtual",
            "card.img",
            "sign",
            "doc.txt",
            "-o",
            "stamped.p7s",
            "--tsa",
            &url,
        ],
    );
    server.kill().unwrap();
    server.wait().unwrap();
    must(out);
    must(asan(
        d,
        &[
            "--virtual",
            "card.img",
            "sign",
            "doc.txt",
            "-o",
            "plain.p7s",
        ],
    ));
    let now = SystemTime::now();
    let later = rfc3339(now + Duration::from_secs(3 * 86_400));
    let verify = |sig: &str, at: &str| {
        asan(
            d,
            &[
                "verify",
                "doc.txt",
                sig,
                "--ca",
                "ca/root.pem",
                "--at",
                at,
                "--json",
            ],
        )
    };
    // Today both are valid.
    must(verify("stamped.p7s", &rfc3339(now)));
    must(verify("plain.p7s", &rfc3339(now)));
    // In three days: the time-stamped one is (its signer's path at genTime,
    // the TSA's at the --at time), the other not.
    let out = verify("stamped.p7s", &later);
    let v = json(&out);
    assert!(out.status.success(), "{v:#}");
    assert_eq!(v["validation_time"], v["timestamp"]["gen_time"]);
    assert_eq!(v["timestamp"]["tsa_validation_time"], later.as_str());
    let generated = v["timestamp"]["gen_time"].as_str().unwrap().to_owned();
    assert!(
        generated.as_str() <= rfc3339(SystemTime::now()).as_str(),
        "{generated}"
    );
    let out = verify("plain.p7s", &later);
    let v = json(&out);
    assert_eq!(out.status.code(), Some(1), "{v:#}");
    assert_eq!(v["validation_time"], later.as_str());
    assert!(v["timestamp"].is_null());
    let validity = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "validity")
        .unwrap();
    assert_eq!(validity["ok"], false, "{validity}");
    assert!(
        validity["detail"].as_str().unwrap().contains("expired"),
        "{validity}"
    );
    // The stamped one with a TSA root that is not the TSA's: no trusted
    // genTime, so the signer's path is validated at --at, and fails too.
    must(asan(d, &["ca", "init", "other"]));
    let out = asan(
        d,
        &[
            "verify",
            "doc.txt",
            "stamped.p7s",
            "--ca",
            "ca/root.pem",
            "--tsa-ca",
            "other/root.pem",
            "--at",
            &later,
            "--json",
        ],
    );
    let v = json(&out);
    assert_eq!(out.status.code(), Some(1), "{v:#}");
    assert_eq!(v["validation_time"], later.as_str());
    assert_eq!(v["timestamp"]["valid"], false);
    // A validation time before the token was made: the token's time has
    // not come, and it is refused.
    let before = rfc3339(now - Duration::from_secs(3600));
    let out = verify("stamped.p7s", &before);
    let v = json(&out);
    assert_eq!(out.status.code(), Some(1), "{v:#}");
    let stamp = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "signature time-stamp")
        .unwrap();
    assert!(
        stamp["detail"]
            .as_str()
            .unwrap()
            .contains("is after the validation time"),
        "{stamp}"
    );
}

// ---------------------------------------------------------------------
// The library: a token moved to another signature, tokens from an
// in-process TSA, no signing-time attribute.
