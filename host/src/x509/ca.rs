//! A development certification authority for test environments and CI: a
//! P-256 root in a directory, issuing end-entity certificates for verified
//! requests.
//!
//! ```text
//! DIR/root.key          PKCS#8 PEM, mode 0600
//! DIR/root.pem          self-signed root certificate
//! DIR/issued/<hex>.pem  a copy of every certificate issued, by serial number
//! ```

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use asan_applet::{CertificateProfile, KeyUsage};
use der::asn1::ObjectIdentifier;
use der::oid::db::rfc5280::{ID_KP_CLIENT_AUTH, ID_KP_EMAIL_PROTECTION};
use der::pem::LineEnding;
use der::{DecodePem, Encode, EncodePem};
use p256::ecdsa::{DerSignature, SigningKey};
use p256::elliptic_curve::Generate;
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use x509_cert::builder::profile::{BuilderProfile, cabf};
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::certificate::{Certificate, TbsCertificate};
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage as KeyUsageExt, KeyUsages,
    SubjectKeyIdentifier,
};
use x509_cert::ext::{Extension, ToExtension};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{SubjectPublicKeyInfoOwned, SubjectPublicKeyInfoRef};
use x509_cert::time::{Time, Validity};

use super::subject::{ca_name, check_subject};
use super::{cert_error, random_bytes, verify_csr};
use crate::error::{Error, Result};

/// The root's private key in the CA directory.
pub const ROOT_KEY_FILE: &str = "root.key";
/// The root certificate in the CA directory.
pub const ROOT_CERT_FILE: &str = "root.pem";
/// Where copies of issued certificates go, inside the CA directory.
pub const ISSUED_DIR: &str = "issued";
/// Validity of end-entity certificates: 3 years.
pub const LEAF_VALIDITY_DAYS: u64 = 1095;
/// Validity of the development root: 10 years.
const ROOT_VALIDITY_DAYS: u64 = 3652;
const DAY: u64 = 86_400;

/// Development certification authority for test environments and CI.
pub struct DevCa {
    dir: PathBuf,
    key: SigningKey,
    root: Certificate,
    root_der: Vec<u8>,
    root_pem: String,
}

impl fmt::Debug for DevCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevCa")
            .field("dir", &self.dir)
            .field("root", &self.root.tbs_certificate().subject().to_string())
            .finish_non_exhaustive()
    }
}

/// An [`Error::Io`] for `path`.
fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Writes a new file (never replaces one); `private` files get mode 0600.
fn write_new(path: &Path, contents: &[u8], private: bool) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options.open(path).map_err(io_error(path))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(io_error(path))
}

/// A random positive serial number of exactly 16 bytes.
fn random_serial() -> Result<SerialNumber> {
    let mut bytes = [0u8; 16];
    random_bytes(&mut bytes)?;
    // Positive (top bit clear) and no leading zero byte, so it stays 16 bytes.
    bytes[0] = (bytes[0] & 0x7f).max(1);
    SerialNumber::new(&bytes).map_err(|e| cert_error("cannot encode the serial number", e))
}

/// `start` to `start + days`, as certificate times.
fn validity(start: SystemTime, days: u64) -> Result<Validity> {
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
        let subject = tbs.subject();
        let ski = SubjectKeyIdentifier::try_from(spk)?;
        let issuer_ki = SubjectKeyIdentifier::try_from(issuer_spk)?;
        let (bits, purpose): (KeyUsages, ObjectIdentifier) = match self.usage {
            KeyUsage::Authentication => (KeyUsages::DigitalSignature, ID_KP_CLIENT_AUTH),
            KeyUsage::Signing => (KeyUsages::NonRepudiation, ID_KP_EMAIL_PROTECTION),
        };
        let mut extensions = Vec::new();
        let ext = BasicConstraints {
            ca: false,
            path_len_constraint: None,
        }
        .to_extension(subject, &extensions)?;
        extensions.push(ext);
        let ext = KeyUsageExt(bits.into()).to_extension(subject, &extensions)?;
        extensions.push(ext);
        let ext = ExtendedKeyUsage(vec![purpose]).to_extension(subject, &extensions)?;
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
}

