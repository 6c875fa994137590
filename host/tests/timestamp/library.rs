//! The library: signing with a token, a moved token, no signing-time.

use std::net::TcpListener;
use std::time::{Duration, SystemTime};

use asan_host::cms::{Check, SignOptions, VerifyOptions, sign_detached, timestamp_of, verify_with};
use asan_host::pki::TrustAnchors;
use asan_host::tsp::{Tsa, TsaClient};
use asan_host::x509::{DevCa, SoftwareSigner, SubjectInfo, build_csr, subject_name};

struct Lab {
    _dir: tempfile::TempDir,
    ca: DevCa,
    url: String,
}

/// A development CA and its TSA served in this process.
fn lab() -> Lab {
    let dir = tempfile::tempdir().unwrap();
    let ca = DevCa::init(&dir.path().join("ca")).unwrap();
    let tsa = Tsa::init(&dir.path().join("tsa"), &ca, SystemTime::now()).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        asan_host::tsp::serve::serve(&tsa, &listener, &|| false, &mut |_| {}).unwrap();
    });
    Lab { _dir: dir, ca, url }
}

fn signer(ca: &DevCa) -> (SoftwareSigner, Vec<u8>) {
    let mut key = SoftwareSigner::generate().unwrap();
    let info = SubjectInfo {
        name: "Leyla Həsənova".into(),
        id: "6XKQ2P1".into(),
        organisation: None,
        voen: None,
    };
    let subject = subject_name(asan_applet::CertificateProfile::Citizen, &info).unwrap();
    let csr = build_csr(subject, &mut key).unwrap();
    let cert = ca
        .issue(
            &csr,
            asan_applet::CertificateProfile::Citizen,
            asan_applet::KeyUsage::Signing,
            SystemTime::now() - Duration::from_secs(86_400),
        )
        .unwrap();
    (key, cert)
}

fn stamped_options(url: &str) -> SignOptions {
    SignOptions {
        timestamp: Some(TsaClient::new(url).unwrap()),
        ..SignOptions::new(SystemTime::now())
    }
}

#[test]
fn a_token_moved_to_another_signature_fails() {
    let lab = lab();
    let (mut key, cert) = signer(&lab.ca);
    let opts = stamped_options(&lab.url);
    let a = sign_detached(&[1u8; 32], &cert, &mut key, &opts).unwrap();
    let b = sign_detached(&[2u8; 32], &cert, &mut key, &opts).unwrap();
    let anchors = TrustAnchors::from_der(&[lab.ca.root_der()], "root").unwrap();
    let at = VerifyOptions::at(SystemTime::now() + Duration::from_secs(60));
    let v = verify_with(&a, Some(&[1u8; 32]), &anchors, &at).unwrap();
    assert!(v.valid, "{:#?}", v.checks);
    let report = v.timestamp.as_ref().unwrap();
    assert_eq!(report.token(), timestamp_of(&a).unwrap().unwrap().token);
    assert!(report.gen_time() <= SystemTime::now());

    // b's signer info with a's token.
    use der::{Decode, Encode};
    let take = |der: &[u8]| {
        let ci = cms::content_info::ContentInfo::from_der(der).unwrap();
        let sd: cms::signed_data::SignedData = ci.content.decode_as().unwrap();
        (ci.content_type, sd)
    };
    let (_, sd_a) = take(&a);
    let (ty, mut sd_b) = take(&b);
    let mut info = sd_b.signer_infos.0.as_slice()[0].clone();
    info.unsigned_attrs = sd_a.signer_infos.0.as_slice()[0].unsigned_attrs.clone();
    sd_b.signer_infos =
        cms::signed_data::SignerInfos(der::asn1::SetOfVec::try_from(vec![info]).unwrap());
    let moved = cms::content_info::ContentInfo {
        content_type: ty,
        content: der::asn1::Any::encode_from(&sd_b).unwrap(),
    }
    .to_der()
    .unwrap();
    let v = verify_with(&moved, Some(&[2u8; 32]), &anchors, &at).unwrap();
    assert!(!v.valid);
    let failed: Vec<_> = v.checks.iter().filter(|c| !c.ok).map(|c| c.name).collect();
    assert_eq!(failed, [Check::TIMESTAMP], "{:#?}", v.checks);
    assert!(
        v.check(Check::TIMESTAMP)
            .unwrap()
            .detail
            .contains("it is not a token for this data")
    );
    assert_eq!(v.validation_time, asan_host::pki::rfc3339(at.at));
    assert!(!v.timestamp.as_ref().unwrap().valid);
}

#[test]
fn without_the_signing_time_attribute() {
    let lab = lab();
    let (mut key, cert) = signer(&lab.ca);
    let opts = SignOptions {
        signing_time_attribute: false,
        ..stamped_options(&lab.url)
    };
    let der = sign_detached(&[5u8; 32], &cert, &mut key, &opts).unwrap();
    let anchors = TrustAnchors::from_der(&[lab.ca.root_der()], "root").unwrap();
    let v = verify_with(
        &der,
        Some(&[5u8; 32]),
        &anchors,
        &VerifyOptions::at(SystemTime::now()),
    )
    .unwrap();
    assert!(v.valid, "{:#?}", v.checks);
    assert!(v.signing_time.is_none());
    assert!(
        v.check(Check::SIGNING_TIME)
            .unwrap()
            .detail
            .starts_with("absent")
    );
    assert!(v.timestamp.as_ref().unwrap().valid);
    // And without a TSA: a plain signature without signing-time.
    let opts = SignOptions {
        signing_time_attribute: false,
        ..SignOptions::new(SystemTime::now())
    };
    let der = sign_detached(&[5u8; 32], &cert, &mut key, &opts).unwrap();
    assert!(timestamp_of(&der).unwrap().is_none());
    let v = verify_with(
        &der,
        Some(&[5u8; 32]),
        &anchors,
        &VerifyOptions::at(SystemTime::now()),
    )
    .unwrap();
    assert!(v.valid && v.timestamp.is_none(), "{:#?}", v.checks);
}

#[test]
fn a_tsa_that_fails_fails_the_signing() {
    let lab = lab();
    let (mut key, cert) = signer(&lab.ca);
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let opts = SignOptions {
        timestamp: Some(
            TsaClient::new(&format!("http://{}/", silent.local_addr().unwrap()))
                .unwrap()
                .with_timeout(Duration::from_millis(200)),
        ),
        ..SignOptions::new(SystemTime::now())
    };
    match sign_detached(&[5u8; 32], &cert, &mut key, &opts) {
        Err(asan_host::Error::Timestamp(m)) => assert!(m.contains("no answer within 0.2 s"), "{m}"),
        other => panic!("{other:?}"),
    }
}
