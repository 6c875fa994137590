//! What the core does, call by call: tokens, objects, one PIN2 per
//! signature, digests, PINs and counters, removal, sessions.

use super::*;

#[test]
fn two_tokens_per_reader_with_their_pins_and_keys() {
    let mut f = fixture();
    assert_eq!(f.m.slot_list(true), vec![0, 1]);
    let pin1 = f.m.token_info(0).unwrap();
    let pin2 = f.m.token_info(1).unwrap();
    assert!(pin1.label.starts_with("Asan PIN1 ") && pin1.label.ends_with(&pin1.serial));
    assert!(pin2.label.starts_with("Asan PIN2 "));
    assert_eq!(pin1.serial.len(), 16);
    assert_eq!((pin1.pin_len, pin2.pin_len), ((4, 8), (5, 8)));
    for flags in [pin1.flags, pin2.flags] {
        assert_eq!(
            flags,
            CKF_LOGIN_REQUIRED | CKF_USER_PIN_INITIALIZED | CKF_TOKEN_INITIALIZED
        );
    }
    // Without login: the profile object, then public and private keys of
    // the token's usage for both profiles of the Business service.
    let s = f.m.open_session(1, CKF_SERIAL_SESSION).unwrap();
    f.m.find_init(s, &[]).unwrap();
    let all = f.m.find(s, 100).unwrap();
    f.m.find_final(s).unwrap();
    assert_eq!(all.len(), 5);
    let classes: Vec<Value> = all
        .iter()
        .map(|h| f.m.attributes(s, *h, &[CKA_CLASS]).unwrap().remove(0))
        .collect();
    assert_eq!(classes[0], Value::Bytes(ulong(CKO_PROFILE)));
    f.private_key(s, 0x21);
    f.private_key(s, 0x22);
    let key = f.private_key(s, 0x22);
    let v =
        f.m.attributes(s, key, &[CKA_ALWAYS_AUTHENTICATE, CKA_VALUE, CKA_SIGN])
            .unwrap();
    assert_eq!(
        v,
        vec![
            Value::Bytes(vec![CK_TRUE]),
            Value::Sensitive,
            Value::Bytes(vec![CK_TRUE])
        ]
    );
    // The PIN1 token holds no signing key.
    let s1 = f.open(0);
    f.m.find_init(s1, &[(CKA_ID, vec![0x21])]).unwrap();
    assert!(f.m.find(s1, 10).unwrap().is_empty());
}

#[test]
fn one_pin2_authorises_exactly_one_signature_and_a_length_query_uses_none() {
    let mut f = fixture();
    let s = f.open(1);
    let key = f.private_key(s, 0x21);
    let public = f.public_key(s, 0x21);
    let digest: [u8; 32] = Sha256::digest(b"document").into();

    f.m.sign_init(s, CKM_ECDSA, key).unwrap();
    assert_eq!(f.sign(s, &digest), Err(CKR_USER_NOT_LOGGED_IN));

    f.m.login(s, CKU_USER, PIN2).unwrap();
    f.m.sign_init(s, CKM_ECDSA, key).unwrap();
    // Length queries: no buffer, and one too short.
    assert_eq!(f.m.sign(s, &digest, None), Ok(Signed::Length(64)));
    assert_eq!(f.m.sign(s, &digest, Some(10)), Err(CKR_BUFFER_TOO_SMALL));
    let sig = f.sign(s, &digest).unwrap();
    assert!(verifies(&public, &digest, &sig));
    assert_eq!(f.m.session_info(s).unwrap().state, CKS_RW_PUBLIC_SESSION);

    // The next signature needs its own PIN2.
    f.m.sign_init(s, CKM_ECDSA, key).unwrap();
    assert_eq!(f.sign(s, &digest), Err(CKR_USER_NOT_LOGGED_IN));

    // The context-specific way: after C_SignInit.
    f.m.sign_init(s, CKM_ECDSA, key).unwrap();
    f.m.login(s, CKU_CONTEXT_SPECIFIC, PIN2).unwrap();
    let sig = f.sign(s, &digest).unwrap();
    assert!(verifies(&public, &digest, &sig));
    f.m.sign_init(s, CKM_ECDSA, key).unwrap();
    assert_eq!(f.sign(s, &digest), Err(CKR_USER_NOT_LOGGED_IN));

    // A user login and a context-specific one for the same signature are
    // both used up by it.
    f.m.login(s, CKU_USER, PIN2).unwrap();
    f.m.sign_init(s, CKM_ECDSA, key).unwrap();
    f.m.login(s, CKU_CONTEXT_SPECIFIC, PIN2).unwrap();
    f.sign(s, &digest).unwrap();
    f.m.sign_init(s, CKM_ECDSA, key).unwrap();
    assert_eq!(f.sign(s, &digest), Err(CKR_USER_NOT_LOGGED_IN));
    assert_eq!(f.tries(1).1, 3);
}

