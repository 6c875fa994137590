//! Making a signature: the `cms` crate's `SignerInfoBuilder`, driven
//! directly so that the signer's own error (wrong PIN, blocked) comes back
//! unchanged, and `SignedData` assembled here.

use std::time::SystemTime;

use ::cms::builder::SignerInfoBuilder;
use ::cms::cert::IssuerAndSerialNumber;
use ::cms::content_info::{CmsVersion, ContentInfo};
use ::cms::signed_data::{EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfos};
use der::asn1::{Any, OctetString, SetOfVec};
use der::{Decode, Encode};
use p256::ecdsa::DerSignature;
use x509_cert::attr::Attribute;
use x509_cert::builder::Builder;
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_cert::time::Time;

use super::verify::{Check, verify};
use crate::error::{Error, Result};
use crate::x509::{CardSigner, DigestSigner};

/// What to put in a signature besides the signer's certificate.
#[derive(Clone, Debug)]
pub struct SignOptions {
    /// Further certificates (DER), for example the issuing CA: included so a
    /// verifier can build the chain to its trust anchor.
    pub chain: Vec<Vec<u8>>,
    /// The signing-time attribute (the signer's clock: not a timestamp);
    /// also the time the signature just made is checked at.
    pub signing_time: SystemTime,
    /// Whether the signing-time signed attribute is put in (`true`: as
    /// CAdES-BES has it). PAdES baseline signatures leave it out (the time
    /// is the PDF's `/M`).
    pub signing_time_attribute: bool,
    /// The content to embed; `None` makes a detached signature.
    pub attached: Option<Vec<u8>>,
    /// A time-stamping authority: when given, once the signature is made a
    /// token over the SHA-256 of its signature value is asked for and put
    /// in as the unsigned attribute id-aa-signatureTimeStampToken
    /// (CAdES-T, RFC 3161 appendix A). When the TSA fails, so does the
    /// signing ([`crate::Error::Timestamp`]).
    pub timestamp: Option<crate::tsp::TsaClient>,
}

impl SignOptions {
    /// A detached CAdES-BES signature with a signing-time attribute of
    /// `signing_time`: no chain, no time stamp.
    pub fn new(signing_time: SystemTime) -> Self {
        Self {
            chain: Vec::new(),
            signing_time,
            signing_time_attribute: true,
            attached: None,
            timestamp: None,
        }
    }
}

/// Maps an encoding error to ours, naming what was being encoded.
pub(crate) fn asn1(what: &'static str) -> impl Fn(der::Error) -> Error {
    move |e| Error::Certificate(format!("cannot encode {what}: {e}"))
}

/// `SHA-256` (no parameters, RFC 5754).
pub(super) fn sha256_algorithm() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: der::oid::db::rfc5912::ID_SHA_256,
        parameters: None,
    }
}

fn signing_time_attribute(time: SystemTime) -> Result<Attribute> {
    let time = Time::try_from(time)
        .map_err(|e| Error::Usage(format!("the signing time cannot be encoded: {e}")))?;
    let mut values = SetOfVec::new();
    values
        .insert(Any::encode_from(&time).map_err(asn1("the signing time"))?)
        .map_err(asn1("the signing time"))?;
    Ok(Attribute {
        oid: der::oid::db::rfc5911::ID_SIGNING_TIME,
        values,
    })
}

