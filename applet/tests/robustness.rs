//! Hostile input: any byte string gets a status word, an error answer
//! changes no persistent state, and the card keeps answering.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;

use common::*;
use proptest::prelude::*;

/// An error answer must leave the persistent image as it was; only success,
/// `61xx` and a wrong PIN (`63Cx`, a spent try) may change it.
fn check(card: &mut Card, capdu: &[u8]) {
    let before = card.store().image().to_vec();
    let (data, sw) = tx(card, capdu);
    let ok = sw == 0x9000 || sw & 0xFF00 == 0x6100 || sw & 0xFFF0 == 0x63C0;
    if !ok {
        assert!(data.is_empty(), "error {sw:04X} with data for {capdu:02X?}");
        assert!(
            card.store().image()[..] == before[..],
            "error {sw:04X} changed state for {capdu:02X?}"
        );
    }
    // A broken chain answers 6883 once; then the card answers normally.
    if txh(card, "00CA00C200").1 == 0x6883 {
        assert!(capdu.first().is_some_and(|c| c & 0x10 != 0));
    }
    assert_eq!(
        expect(card, "00CA00C200", 0x9000).len(),
        3,
        "card still answers"
    );
}

fn header() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::sample::select(vec![
            0x00u8, 0x10, 0x80, 0x84, 0x90, 0x94, 0x01, 0x0C, 0xFF, 0x40,
        ]),
        prop::sample::select(vec![
            0xA4u8, 0xB0, 0x20, 0x24, 0x2C, 0x22, 0x88, 0x2A, 0x47, 0xCA, 0xC0, 0xDA, 0x44, 0xFE,
            0xD8, 0x50, 0x82, 0x00, 0xFF,
        ]),
        any::<u8>(),
        any::<u8>(),
    )
        .prop_map(|(c, i, p1, p2)| vec![c, i, p1, p2])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn random_bytes_get_a_status_word(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let mut card = operational();
        check(&mut card, &bytes);
    }

    #[test]
    fn structured_commands_with_random_bodies(h in header(), body in prop::collection::vec(any::<u8>(), 0..40), le in prop::option::of(any::<u8>())) {
        let mut card = operational();
        let mut capdu = h;
        if !body.is_empty() {
            capdu.push(body.len() as u8);
            capdu.extend(&body);
        }
        capdu.extend(le);
        check(&mut card, &capdu);
        // The same again on a card with a secure channel open.
        let mut card = operational();
        let _op = Operator::open(&mut card, 0x33);
        check(&mut card, &capdu);
    }
}
