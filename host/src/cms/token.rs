//! Time-stamp tokens read and checked (RFC 3161 §2.4.2): a CMS
//! `SignedData` over a DER `TSTInfo` (content type id-ct-TSTInfo), signed
//! by the TSA with the certificate in the token. The same checks as a
//! document signature (structure, message-digest over the `TSTInfo`,
//! ECDSA P-256 over the signed attributes, content-type,
//! signing-certificate-v2 where present), then the `TSTInfo`: version 1,
//! and the imprint SHA-256 of what was time-stamped. Whether the TSA is
//! trusted is a path validation ([`crate::pki`], purpose time stamping),
//! done by the caller at its validation time.

use std::time::SystemTime;

use ::cms::content_info::ContentInfo;
use ::cms::signed_data::SignedData;
use der::asn1::{Any, ObjectIdentifier};
use der::oid::db::rfc5911;
use der::{Decode, Tagged};
use serde::Serialize;
use x509_cert::ext::pkix::name::GeneralName;

use super::ID_CT_TST_INFO;
use super::structure::structure;
use super::verify::{content_digest, content_type, signature, signing_certificate};
use crate::error::{Error, Result};
use crate::pki::{Cert, oid_text, rfc3339};
use crate::tsp::types::TstInfo;

/// `id-aa-signatureTimeStampToken` (1.2.840.113549.1.9.16.2.14, RFC 3161
/// appendix A): the unsigned attribute of a signer info that holds a
/// time-stamp token over the SHA-256 of its signature value (CAdES-T).
pub const ID_AA_SIGNATURE_TIME_STAMP_TOKEN: ObjectIdentifier =
    der::oid::db::rfc3161::ID_AA_TIME_STAMP_TOKEN;

/// What a time-stamp token says (its `TSTInfo`), and the token itself.
#[derive(Clone, Debug, Serialize)]
pub struct TimeStampInfo {
    /// genTime, RFC 3339 (to the second).
    pub gen_time: String,
    /// The TSA: the subject (RFC 4514) of the certificate in the token
    /// that its signer identifier names, else the `TSTInfo`'s tsa name,
    /// else empty.
    pub tsa: String,
    /// The token's serial number, hex.
    pub serial: String,
    /// The TSA's policy (dotted OID).
    pub policy: String,
    /// The time-stamped hash (hex) and its algorithm.
    pub imprint: String,
    /// genTime as a time, with any fraction of a second the token has.
    #[serde(skip)]
    pub time: SystemTime,
    /// The token: the DER `ContentInfo`.
    #[serde(skip)]
    pub token: Vec<u8>,
}

/// A token whose signature and `TSTInfo` were checked.
pub(crate) struct Examined {
    /// What it says.
    pub info: TimeStampInfo,
    /// The decoded `TSTInfo` (for the nonce).
    pub tst: TstInfo,
    /// The TSA's certificate (DER, as in the token).
    pub tsa_cert: Vec<u8>,
    /// The token's other certificates.
    pub pool: Vec<Vec<u8>>,
    /// What the checks found.
    pub detail: String,
}

/// The `SignedData` of a token, after the content types are checked.
fn signed_data(token: &[u8]) -> std::result::Result<SignedData, String> {
    let ci = ContentInfo::from_der(token)
        .map_err(|e| format!("the token is not a CMS ContentInfo: {e}"))?;
    if ci.content_type != rfc5911::ID_SIGNED_DATA {
        return Err(format!(
            "the token is a CMS {}, not a SignedData",
            ci.content_type
        ));
    }
    let sd: SignedData = ci
        .content
        .decode_as()
        .map_err(|e| format!("the token's SignedData does not decode: {e}"))?;
    let ty = sd.encap_content_info.econtent_type;
    if ty != ID_CT_TST_INFO {
        return Err(format!(
            "the token's content type is {ty}, not id-ct-TSTInfo (1.2.840.113549.1.9.16.1.4)"
        ));
    }
    Ok(sd)
}

