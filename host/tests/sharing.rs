//! The card API on a card other programs share, as through pcscd: a wrapper
//! transport reports itself shared and plays "another program" whose
//! commands reach the same card session at chosen places inside our PC/SC
//! transaction — which pcsc-lite allows for one command already in flight
//! when the transaction begins. The card is the real applet (in-process,
//! Business service: Citizen keys 11/21 and Business keys 12/22).
//!
//! Shown: the public key is read once per key and session (or taken from
//! the certificate) and every signature is checked against it; another
//! program's MSE (a signature with the wrong key), SELECT or PSO (our
//! verification gone — the PSO even used it) between our commands is
//! noticed, reported as `Interference`, and the operation done again with
//! MSE; an operation disturbed every time is given up after three attempts
//! with `Error::Interference`; a wrong PIN is never tried twice.
//!
//! Those checks are for cards of contract 1.0 (VERIFY, then PSO), so the
//! signing tests run on a card emulating 1.0. On a 1.1 card a signature is
//! one command carrying its own PIN2: [`a_contract_1_1_card_signs_in_one_command_whatever_others_send`].
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use asan_applet::scp03::{SecurityLevel, StaticKeys};
use asan_applet::{CertificateProfile, KeyRef, KeyUsage, MemStore, PinRef, Service, ServiceType};
use asan_host::card::{ATTEMPTS, Interference};
use asan_host::operator::Operator;
use asan_host::transport::pcsc::select_apdu;
use asan_host::transport::virtual_card::VirtualTransport;
use asan_host::transport::{Exchange, Transport};
use asan_host::{AsanCard, Error, Pin1, Pin2, Puk, Result, Secret};
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::ecdsa::{Signature, VerifyingKey};

const CITIZEN_SIGN: KeyRef = KeyRef::DEFAULT_SIGNING;
const BUSINESS_SIGN: KeyRef = KeyRef::new(CertificateProfile::Business, KeyUsage::Signing);
const BUSINESS_AUTH: KeyRef = KeyRef::new(CertificateProfile::Business, KeyUsage::Authentication);

const MSE_DST_BUSINESS: &[u8] = &[0x00, 0x22, 0x41, 0xB6, 0x03, 0x84, 0x01, 0x22];
const MSE_AT_CITIZEN: &[u8] = &[0x00, 0x22, 0x41, 0xA4, 0x03, 0x84, 0x01, 0x11];

/// A command of "another program": sent right before our command number
/// `before` (0-based) of our transaction number `transaction` (0-based,
/// counted from the wrapper's creation).
struct Intrusion {
    transaction: usize,
    before: usize,
    capdu: Vec<u8>,
}

/// The in-process card, claiming to be shared, with intrusions.
struct Shared {
    inner: VirtualTransport<MemStore>,
    plan: Vec<Intrusion>,
    transactions: usize,
    /// Our commands per transaction (INS bytes).
    ours: Vec<Vec<u8>>,
    /// The intruder's status words.
    theirs: Vec<u16>,
}

impl Exchange for Shared {
    fn transmit(&mut self, capdu: &[u8]) -> Result<Vec<u8>> {
        self.inner.transmit(capdu)
    }
}

impl Transport for Shared {
    fn extended_length(&self) -> bool {
        true
    }

    fn exclusive(&mut self, f: &mut dyn FnMut(&mut dyn Exchange) -> Result<()>) -> Result<()> {
        let n = self.transactions;
        self.transactions += 1;
        self.ours.push(Vec::new());
        let (plan, inner, ours, theirs) = (
            &self.plan,
            &mut self.inner,
            &mut self.ours[n],
            &mut self.theirs,
        );
        inner.exclusive(&mut |ex: &mut dyn Exchange| {
            f(&mut Intruded {
                ex,
                plan,
                transaction: n,
                ours: &mut *ours,
                theirs: &mut *theirs,
            })
        })
    }

    fn shared(&self) -> bool {
        true
    }

    fn name(&self) -> String {
        "shared in-process card".into()
    }

    fn apdu_count(&self) -> u64 {
        self.inner.apdu_count()
    }
}

