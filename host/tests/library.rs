//! The library end to end against the in-process virtual card: the card is
//! personalised through SCP03 with the shared operator helper (Citizen
//! service, PINs 1234 / 12345 / 12345678, keys 11 and 21), then every typed
//! call is checked against what the contract says: card information, PIN
//! counters, wrong and blocked PINs with their exit codes, unblocking and
//! changing PINs, signatures that verify with p256, APDU counts, certificates,
//! and PIN format errors that send nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "../../tests/src/operator.rs"]
#[allow(dead_code)]
mod operator;

use std::cell::RefCell;
use std::rc::Rc;

use asan_applet::{CertificateProfile, KeyRef, KeyUsage, MemStore, PinRef};
use asan_host::apdu::Command;
use asan_host::card::check;
use asan_host::transport::virtual_card::VirtualTransport;
use asan_host::transport::{Exchange, Transport};
use asan_host::{AnyPin, AsanCard, Error, Pin1, Pin2, Puk};
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::ecdsa::{Signature, VerifyingKey};

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

// ---------------------------------------------------------------------------
// card information
// ---------------------------------------------------------------------------

#[test]
fn info_of_a_fresh_card() {
    let mut card = fresh();
    let info = card.info().unwrap();
    assert_eq!(info.life_cycle, "initialisation");
    assert_eq!(info.service, None);
    assert!(!info.pins.pin1.set && !info.pins.pin2.set && !info.pins.puk.set);
    assert!(
        info.keys
            .iter()
            .all(|k| !k.present && k.certificate_len == 0)
    );
}

#[test]
fn info_after_personalisation() {
    let mut card = personalised();
    let (info, n) = counted(&mut card, |c| c.info());
    let info = info.unwrap();
    assert_eq!(n, 1, "info is one GET DATA");
    assert_eq!(info.life_cycle, "operational");
    let service = info.service.unwrap();
    assert_eq!((service.kind, service.active), ("citizen", true));
    for (pin, max) in [(PinRef::Pin1, 3), (PinRef::Pin2, 3), (PinRef::Puk, 10)] {
        let p = info.pins.get(pin);
        assert_eq!(
            (p.tries_left, p.max_tries, p.set),
            (max, max, true),
            "{pin:?}"
        );
        assert!(!p.blocked());
    }
    assert_eq!(info.contract_version, 1);
    assert_eq!(info.applet_version, "0.1");
    assert_eq!(info.serial.len(), 16);
    assert_eq!(info.scp_key_version, 0x30);
    assert!(
        info.scp_sequence_counter >= 1,
        "personalisation opened a session"
    );
    assert_eq!(info.keys.len(), 6);
    for k in &info.keys {
        let want = k.key == AUTH || k.key == SIGN;
        assert_eq!(k.present, want, "{k:?}");
        assert_eq!(k.certificate_len, 0);
    }
    // The serial from GET DATA C1 is the same.
    assert_eq!(hex::encode_upper(card.get_data(0xC1).unwrap()), info.serial);
}

#[test]
fn pin_status_is_one_apdu_and_matches_info() {
    let mut card = personalised();
    let (pins, n) = counted(&mut card, |c| c.pin_status());
    assert_eq!(n, 1);
    assert_eq!(pins.unwrap(), card.info().unwrap().pins);
}

// ---------------------------------------------------------------------------
// PINs
// ---------------------------------------------------------------------------

