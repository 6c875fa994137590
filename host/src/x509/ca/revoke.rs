//! Revoking a certificate the CA issued: checked against the root (issuer
//! name and signature), recorded in the revocation register.

use crate::cert::NameText as _;
use std::time::SystemTime;

use der::DateTime;
use x509_cert::Certificate;

use super::DevCa;
use super::register::{Revocation, RevocationReason, RevocationRegister};
use super::store::DirLock;
use crate::error::{Error, Result};
use crate::pki::Cert;
use crate::x509::cert_error;

impl DevCa {
    /// Checks that `cert_der` is a certificate this CA issued: its issuer is
    /// the root's subject, and its signature (ecdsa-with-SHA256, over the
    /// tbsCertificate bytes as received) verifies with the root's key. The
    /// root itself is refused too. Answers [`Error::Certificate`].
    pub fn check_issued(&self, cert_der: &[u8]) -> Result<Certificate> {
        let cert =
            Cert::from_der(cert_der).map_err(|e| cert_error("not a valid X.509 certificate", e))?;
        let root = Cert::from_der(&self.root_der)
            .map_err(|e| cert_error("the CA's root certificate does not parse", e))?;
        if cert.issuer_der() != root.subject_der() {
            return Err(Error::Certificate(format!(
                "this CA did not issue the certificate: its issuer '{}' is not the root '{}'",
                cert.issuer(),
                root.subject()
            )));
        }
        if let Err(e) = cert.verify_issued_by(&root) {
            return Err(Error::Certificate(format!(
                "this CA did not issue the certificate: it names '{}' as its issuer, \
                 but its signature does not verify with the root's key ({e})",
                cert.issuer()
            )));
        }
        if cert_der == self.root_der.as_slice() {
            return Err(Error::Certificate(
                "that is the CA's own root certificate; its CRL does not revoke it \
                 (to retire the root, stop using the CA)"
                    .into(),
            ));
        }
        Ok(cert.parsed().clone())
    }

    /// Revokes a certificate this CA issued (DER), at `at`, for `reason`:
    /// adds it to the revocation register, atomically. The next CRL
    /// ([`DevCa::crl`], [`DevCa::write_crl`]) lists it.
    ///
    /// Refuses ([`Error::Certificate`], nothing changed) a certificate the CA
    /// did not issue (see [`DevCa::check_issued`]) and one already revoked,
    /// saying when and why it was. A corrupt register is an [`Error::Io`]
    /// naming it.
    pub fn revoke(
        &self,
        cert_der: &[u8],
        reason: RevocationReason,
        at: SystemTime,
    ) -> Result<Revocation> {
        let cert = self.check_issued(cert_der)?;
        let tbs = cert.tbs_certificate();
        let serial = hex::encode(tbs.serial_number().as_bytes());
        let subject = tbs.subject().text();
        let revoked_at = DateTime::from_system_time(at)
            .map_err(|e| Error::Usage(format!("the revocation time is out of range: {e}")))?
            .to_string();

        let _lock = DirLock::acquire(&self.dir)?;
        let mut register = RevocationRegister::read(&self.dir)?;
        if let Some(earlier) = register.find(&serial) {
            return Err(Error::Certificate(format!(
                "certificate {serial} ({subject}) was already revoked on {} (reason: {}); nothing changed",
                earlier.revoked_at, earlier.reason
            )));
        }
        let revocation = Revocation {
            serial,
            subject,
            revoked_at,
            reason,
        };
        register.revocations.push(revocation.clone());
        register.write(&self.dir)?;
        Ok(revocation)
    }

    /// Every revocation in the register, oldest first.
    pub fn revocations(&self) -> Result<Vec<Revocation>> {
        registered_revocations(&self.dir)
    }
}

/// Every revocation in the register of the CA directory `dir`, oldest
/// first (none when there is no register yet); the root key is not needed.
/// A corrupt register is an error, never read as "nothing revoked".
pub fn registered_revocations(dir: &std::path::Path) -> Result<Vec<Revocation>> {
    Ok(RevocationRegister::read(dir)?.revocations)
}
