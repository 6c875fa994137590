//! Signature time-stamps (CAdES-T, RFC 3161): `asan sign FILE --tsa URL`
//! on a personalised virtual card against a TSA that is not ours (`openssl
//! ts -reply` behind a small HTTP server in this test) and against `asan
//! tsa serve`; `asan verify` with `--tsa-ca`, `openssl cms -verify` and
//! `openssl ts -verify` on the token; TSAs that fail (down, silent,
//! garbage, a token for other data, a rejection) leave no file; a
//! time-stamped signature stays valid after the signer's certificate
//! expired (its path validated at genTime), one without a token does not;
//! a token moved to another signature, or from an untrusted TSA, makes the
//! signature invalid.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, SystemTime};

use asan_host::cms::{
    Check, SignOptions, TimeStampInfo, VerifyOptions, sign_detached, timestamp_of, verify_with,
};
use asan_host::pki::TrustAnchors;
use asan_host::tsp::{Tsa, TsaClient};
use asan_host::x509::{DevCa, SoftwareSigner, SubjectInfo, build_csr, subject_name};
use sha2::{Digest, Sha256};

const DOC: &[u8] = "Müqavilə № 42: tərəflər razılaşır.\n".as_bytes();

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `asan ARGS` in `dir` with the test PINs, under `faketime AT` if given.
fn asan_at(dir: &Path, at: Option<&str>, args: &[&str], env: &[(&str, &str)]) -> Output {
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

fn asan(dir: &Path, args: &[&str]) -> Output {
    asan_at(dir, None, args, &[])
}

fn must(out: Output) -> Output {
    assert!(out.status.success(), "{:?}", text(&out));
    out
}

fn openssl(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    let (o, e) = text(&out);
    (out.status.success(), format!("{o}{e}"))
}

fn openssl_ok(dir: &Path, args: &[&str]) -> String {
    let (ok, t) = openssl(dir, args);
    assert!(ok, "openssl {args:?}: {t}");
    t
}

/// A development CA in `dir/ca` and a virtual card personalised from it
/// (`dir/card.img`, PIN2 12345), at the faked time `at` if given; and the
/// document `dir/doc.txt`.
fn card(dir: &Path, at: Option<&str>) {
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
fn hidden(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {:?}", text(out)))
}

/// RFC 3339 of a time (what `--at` takes).
fn rfc3339(t: SystemTime) -> String {
    asan_host::pki::rfc3339(t)
}

// ---------------------------------------------------------------------
// A TSA that is not ours: `openssl ts -reply` behind a loopback HTTP server.

/// What the wrapper does with a request.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    /// `openssl ts -reply` on the request.
    Reply,
    /// A token from `openssl ts -reply` for another hash.
    OtherImprint,
    /// `openssl ts -reply` with a configuration that takes only SHA-512:
    /// a rejection (badAlg).
    Reject,
    /// 200 application/timestamp-reply with bytes that are not DER.
    Garbage,
    /// Accept the connection, never answer.
    Silent,
}

/// An openssl CA and a P-256 TSA under it (EKU timeStamping critical), and
/// the `openssl ts` configurations, in `dir/ossl`.
fn openssl_tsa(dir: &Path) -> PathBuf {
    let d = dir.join("ossl");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(
        d.join("ext.cnf"),
        "[ca]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\n\
         subjectKeyIdentifier = hash\n\
         [tsa]\nbasicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature\n\
         extendedKeyUsage = critical,timeStamping\nsubjectKeyIdentifier = hash\n\
         authorityKeyIdentifier = keyid\n\
         [tsa_nc]\nbasicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature\n\
         extendedKeyUsage = timeStamping\n",
    )
    .unwrap();
    for (name, subject) in [
        ("root", "/CN=OpenSSL Test Root"),
        ("tsa", "/CN=OpenSSL Test TSA"),
    ] {
        openssl_ok(
            &d,
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                &format!("{name}.key"),
            ],
        );
        openssl_ok(
            &d,
            &[
                "req",
                "-new",
                "-key",
                &format!("{name}.key"),
                "-subj",
                subject,
                "-out",
                &format!("{name}.csr"),
            ],
        );
    }
    openssl_ok(
        &d,
        &[
            "x509",
            "-req",
            "-in",
            "root.csr",
            "-signkey",
            "root.key",
            "-days",
            "30",
            "-extfile",
            "ext.cnf",
            "-extensions",
            "ca",
            "-out",
            "root.pem",
        ],
    );
    openssl_ok(
        &d,
        &[
            "x509",
            "-req",
            "-in",
            "tsa.csr",
            "-CA",
            "root.pem",
            "-CAkey",
            "root.key",
            "-set_serial",
            "7",
            "-days",
            "30",
            "-extfile",
            "ext.cnf",
            "-extensions",
            "tsa",
            "-out",
            "tsa.pem",
        ],
    );
    // The same key with extendedKeyUsage not critical: not a TSA
    // certificate by RFC 3161 §2.3.
    openssl_ok(
        &d,
        &[
            "x509",
            "-req",
            "-in",
            "tsa.csr",
            "-CA",
            "root.pem",
            "-CAkey",
            "root.key",
            "-set_serial",
            "8",
            "-days",
            "30",
            "-extfile",
            "ext.cnf",
            "-extensions",
            "tsa_nc",
            "-out",
            "tsa-nc.pem",
        ],
    );
    let config = |digests: &str| {
        format!(
            "[tsa]\ndefault_tsa = tsa_config\n[tsa_config]\nserial = ./tsaserial\n\
             crypto_device = builtin\nsigner_cert = ./tsa.pem\nsigner_key = ./tsa.key\n\
             signer_digest = sha256\ndefault_policy = 1.2.3.4.1\ndigests = {digests}\n\
             accuracy = secs:1, millisecs:500\nclock_precision_digits = 3\nordering = yes\n\
             tsa_name = yes\ness_cert_id_chain = no\ness_cert_id_alg = sha256\n"
        )
    };
    std::fs::write(d.join("ts.cnf"), config("sha256, sha384, sha512")).unwrap();
    std::fs::write(d.join("reject.cnf"), config("sha512")).unwrap();
    std::fs::write(d.join("tsaserial"), "00\n").unwrap();
    d
}

