//! The library end to end against the in-process virtual card: the card is
//! personalised through SCP03 with the shared operator helper (Citizen
//! service, PINs 1234 / 12345 / 12345678, keys 11 and 21), then every typed
//! call is checked against what the contract says: card information, PIN
//! counters, wrong and blocked PINs with their exit codes, unblocking and
//! changing PINs, signatures that verify with p256, APDU counts, certificates,
//! and PIN format errors that send nothing.
//!
//! The card helpers are here; the tests are in `library/info.rs`,
//! `library/pins.rs` and `library/signatures.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "../../tests/src/operator.rs"]
#[allow(dead_code)]
mod operator;

#[path = "library/info.rs"]
mod info;
#[path = "library/pins.rs"]
mod pins;
#[path = "library/signatures.rs"]
mod signatures;

use asan_applet::{KeyRef, MemStore, PinRef};
use asan_host::transport::virtual_card::VirtualTransport;
use asan_host::transport::{Exchange, Transport};
use asan_host::{AnyPin, AsanCard, Pin1, Pin2, Puk};
use p256::ecdsa::VerifyingKey;

type Card = AsanCard<VirtualTransport<MemStore>>;

const AUTH: KeyRef = KeyRef::DEFAULT_AUTHENTICATION;
const SIGN: KeyRef = KeyRef::DEFAULT_SIGNING;

fn pin1(d: &str) -> Pin1 {
    Pin1::new(d).unwrap()
}

fn pin2(d: &str) -> Pin2 {
    Pin2::new(d).unwrap()
}

fn puk() -> Puk {
    Puk::new("12345678").unwrap()
}

fn any(kind: PinRef, d: &str) -> AnyPin {
    AnyPin::new(kind, d).unwrap()
}

/// Runs `f` with an operator transmit function over the card's transport.
fn with_tx<R>(card: &mut Card, f: impl FnOnce(&mut operator::Tx<'_>) -> R) -> R {
    let t = card.transport_mut();
    let mut tx = |capdu: &[u8]| {
        t.transmit(capdu)
            .map_err(|e| std::io::Error::other(e.to_string()))
    };
    f(&mut tx)
}

/// A fresh card, opened.
fn fresh() -> Card {
    AsanCard::open(VirtualTransport::in_memory().unwrap()).unwrap()
}

/// A card personalised as the standard test Citizen card, applet SELECTed again.
fn personalised() -> Card {
    let mut card = fresh();
    with_tx(&mut card, |tx| operator::personalise(tx)).unwrap();
    card.select().unwrap();
    card
}

/// Writes a certificate file through an operator session.
fn write_certificate(card: &mut Card, key: KeyRef, der: &[u8]) {
    let [p1, p2] = key.certificate().bytes();
    with_tx(card, |tx| {
        let mut op = operator::Operator::open(tx, 0x03)?;
        op.ok(tx, [0x80, 0xDA, p1, p2], der)
    })
    .unwrap();
    card.select().unwrap();
}

fn count(card: &Card) -> u64 {
    card.transport().apdu_count()
}

/// Runs `f` and returns its result with the number of APDUs it sent.
fn counted<R>(card: &mut Card, f: impl FnOnce(&mut Card) -> R) -> (R, u64) {
    let before = count(card);
    let r = f(card);
    (r, count(card) - before)
}

fn verifying_key(card: &mut Card, key: KeyRef) -> VerifyingKey {
    VerifyingKey::from(&card.public_key(key).unwrap())
}
