//! CRLs: what `openssl crl` reads in them, what `openssl verify
//! -crl_check_all` concludes from them, their numbers and their files.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::SystemTime;

use asan_applet::CertificateProfile;
use asan_host::Error;
use asan_host::x509::{DevCa, RevocationReason};
use der::Decode;
use x509_cert::crl::CertificateList;

use crate::support::{Lab, arg, openssl, openssl_ok, snapshot};

/// `openssl crl -inform DER -in FILE -noout -text`.
fn crl_text(file: &Path) -> String {
    openssl_ok(&["crl", "-inform", "DER", "-in", arg(file), "-noout", "-text"])
}

/// The text block of one revoked serial in `openssl crl -text` output.
fn entry<'a>(text: &'a str, serial: &str) -> &'a str {
    let needle = format!("Serial Number: {}", serial.to_uppercase());
    let start = text
        .find(&needle)
        .unwrap_or_else(|| panic!("{needle} not in {text}"));
    let rest = &text[start + needle.len()..];
    let end = rest
        .find("Serial Number:")
        .or_else(|| rest.find("Signature Algorithm"))
        .unwrap();
    &rest[..end]
}

/// `openssl verify -crl_check_all -CRLfile CRL -CAfile ROOT CERT`.
fn verify_with_crl(lab: &Lab, crl: &Path, cert: &Path) -> (bool, String) {
    openssl(&[
        "verify",
        "-crl_check_all",
        "-CRLfile",
        arg(crl),
        "-CAfile",
        arg(&lab.root()),
        arg(cert),
    ])
}

/// `openssl crl -CAfile ROOT -noout` on a DER CRL: whether it says the
/// signature verifies.
fn crl_verifies(crl: &Path, root: &Path) -> (bool, String) {
    let (ok, out) = openssl(&[
        "crl",
        "-inform",
        "DER",
        "-in",
        arg(crl),
        "-CAfile",
        arg(root),
        "-noout",
    ]);
    (ok && out.contains("verify OK"), out)
}

/// The cRLNumber line of `openssl crl -text`.
fn number_in(text: &str) -> u64 {
    let at = text.find("X509v3 CRL Number:").expect("a CRL number");
    text[at..].lines().nth(1).unwrap().trim().parse().unwrap()
}

#[test]
fn the_crl_lists_revocations_as_openssl_reads_them() {
    let lab = Lab::new();
    let (a, a_pem) = lab.issue(CertificateProfile::Citizen);
    let (b, b_pem) = lab.issue(CertificateProfile::Business);
    let (_, c_pem) = lab.issue(CertificateProfile::Governmental);
    let now = SystemTime::now();
    let ra = lab
        .ca
        .revoke(&a, RevocationReason::KeyCompromise, now)
        .unwrap();
    let rb = lab
        .ca
        .revoke(&b, RevocationReason::Unspecified, now)
        .unwrap();

    let file = lab.dir.join("root.crl");
    let issued = lab.ca.write_crl(&file, now, 7).unwrap();
    assert_eq!((issued.number, issued.revoked), (1, 2));
    assert_eq!(std::fs::read(&file).unwrap(), issued.der);

    let text = crl_text(&file);
    assert!(text.contains("Version 2 (0x1)"), "{text}");
    assert!(
        text.contains("Signature Algorithm: ecdsa-with-SHA256"),
        "{text}"
    );
    assert_eq!(number_in(&text), 1);
    let root_text = openssl_ok(&["x509", "-in", arg(&lab.root()), "-noout", "-text"]);
    let subject = root_text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Subject: "))
        .unwrap();
    assert!(text.contains(&format!("Issuer: {subject}\n")), "{text}");
    let ski = root_text
        .split("X509v3 Subject Key Identifier:")
        .nth(1)
        .and_then(|s| s.lines().nth(1))
        .unwrap()
        .trim();
    let aki = text
        .split("X509v3 Authority Key Identifier:")
        .nth(1)
        .and_then(|s| s.lines().nth(1))
        .unwrap()
        .trim();
    assert_eq!(aki.trim_start_matches("keyid:"), ski, "{text}");
    assert!(
        entry(&text, &ra.serial).contains("Key Compromise"),
        "{text}"
    );
    // Unspecified: no reasonCode (RFC 5280 §5.3.1), so no entry extensions.
    let b_entry = entry(&text, &rb.serial);
    assert!(
        b_entry.contains("Revocation Date") && !b_entry.contains("Reason"),
        "{b_entry}"
    );

    // thisUpdate and nextUpdate, 7 days apart.
    let crl: CertificateList = CertificateList::from_der(&issued.der).unwrap();
    let tbs = &crl.tbs_cert_list;
    let this = tbs.this_update.to_unix_duration().as_secs();
    let next = tbs.next_update.unwrap().to_unix_duration().as_secs();
    assert_eq!(next - this, 7 * 86_400);
    assert_eq!(tbs.this_update.to_string(), issued.this_update);
    assert_eq!(tbs.next_update.unwrap().to_string(), issued.next_update);

    // openssl's verdicts: revoked, revoked, fine.
    for revoked in [&a_pem, &b_pem] {
        let (ok, out) = verify_with_crl(&lab, &file, revoked);
        assert!(!ok && out.contains("certificate revoked"), "{out}");
    }
    let (ok, out) = verify_with_crl(&lab, &file, &c_pem);
    assert!(ok && out.contains(": OK"), "{out}");
}

