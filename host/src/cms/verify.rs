//! Verifying a CMS signature, check by check: the message itself, then
//! the signer's certificate path (RFC 5280, through [`crate::pki`]).

use std::time::{Duration, SystemTime};

use ::cms::content_info::ContentInfo;
use ::cms::signed_data::SignedData;
use der::Decode;
use der::asn1::{Any, ObjectIdentifier, OctetString};
use p256::ecdsa::Signature;
use serde::Serialize;
use x509_cert::time::Time;

use super::structure::{Parts, structure};
use super::{ID_AA_SIGNING_CERTIFICATE_V2, ess, sha256, verify_ecdsa_p256_sha256};
use crate::error::{Error, Result};
use crate::pki::{self, Crl, Purpose, TrustAnchors, ValidationOptions, rfc3339};
use der::oid::db::rfc5911;

pub use crate::pki::Check;

/// How far a signing time may lie after the validation time (clock skew).
const SKEW: Duration = Duration::from_secs(300);

/// id-aa-signingCertificate (ESS v1, SHA-1; RFC 2634).
const ID_AA_SIGNING_CERTIFICATE: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.12");

impl Check {
    /// Parses as one `SignedData` with one signer, SHA-256, ECDSA with
    /// SHA-256, signed attributes, and exactly one certificate in the
    /// message that the signer identifier names (a P-256 key).
    pub const STRUCTURE: &'static str = "structure";
    /// The message-digest attribute is the SHA-256 of the content.
    pub const CONTENT_DIGEST: &'static str = "content digest";
    /// The ECDSA signature over the signed attributes verifies with the
    /// signer's certificate.
    pub const SIGNATURE: &'static str = "signature";
    /// The content-type attribute matches the content.
    pub const CONTENT_TYPE: &'static str = "content-type";
    /// The signing-time attribute (the signer's claim, never used for
    /// validity) is well formed and not after the validation time.
    pub const SIGNING_TIME: &'static str = "signing-time";
    /// The signing-certificate-v2 hash (the CAdES-BES binding) matches the
    /// signer's certificate; absent passes unless CAdES-BES is required.
    pub const SIGNING_CERTIFICATE: &'static str = "signing-certificate-v2";
}

/// How a signature is verified.
#[derive(Clone, Debug)]
pub struct VerifyOptions {
    /// The validation time: every certificate of the path must be valid
    /// then. A CAdES-BES signature carries no trusted time, so this is now
    /// unless the user asks about another time; the signing-time attribute
    /// is reported, never used.
    pub at: SystemTime,
    /// Require the signing-certificate-v2 attribute (CAdES-BES).
    pub cades: bool,
    /// CRLs to check every certificate of the path against.
    pub crls: Vec<Crl>,
    /// Every certificate of the path needs a CRL from its issuer.
    pub require_crl: bool,
    /// More certificates (DER) to build the path with, besides those in
    /// the message.
    pub extra_certificates: Vec<Vec<u8>>,
}

impl VerifyOptions {
    /// Validation at `at`, CAdES-BES not required, no CRL.
    pub fn at(at: SystemTime) -> Self {
        Self {
            at,
            cades: false,
            crls: Vec::new(),
            require_crl: false,
            extra_certificates: Vec::new(),
        }
    }
}

/// Result of a verification: what was checked and what failed.
#[derive(Clone, Debug, Serialize)]
pub struct Verification {
    /// Every check passed.
    pub valid: bool,
    /// The signer's certificate subject (RFC 4514), once found.
    pub signer: Option<String>,
    /// The signing-time attribute (RFC 3339): the signer's claim, reported
    /// and never used for validity.
    pub signing_time: Option<String>,
    /// The time the certificate path was validated at (RFC 3339).
    pub validation_time: String,
    /// Whether the signature is CAdES-BES: a signing-certificate-v2
    /// attribute binds it to the signer's certificate.
    pub cades_bes: bool,
    /// The certificate path, end entity first (subjects).
    pub path: Vec<String>,
    /// The checks, in order: structure, content digest, signature,
    /// content-type, signing-time, signing-certificate-v2, then the path
    /// checks of [`crate::pki`]. When the structure fails nothing else is
    /// checked.
    pub checks: Vec<Check>,
    #[serde(skip)]
    signer_der: Option<Vec<u8>>,
    #[serde(skip)]
    content: Option<Vec<u8>>,
}

impl Verification {
    /// The first failed check.
    pub fn first_failure(&self) -> Option<&Check> {
        self.checks.iter().find(|c| !c.ok)
    }

