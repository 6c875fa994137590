//! PIN family: counters are persistent, a malformed block costs no try,
//! blocked stays blocked, the PUK resets, the operator sets limits.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;

use asan_applet::PinRef;
use common::*;

fn status(card: &mut Card, pin: PinRef) -> u16 {
    tx(card, &[0, 0x20, 0, pin.byte()]).1
}

#[test]
fn counters_survive_power_cycles() {
    let mut card = operational();
    assert_eq!(verify(&mut card, PinRef::Pin1, b"0000"), 0x63C2);
    let mut card = power_cycle(card, 3);
    assert_eq!(status(&mut card, PinRef::Pin1), 0x63C2);
    assert_eq!(verify(&mut card, PinRef::Pin1, b"0000"), 0x63C1);
    assert_eq!(verify(&mut card, PinRef::Pin1, PIN1), 0x9000);
    let mut card = power_cycle(card, 4);
    assert_eq!(
        status(&mut card, PinRef::Pin1),
        0x63C3,
        "restored, not verified after power-up"
    );
}

#[test]
fn malformed_blocks_cost_nothing() {
    let mut card = operational();
    for bad in [
        "3132333435FF36FF",
        "313233FFFFFFFFFF",
        "3132333AFFFFFFFF",
        "31323334000000FF",
    ] {
        assert_eq!(
            txh(&mut card, &format!("0020008108{bad}")).1,
            0x6A80,
            "{bad}"
        );
    }
    assert_eq!(txh(&mut card, "00200081053132333435").1, 0x6700);
    // PIN2 needs 5 digits: a 4-digit block is malformed for PIN2.
    assert_eq!(txh(&mut card, "002000820831323334FFFFFFFF").1, 0x6A80);
    // Change with a malformed new block: refused before the old one is checked.
    let data = [
        block(PinRef::Pin1, PIN1),
        hex::decode("31FFFFFFFFFFFFFF").unwrap(),
    ]
    .concat();
    assert_eq!(
        tx(&mut card, &apdu([0, 0x24, 0, 0x81], &data, None)).1,
        0x6A80
    );
    assert_eq!(status(&mut card, PinRef::Pin1), 0x63C3);
    assert_eq!(status(&mut card, PinRef::Pin2), 0x63C3);
}

#[test]
fn blocked_pin_needs_the_puk_and_a_blocked_puk_stays_blocked() {
    let mut card = operational();
    for left in [2u16, 1, 0] {
        assert_eq!(verify(&mut card, PinRef::Pin2, b"00000"), 0x63C0 | left);
    }
    assert_eq!(
        verify(&mut card, PinRef::Pin2, PIN2),
        0x6983,
        "the right PIN does not unblock"
    );
    assert_eq!(status(&mut card, PinRef::Pin2), 0x6983);
    // PUK only: counter back, value unchanged.
    assert_eq!(
        tx(
            &mut card,
            &apdu([0, 0x2C, 1, 0x82], &block(PinRef::Puk, PUK), None)
        )
        .1,
        0x9000
    );
    assert_eq!(verify(&mut card, PinRef::Pin2, PIN2), 0x9000);
    // Exhaust the PUK: 10 tries.
    for left in (0..10u16).rev() {
        let sw = tx(
            &mut card,
            &apdu([0, 0x2C, 1, 0x82], &block(PinRef::Puk, b"00000000"), None),
        )
        .1;
        assert_eq!(sw, 0x63C0 | left);
    }
    for _ in 0..3 {
        let sw = tx(
            &mut card,
            &apdu([0, 0x2C, 1, 0x82], &block(PinRef::Puk, PUK), None),
        )
        .1;
        assert_eq!(sw, 0x6983);
    }
    let data = [block(PinRef::Puk, PUK), block(PinRef::Puk, b"11111111")].concat();
    assert_eq!(
        tx(&mut card, &apdu([0, 0x24, 0, 0x83], &data, None)).1,
        0x6983
    );
    let card = power_cycle(card, 8);
    let mut card = card;
    assert_eq!(status(&mut card, PinRef::Puk), 0x6983);
}

#[test]
fn reset_with_new_pin_and_change() {
    let mut card = operational();
    let data = [block(PinRef::Puk, PUK), block(PinRef::Pin1, b"87654321")].concat();
    assert_eq!(
        tx(&mut card, &apdu([0, 0x2C, 0, 0x81], &data, None)).1,
        0x9000
    );
    assert_eq!(verify(&mut card, PinRef::Pin1, PIN1), 0x63C2);
    assert_eq!(verify(&mut card, PinRef::Pin1, b"87654321"), 0x9000);
    let data = [
        block(PinRef::Pin1, b"87654321"),
        block(PinRef::Pin1, b"2468"),
    ]
    .concat();
    assert_eq!(
        tx(&mut card, &apdu([0, 0x24, 0, 0x81], &data, None)).1,
        0x9000
    );
    assert_eq!(
        status(&mut card, PinRef::Pin1),
        0x63C3,
        "change clears the verified status"
    );
    assert_eq!(verify(&mut card, PinRef::Pin1, b"2468"), 0x9000);
    // The PUK itself can be changed.
    let data = [block(PinRef::Puk, PUK), block(PinRef::Puk, b"11112222")].concat();
    assert_eq!(
        tx(&mut card, &apdu([0, 0x24, 0, 0x83], &data, None)).1,
        0x9000
    );
    assert_eq!(
        tx(
            &mut card,
            &apdu([0, 0x2C, 1, 0x82], &block(PinRef::Puk, b"11112222"), None)
        )
        .1,
        0x9000
    );
}

#[test]
fn operator_retry_limits() {
    let mut card = fresh();
    let mut op = Operator::open(&mut card, 0x03);
    op.ok(&mut card, [0x80, 0xDA, 0x01, 0x81], &[5]);
    op.ok(&mut card, [0x80, 0xDA, 0x01, 0x83], &[15]);
    assert_eq!(
        op.send(&mut card, [0x80, 0xDA, 0x01, 0x82], &[16], None).1,
        0x6A80
    );
    assert_eq!(
        op.send(&mut card, [0x80, 0xDA, 0x01, 0x82], &[0], None).1,
        0x6A80
    );
    let c4 = expect(&mut card, "00CA00C400", 0x9000);
    assert_eq!(
        c4,
        hex::decode("C40C810505008203030083 0F0F00".replace(' ', "")).unwrap()
    );
    drop(op);
    personalise(&mut card, asan_applet::ServiceType::Citizen);
    for left in (0..5u16).rev() {
        assert_eq!(verify(&mut card, PinRef::Pin1, b"0000"), 0x63C0 | left);
    }
}
