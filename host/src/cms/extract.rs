//! Taking apart a CMS message as received: its embedded content and the
//! certificate of its signer (the certification centre reads applications
//! this way after `verify` has checked them).

use der::asn1::Any;
use der::{Decode, Encode, Reader, SliceReader, Tag, TagNumber, Tagged};
use x509_cert::ext::pkix::SubjectKeyIdentifier;

/// The elements of a constructed value, in order.
pub(super) fn elements(value: &[u8]) -> der::Result<Vec<Any>> {
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
