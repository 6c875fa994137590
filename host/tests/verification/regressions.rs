//! Defects a review found in the verifier, each as the test that failed on
//! it: a "valid" where RFC 5280 and OpenSSL say no, a good signature
//! refused, a certificate checked that is not the one used.

use std::time::SystemTime;

use asan_host::Error;
use asan_host::cms::{Check, SignOptions, sign_detached, verify};
use asan_host::x509::SoftwareSigner;
use der::{Decode, Encode};
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::ext::pkix::{KeyUsage, KeyUsages};

use super::support::{Issued, Spec, YEAR, extension, make, resign_tbs};

const DOC: &[u8] = b"Muqavile 12: the parties agree.\n";

fn digest() -> [u8; 32] {
    <sha2::Sha256 as sha2::Digest>::digest(DOC).into()
}

fn sign(leaf: &Issued, chain: Vec<Vec<u8>>, signing_time: SystemTime) -> Vec<u8> {
    let mut key = SoftwareSigner(leaf.key.clone());
    let opts = SignOptions {
        chain,
        signing_time,
        signing_time_attribute: true,
        attached: None,
        timestamp: None,
    };
    sign_detached(&digest(), &leaf.der, &mut key, &opts).unwrap()
}

fn root() -> Issued {
    make(&Spec::ca("CN=Test Root,O=Test,C=AZ"), None)
}

#[test]
fn a_back_dated_signing_time_does_not_revive_an_expired_certificate() {
    let now = SystemTime::now();
    let root = root();
    let mut spec = Spec::signer("CN=Old Signer,C=AZ");
    spec.not_before = now - 4 * YEAR;
    spec.not_after = now - YEAR;
    let leaf = make(&spec, Some(&root));
    let claimed = now - 3 * YEAR;
    let signed = sign(&leaf, vec![], claimed);

    let v = verify(
        &signed,
        Some(&digest()),
        std::slice::from_ref(&root.der),
        now,
    )
    .unwrap();
    assert!(!v.valid, "{:#?}", v.checks);
    let failed = v.first_failure().unwrap();
    assert_eq!(failed.name, Check::VALIDITY, "{:#?}", v.checks);
    assert!(failed.detail.contains("expired"), "{failed:?}");
    assert!(
        v.signing_time.is_some(),
        "the claimed time is still reported"
    );

    // Asked about the time it claims (`--at`), the chain was valid then.
    let v = verify(
        &signed,
        Some(&digest()),
        std::slice::from_ref(&root.der),
        claimed,
    )
    .unwrap();
    assert!(v.valid, "{:#?}", v.checks);
}

/// A signature by a leaf under `intermediate` (issued by `root`) over DOC,
/// with the intermediate in the message.
fn verdict(root: &Issued, intermediate: &Issued, leaf_spec: &Spec) -> (bool, String) {
    let leaf = make(leaf_spec, Some(intermediate));
    let signed = sign(&leaf, vec![intermediate.der.clone()], SystemTime::now());
    let v = verify(
        &signed,
        Some(&digest()),
        std::slice::from_ref(&root.der),
        SystemTime::now(),
    )
    .unwrap();
    let failure = v
        .first_failure()
        .map(|c| format!("{}: {}", c.name, c.detail))
        .unwrap_or_default();
    (v.valid, failure)
}

#[test]
fn what_rfc_5280_refuses_is_refused() {
    let root = root();
    let good = make(&Spec::ca("CN=Issuing CA,O=Test,C=AZ"), Some(&root));
    let signer = Spec::signer("CN=Signer,C=AZ");
    assert_eq!(verdict(&root, &good, &signer), (true, String::new()));

    let mut no_cert_sign = Spec::ca("CN=Issuing CA,O=Test,C=AZ");
    no_cert_sign.key_usage = Some(KeyUsage(KeyUsages::DigitalSignature.into()));
    let no_cert_sign = make(&no_cert_sign, Some(&root));

    let mut zero = Spec::ca("CN=Test Root,O=Test,C=AZ");
    zero.ca = Some(Some(0));
    let zero_root = make(&zero, None);
    let under_zero = make(&Spec::ca("CN=Issuing CA,O=Test,C=AZ"), Some(&zero_root));

    let mut critical = signer.clone();
    critical.extra = vec![extension("1.2.3.4.5", true, &[0x05, 0x00])];
    let mut server_only = signer.clone();
    server_only.eku = Some(vec![der::oid::db::rfc5280::ID_KP_SERVER_AUTH]);
    let mut is_ca = signer.clone();
    is_ca.ca = Some(None);

    let cases = [
        (
            "intermediate without keyCertSign",
            &root,
            &no_cert_sign,
            &signer,
            "keyCertSign",
        ),
        (
            "path longer than pathLenConstraint",
            &zero_root,
            &under_zero,
            &signer,
            "pathLenConstraint",
        ),
        (
            "unknown critical extension",
            &root,
            &good,
            &critical,
            "1.2.3.4.5",
        ),
        (
            "signer EKU serverAuth only",
            &root,
            &good,
            &server_only,
            "serverAuth",
        ),
        ("signer is a CA", &root, &good, &is_ca, "CA"),
    ];
    for (name, root, intermediate, leaf, needle) in cases {
        let (valid, failure) = verdict(root, intermediate, leaf);
        assert!(!valid, "{name}: accepted");
        assert!(failure.contains(needle), "{name}: {failure}");
    }
}