#[test]
fn digests_of_20_to_64_bytes_and_streamed_sha256() {
    let mut f = fixture();
    for (slot, id) in [(0, 0x12), (1, 0x22)] {
        let s = f.open(slot);
        let pin: &[u8] = if slot == 0 { PIN1 } else { PIN2 };
        if slot == 0 {
            f.m.login(s, CKU_USER, pin).unwrap();
        }
        let key = f.private_key(s, id);
        let public = f.public_key(s, id);
        for len in [20, 32, 48, 64] {
            let digest: Vec<u8> = (0..len).map(|i| i as u8 ^ 0x5A).collect();
            f.m.sign_init(s, CKM_ECDSA, key).unwrap();
            if slot == 1 {
                f.m.login(s, CKU_CONTEXT_SPECIFIC, pin).unwrap();
            }
            let sig = f.sign(s, &digest).unwrap();
            assert!(verifies(&public, &digest, &sig), "{id:02X}, {len} bytes");
        }
        for len in [19, 65] {
            f.m.sign_init(s, CKM_ECDSA, key).unwrap();
            assert_eq!(
                f.m.sign(s, &vec![1; len], Some(64)),
                Err(CKR_DATA_LEN_RANGE)
            );
        }
        // CKM_ECDSA_SHA256 streamed, with a length query before the end.
        f.m.sign_init(s, CKM_ECDSA_SHA256, key).unwrap();
        if slot == 1 {
            f.m.login(s, CKU_CONTEXT_SPECIFIC, pin).unwrap();
        }
        f.m.sign_update(s, b"part one, ").unwrap();
        f.m.sign_update(s, b"part two").unwrap();
        assert_eq!(f.m.sign_final(s, None), Ok(Signed::Length(64)));
        let Signed::Signature(sig) = f.m.sign_final(s, Some(64)).unwrap() else {
            panic!()
        };
        let digest = Sha256::digest(b"part one, part two");
        assert!(verifies(&public, &digest, &sig));
    }
}

