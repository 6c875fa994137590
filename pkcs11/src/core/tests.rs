//! The core over an in-process virtual card: PIN semantics, signatures,
//! length queries, removal — everything the C layer only passes through.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use asan_applet::scp03::{SecurityLevel, StaticKeys};
use asan_applet::{CertificateProfile, KeyRef, KeyUsage, PinRef, Service, ServiceType};
use asan_card::transport::virtual_card::VirtualTransport;
use asan_card::{AsanCard, Pin1, Pin2, Puk, Secret, operator::Operator};
use cryptoki_sys::*;
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::ecdsa::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};

use super::objects::Value;
use super::reader::{Connector, Presence};
use super::{Module, Signed};

const PIN1: &[u8] = b"1234";
const PIN2: &[u8] = b"12345";
const PUK: &[u8] = b"12345678";

/// One reader whose card can be taken out and put back.
struct TestReader {
    image: PathBuf,
    present: Arc<Mutex<Presence>>,
    /// Another program holds the card exclusively.
    busy: Arc<Mutex<bool>>,
}

impl Connector for TestReader {
    type Transport = VirtualTransport;

    fn readers(&mut self) -> asan_card::Result<Vec<String>> {
        Ok(vec!["Test reader".into()])
    }

    fn presence(&mut self, readers: &[String]) -> Vec<Presence> {
        vec![*self.present.lock().unwrap(); readers.len()]
    }

    fn connect(&mut self, _reader: &str) -> asan_card::Result<VirtualTransport> {
        if *self.busy.lock().unwrap() {
            return Err(asan_card::Error::SharingViolation);
        }
        VirtualTransport::open(&self.image)
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    m: Module<TestReader>,
    present: Arc<Mutex<Presence>>,
    busy: Arc<Mutex<bool>>,
    image: PathBuf,
}

/// A personalised card (a Business service; keys of all three profiles, so
/// the Governmental ones are not the service's; no certificates) in a
/// reader; the module started on it.
fn fixture() -> Fixture {
    fixture_with(ServiceType::Business, None)
}

/// A card with the `service`, keys of every profile, and `certificate`
/// (DER) in the certificate file of a key.
fn fixture_with(service: ServiceType, certificate: Option<(KeyRef, &[u8])>) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("card.img");
    {
        let mut card = AsanCard::open(VirtualTransport::open(&image).unwrap()).unwrap();
        card.exclusive(|a| {
            let level = SecurityLevel::from_byte(0x03).unwrap();
            let mut op = Operator::open(a, &StaticKeys::default_test_keys(), level, true)?;
            op.set_pin(PinRef::Pin1, Pin1::new("1234")?.block())?;
            op.set_pin(PinRef::Pin2, Pin2::new("12345")?.block())?;
            op.set_pin(PinRef::Puk, Puk::new("12345678")?.block())?;
            for profile in CertificateProfile::ALL {
                for usage in [KeyUsage::Authentication, KeyUsage::Signing] {
                    op.generate_key(KeyRef::new(profile, usage))?;
                }
            }
            if let Some((key, der)) = certificate {
                op.write_certificate(key, der)?;
            }
            op.set_service(Service {
                kind: service,
                active: true,
            })?;
            op.activate()
        })
        .unwrap();
    }
    let present = Arc::new(Mutex::new(Presence {
        card: true,
        events: 1,
    }));
    let busy = Arc::new(Mutex::new(false));
    let mut m = Module::new(TestReader {
        image: image.clone(),
        present: Arc::clone(&present),
        busy: Arc::clone(&busy),
    });
    // Cards are taken out and put back between two calls.
    m.set_presence_window(std::time::Duration::ZERO);
    Fixture {
        _dir: dir,
        m,
        present,
        busy,
        image,
    }
}

fn ulong(v: CK_ULONG) -> Vec<u8> {
    v.to_ne_bytes().to_vec()
}

impl Fixture {
    fn open(&mut self, slot: CK_SLOT_ID) -> CK_SESSION_HANDLE {
        self.m
            .open_session(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION)
            .unwrap()
    }

    /// The handle of the private key with `id` on the session's token.
    fn private_key(&mut self, s: CK_SESSION_HANDLE, id: u8) -> CK_OBJECT_HANDLE {
        self.m
            .find_init(
                s,
                &[(CKA_CLASS, ulong(CKO_PRIVATE_KEY)), (CKA_ID, vec![id])],
            )
            .unwrap();
        let found = self.m.find(s, 10).unwrap();
        self.m.find_final(s).unwrap();
        assert_eq!(found.len(), 1, "one private key {id:02X}");
        found[0]
    }

