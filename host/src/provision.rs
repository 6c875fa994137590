//! Operator provisioning: a fresh card becomes a subscriber's card — PINs,
//! key pairs of every profile the service allows, service, activation, one
//! PKCS#10 request per key signed on the card, certificates from the CA,
//! written back. Safe to run again on a card it has seen: an operational
//! card with its certificates is skipped, one a run left half-way is resumed.

use crate::cert::NameText as _;
use std::path::PathBuf;

use asan_applet::scp03::{SecurityLevel, StaticKeys};
use asan_applet::{CertificateProfile, KeyRef, KeyUsage, PinRef, Service, ServiceType};
use p256::PublicKey;
use serde::Serialize;
use x509_cert::name::Name;

use crate::card::AsanCard;
use crate::error::{Error, Result};
use crate::info::{CardInfo, profile_name, usage_name};
use crate::operator::Operator;
use crate::pin::Secret;
use crate::transport::Transport;
use crate::x509::{DevCa, DigestSigner, build_csr, subject_name};
use crate::{cert, files};

mod pins;
mod renew;
mod rotate;
mod subject;
pub use pins::CardPins;
pub(crate) use pins::wiped_json;
pub use renew::renew;
pub use rotate::{Rotation, replace_keys};
pub use subject::{SubjectSpec, development_subject};

/// Who issues the certificates.
#[derive(Clone, Debug)]
pub enum Issuer<'a> {
    /// A development CA: certificates are issued and written at once.
    Ca(&'a DevCa),
    /// No CA here: the requests are written to this directory for the
    /// certification centre; load the answers with `asan cert load`.
    Requests(PathBuf),
}

/// What to do with each card.
#[derive(Clone, Debug)]
pub struct Personalisation<'a> {
    /// The subscriber's service type.
    pub service: ServiceType,
    /// Subject of the certificates; fields left `None` are filled with a
    /// development subject made from the card serial.
    pub subject: SubjectSpec,
    /// PINs to set; `None` generates them (then `mailer` is required).
    pub pins: Option<CardPins>,
    /// The card's SCP03 keys (with `master`: the keys it comes with, the
    /// test keys of a fresh card).
    pub keys: StaticKeys,
    /// The master key set: the card's own keys are derived from it and its
    /// serial ([`crate::keys::derive`]) and replace `keys` by PUT KEY at
    /// the end, checked by a channel opened with them.
    pub master: Option<StaticKeys>,
    /// The secure channel level (`03` or `33`).
    pub level: SecurityLevel,
    /// Who issues the certificates.
    pub issuer: Issuer<'a>,
    /// Where the PIN mailer lines go (JSON lines, mode 0600).
    pub mailer: Option<PathBuf>,
    /// Validity start of issued certificates and activation time: the time
    /// of the card's run ([`Personalisation::now`] gives a copy with the
    /// time now, for each card of a station or batch).
    pub now: std::time::SystemTime,
}

impl Personalisation<'_> {
    /// This plan at the present time: a station runs for days, and each
    /// card's certificates start (and its activation is recorded) when that
    /// card is personalised, not when the station started.
    pub fn now(&self) -> Self {
        Self {
            now: std::time::SystemTime::now(),
            ..self.clone()
        }
    }
}

/// What happened to one card.
#[derive(Clone, Debug, Serialize)]
pub struct CardReport {
    /// The reader or virtual card.
    pub reader: String,
    /// The card serial, once known.
    pub serial: Option<String>,
    /// `personalised`, `resumed`, `renewed`, `skipped` or `failed`.
    pub result: &'static str,
    /// Why it was skipped or failed.
    pub error: Option<String>,
    /// Subjects of the certificates written (or requests made).
    pub certificates: Vec<String>,
    /// The version of the SCP03 key set the card answers to at the end.
    pub key_version: Option<u8>,
    /// The certificates issued and written (for the audit trail).
    #[serde(skip)]
    pub issued: Vec<IssuedCertificate>,
}

/// A certificate written to a card: what the audit trail records of it.
#[derive(Clone, Debug, Serialize)]
pub struct IssuedCertificate {
    /// `citizen authentication`, …
    pub key: String,
    /// The certificate serial number, hex.
    pub serial: String,
    /// SHA-256 of the DER certificate, hex.
    pub sha256: String,
}

impl CardReport {
    /// A report of a card that failed before anything was known of it.
    pub fn failed(reader: String, serial: Option<String>, error: String) -> Self {
        Self {
            reader,
            serial,
            result: "failed",
            error: Some(error),
            certificates: Vec::new(),
            key_version: None,
            issued: Vec::new(),
        }
    }
}

