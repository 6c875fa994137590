//! What every issued certificate now carries — the CRL distribution point
//! and the profile's certificate policy — and the subject rules, for
//! requests made by `openssl req`.

use std::path::Path;
use std::time::SystemTime;

use asan_applet::{CertificateProfile, KeyUsage};
use asan_host::Error;
use asan_host::x509::{CaConfig, DevCa, certificate_profile, oid_to_der, policy_oid};

use crate::support::{Lab, arg, openssl_csr, openssl_ok, openssl_self_signed};

const ARC: &str = "2.25.61485682124220308471771109637782283797";

/// The lines after `heading` in `openssl x509 -text`, up to the next
/// extension heading; and whether the heading says critical.
fn extension<'a>(text: &'a str, heading: &str) -> (&'a str, bool) {
    let at = text
        .find(heading)
        .unwrap_or_else(|| panic!("no {heading} in {text}"));
    let rest = &text[at + heading.len()..];
    let (line, body) = rest.split_once('\n').unwrap();
    let end = body
        .find("X509v3")
        .or_else(|| body.find("Signature Algorithm"))
        .unwrap();
    (&body[..end], line.contains("critical"))
}

#[test]
fn issued_certificates_name_the_crl_and_their_policy() {
    let lab = Lab::new();
    let crl_file = std::fs::canonicalize(&lab.dir).unwrap().join("root.crl");
    let url = format!("file://{}", crl_file.display());
    assert_eq!(lab.ca.crl_url(), url);
    for (profile, n) in [
        (CertificateProfile::Citizen, 1),
        (CertificateProfile::Business, 2),
        (CertificateProfile::Governmental, 3),
    ] {
        let (der, pem) = lab.issue(profile);
        let text = openssl_ok(&["x509", "-in", arg(&pem), "-noout", "-text"]);
        let (cdp, critical) = extension(&text, "X509v3 CRL Distribution Points:");
        assert!(!critical, "{text}");
        assert!(
            cdp.contains("Full Name:") && cdp.contains(&format!("URI:{url}\n")),
            "{cdp}"
        );
        assert_eq!(cdp.matches("URI:").count(), 1, "{cdp}");
        let (policies, critical) = extension(&text, "X509v3 Certificate Policies:");
        assert!(!critical, "{text}");
        assert_eq!(policies.trim(), format!("Policy: {ARC}.1.{n}"), "{text}");
        assert_eq!(policy_oid(profile), format!("{ARC}.1.{n}"));
        assert_eq!(certificate_profile(&der).unwrap(), Some(profile));
    }
    // The default URL names the file `ca crl` writes by default.
    lab.ca
        .write_crl(&lab.dir.join("root.crl"), SystemTime::now(), 7)
        .unwrap();
    assert!(Path::new(url.trim_start_matches("file://")).is_file());
    // The root has no certificate policy of ours.
    assert_eq!(certificate_profile(&lab.ca.root_der()).unwrap(), None);
}

#[test]
fn the_oid_encoder_agrees_with_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("oid.der");
    let policies: Vec<String> = (1..=3).map(|n| format!("{ARC}.1.{n}")).collect();
    for dotted in std::iter::once(ARC).chain(policies.iter().map(String::as_str)) {
        let text = openssl_ok(&[
            "asn1parse",
            "-genstr",
            &format!("OID:{dotted}"),
            "-out",
            arg(&out),
        ]);
        assert!(text.contains(&format!(":{dotted}")), "{text}");
        assert_eq!(
            oid_to_der(dotted).unwrap(),
            std::fs::read(&out).unwrap(),
            "{dotted}"
        );
    }
}

/// A self-signed certificate by openssl with these certificatePolicies.
fn with_policies(dir: &Path, policies: &str) -> Vec<u8> {
    let (key, out) = (dir.join("p.key"), dir.join("p.der"));
    openssl_self_signed(
        &key,
        &out,
        "/CN=Policies",
        &["-addext", &format!("certificatePolicies={policies}")],
    );
    std::fs::read(out).unwrap()
}

