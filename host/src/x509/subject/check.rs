//! The subject rules of the CA: a request's subject must be exactly what the
//! profile issues — its attributes, each once, one per RDN.

use asan_applet::CertificateProfile;
use der::oid::ObjectIdentifier;
use der::oid::db::rfc4519::{COMMON_NAME, COUNTRY_NAME, ORGANIZATION_NAME, SERIAL_NUMBER};
use x509_cert::name::Name;

use super::{COUNTRY, ORGANIZATION_IDENTIFIER, profile_label};
use crate::error::{Error, Result};
use crate::x509::cert_error;

/// The attributes a profile's subject has, in order, with their short names.
fn profile_attributes(profile: CertificateProfile) -> &'static [(ObjectIdentifier, &'static str)] {
    match profile {
        CertificateProfile::Citizen => &[
            (COUNTRY_NAME, "C"),
            (COMMON_NAME, "CN"),
            (SERIAL_NUMBER, "serialNumber"),
        ],
        CertificateProfile::Governmental => &[
            (COUNTRY_NAME, "C"),
            (ORGANIZATION_NAME, "O"),
            (COMMON_NAME, "CN"),
            (SERIAL_NUMBER, "serialNumber"),
        ],
        CertificateProfile::Business => &[
            (COUNTRY_NAME, "C"),
            (ORGANIZATION_NAME, "O"),
            (COMMON_NAME, "CN"),
            (SERIAL_NUMBER, "serialNumber"),
            (ORGANIZATION_IDENTIFIER, "organizationIdentifier (VÖEN)"),
        ],
    }
}

/// An attribute type's name in messages: the usual short name where there
/// is one, and the OID.
fn attribute_name(oid: ObjectIdentifier) -> String {
    let short = match oid.to_string().as_str() {
        "2.5.4.6" => Some("C"),
        "2.5.4.10" => Some("O"),
        "2.5.4.11" => Some("OU"),
        "2.5.4.3" => Some("CN"),
        "2.5.4.5" => Some("serialNumber"),
        "2.5.4.97" => Some("organizationIdentifier"),
        "2.5.4.7" => Some("L"),
        "2.5.4.8" => Some("ST"),
        "1.2.840.113549.1.9.1" => Some("emailAddress"),
        _ => der::oid::db::DB.by_oid(&oid),
    };
    match short {
        Some(name) => format!("{name} ({oid})"),
        None => oid.to_string(),
    }
}

/// Checks that a subject (from a request) is what `profile` issues: `C=AZ`,
/// `CN` and `serialNumber`; `O` for Business and Governmental;
/// `organizationIdentifier` for Business — and nothing else. Answers
/// [`Error::Certificate`] naming the offending attribute: one the profile
/// does not allow (OU, emailAddress, …), one given twice, an RDN with more
/// than one attribute (or none), or a missing one.
pub fn check_subject(profile: CertificateProfile, subject: &Name) -> Result<()> {
    let label = profile_label(profile);
    let allowed = profile_attributes(profile);
    let refuse = |what: String| {
        Err(Error::Certificate(format!(
            "the request's subject '{subject}' {what}"
        )))
    };
    let mut seen = Vec::new();
    for rdn in subject.iter_rdn() {
        if rdn.len() != 1 {
            let names: Vec<String> = rdn.iter().map(|atv| attribute_name(atv.oid)).collect();
            return refuse(format!(
                "has a multi-valued RDN ({}); the CA issues one attribute per RDN",
                names.join(" + ")
            ));
        }
        for atv in rdn.iter() {
            if !allowed.iter().any(|(oid, _)| *oid == atv.oid) {
                let names: Vec<&str> = allowed.iter().map(|(_, n)| *n).collect();
                return refuse(format!(
                    "has {}, which the {label} profile does not allow (only {})",
                    attribute_name(atv.oid),
                    names.join(", ")
                ));
            }
            if seen.contains(&atv.oid) {
                return refuse(format!("has {} twice", attribute_name(atv.oid)));
            }
            seen.push(atv.oid);
        }
    }
    let missing: Vec<&str> = allowed
        .iter()
        .filter(|(oid, _)| !seen.contains(oid))
        .map(|(_, n)| *n)
        .collect();
    if !missing.is_empty() {
        return refuse(format!(
            "lacks {} required by the {label} profile",
            missing.join(", ")
        ));
    }
    let country = subject
        .country()
        .map_err(|e| cert_error("the request's country (C) is malformed", e))?;
    match country {
        Some(c) if c.as_str() == COUNTRY => Ok(()),
        _ => refuse(format!("is not for country C={COUNTRY}")),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{printable, utf8};
    use super::*;
    use der::asn1::Any;
    use der::{Decode, Encode, Tag};
    use x509_cert::attr::AttributeTypeAndValue;
    use x509_cert::name::{RdnSequence, RelativeDistinguishedName};

    fn refusal(profile: CertificateProfile, atvs: Vec<Vec<AttributeTypeAndValue>>) -> String {
        let mut rdns = RdnSequence::default();
        for rdn in atvs {
            rdns.push(RelativeDistinguishedName::try_from(rdn).unwrap());
        }
        let name = Name::from_der(&rdns.to_der().unwrap()).unwrap();
        match check_subject(profile, &name) {
            Err(Error::Certificate(m)) => m,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn only_the_profile_attributes_one_each_one_per_rdn() {
        let c = || printable(COUNTRY_NAME, "C", "AZ").unwrap();
        let cn = || utf8(COMMON_NAME, "A").unwrap();
        let sn = || printable(SERIAL_NUMBER, "FIN", "1ABCDEF").unwrap();
        let ou = utf8(ObjectIdentifier::new_unwrap("2.5.4.11"), "IT").unwrap();
        let email = AttributeTypeAndValue {
            oid: ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.1"),
            value: Any::new(Tag::Ia5String, b"a@example.invalid".as_slice()).unwrap(),
        };
        let o = utf8(ORGANIZATION_NAME, "Org").unwrap();
        let citizen = CertificateProfile::Citizen;

        let m = refusal(citizen, vec![vec![c()], vec![ou], vec![cn()], vec![sn()]]);
        assert!(m.contains("OU (2.5.4.11)") && m.contains("Citizen"), "{m}");
        let m = refusal(
            citizen,
            vec![vec![c()], vec![cn()], vec![sn()], vec![email]],
        );
        assert!(m.contains("emailAddress"), "{m}");
        let m = refusal(citizen, vec![vec![c()], vec![cn()], vec![cn()], vec![sn()]]);
        assert!(m.contains("CN (2.5.4.3) twice"), "{m}");
        let m = refusal(citizen, vec![vec![c()], vec![cn(), sn()]]);
        assert!(
            m.contains("multi-valued RDN") && m.contains("serialNumber (2.5.4.5)"),
            "{m}"
        );
        let m = refusal(
            citizen,
            vec![vec![c()], vec![o.clone()], vec![cn()], vec![sn()]],
        );
        assert!(m.contains("O (2.5.4.10)"), "{m}");
        let m = refusal(
            CertificateProfile::Governmental,
            vec![vec![c()], vec![o], vec![cn()], vec![sn()], vec![sn()]],
        );
        assert!(m.contains("serialNumber (2.5.4.5) twice"), "{m}");
    }
}
