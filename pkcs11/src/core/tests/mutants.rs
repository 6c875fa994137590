//! Tests that came from mutation testing (`cargo mutants` on the core's
//! files): each would pass with one line of the module changed.

use super::*;

#[test]
fn logout_clears_the_cards_verification_too() {
    let mut f = fixture();
    let s = f.open(0);
    f.m.login(s, CKU_USER, PIN1).unwrap();
    fn verified(f: &mut Fixture) -> bool {
        let card = &mut f.m.readers[0].card.as_mut().unwrap().card;
        card.pin_verified(PinRef::Pin1).unwrap()
    }
    assert!(verified(&mut f));
    f.m.logout(s).unwrap();
    assert!(!verified(&mut f));
    // The token's last session closing logs out as well.
    f.m.login(s, CKU_USER, PIN1).unwrap();
    f.m.close_session(s).unwrap();
    assert!(!verified(&mut f));
}

#[test]
fn the_so_needs_read_write_sessions_and_changes_the_puk() {
    let mut f = fixture();
    let ro = f.m.open_session(0, CKF_SERIAL_SESSION).unwrap();
    let rw = f.open(0);
    assert_eq!(
        f.m.login(rw, CKU_SO, PUK),
        Err(CKR_SESSION_READ_ONLY_EXISTS)
    );
    f.m.close_session(ro).unwrap();
    // A read-only session on the other token does not count.
    let _other = f.m.open_session(1, CKF_SERIAL_SESSION).unwrap();
    f.m.login(rw, CKU_SO, PUK).unwrap();
    f.m.set_pin(rw, PUK, b"87654321").unwrap();
    f.m.logout(rw).unwrap();
    assert_eq!(f.m.login(rw, CKU_SO, PUK), Err(CKR_PIN_INCORRECT));
    f.m.login(rw, CKU_SO, b"87654321").unwrap();
}

#[test]
fn a_refused_value_that_becomes_the_pin_is_accepted() {
    let mut f = fixture();
    let s = f.open(0);
    assert_eq!(f.m.login(s, CKU_USER, b"9999"), Err(CKR_PIN_INCORRECT));
    f.m.login(s, CKU_SO, PUK).unwrap();
    f.m.init_pin(s, b"9999").unwrap();
    f.m.logout(s).unwrap();
    f.m.login(s, CKU_USER, b"9999").unwrap();
    f.m.logout(s).unwrap();
    // And through C_SetPIN by the user.
    assert_eq!(f.m.login(s, CKU_USER, b"7777"), Err(CKR_PIN_INCORRECT));
    f.m.set_pin(s, b"9999", b"7777").unwrap();
    f.m.login(s, CKU_USER, b"7777").unwrap();
}

#[test]
fn an_unblocked_pin_logs_in_without_a_look_at_the_counters_between() {
    let mut f = fixture();
    let s = f.open(0);
    for wrong in [b"1111", b"1112", b"1113"] {
        let _ = f.m.login(s, CKU_USER, wrong);
    }
    f.m.login(s, CKU_SO, PUK).unwrap();
    f.m.init_pin(s, b"4321").unwrap();
    f.m.logout(s).unwrap();
    // No C_GetTokenInfo here: the module's own counters must say unblocked.
    f.m.login(s, CKU_USER, b"4321").unwrap();
}

#[test]
fn a_pin1_changed_by_another_program_ends_the_login() {
    let mut f = fixture();
    let s = f.open(0);
    f.m.login(s, CKU_USER, PIN1).unwrap();
    let key = f.private_key(s, 0x11);
    // Another program changes PIN1 on the card.
    let card = &mut f.m.readers[0].card.as_mut().unwrap().card;
    card.change_pin(
        &asan_card::AnyPin::new(PinRef::Pin1, "1234").unwrap(),
        &asan_card::AnyPin::new(PinRef::Pin1, "8642").unwrap(),
    )
    .unwrap();
    f.m.sign_init(s, CKM_ECDSA, key).unwrap();
    assert_eq!(f.sign(s, &[3; 32]), Err(CKR_PIN_INCORRECT));
    assert_eq!(f.m.session_info(s).unwrap().state, CKS_RW_PUBLIC_SESSION);
    f.m.sign_init(s, CKM_ECDSA, key).unwrap();
    assert_eq!(f.sign(s, &[3; 32]), Err(CKR_USER_NOT_LOGGED_IN));
}

