//! Running `asan` on personalised virtual cards of one development CA (the
//! packages signed in this process are in `craft.rs`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use asan_host::renewal::{format_time, parse_time};
use serde_json::Value;
use tempfile::TempDir;

/// The VÖEN of the test organisation.
pub const VOEN: &str = "1234567890";
/// Its name.
pub const ORG: &str = "Test MMC";
/// The FIN of its registered head.
pub const HEAD: &str = "9HEAD01";
/// The FIN of an employee.
pub const EMPLOYEE: &str = "7GH2K4P";
/// The Business data `renew request` needs (3.2.1 step 6).
pub const BUSINESS_DATA: [&str; 6] = [
    "--position",
    "mühasib",
    "--unit",
    "maliyyə",
    "--signing-permissions",
    "e-taxes,customs",
];

/// One run of `asan`.
#[derive(Debug)]
pub struct Out {
    /// Exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Out {
    /// Requires exit 0; stdout.
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "{self:#?}");
        &self.stdout
    }

    /// Stdout as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {self:#?}"))
    }

    /// Exit `code` and one `asan: ` line on stderr containing every needle.
    pub fn fails(&self, code: i32, needles: &[&str]) {
        assert_eq!(self.code, code, "{self:#?}");
        let line = self.stderr.trim_end();
        assert!(
            line.starts_with("asan: ") && !line.contains('\n'),
            "{self:#?}"
        );
        for n in needles {
            assert!(line.contains(n), "{line:?} lacks {n:?}");
        }
    }
}

/// Runs `asan` with the test PINs in the environment.
pub fn asan(args: &[&str]) -> Out {
    let out = Command::new(env!("CARGO_BIN_EXE_asan"))
        .args(args)
        .env("ASAN_PIN1", "1234")
        .env("ASAN_PIN2", "12345")
        .env("ASAN_PUK", "12345678")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let out = Out {
        code: out.status.code().unwrap(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    };
    assert!(!out.stderr.contains("panicked"), "{out:#?}");
    out
}

/// A development CA with the test organisation registered (head [`HEAD`]).
pub struct Lab {
    /// The temporary directory.
    pub dir: TempDir,
    /// The CA directory.
    pub ca: String,
}

impl Lab {
    /// A CA and its register of organisations.
    pub fn new() -> Self {
        let dir = TempDir::new().unwrap();
        let ca = dir.path().join("ca").display().to_string();
        asan(&["ca", "init", &ca]).ok();
        asan(&[
            "ca", "org", "add", &ca, "--voen", VOEN, "--name", ORG, "--head", HEAD,
        ])
        .ok();
        Self { dir, ca }
    }

    /// A file in the temporary directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A card `name` personalised for `service` with the FIN `fin`.
    pub fn card(&self, name: &str, service: &str, fin: &str) -> Card {
        let img = self.file(&format!("{name}.img")).display().to_string();
        let notice = self.file(&format!("{name}-notice.json"));
        let notice_arg = notice.display().to_string();
        let mut args = vec![
            "--virtual",
            &img,
            "provision",
            "--service",
            service,
            "--ca",
            &self.ca,
        ];
        args.extend([
            "--name",
            "Əli Məmmədov",
            "--id",
            fin,
            "--notice",
            &notice_arg,
        ]);
        if service != "citizen" {
            args.extend(["--org", ORG, "--voen", VOEN]);
        }
        asan(&args).ok();
        let notice: Value = serde_json::from_slice(&std::fs::read(&notice).unwrap()).unwrap();
        let mut card = Card {
            img,
            ca: self.ca.clone(),
            dir: self.dir.path().to_path_buf(),
            user_id: notice["user_id"].as_str().unwrap().to_owned(),
            serial: notice["serial"].as_str().unwrap().to_owned(),
            expiry: 0,
        };
        let check = card.run(&["--json", "renew", "check"]).json();
        let sign = check["certificates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["profile"] == "citizen" && c["usage"] == "sign")
            .unwrap()
            .clone();
        card.expiry = parse_time(sign["not_after"].as_str().unwrap()).unwrap();
        card
    }

    /// `asan --json ca review CA FILE --now T [more]`.
    pub fn review(&self, file: &Path, at: i64, more: &[&str]) -> Out {
        let path = file.display().to_string();
        let now = format_time(at);
        let mut args = vec!["--json", "ca", "review", &self.ca, &path, "--now", &now];
        args.extend(more);
        asan(&args)
    }
}

/// A personalised virtual card of a [`Lab`].
pub struct Card {
    /// The card image.
    pub img: String,
    /// The CA directory.
    pub ca: String,
    /// The lab's directory.
    pub dir: PathBuf,
    /// The User ID of its activation notice.
    pub user_id: String,
    /// The card serial.
    pub serial: String,
    /// Expiry of the Citizen signing certificate.
    pub expiry: i64,
}

impl Card {
    /// A lab with the organisation registered and one card for `service`
    /// whose holder is the registered head when `service` is not citizen.
    pub fn new(service: &str) -> (Lab, Self) {
        let lab = Lab::new();
        let card = lab.card("card", service, HEAD);
        (lab, card)
    }

    /// `asan --virtual IMG …`.
    pub fn run(&self, args: &[&str]) -> Out {
        let mut all = vec!["--virtual", self.img.as_str()];
        all.extend(args);
        asan(&all)
    }

    /// A file in the lab's directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// `asan renew request --user-id ID … --now T -o FILE`.
    pub fn request(&self, at: i64, file: &str, args: &[&str]) -> Out {
        let mut all = vec!["--user-id", self.user_id.as_str()];
        all.extend(args);
        self.request_raw(at, file, &all)
    }

    /// `asan renew request … --now T -o FILE` as given.
    pub fn request_raw(&self, at: i64, file: &str, args: &[&str]) -> Out {
        let now = format_time(at);
        let out = self.file(file).display().to_string();
        let mut all = vec!["renew", "request", "--now", &now, "-o", &out];
        all.extend(args);
        self.run(&all)
    }

    /// `asan renew approve|cancel APP --now T -o OUT` on this card.
    pub fn decide(&self, verb: &str, app: &str, at: i64, out: &str) -> Out {
        let now = format_time(at);
        let app = self.file(app).display().to_string();
        let out = self.file(out).display().to_string();
        self.run(&["renew", verb, &app, "--now", &now, "-o", &out])
    }
}
