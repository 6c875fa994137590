//! The module through a PKCS#11 client library in Rust (`cryptoki`, which
//! loads `libasan_pkcs11.so` the way applications do), for what the tools
//! do not show: a length query and then one signature on one PIN2, with
//! the APDUs the card received counted in its log (one command on a
//! contract 1.1 card); a second signature without a new PIN2 refused; the
//! counters after wrong PINs in the token flags; a card pulled out in the
//! middle of a session and put back.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Card, Token, module};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::ecdsa::{Signature, VerifyingKey};

/// The module, initialised; finalised when dropped (the module's state is
/// the process's, shared by the tests, which run one card at a time).
struct Context(Pkcs11);

impl std::ops::Deref for Context {
    type Target = Pkcs11;
    fn deref(&self) -> &Pkcs11 {
        &self.0
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        let _ = self.0.clone().finalize();
    }
}

fn context() -> Context {
    let p = Pkcs11::new(module()).unwrap();
    p.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .unwrap();
    Context(p)
}

/// The slot of `token` of the test card.
fn slot(p: &Pkcs11, card: &Card, token: Token) -> Slot {
    let label = card.label(token);
    p.get_slots_with_token()
        .unwrap()
        .into_iter()
        .find(|s| p.get_token_info(*s).is_ok_and(|t| t.label() == label))
        .unwrap_or_else(|| {
            let seen: Vec<_> = p
                .get_all_slots()
                .unwrap()
                .into_iter()
                .map(|s| (s, p.get_token_info(s).map(|t| t.label().to_owned())))
                .collect();
            panic!("no token {label}: {seen:?}")
        })
}

fn object(s: &Session, class: ObjectClass, id: u8) -> ObjectHandle {
    let found = s
        .find_objects(&[Attribute::Class(class), Attribute::Id(vec![id])])
        .unwrap();
    assert_eq!(found.len(), 1, "one object {class:?} {id:02X}");
    found[0]
}

fn public_key(s: &Session, id: u8) -> VerifyingKey {
    let h = object(s, ObjectClass::PUBLIC_KEY, id);
    let attrs = s.get_attributes(h, &[AttributeType::EcPoint]).unwrap();
    let Some(Attribute::EcPoint(point)) = attrs.first() else {
        panic!("no EC point: {attrs:?}")
    };
    // A DER OCTET STRING around the uncompressed point.
    assert_eq!(&point[..2], &[0x04, 0x41]);
    VerifyingKey::from_sec1_bytes(&point[2..]).unwrap()
}

fn rv(e: Error) -> RvError {
    match e {
        Error::Pkcs11(rv, _) => rv,
        other => panic!("not a PKCS#11 error: {other}"),
    }
}

#[test]
fn a_length_query_then_one_signature_on_one_pin2_and_no_second() {
    let card = Card::provisioned();
    let p = context();
    let s = p.open_ro_session(slot(&p, &card, Token::Pin2)).unwrap();
    let key = object(&s, ObjectClass::PRIVATE_KEY, 0x21);
    let public = public_key(&s, 0x21);
    let digest = [0x42u8; 32];

    s.login(
        UserType::User,
        Some(&AuthPin::new(card.pin2.clone().into())),
    )
    .unwrap();
    let before = card.received().len();
    // `Session::sign` is C_SignInit, C_Sign with no buffer (the length),
    // then C_Sign: the length query must not use the PIN2 up.
    let signature = s.sign(&Mechanism::Ecdsa, key, &digest).unwrap();
    assert_eq!(signature.len(), 64);
    let sent = card.received()[before..].to_vec();
    assert!(
        public
            .verify_prehash(&digest, &Signature::from_slice(&signature).unwrap())
            .is_ok()
    );
    // On a contract 1.1 card: the one command carrying PIN2 and digest.
    assert_eq!(sent.len(), 1, "APDUs of one signature: {sent:#?}");
    assert!(sent[0].starts_with("00 2A 9E AC"), "{sent:?}");
    assert!(sent[0].contains("-> 9000"), "{sent:?}");

    // The PIN2 authorised that one signature only.
    let e = s.sign(&Mechanism::Ecdsa, key, &digest).unwrap_err();
    assert_eq!(rv(e), RvError::UserNotLoggedIn);
    // And again with a fresh PIN2.
    s.login(
        UserType::User,
        Some(&AuthPin::new(card.pin2.clone().into())),
    )
    .unwrap();
    let again = s.sign(&Mechanism::EcdsaSha256, key, b"a document").unwrap();
    assert_eq!(again.len(), 64);
}

