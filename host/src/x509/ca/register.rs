//! The revocation register, `DIR/revocations.json`: the number of the last
//! CRL issued and every revoked certificate. Replaced atomically; a register
//! that does not parse is refused, never reset. A CA directory without one
//! has revoked nothing and issued no CRL yet.
//!
//! ```json
//! {
//!   "format": 1,
//!   "last_crl_number": 2,
//!   "revocations": [
//!     {
//!       "serial": "5d0c…",
//!       "subject": "SERIALNUMBER=5ABCD12,CN=Rashad Aliyev,C=AZ",
//!       "revoked_at": "2026-05-04T10:11:12Z",
//!       "reason": "key-compromise"
//!     }
//!   ]
//! }
//! ```

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use der::DateTime;
use x509_cert::ext::pkix::CrlReason;

use super::store::{io_error, write_atomic};
use crate::error::{Error, Result};

/// The revocation register in the CA directory.
pub const REVOCATIONS_FILE: &str = "revocations.json";

/// The register's format version.
const FORMAT: u32 = 1;

/// RFC 5280 caps serial numbers at 20 octets.
const MAX_SERIAL_LEN: usize = 20;

/// Why a certificate was revoked: the RFC 5280 §5.3.1 reason codes a CA
/// revoking end-entity certificates uses (not removeFromCRL, which only
/// delta CRLs carry, nor aACompromise).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RevocationReason {
    /// No reason given; the CRL entry then has no reasonCode.
    Unspecified,
    /// The certificate's private key is (suspected to be) compromised.
    KeyCompromise,
    /// The CA's key is compromised.
    CaCompromise,
    /// The holder's name or affiliation changed.
    AffiliationChanged,
    /// A new certificate replaces this one.
    Superseded,
    /// The certificate is no longer needed (the card was terminated).
    CessationOfOperation,
    /// Suspended for now.
    CertificateHold,
    /// A privilege in the certificate was withdrawn.
    PrivilegeWithdrawn,
}

impl RevocationReason {
    /// Every reason, in reason-code order.
    pub const ALL: [Self; 8] = [
        Self::Unspecified,
        Self::KeyCompromise,
        Self::CaCompromise,
        Self::AffiliationChanged,
        Self::Superseded,
        Self::CessationOfOperation,
        Self::CertificateHold,
        Self::PrivilegeWithdrawn,
    ];

    /// The name in the register, the CLI and JSON: `key-compromise`, ….
    pub fn name(self) -> &'static str {
        match self {
            Self::Unspecified => "unspecified",
            Self::KeyCompromise => "key-compromise",
            Self::CaCompromise => "ca-compromise",
            Self::AffiliationChanged => "affiliation-changed",
            Self::Superseded => "superseded",
            Self::CessationOfOperation => "cessation-of-operation",
            Self::CertificateHold => "certificate-hold",
            Self::PrivilegeWithdrawn => "privilege-withdrawn",
        }
    }

    /// The CRL entry's reasonCode; `None` for unspecified, which RFC 5280
    /// §5.3.1 says to express by leaving reasonCode out.
    pub fn crl_reason(self) -> Option<CrlReason> {
        match self {
            Self::Unspecified => None,
            Self::KeyCompromise => Some(CrlReason::KeyCompromise),
            Self::CaCompromise => Some(CrlReason::CaCompromise),
            Self::AffiliationChanged => Some(CrlReason::AffiliationChanged),
            Self::Superseded => Some(CrlReason::Superseded),
            Self::CessationOfOperation => Some(CrlReason::CessationOfOperation),
            Self::CertificateHold => Some(CrlReason::CertificateHold),
            Self::PrivilegeWithdrawn => Some(CrlReason::PrivilegeWithdrawn),
        }
    }
}

