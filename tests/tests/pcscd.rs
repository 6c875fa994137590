//! End-to-end through the real PC/SC stack: pcscd with the vpcd driver and
//! `asan-vcard` processes. Personalisation over SCP03, user commands,
//! certificate reads with short and extended APDUs, a restart of the card
//! process with its state kept, and OpenSC's `opensc-tool` as an
//! independent client.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

use asan_applet::PinRef;
use asan_tests::operator::{self, Operator, PIN2, Tx, block, certificate};
use asan_tests::{VirtualReader, pcsc_context, release, sw, transmit};
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::ecdsa::{Signature, VerifyingKey};
use pcsc::{Protocols, ShareMode};

const SELECT: &str = "00A4040C0AF04153414E494D5A4101";

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

fn connect(reader: &VirtualReader) -> pcsc::Card {
    let ctx = pcsc_context();
    let card = ctx
        .connect(&reader.reader, ShareMode::Shared, Protocols::ANY)
        .unwrap();
    assert_eq!(sw(&transmit(&card, &h(SELECT))), 0x9000);
    card
}

fn tx_for(card: &pcsc::Card) -> impl FnMut(&[u8]) -> std::io::Result<Vec<u8>> + '_ {
    move |c: &[u8]| {
        let mut buf = vec![0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED];
        card.transmit(c, &mut buf)
            .map(|r| r.to_vec())
            .map_err(std::io::Error::other)
    }
}

fn sign(card: &pcsc::Card, digest: &[u8; 32]) -> Signature {
    let verify = [h("0020008208"), block(PinRef::Pin2, PIN2)].concat();
    assert_eq!(sw(&transmit(card, &verify)), 0x9000);
    let r = transmit(card, &[h("002A9E9A20"), digest.to_vec(), vec![0]].concat());
    assert_eq!(sw(&r), 0x9000);
    Signature::from_slice(&r[..64]).unwrap()
}

fn public_key(card: &pcsc::Card) -> VerifyingKey {
    let r = transmit(card, &h("0047812100"));
    assert_eq!(sw(&r), 0x9000);
    VerifyingKey::from_sec1_bytes(&r[5..70]).unwrap()
}

#[test]
fn personalise_use_and_restart_through_pcscd() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("card.img");
    let reader = VirtualReader::start(35963, &state);
    let card = connect(&reader);
    // The ATR pcscd reports is ours.
    let status = card.status2_owned().unwrap();
    assert!(status.atr().windows(8).any(|w| w == b"ASANIMZA"));
    {
        let mut tx = tx_for(&card);
        let tx: &mut Tx<'_> = &mut tx;
        operator::personalise(tx).unwrap();
        let mut op = Operator::open(tx, 0x33).unwrap();
        op.ok(tx, [0x80, 0xDA, 0xA1, 0x02], &certificate(2048, 0xC7))
            .unwrap();
    }
    assert_eq!(sw(&transmit(&card, &h(SELECT))), 0x9000);
    let vk = public_key(&card);
    let digest = [0x5Au8; 32];
    vk.verify_prehash(&digest, &sign(&card, &digest)).unwrap();
    // A second PSO without VERIFY is refused.
    let r = transmit(&card, &[h("002A9E9A20"), digest.to_vec(), vec![0]].concat());
    assert_eq!(sw(&r), 0x6982);

    // Certificate: one extended READ BINARY, or 256-byte short reads.
    assert_eq!(sw(&transmit(&card, &h("00A4020C02A102"))), 0x9000);
    let whole = transmit(&card, &h("00B00000000000"));
    assert_eq!(sw(&whole), 0x9000);
    assert_eq!(&whole[..2048], &certificate(2048, 0xC7)[..]);
    let mut pieces = Vec::new();
    while pieces.len() < 2048 {
        let off = pieces.len() as u16;
        let r = transmit(&card, &[0x00, 0xB0, (off >> 8) as u8, off as u8, 0x00]);
        assert_eq!(sw(&r), 0x9000);
        pieces.extend_from_slice(&r[..r.len() - 2]);
    }
    assert_eq!(pieces, whole[..2048]);

    // A wrong PIN2, then the card process restarts.
    let wrong = [h("0020008208"), block(PinRef::Pin2, b"00000")].concat();
    assert_eq!(sw(&transmit(&card, &wrong)), 0x63C2);
    release(card);
    eprintln!("restarting the card process");
    reader.stop();
    eprintln!("stopped");
    let reader = VirtualReader::start(35963, &state);
    eprintln!("restarted");
    let card = connect(&reader);
    assert_eq!(
        sw(&transmit(&card, &h("0020008200"))),
        0x63C2,
        "counter kept across the restart"
    );
    assert_eq!(public_key(&card), vk, "same key after the restart");
    vk.verify_prehash(&digest, &sign(&card, &digest)).unwrap();
    assert_eq!(
        sw(&transmit(&card, &h("0020008200"))),
        0x63C3,
        "a correct PIN2 restores the counter"
    );
    release(card);
    reader.stop();
}

