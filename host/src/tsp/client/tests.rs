//! The client's checks of answers and tokens, and its HTTP exchange.

use super::*;
use crate::tsp::Tsa;
use crate::x509::DevCa;
use sha2::Digest;
use std::time::SystemTime;

fn tsa() -> (tempfile::TempDir, Tsa) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
    let ca = DevCa::init(&dir.path().join("ca")).unwrap_or_else(|e| unreachable!("{e}"));
    let tsa = Tsa::init(&dir.path().join("tsa"), &ca, SystemTime::now())
        .unwrap_or_else(|e| unreachable!("{e}"));
    (dir, tsa)
}

fn nonce(n: u64) -> Int {
    Int::new(&super::super::minimal_integer(n)).unwrap_or_else(|e| unreachable!("{e}"))
}

fn answer(tsa: &Tsa, imprint: &[u8; 32], n: &Int) -> Vec<u8> {
    let req = request(imprint, n).unwrap_or_else(|e| unreachable!("{e}"));
    tsa.stamp(&req, SystemTime::now())
        .unwrap_or_else(|e| unreachable!("{e}"))
        .response
}

#[test]
fn a_good_answer_gives_the_token() {
    let (_dir, tsa) = tsa();
    let imprint: [u8; 32] = sha2::Sha256::digest(b"signature value").into();
    let n = nonce(0x8000_0000_0000_0001);
    let info = check_response(&answer(&tsa, &imprint, &n), &imprint, &n)
        .unwrap_or_else(|e| unreachable!("{e}"));
    assert!(info.tsa.contains("Development TSA"), "{}", info.tsa);
    assert_eq!(info.serial, "01");
    assert_eq!(info.imprint, format!("SHA-256 {}", hex::encode(imprint)));
    assert!(
        crate::cms::check_token(&info.token, &imprint).is_ok(),
        "the token checks on its own"
    );
}

#[test]
fn another_nonce_is_refused() {
    let (_dir, tsa) = tsa();
    let imprint = [7u8; 32];
    let e = check_response(&answer(&tsa, &imprint, &nonce(41)), &imprint, &nonce(42))
        .err()
        .unwrap_or_default();
    assert!(e.contains("nonce 29 is not the request's 2a"), "{e}");
}

#[test]
fn a_token_for_another_imprint_is_refused() {
    let (_dir, tsa) = tsa();
    let n = nonce(9);
    let e = check_response(&answer(&tsa, &[1u8; 32], &n), &[2u8; 32], &n)
        .err()
        .unwrap_or_default();
    assert!(
        e.contains(&format!("time-stamps SHA-256 {}", hex::encode([1u8; 32])))
            && e.contains("not a token for this data"),
        "{e}"
    );
}

#[test]
fn a_rejection_carries_the_status_reason_and_failure() {
    let (_dir, tsa) = tsa();
    let rejected = tsa
        .stamp(b"not a request", SystemTime::now())
        .unwrap_or_else(|e| unreachable!("{e}"))
        .response;
    let e = check_response(&rejected, &[0u8; 32], &nonce(1))
        .err()
        .unwrap_or_default();
    assert!(
        e.starts_with("the request was refused: rejection (not a TimeStampReq")
            && e.ends_with("failure: badDataFormat"),
        "{e}"
    );
}

#[test]
fn truncated_or_garbage_answers_are_refused() {
    let (_dir, tsa) = tsa();
    let imprint = [3u8; 32];
    let n = nonce(3);
    let good = answer(&tsa, &imprint, &n);
    for cut in [0, 1, 2, 10, good.len() / 2, good.len() - 1] {
        let e = check_response(&good[..cut], &imprint, &n)
            .err()
            .unwrap_or_default();
        assert!(
            e.starts_with("the answer is not a TimeStampResp"),
            "{cut}: {e}"
        );
    }
    let mut tampered = good.clone();
    let last = tampered.len() - 3;
    tampered[last] ^= 0x01;
    assert!(
        check_response(&tampered, &imprint, &n).is_err(),
        "a changed signature"
    );
    assert!(check_response(b"<html>", &imprint, &n).is_err());
}

