//! Every attribute of a key with a certificate, checked against the
//! certificate openssl made; the objects of each service's profiles.

use super::*;

/// A self-signed P-256 certificate made by openssl (DER).
fn openssl_certificate(dir: &std::path::Path) -> Vec<u8> {
    let out = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args([
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=Attribute test/O=Asan",
            "-outform",
            "DER",
        ])
        .arg("-keyout")
        .arg(dir.join("k.pem"))
        .arg("-out")
        .arg(dir.join("c.der"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    std::fs::read(dir.join("c.der")).unwrap()
}

#[test]
fn every_attribute_of_the_objects_of_a_key_with_its_certificate() {
    use der::{Decode, Encode};
    let tmp = tempfile::tempdir().unwrap();
    let der = openssl_certificate(tmp.path());
    let cert = x509_cert::Certificate::from_der(&der).unwrap();
    let tbs = cert.tbs_certificate();
    let subject = tbs.subject().to_der().unwrap();
    let issuer = tbs.issuer().to_der().unwrap();
    let serial = tbs.serial_number().to_der().unwrap();
    let point = tbs
        .subject_public_key_info()
        .subject_public_key
        .raw_bytes()
        .to_vec();
    let key = KeyRef::new(CertificateProfile::Business, KeyUsage::Signing);
    let mut f = fixture_with(ServiceType::Business, Some((key, &der)));
    let s = f.open(1);
    let class = |f: &mut Fixture, c: CK_OBJECT_CLASS| {
        f.m.find_init(s, &[(CKA_CLASS, ulong(c)), (CKA_ID, vec![0x22])])
            .unwrap();
        let h = f.m.find(s, 5).unwrap();
        f.m.find_final(s).unwrap();
        assert_eq!(h.len(), 1, "class {c}");
        h[0]
    };
    let b = |v: &[u8]| Value::Bytes(v.to_vec());
    let yes = || Value::Bytes(vec![CK_TRUE]);
    let no = || Value::Bytes(vec![CK_FALSE]);
    let label = b(b"Business signing");
    let mut octet = vec![0x04, 0x41];
    octet.extend_from_slice(&point);
    let mechanisms: Vec<u8> = [CKM_ECDSA, CKM_ECDSA_SHA256]
        .iter()
        .flat_map(|m| m.to_ne_bytes())
        .collect();
    let c = class(&mut f, CKO_CERTIFICATE);
    let pubk = class(&mut f, CKO_PUBLIC_KEY);
    let privk = class(&mut f, CKO_PRIVATE_KEY);
    let expected: Vec<(CK_OBJECT_HANDLE, CK_ATTRIBUTE_TYPE, Value)> = vec![
        (c, CKA_CLASS, b(&ulong(CKO_CERTIFICATE))),
        (c, CKA_TOKEN, yes()),
        (c, CKA_PRIVATE, no()),
        (c, CKA_MODIFIABLE, no()),
        (c, CKA_DESTROYABLE, no()),
        (c, CKA_CERTIFICATE_TYPE, b(&ulong(CKC_X_509))),
        (c, CKA_VALUE, b(&der)),
        (c, CKA_SUBJECT, b(&subject)),
        (c, CKA_ISSUER, b(&issuer)),
        (c, CKA_SERIAL_NUMBER, b(&serial)),
        (c, CKA_ID, b(&[0x22])),
        (c, CKA_LABEL, label.clone()),
        (c, CKA_TRUSTED, no()),
        (c, CKA_CERTIFICATE_CATEGORY, b(&ulong(1))),
        (c, CKA_JAVA_MIDP_SECURITY_DOMAIN, b(&ulong(0))),
        (c, CKA_URL, b(&[])),
        (c, CKA_SIGN, Value::Invalid),
        (pubk, CKA_CLASS, b(&ulong(CKO_PUBLIC_KEY))),
        (pubk, CKA_KEY_TYPE, b(&ulong(CKK_EC))),
        (pubk, CKA_ID, b(&[0x22])),
        (pubk, CKA_LABEL, label.clone()),
        (pubk, CKA_EC_PARAMS, b(&crate::core::objects::P256_PARAMS)),
        (pubk, CKA_EC_POINT, b(&octet)),
        (pubk, CKA_SUBJECT, b(&subject)),
        (pubk, CKA_LOCAL, yes()),
        (pubk, CKA_KEY_GEN_MECHANISM, b(&ulong(CKM_EC_KEY_PAIR_GEN))),
        (pubk, CKA_DERIVE, no()),
        (pubk, CKA_START_DATE, b(&[])),
        (pubk, CKA_ALLOWED_MECHANISMS, b(&mechanisms)),
        (pubk, CKA_VERIFY, yes()),
        (pubk, CKA_ENCRYPT, no()),
        (pubk, CKA_WRAP, no()),
        (pubk, CKA_TRUSTED, no()),
        (pubk, CKA_PRIVATE, no()),
        (pubk, CKA_SIGN, Value::Invalid),
        (privk, CKA_CLASS, b(&ulong(CKO_PRIVATE_KEY))),
        (privk, CKA_KEY_TYPE, b(&ulong(CKK_EC))),
        (privk, CKA_SUBJECT, b(&subject)),
        (privk, CKA_SIGN, yes()),
        (privk, CKA_DECRYPT, no()),
        (privk, CKA_SENSITIVE, yes()),
        (privk, CKA_EXTRACTABLE, no()),
        (privk, CKA_ALWAYS_AUTHENTICATE, yes()),
        (privk, CKA_PRIVATE, no()),
        (privk, CKA_VALUE, Value::Sensitive),
        (privk, CKA_EC_POINT, Value::Invalid),
    ];
    for (h, attribute, value) in expected {
        let got = f.m.attributes(s, h, &[attribute]).unwrap().remove(0);
        assert_eq!(got, value, "object {h}, attribute {attribute:#x}");
    }
    // The profile object.
    f.m.find_init(s, &[(CKA_CLASS, ulong(CKO_PROFILE))])
        .unwrap();
    let profile = f.m.find(s, 5).unwrap()[0];
    f.m.find_final(s).unwrap();
    assert_eq!(
        f.m.attributes(s, profile, &[CKA_PROFILE_ID, CKA_TOKEN, CKA_ID, CKA_LABEL])
            .unwrap(),
        vec![
            b(&ulong(CKP_PUBLIC_CERTIFICATES_TOKEN)),
            yes(),
            Value::Invalid,
            b(b"Public certificates")
        ]
    );
    // The applet's version is the token's.
    let info = f.m.token_info(1).unwrap();
    let card = &mut f.m.readers[0].card.as_mut().unwrap().card;
    let version = card.info().unwrap().applet_version;
    assert_eq!(format!("{}.{}", info.version.0, info.version.1), version);
}

#[test]
fn only_the_profiles_of_the_service_are_shown() {
    for (service, ids) in [
        (ServiceType::Citizen, vec![0x21]),
        (ServiceType::Business, vec![0x21, 0x22]),
        (ServiceType::Governmental, vec![0x21, 0x23]),
    ] {
        let mut f = fixture_with(service, None);
        let s = f.open(1);
        f.m.find_init(s, &[(CKA_CLASS, ulong(CKO_PRIVATE_KEY))])
            .unwrap();
        let keys = f.m.find(s, 10).unwrap();
        f.m.find_final(s).unwrap();
        let found: Vec<u8> = keys
            .iter()
            .map(
                |h| match f.m.attributes(s, *h, &[CKA_ID]).unwrap().remove(0) {
                    Value::Bytes(id) => id[0],
                    other => panic!("{other:?}"),
                },
            )
            .collect();
        assert_eq!(found, ids, "{service:?}");
        // No certificate on these cards, and none was looked for.
        assert!(f.m.readers[0].card.as_ref().unwrap().broken.is_empty());
    }
}
