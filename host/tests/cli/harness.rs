//! The harness of the CLI tests: the test PINs and card references, `asan`
//! on a virtual image, and card images made and changed in-process.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use asan_vcard::VirtualCard;
use tempfile::TempDir;

use crate::common::run::Asan;
use crate::operator::{self, Operator, Tx};

/// The PINs of the personalised test cards.
pub const PIN1: &str = "1234";
pub const PIN2: &str = "12345";
pub const PUK: &str = "12345678";

/// SELECT of the Asan İmza applet.
pub const SELECT: [u8; 15] = [
    0x00, 0xA4, 0x04, 0x0C, 0x0A, 0xF0, 0x41, 0x53, 0x41, 0x4E, 0x49, 0x4D, 0x5A, 0x41, 0x01,
];
/// Key references: citizen authentication and signing.
pub const KEY_AUTH: u8 = 0x11;
pub const KEY_SIGN: u8 = 0x21;
/// Certificate files.
pub const CITIZEN_AUTH: [u8; 2] = [0xA1, 0x01];
pub const CITIZEN_SIGN: [u8; 2] = [0xA1, 0x02];
pub const BUSINESS_AUTH: [u8; 2] = [0xA2, 0x01];
pub const BUSINESS_SIGN: [u8; 2] = [0xA2, 0x02];
pub const GOVERNMENT_AUTH: [u8; 2] = [0xA3, 0x01];
pub const GOVERNMENT_SIGN: [u8; 2] = [0xA3, 0x02];
/// A DER SEQUENCE that is not a certificate.
pub const BROKEN: [u8; 5] = [0x30, 0x03, 0x02, 0x01, 0x01];
/// The subject of the test certificates (a FIN code, not digits, so that no
/// certificate byte looks like a test PIN in a trace).
pub const SUBJECT: &str = "/CN=Test Citizen/serialNumber=7GH2K4P";

/// `asan --virtual IMAGE …`
pub fn asan(image: &Path) -> Asan {
    asan_bare().args(&["--virtual", &image.display().to_string()])
}

/// `asan …` without a card.
pub fn asan_bare() -> Asan {
    Asan::new(env!("CARGO_BIN_EXE_asan"))
}

/// Opens the image in-process, powered on, and hands a transmit function
/// to `f`; the image (and its lock) is released on return.
pub fn with_card<R>(path: &Path, f: impl FnOnce(&mut Tx<'_>) -> R) -> R {
    let (mut card, _) = open_image(path);
    card.power_on();
    let mut tx = |c: &[u8]| card.transmit(c).map_err(std::io::Error::other);
    f(&mut tx)
}

/// Opens an image in this process. The image lock is a `flock`: a process
/// that another test thread is spawning at that moment holds a copy of the
/// lock's file descriptor until its `exec`, so a lock just released can
/// look held for an instant; wait that out.
pub fn open_image(path: &Path) -> (VirtualCard, bool) {
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
pub fn read_public_key(tx: &mut Tx<'_>, key: u8) -> Vec<u8> {
    assert_eq!(tx(&SELECT).unwrap(), [0x90, 0x00]);
    let r = tx(&[0x00, 0x47, 0x81, key, 0x00]).unwrap();
    assert_eq!(&r[r.len() - 2..], [0x90, 0x00], "GET PUBLIC KEY {key:02X}");
    assert_eq!(&r[..5], [0x7F, 0x49, 0x43, 0x86, 0x41]);
    r[5..70].to_vec()
}

/// Writes operator commands over SCP03 (C-MAC and C-DECRYPTION).
pub fn operator(path: &Path, commands: &[([u8; 4], Vec<u8>)]) {
    with_card(path, |tx| {
        let mut op = Operator::open(tx, 0x03).unwrap();
        for (header, data) in commands {
            op.ok(tx, *header, data).unwrap();
        }
    });
}

/// Writes certificate files.
pub fn write_certificates(path: &Path, certs: &[([u8; 2], Vec<u8>)]) {
    let commands: Vec<_> = certs
        .iter()
        .map(|(fid, der)| ([0x80, 0xDA, fid[0], fid[1]], der.clone()))
        .collect();
    operator(path, &commands);
}

/// A card image in its own temporary directory.
pub struct Image {
    pub dir: TempDir,
    pub path: PathBuf,
    /// Public key points (uncompressed SEC1) of keys 11 and 21.
    pub auth_key: Vec<u8>,
    pub sign_key: Vec<u8>,
}

impl Image {
    /// A directory where `card.img` does not exist yet.
    pub fn absent() -> Self {
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
    pub fn fresh() -> Self {
        let image = Self::absent();
        let (_card, created) = open_image(&image.path);
        assert!(created);
        image
    }

    /// A personalised Citizen card, no certificates.
    pub fn personalised() -> Self {
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
    pub fn with_certificates() -> Self {
        let image = Self::personalised();
        let auth = image.issue("auth", Some(&image.auth_key), "1095");
        let sign = image.issue("sign", Some(&image.sign_key), "1095");
        write_certificates(&image.path, &[(CITIZEN_AUTH, auth), (CITIZEN_SIGN, sign)]);
        image
    }

    /// A file in the image's directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The image, as the `--virtual` argument.
    pub fn arg(&self) -> &Path {
        &self.path
    }

    /// Runs openssl in the image's directory: `words` split at spaces, then `more`.
    pub fn openssl(&self, words: &str, more: &[&str]) {
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
    pub fn issue(&self, name: &str, key: Option<&[u8]>, days: &str) -> Vec<u8> {
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
    pub fn tries(&self) -> [u64; 3] {
        let v = asan(self.arg()).cmd("--json pin status").run().json();
        ["pin1", "pin2", "puk"].map(|p| {
            v[p]["tries_left"]
                .as_u64()
                .unwrap_or_else(|| panic!("pin status --json has no {p}.tries_left: {v}"))
        })
    }

    /// The image file's bytes.
    pub fn bytes(&self) -> Vec<u8> {
        std::fs::read(&self.path).unwrap()
    }
}