/// The DER `TSTInfo` octets of a token's `SignedData`.
fn tst_info_octets(sd: &SignedData) -> std::result::Result<&[u8], String> {
    match &sd.encap_content_info.econtent {
        Some(c) if c.tag() == der::Tag::OctetString => Ok(c.value()),
        Some(c) => Err(format!(
            "the token's content is a {}, not an OCTET STRING",
            c.tag()
        )),
        None => Err("the token holds no TSTInfo".into()),
    }
}

fn decode_tst(octets: &[u8]) -> std::result::Result<TstInfo, String> {
    let tst = TstInfo::from_der(octets)
        .map_err(|e| format!("the token's TSTInfo does not decode: {e}"))?;
    if tst.version != 1 {
        return Err(format!("TSTInfo version {}, expected 1", tst.version));
    }
    Ok(tst)
}

fn general_name(name: &GeneralName) -> String {
    match name {
        GeneralName::DirectoryName(n) => n.to_string(),
        GeneralName::DnsName(s) | GeneralName::Rfc822Name(s) => s.to_string(),
        GeneralName::UniformResourceIdentifier(s) => s.to_string(),
        other => format!("{other:?}"),
    }
}

fn info_of(tst: &TstInfo, tsa: Option<String>, token: &[u8]) -> TimeStampInfo {
    let time = tst.gen_time.to_system_time();
    let algorithm = if tst.message_imprint.hash_algorithm.oid == der::oid::db::rfc5912::ID_SHA_256 {
        "SHA-256".to_owned()
    } else {
        tst.message_imprint.hash_algorithm.oid.to_string()
    };
    TimeStampInfo {
        gen_time: rfc3339(time),
        tsa: tsa
            .or_else(|| tst.tsa.as_ref().map(general_name))
            .unwrap_or_default(),
        serial: hex::encode(tst.serial_number.as_bytes()),
        policy: oid_text(&tst.policy.0),
        imprint: format!(
            "{algorithm} {}",
            hex::encode(tst.message_imprint.hashed_message.as_bytes())
        ),
        time,
        token: token.to_vec(),
    }
}

/// Checks a time-stamp token (DER `ContentInfo`) over `imprint` (the
/// SHA-256 of what was time-stamped): the token's own CMS signature with
/// the certificate in it, its content type, its `TSTInfo`, the imprint.
/// Not the TSA's certificate path (see [`crate::pki::validate`] with
/// [`crate::pki::Purpose::TimeStamp`]). `Err` says what is wrong.
pub(crate) fn examine(token: &[u8], imprint: &[u8; 32]) -> std::result::Result<Examined, String> {
    let sd = signed_data(token)?;
    let (parts, _) = structure(token, &sd, None).map_err(|e| format!("the token: {e}"))?;
    content_digest(&parts).map_err(|e| format!("the token's message-digest: {e}"))?;
    signature(&parts).map_err(|e| format!("the token's signature: {e}"))?;
    content_type(&parts, ID_CT_TST_INFO)
        .map_err(|e| format!("the token's content-type attribute: {e}"))?;
    let (_, ess) = signing_certificate(&parts, false);
    let ess = ess.map_err(|e| format!("the token's signing-certificate-v2: {e}"))?;
    let tst = decode_tst(tst_info_octets(&sd)?)?;
    let mi = &tst.message_imprint;
    if mi.hash_algorithm.oid != der::oid::db::rfc5912::ID_SHA_256 {
        return Err(format!(
            "the token time-stamps a {} hash, not the SHA-256 asked for",
            mi.hash_algorithm.oid
        ));
    }
    if mi
        .hash_algorithm
        .parameters
        .as_ref()
        .is_some_and(|p| p != &Any::null())
    {
        return Err("the token's hash algorithm has parameters SHA-256 does not take".into());
    }
    if mi.hashed_message.as_bytes() != imprint {
        return Err(format!(
            "the token time-stamps SHA-256 {}, not {}: it is not a token for this data",
            hex::encode(mi.hashed_message.as_bytes()),
            hex::encode(imprint)
        ));
    }
    let info = info_of(&tst, Some(parts.signer.subject()), token);
    let detail = format!(
        "token of {} (serial {}, policy {}), genTime {}; ECDSA signature over its TSTInfo \
         verifies with its certificate; {}; imprint SHA-256 {}",
        info.tsa,
        info.serial,
        info.policy,
        info.gen_time,
        ess.split(':').next().unwrap_or_default(),
        hex::encode(imprint)
    );
    Ok(Examined {
        info,
        tst,
        tsa_cert: parts.signer.der().to_vec(),
        pool: parts.pool.clone(),
        detail,
    })
}