#[test]
fn wrong_pin_then_right_pin() {
    let mut card = personalised();
    let e = card.verify_pin(&pin1("9999")).unwrap_err();
    assert!(
        matches!(
            e,
            Error::WrongPin {
                pin: PinRef::Pin1,
                tries_left: 2
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.exit_code(), 3);
    assert!(e.to_string().contains("2 tries left"), "{e}");
    assert_eq!(card.pin_status().unwrap().pin1.tries_left, 2);
    assert!(!card.pin_verified(PinRef::Pin1).unwrap());
    card.verify_pin(&pin1("1234")).unwrap();
    assert_eq!(
        card.pin_status().unwrap().pin1.tries_left,
        3,
        "a match restores the counter"
    );
    assert!(card.pin_verified(PinRef::Pin1).unwrap());
    card.logout(PinRef::Pin1).unwrap();
    assert!(!card.pin_verified(PinRef::Pin1).unwrap());
}

#[test]
fn three_wrong_pins_block_and_the_puk_unblocks_keeping_the_pin() {
    let mut card = personalised();
    for left in [2u8, 1, 0] {
        match card.verify_pin(&pin1("0000")) {
            Err(
                e @ Error::WrongPin {
                    pin: PinRef::Pin1,
                    tries_left,
                },
            ) if tries_left == left => {
                assert_eq!(e.exit_code(), 3);
                if left == 0 {
                    assert!(e.to_string().contains("blocked"), "{e}");
                }
            }
            other => panic!("wanted {left} tries left: {other:?}"),
        }
    }
    for candidate in ["0000", "1234"] {
        let e = card.verify_pin(&pin1(candidate)).unwrap_err();
        assert!(matches!(e, Error::Blocked { pin: PinRef::Pin1 }), "{e:?}");
        assert_eq!(e.exit_code(), 4);
    }
    assert!(card.pin_status().unwrap().pin1.blocked());
    assert!(matches!(
        card.pin_verified(PinRef::Pin1),
        Err(Error::Blocked { pin: PinRef::Pin1 })
    ));
    assert!(matches!(
        card.authenticate(&[1; 32], &pin1("1234"), CertificateProfile::Citizen),
        Err(Error::Blocked { pin: PinRef::Pin1 })
    ));

    let (r, n) = counted(&mut card, |c| c.unblock(Some(PinRef::Pin1), &puk(), None));
    r.unwrap();
    assert_eq!(n, 1);
    let pins = card.pin_status().unwrap();
    assert_eq!((pins.pin1.tries_left, pins.puk.tries_left), (3, 10));
    card.verify_pin(&pin1("1234")).unwrap();
}

#[test]
fn the_puk_unblocks_with_a_new_pin() {
    let mut card = personalised();
    for _ in 0..3 {
        assert!(card.verify_pin(&pin2("00000")).is_err());
    }
    assert!(matches!(
        card.verify_pin(&pin2("12345")),
        Err(Error::Blocked { pin: PinRef::Pin2 })
    ));

    // A wrong PUK costs a PUK try.
    let e = card
        .unblock_pin(
            &Puk::new("87654321").unwrap(),
            Some(&any(PinRef::Pin2, "24680")),
        )
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::WrongPin {
                pin: PinRef::Puk,
                tries_left: 9
            }
        ),
        "{e:?}"
    );
    assert!(card.pin_status().unwrap().pin2.blocked());

    card.unblock_pin(&puk(), Some(&any(PinRef::Pin2, "24680")))
        .unwrap();
    assert_eq!(
        card.pin_status().unwrap().puk.tries_left,
        10,
        "a right PUK restores its counter"
    );
    assert!(matches!(
        card.verify_pin(&pin2("12345")),
        Err(Error::WrongPin {
            pin: PinRef::Pin2,
            tries_left: 2
        })
    ));
    card.verify_pin(&pin2("24680")).unwrap();
    // And it signs with the new PIN.
    let vk = verifying_key(&mut card, SIGN);
    let sig = card
        .sign(&[9; 32], &pin2("24680"), CertificateProfile::Citizen)
        .unwrap();
    vk.verify_prehash(&[9; 32], &Signature::from_slice(&sig).unwrap())
        .unwrap();
}

#[test]
fn unblock_usage_errors_send_nothing() {
    let mut card = personalised();
    let (r, n) = counted(&mut card, |c| c.unblock(Some(PinRef::Puk), &puk(), None));
    assert!(matches!(r, Err(Error::Usage(_))), "{r:?}");
    assert_eq!(n, 0);
    let (r, n) = counted(&mut card, |c| c.unblock(None, &puk(), None));
    assert!(matches!(r, Err(Error::Usage(_))), "{r:?}");
    assert_eq!(n, 0);
    let (r, n) = counted(&mut card, |c| {
        c.unblock_pin(&puk(), Some(&any(PinRef::Puk, "11112222")))
    });
    assert!(matches!(r, Err(Error::Usage(_))), "{r:?}");
    assert_eq!(n, 0);
}

