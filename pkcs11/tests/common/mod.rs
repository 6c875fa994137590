//! Fixture for the tests that drive `libasan_pkcs11.so` with software we did
//! not write (OpenSC, GnuTLS, OpenSSL, OpenSSH, NSS): a freshly provisioned
//! virtual card behind pcscd, the module's path, and commands run with a
//! deadline and their whole output in every failure message.
//!
//! The module sees every PC/SC reader, so only one card may be present at a
//! time: [`Card::provisioned`] holds a global lock until the card is dropped,
//! which serialises the tests of a binary, and every card uses the same vpcd
//! port ([`PORT`]).
#![allow(dead_code)]

mod parse;
mod process;

pub use parse::*;
pub use process::*;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Duration;

use asan_tests::{VirtualReader, asan_command, reader_for};

/// The vpcd port of the card (reader `Virtual PCD 00 00`).
pub const PORT: u16 = 35963;

/// How long any external command may take before it is killed and the test
/// fails.
pub const DEADLINE: Duration = Duration::from_secs(60);

static ONE_CARD: Mutex<()> = Mutex::new(());

/// The module under test: `$ASAN_PKCS11_MODULE`; or the
/// `libasan_pkcs11.so` that the `cargo test` which built this test binary
/// built next to it (`target/debug/deps/`: cargo copies a library up to
/// `target/debug/` only for `cargo build`, so that copy may be missing or
/// stale); or `target/debug/libasan_pkcs11.so`. Absolute, as NSS and
/// ssh-agent require.
pub fn module() -> PathBuf {
    let path = match std::env::var_os("ASAN_PKCS11_MODULE") {
        Some(p) => PathBuf::from(p),
        None => {
            let exe = std::env::current_exe().unwrap();
            let deps = exe.parent().unwrap();
            let built = deps.join("libasan_pkcs11.so");
            match deps.parent() {
                Some(up) if !built.exists() => up.join("libasan_pkcs11.so"),
                _ => built,
            }
        }
    };
    assert!(
        path.is_file(),
        "no PKCS#11 module at {} (build it with `cargo build -p asan-pkcs11`, or set ASAN_PKCS11_MODULE)",
        path.display()
    );
    std::fs::canonicalize(&path).unwrap()
}

/// The two tokens of a card.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Token {
    /// Authentication keys, user PIN = PIN1.
    Pin1,
    /// Signing keys, user PIN = PIN2.
    Pin2,
}

/// A provisioned virtual card (service business: the citizen and business
/// profiles, keys 11/12/21/22, certificates from a fresh development CA) in
/// the reader of [`PORT`], alone in the system while this value lives.
pub struct Card {
    reader: Option<VirtualReader>,
    /// The working directory: `ca/`, `card.img`, and the tests' files.
    pub dir: tempfile::TempDir,
    /// The card serial, 16 uppercase hex digits.
    pub serial: String,
    /// The PINs from the PIN mailer.
    pub pin1: String,
    /// PIN2.
    pub pin2: String,
    /// The PUK (the tokens' SO PIN).
    pub puk: String,
    /// The PC/SC reader name.
    pub reader_name: &'static str,
    _one_card: MutexGuard<'static, ()>,
}

impl Card {
    /// `asan ca init`, `asan provision --service business --ca`, then the
    /// card in the vpcd reader of [`PORT`].
    pub fn provisioned() -> Self {
        let one_card = ONE_CARD.lock().unwrap_or_else(PoisonError::into_inner);
        drop(asan_tests::pcsc_context());
        let dir = tempfile::tempdir().unwrap();
        let asan = |args: &[&str]| {
            let mut cmd = asan_command(args, &[]);
            cmd.current_dir(dir.path());
            run(&mut cmd).ok()
        };
        asan(&["ca", "init", "ca"]);
        asan(&[
            "--virtual",
            "card.img",
            "provision",
            "--service",
            "business",
            "--ca",
            "ca",
            "--mailer",
            "mailer.jsonl",
        ]);
        let mailer = std::fs::read_to_string(dir.path().join("mailer.jsonl")).unwrap();
        let line: serde_json::Value = serde_json::from_str(mailer.lines().next().unwrap()).unwrap();
        let field = |name: &str| line[name].as_str().unwrap().to_owned();
        let reader = VirtualReader::start(PORT, &dir.path().join("card.img"));
        Self {
            reader: Some(reader),
            serial: field("serial"),
            pin1: field("pin1"),
            pin2: field("pin2"),
            puk: field("puk"),
            reader_name: reader_for(PORT),
            dir,
            _one_card: one_card,
        }
    }

    /// A file in the working directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The development CA's root certificate (PEM).
    pub fn root(&self) -> PathBuf {
        self.path("ca/root.pem")
    }