/// Checks a time-stamp token (DER `ContentInfo`, as RFC 3161 §2.4.2 has
/// it) over `imprint`, the SHA-256 of the time-stamped data: a CMS
/// `SignedData` with content type id-ct-TSTInfo whose ECDSA P-256
/// signature verifies with the TSA certificate in the token, a version 1
/// `TSTInfo` whose imprint is SHA-256 `imprint`. Does not validate the
/// TSA's certificate path (that needs trust anchors and a time: see
/// [`crate::pki::validate`] with [`crate::pki::Purpose::TimeStamp`], or
/// [`super::verify_with`] for a signature's tokens).
///
/// [`Error::Timestamp`] says what is wrong.
pub fn check_token(token: &[u8], imprint: &[u8; 32]) -> Result<TimeStampInfo> {
    examine(token, imprint)
        .map(|e| e.info)
        .map_err(Error::Timestamp)
}

/// The signature time-stamp tokens (id-aa-signatureTimeStampToken, each
/// value of each such unsigned attribute) of the signer info of a DER
/// `SignedData`'s single signer.
pub(super) fn tokens_of(info: &::cms::signed_data::SignerInfo) -> Vec<Vec<u8>> {
    use der::Encode;
    info.unsigned_attrs
        .iter()
        .flat_map(|attrs| attrs.iter())
        .filter(|a| a.oid == ID_AA_SIGNATURE_TIME_STAMP_TOKEN)
        .flat_map(|a| a.values.iter())
        .map(|v| v.to_der().unwrap_or_default())
        .collect()
}

/// What the first signature time-stamp token of a CMS signature (DER or
/// PEM; one signer) says: genTime, TSA, serial, policy, and the token
/// itself — read, NOT verified (use [`super::verify_with`], which checks
/// the token and validates the TSA). `Ok(None)` when the signature has no
/// token; [`Error::Verification`] when it is not a CMS `SignedData`,
/// [`Error::Timestamp`] when the token does not decode.
pub fn timestamp_of(signed: &[u8]) -> Result<Option<TimeStampInfo>> {
    let der = super::cms_der(signed)?;
    let not_cms = |e: der::Error| Error::Verification(format!("not a CMS signature: {e}"));
    let ci = ContentInfo::from_der(&der).map_err(not_cms)?;
    let sd: SignedData = ci.content.decode_as().map_err(not_cms)?;
    let Some(info) = sd.signer_infos.0.iter().next() else {
        return Ok(None);
    };
    let Some(token) = tokens_of(info).into_iter().next() else {
        return Ok(None);
    };
    read(&token).map(Some).map_err(Error::Timestamp)
}

/// What a token says, read without checking its signature.
pub(super) fn read(token: &[u8]) -> std::result::Result<TimeStampInfo, String> {
    let tsd = signed_data(token)?;
    let tst = decode_tst(tst_info_octets(&tsd)?)?;
    let tsa = tsd.signer_infos.0.iter().next().and_then(|si| {
        super::raw::certificates(token)
            .ok()?
            .into_iter()
            .filter_map(|c| Cert::from_der(&c).ok())
            .find(|c| super::structure::identifies(&si.sid, c))
            .map(|c| c.subject())
    });
    Ok(info_of(&tst, tsa, token))
}
