//! The development CA's time-stamping authority certificate (RFC 3161
//! §2.3): `extendedKeyUsage` id-kp-timeStamping alone and critical,
//! `keyUsage` digitalSignature (critical), no CA.

use std::time::SystemTime;

use der::pem::LineEnding;
use der::{Encode, EncodePem};
use p256::ecdsa::DerSignature;
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::certificate::TbsCertificate;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::KeyUsages;
use x509_cert::name::Name;
use x509_cert::spki::{SubjectPublicKeyInfoOwned, SubjectPublicKeyInfoRef};

use super::issue::{LEAF_VALIDITY_DAYS, leaf_extensions, random_serial, validity};
use super::store::{io_error, write_new};
use super::{DevCa, ISSUED_DIR};
use crate::error::{Error, Result};
use crate::x509::cert_error;
use crate::x509::subject::ca_name;

/// `id-kp-timeStamping` (1.3.6.1.5.5.7.3.8).
pub const ID_KP_TIME_STAMPING: der::asn1::ObjectIdentifier =
    der::oid::db::rfc5280::ID_KP_TIME_STAMPING;

struct TsaProfile {
    issuer: Name,
    subject: Name,
}

impl BuilderProfile for TsaProfile {
    fn get_issuer(&self, _subject: &Name) -> Name {
        self.issuer.clone()
    }

    fn get_subject(&self) -> Name {
        self.subject.clone()
    }

    fn build_extensions(
        &self,
        spk: SubjectPublicKeyInfoRef<'_>,
        issuer_spk: SubjectPublicKeyInfoRef<'_>,
        tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        // RFC 3161 §2.3: the one purpose, critical.
        leaf_extensions(
            spk,
            issuer_spk,
            tbs,
            KeyUsages::DigitalSignature,
            ID_KP_TIME_STAMPING,
            true,
        )
    }
}

impl DevCa {
    /// Issues the certificate of a time-stamping authority for `public_key`:
    /// `CN=Asan Imza Development TSA`, valid from `not_before` for 1095 days
    /// (never beyond the root), EKU timeStamping (critical). Writes a copy
    /// to `dir/issued/<serial hex>.pem` and returns the DER.
    pub fn issue_tsa(
        &self,
        public_key: &p256::PublicKey,
        not_before: SystemTime,
    ) -> Result<Vec<u8>> {
        let validity = validity(not_before, LEAF_VALIDITY_DAYS)?;
        let root_end = self
            .root
            .tbs_certificate()
            .validity()
            .not_after
            .to_system_time();
        if validity.not_after.to_system_time() > root_end {
            return Err(Error::Certificate(format!(
                "the development root expires on {} before the TSA certificate would; create a new CA",
                self.root.tbs_certificate().validity().not_after
            )));
        }
        let serial = random_serial()?;
        let serial_hex = hex::encode(serial.as_bytes());
        let spki = SubjectPublicKeyInfoOwned::from_key(public_key)
            .map_err(|e| cert_error("cannot encode the TSA's public key", e))?;
        let profile = TsaProfile {
            issuer: self.root.tbs_certificate().subject().clone(),
            subject: ca_name("Asan Imza Development CA", "Asan Imza Development TSA")?,
        };
        let cert = CertificateBuilder::new(profile, serial, validity, spki)
            .map_err(|e| cert_error("cannot start the TSA certificate", e))?
            .build::<_, DerSignature>(&self.key)
            .map_err(|e| cert_error("cannot build the TSA certificate", e))?;
        let der = cert
            .to_der()
            .map_err(|e| cert_error("cannot encode the certificate", e))?;
        let pem = cert
            .to_pem(LineEnding::LF)
            .map_err(|e| cert_error("cannot encode the certificate", e))?;
        let issued = self.dir.join(ISSUED_DIR);
        std::fs::create_dir_all(&issued).map_err(io_error(&issued))?;
        write_new(
            &issued.join(format!("{serial_hex}.pem")),
            pem.as_bytes(),
            false,
        )?;
        Ok(der)
    }
}
