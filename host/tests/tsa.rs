//! The development time-stamping authority against OpenSSL: requests made
//! by `openssl ts -query` are answered by `asan tsa stamp` and the
//! responses checked by `openssl ts -verify` against the development root
//! (with the TSA's certificate in the token, or given beside it); nonce,
//! policy, serial numbers that never repeat, accuracy; requests the TSA
//! cannot serve get a rejection OpenSSL reads with the RFC's failure
//! reason; the TSA certificate is one OpenSSL accepts for time stamping.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Output};

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn asan(dir: &Path, args: &[&str]) -> Output {
    run(Command::new(env!("CARGO_BIN_EXE_asan"))
        .args(args)
        .current_dir(dir))
}

fn openssl(dir: &Path, args: &[&str]) -> Output {
    run(Command::new("openssl").args(args).current_dir(dir))
}

/// A CA and a TSA in a fresh directory, and a document.
fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(asan(d, &["ca", "init", "ca"]).status.success());
    let out = asan(d, &["tsa", "init", "tsa", "--ca", "ca"]);
    assert!(out.status.success(), "{}", text(&out));
    std::fs::write(d.join("doc"), "Bakı, 7 dekabr 2026\n").unwrap();
    dir
}

fn stamp(d: &Path, request: &str) -> Output {
    asan(d, &["--json", "tsa", "stamp", "tsa", request])
}

fn reply_text(d: &Path, response: &str) -> String {
    let out = openssl(d, &["ts", "-reply", "-in", response, "-text"]);
    assert!(out.status.success(), "{}", text(&out));
    text(&out)
}

#[test]
fn openssl_verifies_our_tokens() {
    let dir = setup();
    let d = dir.path();
    // With the certificate in the token, and a nonce.
    let out = openssl(
        d,
        &[
            "ts", "-query", "-data", "doc", "-sha256", "-cert", "-out", "a.tsq",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = stamp(d, "a.tsq");
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["status"].as_str(), v["serial"].as_u64()),
        (Some("granted"), Some(1)),
        "{v}"
    );
    let out = openssl(
        d,
        &[
            "ts",
            "-verify",
            "-data",
            "doc",
            "-in",
            "a.tsr",
            "-CAfile",
            "ca/root.pem",
        ],
    );
    assert!(text(&out).contains("Verification: OK"), "{}", text(&out));
    let query = text(&openssl(d, &["ts", "-query", "-in", "a.tsq", "-text"]));
    let nonce = query
        .lines()
        .find_map(|l| l.strip_prefix("Nonce: "))
        .unwrap()
        .to_owned();
    let reply = reply_text(d, "a.tsr");
    assert!(reply.contains("Status: Granted."), "{reply}");
    assert!(reply.contains(&format!("Nonce: {nonce}")), "{reply}");
    assert!(
        reply.contains("Policy OID: 2.25.61485682124220308471771109637782283797.2.1"),
        "{reply}"
    );
    assert!(reply.contains("Accuracy: 0x01 seconds"), "{reply}");

    // Without the certificate (given to openssl beside the token), with
    // our policy asked for, without a nonce: the next serial number.
    let out = openssl(
        d,
        &[
            "ts",
            "-query",
            "-data",
            "doc",
            "-sha512",
            "-no_nonce",
            "-tspolicy",
            "2.25.61485682124220308471771109637782283797.2.1",
            "-out",
            "b.tsq",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&stamp(d, "b.tsq").stdout).unwrap();
    assert_eq!(v["serial"].as_u64(), Some(2), "{v}");
    let out = openssl(
        d,
        &[
            "ts",
            "-verify",
            "-data",
            "doc",
            "-in",
            "b.tsr",
            "-CAfile",
            "ca/root.pem",
        ],
    );
    assert!(
        !text(&out).contains("Verification: OK"),
        "no certificate in the token: {}",
        text(&out)
    );
    let out = openssl(
        d,
        &[
            "ts",
            "-verify",
            "-data",
            "doc",
            "-in",
            "b.tsr",
            "-CAfile",
            "ca/root.pem",
            "-untrusted",
            "tsa/tsa.pem",
        ],
    );
    assert!(text(&out).contains("Verification: OK"), "{}", text(&out));
    // Another document does not match the token.
    std::fs::write(d.join("other"), "something else\n").unwrap();
    let out = openssl(
        d,
        &[
            "ts",
            "-verify",
            "-data",
            "other",
            "-in",
            "a.tsr",
            "-CAfile",
            "ca/root.pem",
        ],
    );
    assert!(!text(&out).contains("Verification: OK"), "{}", text(&out));

    // The serial numbers survive the process: a new run goes on from 2.
    let out = openssl(
        d,
        &["ts", "-query", "-data", "doc", "-sha384", "-out", "c.tsq"],
    );
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&stamp(d, "c.tsq").stdout).unwrap();
    assert_eq!(v["serial"].as_u64(), Some(3), "{v}");
    // An existing response is never replaced.
    let out = stamp(d, "c.tsq");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

#[test]
fn requests_the_tsa_cannot_serve_are_rejected_with_the_reason() {
    let dir = setup();
    let d = dir.path();
    let cases = [
        (vec!["-sha1"], "unrecognized or unsupported algorithm"),
        (
            vec!["-sha256", "-tspolicy", "1.2.3.4"],
            "policy is not supported",
        ),
    ];
    for (n, (args, failure)) in cases.iter().enumerate() {
        let q = format!("r{n}.tsq");
        let mut all = vec!["ts", "-query", "-data", "doc"];
        all.extend(args.iter().copied());
        all.extend(["-out", q.as_str()]);
        assert!(openssl(d, &all).status.success());
        let out = stamp(d, &q);
        assert!(
            out.status.success(),
            "a rejection is an answer: {}",
            text(&out)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["status"], "rejection", "{v}");
        let reply = reply_text(d, &format!("r{n}.tsr"));
        assert!(reply.contains("Status: Rejected."), "{reply}");
        assert!(reply.contains(failure), "{failure}: {reply}");
        assert!(reply.contains("TST info:\nNot included."), "{reply}");
    }
    std::fs::write(d.join("junk.tsq"), b"not a request").unwrap();
    let out = stamp(d, "junk.tsq");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], "rejection", "{v}");
    assert!(reply_text(d, "junk.tsr").contains("the data submitted has the wrong format"));
    // No token was made: the first granted one is serial 1.
    assert!(
        openssl(d, &["ts", "-query", "-data", "doc", "-out", "ok.tsq"])
            .status
            .success()
    );
    let v: serde_json::Value = serde_json::from_slice(&stamp(d, "ok.tsq").stdout).unwrap();
    assert_eq!(v["serial"].as_u64(), Some(1), "{v}");
}

