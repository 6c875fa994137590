//! TSAs for the tests: an openssl TSA behind a loopback HTTP server (and its
//! failure modes), and `asan tsa serve`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use sha2::{Digest, Sha256};

use crate::setup::*;

// ---------------------------------------------------------------------
// A TSA that is not ours: `openssl ts -reply` behind a loopback HTTP server.

/// What the wrapper does with a request.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
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
pub fn openssl_tsa(dir: &Path) -> PathBuf {
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
pub fn read_request(stream: &mut TcpStream) -> Vec<u8> {
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

pub fn respond(stream: &mut TcpStream, body: &[u8]) {
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/timestamp-reply\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
}

/// Serves `mode` on a loopback port, one connection at a time, for as
/// long as the test runs; returns the URL.
pub fn serve_openssl(ossl: &Path, mode: Mode) -> String {
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
pub fn asan_tsa_serve(dir: &Path, tsa: &str) -> (Child, String) {
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
pub fn signature_value(p7s: &[u8]) -> Vec<u8> {
    use der::Decode;
    let ci = cms::content_info::ContentInfo::from_der(p7s).unwrap();
    let sd: cms::signed_data::SignedData = ci.content.decode_as().unwrap();
    sd.signer_infos.0.as_slice()[0]
        .signature
        .as_bytes()
        .to_vec()
}