#[test]
fn wrong_pins_cost_a_try_bad_formats_none() {
    let mut f = fixture();
    let s = f.open(0);
    assert_eq!(f.m.login(s, CKU_USER, b"12a4"), Err(CKR_PIN_INVALID));
    assert_eq!(f.m.login(s, CKU_USER, b"123"), Err(CKR_PIN_LEN_RANGE));
    assert_eq!(f.m.login(s, CKU_USER, b"123456789"), Err(CKR_PIN_LEN_RANGE));
    assert_eq!(
        f.tries(0),
        (
            CKF_LOGIN_REQUIRED | CKF_USER_PIN_INITIALIZED | CKF_TOKEN_INITIALIZED,
            3
        )
    );

    assert_eq!(f.m.login(s, CKU_USER, b"9999"), Err(CKR_PIN_INCORRECT));
    let (flags, tries) = f.tries(0);
    assert_eq!(tries, 2);
    assert_ne!(flags & CKF_USER_PIN_COUNT_LOW, 0);
    // The value the card just refused is not sent again: no try spent.
    assert_eq!(f.m.login(s, CKU_USER, b"9999"), Err(CKR_PIN_INCORRECT));
    assert_eq!(f.tries(0).1, 2);
    assert_eq!(f.m.login(s, CKU_USER, b"9998"), Err(CKR_PIN_INCORRECT));
    assert_ne!(f.tries(0).0 & CKF_USER_PIN_FINAL_TRY, 0);
    assert_eq!(f.m.login(s, CKU_USER, b"9997"), Err(CKR_PIN_LOCKED));
    assert_ne!(f.tries(0).0 & CKF_USER_PIN_LOCKED, 0);
    // Blocked: refused without a try, the right PIN too.
    assert_eq!(f.m.login(s, CKU_USER, PIN1), Err(CKR_PIN_LOCKED));

    // The PUK as security officer unblocks and sets a new PIN1.
    assert_eq!(f.m.login(s, CKU_SO, b"1234567"), Err(CKR_PIN_LEN_RANGE));
    f.m.login(s, CKU_SO, PUK).unwrap();
    assert_eq!(f.m.session_info(s).unwrap().state, CKS_RW_SO_FUNCTIONS);
    assert_eq!(f.m.init_pin(s, b"12"), Err(CKR_PIN_LEN_RANGE));
    f.m.init_pin(s, b"4321").unwrap();
    f.m.logout(s).unwrap();
    assert_eq!(f.tries(0).1, 3);
    f.m.login(s, CKU_USER, b"4321").unwrap();

    // pkcs11-tool --unlock-pin: C_SetPIN(PUK, new) without a login while
    // the PIN is blocked unblocks it; while it is not, the old value is the
    // PIN's own.
    f.m.logout(s).unwrap();
    for wrong in [b"1111", b"1112", b"1113"] {
        let _ = f.m.login(s, CKU_USER, wrong);
    }
    assert_eq!(f.tries(0).1, 0);
    assert_eq!(f.m.set_pin(s, b"1234567", b"2468"), Err(CKR_PIN_LEN_RANGE));
    f.m.set_pin(s, PUK, b"2468").unwrap();
    assert_eq!(f.tries(0).1, 3);
    f.m.login(s, CKU_USER, b"2468").unwrap();
    f.m.logout(s).unwrap();
    assert_eq!(f.m.set_pin(s, PUK, b"1357"), Err(CKR_PIN_INCORRECT));
    assert_eq!(f.tries(0).1, 2);
    f.m.set_pin(s, b"2468", b"1357").unwrap();

    // A wrong PIN2 is found out by the signature itself.
    let s2 = f.open(1);
    let key = f.private_key(s2, 0x21);
    f.m.sign_init(s2, CKM_ECDSA, key).unwrap();
    f.m.login(s2, CKU_CONTEXT_SPECIFIC, b"99999").unwrap();
    assert_eq!(f.sign(s2, &[1; 32]), Err(CKR_PIN_INCORRECT));
    let (flags, tries) = f.tries(1);
    assert_eq!(tries, 2);
    assert_ne!(flags & CKF_USER_PIN_COUNT_LOW, 0);
    // pkcs11-tool's retry by parts with the same PIN2 costs no second try.
    f.m.sign_init(s2, CKM_ECDSA_SHA256, key).unwrap();
    f.m.login(s2, CKU_CONTEXT_SPECIFIC, b"99999").unwrap();
    f.m.sign_update(s2, b"data").unwrap();
    assert_eq!(f.m.sign_final(s2, Some(64)), Err(CKR_PIN_INCORRECT));
    assert_eq!(f.tries(1).1, 2);
    // The right PIN2 signs, and the refused value may be tried again.
    f.m.sign_init(s2, CKM_ECDSA, key).unwrap();
    f.m.login(s2, CKU_CONTEXT_SPECIFIC, PIN2).unwrap();
    f.sign(s2, &[1; 32]).unwrap();
    assert_eq!(f.tries(1).1, 3);
    f.m.sign_init(s2, CKM_ECDSA, key).unwrap();
    f.m.login(s2, CKU_CONTEXT_SPECIFIC, b"99999").unwrap();
    assert_eq!(f.sign(s2, &[1; 32]), Err(CKR_PIN_INCORRECT));
    assert_eq!(f.tries(1).1, 2);
}