impl DevCa {
    /// Creates `dir` (which must not already hold a CA: it refuses to
    /// overwrite one), a P-256 root key (`dir/root.key`, PKCS#8 PEM, mode
    /// 0600) and a self-signed root certificate (`dir/root.pem`): C=AZ,
    /// O=Asan Imza Development CA, CN=Asan Imza Development Root, 10 years,
    /// CA:true, keyCertSign and cRLSign, key identifiers (`cabf::Root`).
    pub fn init(dir: &Path) -> Result<Self> {
        for file in [ROOT_KEY_FILE, ROOT_CERT_FILE] {
            if dir.join(file).exists() {
                return Err(Error::Usage(format!(
                    "{} already holds a development CA ({file}); refusing to overwrite it",
                    dir.display()
                )));
            }
        }
        std::fs::create_dir_all(dir.join(ISSUED_DIR)).map_err(io_error(dir))?;

        let key = SigningKey::try_generate_from_rng(&mut getrandom::SysRng)
            .map_err(|e| cert_error("the system random generator failed", e))?;
        let subject = ca_name("Asan Imza Development CA", "Asan Imza Development Root")?;
        let profile =
            cabf::Root::new(false, subject).map_err(|e| cert_error("invalid root name", e))?;
        let spki = SubjectPublicKeyInfoOwned::from_key(key.verifying_key())
            .map_err(|e| cert_error("cannot encode the root's public key", e))?;
        let builder = CertificateBuilder::new(
            profile,
            random_serial()?,
            validity(SystemTime::now(), ROOT_VALIDITY_DAYS)?,
            spki,
        )
        .map_err(|e| cert_error("cannot start the root certificate", e))?;
        let root = builder
            .build::<_, DerSignature>(&key)
            .map_err(|e| cert_error("cannot build the root certificate", e))?;

        let key_pem = key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| cert_error("cannot encode the root key", e))?;
        let root_pem = root
            .to_pem(LineEnding::LF)
            .map_err(|e| cert_error("cannot encode the root", e))?;
        write_new(&dir.join(ROOT_KEY_FILE), key_pem.as_bytes(), true)?;
        write_new(&dir.join(ROOT_CERT_FILE), root_pem.as_bytes(), false)?;
        Self::new(dir, key, root)
    }

    /// Loads `dir/root.key` and `dir/root.pem`, checking that they belong
    /// together.
    pub fn load(dir: &Path) -> Result<Self> {
        let key_path = dir.join(ROOT_KEY_FILE);
        let cert_path = dir.join(ROOT_CERT_FILE);
        let key_pem = zeroize::Zeroizing::new(
            std::fs::read_to_string(&key_path).map_err(io_error(&key_path))?,
        );
        let key = SigningKey::from_pkcs8_pem(&key_pem).map_err(|e| {
            cert_error(
                &format!("{}: not a PKCS#8 P-256 private key", key_path.display()),
                e,
            )
        })?;
        let cert_pem = std::fs::read(&cert_path).map_err(io_error(&cert_path))?;
        let root = Certificate::from_pem(&cert_pem).map_err(|e| {
            cert_error(
                &format!("{}: not a PEM certificate", cert_path.display()),
                e,
            )
        })?;
        let key_spki = SubjectPublicKeyInfoOwned::from_key(key.verifying_key())
            .map_err(|e| cert_error("cannot encode the root's public key", e))?;
        if root.tbs_certificate().subject_public_key_info() != &key_spki {
            return Err(Error::Certificate(format!(
                "{} and {} in {} do not belong together (different public keys)",
                ROOT_KEY_FILE,
                ROOT_CERT_FILE,
                dir.display()
            )));
        }
        Self::new(dir, key, root)
    }

    fn new(dir: &Path, key: SigningKey, root: Certificate) -> Result<Self> {
        let root_der = root
            .to_der()
            .map_err(|e| cert_error("cannot encode the root", e))?;
        let root_pem = root
            .to_pem(LineEnding::LF)
            .map_err(|e| cert_error("cannot encode the root", e))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            key,
            root,
            root_der,
            root_pem,
        })
    }

    /// The CA directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The root certificate.
    pub fn root(&self) -> &Certificate {
        &self.root
    }

    /// The root certificate, PEM.
    pub fn root_pem(&self) -> String {
        self.root_pem.clone()
    }

    /// The root certificate, DER.
    pub fn root_der(&self) -> Vec<u8> {
        self.root_der.clone()
    }

    /// Issues an end-entity certificate for a verified request: subject and
    /// key from the request (whose subject must carry what `profile` needs,
    /// see [`check_subject`](super::check_subject)); valid from `not_before`
    /// for 1095 days; a random positive 16-byte serial number; extensions as
    /// in [`EndEntity`]. Writes a copy to `dir/issued/<serial hex>.pem` and
    /// returns the DER.
    ///
    /// Refuses ([`Error::Certificate`]) a request whose signature does not
    /// verify, whose subject lacks the profile's fields, or a certificate that
    /// would outlive the root.
    pub fn issue(
        &self,
        csr: &[u8],
        profile: CertificateProfile,
        usage: KeyUsage,
        not_before: SystemTime,
    ) -> Result<Vec<u8>> {
        let (subject, public_key) = verify_csr(csr)?;
        check_subject(profile, &subject)?;
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
        let spki = SubjectPublicKeyInfoOwned::from_key(&public_key)
            .map_err(|e| cert_error("cannot encode the request's public key", e))?;
        let issuer = self.root.tbs_certificate().subject().clone();
        let entity = EndEntity {
            issuer,
            subject,
            usage,
        };
        let builder = CertificateBuilder::new(entity, serial, validity, spki)
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