#[test]
fn change_pin() {
    let mut card = personalised();
    let (r, n) = counted(&mut card, |c| {
        c.change_pin(&any(PinRef::Pin1, "1234"), &any(PinRef::Pin1, "567890"))
    });
    r.unwrap();
    assert_eq!(n, 1);
    assert!(matches!(
        card.verify_pin(&pin1("1234")),
        Err(Error::WrongPin {
            pin: PinRef::Pin1,
            tries_left: 2
        })
    ));
    card.verify_pin(&pin1("567890")).unwrap();

    // Wrong old value.
    let e = card
        .change_pin(&any(PinRef::Pin2, "99999"), &any(PinRef::Pin2, "11111"))
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::WrongPin {
                pin: PinRef::Pin2,
                tries_left: 2
            }
        ),
        "{e:?}"
    );
    card.verify_pin(&pin2("12345")).unwrap();

    // The PUK too.
    card.change_pin(&any(PinRef::Puk, "12345678"), &any(PinRef::Puk, "87654321"))
        .unwrap();
    card.verify_any(&any(PinRef::Puk, "87654321")).unwrap();

    // Different kinds: nothing sent.
    let (r, n) = counted(&mut card, |c| {
        c.change_pin(&any(PinRef::Pin1, "567890"), &any(PinRef::Pin2, "567890"))
    });
    assert!(matches!(r, Err(Error::Usage(_))), "{r:?}");
    assert_eq!(n, 0);
}

#[test]
fn invalid_pin_formats_send_nothing() {
    let mut card = personalised();
    let before = count(&card);
    let cases: Vec<(PinRef, asan_host::Result<()>)> = vec![
        (PinRef::Pin1, Pin1::new("12a4").map(drop)),
        (PinRef::Pin1, Pin1::new("123").map(drop)),
        (PinRef::Pin1, Pin1::new("123456789").map(drop)),
        (PinRef::Pin1, Pin1::new("").map(drop)),
        (PinRef::Pin2, Pin2::new("1234").map(drop)),
        (PinRef::Pin2, Pin2::new("12 345").map(drop)),
        (PinRef::Puk, Puk::new("1234567").map(drop)),
        (PinRef::Puk, Puk::new("1234567x").map(drop)),
        (PinRef::Puk, AnyPin::new(PinRef::Puk, "123456789").map(drop)),
        (PinRef::Pin2, AnyPin::new(PinRef::Pin2, "١٢٣٤٥").map(drop)),
    ];
    for (kind, r) in cases {
        match r {
            Err(e @ Error::InvalidPinFormat { pin, .. }) => {
                assert_eq!(pin, kind);
                assert_eq!(e.exit_code(), 2);
                assert!(e.to_string().contains("nothing was sent"), "{e}");
            }
            other => panic!("{kind:?}: {other:?}"),
        }
    }
    assert_eq!(
        count(&card) - before,
        0,
        "no APDU for a badly formatted PIN"
    );
    assert_eq!(
        card.pin_status().unwrap().pin1.tries_left,
        3,
        "no try spent"
    );
}

// ---------------------------------------------------------------------------
// signatures
// ---------------------------------------------------------------------------

#[test]
fn sign_verifies_against_key_21_in_two_apdus() {
    let mut card = personalised();
    let vk = verifying_key(&mut card, SIGN);
    let other = verifying_key(&mut card, AUTH);
    let digest: [u8; 32] = core::array::from_fn(|i| i as u8 * 3);
    let (sig, n) = counted(&mut card, |c| {
        c.sign(&digest, &pin2("12345"), CertificateProfile::Citizen)
    });
    let sig = Signature::from_slice(&sig.unwrap()).unwrap();
    assert_eq!(n, 2, "VERIFY + PSO with the default profile");
    vk.verify_prehash(&digest, &sig).unwrap();
    assert!(
        other.verify_prehash(&digest, &sig).is_err(),
        "not the authentication key"
    );
    let mut wrong = digest;
    wrong[0] ^= 1;
    assert!(vk.verify_prehash(&wrong, &sig).is_err());

    // PIN2 authorised exactly one signature: a second PSO without VERIFY.
    let r = card
        .send(&Command::new([0x00, 0x2A, 0x9E, 0x9A]).data(&digest).le(0))
        .unwrap();
    let e = check("PSO: COMPUTE DIGITAL SIGNATURE", r.sw, None).unwrap_err();
    assert!(matches!(e, Error::SecurityStatusNotSatisfied), "{e:?}");
    assert_eq!(e.exit_code(), 1);

    // Two signatures in a row through the API each verify PIN2.
    for _ in 0..2 {
        let (s, n) = counted(&mut card, |c| {
            c.sign(&digest, &pin2("12345"), CertificateProfile::Citizen)
        });
        vk.verify_prehash(&digest, &Signature::from_slice(&s.unwrap()).unwrap())
            .unwrap();
        assert_eq!(n, 2);
    }
}