/// Runs `opensc-tool -r <reader> -s …`; returns its standard output.
fn opensc_tool(reader_index: usize, apdus: &[&str]) -> String {
    let mut cmd = Command::new("opensc-tool");
    cmd.arg("-r").arg(reader_index.to_string());
    for a in apdus {
        cmd.arg("-s").arg(a);
    }
    let out = cmd
        .output()
        .expect("opensc-tool is installed (Debian package opensc)");
    assert!(
        out.status.success(),
        "opensc-tool failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The index opensc-tool gives a reader name (`opensc-tool -l`).
fn opensc_index(name: &str) -> usize {
    let out = Command::new("opensc-tool")
        .arg("-l")
        .output()
        .expect("opensc-tool is installed");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find(|l| l.trim_end().ends_with(name))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("opensc-tool does not list {name}: {text}"))
}

/// The bytes opensc-tool printed for each `Received` block, with SW1 SW2.
fn received(out: &str) -> Vec<(u16, Vec<u8>)> {
    let mut answers = Vec::new();
    for line in out.lines() {
        if let Some(rest) = line.strip_prefix("Received (SW1=0x") {
            let sw1 = u16::from_str_radix(&rest[..2], 16).unwrap();
            let sw2 = u16::from_str_radix(&rest[10..12], 16).unwrap();
            answers.push(((sw1 << 8) | sw2, Vec::new()));
        } else if let Some((_, data)) = answers.last_mut() {
            // Data lines: hex byte pairs, then an ASCII column.
            for tok in line.split_whitespace() {
                match (tok.len(), u8::from_str_radix(tok, 16)) {
                    (2, Ok(b)) => data.push(b),
                    _ => break,
                }
            }
        }
    }
    answers
}

#[test]
fn opensc_tool_as_an_independent_client() {
    let dir = tempfile::tempdir().unwrap();
    let reader = VirtualReader::start(35964, &dir.path().join("card.img"));
    let key = {
        let card = connect(&reader);
        operator::personalise(&mut tx_for(&card)).unwrap();
        assert_eq!(sw(&transmit(&card, &h(SELECT))), 0x9000);
        let key = transmit(&card, &h("0047812100"));
        release(card);
        key
    };
    let index = opensc_index(reader.reader.to_str().unwrap());
    let out = opensc_tool(
        index,
        &[SELECT, "00 20 00 81", "00 47 81 21 00", "00 47 81 13 00"],
    );
    let answers = received(&out);
    assert_eq!(answers.len(), 4, "{out}");
    assert_eq!(answers[0].0, 0x9000);
    assert_eq!(answers[1].0, 0x63C3, "PIN1 not verified, 3 tries: {out}");
    assert_eq!(answers[2].0, 0x9000);
    assert_eq!(
        answers[2].1,
        key[..key.len() - 2],
        "the public key opensc-tool read: {out}"
    );
    assert_eq!(&answers[2].1[..5], &[0x7F, 0x49, 0x43, 0x86, 0x41]);
    assert_eq!(answers[3].0, 0x6A88, "no key 13 on a Citizen card");
    reader.stop();
}
