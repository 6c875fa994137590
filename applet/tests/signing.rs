//! Signing family: signatures from PSO: CDS and INTERNAL AUTHENTICATE verify
//! against the public keys the card reports; nonces are hedged; key pairs
//! are replaced by generation; PIN2 authorises exactly one signature.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;

use asan_applet::PinRef;
use common::*;
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::ecdsa::{Signature, VerifyingKey};

fn public_key(card: &mut Card, key: u8) -> VerifyingKey {
    let t = expect(card, &format!("004781{key:02X}00"), 0x9000);
    assert_eq!(&t[..5], &[0x7F, 0x49, 0x43, 0x86, 0x41]);
    VerifyingKey::from_sec1_bytes(&t[5..]).expect("valid point")
}

fn sign(card: &mut Card, digest: &[u8; 32]) -> Signature {
    assert_eq!(verify(card, PinRef::Pin2, PIN2), 0x9000);
    let (sig, sw) = tx(card, &apdu([0, 0x2A, 0x9E, 0x9A], digest, Some(256)));
    assert_eq!(sw, 0x9000);
    Signature::from_slice(&sig).expect("r || s")
}

#[test]
fn pso_signatures_verify_for_each_allowed_profile() {
    let mut card = operational();
    let digest = [0x42u8; 32];
    for key in [0x21u8, 0x22] {
        expect(&mut card, &format!("002241B6038401{key:02X}"), 0x9000);
        let vk = public_key(&mut card, key);
        let sig = sign(&mut card, &digest);
        vk.verify_prehash(&digest, &sig)
            .expect("signature verifies");
        // Not with the other key.
        let other = public_key(&mut card, if key == 0x21 { 0x22 } else { 0x21 });
        assert!(other.verify_prehash(&digest, &sig).is_err());
    }
}

#[test]
fn nonces_are_hedged() {
    let mut card = operational();
    let digest = [7u8; 32];
    let a = sign(&mut card, &digest);
    let b = sign(&mut card, &digest);
    assert_ne!(a.r(), b.r(), "same digest, same key: the nonce must differ");
}

#[test]
fn internal_authenticate_signs_the_leftmost_256_bits() {
    let mut card = operational();
    let vk = public_key(&mut card, 0x11);
    assert_eq!(verify(&mut card, PinRef::Pin1, PIN1), 0x9000);
    for len in [20usize, 32, 48, 64] {
        let digest: Vec<u8> = (0..len as u8).collect();
        let (sig, sw) = tx(&mut card, &apdu([0, 0x88, 0, 0], &digest, Some(256)));
        assert_eq!(sw, 0x9000, "digest of {len} bytes");
        let sig = Signature::from_slice(&sig).expect("r || s");
        vk.verify_prehash(&digest, &sig).expect("verifies");
    }
    // PIN1 status lasts: no new VERIFY needed, until SELECT.
    expect(&mut card, SELECT, 0x9000);
    let (_, sw) = tx(&mut card, &apdu([0, 0x88, 0, 0], &[1; 32], Some(256)));
    assert_eq!(sw, 0x6982);
}

#[test]
fn one_pin2_verification_one_signature_whatever_the_outcome() {
    let mut card = operational();
    assert_eq!(verify(&mut card, PinRef::Pin2, PIN2), 0x9000);
    // A failed PSO (wrong digest length) uses up the verification.
    let (_, sw) = tx(&mut card, &apdu([0, 0x2A, 0x9E, 0x9A], &[1; 31], Some(256)));
    assert_eq!(sw, 0x6700);
    let (_, sw) = tx(&mut card, &apdu([0, 0x2A, 0x9E, 0x9A], &[1; 32], Some(256)));
    assert_eq!(sw, 0x6982);
    // A refused PSO (profile not allowed by the service) uses it up too.
    let mut card = fresh();
    personalise(&mut card, asan_applet::ServiceType::Citizen);
    let mut op = Operator::open(&mut card, 0x33);
    op.generate(&mut card, 0x22);
    expect(&mut card, SELECT, 0x9000);
    expect(&mut card, "002241B603840122", 0x9000);
    assert_eq!(verify(&mut card, PinRef::Pin2, PIN2), 0x9000);
    let (_, sw) = tx(&mut card, &apdu([0, 0x2A, 0x9E, 0x9A], &[1; 32], Some(256)));
    assert_eq!(sw, 0x6985);
    expect(&mut card, "002241B603840121", 0x9000);
    let (_, sw) = tx(&mut card, &apdu([0, 0x2A, 0x9E, 0x9A], &[1; 32], Some(256)));
    assert_eq!(sw, 0x6982);
}