#[test]
fn sign_with_a_wrong_pin2_sends_no_pso() {
    let mut card = personalised();
    let (r, n) = counted(&mut card, |c| {
        c.sign(&[1; 32], &pin2("54321"), CertificateProfile::Citizen)
    });
    assert!(
        matches!(
            r,
            Err(Error::WrongPin {
                pin: PinRef::Pin2,
                tries_left: 2
            })
        ),
        "{r:?}"
    );
    assert_eq!(n, 1);
}

#[test]
fn sign_with_a_profile_the_card_lacks() {
    let mut card = personalised();
    // Key 22 was never generated: MSE answers 6A88, and no PIN try is spent.
    let (r, n) = counted(&mut card, |c| {
        c.sign(&[1; 32], &pin2("12345"), CertificateProfile::Business)
    });
    assert!(matches!(r, Err(Error::NotFound(_))), "{r:?}");
    assert_eq!(n, 1, "MSE only");
    assert_eq!(card.pin_status().unwrap().pin2.tries_left, 3);
    assert!(matches!(
        card.public_key(KeyRef::new(CertificateProfile::Business, KeyUsage::Signing)),
        Err(Error::NotFound(_))
    ));
}

#[test]
fn authenticate_verifies_against_key_11() {
    let mut card = personalised();
    let vk = verifying_key(&mut card, AUTH);
    let sign_key = verifying_key(&mut card, SIGN);
    for len in [32usize, 48] {
        let digest: Vec<u8> = (0..len).map(|i| (i * 5 + len) as u8).collect();
        let (sig, n) = counted(&mut card, |c| {
            c.authenticate(&digest, &pin1("1234"), CertificateProfile::Citizen)
        });
        let sig = Signature::from_slice(&sig.unwrap()).unwrap();
        assert_eq!(
            n, 2,
            "VERIFY + INTERNAL AUTHENTICATE with the default profile"
        );
        vk.verify_prehash(&digest, &sig)
            .unwrap_or_else(|e| panic!("{len}-byte digest: {e}"));
        assert!(sign_key.verify_prehash(&digest, &sig).is_err());
    }
    // PIN1 lasts for the session; after logout INTERNAL AUTHENTICATE is refused.
    assert!(card.pin_verified(PinRef::Pin1).unwrap());
    card.logout(PinRef::Pin1).unwrap();
    let r = card
        .send(&Command::new([0x00, 0x88, 0x00, 0x00]).data(&[7; 32]).le(0))
        .unwrap();
    assert!(matches!(
        check("INTERNAL AUTHENTICATE", r.sw, None),
        Err(Error::SecurityStatusNotSatisfied)
    ));
}

#[test]
fn authenticate_refuses_bad_digest_sizes_without_sending() {
    let mut card = personalised();
    for len in [0usize, 19, 65, 100] {
        let (r, n) = counted(&mut card, |c| {
            c.authenticate(&vec![1; len], &pin1("1234"), CertificateProfile::Citizen)
        });
        assert!(matches!(r, Err(Error::Usage(_))), "{len}: {r:?}");
        assert_eq!(n, 0);
    }
    for len in [20usize, 64] {
        let vk = verifying_key(&mut card, AUTH);
        let digest = vec![0xA7; len];
        let sig = card
            .authenticate(&digest, &pin1("1234"), CertificateProfile::Citizen)
            .unwrap();
        vk.verify_prehash(&digest, &Signature::from_slice(&sig).unwrap())
            .unwrap();
    }
}

#[test]
fn operations_on_a_fresh_card_are_refused() {
    let mut card = fresh();
    assert!(matches!(
        card.verify_pin(&pin1("1234")),
        Err(Error::ConditionsNotSatisfied(_))
    ));
    assert!(matches!(
        card.sign(&[1; 32], &pin2("12345"), CertificateProfile::Citizen),
        Err(Error::ConditionsNotSatisfied(_))
    ));
    assert!(matches!(card.public_key(SIGN), Err(Error::NotFound(_))));
}

