//! A signed application as the certification centre receives it: the CMS
//! signature verified with [`crate::cms::verify`], then the embedded body
//! and the signer's certificate taken out of the message and reviewed.

use super::body::ApplicationBody;
use super::review::{Review, review_body};
use super::rules::{Refusal, Rule};
use super::time::{self, format};
use crate::cms::content_and_signer;
use crate::error::Result;

/// Reviews a signed application (DER or PEM CMS with the body embedded)
/// against the trust `anchors` (DER) at `now`: the signature, then
/// [`review_body`]. `Err` only for a broken trust anchor.
pub fn review_signed(signed: &[u8], anchors: &[Vec<u8>], now: i64) -> Result<Review> {
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
        review.fail(
            "signature",
            refuse(format!(
                "the signature is not valid: {}: {}",
                c.name, c.detail
            )),
        );
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
    let (content, signer) = match content_and_signer(&message) {
        Ok(parts) => parts,
        Err(e) => {
            review.fail("body", refuse(e));
            return Ok(review);
        }
    };
    match ApplicationBody::parse(&content) {
        Ok(body) => review_body(&mut review, body, &signer, signing_time, now),
        Err(e) => review.fail("body", refuse(e)),
    }
    Ok(review)
}
