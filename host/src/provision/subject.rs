//! The subscriber's subject: the fields the operator gives, or a
//! development subject made from the card serial.

use crate::error::{Error, Result};
use crate::x509::SubjectInfo;

/// Subject fields given by the operator; the rest come from
/// [`development_subject`].
#[derive(Clone, Debug, Default)]
pub struct SubjectSpec {
    /// CN.
    pub name: Option<String>,
    /// serialNumber (personal identification).
    pub id: Option<String>,
    /// O.
    pub organisation: Option<String>,
    /// VÖEN.
    pub voen: Option<String>,
}

impl SubjectSpec {
    /// A complete subject.
    pub fn given(info: SubjectInfo) -> Self {
        Self {
            name: Some(info.name),
            id: Some(info.id),
            organisation: info.organisation,
            voen: info.voen,
        }
    }

    /// The subject for the card `serial`: the development subject when no
    /// field is given; otherwise exactly the fields given (a profile that
    /// needs a missing one is refused before the card changes).
    pub fn resolve(&self, serial: &str) -> Result<SubjectInfo> {
        if self.name.is_none()
            && self.id.is_none()
            && self.organisation.is_none()
            && self.voen.is_none()
        {
            return Ok(development_subject(serial));
        }
        match (&self.name, &self.id) {
            (Some(name), Some(id)) => Ok(SubjectInfo {
                name: name.clone(),
                id: id.clone(),
                organisation: self.organisation.clone(),
                voen: self.voen.clone(),
            }),
            _ => Err(Error::Usage(
                "the subscriber's --name and --id are both needed when subject fields are given"
                    .into(),
            )),
        }
    }
}

/// A development subject derived from the card serial.
pub fn development_subject(serial: &str) -> SubjectInfo {
    let tail: String = serial
        .chars()
        .rev()
        .take(6)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    SubjectInfo {
        name: format!("Test Subscriber {tail}"),
        id: serial.chars().take(7).collect(),
        organisation: Some("Test Organisation".into()),
        voen: Some("1234567890".into()),
    }
}
