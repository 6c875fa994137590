//! The trace: secret data redacted however the command is sent, ordinary
//! data shown.

use asan_host::Secret;
use asan_host::apdu::Command;

use crate::common::hx;
use crate::{HDR, ok, script, send_traced};

/// PIN `97531` as a PIN2 block: `39 37 35 33 31 FF FF FF`.
const PIN_HEX: &str = "3937353331";

fn pin_block() -> Vec<u8> {
    let block = asan_host::Pin2::new("97531")
        .unwrap()
        .block()
        .as_bytes()
        .to_vec();
    assert_eq!(block, hx("3937353331FFFFFF"));
    block
}

fn assert_redacted(lines: &[String], header: &str) {
    assert!(!lines.is_empty(), "no trace");
    let all = lines.join("\n");
    assert!(!all.contains(PIN_HEX), "PIN digits in the trace:\n{all}");
    assert!(!all.contains("39373533"), "PIN digits in the trace:\n{all}");
    assert!(
        all.contains(header),
        "header {header} missing from the trace:\n{all}"
    );
    assert!(all.contains("***"), "no redaction marker:\n{all}");
}

#[test]
fn trace_redacts_secret_data() {
    let block = pin_block();
    let mut t = script([hx("63C2")]);
    let (r, lines) = send_traced(
        &mut t,
        true,
        &Command::new([0x00, 0x20, 0x00, 0x82]).data(&block).secret(),
    );
    assert_eq!(r.unwrap().sw, 0x63C2);
    assert_eq!(
        t.sent,
        vec![[&hx("00200082 08")[..], &block].concat()],
        "the card gets the real block"
    );
    assert_redacted(&lines, "00200082");
    assert!(lines.iter().any(|l| l.starts_with('>')), "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with('<') && l.contains("63C2")),
        "answers are traced: {lines:?}"
    );
}

#[test]
fn trace_redacts_secret_data_when_extended_chained_and_resent() {
    // CHANGE REFERENCE DATA-like data, repeated to cross 255 bytes.
    let block = pin_block();
    let long: Vec<u8> = block.iter().copied().cycle().take(400).collect();

    // Extended.
    let mut t = script([ok(&[])]);
    let (_, lines) = send_traced(
        &mut t,
        true,
        &Command::new([0x00, 0x24, 0x00, 0x82]).data(&long).secret(),
    );
    assert_redacted(&lines, "00240082");

    // Chained on a short-only reader.
    let mut t = script([ok(&[]), ok(&[])]);
    let (_, lines) = send_traced(
        &mut t,
        false,
        &Command::new([0x00, 0x24, 0x00, 0x82]).data(&long).secret(),
    );
    assert_eq!(t.sent.len(), 2);
    assert_redacted(&lines, "10240082");
    assert_redacted(&lines, "00240082");

    // Re-sent after 6Cxx.
    let mut t = script([hx("6C02"), ok(&[1, 2])]);
    let (_, lines) = send_traced(
        &mut t,
        true,
        &Command::new([0x00, 0x20, 0x00, 0x82])
            .data(&block)
            .secret()
            .le(0),
    );
    assert_eq!(t.sent.len(), 2);
    assert_eq!(lines.iter().filter(|l| l.starts_with('>')).count(), 2);
    assert_redacted(&lines, "00200082");
}

#[test]
fn trace_shows_ordinary_data() {
    let mut t = script([hx("AABB 6101"), ok(&[0xCC])]);
    let (r, lines) = send_traced(
        &mut t,
        true,
        &Command::new([0x00, 0x22, 0x41, 0xB6])
            .data(&hx("840121"))
            .le(0),
    );
    assert_eq!(r.unwrap().data, hx("AABBCC"));
    let all = lines.join("\n");
    assert!(all.contains("002241B603840121"), "{all}");
    assert!(all.contains("00C0000001"), "GET RESPONSE traced: {all}");
    assert!(!all.contains("***"), "{all}");
}

#[test]
fn command_debug_hides_secret_data() {
    let block = pin_block();
    let cmd = Command::new([0x00, 0x20, 0x00, 0x82]).data(&block).secret();
    let s = format!("{cmd:?}");
    assert!(!s.contains(PIN_HEX) && s.contains("***"), "{s}");
    let plain = format!("{:?}", Command::new(HDR).data(&[0xAB]));
    assert!(plain.contains("AB"), "{plain}");
}
