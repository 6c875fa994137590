//! Signatures and authentication that verify with p256, APDU counts, and
//! refusals.

use asan_applet::{CertificateProfile, KeyRef, KeyUsage, PinRef};
use asan_host::Error;
use asan_host::apdu::Command;
use asan_host::card::check;
use p256::ecdsa::Signature;
use p256::ecdsa::signature::hazmat::PrehashVerifier;

use crate::{AUTH, SIGN, counted, fresh, personalised, pin1, pin2, verifying_key};

#[test]
fn sign_verifies_against_key_21_in_one_apdu() {
    let mut card = personalised();
    assert_eq!(card.contract_version(), (1, 1));
    let vk = verifying_key(&mut card, SIGN);
    let other = verifying_key(&mut card, AUTH);
    let digest: [u8; 32] = core::array::from_fn(|i| i as u8 * 3);
    let (sig, n) = counted(&mut card, |c| {
        c.sign(&digest, &pin2("12345"), CertificateProfile::Citizen)
    });
    let sig = Signature::from_slice(&sig.unwrap()).unwrap();
    assert_eq!(n, 1, "PSO: CDS carrying its own PIN2 (contract 1.1)");
    vk.verify_prehash(&digest, &sig).unwrap();
    assert!(
        other.verify_prehash(&digest, &sig).is_err(),
        "not the authentication key"
    );
    let mut wrong = digest;
    wrong[0] ^= 1;
    assert!(vk.verify_prehash(&wrong, &sig).is_err());

    // It granted no PIN2 verification: a PSO without VERIFY is refused.
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
        assert_eq!(n, 1);
    }
}

/// `card` made one of contract 1.0 (and selected again, so the library
/// reads its FCI).
fn contract_1_0(card: &mut crate::Card) {
    card.transport_mut().card_mut().emulate_contract_1_0();
    card.select().unwrap();
    assert_eq!(card.contract_version(), (1, 0));
}

#[test]
fn a_contract_1_0_card_signs_with_verify_and_pso() {
    let mut card = personalised();
    contract_1_0(&mut card);
    let vk = verifying_key(&mut card, SIGN);
    let digest = [0x42; 32];
    for _ in 0..2 {
        let (s, n) = counted(&mut card, |c| {
            c.sign(&digest, &pin2("12345"), CertificateProfile::Citizen)
        });
        vk.verify_prehash(&digest, &Signature::from_slice(&s.unwrap()).unwrap())
            .unwrap();
        assert_eq!(n, 2, "VERIFY + PSO with the default profile");
    }
    // A wrong PIN2: VERIFY only.
    let (r, n) = counted(&mut card, |c| {
        c.sign(&digest, &pin2("54321"), CertificateProfile::Citizen)
    });
    assert!(
        matches!(r, Err(Error::WrongPin { tries_left: 2, .. })),
        "{r:?}"
    );
    assert_eq!(n, 1);
}

#[test]
fn a_card_whose_fci_claims_1_1_but_does_not_know_the_command_still_signs() {
    let mut card = personalised();
    // The FCI was read from a 1.1 card; then the card turns 1.0 underneath.
    card.transport_mut().card_mut().emulate_contract_1_0();
    let vk = verifying_key(&mut card, SIGN);
    let digest = [0x43; 32];
    let (s, n) = counted(&mut card, |c| {
        c.sign(&digest, &pin2("12345"), CertificateProfile::Citizen)
    });
    vk.verify_prehash(&digest, &Signature::from_slice(&s.unwrap()).unwrap())
        .unwrap();
    assert_eq!(n, 3, "6A86 to P2 AC, then VERIFY + PSO");
    assert_eq!(card.contract_version(), (1, 0));
    assert_eq!(card.pin_status().unwrap().pin2.tries_left, 3);
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
    assert_eq!(n, 1, "one refused command");
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