/// CMS `SignedData` (RFC 5652) over content whose SHA-256 is `digest`, with
/// CAdES-BES signed attributes (content-type id-data, message-digest,
/// signing-time unless [`SignOptions::signing_time_attribute`] is false,
/// signing-certificate-v2 with the SHA-256 of the signer's certificate),
/// the signer's certificate and `opts.chain`; ecdsa-with-SHA256. The
/// signer signs SHA-256 of the DER `SET OF` signed attributes: one
/// signature, one VERIFY + PSO on a card. With
/// [`SignOptions::timestamp`], a signature time-stamp token from the TSA
/// is then added (CAdES-T). Returns the DER `ContentInfo`.
///
/// The signer's own error (wrong PIN, blocked) comes back unchanged. The
/// certificate must be for the signer's key, attached content must have
/// the SHA-256 `digest`, and the result is verified (signature, digest,
/// attributes) before it is returned, so a bad file is never produced.
pub fn sign_detached(
    digest: &[u8; 32],
    signer_cert_der: &[u8],
    signer: &mut dyn DigestSigner,
    opts: &SignOptions,
) -> Result<Vec<u8>> {
    let cert = crate::cert::parse(signer_cert_der)?;
    let certified = p256::PublicKey::from_sec1_bytes(&crate::cert::public_key_bytes(&cert));
    if certified.ok() != Some(signer.public_key()) {
        return Err(Error::Certificate(format!(
            "the certificate of {} is not for the key that signs",
            cert.tbs_certificate().subject()
        )));
    }
    if let Some(content) = &opts.attached
        && super::sha256(content) != *digest
    {
        return Err(Error::Usage(
            "the content to attach does not have the SHA-256 given".into(),
        ));
    }

    let tbs = cert.tbs_certificate();
    let sid = SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
        issuer: tbs.issuer().clone(),
        serial_number: tbs.serial_number().clone(),
    });
    // The signer info is always built over the digest; embedded content is
    // put into the SignedData afterwards (so it is hashed once, by the caller).
    let detached = EncapsulatedContentInfo {
        econtent_type: der::oid::db::rfc5911::ID_DATA,
        econtent: None,
    };
    let mut builder = SignerInfoBuilder::new(sid, sha256_algorithm(), &detached, Some(digest))
        .map_err(|e| Error::Certificate(format!("cannot start the signer info: {e}")))?;
    let mut attributes = Vec::new();
    if opts.signing_time_attribute {
        attributes.push(signing_time_attribute(opts.signing_time)?);
    }
    attributes.push(super::signing_certificate_v2(signer_cert_der)?);
    for attribute in attributes {
        builder
            .add_signed_attribute(attribute)
            .map_err(|e| Error::Certificate(format!("cannot add a signed attribute: {e}")))?;
    }
    let card = CardSigner::new(signer);
    let mut signer_info = builder.build::<_, DerSignature>(&card).map_err(|e| {
        card.take_error()
            .unwrap_or_else(|| Error::Certificate(format!("cannot build the signer info: {e}")))
    })?;
    // CAdES-T: a token over the signature value (the OCTET STRING's
    // contents), as an unsigned attribute; the signature itself is
    // unchanged.
    if let Some(tsa) = &opts.timestamp {
        let token = tsa.stamp(&super::sha256(signer_info.signature.as_bytes()))?;
        let mut values = SetOfVec::new();
        values
            .insert(Any::from_der(&token).map_err(asn1("the time-stamp token"))?)
            .map_err(asn1("the time-stamp token"))?;
        let attribute = Attribute {
            oid: super::ID_AA_SIGNATURE_TIME_STAMP_TOKEN,
            values,
        };
        signer_info.unsigned_attrs =
            Some(SetOfVec::try_from(vec![attribute]).map_err(asn1("the unsigned attributes"))?);
    }

    let econtent = match &opts.attached {
        Some(content) => Some(
            Any::encode_from(&OctetString::new(content.clone()).map_err(asn1("the content"))?)
                .map_err(asn1("the content"))?,
        ),
        None => None,
    };
    // The certificates go in exactly as they were given (a re-encoding
    // could change their bytes, and with them the issuer's signature and
    // the signing-certificate-v2 hash).
    let mut certificates = vec![signer_cert_der.to_vec()];
    for der in &opts.chain {
        crate::cert::parse(der)?;
        if !certificates.contains(der) {
            certificates.push(der.clone());
        }
    }
    let signed_data = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::try_from(vec![sha256_algorithm()])
            .map_err(asn1("the digest algorithms"))?,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: der::oid::db::rfc5911::ID_DATA,
            econtent,
        },
        certificates: None,
        crls: None,
        signer_infos: SignerInfos(
            SetOfVec::try_from(vec![signer_info]).map_err(asn1("the signer infos"))?,
        ),
    };
    let signed_data = signed_data.to_der().map_err(asn1("the signed data"))?;
    let signed_data = super::raw::with_certificates(&signed_data, &certificates)
        .map_err(asn1("the certificates"))?;
    let content_info = ContentInfo {
        content_type: der::oid::db::rfc5911::ID_SIGNED_DATA,
        content: Any::from_der(&signed_data).map_err(asn1("the signed data"))?,
    };
    let der = content_info.to_der().map_err(asn1("the message"))?;
    self_check(&der, digest, opts)?;
    Ok(der)
}

/// Verifies what was just made: everything but the chain, the validity and
/// the key usage, which depend on the certificate and not on us (nor the
/// TSA's path, which depends on the verifier's trust anchors); the token,
/// when there is one, at now (it was made after the signing time).
fn self_check(der: &[u8], digest: &[u8; 32], opts: &SignOptions) -> Result<()> {
    let at = match opts.timestamp {
        Some(_) => SystemTime::now().max(opts.signing_time),
        None => opts.signing_time,
    };
    let result = verify(der, Some(digest), &[], at)?;
    let mut own = vec![
        Check::STRUCTURE,
        Check::CONTENT_DIGEST,
        Check::SIGNATURE,
        Check::CONTENT_TYPE,
        Check::SIGNING_TIME,
        Check::SIGNING_CERTIFICATE,
    ];
    if opts.timestamp.is_some() {
        own.push(Check::TIMESTAMP);
    }
    for name in own {
        match result.check(name) {
            Some(c) if c.ok => {}
            Some(c) => {
                return Err(Error::Verification(format!(
                    "the signature just made fails {}: {}",
                    c.name, c.detail
                )));
            }
            None => {
                return Err(Error::Verification(format!(
                    "the signature just made was not checked for {name}"
                )));
            }
        }
    }
    Ok(())
}
