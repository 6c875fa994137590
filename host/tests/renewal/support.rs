//! Running `asan` on personalised virtual cards, and applications made
//! with the library, for the renewal tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use asan_applet::{CertificateProfile, KeyUsage};
use asan_host::cms::{SignOptions, digest_reader, sign_detached};
use asan_host::renewal::{
    ApplicationBody, Contact, CurrentCertificate, format_time, parse_time, to_system_time,
};
use asan_host::x509::{DevCa, SoftwareSigner, SubjectInfo, build_csr, subject_name};
use serde_json::Value;
use tempfile::TempDir;

/// The VÖEN of the test organisation.
pub const VOEN: &str = "1234567890";

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

/// A CA and a card personalised for `service`.
pub struct Card {
    /// The temporary directory.
    pub dir: TempDir,
    /// The card image.
    pub img: String,
    /// The CA directory.
    pub ca: String,
    /// Expiry of the Citizen signing certificate.
    pub expiry: i64,
}

impl Card {
    /// A card personalised with `--service service`.
    pub fn new(service: &str) -> Self {
        let dir = TempDir::new().unwrap();
        let ca = dir.path().join("ca").display().to_string();
        let img = dir.path().join("card.img").display().to_string();
        asan(&["ca", "init", &ca]).ok();
        let mut args = vec![
            "--virtual",
            &img,
            "provision",
            "--service",
            service,
            "--ca",
            &ca,
        ];
        args.extend(["--name", "Əli Məmmədov", "--id", "7GH2K4P"]);
        if service != "citizen" {
            args.extend(["--org", "Test MMC", "--voen", VOEN]);
        }
        asan(&args).ok();
        let mut card = Self {
            dir,
            img,
            ca,
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

    /// `asan --virtual IMG …`.
    pub fn run(&self, args: &[&str]) -> Out {
        let mut all = vec!["--virtual", self.img.as_str()];
        all.extend(args);
        asan(&all)
    }

    /// A file in the temporary directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `asan renew request … --now T -o FILE`.
    pub fn request(&self, at: i64, file: &str, args: &[&str]) -> Out {
        let now = format_time(at);
        let out = self.file(file).display().to_string();
        let mut all = vec!["renew", "request", "--now", &now, "-o", &out];
        all.extend(args);
        self.run(&all)
    }

    /// `asan --json ca review CA FILE --now T`.
    pub fn review(&self, file: &str, at: i64) -> Out {
        let path = self.file(file).display().to_string();
        asan(&[
            "--json",
            "ca",
            "review",
            &self.ca,
            &path,
            "--now",
            &format_time(at),
        ])
    }
}

/// An application made with the library: signed at `signed_at` with a
/// software key whose Citizen `usage` certificate starts at `start`.
pub fn crafted(
    card: &Card,
    start: i64,
    signed_at: i64,
    usage: KeyUsage,
    list_signer: bool,
) -> PathBuf {
    let ca = DevCa::load(Path::new(&card.ca)).unwrap();
    let mut key = SoftwareSigner::generate().unwrap();
    let info = SubjectInfo {
        name: "Test".into(),
        id: "7GH2K4P".into(),
        organisation: None,
        voen: None,
    };
    let csr = build_csr(
        subject_name(CertificateProfile::Citizen, &info).unwrap(),
        &mut key,
    )
    .unwrap();
    let cert = ca
        .issue(
            &csr,
            CertificateProfile::Citizen,
            usage,
            to_system_time(start),
        )
        .unwrap();
    let parsed = asan_host::cert::parse(&cert).unwrap();
    let usage_name = if usage == KeyUsage::Signing {
        "sign"
    } else {
        "auth"
    };
    let body = ApplicationBody {
        version: 1,
        serial: "0011223344556677".into(),
        service: "citizen".into(),
        requested_profiles: vec!["citizen".into()],
        current_certificates: if list_signer {
            vec![CurrentCertificate::of(
                "citizen", usage_name, &cert, &parsed,
            )]
        } else {
            vec![]
        },
        contact: Contact::Phone("+994501234567".into()),
        voen: None,
        head_of_organisation: true,
        created: format_time(signed_at),
    };
    let bytes = body.to_bytes();
    let digest = digest_reader(&mut bytes.as_slice()).unwrap();
    let opts = SignOptions {
        chain: vec![],
        signing_time: to_system_time(signed_at),
        signing_time_attribute: true,
        attached: Some(bytes),
        timestamp: None,
    };
    let signed = sign_detached(&digest, &cert, &mut key, &opts).unwrap();
    let path = card.file(&format!(
        "crafted-{start}-{signed_at}-{usage_name}-{list_signer}.p7s"
    ));
    std::fs::write(&path, signed).unwrap();
    path
}
