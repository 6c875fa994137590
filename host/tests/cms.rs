//! CMS document signatures: made with a software key or the card, checked
//! by our verifier (each failure named) and by the real `openssl cms`;
//! openssl's own signatures; the Wycheproof ECDSA P-256 vectors; streaming.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "cms/cli.rs"]
mod cli;
#[path = "cms/interop.rs"]
mod interop;
#[path = "common/pki.rs"]
mod pki;
#[path = "cms/support.rs"]
mod support;

use std::time::SystemTime;

use asan_applet::{KeyUsage, PinRef};
use asan_host::Error;
use asan_host::cms::{
    Check, ID_AA_SIGNING_CERTIFICATE_V2, SignOptions, SigningCertificateV2, Verification,
    sign_detached, verify,
};
use asan_host::x509::{DigestSigner, SoftwareSigner};
use der::asn1::{Any, SetOfVec};
use der::{Decode, Encode};
use support::{DAY, Setup, opts, resign, sha256};

const DOC: &[u8] = b"Muqavila No 17: the parties agree.\n";

/// The failed checks of `v`, by name, but for rustls-webpki's verdict on
/// the path (which fails with any path check).
fn failures(v: &Verification) -> Vec<&'static str> {
    v.checks
        .iter()
        .filter(|c| !c.ok && c.name != Check::WEBPKI)
        .map(|c| c.name)
        .collect()
}

/// The one failed check of `v`, by name (rustls-webpki's aside).
fn only_failure(v: &Verification) -> &'static str {
    let failed = failures(v);
    assert_eq!(failed.len(), 1, "{:#?}", v.checks);
    failed[0]
}

#[test]
fn our_signature_verifies_detached_and_attached() {
    let s = Setup::new();
    let (mut key, cert) = s.signing();
    let now = SystemTime::now();
    let digest = sha256(DOC);
    let der = sign_detached(&digest, &cert, &mut key, &opts(now)).unwrap();
    let v = verify(&der, Some(&digest), &[s.ca.root_der()], now).unwrap();
    assert!(v.valid, "{:#?}", v.checks);
    let names: Vec<_> = v.checks.iter().map(|c| c.name).collect();
    assert_eq!(
        names,
        [
            Check::STRUCTURE,
            Check::CONTENT_DIGEST,
            Check::SIGNATURE,
            Check::CONTENT_TYPE,
            Check::SIGNING_TIME,
            Check::SIGNING_CERTIFICATE,
            Check::CHAIN,
            Check::CERTIFICATE_SIGNATURES,
            Check::VALIDITY,
            Check::BASIC_CONSTRAINTS,
            Check::END_ENTITY,
            Check::PATH_LENGTH,
            Check::ISSUER_KEY_USAGE,
            Check::CRITICAL_EXTENSIONS,
            Check::KEY_USAGE,
            Check::EXTENDED_KEY_USAGE,
            Check::REVOCATION,
            Check::WEBPKI,
        ]
    );
    assert!(v.signer.as_deref().unwrap().contains("Leyla"));
    assert!(v.signing_time.is_some());
    let ess = v.check(Check::SIGNING_CERTIFICATE).unwrap();
    assert!(ess.detail.contains(&hex::encode(sha256(&cert))), "{ess:?}");

    // A detached signature without the content is a structure failure.
    let v = verify(&der, None, &[s.ca.root_der()], now).unwrap();
    assert_eq!(only_failure(&v), Check::STRUCTURE);

    let attached = SignOptions {
        attached: Some(DOC.to_vec()),
        ..opts(now)
    };
    let der = sign_detached(&digest, &cert, &mut key, &attached).unwrap();
    let v = verify(&der, None, &[s.ca.root_der()], now).unwrap();
    assert!(v.valid, "{:#?}", v.checks);
    let v = verify(&der, Some(&digest), &[s.ca.root_der()], now).unwrap();
    assert!(v.valid, "{:#?}", v.checks);
    // PEM works too.
    let pem = der::pem::encode_string("CMS", der::pem::LineEnding::LF, &der).unwrap();
    assert!(
        verify(pem.as_bytes(), None, &[s.ca.root_der()], now)
            .unwrap()
            .valid
    );
}