struct Intruded<'a> {
    ex: &'a mut dyn Exchange,
    plan: &'a [Intrusion],
    transaction: usize,
    ours: &'a mut Vec<u8>,
    theirs: &'a mut Vec<u16>,
}

impl Exchange for Intruded<'_> {
    fn transmit(&mut self, capdu: &[u8]) -> Result<Vec<u8>> {
        let position = self.ours.len();
        for i in self
            .plan
            .iter()
            .filter(|i| i.transaction == self.transaction && i.before == position)
        {
            let r = self.ex.transmit(&i.capdu)?;
            let sw = u16::from_be_bytes([r[r.len() - 2], r[r.len() - 1]]);
            self.theirs.push(sw);
        }
        self.ours.push(capdu[1]);
        self.ex.transmit(capdu)
    }
}

type Card = AsanCard<Shared>;

fn pin1() -> Pin1 {
    Pin1::new("1234").unwrap()
}

fn pin2() -> Pin2 {
    Pin2::new("12345").unwrap()
}

/// A Business card (Citizen and Business keys) of contract 1.0, shared,
/// with `plan`.
fn business_card(plan: Vec<Intrusion>) -> Card {
    business_card_of(plan, false)
}

/// A Business card, shared, with `plan`; of contract 1.1 or 1.0.
fn business_card_of(plan: Vec<Intrusion>, contract_1_1: bool) -> Card {
    let keys = StaticKeys::default_test_keys();
    let level = SecurityLevel::from_byte(0x03).unwrap();
    let mut card = AsanCard::open(VirtualTransport::in_memory().unwrap()).unwrap();
    card.exclusive(|a| {
        let mut op = Operator::open(a, &keys, level, true)?;
        op.set_pin(PinRef::Pin1, pin1().block())?;
        op.set_pin(PinRef::Pin2, pin2().block())?;
        op.set_pin(PinRef::Puk, Puk::new("12345678")?.block())?;
        for key in [
            KeyRef::DEFAULT_AUTHENTICATION,
            CITIZEN_SIGN,
            BUSINESS_AUTH,
            BUSINESS_SIGN,
        ] {
            op.generate_key(key)?;
        }
        op.set_service(Service {
            kind: ServiceType::Business,
            active: true,
        })?;
        op.activate()
    })
    .unwrap();
    let mut inner = card.into_transport();
    if !contract_1_1 {
        inner.card_mut().emulate_contract_1_0();
    }
    let shared = Shared {
        inner,
        plan,
        transactions: 0,
        ours: Vec::new(),
        theirs: Vec::new(),
    };
    let mut card = AsanCard::open(shared).unwrap();
    // Our own transactions count from here.
    card.transport_mut().transactions = 0;
    let expected = if contract_1_1 { (1, 1) } else { (1, 0) };
    assert_eq!(card.contract_version(), expected);
    card
}

fn intrusion(transaction: usize, before: usize, capdu: &[u8]) -> Intrusion {
    Intrusion {
        transaction,
        before,
        capdu: capdu.to_vec(),
    }
}

fn pso(digest: &[u8; 32]) -> Vec<u8> {
    [&[0x00, 0x2A, 0x9E, 0x9A, 0x20][..], digest, &[0x00]].concat()
}

/// Whether `signature` verifies with the card's public key of `key`.
fn verifies(card: &mut Card, key: KeyRef, digest: &[u8], signature: &[u8; 64]) -> bool {
    let public = VerifyingKey::from(&card.public_key(key).unwrap());
    public
        .verify_prehash(digest, &Signature::from_slice(signature).unwrap())
        .is_ok()
}

fn tries(card: &mut Card, pin: PinRef) -> u8 {
    let pins = card.pin_status().unwrap();
    match pin {
        PinRef::Pin1 => pins.pin1.tries_left,
        PinRef::Pin2 => pins.pin2.tries_left,
        PinRef::Puk => pins.puk.tries_left,
    }
}

const GET_PUBLIC_KEY: u8 = 0x47;
const VERIFY: u8 = 0x20;
const PSO: u8 = 0x2A;
const MSE: u8 = 0x22;
const INTERNAL_AUTHENTICATE: u8 = 0x88;

