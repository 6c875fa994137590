//! The development CA's time-stamping authority certificate (RFC 3161
//! §2.3): `extendedKeyUsage` id-kp-timeStamping alone and critical,
//! `keyUsage` digitalSignature (critical), no CA.

use std::time::SystemTime;

use x509_cert::builder::profile::BuilderProfile;
use x509_cert::certificate::TbsCertificate;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::KeyUsages;
use x509_cert::name::Name;
use x509_cert::spki::SubjectPublicKeyInfoRef;

use super::DevCa;
use super::issue::leaf_extensions;
use crate::error::Result;
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
        let profile = TsaProfile {
            issuer: self.root.tbs_certificate().subject().clone(),
            subject: ca_name("Asan Imza Development CA", "Asan Imza Development TSA")?,
        };
        self.sign_leaf(profile, public_key, not_before)
    }
}
