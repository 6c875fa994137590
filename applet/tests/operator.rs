//! Operator family: SCP03 gates, activation rules, termination, PUT KEY and
//! the persisted sequence counter.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;

use asan_applet::scp03::crypto::{aes_cbc_encrypt_zero_iv, key_check_value};
use asan_applet::scp03::host::HostChannel;
use asan_applet::scp03::{SecurityLevel, StaticKeys};
use asan_applet::{PinRef, ServiceType};
use common::*;

#[test]
fn operator_commands_need_the_channel_and_secrets_need_encryption() {
    let mut card = fresh();
    // Plain, no channel.
    assert_eq!(txh(&mut card, "00DA0043020101").1, 0x6982);
    assert_eq!(txh(&mut card, "0044000000").1, 0x6982);
    assert_eq!(txh(&mut card, "00478011").1, 0x6982);
    // CLA 84 without a channel.
    assert_eq!(txh(&mut card, "84DA0043020101").1, 0x6982);
    // Level 01 (C-MAC only): PIN values are refused, other commands work.
    let mut op = Operator::open(&mut card, 0x01);
    let (_, sw) = op.send(
        &mut card,
        [0x80, 0x2C, 0x02, 0x81],
        &block(PinRef::Pin1, PIN1),
        None,
    );
    assert_eq!(sw, 0x6982);
    op.ok(&mut card, [0x80, 0xDA, 0x00, 0x43], &[1, 1]);
}

#[test]
fn activation_needs_pins_and_default_keys() {
    let mut card = fresh();
    let mut op = Operator::open(&mut card, 0x03);
    let activate =
        |op: &mut Operator, card: &mut Card| op.send(card, [0x80, 0x44, 0, 0], &[], None).1;
    assert_eq!(activate(&mut op, &mut card), 0x6985);
    op.set_pin(&mut card, PinRef::Pin1, PIN1);
    op.set_pin(&mut card, PinRef::Pin2, PIN2);
    op.generate(&mut card, 0x11);
    op.generate(&mut card, 0x21);
    assert_eq!(activate(&mut op, &mut card), 0x6985, "PUK missing");
    op.set_pin(&mut card, PinRef::Puk, PUK);
    assert_eq!(activate(&mut op, &mut card), 0x9000);
    assert_eq!(activate(&mut op, &mut card), 0x6985, "already operational");
    // Personalisation-only commands are closed now.
    let (_, sw) = op.send(
        &mut card,
        [0x80, 0x2C, 0x02, 0x81],
        &block(PinRef::Pin1, b"9999"),
        None,
    );
    assert_eq!(sw, 0x6985);
    let (_, sw) = op.send(&mut card, [0x80, 0xDA, 0x01, 0x81], &[5], None);
    assert_eq!(sw, 0x6985);
    assert_eq!(expect(&mut card, "00CA00C200", 0x9000), vec![0xC2, 1, 5]);
}

#[test]
fn user_commands_wait_for_activation() {
    let mut card = fresh();
    for c in [
        "002000810831323334FFFFFFFF",
        "0020008100",
        "002241B6038401 21",
        "002A9E9A20".to_owned().as_str(),
    ] {
        let c = if c.ends_with("20") {
            format!("{c}{}00", "11".repeat(32))
        } else {
            c.to_owned()
        };
        assert_eq!(txh(&mut card, &c).1, 0x6985, "{c}");
    }
    // Public reads work before activation.
    expect(&mut card, "00CA006E00", 0x9000);
}

#[test]
fn a_terminated_card_answers_select_and_get_data_only() {
    let mut card = operational();
    let mut op = Operator::open(&mut card, 0x03);
    op.ok(&mut card, [0x80, 0xFE, 0, 0], &[]);
    let mut card = power_cycle(card, 2);
    expect(&mut card, SELECT, 0x9000);
    assert_eq!(expect(&mut card, "00CA00C200", 0x9000), vec![0xC2, 1, 0x0F]);
    // SELECT of a certificate EF still answers, reading it does not.
    expect(&mut card, "00A4020C02A101", 0x9000);
    for c in [
        "0020008100",
        "004781 2100",
        "00B0000000",
        "8050300008010203040506070800",
    ] {
        assert_eq!(txh(&mut card, c).1, 0x6985, "{c}");
    }
}

