//! End-to-end tests of the `asan` command line against `--virtual` card
//! images: every command and global option of issue 4, PIN entry from the
//! environment and from standard input, exit codes and error messages,
//! JSON output, the APDU trace with its PIN redaction, certificates made
//! with `openssl`, broken and unusable images — and, for every single run,
//! that the binary neither panics nor prints a PIN it was given.
//!
//! The images are personalised with the shared operator helper
//! (`tests/src/operator.rs`): a Citizen card with PIN1 1234, PIN2 12345,
//! PUK 12345678 and keys 11 (authentication) and 21 (signing).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(dead_code)]
#[path = "../../tests/src/operator.rs"]
mod operator;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use asan_vcard::VirtualCard;
use der::Decode;
use operator::{Operator, Tx};
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::ecdsa::{Signature, VerifyingKey};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tempfile::TempDir;

const PIN1: &str = "1234";
const PIN2: &str = "12345";
const PUK: &str = "12345678";

/// SELECT of the Asan İmza applet.
const SELECT: [u8; 15] = [
    0x00, 0xA4, 0x04, 0x0C, 0x0A, 0xF0, 0x41, 0x53, 0x41, 0x4E, 0x49, 0x4D, 0x5A, 0x41, 0x01,
];
/// Key references: citizen authentication and signing.
const KEY_AUTH: u8 = 0x11;
const KEY_SIGN: u8 = 0x21;
/// Certificate files.
const CITIZEN_AUTH: [u8; 2] = [0xA1, 0x01];
const CITIZEN_SIGN: [u8; 2] = [0xA1, 0x02];
const BUSINESS_AUTH: [u8; 2] = [0xA2, 0x01];
const BUSINESS_SIGN: [u8; 2] = [0xA2, 0x02];
const GOVERNMENT_AUTH: [u8; 2] = [0xA3, 0x01];
const GOVERNMENT_SIGN: [u8; 2] = [0xA3, 0x02];
/// A DER SEQUENCE that is not a certificate.
const BROKEN: [u8; 5] = [0x30, 0x03, 0x02, 0x01, 0x01];
/// The subject of the test certificates (a FIN code, not digits, so that no
/// certificate byte looks like a test PIN in a trace).
const SUBJECT: &str = "/CN=Test Citizen/serialNumber=7GH2K4P";

// ---------------------------------------------------------------------------
// Running the binary
// ---------------------------------------------------------------------------

/// One run of `asan`.
#[derive(Debug)]
struct Out {
    args: Vec<String>,
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    /// Requires exit 0 and returns stdout.
    fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "asan {:?} failed: {self:#?}", self.args);
        &self.stdout
    }

    /// Requires exit 0 and parses stdout as one JSON object.
    fn json(&self) -> Value {
        let v: Value = serde_json::from_str(self.ok()).unwrap_or_else(|e| {
            panic!("asan {:?}: stdout is not JSON ({e}): {self:#?}", self.args)
        });
        assert!(v.is_object(), "not an object: {v}");
        v
    }

    /// Requires exit `code`, nothing on stdout, and one error line on stderr
    /// that starts with `asan: ` and contains `needle`; returns that line.
    fn fails(&self, code: i32, needle: &str) -> &str {
        assert_eq!(
            self.code, code,
            "asan {:?}: expected exit {code}: {self:#?}",
            self.args
        );
        assert_eq!(
            self.stdout, "",
            "asan {:?}: a failure prints nothing on stdout",
            self.args
        );
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "asan {:?}: an error is one line on stderr: {:?}",
            self.args,
            self.stderr
        );
        let line = lines[0];
        assert!(line.starts_with("asan: "), "{line:?}");
        assert!(
            line.contains(needle),
            "asan {:?}: {line:?} does not contain {needle:?}",
            self.args
        );
        line
    }

    /// Requires a clap usage error: exit 2, nothing on stdout.
    fn usage_error(&self) {
        assert_eq!(self.code, 2, "asan {:?}: {self:#?}", self.args);
        assert_eq!(self.stdout, "");
        assert!(!self.stderr.is_empty());
    }
}