    /// The public key with `id`, from its object.
    fn public_key(&mut self, s: CK_SESSION_HANDLE, id: u8) -> VerifyingKey {
        self.m
            .find_init(s, &[(CKA_CLASS, ulong(CKO_PUBLIC_KEY)), (CKA_ID, vec![id])])
            .unwrap();
        let h = self.m.find(s, 10).unwrap()[0];
        self.m.find_final(s).unwrap();
        let Value::Bytes(point) = self.m.attributes(s, h, &[CKA_EC_POINT]).unwrap().remove(0)
        else {
            panic!("no EC point")
        };
        VerifyingKey::from_sec1_bytes(&point[2..]).unwrap()
    }

    fn tries(&mut self, slot: CK_SLOT_ID) -> (CK_FLAGS, u8) {
        let info = self.m.token_info(slot).unwrap();
        let i = &self.m.readers[0].card.as_ref().unwrap().pins;
        let t = if slot.is_multiple_of(2) {
            i.pin1
        } else {
            i.pin2
        };
        (info.flags, t.tries_left)
    }

    fn sign(&mut self, s: CK_SESSION_HANDLE, data: &[u8]) -> Result<Vec<u8>, CK_RV> {
        match self.m.sign(s, data, Some(64))? {
            Signed::Signature(sig) => Ok(sig),
            Signed::Length(_) => panic!("a buffer was given"),
        }
    }
}

fn verifies(key: &VerifyingKey, digest: &[u8], sig: &[u8]) -> bool {
    key.verify_prehash(digest, &Signature::from_slice(sig).unwrap())
        .is_ok()
}

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

/// The tests below come from mutation testing (`cargo mutants` on
/// login.rs and sign.rs): each would pass with one line of the module
/// changed.
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
        assert_eq!(super::rv_of(&e), rv, "{e:?}");
    }
}