fn put_key_data(new: &StaticKeys, dek: &[u8; 16]) -> Vec<u8> {
    let mut data = vec![new.kvn];
    for key in [&new.enc, &new.mac, &new.dek] {
        let mut enc = *key;
        aes_cbc_encrypt_zero_iv(dek, &mut enc).unwrap();
        data.extend([0x88, 0x11, 0x10]);
        data.extend(enc);
        data.push(3);
        data.extend(key_check_value(key));
    }
    data
}

#[test]
fn put_key_replaces_the_key_set() {
    let mut card = operational();
    let old = StaticKeys::default_test_keys();
    let new = StaticKeys {
        enc: [0x1A; 16],
        mac: [0x2B; 16],
        dek: [0x3C; 16],
        kvn: 0x31,
    };
    let mut op = Operator::open(&mut card, 0x33);
    // A wrong check value is refused and changes nothing.
    let mut bad = put_key_data(&new, &old.dek);
    bad[21] ^= 1;
    assert_eq!(
        op.send(&mut card, [0x80, 0xD8, 0x30, 0x81], &bad, Some(256))
            .1,
        0x6A80
    );
    let answer = op.ok(
        &mut card,
        [0x80, 0xD8, 0x30, 0x81],
        &put_key_data(&new, &old.dek),
    );
    let mut want = vec![0x31];
    for k in [&new.enc, &new.mac, &new.dek] {
        want.extend(key_check_value(k));
    }
    assert_eq!(answer, want);
    let mut card = power_cycle(card, 6);
    // The old keys no longer open a channel: the card names key version 31.
    let hc = [1u8; 8];
    let (resp, sw) = tx(&mut card, &HostChannel::initialize_update_apdu(0x30, &hc));
    assert_eq!(sw, 0x6A88);
    let (resp0, sw0) = tx(&mut card, &HostChannel::initialize_update_apdu(0, &hc));
    assert_eq!(sw0, 0x9000);
    let level = SecurityLevel::from_byte(0x03).unwrap();
    assert!(HostChannel::open(&old, &hc, &resp0, level).is_err());
    let _ = resp;
    Operator::open_with(&mut card, 0x33, &new).ok(&mut card, [0x80, 0xDA, 0x00, 0x43], &[1, 1]);
}

/// The sequence counter the card reports (GET DATA `C6`).
fn counter(card: &mut Card) -> u32 {
    let c6 = expect(card, "00CA00C600", 0x9000);
    u32::from_be_bytes([0, c6[3], c6[4], c6[5]])
}

/// Opens a session at level 01 with host challenge `hc`; returns the card
/// challenge and the counter value of the INITIALIZE UPDATE answer.
fn open_session(card: &mut Card, hc: [u8; 8]) -> ([u8; 8], u32) {
    let keys = StaticKeys::default_test_keys();
    let (resp, sw) = tx(card, &HostChannel::initialize_update_apdu(0x30, &hc));
    assert_eq!(sw, 0x9000);
    let level = SecurityLevel::from_byte(0x01).unwrap();
    let (_, ext) = HostChannel::open(&keys, &hc, &resp, level).unwrap();
    assert_eq!(tx(card, &ext).1, 0x9000, "EXTERNAL AUTHENTICATE");
    (
        resp[13..21].try_into().unwrap(),
        u32::from_be_bytes([0, resp[29], resp[30], resp[31]]),
    )
}

