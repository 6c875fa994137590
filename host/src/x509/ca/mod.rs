//! A development certification authority for test environments and CI: a
//! P-256 root in a directory, issuing end-entity certificates for verified
//! requests, revoking them and publishing CRLs.
//!
//! ```text
//! DIR/root.key          PKCS#8 PEM, mode 0600
//! DIR/root.pem          self-signed root certificate
//! DIR/issued/<hex>.pem  a copy of every certificate issued, by serial number
//! DIR/ca.json           settings (the CRL URL); absent: defaults
//! DIR/revocations.json  the revocation register; absent: nothing revoked yet
//! DIR/root.crl          the CRL `asan ca crl DIR` writes by default
//! DIR/organisations.json the register of organisations and their heads
//! DIR/notices/<SERIAL>.json  each activated card: User ID, service, certificates (0600)
//! DIR/applications.jsonl the journal of renewal applications (hash-chained, 0600)
//! DIR/.lock             serialises changes to the registers
//! DIR/.reviews.lock     serialises reviews of renewal applications
//! ```

mod config;
mod crl;
mod issue;
mod journal;
mod notices;
mod organisations;
mod register;
mod revoke;
mod store;
mod tsa;

use crate::cert::NameText as _;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use der::pem::LineEnding;
use der::{DecodePem, Encode, EncodePem};
use p256::ecdsa::{DerSignature, SigningKey};
use p256::elliptic_curve::Generate;
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use x509_cert::builder::profile::cabf;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::certificate::Certificate;
use x509_cert::spki::SubjectPublicKeyInfoOwned;

pub use config::{CA_CONFIG_FILE, CaConfig, check_crl_url};
pub use crl::{CRL_FILE, DEFAULT_CRL_DAYS, IssuedCrl, MAX_CRL_DAYS};
pub use issue::{EndEntity, LEAF_VALIDITY_DAYS};
pub use journal::{JOURNAL_FILE, ReviewsLock, journal_records};
pub use notices::{
    ActivatedCertificate, CardRecord, NOTICE_TITLE, NOTICES_DIR, SERVICE_TERM, ServicePeriod,
    card_record, card_records, normalise_serial,
};
pub use organisations::{
    ORGANISATIONS_FILE, Organisation, check_organisation, registered_organisations,
};
pub use register::{REVOCATIONS_FILE, Revocation, RevocationReason};
pub use revoke::registered_revocations;
pub(crate) use store::{io_error, write_atomic};

use super::cert_error;
use super::subject::ca_name;
use crate::error::{Error, Result};
use issue::{random_serial, validity};
use store::write_new;

/// The root's private key in the CA directory.
pub const ROOT_KEY_FILE: &str = "root.key";
/// The root certificate in the CA directory.
pub const ROOT_CERT_FILE: &str = "root.pem";
/// Where copies of issued certificates go, inside the CA directory.
pub const ISSUED_DIR: &str = "issued";
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
    /// The cRLDistributionPoints URI of the certificates it issues.
    crl_url: String,
}

impl fmt::Debug for DevCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevCa")
            .field("dir", &self.dir)
            .field("root", &self.root.tbs_certificate().subject().text())
            .finish_non_exhaustive()
    }
}

impl DevCa {
    /// Creates `dir` (which must not already hold a CA: it refuses to
    /// overwrite one), a P-256 root key (`dir/root.key`, PKCS#8 PEM, mode
    /// 0600) and a self-signed root certificate (`dir/root.pem`): C=AZ,
    /// O=Asan Imza Development CA, CN=Asan Imza Development Root, 10 years,
    /// CA:true, keyCertSign and cRLSign, key identifiers (`cabf::Root`).
    /// Default settings: certificates point at the `file://` URL of
    /// `dir/root.crl`.
    pub fn init(dir: &Path) -> Result<Self> {
        Self::init_with_config(dir, &CaConfig::default())
    }

    /// [`DevCa::init`] with settings, written to `dir/ca.json` when they
    /// are not the defaults. Refuses ([`Error::Usage`]) a CRL URL
    /// [`check_crl_url`] refuses, before anything is created.
    pub fn init_with_config(dir: &Path, config: &CaConfig) -> Result<Self> {
        if let Some(url) = &config.crl_url {
            check_crl_url(url)?;
        }
        for file in [
            ROOT_KEY_FILE,
            ROOT_CERT_FILE,
            CA_CONFIG_FILE,
            REVOCATIONS_FILE,
        ] {
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
        if config != &CaConfig::default() {
            config.write(dir)?;
        }
        Self::new(dir, key, root, config)
    }

    /// Loads `dir/root.key` and `dir/root.pem`, checking that they belong
    /// together, and the settings `dir/ca.json` (defaults when absent; a
    /// malformed file is an error naming it).
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
        let config = CaConfig::read(dir)?;
        Self::new(dir, key, root, &config)
    }

    fn new(dir: &Path, key: SigningKey, root: Certificate, config: &CaConfig) -> Result<Self> {
        let crl_url = config.crl_url_for(dir)?;
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
            crl_url,
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

    /// The URL the certificates it issues name as their CRL distribution
    /// point: from `dir/ca.json`, or the `file://` URL of `dir/root.crl`.
    pub fn crl_url(&self) -> &str {
        &self.crl_url
    }
}
