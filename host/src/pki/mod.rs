//! Certificate path validation (RFC 5280 §6) for every verification in the
//! project: `asan verify`, `asan cert verify`, `asan auth --verify`, the
//! certification centre's review.
//!
//! * [`validate`]: the path from an end-entity certificate to one of the
//!   [`TrustAnchors`] at a [`ValidationOptions::at`] time, for a
//!   [`Purpose`], optionally against [`Crl`]s. The answer is a
//!   [`PathValidation`]: the verdict, the path, and every [`Check`] with
//!   what it found.
//! * Two validators must agree: `rustls-webpki` 0.103 (path building,
//!   signatures, basicConstraints, pathLenConstraint, validity, critical
//!   extensions, extended key usage, name constraints, CRLs) and our own
//!   checks on each path webpki accepts (the same, plus keyCertSign on
//!   issuers, the trust anchor's validity and pathLenConstraint, CRL
//!   thisUpdate, the end entity's key usage). A "valid" needs both.
//! * Everything signed is checked over the bytes as received: a
//!   certificate is never re-encoded before its signature is checked.
//! * Signatures: ECDSA on P-256 or P-384 with SHA-256 or SHA-384, one
//!   implementation over RustCrypto for webpki and for us
//!   ([`algorithms`]).
//!
//! ```
//! use asan_applet::{CertificateProfile, KeyUsage};
//! use asan_host::pki::{Purpose, TrustAnchors, ValidationOptions, validate};
//! use asan_host::x509::{DevCa, SoftwareSigner, SubjectInfo, build_csr, subject_name};
//! # fn main() -> asan_host::Result<()> {
//! # let dir = std::env::temp_dir().join(format!("asan-doc-pki-{}", std::process::id()));
//! # let _ = std::fs::remove_dir_all(&dir);
//! let ca = DevCa::init(&dir)?;
//! let info = SubjectInfo { name: "Test".into(), id: "1234567".into(), organisation: None, voen: None };
//! let mut key = SoftwareSigner::generate()?;
//! let csr = build_csr(subject_name(CertificateProfile::Citizen, &info)?, &mut key)?;
//! let now = std::time::SystemTime::now();
//! let cert = ca.issue(&csr, CertificateProfile::Citizen, KeyUsage::Signing, now)?;
//!
//! let anchors = TrustAnchors::from_der(&[ca.root_der()], "root.pem")?;
//! let result = validate(&cert, &[], &anchors, &ValidationOptions::new(now, Purpose::Sign))?;
//! assert!(result.valid, "{:?}", result.checks);
//! // An authentication certificate is not for document signing.
//! let auth = ca.issue(&csr, CertificateProfile::Citizen, KeyUsage::Authentication, now)?;
//! let result = validate(&auth, &[], &anchors, &ValidationOptions::new(now, Purpose::Sign))?;
//! assert!(!result.valid);
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok(())
//! # }
//! ```

pub mod algorithms;
mod anchors;
mod certificate;
mod checks;
mod crl;
mod path;
mod purpose;

use std::path::Path;
use std::time::SystemTime;

use serde::Serialize;

pub use anchors::TrustAnchors;
pub(crate) use certificate::elements as elements_of;
pub use certificate::{Cert, oid_text};
pub use crl::Crl;
pub use path::{ValidationOptions, validate};
pub use purpose::Purpose;

use crate::error::{Error, Result};

/// One check of a verification: its name, whether it passed, what was
/// found or why it failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Which check (one of the constants of [`Check`]).
    pub name: &'static str,
    /// Whether it passed.
    pub ok: bool,
    /// What was found, or why it failed.
    pub detail: String,
}

impl Check {
    /// A check from its result.
    pub fn new(name: &'static str, result: std::result::Result<String, String>) -> Self {
        let (ok, detail) = match result {
            Ok(d) => (true, d),
            Err(d) => (false, d),
        };
        Self { name, ok, detail }
    }

