//! The register of organisations, `DIR/organisations.json`: who heads each
//! organisation, by its VÖEN. The centre's knowledge, not the applicant's
//! word: an applicant is the head when the serialNumber (FIN) of their
//! certificate is the registered head's. Replaced atomically under the CA
//! directory's lock; a register that does not parse is refused, never
//! reset. A CA directory without one knows no organisation yet.
//!
//! ```json
//! {
//!   "format": 1,
//!   "organisations": [
//!     { "voen": "1234567890", "name": "Test MMC", "head": "7GH2K4P", "added": "2026-11-22T10:00:00Z" }
//!   ]
//! }
//! ```

use std::path::Path;

use der::asn1::PrintableStringRef;
use serde::{Deserialize, Serialize};

use super::DevCa;
use super::store::{DirLock, io_error, write_atomic};
use crate::error::{Error, Result};

/// The register of organisations in the CA directory.
pub const ORGANISATIONS_FILE: &str = "organisations.json";

/// The register's format version.
const FORMAT: u32 = 1;

/// Longest organisation name accepted, in characters.
const MAX_NAME: usize = 200;

/// One organisation: its VÖEN, its name and the FIN of its head.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Organisation {
    /// The tax id, 10 digits.
    pub voen: String,
    /// The organisation's name.
    pub name: String,
    /// The head's personal identification (the serialNumber of their
    /// certificates).
    pub head: String,
    /// When it was registered, RFC 3339.
    pub added: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Register {
    format: u32,
    organisations: Vec<Organisation>,
}

/// Checks an organisation's fields: a 10-digit VÖEN, a name (not empty, at
/// most 200 characters, no control characters), a head's FIN as
/// certificates carry it (PrintableString, 1 to 64 characters).
pub fn check_organisation(voen: &str, name: &str, head: &str) -> Result<()> {
    if !crate::renewal::is_voen(voen) {
        return Err(Error::Usage(format!(
            "the VÖEN must be exactly 10 digits, not '{voen}'"
        )));
    }
    let trimmed = name.trim();
    if trimmed.is_empty()
        || trimmed.chars().count() > MAX_NAME
        || name.chars().any(char::is_control)
    {
        return Err(Error::Usage(format!(
            "the organisation's name must be 1 to {MAX_NAME} characters without control characters"
        )));
    }
    if head.is_empty() || head.len() > 64 || PrintableStringRef::new(head).is_err() {
        return Err(Error::Usage(format!(
            "the head's FIN '{head}' must be 1 to 64 letters, digits or spaces, as the serialNumber of their certificate"
        )));
    }
    Ok(())
}

/// The organisations registered in the CA directory `dir` (none when it
/// has no register). A register that does not parse is an error naming it.
pub fn registered_organisations(dir: &Path) -> Result<Vec<Organisation>> {
    let path = dir.join(ORGANISATIONS_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error(&path)(e)),
    };
    let register: Register = serde_json::from_slice(&bytes).map_err(|e| {
        io_error(&path)(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("not a register of organisations: {e}"),
        ))
    })?;
    if register.format != FORMAT {
        return Err(io_error(&path)(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("register format {} is not {FORMAT}", register.format),
        )));
    }
    Ok(register.organisations)
}

impl DevCa {
    /// Registers the organisation `voen` named `name`, headed by the person
    /// whose certificates carry the serialNumber `head`, at `added` (RFC
    /// 3339). Refuses ([`Error::Usage`]) malformed fields and a VÖEN that
    /// is already registered; nothing is written then.
    pub fn add_organisation(
        &self,
        voen: &str,
        name: &str,
        head: &str,
        added: &str,
    ) -> Result<Organisation> {
        check_organisation(voen, name, head)?;
        let _lock = DirLock::acquire(self.dir())?;
        let mut organisations = registered_organisations(self.dir())?;
        if let Some(o) = organisations.iter().find(|o| o.voen == voen) {
            return Err(Error::Usage(format!(
                "VÖEN {voen} is already registered ({}, head {}); nothing was changed",
                o.name, o.head
            )));
        }
        let organisation = Organisation {
            voen: voen.to_owned(),
            name: name.trim().to_owned(),
            head: head.to_owned(),
            added: added.to_owned(),
        };
        organisations.push(organisation.clone());
        let register = Register {
            format: FORMAT,
            organisations,
        };
        let mut json = serde_json::to_vec_pretty(&register).map_err(|e| {
            Error::Certificate(format!("cannot encode the register of organisations: {e}"))
        })?;
        json.push(b'\n');
        write_atomic(&self.dir().join(ORGANISATIONS_FILE), &json)?;
        Ok(organisation)
    }
}