    /// The check called `name`.
    pub fn check(&self, name: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.name == name)
    }

    /// The validated signer's certificate, DER exactly as it is in the
    /// message — only when the signature is valid. This is the certificate
    /// every check used; consumers take it and nothing else.
    pub fn signer_certificate(&self) -> Option<&[u8]> {
        self.signer_der.as_deref().filter(|_| self.valid)
    }

    /// The embedded content that was verified — only when the signature is
    /// valid and the content is embedded.
    pub fn content(&self) -> Option<&[u8]> {
        self.content.as_deref().filter(|_| self.valid)
    }

    fn push(&mut self, name: &'static str, result: std::result::Result<String, String>) {
        self.checks.push(Check::new(name, result));
        self.valid = self.checks.iter().all(|c| c.ok);
    }
}

/// Verifies DER (or PEM) CMS `signed` over content with SHA-256 `digest`
/// (detached) — or over the embedded content when `digest` is `None` —
/// against trust anchors (DER CA certificates), validating the signer's
/// certificate path at `at`. See [`verify_with`].
///
/// [`Error::Usage`] when a trust anchor is not a CA certificate.
pub fn verify(
    signed: &[u8],
    digest: Option<&[u8; 32]>,
    anchors: &[Vec<u8>],
    at: SystemTime,
) -> Result<Verification> {
    let anchors = TrustAnchors::from_der(anchors, "trust anchor")?;
    verify_with(signed, digest, &anchors, &VerifyOptions::at(at))
}

/// Verifies DER (or PEM) CMS `signed` over content with SHA-256 `digest`
/// (detached) — or over the embedded content when `digest` is `None`. ECDSA
/// signatures may be DER (standard) or raw `r || s`. Signatures `openssl
/// cms -sign -md sha256` makes verify too; without a signing-certificate-v2
/// attribute the signature is reported as not CAdES-BES (a failure with
/// [`VerifyOptions::cades`]). The signer's certificate is validated for
/// document signing ([`Purpose::Sign`]) at [`VerifyOptions::at`].
///
/// `Err` ([`Error::Verification`]) when `signed` is not a CMS `SignedData`
/// at all (garbage, truncated); otherwise each check is in the
/// [`Verification`].
pub fn verify_with(
    signed: &[u8],
    digest: Option<&[u8; 32]>,
    anchors: &TrustAnchors,
    opts: &VerifyOptions,
) -> Result<Verification> {
    let der = super::cms_der(signed)?;
    let not_cms = |e: der::Error| Error::Verification(format!("not a CMS signature: {e}"));
    let content_info = ContentInfo::from_der(&der).map_err(not_cms)?;
    if content_info.content_type != rfc5911::ID_SIGNED_DATA {
        return Err(Error::Verification(format!(
            "not a CMS SignedData (content type {})",
            content_info.content_type
        )));
    }
    let signed_data: SignedData = content_info.content.decode_as().map_err(not_cms)?;

    let mut v = Verification {
        valid: false,
        signer: None,
        signing_time: None,
        validation_time: rfc3339(opts.at),
        cades_bes: false,
        path: Vec::new(),
        checks: Vec::new(),
        signer_der: None,
        content: None,
    };
    let parts = match structure(&der, &signed_data, digest) {
        Ok((parts, detail)) => {
            v.push(Check::STRUCTURE, Ok(detail));
            parts
        }
        Err(why) => {
            v.push(Check::STRUCTURE, Err(why));
            return Ok(v);
        }
    };
    v.signer = Some(parts.signer.subject());
    v.push(Check::CONTENT_DIGEST, content_digest(&parts));
    v.push(Check::SIGNATURE, signature(&parts));
    v.push(
        Check::CONTENT_TYPE,
        content_type(&parts, signed_data.encap_content_info.econtent_type),
    );
    let (time, result) = signing_time(&parts, opts.at);
    v.signing_time = time.map(rfc3339);
    v.push(Check::SIGNING_TIME, result);
    let (cades_bes, result) = signing_certificate(&parts, opts.cades);
    v.cades_bes = cades_bes;
    v.push(Check::SIGNING_CERTIFICATE, result);
    let mut pool = parts.pool.clone();
    pool.extend(opts.extra_certificates.iter().cloned());
    let path_opts = ValidationOptions {
        at: opts.at,
        purpose: Purpose::Sign,
        crls: opts.crls.clone(),
        require_crl: opts.require_crl,
    };
    let path = pki::validate(parts.signer.der(), &pool, anchors, &path_opts)?;
    v.path = path.path.clone();
    for check in path.checks {
        v.push(
            check.name,
            if check.ok {
                Ok(check.detail)
            } else {
                Err(check.detail)
            },
        );
    }
    v.signer_der = Some(parts.signer.der().to_vec());
    v.content = parts.embedded;
    Ok(v)
}

