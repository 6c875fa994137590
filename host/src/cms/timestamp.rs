//! Time-stamp tokens (RFC 3161 §2.4.2): a CMS `SignedData` whose
//! encapsulated content is the DER `TSTInfo` (content type id-ct-TSTInfo),
//! signed by the TSA's key with content-type, message-digest and
//! signing-certificate-v2 signed attributes.

use ::cms::builder::SignerInfoBuilder;
use ::cms::cert::IssuerAndSerialNumber;
use ::cms::content_info::{CmsVersion, ContentInfo};
use ::cms::signed_data::{EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfos};
use der::asn1::{Any, OctetString, SetOfVec};
use der::{Decode, Encode};
use p256::ecdsa::{DerSignature, SigningKey};
use x509_cert::builder::Builder;

use super::asn1;
use super::sign::sha256_algorithm;
use crate::error::{Error, Result};

/// `id-ct-TSTInfo` (1.2.840.113549.1.9.16.1.4).
pub const ID_CT_TST_INFO: der::asn1::ObjectIdentifier = der::oid::db::rfc3161::ID_CT_TST_INFO;

/// The time-stamp token over `tst_info` (DER `TSTInfo`), signed by `key`
/// whose certificate is `cert_der`; the certificate is included when
/// `include_certificate` (the request's certReq). Returns the DER
/// `ContentInfo`.
pub fn sign_tst_info(
    tst_info: &[u8],
    cert_der: &[u8],
    key: &SigningKey,
    include_certificate: bool,
) -> Result<Vec<u8>> {
    let cert = crate::cert::parse(cert_der)?;
    let tbs = cert.tbs_certificate();
    let sid = SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
        issuer: tbs.issuer().clone(),
        serial_number: tbs.serial_number().clone(),
    });
    let content = EncapsulatedContentInfo {
        econtent_type: ID_CT_TST_INFO,
        econtent: Some(
            Any::encode_from(&OctetString::new(tst_info.to_vec()).map_err(asn1("TSTInfo"))?)
                .map_err(asn1("TSTInfo"))?,
        ),
    };
    // The builder hashes the eContent octets (the DER TSTInfo) itself.
    let mut builder = SignerInfoBuilder::new(sid, sha256_algorithm(), &content, None)
        .map_err(|e| Error::Certificate(format!("cannot start the signer info: {e}")))?;
    builder
        .add_signed_attribute(super::signing_certificate_v2(cert_der)?)
        .map_err(|e| Error::Certificate(format!("cannot add a signed attribute: {e}")))?;
    let signer_info = builder
        .build::<_, DerSignature>(key)
        .map_err(|e| Error::Certificate(format!("cannot sign the time-stamp token: {e}")))?;
    let signed_data = SignedData {
        // RFC 5652 §5.1: version 3 for content other than id-data.
        version: CmsVersion::V3,
        digest_algorithms: SetOfVec::try_from(vec![sha256_algorithm()])
            .map_err(asn1("the digest algorithms"))?,
        encap_content_info: content.clone(),
        certificates: None,
        crls: None,
        signer_infos: SignerInfos(
            SetOfVec::try_from(vec![signer_info]).map_err(asn1("the signer infos"))?,
        ),
    };
    let mut signed_data = signed_data.to_der().map_err(asn1("the signed data"))?;
    if include_certificate {
        signed_data = super::raw::with_certificates(&signed_data, &[cert_der.to_vec()])
            .map_err(asn1("the certificate"))?;
    }
    ContentInfo {
        content_type: der::oid::db::rfc5911::ID_SIGNED_DATA,
        content: Any::from_der(&signed_data).map_err(asn1("the signed data"))?,
    }
    .to_der()
    .map_err(asn1("the token"))
}
