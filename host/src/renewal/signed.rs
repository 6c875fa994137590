//! A signed application as the certification centre receives it: the CMS
//! signature verified with [`crate::cms::verify`] (the signer's certificate
//! path valid at the review time), then the embedded body and the signer's
//! certificate that the verification validated — nothing else from the
//! message — reviewed.

use super::body::ApplicationBody;
use super::review::{Review, review_body};
use super::rules::{Refusal, Rule};
use super::time::{self, format};
use crate::error::Result;
use crate::x509::Revocation;

/// Reviews a signed application (DER or PEM CMS with the body embedded)
/// against the trust `anchors` (DER) at `now`: the signature (the signer's
/// certificate path valid at `now`, and the certificate not among the CA's
/// `revoked` certificates by then), then [`review_body`] with the validated
/// certificate. `Err` only for a broken trust anchor or register entry.
pub fn review_signed(
    signed: &[u8],
    anchors: &[Vec<u8>],
    revoked: &[Revocation],
    now: i64,
) -> Result<Review> {
    let mut review = Review::default();
    let refuse = |why: String| Refusal::new(Rule::SignedWithCurrentKey, why);
    let message = if signed.starts_with(b"-----BEGIN") {
        match der::pem::decode_vec(signed) {
            Ok((_, der)) => der,
            Err(e) => {
                review.fail("signature", refuse(format!("not a PEM CMS message: {e}")));
                return Ok(review);
            }
        }
    } else {
        signed.to_vec()
    };
    let verification = match crate::cms::verify(&message, None, anchors, time::to_system_time(now))
    {
        Ok(v) => v,
        Err(crate::Error::Certificate(e)) => return Err(crate::Error::Certificate(e)),
        Err(e) => {
            review.fail("signature", refuse(e.to_string()));
            return Ok(review);
        }
    };
    review.signer = verification.signer.clone();
    if let Some(c) = verification.checks.iter().find(|c| !c.ok) {
        let reason = format!("the signature is not valid: {}: {}", c.name, c.detail);
        // The signer's certificate is checked at the review: once it has
        // expired, online renewal is closed (a CAdES-BES signature carries
        // no trusted time that could show it was made earlier).
        let refusal = if c.name == crate::cms::Check::VALIDITY && c.detail.contains("expired") {
            Refusal::new(
                Rule::CertificateActive,
                format!(
                    "{reason}; an expired certificate cannot be renewed online, renewal needs \
                     a visit in person to a certification centre"
                ),
            )
        } else {
            refuse(reason)
        };
        review.fail("signature", refusal);
        return Ok(review);
    }
    let signing_time = match verification.signing_time.as_deref().map(time::parse) {
        Some(Ok(t)) => t,
        Some(Err(e)) => {
            review.fail("signature", refuse(e));
            return Ok(review);
        }
        None => {
            review.fail(
                "signature",
                refuse("the signature has no signing time".into()),
            );
            return Ok(review);
        }
    };
    review.signing_time = Some(signing_time);
    review.pass(
        "signature",
        format!(
            "valid ({} checks), signed at {} by {}",
            verification.checks.len(),
            format(signing_time),
            verification.signer.as_deref().unwrap_or("?"),
        ),
        Some(Rule::SignedWithCurrentKey),
    );
    if let Some(signer) = verification.signer_certificate()
        && let Some(why) = revocation(signer, revoked, now)?
    {
        review.fail("signature", refuse(why));
        return Ok(review);
    }
    let (Some(content), Some(signer)) = (verification.content(), verification.signer_certificate())
    else {
        review.fail(
            "body",
            refuse(
                "the application is detached: its body must be embedded in the signature".into(),
            ),
        );
        return Ok(review);
    };
    match ApplicationBody::parse(content) {
        Ok(body) => review_body(&mut review, body, signer, signing_time, now),
        Err(e) => review.fail("body", refuse(e)),
    }
    Ok(review)
}

/// Why the validated `signer` certificate is revoked at `now`, by the CA's
/// register; `None` when it is not.
fn revocation(signer: &[u8], revoked: &[Revocation], now: i64) -> Result<Option<String>> {
    let cert = crate::cert::parse(signer)?;
    let serial = cert.tbs_certificate().serial_number().as_bytes();
    for r in revoked {
        if r.serial_bytes()? == serial {
            let at = time::from_system_time(r.revoked_at_time()?.to_system_time());
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
