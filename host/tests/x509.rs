//! X.509 for provisioning: subject rules per profile, PKCS#10 requests signed
//! through a digest-only signer, and the development CA — each checked with
//! the real `openssl` command.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

use asan_applet::{CertificateProfile, KeyUsage, PinRef};
use asan_host::Error;
use asan_host::x509::{
    DevCa, DigestSigner, SoftwareSigner, SubjectInfo, build_csr, subject_name, verify_csr,
};
use der::referenced::OwnedToRef;
use der::{Decode, EncodePem};
use x509_cert::Certificate;

/// Runs openssl; success and stdout + stderr.
fn openssl(args: &[&str]) -> (bool, String) {
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

fn info() -> SubjectInfo {
    SubjectInfo {
        name: "Rashad Aliyev".into(),
        id: "5ABCD12".into(),
        organisation: Some("Example LLC".into()),
        voen: Some("1402345678".into()),
    }
}

fn csr_for(profile: CertificateProfile) -> (Vec<u8>, SoftwareSigner) {
    let mut key = SoftwareSigner::generate().unwrap();
    let der = build_csr(subject_name(profile, &info()).unwrap(), &mut key).unwrap();
    (der, key)
}

fn usage_err(r: asan_host::Result<x509_cert::name::Name>) -> String {
    match r {
        Err(Error::Usage(m)) => m,
        other => panic!("expected a usage error, got {other:?}"),
    }
}

#[test]
fn subject_rules_per_profile() {
    let citizen = SubjectInfo {
        organisation: None,
        voen: None,
        ..info()
    };
    let name = subject_name(CertificateProfile::Citizen, &citizen).unwrap();
    assert_eq!(
        name.to_string(),
        "SERIALNUMBER=5ABCD12,CN=Rashad Aliyev,C=AZ"
    );

    let gov = SubjectInfo {
        voen: None,
        ..info()
    };
    let name = subject_name(CertificateProfile::Governmental, &gov).unwrap();
    assert_eq!(
        name.to_string(),
        "SERIALNUMBER=5ABCD12,CN=Rashad Aliyev,O=Example LLC,C=AZ"
    );

    let name = subject_name(CertificateProfile::Business, &info()).unwrap();
    assert_eq!(name.iter().count(), 5);
    // x509-cert leaves organizationIdentifier as a dotted OID; ours names it.
    assert!(name.to_string().starts_with("2.5.4.97=#"), "{name}");
    assert_eq!(
        asan_host::cert::name_text(&name),
        "organizationIdentifier=VOEN-1402345678,SERIALNUMBER=5ABCD12,CN=Rashad Aliyev,O=Example LLC,C=AZ"
    );

    let m = usage_err(subject_name(
        CertificateProfile::Business,
        &SubjectInfo {
            organisation: None,
            ..info()
        },
    ));
    assert!(
        m.contains("Business") && m.contains("organisation (O)"),
        "{m}"
    );
    let m = usage_err(subject_name(
        CertificateProfile::Business,
        &SubjectInfo {
            voen: None,
            ..info()
        },
    ));
    assert!(m.contains("Business") && m.contains("VÖEN"), "{m}");
    let m = usage_err(subject_name(CertificateProfile::Governmental, &citizen));
    assert!(
        m.contains("Governmental") && m.contains("organisation (O)"),
        "{m}"
    );
    for bad in ["140234567", "14023456789", "14O2345678"] {
        let m = usage_err(subject_name(
            CertificateProfile::Business,
            &SubjectInfo {
                voen: Some(bad.into()),
                ..info()
            },
        ));
        assert!(m.contains("VÖEN must be exactly 10 digits"), "{m}");
    }
    let m = usage_err(subject_name(
        CertificateProfile::Citizen,
        &SubjectInfo {
            id: String::new(),
            ..citizen
        },
    ));
    assert!(m.contains("FIN"), "{m}");
}

#[test]
fn csr_passes_openssl_req_verify() {
    let dir = tempfile::tempdir().unwrap();
    for profile in CertificateProfile::ALL {
        let (der, _) = csr_for(profile);
        let path = dir.path().join(format!("csr-{}.der", profile.number()));
        std::fs::write(&path, &der).unwrap();
        let (ok, out) = openssl(&[
            "req",
            "-verify",
            "-in",
            path.to_str().unwrap(),
            "-inform",
            "DER",
            "-noout",
        ]);
        assert!(ok, "openssl req -verify failed: {out}");
        assert!(
            out.contains("verify OK")
                || out.contains("Certificate request self-signature verify OK"),
            "{out}"
        );
        let (ok, text) = openssl(&[
            "req",
            "-in",
            path.to_str().unwrap(),
            "-inform",
            "DER",
            "-noout",
            "-text",
        ]);
        assert!(ok, "{text}");
        assert!(
            text.contains("ecdsa-with-SHA256") && text.contains("CA:FALSE"),
            "{text}"
        );
    }
}

#[test]
fn verify_csr_accepts_ours_and_refuses_a_flipped_signature_byte() {
    let (der, key) = csr_for(CertificateProfile::Business);
    let (subject, public_key) = verify_csr(&der).unwrap();
    assert_eq!(
        subject,
        subject_name(CertificateProfile::Business, &info()).unwrap()
    );
    assert_eq!(public_key, key.public_key());

    let pem = x509_cert::request::CertReq::from_der(&der)
        .unwrap()
        .to_pem(der::pem::LineEnding::LF)
        .unwrap();
    assert_eq!(verify_csr(pem.as_bytes()).unwrap().1, public_key);

    let mut bad = der.clone();
    *bad.last_mut().unwrap() ^= 0x01;
    assert!(matches!(verify_csr(&bad), Err(Error::Certificate(_))));
    assert!(matches!(
        verify_csr(b"not a request"),
        Err(Error::Certificate(_))
    ));
}

fn check_cert(
    dir: &Path,
    der: &[u8],
    profile: CertificateProfile,
    usage: KeyUsage,
    start: SystemTime,
) {
    let cert = Certificate::from_der(der).unwrap();
    let serial = hex::encode(cert.tbs_certificate().serial_number().as_bytes());
    assert_eq!(serial.len(), 32, "16-byte serial: {serial}");
    let copy = dir.join("issued").join(format!("{serial}.pem"));
    assert_eq!(
        std::fs::read_to_string(&copy).unwrap(),
        cert.to_pem(der::pem::LineEnding::LF).unwrap()
    );

    let validity = cert.tbs_certificate().validity();
    let from = validity.not_before.to_unix_duration().as_secs();
    let to = validity.not_after.to_unix_duration().as_secs();
    assert_eq!(to - from, 1095 * 86_400);
    let start = start
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(from.abs_diff(start) <= 1);

    let cert_path = copy.to_str().unwrap();
    let root = dir.join("root.pem");
    let (ok, out) = openssl(&["verify", "-CAfile", root.to_str().unwrap(), cert_path]);
    assert!(ok && out.contains(": OK"), "openssl verify: {out}");

    let (ok, text) = openssl(&["x509", "-in", cert_path, "-noout", "-text"]);
    assert!(ok, "{text}");
    assert!(text.contains("X509v3 Key Usage: critical"), "{text}");
    assert!(
        text.contains("X509v3 Basic Constraints: critical") && text.contains("CA:FALSE"),
        "{text}"
    );
    assert!(
        text.contains("X509v3 Subject Key Identifier")
            && text.contains("X509v3 Authority Key Identifier")
    );
    match usage {
        KeyUsage::Authentication => {
            assert!(
                text.contains("Digital Signature") && !text.contains("Non Repudiation"),
                "{text}"
            );
            assert!(text.contains("TLS Web Client Authentication"), "{text}");
        }
        KeyUsage::Signing => {
            assert!(
                text.contains("Non Repudiation") && !text.contains("Digital Signature"),
                "{text}"
            );
            assert!(!text.contains("TLS Web Client Authentication"), "{text}");
        }
    }
    let subject = text
        .lines()
        .find(|l| l.trim_start().starts_with("Subject:"))
        .unwrap();
    assert!(
        subject.contains("C = AZ") && subject.contains("CN = Rashad Aliyev"),
        "{subject}"
    );
    assert!(subject.contains("serialNumber = 5ABCD12"), "{subject}");
    assert_eq!(
        subject.contains("O = Example LLC"),
        profile != CertificateProfile::Citizen,
        "{subject}"
    );
    assert_eq!(
        subject.contains("organizationIdentifier = VOEN-1402345678"),
        profile == CertificateProfile::Business,
        "{subject}"
    );
    let issuer = text
        .lines()
        .find(|l| l.trim_start().starts_with("Issuer:"))
        .unwrap();
    assert!(
        issuer.contains("C = AZ, O = Asan Imza Development CA, CN = Asan Imza Development Root"),
        "{issuer}"
    );
}

#[test]
fn dev_ca_issues_certificates_openssl_accepts() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    let ca = DevCa::init(&dir).unwrap();

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("root.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let root = dir.join("root.pem");
    assert_eq!(std::fs::read_to_string(&root).unwrap(), ca.root_pem());
    let (ok, text) = openssl(&["x509", "-in", root.to_str().unwrap(), "-noout", "-text"]);
    assert!(ok, "{text}");
    assert!(
        text.contains(
            "Subject: C = AZ, O = Asan Imza Development CA, CN = Asan Imza Development Root"
        ),
        "{text}"
    );
    assert!(
        text.contains("CA:TRUE") && text.contains("Certificate Sign, CRL Sign"),
        "{text}"
    );
    let (ok, out) = openssl(&[
        "verify",
        "-CAfile",
        root.to_str().unwrap(),
        root.to_str().unwrap(),
    ]);
    assert!(ok, "{out}");

    let start = SystemTime::now();
    for (profile, usage) in [
        (CertificateProfile::Citizen, KeyUsage::Authentication),
        (CertificateProfile::Citizen, KeyUsage::Signing),
        (CertificateProfile::Business, KeyUsage::Signing),
        (CertificateProfile::Governmental, KeyUsage::Authentication),
    ] {
        let (csr, key) = csr_for(profile);
        let der = ca.issue(&csr, profile, usage, start).unwrap();
        let cert = Certificate::from_der(&der).unwrap();
        let spki = cert.tbs_certificate().subject_public_key_info();
        assert_eq!(
            p256::PublicKey::try_from(spki.owned_to_ref()).unwrap(),
            key.public_key()
        );
        check_cert(&dir, &der, profile, usage, start);
    }

    // A Citizen request does not carry what a Business certificate needs.
    let (csr, _) = csr_for(CertificateProfile::Citizen);
    let e = ca
        .issue(&csr, CertificateProfile::Business, KeyUsage::Signing, start)
        .unwrap_err();
    assert!(
        matches!(&e, Error::Certificate(m) if m.contains("organizationIdentifier")),
        "{e}"
    );
    // The root does not live long enough for a certificate starting in 8 years.
    let late = start + Duration::from_secs(8 * 365 * 86_400);
    let (csr, _) = csr_for(CertificateProfile::Citizen);
    assert!(
        ca.issue(&csr, CertificateProfile::Citizen, KeyUsage::Signing, late)
            .is_err()
    );

    // Loading gives the same root, and it still issues.
    let loaded = DevCa::load(&dir).unwrap();
    assert_eq!(loaded.root_der(), ca.root_der());
    let (csr, _) = csr_for(CertificateProfile::Citizen);
    let der = loaded
        .issue(
            &csr,
            CertificateProfile::Citizen,
            KeyUsage::Authentication,
            start,
        )
        .unwrap();
    check_cert(
        &dir,
        &der,
        CertificateProfile::Citizen,
        KeyUsage::Authentication,
        start,
    );
}

#[test]
fn init_refuses_an_existing_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = DevCa::init(tmp.path()).unwrap();
    let before = std::fs::read(tmp.path().join("root.key")).unwrap();
    let e = DevCa::init(tmp.path()).unwrap_err();
    assert!(
        matches!(&e, Error::Usage(m) if m.contains("refusing to overwrite")),
        "{e}"
    );
    assert_eq!(std::fs::read(tmp.path().join("root.key")).unwrap(), before);
    assert_eq!(DevCa::load(tmp.path()).unwrap().root_der(), ca.root_der());
}