#[test]
fn http_answers() {
    let ok = b"HTTP/1.1 200 OK\r\nContent-Type: application/timestamp-reply\r\nContent-Length: 3\r\n\r\nabc";
    assert_eq!(http_body(ok).as_deref(), Ok(&b"abc"[..]));
    assert!(complete(ok));
    assert!(!complete(&ok[..ok.len() - 1]));
    let e = http_body(&ok[..ok.len() - 1]).unwrap_err();
    assert!(e.contains("cut short: 2 of 3"), "{e}");
    let chunked = b"HTTP/1.1 200 OK\r\ncontent-type: Application/Timestamp-Reply; x=1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n1;ext\r\nc\r\n0\r\n\r\n";
    assert_eq!(http_body(chunked).as_deref(), Ok(&b"abc"[..]));
    assert!(complete(chunked));
    let e = http_body(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n").unwrap_err();
    assert_eq!(e, "the answer is HTTP/1.1 404 Not Found and not 200 OK");
    let e = http_body(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html>").unwrap_err();
    assert!(e.contains("Content-Type is text/html"), "{e}");
    let e = http_body(b"SSH-2.0-OpenSSH\r\n\r\n").unwrap_err();
    assert!(e.starts_with("the answer is not HTTP/1.x"), "{e}");
    let e = http_body(b"").unwrap_err();
    assert!(e.contains("closed without an answer"), "{e}");
    let big = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/timestamp-reply\r\nContent-Length: {}\r\n\r\n",
        MAX_RESPONSE + 1
    );
    assert!(
        http_body(big.as_bytes())
            .unwrap_err()
            .contains("larger than 1024 KiB")
    );
}

#[test]
fn urls() {
    let e = |u: &str| parse_url(u).unwrap_or_else(|e| unreachable!("{u}: {e}"));
    assert_eq!(
        e("http://tsa.example:8080/ts?x=1#frag"),
        Endpoint {
            host: "tsa.example".into(),
            port: 8080,
            authority: "tsa.example:8080".into(),
            target: "/ts?x=1".into()
        }
    );
    let v6 = e("HTTP://[::1]:3180");
    assert_eq!(
        (v6.host.as_str(), v6.port, v6.target.as_str()),
        ("::1", 3180, "/")
    );
    assert_eq!(e("http://127.0.0.1").port, 80);
    assert_eq!(e("http://h?q").target, "/?q");
    for bad in [
        "https://tsa.example/",
        "ftp://tsa.example/",
        "tsa.example",
        "http://",
        "http://user:pw@tsa.example/",
        "http://tsa.example:0/",
        "http://tsa.example:99999/",
        "http://tsa.example/a b",
        "http://tsa.example/\r\nX: y",
    ] {
        match parse_url(bad) {
            Err(Error::Usage(m)) => assert!(m.starts_with("--tsa "), "{m}"),
            other => unreachable!("{bad}: {other:?}"),
        }
    }
    match TsaClient::new("https://tsa.example/") {
        Err(Error::Usage(m)) => assert!(m.contains("https is not supported"), "{m}"),
        other => unreachable!("{other:?}"),
    }
}

#[test]
fn a_refused_connection_and_a_silent_server_are_clear_errors() {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| unreachable!("{e}"));
    let address = listener
        .local_addr()
        .unwrap_or_else(|e| unreachable!("{e}"));
    // Accepted by the kernel's backlog, never answered.
    let client = TsaClient::new(&format!("http://{address}/"))
        .unwrap_or_else(|e| unreachable!("{e}"))
        .with_timeout(Duration::from_millis(300));
    let started = Instant::now();
    match client.stamp(&[0u8; 32]) {
        Err(Error::Timestamp(m)) => assert!(m.contains("no answer within 0.3 s"), "{m}"),
        other => unreachable!("{other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(listener);
    match client.stamp(&[0u8; 32]) {
        Err(Error::Timestamp(m)) => assert!(m.contains("connection refused"), "{m}"),
        other => unreachable!("{other:?}"),
    }
}
