//! CMS signatures made with `openssl cms -sign` and the cases C1–C11 of
//! `asan verify`.

use std::path::{Path, PathBuf};

use der::{Decode, Encode};
use x509_cert::Certificate;

use super::cases::{Case, CmsCheck, OK, at, fails};
use super::hierarchy::{Alg, CA, Cert, Opts, Pki, ROOT, SIGN};
use super::openssl::{argv, must, p};
use super::paths::{CA_SIGNER, Main, SIGNER};
use super::unsorted;

/// The signed document: binary, CR LF, a NUL.
pub const DOC: &[u8] = b"Muqavila No 17: the parties agree.\r\nBinary: \x00\x01\xff\n";

pub const NO_ESS_OPTION: &str = "openssl has no option requiring signing-certificate-v2";
pub const AMBIGUOUS: &str = "ambiguous signer identifier: we refuse a message where two \
     certificates match the SignerIdentifier; OpenSSL takes the first match";

/// The OID of id-aa-signingCertificateV2 (1.2.840.113549.1.9.16.2.47), DER.
const ESS_V2_OID: [u8; 13] = [
    0x06, 0x0B, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x10, 0x02, 0x2F,
];

/// `openssl cms -sign` of `doc` by `signer`, with the certificates of
/// `certfile` added, and `extra` options; at a faked time if `at`.
pub fn sign(
    pki: &Pki,
    name: &str,
    doc: &Path,
    signer: &Cert,
    certfile: &Path,
    extra: &str,
    at: Option<&str>,
) -> PathBuf {
    let out = pki.path(&format!("{name}.p7s"));
    let template = format!(
        "cms -sign -binary -md sha256 -outform DER -in {{}} -signer {{}} -inkey {{}} \
         -certfile {{}} -out {{}} {extra}"
    );
    let args = argv(
        &template,
        &[p(doc), p(&signer.pem), p(&signer.key), p(certfile), p(&out)],
    );
    must(&args, at);
    out
}

/// A certificate's DER encoding.
pub fn der_of(cert: &Cert) -> Vec<u8> {
    let pem = std::fs::read_to_string(&cert.pem).unwrap();
    let (label, der) = der::pem::decode_vec(pem.as_bytes()).unwrap();
    assert_eq!(label, "CERTIFICATE");
    der
}

/// A certificate's issuer name and serial number, DER.
fn issuer_and_serial(der: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let cert = Certificate::from_der(der).unwrap();
    let tbs = cert.tbs_certificate();
    (
        tbs.issuer().to_der().unwrap(),
        tbs.serial_number().to_der().unwrap(),
    )
}

