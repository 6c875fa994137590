//! The bytes signatures are made over and the certificates a message
//! carries, taken from the message as it was received; and certificates put
//! into a message exactly as they are. Decoding and encoding again could
//! reorder a `SET OF` that a foreign signer or CA did not sort, and the
//! signature over it would no longer match.

use std::cmp::Ordering;

use der::asn1::{Any, AnyRef};
use der::{Decode, Encode, Tag, TagNumber, Tagged};

pub(super) use crate::pki::elements_of as elements;

fn missing(what: &str) -> String {
    format!("the message has no {what}")
}

const fn context(number: u32) -> Tag {
    Tag::ContextSpecific {
        constructed: true,
        number: TagNumber(number),
    }
}

/// The fields of the `SignedData` in a DER `ContentInfo`.
fn signed_data_fields(content_info: &[u8]) -> Result<Vec<AnyRef<'_>>, String> {
    let asn1 = |e: der::Error| e.to_string();
    let ci = AnyRef::from_der(content_info).map_err(asn1)?;
    let ci = elements(ci.value()).map_err(asn1)?;
    let explicit = ci.get(1).ok_or_else(|| missing("content"))?;
    let signed_data = AnyRef::from_der(explicit.value()).map_err(asn1)?;
    elements(signed_data.value()).map_err(asn1)
}

/// The DER `SET OF` signed attributes of the (single) signer of a DER
/// `ContentInfo` holding `SignedData` — the `[0] IMPLICIT` tag replaced by
/// the `SET` tag, as RFC 5652 §5.4 says the signature covers them.
pub(super) fn signed_attributes(content_info: &[u8]) -> Result<Vec<u8>, String> {
    let asn1 = |e: der::Error| e.to_string();
    let fields = signed_data_fields(content_info)?;
    let signer_infos = fields.last().ok_or_else(|| missing("signer infos"))?;
    let infos = elements(signer_infos.value()).map_err(asn1)?;
    let [info] = infos.as_slice() else {
        return Err(format!("{} signer infos, expected one", infos.len()));
    };
    let attrs = elements(info.value())
        .map_err(asn1)?
        .into_iter()
        .find(|e| e.tag() == context(0))
        .ok_or_else(|| missing("signed attributes"))?;
    Any::new(Tag::Set, attrs.value())
        .and_then(|set| set.to_der())
        .map_err(asn1)
}

/// The certificates (the `Certificate` choices of `certificates`) of the
/// `SignedData` in a DER `ContentInfo`, each exactly as received.
pub(super) fn certificates(content_info: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let asn1 = |e: der::Error| e.to_string();
    let fields = signed_data_fields(content_info)?;
    let Some(set) = fields.iter().find(|f| f.tag() == context(0)) else {
        return Ok(Vec::new());
    };
    elements(set.value())
        .map_err(asn1)?
        .into_iter()
        .filter(|c| c.tag() == Tag::Sequence)
        .map(|c| c.to_der().map_err(asn1))
        .collect()
}

/// The order of a DER `SET OF`: encodings compared as octet strings, the
/// shorter padded with zero octets (X.690 §11.6).
fn der_set_order(a: &[u8], b: &[u8]) -> Ordering {
    let len = a.len().max(b.len());
    let pad = |s: &[u8]| {
        s.iter()
            .copied()
            .chain(std::iter::repeat(0))
            .take(len)
            .collect::<Vec<u8>>()
    };
    pad(a).cmp(&pad(b)).then(a.len().cmp(&b.len()))
}

/// `signed_data` (DER `SignedData` without certificates) with the
/// certificates `certs` (DER, put in as they are, in DER `SET OF` order)
/// inserted after its encapsulated content info.
pub(super) fn with_certificates(signed_data: &[u8], certs: &[Vec<u8>]) -> der::Result<Vec<u8>> {
    let outer = AnyRef::from_der(signed_data)?;
    let fields = elements(outer.value())?;
    let mut sorted: Vec<&Vec<u8>> = certs.iter().collect();
    sorted.sort_by(|a, b| der_set_order(a, b));
    let set = Any::new(
        context(0),
        sorted.into_iter().flatten().copied().collect::<Vec<u8>>(),
    )?;
    let mut body = Vec::new();
    for (i, field) in fields.iter().enumerate() {
        body.extend(field.to_der()?);
        if i == 2 {
            body.extend(set.to_der()?);
        }
    }
    Any::new(Tag::Sequence, body)?.to_der()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_order_is_x690() {
        assert_eq!(der_set_order(&[1, 2], &[1, 3]), Ordering::Less);
        assert_eq!(der_set_order(&[1, 2, 0], &[1, 2]), Ordering::Greater);
        assert_eq!(der_set_order(&[1], &[1, 2]), Ordering::Less);
        assert_eq!(der_set_order(&[2], &[1, 9]), Ordering::Greater);
    }
}
