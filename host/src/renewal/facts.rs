//! What the centre knows — [`Facts`]: its register of organisations and the
//! records of the cards it activated — and what it reads from a validated
//! certificate — [`Signer`]: the profile of its certificate policy, the
//! person's FIN and name, the organisation identifier.

use der::oid::ObjectIdentifier;
use der::oid::db::rfc4519::{COMMON_NAME, SERIAL_NUMBER};
use sha2::{Digest, Sha256};

use asan_applet::CertificateProfile;

use super::body::voen_in_certificate;
use super::package::Party;
use super::rules::{Refusal, Rule};
use super::window::Validity;
use crate::x509::{CardRecord, Organisation, certificate_profile};

/// What the centre knows: the register of organisations and the records
/// of the cards it activated.
#[derive(Clone, Copy, Debug)]
pub struct Facts<'a> {
    /// The register of organisations.
    pub organisations: &'a [Organisation],
    /// Every activated card.
    pub cards: &'a [CardRecord],
}

impl Facts<'_> {
    /// The record of the card a certificate (by SHA-256, hex) was
    /// activated on.
    pub fn card_of(&self, sha256: &str) -> Option<&CardRecord> {
        self.cards.iter().find(|c| c.certificate(sha256).is_some())
    }

    /// The organisation registered with `voen`.
    pub fn organisation(&self, voen: &str) -> Option<&Organisation> {
        self.organisations.iter().find(|o| o.voen == voen)
    }
}

/// A certificate the verification validated, with what the centre reads
/// from it.
#[derive(Clone, Debug)]
pub struct Signer {
    /// SHA-256 of the DER, lower-case hex.
    pub sha256: String,
    /// The profile of its certificate policy.
    pub profile: CertificateProfile,
    /// Its validity.
    pub validity: Validity,
    /// CN.
    pub name: String,
    /// serialNumber: the person's FIN.
    pub id: String,
    /// organizationIdentifier without `VOEN-` (Business).
    pub voen: Option<String>,
    /// Serial number, upper-case hex.
    pub serial_number: String,
}

/// The value of a subject attribute (`oid`) of a certificate as text.
pub fn subject_attribute(cert: &x509_cert::Certificate, oid: ObjectIdentifier) -> Option<String> {
    cert.tbs_certificate()
        .subject()
        .iter()
        .find(|a| a.oid == oid)
        .and_then(|a| std::str::from_utf8(a.value.value()).ok())
        .map(str::to_owned)
}

impl Signer {
    /// Reads a validated certificate. Refused when it names none of our
    /// profiles' policies, or no FIN.
    pub fn of(der: &[u8], rule: Rule) -> Result<Self, Refusal> {
        let refuse = |why: String| Refusal::new(rule, why);
        let cert = crate::cert::parse(der).map_err(|e| refuse(e.to_string()))?;
        let profile = certificate_profile(der)
            .map_err(|e| refuse(e.to_string()))?
            .ok_or_else(|| {
                refuse("the signer's certificate names no Asan İmza certificate policy".into())
            })?;
        let id = subject_attribute(&cert, SERIAL_NUMBER)
            .ok_or_else(|| refuse("the signer's certificate names no FIN (serialNumber)".into()))?;
        Ok(Self {
            sha256: hex::encode(Sha256::digest(der)),
            profile,
            validity: Validity::of(&cert),
            name: subject_attribute(&cert, COMMON_NAME).unwrap_or_default(),
            id,
            voen: voen_in_certificate(&cert),
            serial_number: hex::encode_upper(cert.tbs_certificate().serial_number().as_bytes()),
        })
    }

    /// The person, as the contract and a power of attorney name them.
    pub fn party(&self) -> Party {
        Party {
            name: self.name.clone(),
            id: self.id.clone(),
        }
    }
}
