//! X.509 for the operator's side of the card life: subject names per
//! certificate profile, PKCS#10 requests signed by a key that lives on the
//! card, and a development certification authority for test environments and
//! CI.
//!
//! * [`SubjectInfo`] and [`subject_name`]: who a certificate is for, checked
//!   against the profile (Business needs an organisation and a VÖEN,
//!   Governmental an organisation).
//! * [`DigestSigner`]: a P-256 key that only signs SHA-256 digests and answers
//!   raw `r || s` — the card. [`CardSigner`] adapts it to what the
//!   `x509-cert` builders want and keeps the card's real error;
//!   [`SoftwareSigner`] is a software key with the same interface.
//! * [`build_csr`] and [`verify_csr`]: PKCS#10 requests that `openssl req
//!   -verify` accepts.
//! * [`DevCa`]: a P-256 root in a directory that issues end-entity
//!   certificates (3 years, key usage per key, CRL distribution point,
//!   the profile's certificate policy) for verified requests, revokes them
//!   ([`DevCa::revoke`]) and signs CRLs ([`DevCa::crl`]).
//! * [`policy_oid`] and [`certificate_profile`]: the certificate policy of
//!   each profile, and reading it back from a certificate.
//!
//! ```
//! use asan_applet::{CertificateProfile, KeyUsage};
//! use asan_host::x509::{DevCa, SoftwareSigner, SubjectInfo, build_csr, subject_name};
//! # fn main() -> asan_host::Result<()> {
//! let dir = std::env::temp_dir().join(format!("asan-doc-ca-{}", std::process::id()));
//! # let _ = std::fs::remove_dir_all(&dir);
//! let ca = DevCa::init(&dir)?;
//! let info = SubjectInfo {
//!     name: "Əli Məmmədov".into(),
//!     id: "5ABCDEF".into(),
//!     organisation: None,
//!     voen: None,
//! };
//! let subject = subject_name(CertificateProfile::Citizen, &info)?;
//! let mut key = SoftwareSigner::generate()?;
//! let csr = build_csr(subject, &mut key)?;
//! let cert = ca.issue(&csr, CertificateProfile::Citizen, KeyUsage::Authentication,
//!                     std::time::SystemTime::now())?;
//! assert!(!cert.is_empty());
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok(())
//! # }
//! ```

mod ca;
mod csr;
mod policy;
mod signer;
mod subject;

pub use ca::{
    ActivatedCertificate, CA_CONFIG_FILE, CRL_FILE, CaConfig, CardRecord, DEFAULT_CRL_DAYS, DevCa,
    EndEntity, ISSUED_DIR, IssuedCrl, JOURNAL_FILE, LEAF_VALIDITY_DAYS, MAX_CRL_DAYS, NOTICE_TITLE,
    NOTICES_DIR, ORGANISATIONS_FILE, Organisation, REVOCATIONS_FILE, ROOT_CERT_FILE, ROOT_KEY_FILE,
    ReviewsLock, Revocation, RevocationReason, SERVICE_TERM, ServicePeriod, card_record,
    card_records, check_crl_url, check_organisation, journal_records, normalise_serial,
    registered_organisations, registered_revocations,
};
pub(crate) use ca::{io_error, write_atomic};
pub use csr::{build_csr, verify_csr};
pub use policy::{
    BUSINESS_POLICY, CITIZEN_POLICY, GOVERNMENTAL_POLICY, POLICY_ARC, certificate_profile,
    oid_to_der, policy_oid,
};
pub use signer::{CardSigner, DigestSigner, ECDSA_WITH_SHA256, SoftwareSigner};
pub use subject::{ORGANIZATION_IDENTIFIER, SubjectInfo, check_subject, subject_name};

use crate::error::Error;

/// An [`Error::Certificate`] saying what failed and why.
pub(crate) fn cert_error(what: &str, cause: impl std::fmt::Display) -> Error {
    Error::Certificate(format!("{what}: {cause}"))
}

/// Fills `buf` from the operating system's random generator.
pub(crate) fn random_bytes(buf: &mut [u8]) -> crate::Result<()> {
    getrandom::fill(buf).map_err(|e| cert_error("the system random generator failed", e))
}