#[test]
fn key_generation_replaces_the_key_and_its_certificate() {
    let mut card = operational();
    let old = public_key(&mut card, 0x21);
    expect(&mut card, "00A4020C02A102", 0x9000);
    let mut op = Operator::open(&mut card, 0x03);
    let answer = op.generate(&mut card, 0x21);
    let new = public_key(&mut card, 0x21);
    assert_ne!(old, new);
    assert_eq!(&answer[5..], new.to_sec1_point(false).as_bytes());
    // The certificate of the old key is gone.
    expect(&mut card, "00A4020C02A102", 0x6A82);
    let digest = [9u8; 32];
    let sig = sign(&mut card, &digest);
    new.verify_prehash(&digest, &sig).expect("new key signs");
}

#[test]
fn keys_survive_power_cycles() {
    let card = operational();
    let mut card = power_cycle(card, 77);
    let vk = public_key(&mut card, 0x21);
    let digest = [3u8; 32];
    let sig = sign(&mut card, &digest);
    vk.verify_prehash(&digest, &sig)
        .expect("verifies after power cycle");
}

/// PSO: CDS with PIN2 (contract 1.1) for `key`.
fn sign_with_pin(card: &mut Card, key: u8, pin2: &[u8], digest: &[u8; 32]) -> (Vec<u8>, u16) {
    let data = [
        &[0x84, 0x01, key, 0x81, 0x08][..],
        &block(PinRef::Pin2, pin2),
        &[0x90, 0x20],
        digest,
    ]
    .concat();
    tx(card, &apdu([0, 0x2A, 0x9E, 0xAC], &data, Some(256)))
}

#[test]
fn pso_with_pin2_signs_with_the_key_it_names_and_leaves_the_selection() {
    let mut card = operational();
    let digest = [0x24u8; 32];
    let (k21, k22) = (public_key(&mut card, 0x21), public_key(&mut card, 0x22));
    // MSE selects 22; the command names 21 and signs with 21.
    expect(&mut card, "002241B6038401 22", 0x9000);
    let (sig, sw) = sign_with_pin(&mut card, 0x21, PIN2, &digest);
    assert_eq!(sw, 0x9000);
    let sig = Signature::from_slice(&sig).unwrap();
    k21.verify_prehash(&digest, &sig).expect("signed with 21");
    assert!(k22.verify_prehash(&digest, &sig).is_err());
    // The selection is still 22.
    let sig = sign(&mut card, &digest);
    k22.verify_prehash(&digest, &sig)
        .expect("VERIFY + PSO still sign with 22");
    // Naming 22 signs with 22.
    let (sig, _) = sign_with_pin(&mut card, 0x22, PIN2, &digest);
    k22.verify_prehash(&digest, &Signature::from_slice(&sig).unwrap())
        .expect("signed with 22");
}

#[test]
fn pso_with_pin2_neither_needs_nor_grants_a_verification() {
    let mut card = operational();
    let digest = [0x25u8; 32];
    // Granted: none.
    assert_eq!(sign_with_pin(&mut card, 0x21, PIN2, &digest).1, 0x9000);
    let (_, sw) = tx(&mut card, &apdu([0, 0x2A, 0x9E, 0x9A], &digest, Some(256)));
    assert_eq!(sw, 0x6982);
    // A verification made before stays for the PSO it authorises.
    assert_eq!(verify(&mut card, PinRef::Pin2, PIN2), 0x9000);
    assert_eq!(sign_with_pin(&mut card, 0x21, PIN2, &digest).1, 0x9000);
    let (_, sw) = tx(&mut card, &apdu([0, 0x2A, 0x9E, 0x9A], &digest, Some(256)));
    assert_eq!(sw, 0x9000);
    // A wrong PIN2 in the command clears a verification, as VERIFY does.
    assert_eq!(verify(&mut card, PinRef::Pin2, PIN2), 0x9000);
    assert_eq!(sign_with_pin(&mut card, 0x21, b"99999", &digest).1, 0x63C2);
    let (_, sw) = tx(&mut card, &apdu([0, 0x2A, 0x9E, 0x9A], &digest, Some(256)));
    assert_eq!(sw, 0x6982);
}