#[test]
fn a_leaf_is_not_a_trust_anchor() {
    let root = root();
    let leaf = make(&Spec::signer("CN=Signer,C=AZ"), Some(&root));
    let signed = sign(&leaf, vec![], SystemTime::now());
    match verify(
        &signed,
        Some(&digest()),
        std::slice::from_ref(&leaf.der),
        SystemTime::now(),
    ) {
        Err(Error::Usage(m)) => assert!(m.contains("not a CA"), "{m}"),
        other => panic!("a leaf as trust anchor: {other:?}"),
    }
}

/// `message` with one more certificate in its SignedData.
fn with_certificate(message: &[u8], cert: &[u8]) -> Vec<u8> {
    use cms::cert::CertificateChoices;
    use cms::content_info::ContentInfo;
    use cms::signed_data::SignedData;
    let ci = ContentInfo::from_der(message).unwrap();
    let mut sd: SignedData = ci.content.decode_as().unwrap();
    let set = sd.certificates.as_mut().unwrap();
    let cert = x509_cert::Certificate::from_der(cert).unwrap();
    set.0.insert(CertificateChoices::Certificate(cert)).unwrap();
    ContentInfo {
        content_type: ci.content_type,
        content: der::asn1::Any::encode_from(&sd).unwrap(),
    }
    .to_der()
    .unwrap()
}

#[test]
fn two_certificates_matching_the_signer_identifier_are_refused() {
    let root = root();
    let leaf = make(&Spec::signer("CN=Signer,C=AZ"), Some(&root));
    // Same issuer name and serial number, another key, signed by a fake CA
    // that has the root's name; one sorts before the signer's, one after.
    let fake = make(&Spec::ca("CN=Test Root,O=Test,C=AZ"), None);
    for subject in [
        "CN=J,C=AZ",
        "CN=Junk with a much longer name than the signer's,C=AZ",
    ] {
        let junk = make(&Spec::signer(subject), Some(&fake));
        let signed = with_certificate(&sign(&leaf, vec![], SystemTime::now()), &junk.der);
        let v = verify(
            &signed,
            Some(&digest()),
            std::slice::from_ref(&root.der),
            SystemTime::now(),
        )
        .unwrap();
        assert!(!v.valid, "{subject}: {:#?}", v.checks);
        let failed = v.first_failure().unwrap();
        assert_eq!(failed.name, Check::STRUCTURE, "{subject}: {failed:?}");
        assert!(failed.detail.contains("match"), "{subject}: {failed:?}");
    }
}

#[test]
fn an_unsorted_multi_valued_rdn_is_verified_as_received() {
    let root = root();
    let spec = Spec::signer("CN=Aysel Quliyeva+SERIALNUMBER=7XYZ123,C=AZ");
    let sorted = make(&spec, Some(&root));
    let cert = x509_cert::Certificate::from_der(&sorted.der).unwrap();
    let rdn = cert
        .tbs_certificate()
        .subject()
        .iter_rdn()
        .find(|r| r.len() == 2)
        .unwrap();
    let atvs: Vec<Vec<u8>> = rdn
        .iter()
        .map(|a: &AttributeTypeAndValue| a.to_der().unwrap())
        .collect();
    let (a, b) = (&atvs[0], &atvs[1]);
    let unsorted = resign_tbs(&sorted.der, &root.key, |tbs| {
        let pair = [a.as_slice(), b.as_slice()].concat();
        let at = tbs
            .windows(pair.len())
            .position(|w| w == pair)
            .expect("the RDN is in the tbs");
        let swapped = [b.as_slice(), a.as_slice()].concat();
        tbs.splice(at..at + pair.len(), swapped);
    });
    assert_ne!(unsorted, sorted.der);
    let leaf = Issued {
        key: sorted.key.clone(),
        der: unsorted.clone(),
    };
    // Signing keeps the certificate's bytes, and verification checks them.
    let signed = sign(&leaf, vec![], SystemTime::now());
    assert!(
        signed.windows(unsorted.len()).any(|w| w == unsorted),
        "the message carries the certificate as received"
    );
    let v = verify(
        &signed,
        Some(&digest()),
        std::slice::from_ref(&root.der),
        SystemTime::now(),
    )
    .unwrap();
    assert!(v.valid, "{:#?}", v.checks);
}
