//! Verifying a CMS signature, check by check.

use std::time::{Duration, SystemTime};

use ::cms::content_info::ContentInfo;
use ::cms::signed_data::SignedData;
use der::Decode;
use der::asn1::{Any, ObjectIdentifier, OctetString};
use p256::ecdsa::Signature;
use serde::Serialize;
use x509_cert::time::Time;

use super::chain::{self, Cert};
use super::structure::{Parts, structure};
use super::{ID_AA_SIGNING_CERTIFICATE_V2, ess, sha256, verify_ecdsa_p256_sha256};
use crate::error::{Error, Result};
use der::oid::db::rfc5911;

/// How far a signing time may lie in the future (clock skew).
const SKEW: Duration = Duration::from_secs(300);

/// One check of a verification.
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
    /// Parses as one `SignedData` with one signer, SHA-256, ECDSA with
    /// SHA-256, signed attributes, the signer's P-256 certificate inside.
    pub const STRUCTURE: &'static str = "structure";
    /// The message-digest attribute is the SHA-256 of the content.
    pub const CONTENT_DIGEST: &'static str = "content digest";
    /// The ECDSA signature over the signed attributes verifies with the
    /// signer's certificate.
    pub const SIGNATURE: &'static str = "signature";
    /// The content-type attribute matches the content.
    pub const CONTENT_TYPE: &'static str = "content-type";
    /// The signing-time attribute is well formed and not in the future.
    pub const SIGNING_TIME: &'static str = "signing-time";
    /// The signing-certificate-v2 hash matches the signer's certificate
    /// ("absent" passes).
    pub const SIGNING_CERTIFICATE: &'static str = "signing-certificate-v2";
    /// The signer's certificate chains to a trust anchor.
    pub const CHAIN: &'static str = "chain";
    /// Every certificate of the chain was valid at the signing time.
    pub const VALIDITY: &'static str = "validity at signing time";
    /// The signer's certificate allows nonRepudiation.
    pub const KEY_USAGE: &'static str = "key usage";
}

/// Result of a verification: what was checked and what failed.
#[derive(Clone, Debug, Serialize)]
pub struct Verification {
    /// Every check passed.
    pub valid: bool,
    /// The signer's certificate subject (RFC 4514), once found.
    pub signer: Option<String>,
    /// The signing-time attribute (RFC 3339), if any.
    pub signing_time: Option<String>,
    /// The checks, in order: structure, content digest, signature,
    /// content-type, signing-time, signing-certificate-v2, chain, validity
    /// at signing time, key usage. When the structure fails nothing else
    /// is checked.
    pub checks: Vec<Check>,
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

    fn push(&mut self, name: &'static str, result: std::result::Result<String, String>) {
        let (ok, detail) = match result {
            Ok(d) => (true, d),
            Err(d) => (false, d),
        };
        self.checks.push(Check { name, ok, detail });
        self.valid = self.checks.iter().all(|c| c.ok);
    }
}

/// Verifies DER (or PEM) CMS `signed` over content with SHA-256 `digest`
/// (detached) — or over the embedded content when `digest` is `None` —
/// against trust anchors (DER certificates), at `now` when the signature
/// has no signing time. ECDSA signatures may be DER (standard) or raw
/// `r || s`. Signatures `openssl cms -sign -md sha256` makes verify too;
/// without a signing-certificate-v2 attribute that check reports "absent".
///
/// `Err` ([`Error::Verification`]) when `signed` is not a CMS `SignedData`
/// at all (garbage, truncated), [`Error::Certificate`] for a broken trust
/// anchor; otherwise each check is in the [`Verification`].
pub fn verify(
    signed: &[u8],
    digest: Option<&[u8; 32]>,
    anchors: &[Vec<u8>],
    now: SystemTime,
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
    let anchors = anchors
        .iter()
        .map(|a| Cert::from_der(a))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::Certificate(format!("a trust anchor is not a certificate: {e}")))?;

    let mut v = Verification {
        valid: false,
        signer: None,
        signing_time: None,
        checks: Vec::new(),
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
    let (time, result) = signing_time(&parts, now);
    v.signing_time = time.map(chain::rfc3339);
    v.push(Check::SIGNING_TIME, result);
    v.push(Check::SIGNING_CERTIFICATE, signing_certificate(&parts));
    let path = chain::build_path(&parts.signer, &parts.pool, &anchors);
    v.push(
        Check::CHAIN,
        match &path {
            Ok(p) => Ok(p.iter().map(Cert::subject).collect::<Vec<_>>().join(" <- ")),
            Err(why) => Err(why.clone()),
        },
    );
    let path = path.unwrap_or_else(|_| vec![parts.signer.clone()]);
    v.push(
        Check::VALIDITY,
        chain::check_validity(&path, time.unwrap_or(now)),
    );
    v.push(Check::KEY_USAGE, chain::check_key_usage(&parts.signer));
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
    now: SystemTime,
) -> (Option<SystemTime>, std::result::Result<String, String>) {
    let value = match single(parts, rfc5911::ID_SIGNING_TIME) {
        Ok(Some(v)) => v,
        Ok(None) => {
            let why = "absent; validity is checked at the time of verification".to_owned();
            return (None, Ok(why));
        }
        Err(e) => return (None, Err(e)),
    };
    let time = match value.decode_as::<Time>() {
        Ok(t) => t,
        Err(e) => return (None, Err(format!("malformed signing-time: {e}"))),
    };
    let at = time.to_system_time();
    if at > now + SKEW {
        let why = format!("{time} is in the future (now {})", chain::rfc3339(now));
        return (Some(at), Err(why));
    }
    (Some(at), Ok(format!("{time} (the signer's clock)")))
}

fn signing_certificate(parts: &Parts<'_>) -> std::result::Result<String, String> {
    match single(parts, ID_AA_SIGNING_CERTIFICATE_V2)? {
        None => Ok("absent".into()),
        Some(value) => ess::check(value, &parts.signer.der, &parts.signer.cert),
    }
}