// ---------------------------------------------------------------------------
// certificates
// ---------------------------------------------------------------------------

#[test]
fn no_certificates_is_not_found() {
    let mut card = personalised();
    for key in KeyRef::ALL {
        match card.read_certificate(key.profile, key.usage) {
            Err(Error::NotFound(m)) => assert!(m.contains("certificate"), "{m}"),
            other => panic!("{key:?}: {other:?}"),
        }
        assert!(matches!(
            card.read_certificate_der(key),
            Err(Error::NotFound(_))
        ));
    }
}

#[test]
fn a_written_certificate_reads_back() {
    let mut card = personalised();
    let der = common::certificate();
    write_certificate(&mut card, SIGN, &der);
    let info = card.info().unwrap();
    let k = info.keys.iter().find(|k| k.key == SIGN).unwrap();
    assert_eq!(usize::from(k.certificate_len), der.len());

    assert_eq!(card.read_certificate_der(SIGN).unwrap(), der);
    let cert = card
        .read_certificate(CertificateProfile::Citizen, KeyUsage::Signing)
        .unwrap();
    assert_eq!(asan_host::cert::to_der(&cert).unwrap(), der);
    assert!(
        cert.tbs_certificate()
            .subject()
            .to_string()
            .contains("Asan Test")
    );
    // The other slots are still empty.
    assert!(matches!(
        card.read_certificate_der(AUTH),
        Err(Error::NotFound(_))
    ));

    // A stand-in that is only a DER frame reads back raw but does not parse.
    let stand_in = operator::certificate(2048, 0xC7);
    write_certificate(&mut card, AUTH, &stand_in);
    assert_eq!(card.read_certificate_der(AUTH).unwrap(), stand_in);
    assert!(matches!(
        card.read_certificate(CertificateProfile::Citizen, KeyUsage::Authentication),
        Err(Error::Certificate(_))
    ));
}

/// LIBRARY BUG (card.rs `read_certificate_der` with apdu.rs `fits_short`):
/// the doc promises "one extended read where the reader allows it", but
/// `Command::le(0)` with no data always fits a short APDU, so READ BINARY is
/// sent with short Le `00` (256 bytes) even on an extended-length reader:
/// a 417-byte certificate takes SELECT EF + 2 reads, a 4096-byte one 17.
#[test]
fn bug_certificate_is_read_in_one_extended_read() {
    let mut card = personalised();
    assert!(card.transport().extended_length());
    write_certificate(&mut card, SIGN, &common::certificate());
    let (der, n) = counted(&mut card, |c| c.read_certificate_der(SIGN));
    assert_eq!(der.unwrap().len(), 417);
    assert_eq!(n, 2, "SELECT EF + one extended READ BINARY");
}

// ---------------------------------------------------------------------------
// trace
// ---------------------------------------------------------------------------

#[test]
fn the_trace_never_shows_pins() {
    let mut card = personalised();
    let lines = Rc::new(RefCell::new(Vec::<String>::new()));
    let sink = Rc::clone(&lines);
    card.set_trace(Some(Box::new(move |l: &str| {
        sink.borrow_mut().push(l.to_owned())
    })));
    card.verify_pin(&pin1("9137")).unwrap_err();
    card.sign(&[1; 32], &pin2("86420"), CertificateProfile::Citizen)
        .unwrap_err();
    card.change_pin(&any(PinRef::Pin2, "12345"), &any(PinRef::Pin2, "75319"))
        .unwrap();
    card.unblock(Some(PinRef::Pin1), &puk(), None).unwrap();
    card.set_trace(None);
    let all = lines.borrow().join("\n");
    for secret in [
        "39313337",
        "3836343230",
        "3735333139",
        "3132333435363738",
        "3132333435",
    ] {
        assert!(
            !all.contains(secret),
            "PIN digits {secret} in the trace:\n{all}"
        );
    }
    for header in ["00200081", "00200082", "00240082", "002C0181"] {
        assert!(all.contains(header), "{header} missing:\n{all}");
    }
    assert!(all.contains("63C2"), "answers are traced:\n{all}");
}