#[test]
fn wrong_pins_show_in_the_token_flags_and_a_right_one_clears_them() {
    let card = Card::provisioned();
    let p = context();
    let pin1 = slot(&p, &card, Token::Pin1);
    let s = p.open_ro_session(pin1).unwrap();
    let wrong = AuthPin::new("0000".into());
    let e = s.login(UserType::User, Some(&wrong)).unwrap_err();
    assert_eq!(rv(e), RvError::PinIncorrect);
    let info = p.get_token_info(pin1).unwrap();
    assert!(info.user_pin_count_low() && !info.user_pin_final_try());
    // The value the card just refused is not sent again: no try spent.
    let e = s.login(UserType::User, Some(&wrong)).unwrap_err();
    assert_eq!(rv(e), RvError::PinIncorrect);
    let info = p.get_token_info(pin1).unwrap();
    assert!(info.user_pin_count_low() && !info.user_pin_final_try());
    let e = s
        .login(UserType::User, Some(&AuthPin::new("0001".into())))
        .unwrap_err();
    assert_eq!(rv(e), RvError::PinIncorrect);
    let info = p.get_token_info(pin1).unwrap();
    assert!(info.user_pin_final_try() && !info.user_pin_locked());
    // The CLI reads the same counter from the card.
    let status = card.asan(&["--json", "pin", "status"]).ok();
    let status: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(status["pin1"]["tries_left"], 1, "{status}");
    // A PIN of the wrong format costs nothing.
    let e = s
        .login(UserType::User, Some(&AuthPin::new("12".into())))
        .unwrap_err();
    assert_eq!(rv(e), RvError::PinLenRange);
    s.login(
        UserType::User,
        Some(&AuthPin::new(card.pin1.clone().into())),
    )
    .unwrap();
    let info = p.get_token_info(pin1).unwrap();
    assert!(!info.user_pin_count_low() && !info.user_pin_final_try());

    // A wrong PIN2 is found out by the signature (it travels only in it).
    let s2 = p.open_ro_session(slot(&p, &card, Token::Pin2)).unwrap();
    let key = object(&s2, ObjectClass::PRIVATE_KEY, 0x22);
    s2.login(UserType::User, Some(&AuthPin::new("99999".into())))
        .unwrap();
    let e = s2.sign(&Mechanism::Ecdsa, key, &[1; 32]).unwrap_err();
    assert_eq!(rv(e), RvError::PinIncorrect);
    let info = p.get_token_info(slot(&p, &card, Token::Pin2)).unwrap();
    assert!(info.user_pin_count_low());
}

#[test]
fn a_card_pulled_out_mid_session_and_put_back() {
    let mut card = Card::provisioned();
    let p = context();
    let pin1 = slot(&p, &card, Token::Pin1);
    let s = p.open_ro_session(pin1).unwrap();
    s.login(
        UserType::User,
        Some(&AuthPin::new(card.pin1.clone().into())),
    )
    .unwrap();
    let key = object(&s, ObjectClass::PRIVATE_KEY, 0x11);
    assert_eq!(p.get_slot_event().unwrap(), None);

    card.remove();
    let e = s.sign(&Mechanism::Ecdsa, key, &[7; 32]).unwrap_err();
    assert_eq!(rv(e), RvError::DeviceRemoved);
    let e = p.get_token_info(pin1).unwrap_err();
    assert_eq!(rv(e), RvError::TokenNotPresent);
    assert_eq!(p.get_slot_event().unwrap(), Some(pin1));
    drop(s);

    card.insert();
    let s = p.open_ro_session(slot(&p, &card, Token::Pin1)).unwrap();
    // The login did not survive the removal: the PIN1 keys are private
    // objects, seen after a login only.
    let hidden = s
        .find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY)])
        .unwrap();
    assert!(hidden.is_empty(), "{hidden:?}");
    s.login(
        UserType::User,
        Some(&AuthPin::new(card.pin1.clone().into())),
    )
    .unwrap();
    let key = object(&s, ObjectClass::PRIVATE_KEY, 0x11);
    let public = public_key(&s, 0x11);
    let signature = s.sign(&Mechanism::Ecdsa, key, &[7; 32]).unwrap();
    assert!(
        public
            .verify_prehash(&[7; 32], &Signature::from_slice(&signature).unwrap())
            .is_ok()
    );
}

#[test]
fn threads_sign_at_once_on_their_own_sessions() {
    let card = Card::provisioned();
    let p = context();
    let pin1 = slot(&p, &card, Token::Pin1);
    let first = p.open_ro_session(pin1).unwrap();
    // The login is the application's, for every session of the token.
    first
        .login(
            UserType::User,
            Some(&AuthPin::new(card.pin1.clone().into())),
        )
        .unwrap();
    let public = public_key(&first, 0x12);
    std::thread::scope(|scope| {
        for t in 0..4u8 {
            let (p, public) = (&p, &public);
            scope.spawn(move || {
                let s = p.open_ro_session(pin1).unwrap();
                let key = object(&s, ObjectClass::PRIVATE_KEY, 0x12);
                for n in 0..5u8 {
                    let digest = [t * 16 + n; 32];
                    let signature = s.sign(&Mechanism::Ecdsa, key, &digest).unwrap();
                    let signature = Signature::from_slice(&signature).unwrap();
                    assert!(public.verify_prehash(&digest, &signature).is_ok());
                }
            });
        }
    });
}