#[test]
fn the_tsa_certificate_is_for_time_stamping_only() {
    let dir = setup();
    let d = dir.path();
    let out = openssl(d, &["x509", "-in", "tsa/tsa.pem", "-noout", "-text"]);
    let t = text(&out);
    assert!(
        t.contains("X509v3 Extended Key Usage: critical\n                Time Stamping\n"),
        "{t}"
    );
    assert!(t.contains("CA:FALSE"), "{t}");
    let out = openssl(
        d,
        &[
            "verify",
            "-purpose",
            "timestampsign",
            "-CAfile",
            "ca/root.pem",
            "tsa/tsa.pem",
        ],
    );
    assert!(text(&out).contains("tsa/tsa.pem: OK"), "{}", text(&out));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(d.join("tsa/tsa.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "the TSA key is private: {mode:o}");
    }
    // A directory holds one TSA.
    let out = asan(d, &["tsa", "init", "tsa", "--ca", "ca"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    // A TSA whose key and certificate do not match is refused.
    assert!(
        asan(d, &["tsa", "init", "tsa2", "--ca", "ca"])
            .status
            .success()
    );
    std::fs::copy(d.join("tsa2/tsa.pem"), d.join("tsa/tsa.pem")).unwrap();
    assert!(
        openssl(d, &["ts", "-query", "-data", "doc", "-out", "x.tsq"])
            .status
            .success()
    );
    let out = stamp(d, "x.tsq");
    assert!(!out.status.success(), "{}", text(&out));
    assert!(!d.join("x.tsr").exists());
}

/// One HTTP/1.1 exchange with the server at `address`; returns the status
/// line, the Content-Type and the body.
fn http(address: &str, head: &str, body: &[u8]) -> (String, String, Vec<u8>) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(address).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    let split = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let headers = String::from_utf8_lossy(&all[..split]).into_owned();
    let status = headers.lines().next().unwrap().to_owned();
    let content_type = headers
        .lines()
        .find_map(|l| l.strip_prefix("Content-Type: "))
        .unwrap_or("")
        .to_owned();
    (status, content_type, all[split + 4..].to_vec())
}

#[test]
fn the_tsa_over_http() {
    use std::io::{BufRead, BufReader};
    let dir = setup();
    let d = dir.path();
    let mut server = Command::new(env!("CARGO_BIN_EXE_asan"))
        .args(["tsa", "serve", "tsa", "--listen", "127.0.0.1:0"])
        .current_dir(d)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stderr.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let address = first
        .split("http://")
        .nth(1)
        .and_then(|a| a.strip_suffix('/'))
        .unwrap_or_else(|| panic!("{first}"))
        .to_owned();
    assert!(
        openssl(
            d,
            &[
                "ts", "-query", "-data", "doc", "-sha256", "-cert", "-out", "h.tsq"
            ]
        )
        .status
        .success()
    );
    let query = std::fs::read(d.join("h.tsq")).unwrap();
    let head = format!(
        "POST / HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/timestamp-query\r\nContent-Length: {}\r\n\r\n",
        query.len()
    );
    let (status, content_type, body) = http(&address, &head, &query);
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(content_type, "application/timestamp-reply");
    std::fs::write(d.join("h.tsr"), body).unwrap();
    let out = openssl(
        d,
        &[
            "ts",
            "-verify",
            "-data",
            "doc",
            "-in",
            "h.tsr",
            "-CAfile",
            "ca/root.pem",
        ],
    );
    assert!(text(&out).contains("Verification: OK"), "{}", text(&out));

    // Not a POST, not the media type, no length: refused, and the server
    // goes on.
    let (status, _, _) = http(&address, "GET / HTTP/1.1\r\n\r\n", b"");
    assert!(status.starts_with("HTTP/1.1 405"), "{status}");
    let head = format!(
        "POST / HTTP/1.1\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
        query.len()
    );
    let (status, _, _) = http(&address, &head, &query);
    assert!(status.starts_with("HTTP/1.1 415"), "{status}");
    let (status, _, _) = http(
        &address,
        "POST / HTTP/1.1\r\nContent-Type: application/timestamp-query\r\n\r\n",
        b"",
    );
    assert!(status.starts_with("HTTP/1.1 413"), "{status}");
    let (status, _, body) = http(
        &address,
        &head.replace("text/plain", "application/timestamp-query"),
        &query,
    );
    assert_eq!(status, "HTTP/1.1 200 OK");
    std::fs::write(d.join("h2.tsr"), body).unwrap();
    assert!(reply_text(d, "h2.tsr").contains("Serial number: 0x02"));
    server.kill().unwrap();
    server.wait().unwrap();
}
