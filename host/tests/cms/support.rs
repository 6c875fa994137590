//! Helpers of the CMS tests: a development CA with software keys, the
//! `asan` binary on a personalised virtual card, openssl, re-signing a
//! tampered message.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use asan_applet::{CertificateProfile, KeyUsage};
use asan_host::cms::SignOptions;
use asan_host::x509::{DevCa, DigestSigner, SoftwareSigner, SubjectInfo, build_csr, subject_name};
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerInfo, SignerInfos};
use der::asn1::{Any, OctetString, SetOfVec};
use der::{Decode, Encode};
use p256::ecdsa::Signature;
use sha2::{Digest, Sha256};

pub const DAY: Duration = Duration::from_secs(86_400);

/// A temporary directory with a development CA in `ca/`.
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub ca: DevCa,
}

impl Setup {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca = DevCa::init(&dir.path().join("ca")).unwrap();
        Self { dir, ca }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A software key and its certificate (citizen, `usage`) from the CA.
    pub fn signer(&self, usage: KeyUsage, not_before: SystemTime) -> (SoftwareSigner, Vec<u8>) {
        let mut key = SoftwareSigner::generate().unwrap();
        let subject = subject_name(CertificateProfile::Citizen, &info()).unwrap();
        let csr = build_csr(subject, &mut key).unwrap();
        let cert = self
            .ca
            .issue(&csr, CertificateProfile::Citizen, usage, not_before)
            .unwrap();
        (key, cert)
    }

    /// A signing key and certificate valid now.
    pub fn signing(&self) -> (SoftwareSigner, Vec<u8>) {
        self.signer(KeyUsage::Signing, SystemTime::now() - DAY)
    }
}

pub fn info() -> SubjectInfo {
    SubjectInfo {
        name: "Leyla Həsənova".into(),
        id: "6XKQ2P1".into(),
        organisation: None,
        voen: None,
    }
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

pub fn opts(signing_time: SystemTime) -> SignOptions {
    SignOptions {
        chain: Vec::new(),
        signing_time,
        signing_time_attribute: true,
        attached: None,
        timestamp: None,
    }
}

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

pub fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Runs the `asan` binary with the demo PINs in the environment.
pub fn asan(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_asan"));
    cmd.args(args)
        .env("ASAN_PIN1", "1234")
        .env("ASAN_PIN2", "12345")
        .env("ASAN_PUK", "12345678")
        .env_remove("ASAN_NEW_PIN");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

pub fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A virtual card image personalised through the CLI (`asan --virtual IMG
/// provision --service citizen --ca DIR`), PIN2 12345; and the CA's root.
pub fn personalised_card(dir: &Path) -> (PathBuf, PathBuf) {
    let ca = dir.join("cli-ca");
    let img = dir.join("card.img");
    let out = asan(&["ca", "init", p(&ca)], &[]);
    assert!(out.status.success(), "{:?}", text(&out));
    let out = asan(
        &[
            "--virtual",
            p(&img),
            "provision",
            "--service",
            "citizen",
            "--ca",
            p(&ca),
        ],
        &[],
    );
    assert!(out.status.success(), "{:?}", text(&out));
    (img, ca.join("root.pem"))
}

/// Changes the signer info of `der` with `edit`, then signs its signed
/// attributes again with `key`: DER signature, or raw `r || s` if `raw`.
pub fn resign(
    der: &[u8],
    key: &mut SoftwareSigner,
    raw: bool,
    edit: impl FnOnce(&mut SignerInfo),
) -> Vec<u8> {
    let ci = ContentInfo::from_der(der).unwrap();
    let mut sd: SignedData = ci.content.decode_as().unwrap();
    let mut info = sd.signer_infos.0.as_slice()[0].clone();
    edit(&mut info);
    let attrs = info.signed_attrs.as_ref().unwrap().to_der().unwrap();
    let rs = key.sign_digest(&sha256(&attrs)).unwrap();
    let sig = if raw {
        rs.to_vec()
    } else {
        Signature::from_slice(&rs)
            .unwrap()
            .to_der()
            .as_bytes()
            .to_vec()
    };
    info.signature = OctetString::new(sig).unwrap();
    sd.signer_infos = SignerInfos(SetOfVec::try_from(vec![info]).unwrap());
    ContentInfo {
        content_type: ci.content_type,
        content: Any::encode_from(&sd).unwrap(),
    }
    .to_der()
    .unwrap()
}

/// Peak resident memory of this process (VmHWM), KiB.
pub fn vm_hwm_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
