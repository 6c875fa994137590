//! The lab of the provisioning tests: a temporary directory with a
//! development CA and card images, where `asan` runs with PC/SC pointed at
//! a socket that does not exist; the subscriber data and fixed test PINs.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;
use tempfile::TempDir;

use crate::common::run::{Asan, Out};

/// Subscriber data of the Business cards.
pub const NAME: &str = "Aynur Məmmədova";
pub const FIN: &str = "5ABCD12";
pub const ORG: &str = "Demo MMC";
pub const VOEN: &str = "1402345678";

/// Fixed PINs for the tests that give them in the environment.
pub const PIN1: &str = "2468";
pub const PIN2: &str = "13579";
pub const PUK: &str = "86420864";

/// Keys that are not the card's (kvn 30, like the default set).
pub const OTHER_KEYS: &str = "# not this card's keys\n\
    kvn = 30\n\
    enc = 00112233445566778899AABBCCDDEEFF\n\
    mac = 102132435465768798A9BACBDCEDFE0F\n\
    dek = F0E1D2C3B4A5968778695A4B3C2D1E0F\n";

/// The four (profile, usage) pairs of a Business card.
pub const BUSINESS_KEYS: [(&str, &str); 4] = [
    ("citizen", "auth"),
    ("citizen", "sign"),
    ("business", "auth"),
    ("business", "sign"),
];

/// A temporary directory with a development CA and card images.
pub struct Lab {
    dir: TempDir,
}

impl Lab {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// A fresh lab with `ca/` holding a development CA.
    pub fn with_ca() -> Self {
        let lab = Self::new();
        let out = lab.asan(&["ca", "init", "ca"]);
        assert!(out.ok().contains("development CA created"), "{out:#?}");
        lab
    }

    /// Writes a key file as an operator keeps one: mode 0600.
    pub fn write_keys(&self, name: &str, text: impl AsRef<[u8]>) {
        use std::os::unix::fs::PermissionsExt;
        let path = self.path(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs `asan` in the lab with no PIN variables but `env`, and `stdin`
    /// (`/dev/null` if `None`); checks no hang and no panic.
    pub fn run(&self, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Out {
        let socket = self.path("no-pcscd.sock");
        let mut asan = Asan::new(env!("CARGO_BIN_EXE_asan"))
            .args(args)
            .current_dir(self.dir.path())
            .env("PCSCLITE_CSOCK_NAME", socket.to_str().unwrap());
        for (k, v) in env {
            asan = asan.env(k, v);
        }
        match stdin {
            Some(text) => asan.stdin(text),
            None => asan.no_stdin(),
        }
        .output()
    }

    pub fn asan(&self, args: &[&str]) -> Out {
        self.run(args, &[], None)
    }

    /// `asan --virtual IMG ARGS…`.
    pub fn card(&self, img: &str, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Out {
        let mut all = vec!["--virtual", img];
        all.extend_from_slice(args);
        self.run(&all, env, stdin)
    }

    /// `asan --virtual IMG --create --json info` (a factory-fresh card when
    /// the image does not exist yet).
    pub fn info(&self, img: &str) -> Value {
        self.card(img, &["--create", "--json", "info"], &[], None)
            .json()
    }

    /// A certificate read with `asan cert read -o`, as DER.
    pub fn certificate(&self, img: &str, profile: &str, usage: &str) -> Vec<u8> {
        let file = format!("{img}-{profile}-{usage}.der");
        self.card(
            img,
            &[
                "cert",
                "read",
                "--profile",
                profile,
                "--usage",
                usage,
                "-o",
                &file,
            ],
            &[],
            None,
        )
        .ok();
        std::fs::read(self.path(&file)).unwrap()
    }

    /// Runs openssl in the lab; requires success; returns stdout and stderr.
    pub fn openssl(&self, args: &[&str]) -> String {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "openssl {args:?} failed: {text}");
        text
    }

    /// PEM file → DER bytes with openssl.
    pub fn openssl_der(&self, pem: &str) -> Vec<u8> {
        let der = format!("{pem}.der");
        self.openssl(&["x509", "-in", pem, "-outform", "DER", "-out", &der]);
        std::fs::read(self.path(&der)).unwrap()
    }

    /// The lines of a PIN mailer file.
    pub fn mailer(&self, name: &str) -> Vec<Value> {
        std::fs::read_to_string(self.path(name))
            .unwrap_or_default()
            .lines()
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("bad mailer line {l:?}: {e}"))
            })
            .collect()
    }

    /// A personalised Business card with generated PINs; returns the run.
    pub fn provision_business(&self, img: &str, mailer: &str, extra: &[&str]) -> Out {
        let args = provision_args("business", &["--mailer", mailer], extra);
        self.card(img, &args, &[], None)
    }

    /// A personalised card of `service` with the fixed PINs from the
    /// environment and no mailer.
    pub fn provision_with_pins(&self, img: &str, service: &str, extra: &[&str]) -> Out {
        let args = provision_args(service, &[], extra);
        self.card(img, &args, &pin_env(), None)
    }

    /// `asan sign` with PIN2 on `profile`.
    pub fn sign(&self, img: &str, pin2: &str, profile: &str, digest: &str) -> Out {
        self.card(
            img,
            &["sign", "--profile", profile, "--digest", digest],
            &[("ASAN_PIN2", pin2)],
            None,
        )
    }

    /// The serial and the generated PINs of the only mailer line for `img`.
    pub fn pins(&self, mailer: &str, img: &str) -> Pins {
        let serial = self.info(img)["serial"].as_str().unwrap().to_owned();
        let lines: Vec<Value> = self
            .mailer(mailer)
            .into_iter()
            .filter(|l| l["serial"] == serial.as_str())
            .collect();
        assert_eq!(lines.len(), 1, "mailer lines of {serial}: {lines:?}");
        let f = |k: &str| lines[0][k].as_str().unwrap().to_owned();
        Pins {
            serial,
            pin1: f("pin1"),
            pin2: f("pin2"),
            puk: f("puk"),
        }
    }
}

/// `provision --service SERVICE --ca ca`, then `options`, the subscriber
/// data (`--name`, `--id`, `--org`, `--voen`) and `extra`.
fn provision_args<'a>(service: &'a str, options: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["provision", "--service", service, "--ca", "ca"];
    args.extend_from_slice(options);
    args.extend_from_slice(&["--name", NAME, "--id", FIN, "--org", ORG, "--voen", VOEN]);
    args.extend_from_slice(extra);
    args
}

/// The PIN variables of the fixed test PINs.
pub fn pin_env() -> Vec<(&'static str, &'static str)> {
    vec![("ASAN_PIN1", PIN1), ("ASAN_PIN2", PIN2), ("ASAN_PUK", PUK)]
}

#[derive(Debug)]
pub struct Pins {
    pub serial: String,
    pub pin1: String,
    pub pin2: String,
    pub puk: String,
}
