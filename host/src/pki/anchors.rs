//! Trust anchors: the CA certificates a relying party trusts. Only a CA
//! certificate (basicConstraints cA TRUE) can be one; anything else given
//! as a trust anchor is refused, saying so.

use std::path::Path;

use super::certificate::Cert;
use crate::error::{Error, Result};

/// The CA certificates paths must end at.
#[derive(Clone, Debug, Default)]
pub struct TrustAnchors {
    certs: Vec<Cert>,
}

impl TrustAnchors {
    /// Trust anchors from DER certificates. [`Error::Usage`] for one that is
    /// not a CA certificate, [`Error::Certificate`] for one that does not
    /// parse; `source` names where they came from in those messages.
    pub fn from_der(certs: &[Vec<u8>], source: &str) -> Result<Self> {
        let mut out = Self::default();
        for der in certs {
            out.add(der, source)?;
        }
        Ok(out)
    }

    /// Trust anchors from files holding DER or one or more PEM certificates.
    pub fn from_files(paths: &[impl AsRef<Path>]) -> Result<Self> {
        let mut out = Self::default();
        for path in paths {
            let path = path.as_ref();
            for der in super::certificates_in_file(path)? {
                out.add(&der, &path.display().to_string())?;
            }
        }
        Ok(out)
    }

    fn add(&mut self, der: &[u8], source: &str) -> Result<()> {
        let cert = Cert::from_der(der).map_err(|e| {
            Error::Certificate(format!(
                "{source}: a trust anchor is not a certificate: {e}"
            ))
        })?;
        match cert.basic_constraints() {
            Ok(Some((true, _))) => {}
            Ok(Some((false, _))) => {
                return Err(Error::Usage(format!(
                    "{source}: {} is not a CA certificate (basicConstraints cA is FALSE); \
                     a trust anchor must be a CA — give the root that issued it",
                    cert.subject()
                )));
            }
            Ok(None) => {
                return Err(Error::Usage(format!(
                    "{source}: {} is not a CA certificate (it has no basicConstraints \
                     extension); a trust anchor must be a CA — give the root that issued it",
                    cert.subject()
                )));
            }
            Err(e) => {
                return Err(Error::Certificate(format!(
                    "{source}: the trust anchor {}: {e}",
                    cert.subject()
                )));
            }
        }
        if !self.certs.contains(&cert) {
            self.certs.push(cert);
        }
        Ok(())
    }

    /// The anchors.
    pub fn certs(&self) -> &[Cert] {
        &self.certs
    }
}