#[test]
fn card_errors_map_to_pkcs11_codes() {
    use asan_card::Error as E;
    let cases: Vec<(E, CK_RV)> = vec![
        (
            E::WrongPin {
                pin: PinRef::Pin1,
                tries_left: 2,
            },
            CKR_PIN_INCORRECT,
        ),
        (
            E::WrongPin {
                pin: PinRef::Pin2,
                tries_left: 0,
            },
            CKR_PIN_LOCKED,
        ),
        (E::Blocked { pin: PinRef::Puk }, CKR_PIN_LOCKED),
        (
            E::InvalidPinFormat {
                pin: PinRef::Pin1,
                reason: String::new(),
            },
            CKR_PIN_INVALID,
        ),
        (E::SecurityStatusNotSatisfied, CKR_USER_NOT_LOGGED_IN),
        (
            E::ConditionsNotSatisfied(String::new()),
            CKR_KEY_FUNCTION_NOT_PERMITTED,
        ),
        (E::Transport("gone".into()), CKR_DEVICE_REMOVED),
        (E::NoCard(String::new()), CKR_DEVICE_REMOVED),
        (E::PcscNotRunning, CKR_DEVICE_ERROR),
        (E::SharingViolation, CKR_DEVICE_ERROR),
        (E::InvalidResponse(String::new()), CKR_DEVICE_ERROR),
        (E::Interference(String::new()), CKR_FUNCTION_FAILED),
        (E::NotFound(String::new()), CKR_FUNCTION_FAILED),
    ];
    for (e, rv) in cases {
        assert_eq!(crate::core::rv_of(&e), rv, "{e:?}");
    }
}

#[test]
fn handles_name_their_slot_and_object() {
    assert_eq!(crate::core::handle_of(0, 0), 1);
    assert_eq!(crate::core::handle_of(1, 0), 257);
    assert_eq!(crate::core::handle_of(3, 2), 3 * 256 + 3);
    let mut f = fixture();
    let s2 = f.open(1);
    let key = f.private_key(s2, 0x21);
    // A handle of the PIN2 token means nothing in a PIN1 session.
    let s1 = f.open(0);
    assert_eq!(
        f.m.attributes(s1, key, &[CKA_CLASS]).err(),
        Some(CKR_OBJECT_HANDLE_INVALID)
    );
}

#[test]
fn slot_token_mechanism_and_session_information() {
    let mut f = fixture();
    assert_eq!(f.m.slot_info(2).err(), Some(CKR_SLOT_ID_INVALID));
    assert_eq!(f.m.token_info(2).err(), Some(CKR_SLOT_ID_INVALID));
    assert_eq!(
        f.m.slot_info(0).unwrap().flags,
        CKF_REMOVABLE_DEVICE | CKF_HW_SLOT | CKF_TOKEN_PRESENT
    );
    assert_eq!(
        f.m.mechanism_info(1, CKM_ECDSA).unwrap(),
        (
            256,
            256,
            CKF_HW | CKF_SIGN | CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS
        )
    );
    assert_eq!(
        f.m.mechanism_info(1, CKM_RSA_PKCS).err(),
        Some(CKR_MECHANISM_INVALID)
    );
    assert_eq!(
        f.m.mechanism_info(2, CKM_ECDSA).err(),
        Some(CKR_SLOT_ID_INVALID)
    );

    let ro = f.m.open_session(0, CKF_SERIAL_SESSION).unwrap();
    let rw1 = f.open(0);
    let _rw2 = f.open(0);
    let _other = f.open(1);
    assert_eq!(f.m.token_info(0).unwrap().sessions, (3, 2));
    assert_eq!(f.m.token_info(1).unwrap().sessions, (1, 1));
    let info = f.m.session_info(ro).unwrap();
    assert_eq!((info.slot, info.flags), (0, CKF_SERIAL_SESSION));
    let info = f.m.session_info(rw1).unwrap();
    assert_eq!(info.flags, CKF_SERIAL_SESSION | CKF_RW_SESSION);
    assert_eq!(info.state, CKS_RW_PUBLIC_SESSION);

    // Find returns at most what was asked for.
    f.m.find_init(rw1, &[]).unwrap();
    assert_eq!(f.m.find(rw1, 2).unwrap().len(), 2);
    assert_eq!(f.m.find(rw1, 2).unwrap().len(), 1);
    assert!(f.m.find(rw1, 2).unwrap().is_empty());
    f.m.find_final(rw1).unwrap();

    // The SO wants read/write sessions only, and gets no read-only one.
    f.m.close_session(ro).unwrap();
    f.m.login(rw1, CKU_SO, PUK).unwrap();
    assert_eq!(
        f.m.open_session(0, CKF_SERIAL_SESSION).err(),
        Some(CKR_SESSION_READ_WRITE_SO_EXISTS)
    );
    assert!(
        f.m.open_session(0, CKF_SERIAL_SESSION | CKF_RW_SESSION)
            .is_ok()
    );

    // C_CloseAllSessions closes that slot's sessions only.
    f.m.close_all_sessions(0).unwrap();
    assert_eq!(f.m.token_info(0).unwrap().sessions, (0, 0));
    assert_eq!(f.m.token_info(1).unwrap().sessions, (1, 1));
    assert_eq!(
        f.m.session_info(rw1).err(),
        Some(CKR_SESSION_HANDLE_INVALID)
    );
}