#[test]
fn load_refuses_a_key_and_certificate_that_do_not_match() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    DevCa::init(&a).unwrap();
    DevCa::init(&b).unwrap();
    std::fs::remove_file(b.join("root.key")).unwrap();
    std::fs::copy(a.join("root.key"), b.join("root.key")).unwrap();
    let e = DevCa::load(&b).unwrap_err();
    assert!(
        matches!(&e, Error::Certificate(m) if m.contains("do not belong together")),
        "{e}"
    );

    let e = DevCa::load(&tmp.path().join("missing")).unwrap_err();
    assert!(matches!(e, Error::Io { .. }), "{e}");
}

/// A signer whose card refuses the PIN.
struct WrongPinCard(p256::PublicKey);

impl DigestSigner for WrongPinCard {
    fn public_key(&self) -> p256::PublicKey {
        self.0
    }
    fn sign_digest(&mut self, _digest: &[u8; 32]) -> asan_host::Result<[u8; 64]> {
        Err(Error::WrongPin {
            pin: PinRef::Pin1,
            tries_left: 2,
        })
    }
}

#[test]
fn a_failing_signer_error_comes_back_unchanged() {
    let key = SoftwareSigner::generate().unwrap();
    let mut card = WrongPinCard(key.public_key());
    let subject = subject_name(CertificateProfile::Citizen, &info()).unwrap();
    match build_csr(subject, &mut card) {
        Err(Error::WrongPin {
            pin: PinRef::Pin1,
            tries_left: 2,
        }) => {}
        other => panic!("expected the wrong-PIN error, got {other:?}"),
    }
}
