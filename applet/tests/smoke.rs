//! Smoke test: personalise a card and sign once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;
use common::*;

#[test]
fn personalise_and_sign() {
    let mut card = operational();
    assert_eq!(verify(&mut card, asan_applet::PinRef::Pin2, PIN2), 0x9000);
    let sig = expect(
        &mut card,
        &format!("002A9E9A20{}00", "11".repeat(32)),
        0x9000,
    );
    assert_eq!(sig.len(), 64);
}
