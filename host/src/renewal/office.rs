//! The certification centre's office on a development CA directory: loads
//! what [`centre::review`] needs (root, revocations, organisations, card
//! records, journal), issues the certificates it asks for and records the
//! outcome in the journal.
//!
//! Order of the writes, so that a process killed at any point loses
//! nothing: the new certificates are written first (new files in
//! `DIR/issued/`, never replacing one); then the journal records (the
//! commit point, each fsynced); then the card record. A review that finds
//! an `issued` record whose certificates the card record lacks (the
//! process died before its last write) completes the card record first.

use std::path::Path;

use asan_applet::{CertificateProfile, KeyRef, KeyUsage};
use serde_json::{Value, json};

use super::centre::{self, Desk, IssueOrder, issued_record, review_record};
use super::facts::Facts;
use super::profiles::profile_from_name;
use super::review::{IssuedCertificate, Review};
use super::time::{parse, to_system_time};
use crate::error::{Error, Result};
use crate::pki::TrustAnchors;
use crate::x509::{
    DevCa, ISSUED_DIR, ROOT_CERT_FILE, card_record, card_records, journal_records,
    registered_organisations, registered_revocations,
};

/// Reviews the signed application `signed` (with the head's signed
/// decision `decision`, if any) at `now` in the CA directory `dir`;
/// certificates issued are also written to `out` as
/// `<card serial>-<profile>-<usage>.pem` when given. The journal records
/// the review whatever its decision.
pub fn review_in(
    dir: &Path,
    signed: &[u8],
    decision: Option<&[u8]>,
    now: i64,
    out: Option<&Path>,
) -> Result<Review> {
    let ca = DevCa::load(dir)?;
    let _reviews = ca.lock_reviews()?;
    complete_card_records(&ca)?;
    let root = crate::cert::pem_or_der(&read(&dir.join(ROOT_CERT_FILE))?)?;
    let anchors = TrustAnchors::from_der(&[root], "the CA's root")?;
    let revoked = registered_revocations(dir)?;
    let organisations = registered_organisations(dir)?;
    let cards = card_records(dir)?;
    let journal = journal_records(dir)?;
    let desk = Desk {
        anchors: &anchors,
        revoked: &revoked,
        facts: Facts {
            organisations: &organisations,
            cards: &cards,
        },
        journal: &journal,
    };
    let mut outcome = centre::review(&desk, signed, decision, now)?;
    let mut records = std::mem::take(&mut outcome.events);
    let mut activation = None;
    if let Some(order) = &outcome.issue {
        let (issued, keys) = issue(&ca, order, now, out)?;
        let certs: Vec<Value> = issued
            .iter()
            .zip(&keys)
            .map(|(c, (_, der))| {
                json!({
                    "profile": c.profile,
                    "usage": c.usage,
                    "serial_number": c.serial_number,
                    "sha256": hex::encode(<sha2::Sha256 as sha2::Digest>::digest(der)),
                })
            })
            .collect();
        records.push(issued_record(
            &outcome.review.id,
            &order.serial,
            order.profiles,
            &certs,
            now,
        ));
        outcome.review.issued = issued;
        activation = Some((order.serial.clone(), keys));
    }
    records.push(review_record(&outcome.review, now));
    ca.append_journal(&records)?;
    if let Some((serial, keys)) = activation {
        record_issued(&ca, &serial, &keys, now)?;
    }
    Ok(outcome.review)
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })
}

/// The key of a recorded certificate.
fn key_of(profile: &str, usage: &str) -> Result<KeyRef> {
    let profile: CertificateProfile = profile_from_name(profile)
        .ok_or_else(|| Error::Certificate(format!("card record: unknown profile {profile}")))?;
    let usage = match usage {
        "auth" => KeyUsage::Authentication,
        "sign" => KeyUsage::Signing,
        other => {
            return Err(Error::Certificate(format!(
                "card record: unknown usage {other}"
            )));
        }
    };
    Ok(KeyRef::new(profile, usage))
}

/// The DER of a certificate this CA issued, from `DIR/issued/`.
fn issued_copy(ca: &DevCa, serial_number: &str) -> Result<Vec<u8>> {
    let path = ca
        .dir()
        .join(ISSUED_DIR)
        .join(format!("{}.pem", serial_number.to_ascii_lowercase()));
    crate::cert::pem_or_der(&read(&path)?)
}

/// Certificates (DER) by the key they certify.
type Keyed = Vec<(KeyRef, Vec<u8>)>;

/// New certificates for the keys of `order`, valid from `now`.
fn issue(
    ca: &DevCa,
    order: &IssueOrder,
    now: i64,
    out: Option<&Path>,
) -> Result<(Vec<IssuedCertificate>, Keyed)> {
    let mut issued = Vec::new();
    let mut keys = Vec::new();
    for old in &order.certificates {
        let key = key_of(&old.profile, &old.usage)?;
        let previous = issued_copy(ca, &old.serial_number)?;
        let der = ca.reissue(&previous, key.profile, key.usage, to_system_time(now))?;
        let parsed = crate::cert::parse(&der)?;
        let tbs = parsed.tbs_certificate();
        let file = match out {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                    path: dir.display().to_string(),
                    source,
                })?;
                let path = dir.join(format!(
                    "{}-{}-{}.pem",
                    order.serial, old.profile, old.usage
                ));
                crate::x509::write_atomic(&path, crate::cert::to_pem(&der).as_bytes())?;
                Some(path.display().to_string())
            }
            None => None,
        };
        issued.push(IssuedCertificate {
            profile: old.profile.clone(),
            usage: old.usage.clone(),
            serial_number: hex::encode_upper(tbs.serial_number().as_bytes()),
            not_after: tbs.validity().not_after.to_string(),
            file,
        });
        keys.push((key, der));
    }
    Ok((issued, keys))
}

/// Records issued certificates on the card's record (its service as it is).
fn record_issued(ca: &DevCa, serial: &str, keys: &[(KeyRef, Vec<u8>)], now: i64) -> Result<()> {
    let record = card_record(ca.dir(), serial)?
        .ok_or_else(|| Error::Certificate(format!("the record of card {serial} is gone")))?;
    let service = record
        .service()
        .and_then(|s| super::profiles::service_from_name(&s.service))
        .ok_or_else(|| Error::Certificate(format!("the record of card {serial} has no service")))?;
    ca.record_activation(serial, service, None, keys, now)?;
    Ok(())
}

/// Completes card records from `issued` journal records whose
/// certificates they lack (a review killed before its last write).
fn complete_card_records(ca: &DevCa) -> Result<()> {
    for record in journal_records(ca.dir())? {
        if record["kind"] != "issued" {
            continue;
        }
        let (Some(serial), Some(at)) = (
            record["serial"].as_str(),
            record["at"].as_str().and_then(|t| parse(t).ok()),
        ) else {
            continue;
        };
        let Some(card) = card_record(ca.dir(), serial)? else {
            continue;
        };
        let mut missing = Vec::new();
        for c in record["certificates"].as_array().into_iter().flatten() {
            let sha = c["sha256"].as_str().unwrap_or_default();
            if card.certificate(sha).is_none() {
                let key = key_of(
                    c["profile"].as_str().unwrap_or_default(),
                    c["usage"].as_str().unwrap_or_default(),
                )?;
                let der = issued_copy(ca, c["serial_number"].as_str().unwrap_or_default())?;
                missing.push((key, der));
            }
        }
        if !missing.is_empty() {
            record_issued(ca, serial, &missing, at)?;
        }
    }
    Ok(())
}