#[test]
fn pin1_private_keys_are_seen_after_login_only() {
    let mut f = fixture();
    let s = f.open(0);
    let private = ulong(CKO_PRIVATE_KEY);
    f.m.find_init(s, &[(CKA_CLASS, private.clone())]).unwrap();
    assert!(f.m.find(s, 10).unwrap().is_empty());
    f.m.find_final(s).unwrap();
    f.m.login(s, CKU_USER, PIN1).unwrap();
    let key = f.private_key(s, 0x11);
    assert_eq!(
        f.m.attributes(s, key, &[CKA_PRIVATE]).unwrap(),
        vec![Value::Bytes(vec![CK_TRUE])]
    );
    f.m.logout(s).unwrap();
    f.m.find_init(s, &[(CKA_CLASS, private.clone())]).unwrap();
    assert!(f.m.find(s, 10).unwrap().is_empty());
    f.m.find_final(s).unwrap();
    // The PIN2 token's keys are public: their PIN is per signature.
    let s2 = f.open(1);
    let key = f.private_key(s2, 0x21);
    assert_eq!(
        f.m.attributes(s2, key, &[CKA_PRIVATE]).unwrap(),
        vec![Value::Bytes(vec![CK_FALSE])]
    );
}

#[test]
fn pin1_login_lasts_and_set_pin_changes_the_tokens_pin() {
    let mut f = fixture();
    let s = f.open(0);
    let public = f.public_key(s, 0x11);
    assert_eq!(f.m.set_pin(s, PIN1, b"12"), Err(CKR_PIN_LEN_RANGE));
    f.m.set_pin(s, PIN1, b"5678").unwrap();
    assert_eq!(f.m.login(s, CKU_USER, PIN1), Err(CKR_PIN_INCORRECT));
    f.m.login(s, CKU_USER, b"5678").unwrap();
    let key = f.private_key(s, 0x11);
    assert_eq!(
        f.m.login(s, CKU_USER, b"5678"),
        Err(CKR_USER_ALREADY_LOGGED_IN)
    );
    for n in 0..3u8 {
        let digest = [n; 32];
        f.m.sign_init(s, CKM_ECDSA, key).unwrap();
        assert!(verifies(&public, &digest, &f.sign(s, &digest).unwrap()));
    }
    // A read-only session cannot change a PIN.
    let ro = f.m.open_session(0, CKF_SERIAL_SESSION).unwrap();
    assert_eq!(
        f.m.set_pin(ro, b"5678", b"1234"),
        Err(CKR_SESSION_READ_ONLY)
    );
    f.m.logout(s).unwrap();
    f.m.sign_init(s, CKM_ECDSA, key).unwrap();
    assert_eq!(f.sign(s, &[0; 32]), Err(CKR_USER_NOT_LOGGED_IN));
    assert_eq!(f.m.logout(s), Err(CKR_USER_NOT_LOGGED_IN));
}

