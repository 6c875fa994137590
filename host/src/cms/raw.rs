//! The bytes signatures are made over, taken from the message as it was
//! received (decoding and encoding again could reorder a `SET OF` that a
//! foreign signer did not sort, and the signature would no longer match).

use der::asn1::Any;
use der::{Decode, Encode, Tag, TagNumber, Tagged};

use super::extract::elements;

fn missing(what: &str) -> String {
    format!("the message has no {what}")
}

/// The DER `SET OF` signed attributes of the (single) signer of a DER
/// `ContentInfo` holding `SignedData` — the `[0] IMPLICIT` tag replaced by
/// the `SET` tag, as RFC 5652 §5.4 says the signature covers them.
pub(super) fn signed_attributes(content_info: &[u8]) -> Result<Vec<u8>, String> {
    let asn1 = |e: der::Error| e.to_string();
    let ci = Any::from_der(content_info).map_err(asn1)?;
    let ci = elements(ci.value()).map_err(asn1)?;
    let explicit = ci.get(1).ok_or_else(|| missing("content"))?;
    let signed_data = Any::from_der(explicit.value()).map_err(asn1)?;
    let fields = elements(signed_data.value()).map_err(asn1)?;
    let signer_infos = fields.last().ok_or_else(|| missing("signer infos"))?;
    let infos = elements(signer_infos.value()).map_err(asn1)?;
    let [info] = infos.as_slice() else {
        return Err(format!("{} signer infos, expected one", infos.len()));
    };
    let attrs_tag = Tag::ContextSpecific {
        constructed: true,
        number: TagNumber(0),
    };
    let attrs = elements(info.value())
        .map_err(asn1)?
        .into_iter()
        .find(|e| e.tag() == attrs_tag)
        .ok_or_else(|| missing("signed attributes"))?;
    Any::new(Tag::Set, attrs.value())
        .and_then(|set| set.to_der())
        .map_err(asn1)
}

/// The `tbsCertificate` of a DER certificate, as signed by its issuer.
pub(super) fn tbs_certificate(cert: &[u8]) -> Result<Vec<u8>, String> {
    let asn1 = |e: der::Error| e.to_string();
    let outer = Any::from_der(cert).map_err(asn1)?;
    let fields = elements(outer.value()).map_err(asn1)?;
    fields
        .first()
        .ok_or_else(|| missing("tbsCertificate"))?
        .to_der()
        .map_err(asn1)
}