#[test]
fn unauthenticated_initialize_updates_change_nothing_persistent() {
    // Anyone can send INITIALIZE UPDATE, and a failed EXTERNAL
    // AUTHENTICATE after it: neither writes to the card's memory nor moves
    // the sequence counter, so nobody without the keys can exhaust the
    // counter (6985 for good at FFFFFF) or wear the memory.
    let mut card = fresh();
    let image = card.store().image().to_vec();
    let steps = card.store().steps();
    for i in 0..2000u32 {
        let hc = [(i >> 8) as u8, i as u8, 1, 2, 3, 4, 5, 6];
        let (resp, sw) = tx(&mut card, &HostChannel::initialize_update_apdu(0x30, &hc));
        assert_eq!(sw, 0x9000);
        assert_eq!(&resp[29..32], &[0, 0, 1], "the counter value offered");
        if i % 3 == 0 {
            // A wrong host cryptogram and MAC.
            let sw = txh(&mut card, "8482010010 0102030405060708 1112131415161718").1;
            assert_eq!(sw, 0x6982);
        }
        if i % 500 == 0 {
            card = power_cycle(card, u64::from(i));
        }
    }
    assert_eq!(card.store().steps(), steps, "no physical write");
    assert!(card.store().image().as_slice() == image.as_slice());
    assert_eq!(counter(&mut card), 0);
    // The operator's channel still opens, and uses counter value 1.
    let (_, seq) = open_session(&mut card, [9; 8]);
    assert_eq!(seq, 1);
    assert_eq!(counter(&mut card), 1);
}

#[test]
fn challenges_of_opened_sessions_never_repeat() {
    // Each opened session uses up its counter value (persisted by the
    // EXTERNAL AUTHENTICATE that opened it, before its 9000), so no two
    // sessions ever share a card challenge — across power cycles,
    // unauthenticated attempts, torn authentications, and with the host
    // challenge always the same.
    let mut card = fresh();
    let hc = [9u8; 8];
    let mut challenges = std::collections::BTreeSet::new();
    let mut last = 0;
    for round in 1..=12u32 {
        // Unauthenticated attempts in between.
        for _ in 0..round % 4 {
            assert_eq!(
                tx(&mut card, &HostChannel::initialize_update_apdu(0x30, &hc)).1,
                0x9000
            );
        }
        if round % 3 == 0 {
            // A power cut during EXTERNAL AUTHENTICATE: the session does
            // not open; whether its counter value was used up or not, it
            // never opens another session.
            let (resp, _) = tx(&mut card, &HostChannel::initialize_update_apdu(0x30, &hc));
            let keys = StaticKeys::default_test_keys();
            let level = SecurityLevel::from_byte(0x01).unwrap();
            let (_, ext) = HostChannel::open(&keys, &hc, &resp, level).unwrap();
            card.store_mut()
                .fail_after(Some(usize::from(round % 2 == 0)));
            assert_eq!(tx(&mut card, &ext).1, 0x6F00);
            card = power_cycle(card, u64::from(round));
            // The channel is not open.
            assert_eq!(txh(&mut card, "84CA00C608 0102030405060708").1, 0x6982);
        }
        let (challenge, seq) = open_session(&mut card, hc);
        assert!(seq > last, "round {round}: counter {seq} after {last}");
        last = seq;
        assert!(
            challenges.insert(challenge),
            "round {round}: challenge repeated"
        );
        assert_eq!(counter(&mut card), seq);
        card = power_cycle(card, u64::from(round) + 100);
    }
}

#[test]
fn the_counter_stops_only_after_real_sessions() {
    // At FFFFFE one more session opens (at FFFFFF); after it, INITIALIZE
    // UPDATE answers 6985 for good. Only sessions that authenticated got it
    // there.
    let mut card = fresh();
    let (_, seq) = open_session(&mut card, [1; 8]);
    assert_eq!(seq, 1);
    use asan_applet::store::{RecordId, Store};
    let store = card.store_mut();
    store.begin().unwrap();
    store
        .write(RecordId::ScpCounter, &[0xFF, 0xFF, 0xFE])
        .unwrap();
    store.commit().unwrap();
    for _ in 0..3 {
        let (resp, sw) = tx(
            &mut card,
            &HostChannel::initialize_update_apdu(0x30, &[2; 8]),
        );
        assert_eq!((sw, &resp[29..32]), (0x9000, &[0xFF, 0xFF, 0xFF][..]));
    }
    let (_, seq) = open_session(&mut card, [3; 8]);
    assert_eq!(seq, 0xFF_FFFF);
    assert_eq!(
        tx(
            &mut card,
            &HostChannel::initialize_update_apdu(0x30, &[4; 8])
        )
        .1,
        0x6985
    );
    card = power_cycle(card, 3);
    assert_eq!(
        tx(
            &mut card,
            &HostChannel::initialize_update_apdu(0x30, &[4; 8])
        )
        .1,
        0x6985
    );
}