    /// The path reaches a trust anchor.
    pub const CHAIN: &'static str = "chain";
    /// Each certificate's signature verifies with its issuer's key.
    pub const CERTIFICATE_SIGNATURES: &'static str = "certificate signatures";
    /// Every certificate, the trust anchor's included, is valid at the
    /// validation time.
    pub const VALIDITY: &'static str = "validity";
    /// Every issuer is a CA (basicConstraints cA TRUE).
    pub const BASIC_CONSTRAINTS: &'static str = "basic constraints";
    /// The end-entity certificate is not a CA.
    pub const END_ENTITY: &'static str = "end entity";
    /// No pathLenConstraint is exceeded.
    pub const PATH_LENGTH: &'static str = "path length";
    /// Every issuer with keyUsage allows keyCertSign.
    pub const ISSUER_KEY_USAGE: &'static str = "issuer key usage";
    /// No certificate has a critical extension that is not processed.
    pub const CRITICAL_EXTENSIONS: &'static str = "critical extensions";
    /// The end entity's keyUsage allows the purpose.
    pub const KEY_USAGE: &'static str = "key usage";
    /// Every extendedKeyUsage of the path (the anchor's included) allows
    /// the purpose.
    pub const EXTENDED_KEY_USAGE: &'static str = "extended key usage";
    /// No certificate of the path is revoked (by the CRLs given).
    pub const REVOCATION: &'static str = "revocation";
    /// rustls-webpki validates the same path.
    pub const WEBPKI: &'static str = "rustls-webpki";
}

/// The result of [`validate`].
#[derive(Clone, Debug, Serialize)]
pub struct PathValidation {
    /// Every check passed.
    pub valid: bool,
    /// The subjects of the path, end entity first (as far as it goes).
    pub path: Vec<String>,
    /// The checks, in order.
    pub checks: Vec<Check>,
    /// The validation time, RFC 3339.
    pub validation_time: String,
    /// What the end entity was checked for.
    pub purpose: Purpose,
    #[serde(skip)]
    certs: Vec<Cert>,
}

impl PathValidation {
    /// The first failed check.
    pub fn first_failure(&self) -> Option<&Check> {
        self.checks.iter().find(|c| !c.ok)
    }

    /// The check called `name`.
    pub fn check(&self, name: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.name == name)
    }

    /// The certificates of the validated path, end entity first, as
    /// received — only when the path is valid.
    pub fn certificates(&self) -> Option<&[Cert]> {
        self.valid.then_some(self.certs.as_slice())
    }
}

/// RFC 3339 of a time (UTC, to the second).
pub fn rfc3339(t: SystemTime) -> String {
    match x509_cert::time::Time::try_from(t) {
        Ok(time) => time.to_string(),
        Err(_) => {
            let secs = t
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            format!("{secs} seconds after 1970")
        }
    }
}

/// The DER of every PEM block labelled `label` in `bytes` (empty when
/// there is none); `Err` for a block that does not decode.
pub(crate) fn pem_blocks(bytes: &[u8], label: &str) -> std::result::Result<Vec<Vec<u8>>, String> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let text = String::from_utf8_lossy(bytes);
    let mut out = Vec::new();
    let mut rest = text.as_ref();
    while let Some(start) = rest.find(&begin) {
        let block = rest.get(start..).unwrap_or_default();
        let stop = block
            .find(&end)
            .ok_or_else(|| format!("a PEM {label} block has no END line"))?;
        let whole = block.get(..stop + end.len()).unwrap_or_default();
        let (_, der) = der::pem::decode_vec(whole.as_bytes())
            .map_err(|e| format!("a PEM {label} block does not decode: {e}"))?;
        out.push(der);
        rest = block.get(stop + end.len()..).unwrap_or_default();
    }
    Ok(out)
}

/// The certificates in a file: DER, or one or more PEM `CERTIFICATE`
/// blocks; errors name the file and the cause.
pub fn certificates_in_file(path: &Path) -> Result<Vec<Vec<u8>>> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })?;
    certificates_in_bytes(&bytes).map_err(|e| match e {
        Error::Certificate(what) => Error::Certificate(format!("{}: {what}", path.display())),
        e => e,
    })
}

/// The certificates in DER bytes, or in one or more PEM `CERTIFICATE`
/// blocks; each must parse.
pub fn certificates_in_bytes(bytes: &[u8]) -> Result<Vec<Vec<u8>>> {
    let blocks = pem_blocks(bytes, "CERTIFICATE").map_err(Error::Certificate)?;
    let list = if blocks.is_empty() {
        vec![bytes.to_vec()]
    } else {
        blocks
    };
    for der in &list {
        Cert::from_der(der)
            .map_err(|e| Error::Certificate(format!("not a valid X.509 certificate: {e}")))?;
    }
    Ok(list)
}
