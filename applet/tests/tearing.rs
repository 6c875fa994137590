//! Tearing: for every state-changing command, cut the power after the k-th
//! physical store write, for every k, and check that the card then holds
//! exactly the state before or after the command — or, for a PIN comparison,
//! the state before with that one try spent — and never more tries.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;

use asan_applet::{PinRef, ServiceType};
use common::*;

type Setup = fn() -> (Card, Option<Operator>);
type Run = fn(&mut Card, &mut Option<Operator>) -> u16;

fn image(card: &Card) -> Vec<u8> {
    card.store().image().to_vec()
}

fn operational_session() -> (Card, Option<Operator>) {
    (operational(), None)
}

fn operational_with_channel() -> (Card, Option<Operator>) {
    let mut card = operational();
    let op = Operator::open(&mut card, 0x33);
    (card, Some(op))
}

fn fresh_with_channel() -> (Card, Option<Operator>) {
    let mut card = fresh();
    let op = Operator::open(&mut card, 0x33);
    (card, Some(op))
}

fn op(o: &mut Option<Operator>) -> &mut Operator {
    o.as_mut().expect("operator channel")
}

/// Runs `run` once without faults (the "after" state), then with a power
/// cut after every write position; returns the number of cut points.
fn tear(name: &str, setup: Setup, run: Run, also_allowed: &[Vec<u8>]) -> usize {
    let (card, _) = setup();
    let before = image(&card);
    drop(card);
    let (mut card, mut o) = setup();
    let start = card.store().steps();
    let sw = run(&mut card, &mut o);
    let writes = card.store().steps() - start;
    let after = image(&card);
    assert!(writes > 0, "{name}: changed nothing (SW {sw:04X})");
    for k in 0..writes {
        let (mut card, mut o) = setup();
        card.store_mut().fail_after(Some(k));
        let _ = run(&mut card, &mut o);
        assert!(card.store().power_lost(), "{name}: cut {k} not reached");
        let card = power_cycle(card, 99);
        let got = image(&card);
        assert!(
            got == before || got == after || also_allowed.contains(&got),
            "{name}: cut after write {k} of {writes} left a state that is neither before nor after"
        );
    }
    eprintln!("tearing: {name}: {writes} cut points, all before/after");
    writes
}

/// The state after the same setup and a wrong attempt: "before, one try spent".
fn spent(setup: Setup, wrong: Run) -> Vec<u8> {
    let (mut card, mut o) = setup();
    let sw = wrong(&mut card, &mut o);
    assert_eq!(sw & 0xFFF0, 0x63C0, "wrong attempt answers 63Cx");
    image(&card)
}

fn verify_pin2_right(c: &mut Card, _: &mut Option<Operator>) -> u16 {
    verify(c, PinRef::Pin2, PIN2)
}
fn verify_pin2_wrong(c: &mut Card, _: &mut Option<Operator>) -> u16 {
    verify(c, PinRef::Pin2, b"99999")
}
fn change_pin1_right(c: &mut Card, _: &mut Option<Operator>) -> u16 {
    let data = [block(PinRef::Pin1, PIN1), block(PinRef::Pin1, b"4321")].concat();
    tx(c, &apdu([0, 0x24, 0, 0x81], &data, None)).1
}
fn change_pin1_wrong(c: &mut Card, _: &mut Option<Operator>) -> u16 {
    let data = [block(PinRef::Pin1, b"0000"), block(PinRef::Pin1, b"4321")].concat();
    tx(c, &apdu([0, 0x24, 0, 0x81], &data, None)).1
}
fn reset_pin2_new(c: &mut Card, _: &mut Option<Operator>) -> u16 {
    let data = [block(PinRef::Puk, PUK), block(PinRef::Pin2, b"54321")].concat();
    tx(c, &apdu([0, 0x2C, 0, 0x82], &data, None)).1
}
fn reset_pin2_wrong_puk(c: &mut Card, _: &mut Option<Operator>) -> u16 {
    let data = [
        block(PinRef::Puk, b"00000000"),
        block(PinRef::Pin2, b"54321"),
    ]
    .concat();
    tx(c, &apdu([0, 0x2C, 0, 0x82], &data, None)).1
}
fn reset_pin1_keep(c: &mut Card, _: &mut Option<Operator>) -> u16 {
    tx(c, &apdu([0, 0x2C, 1, 0x81], &block(PinRef::Puk, PUK), None)).1
}
fn reset_pin1_keep_wrong(c: &mut Card, _: &mut Option<Operator>) -> u16 {
    tx(
        c,
        &apdu([0, 0x2C, 1, 0x81], &block(PinRef::Puk, b"00000000"), None),
    )
    .1
}

