//! Status words as typed errors, a missing certificate by name, a refused
//! step that ends the exchange, and the commands' bytes on the wire.

use asan_applet::{CertificateProfile, KeyRef, PinRef};
use asan_host::transport::scripted::{Answer, ScriptedTransport};
use asan_host::{AsanCard, Error, Pin1, Pin2, Puk};

use crate::cases::{Hostile, Want, assert_all, hostile};
use crate::common::hx;
use crate::ops::{OK, Op, signature_answer};

/// Status words with a meaning turn into typed errors (and the CLI's exit
/// codes): the PIN a `63Cx` / `6983` is about comes from the command.
#[test]
fn status_words_become_typed_errors() {
    use PinRef::{Pin1, Pin2, Puk};
    let table: Vec<(Op, usize, u16, Want)> = vec![
        (Op::Open, 0, 0x6A82, Want::NoCard),
        (Op::Open, 0, 0x6A86, Want::Status(0x6A86)),
        (Op::Info, 1, 0x6A88, Want::NotFound),
        (Op::Info, 1, 0x63C2, Want::Status(0x63C2)),
        (Op::Info, 1, 0x6983, Want::Status(0x6983)),
        (Op::PinStatus, 1, 0x6A88, Want::NotFound),
        (Op::GetData, 1, 0x6A88, Want::NotFound),
        (Op::VerifyPin, 1, 0x63C2, Want::WrongPin(Pin1, 2)),
        (Op::VerifyPin, 1, 0x63C0, Want::WrongPin(Pin1, 0)),
        (Op::VerifyPin, 1, 0x6983, Want::Blocked(Pin1)),
        (Op::VerifyPin, 1, 0x6985, Want::Conditions),
        (Op::VerifyPin, 1, 0x6982, Want::Security),
        (Op::VerifyPin, 1, 0x6A80, Want::Status(0x6A80)),
        (Op::VerifyPin, 1, 0x6700, Want::Status(0x6700)),
        (Op::PinVerified, 1, 0x6983, Want::Blocked(Pin1)),
        (Op::PinVerified, 1, 0x6985, Want::Conditions),
        (Op::PinVerified, 1, 0x6A88, Want::NotFound),
        (Op::Logout, 1, 0x6A86, Want::Status(0x6A86)),
        (Op::Logout, 1, 0x6985, Want::Conditions),
        (Op::ChangePin, 1, 0x63C1, Want::WrongPin(Pin2, 1)),
        (Op::ChangePin, 1, 0x6983, Want::Blocked(Pin2)),
        (Op::ChangePin, 1, 0x6A80, Want::Status(0x6A80)),
        (Op::Unblock, 1, 0x63C9, Want::WrongPin(Puk, 9)),
        (Op::Unblock, 1, 0x6983, Want::Blocked(Puk)),
        (Op::Unblock, 1, 0x6985, Want::Conditions),
        (Op::UnblockPin, 1, 0x63C0, Want::WrongPin(Puk, 0)),
        (Op::UnblockPin, 1, 0x6983, Want::Blocked(Puk)),
        (Op::Authenticate, 1, 0x63C2, Want::WrongPin(Pin1, 2)),
        (Op::Authenticate, 1, 0x6983, Want::Blocked(Pin1)),
        (Op::Authenticate, 2, 0x6982, Want::Security),
        (Op::Authenticate, 2, 0x6985, Want::Conditions),
        (Op::Authenticate, 2, 0x6A88, Want::NotFound),
        (Op::Authenticate, 2, 0x6700, Want::Status(0x6700)),
        (Op::AuthenticateBusiness, 1, 0x6A88, Want::NotFound),
        (Op::AuthenticateBusiness, 1, 0x6A80, Want::Status(0x6A80)),
        (Op::AuthenticateBusiness, 2, 0x63C1, Want::WrongPin(Pin1, 1)),
        (Op::AuthenticateBusiness, 3, 0x6985, Want::Conditions),
        (Op::Sign, 1, 0x63C1, Want::WrongPin(Pin2, 1)),
        (Op::Sign, 1, 0x6983, Want::Blocked(Pin2)),
        (Op::Sign, 2, 0x6982, Want::Security),
        (Op::Sign, 2, 0x6985, Want::Conditions),
        (Op::Sign, 2, 0x63C2, Want::Status(0x63C2)),
        (Op::SignGovernmental, 1, 0x6A88, Want::NotFound),
        (Op::SignGovernmental, 1, 0x6985, Want::Conditions),
        (Op::SignGovernmental, 2, 0x63C2, Want::WrongPin(Pin2, 2)),
        (Op::SignGovernmental, 3, 0x6A88, Want::NotFound),
        (Op::SignContract11, 1, 0x63C1, Want::WrongPin(Pin2, 1)),
        (Op::SignContract11, 1, 0x63C0, Want::WrongPin(Pin2, 0)),
        (Op::SignContract11, 1, 0x6983, Want::Blocked(Pin2)),
        (Op::SignContract11, 1, 0x6985, Want::Conditions),
        (Op::SignContract11, 1, 0x6A88, Want::NotFound),
        (Op::SignContract11, 1, 0x6A80, Want::Status(0x6A80)),
        (Op::SignContract11, 1, 0x6982, Want::Security),
        (Op::PublicKey, 1, 0x6A88, Want::NotFound),
        (Op::PublicKey, 1, 0x6985, Want::Conditions),
        (Op::ReadCertificateDer, 1, 0x6A82, Want::NotFound),
        (Op::ReadCertificateDer, 2, 0x6985, Want::Conditions),
        (Op::ReadCertificate, 1, 0x6A82, Want::NotFound),
        (Op::ReadCertificate, 3, 0x6A82, Want::NotFound),
    ];
    let cases: Vec<(Op, usize, Hostile)> = table
        .into_iter()
        .map(|(op, pos, sw, want)| {
            (
                op,
                pos,
                hostile(&format!("SW {sw:04X}"), sw.to_be_bytes().to_vec(), want),
            )
        })
        .collect();
    assert_all(&cases);

    assert_eq!(
        Error::WrongPin {
            pin: Pin1,
            tries_left: 2
        }
        .exit_code(),
        3
    );
    assert_eq!(Error::Blocked { pin: Pin2 }.exit_code(), 4);
    assert_eq!(Error::InvalidResponse(String::new()).exit_code(), 1);
    assert_eq!(Error::Transport(String::new()).exit_code(), 1);
}