#[test]
fn the_public_key_is_read_once_and_every_signature_checked() {
    let mut card = business_card(vec![]);
    let digest = [0x11; 32];
    let first = card
        .sign(&digest, &pin2(), CertificateProfile::Citizen)
        .unwrap();
    let second = card
        .sign(&digest, &pin2(), CertificateProfile::Citizen)
        .unwrap();
    let ours = card.transport().ours.clone();
    assert_eq!(
        ours,
        [vec![GET_PUBLIC_KEY, VERIFY, PSO], vec![VERIFY, PSO]],
        "the public key once, then 2 APDUs per signature"
    );
    assert!(verifies(&mut card, CITIZEN_SIGN, &digest, &first));
    assert!(verifies(&mut card, CITIZEN_SIGN, &digest, &second));
    assert!(card.take_interference().is_empty());
}

#[test]
fn a_public_key_from_the_certificate_saves_the_read() {
    let mut card = business_card(vec![]);
    let public = card.public_key(CITIZEN_SIGN).unwrap();
    card.transport_mut().ours.clear();
    card.expect_public_key(CITIZEN_SIGN, public);
    let before = card.transport().apdu_count();
    card.sign(&[0x12; 32], &pin2(), CertificateProfile::Citizen)
        .unwrap();
    assert_eq!(card.transport().apdu_count() - before, 2);
}

#[test]
fn a_stale_expected_key_costs_one_read_and_no_second_signature() {
    // A key from a cache or a certificate that is not the card's (another
    // card in the reader, keys renewed): the signature is checked against
    // the card's own key, read once; it is not interference.
    let mut card = business_card(vec![]);
    let other = card.public_key(BUSINESS_SIGN).unwrap();
    card.expect_public_key(CITIZEN_SIGN, other);
    assert!(!card.public_key_confirmed(CITIZEN_SIGN));
    card.transport_mut().transactions = 0;
    card.transport_mut().ours.clear();
    let before = card.transport().apdu_count();
    let digest = [0x13; 32];
    let signature = card
        .sign(&digest, &pin2(), CertificateProfile::Citizen)
        .unwrap();
    // One transaction, VERIFY and PSO; then GET PUBLIC KEY on its own.
    assert_eq!(card.transport().ours, [vec![VERIFY, PSO]]);
    assert_eq!(card.transport().apdu_count() - before, 3);
    assert!(card.take_interference().is_empty());
    assert!(card.public_key_confirmed(CITIZEN_SIGN));
    assert_ne!(card.known_public_key(CITIZEN_SIGN), Some(other));
    assert!(verifies(&mut card, CITIZEN_SIGN, &digest, &signature));
}

#[test]
fn a_stale_expected_key_and_another_program_s_mse_is_still_interference() {
    // Their MSE (business signing key) lands between our VERIFY and PSO,
    // and the key we expected was stale: the card's own key does not verify
    // the signature either, so it is made again.
    // Our transaction: VERIFY, then (their MSE) PSO.
    let mut card = business_card(vec![intrusion(0, 1, MSE_DST_BUSINESS)]);
    let stale = card.public_key(BUSINESS_AUTH).unwrap();
    card.expect_public_key(CITIZEN_SIGN, stale);
    let digest = [0x14; 32];
    let signature = card
        .sign(&digest, &pin2(), CertificateProfile::Citizen)
        .unwrap();
    assert_eq!(
        card.take_interference(),
        [Interference::WrongKey { key: CITIZEN_SIGN }]
    );
    assert!(verifies(&mut card, CITIZEN_SIGN, &digest, &signature));
}

#[test]
fn another_program_s_mse_before_our_pso_is_noticed_and_the_signature_made_again() {
    // Their MSE (business signing key) lands between our VERIFY and PSO.
    let mut card = business_card(vec![intrusion(0, 2, MSE_DST_BUSINESS)]);
    let digest = [0x21; 32];
    let signature = card
        .sign(&digest, &pin2(), CertificateProfile::Citizen)
        .unwrap();
    assert_eq!(card.transport().theirs, [0x9000]);
    // The second attempt reads the public key again (the key might have been
    // replaced) and selects the key itself.
    assert_eq!(
        card.transport().ours,
        [
            vec![GET_PUBLIC_KEY, VERIFY, PSO],
            vec![GET_PUBLIC_KEY, MSE, VERIFY, PSO]
        ]
    );
    assert_eq!(
        card.take_interference(),
        [Interference::WrongKey { key: CITIZEN_SIGN }]
    );
    assert!(verifies(&mut card, CITIZEN_SIGN, &digest, &signature));
    assert!(!verifies(&mut card, BUSINESS_SIGN, &digest, &signature));
    assert_eq!(tries(&mut card, PinRef::Pin2), 3);
}

