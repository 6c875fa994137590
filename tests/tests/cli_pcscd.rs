//! The `asan` command line through the real PC/SC stack: pcscd with the
//! vpcd driver and `asan-vcard` processes on the vpcd slots 35965 (reader
//! "Virtual PCD 35965 00 00") and 35966 ("Virtual PCD 35965 00 01"). The
//! card images are personalised in-process before the card processes start.
//!
//! Covered: `asan readers` (the virtual reader with an Asan İmza card),
//! `--reader` picking one of two cards and the error when a substring
//! matches both, `info`, `pin status`, a wrong PIN (exit 3), `sign --digest`
//! and `auth --challenge` whose signatures verify, `cert read`, `--trace`
//! with hidden PIN blocks, and `--reader nonexistent` (exit 1 naming the
//! reader).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../host/tests/common/run.rs"]
mod run;

use std::path::{Path, PathBuf};
use std::process::Command;

use asan_tests::operator::{self, Operator, Tx};
use asan_tests::{VirtualReader, asan_binary, reader_for};
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::ecdsa::{Signature, VerifyingKey};

use run::{Asan, Out};

const PORT: u16 = 35965;
const SECOND_PORT: u16 = 35966;
const SELECT: [u8; 15] = [
    0x00, 0xA4, 0x04, 0x0C, 0x0A, 0xF0, 0x41, 0x53, 0x41, 0x4E, 0x49, 0x4D, 0x5A, 0x41, 0x01,
];

/// Runs `asan args…` with `env` (and none of the test's own `ASAN_*`
/// variables), empty stdin, a time limit; checks no panic, an exit code of
/// the contract and no PIN of `env` in the output (`common/run.rs`).
fn asan(args: &[&str], env: &[(&str, &str)]) -> Out {
    env.iter()
        .fold(Asan::new(asan_binary()).args(args), |a, (k, v)| a.env(k, v))
        .run()
}

/// A personalised card image with a certificate issued by openssl for the
/// citizen signing key in A102; returns the image and the public keys of
/// keys 11 and 21.
fn personalised_image(dir: &Path, name: &str) -> (PathBuf, VerifyingKey, VerifyingKey) {
    let path = dir.join(format!("{name}.img"));
    let (mut card, created) = asan_vcard::VirtualCard::open(&path).unwrap();
    assert!(created);
    card.power_on();
    let mut transmit = |c: &[u8]| card.transmit(c).map_err(std::io::Error::other);
    let tx: &mut Tx<'_> = &mut transmit;
    operator::personalise(tx).unwrap();
    let mut key = |k: u8| {
        assert_eq!(tx(&SELECT).unwrap(), [0x90, 0x00]);
        let r = tx(&[0x00, 0x47, 0x81, k, 0x00]).unwrap();
        assert_eq!(&r[r.len() - 2..], [0x90, 0x00]);
        r[5..70].to_vec()
    };
    let (auth, sign) = (key(0x11), key(0x21));
    let der = certificate(dir, name, &sign);
    let mut op = Operator::open(tx, 0x03).unwrap();
    op.ok(tx, [0x80, 0xDA, 0xA1, 0x02], &der).unwrap();
    (
        path,
        VerifyingKey::from_sec1_bytes(&auth).unwrap(),
        VerifyingKey::from_sec1_bytes(&sign).unwrap(),
    )
}

/// A self-issued test certificate (DER) for the P-256 point `key`, also
/// written to `<name>.der`.
fn certificate(dir: &Path, name: &str, key: &[u8]) -> Vec<u8> {
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl is installed");
        assert!(out.status.success(), "openssl {args:?}: {out:?}");
    };
    let mut spki = hex::decode("3059301306072A8648CE3D020106082A8648CE3D030107034200").unwrap();
    spki.extend_from_slice(key);
    let key_file = format!("{name}.pub.der");
    std::fs::write(dir.join(&key_file), spki).unwrap();
    let (ca_key, csr, der) = (
        format!("{name}.ca.key"),
        format!("{name}.csr"),
        format!("{name}.der"),
    );
    openssl(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        &ca_key,
    ]);
    openssl(&[
        "req",
        "-new",
        "-key",
        &ca_key,
        "-subj",
        "/CN=Test Citizen/serialNumber=7GH2K4P",
        "-out",
        &csr,
    ]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        &csr,
        "-signkey",
        &ca_key,
        "-force_pubkey",
        &key_file,
        "-days",
        "365",
        "-outform",
        "DER",
        "-out",
        &der,
    ]);
    std::fs::read(dir.join(der)).unwrap()
}

fn verifies(key: &VerifyingKey, digest: &[u8], hex_signature: &str) -> bool {
    let bytes = hex::decode(hex_signature.trim()).unwrap();
    let sig = Signature::from_slice(&bytes).unwrap();
    key.verify_prehash(digest, &sig).is_ok()
}