/// The profiles a service type allows.
pub fn profiles(service: ServiceType) -> &'static [CertificateProfile] {
    match service {
        ServiceType::Citizen => &[CertificateProfile::Citizen],
        ServiceType::Business => &[CertificateProfile::Citizen, CertificateProfile::Business],
        ServiceType::Governmental => &[
            CertificateProfile::Citizen,
            CertificateProfile::Governmental,
        ],
    }
}

/// The keys a service type needs: authentication and signing of each profile.
pub fn keys_for(service: ServiceType) -> Vec<KeyRef> {
    profiles(service)
        .iter()
        .flat_map(|p| {
            [
                KeyRef::new(*p, KeyUsage::Authentication),
                KeyRef::new(*p, KeyUsage::Signing),
            ]
        })
        .collect()
}

/// A card key as a [`DigestSigner`]: VERIFY and the signature, on the card.
struct CardKey<'c, T: Transport> {
    card: &'c mut AsanCard<T>,
    key: KeyRef,
    public: PublicKey,
    pins: &'c CardPins,
}

impl<T: Transport> DigestSigner for CardKey<'_, T> {
    fn public_key(&self) -> PublicKey {
        self.public
    }

    fn sign_digest(&mut self, digest: &[u8; 32]) -> Result<[u8; 64]> {
        match self.key.usage {
            KeyUsage::Authentication => {
                self.card
                    .authenticate(digest, &self.pins.pin1, self.key.profile)
            }
            KeyUsage::Signing => self.card.sign(digest, &self.pins.pin2, self.key.profile),
        }
    }
}

fn missing_certificates(info: &CardInfo, service: ServiceType) -> Vec<KeyRef> {
    keys_for(service)
        .into_iter()
        .filter(|k| {
            !info
                .keys
                .iter()
                .any(|i| i.key == *k && i.present && i.certificate_len > 0)
        })
        .collect()
}

fn service_of(info: &CardInfo) -> Option<ServiceType> {
    info.service.and_then(|s| service_type(s.kind))
}

