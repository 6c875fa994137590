//! Shared by the CA revocation tests: `openssl`, a CA with certificates
//! issued to fresh keys, requests made by `openssl req`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use asan_applet::{CertificateProfile, KeyUsage};
use asan_host::x509::{DevCa, SoftwareSigner, SubjectInfo, build_csr, subject_name};
use tempfile::TempDir;

use crate::common::run::Asan;

/// Runs openssl; success and stdout + stderr.
pub fn openssl(args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl is installed");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// `openssl …` that must succeed; its output.
pub fn openssl_ok(args: &[&str]) -> String {
    let (ok, text) = openssl(args);
    assert!(ok, "openssl {args:?} failed: {text}");
    text
}

/// A path as a string argument.
pub fn arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// `asan …` without a card.
pub fn asan() -> Asan {
    Asan::new(env!("CARGO_BIN_EXE_asan"))
}

/// The test subscriber.
pub fn info() -> SubjectInfo {
    SubjectInfo {
        name: "Rashad Aliyev".into(),
        id: "5ABCD12".into(),
        organisation: Some("Example LLC".into()),
        voen: Some("1402345678".into()),
    }
}

/// A request for a fresh key, subject per profile.
pub fn csr_for(profile: CertificateProfile) -> Vec<u8> {
    let mut key = SoftwareSigner::generate().unwrap();
    build_csr(subject_name(profile, &info()).unwrap(), &mut key).unwrap()
}

/// A development CA in a temporary directory.
pub struct Lab {
    pub tmp: TempDir,
    pub dir: PathBuf,
    pub ca: DevCa,
}

impl Lab {
    /// A new CA in `<tmp>/ca`.
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("ca");
        let ca = DevCa::init(&dir).unwrap();
        Self { tmp, dir, ca }
    }

    /// Issues a certificate for a fresh key; its DER and the path of its
    /// copy in `issued/` (PEM).
    pub fn issue(&self, profile: CertificateProfile) -> (Vec<u8>, PathBuf) {
        let der = self
            .ca
            .issue(
                &csr_for(profile),
                profile,
                KeyUsage::Signing,
                SystemTime::now(),
            )
            .unwrap();
        let cert = <x509_cert::Certificate as der::Decode>::from_der(&der).unwrap();
        let serial = hex::encode(cert.tbs_certificate().serial_number().as_bytes());
        (der, self.dir.join("issued").join(format!("{serial}.pem")))
    }

    /// A path in the temporary directory (outside the CA directory).
    pub fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// The root certificate file.
    pub fn root(&self) -> PathBuf {
        self.dir.join("root.pem")
    }
}

/// A self-signed certificate for a new P-256 key, made by `openssl req
/// -x509` with the subject `subj` (openssl's `/C=AZ/CN=…` form) and the
/// further options `extra`, written to `out` (DER when it ends in `.der`,
/// else PEM), its key to `key`.
pub fn openssl_self_signed(key: &Path, out: &Path, subj: &str, extra: &[&str]) {
    let mut args = vec![
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        arg(key),
        "-subj",
        subj,
        "-days",
        "2",
        "-out",
        arg(out),
    ];
    if out.extension().is_some_and(|e| e == "der") {
        args.extend(["-outform", "DER"]);
    }
    args.extend(extra);
    openssl_ok(&args);
}

/// A request made by `openssl req` for a new P-256 key with the subject
/// `subj` (openssl's `/C=AZ/CN=…` form), DER.
pub fn openssl_csr(dir: &Path, subj: &str, multivalue: bool) -> Vec<u8> {
    let key = dir.join("openssl.key");
    let out = dir.join("openssl.csr");
    let mut args = vec![
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        arg(&key),
        "-subj",
        subj,
        "-outform",
        "DER",
        "-out",
        arg(&out),
    ];
    if multivalue {
        args.push("-multivalue-rdn");
    }
    openssl_ok(&args);
    std::fs::read(out).unwrap()
}

/// Every file under `dir`, with its contents (lossy text, so that a
/// difference is readable), sorted by path.
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
                files.push((path, text));
            }
        }
    }
    files.sort();
    files
}
