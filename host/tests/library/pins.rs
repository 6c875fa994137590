//! PINs: wrong and blocked PINs, unblocking, changing, format errors that
//! send nothing, and a trace that never shows them.

use std::sync::{Arc, Mutex};

use asan_applet::{CertificateProfile, PinRef};
use asan_host::{AnyPin, Error, Pin1, Pin2, Puk};
use p256::ecdsa::Signature;
use p256::ecdsa::signature::hazmat::PrehashVerifier;

use crate::{SIGN, any, count, counted, personalised, pin1, pin2, puk, verifying_key};

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
// trace
// ---------------------------------------------------------------------------

#[test]
fn the_trace_never_shows_pins() {
    let mut card = personalised();
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = Arc::clone(&lines);
    card.set_trace(Some(Box::new(move |l: &str| {
        sink.lock().unwrap().push(l.to_owned())
    })));
    card.verify_pin(&pin1("9137")).unwrap_err();
    card.sign(&[1; 32], &pin2("86420"), CertificateProfile::Citizen)
        .unwrap_err();
    card.change_pin(&any(PinRef::Pin2, "12345"), &any(PinRef::Pin2, "75319"))
        .unwrap();
    card.unblock(Some(PinRef::Pin1), &puk(), None).unwrap();
    card.set_trace(None);
    let all = lines.lock().unwrap().join("\n");
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
    for header in ["00200081", "002A9EAC2F", "00240082", "002C0181"] {
        assert!(all.contains(header), "{header} missing:\n{all}");
    }
    assert!(all.contains("63C2"), "answers are traced:\n{all}");
}
