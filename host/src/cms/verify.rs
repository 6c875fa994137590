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
use super::token::{TimeStampInfo, examine, tokens_of};
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
    /// A signature time-stamp token (id-aa-signatureTimeStampToken,
    /// CAdES-T): its CMS signature verifies with the TSA certificate in it,
    /// its content is a `TSTInfo` (id-ct-TSTInfo) whose imprint is the
    /// SHA-256 of this signature value, and its genTime is not after the
    /// validation time. One per token.
    pub const TIMESTAMP: &'static str = "signature time-stamp";
    /// The TSA certificate of a token that passed [`Check::TIMESTAMP`] has
    /// a valid path to the TSA trust anchors at the validation time, for
    /// time stamping ([`Purpose::TimeStamp`]). One per token.
    pub const TIMESTAMP_AUTHORITY: &'static str = "time-stamp authority";
}

/// How a signature is verified.
#[derive(Clone, Debug)]
pub struct VerifyOptions {
    /// The validation time: every certificate of the path must be valid
    /// then. A CAdES-BES signature carries no trusted time, so this is now
    /// unless the user asks about another time; the signing-time attribute
    /// is reported, never used. With a signature time-stamp token that
    /// passes its checks, the TSA's path is validated at this time and the
    /// signer's at the token's genTime.
    pub at: SystemTime,
    /// Require the signing-certificate-v2 attribute (CAdES-BES).
    pub cades: bool,
    /// CRLs to check every certificate of the path against.
    pub crls: Vec<Crl>,
    /// Every certificate of the path needs a CRL from its issuer.
    pub require_crl: bool,
    /// More certificates (DER) to build the path with, besides those in
    /// the message (the TSA's path too).
    pub extra_certificates: Vec<Vec<u8>>,
    /// The trust anchors of time-stamp tokens' TSA certificates; `None`:
    /// the signer's anchors.
    pub tsa_anchors: Option<TrustAnchors>,
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
            tsa_anchors: None,
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
    /// The time the signer's certificate path was validated at (RFC 3339):
    /// the time asked for, or the genTime of the signature time-stamp
    /// token when there is one and it passed its checks (the earliest, with
    /// several).
    pub validation_time: String,
    /// The signature time-stamp token (CAdES-T) whose genTime the signer's
    /// path was validated at — or, when a token fails, the first that
    /// could be read, with `valid` false. `None` without a token.
    pub timestamp: Option<TimestampReport>,
    /// Whether the signature is CAdES-BES: a signing-certificate-v2
    /// attribute binds it to the signer's certificate.
    pub cades_bes: bool,
    /// The certificate path, end entity first (subjects).
    pub path: Vec<String>,
    /// The checks, in order: structure, content digest, signature,
    /// content-type, signing-time, signing-certificate-v2, for each
    /// signature time-stamp token its two checks ([`Check::TIMESTAMP`],
    /// [`Check::TIMESTAMP_AUTHORITY`]), then the path checks of
    /// [`crate::pki`]. When the structure fails nothing else is checked.
    pub checks: Vec<Check>,
    #[serde(skip)]
    signer_der: Option<Vec<u8>>,
    #[serde(skip)]
    content: Option<Vec<u8>>,
}

/// A signature time-stamp token as verified.
#[derive(Clone, Debug, Serialize)]
pub struct TimestampReport {
    /// What the token says: genTime, TSA, serial, policy, imprint (and,
    /// not serialised, the token and its genTime as a time).
    #[serde(flatten)]
    pub info: TimeStampInfo,
    /// The TSA's certificate path, end entity first (subjects).
    pub tsa_path: Vec<String>,
    /// The time the TSA's path was validated at (RFC 3339).
    pub tsa_validation_time: String,
    /// The token passed its checks and its TSA's path is valid: its
    /// genTime is trusted.
    pub valid: bool,
}

impl TimestampReport {
    /// genTime, with any fraction of a second the token has.
    pub fn gen_time(&self) -> SystemTime {
        self.info.time
    }

