//! Issuing end-entity certificates: the request's subject checked against
//! the profile, extensions per key usage, the CRL distribution point and
//! the profile's certificate policy.

use std::time::{Duration, SystemTime};

use asan_applet::{CertificateProfile, KeyUsage};
use der::asn1::{Ia5String, ObjectIdentifier};
use der::oid::db::rfc5280::{ID_KP_CLIENT_AUTH, ID_KP_EMAIL_PROTECTION};
use der::pem::LineEnding;
use der::{Encode, EncodePem};
use p256::ecdsa::DerSignature;
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::certificate::TbsCertificate;
use x509_cert::ext::pkix::crl::dp::DistributionPoint;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, CrlDistributionPoints, ExtendedKeyUsage,
    KeyUsage as KeyUsageExt, KeyUsages, SubjectKeyIdentifier,
};
use x509_cert::ext::{Extension, ToExtension};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{SubjectPublicKeyInfoOwned, SubjectPublicKeyInfoRef};
use x509_cert::time::{Time, Validity};

use super::store::{io_error, write_new};
use super::{DAY, DevCa, ISSUED_DIR};
use crate::error::{Error, Result};
use crate::x509::policy::certificate_policies;
use crate::x509::subject::check_subject;
use crate::x509::{cert_error, random_bytes, verify_csr};

/// Validity of end-entity certificates: 3 years.
pub const LEAF_VALIDITY_DAYS: u64 = 1095;

/// A random positive serial number of exactly 16 bytes.
pub(super) fn random_serial() -> Result<SerialNumber> {
    let mut bytes = [0u8; 16];
    random_bytes(&mut bytes)?;
    // Positive (top bit clear) and no leading zero byte, so it stays 16 bytes.
    bytes[0] = (bytes[0] & 0x7f).max(1);
    SerialNumber::new(&bytes).map_err(|e| cert_error("cannot encode the serial number", e))
}

/// `start` to `start + days`, as certificate times.
pub(super) fn validity(start: SystemTime, days: u64) -> Result<Validity> {
    let end = start
        .checked_add(Duration::from_secs(days * DAY))
        .ok_or_else(|| Error::Usage("the validity period is out of range".into()))?;
    let time = |t: SystemTime| {
        Time::try_from(t)
            .map_err(|e| Error::Usage(format!("the validity period is out of range: {e}")))
    };
    Ok(Validity::new(time(start)?, time(end)?))
}

/// Builder profile for the CA's end-entity certificates: `basicConstraints
/// CA:false` (critical), `keyUsage` (critical) digitalSignature for
/// authentication or nonRepudiation (contentCommitment) for signing,
/// `extendedKeyUsage` clientAuth (authentication) or emailProtection
/// (signing), subject and authority key identifiers.
#[derive(Clone, Debug)]
pub struct EndEntity {
    /// The issuer's name, exactly as in the issuer's certificate.
    pub issuer: Name,
    /// The holder's name.
    pub subject: Name,
    /// What the certified key is for.
    pub usage: KeyUsage,
}

impl BuilderProfile for EndEntity {
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
        let (bits, purpose): (KeyUsages, ObjectIdentifier) = match self.usage {
            KeyUsage::Authentication => (KeyUsages::DigitalSignature, ID_KP_CLIENT_AUTH),
            KeyUsage::Signing => (KeyUsages::NonRepudiation, ID_KP_EMAIL_PROTECTION),
        };
        leaf_extensions(spk, issuer_spk, tbs, bits, purpose, false)
    }
}

/// The extensions of every leaf the development CA issues:
/// `basicConstraints CA:false` (critical), `keyUsage` `bits` (critical),
/// `extendedKeyUsage` `purpose` (critical when `purpose_critical`), subject
/// and authority key identifiers.
pub(super) fn leaf_extensions(
    spk: SubjectPublicKeyInfoRef<'_>,
    issuer_spk: SubjectPublicKeyInfoRef<'_>,
    tbs: &TbsCertificate,
    bits: KeyUsages,
    purpose: ObjectIdentifier,
    purpose_critical: bool,
) -> x509_cert::builder::Result<Vec<Extension>> {
    let subject = tbs.subject();
    let ski = SubjectKeyIdentifier::try_from(spk)?;
    let issuer_ki = SubjectKeyIdentifier::try_from(issuer_spk)?;
    let mut extensions = Vec::new();
    let ext = BasicConstraints {
        ca: false,
        path_len_constraint: None,
    }
    .to_extension(subject, &extensions)?;
    extensions.push(ext);
    let ext = KeyUsageExt(bits.into()).to_extension(subject, &extensions)?;
    extensions.push(ext);
    let mut ext = ExtendedKeyUsage(vec![purpose]).to_extension(subject, &extensions)?;
    ext.critical |= purpose_critical;
    extensions.push(ext);
    let ext = ski.to_extension(subject, &extensions)?;
    extensions.push(ext);
    let aki = AuthorityKeyIdentifier {
        key_identifier: Some(issuer_ki.0),
        ..Default::default()
    };
    let ext = aki.to_extension(subject, &extensions)?;
    extensions.push(ext);
    Ok(extensions)
}

/// [`EndEntity`] plus what the development CA adds to every certificate:
/// cRLDistributionPoints and certificatePolicies.
struct IssuedByDevCa {
    end_entity: EndEntity,
    extra: Vec<Extension>,
}