/// Reads one HTTP request; its body.
fn read_request(stream: &mut TcpStream) -> Vec<u8> {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut length = 0;
    let mut media = String::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap(),
                "content-type" => media = value.trim().to_owned(),
                _ => {}
            }
        }
    }
    assert_eq!(media, "application/timestamp-query");
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).unwrap();
    body
}

fn respond(stream: &mut TcpStream, body: &[u8]) {
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/timestamp-reply\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
}

/// Serves `mode` on a loopback port, one connection at a time, for as
/// long as the test runs; returns the URL.
fn serve_openssl(ossl: &Path, mode: Mode) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/tsa", listener.local_addr().unwrap());
    let ossl = ossl.to_path_buf();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for (n, stream) in listener.incoming().enumerate() {
            let mut stream = stream.unwrap();
            if mode == Mode::Silent {
                held.push(stream);
                continue;
            }
            let query = read_request(&mut stream);
            let q = ossl.join(format!("q{n}.tsq"));
            let r = ossl.join(format!("r{n}.tsr"));
            let (queryfile, config) = match mode {
                Mode::OtherImprint => {
                    let other = hex::encode(Sha256::digest(b"another signature"));
                    openssl_ok(
                        &ossl,
                        &[
                            "ts",
                            "-query",
                            "-digest",
                            &other,
                            "-sha256",
                            "-cert",
                            "-out",
                            p(&q),
                        ],
                    );
                    (q, "ts.cnf")
                }
                Mode::Reject => {
                    std::fs::write(&q, &query).unwrap();
                    (q, "reject.cnf")
                }
                _ => {
                    std::fs::write(&q, &query).unwrap();
                    (q, "ts.cnf")
                }
            };
            let body = if mode == Mode::Garbage {
                b"\x30\x82\xff\xffthis is not a TimeStampResp".to_vec()
            } else {
                openssl_ok(
                    &ossl,
                    &[
                        "ts",
                        "-reply",
                        "-queryfile",
                        p(&queryfile),
                        "-config",
                        config,
                        "-out",
                        p(&r),
                    ],
                );
                std::fs::read(&r).unwrap()
            };
            respond(&mut stream, &body);
        }
    });
    url
}