impl fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One revoked certificate, as the register keeps it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Revocation {
    /// The serial number, lowercase hex of its DER content octets (as in
    /// `DIR/issued/<serial>.pem`).
    pub serial: String,
    /// The certificate's subject (RFC 4514), for people reading the register.
    #[serde(default)]
    pub subject: String,
    /// When it was revoked: RFC 3339 UTC, whole seconds
    /// (`2026-05-04T10:11:12Z`).
    pub revoked_at: String,
    /// Why.
    pub reason: RevocationReason,
}

impl Revocation {
    /// The serial number's DER content octets.
    pub fn serial_bytes(&self) -> Result<Vec<u8>> {
        hex::decode(&self.serial).map_err(|e| {
            Error::Certificate(format!("serial number '{}' is not hex: {e}", self.serial))
        })
    }

    /// The revocation time.
    pub fn revoked_at_time(&self) -> Result<DateTime> {
        DateTime::from_str(&self.revoked_at).map_err(|e| {
            Error::Certificate(format!(
                "revocation time '{}' is not RFC 3339 UTC (YYYY-MM-DDTHH:MM:SSZ): {e}",
                self.revoked_at
            ))
        })
    }
}

/// The register: the last CRL number issued (0: none yet) and the
/// revocations in the order they were made.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RevocationRegister {
    format: u32,
    /// The number of the last CRL issued; the next one gets this plus one.
    pub(crate) last_crl_number: u64,
    /// Every revocation.
    pub(crate) revocations: Vec<Revocation>,
}

impl Default for RevocationRegister {
    fn default() -> Self {
        Self {
            format: FORMAT,
            last_crl_number: 0,
            revocations: Vec::new(),
        }
    }
}