#[test]
fn a_card_with_no_pins_set_yet_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("fresh.img");
    drop(VirtualTransport::open(&image).unwrap());
    let mut m = Module::new(TestReader {
        image,
        present: Arc::new(Mutex::new(Presence {
            card: true,
            events: 1,
        })),
        busy: Arc::new(Mutex::new(false)),
    });
    let info = m.token_info(0).unwrap();
    assert_eq!(info.flags & CKF_USER_PIN_INITIALIZED, 0);
    assert_ne!(info.flags & CKF_TOKEN_INITIALIZED, 0);
    assert_ne!(info.flags & CKF_LOGIN_REQUIRED, 0);
}

#[test]
fn a_card_another_program_holds_is_a_device_error() {
    let mut f = fixture();
    *f.busy.lock().unwrap() = true;
    *f.present.lock().unwrap() = Presence {
        card: true,
        events: 2,
    };
    assert_eq!(
        f.m.open_session(0, CKF_SERIAL_SESSION).err(),
        Some(CKR_DEVICE_ERROR)
    );
    *f.busy.lock().unwrap() = false;
    assert!(f.m.open_session(0, CKF_SERIAL_SESSION).is_ok());
}

#[test]
fn the_last_session_of_a_token_ends_its_login_and_an_old_session_stays_dead() {
    let mut f = fixture();
    // Two sessions on the PIN1 token: closing one keeps the login.
    let a = f.open(0);
    let b = f.open(0);
    f.m.login(a, CKU_USER, PIN1).unwrap();
    f.m.close_session(a).unwrap();
    assert_eq!(f.m.session_info(b).unwrap().state, CKS_RW_USER_FUNCTIONS);
    // On the PIN2 token, a pending PIN2 goes with the token's last session.
    let s = f.open(1);
    f.m.login(s, CKU_USER, PIN2).unwrap();
    f.m.close_session(s).unwrap();
    let s = f.open(1);
    let key = f.private_key(s, 0x21);
    f.m.sign_init(s, CKM_ECDSA, key).unwrap();
    assert_eq!(f.sign(s, &[5; 32]), Err(CKR_USER_NOT_LOGGED_IN));

    // Out and back in: a session of the card's earlier stay stays dead.
    *f.present.lock().unwrap() = Presence {
        card: false,
        events: 2,
    };
    assert_eq!(f.m.session_info(b).err(), Some(CKR_DEVICE_REMOVED));
    *f.present.lock().unwrap() = Presence {
        card: true,
        events: 3,
    };
    let fresh = f.open(0);
    assert!(f.m.session_info(fresh).is_ok());
    assert_eq!(f.m.session_info(b).err(), Some(CKR_DEVICE_REMOVED));
}

#[test]
fn nothing_is_sent_for_a_blocked_pin() {
    let mut f = fixture();
    let s = f.open(0);
    for wrong in [b"1111", b"1112", b"1113"] {
        let _ = f.m.login(s, CKU_USER, wrong);
    }
    // No C_GetTokenInfo between: the counter the card answered is kept.
    fn sent(f: &Fixture) -> u64 {
        let card = &f.m.readers[0].card.as_ref().unwrap().card;
        asan_card::transport::Transport::apdu_count(card.transport())
    }
    let before = sent(&f);
    assert_eq!(f.m.login(s, CKU_USER, PIN1), Err(CKR_PIN_LOCKED));
    assert_eq!(sent(&f), before, "a VERIFY for a blocked PIN1");
}

#[test]
fn slot_events_are_waited_for_on_the_slots_readers() {
    let f = fixture();
    assert_eq!(f.m.reader_names(), vec!["Test reader".to_owned()]);
}
