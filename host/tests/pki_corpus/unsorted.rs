//! C11: a signing certificate whose subject has a multi-valued RDN
//! (`CN + serialNumber`) with its SET OF members NOT in DER order. openssl
//! sorts whatever it encodes, so this one is written byte by byte here and
//! signed with the intermediate's key; openssl keeps the bytes it read, so
//! `openssl verify` accepts it and `openssl cms -sign` embeds it unchanged.
//! An old verifier re-encoded the certificate and refused the signature.

use std::path::Path;
use std::time::{Duration, SystemTime};

use der::asn1::{ObjectIdentifier, PrintableStringRef, UtcTime, Utf8StringRef};
use der::{Decode, Encode};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{DerSignature, SigningKey};
use p256::pkcs8::DecodePrivateKey;
use sha2::{Digest, Sha256};
use x509_cert::Certificate;
use x509_cert::ext::pkix::SubjectKeyIdentifier;

use super::cases::{Case, CmsCheck, OK, PathCheck};
use super::cms::{der_of, find, sign};
use super::hierarchy::{Alg, Cert, Pki};
use super::openssl::{argv, must, p};
use super::paths::Main;

const CN: &str = "Test Signer (unsorted RDN)";
const SERIAL_NUMBER: &str = "1234567";

/// One DER TLV with a definite length.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let n = content.len();
    let mut out = vec![tag];
    match n {
        0..0x80 => out.push(n as u8),
        0x80..0x100 => out.extend([0x81, n as u8]),
        _ => out.extend([0x82, (n >> 8) as u8, n as u8]),
    }
    assert!(n < 0x1_0000);
    out.extend_from_slice(content);
    out
}

fn seq(parts: &[&[u8]]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

fn oid(dotted: &str) -> Vec<u8> {
    ObjectIdentifier::new_unwrap(dotted).to_der().unwrap()
}

/// An extension: OID, critical if so, the value in an OCTET STRING.
fn ext(id: &str, critical: bool, value: &[u8]) -> Vec<u8> {
    let flag: &[u8] = if critical { &[0x01, 0x01, 0xFF] } else { &[] };
    seq(&[&oid(id), flag, &tlv(0x04, value)])
}

/// The subject: `C=AZ`, then `{CN=…, serialNumber=…}` in this (wrong) order.
fn subject() -> Vec<u8> {
    let c = seq(&[
        &oid("2.5.4.6"),
        &PrintableStringRef::new("AZ").unwrap().to_der().unwrap(),
    ]);
    let cn = seq(&[
        &oid("2.5.4.3"),
        &Utf8StringRef::new(CN).unwrap().to_der().unwrap(),
    ]);
    let sn = PrintableStringRef::new(SERIAL_NUMBER)
        .unwrap()
        .to_der()
        .unwrap();
    let sn = seq(&[&oid("2.5.4.5"), &sn]);
    // DER orders a SET OF by the encodings: the shorter serialNumber first.
    assert!(cn > sn, "the CN must sort after the serialNumber");
    seq(&[&tlv(0x31, &c), &tlv(0x31, &[cn, sn].concat())])
}

/// The certificate's DER: the signing-leaf extensions, valid from yesterday
/// for a year, issued and signed by `issuer`.
fn certificate(issuer: &Cert, spki: &[u8], serial: u64) -> Vec<u8> {
    let issuer_cert = Certificate::from_der(&der_of(issuer)).unwrap();
    let tbs_issuer = issuer_cert.tbs_certificate();
    let (_, aki) = tbs_issuer
        .get_extension::<SubjectKeyIdentifier>()
        .unwrap()
        .expect("the intermediate has an SKI");
    let now = SystemTime::now();
    let day = Duration::from_secs(86_400);
    let time = |t| UtcTime::from_system_time(t).unwrap().to_der().unwrap();
    let ecdsa_sha256 = seq(&[&oid("1.2.840.10045.4.3.2")]);
    let ski = &Sha256::digest(spki)[..20];
    let extensions = seq(&[
        &ext("2.5.29.19", true, &seq(&[])),
        // keyUsage: nonRepudiation (bit 1), six unused bits.
        &ext("2.5.29.15", true, &[0x03, 0x02, 0x06, 0x40]),
        &ext("2.5.29.37", false, &seq(&[&oid("1.3.6.1.5.5.7.3.4")])),
        &ext("2.5.29.14", false, &tlv(0x04, ski)),
        &ext("2.5.29.35", false, &seq(&[&tlv(0x80, aki.0.as_bytes())])),
    ]);
    let tbs = seq(&[
        &tlv(0xA0, &2u8.to_der().unwrap()),
        &serial.to_der().unwrap(),
        &ecdsa_sha256,
        &tbs_issuer.subject().to_der().unwrap(),
        &seq(&[&time(now - day), &time(now + day * 365)]),
        &subject(),
        spki,
        &tlv(0xA3, &extensions),
    ]);
    let pem = std::fs::read_to_string(&issuer.key).unwrap();
    let key = SigningKey::from_pkcs8_pem(&pem).unwrap();
    let signature: DerSignature = key.sign(&tbs);
    let bits = [&[0u8][..], signature.as_bytes()].concat();
    seq(&[&tbs, &ecdsa_sha256, &tlv(0x03, &bits)])
}

/// openssl's ASN.1 dump shows the CN before the serialNumber in one SET.
fn assert_out_of_order(cert: &Path) {
    let dump = must(&argv("asn1parse -in {}", &[p(cert)]), None).stdout;
    let lines: Vec<&str> = dump.lines().collect();
    let at = |value: &str| {
        let needle = format!(":{value}");
        let found = lines.iter().position(|l| l.trim_end().ends_with(&needle));
        found.unwrap_or_else(|| panic!("{value} not in the dump:\n{dump}"))
    };
    let (cn, sn) = (at(CN), at(SERIAL_NUMBER));
    let between = &lines[cn.min(sn)..cn.max(sn)];
    assert!(
        cn < sn && !between.iter().any(|l| l.contains("SET")),
        "expected CN then serialNumber in one SET (unsorted); the dump:\n{dump}"
    );
}

/// The certificate, a CAdES signature made with it, and the cases.
pub fn build(pki: &Pki, m: &Main, doc: &Path) -> Vec<Case> {
    let key = pki.key("c11", Alg::P256);
    let spki_file = pki.path("c11-spki.der");
    let args = argv(
        "pkey -in {} -pubout -outform DER -out {}",
        &[p(&key), p(&spki_file)],
    );
    must(&args, None);
    let spki = std::fs::read(&spki_file).unwrap();
    let der = certificate(&m.int, &spki, 0x00C1_1000);
    let pem = der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, &der).unwrap();
    let cert = Cert {
        pem: pki.write("c11.pem", pem),
        key,
        serial: 0x00C1_1000,
    };
    assert_out_of_order(&cert.pem);

    let int = pki.bundle("c11-chain", &[&m.int]);
    let sig = sign(pki, "c11", doc, &cert, &int, "-cades", None);
    let message = std::fs::read(&sig).unwrap();
    assert!(
        find(&message, &der).is_some(),
        "openssl cms -sign re-encoded the certificate"
    );
    let check = CmsCheck::new(Some(doc), &sig, &m.root);
    let path = PathCheck::new(&cert, &[&m.int], &m.root);
    let name = "C11 signer subject has an unsorted multi-valued RDN";
    let c11 = Case::new(name, check.cmds(), 0, OK);
    let name = "P24 leaf with an unsorted multi-valued RDN";
    vec![c11, Case::new(name, path.cmds(), 0, OK)]
}