impl RevocationRegister {
    /// Reads `dir/revocations.json`; an empty register when it does not
    /// exist. Anything else that is not a valid register is an error naming
    /// the file.
    pub(crate) fn read(dir: &Path) -> Result<Self> {
        let path = dir.join(REVOCATIONS_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => Self::parse(&bytes).map_err(|why| {
                io_error(&path)(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "the revocation register is corrupt ({why}); it is never reset: \
                         repair it or restore it from a backup"
                    ),
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(io_error(&path)(e)),
        }
    }

    /// Parses and checks a register: its format, every serial (lowercase
    /// hex, 1 to 20 octets, each once), time and reason.
    pub(crate) fn parse(bytes: &[u8]) -> std::result::Result<Self, String> {
        let register: Self = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if register.format != FORMAT {
            return Err(format!(
                "format {} is not {FORMAT}, the one this version reads",
                register.format
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for entry in &register.revocations {
            let serial = &entry.serial;
            let ok = !serial.is_empty()
                && serial.len() % 2 == 0
                && serial.len() <= 2 * MAX_SERIAL_LEN
                && serial
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
            if !ok {
                return Err(format!(
                    "serial '{serial}' is not 1 to 20 octets of lowercase hex"
                ));
            }
            if !seen.insert(serial.as_str()) {
                return Err(format!("serial {serial} is listed twice"));
            }
            entry.revoked_at_time().map_err(|e| e.to_string())?;
        }
        Ok(register)
    }

    /// Writes the register to `dir/revocations.json` atomically.
    pub(crate) fn write(&self, dir: &Path) -> Result<()> {
        let mut json = serde_json::to_vec_pretty(self).map_err(|e| {
            Error::Certificate(format!("cannot encode the revocation register: {e}"))
        })?;
        json.push(b'\n');
        write_atomic(&dir.join(REVOCATIONS_FILE), &json)
    }

    /// The revocation of the certificate with this serial (lowercase hex).
    pub(crate) fn find(&self, serial: &str) -> Option<&Revocation> {
        self.revocations.iter().find(|r| r.serial == serial)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENTRY: &str = r#"{"serial": "5d0c01", "subject": "CN=A", "revoked_at": "2026-05-04T10:11:12Z", "reason": "key-compromise"}"#;

    fn register(entries: &str, number: &str) -> String {
        format!(r#"{{"format": 1, "last_crl_number": {number}, "revocations": [{entries}]}}"#)
    }

    #[test]
    fn a_valid_register_round_trips() {
        let r = RevocationRegister::parse(register(ENTRY, "7").as_bytes()).unwrap();
        assert_eq!(r.last_crl_number, 7);
        let entry = r.find("5d0c01").unwrap();
        assert_eq!(entry.reason, RevocationReason::KeyCompromise);
        assert_eq!(entry.serial_bytes().unwrap(), [0x5d, 0x0c, 0x01]);
        assert_eq!(entry.revoked_at_time().unwrap().year(), 2026);
        let again = serde_json::to_vec(&r).unwrap();
        assert_eq!(RevocationRegister::parse(&again).unwrap(), r);
        // A subject is optional (registers written by hand).
        let bare = ENTRY.replace(r#""subject": "CN=A", "#, "");
        assert!(RevocationRegister::parse(register(&bare, "0").as_bytes()).is_ok());
    }

    #[test]
    fn every_reason_has_its_kebab_case_name() {
        for reason in RevocationReason::ALL {
            let json = serde_json::to_string(&reason).unwrap();
            assert_eq!(json, format!("\"{}\"", reason.name()));
            assert_eq!(
                serde_json::from_str::<RevocationReason>(&json).unwrap(),
                reason
            );
        }
        let codes: Vec<Option<u32>> = RevocationReason::ALL
            .iter()
            .map(|r| r.crl_reason().map(|c| c as u32))
            .collect();
        assert_eq!(
            codes,
            [
                None,
                Some(1),
                Some(2),
                Some(3),
                Some(4),
                Some(5),
                Some(6),
                Some(9)
            ]
        );
    }

    #[test]
    fn corrupt_registers_are_refused() {
        let two = format!("{ENTRY}, {ENTRY}");
        let cases = [
            String::new(),
            "{".into(),
            "[]".into(),
            register(ENTRY, "-1"),
            register(ENTRY, "\"1\""),
            register(ENTRY, "1").replace("\"format\": 1", "\"format\": 2"),
            register(ENTRY, "1").replace("\"format\": 1, ", ""),
            register(ENTRY, "1").replace("\"format\"", "\"extra\": 0, \"format\""),
            register(&ENTRY.replace("5d0c01", "5D0C01"), "1"),
            register(&ENTRY.replace("5d0c01", "5d0c0"), "1"),
            register(&ENTRY.replace("5d0c01", ""), "1"),
            register(&ENTRY.replace("5d0c01", "zz"), "1"),
            register(&ENTRY.replace("5d0c01", &"ab".repeat(21)), "1"),
            register(&ENTRY.replace("T10:11:12Z", " 10:11:12"), "1"),
            register(&ENTRY.replace("05-04", "13-04"), "1"),
            register(&ENTRY.replace("key-compromise", "keyCompromise"), "1"),
            register(&ENTRY.replace("key-compromise", "remove-from-crl"), "1"),
            register(&two, "1"),
        ];
        for case in cases {
            assert!(
                RevocationRegister::parse(case.as_bytes()).is_err(),
                "{case}"
            );
        }
    }

    #[test]
    fn reading_names_the_file_and_never_resets() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            RevocationRegister::read(dir.path()).unwrap(),
            RevocationRegister::default()
        );
        let path = dir.path().join(REVOCATIONS_FILE);
        std::fs::write(&path, "{\"format\": 1, \"last_crl").unwrap();
        let e = RevocationRegister::read(dir.path()).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains(REVOCATIONS_FILE) && text.contains("corrupt"),
            "{text}"
        );
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"format\": 1, \"last_crl"
        );

        let r = RevocationRegister {
            last_crl_number: 3,
            ..RevocationRegister::default()
        };
        r.write(dir.path()).unwrap();
        assert_eq!(RevocationRegister::read(dir.path()).unwrap(), r);
    }
}