#[test]
fn modified_content_fails_the_content_digest() {
    let s = Setup::new();
    let (mut key, cert) = s.signing();
    let now = SystemTime::now();
    let der = sign_detached(&sha256(DOC), &cert, &mut key, &opts(now)).unwrap();
    let other = sha256(b"Muqavila No 18: the parties agree.\n");
    let v = verify(&der, Some(&other), &[s.ca.root_der()], now).unwrap();
    assert!(!v.valid);
    assert_eq!(only_failure(&v), Check::CONTENT_DIGEST);
    assert!(v.first_failure().unwrap().detail.contains("changed"));

    // Attached: the embedded content changed, or another file given.
    let attached = SignOptions {
        attached: Some(DOC.to_vec()),
        ..opts(now)
    };
    let der = sign_detached(&sha256(DOC), &cert, &mut key, &attached).unwrap();
    let v = verify(&der, Some(&other), &[s.ca.root_der()], now).unwrap();
    assert_eq!(only_failure(&v), Check::CONTENT_DIGEST);
    let mut changed = der.clone();
    let at = changed.windows(8).position(|w| w == &DOC[..8]).unwrap();
    changed[at] ^= 0x20;
    let v = verify(&changed, None, &[s.ca.root_der()], now).unwrap();
    assert_eq!(only_failure(&v), Check::CONTENT_DIGEST);
    let v = verify(&changed, Some(&sha256(DOC)), &[s.ca.root_der()], now).unwrap();
    assert_eq!(only_failure(&v), Check::CONTENT_DIGEST);
    assert!(v.first_failure().unwrap().detail.contains("embedded"));
}

#[test]
fn modified_signed_attribute_fails_the_signature() {
    let s = Setup::new();
    let (mut key, cert) = s.signing();
    let now = SystemTime::now();
    let digest = sha256(DOC);
    // A minute ahead, so one second more or less stays after the root's start.
    let mut der = sign_detached(&digest, &cert, &mut key, &opts(now + DAY / 1440)).unwrap();
    // signingTime OID, SET, UTCTime "YYMMDDhhmmssZ": change the last second digit.
    let oid = [
        0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x05,
    ];
    let at = der.windows(oid.len()).position(|w| w == oid).unwrap();
    let digit = at + oid.len() + 4 + 11;
    assert_eq!(der[digit + 1], b'Z');
    der[digit] = if der[digit] == b'9' {
        b'8'
    } else {
        der[digit] + 1
    };
    let v = verify(&der, Some(&digest), &[s.ca.root_der()], now).unwrap();
    assert_eq!(only_failure(&v), Check::SIGNATURE);
}

#[test]
fn wrong_trust_anchor_fails_the_chain() {
    let s = Setup::new();
    let other = Setup::new();
    let (mut key, cert) = s.signing();
    let now = SystemTime::now();
    let digest = sha256(DOC);
    let der = sign_detached(&digest, &cert, &mut key, &opts(now)).unwrap();
    // The other root has the same name, but its key did not sign.
    let v = verify(&der, Some(&digest), &[other.ca.root_der()], now).unwrap();
    assert_eq!(
        failures(&v),
        [Check::CHAIN, Check::CERTIFICATE_SIGNATURES],
        "{:#?}",
        v.checks
    );
    assert!(
        v.first_failure()
            .unwrap()
            .detail
            .contains("does not verify")
    );
    let v = verify(&der, Some(&digest), &[], now).unwrap();
    assert_eq!(only_failure(&v), Check::CHAIN);
    assert!(
        v.first_failure()
            .unwrap()
            .detail
            .contains("no trust anchor")
    );
}

#[test]
fn an_expired_certificate_fails_validity() {
    let s = Setup::new();
    // Issued 1096 days ago for 1095 days: expired yesterday.
    let (mut key, cert) = s.signer(KeyUsage::Signing, SystemTime::now() - DAY * 1096);
    let now = SystemTime::now();
    let digest = sha256(DOC);
    let der = sign_detached(&digest, &cert, &mut key, &opts(now)).unwrap();
    let v = verify(&der, Some(&digest), &[s.ca.root_der()], now).unwrap();
    assert_eq!(only_failure(&v), Check::VALIDITY);
    assert!(v.first_failure().unwrap().detail.contains("expired"));
    // A signing time in the future is refused as such.
    let der = sign_detached(&digest, &cert, &mut key, &opts(now + DAY * 30)).unwrap();
    let v = verify(&der, Some(&digest), &[s.ca.root_der()], now).unwrap();
    assert_eq!(v.first_failure().unwrap().name, Check::SIGNING_TIME);
}

