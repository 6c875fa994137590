//! Subject names: who a certificate is for, per certificate profile.
//!
//! The distinguished name is, in this order: `C=AZ`, `O` (Business and
//! Governmental), `CN` (the holder's name), `serialNumber` (2.5.4.5, the
//! personal identification FIN) and, for Business, `organizationIdentifier`
//! (2.5.4.97) as `VOEN-<10 digits>`.

use asan_applet::CertificateProfile;
use der::asn1::{Any, PrintableStringRef};
use der::oid::ObjectIdentifier;
use der::oid::db::rfc4519::{COMMON_NAME, COUNTRY_NAME, ORGANIZATION_NAME, SERIAL_NUMBER};
use der::{Decode, Encode, Tag};
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};

use super::cert_error;
use crate::error::{Error, Result};

mod check;

pub use check::check_subject;

/// `organizationIdentifier` (X.520, 2.5.4.97): the tax id of a Business holder.
pub const ORGANIZATION_IDENTIFIER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.97");

/// The country of every Asan İmza certificate.
const COUNTRY: &str = "AZ";

/// Upper bound of CN, O and serialNumber (RFC 5280 `ub-common-name` and friends).
const MAX_LEN: usize = 64;

/// Who a certificate is for.
///
/// One `SubjectInfo` may describe the holder for every profile on a card:
/// [`subject_name`] uses only the fields the profile asks for.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SubjectInfo {
    /// The holder's name (CN).
    pub name: String,
    /// The personal identification (FIN), `serialNumber` (2.5.4.5).
    pub id: String,
    /// The organisation (O); Business and Governmental.
    pub organisation: Option<String>,
    /// The tax id VÖEN, 10 digits; Business only, written as
    /// `organizationIdentifier` (2.5.4.97) `VOEN-<digits>`.
    pub voen: Option<String>,
}

/// The profile's everyday name in messages.
fn profile_label(profile: CertificateProfile) -> &'static str {
    match profile {
        CertificateProfile::Citizen => "Citizen",
        CertificateProfile::Business => "Business",
        CertificateProfile::Governmental => "Governmental",
    }
}

/// A required free-text field: trimmed, not empty, at most 64 characters,
/// no control characters.
fn text<'a>(what: &str, value: &'a str) -> Result<&'a str> {
    let value = value.trim();
    if value.is_empty() {
        return Err(Error::Usage(format!("the {what} is empty")));
    }
    if value.chars().count() > MAX_LEN {
        return Err(Error::Usage(format!(
            "the {what} is longer than {MAX_LEN} characters"
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(Error::Usage(format!(
            "the {what} contains control characters"
        )));
    }
    Ok(value)
}

/// The VÖEN: exactly 10 ASCII digits.
fn voen_digits(value: &str) -> Result<&str> {
    let value = value.trim();
    if value.len() != 10 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::Usage(format!(
            "the VÖEN must be exactly 10 digits, not '{value}'"
        )));
    }
    Ok(value)
}

/// An attribute with a UTF8String value.
fn utf8(oid: ObjectIdentifier, value: &str) -> Result<AttributeTypeAndValue> {
    let value = Any::new(Tag::Utf8String, value.as_bytes())
        .map_err(|e| cert_error("cannot encode a name attribute", e))?;
    Ok(AttributeTypeAndValue { oid, value })
}

/// An attribute with a PrintableString value; `what` names the field in the
/// error when the value has characters PrintableString does not allow.
fn printable(oid: ObjectIdentifier, what: &str, value: &str) -> Result<AttributeTypeAndValue> {
    let checked = PrintableStringRef::new(value).map_err(|_| {
        Error::Usage(format!(
            "the {what} '{value}' may only contain letters A–Z, digits, spaces and ' ( ) + , - . / : = ?"
        ))
    })?;
    let value = Any::new(Tag::PrintableString, checked.as_bytes())
        .map_err(|e| cert_error("cannot encode a name attribute", e))?;
    Ok(AttributeTypeAndValue { oid, value })
}

/// A name with one attribute per RDN, in the given order.
pub(crate) fn name_from(attributes: Vec<AttributeTypeAndValue>) -> Result<Name> {
    let mut rdns = RdnSequence::default();
    for atv in attributes {
        let rdn = RelativeDistinguishedName::try_from(vec![atv])
            .map_err(|e| cert_error("cannot encode a name", e))?;
        rdns.push(rdn);
    }
    let der = rdns
        .to_der()
        .map_err(|e| cert_error("cannot encode a name", e))?;
    Name::from_der(&der).map_err(|e| cert_error("cannot encode a name", e))
}

