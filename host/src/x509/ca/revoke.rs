//! Revoking a certificate the CA issued: checked against the root (issuer
//! name and signature), recorded in the revocation register.

use std::time::SystemTime;

use der::asn1::BitString;
use der::{DateTime, Decode, Encode, Reader, SliceReader};
use p256::ecdsa::DerSignature;
use p256::ecdsa::signature::Verifier;
use x509_cert::Certificate;
use x509_cert::spki::AlgorithmIdentifierOwned;

use super::DevCa;
use super::register::{Revocation, RevocationReason, RevocationRegister};
use super::store::DirLock;
use crate::error::{Error, Result};
use crate::x509::{ECDSA_WITH_SHA256, cert_error};

/// The bytes of `tbsCertificate` exactly as received, the signature
/// algorithm and the signature of a DER certificate.
fn split_certificate(der: &[u8]) -> der::Result<(&[u8], AlgorithmIdentifierOwned, BitString)> {
    let mut reader = SliceReader::new(der)?;
    let parts = reader.sequence(|cert| {
        let tbs = cert.tlv_bytes()?;
        let algorithm = AlgorithmIdentifierOwned::decode(cert)?;
        let signature = BitString::decode(cert)?;
        Ok::<_, der::Error>((tbs, algorithm, signature))
    })?;
    reader.finish()?;
    Ok(parts)
}

impl DevCa {
    /// Checks that `cert_der` is a certificate this CA issued: its issuer is
    /// the root's subject, and its signature (ecdsa-with-SHA256, over the
    /// tbsCertificate bytes as received) verifies with the root's key. The
    /// root itself is refused too. Answers [`Error::Certificate`].
    pub fn check_issued(&self, cert_der: &[u8]) -> Result<Certificate> {
        let cert = Certificate::from_der(cert_der)
            .map_err(|e| cert_error("not a valid X.509 certificate", e))?;
        let (tbs, algorithm, signature) = split_certificate(cert_der)
            .map_err(|e| cert_error("not a valid X.509 certificate", e))?;
        let root_name = self.root.tbs_certificate().subject();
        let issuer = cert.tbs_certificate().issuer();
        let same_name = match (issuer.to_der(), root_name.to_der()) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        };
        if !same_name {
            return Err(Error::Certificate(format!(
                "this CA did not issue the certificate: its issuer '{issuer}' is not the root '{root_name}'"
            )));
        }
        if algorithm.oid != ECDSA_WITH_SHA256 || algorithm.parameters.is_some() {
            return Err(Error::Certificate(format!(
                "this CA did not issue the certificate: it is signed with {}, not ecdsa-with-SHA256",
                algorithm.oid
            )));
        }
        let verifies = signature
            .as_bytes()
            .and_then(|bytes| DerSignature::try_from(bytes).ok())
            .is_some_and(|sig| self.key.verifying_key().verify(tbs, &sig).is_ok());
        if !verifies {
            return Err(Error::Certificate(format!(
                "this CA did not issue the certificate: it names '{issuer}' as its issuer, \
                 but its signature does not verify with the root's key"
            )));
        }
        if cert_der == self.root_der.as_slice() {
            return Err(Error::Certificate(
                "that is the CA's own root certificate; its CRL does not revoke it \
                 (to retire the root, stop using the CA)"
                    .into(),
            ));
        }
        Ok(cert)
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
        let subject = tbs.subject().to_string();
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
