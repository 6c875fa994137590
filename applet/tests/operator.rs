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

#[test]
fn sequence_counter_is_persistent_and_challenges_never_repeat() {
    let mut card = fresh();
    let hc = [9u8; 8];
    let mut challenges = Vec::new();
    for round in 1..=3u8 {
        let (resp, sw) = tx(&mut card, &HostChannel::initialize_update_apdu(0x30, &hc));
        assert_eq!(sw, 0x9000);
        assert_eq!(&resp[29..32], &[0, 0, round]);
        challenges.push(resp[13..21].to_vec());
        card = power_cycle(card, u64::from(round));
    }
    challenges.dedup();
    assert_eq!(challenges.len(), 3);
    assert_eq!(
        expect(&mut card, "00CA00C600", 0x9000),
        vec![0xC6, 4, 0x30, 0, 0, 3]
    );
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