/// The development root's name: `C=AZ, O=<organisation>, CN=<common name>`.
pub(crate) fn ca_name(organisation: &str, common_name: &str) -> Result<Name> {
    name_from(vec![
        printable(COUNTRY_NAME, "country", COUNTRY)?,
        utf8(ORGANIZATION_NAME, organisation)?,
        utf8(COMMON_NAME, common_name)?,
    ])
}

/// Subject DN for a profile: `C=AZ`, `O` (Business, Governmental), `CN`,
/// `serialNumber`, `organizationIdentifier` (Business).
///
/// Checks the profile's required fields — Business needs an organisation and
/// a 10-digit VÖEN, Governmental an organisation — and answers
/// [`Error::Usage`] naming what is missing. Fields the profile does not use
/// (organisation and VÖEN for Citizen, VÖEN for Governmental) are ignored.
pub fn subject_name(profile: CertificateProfile, info: &SubjectInfo) -> Result<Name> {
    let label = profile_label(profile);
    let cn = text("name (CN)", &info.name)?;
    let id = text("personal identification (FIN, serialNumber)", &info.id)?;

    let organisation = match profile {
        CertificateProfile::Citizen => None,
        CertificateProfile::Business | CertificateProfile::Governmental => {
            let o = info.organisation.as_deref().ok_or_else(|| {
                Error::Usage(format!("the {label} profile needs an organisation (O)"))
            })?;
            Some(text("organisation (O)", o)?)
        }
    };
    let voen = match profile {
        CertificateProfile::Business => {
            let v = info.voen.as_deref().ok_or_else(|| {
                Error::Usage(format!(
                    "the {label} profile needs the tax id VÖEN (10 digits)"
                ))
            })?;
            Some(voen_digits(v)?)
        }
        CertificateProfile::Citizen | CertificateProfile::Governmental => None,
    };

    let mut attributes = vec![printable(COUNTRY_NAME, "country", COUNTRY)?];
    if let Some(o) = organisation {
        attributes.push(utf8(ORGANIZATION_NAME, o)?);
    }
    attributes.push(utf8(COMMON_NAME, cn)?);
    attributes.push(printable(
        SERIAL_NUMBER,
        "personal identification (FIN)",
        id,
    )?);
    if let Some(v) = voen {
        attributes.push(printable(
            ORGANIZATION_IDENTIFIER,
            "VÖEN",
            &format!("VOEN-{v}"),
        )?);
    }
    name_from(attributes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> SubjectInfo {
        SubjectInfo {
            name: "Aysel Quliyeva".into(),
            id: "7XYZ123".into(),
            organisation: Some("Nümunə MMC".into()),
            voen: Some("1234567890".into()),
        }
    }

    #[test]
    fn citizen_ignores_organisation_and_voen() {
        let name = subject_name(CertificateProfile::Citizen, &info()).unwrap();
        assert_eq!(
            name.to_string(),
            "SERIALNUMBER=7XYZ123,CN=Aysel Quliyeva,C=AZ"
        );
        check_subject(CertificateProfile::Citizen, &name).unwrap();
        assert!(check_subject(CertificateProfile::Governmental, &name).is_err());
    }

    #[test]
    fn business_order_and_voen() {
        let name = subject_name(CertificateProfile::Business, &info()).unwrap();
        let oids: Vec<ObjectIdentifier> = name.iter().map(|a| a.oid).collect();
        assert_eq!(
            oids,
            [
                COUNTRY_NAME,
                ORGANIZATION_NAME,
                COMMON_NAME,
                SERIAL_NUMBER,
                ORGANIZATION_IDENTIFIER
            ]
        );
        check_subject(CertificateProfile::Business, &name).unwrap();
    }

    #[test]
    fn missing_fields_are_named() {
        let mut i = info();
        i.voen = None;
        let e = subject_name(CertificateProfile::Business, &i).unwrap_err();
        assert!(matches!(&e, Error::Usage(m) if m.contains("VÖEN")), "{e}");
        i.organisation = None;
        let e = subject_name(CertificateProfile::Governmental, &i).unwrap_err();
        assert!(
            matches!(&e, Error::Usage(m) if m.contains("organisation (O)")),
            "{e}"
        );
        i.name = "  ".into();
        assert!(matches!(
            subject_name(CertificateProfile::Citizen, &i),
            Err(Error::Usage(_))
        ));
    }

    #[test]
    fn voen_must_be_ten_digits() {
        for bad in ["123456789", "12345678901", "12345678a0", ""] {
            let mut i = info();
            i.voen = Some(bad.into());
            let e = subject_name(CertificateProfile::Business, &i).unwrap_err();
            assert!(
                matches!(&e, Error::Usage(m) if m.contains("10 digits")),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn fin_must_be_printable() {
        let mut i = info();
        i.id = "ABC_123".into();
        assert!(matches!(
            subject_name(CertificateProfile::Citizen, &i),
            Err(Error::Usage(_))
        ));
    }
}
