//! A signed application as the certification centre receives it: the CMS
//! signature verified with [`crate::cms::verify`], then the embedded body
//! and the signer's certificate taken out of the message and reviewed.

use der::asn1::Any;
use der::{Decode, Encode, Reader, SliceReader, Tag, TagNumber, Tagged};
use x509_cert::ext::pkix::SubjectKeyIdentifier;

use super::body::ApplicationBody;
use super::review::{Review, review_body};
use super::rules::{Refusal, Rule};
use super::time::{self, format};
use crate::error::Result;

/// The elements of a constructed value, in order.
fn elements(value: &[u8]) -> der::Result<Vec<Any>> {
    let mut reader = SliceReader::new(value)?;
    let mut out = Vec::new();
    while !reader.is_finished() {
        out.push(Any::decode(&mut reader)?);
    }
    Ok(out)
}

const fn context(number: u32) -> Tag {
    Tag::ContextSpecific {
        constructed: true,
        number: TagNumber(number),
    }
}

/// The embedded content and the signer's certificate (DER) of a CMS
/// `ContentInfo` holding `SignedData` with one signer.
pub fn content_and_signer(message: &[u8]) -> std::result::Result<(Vec<u8>, Vec<u8>), String> {
    let asn1 = |e: der::Error| format!("not a CMS SignedData: {e}");
    let missing = |what: &str| format!("the signature has no {what}");
    let ci = elements(Any::from_der(message).map_err(asn1)?.value()).map_err(asn1)?;
    let explicit = ci.get(1).ok_or_else(|| missing("content"))?;
    let sd = Any::from_der(explicit.value()).map_err(asn1)?;
    let fields = elements(sd.value()).map_err(asn1)?;
    let encap = elements(
        fields
            .get(2)
            .ok_or_else(|| missing("content info"))?
            .value(),
    )
    .map_err(asn1)?;
    let econtent = encap
        .get(1)
        .filter(|e| e.tag() == context(0))
        .ok_or_else(|| missing("embedded content (it is detached)"))?;
    let octets = Any::from_der(econtent.value()).map_err(asn1)?;
    if octets.tag() != Tag::OctetString {
        return Err(format!("embedded content of type {}", octets.tag()));
    }
    let certificates: Vec<Vec<u8>> = match fields.iter().find(|f| f.tag() == context(0)) {
        Some(set) => elements(set.value())
            .map_err(asn1)?
            .into_iter()
            .filter(|c| c.tag() == Tag::Sequence)
            .map(|c| c.to_der().map_err(asn1))
            .collect::<std::result::Result<_, _>>()?,
        None => Vec::new(),
    };
    let infos = elements(fields.last().ok_or_else(|| missing("signer"))?.value()).map_err(asn1)?;
    let [info] = infos.as_slice() else {
        return Err(format!("{} signers, expected one", infos.len()));
    };
    let sid = elements(info.value())
        .map_err(asn1)?
        .into_iter()
        .nth(1)
        .ok_or_else(|| missing("signer identifier"))?;
    let signer = certificates
        .into_iter()
        .find(|c| identifies(&sid, c))
        .ok_or_else(|| missing("certificate of its signer"))?;
    Ok((octets.value().to_vec(), signer))
}

/// Whether the signer identifier `sid` names the certificate `der`.
fn identifies(sid: &Any, der: &[u8]) -> bool {
    let Ok(cert) = x509_cert::Certificate::from_der(der) else {
        return false;
    };
    let tbs = cert.tbs_certificate();
    if sid.tag() == Tag::Sequence {
        let Ok(parts) = elements(sid.value()) else {
            return false;
        };
        let (Some(issuer), Some(serial)) = (parts.first(), parts.get(1)) else {
            return false;
        };
        return tbs.issuer().to_der().ok() == issuer.to_der().ok()
            && serial.value() == tbs.serial_number().as_bytes();
    }
    let ski_tag = Tag::ContextSpecific {
        constructed: false,
        number: TagNumber(0),
    };
    sid.tag() == ski_tag
        && matches!(
            tbs.get_extension::<SubjectKeyIdentifier>(),
            Ok(Some((_, own))) if own.0.as_bytes() == sid.value()
        )
}

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