#[test]
fn authentication_certificate_fails_key_usage() {
    let s = Setup::new();
    let (mut key, cert) = s.signer(KeyUsage::Authentication, SystemTime::now() - DAY);
    let now = SystemTime::now();
    let digest = sha256(DOC);
    let der = sign_detached(&digest, &cert, &mut key, &opts(now)).unwrap();
    let v = verify(&der, Some(&digest), &[s.ca.root_der()], now).unwrap();
    assert_eq!(
        failures(&v),
        [Check::KEY_USAGE, Check::EXTENDED_KEY_USAGE],
        "{:#?}",
        v.checks
    );
    assert!(v.first_failure().unwrap().detail.contains("nonRepudiation"));
}

#[test]
fn wrong_signing_certificate_hash_fails_even_if_openssl_accepts_it() {
    let s = Setup::new();
    let (mut key, cert) = s.signing();
    let now = SystemTime::now();
    let digest = sha256(DOC);
    let der = sign_detached(&digest, &cert, &mut key, &opts(now)).unwrap();
    let tampered = resign(&der, &mut key, false, |info| {
        let attrs = info.signed_attrs.as_mut().unwrap();
        let mut list: Vec<_> = attrs.iter().cloned().collect();
        for attr in &mut list {
            if attr.oid == ID_AA_SIGNING_CERTIFICATE_V2 {
                let value = attr.values.as_slice()[0].clone();
                let mut ess: SigningCertificateV2 = value.decode_as().unwrap();
                let mut hash = ess.certs[0].cert_hash.as_bytes().to_vec();
                hash[0] ^= 1;
                ess.certs[0].cert_hash = der::asn1::OctetString::new(hash).unwrap();
                let any = Any::from_der(&ess.to_der().unwrap()).unwrap();
                attr.values = SetOfVec::try_from(vec![any]).unwrap();
            }
        }
        *attrs = SetOfVec::try_from(list).unwrap();
    });
    // Ours: the untampered signature is valid, the tampered one fails on
    // exactly the signing-certificate check.
    let v = verify(&der, Some(&digest), &[s.ca.root_der()], now).unwrap();
    assert!(v.valid, "{:#?}", v.checks);
    let v = verify(&tampered, Some(&digest), &[s.ca.root_der()], now).unwrap();
    assert_eq!(only_failure(&v), Check::SIGNING_CERTIFICATE);

    // OpenSSL's `cms -verify` (3.0) does not look at the ESS
    // signing-certificate-v2 hash: it accepts the tampered signature. That is
    // the "even if" of this test's name: if OpenSSL ever refuses it, this
    // assertion fails, and the table in docs/verification.md must change.
    let doc = s.path("doc.txt");
    std::fs::write(&doc, DOC).unwrap();
    let root = s.ca.dir().join("root.pem");
    let openssl_verify = |cms: &[u8], name: &str, content: &std::path::Path| {
        let p7s = s.path(name);
        std::fs::write(&p7s, cms).unwrap();
        support::openssl(&[
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            support::p(&p7s),
            "-content",
            support::p(content),
            "-CAfile",
            support::p(&root),
            "-out",
            "/dev/null",
        ])
    };
    let (ok, text) = openssl_verify(&tampered, "ess.p7s", &doc);
    assert!(
        ok && text.contains("Verification successful"),
        "OpenSSL's verdict on a wrong signing-certificate-v2 hash changed: {text}"
    );
    // The same OpenSSL command does verify: the signature over another
    // document fails it, the untampered one passes.
    let other = s.path("other.txt");
    std::fs::write(&other, b"another document").unwrap();
    let (ok, text) = openssl_verify(&tampered, "ess-other.p7s", &other);
    assert!(
        !ok && text.contains("Verification failure"),
        "OpenSSL accepted the signature over another document: {text}"
    );
    let (ok, text) = openssl_verify(&der, "good.p7s", &doc);
    assert!(ok, "OpenSSL refused the untampered signature: {text}");
}

