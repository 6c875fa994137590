//! The application: the part of the renewal package (see
//! [`super::package`]) the subscriber fills in, and what it is made of.
//! Documented in `docs/renewal.md`.

use asan_applet::CertificateProfile;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::profiles::{ProfileSet, profile_from_name, service_from_name};
use super::rules::{Refusal, Rule};
use crate::x509::ORGANIZATION_IDENTIFIER;

/// Longest free-text field of an application, in characters.
pub const MAX_TEXT: usize = 200;
/// Most signing permissions an application lists.
pub const MAX_PERMISSIONS: usize = 20;

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

/// Whether the Asan İmza number is the subscriber's own or the
/// organisation's (procedure 3.1 step 5 note: a corporate number needs the
/// VÖEN). JSON: `"personal"` or `"corporate"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NumberKind {
    /// The subscriber's own number.
    #[default]
    Personal,
    /// A number of the organisation.
    Corporate,
}

/// Checks a free-text field: not empty after trimming, at most
/// [`MAX_TEXT`] characters, no control characters.
pub fn check_text(rule: Rule, what: &str, value: &str) -> Result<(), Refusal> {
    let refuse = |why: &str| Err(Refusal::new(rule, format!("the {what} {why}")));
    if value.trim().is_empty() {
        return refuse("is empty");
    }
    if value.chars().count() > MAX_TEXT {
        return refuse(&format!("is longer than {MAX_TEXT} characters"));
    }
    if value.chars().any(char::is_control) {
        return refuse("contains control characters");
    }
    Ok(())
}

/// The Business or Governmental data of an application (procedure 3.2.1
/// step 6): the organisation's name, the applicant's position and unit,
/// the text on the seal, and what the applicant may sign.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrganisationData {
    /// The legal (or natural) person's name.
    pub name: String,
    /// The applicant's position.
    pub position: String,
    /// The structural unit, if any.
    pub unit: Option<String>,
    /// The text on the organisation's seal, if it has one.
    pub seal_text: Option<String>,
    /// What the applicant may sign with the enhanced signature (at least
    /// one entry).
    pub signing_permissions: Vec<String>,
}

impl OrganisationData {
    /// Checks every field's form.
    pub fn check(&self) -> Result<(), Refusal> {
        let rule = Rule::OrganisationData;
        check_text(rule, "organisation's name", &self.name)?;
        check_text(rule, "position", &self.position)?;
        if let Some(unit) = &self.unit {
            check_text(rule, "unit", unit)?;
        }
        if let Some(seal) = &self.seal_text {
            check_text(rule, "seal text", seal)?;
        }
        if self.signing_permissions.is_empty() {
            return Err(Refusal::new(
                rule,
                "name at least one signing permission of the applicant",
            ));
        }
        if self.signing_permissions.len() > MAX_PERMISSIONS {
            return Err(Refusal::new(
                rule,
                format!("at most {MAX_PERMISSIONS} signing permissions"),
            ));
        }
        for p in &self.signing_permissions {
            check_text(rule, "signing permission", p)?;
        }
        Ok(())
    }
}

/// The person a power of attorney is given to (procedure 3.2.2 step 6):
/// the applicant, as their certificate names them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attorney {
    /// The name (the certificate's CN).
    pub name: String,
    /// The personal identification FIN (the certificate's serialNumber).
    pub id: String,
}

/// The application: what the subscriber fills in and signs, with the
/// contract, in a renewal package.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicationBody {
    /// The card's serial number, hex.
    pub serial: String,
    /// The User ID of the card's activation notice (6 digits).
    pub user_id: String,
    /// The card's service type now: `citizen`, `business` or `government`.
    pub service: String,
    /// The profiles wanted after renewal, Citizen first.
    pub requested_profiles: Vec<String>,
    /// The profile of the certificate that signs the package.
    pub signer_profile: String,
    /// Every certificate on the card.
    pub current_certificates: Vec<CurrentCertificate>,
    /// Where notices go.
    pub contact: Contact,
    /// Whether the Asan İmza number is personal or corporate.
    pub number: NumberKind,
    /// The organisation's tax id (Business, Governmental, a corporate
    /// number), or `null`.
    pub voen: Option<String>,
    /// The Business or Governmental data, or `null`.
    pub organisation: Option<OrganisationData>,
    /// Whether the applicant says they head the organisation; the centre
    /// checks it against its register.
    pub head_of_organisation: bool,
    /// For someone who is not the head: the person the power of attorney
    /// is for (the applicant); `null` otherwise.
    pub power_of_attorney: Option<Attorney>,
    /// When the application was made, RFC 3339.
    pub created: String,
}

impl ApplicationBody {
    /// The requested profiles as a set; an unknown name is refused.
    pub fn requested(&self) -> Result<ProfileSet, Refusal> {
        let mut set = ProfileSet::default();
        for name in &self.requested_profiles {
            set.insert(named_profile(name)?);
        }
        Ok(set)
    }

    /// The profiles of the current certificates; an unknown name is refused.
    pub fn current(&self) -> Result<ProfileSet, Refusal> {
        let mut set = ProfileSet::default();
        for c in &self.current_certificates {
            set.insert(named_profile(&c.profile)?);
        }
        Ok(set)
    }

    /// The profile the body says signs it; an unknown name is refused.
    pub fn signer(&self) -> Result<CertificateProfile, Refusal> {
        named_profile(&self.signer_profile)
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

/// A profile by its JSON name; an unknown name is refused.
fn named_profile(name: &str) -> Result<CertificateProfile, Refusal> {
    profile_from_name(name)
        .ok_or_else(|| Refusal::new(Rule::ServiceProfiles, format!("unknown profile '{name}'")))
}

/// The profile that signs an application for `requested` from a card
/// holding certificates of `current`: the organisation's certificate when
/// a Business or Governmental certificate is renewed (the applicant acts
/// for the organisation, 3.2.1 step 9, 3.2.2 steps 8 and 11), otherwise
/// the Citizen certificate.
pub fn signing_profile(requested: ProfileSet, current: ProfileSet) -> CertificateProfile {
    [
        CertificateProfile::Business,
        CertificateProfile::Governmental,
    ]
    .into_iter()
    .find(|p| requested.contains(*p) && current.contains(*p))
    .unwrap_or(CertificateProfile::Citizen)
}