#[test]
fn only_deleting_the_current_certificate_clears_the_current_ef() {
    let mut card = operational();
    // A101 is the current EF (selected plain, with the channel open).
    let mut op = Operator::open(&mut card, 0x01);
    expect(&mut card, "00A4020C02A101", 0x9000);
    // Rewriting it keeps it current: READ BINARY reads the new certificate.
    let cert = fake_certificate(100, 0x77);
    op.ok(&mut card, [0x80, 0xDA, 0xA1, 0x01], &cert);
    assert_eq!(expect(&mut card, "00B0000064", 0x9000), cert);
    // Deleting another certificate keeps it too.
    op.ok(&mut card, [0x80, 0xDA, 0xA2, 0x01], &[]);
    assert_eq!(expect(&mut card, "00B0000064", 0x9000), cert);
    // Deleting it leaves no current EF.
    op.ok(&mut card, [0x80, 0xDA, 0xA1, 0x01], &[]);
    assert_eq!(txh(&mut card, "00B0000064").1, 0x6985);
}

#[test]
fn put_key_takes_key_versions_01_to_7f() {
    let old = StaticKeys::default_test_keys();
    for (kvn, sw) in [
        (0x00, 0x6A80),
        (0x80, 0x6A80),
        (0xFF, 0x6A80),
        (0x7F, 0x9000),
    ] {
        let mut card = operational();
        let new = StaticKeys {
            kvn,
            ..StaticKeys::default_test_keys()
        };
        let mut op = Operator::open(&mut card, 0x03);
        let (_, got) = op.send(
            &mut card,
            [0x80, 0xD8, 0x30, 0x81],
            &put_key_data(&new, &old.dek),
            Some(256),
        );
        assert_eq!(got, sw, "KVN {kvn:02X}");
    }
}

#[test]
fn a_failed_mac_closes_the_channel() {
    let mut card = fresh();
    let mut op = Operator::open(&mut card, 0x01);
    let mut buf = [0u8; 64];
    let n = op
        .channel
        .wrap_command([0x80, 0xDA, 0x00, 0x43], &[1, 1], None, &mut buf)
        .unwrap();
    buf[n - 1] ^= 0x01;
    assert_eq!(tx(&mut card, &buf[..n]).1, 0x6982);
    // Even a correctly wrapped next command is refused: the channel is gone.
    let n = op
        .channel
        .wrap_command([0x80, 0xDA, 0x00, 0x43], &[1, 1], None, &mut buf)
        .unwrap();
    assert_eq!(tx(&mut card, &buf[..n]).1, 0x6982);
    assert_eq!(expect(&mut card, "00CA00C300", 0x6A88), Vec::<u8>::new());
}

#[test]
fn service_rules_decide_which_keys_sign() {
    for (service, allowed) in [
        (ServiceType::Citizen, [true, false, false]),
        (ServiceType::Business, [true, true, false]),
        (ServiceType::Governmental, [true, false, true]),
    ] {
        let mut card = fresh();
        personalise(&mut card, service);
        let mut op = Operator::open(&mut card, 0x03);
        for p in 1..=3u8 {
            op.generate(&mut card, 0x10 | p);
        }
        expect(&mut card, SELECT, 0x9000);
        assert_eq!(verify(&mut card, PinRef::Pin1, PIN1), 0x9000);
        for (p, ok) in (1..=3u8).zip(allowed) {
            expect(
                &mut card,
                &format!("002241A4038401{:02X}", 0x10 | p),
                0x9000,
            );
            let sw = tx(&mut card, &apdu([0, 0x88, 0, 0], &[5; 32], Some(256))).1;
            assert_eq!(sw == 0x9000, ok, "{service:?} profile {p}: {sw:04X}");
        }
        // Suspended: nothing signs.
        let mut op = Operator::open(&mut card, 0x03);
        op.ok(&mut card, [0x80, 0xDA, 0x00, 0x43], &[service as u8, 0]);
        expect(&mut card, SELECT, 0x9000);
        assert_eq!(verify(&mut card, PinRef::Pin1, PIN1), 0x9000);
        assert_eq!(
            tx(&mut card, &apdu([0, 0x88, 0, 0], &[5; 32], Some(256))).1,
            0x6985
        );
    }
}