impl BuilderProfile for IssuedByDevCa {
    fn get_issuer(&self, subject: &Name) -> Name {
        self.end_entity.get_issuer(subject)
    }

    fn get_subject(&self) -> Name {
        self.end_entity.get_subject()
    }

    fn build_extensions(
        &self,
        spk: SubjectPublicKeyInfoRef<'_>,
        issuer_spk: SubjectPublicKeyInfoRef<'_>,
        tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        let mut extensions = self.end_entity.build_extensions(spk, issuer_spk, tbs)?;
        extensions.extend(self.extra.iter().cloned());
        Ok(extensions)
    }
}

/// The non-critical cRLDistributionPoints extension: one distribution point
/// whose fullName is `url`.
fn crl_distribution_point(url: &str, subject: &Name) -> Result<Extension> {
    let uri = Ia5String::new(url)
        .map_err(|e| cert_error(&format!("the CRL URL '{url}' is not IA5 text"), e))?;
    CrlDistributionPoints(vec![DistributionPoint {
        distribution_point: Some(DistributionPointName::FullName(vec![
            GeneralName::UniformResourceIdentifier(uri),
        ])),
        reasons: None,
        crl_issuer: None,
    }])
    .to_extension(subject, &[])
    .map_err(|e| cert_error("cannot encode cRLDistributionPoints", e))
}

impl DevCa {
    /// Issues an end-entity certificate for a verified request: subject and
    /// key from the request (whose subject must carry what `profile` needs
    /// and nothing else, see [`check_subject`](crate::x509::check_subject));
    /// valid from `not_before` for 1095 days; a random positive 16-byte
    /// serial number; extensions as in [`EndEntity`], plus a non-critical
    /// cRLDistributionPoints naming [`DevCa::crl_url`] and a non-critical
    /// certificatePolicies naming the profile's policy
    /// ([`policy_oid`](crate::x509::policy_oid)). Writes a copy to
    /// `dir/issued/<serial hex>.pem` and returns the DER.
    ///
    /// Refuses ([`Error::Certificate`]) a request whose signature does not
    /// verify, whose subject lacks the profile's fields or has others
    /// (another attribute, one twice, a multi-valued RDN), or a certificate
    /// that would outlive the root.
    pub fn issue(
        &self,
        csr: &[u8],
        profile: CertificateProfile,
        usage: KeyUsage,
        not_before: SystemTime,
    ) -> Result<Vec<u8>> {
        let (subject, public_key) = verify_csr(csr)?;
        check_subject(profile, &subject)?;
        self.issue_end_entity(subject, &public_key, profile, usage, not_before)
    }

    /// Issues a new certificate for the key and subject of `previous` (one
    /// this CA issued, DER): the centre prolonging a subscriber's
    /// certificate online keeps the key on the SIM card and renews its
    /// certificate. The subject is checked against `profile` again; valid
    /// from `not_before` for 1095 days, a new serial number, the same
    /// extensions as [`DevCa::issue`].
    pub fn reissue(
        &self,
        previous: &[u8],
        profile: CertificateProfile,
        usage: KeyUsage,
        not_before: SystemTime,
    ) -> Result<Vec<u8>> {
        let old = crate::cert::parse(previous)?;
        let subject = old.tbs_certificate().subject().clone();
        check_subject(profile, &subject)?;
        let public_key = p256::PublicKey::from_sec1_bytes(&crate::cert::public_key_bytes(&old))
            .map_err(|e| cert_error("the previous certificate's key is not a P-256 key", e))?;
        self.issue_end_entity(subject, &public_key, profile, usage, not_before)
    }

    /// An end entity's certificate for `public_key` and `subject` (already
    /// checked against `profile`): CRL distribution point and the profile's
    /// policy, signed as every leaf is.
    fn issue_end_entity(
        &self,
        subject: x509_cert::name::Name,
        public_key: &p256::PublicKey,
        profile: CertificateProfile,
        usage: KeyUsage,
        not_before: SystemTime,
    ) -> Result<Vec<u8>> {
        let issuer = self.root.tbs_certificate().subject().clone();
        let extra = vec![
            crl_distribution_point(&self.crl_url, &subject)?,
            certificate_policies(profile)?,
        ];
        let entity = IssuedByDevCa {
            end_entity: EndEntity {
                issuer,
                subject,
                usage,
            },
            extra,
        };
        self.sign_leaf(entity, public_key, not_before)
    }

    /// Signs a leaf certificate of `profile` for `public_key`, valid from
    /// `not_before` for [`LEAF_VALIDITY_DAYS`] (refused when it would
    /// outlive the root), with a random serial; writes a copy to
    /// `dir/issued/<serial hex>.pem` and returns the DER.
    pub(super) fn sign_leaf<P: BuilderProfile>(
        &self,
        profile: P,
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
                "the development root expires on {} before the certificate would; create a new CA",
                self.root.tbs_certificate().validity().not_after
            )));
        }
        let serial = random_serial()?;
        let serial_hex = hex::encode(serial.as_bytes());
        let spki = SubjectPublicKeyInfoOwned::from_key(public_key)
            .map_err(|e| cert_error("cannot encode the public key", e))?;
        let builder = CertificateBuilder::new(profile, serial, validity, spki)
            .map_err(|e| cert_error("cannot start the certificate", e))?;
        let cert = builder
            .build::<_, DerSignature>(&self.key)
            .map_err(|e| cert_error("cannot build the certificate", e))?;
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
