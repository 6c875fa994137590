//! `sign` and `authenticate` on a card other programs share (as through
//! pcscd): the public key is read first and the signature checked, and a
//! disturbed operation is tried again — against hostile answers at every
//! position. Every case ends in an error (the retry meets the end of the
//! script), never a panic or a hang, never an unchecked signature; a card
//! that always signs with another key is given up after `ATTEMPTS`.

use asan_applet::CertificateProfile;
use asan_host::card::ATTEMPTS;
use asan_host::transport::scripted::{Answer, ScriptedTransport};
use asan_host::{AsanCard, Error, Pin2};

use crate::answers::{generic, malformed};
use crate::cases::{Hostile, Want, assert_all, guarded};
use crate::common::hx;
use crate::ops::{DIGEST, OK, Op, SHARED_OPS, ok, public_key_answer, signer_point};

#[test]
fn shared_baseline_scripts_succeed() {
    for op in SHARED_OPS {
        let good = op.good();
        let t = ScriptedTransport::new(good.iter().map(|(_, a)| Answer::Bytes(a.clone())));
        match guarded(op, t) {
            Ok(Ok(v)) => assert!(v.ends_with("after 4 APDUs"), "{op:?}: {v}"),
            other => panic!("{op:?}: the good script must succeed: {other:?}"),
        }
    }
}

#[test]
fn shared_signing_fails_cleanly_on_hostile_answers_at_every_position() {
    let cases: Vec<(Op, usize, Hostile)> = SHARED_OPS
        .iter()
        .flat_map(|&op| {
            let good = op.good();
            op.positions()
                .flat_map(move |pos| {
                    generic()
                        .into_iter()
                        .chain(malformed(good[pos].0))
                        .map(move |h| {
                            (
                                op,
                                pos,
                                Hostile {
                                    want: Want::AnyErr,
                                    ..h
                                },
                            )
                        })
                })
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(cases.len() > 100, "{} cases", cases.len());
    assert_all(&cases);
}

/// The one that matters most: a 64-byte signature that is not one of the
/// key's (another key's, or garbage) is never returned.
#[test]
fn a_card_that_never_signs_with_the_key_is_given_up() {
    let wrong = ok(&[0x5C; 64]);
    let key = public_key_answer(&hex::encode(signer_point()));
    // Select, then each attempt: public key, (MSE after the first), VERIFY, PSO.
    let mut answers = vec![hx(OK), key.clone(), hx(OK), wrong.clone()];
    for _ in 1..ATTEMPTS {
        answers.extend([key.clone(), hx(OK), hx(OK), wrong.clone()]);
    }
    let mut t = ScriptedTransport::new(answers.into_iter().map(Answer::Bytes));
    t.shared = true;
    let mut card = AsanCard::open(t).unwrap();
    let e = card
        .sign(
            &DIGEST,
            &Pin2::new("12345").unwrap(),
            CertificateProfile::Citizen,
        )
        .unwrap_err();
    assert!(matches!(e, Error::Interference(_)), "{e:?}");
    let verifies = card
        .transport()
        .sent
        .iter()
        .filter(|c| c[1] == 0x20)
        .count();
    assert_eq!(verifies, ATTEMPTS, "one VERIFY per attempt, no more");
    assert_eq!(card.take_interference().len(), ATTEMPTS);
}

/// A wrong PIN on a shared card ends the operation at once.
#[test]
fn a_wrong_pin_on_a_shared_card_is_not_tried_again() {
    let key = public_key_answer(&hex::encode(signer_point()));
    let mut t = ScriptedTransport::new([hx(OK), key, hx("63C2")].map(Answer::Bytes));
    t.shared = true;
    let mut card = AsanCard::open(t).unwrap();
    let e = card
        .sign(
            &DIGEST,
            &Pin2::new("12345").unwrap(),
            CertificateProfile::Citizen,
        )
        .unwrap_err();
    assert!(matches!(e, Error::WrongPin { tries_left: 2, .. }), "{e:?}");
    assert_eq!(card.transport().sent.len(), 3);
}