/// Personalises the card (or skips/resumes it); `reader` names it in the report.
pub fn personalise<T: Transport>(
    card: &mut AsanCard<T>,
    p: &Personalisation<'_>,
) -> Result<CardReport> {
    let info = card.info()?;
    let mut report = CardReport {
        reader: card.transport().name(),
        serial: Some(info.serial.clone()),
        result: "personalised",
        error: None,
        certificates: Vec::new(),
        key_version: Some(info.scp_key_version),
        issued: Vec::new(),
    };
    let extended = card.transport().extended_length();
    // With a master key set: the card's own keys, and the keys it answers
    // to now (its own once PUT KEY ran, the factory keys before).
    let own = match &p.master {
        Some(m) => {
            let own = crate::keys::derive(m, &info.serial)?;
            if own.kvn == p.keys.kvn {
                return Err(Error::Usage(format!(
                    "the master key set has version {:02X}, the version of the keys the card comes with: \
                     the card's own keys need a new key version",
                    own.kvn
                )));
            }
            Some(own)
        }
        None => None,
    };
    let current = match &own {
        Some(own) if info.scp_key_version == own.kvn => own.clone(),
        _ => p.keys.clone(),
    };
    let needs_own_keys = own.as_ref().is_some_and(|own| own.kvn != current.kvn);
    // Everything that can be refused is checked before the card changes.
    let subject = p.subject.resolve(&info.serial)?;
    let name_of =
        |k: &KeyRef| -> Result<(KeyRef, Name)> { Ok((*k, subject_name(k.profile, &subject)?)) };
    let (pins, to_certify, service): (CardPins, Vec<KeyRef>, ServiceType) = match info.life_cycle {
        "terminated" => {
            report.result = "skipped";
            report.error = Some("the card is terminated".into());
            return Ok(report);
        }
        "operational" => {
            let service = service_of(&info).unwrap_or(p.service);
            let missing = missing_certificates(&info, service);
            if missing.is_empty() {
                let on_factory_keys = info.scp_key_version == p.keys.kvn;
                if let (true, true, Some(own)) = (needs_own_keys, on_factory_keys, &own) {
                    // A run stopped before PUT KEY: only the keys remain.
                    replace_keys(card, &current, own, p.level)?;
                    report.result = "resumed";
                    report.key_version = Some(own.kvn);
                    return Ok(report);
                }
                report.result = "skipped";
                report.error = Some(match &own {
                    // Rotated to another master set since (or by another
                    // station): done, and not this run's to change.
                    Some(own) if info.scp_key_version != own.kvn && !on_factory_keys => format!(
                        "already operational, on key version {:02X} (this master set is {:02X}); never personalised twice",
                        info.scp_key_version, own.kvn
                    ),
                    _ => "already operational; never personalised twice".into(),
                });
                return Ok(report);
            }
            refuse_known_certificates(&p.issuer, &info.serial, &missing, p.now)?;
            let pins = match (&p.pins, &p.mailer) {
                (Some(pins), _) => pins.clone(),
                (None, Some(m)) => CardPins::from_mailer(m, &info.serial)?.ok_or_else(|| {
                    Error::ConditionsNotSatisfied(format!(
                        "card {} is operational without all its certificates, and its PINs are not in {}",
                        info.serial,
                        m.display()
                    ))
                })?,
                (None, None) => {
                    return Err(Error::ConditionsNotSatisfied(
                        "the card is operational without all its certificates; give --mailer with its PINs to resume".into(),
                    ));
                }
            };
            report.result = "resumed";
            (pins, missing, service)
        }
        _ => {
            let keys = keys_for(p.service);
            for k in &keys {
                name_of(k)?;
            }
            refuse_known_certificates(&p.issuer, &info.serial, &keys, p.now)?;
            // PINs a previous, interrupted run already mailed are used again:
            // one letter per card. PINs given by the caller are mailed too
            // when a mailer file is given (unless that line is there).
            let mailed = match &p.mailer {
                Some(m) => CardPins::from_mailer(m, &info.serial)?,
                None => None,
            };
            let (pins, to_mail) = match (&p.pins, mailed, &p.mailer) {
                (Some(pins), mailed, Some(_)) => {
                    let line = pins.mailer_line(&info.serial);
                    let there = mailed.is_some_and(|m| m.mailer_line(&info.serial) == line);
                    (pins.clone(), !there)
                }
                (Some(pins), _, None) => (pins.clone(), false),
                (None, Some(pins), _) => (pins, false),
                (None, None, Some(_)) => (CardPins::generate()?, true),
                (None, None, None) => {
                    return Err(Error::Usage(
                        "generated PINs need --mailer FILE (they are never printed)".into(),
                    ));
                }
            };
            let generated = card.exclusive(|a| {
                // The channel proves these are the card's keys before anything
                // is written; then the PINs are on disk before they are on
                // the card, so an interrupted run can always be resumed.
                let mut op = Operator::open(a, &current, p.level, extended)?;
                if let (true, Some(m)) = (to_mail, &p.mailer) {
                    files::append_private_line(m, &pins.mailer_line(&info.serial))?;
                }
                op.set_pin(PinRef::Pin1, pins.pin1.block())?;
                op.set_pin(PinRef::Pin2, pins.pin2.block())?;
                op.set_pin(PinRef::Puk, pins.puk.block())?;
                let generated = generate_keys(&mut op, &keys)?;
                op.set_service(Service {
                    kind: p.service,
                    active: true,
                })?;
                op.activate()?;
                Ok(generated)
            })?;
            remember_public_keys(card, generated);
            (pins, keys, p.service)
        }
    };
    card.select()?;
    let named = to_certify.iter().map(name_of).collect::<Result<Vec<_>>>()?;
    let channel = Channel {
        keys: &current,
        level: p.level,
    };
    let issued = certify(
        card,
        &named,
        &pins,
        &channel,
        &p.issuer,
        p.now,
        &info.serial,
        &mut report,
    )?;
    let voen = (service != ServiceType::Citizen)
        .then_some(subject.voen.as_deref())
        .flatten();
    record_activation(&p.issuer, &info.serial, service, voen, &issued, p.now)?;
    if let (true, Some(own)) = (needs_own_keys, &own) {
        replace_keys(card, &current, own, p.level)?;
        report.key_version = Some(own.kvn);
    }
    Ok(report)
}

/// Refuses a card that has not finished personalisation when the CA already
/// holds current certificates for its serial and any of `keys`: a card
/// that finished has them on it, so this one is a second card with the same
/// serial (a clone, or the image of a card reset). It must not get that
/// card's keys or certificates, nor supersede them. (With `--requests` the
/// certification centre makes this check.)
fn refuse_known_certificates(
    issuer: &Issuer<'_>,
    serial: &str,
    keys: &[KeyRef],
    now: std::time::SystemTime,
) -> Result<()> {
    let Issuer::Ca(ca) = issuer else {
        return Ok(());
    };
    let Some(record) = crate::x509::card_record(ca.dir(), serial)? else {
        return Ok(());
    };
    let at = crate::renewal::from_system_time(now);
    let known: Vec<String> = record
        .certificates_at(at)
        .into_iter()
        .filter(|c| {
            keys.iter()
                .any(|k| c.profile == profile_name(k.profile) && c.usage == usage_name(k.usage))
        })
        .map(|c| format!("{} {} {}", c.profile, c.usage, c.serial_number))
        .collect();
    if known.is_empty() {
        return Ok(());
    }
    Err(Error::ConditionsNotSatisfied(format!(
        "card {serial} already has certificates from this CA ({}), which this card does not hold: \
         it is a second card with the same serial (a clone, or a card image reset) and is not personalised; \
         a card that lost a certificate gets it back with `asan cert load`",
        known.join(", ")
    )))
}