/// `asan tsa serve DIR --listen 127.0.0.1:0` in `dir`; the process and
/// its URL (from the line it prints on stderr).
fn asan_tsa_serve(dir: &Path, tsa: &str) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_asan"))
        .args(["tsa", "serve", tsa, "--listen", "127.0.0.1:0"])
        .current_dir(dir)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let url = first
        .split_once("time-stamping authority on ")
        .map(|(_, u)| u.trim().to_owned())
        .unwrap_or_else(|| panic!("{first}"));
    // Keep reading its log so that it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, url)
}

/// The signature value of the one signer of a CMS signature (DER).
fn signature_value(p7s: &[u8]) -> Vec<u8> {
    use der::Decode;
    let ci = cms::content_info::ContentInfo::from_der(p7s).unwrap();
    let sd: cms::signed_data::SignedData = ci.content.decode_as().unwrap();
    sd.signer_infos.0.as_slice()[0]
        .signature
        .as_bytes()
        .to_vec()
}

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

struct Lab {
    _dir: tempfile::TempDir,
    ca: DevCa,
    url: String,
}

/// A development CA and its TSA served in this process.
fn lab() -> Lab {
    let dir = tempfile::tempdir().unwrap();
    let ca = DevCa::init(&dir.path().join("ca")).unwrap();
    let tsa = Tsa::init(&dir.path().join("tsa"), &ca, SystemTime::now()).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        asan_host::tsp::serve::serve(&tsa, &listener, &|| false, &mut |_| {}).unwrap();
    });
    Lab { _dir: dir, ca, url }
}

fn signer(ca: &DevCa) -> (SoftwareSigner, Vec<u8>) {
    let mut key = SoftwareSigner::generate().unwrap();
    let info = SubjectInfo {
        name: "Leyla Həsənova".into(),
        id: "6XKQ2P1".into(),
        organisation: None,
        voen: None,
    };
    let subject = subject_name(asan_applet::CertificateProfile::Citizen, &info).unwrap();
    let csr = build_csr(subject, &mut key).unwrap();
    let cert = ca
        .issue(
            &csr,
            asan_applet::CertificateProfile::Citizen,
            asan_applet::KeyUsage::Signing,
            SystemTime::now() - Duration::from_secs(86_400),
        )
        .unwrap();
    (key, cert)
}

fn stamped_options(url: &str) -> SignOptions {
    SignOptions {
        timestamp: Some(TsaClient::new(url).unwrap()),
        ..SignOptions::new(SystemTime::now())
    }
}