#[test]
fn a_select_between_verify_and_pso_loses_the_verification_and_we_sign_again() {
    let mut card = business_card(vec![intrusion(0, 2, &select_apdu())]);
    let digest = [0x22; 32];
    let signature = card
        .sign(&digest, &pin2(), CertificateProfile::Citizen)
        .unwrap();
    assert_eq!(
        card.take_interference(),
        [Interference::VerificationLost { pin: PinRef::Pin2 }]
    );
    assert_eq!(
        card.transport().ours[1],
        [MSE, VERIFY, PSO],
        "the key is known"
    );
    assert!(verifies(&mut card, CITIZEN_SIGN, &digest, &signature));
}

#[test]
fn another_program_s_pso_that_used_our_verification_is_reported() {
    // The pcsc-lite race at its worst: their PSO without VERIFY runs between
    // our VERIFY and PSO and gets a signature; we notice, because our PSO
    // then finds no verification, report it and sign again.
    let theirs = [0x66; 32];
    let mut card = business_card(vec![intrusion(0, 2, &pso(&theirs))]);
    let digest = [0x23; 32];
    let signature = card
        .sign(&digest, &pin2(), CertificateProfile::Citizen)
        .unwrap();
    assert_eq!(card.transport().theirs, [0x9000], "their PSO used our PIN2");
    let reported = card.take_interference();
    assert_eq!(
        reported,
        [Interference::VerificationLost { pin: PinRef::Pin2 }]
    );
    assert!(
        reported[0].to_string().contains("used your PIN"),
        "{}",
        reported[0]
    );
    assert!(verifies(&mut card, CITIZEN_SIGN, &digest, &signature));
}

#[test]
fn an_mse_before_our_own_mse_changes_nothing() {
    // Their MSE runs first in our transaction; ours (Business) follows.
    let mut card = business_card(vec![intrusion(0, 1, MSE_AT_CITIZEN)]);
    let digest = [0x24; 48];
    let signature = card
        .authenticate(&digest, &pin1(), CertificateProfile::Business)
        .unwrap();
    assert_eq!(
        card.transport().ours,
        [vec![GET_PUBLIC_KEY, MSE, VERIFY, INTERNAL_AUTHENTICATE]]
    );
    assert!(card.take_interference().is_empty());
    assert!(verifies(&mut card, BUSINESS_AUTH, &digest, &signature));
}

#[test]
fn an_authentication_with_the_wrong_key_is_made_again() {
    // Their MSE AT (Citizen) lands after our MSE AT (Business).
    let mut card = business_card(vec![intrusion(0, 2, MSE_AT_CITIZEN)]);
    let digest = [0x25; 20];
    let signature = card
        .authenticate(&digest, &pin1(), CertificateProfile::Business)
        .unwrap();
    assert_eq!(
        card.take_interference(),
        [Interference::WrongKey { key: BUSINESS_AUTH }]
    );
    assert!(verifies(&mut card, BUSINESS_AUTH, &digest, &signature));
}

#[test]
fn an_operation_disturbed_every_time_is_given_up() {
    let plan = (0..ATTEMPTS)
        .map(|t| intrusion(t, if t == 0 { 2 } else { 3 }, MSE_DST_BUSINESS))
        .collect();
    let mut card = business_card(plan);
    let e = card
        .sign(&[0x31; 32], &pin2(), CertificateProfile::Citizen)
        .unwrap_err();
    assert!(
        matches!(&e, Error::Interference(m) if m.contains("3 times")),
        "{e:?}"
    );
    assert_eq!(e.exit_code(), 1);
    assert!(e.to_string().contains("another program"), "{e}");
    assert_eq!(card.transport().ours.len(), ATTEMPTS);
    assert_eq!(card.take_interference().len(), ATTEMPTS);
    assert_eq!(
        tries(&mut card, PinRef::Pin2),
        3,
        "only right PINs were sent"
    );
}

