//! The APDU layer (`asan_host::apdu`) against a scripted card: encoding of
//! the four ISO cases, short or extended by size, command chaining on
//! short-only readers, `61xx` / GET RESPONSE, `6Cxx` re-sends, malformed
//! R-APDUs, the command-size limit and the redacted trace. Every test checks
//! both the bytes that went to the card and what the layer returned.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cell::RefCell;
use std::rc::Rc;

use asan_host::apdu::{Apdus, Command, MAX_RESPONSE, Response, encode};
use asan_host::transport::scripted::{Answer, ScriptedTransport};
use asan_host::{Error, Secret};

/// Hex to bytes (spaces allowed).
fn hx(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

/// `data || 90 00`.
fn ok(data: &[u8]) -> Vec<u8> {
    [data, &[0x90, 0x00]].concat()
}

/// `data || SW`.
fn with_sw(data: &[u8], sw: u16) -> Vec<u8> {
    [data, &sw.to_be_bytes()].concat()
}

fn script(answers: impl IntoIterator<Item = Vec<u8>>) -> ScriptedTransport {
    ScriptedTransport::new(answers.into_iter().map(Answer::Bytes))
}

/// Sends `cmd` through a fresh `Apdus` over `t`.
fn send(
    t: &mut ScriptedTransport,
    extended: bool,
    cmd: &Command<'_>,
) -> asan_host::Result<Response> {
    Apdus::new(t, extended, None).send(cmd)
}

/// Sends `cmd` with a trace; returns the result and the trace lines.
fn send_traced(
    t: &mut ScriptedTransport,
    extended: bool,
    cmd: &Command<'_>,
) -> (asan_host::Result<Response>, Vec<String>) {
    let lines = Rc::new(RefCell::new(Vec::new()));
    let sink = Rc::clone(&lines);
    let mut hook = move |l: &str| sink.borrow_mut().push(l.to_owned());
    let r = Apdus::new(t, extended, Some(&mut hook)).send(cmd);
    let out = lines.borrow().clone();
    (r, out)
}

fn assert_invalid(r: asan_host::Result<Response>, what: &str) {
    match r {
        Err(Error::InvalidResponse(_)) => {}
        other => panic!("{what}: expected InvalidResponse, got {other:?}"),
    }
}

const HDR: [u8; 4] = [0x00, 0xCA, 0x00, 0x6E];

// ---------------------------------------------------------------------------
// encode: known answers for the four ISO cases, short and extended
// ---------------------------------------------------------------------------

#[test]
fn encode_case1() {
    assert_eq!(
        encode([0x00, 0x20, 0xFF, 0x81], &[], None, false),
        hx("0020FF81")
    );
    assert_eq!(
        encode([0x00, 0x20, 0xFF, 0x81], &[], None, true),
        hx("0020FF81")
    );
}

#[test]
fn encode_case2_short() {
    assert_eq!(encode(HDR, &[], Some(0x10), false), hx("00CA006E 10"));
    assert_eq!(encode(HDR, &[], Some(255), false), hx("00CA006E FF"));
    assert_eq!(encode(HDR, &[], Some(256), false), hx("00CA006E 00"));
    assert_eq!(
        encode(HDR, &[], Some(0), false),
        hx("00CA006E 00"),
        "Le 0 = as much as there is"
    );
}

#[test]
fn encode_case2_extended() {
    assert_eq!(encode(HDR, &[], Some(0x10), true), hx("00CA006E 00 0010"));
    assert_eq!(encode(HDR, &[], Some(300), true), hx("00CA006E 00 012C"));
    assert_eq!(encode(HDR, &[], Some(65_535), true), hx("00CA006E 00 FFFF"));
    assert_eq!(encode(HDR, &[], Some(65_536), true), hx("00CA006E 00 0000"));
    assert_eq!(encode(HDR, &[], Some(0), true), hx("00CA006E 00 0000"));
}

#[test]
fn encode_case3_short_and_extended() {
    let h = [0x00, 0x22, 0x41, 0xB6];
    assert_eq!(
        encode(h, &hx("840121"), None, false),
        hx("002241B6 03 840121")
    );
    assert_eq!(
        encode(h, &hx("840121"), None, true),
        hx("002241B6 00 0003 840121")
    );
    let big = vec![0xA5; 300];
    let e = encode(h, &big, None, true);
    assert_eq!(e[..7], hx("002241B6 00 012C")[..]);
    assert_eq!(e[7..], big[..]);
    assert_eq!(e.len(), 7 + 300);
}

#[test]
fn encode_case4_short_and_extended() {
    let h = [0x00, 0x88, 0x00, 0x00];
    let d = [0x11u8; 20];
    let short = encode(h, &d, Some(0), false);
    assert_eq!(short, [&hx("00880000 14")[..], &d, &[0x00]].concat());
    let short64 = encode(h, &d, Some(64), false);
    assert_eq!(short64, [&hx("00880000 14")[..], &d, &[0x40]].concat());
    let ext = encode(h, &d, Some(0), true);
    assert_eq!(
        ext,
        [&hx("00880000 00 0014")[..], &d, &hx("0000")[..]].concat()
    );
    let ext300 = encode(h, &d, Some(300), true);
    assert_eq!(
        ext300,
        [&hx("00880000 00 0014")[..], &d, &hx("012C")[..]].concat()
    );
}

// ---------------------------------------------------------------------------
// short or extended, chosen by size
// ---------------------------------------------------------------------------

#[test]
fn small_commands_go_short_even_when_extended_is_available() {
    let mut t = script([ok(&[1, 2, 3])]);
    let r = send(&mut t, true, &Command::new(HDR).le(0)).unwrap();
    assert_eq!(
        r,
        Response {
            data: vec![1, 2, 3],
            sw: 0x9000
        }
    );
    assert_eq!(t.sent, vec![hx("00CA006E 00")]);

    let d = vec![0x5A; 255];
    let mut t = script([ok(&[])]);
    send(
        &mut t,
        true,
        &Command::new([0, 0x2A, 0x9E, 0x9A]).data(&d).le(256),
    )
    .unwrap();
    assert_eq!(t.sent, vec![[&hx("002A9E9A FF")[..], &d, &[0x00]].concat()]);
}

#[test]
fn more_than_255_data_bytes_go_extended() {
    let d = vec![0x5A; 256];
    let mut t = script([ok(&[9])]);
    let r = send(&mut t, true, &Command::new([0, 0xDA, 0, 0]).data(&d)).unwrap();
    assert_eq!(r.data, vec![9]);
    assert_eq!(t.sent, vec![[&hx("00DA0000 00 0100")[..], &d].concat()]);

    let mut t = script([ok(&[])]);
    send(&mut t, true, &Command::new([0, 0xDA, 0, 0]).data(&d).le(0)).unwrap();
    assert_eq!(
        t.sent,
        vec![[&hx("00DA0000 00 0100")[..], &d, &hx("0000")[..]].concat()]
    );
}

#[test]
fn le_above_256_goes_extended() {
    let mut t = script([ok(&[0xEE; 257])]);
    let r = send(&mut t, true, &Command::new([0, 0xB0, 0, 0]).le(257)).unwrap();
    assert_eq!(r.data.len(), 257);
    assert_eq!(t.sent, vec![hx("00B00000 00 0101")]);

    let mut t = script([ok(&[])]);
    send(&mut t, true, &Command::new([0, 0xB0, 0, 0]).le(256)).unwrap();
    assert_eq!(
        t.sent,
        vec![hx("00B00000 00")],
        "Le 256 still fits a short APDU"
    );
}

#[test]
fn exactly_4096_bytes_go_in_one_extended_apdu() {
    let d: Vec<u8> = (0..4096u32).map(|i| i as u8).collect();
    let mut t = script([ok(&[])]);
    let r = send(&mut t, true, &Command::new([0, 0xDA, 0xA1, 0x02]).data(&d)).unwrap();
    assert_eq!(r.sw, 0x9000);
    assert_eq!(t.sent.len(), 1);
    assert_eq!(t.sent[0][..7], hx("00DAA102 00 1000")[..]);
    assert_eq!(t.sent[0][7..], d[..]);
}

// ---------------------------------------------------------------------------
// command chaining on short-only readers
// ---------------------------------------------------------------------------

#[test]
fn short_only_reader_sends_255_byte_chain_parts() {
    let d: Vec<u8> = (0..600u32).map(|i| i as u8).collect();
    let mut t = script([ok(&[]), ok(&[]), ok(&[0xAB, 0xCD])]);
    let r = send(
        &mut t,
        false,
        &Command::new([0, 0xDA, 0xA1, 0x02]).data(&d).le(0),
    )
    .unwrap();
    assert_eq!(
        r,
        Response {
            data: vec![0xAB, 0xCD],
            sw: 0x9000
        }
    );
    assert_eq!(t.sent.len(), 3);
    assert_eq!(t.sent[0], [&hx("10DAA102 FF")[..], &d[..255]].concat());
    assert_eq!(t.sent[1], [&hx("10DAA102 FF")[..], &d[255..510]].concat());
    assert_eq!(
        t.sent[2],
        [&hx("00DAA102 5A")[..], &d[510..], &[0x00]].concat(),
        "last part: CLA 00, Le"
    );
}

#[test]
fn chain_keeps_the_other_cla_bits() {
    let d = vec![1u8; 256];
    let mut t = script([ok(&[]), ok(&[])]);
    send(&mut t, false, &Command::new([0x80, 0xDA, 0, 0]).data(&d)).unwrap();
    assert_eq!(t.sent[0][..5], hx("90DA0000 FF")[..]);
    assert_eq!(t.sent[1], hx("80DA0000 01 01"));
}

#[test]
fn exactly_255_bytes_is_not_chained() {
    let d = vec![7u8; 255];
    let mut t = script([ok(&[])]);
    send(&mut t, false, &Command::new([0, 0xDA, 0, 0]).data(&d)).unwrap();
    assert_eq!(t.sent, vec![[&hx("00DA0000 FF")[..], &d].concat()]);
}

#[test]
fn error_on_an_intermediate_part_stops_the_chain_and_is_returned() {
    let d = vec![7u8; 700];
    let mut t = script([ok(&[]), hx("6A80"), ok(&[])]);
    let r = send(&mut t, false, &Command::new([0, 0xDA, 0, 0]).data(&d)).unwrap();
    assert_eq!(
        r,
        Response {
            data: vec![],
            sw: 0x6A80
        }
    );
    assert_eq!(t.sent.len(), 2, "the third part must not be sent");

    let mut t = script([hx("6883")]);
    let r = send(&mut t, false, &Command::new([0, 0xDA, 0, 0]).data(&d)).unwrap();
    assert_eq!(r.sw, 0x6883);
    assert_eq!(t.sent.len(), 1);
}

#[test]
fn data_in_an_intermediate_answer_is_an_error() {
    let d = vec![7u8; 600];
    let mut t = script([ok(&[]), ok(&[0x01]), ok(&[])]);
    assert_invalid(
        send(&mut t, false, &Command::new([0, 0xDA, 0, 0]).data(&d)),
        "data on part 2",
    );
    assert_eq!(t.sent.len(), 2);
}

#[test]
fn a_chain_answer_of_61xx_is_followed() {
    let d = vec![7u8; 300];
    let mut t = script([ok(&[]), with_sw(&[1, 2], 0x6102), ok(&[3, 4])]);
    let r = send(&mut t, false, &Command::new([0, 0xDA, 0, 0]).data(&d).le(0)).unwrap();
    assert_eq!(r.data, vec![1, 2, 3, 4]);
    assert_eq!(t.sent[2], hx("00C00000 02"));
}

#[test]
fn extended_reader_never_chains() {
    let d = vec![7u8; 1000];
    let mut t = script([ok(&[])]);
    send(&mut t, true, &Command::new([0, 0xDA, 0, 0]).data(&d)).unwrap();
    assert_eq!(t.sent.len(), 1);
    assert_eq!(t.sent[0][0], 0x00);
}

/// LIBRARY BUG (apdu.rs, `Apdus::send` / `chained`): on a short-only reader a
/// command with no data and Le > 256 goes to `chained`, which finds no parts
/// and returns `Usage("empty command chain")` without sending anything. It
/// should be sent as a short case-2 APDU with Le `00` (the most a short APDU
/// can ask for), and `61xx` collects the rest.
#[test]
fn bug_short_only_reader_le_above_256_without_data() {
    let mut t = script([with_sw(&[0xEE; 256], 0x6110), ok(&[0xEE; 16])]);
    let r = send(&mut t, false, &Command::new([0, 0xB0, 0, 0]).le(1000));
    assert_eq!(r.unwrap().data.len(), 272);
    assert_eq!(t.sent[0], hx("00B00000 00"));
}

// ---------------------------------------------------------------------------
// 61xx and GET RESPONSE
// ---------------------------------------------------------------------------

#[test]
fn get_response_collects_data_over_several_rounds() {
    let big = vec![0xC3; 256];
    let mut t = script([
        with_sw(&[0xAA, 0xBB], 0x6102),
        with_sw(&[0xCC, 0xDD], 0x6100),
        with_sw(&big, 0x6105),
        ok(&[1, 2, 3, 4, 5]),
    ]);
    let r = send(&mut t, true, &Command::new(HDR).le(0)).unwrap();
    let mut want = vec![0xAA, 0xBB, 0xCC, 0xDD];
    want.extend_from_slice(&big);
    want.extend_from_slice(&[1, 2, 3, 4, 5]);
    assert_eq!(
        r,
        Response {
            data: want,
            sw: 0x9000
        }
    );
    assert_eq!(
        t.sent,
        vec![
            hx("00CA006E 00"),
            hx("00C00000 02"),
            hx("00C00000 00"),
            hx("00C00000 05")
        ],
        "GET RESPONSE with Le = xx, 00 meaning 256"
    );
}

#[test]
fn get_response_final_status_is_returned() {
    let mut t = script([with_sw(&[], 0x6104), with_sw(&[1, 2], 0x6A82)]);
    let r = send(&mut t, true, &Command::new(HDR).le(0)).unwrap();
    assert_eq!(
        r,
        Response {
            data: vec![1, 2],
            sw: 0x6A82
        }
    );
}

#[test]
fn endless_61xx_is_invalid_and_bounded() {
    let mut t = script([hx("6110")]);
    t.fallback = Some(hx("6110"));
    assert_invalid(
        send(&mut t, true, &Command::new(HDR).le(0)),
        "61 10 forever, no data",
    );
    assert!(t.sent.len() <= 400, "{} APDUs sent", t.sent.len());

    // With data each round: stops at the size limit.
    let mut t = script([with_sw(&[0x55; 255], 0x61FF)]);
    t.fallback = Some(with_sw(&[0x55; 255], 0x61FF));
    assert_invalid(
        send(&mut t, true, &Command::new(HDR).le(0)),
        "61 FF forever with data",
    );
    assert!(t.sent.len() <= 400, "{} APDUs sent", t.sent.len());
    assert!(t.sent.len() <= MAX_RESPONSE / 255 + 3);
}

#[test]
fn silence_during_get_response_is_a_transport_error() {
    let mut t = ScriptedTransport::new([Answer::Bytes(hx("AA 6110")), Answer::Silence]);
    match send(&mut t, true, &Command::new(HDR).le(0)) {
        Err(Error::Transport(_)) => {}
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------
// 6Cxx
// ---------------------------------------------------------------------------

#[test]
fn six_c_resends_once_with_the_named_le() {
    let mut t = script([hx("6C10"), ok(&[0x77; 16])]);
    let r = send(&mut t, true, &Command::new([0, 0xB0, 0, 0]).le(0)).unwrap();
    assert_eq!(
        r,
        Response {
            data: vec![0x77; 16],
            sw: 0x9000
        }
    );
    assert_eq!(t.sent, vec![hx("00B00000 00"), hx("00B00000 10")]);

    let mut t = script([hx("6C00"), ok(&[0x77; 256])]);
    let r = send(&mut t, true, &Command::new([0, 0xB0, 0, 0]).le(0x10)).unwrap();
    assert_eq!(r.data.len(), 256);
    assert_eq!(
        t.sent,
        vec![hx("00B00000 10"), hx("00B00000 00")],
        "6C00 means Le 256"
    );
}

#[test]
fn six_c_resend_keeps_the_data() {
    let d = [1u8, 2, 3];
    let mut t = script([hx("6C40"), ok(&[0; 0x40])]);
    send(&mut t, true, &Command::new([0, 0x88, 0, 0]).data(&d).le(0)).unwrap();
    assert_eq!(
        t.sent,
        vec![hx("00880000 03 010203 00"), hx("00880000 03 010203 40")]
    );
}

#[test]
fn six_c_then_61xx() {
    let mut t = script([hx("6C03"), with_sw(&[1], 0x6102), ok(&[2, 3])]);
    let r = send(&mut t, true, &Command::new([0, 0xB0, 0, 0]).le(0)).unwrap();
    assert_eq!(r.data, vec![1, 2, 3]);
    assert_eq!(t.sent.len(), 3);
}

#[test]
fn six_c_twice_is_invalid() {
    let mut t = script([hx("6C10"), hx("6C20"), ok(&[0; 32])]);
    assert_invalid(
        send(&mut t, true, &Command::new([0, 0xB0, 0, 0]).le(0)),
        "6C twice",
    );
    assert_eq!(t.sent.len(), 2, "no third try");

    let mut t = script([hx("6C10")]);
    t.fallback = Some(hx("6C10"));
    assert_invalid(
        send(&mut t, true, &Command::new([0, 0xB0, 0, 0]).le(0)),
        "6C forever",
    );
    assert_eq!(t.sent.len(), 2);
}

/// LIBRARY BUG (apdu.rs, `Apdus::send`): when a chained command (more than
/// 255 data bytes on a short-only reader) is answered `6Cxx`, the re-send
/// goes through `once(.., extended = false, ..)` with the whole data: the
/// APDU is "short" with Lc = `len as u8` (300 → `2C`) followed by all 300
/// bytes — a malformed C-APDU. It should send the chain again (or refuse).
#[test]
fn bug_six_c_after_a_chain_resends_a_malformed_apdu() {
    let d = vec![7u8; 300];
    let mut t = script([ok(&[]), hx("6C40"), ok(&[]), ok(&[0; 0x40])]);
    let _ = send(&mut t, false, &Command::new([0, 0x88, 0, 0]).data(&d).le(0));
    for capdu in &t.sent {
        let lc = usize::from(capdu[4]);
        assert!(
            capdu.len() == 5 + lc || capdu.len() == 6 + lc,
            "malformed short APDU: {} bytes with Lc {lc}",
            capdu.len()
        );
    }
}

// ---------------------------------------------------------------------------
// malformed R-APDUs, size limits, silence
// ---------------------------------------------------------------------------

#[test]
fn rapdu_without_status_word_is_invalid() {
    for rapdu in [vec![], vec![0x90]] {
        let mut t = script([rapdu.clone()]);
        assert_invalid(
            send(&mut t, true, &Command::new(HDR).le(0)),
            &format!("{rapdu:02X?}"),
        );
        assert_eq!(t.sent.len(), 1);
    }
    // Also in the middle of a GET RESPONSE loop and of a chain.
    let mut t = script([hx("AA 6101"), hx("61")]);
    assert_invalid(
        send(&mut t, true, &Command::new(HDR).le(0)),
        "one byte to GET RESPONSE",
    );
    let mut t = script([vec![]]);
    assert_invalid(
        send(&mut t, false, &Command::new(HDR).data(&[0; 300])),
        "empty answer to a chain part",
    );
    assert_eq!(t.sent.len(), 1);
}

#[test]
fn a_bare_status_word_is_fine() {
    let mut t = script([hx("9000")]);
    assert_eq!(
        send(&mut t, true, &Command::new(HDR)).unwrap(),
        Response {
            data: vec![],
            sw: 0x9000
        }
    );
    let mut t = script([hx("6A88")]);
    assert_eq!(
        send(&mut t, true, &Command::new(HDR)).unwrap().sw,
        0x6A88,
        "a status is not an error at this layer"
    );
}

#[test]
fn oversized_answers_are_invalid() {
    let mut t = script([ok(&vec![0; 70_000])]);
    assert_invalid(
        send(&mut t, true, &Command::new(HDR).le(0)),
        "70000 bytes in one answer",
    );

    let mut t = script([
        with_sw(&vec![0; 65_000], 0x6100),
        with_sw(&vec![0; 5_000], 0x6100),
        ok(&[]),
    ]);
    assert_invalid(
        send(&mut t, true, &Command::new(HDR).le(0)),
        "70000 bytes over GET RESPONSE",
    );

    let mut t = script([ok(&vec![0; MAX_RESPONSE])]);
    assert_eq!(
        send(&mut t, true, &Command::new(HDR).le(0))
            .unwrap()
            .data
            .len(),
        MAX_RESPONSE,
        "at the limit"
    );
}

#[test]
fn more_than_4096_data_bytes_is_a_usage_error_and_nothing_is_sent() {
    let d = vec![0u8; 4097];
    for extended in [true, false] {
        let mut t = script([ok(&[])]);
        match send(&mut t, extended, &Command::new([0, 0xDA, 0, 0]).data(&d)) {
            Err(e @ Error::Usage(_)) => assert_eq!(e.exit_code(), 2),
            other => panic!("{other:?}"),
        }
        assert!(t.sent.is_empty(), "nothing may reach the card");
    }
}

#[test]
fn silence_is_a_transport_error() {
    let mut t = ScriptedTransport::new([Answer::Silence]);
    match send(&mut t, true, &Command::new(HDR).le(0)) {
        Err(Error::Transport(_)) => {}
        other => panic!("{other:?}"),
    }
    // In the middle of a chain: no further part is sent.
    let mut t = ScriptedTransport::new([Answer::Bytes(hx("9000")), Answer::Silence]);
    assert!(matches!(
        send(&mut t, false, &Command::new(HDR).data(&[0; 600])),
        Err(Error::Transport(_))
    ));
    assert_eq!(t.sent.len(), 2);
}

// ---------------------------------------------------------------------------
// trace
// ---------------------------------------------------------------------------

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