    /// The token (DER `ContentInfo`).
    pub fn token(&self) -> &[u8] {
        &self.info.token
    }
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
        timestamp: None,
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
    let stamps = time_stamps(&parts, anchors, opts);
    // The signature existed at the earliest genTime of its tokens, if every
    // token is good; a bad token is not trusted (and fails the verdict).
    let trusted = match stamps.is_empty() || stamps.iter().any(|s| !s.report_valid()) {
        true => None,
        false => stamps
            .iter()
            .filter_map(|s| s.report.as_ref())
            .min_by_key(|r| r.info.time),
    };
    let chain_at = trusted.map_or(opts.at, |r| r.info.time);
    let (time, result) = signing_time(&parts, chain_at, trusted.is_some());
    v.signing_time = time.map(rfc3339);
    v.push(Check::SIGNING_TIME, result);
    let (cades_bes, result) = signing_certificate(&parts, opts.cades);
    v.cades_bes = cades_bes;
    v.push(Check::SIGNING_CERTIFICATE, result);
    v.timestamp = trusted
        .cloned()
        .or_else(|| stamps.iter().find_map(|s| s.report.clone()));
    for stamp in stamps {
        for (name, result) in stamp.checks {
            v.push(name, result);
        }
    }
    v.validation_time = rfc3339(chain_at);
    let mut pool = parts.pool.clone();
    pool.extend(opts.extra_certificates.iter().cloned());
    let path_opts = ValidationOptions {
        at: chain_at,
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

pub(super) fn content_digest(parts: &Parts<'_>) -> std::result::Result<String, String> {
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

pub(super) fn signature(parts: &Parts<'_>) -> std::result::Result<String, String> {
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

pub(super) fn content_type(
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

/// One signature time-stamp token: its checks and what it says.
struct Stamp {
    checks: Vec<(&'static str, std::result::Result<String, String>)>,
    report: Option<TimestampReport>,
}

impl Stamp {
    fn report_valid(&self) -> bool {
        self.report.as_ref().is_some_and(|r| r.valid)
    }
}

/// The signature time-stamp tokens of the signer: each checked
/// ([`Check::TIMESTAMP`]) and, when good, its TSA's path validated at
/// `opts.at` for time stamping ([`Check::TIMESTAMP_AUTHORITY`]).
fn time_stamps(parts: &Parts<'_>, anchors: &TrustAnchors, opts: &VerifyOptions) -> Vec<Stamp> {
    let imprint = sha256(parts.info.signature.as_bytes());
    let tsa_anchors = opts.tsa_anchors.as_ref().unwrap_or(anchors);
    let mut out = Vec::new();
    for token in tokens_of(parts.info) {
        let examined = match examine(&token, &imprint) {
            Ok(e) => e,
            Err(why) => {
                let report = super::token::read(&token).ok().map(|info| TimestampReport {
                    info,
                    tsa_path: Vec::new(),
                    tsa_validation_time: rfc3339(opts.at),
                    valid: false,
                });
                out.push(Stamp {
                    checks: vec![(Check::TIMESTAMP, Err(why))],
                    report,
                });
                continue;
            }
        };
        let mut checks = Vec::new();
        let gen_time = examined.info.time;
        let in_time = gen_time <= opts.at + SKEW;
        checks.push((
            Check::TIMESTAMP,
            if in_time {
                Ok(examined.detail.clone())
            } else {
                Err(format!(
                    "genTime {} is after the validation time {}: the token claims a time \
                     that has not come",
                    examined.info.gen_time,
                    rfc3339(opts.at)
                ))
            },
        ));
        let mut pool = examined.pool.clone();
        pool.extend(opts.extra_certificates.iter().cloned());
        let path_opts = ValidationOptions {
            at: opts.at,
            purpose: Purpose::TimeStamp,
            crls: opts.crls.clone(),
            require_crl: opts.require_crl,
        };
        let (tsa_path, tsa_ok) =
            match pki::validate(&examined.tsa_cert, &pool, tsa_anchors, &path_opts) {
                Ok(path) => {
                    let result = match path.first_failure() {
                        None => Ok(format!(
                            "{} (trust anchor), valid at {} for time stamping",
                            path.path.join(" <- "),
                            rfc3339(opts.at)
                        )),
                        Some(c) => Err(format!(
                            "the TSA's certificate {}: {} failed: {}",
                            examined.info.tsa, c.name, c.detail
                        )),
                    };
                    checks.push((Check::TIMESTAMP_AUTHORITY, result));
                    (path.path, path.valid)
                }
                Err(e) => {
                    checks.push((Check::TIMESTAMP_AUTHORITY, Err(e.to_string())));
                    (Vec::new(), false)
                }
            };
        out.push(Stamp {
            checks,
            report: Some(TimestampReport {
                info: examined.info,
                tsa_path,
                tsa_validation_time: rfc3339(opts.at),
                valid: in_time && tsa_ok,
            }),
        });
    }
    out
}

/// The signing-time check against `at`: the validation time, or the
/// trusted genTime of a time-stamp token (`stamped`).
fn signing_time(
    parts: &Parts<'_>,
    at: SystemTime,
    stamped: bool,
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
        let why = match stamped {
            true => format!(
                "{time} is after the time-stamp's genTime {}: the signature claims to be made \
                 after it was time-stamped",
                rfc3339(at)
            ),
            false => format!(
                "{time} is after the validation time {}: the signature claims to be made later",
                rfc3339(at)
            ),
        };
        return (Some(claimed), Err(why));
    }
    let detail = match stamped {
        true => format!(
            "{time}, the signer's claim: not after the time-stamp's genTime {}; the genTime is \
             the trusted time",
            rfc3339(at)
        ),
        false => {
            format!("{time}, the signer's claim: reported, not used for validity (no trusted time)")
        }
    };
    (Some(claimed), Ok(detail))
}

/// The signing-certificate-v2 check: whether the signature is CAdES-BES,
/// and the check's result (absence fails only when `required`).
pub(super) fn signing_certificate(
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