    /// The label of a token: `Asan PIN1 <SERIAL>`.
    pub fn label(&self, token: Token) -> String {
        match token {
            Token::Pin1 => format!("Asan PIN1 {}", self.serial),
            Token::Pin2 => format!("Asan PIN2 {}", self.serial),
        }
    }

    /// The user PIN of a token.
    pub fn pin(&self, token: Token) -> &str {
        match token {
            Token::Pin1 => &self.pin1,
            Token::Pin2 => &self.pin2,
        }
    }

    /// The RFC 7512 URI of a token: `pkcs11:token=Asan%20PIN1%20<SERIAL>`.
    pub fn token_uri(&self, token: Token) -> String {
        format!("pkcs11:token={}", self.label(token).replace(' ', "%20"))
    }

    /// `asan --reader <this card's reader> args…` in the working directory.
    pub fn asan(&self, args: &[&str]) -> Run {
        // `--reader` only where a card is used (`verify` uses none, and
        // refuses it).
        let mut all = match args.first() {
            Some(&"verify") => Vec::new(),
            _ => vec!["--reader", self.reader_name],
        };
        all.extend_from_slice(args);
        let mut cmd = asan_command(&all, &[]);
        cmd.current_dir(self.dir.path());
        run(&mut cmd)
    }

    /// The certificate of a key read by the `asan` CLI (not through the
    /// module), as a PEM file: profile `citizen`/`business`, usage
    /// `auth`/`sign`.
    pub fn cert_pem(&self, profile: &str, usage: &str) -> PathBuf {
        let file = self.path(&format!("{profile}-{usage}.pem"));
        if !file.exists() {
            let out = file.to_str().unwrap();
            self.asan(&[
                "cert",
                "read",
                "--profile",
                profile,
                "--usage",
                usage,
                "-o",
                out,
                "--pem",
            ])
            .ok();
        }
        file
    }

    /// The public key of that certificate (PEM), via `openssl x509 -pubkey`.
    pub fn public_key_pem(&self, profile: &str, usage: &str) -> PathBuf {
        let file = self.path(&format!("{profile}-{usage}.pub.pem"));
        if !file.exists() {
            let cert = self.cert_pem(profile, usage);
            run(Command::new("openssl")
                .args(["x509", "-noout", "-pubkey", "-in"])
                .arg(&cert)
                .arg("-out")
                .arg(&file))
            .ok();
        }
        file
    }

    /// Tries left of PIN1, PIN2 and the PUK (`asan pin status`).
    pub fn tries(&self) -> (u64, u64, u64) {
        let out = self.asan(&["--json", "pin", "status"]).ok();
        let v: serde_json::Value = serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("asan pin status --json: {e}: {out}"));
        let tries = |k: &str| v[k]["tries_left"].as_u64().unwrap();
        (tries("pin1"), tries("pin2"), tries("puk"))
    }

    /// What the virtual card logged (APDUs), for failure messages.
    pub fn vcard_log(&self) -> String {
        self.reader
            .as_ref()
            .map(VirtualReader::log)
            .unwrap_or_default()
    }

    /// The APDUs the card received since it was (last) inserted, oldest
    /// first, from its `--verbose` log: `00 2A 9E AC (n bytes) -> 9000 (m
    /// bytes of data)`.
    pub fn received(&self) -> Vec<String> {
        self.vcard_log()
            .lines()
            .filter(|l| l.contains(" -> "))
            .map(|l| l.strip_prefix("asan-vcard: ").unwrap_or(l).to_owned())
            .collect()
    }

    /// Takes the card out: stops its `asan-vcard` process (the image keeps
    /// its state) and waits until pcscd sees the reader empty.
    pub fn remove(&mut self) {
        if let Some(reader) = self.reader.take() {
            reader.stop();
        }
    }

    /// Puts the card back: a new `asan-vcard` process on the same image and
    /// port (its log starts afresh).
    pub fn insert(&mut self) {
        assert!(self.reader.is_none(), "the card is already in the reader");
        self.reader = Some(VirtualReader::start(PORT, &self.path("card.img")));
    }

    /// A PIN of the same length as `pin` that is not `pin`.
    pub fn wrong(pin: &str) -> String {
        pin.chars()
            .map(|c| if c == '9' { '8' } else { '9' })
            .collect()
    }
}

impl Drop for Card {
    fn drop(&mut self) {
        if let Some(reader) = self.reader.take() {
            if thread::panicking() {
                drop(reader);
                asan_tests::wait_until_card_gone(
                    &std::ffi::CString::new(self.reader_name).unwrap(),
                );
            } else {
                reader.stop();
            }
        }
    }
}

