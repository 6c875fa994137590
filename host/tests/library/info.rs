//! Card information, PIN counters and certificates.

use asan_applet::{CertificateProfile, KeyRef, KeyUsage, PinRef};
use asan_host::Error;
use asan_host::transport::Transport;

use crate::{AUTH, SIGN, common, counted, fresh, operator, personalised, write_certificate};

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
    assert_eq!(info.contract_version, "1.1");
    assert_eq!(info.applet_version, "0.2");
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

/// Found here (fixed in card.rs, `read_certificate_der`): the doc promised
/// "one extended read where the reader allows it", but READ BINARY was sent
/// with `Command::le(0)`, which with no data always fits a short APDU, so
/// even an extended-length reader got short Le `00` (256 bytes): a 417-byte
/// certificate took SELECT EF + 2 reads, a 4096-byte one 17. On an
/// extended-length reader READ BINARY now asks for the whole file (extended
/// Le `0000`): SELECT EF and one read.
#[test]
fn a_certificate_is_read_in_one_extended_read() {
    let mut card = personalised();
    assert!(card.transport().extended_length());
    write_certificate(&mut card, SIGN, &common::certificate());
    let (der, n) = counted(&mut card, |c| c.read_certificate_der(SIGN));
    assert_eq!(der.unwrap().len(), 417);
    assert_eq!(n, 2, "SELECT EF + one extended READ BINARY");
}
