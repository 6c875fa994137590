//! The centre's record of each activated SIM card, `DIR/notices/<SERIAL>.json`
//! (mode 0600: it holds the User ID): the User ID issued at the first
//! activation and kept for the card's life (one per SIM, whatever the
//! number of certificates; procedure section 2), the organisation's VÖEN,
//! the service periods (3 years each) and every certificate activated on
//! the card with when it was activated and superseded. The activation
//! notice ("Sertifikatların aktivləşdirilməsi barədə bildiriş") is a view
//! of it ([`CardRecord::notice`]).
//!
//! Each record is replaced atomically under the CA directory's lock; a
//! record that does not parse is refused, never reset.

use std::path::{Path, PathBuf};

use asan_applet::{KeyRef, ServiceType};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::store::{DirLock, io_error, write_atomic_private};
use super::{DAY, DevCa, LEAF_VALIDITY_DAYS};
use crate::error::{Error, Result};
use crate::info::{profile_name, service_name, usage_name};
use crate::renewal::{format_time, parse_time};

/// Where the card records are, inside the CA directory.
pub const NOTICES_DIR: &str = "notices";

/// The title of the activation notice.
pub const NOTICE_TITLE: &str = "Sertifikatların aktivləşdirilməsi barədə bildiriş";

/// The record's format version.
const FORMAT: u32 = 1;

/// The length of a service period (and of certificates): 3 years of 365
/// days, the development CA's [`LEAF_VALIDITY_DAYS`].
pub const SERVICE_TERM: i64 = LEAF_VALIDITY_DAYS as i64 * DAY as i64;

/// A certificate activated on a card.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivatedCertificate {
    /// `citizen`, `business` or `government`.
    pub profile: String,
    /// `auth` or `sign`.
    pub usage: String,
    /// Serial number, upper-case hex.
    pub serial_number: String,
    /// SHA-256 of the DER, lower-case hex.
    pub sha256: String,
    /// Subject (RFC 4514).
    pub subject: String,
    /// Validity, RFC 3339.
    pub not_before: String,
    /// Expiry, RFC 3339.
    pub not_after: String,
    /// When it was activated on the card, RFC 3339.
    pub activated: String,
    /// When a newer certificate of the same key replaced it, or `null`.
    pub superseded: Option<String>,
}

impl ActivatedCertificate {
    /// Whether it was the card's certificate at `t` (Unix seconds).
    pub fn current_at(&self, t: i64) -> bool {
        let after = |s: &str| parse_time(s).is_ok_and(|v| v <= t);
        after(&self.activated) && !self.superseded.as_deref().is_some_and(after)
    }
}

/// A service period: the service type and its 3 years.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServicePeriod {
    /// `citizen`, `business` or `government`.
    pub service: String,
    /// First second, RFC 3339.
    pub from: String,
    /// The service lapses at this second, RFC 3339.
    pub until: String,
}

impl ServicePeriod {
    /// `from` and `until` as Unix seconds.
    pub fn span(&self) -> Result<(i64, i64)> {
        let t =
            |s: &str| parse_time(s).map_err(|e| Error::Certificate(format!("card record: {e}")));
        Ok((t(&self.from)?, t(&self.until)?))
    }
}

/// What the centre knows about one card.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardRecord {
    format: u32,
    /// The card serial, upper-case hex.
    pub serial: String,
    /// The User ID: 6 digits, issued at the first activation.
    pub user_id: String,
    /// The organisation's VÖEN given at activation (Business and
    /// Governmental cards), or `null`.
    pub voen: Option<String>,
    /// The first activation, RFC 3339.
    pub activated: String,
    /// The service periods, oldest first.
    pub services: Vec<ServicePeriod>,
    /// Every certificate activated on the card, oldest first.
    pub certificates: Vec<ActivatedCertificate>,
}

impl CardRecord {
    /// The certificates of the card at `t`.
    pub fn certificates_at(&self, t: i64) -> Vec<&ActivatedCertificate> {
        self.certificates
            .iter()
            .filter(|c| c.current_at(t))
            .collect()
    }

    /// The certificate whose SHA-256 (hex) is `sha256`, current or not.
    pub fn certificate(&self, sha256: &str) -> Option<&ActivatedCertificate> {
        self.certificates
            .iter()
            .find(|c| c.sha256.eq_ignore_ascii_case(sha256))
    }

