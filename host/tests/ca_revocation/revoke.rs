//! `DevCa::revoke`: only certificates this CA issued, each once, recorded
//! in the register; refusals change nothing.

use std::time::{Duration, SystemTime};

use asan_applet::CertificateProfile;
use asan_host::Error;
use asan_host::x509::{DevCa, RevocationReason};

use crate::support::{Lab, arg, openssl_ok, openssl_self_signed, snapshot};

fn certificate_error(r: asan_host::Result<asan_host::x509::Revocation>) -> String {
    match r {
        Err(Error::Certificate(m)) => m,
        other => panic!("expected a certificate error, got {other:?}"),
    }
}

#[test]
fn revocations_are_recorded_once_each() {
    let lab = Lab::new();
    let (a, _) = lab.issue(CertificateProfile::Citizen);
    let (b, _) = lab.issue(CertificateProfile::Business);
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let ra = lab
        .ca
        .revoke(&a, RevocationReason::KeyCompromise, at)
        .unwrap();
    assert_eq!(ra.revoked_at, "2027-01-15T08:00:00Z");
    assert_eq!(ra.reason, RevocationReason::KeyCompromise);
    assert_eq!(ra.serial.len(), 32);
    assert!(ra.subject.contains("CN=Rashad Aliyev"), "{}", ra.subject);
    let rb = lab
        .ca
        .revoke(&b, RevocationReason::Unspecified, SystemTime::now())
        .unwrap();

    // The register, read back by a fresh load, lists both in order.
    let again = DevCa::load(&lab.dir).unwrap();
    assert_eq!(again.revocations().unwrap(), vec![ra.clone(), rb]);
    let register: serde_json::Value =
        serde_json::from_slice(&std::fs::read(lab.dir.join("revocations.json")).unwrap()).unwrap();
    assert_eq!(register["format"], 1);
    assert_eq!(register["last_crl_number"], 0);
    assert_eq!(register["revocations"][0]["reason"], "key-compromise");
    assert_eq!(register["revocations"][0]["serial"], ra.serial.as_str());

    // A second revocation of the same certificate says when and why.
    let before = snapshot(&lab.dir);
    let m = certificate_error(again.revoke(&a, RevocationReason::Superseded, SystemTime::now()));
    assert!(
        m.contains("already revoked")
            && m.contains("2027-01-15T08:00:00Z")
            && m.contains("key-compromise"),
        "{m}"
    );
    assert_eq!(snapshot(&lab.dir), before);
}

#[test]
fn certificates_of_another_ca_are_refused_and_nothing_changes() {
    let lab = Lab::new();
    let (ours, _) = lab.issue(CertificateProfile::Citizen);
    lab.ca
        .revoke(&ours, RevocationReason::Superseded, SystemTime::now())
        .unwrap();
    let before = snapshot(&lab.dir);

    // Another development CA has the very same root name: only the
    // signature tells them apart.
    let other = DevCa::init(&lab.path("other")).unwrap();
    assert_eq!(
        other.root().tbs_certificate().subject(),
        lab.ca.root().tbs_certificate().subject()
    );
    let foreign = other
        .issue(
            &crate::support::csr_for(CertificateProfile::Citizen),
            CertificateProfile::Citizen,
            asan_applet::KeyUsage::Signing,
            SystemTime::now(),
        )
        .unwrap();
    let m = certificate_error(lab.ca.revoke(
        &foreign,
        RevocationReason::KeyCompromise,
        SystemTime::now(),
    ));
    assert!(
        m.contains("did not issue") && m.contains("does not verify with the root's key"),
        "{m}"
    );

    // A certificate openssl made, with another issuer name.
    let key = lab.path("self.key");
    let pem = lab.path("self.pem");
    openssl_self_signed(&key, &pem, "/C=AZ/CN=Elsewhere", &[]);
    let der_path = lab.path("self.der");
    openssl_ok(&[
        "x509",
        "-in",
        arg(&pem),
        "-outform",
        "DER",
        "-out",
        arg(&der_path),
    ]);
    let m = certificate_error(lab.ca.revoke(
        &std::fs::read(&der_path).unwrap(),
        RevocationReason::Unspecified,
        SystemTime::now(),
    ));
    assert!(
        m.contains("did not issue") && m.contains("CN=Elsewhere"),
        "{m}"
    );

    // Our certificate with one signature byte changed.
    let (mut tampered, _) = lab.issue(CertificateProfile::Citizen);
    let after_issue = snapshot(&lab.dir);
    let last = tampered.len() - 1;
    tampered[last] ^= 0x01;
    let m = certificate_error(lab.ca.revoke(
        &tampered,
        RevocationReason::Unspecified,
        SystemTime::now(),
    ));
    assert!(m.contains("does not verify"), "{m}");

    // The root itself, and bytes that are no certificate.
    let m = certificate_error(lab.ca.revoke(
        &lab.ca.root_der(),
        RevocationReason::CaCompromise,
        SystemTime::now(),
    ));
    assert!(m.contains("root"), "{m}");
    let m = certificate_error(lab.ca.revoke(
        b"not a certificate",
        RevocationReason::Unspecified,
        SystemTime::now(),
    ));
    assert!(m.contains("not a valid X.509 certificate"), "{m}");

    assert_eq!(snapshot(&lab.dir), after_issue);
    assert_eq!(
        before.len() + 1,
        after_issue.len(),
        "only the issued copy was added"
    );
}

#[test]
fn a_corrupt_register_is_refused_and_kept() {
    let lab = Lab::new();
    let (cert, _) = lab.issue(CertificateProfile::Citizen);
    let register = lab.dir.join("revocations.json");
    std::fs::write(&register, "{\"format\": 1, \"last_crl_number\": 3, \"revoc").unwrap();
    let before = snapshot(&lab.dir);
    for e in [
        lab.ca
            .revoke(&cert, RevocationReason::Unspecified, SystemTime::now())
            .unwrap_err(),
        lab.ca.crl(SystemTime::now(), 7).unwrap_err(),
        lab.ca
            .write_crl(&lab.dir.join("root.crl"), SystemTime::now(), 7)
            .unwrap_err(),
    ] {
        let text = e.to_string();
        assert!(matches!(e, Error::Io { .. }), "{text}");
        assert!(
            text.contains("revocations.json") && text.contains("corrupt"),
            "{text}"
        );
    }
    let mut after = snapshot(&lab.dir);
    after.retain(|(p, _)| !p.ends_with(".lock"));
    let mut before = before;
    before.retain(|(p, _)| !p.ends_with(".lock"));
    assert_eq!(after, before);
}

#[test]
fn a_ca_directory_from_before_revocation_works() {
    // What `ca init` made before this version: the root, its key and
    // issued/, no register and no settings.
    let lab = Lab::new();
    for f in ["revocations.json", "ca.json", "root.crl"] {
        assert!(!lab.dir.join(f).exists(), "{f}");
    }
    let ca = DevCa::load(&lab.dir).unwrap();
    assert_eq!(ca.revocations().unwrap(), vec![]);
    let crl = ca.crl(SystemTime::now(), 7).unwrap();
    let file = lab.path("first.crl");
    std::fs::write(&file, crl).unwrap();
    let text = openssl_ok(&[
        "crl",
        "-inform",
        "DER",
        "-in",
        arg(&file),
        "-noout",
        "-text",
    ]);
    assert!(
        text.contains("X509v3 CRL Number: \n                1\n"),
        "{text}"
    );
    assert!(text.contains("No Revoked Certificates."), "{text}");
}