/// Verifies a signature of the SHA-256 of `message` (p256 hashes it).
fn verifies_message(key: &VerifyingKey, message: &[u8], hex_signature: &str) -> bool {
    let bytes = hex::decode(hex_signature.trim()).unwrap();
    let sig = Signature::from_slice(&bytes).unwrap();
    key.verify(message, &sig).is_ok()
}

/// The value after `label` in `asan info` output.
fn field<'a>(text: &'a str, label: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(label))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {label} in\n{text}"))
}

/// The APDUs the card logged (`asan-vcard --verbose`) after its first
/// `lines` log lines: what reached it on the wire.
fn received_since(reader: &VirtualReader, lines: usize) -> Vec<String> {
    reader
        .log()
        .lines()
        .skip(lines)
        .filter(|l| l.contains(" -> "))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_cli_through_pcscd() {
    let dir = tempfile::tempdir().unwrap();
    let (image, auth_key, sign_key) = personalised_image(dir.path(), "first");
    let name = reader_for(PORT);

    // The serial the in-process virtual card reports, to recognise the card.
    let virtual_info = asan(&["--virtual", image.to_str().unwrap(), "info"], &[]);
    let serial = field(virtual_info.ok(), "Serial").to_owned();

    let reader = VirtualReader::start(PORT, &image);

    // asan readers: our reader, with an Asan İmza card.
    let out = asan(&["readers"], &[]);
    let line = out
        .ok()
        .lines()
        .find(|l| l.starts_with(name))
        .unwrap_or_else(|| panic!("{name} not listed:\n{}", out.stdout));
    assert_eq!(line, format!("{name}: Asan İmza card"));
    let json = asan(&["readers", "--json"], &[]);
    let text = json.ok();
    let at = text
        .find(&format!("\"name\": \"{name}\""))
        .unwrap_or_else(|| panic!("{text}"));
    let entry = &text[text[..at].rfind('{').unwrap()..at + text[at..].find('}').unwrap()];
    assert!(entry.contains("\"asan_imza\": true"), "{entry}");
    assert!(entry.contains("\"card_present\": true"), "{entry}");
    assert!(
        entry.contains("\"atr\": \"3B88014153414E494D5A418B\""),
        "{entry}"
    );

    // --reader with a substring of the name.
    let by_reader = ["--reader", "35965 00 00"];
    let info = asan(&[&by_reader[..], &["info"]].concat(), &[]);
    let text = info.ok();
    assert_eq!(field(text, "Card"), name);
    assert_eq!(field(text, "Serial"), serial);
    assert_eq!(field(text, "Life cycle"), "operational");
    assert_eq!(field(text, "Service"), "citizen, active");
    assert_eq!(field(text, "PIN2"), "3 of 3 tries left");
    assert!(
        field(text, "  citizen sign:").contains("CN=Test Citizen"),
        "{text}"
    );

    // pin status, a wrong PIN2 (exit 3), pin status again.
    let status = asan(&[&by_reader[..], &["pin", "status"]].concat(), &[]);
    assert_eq!(
        status.ok(),
        "PIN1: 3 of 3 tries left\nPIN2: 3 of 3 tries left\nPUK: 10 of 10 tries left\n"
    );
    let wrong = asan(
        &[&by_reader[..], &["pin", "verify", "pin2"]].concat(),
        &[("ASAN_PIN2", "97531")],
    );
    assert_eq!(
        wrong.fails(3, "wrong PIN2"),
        "asan: wrong PIN2, 2 tries left"
    );
    let status = asan(&[&by_reader[..], &["pin", "status"]].concat(), &[]);
    assert!(
        status.ok().contains("PIN2: 2 of 3 tries left"),
        "{}",
        status.stdout
    );

    // sign --digest: the signature verifies with the card's key; the right
    // PIN2 restores the counter.
    let digest: Vec<u8> = (0..32u8).map(|i| i.wrapping_mul(37) ^ 0xA5).collect();
    let out = asan(
        &[&by_reader[..], &["sign", "--digest", &hex::encode(&digest)]].concat(),
        &[("ASAN_PIN2", "12345")],
    );
    assert!(verifies(&sign_key, &digest, out.ok()), "{out:#?}");
    let status = asan(&[&by_reader[..], &["pin", "status"]].concat(), &[]);
    assert!(
        status.ok().contains("PIN2: 3 of 3 tries left"),
        "{}",
        status.stdout
    );

    // auth --challenge with the authentication key.
    let out = asan(
        &[&by_reader[..], &["auth", "--challenge", "pcscd login"]].concat(),
        &[("ASAN_PIN1", "1234")],
    );
    assert!(
        verifies_message(&auth_key, b"pcscd login", out.ok()),
        "{out:#?}"
    );

    // cert read: the certificate comes back byte for byte.
    let file = dir.path().join("read.der");
    asan(
        &[
            &by_reader[..],
            &[
                "cert",
                "read",
                "--profile",
                "citizen",
                "--usage",
                "sign",
                "-o",
                file.to_str().unwrap(),
            ],
        ]
        .concat(),
        &[],
    )
    .ok();
    assert_eq!(
        std::fs::read(&file).unwrap(),
        std::fs::read(dir.path().join("first.der")).unwrap()
    );

    // --trace: APDUs on stderr, the PIN block as ***.
    let card_lines = reader.log().lines().count();
    let out = asan(
        &[
            &by_reader[..],
            &["--trace", "sign", "--digest", &hex::encode(&digest)],
        ]
        .concat(),
        &[("ASAN_PIN2", "12345")],
    );
    assert!(verifies(&sign_key, &digest, out.ok()));
    // Contract 1.1: the SELECT that found the card and one PSO: CDS
    // carrying its PIN2 — two APDUs on the wire.
    let sent: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("asan: > "))
        .collect();
    assert_eq!(
        sent,
        [
            "asan: > 00A404000AF04153414E494D5A410100",
            "asan: > 002A9EAC2F ***"
        ],
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("3132333435"), "{}", out.stderr);
    // The card's own log agrees: it received exactly these two APDUs.
    let received = received_since(&reader, card_lines);
    assert_eq!(received.len(), 2, "{received:#?}");
    assert!(
        received[0].contains("00 A4 04 00 (16 bytes) -> 9000"),
        "{received:#?}"
    );
    assert!(
        received[1].contains("00 2A 9E AC (53 bytes) -> 9000 (64 bytes of data)"),
        "{received:#?}"
    );

    // `asan sign FILE` (CMS, the certificate read from the card): at most 4
    // APDUs on the wire — SELECT, SELECT EF, READ BINARY, PSO with PIN2.
    let document = dir.path().join("contract.txt");
    std::fs::write(&document, b"a contract signed through pcscd").unwrap();
    let card_lines = reader.log().lines().count();
    asan(
        &[&by_reader[..], &["sign", document.to_str().unwrap()]].concat(),
        &[("ASAN_PIN2", "12345")],
    )
    .ok();
    let received = received_since(&reader, card_lines);
    assert_eq!(received.len(), 4, "{received:#?}");
    assert!(received[3].contains("00 2A 9E AC"), "{received:#?}");

    // A second card: a substring that matches both readers is ambiguous,
    // a precise one picks the second.
    let (second_image, _, second_sign) = personalised_image(dir.path(), "second");
    let second_serial = field(
        asan(&["--virtual", second_image.to_str().unwrap(), "info"], &[]).ok(),
        "Serial",
    )
    .to_owned();
    let second = VirtualReader::start(SECOND_PORT, &second_image);
    let msg = asan(&["--reader", "Virtual PCD 35965", "info"], &[])
        .fails(1, "several readers hold an Asan İmza card")
        .to_owned();
    assert!(
        msg.contains(name) && msg.contains(reader_for(SECOND_PORT)),
        "{msg}"
    );
    assert!(msg.contains("--reader"), "{msg}");
    let text = asan(&["--reader", "35965 00 01", "info"], &[]);
    assert_eq!(field(text.ok(), "Serial"), second_serial);
    assert_eq!(field(text.ok(), "Card"), reader_for(SECOND_PORT));
    let out = asan(
        &[
            "--reader",
            "35965 00 01",
            "sign",
            "--digest",
            &hex::encode(&digest),
        ],
        &[("ASAN_PIN2", "12345")],
    );
    assert!(verifies(&second_sign, &digest, out.ok()));
    assert!(!verifies(&sign_key, &digest, out.ok()));
    let listed = asan(&["readers"], &[]);
    for n in [name, reader_for(SECOND_PORT)] {
        assert!(
            listed.ok().contains(&format!("{n}: Asan İmza card")),
            "{}",
            listed.stdout
        );
    }

    second.stop();
    reader.stop();
}

#[test]
fn a_reader_that_does_not_exist_is_named_in_the_error() {
    for args in [
        &["--reader", "nonexistent", "info"][..],
        &["--reader", "nonexistent", "pin", "status"][..],
        &["--reader", "nonexistent", "--json", "info"][..],
    ] {
        let out = asan(args, &[]);
        out.fails(1, "'nonexistent'");
    }
    let out = asan(
        &[
            "--reader",
            "nonexistent",
            "sign",
            "--digest",
            &"ab".repeat(32),
        ],
        &[("ASAN_PIN2", "12345")],
    );
    out.fails(1, "nonexistent");
}