    /// The service period in force at `t`: the last one that started by
    /// then.
    pub fn service_at(&self, t: i64) -> Option<&ServicePeriod> {
        self.services
            .iter()
            .rev()
            .find(|p| parse_time(&p.from).is_ok_and(|from| from <= t))
    }

    /// The latest service period.
    pub fn service(&self) -> Option<&ServicePeriod> {
        self.services.last()
    }

    /// The activation notice: `{"notice", "serial", "user_id", "service",
    /// "service_until", "voen", "activated", "certificates": [...]}` with
    /// the card's latest certificates (none superseded).
    pub fn notice(&self) -> Value {
        let current: Vec<Value> = self
            .certificates
            .iter()
            .filter(|c| c.superseded.is_none())
            .map(|c| {
                json!({
                    "profile": c.profile,
                    "usage": c.usage,
                    "serial_number": c.serial_number,
                    "subject": c.subject,
                    "not_before": c.not_before,
                    "not_after": c.not_after,
                    "sha256": c.sha256,
                })
            })
            .collect();
        json!({
            "notice": NOTICE_TITLE,
            "serial": self.serial,
            "user_id": self.user_id,
            "service": self.service().map(|s| s.service.clone()),
            "service_until": self.service().map(|s| s.until.clone()),
            "voen": self.voen,
            "activated": self.activated,
            "certificates": current,
        })
    }
}

/// A card serial as record names use it: 1 to 32 hex digits, upper case.
pub fn normalise_serial(serial: &str) -> Result<String> {
    let s = serial.trim();
    if s.is_empty() || s.len() > 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::Usage(format!(
            "'{serial}' is not a card serial (1 to 32 hex digits)"
        )));
    }
    Ok(s.to_ascii_uppercase())
}

fn record_path(dir: &Path, serial: &str) -> PathBuf {
    dir.join(NOTICES_DIR).join(format!("{serial}.json"))
}

fn parse_record(path: &Path, bytes: &[u8]) -> Result<CardRecord> {
    let invalid = |why: String| {
        io_error(path)(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("not a card record: {why}"),
        ))
    };
    let record: CardRecord = serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
    if record.format != FORMAT {
        return Err(invalid(format!("format {} is not {FORMAT}", record.format)));
    }
    Ok(record)
}

/// The record of card `serial` in the CA directory `dir`, if it has one.
pub fn card_record(dir: &Path, serial: &str) -> Result<Option<CardRecord>> {
    let serial = normalise_serial(serial)?;
    let path = record_path(dir, &serial);
    match std::fs::read(&path) {
        Ok(bytes) => parse_record(&path, &bytes).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(&path)(e)),
    }
}

/// Every card record in the CA directory `dir`, by serial.
pub fn card_records(dir: &Path) -> Result<Vec<CardRecord>> {
    let notices = dir.join(NOTICES_DIR);
    let entries = match std::fs::read_dir(&notices) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error(&notices)(e)),
    };
    let mut records = Vec::new();
    for entry in entries {
        let path = entry.map_err(io_error(&notices))?.path();
        let is_record = path.extension().is_some_and(|e| e == "json")
            && path
                .file_name()
                .is_some_and(|n| !n.to_string_lossy().starts_with('.'));
        if is_record {
            let bytes = std::fs::read(&path).map_err(io_error(&path))?;
            records.push(parse_record(&path, &bytes)?);
        }
    }
    records.sort_by(|a, b| a.serial.cmp(&b.serial));
    Ok(records)
}

/// A certificate as the record keeps it, activated at `at`.
fn activated(key: KeyRef, der: &[u8], at: i64) -> Result<ActivatedCertificate> {
    let cert = crate::cert::parse(der)?;
    let tbs = cert.tbs_certificate();
    Ok(ActivatedCertificate {
        profile: profile_name(key.profile).to_owned(),
        usage: usage_name(key.usage).to_owned(),
        serial_number: hex::encode_upper(tbs.serial_number().as_bytes()),
        sha256: hex::encode(Sha256::digest(der)),
        subject: tbs.subject().to_string(),
        not_before: tbs.validity().not_before.to_string(),
        not_after: tbs.validity().not_after.to_string(),
        activated: format_time(at),
        superseded: None,
    })
}

