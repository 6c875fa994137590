//! Certificate revocation lists: v2 CRLs signed by the root, numbered from
//! the revocation register.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use der::pem::LineEnding;
use der::{DateTime, Encode, EncodePem};
use p256::ecdsa::DerSignature;
use x509_cert::builder::{Builder, CrlBuilder};
use x509_cert::crl::RevokedCert;
use x509_cert::ext::ToExtension;
use x509_cert::ext::pkix::CrlNumber;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Time;

use super::register::RevocationRegister;
use super::store::{DirLock, StagedFile};
use super::{DAY, DevCa};
use crate::error::{Error, Result};
use crate::x509::cert_error;

/// Where `asan ca crl DIR` writes the CRL by default, in the CA directory;
/// also what the default cRLDistributionPoints URI names.
pub const CRL_FILE: &str = "root.crl";
/// How long a CRL is valid (thisUpdate to nextUpdate) unless told: 7 days.
pub const DEFAULT_CRL_DAYS: u32 = 7;
/// The longest CRL validity accepted: a year.
pub const MAX_CRL_DAYS: u32 = 366;

/// A CRL the CA issued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedCrl {
    /// The CRL, DER.
    pub der: Vec<u8>,
    /// Where it was written, if it was.
    pub file: Option<PathBuf>,
    /// Its cRLNumber.
    pub number: u64,
    /// thisUpdate, RFC 3339 UTC.
    pub this_update: String,
    /// nextUpdate, RFC 3339 UTC.
    pub next_update: String,
    /// How many certificates it lists as revoked.
    pub revoked: usize,
}

/// A certificate time and its RFC 3339 text, from a system time.
fn crl_time(t: SystemTime) -> Result<(Time, String)> {
    let datetime = DateTime::from_system_time(t)
        .map_err(|e| Error::Usage(format!("the CRL's time is out of range: {e}")))?;
    Ok((Time::from(datetime), datetime.to_string()))
}

impl DevCa {
    /// Issues a CRL valid from `now` for `days` days (1 to 366) and returns
    /// its DER. It takes the next CRL number from the register, which
    /// remembers it: every CRL issued gets a higher number.
    pub fn crl(&self, now: SystemTime, days: u32) -> Result<Vec<u8>> {
        Ok(self.issue_crl(now, days, None)?.der)
    }

    /// Issues a CRL as [`DevCa::crl`] does and writes it to `path`
    /// atomically: DER, or PEM (`-----BEGIN X509 CRL-----`) when the file
    /// name ends in `.pem`. On any error no file is left at `path` (nor a
    /// temporary one), and a CRL number is used only once the CRL has been
    /// written under its temporary name.
    pub fn write_crl(&self, path: &Path, now: SystemTime, days: u32) -> Result<IssuedCrl> {
        self.issue_crl(now, days, Some(path))
    }

    fn issue_crl(&self, now: SystemTime, days: u32, path: Option<&Path>) -> Result<IssuedCrl> {
        if !(1..=MAX_CRL_DAYS).contains(&days) {
            return Err(Error::Usage(format!(
                "a CRL is valid for 1 to {MAX_CRL_DAYS} days, not {days}"
            )));
        }
        let (this_update, this_text) = crl_time(now)?;
        let next = now
            .checked_add(Duration::from_secs(u64::from(days) * DAY))
            .ok_or_else(|| Error::Usage("the CRL's nextUpdate is out of range".into()))?;
        let (next_update, next_text) = crl_time(next)?;

        if let Some(path) = path {
            let parent = path.parent().filter(|d| !d.as_os_str().is_empty());
            if parent.is_some_and(|d| !d.is_dir()) {
                return Err(Error::Io {
                    path: path.display().to_string(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "its directory does not exist",
                    ),
                });
            }
        }

        let _lock = DirLock::acquire(&self.dir)?;
        let mut register = RevocationRegister::read(&self.dir)?;
        let number = register
            .last_crl_number
            .checked_add(1)
            .ok_or_else(|| Error::Certificate("the CRL numbers are used up".into()))?;

        let issuer = self.root.tbs_certificate().subject();
        let mut entries = Vec::with_capacity(register.revocations.len());
        for revocation in &register.revocations {
            let serial: SerialNumber = SerialNumber::new(&revocation.serial_bytes()?)
                .map_err(|e| cert_error("cannot encode a revoked serial number", e))?;
            let extensions = match revocation.reason.crl_reason() {
                Some(reason) => Some(vec![
                    reason
                        .to_extension(issuer, &[])
                        .map_err(|e| cert_error("cannot encode a reasonCode", e))?,
                ]),
                None => None,
            };
            entries.push(RevokedCert {
                serial_number: serial,
                revocation_date: Time::from(revocation.revoked_at_time()?),
                crl_entry_extensions: extensions,
            });
        }
        let revoked = entries.len();
        let crl_number = CrlNumber::try_from(number)
            .map_err(|e| cert_error("cannot encode the CRL number", e))?;
        let mut builder = CrlBuilder::new_with_this_update(&self.root, crl_number, this_update)
            .map_err(|e| cert_error("cannot start the CRL", e))?
            .with_next_update(Some(next_update));
        if !entries.is_empty() {
            builder = builder.with_certificates(entries.into_iter());
        }
        let crl = builder
            .build::<_, DerSignature>(&self.key)
            .map_err(|e| cert_error("cannot build the CRL", e))?;
        let der = crl
            .to_der()
            .map_err(|e| cert_error("cannot encode the CRL", e))?;

        let staged = match path {
            Some(path) => {
                let pem = path.extension().is_some_and(|e| e == "pem");
                let bytes = if pem {
                    crl.to_pem(LineEnding::LF)
                        .map_err(|e| cert_error("cannot encode the CRL", e))?
                        .into_bytes()
                } else {
                    der.clone()
                };
                Some(StagedFile::write(path, &bytes)?)
            }
            None => None,
        };
        register.last_crl_number = number;
        register.write(&self.dir)?;
        if let Some(staged) = staged {
            staged.commit()?;
        }
        Ok(IssuedCrl {
            der,
            file: path.map(Path::to_path_buf),
            number,
            this_update: this_text,
            next_update: next_text,
            revoked,
        })
    }
}
