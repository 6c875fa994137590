//! The development CA's CRLs as relying parties use them: `asan cert
//! verify` and `asan verify` with `--crl`, and `openssl verify
//! -crl_check_all` on the same files, before and after a revocation.

use std::time::SystemTime;

use asan_applet::{CertificateProfile, KeyUsage};
use asan_host::cms::{SignOptions, digest_reader, sign_detached};
use asan_host::x509::{RevocationReason, SoftwareSigner, build_csr, subject_name};

use crate::support::{Lab, arg, asan, info, openssl};

/// `openssl verify -crl_check_all` of `cert` with the root and `crl`.
fn openssl_says(lab: &Lab, crl: &std::path::Path, cert: &std::path::Path) -> (bool, String) {
    openssl(&[
        "verify",
        "-x509_strict",
        "-purpose",
        "smimesign",
        "-crl_check_all",
        "-CRLfile",
        arg(crl),
        "-CAfile",
        arg(&lab.root()),
        arg(cert),
    ])
}

#[test]
fn asan_and_openssl_agree_on_the_dev_ca_crl() {
    let lab = Lab::new();
    let mut key = SoftwareSigner::generate().unwrap();
    let csr = build_csr(
        subject_name(CertificateProfile::Citizen, &info()).unwrap(),
        &mut key,
    )
    .unwrap();
    let now = SystemTime::now();
    let der = lab
        .ca
        .issue(&csr, CertificateProfile::Citizen, KeyUsage::Signing, now)
        .unwrap();
    let cert = lab.path("signer.pem");
    std::fs::write(&cert, asan_host::cert::to_pem(&der)).unwrap();
    let doc = lab.path("doc.txt");
    std::fs::write(&doc, b"a contract\n").unwrap();
    let digest = digest_reader(&mut &b"a contract\n"[..]).unwrap();
    let opts = SignOptions {
        chain: vec![],
        signing_time: now,
        signing_time_attribute: true,
        attached: None,
        timestamp: None,
    };
    let p7s = lab.path("doc.txt.p7s");
    std::fs::write(&p7s, sign_detached(&digest, &der, &mut key, &opts).unwrap()).unwrap();

    let crl = lab.path("before.crl");
    lab.ca.write_crl(&crl, now, 7).unwrap();
    let verify_cert = |crl: &std::path::Path| {
        asan()
            .args(&["cert", "verify", arg(&cert), "--ca", arg(&lab.root())])
            .args(&["--purpose", "sign", "--crl", arg(crl), "--require-crl"])
            .run()
    };
    let out = verify_cert(&crl);
    assert_eq!(out.code, 0, "{out:#?}");
    let said = format!(
        "not revoked (CRL #1 of CN=Asan Imza Development Root,O=Asan Imza Development CA,C=AZ ({}))",
        arg(&crl)
    );
    assert!(out.stdout.contains(&said), "{out:#?}");
    assert!(out.stdout.contains("for purpose sign"), "{out:#?}");
    let json = asan()
        .args(&[
            "--json",
            "cert",
            "verify",
            arg(&cert),
            "--ca",
            arg(&lab.root()),
        ])
        .args(&["--purpose", "sign", "--crl", arg(&crl)])
        .run()
        .json();
    assert_eq!(json["purpose"], "sign");
    assert_eq!(json["valid"], true);
    let (ok, text) = openssl_says(&lab, &crl, &cert);
    assert!(ok && text.contains(": OK"), "{text}");

    lab.ca
        .revoke(&der, RevocationReason::KeyCompromise, SystemTime::now())
        .unwrap();
    let after = lab.path("after.crl");
    lab.ca.write_crl(&after, SystemTime::now(), 7).unwrap();
    let out = verify_cert(&after);
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(out.stderr.contains("revocation failed"), "{out:#?}");
    assert!(out.stderr.contains("keyCompromise"), "{out:#?}");
    let (ok, text) = openssl_says(&lab, &after, &cert);
    assert!(!ok && text.contains("certificate revoked"), "{text}");

    // The document signature by the revoked key: refused with the CRL;
    // without one the verdict says revocation was not checked.
    let verify_doc = |extra: &[&str]| {
        asan()
            .args(&["verify", arg(&doc), arg(&p7s), "--ca", arg(&lab.root())])
            .args(extra)
            .run()
    };
    let out = verify_doc(&["--crl", arg(&after)]);
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(out.stderr.contains("keyCompromise"), "{out:#?}");
    let out = verify_doc(&[]);
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(out.stdout.contains("revocation: not checked"), "{out:#?}");
    // --require-crl without a CRL: no CRL speaks for the signer.
    let out = verify_doc(&["--require-crl"]);
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(out.stderr.contains("no CRL from"), "{out:#?}");
    // A CRL of another CA (same root name, another key) is not the issuer's.
    let other = Lab::new();
    let foreign = other.path("foreign.crl");
    other.ca.write_crl(&foreign, SystemTime::now(), 7).unwrap();
    let out = verify_cert(&foreign);
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(out.stderr.contains("not signed by the key"), "{out:#?}");
    let (ok, text) = openssl_says(&lab, &foreign, &cert);
    assert!(!ok, "{text}");
}

/// A CRL is fresh from its thisUpdate (inclusive) until its nextUpdate
/// (exclusive), to the second.
#[test]
fn crl_freshness_to_the_second() {
    use asan_host::pki::{Check, Crl, Purpose, TrustAnchors, ValidationOptions, validate};
    use std::time::{Duration, UNIX_EPOCH};
    let lab = Lab::new();
    let (der, _) = lab.issue(CertificateProfile::Citizen);
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let issued = UNIX_EPOCH + Duration::from_secs(secs);
    let crl = lab.ca.crl(issued, 1).unwrap();
    let crl = Crl::from_der(&crl, "crl").unwrap();
    let debug = format!("{crl:?}");
    assert!(
        debug.contains("\"crl\"") && debug.contains("Asan Imza Development Root"),
        "{debug}"
    );
    let anchors = TrustAnchors::from_der(&[lab.ca.root_der()], "root").unwrap();
    let check = |t: SystemTime| {
        let mut opts = ValidationOptions::new(t, Purpose::Sign);
        opts.crls = vec![crl.clone()];
        opts.require_crl = true;
        let v = validate(&der, &[], &anchors, &opts).unwrap();
        let revocation = v.check(Check::REVOCATION).unwrap().clone();
        (v.valid, revocation.detail)
    };
    let second = Duration::from_secs(1);
    let day = Duration::from_secs(86_400);
    assert!(check(issued).0, "{:?}", check(issued));
    let early = check(issued - second);
    assert!(!early.0 && early.1.contains("not yet valid"), "{early:?}");
    assert!(check(issued + day - second).0);
    let late = check(issued + day);
    assert!(!late.0 && late.1.contains("expired"), "{late:?}");
}
