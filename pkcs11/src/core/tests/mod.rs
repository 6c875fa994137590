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

mod attributes;
mod behaviour;
mod mutants;
