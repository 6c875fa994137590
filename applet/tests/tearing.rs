//! Tearing: for every state-changing command, cut the power after the k-th
//! physical store write, for every k, and check that the card then holds
//! exactly the state before or after the command — or, for a PIN comparison,
//! the state before with that one try spent — and never more tries.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;

use asan_applet::{Applet, MemStore, PinRef, ServiceType, StoreError};
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

/// The state a cut store recovers to, checked against cuts during the
/// recovery itself: power cut again after each physical write of the
/// journal replay, then back for good, gives the same state.
fn recovered(name: &str, k: usize, store: MemStore) -> MemStore {
    let mut full = store.clone();
    let start = full.steps();
    full.power_cycle().expect("recovery");
    let replay = full.steps() - start;
    for r in 0..replay {
        let mut again = store.clone();
        assert_eq!(
            again.power_cycle_cut_after(r),
            Err(StoreError::PowerLost),
            "{name}: cut {k}, recovery cut {r} not reached"
        );
        again.power_cycle().expect("second recovery");
        assert!(
            again.image() == full.image(),
            "{name}: cut after write {k}, then during recovery after write {r}: \
             not the state of an uncut recovery"
        );
    }
    full
}

/// Runs `run` once without faults (the "after" state), then with a power
/// cut after every write position (and during the recovery of each);
/// returns the number of cut points.
///
/// The states the cuts leave must come in order: the state before for the
/// first cuts, then each state of `between` in turn, then the state after —
/// and every one of them must appear. For a PIN comparison `between` is
/// "before, with one try spent": that it appears, and before the state
/// after, shows that the decremented counter is durable before the card
/// acts on the comparison (a card that compared first and wrote once would
/// go from before straight to after).
fn tear(name: &str, setup: Setup, run: Run, between: &[Vec<u8>]) -> usize {
    let (card, _) = setup();
    let before = image(&card);
    drop(card);
    let (mut card, mut o) = setup();
    let start = card.store().steps();
    let sw = run(&mut card, &mut o);
    let writes = card.store().steps() - start;
    let after = image(&card);
    assert!(writes > 0, "{name}: changed nothing (SW {sw:04X})");
    let order: Vec<&Vec<u8>> = std::iter::once(&before)
        .chain(between)
        .chain(std::iter::once(&after))
        .collect();
    let mut seen = vec![false; order.len()];
    let mut at = 0;
    for k in 0..writes {
        let (mut card, mut o) = setup();
        card.store_mut().fail_after(Some(k));
        let _ = run(&mut card, &mut o);
        assert!(card.store().power_lost(), "{name}: cut {k} not reached");
        let store = recovered(name, k, card.into_store());
        let got = store.image().to_vec();
        // The first state at or after the last one seen (before and after
        // are equal for a correct VERIFY: the try spent is given back).
        let Some(index) = order
            .iter()
            .skip(at)
            .position(|state| **state == got)
            .map(|i| i + at)
        else {
            panic!(
                "{name}: cut after write {k} of {writes} left a state that is not before, \
                 after, nor the next allowed one (an earlier one, or none)"
            );
        };
        at = index;
        seen[index] = true;
        // The recovered card powers up.
        Applet::new(store, rng(99)).expect("card after power cycle");
    }
    assert!(seen[0], "{name}: no cut leaves the state before");
    // A cut before the last write (clearing the commit mark) is completed
    // by the recovery.
    assert!(
        seen[order.len() - 1],
        "{name}: no cut leaves the state after"
    );
    for (i, seen) in seen.iter().enumerate().skip(1).take(between.len()) {
        assert!(
            seen,
            "{name}: no cut leaves intermediate state {i}: the writes are not in the required order"
        );
    }
    eprintln!("tearing: {name}: {writes} cut points, states in order");
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
/// INITIALIZE UPDATE (which writes nothing) and the EXTERNAL AUTHENTICATE
/// that uses up the sequence counter value.
fn open_channel(c: &mut Card, _: &mut Option<Operator>) -> u16 {
    use asan_applet::scp03::host::HostChannel;
    use asan_applet::scp03::{SecurityLevel, StaticKeys};
    let hc = [1, 2, 3, 4, 5, 6, 7, 8];
    let (resp, sw) = tx(c, &HostChannel::initialize_update_apdu(0x30, &hc));
    assert_eq!(sw, 0x9000);
    let level = SecurityLevel::from_byte(0x01).expect("level");
    let keys = StaticKeys::default_test_keys();
    let (_, ext) = HostChannel::open(&keys, &hc, &resp, level).expect("card cryptogram");
    tx(c, &ext).1
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
        "SCP03 sequence counter (EXTERNAL AUTHENTICATE)",
        operational_session,
        open_channel,
        &[],
    );
    eprintln!("tearing: operator commands: {total} cut points");
}

#[test]
fn installation_is_atomic() {
    // The card installs itself on an empty store in one transaction: a cut
    // at any write (and during the recovery after it) leaves an empty store,
    // on which the card installs itself again at power-up, or the whole
    // fresh card — never a partial one.
    use asan_applet::state;
    let mut whole = MemStore::new();
    state::install(&mut whole, &mut rng(1)).expect("install");
    let writes = whole.steps();
    let empty = MemStore::new();
    assert!(writes > 2, "{writes} writes");
    let mut seen = [false; 2];
    for k in 0..writes {
        let mut store = MemStore::new();
        store.fail_after(Some(k));
        assert_eq!(
            state::install(&mut store, &mut rng(1)),
            Err(asan_applet::Fault::Store(StoreError::PowerLost)),
            "cut {k}"
        );
        let store = recovered("install", k, store);
        let fresh = store.image() == empty.image();
        assert!(
            fresh || store.image() == whole.image(),
            "install: cut after write {k} of {writes} left a partial card"
        );
        assert_eq!(state::installed(&store), Ok(!fresh), "cut {k}");
        seen[usize::from(!fresh)] = true;
        // Either way the card powers up as a fresh card that answers.
        let mut card = Applet::new(store, rng(1)).expect("card after power cycle");
        assert_eq!(expect(&mut card, "00CA00C200", 0x9000), vec![0xC2, 1, 3]);
        assert_eq!(
            expect(&mut card, "00CA00C100", 0x9000),
            expect(
                &mut Applet::new(whole.clone(), rng(5)).expect("card"),
                "00CA00C100",
                0x9000
            ),
            "the same serial: the install of the same randomness, whole"
        );
    }
    assert_eq!(
        seen,
        [true, true],
        "cuts leave both the empty and the whole store"
    );
    eprintln!("tearing: install: {writes} cut points");
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