/// The single value of the signed attribute `oid`: `Ok(None)` when absent,
/// `Err` when repeated or with several values.
fn single<'a>(
    parts: &'a Parts<'_>,
    oid: ObjectIdentifier,
) -> std::result::Result<Option<&'a Any>, String> {
    let mut found = parts.attrs.iter().filter(|a| a.oid == oid);
    let (Some(attr), None) = (found.next(), found.next()) else {
        return match parts.attrs.iter().any(|a| a.oid == oid) {
            true => Err("the attribute appears more than once".into()),
            false => Ok(None),
        };
    };
    match attr.values.as_slice() {
        [value] => Ok(Some(value)),
        values => Err(format!(
            "the attribute has {} values, expected one",
            values.len()
        )),
    }
}

fn content_digest(parts: &Parts<'_>) -> std::result::Result<String, String> {
    let value = single(parts, rfc5911::ID_MESSAGE_DIGEST)?.ok_or("no message-digest attribute")?;
    let signed: OctetString = value
        .decode_as()
        .map_err(|e| format!("malformed message-digest: {e}"))?;
    let actual = hex::encode(parts.content_digest);
    if parts
        .embedded_digest
        .is_some_and(|e| e != parts.content_digest)
    {
        return Err("the content embedded in the signature is not the content given".into());
    }
    if signed.as_bytes() == parts.content_digest {
        Ok(format!(
            "SHA-256 {actual} matches the message-digest attribute"
        ))
    } else {
        Err(format!(
            "the content's SHA-256 is {actual}, but the signature was made over {}: \
             the content was changed or is not the one signed",
            hex::encode(signed.as_bytes())
        ))
    }
}

fn signature(parts: &Parts<'_>) -> std::result::Result<String, String> {
    let sig = parts.info.signature.as_bytes();
    let encoding = if Signature::from_der(sig).is_ok() {
        "DER"
    } else {
        "raw r || s"
    };
    if verify_ecdsa_p256_sha256(
        parts.signer.public_key(),
        &sha256(&parts.signed_attrs_der),
        sig,
    ) {
        Ok(format!(
            "ECDSA P-256 ({encoding}) over the signed attributes verifies with the signer's key"
        ))
    } else {
        Err(
            "the ECDSA signature over the signed attributes does not verify with the signer's \
             key: the signed attributes were changed or the signature is not by this key"
                .into(),
        )
    }
}

fn content_type(
    parts: &Parts<'_>,
    econtent_type: ObjectIdentifier,
) -> std::result::Result<String, String> {
    let value = single(parts, rfc5911::ID_CONTENT_TYPE)?.ok_or("no content-type attribute")?;
    let oid: ObjectIdentifier = value
        .decode_as()
        .map_err(|e| format!("malformed content-type: {e}"))?;
    if oid == econtent_type {
        let name = if oid == rfc5911::ID_DATA {
            "id-data".to_owned()
        } else {
            oid.to_string()
        };
        Ok(format!("{name}, as the content"))
    } else {
        Err(format!("{oid}, but the content is {econtent_type}"))
    }
}

fn signing_time(
    parts: &Parts<'_>,
    at: SystemTime,
) -> (Option<SystemTime>, std::result::Result<String, String>) {
    let value = match single(parts, rfc5911::ID_SIGNING_TIME) {
        Ok(Some(v)) => v,
        Ok(None) => return (None, Ok("absent (the signer claims no time)".to_owned())),
        Err(e) => return (None, Err(e)),
    };
    let time = match value.decode_as::<Time>() {
        Ok(t) => t,
        Err(e) => return (None, Err(format!("malformed signing-time: {e}"))),
    };
    let claimed = time.to_system_time();
    if claimed > at + SKEW {
        let why = format!(
            "{time} is after the validation time {}: the signature claims to be made later",
            rfc3339(at)
        );
        return (Some(claimed), Err(why));
    }
    (
        Some(claimed),
        Ok(format!(
            "{time}, the signer's claim: reported, not used for validity (no trusted time)"
        )),
    )
}

/// The signing-certificate-v2 check: whether the signature is CAdES-BES,
/// and the check's result (absence fails only when `required`).
fn signing_certificate(
    parts: &Parts<'_>,
    required: bool,
) -> (bool, std::result::Result<String, String>) {
    match single(parts, ID_AA_SIGNING_CERTIFICATE_V2) {
        Err(e) => (false, Err(e)),
        Ok(Some(value)) => {
            let result = ess::check(value, parts.signer.der(), parts.signer.parsed())
                .map(|d| format!("{d}: CAdES-BES"));
            (result.is_ok(), result)
        }
        Ok(None) => {
            let v1 = parts
                .attrs
                .iter()
                .any(|a| a.oid == ID_AA_SIGNING_CERTIFICATE);
            let mut why = "absent: the signature is not CAdES-BES (nothing binds it to the \
                           signer's certificate)"
                .to_owned();
            if v1 {
                why.push_str("; it has the SHA-1 signing-certificate (v1), which is not checked");
            }
            if required {
                (false, Err(format!("{why}, and --cades requires it")))
            } else {
                (false, Ok(why))
            }
        }
    }
}
