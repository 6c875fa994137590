//! Fixtures and helpers shared by the host integration tests; `run` runs
//! the `asan` binary (and is also included by path from
//! `tests/tests/cli_pcscd.rs`).
#![allow(dead_code)]

pub mod run;

use der::Decode;

/// A real self-signed P-256 X.509 certificate (CN=Asan Test, O=Test), 417
/// bytes of DER, made once with `openssl req -x509 -newkey ec`.
pub const CERTIFICATE_HEX: &str = concat!(
    "3082019d30820143a00302010202145b9d25dac43f81682f396f056583cbfde38e4eeb300a06082a8648ce3d04030230",
    "233112301006035504030c094173616e2054657374310d300b060355040a0c04546573743020170d3236313132323138",
    "353531355a180f32313236313032393138353531355a30233112301006035504030c094173616e2054657374310d300b",
    "060355040a0c04546573743059301306072a8648ce3d020106082a8648ce3d03010703420004acaa547a51e91c556950",
    "5413afb4db8ae76280e11781c4b54d0f03cb2319fae777853fd8d80b2222434d822ea3f4fdef74afdb43f3bc9b64b508",
    "dc94f5c97d06a3533051301d0603551d0e0416041450933279ce542d938efe7322e105589409dbc727301f0603551d23",
    "04183016801450933279ce542d938efe7322e105589409dbc727300f0603551d130101ff040530030101ff300a06082a",
    "8648ce3d0403020348003045022100aafeb5cd67f746704eb4f932acf8d535a8c422cb2952c54200ab7aa769c32adb02",
    "202d2d9005384244d903984ff7311dc039e9dc5d9b3068f3b2a49de328ae427668",
);

/// The certificate as bytes.
pub fn certificate() -> Vec<u8> {
    hx(CERTIFICATE_HEX)
}

/// Hex to bytes (spaces allowed).
pub fn hx(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap_or_else(|e| unreachable!("bad hex in a test: {e}"))
}

/// The subject public key (uncompressed point) of a DER certificate.
pub fn certificate_key(der: &[u8]) -> Vec<u8> {
    let cert = x509_cert::Certificate::from_der(der).unwrap();
    cert.tbs_certificate()
        .subject_public_key_info()
        .subject_public_key
        .raw_bytes()
        .to_vec()
}

/// Opens a card image in this test process. Another test thread of the same
/// process may be between `fork` and `exec` of a child at that moment; the
/// child then holds a copy of every open file descriptor, this test's image
/// lock among them, until its `exec` closes it. An image just closed here
/// can therefore still look "in use by another asan-vcard process" for a
/// few milliseconds: retried for at most 2 s, any other error at once.
pub fn open_image(path: &std::path::Path) -> asan_host::transport::virtual_card::VirtualTransport {
    let start = std::time::Instant::now();
    loop {
        match asan_host::transport::virtual_card::VirtualTransport::open(path) {
            Ok(t) => return t,
            Err(e)
                if e.to_string().contains("in use by another") && start.elapsed().as_secs() < 2 =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(e) => panic!("{}: {e}", path.display()),
        }
    }
}