/// Whether `needle` occurs in `hay` as a whole word (not inside a longer
/// run of letters and digits, as in a hex signature or a serial number).
fn contains_word(hay: &str, needle: &str) -> bool {
    hay.match_indices(needle).any(|(i, _)| {
        let before = hay[..i].chars().next_back();
        let after = hay[i + needle.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

/// Checks that nothing the user typed as a PIN shows in the output: not as
/// text, not as the hex of its ASCII digits (a trace of a PIN block).
fn assert_no_secret(out: &Out, secrets: &[String]) {
    // Shorter values are not PINs (and "1" is in every message).
    for s in secrets.iter().map(|s| s.trim()).filter(|s| s.len() >= 4) {
        for (name, text) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            assert!(
                !contains_word(text, s),
                "asan {:?} printed the PIN {s:?} on {name}: {text}",
                out.args
            );
            let hex = hex::encode(s.as_bytes());
            assert!(
                !text.to_lowercase().contains(&hex),
                "asan {:?} printed the PIN {s:?} as hex {hex} on {name}: {text}",
                out.args
            );
        }
    }
}

/// A command line being put together.
struct Asan {
    args: Vec<String>,
    env: Vec<(String, String)>,
    stdin: String,
    /// Whether "image in use" is the expected answer (else it is retried,
    /// see [`open_image`]).
    locked: bool,
}

/// `asan --virtual IMAGE …`
fn asan(image: &Path) -> Asan {
    Asan {
        args: vec!["--virtual".into(), image.display().to_string()],
        env: Vec::new(),
        stdin: String::new(),
        locked: false,
    }
}

/// `asan …` without a card.
fn asan_bare() -> Asan {
    Asan {
        args: Vec::new(),
        env: Vec::new(),
        stdin: String::new(),
        locked: false,
    }
}

impl Asan {
    fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|a| (*a).to_owned()));
        self
    }

    /// Arguments separated by spaces.
    fn cmd(self, line: &str) -> Self {
        let words: Vec<&str> = line.split_whitespace().collect();
        self.args(&words)
    }

    fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    fn stdin(mut self, text: &str) -> Self {
        self.stdin = text.into();
        self
    }

    fn expect_locked(mut self) -> Self {
        self.locked = true;
        self
    }

    /// Runs the command; an "image in use" answer that no test asked for is
    /// the lock race described at [`open_image`] and is retried.
    fn run(self) -> Out {
        let start = std::time::Instant::now();
        loop {
            let out = self.run_once();
            if self.locked
                || !out.stderr.contains("in use by another asan-vcard process")
                || start.elapsed() > Duration::from_secs(10)
            {
                return out;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs the binary (with none of the `ASAN_*` variables of the test's
    /// environment), with a time limit, and checks what must hold for every
    /// run: an exit code of the contract, no panic, no PIN in the output.
    fn run_once(&self) -> Out {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_asan"));
        cmd.args(&self.args);
        for var in ["ASAN_PIN1", "ASAN_PIN2", "ASAN_PUK", "ASAN_NEW_PIN"] {
            cmd.env_remove(var);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let pid = child.id();
        if let Some(mut stdin) = child.stdin.take() {
            // The command may exit without reading; a broken pipe is fine.
            let _ = stdin.write_all(self.stdin.as_bytes());
        }
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        let output = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(o) => o.unwrap(),
            Err(_) => {
                let _ = Command::new("kill")
                    .arg("-KILL")
                    .arg(pid.to_string())
                    .status();
                panic!("asan {:?} hangs (killed after 60 s)", self.args);
            }
        };
        let out = Out {
            code: output.status.code().unwrap_or_else(|| {
                panic!("asan {:?} was killed by a signal: {output:?}", self.args)
            }),
            stdout: String::from_utf8(output.stdout).unwrap(),
            stderr: String::from_utf8(output.stderr).unwrap(),
            args: self.args.clone(),
        };
        assert!(
            !out.stderr.contains("panicked") && !out.stderr.contains("RUST_BACKTRACE"),
            "asan {:?} panicked: {}",
            out.args,
            out.stderr
        );
        assert!(
            (0..=4).contains(&out.code),
            "asan {:?}: exit code {} is not in the contract",
            out.args,
            out.code
        );
        let mut secrets: Vec<String> = self.env.iter().map(|(_, v)| v.clone()).collect();
        secrets.extend(self.stdin.lines().map(str::to_owned));
        assert_no_secret(&out, &secrets);
        out
    }
}

// ---------------------------------------------------------------------------
// Card images
// ---------------------------------------------------------------------------

/// Opens the image in-process, powered on, and hands a transmit function
/// to `f`; the image (and its lock) is released on return.
fn with_card<R>(path: &Path, f: impl FnOnce(&mut Tx<'_>) -> R) -> R {
    let (mut card, _) = open_image(path);
    card.power_on();
    let mut tx = |c: &[u8]| card.transmit(c).map_err(std::io::Error::other);
    f(&mut tx)
}

/// Opens an image in this process. The image lock is a `flock`: a process
/// that another test thread is spawning at that moment holds a copy of the
/// lock's file descriptor until its `exec`, so a lock just released can
/// look held for an instant; wait that out.
fn open_image(path: &Path) -> (VirtualCard, bool) {
    let start = std::time::Instant::now();
    loop {
        match VirtualCard::open(path) {
            Err(asan_vcard::CardError::Image(asan_vcard::ImageError::Locked(_)))
                if start.elapsed() < Duration::from_secs(10) =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return other.unwrap(),
        }
    }
}

/// The uncompressed point of key `key` (GET PUBLIC KEY).
fn read_public_key(tx: &mut Tx<'_>, key: u8) -> Vec<u8> {
    assert_eq!(tx(&SELECT).unwrap(), [0x90, 0x00]);
    let r = tx(&[0x00, 0x47, 0x81, key, 0x00]).unwrap();
    assert_eq!(&r[r.len() - 2..], [0x90, 0x00], "GET PUBLIC KEY {key:02X}");
    assert_eq!(&r[..5], [0x7F, 0x49, 0x43, 0x86, 0x41]);
    r[5..70].to_vec()
}

/// Writes operator commands over SCP03 (C-MAC and C-DECRYPTION).
fn operator(path: &Path, commands: &[([u8; 4], Vec<u8>)]) {
    with_card(path, |tx| {
        let mut op = Operator::open(tx, 0x03).unwrap();
        for (header, data) in commands {
            op.ok(tx, *header, data).unwrap();
        }
    });
}

/// Writes certificate files.
fn write_certificates(path: &Path, certs: &[([u8; 2], Vec<u8>)]) {
    let commands: Vec<_> = certs
        .iter()
        .map(|(fid, der)| ([0x80, 0xDA, fid[0], fid[1]], der.clone()))
        .collect();
    operator(path, &commands);
}

/// A card image in its own temporary directory.
struct Image {
    dir: TempDir,
    path: PathBuf,
    /// Public key points (uncompressed SEC1) of keys 11 and 21.
    auth_key: Vec<u8>,
    sign_key: Vec<u8>,
}

impl Image {
    /// A directory where `card.img` does not exist yet.
    fn absent() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("card.img");
        Self {
            dir,
            path,
            auth_key: Vec::new(),
            sign_key: Vec::new(),
        }
    }

    /// A fresh card as the factory delivers it (life cycle initialisation).
    fn fresh() -> Self {
        let image = Self::absent();
        let (_card, created) = open_image(&image.path);
        assert!(created);
        image
    }

    /// A personalised Citizen card, no certificates.
    fn personalised() -> Self {
        let mut image = Self::absent();
        let (auth, sign) = with_card(&image.path, |tx| {
            operator::personalise(tx).unwrap();
            (read_public_key(tx, KEY_AUTH), read_public_key(tx, KEY_SIGN))
        });
        image.auth_key = auth;
        image.sign_key = sign;
        image
    }

    /// A personalised card whose citizen certificates are issued by a test
    /// CA for the card's own keys (valid for 1095 days).
    fn with_certificates() -> Self {
        let image = Self::personalised();
        let auth = image.issue("auth", Some(&image.auth_key), "1095");
        let sign = image.issue("sign", Some(&image.sign_key), "1095");
        write_certificates(&image.path, &[(CITIZEN_AUTH, auth), (CITIZEN_SIGN, sign)]);
        image
    }

    /// A file in the image's directory.
    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The image, as the `--virtual` argument.
    fn arg(&self) -> &Path {
        &self.path
    }

    /// Runs openssl in the image's directory: `words` split at spaces, then `more`.
    fn openssl(&self, words: &str, more: &[&str]) {
        let args: Vec<&str> = words
            .split_whitespace()
            .chain(more.iter().copied())
            .collect();
        let out = Command::new("openssl")
            .args(&args)
            .current_dir(self.dir.path())
            .output()
            .expect("openssl is installed");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A DER certificate issued by a test CA, for the P-256 point `key` (a
    /// fresh key when `None`), valid for `days` days from now (`-1`: expired
    /// yesterday). Also written to `<name>.der`.
    fn issue(&self, name: &str, key: Option<&[u8]>, days: &str) -> Vec<u8> {
        if !self.file("ca.pem").exists() {
            self.openssl(
                "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
                 -keyout ca.key -out ca.pem -days 3650 -subj",
                &["/CN=Test Asan CA"],
            );
            std::fs::write(
                self.file("ext.cnf"),
                "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n",
            )
            .unwrap();
        }
        let key_file = format!("{name}.key.der");
        match key {
            Some(point) => {
                // SubjectPublicKeyInfo of a P-256 key: the fixed header, then the point.
                let mut spki =
                    hex::decode("3059301306072A8648CE3D020106082A8648CE3D030107034200").unwrap();
                spki.extend_from_slice(point);
                std::fs::write(self.file(&key_file), spki).unwrap();
            }
            None => {
                self.openssl("ecparam -name prime256v1 -genkey -noout -out k.pem", &[]);
                self.openssl("ec -in k.pem -pubout -outform DER -out", &[&key_file]);
            }
        }
        let csr = format!("{name}.csr");
        let der = format!("{name}.der");
        self.openssl("req -new -key ca.key -subj", &[SUBJECT, "-out", &csr]);
        self.openssl(
            "x509 -req -CA ca.pem -CAkey ca.key -set_serial 0x5A17 -extfile ext.cnf -outform DER",
            &[
                "-in",
                &csr,
                "-force_pubkey",
                &key_file,
                "-days",
                days,
                "-out",
                &der,
            ],
        );
        std::fs::read(self.file(&der)).unwrap()
    }

    /// PIN1, PIN2 and PUK tries left, from `asan pin status --json`.
    fn tries(&self) -> [u64; 3] {
        let v = asan(self.arg()).cmd("--json pin status").run().json();
        ["pin1", "pin2", "puk"].map(|p| {
            v[p]["tries_left"]
                .as_u64()
                .unwrap_or_else(|| panic!("pin status --json has no {p}.tries_left: {v}"))
        })
    }

    /// The image file's bytes.
    fn bytes(&self) -> Vec<u8> {
        std::fs::read(&self.path).unwrap()
    }
}

/// Verifies a raw `r || s` hex signature of `digest` with the P-256 point `key`.
fn verifies(key: &[u8], digest: &[u8], signature_hex: &str) -> bool {
    let vk = VerifyingKey::from_sec1_bytes(key).unwrap();
    let bytes = hex::decode(signature_hex.trim()).unwrap();
    assert_eq!(bytes.len(), 64, "a raw P-256 signature: {signature_hex}");
    let sig = Signature::from_slice(&bytes).unwrap();
    vk.verify_prehash(digest, &sig).is_ok()
}

/// The subject public key (uncompressed point) of a DER certificate.
fn certificate_key(der: &[u8]) -> Vec<u8> {
    let cert = x509_cert::Certificate::from_der(der).unwrap();
    cert.tbs_certificate()
        .subject_public_key_info()
        .subject_public_key
        .raw_bytes()
        .to_vec()
}

/// PEM → DER with openssl (an independent decoder).
fn pem_to_der(image: &Image, pem: &str) -> Vec<u8> {
    std::fs::write(image.file("in.pem"), pem).unwrap();
    image.openssl("x509 -in in.pem -outform DER -out out.der", &[]);
    std::fs::read(image.file("out.der")).unwrap()
}

/// The validity dates openssl reads from a DER certificate, as the CLI
/// prints them (`2029-11-21T18:56:45Z`).
fn openssl_dates(image: &Image, der: &[u8]) -> (String, String) {
    std::fs::write(image.file("dates.der"), der).unwrap();
    let out = Command::new("openssl")
        .args(
            "x509 -inform DER -in dates.der -noout -startdate -enddate -dateopt iso_8601"
                .split(' '),
        )
        .current_dir(image.dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("openssl dates: {text}"))
            .replace(' ', "T")
    };
    (field("notBefore="), field("notAfter="))
}

/// Seconds since 1970 of `YYYY-MM-DDTHH:MM:SSZ`.
fn unix_seconds(t: &str) -> i64 {
    assert_eq!(t.len(), 20, "RFC 3339 UTC time: {t:?}");
    let n = |r: std::ops::Range<usize>| t[r].parse::<i64>().unwrap();
    let (y, m, d) = (n(0..4), n(5..7), n(8..10));
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + n(11..13) * 3600 + n(14..16) * 60 + n(17..19)
}

fn now() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

fn sha256(data: &[u8]) -> Vec<u8> {
    Sha256::digest(data).to_vec()
}

/// Hex of `n` bytes counting up from `start`.
fn hex_bytes(n: usize, start: u8) -> String {
    hex::encode(
        (0..n)
            .map(|i| start.wrapping_add(i as u8).wrapping_mul(7))
            .collect::<Vec<u8>>(),
    )
}

/// The line of `text` that starts with `prefix`.
fn line<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in:\n{text}"))
}

// ---------------------------------------------------------------------------
// asan readers
// ---------------------------------------------------------------------------

#[test]
fn readers_lists_the_virtual_card() {
    let image = Image::personalised();
    let out = asan(image.arg()).cmd("readers").run();
    assert_eq!(
        out.ok(),
        format!("virtual card {}: Asan İmza card\n", image.path.display())
    );
    assert_eq!(out.stderr, "");

    let v = asan(image.arg()).cmd("--json readers").run().json();
    let readers = v["readers"].as_array().unwrap();
    assert_eq!(readers.len(), 1, "{v}");
    let r = &readers[0];
    assert_eq!(r["name"], format!("virtual card {}", image.path.display()));
    assert_eq!(r["card_present"], true);
    assert_eq!(r["asan_imza"], true);
    assert_eq!(r["atr"], hex::encode_upper(asan_vcard::atr::ATR));

    // A factory-fresh card answers SELECT too.
    let fresh = Image::fresh();
    assert!(
        asan(fresh.arg())
            .cmd("readers")
            .run()
            .ok()
            .ends_with(": Asan İmza card\n")
    );
}

#[test]
fn readers_reports_why_an_image_cannot_be_used() {
    // Spec: a corrupt image is an error (exit 1) with the image's message,
    // not a card "without the Asan İmza applet".
    let image = Image::absent();
    std::fs::write(&image.path, b"not a card image").unwrap();
    asan(image.arg())
        .cmd("readers")
        .run()
        .fails(1, "is not an asan-vcard image");
    let missing = image.file("nowhere/card.img");
    asan(&missing).cmd("readers").run().fails(1, "nowhere");
}

// ---------------------------------------------------------------------------
// asan info
// ---------------------------------------------------------------------------

/// A card with the citizen certificates, a broken certificate (business
/// auth) and an expired one (government sign).
fn info_image() -> Image {
    let image = Image::with_certificates();
    let expired = image.issue("expired", None, "-1");
    write_certificates(
        &image.path,
        &[(BUSINESS_AUTH, BROKEN.to_vec()), (GOVERNMENT_SIGN, expired)],
    );
    image
}

#[test]
fn info_human_readable() {
    let image = info_image();
    let auth_der = std::fs::read(image.file("auth.der")).unwrap();
    let (not_before, not_after) = openssl_dates(&image, &auth_der);
    let before = now();
    let out = asan(image.arg()).cmd("info").run();
    let after = now();
    let text = out.ok();
    assert_eq!(out.stderr, "", "a broken certificate is not an error");

    assert!(
        line(text, "Card").contains(&image.path.display().to_string()),
        "{text}"
    );
    let serial = line(text, "Serial").split_whitespace().nth(1).unwrap();
    assert_eq!(serial.len(), 16, "{text}");
    assert!(serial.chars().all(|c| c.is_ascii_hexdigit()), "{text}");
    assert!(line(text, "Life cycle").ends_with("operational"), "{text}");
    assert!(line(text, "Service").ends_with("citizen, active"), "{text}");
    assert!(line(text, "PIN1").ends_with("3 of 3 tries left"), "{text}");
    assert!(line(text, "PIN2").ends_with("3 of 3 tries left"), "{text}");
    assert!(line(text, "PUK").ends_with("10 of 10 tries left"), "{text}");

    // Certificates: profile, usage, subject, issuer, validity, days left.
    let certs = &text[text.find("Certificates").unwrap()..];
    assert_eq!(
        line(certs, "  citizen auth:"),
        "  citizen auth: SERIALNUMBER=7GH2K4P,CN=Test Citizen"
    );
    assert!(line(certs, "  citizen sign:").ends_with("SERIALNUMBER=7GH2K4P,CN=Test Citizen"));
    let auth_block = &certs[certs.find("  citizen auth:").unwrap()..];
    assert_eq!(
        line(auth_block, "    issuer")
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["issuer", "CN=Test", "Asan", "CA"]
    );
    let valid = line(auth_block, "    valid");
    assert!(
        valid.contains(&format!("{not_before} to {not_after}")),
        "{valid} vs openssl {not_before} / {not_after}"
    );
    let days: Vec<String> = [before, after]
        .iter()
        .map(|t| {
            format!(
                "({} days left)",
                (unix_seconds(&not_after) - t).div_euclid(86_400)
            )
        })
        .collect();
    assert!(
        days.iter().any(|d| valid.ends_with(d.as_str())),
        "{valid}, expected {days:?}"
    );

    // The broken certificate is reported with its cause.
    let broken = line(certs, "  business auth:");
    assert!(
        broken.contains("certificate problem: not a valid X.509 certificate"),
        "{broken}"
    );
    // The expired one says so.
    let gov = &certs[certs.find("  government sign:").unwrap()..];
    assert!(line(gov, "    valid").ends_with("(expired)"), "{gov}");
}

#[test]
fn info_json_has_every_key_of_the_spec() {
    let image = info_image();
    let human = asan(image.arg()).cmd("info").run();
    let v = asan(image.arg()).cmd("info --json").run().json();

    let serial = v["serial"].as_str().unwrap();
    assert_eq!(
        line(human.ok(), "Serial").split_whitespace().nth(1),
        Some(serial)
    );
    assert_eq!(v["life_cycle"], "operational");
    assert_eq!(v["service"]["type"], "citizen");
    assert_eq!(v["service"]["active"], true);
    for (pin, max) in [("pin1", 3), ("pin2", 3), ("puk", 10)] {
        assert_eq!(v["pins"][pin]["tries_left"], max, "{pin}: {v}");
        assert_eq!(v["pins"][pin]["max_tries"], max, "{pin}: {v}");
    }

    let certs = v["certificates"].as_array().unwrap();
    assert_eq!(certs.len(), 4, "{v}");
    let find = |profile: &str, usage: &str| {
        certs
            .iter()
            .find(|c| c["profile"] == profile && c["usage"] == usage)
            .unwrap_or_else(|| panic!("no {profile} {usage} in {v}"))
    };
    for (usage, file) in [("auth", "auth.der"), ("sign", "sign.der")] {
        let c = find("citizen", usage);
        let der = std::fs::read(image.file(file)).unwrap();
        let (not_before, not_after) = openssl_dates(&image, &der);
        assert_eq!(c["subject"], "SERIALNUMBER=7GH2K4P,CN=Test Citizen", "{c}");
        assert_eq!(c["issuer"], "CN=Test Asan CA", "{c}");
        assert_eq!(c["not_before"], not_before.as_str(), "{c}");
        assert_eq!(c["not_after"], not_after.as_str(), "{c}");
        let left = (unix_seconds(&not_after) - now()).div_euclid(86_400);
        let days = c["days_left"].as_i64().unwrap();
        assert!(
            (left..=left + 1).contains(&days),
            "{c}: days_left {days}, expected {left}"
        );
        assert!((1093..=1095).contains(&days), "{c}");
        assert!(c.get("error").is_none(), "{c}");
    }
    let broken = find("business", "auth");
    assert!(
        broken["error"]
            .as_str()
            .unwrap()
            .starts_with("certificate problem: not a valid X.509 certificate"),
        "{broken}"
    );
    let expired = find("government", "sign");
    assert!(expired["days_left"].as_i64().unwrap() < 0, "{expired}");
}

#[test]
fn info_of_a_factory_fresh_card() {
    let image = Image::fresh();
    let text = asan(image.arg()).cmd("info").run().ok().to_owned();
    assert!(
        line(&text, "Life cycle").ends_with("initialisation"),
        "{text}"
    );
    assert!(line(&text, "Service").ends_with("not set"), "{text}");
    assert!(line(&text, "PIN1").ends_with("not set"), "{text}");
    assert!(line(&text, "Certificates").ends_with("none"), "{text}");
    let v = asan(image.arg()).cmd("--json info").run().json();
    assert_eq!(v["life_cycle"], "initialisation");
    assert_eq!(v["service"], Value::Null);
    assert_eq!(v["certificates"], serde_json::json!([]));
    assert_eq!(v["pins"]["pin1"]["set"], false);
}

#[test]
fn info_survives_hostile_certificate_files() {
    let image = Image::personalised();
    // The card only takes a well-framed outer SEQUENCE; inside anything goes.
    let real = image.issue("real", None, "30");
    let mut bad_tag = real.clone();
    bad_tag[4] = 0x31; // tbsCertificate is a SET now
    let mut bad_len = real.clone();
    bad_len[6] = bad_len[6].wrapping_add(1); // tbsCertificate one byte longer
    let mut filler = vec![0x30, 0x81, 0x80];
    filler.extend_from_slice(&[0xFF; 128]);
    write_certificates(
        &image.path,
        &[
            (CITIZEN_AUTH, vec![0x30, 0x00]),
            (CITIZEN_SIGN, operator::certificate(4096, 0xC7)),
            (BUSINESS_AUTH, filler),
            (BUSINESS_SIGN, bad_tag),
            (GOVERNMENT_AUTH, bad_len),
            (GOVERNMENT_SIGN, BROKEN.to_vec()),
        ],
    );
    let out = asan(image.arg()).cmd("info").run();
    let text = out.ok();
    let certs = &text[text.find("Certificates").unwrap()..];
    assert_eq!(
        certs
            .lines()
            .filter(|l| l.contains("certificate problem"))
            .count(),
        6,
        "{text}"
    );
    let v = asan(image.arg()).cmd("info --json").run().json();
    let certs = v["certificates"].as_array().unwrap();
    assert_eq!(certs.len(), 6);
    assert!(certs.iter().all(|c| c["error"].is_string()), "{v}");
    for (profile, usage) in [
        ("citizen", "auth"),
        ("citizen", "sign"),
        ("business", "auth"),
    ] {
        asan(image.arg())
            .args(&["cert", "read", "--profile", profile, "--usage", usage])
            .run()
            .fails(1, "certificate problem");
    }
}

#[test]
fn info_of_a_certificate_valid_past_2049() {
    // After 2049 X.509 dates are GeneralizedTime, not UTCTime.
    let image = Image::personalised();
    let der = image.issue("century", Some(&image.sign_key), "36500");
    write_certificates(&image.path, &[(CITIZEN_SIGN, der.clone())]);
    let (not_before, not_after) = openssl_dates(&image, &der);
    let v = asan(image.arg()).cmd("info --json").run().json();
    let c = &v["certificates"][0];
    assert_eq!(c["not_before"], not_before.as_str(), "{c}");
    assert_eq!(c["not_after"], not_after.as_str(), "{c}");
    let left = (unix_seconds(&not_after) - now()).div_euclid(86_400);
    let days = c["days_left"].as_i64().unwrap();
    assert!((left..=left + 1).contains(&days) && days > 36_000, "{c}");
    let text = asan(image.arg()).cmd("info").run().ok().to_owned();
    assert!(text.contains(&format!("({days} days left)")), "{text}");
}

// ---------------------------------------------------------------------------
// asan pin
// ---------------------------------------------------------------------------

#[test]
fn pin_status_human_and_json() {
    let image = Image::personalised();
    assert_eq!(
        asan(image.arg()).cmd("pin status").run().ok(),
        "PIN1: 3 of 3 tries left\nPIN2: 3 of 3 tries left\nPUK: 10 of 10 tries left\n"
    );
    asan(image.arg())
        .cmd("pin verify pin2")
        .stdin("00000\n")
        .run()
        .fails(3, "wrong PIN2");
    let v = asan(image.arg()).cmd("pin status --json").run().json();
    assert_eq!(v["pin1"]["tries_left"], 3);
    assert_eq!(v["pin1"]["max_tries"], 3);
    assert_eq!(v["pin2"]["tries_left"], 2);
    assert_eq!(v["pin2"]["max_tries"], 3);
    assert_eq!(v["puk"]["tries_left"], 10);
    assert_eq!(v["puk"]["max_tries"], 10);
    assert!(
        line(asan(image.arg()).cmd("pin status").run().ok(), "PIN2").contains("2 of 3 tries left")
    );
}

#[test]
fn pin_verify_each_pin_from_stdin_and_environment() {
    let image = Image::personalised();
    for (name, var, value, label) in [
        ("pin1", "ASAN_PIN1", PIN1, "PIN1"),
        ("pin2", "ASAN_PIN2", PIN2, "PIN2"),
        ("puk", "ASAN_PUK", PUK, "PUK"),
    ] {
        let out = asan(image.arg())
            .args(&["pin", "verify", name])
            .stdin(&format!("{value}\n"))
            .run();
        assert_eq!(out.ok(), format!("{label} is correct\n"));
        assert_eq!(out.stderr, "");
        let out = asan(image.arg())
            .args(&["pin", "verify", name])
            .env(var, value)
            .run();
        assert_eq!(out.ok(), format!("{label} is correct\n"));
        // The environment wins over standard input.
        let out = asan(image.arg())
            .args(&["--json", "pin", "verify", name])
            .env(var, value)
            .stdin("0\n")
            .run();
        let v = out.json();
        assert_eq!(v["ok"], true);
        assert_eq!(v["message"], format!("{label} is correct"));
    }
    assert_eq!(image.tries(), [3, 3, 10]);
}

#[test]
fn wrong_pin_exit_3_then_blocked_exit_4_then_unblock_keeping_the_value() {
    let image = Image::with_certificates();
    let wrong = || {
        asan(image.arg())
            .cmd("pin verify pin2")
            .stdin("99999\n")
            .run()
    };
    assert_eq!(
        wrong().fails(3, "wrong PIN2"),
        "asan: wrong PIN2, 2 tries left"
    );
    assert_eq!(image.tries(), [3, 2, 10]);
    assert_eq!(
        wrong().fails(3, "wrong PIN2"),
        "asan: wrong PIN2, 1 try left"
    );
    // The third wrong PIN: still a wrong PIN (the card answered 63C0), and
    // the message says that it is blocked now.
    let third = wrong();
    assert!(third.code == 3 || third.code == 4, "{third:#?}");
    third.fails(third.code, "blocked");
    assert_eq!(image.tries(), [3, 0, 10]);

    // Blocked: exit 4, even with the right PIN, and the message says what to do.
    let out = asan(image.arg())
        .cmd("pin verify pin2")
        .env("ASAN_PIN2", PIN2)
        .run();
    let msg = out.fails(4, "PIN2 is blocked");
    assert!(msg.contains("asan pin unblock pin2"), "{msg}");
    let digest = hex::encode(sha256(b"blocked"));
    asan(image.arg())
        .args(&["sign", "--digest", &digest])
        .env("ASAN_PIN2", PIN2)
        .run()
        .fails(4, "PIN2 is blocked");
    let text = asan(image.arg()).cmd("pin status").run().ok().to_owned();
    assert!(line(&text, "PIN2").contains("blocked"), "{text}");
    let text = asan(image.arg()).cmd("info").run().ok().to_owned();
    assert!(line(&text, "PIN2").ends_with("BLOCKED"), "{text}");
    let v = asan(image.arg()).cmd("info --json").run().json();
    assert_eq!(v["pins"]["pin2"]["tries_left"], 0);

    // A wrong PUK: exit 3, PIN2 stays blocked.
    let out = asan(image.arg())
        .cmd("pin unblock pin2 --keep")
        .stdin("87654321\n")
        .run();
    assert_eq!(out.fails(3, "wrong PUK"), "asan: wrong PUK, 9 tries left");
    assert_eq!(image.tries(), [3, 0, 9]);

    // The PUK unblocks PIN2 and keeps its value; PUK from stdin.
    let out = asan(image.arg())
        .cmd("pin unblock pin2 --keep")
        .stdin(&format!("{PUK}\n"))
        .run();
    assert_eq!(out.ok(), "PIN2 unblocked, value kept\n");
    assert_eq!(image.tries(), [3, 3, 10]);
    let out = asan(image.arg())
        .args(&["sign", "--digest", &digest])
        .env("ASAN_PIN2", PIN2)
        .run();
    assert!(verifies(&image.sign_key, &sha256(b"blocked"), out.ok()));
}

#[test]
fn unblock_with_a_new_value_from_stdin_or_environment() {
    let image = Image::personalised();
    for _ in 0..3 {
        asan(image.arg())
            .cmd("pin verify pin1")
            .stdin("0000\n")
            .run();
    }
    assert_eq!(image.tries(), [0, 3, 10]);
    // Lines on stdin in the order asked: the PUK, then the new PIN1.
    let out = asan(image.arg())
        .cmd("pin unblock pin1")
        .stdin(&format!("{PUK}\n4321\n"))
        .run();
    assert_eq!(out.ok(), "PIN1 unblocked with a new value\n");
    assert_eq!(image.tries(), [3, 3, 10]);
    asan(image.arg())
        .cmd("pin verify pin1")
        .stdin("4321\n")
        .run()
        .ok();
    asan(image.arg())
        .cmd("pin verify pin1")
        .stdin(&format!("{PIN1}\n"))
        .run()
        .fails(3, "wrong PIN1, 2 tries left");

    // ASAN_PUK and ASAN_NEW_PIN; the PIN need not be blocked.
    let v = asan(image.arg())
        .cmd("pin unblock pin2 --json")
        .env("ASAN_PUK", PUK)
        .env("ASAN_NEW_PIN", "24680")
        .run()
        .json();
    assert_eq!(v["ok"], true);
    assert_eq!(v["message"], "PIN2 unblocked with a new value");
    asan(image.arg())
        .cmd("pin verify pin2")
        .env("ASAN_PIN2", "24680")
        .run()
        .ok();
    assert_eq!(image.tries(), [2, 3, 10]);

    // A missing new PIN is asked for by its variable; nothing is sent.
    asan(image.arg())
        .cmd("pin unblock pin1")
        .stdin(&format!("{PUK}\n"))
        .run()
        .fails(2, "ASAN_NEW_PIN");
    asan(image.arg())
        .cmd("pin unblock pin1")
        .run()
        .fails(2, "ASAN_PUK");
    assert_eq!(image.tries(), [2, 3, 10]);
}

#[test]
fn the_puk_cannot_be_unblocked() {
    let image = Image::personalised();
    for keep in [false, true] {
        let mut args = vec!["pin", "unblock", "puk"];
        if keep {
            args.push("--keep");
        }
        asan(image.arg())
            .args(&args)
            .stdin(&format!("{PUK}\n{PUK}\n"))
            .env("ASAN_PUK", PUK)
            .run()
            .fails(2, "PUK cannot be unblocked");
    }
    assert_eq!(image.tries(), [3, 3, 10]);
}

#[test]
fn a_blocked_puk_exits_4() {
    let image = Image::personalised();
    for i in (0..10).rev() {
        let out = asan(image.arg())
            .cmd("pin verify puk")
            .stdin("00000000\n")
            .run();
        assert!(out.code == 3 || (i == 0 && out.code == 4), "{out:#?}");
        out.fails(out.code, &format!("wrong PUK, {i} tr"));
    }
    assert_eq!(image.tries(), [3, 3, 0]);
    let msg = asan(image.arg())
        .cmd("pin unblock pin2 --keep")
        .env("ASAN_PUK", PUK)
        .run()
        .fails(4, "PUK is blocked")
        .to_owned();
    assert!(msg.contains("replaced"), "{msg}");
    asan(image.arg())
        .cmd("pin verify puk")
        .env("ASAN_PUK", PUK)
        .run()
        .fails(4, "PUK is blocked");
}

#[test]
fn bad_pin_format_is_a_usage_error_and_costs_no_try() {
    let image = Image::personalised();
    // Spend one try of each, so that a bad value that reached the card
    // would show (as a lower counter, or a reset one).
    asan(image.arg())
        .cmd("pin verify pin1")
        .stdin("0000\n")
        .run()
        .fails(3, "PIN1");
    asan(image.arg())
        .cmd("pin verify pin2")
        .stdin("00000\n")
        .run()
        .fails(3, "PIN2");
    asan(image.arg())
        .cmd("pin verify puk")
        .stdin("00000000\n")
        .run()
        .fails(3, "PUK");
    assert_eq!(image.tries(), [2, 2, 9]);

    // Command (DIGEST: a valid digest), environment (VAR=value), stdin, message.
    #[rustfmt::skip]
    let cases = [
        ("pin verify pin1", "", "123\n", "invalid PIN1: it must have 4 to 8 digits, not 3"),
        ("pin verify pin1", "", "123456789\n", "invalid PIN1: it must have 4 to 8 digits, not 9"),
        ("pin verify pin1", "", "12a4\n", "invalid PIN1: only digits"),
        ("pin verify pin1", "", "\n", "invalid PIN1"),
        ("pin verify pin1", "", " 1234\n", "invalid PIN1"),
        ("pin verify pin2", "", "1234\n", "invalid PIN2: it must have 5 to 8 digits, not 4"),
        ("pin verify pin2", "ASAN_PIN2=12 345", "", "invalid PIN2"),
        ("pin verify puk", "", "1234567\n", "invalid PUK: it must have exactly 8 digits, not 7"),
        ("sign --digest DIGEST", "ASAN_PIN2=1234", "", "invalid PIN2"),
        ("auth --digest DIGEST", "ASAN_PIN1=abcd", "", "invalid PIN1"),
        ("auth --challenge hi", "", "123\n", "invalid PIN1"),
        ("pin change pin2", "", "12345\n1234\n", "invalid PIN2"),
        ("pin change pin1", "", "12\n4321\n", "invalid PIN1"),
        ("pin change puk", "", "12345678\n8765432\n", "invalid PUK"),
        ("pin unblock pin2", "", "1234\n54321\n", "invalid PUK"),
        ("pin unblock pin2", "", "12345678\n1\n", "invalid PIN2"),
        ("pin unblock pin1 --keep", "ASAN_PUK=123456789", "", "invalid PUK"),
    ];
    let digest = hex::encode(sha256(b"x"));
    for (command, env, stdin, needle) in cases {
        let mut cmd = asan(image.arg())
            .cmd("--trace")
            .cmd(&command.replace("DIGEST", &digest))
            .stdin(stdin);
        if let Some((k, v)) = env.split_once('=') {
            cmd = cmd.env(k, v);
        }
        let out = cmd.run();
        // One line only, with --trace: not a single APDU was sent.
        let msg = out.fails(2, needle);
        assert!(msg.ends_with("(nothing was sent to the card)"), "{msg}");
    }
    assert_eq!(image.tries(), [2, 2, 9], "a bad format never costs a try");
    // The old values still hold.
    asan(image.arg())
        .cmd("pin verify pin2")
        .env("ASAN_PIN2", PIN2)
        .run()
        .ok();
    asan(image.arg())
        .cmd("pin verify puk")
        .env("ASAN_PUK", PUK)
        .run()
        .ok();
}

#[test]
fn pin_change_reads_the_old_then_the_new_value() {
    let image = Image::personalised();
    // Both from stdin, in order.
    let out = asan(image.arg())
        .cmd("pin change pin1")
        .stdin("1234\n4321\n")
        .run();
    assert_eq!(out.ok(), "PIN1 changed\n");
    asan(image.arg())
        .cmd("pin verify pin1")
        .env("ASAN_PIN1", "4321")
        .run()
        .ok();
    asan(image.arg())
        .cmd("pin verify pin1")
        .env("ASAN_PIN1", PIN1)
        .run()
        .fails(3, "wrong PIN1");
    // CR LF line ends.
    asan(image.arg())
        .cmd("pin change pin1")
        .stdin("4321\r\n86420\r\n")
        .run()
        .ok();
    asan(image.arg())
        .cmd("pin verify pin1")
        .stdin("86420\n")
        .run()
        .ok();

    // Both from the environment: ASAN_PIN2 and ASAN_NEW_PIN.
    let v = asan(image.arg())
        .cmd("--json pin change pin2")
        .env("ASAN_PIN2", PIN2)
        .env("ASAN_NEW_PIN", "54321")
        .run()
        .json();
    assert_eq!(v["ok"], true);
    assert_eq!(v["message"], "PIN2 changed");
    let digest = sha256(b"after the change");
    let sig = asan(image.arg())
        .args(&["sign", "--digest", &hex::encode(&digest)])
        .env("ASAN_PIN2", "54321")
        .run();
    assert!(verifies(&image.sign_key, &digest, sig.ok()));
    // Mixed: the current value from the environment, the new one from stdin.
    asan(image.arg())
        .cmd("pin change pin2")
        .env("ASAN_PIN2", "54321")
        .stdin("67890123\n")
        .run()
        .ok();
    asan(image.arg())
        .cmd("pin verify pin2")
        .stdin("67890123\n")
        .run()
        .ok();

    // The PUK, then an unblock with the new PUK.
    assert_eq!(
        asan(image.arg())
            .cmd("pin change puk")
            .stdin("12345678\n87654321\n")
            .run()
            .ok(),
        "PUK changed\n"
    );
    asan(image.arg())
        .cmd("pin unblock pin1 --keep")
        .stdin("87654321\n")
        .run()
        .ok();

    // A wrong current value: exit 3, nothing changed.
    asan(image.arg())
        .cmd("pin change pin1")
        .stdin("0000\n1111\n")
        .run()
        .fails(3, "wrong PIN1, 2 tries left");
    asan(image.arg())
        .cmd("pin verify pin1")
        .stdin("1111\n")
        .run()
        .fails(3, "wrong PIN1");
    asan(image.arg())
        .cmd("pin verify pin1")
        .stdin("86420\n")
        .run()
        .ok();
    // The new value missing: exit 2 naming ASAN_NEW_PIN, no try spent.
    asan(image.arg())
        .cmd("pin change pin1")
        .stdin("86420\n")
        .run()
        .fails(2, "ASAN_NEW_PIN");
    asan(image.arg())
        .cmd("pin change pin1")
        .run()
        .fails(2, "ASAN_PIN1");
    assert_eq!(image.tries(), [3, 3, 10]);
}

#[test]
fn a_missing_pin_names_its_variable() {
    let image = Image::personalised();
    let digest = hex::encode(sha256(b"x"));
    for (args, var) in [
        (vec!["pin", "verify", "pin1"], "ASAN_PIN1"),
        (vec!["pin", "verify", "pin2"], "ASAN_PIN2"),
        (vec!["pin", "verify", "puk"], "ASAN_PUK"),
        (vec!["sign", "--digest", &digest], "ASAN_PIN2"),
        (vec!["auth", "--challenge", "x"], "ASAN_PIN1"),
        (vec!["pin", "unblock", "pin2", "--keep"], "ASAN_PUK"),
    ] {
        asan(image.arg()).args(&args).run().fails(2, var);
    }
    assert_eq!(image.tries(), [3, 3, 10]);
}

// ---------------------------------------------------------------------------
// asan auth
// ---------------------------------------------------------------------------

#[test]
fn auth_signs_a_digest_with_the_authentication_key() {
    let image = Image::with_certificates();
    for (len, upper) in [(20, false), (32, true), (48, false), (64, false)] {
        let mut digest_hex = hex_bytes(len, len as u8);
        if upper {
            digest_hex = digest_hex.to_uppercase();
        }
        let digest = hex::decode(&digest_hex).unwrap();
        let out = asan(image.arg())
            .args(&["auth", "--digest", &digest_hex])
            .env("ASAN_PIN1", PIN1)
            .run();
        let text = out.ok();
        // The signature, then the authentication certificate (PEM).
        let sig = text.lines().next().unwrap_or("");
        assert!(text.contains("-----BEGIN CERTIFICATE-----"), "{text}");
        assert_eq!(out.stderr, "");
        assert!(verifies(&image.auth_key, &digest, sig), "{len}-byte digest");
        assert!(
            !verifies(&image.sign_key, &digest, sig),
            "not the signing key"
        );
    }
    // PIN1 from stdin.
    let digest = sha256(b"stdin");
    let out = asan(image.arg())
        .args(&["auth", "--digest", &hex::encode(&digest)])
        .stdin(&format!("{PIN1}\n"))
        .run();
    assert!(verifies(
        &image.auth_key,
        &digest,
        out.ok().lines().next().unwrap_or("")
    ));
}

#[test]
fn auth_challenge_signs_the_sha256_of_the_text() {
    let image = Image::personalised();
    let text = "login to e-gov.az, nonce 8c1f 2a";
    let out = asan(image.arg())
        .args(&["auth", "--challenge", text])
        .env("ASAN_PIN1", PIN1)
        .run();
    assert!(verifies(
        &image.auth_key,
        &sha256(text.as_bytes()),
        out.ok()
    ));
    // Without a certificate, --json says so with null.
    let v = asan(image.arg())
        .args(&["auth", "--challenge", text, "--json"])
        .env("ASAN_PIN1", PIN1)
        .run()
        .json();
    assert_eq!(v["certificate"], Value::Null);
    assert_eq!(v["digest"], hex::encode(sha256(text.as_bytes())));
}

#[test]
fn auth_json_includes_the_certificate_and_its_key_verifies() {
    let image = Image::with_certificates();
    let text = "challenge 17";
    let v = asan(image.arg())
        .args(&["--json", "auth", "--challenge", text])
        .stdin(&format!("{PIN1}\n"))
        .run()
        .json();
    assert_eq!(v["profile"], "citizen");
    let digest = sha256(text.as_bytes());
    assert_eq!(v["digest"], hex::encode(&digest));
    let signature = v["signature"].as_str().unwrap();
    let pem = v["certificate"].as_str().unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----\n"), "{pem}");
    let der = pem_to_der(&image, pem);
    assert_eq!(der, std::fs::read(image.file("auth.der")).unwrap());
    let key = certificate_key(&der);
    assert_eq!(key, image.auth_key);
    assert!(verifies(&key, &digest, signature));
}

#[test]
fn auth_usage_errors_and_wrong_pin() {
    let image = Image::personalised();
    for (digest, needle) in [
        (hex_bytes(19, 1), "20 to 64 bytes, not 19"),
        (hex_bytes(65, 1), "20 to 64 bytes, not 65"),
        (String::new(), "20 to 64 bytes"),
        ("xyz".into(), "not hex"),
        ("abc".into(), "not hex"),
    ] {
        asan(image.arg())
            .args(&["auth", "--digest", &digest])
            .env("ASAN_PIN1", PIN1)
            .run()
            .fails(2, needle);
    }
    asan(image.arg())
        .args(&["auth", "--digest", &hex_bytes(32, 1), "--challenge", "x"])
        .env("ASAN_PIN1", PIN1)
        .run()
        .usage_error();
    asan(image.arg())
        .cmd("auth")
        .env("ASAN_PIN1", PIN1)
        .run()
        .usage_error();
    asan(image.arg())
        .cmd("auth --challenge x --profile nobody")
        .env("ASAN_PIN1", PIN1)
        .run()
        .usage_error();
    assert_eq!(image.tries(), [3, 3, 10]);
    let out = asan(image.arg())
        .cmd("auth --challenge x")
        .env("ASAN_PIN1", "0000")
        .run();
    assert_eq!(out.fails(3, "wrong PIN1"), "asan: wrong PIN1, 2 tries left");
}

// ---------------------------------------------------------------------------
// asan sign
// ---------------------------------------------------------------------------

#[test]
fn sign_digest_verifies_with_the_card_key_and_the_certificate() {
    let image = Image::with_certificates();
    let digest = sha256(b"a document");
    let out = asan(image.arg())
        .args(&["sign", "--digest", &hex::encode(&digest)])
        .env("ASAN_PIN2", PIN2)
        .run();
    let sig = out.ok().trim_end().to_owned();
    assert_eq!(out.ok(), format!("{sig}\n"), "one line of hex");
    assert_eq!(sig.len(), 128);
    assert_eq!(out.stderr, "");
    assert!(verifies(&image.sign_key, &digest, &sig));
    assert!(!verifies(&image.auth_key, &digest, &sig));
    let cert_key = certificate_key(&std::fs::read(image.file("sign.der")).unwrap());
    assert!(verifies(&cert_key, &digest, &sig));

    // --json, PIN2 from stdin, explicit --profile citizen.
    let v = asan(image.arg())
        .args(&[
            "sign",
            "--json",
            "--profile",
            "citizen",
            "--digest",
            &hex::encode(&digest),
        ])
        .stdin(&format!("{PIN2}\n"))
        .run()
        .json();
    assert_eq!(v["profile"], "citizen");
    assert_eq!(v["digest"], hex::encode(&digest));
    assert!(verifies(
        &cert_key,
        &digest,
        v["signature"].as_str().unwrap()
    ));
    assert_eq!(image.tries(), [3, 3, 10]);
}

#[test]
fn signatures_verify_with_openssl_and_the_certificate_read_by_the_cli() {
    // An independent verifier: openssl, with the public key of the
    // certificate that `asan cert read --pem` wrote, over the message itself.
    let image = Image::with_certificates();
    for (usage, command, pin) in [
        ("sign", "sign --digest", ("ASAN_PIN2", PIN2)),
        ("auth", "auth --challenge", ("ASAN_PIN1", PIN1)),
    ] {
        let message = format!("message for {usage}");
        std::fs::write(image.file("message.txt"), &message).unwrap();
        let arg = if usage == "sign" {
            hex::encode(sha256(message.as_bytes()))
        } else {
            message.clone()
        };
        let out = asan(image.arg())
            .cmd(command)
            .args(&[&arg])
            .env(pin.0, pin.1)
            .run();
        let sig = out.ok().lines().next().unwrap_or("").trim();
        let pem = image.file(&format!("{usage}.pem"));
        asan(image.arg())
            .cmd(&format!(
                "cert read --profile citizen --usage {usage} --pem -o"
            ))
            .args(&[pem.to_str().unwrap()])
            .run()
            .ok();
        std::fs::write(
            image.file("sig.cnf"),
            format!(
                "asn1=SEQUENCE:sig\n[sig]\nr=INTEGER:0x{}\ns=INTEGER:0x{}\n",
                &sig[..64],
                &sig[64..]
            ),
        )
        .unwrap();
        image.openssl("asn1parse -genconf sig.cnf -noout -out sig.der", &[]);
        image.openssl(
            "x509 -pubkey -noout -out pub.pem -in",
            &[pem.to_str().unwrap()],
        );
        image.openssl(
            "dgst -sha256 -verify pub.pem -signature sig.der message.txt",
            &[],
        );
    }
}

#[test]
fn sign_needs_a_32_byte_hex_digest() {
    let image = Image::personalised();
    for (digest, needle) in [
        (hex_bytes(31, 3), "32 bytes, not 31"),
        (hex_bytes(33, 3), "32 bytes, not 33"),
        (hex_bytes(20, 3), "32 bytes, not 20"),
        (hex_bytes(64, 3), "32 bytes, not 64"),
        (String::new(), "32 bytes, not 0"),
        (format!("{}zz", hex_bytes(31, 3)), "not hex"),
    ] {
        asan(image.arg())
            .args(&["sign", "--digest", &digest])
            .env("ASAN_PIN2", PIN2)
            .run()
            .fails(2, needle);
    }
    asan(image.arg())
        .cmd("sign")
        .env("ASAN_PIN2", PIN2)
        .run()
        .usage_error();
    asan(image.arg())
        .args(&[
            "sign",
            "--digest",
            &hex_bytes(32, 3),
            "--profile",
            "private",
        ])
        .env("ASAN_PIN2", PIN2)
        .run()
        .usage_error();
    assert_eq!(image.tries(), [3, 3, 10]);
    let out = asan(image.arg())
        .args(&["sign", "--digest", &hex_bytes(32, 3)])
        .env("ASAN_PIN2", "54321")
        .run();
    assert_eq!(out.fails(3, "wrong PIN2"), "asan: wrong PIN2, 2 tries left");
}

#[test]
fn sign_with_a_profile_the_citizen_card_does_not_have() {
    let image = Image::personalised();
    let digest = hex::encode(sha256(b"business letter"));
    for profile in ["business", "government"] {
        let out = asan(image.arg())
            .args(&["sign", "--profile", profile, "--digest", &digest])
            .env("ASAN_PIN2", PIN2)
            .run();
        // A clear message: which profile, not a bare command name.
        let msg = out.fails(1, profile).to_owned();
        assert!(!msg.ends_with("MSE: SET"), "{msg}");
        let out = asan(image.arg())
            .args(&["auth", "--profile", profile, "--challenge", "x"])
            .env("ASAN_PIN1", PIN1)
            .run();
        out.fails(1, profile);
    }
    assert_eq!(image.tries(), [3, 3, 10], "no PIN try spent");
}

#[test]
fn business_keys_on_a_business_card() {
    let image = Image::personalised();
    operator(
        &image.path,
        &[
            ([0x80, 0x47, 0x80, 0x12], vec![]),
            ([0x80, 0x47, 0x80, 0x22], vec![]),
            ([0x80, 0xDA, 0x00, 0x43], vec![2, 1]),
        ],
    );
    let (auth, sign) = with_card(&image.path, |tx| {
        (read_public_key(tx, 0x12), read_public_key(tx, 0x22))
    });
    let text = asan(image.arg()).cmd("info").run().ok().to_owned();
    assert!(
        line(&text, "Service").ends_with("business, active"),
        "{text}"
    );
    assert_eq!(
        asan(image.arg()).cmd("info --json").run().json()["service"]["type"],
        "business"
    );

    let digest = sha256(b"invoice 42");
    let out = asan(image.arg())
        .args(&[
            "sign",
            "--profile",
            "business",
            "--digest",
            &hex::encode(&digest),
        ])
        .env("ASAN_PIN2", PIN2)
        .run();
    assert!(verifies(&sign, &digest, out.ok()));
    assert!(!verifies(&image.sign_key, &digest, out.ok()));
    // The citizen key is still the default.
    let out = asan(image.arg())
        .args(&["sign", "--digest", &hex::encode(&digest)])
        .env("ASAN_PIN2", PIN2)
        .run();
    assert!(verifies(&image.sign_key, &digest, out.ok()));
    let out = asan(image.arg())
        .cmd("auth --profile business --challenge portal")
        .env("ASAN_PIN1", PIN1)
        .run();
    assert!(verifies(&auth, &sha256(b"portal"), out.ok()));
    let v = asan(image.arg())
        .cmd("auth --profile business --challenge portal --json")
        .env("ASAN_PIN1", PIN1)
        .run()
        .json();
    assert_eq!(v["profile"], "business");
}

#[test]
fn a_suspended_service_refuses_to_sign() {
    let image = Image::personalised();
    operator(&image.path, &[([0x80, 0xDA, 0x00, 0x43], vec![1, 0])]);
    let text = asan(image.arg()).cmd("info").run().ok().to_owned();
    assert!(
        line(&text, "Service").ends_with("citizen, suspended"),
        "{text}"
    );
    assert_eq!(
        asan(image.arg()).cmd("--json info").run().json()["service"]["active"],
        false
    );
    asan(image.arg())
        .args(&["sign", "--digest", &hex_bytes(32, 9)])
        .env("ASAN_PIN2", PIN2)
        .run()
        .fails(1, "suspended");
    asan(image.arg())
        .cmd("auth --challenge x")
        .env("ASAN_PIN1", PIN1)
        .run()
        .fails(1, "suspended");
}

#[test]
fn a_card_not_yet_personalised_refuses_to_sign() {
    let image = Image::fresh();
    asan(image.arg())
        .args(&["sign", "--digest", &hex_bytes(32, 9)])
        .env("ASAN_PIN2", PIN2)
        .run()
        .fails(1, "the card refuses");
    asan(image.arg())
        .cmd("pin verify pin1")
        .env("ASAN_PIN1", PIN1)
        .run()
        .fails(1, "");
}

// ---------------------------------------------------------------------------
// asan cert read
// ---------------------------------------------------------------------------

#[test]
fn cert_read_to_a_der_or_pem_file_or_to_stdout() {
    let image = Image::with_certificates();
    let sign_der = std::fs::read(image.file("sign.der")).unwrap();
    let auth_der = std::fs::read(image.file("auth.der")).unwrap();

    // -o FILE: DER.
    let file = image.file("read-sign.der");
    let out = asan(image.arg())
        .cmd("cert read --profile citizen --usage sign -o")
        .args(&[file.to_str().unwrap()])
        .run();
    let msg = out.ok();
    assert!(
        msg.contains(file.to_str().unwrap()) && msg.contains("citizen sign"),
        "{msg}"
    );
    assert_eq!(std::fs::read(&file).unwrap(), sign_der);

    // --output FILE --pem.
    let file = image.file("read-auth.pem");
    asan(image.arg())
        .cmd("cert read --profile citizen --usage auth --pem --output")
        .args(&[file.to_str().unwrap()])
        .run()
        .ok();
    let pem = std::fs::read_to_string(&file).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----\n"));
    assert!(pem.ends_with("-----END CERTIFICATE-----\n"));
    assert_eq!(pem_to_der(&image, &pem), auth_der);

    // No file: PEM on stdout (with or without --pem).
    for extra in [&[][..], &["--pem"][..]] {
        let out = asan(image.arg())
            .cmd("cert read --profile citizen --usage sign")
            .args(extra)
            .run();
        assert!(out.ok().starts_with("-----BEGIN CERTIFICATE-----\n"));
        assert!(out.ok().lines().all(|l| l.len() <= 64));
        assert_eq!(pem_to_der(&image, out.ok()), sign_der);
    }

    // --json: the summary and the PEM (and the file when written).
    let (not_before, not_after) = openssl_dates(&image, &sign_der);
    let v = asan(image.arg())
        .cmd("--json cert read --profile citizen --usage sign")
        .run()
        .json();
    assert_eq!(v["profile"], "citizen");
    assert_eq!(v["usage"], "sign");
    assert_eq!(v["subject"], "SERIALNUMBER=7GH2K4P,CN=Test Citizen");
    assert_eq!(v["issuer"], "CN=Test Asan CA");
    assert_eq!(v["not_before"], not_before.as_str());
    assert_eq!(v["not_after"], not_after.as_str());
    assert_eq!(pem_to_der(&image, v["pem"].as_str().unwrap()), sign_der);
    let file = image.file("json.der");
    let v = asan(image.arg())
        .cmd("--json cert read --profile citizen --usage sign -o")
        .args(&[file.to_str().unwrap()])
        .run()
        .json();
    assert_eq!(v["file"], file.to_str().unwrap());
    assert_eq!(std::fs::read(&file).unwrap(), sign_der);
}

#[test]
fn cert_read_of_an_absent_or_broken_certificate() {
    let image = Image::personalised();
    let file = image.file("none.der");
    asan(image.arg())
        .cmd("cert read --profile citizen --usage sign -o")
        .args(&[file.to_str().unwrap()])
        .run()
        .fails(1, "not on the card");
    assert!(!file.exists(), "no file for an absent certificate");
    asan(image.arg())
        .cmd("cert read --profile business --usage auth")
        .run()
        .fails(1, "not on the card");
    asan(image.arg())
        .cmd("--json cert read --profile government --usage sign")
        .run()
        .fails(1, "not on the card");

    write_certificates(&image.path, &[(CITIZEN_AUTH, BROKEN.to_vec())]);
    asan(image.arg())
        .cmd("cert read --profile citizen --usage auth")
        .run()
        .fails(1, "certificate problem: not a valid X.509 certificate");

    let good = Image::with_certificates();
    let nowhere = good.file("no/such/dir/cert.der");
    asan(good.arg())
        .cmd("cert read --profile citizen --usage sign -o")
        .args(&[nowhere.to_str().unwrap()])
        .run()
        .fails(1, nowhere.to_str().unwrap());

    for args in [
        &["cert", "read", "--profile", "citizen"][..],
        &["cert", "read", "--usage", "sign"][..],
        &["cert", "read", "--profile", "personal", "--usage", "sign"][..],
        &["cert", "read", "--profile", "citizen", "--usage", "encrypt"][..],
        &["cert"][..],
    ] {
        asan(good.arg()).args(args).run().usage_error();
    }
}

// ---------------------------------------------------------------------------
// --trace, --json, secrets
// ---------------------------------------------------------------------------

/// The trace lines on stderr that carry a command with PIN data.
fn assert_pin_blocks_hidden(stderr: &str, header: &str) {
    let lines: Vec<&str> = stderr.lines().filter(|l| l.contains(header)).collect();
    assert!(!lines.is_empty(), "no {header} in the trace:\n{stderr}");
    for l in lines {
        assert!(l.ends_with(&format!("{header} ***")), "{l}");
    }
    assert!(stderr.lines().all(|l| l.starts_with("asan: ")), "{stderr}");
}

#[test]
fn trace_logs_every_apdu_with_pin_blocks_as_stars() {
    let image = Image::with_certificates();
    let digest = sha256(b"traced");
    let out = asan(image.arg())
        .args(&["--trace", "sign", "--digest", &hex::encode(&digest)])
        .env("ASAN_PIN2", PIN2)
        .run();
    assert!(verifies(&image.sign_key, &digest, out.ok()));
    assert_eq!(out.ok().lines().count(), 1, "the trace goes to stderr only");
    assert_pin_blocks_hidden(&out.stderr, "0020008208");
    assert!(!out.stderr.contains("3132333435"), "{}", out.stderr);
    assert!(
        out.stderr.contains("00A4040C0AF04153414E494D5A4101"),
        "{}",
        out.stderr
    );
    let pso = format!("002A9E9A20{}", hex::encode_upper(&digest));
    assert!(out.stderr.contains(&pso), "{}", out.stderr);
    assert!(out.stderr.contains("9000"));

    // VERIFY of PIN1, a wrong one, CHANGE REFERENCE DATA, RESET RETRY COUNTER.
    let out = asan(image.arg())
        .cmd("--trace pin verify pin1")
        .stdin(&format!("{PIN1}\n"))
        .run();
    out.ok();
    assert_pin_blocks_hidden(&out.stderr, "0020008108");
    let out = asan(image.arg())
        .cmd("--trace pin verify pin1")
        .stdin("4321\n")
        .run();
    assert_eq!(out.code, 3);
    assert_pin_blocks_hidden(&out.stderr, "0020008108");
    assert!(out.stderr.contains("63C2"), "{}", out.stderr);
    assert_eq!(
        out.stderr.lines().last(),
        Some("asan: wrong PIN1, 2 tries left")
    );
    let out = asan(image.arg())
        .cmd("--trace pin change pin2")
        .stdin(&format!("{PIN2}\n54321\n"))
        .run();
    out.ok();
    assert_pin_blocks_hidden(&out.stderr, "0024008210");
    let out = asan(image.arg())
        .cmd("--trace pin unblock pin1")
        .stdin(&format!("{PUK}\n{PIN1}\n"))
        .run();
    out.ok();
    assert_pin_blocks_hidden(&out.stderr, "002C008110");
    let out = asan(image.arg())
        .cmd("--trace pin unblock pin2 --keep")
        .env("ASAN_PUK", PUK)
        .run();
    out.ok();
    assert_pin_blocks_hidden(&out.stderr, "002C018208");
    let out = asan(image.arg())
        .cmd("--trace auth --challenge traced")
        .env("ASAN_PIN1", PIN1)
        .run();
    out.ok();
    assert_pin_blocks_hidden(&out.stderr, "0020008108");

    // --trace with --json: stdout is still one JSON object.
    let out = asan(image.arg()).cmd("--trace --json info").run();
    assert_eq!(out.json()["life_cycle"], "operational");
    assert!(out.stderr.contains("> "), "{}", out.stderr);
    // Without --trace, a success prints nothing on stderr.
    assert_eq!(asan(image.arg()).cmd("info").run().stderr, "");
}

#[test]
fn distinctive_pins_never_appear_in_any_output() {
    // The run() harness checks every run for the PINs it passes; here the
    // PINs are changed to values that cannot hide in other numbers, and
    // every command runs with --trace, with and without --json.
    let image = Image::with_certificates();
    let (p1, p2, puk) = ("7093", "58216", "40417733");
    for (pin, old, new) in [("pin1", PIN1, p1), ("pin2", PIN2, p2), ("puk", PUK, puk)] {
        asan(image.arg())
            .args(&["--trace", "pin", "change", pin])
            .stdin(&format!("{old}\n{new}\n"))
            .run()
            .ok();
    }
    let digest = hex::encode(sha256(b"secret-free"));
    for json in [false, true] {
        let mut g = vec!["--trace"];
        if json {
            g.push("--json");
        }
        let runs = [
            asan(image.arg())
                .args(&g)
                .cmd("pin verify pin1")
                .env("ASAN_PIN1", p1)
                .run(),
            asan(image.arg())
                .args(&g)
                .cmd("pin verify pin2")
                .stdin(&format!("{p2}\n"))
                .run(),
            asan(image.arg())
                .args(&g)
                .cmd("pin verify puk")
                .env("ASAN_PUK", puk)
                .run(),
            asan(image.arg())
                .args(&g)
                .args(&["sign", "--digest", &digest])
                .env("ASAN_PIN2", p2)
                .run(),
            asan(image.arg())
                .args(&g)
                .cmd("auth --challenge c")
                .env("ASAN_PIN1", p1)
                .run(),
            asan(image.arg())
                .args(&g)
                .cmd("pin unblock pin1")
                .env("ASAN_PUK", puk)
                .env("ASAN_NEW_PIN", p1)
                .run(),
            asan(image.arg()).args(&g).cmd("info").run(),
            asan(image.arg()).args(&g).cmd("pin status").run(),
        ];
        for out in &runs {
            out.ok();
            let all = format!("{}{}", out.stdout, out.stderr);
            for secret in [p1, p2, puk] {
                // As a word: the digits may occur by chance inside hex (signatures).
                assert!(!contains_word(&all, secret), "{secret} in {out:#?}");
                assert!(
                    !all.to_lowercase().contains(&hex::encode(secret)),
                    "{out:#?}"
                );
            }
        }
        // Wrong values are secrets too.
        let out = asan(image.arg())
            .args(&g)
            .cmd("pin verify pin2")
            .env("ASAN_PIN2", "96307")
            .run();
        assert_eq!(out.code, 3);
        assert!(!contains_word(
            &format!("{}{}", out.stdout, out.stderr),
            "96307"
        ));
        asan(image.arg())
            .cmd("pin verify pin2")
            .env("ASAN_PIN2", p2)
            .run()
            .ok();
    }
}

/// Runs `asan --virtual IMAGE ARGS` on a pseudo-terminal (util-linux
/// `script`), typing each answer after its prompt appeared; returns what the
/// terminal showed and the exit code.
fn on_terminal(image: &Path, args: &str, env: &[(&str, &str)], answers: &[&str]) -> (String, i32) {
    use std::io::Read;
    use std::sync::{Arc, Mutex};
    let cmd = format!(
        "{} --virtual {} {args}",
        env!("CARGO_BIN_EXE_asan"),
        image.display()
    );
    let mut script = Command::new("script");
    script
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for var in ["ASAN_PIN1", "ASAN_PIN2", "ASAN_PUK", "ASAN_NEW_PIN"] {
        script.env_remove(var);
    }
    for (k, v) in env {
        script.env(k, v);
    }
    let mut child = script.spawn().expect("util-linux script is installed");
    let screen = Arc::new(Mutex::new(Vec::new()));
    let mut stdout = child.stdout.take().unwrap();
    let sink = Arc::clone(&screen);
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 256];
        while let Ok(n @ 1..) = stdout.read(&mut buf) {
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    let shown = || String::from_utf8_lossy(&screen.lock().unwrap()).into_owned();
    let mut stdin = child.stdin.take().unwrap();
    for (i, answer) in answers.iter().enumerate() {
        let start = std::time::Instant::now();
        while shown().matches(": ").count() <= i {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "no prompt {} for asan {args}: {:?}",
                i + 1,
                shown()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        // The prompt is written just before echo is switched off.
        std::thread::sleep(Duration::from_millis(300));
        stdin.write_all(format!("{answer}\r").as_bytes()).unwrap();
        stdin.flush().unwrap();
    }
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("asan {args} on a terminal hangs: {:?}", shown());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(stdin);
    reader.join().unwrap();
    let text = shown();
    assert!(!text.contains("panicked"), "{text}");
    (text, status.code().unwrap_or(-1))
}

#[test]
fn pins_typed_on_a_terminal_are_not_echoed() {
    let image = Image::personalised();
    let (screen, code) = on_terminal(&image.path, "pin verify pin1", &[], &[PIN1]);
    assert_eq!(code, 0, "{screen:?}");
    assert!(screen.starts_with("PIN1: "), "{screen:?}");
    assert!(screen.contains("PIN1 is correct"), "{screen:?}");
    assert!(!screen.contains(PIN1), "the PIN was echoed: {screen:?}");

    // A new PIN is asked twice on a terminal.
    let (screen, code) = on_terminal(
        &image.path,
        "pin change pin2",
        &[],
        &[PIN2, "86420", "86420"],
    );
    assert_eq!(code, 0, "{screen:?}");
    for prompt in [
        "current PIN2: ",
        "new PIN2: ",
        "new PIN2 again: ",
        "PIN2 changed",
    ] {
        assert!(screen.contains(prompt), "{prompt:?} in {screen:?}");
    }
    assert!(
        !screen.contains(PIN2) && !screen.contains("86420"),
        "{screen:?}"
    );
    // …and the two must agree.
    let (screen, code) = on_terminal(
        &image.path,
        "pin change pin2",
        &[],
        &["86420", "11111", "22222"],
    );
    assert_eq!(code, 2, "{screen:?}");
    assert!(
        screen.contains("asan: the two new PINs differ; nothing was changed"),
        "{screen:?}"
    );
    assert_eq!(image.tries(), [3, 3, 10]);

    // The environment still wins: no prompt at all.
    let (screen, code) = on_terminal(
        &image.path,
        "pin verify pin2",
        &[("ASAN_PIN2", "86420")],
        &[],
    );
    assert_eq!(code, 0, "{screen:?}");
    assert!(!screen.contains("PIN2: "), "{screen:?}");
}

// ---------------------------------------------------------------------------
// Images that cannot be used, usage errors
// ---------------------------------------------------------------------------

#[test]
fn a_missing_image_directory_is_an_error() {
    let image = Image::absent();
    let missing = image.file("nowhere/card.img");
    let digest = hex_bytes(32, 1);
    for args in [
        &["info"][..],
        &["pin", "status"][..],
        &["cert", "read", "--profile", "citizen", "--usage", "sign"][..],
        &["sign", "--digest", &digest][..],
        &["--json", "info"][..],
    ] {
        let out = asan(&missing).args(args).env("ASAN_PIN2", PIN2).run();
        out.fails(1, missing.to_str().unwrap());
    }
    assert!(!image.file("nowhere").exists(), "nothing is created");
}

#[test]
fn a_corrupt_image_is_refused_and_left_alone() {
    let good = Image::personalised();
    let bytes = good.bytes();
    let mut flipped = bytes.clone();
    flipped[600] ^= 0x5A;
    let cases: [(&str, Vec<u8>, &str); 5] = [
        (
            "garbage",
            b"this is not a card image at all".to_vec(),
            "is not an asan-vcard image",
        ),
        ("empty", Vec::new(), "is not an asan-vcard image"),
        ("truncated", bytes[..1000].to_vec(), "truncated or damaged"),
        ("flipped", flipped, "fails its checksum"),
        (
            "longer",
            [bytes.clone(), vec![0; 10]].concat(),
            "truncated or damaged",
        ),
    ];
    for (name, content, needle) in cases {
        let image = Image::absent();
        std::fs::write(&image.path, &content).unwrap();
        for args in [
            &["info"][..],
            &["pin", "status"][..],
            &["--json", "info"][..],
        ] {
            let out = asan(image.arg()).args(args).run();
            let msg = out.fails(1, needle);
            assert!(msg.contains(image.path.to_str().unwrap()), "{name}: {msg}");
        }
        asan(image.arg())
            .cmd("pin verify pin1")
            .env("ASAN_PIN1", PIN1)
            .run()
            .fails(1, needle);
        assert_eq!(
            image.bytes(),
            content,
            "{name}: the image is never replaced"
        );
    }
    // A directory where the image should be.
    let image = Image::absent();
    std::fs::create_dir(&image.path).unwrap();
    asan(image.arg())
        .cmd("info")
        .run()
        .fails(1, image.path.to_str().unwrap());
}

#[test]
fn an_image_in_use_is_refused() {
    let image = Image::personalised();
    let (_held, created) = open_image(&image.path);
    assert!(!created);
    asan(image.arg())
        .expect_locked()
        .cmd("info")
        .run()
        .fails(1, "in use by another asan-vcard process");
}

#[test]
fn an_absent_image_becomes_a_fresh_card() {
    let image = Image::absent();
    let text = asan(image.arg()).cmd("info").run().ok().to_owned();
    assert!(
        line(&text, "Life cycle").ends_with("initialisation"),
        "{text}"
    );
    assert!(image.path.exists());
    // And it persists: the same serial next time.
    let serial = line(&text, "Serial").to_owned();
    let again = asan(image.arg()).cmd("info").run();
    assert_eq!(line(again.ok(), "Serial"), serial);
}

#[test]
fn an_unwritable_stdout_or_stderr_is_an_error_not_a_panic() {
    let image = Image::personalised();
    let full = || {
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap()
    };
    let run = |args: &[&str], stdout: Stdio, stderr: Stdio| {
        let status = Command::new(env!("CARGO_BIN_EXE_asan"))
            .arg("--virtual")
            .arg(&image.path)
            .args(args)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .status()
            .unwrap();
        status
            .code()
            .unwrap_or_else(|| panic!("asan {args:?}: killed: {status}"))
    };
    // Results that cannot be written: exit 1 with a message.
    let out = Command::new(env!("CARGO_BIN_EXE_asan"))
        .arg("--virtual")
        .arg(&image.path)
        .arg("info")
        .stdout(full())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("asan: "),
        "{out:?}"
    );
    // A trace or an error message that cannot be written: never a panic
    // (exit 101).
    let code = run(&["--trace", "info"], Stdio::null(), Stdio::from(full()));
    assert!(
        code == 0 || code == 1,
        "asan --trace info with stderr on /dev/full: exit {code}"
    );
    let code = run(
        &["pin", "verify", "pin1"],
        Stdio::null(),
        Stdio::from(full()),
    );
    assert_eq!(code, 2, "asan pin verify (no PIN) with stderr on /dev/full");
}

#[test]
fn usage_errors_exit_2_and_help_exits_0() {
    let image = Image::personalised();
    for args in [
        &[][..],
        &["frobnicate"][..],
        &["pin"][..],
        &["pin", "verify"][..],
        &["pin", "verify", "pin3"][..],
        &["pin", "unblock"][..],
        &["pin", "status", "--keep"][..],
        &["info", "--bogus"][..],
        &["--reader"][..],
    ] {
        asan(image.arg()).args(args).run().usage_error();
    }
    let help = asan_bare().cmd("--help").run();
    for word in [
        "readers",
        "info",
        "pin",
        "auth",
        "sign",
        "cert",
        "--reader",
        "--virtual",
        "--json",
        "--trace",
    ] {
        assert!(
            help.ok().contains(word),
            "--help lacks {word}: {}",
            help.stdout
        );
    }
    for sub in [
        &["pin", "--help"][..],
        &["cert", "read", "--help"][..],
        &["sign", "--help"][..],
    ] {
        asan_bare().args(sub).run().ok();
    }
    assert!(asan_bare().cmd("--version").run().ok().starts_with("asan "));
    // Global options after the command.
    let v = asan_bare()
        .args(&["info", "--json", "--virtual", image.path.to_str().unwrap()])
        .run()
        .json();
    assert_eq!(v["life_cycle"], "operational");
}
