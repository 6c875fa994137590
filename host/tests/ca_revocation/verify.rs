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
        attached: None,
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
    assert!(out.stdout.contains("not revoked"), "{out:#?}");
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
