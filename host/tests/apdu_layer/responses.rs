//! Answers: `61xx` and GET RESPONSE, `6Cxx` re-sends, malformed R-APDUs,
//! the size limits and silence.

use asan_host::Error;
use asan_host::apdu::{Command, MAX_RESPONSE, Response};
use asan_host::transport::scripted::{Answer, ScriptedTransport};

use crate::common::hx;
use crate::{HDR, assert_invalid, ok, script, send, with_sw};

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

/// Found here (fixed in apdu.rs, `Apdus::dispatch`): when a chained command
/// (more than 255 data bytes on a short-only reader) was answered `6Cxx`,
/// the re-send went through `once(.., extended = false, ..)` with the whole
/// data: a "short" APDU with Lc = `len as u8` (300 → `2C`) followed by all
/// 300 bytes — a malformed C-APDU. The chain is now sent again, its last
/// part with the Le the card named, and every APDU is well formed.
#[test]
fn six_c_after_a_chain_sends_the_chain_again_with_the_new_le() {
    let d = vec![7u8; 300];
    let mut t = script([ok(&[]), hx("6C40"), ok(&[]), ok(&[0; 0x40])]);
    let r = send(&mut t, false, &Command::new([0, 0x88, 0, 0]).data(&d).le(0));
    assert_eq!(r.unwrap().data.len(), 0x40);
    assert_eq!(t.sent.len(), 4, "the two parts, then the two parts again");
    assert_eq!(t.sent[2], t.sent[0]);
    assert_eq!(t.sent[3].last(), Some(&0x40), "the Le the card named");
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