#[test]
fn handles_name_their_slot_and_object() {
    assert_eq!(super::handle_of(0, 0), 1);
    assert_eq!(super::handle_of(1, 0), 257);
    assert_eq!(super::handle_of(3, 2), 3 * 256 + 3);
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

/// A self-signed P-256 certificate made by openssl (DER).
fn openssl_certificate(dir: &std::path::Path) -> Vec<u8> {
    let out = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args([
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=Attribute test/O=Asan",
            "-outform",
            "DER",
        ])
        .arg("-keyout")
        .arg(dir.join("k.pem"))
        .arg("-out")
        .arg(dir.join("c.der"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    std::fs::read(dir.join("c.der")).unwrap()
}

#[test]
fn every_attribute_of_the_objects_of_a_key_with_its_certificate() {
    use der::{Decode, Encode};
    let tmp = tempfile::tempdir().unwrap();
    let der = openssl_certificate(tmp.path());
    let cert = x509_cert::Certificate::from_der(&der).unwrap();
    let tbs = cert.tbs_certificate();
    let subject = tbs.subject().to_der().unwrap();
    let issuer = tbs.issuer().to_der().unwrap();
    let serial = tbs.serial_number().to_der().unwrap();
    let point = tbs
        .subject_public_key_info()
        .subject_public_key
        .raw_bytes()
        .to_vec();
    let key = KeyRef::new(CertificateProfile::Business, KeyUsage::Signing);
    let mut f = fixture_with(ServiceType::Business, Some((key, &der)));
    let s = f.open(1);
    let class = |f: &mut Fixture, c: CK_OBJECT_CLASS| {
        f.m.find_init(s, &[(CKA_CLASS, ulong(c)), (CKA_ID, vec![0x22])])
            .unwrap();
        let h = f.m.find(s, 5).unwrap();
        f.m.find_final(s).unwrap();
        assert_eq!(h.len(), 1, "class {c}");
        h[0]
    };
    let b = |v: &[u8]| Value::Bytes(v.to_vec());
    let yes = || Value::Bytes(vec![CK_TRUE]);
    let no = || Value::Bytes(vec![CK_FALSE]);
    let label = b(b"Business signing");
    let mut octet = vec![0x04, 0x41];
    octet.extend_from_slice(&point);
    let mechanisms: Vec<u8> = [CKM_ECDSA, CKM_ECDSA_SHA256]
        .iter()
        .flat_map(|m| m.to_ne_bytes())
        .collect();
    let c = class(&mut f, CKO_CERTIFICATE);
    let pubk = class(&mut f, CKO_PUBLIC_KEY);
    let privk = class(&mut f, CKO_PRIVATE_KEY);
    let expected: Vec<(CK_OBJECT_HANDLE, CK_ATTRIBUTE_TYPE, Value)> = vec![
        (c, CKA_CLASS, b(&ulong(CKO_CERTIFICATE))),
        (c, CKA_TOKEN, yes()),
        (c, CKA_PRIVATE, no()),
        (c, CKA_MODIFIABLE, no()),
        (c, CKA_DESTROYABLE, no()),
        (c, CKA_CERTIFICATE_TYPE, b(&ulong(CKC_X_509))),
        (c, CKA_VALUE, b(&der)),
        (c, CKA_SUBJECT, b(&subject)),
        (c, CKA_ISSUER, b(&issuer)),
        (c, CKA_SERIAL_NUMBER, b(&serial)),
        (c, CKA_ID, b(&[0x22])),
        (c, CKA_LABEL, label.clone()),
        (c, CKA_TRUSTED, no()),
        (c, CKA_CERTIFICATE_CATEGORY, b(&ulong(1))),
        (c, CKA_JAVA_MIDP_SECURITY_DOMAIN, b(&ulong(0))),
        (c, CKA_URL, b(&[])),
        (c, CKA_SIGN, Value::Invalid),
        (pubk, CKA_CLASS, b(&ulong(CKO_PUBLIC_KEY))),
        (pubk, CKA_KEY_TYPE, b(&ulong(CKK_EC))),
        (pubk, CKA_ID, b(&[0x22])),
        (pubk, CKA_LABEL, label.clone()),
        (pubk, CKA_EC_PARAMS, b(&super::objects::P256_PARAMS)),
        (pubk, CKA_EC_POINT, b(&octet)),
        (pubk, CKA_SUBJECT, b(&subject)),
        (pubk, CKA_LOCAL, yes()),
        (pubk, CKA_KEY_GEN_MECHANISM, b(&ulong(CKM_EC_KEY_PAIR_GEN))),
        (pubk, CKA_DERIVE, no()),
        (pubk, CKA_START_DATE, b(&[])),
        (pubk, CKA_ALLOWED_MECHANISMS, b(&mechanisms)),
        (pubk, CKA_VERIFY, yes()),
        (pubk, CKA_ENCRYPT, no()),
        (pubk, CKA_WRAP, no()),
        (pubk, CKA_TRUSTED, no()),
        (pubk, CKA_PRIVATE, no()),
        (pubk, CKA_SIGN, Value::Invalid),
        (privk, CKA_CLASS, b(&ulong(CKO_PRIVATE_KEY))),
        (privk, CKA_KEY_TYPE, b(&ulong(CKK_EC))),
        (privk, CKA_SUBJECT, b(&subject)),
        (privk, CKA_SIGN, yes()),
        (privk, CKA_DECRYPT, no()),
        (privk, CKA_SENSITIVE, yes()),
        (privk, CKA_EXTRACTABLE, no()),
        (privk, CKA_ALWAYS_AUTHENTICATE, yes()),
        (privk, CKA_PRIVATE, no()),
        (privk, CKA_VALUE, Value::Sensitive),
        (privk, CKA_EC_POINT, Value::Invalid),
    ];
    for (h, attribute, value) in expected {
        let got = f.m.attributes(s, h, &[attribute]).unwrap().remove(0);
        assert_eq!(got, value, "object {h}, attribute {attribute:#x}");
    }
    // The profile object.
    f.m.find_init(s, &[(CKA_CLASS, ulong(CKO_PROFILE))])
        .unwrap();
    let profile = f.m.find(s, 5).unwrap()[0];
    f.m.find_final(s).unwrap();
    assert_eq!(
        f.m.attributes(s, profile, &[CKA_PROFILE_ID, CKA_TOKEN, CKA_ID, CKA_LABEL])
            .unwrap(),
        vec![
            b(&ulong(CKP_PUBLIC_CERTIFICATES_TOKEN)),
            yes(),
            Value::Invalid,
            b(b"Public certificates")
        ]
    );
    // The applet's version is the token's.
    let info = f.m.token_info(1).unwrap();
    let card = &mut f.m.readers[0].card.as_mut().unwrap().card;
    let version = card.info().unwrap().applet_version;
    assert_eq!(format!("{}.{}", info.version.0, info.version.1), version);
}

#[test]
fn only_the_profiles_of_the_service_are_shown() {
    for (service, ids) in [
        (ServiceType::Citizen, vec![0x21]),
        (ServiceType::Business, vec![0x21, 0x22]),
        (ServiceType::Governmental, vec![0x21, 0x23]),
    ] {
        let mut f = fixture_with(service, None);
        let s = f.open(1);
        f.m.find_init(s, &[(CKA_CLASS, ulong(CKO_PRIVATE_KEY))])
            .unwrap();
        let keys = f.m.find(s, 10).unwrap();
        f.m.find_final(s).unwrap();
        let found: Vec<u8> = keys
            .iter()
            .map(
                |h| match f.m.attributes(s, *h, &[CKA_ID]).unwrap().remove(0) {
                    Value::Bytes(id) => id[0],
                    other => panic!("{other:?}"),
                },
            )
            .collect();
        assert_eq!(found, ids, "{service:?}");
        // No certificate on these cards, and none was looked for.
        assert!(f.m.readers[0].card.as_ref().unwrap().broken.is_empty());
    }
}