#[test]
fn a_missing_certificate_is_named() {
    let t = ScriptedTransport::hex(&["9000", "6A82"]);
    let mut card = AsanCard::open(t).unwrap();
    let e = card
        .read_certificate_der(KeyRef::DEFAULT_SIGNING)
        .unwrap_err();
    assert!(
        matches!(&e, Error::NotFound(m) if m.contains("citizen") && m.contains("sign")),
        "{e:?}"
    );
}

/// After a refused step nothing more is sent: no PSO after a failed VERIFY,
/// no VERIFY (which would spend a try) after a failed MSE.
#[test]
fn a_refused_step_ends_the_exchange() {
    let pin1 = Pin1::new("1234").unwrap();
    let pin2 = Pin2::new("12345").unwrap();
    let sig = signature_answer(64);

    let mut card = AsanCard::open(ScriptedTransport::new(
        [hx(OK), hx("63C2"), sig.clone()].map(Answer::Bytes),
    ))
    .unwrap();
    assert!(matches!(
        card.sign(&[1; 32], &pin2, CertificateProfile::Citizen),
        Err(Error::WrongPin {
            pin: PinRef::Pin2,
            tries_left: 2
        })
    ));
    assert_eq!(card.transport().sent.len(), 2, "no PSO after a wrong PIN2");

    let mut card = AsanCard::open(ScriptedTransport::new(
        [hx(OK), hx("6983"), sig.clone()].map(Answer::Bytes),
    ))
    .unwrap();
    let e = card
        .authenticate(&[1; 32], &pin1, CertificateProfile::Citizen)
        .unwrap_err();
    assert!(matches!(e, Error::Blocked { pin: PinRef::Pin1 }), "{e:?}");
    assert_eq!(e.exit_code(), 4);
    assert_eq!(
        card.transport().sent.len(),
        2,
        "no INTERNAL AUTHENTICATE after a blocked PIN1"
    );

    let mut card = AsanCard::open(ScriptedTransport::new(
        [hx(OK), hx("6A88"), hx(OK), sig].map(Answer::Bytes),
    ))
    .unwrap();
    assert!(matches!(
        card.sign(&[1; 32], &pin2, CertificateProfile::Business),
        Err(Error::NotFound(_))
    ));
    assert_eq!(
        card.transport().sent.len(),
        2,
        "no VERIFY after a refused MSE: a try must not be spent"
    );

    let mut card = AsanCard::open(ScriptedTransport::new(
        [hx(OK), Vec::new(), hx(OK)].map(Answer::Bytes),
    ))
    .unwrap();
    assert!(matches!(
        card.verify_pin(&pin1),
        Err(Error::InvalidResponse(_))
    ));
    let mut card = AsanCard::open(ScriptedTransport::new([
        Answer::Bytes(hx(OK)),
        Answer::Silence,
        Answer::Bytes(hx(OK)),
    ]))
    .unwrap();
    assert!(matches!(
        card.sign(&[1; 32], &pin2, CertificateProfile::Citizen),
        Err(Error::Transport(_))
    ));
    assert_eq!(card.transport().sent.len(), 2);
}