/// Records the certificates a development CA issued to the card in the
/// CA's register of activated cards (the User ID is issued at the first
/// activation and kept).
fn record_activation(
    issuer: &Issuer<'_>,
    serial: &str,
    service: ServiceType,
    voen: Option<&str>,
    issued: &[(KeyRef, Vec<u8>)],
    now: std::time::SystemTime,
) -> Result<()> {
    if let (Issuer::Ca(ca), false) = (issuer, issued.is_empty()) {
        let at = crate::renewal::from_system_time(now);
        ca.record_activation(serial, service, voen, issued, at)?;
    }
    Ok(())
}

/// GENERATE KEY PAIR for each of `keys`, with the public keys it answers.
fn generate_keys(op: &mut Operator<'_, '_>, keys: &[KeyRef]) -> Result<Vec<(KeyRef, PublicKey)>> {
    keys.iter()
        .map(|key| Ok((*key, op.generate_key(*key)?)))
        .collect()
}

/// Keeps the public keys GENERATE KEY PAIR answered, so that the requests
/// and signatures that follow need not read them from the card.
fn remember_public_keys<T: Transport>(card: &mut AsanCard<T>, generated: Vec<(KeyRef, PublicKey)>) {
    for (key, public) in generated {
        card.expect_public_key(key, public);
    }
}

/// The operator's secure-channel keys and level.
struct Channel<'a> {
    keys: &'a StaticKeys,
    level: SecurityLevel,
}

/// One request per key, signed on the card; certificates issued and written
/// (or the requests saved for the certification centre). Returns the
/// certificates issued.
#[allow(clippy::too_many_arguments)]
fn certify<T: Transport>(
    card: &mut AsanCard<T>,
    keys: &[(KeyRef, Name)],
    pins: &CardPins,
    channel: &Channel<'_>,
    issuer: &Issuer<'_>,
    now: std::time::SystemTime,
    serial: &str,
    report: &mut CardReport,
) -> Result<Vec<(KeyRef, Vec<u8>)>> {
    let extended = card.transport().extended_length();
    // All requests are signed first, then one SELECT clears the PIN
    // verifications (whatever the outcome).
    let requests = keys
        .iter()
        .map(|(key, name)| {
            // Known when this run generated the key (GENERATE KEY PAIR answers it).
            let public = match card.known_public_key(*key) {
                Some(public) => public,
                None => card.public_key(*key)?,
            };
            let csr = build_csr(
                name.clone(),
                &mut CardKey {
                    card: &mut *card,
                    key: *key,
                    public,
                    pins,
                },
            )?;
            Ok((*key, csr))
        })
        .collect::<Result<Vec<_>>>();
    card.select()?;
    let mut issued = Vec::new();
    for (key, csr) in requests? {
        let label = format!("{} {}", profile_name(key.profile), usage_name(key.usage));
        match issuer {
            Issuer::Ca(ca) => {
                let der = ca.issue(&csr, key.profile, key.usage, now)?;
                let parsed = cert::parse(&der)?;
                report.issued.push(IssuedCertificate {
                    key: label.clone(),
                    serial: hex::encode_upper(parsed.tbs_certificate().serial_number().as_bytes()),
                    sha256: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&der)),
                });
                report.certificates.push(format!(
                    "{label}: {}",
                    parsed.tbs_certificate().subject().text()
                ));
                issued.push((key, der));
            }
            Issuer::Requests(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| Error::Io {
                    path: dir.display().to_string(),
                    source: e,
                })?;
                let path = dir.join(format!(
                    "{serial}-{}-{}.csr",
                    profile_name(key.profile),
                    usage_name(key.usage)
                ));
                files::write_whole(&path, &csr, false, true)?;
                report
                    .certificates
                    .push(format!("{label}: request {}", path.display()));
            }
        }
    }
    if !issued.is_empty() {
        card.exclusive(|a| {
            let mut op = Operator::open(a, channel.keys, channel.level, extended)?;
            for (key, der) in &issued {
                op.write_certificate(*key, der)?;
            }
            Ok(())
        })?;
        card.select()?;
    }
    Ok(issued)
}

/// Runs [`personalise`] and turns an error into a `failed` report.
pub fn personalise_reporting<T: Transport>(
    card: &mut AsanCard<T>,
    p: &Personalisation<'_>,
) -> CardReport {
    let reader = card.transport().name();
    personalise(card, p).unwrap_or_else(|e| {
        CardReport::failed(reader, card.info().ok().map(|i| i.serial), e.to_string())
    })
}

/// The service type for a CLI name.
pub fn service_type(name: &str) -> Option<ServiceType> {
    match name {
        "citizen" => Some(ServiceType::Citizen),
        "business" => Some(ServiceType::Business),
        "government" => Some(ServiceType::Governmental),
        _ => None,
    }
}
