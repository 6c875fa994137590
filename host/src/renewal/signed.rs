//! A signed document as the certification centre receives it (an
//! application package or the head's decision): the CMS signature verified
//! with [`crate::cms::verify_with`] — the signer's certificate path valid
//! when the document was sent — and then only what the verification
//! vouches for: the embedded content and the validated signer certificate.
//!
//! When it was sent: the genTime of a valid signature time-stamp token
//! (CAdES-T) when there is one, otherwise the signing-time attribute (the
//! signer's signed claim). "Can be sent only while active" is about
//! sending: the centre receiving a document after the certificate expired
//! does not make it invalid.

use crate::cms::{Check, VerifyOptions, verify_with};
use crate::error::Result;
use crate::pki::TrustAnchors;
use crate::x509::Revocation;

use super::baku::format_both;
use super::rules::{Refusal, Rule};
use super::time::{self, from_system_time};

/// A document whose signature the centre verified.
#[derive(Clone, Debug)]
pub struct Verified {
    /// The embedded content, as signed.
    pub content: Vec<u8>,
    /// The validated signer certificate, DER as received.
    pub signer_der: Vec<u8>,
    /// The signer's subject (RFC 4514).
    pub signer: String,
    /// When it was sent (Unix seconds): the time-stamp's genTime, or the
    /// signing time.
    pub sent: i64,
    /// The signing-time attribute (Unix seconds).
    pub signing_time: i64,
    /// Whether `sent` comes from a time-stamp token.
    pub time_stamped: bool,
    /// How many checks the verification made.
    pub checks: usize,
}

/// Verifies `signed` (DER or PEM CMS, content embedded) against `anchors`,
/// at the time it was sent, and the signer's certificate against the CA's
/// register of revocations at `now`. `Ok(Err(refusal))` says why it is
/// refused (by `rule` unless another rule fits); `Err` only for a broken
/// register entry.
pub fn verify_document(
    signed: &[u8],
    anchors: &TrustAnchors,
    revoked: &[Revocation],
    now: i64,
    rule: Rule,
) -> Result<std::result::Result<Verified, Refusal>> {
    let refuse = |why: String| Refusal::new(rule, why);
    let at_now = VerifyOptions::at(time::to_system_time(now));
    let first = match verify_with(signed, None, anchors, &at_now) {
        Ok(v) => v,
        Err(e) => return Ok(Err(refuse(e.to_string()))),
    };
    if first.check(Check::STRUCTURE).is_some_and(|c| !c.ok) {
        let why = first
            .first_failure()
            .map_or_else(String::new, |c| c.detail.clone());
        return Ok(Err(refuse(format!("the signature is not valid: {why}"))));
    }
    let signing_time = match first.signing_time.as_deref().map(time::parse) {
        Some(Ok(t)) => t,
        Some(Err(e)) => return Ok(Err(refuse(e))),
        None => return Ok(Err(refuse("the signature has no signing time".into()))),
    };
    let stamped = first
        .timestamp
        .as_ref()
        .filter(|t| t.valid)
        .map(|t| from_system_time(t.gen_time()));
    let (verification, sent) = match stamped {
        Some(gen_time) => (first, gen_time),
        None => {
            if signing_time > now {
                return Ok(Err(refuse(format!(
                    "signed at {}, after the review time {}",
                    format_both(signing_time),
                    format_both(now)
                ))));
            }
            let opts = VerifyOptions::at(time::to_system_time(signing_time));
            match verify_with(signed, None, anchors, &opts) {
                Ok(v) => (v, signing_time),
                Err(e) => return Ok(Err(refuse(e.to_string()))),
            }
        }
    };
    if let Some(c) = verification.first_failure() {
        let reason = format!("the signature is not valid: {}: {}", c.name, c.detail);
        let refusal = if c.name == Check::VALIDITY && c.detail.contains("expired") {
            Refusal::new(
                Rule::CertificateActive,
                format!(
                    "{reason}; it was signed after the certificate expired, and an expired \
                     certificate cannot be renewed online: renewal needs a visit in person"
                ),
            )
        } else {
            refuse(reason)
        };
        return Ok(Err(refusal));
    }
    let (Some(content), Some(signer_der)) =
        (verification.content(), verification.signer_certificate())
    else {
        return Ok(Err(refuse(
            "the document is detached: its content must be embedded in the signature".into(),
        )));
    };
    if let Some(why) = revocation(signer_der, revoked, now)? {
        return Ok(Err(refuse(why)));
    }
    Ok(Ok(Verified {
        content: content.to_vec(),
        signer_der: signer_der.to_vec(),
        signer: verification.signer.clone().unwrap_or_default(),
        sent,
        signing_time,
        time_stamped: stamped.is_some(),
        checks: verification.checks.len(),
    }))
}

/// Why the validated `signer` certificate is revoked at `now`, by the CA's
/// register; `None` when it is not.
fn revocation(signer: &[u8], revoked: &[Revocation], now: i64) -> Result<Option<String>> {
    let cert = crate::cert::parse(signer)?;
    let serial = cert.tbs_certificate().serial_number().as_bytes();
    for r in revoked {
        if r.serial_bytes()? == serial {
            let at = from_system_time(r.revoked_at_time()?.to_system_time());
            if at <= now {
                return Ok(Some(format!(
                    "the signer's certificate (serial {}) was revoked at {}, reason {}: it is not \
                     the Asan İmza in force",
                    r.serial,
                    r.revoked_at,
                    r.reason.name()
                )));
            }
        }
    }
    Ok(None)
}