/// `pkcs11-tool --module <module> args…`.
pub fn pkcs11_tool(args: &[&str]) -> Command {
    let mut cmd = Command::new("pkcs11-tool");
    cmd.arg("--module").arg(module()).args(args);
    cmd
}

/// The DER `ECDSA-Sig-Value` of a raw `r || s` P-256 signature.
pub fn ecdsa_raw_to_der(rs: &[u8]) -> Vec<u8> {
    assert_eq!(
        rs.len(),
        64,
        "a raw P-256 signature is r || s, 64 bytes: {rs:02X?}"
    );
    fn integer(x: &[u8]) -> Vec<u8> {
        let start = x.iter().position(|&b| b != 0).unwrap_or(x.len() - 1);
        let mut v = x[start..].to_vec();
        if v[0] & 0x80 != 0 {
            v.insert(0, 0);
        }
        let mut out = vec![0x02, u8::try_from(v.len()).unwrap()];
        out.extend(v);
        out
    }
    let mut body = integer(&rs[..32]);
    body.extend(integer(&rs[32..]));
    let mut out = vec![0x30, u8::try_from(body.len()).unwrap()];
    out.extend(body);
    out
}

/// `openssl pkeyutl -verify` of a DER ECDSA signature over a digest.
#[track_caller]
pub fn openssl_verify_digest(public_key: &Path, digest: &Path, signature: &Path) -> Run {
    run(Command::new("openssl")
        .args(["pkeyutl", "-verify", "-pubin", "-inkey"])
        .arg(public_key)
        .arg("-in")
        .arg(digest)
        .arg("-sigfile")
        .arg(signature))
}

/// The keys of a business card: token, CKA_ID (hex as pkcs11-tool prints
/// it), profile and usage (as `asan cert read` names them), CKA_LABEL.
pub const KEYS: [(Token, &str, &str, &str, &str); 4] = [
    (
        Token::Pin1,
        "11",
        "citizen",
        "auth",
        "Citizen authentication",
    ),
    (
        Token::Pin1,
        "12",
        "business",
        "auth",
        "Business authentication",
    ),
    (Token::Pin2, "21", "citizen", "sign", "Citizen signing"),
    (Token::Pin2, "22", "business", "sign", "Business signing"),
];

/// Fails when the module sees a token of another card: a test that makes a
/// tool log into every token (ssh-add) would spend that card's PIN tries.
#[track_caller]
pub fn assert_alone(card: &Card) {
    let out = run(&mut pkcs11_tool(&["-L"])).ok();
    let others: Vec<String> = blocks(&out.stdout)
        .into_iter()
        .filter_map(|b| b.get("token label").map(str::to_owned))
        .filter(|l| !l.ends_with(&card.serial))
        .collect();
    assert!(
        others.is_empty(),
        "other cards present ({others:?}); this test would log into them with this card's PIN: remove them: {out}"
    );
}

/// OpenSC's `pkcs11-spy.so`, which logs every PKCS#11 call of the module
/// named by `$PKCS11SPY` with its return value.
pub fn spy_module() -> PathBuf {
    let mut found = Vec::new();
    for lib in ["/usr/lib", "/usr/lib64"] {
        let Ok(dirs) = std::fs::read_dir(lib) else {
            continue;
        };
        for dir in dirs.flatten() {
            let spy = dir.path().join("pkcs11/pkcs11-spy.so");
            if spy.is_file() {
                found.push(spy);
            }
        }
        let spy = Path::new(lib).join("pkcs11/pkcs11-spy.so");
        if spy.is_file() {
            found.push(spy);
        }
    }
    found
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no pkcs11-spy.so under /usr/lib (Debian package opensc-pkcs11)"))
}

/// `pkcs11-tool` on the module through pkcs11-spy, which writes the calls
/// to `log`.
pub fn pkcs11_tool_spied(args: &[&str], log: &Path) -> Command {
    let mut cmd = Command::new("pkcs11-tool");
    cmd.arg("--module")
        .arg(spy_module())
        .args(args)
        .env("PKCS11SPY", module())
        .env("PKCS11SPY_OUTPUT", log);
    cmd
}

/// The calls in a pkcs11-spy log: function name and the name of the value
/// it returned (`CKR_OK`, …).
pub fn spy_calls(log: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut calls = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if let Some((n, f)) = line.split_once(": ")
            && n.chars().all(|c| c.is_ascii_digit())
            && f.starts_with("C_")
        {
            current = Some(f.trim().to_owned());
        } else if let Some(ret) = line.strip_prefix("Returned:") {
            let name = ret.split_whitespace().nth(1).unwrap_or("").to_owned();
            if let Some(f) = current.take() {
                calls.push((f, name));
            }
        }
    }
    calls
}
