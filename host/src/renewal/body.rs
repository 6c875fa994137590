//! The application body: the JSON document `asan renew request` signs
//! (CMS, attached) and `asan ca review` reads. Documented in
//! `docs/renewal.md`.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::profiles::{ProfileSet, profile_from_name, service_from_name};
use super::rules::{Refusal, Rule};
use crate::x509::ORGANIZATION_IDENTIFIER;

/// The version of the body format.
pub const BODY_VERSION: u32 = 1;

/// Where notices go: one of an e-mail address or a mobile number
/// (procedure 3.1 step 6). JSON: `{"email": "…"}` or `{"phone": "…"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum Contact {
    /// An e-mail address.
    Email(String),
    /// A mobile number, digits with an optional leading `+`.
    Phone(String),
}

impl Contact {
    /// Checks the form of the address or number.
    pub fn check(&self) -> Result<(), Refusal> {
        match self {
            Self::Email(e) => {
                let ok = e.split_once('@').is_some_and(|(local, domain)| {
                    !local.is_empty()
                        && domain.contains('.')
                        && !domain.starts_with('.')
                        && !domain.ends_with('.')
                        && !domain.contains('@')
                }) && !e.chars().any(char::is_whitespace);
                if ok {
                    Ok(())
                } else {
                    Err(Refusal::new(
                        Rule::Contact,
                        format!("'{e}' is not an e-mail address"),
                    ))
                }
            }
            Self::Phone(p) => {
                let digits = p.strip_prefix('+').unwrap_or(p);
                if (9..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
                    Ok(())
                } else {
                    Err(Refusal::new(
                        Rule::Contact,
                        format!(
                            "'{p}' is not a mobile number (9 to 15 digits, optionally after +, e.g. +994501234567)"
                        ),
                    ))
                }
            }
        }
    }
}

/// One of the card's certificates as the application lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CurrentCertificate {
    /// `citizen`, `business` or `government`.
    pub profile: String,
    /// `auth` or `sign`.
    pub usage: String,
    /// The certificate's serial number, upper-case hex.
    pub serial_number: String,
    /// Its expiry, RFC 3339.
    pub not_after: String,
    /// SHA-256 of its DER encoding, lower-case hex.
    pub sha256: String,
}

impl CurrentCertificate {
    /// The entry of a certificate (`der`, parsed as `cert`) of
    /// `profile`/`usage`.
    pub fn of(profile: &str, usage: &str, der: &[u8], cert: &x509_cert::Certificate) -> Self {
        let tbs = cert.tbs_certificate();
        Self {
            profile: profile.to_owned(),
            usage: usage.to_owned(),
            serial_number: hex::encode_upper(tbs.serial_number().as_bytes()),
            not_after: tbs.validity().not_after.to_string(),
            sha256: hex::encode(Sha256::digest(der)),
        }
    }
}

/// The VÖEN in a certificate's subject (`organizationIdentifier`
/// `VOEN-1234567890`), if any.
pub fn voen_in_certificate(cert: &x509_cert::Certificate) -> Option<String> {
    cert.tbs_certificate()
        .subject()
        .iter()
        .find(|a| a.oid == ORGANIZATION_IDENTIFIER)
        .and_then(|a| std::str::from_utf8(a.value.value()).ok())
        .map(|v| v.strip_prefix("VOEN-").unwrap_or(v).to_owned())
}

/// The application: what the subscriber signs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicationBody {
    /// [`BODY_VERSION`].
    pub version: u32,
    /// The card's serial number, hex.
    pub serial: String,
    /// The card's service type now: `citizen`, `business` or `government`.
    pub service: String,
    /// The profiles wanted after renewal, Citizen first.
    pub requested_profiles: Vec<String>,
    /// Every certificate on the card.
    pub current_certificates: Vec<CurrentCertificate>,
    /// Where notices go.
    pub contact: Contact,
    /// The organisation's tax id (Business and Governmental), or `null`.
    pub voen: Option<String>,
    /// Whether the applicant is the head of the organisation (`false`: a
    /// Business or Governmental application needs a power of attorney).
    pub head_of_organisation: bool,
    /// When the application was made, RFC 3339.
    pub created: String,
}

impl ApplicationBody {
    /// The exact bytes that are signed: pretty JSON and a newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }

    /// Parses the bytes of a body (version 1, no unknown fields).
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let body: Self = serde_json::from_slice(bytes)
            .map_err(|e| format!("the application body is not a version 1 body: {e}"))?;
        if body.version != BODY_VERSION {
            return Err(format!(
                "the application body has version {}, this tool reads version {BODY_VERSION}",
                body.version
            ));
        }
        Ok(body)
    }

    /// The requested profiles as a set; an unknown name is refused.
    pub fn requested(&self) -> Result<ProfileSet, Refusal> {
        let mut set = ProfileSet::default();
        for name in &self.requested_profiles {
            let p = profile_from_name(name).ok_or_else(|| {
                Refusal::new(Rule::ServiceProfiles, format!("unknown profile '{name}'"))
            })?;
            set.insert(p);
        }
        Ok(set)
    }

    /// The profiles of the current certificates; an unknown name is refused.
    pub fn current(&self) -> Result<ProfileSet, Refusal> {
        let mut set = ProfileSet::default();
        for c in &self.current_certificates {
            let p = profile_from_name(&c.profile).ok_or_else(|| {
                Refusal::new(
                    Rule::ServiceProfiles,
                    format!("unknown profile '{}'", c.profile),
                )
            })?;
            set.insert(p);
        }
        Ok(set)
    }

    /// The service type; an unknown name is refused.
    pub fn service_type(&self) -> Result<asan_applet::ServiceType, Refusal> {
        service_from_name(&self.service).ok_or_else(|| {
            Refusal::new(
                Rule::ServiceProfiles,
                format!("unknown service type '{}'", self.service),
            )
        })
    }
}