/// PSO: CDS with PIN2 (contract 1.1) for key 21 and `pin2`.
fn pso_with_pin(c: &mut Card, pin2: &[u8]) -> (Vec<u8>, u16) {
    let data = [
        &[0x84, 0x01, 0x21, 0x81, 0x08][..],
        &block(PinRef::Pin2, pin2),
        &[0x90, 0x20],
        &[0x5A; 32],
    ]
    .concat();
    tx(c, &apdu([0, 0x2A, 0x9E, 0xAC], &data, Some(256)))
}
fn pso_pin2_right(c: &mut Card, _: &mut Option<Operator>) -> u16 {
    pso_with_pin(c, PIN2).1
}
fn pso_pin2_wrong(c: &mut Card, _: &mut Option<Operator>) -> u16 {
    pso_with_pin(c, b"99999").1
}

/// A card whose PIN1 has one wrong try behind it, so a reset changes its counter.
fn operational_pin1_tried() -> (Card, Option<Operator>) {
    let mut card = operational();
    assert_eq!(verify(&mut card, PinRef::Pin1, b"0000"), 0x63C2);
    (card, None)
}

#[test]
fn user_commands_are_atomic() {
    let mut total = 0;
    total += tear("VERIFY wrong", operational_session, verify_pin2_wrong, &[]);
    let one_spent = spent(operational_session, verify_pin2_wrong);
    total += tear(
        "VERIFY right",
        operational_session,
        verify_pin2_right,
        &[one_spent],
    );
    total += tear(
        "CHANGE REFERENCE DATA wrong",
        operational_session,
        change_pin1_wrong,
        &[],
    );
    let one_spent = spent(operational_session, change_pin1_wrong);
    total += tear(
        "CHANGE REFERENCE DATA right",
        operational_session,
        change_pin1_right,
        &[one_spent],
    );
    total += tear(
        "RESET RETRY COUNTER wrong PUK",
        operational_session,
        reset_pin2_wrong_puk,
        &[],
    );
    let one_spent = spent(operational_session, reset_pin2_wrong_puk);
    total += tear(
        "RESET RETRY COUNTER P1 00",
        operational_session,
        reset_pin2_new,
        &[one_spent],
    );
    let one_spent = spent(operational_pin1_tried, reset_pin1_keep_wrong);
    total += tear(
        "RESET RETRY COUNTER P1 01",
        operational_pin1_tried,
        reset_pin1_keep,
        &[one_spent],
    );
    total += tear(
        "PSO: CDS with PIN2, wrong",
        operational_session,
        pso_pin2_wrong,
        &[],
    );
    let one_spent = spent(operational_session, pso_pin2_wrong);
    total += tear(
        "PSO: CDS with PIN2, right",
        operational_session,
        pso_pin2_right,
        &[one_spent],
    );
    eprintln!("tearing: user commands: {total} cut points");
}

fn gen_key(c: &mut Card, o: &mut Option<Operator>) -> u16 {
    op(o).send(c, [0x80, 0x47, 0x80, 0x21], &[], Some(256)).1
}
fn write_cert(c: &mut Card, o: &mut Option<Operator>) -> u16 {
    op(o)
        .send(
            c,
            [0x80, 0xDA, 0xA1, 0x02],
            &fake_certificate(4096, 0x5A),
            None,
        )
        .1
}
fn delete_cert(c: &mut Card, o: &mut Option<Operator>) -> u16 {
    op(o).send(c, [0x80, 0xDA, 0xA1, 0x01], &[], None).1
}
fn set_service(c: &mut Card, o: &mut Option<Operator>) -> u16 {
    op(o)
        .send(c, [0x80, 0xDA, 0x00, 0x43], &[0x03, 0x00], None)
        .1
}
fn terminate(c: &mut Card, o: &mut Option<Operator>) -> u16 {
    op(o).send(c, [0x80, 0xFE, 0x00, 0x00], &[], None).1
}
fn set_pin(c: &mut Card, o: &mut Option<Operator>) -> u16 {
    op(o)
        .send(
            c,
            [0x80, 0x2C, 0x02, 0x83],
            &block(PinRef::Puk, b"87654321"),
            None,
        )
        .1
}
fn set_limit(c: &mut Card, o: &mut Option<Operator>) -> u16 {
    op(o).send(c, [0x80, 0xDA, 0x01, 0x82], &[5], None).1
}
fn initialize_update(c: &mut Card, _: &mut Option<Operator>) -> u16 {
    txh(c, "8050300008 0102030405060708 00").1
}