/// The good scripts' commands are the contract's bytes.
#[test]
fn commands_on_the_wire() {
    let run = |op: Op| -> Vec<Vec<u8>> {
        let answers = op.good().into_iter().map(|(_, a)| Answer::Bytes(a));
        let t = ScriptedTransport::new(answers);
        let mut card = AsanCard::open(t).unwrap();
        // Re-run the operation on this card by hand to keep the transport.
        let pin2 = Pin2::new("12345").unwrap();
        let pin1 = Pin1::new("1234").unwrap();
        match op {
            Op::Sign => drop(
                card.sign(&[0x42; 32], &pin2, CertificateProfile::Citizen)
                    .unwrap(),
            ),
            Op::SignGovernmental => drop(
                card.sign(&[0x42; 32], &pin2, CertificateProfile::Governmental)
                    .unwrap(),
            ),
            Op::SignContract11 => {
                assert_eq!(card.contract_version(), (1, 1));
                let signature = card.sign(&[0x42; 32], &pin2, CertificateProfile::Citizen);
                assert!(signature.is_ok(), "{signature:?}");
            }
            Op::AuthenticateBusiness => drop(
                card.authenticate(&[0x42; 48], &pin1, CertificateProfile::Business)
                    .unwrap(),
            ),
            Op::PublicKey => drop(card.public_key(KeyRef::DEFAULT_SIGNING).unwrap()),
            Op::ReadCertificateDer => {
                drop(card.read_certificate_der(KeyRef::DEFAULT_SIGNING).unwrap())
            }
            Op::Unblock => card
                .unblock(Some(PinRef::Pin1), &Puk::new("12345678").unwrap(), None)
                .unwrap(),
            Op::Logout => card.logout(PinRef::Pin2).unwrap(),
            Op::Info => drop(card.info().unwrap()),
            _ => unreachable!(),
        }
        card.into_transport().sent
    };
    let select = hx("00A40400 0A F0415341 4E494D5A 4101 00");
    let sent = run(Op::Sign);
    assert_eq!(
        sent,
        vec![
            select.clone(),
            hx("00200082 08 3132333435FFFFFF"),
            [&hx("002A9E9A 20")[..], &[0x42; 32], &[0]].concat()
        ]
    );
    let sent = run(Op::SignContract11);
    assert_eq!(
        sent,
        vec![
            select.clone(),
            [
                &hx("002A9EAC 2F 840121 8108 3132333435FFFFFF 9020")[..],
                &[0x42; 32],
                &[0],
            ]
            .concat()
        ]
    );
    let sent = run(Op::SignGovernmental);
    assert_eq!(sent[1], hx("002241B6 03 840123"));
    let sent = run(Op::AuthenticateBusiness);
    assert_eq!(sent[1], hx("002241A4 03 840112"));
    assert_eq!(sent[2], hx("00200081 08 31323334FFFFFFFF"));
    assert_eq!(
        sent[3],
        [&hx("00880000 30")[..], &[0x42; 48], &[0]].concat()
    );
    assert_eq!(run(Op::PublicKey)[1], hx("00478121 00"));
    let sent = run(Op::ReadCertificateDer);
    // One extended READ BINARY (Le 0000) reads the whole file.
    assert_eq!(sent[1..], [hx("00A4020C 02 A102"), hx("00B00000 000000")]);
    assert_eq!(run(Op::Unblock)[1], hx("002C0181 08 3132333435363738"));
    assert_eq!(run(Op::Logout)[1], hx("0020FF82"));
    assert_eq!(run(Op::Info)[1], hx("00CA006E 00"));
}