#[test]
fn the_crl_signature_verifies_with_the_root_only() {
    let lab = Lab::new();
    let (a, _) = lab.issue(CertificateProfile::Citizen);
    lab.ca
        .revoke(
            &a,
            RevocationReason::CessationOfOperation,
            SystemTime::now(),
        )
        .unwrap();
    let file = lab.path("ca.crl");
    let issued = lab.ca.write_crl(&file, SystemTime::now(), 1).unwrap();
    let (ok, out) = crl_verifies(&file, &lab.root());
    assert!(ok, "{out}");
    assert!(crl_text(&file).contains("Cessation Of Operation"));

    let other = DevCa::init(&lab.path("other")).unwrap();
    let (ok, out) = crl_verifies(&file, &other.dir().join("root.pem"));
    assert!(!ok, "{out}");

    let mut tampered = issued.der.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x01;
    std::fs::write(&file, tampered).unwrap();
    let (ok, out) = crl_verifies(&file, &lab.root());
    assert!(!ok, "{out}");
}

#[test]
fn crl_numbers_rise_and_are_remembered() {
    let lab = Lab::new();
    let first = lab.path("1.crl");
    let second = lab.path("2.crl");
    lab.ca.write_crl(&first, SystemTime::now(), 7).unwrap();
    // Another process (here: another load) continues the count.
    DevCa::load(&lab.dir)
        .unwrap()
        .write_crl(&second, SystemTime::now(), 7)
        .unwrap();
    assert_eq!(number_in(&crl_text(&first)), 1);
    assert_eq!(number_in(&crl_text(&second)), 2);
    let der = lab.ca.crl(SystemTime::now(), 7).unwrap();
    let third = lab.path("3.crl");
    std::fs::write(&third, der).unwrap();
    assert_eq!(number_in(&crl_text(&third)), 3);

    // Concurrent issuers never share a number.
    let numbers: BTreeSet<u64> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    let ca = DevCa::load(&lab.dir).unwrap();
                    (0..3)
                        .map(|_| {
                            ca.write_crl(&lab.path("race.crl"), SystemTime::now(), 7)
                                .unwrap()
                                .number
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    assert_eq!(numbers, (4..=15).collect());
}

#[test]
fn pem_files_missing_directories_and_bounds() {
    let lab = Lab::new();
    let pem = lab.path("root.crl.pem");
    let issued = lab.ca.write_crl(&pem, SystemTime::now(), 366).unwrap();
    let text = std::fs::read_to_string(&pem).unwrap();
    assert!(text.starts_with("-----BEGIN X509 CRL-----\n"), "{text}");
    let out = openssl_ok(&["crl", "-in", arg(&pem), "-noout", "-text"]);
    assert_eq!(number_in(&out), issued.number);

    // Into a directory that does not exist: an error naming the file, no
    // file anywhere, and the number is not used up.
    let before = snapshot(lab.tmp.path());
    let missing = lab.path("nowhere/root.crl");
    let e = lab
        .ca
        .write_crl(&missing, SystemTime::now(), 7)
        .unwrap_err();
    assert!(
        matches!(&e, Error::Io { path, .. } if path.ends_with("nowhere/root.crl")),
        "{e}"
    );
    assert!(!lab.path("nowhere").exists());
    assert_eq!(snapshot(lab.tmp.path()), before);
    let next = lab
        .ca
        .write_crl(&lab.path("next.crl"), SystemTime::now(), 7)
        .unwrap();
    assert_eq!(next.number, issued.number + 1);

    for days in [0, 367, u32::MAX] {
        let e = lab.ca.crl(SystemTime::now(), days).unwrap_err();
        assert!(
            matches!(&e, Error::Usage(m) if m.contains("1 to 366")),
            "{days}: {e}"
        );
    }
}