#[test]
fn a_wrong_pin_is_never_tried_twice() {
    let mut card = business_card(vec![intrusion(0, 1, &select_apdu())]);
    let e = card
        .sign(
            &[0x41; 32],
            &Pin2::new("54321").unwrap(),
            CertificateProfile::Citizen,
        )
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
    let verifies_sent = card
        .transport()
        .ours
        .iter()
        .flatten()
        .filter(|&&ins| ins == VERIFY)
        .count();
    assert_eq!(verifies_sent, 1);
    assert_eq!(tries(&mut card, PinRef::Pin2), 2);
}

#[test]
fn a_key_the_card_lacks_is_named_and_costs_no_try() {
    let mut card = business_card(vec![]);
    let e = card
        .sign(&[0x51; 32], &pin2(), CertificateProfile::Governmental)
        .unwrap_err();
    assert!(
        matches!(&e, Error::NotFound(m) if m.contains("government")),
        "{e:?}"
    );
    assert_eq!(card.transport().ours, [vec![GET_PUBLIC_KEY]]);
    assert_eq!(tries(&mut card, PinRef::Pin2), 3);
}

/// PSO: CDS with PIN2 (contract 1.1) for `key` (INS 2A, P2 AC).
const PSO_WITH_PIN: u8 = 0x2A;

#[test]
fn a_contract_1_1_card_signs_in_one_command_whatever_others_send() {
    // Another program's MSE, SELECT and PSO right before our command: none
    // changes which key signs or uses a verification of ours (there is none
    // to use), and nothing has to be done again.
    let theirs = [0x77; 32];
    let plan = vec![
        intrusion(0, 0, MSE_DST_BUSINESS),
        intrusion(1, 0, &select_apdu()),
        intrusion(2, 0, &pso(&theirs)),
        intrusion(3, 0, &pso(&theirs)),
    ];
    let mut card = business_card_of(plan, true);
    let digest = [0x31; 32];
    let before = card.transport().apdu_count();
    let mut signatures = Vec::new();
    for profile in [
        CertificateProfile::Citizen,
        CertificateProfile::Citizen,
        CertificateProfile::Business,
        CertificateProfile::Citizen,
    ] {
        signatures.push((profile, card.sign(&digest, &pin2(), profile).unwrap()));
    }
    let ours = card.transport().ours.clone();
    assert_eq!(
        ours,
        vec![vec![PSO_WITH_PIN]; 4],
        "one command per signature"
    );
    // Ours: 4 APDUs; the intruder's: 4.
    assert_eq!(card.transport().apdu_count() - before, 8);
    assert_eq!(
        card.transport().theirs,
        [0x9000, 0x9000, 0x6982, 0x6982],
        "the intruder's PSOs find no verification"
    );
    assert!(card.take_interference().is_empty());
    for (profile, signature) in signatures {
        let key = KeyRef::new(profile, KeyUsage::Signing);
        assert!(verifies(&mut card, key, &digest, &signature), "{profile:?}");
    }
    // A wrong PIN2 costs one try and signs nothing; the right one restores.
    let wrong = Pin2::new("99999").unwrap();
    match card.sign(&digest, &wrong, CertificateProfile::Citizen) {
        Err(Error::WrongPin {
            pin: PinRef::Pin2,
            tries_left: 2,
        }) => {}
        other => panic!("{other:?}"),
    }
    card.sign(&digest, &pin2(), CertificateProfile::Citizen)
        .unwrap();
    assert_eq!(tries(&mut card, PinRef::Pin2), 3);
    // A key the card lacks: named, and no try spent.
    let e = card
        .sign(&digest, &pin2(), CertificateProfile::Governmental)
        .unwrap_err();
    assert!(matches!(e, Error::NotFound(_)), "{e}");
    assert_eq!(tries(&mut card, PinRef::Pin2), 3);
}