#[test]
fn raw_r_s_signature_value_is_accepted() {
    let s = Setup::new();
    let (mut key, cert) = s.signing();
    let now = SystemTime::now();
    let digest = sha256(DOC);
    let der = sign_detached(&digest, &cert, &mut key, &opts(now)).unwrap();
    let raw = resign(&der, &mut key, true, |_| {});
    let v = verify(&raw, Some(&digest), &[s.ca.root_der()], now).unwrap();
    assert!(v.valid, "{:#?}", v.checks);
    assert!(v.check(Check::SIGNATURE).unwrap().detail.contains("raw"));
}

#[test]
fn garbage_and_truncated_input_are_errors_not_panics() {
    let s = Setup::new();
    let (mut key, cert) = s.signing();
    let now = SystemTime::now();
    let digest = sha256(DOC);
    let der = sign_detached(&digest, &cert, &mut key, &opts(now)).unwrap();
    let anchors = [s.ca.root_der()];
    for bad in [
        &b""[..],
        b"\x30",
        b"\x30\x80\x00\x00",
        b"garbage",
        b"-----BEGIN CMS-----\n!!\n",
    ] {
        assert!(matches!(
            verify(bad, Some(&digest), &anchors, now),
            Err(Error::Verification(_))
        ));
    }
    for len in (0..der.len()).step_by(3) {
        let r = verify(&der[..len], Some(&digest), &anchors, now);
        assert!(
            matches!(r, Err(Error::Verification(_))),
            "truncated to {len}"
        );
    }
    // A changed byte anywhere never gives a valid signature (and never panics).
    for at in (0..der.len()).step_by(11) {
        let mut bad = der.clone();
        bad[at] ^= 0x5A;
        if let Ok(v) = verify(&bad, Some(&digest), &anchors, now) {
            assert!(!v.valid, "byte {at} changed, still valid: {:#?}", v.checks);
        }
    }
    let e = verify(&der, Some(&digest), &[b"not a cert".to_vec()], now);
    assert!(matches!(e, Err(Error::Certificate(_))));
}

/// A signer that answers what the card would when PIN2 is wrong or blocked.
struct Refusing(SoftwareSigner, Option<u8>);

impl DigestSigner for Refusing {
    fn public_key(&self) -> p256::PublicKey {
        self.0.public_key()
    }
    fn sign_digest(&mut self, _: &[u8; 32]) -> asan_host::Result<[u8; 64]> {
        Err(match self.1 {
            Some(tries_left) => Error::WrongPin {
                pin: PinRef::Pin2,
                tries_left,
            },
            None => Error::Blocked { pin: PinRef::Pin2 },
        })
    }
}

#[test]
fn the_signers_error_comes_back_unchanged() {
    let s = Setup::new();
    let (key, cert) = s.signing();
    let now = SystemTime::now();
    let mut refusing = Refusing(key, Some(2));
    let e = sign_detached(&sha256(DOC), &cert, &mut refusing, &opts(now)).unwrap_err();
    assert!(
        matches!(
            e,
            Error::WrongPin {
                pin: PinRef::Pin2,
                tries_left: 2
            }
        ),
        "{e:?}"
    );
    refusing.1 = None;
    let e = sign_detached(&sha256(DOC), &cert, &mut refusing, &opts(now)).unwrap_err();
    assert!(matches!(e, Error::Blocked { pin: PinRef::Pin2 }), "{e:?}");
}

#[test]
fn a_certificate_of_another_key_or_wrong_attached_content_is_refused() {
    let s = Setup::new();
    let (mut key, _) = s.signing();
    let (_, other_cert) = s.signing();
    let now = SystemTime::now();
    let e = sign_detached(&sha256(DOC), &other_cert, &mut key, &opts(now)).unwrap_err();
    assert!(matches!(e, Error::Certificate(_)), "{e:?}");
    let (mut key, cert) = s.signing();
    let wrong = SignOptions {
        attached: Some(b"other".to_vec()),
        ..opts(now)
    };
    let e = sign_detached(&sha256(DOC), &cert, &mut key, &wrong).unwrap_err();
    assert!(matches!(e, Error::Usage(_)), "{e:?}");
}