#[test]
fn a_token_moved_to_another_signature_fails() {
    let lab = lab();
    let (mut key, cert) = signer(&lab.ca);
    let opts = stamped_options(&lab.url);
    let a = sign_detached(&[1u8; 32], &cert, &mut key, &opts).unwrap();
    let b = sign_detached(&[2u8; 32], &cert, &mut key, &opts).unwrap();
    let anchors = TrustAnchors::from_der(&[lab.ca.root_der()], "root").unwrap();
    let at = VerifyOptions::at(SystemTime::now() + Duration::from_secs(60));
    let v = verify_with(&a, Some(&[1u8; 32]), &anchors, &at).unwrap();
    assert!(v.valid, "{:#?}", v.checks);
    let report = v.timestamp.as_ref().unwrap();
    assert_eq!(report.token(), timestamp_of(&a).unwrap().unwrap().token);
    assert!(report.gen_time() <= SystemTime::now());

    // b's signer info with a's token.
    use der::{Decode, Encode};
    let take = |der: &[u8]| {
        let ci = cms::content_info::ContentInfo::from_der(der).unwrap();
        let sd: cms::signed_data::SignedData = ci.content.decode_as().unwrap();
        (ci.content_type, sd)
    };
    let (_, sd_a) = take(&a);
    let (ty, mut sd_b) = take(&b);
    let mut info = sd_b.signer_infos.0.as_slice()[0].clone();
    info.unsigned_attrs = sd_a.signer_infos.0.as_slice()[0].unsigned_attrs.clone();
    sd_b.signer_infos =
        cms::signed_data::SignerInfos(der::asn1::SetOfVec::try_from(vec![info]).unwrap());
    let moved = cms::content_info::ContentInfo {
        content_type: ty,
        content: der::asn1::Any::encode_from(&sd_b).unwrap(),
    }
    .to_der()
    .unwrap();
    let v = verify_with(&moved, Some(&[2u8; 32]), &anchors, &at).unwrap();
    assert!(!v.valid);
    let failed: Vec<_> = v.checks.iter().filter(|c| !c.ok).map(|c| c.name).collect();
    assert_eq!(failed, [Check::TIMESTAMP], "{:#?}", v.checks);
    assert!(
        v.check(Check::TIMESTAMP)
            .unwrap()
            .detail
            .contains("it is not a token for this data")
    );
    assert_eq!(v.validation_time, asan_host::pki::rfc3339(at.at));
    assert!(!v.timestamp.as_ref().unwrap().valid);
}

#[test]
fn without_the_signing_time_attribute() {
    let lab = lab();
    let (mut key, cert) = signer(&lab.ca);
    let opts = SignOptions {
        signing_time_attribute: false,
        ..stamped_options(&lab.url)
    };
    let der = sign_detached(&[5u8; 32], &cert, &mut key, &opts).unwrap();
    let anchors = TrustAnchors::from_der(&[lab.ca.root_der()], "root").unwrap();
    let v = verify_with(
        &der,
        Some(&[5u8; 32]),
        &anchors,
        &VerifyOptions::at(SystemTime::now()),
    )
    .unwrap();
    assert!(v.valid, "{:#?}", v.checks);
    assert!(v.signing_time.is_none());
    assert!(
        v.check(Check::SIGNING_TIME)
            .unwrap()
            .detail
            .starts_with("absent")
    );
    assert!(v.timestamp.as_ref().unwrap().valid);
    // And without a TSA: a plain signature without signing-time.
    let opts = SignOptions {
        signing_time_attribute: false,
        ..SignOptions::new(SystemTime::now())
    };
    let der = sign_detached(&[5u8; 32], &cert, &mut key, &opts).unwrap();
    assert!(timestamp_of(&der).unwrap().is_none());
    let v = verify_with(
        &der,
        Some(&[5u8; 32]),
        &anchors,
        &VerifyOptions::at(SystemTime::now()),
    )
    .unwrap();
    assert!(v.valid && v.timestamp.is_none(), "{:#?}", v.checks);
}

#[test]
fn a_tsa_that_fails_fails_the_signing() {
    let lab = lab();
    let (mut key, cert) = signer(&lab.ca);
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let opts = SignOptions {
        timestamp: Some(
            TsaClient::new(&format!("http://{}/", silent.local_addr().unwrap()))
                .unwrap()
                .with_timeout(Duration::from_millis(200)),
        ),
        ..SignOptions::new(SystemTime::now())
    };
    match sign_detached(&[5u8; 32], &cert, &mut key, &opts) {
        Err(asan_host::Error::Timestamp(m)) => assert!(m.contains("no answer within 0.2 s"), "{m}"),
        other => panic!("{other:?}"),
    }
}