/// A fresh User ID not used by any of `records`.
fn new_user_id(records: &[CardRecord]) -> Result<String> {
    loop {
        let mut b = [0u8; 4];
        crate::x509::random_bytes(&mut b)?;
        let n = u32::from_le_bytes(b);
        // 4_294_000_000 is a multiple of 1_000_000: every code equally likely.
        if n >= 4_294_000_000 {
            continue;
        }
        let id = format!("{:06}", n % 1_000_000);
        if !records.iter().any(|r| r.user_id == id) {
            return Ok(id);
        }
    }
}

impl DevCa {
    /// Records that the certificates `issued` (key, DER) were activated on
    /// card `serial` at `at`: a card seen for the first time gets a User
    /// ID and a first service period of `service` (3 years from `at`);
    /// each new certificate supersedes the card's current one of the same
    /// key. `voen` (Business, Governmental) is kept when given. Returns the
    /// record as written.
    pub fn record_activation(
        &self,
        serial: &str,
        service: ServiceType,
        voen: Option<&str>,
        issued: &[(KeyRef, Vec<u8>)],
        at: i64,
    ) -> Result<CardRecord> {
        let serial = normalise_serial(serial)?;
        let _lock = DirLock::acquire(self.dir())?;
        let mut record = match card_record(self.dir(), &serial)? {
            Some(r) => r,
            None => CardRecord {
                format: FORMAT,
                serial: serial.clone(),
                user_id: new_user_id(&card_records(self.dir())?)?,
                voen: None,
                activated: format_time(at),
                services: vec![ServicePeriod {
                    service: service_name(service).to_owned(),
                    from: format_time(at),
                    until: format_time(at.saturating_add(SERVICE_TERM)),
                }],
                certificates: Vec::new(),
            },
        };
        if let Some(v) = voen {
            record.voen = Some(v.to_owned());
        }
        for (key, der) in issued {
            let new = activated(*key, der, at)?;
            if record.certificate(&new.sha256).is_some() {
                continue;
            }
            for old in record.certificates.iter_mut().filter(|c| {
                c.superseded.is_none() && c.profile == new.profile && c.usage == new.usage
            }) {
                old.superseded = Some(format_time(at));
            }
            record.certificates.push(new);
        }
        self.write_record(&record)?;
        Ok(record)
    }

    /// Records that the mobile operator prolonged the service of card
    /// `serial` at `at` as `service`, for 3 years. Refused
    /// ([`Error::Refused`]) for a card without a record and before the
    /// current period lapses (procedure 3.1 step 10); nothing is written
    /// then.
    pub fn record_prolongation(
        &self,
        serial: &str,
        service: ServiceType,
        at: i64,
    ) -> Result<CardRecord> {
        let serial = normalise_serial(serial)?;
        let _lock = DirLock::acquire(self.dir())?;
        let mut record = card_record(self.dir(), &serial)?.ok_or_else(|| {
            Error::Refused(format!(
                "the centre has no record of card {serial}: it was not activated with this CA"
            ))
        })?;
        if let Some(current) = record.service() {
            let (_, until) = current.span()?;
            if at < until {
                return Err(Error::Refused(format!(
                    "the service of card {serial} runs until {}: it is prolonged at the mobile operator after it lapses (procedure 3.1 step 10)",
                    crate::renewal::format_both(until)
                )));
            }
        }
        record.services.push(ServicePeriod {
            service: service_name(service).to_owned(),
            from: format_time(at),
            until: format_time(at.saturating_add(SERVICE_TERM)),
        });
        self.write_record(&record)?;
        Ok(record)
    }

    /// Writes a record atomically (mode 0600).
    pub(crate) fn write_record(&self, record: &CardRecord) -> Result<()> {
        let notices = self.dir().join(NOTICES_DIR);
        std::fs::create_dir_all(&notices).map_err(io_error(&notices))?;
        let mut json = serde_json::to_vec_pretty(record)
            .map_err(|e| Error::Certificate(format!("cannot encode the card record: {e}")))?;
        json.push(b'\n');
        write_atomic_private(&record_path(self.dir(), &record.serial), &json)
    }
}