/// A fresh card with everything set except activation.
fn ready_to_activate() -> (Card, Option<Operator>) {
    let (mut card, mut o) = fresh_with_channel();
    let op = op(&mut o);
    op.set_pin(&mut card, PinRef::Pin1, PIN1);
    op.set_pin(&mut card, PinRef::Pin2, PIN2);
    op.set_pin(&mut card, PinRef::Puk, PUK);
    op.generate(&mut card, 0x11);
    op.generate(&mut card, 0x21);
    (card, o)
}
fn activate(c: &mut Card, o: &mut Option<Operator>) -> u16 {
    op(o).send(c, [0x80, 0x44, 0x00, 0x00], &[], None).1
}

fn put_key(c: &mut Card, o: &mut Option<Operator>) -> u16 {
    use asan_applet::scp03::crypto::{aes_cbc_encrypt_zero_iv, key_check_value};
    let dek = asan_applet::scp03::StaticKeys::default_test_keys().dek;
    let mut data = vec![0x31];
    for fill in [0xA1u8, 0xB2, 0xC3] {
        let key = [fill; 16];
        let mut enc = key;
        aes_cbc_encrypt_zero_iv(&dek, &mut enc).expect("encrypt");
        data.extend([0x88, 0x11, 0x10]);
        data.extend(enc);
        data.push(3);
        data.extend(key_check_value(&key));
    }
    op(o).send(c, [0x80, 0xD8, 0x30, 0x81], &data, Some(256)).1
}

#[test]
fn operator_commands_are_atomic() {
    let mut total = 0;
    total += tear("set PIN value", fresh_with_channel, set_pin, &[]);
    total += tear("set retry limit", fresh_with_channel, set_limit, &[]);
    total += tear("generate key pair", operational_with_channel, gen_key, &[]);
    total += tear(
        "write certificate (4096 bytes, chained)",
        operational_with_channel,
        write_cert,
        &[],
    );
    total += tear(
        "delete certificate",
        operational_with_channel,
        delete_cert,
        &[],
    );
    total += tear("set service", operational_with_channel, set_service, &[]);
    total += tear("activate", ready_to_activate, activate, &[]);
    total += tear("terminate", operational_with_channel, terminate, &[]);
    total += tear("PUT KEY", operational_with_channel, put_key, &[]);
    total += tear(
        "SCP03 sequence counter",
        operational_session,
        initialize_update,
        &[],
    );
    eprintln!("tearing: operator commands: {total} cut points");
}

#[test]
fn a_torn_verify_never_gives_back_a_try() {
    // Cut power right after the decrement of a correct VERIFY, again and again:
    // each time the card loses a try, and eventually the PIN blocks.
    let mut card = operational();
    for expected in [2u8, 1, 0] {
        card.store_mut().fail_after(Some(2));
        let _ = verify(&mut card, PinRef::Pin2, PIN2);
        card = power_cycle(card, 5);
        let (_, sw) = txh(&mut card, "0020008200");
        if expected == 0 {
            assert_eq!(sw, 0x6983);
        } else {
            assert_eq!(sw, 0x63C0 | u16::from(expected));
        }
    }
    assert_eq!(verify(&mut card, PinRef::Pin2, PIN2), 0x6983);
    let _ = ServiceType::Citizen;
}

#[test]
fn a_torn_pso_with_pin2_signs_nothing_and_gives_back_no_try() {
    // However the writes are cut, a signature comes only after the spent try
    // was restored: a cut command answers no signature.
    let (mut card, _) = operational_session();
    let start = card.store().steps();
    let (sig, sw) = pso_with_pin(&mut card, PIN2);
    assert_eq!((sig.len(), sw), (64, 0x9000));
    let writes = card.store().steps() - start;
    assert!(writes >= 2, "a try spent, then restored: {writes} writes");
    for k in 0..writes {
        let (mut card, _) = operational_session();
        card.store_mut().fail_after(Some(k));
        let (data, sw) = pso_with_pin(&mut card, PIN2);
        assert_eq!((data.len(), sw), (0, 0x6F00), "cut after write {k}");
    }
    // Cut right after the decrement, again and again: each time a try is
    // lost for good, until PIN2 blocks.
    let mut card = operational();
    for expected in [2u8, 1, 0] {
        card.store_mut().fail_after(Some(2));
        let (data, _) = pso_with_pin(&mut card, PIN2);
        assert!(data.is_empty());
        card = power_cycle(card, 7);
        let (_, sw) = txh(&mut card, "0020008200");
        if expected == 0 {
            assert_eq!(sw, 0x6983);
        } else {
            assert_eq!(sw, 0x63C0 | u16::from(expected));
        }
    }
    assert_eq!(pso_with_pin(&mut card, PIN2).1, 0x6983);
}