#[test]
fn a_removed_card_ends_its_sessions() {
    let mut f = fixture();
    let s = f.open(0);
    f.m.login(s, CKU_USER, PIN1).unwrap();
    assert_eq!(f.m.slot_event(), None);
    *f.present.lock().unwrap() = Presence {
        card: false,
        events: 2,
    };
    assert_eq!(f.m.session_info(s).err(), Some(CKR_DEVICE_REMOVED));
    assert_eq!(f.m.find_init(s, &[]), Err(CKR_DEVICE_REMOVED));
    assert_eq!(f.m.token_info(0).err(), Some(CKR_TOKEN_NOT_PRESENT));
    assert_eq!(
        f.m.open_session(0, CKF_SERIAL_SESSION).err(),
        Some(CKR_TOKEN_NOT_PRESENT)
    );
    assert_eq!(f.m.slot_list(true), Vec::<CK_SLOT_ID>::new());
    assert_eq!(f.m.slot_list(false), vec![0, 1]);
    assert_eq!(f.m.slot_event(), Some(0));
    assert_eq!(f.m.slot_event(), Some(1));
    assert_eq!(f.m.slot_event(), None);
    assert!(f.image.exists());

    // Back in: a new session works, the old one stays dead, and the PIN1
    // login did not survive.
    *f.present.lock().unwrap() = Presence {
        card: true,
        events: 3,
    };
    f.m.close_session(s).unwrap();
    let s = f.open(0);
    f.m.find_init(s, &[(CKA_CLASS, ulong(CKO_PRIVATE_KEY))])
        .unwrap();
    assert!(f.m.find(s, 10).unwrap().is_empty(), "logged out");
    f.m.find_final(s).unwrap();
    f.m.login(s, CKU_USER, PIN1).unwrap();
    let key = f.private_key(s, 0x11);
    f.m.sign_init(s, CKM_ECDSA, key).unwrap();
    f.sign(s, &[0; 32]).unwrap();
}

#[test]
fn pcscd_is_asked_once_per_window_in_a_session() {
    let mut f = fixture();
    f.m.set_presence_window(std::time::Duration::from_secs(3600));
    let s = f.open(0);
    f.m.session_info(s).unwrap();
    *f.present.lock().unwrap() = Presence {
        card: false,
        events: 2,
    };
    // Within the window the session's calls take the last answer …
    assert!(f.m.session_info(s).is_ok());
    // … slot and token calls always ask.
    assert_eq!(f.m.token_info(0).err(), Some(CKR_TOKEN_NOT_PRESENT));
    assert_eq!(f.m.session_info(s).err(), Some(CKR_DEVICE_REMOVED));
}

#[test]
fn sessions_and_operations_are_checked() {
    let mut f = fixture();
    assert_eq!(
        f.m.open_session(9, CKF_SERIAL_SESSION).err(),
        Some(CKR_SLOT_ID_INVALID)
    );
    assert_eq!(
        f.m.open_session(0, 0).err(),
        Some(CKR_SESSION_PARALLEL_NOT_SUPPORTED)
    );
    let s = f.open(1);
    assert_eq!(
        f.m.sign(s, &[0; 32], Some(64)),
        Err(CKR_OPERATION_NOT_INITIALIZED)
    );
    let key = f.private_key(s, 0x21);
    assert_eq!(
        f.m.sign_init(s, CKM_ECDSA_SHA384, key),
        Err(CKR_MECHANISM_INVALID)
    );
    f.m.sign_init(s, CKM_ECDSA, key).unwrap();
    assert_eq!(f.m.sign_init(s, CKM_ECDSA, key), Err(CKR_OPERATION_ACTIVE));
    assert_eq!(f.m.sign_update(s, b"x"), Err(CKR_FUNCTION_NOT_SUPPORTED));
    // A public key does not sign; a handle of another token is not here.
    f.m.find_init(s, &[(CKA_CLASS, ulong(CKO_PUBLIC_KEY))])
        .unwrap();
    let public = f.m.find(s, 1).unwrap()[0];
    f.m.find_final(s).unwrap();
    assert_eq!(
        f.m.sign_init(s, CKM_ECDSA, public),
        Err(CKR_KEY_TYPE_INCONSISTENT)
    );
    assert_eq!(
        f.m.sign_init(s, CKM_ECDSA, 12345),
        Err(CKR_OBJECT_HANDLE_INVALID)
    );
    f.m.close_session(s).unwrap();
    assert_eq!(f.m.session_info(s).err(), Some(CKR_SESSION_HANDLE_INVALID));
}
