//! The operator's half of renewal: new key pairs for one profile of an
//! operational card, certified for the subscriber's subject as before.

use asan_applet::scp03::{SecurityLevel, StaticKeys};
use asan_applet::{CertificateProfile, KeyRef, KeyUsage};
use x509_cert::name::Name;

use super::{
    CardPins, CardReport, Channel, Issuer, certify, generate_keys, profiles, record_activation,
    remember_public_keys, service_of,
};
use crate::card::AsanCard;
use crate::cert;
use crate::error::{Error, Result};
use crate::info::profile_name;
use crate::operator::Operator;
use crate::transport::Transport;

/// The operator's half of renewal: new key pairs of `profile` on an
/// operational card, requests signed with them (the subscriber's PIN1 and
/// PIN2), certificates for the same subject as before.
pub fn renew<T: Transport>(
    card: &mut AsanCard<T>,
    profile: CertificateProfile,
    pins: &CardPins,
    keys: &StaticKeys,
    level: SecurityLevel,
    issuer: &Issuer<'_>,
    now: std::time::SystemTime,
) -> Result<CardReport> {
    let info = card.info()?;
    if info.life_cycle != "operational" {
        return Err(Error::ConditionsNotSatisfied(
            "only an operational card can renew".into(),
        ));
    }
    let service = service_of(&info)
        .ok_or_else(|| Error::ConditionsNotSatisfied("the card has no service".into()))?;
    if !profiles(service).contains(&profile) {
        return Err(Error::ConditionsNotSatisfied(format!(
            "the {} service does not include the {} profile",
            crate::info::service_name(service),
            profile_name(profile)
        )));
    }
    let pair = [
        KeyRef::new(profile, KeyUsage::Authentication),
        KeyRef::new(profile, KeyUsage::Signing),
    ];
    // The subject stays the subscriber's: take it from a current certificate.
    let subject = pair
        .iter()
        .find_map(|k| {
            card.read_certificate_der(*k)
                .ok()
                .and_then(|d| cert::parse(&d).ok())
        })
        .map(|c| c.tbs_certificate().subject().clone());
    let subject = match subject {
        Some(s) => s,
        None => {
            return Err(Error::ConditionsNotSatisfied(format!(
                "no {} certificate on the card to take the subscriber's subject from; provision the profile again",
                profile_name(profile)
            )));
        }
    };
    // The subscriber's PINs are checked before the old keys go: a typo
    // must not cost the certificates.
    card.verify_pin(&pins.pin1)?;
    card.verify_pin(&pins.pin2)?;
    card.select()?;
    let extended = card.transport().extended_length();
    let generated = card.exclusive(|a| {
        let mut op = Operator::open(a, keys, level, extended)?;
        generate_keys(&mut op, &pair)
    })?;
    remember_public_keys(card, generated);
    card.select()?;
    let mut report = CardReport {
        reader: card.transport().name(),
        serial: Some(info.serial.clone()),
        result: "renewed",
        error: None,
        certificates: Vec::new(),
        key_version: Some(keys.kvn),
        issued: Vec::new(),
    };
    let named: Vec<(KeyRef, Name)> = pair.iter().map(|k| (*k, subject.clone())).collect();
    let issued = certify(
        card,
        &named,
        pins,
        &Channel { keys, level },
        issuer,
        now,
        &info.serial,
        &mut report,
    )?;
    record_activation(issuer, &info.serial, service, None, &issued, now)?;
    Ok(report)
}