#[test]
fn the_profile_is_read_back_from_any_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let gov = with_policies(d, &format!("{ARC}.1.3,1.2.3.4"));
    assert_eq!(
        certificate_profile(&gov).unwrap(),
        Some(CertificateProfile::Governmental)
    );
    assert_eq!(
        certificate_profile(&with_policies(d, "1.2.3.4")).unwrap(),
        None
    );
    // A sibling under our arc (a future time-stamp policy) is not a profile.
    assert_eq!(
        certificate_profile(&with_policies(d, &format!("{ARC}.2.1"))).unwrap(),
        None
    );
    let two = with_policies(d, &format!("{ARC}.1.1,{ARC}.1.2"));
    let e = certificate_profile(&two).unwrap_err();
    assert!(
        matches!(&e, Error::Certificate(m) if m.contains("more than one profile")),
        "{e}"
    );
    // Our own certificate with the policy's last byte broken (0x01 → 0x81:
    // an arc that never ends), the signature no longer matters here.
    let lab = Lab::new();
    let (mut der, _) = lab.issue(CertificateProfile::Citizen);
    let oid = oid_to_der(&format!("{ARC}.1.1")).unwrap();
    let at = der
        .windows(oid.len())
        .position(|w| w == oid.as_slice())
        .unwrap();
    der[at + oid.len() - 1] = 0x81;
    let e = certificate_profile(&der).unwrap_err();
    assert!(
        matches!(&e, Error::Certificate(m) if m.contains("malformed")),
        "{e}"
    );
    assert!(certificate_profile(b"junk").is_err());
}

#[test]
fn a_configured_crl_url_is_kept_and_used() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    let url = "http://crl.example.invalid/asan/root.crl";
    let ca = DevCa::init_with_config(&dir, &CaConfig::with_crl_url(url).unwrap()).unwrap();
    assert_eq!(ca.crl_url(), url);
    let settings: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("ca.json")).unwrap()).unwrap();
    assert_eq!(settings, serde_json::json!({ "crl_url": url }));
    let ca = DevCa::load(&dir).unwrap();
    let der = ca
        .issue(
            &crate::support::csr_for(CertificateProfile::Citizen),
            CertificateProfile::Citizen,
            KeyUsage::Authentication,
            SystemTime::now(),
        )
        .unwrap();
    let file = tmp.path().join("leaf.der");
    std::fs::write(&file, der).unwrap();
    let text = openssl_ok(&[
        "x509",
        "-inform",
        "DER",
        "-in",
        arg(&file),
        "-noout",
        "-text",
    ]);
    assert!(text.contains(&format!("URI:{url}\n")), "{text}");

    for bad in [
        "ftp://crl.example.invalid/root.crl",
        "crl.example.invalid",
        "http://",
    ] {
        let target = tmp.path().join("bad");
        let e = CaConfig::with_crl_url(bad).unwrap_err();
        assert!(
            matches!(&e, Error::Usage(m) if m.contains("CRL URL")),
            "{e}"
        );
        let config = CaConfig {
            crl_url: Some(bad.into()),
        };
        assert!(matches!(
            DevCa::init_with_config(&target, &config),
            Err(Error::Usage(_))
        ));
        assert!(!target.exists(), "nothing is created for {bad}");
    }
}

#[test]
fn requests_with_other_attributes_are_refused() {
    let lab = Lab::new();
    let d = lab.tmp.path();
    let issue = |csr: &[u8]| {
        lab.ca.issue(
            csr,
            CertificateProfile::Citizen,
            KeyUsage::Signing,
            SystemTime::now(),
        )
    };
    // openssl's requests are accepted when the subject is right…
    issue(&openssl_csr(
        d,
        "/C=AZ/CN=Aysel Quliyeva/serialNumber=7XYZ123",
        false,
    ))
    .unwrap();
    let issued = std::fs::read_dir(lab.dir.join("issued")).unwrap().count();
    // …and refused, naming the attribute, when it is not.
    for (subj, multivalue, needle) in [
        ("/C=AZ/CN=A+serialNumber=1", true, "multi-valued RDN"),
        (
            "/C=AZ/OU=IT/CN=A/serialNumber=1",
            false,
            "has OU (2.5.4.11)",
        ),
        (
            "/C=AZ/CN=A/serialNumber=1/emailAddress=a@example.invalid",
            false,
            "has emailAddress (1.2.840.113549.1.9.1)",
        ),
        (
            "/C=AZ/CN=A/CN=B/serialNumber=1",
            false,
            "has CN (2.5.4.3) twice",
        ),
        ("/C=AZ/O=Org/CN=A/serialNumber=1", false, "has O (2.5.4.10)"),
    ] {
        match issue(&openssl_csr(d, subj, multivalue)) {
            Err(Error::Certificate(m)) => assert!(m.contains(needle), "{subj}: {m}"),
            other => panic!("{subj}: expected a refusal, got {other:?}"),
        }
    }
    assert_eq!(
        std::fs::read_dir(lab.dir.join("issued")).unwrap().count(),
        issued
    );
}