/// Where `needle` starts in `haystack`.
pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The CMS cases.
pub fn build(pki: &Pki, m: &Main, doc: &Path) -> Vec<Case> {
    let changed = pki.write("doc-changed.bin", [DOC, b"!"].concat());
    let int = pki.bundle("int-only", &[&m.int]);
    let mut cases = Vec::new();
    let check = |sig: &PathBuf| CmsCheck::new(Some(doc), sig, &m.root);

    let c1 = sign(pki, "c1", doc, &m.sign, &int, "-cades", None);
    cases.push(Case::new("C1 CAdES, detached", check(&c1).cmds(), 0, OK));
    let c2 = sign(pki, "c2", doc, &m.sign, &int, "", None);
    cases.push(Case::new("C2 without -cades", check(&c2).cmds(), 0, OK));
    let c2b = check(&c2).cades();
    let name = "C2b without -cades, verified with --cades";
    cases.push(Case::new(name, c2b.cmds(), 1, OK).differs(NO_ESS_OPTION));
    let c3 = sign(pki, "c3", doc, &m.sign, &int, "-cades -nodetach", None);
    let ess = |sig: &PathBuf| find(&std::fs::read(sig).unwrap(), &ESS_V2_OID).is_some();
    assert!(ess(&c1) && !ess(&c2), "signing-certificate-v2 in C1 only");
    assert!(
        find(&std::fs::read(&c3).unwrap(), DOC).is_some(),
        "C3 holds the document"
    );
    let c3 = CmsCheck::new(None, &c3, &m.root);
    cases.push(Case::new("C3 attached", c3.cmds(), 0, OK));

    // A whole hierarchy of 2019; the leaf was valid for 2019 only.
    let in_2019 = Opts {
        days: 10950,
        at: Some("2019-01-01 00:00:00"),
        ..Opts::default()
    };
    let root19 = pki.root("c4-root", "/C=AZ/CN=Root CA 2019", ROOT, in_2019);
    let int19_name = "/C=AZ/CN=Intermediate CA 2019";
    let int19 = pki.issue("c4-int", int19_name, CA, &root19, in_2019);
    let leaf19 = Opts {
        days: 365,
        ..in_2019
    };
    let signer19 = pki.issue("c4-leaf", SIGNER, SIGN, &int19, leaf19);
    let int19_file = pki.bundle("c4-chain", &[&int19]);
    let when = Some("2019-06-01 12:00:00");
    let c4 = sign(pki, "c4", doc, &signer19, &int19_file, "-cades", when);
    // The signing-time attribute: UTCTime 2019-06-01 12:00.
    let time = find(&std::fs::read(&c4).unwrap(), b"\x17\x0d1906011200");
    assert!(time.is_some(), "C4's signing time is 2019-06-01 12:00");
    let c4 = CmsCheck::new(Some(doc), &c4, &root19);
    let expired = fails("certificate has expired");
    let name = "C4 signed in 2019, expired now";
    cases.push(Case::new(name, c4.cmds(), 1, expired));
    let c4b = c4.clone().at(at(2019, 6, 1, 12, 0, 0));
    let name = "C4b signed in 2019, --at then";
    cases.push(Case::new(name, c4b.cmds(), 0, OK));

    let c5 = CmsCheck::new(Some(&changed), &c1, &m.root);
    let c5_says = fails("content verify error");
    cases.push(Case::new("C5 content changed", c5.cmds(), 1, c5_says));
    let c6 = sign(pki, "c6", doc, &m.server_auth, &int, "-cades", None);
    let purpose = fails("unsuitable certificate purpose");
    let name = "C6 signer EKU serverAuth only";
    cases.push(Case::new(name, check(&c6).cmds(), 1, purpose));
    let c7 = sign(pki, "c7", doc, &m.ca_leaf, &int, "-cades", None);
    let c7 = Case::new("C7 signer is a CA", check(&c7).cmds(), 1, OK);
    cases.push(c7.differs(CA_SIGNER));
    let no_kcs = pki.bundle("c8-chain", &[&m.no_kcs_int]);
    let c8 = sign(pki, "c8", doc, &m.no_kcs_leaf, &no_kcs, "-cades", None);
    let invalid_ca = fails("invalid CA certificate");
    let name = "C8 signer's intermediate lacks keyCertSign";
    cases.push(Case::new(name, check(&c8).cmds(), 1, invalid_ca));
    let c9 = sign(pki, "c9", doc, &m.critical, &int, "-cades", None);
    let critical = fails("unhandled critical extension");
    let name = "C9 signer has an unknown critical extension";
    cases.push(Case::new(name, check(&c9).cmds(), 1, critical));

    cases.extend(ambiguous(pki, m, doc));
    cases.extend(unsorted::build(pki, m, doc));
    cases
}

/// C10: a junk certificate with the signer's issuer name and serial number
/// (another key, issued by the impostor CA) in the message, sorting before
/// and after the signer's in the DER SET OF certificates.
fn ambiguous(pki: &Pki, m: &Main, doc: &Path) -> Vec<Case> {
    let signer = der_of(&m.sign);
    let mut cases = Vec::new();
    // The DER SET OF sorts by encoding: a shorter certificate comes first.
    let short = "basicConstraints=critical,CA:FALSE";
    let long = format!("{SIGN}\nnsComment=\"{}\"", "junk ".repeat(60));
    for (tag, ext, junk_first) in [("first", short, true), ("after", long.as_str(), false)] {
        let key = pki.key(&format!("c10-junk-{tag}"), Alg::P256);
        let junk = pki.issue_with(
            &format!("c10-junk-{tag}"),
            "/CN=J",
            ext,
            &m.impostor,
            &key,
            m.sign.serial,
            Opts::default(),
        );
        let junk_der = der_of(&junk);
        assert_eq!(
            issuer_and_serial(&junk_der),
            issuer_and_serial(&signer),
            "C10 {tag}: the junk certificate matches the SignerIdentifier"
        );
        assert_eq!(junk_der.len() < signer.len(), junk_first, "junk size");
        let certfile = pki.bundle(&format!("c10-certs-{tag}"), &[&m.int, &junk]);
        let name = format!("c10-{tag}");
        let sig = sign(pki, &name, doc, &m.sign, &certfile, "-cades", None);
        let message = std::fs::read(&sig).unwrap();
        let (at_junk, at_signer) = (find(&message, &junk_der), find(&message, &signer));
        let (Some(at_junk), Some(at_signer)) = (at_junk, at_signer) else {
            panic!("C10 {tag}: both certificates are in the message");
        };
        assert_eq!(
            at_junk < at_signer,
            junk_first,
            "C10 {tag}: the junk at {at_junk}, the signer's at {at_signer}"
        );
        let check = CmsCheck::new(Some(doc), &sig, &m.root);
        if junk_first {
            let name = "C10a ambiguous signer, the junk certificate sorts first";
            let says = fails("Verify error: certificate signature failure");
            cases.push(Case::new(name, check.cmds(), 1, says));
        } else {
            let name = "C10b ambiguous signer, the junk certificate sorts after";
            cases.push(Case::new(name, check.cmds(), 1, OK).differs(AMBIGUOUS));
        }
    }
    cases
}
