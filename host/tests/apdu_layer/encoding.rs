//! Encoding: known answers for the four ISO cases, short or extended by
//! size, and command chaining on short-only readers.

use asan_host::apdu::{Command, Response, encode};

use crate::common::hx;
use crate::{HDR, assert_invalid, ok, script, send, with_sw};

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

/// Found here (fixed in apdu.rs, `Apdus::dispatch`): on a short-only reader
/// a command with no data and Le > 256 went to `chained`, which found no
/// parts and returned `Usage("empty command chain")` without sending
/// anything. It is now sent as a short case-2 APDU with Le `00` (the most a
/// short APDU can ask for), and `61xx` collects the rest.
#[test]
fn short_only_reader_asks_le_above_256_as_00_and_collects_the_rest() {
    let mut t = script([with_sw(&[0xEE; 256], 0x6110), ok(&[0xEE; 16])]);
    let r = send(&mut t, false, &Command::new([0, 0xB0, 0, 0]).le(1000));
    assert_eq!(r.unwrap().data.len(), 272);
    assert_eq!(t.sent[0], hx("00B00000 00"));
    assert_eq!(t.sent[1], hx("00C00000 10"));
}
