//! The structure check: one `SignedData` with one signer, the algorithms
//! we verify, signed attributes, the content (given or embedded) and
//! exactly one certificate in the message that the signer identifier names
//! — the certificate every later check uses, as received.

use ::cms::content_info::CmsVersion;
use ::cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use der::oid::db::rfc5912;
use der::{Decode, Tag, Tagged};
use x509_cert::attr::Attributes;
use x509_cert::ext::pkix::SubjectKeyIdentifier;

use super::{raw, sha256};
use crate::pki::Cert;

/// What the structure check found.
pub(super) struct Parts<'a> {
    pub info: &'a SignerInfo,
    pub attrs: &'a Attributes,
    pub signed_attrs_der: Vec<u8>,
    pub content_digest: [u8; 32],
    pub embedded: Option<Vec<u8>>,
    pub embedded_digest: Option<[u8; 32]>,
    /// The signer's certificate, as received.
    pub signer: Cert,
    /// The other certificates of the message, as received.
    pub pool: Vec<Vec<u8>>,
}

/// Checks the structure of `sd` (decoded from `der`); the parts the other
/// checks need and a summary, or why it cannot be verified.
pub(super) fn structure<'a>(
    der: &[u8],
    sd: &'a SignedData,
    digest: Option<&[u8; 32]>,
) -> std::result::Result<(Parts<'a>, String), String> {
    let infos = sd.signer_infos.0.as_slice();
    let [info] = infos else {
        return Err(format!("{} signers; exactly one is supported", infos.len()));
    };
    if info.digest_alg.oid != rfc5912::ID_SHA_256 {
        return Err(format!(
            "digest algorithm {}; only SHA-256 is supported",
            info.digest_alg.oid
        ));
    }
    if !sd
        .digest_algorithms
        .iter()
        .any(|a| a.oid == info.digest_alg.oid)
    {
        return Err("the signer's digest algorithm is not among the SignedData's".into());
    }
    let version_ok = match info.sid {
        SignerIdentifier::IssuerAndSerialNumber(_) => info.version == CmsVersion::V1,
        SignerIdentifier::SubjectKeyIdentifier(_) => info.version == CmsVersion::V3,
    };
    if !version_ok || matches!(sd.version, CmsVersion::V0 | CmsVersion::V2) {
        return Err("the SignedData or SignerInfo version is not the one RFC 5652 asks for".into());
    }
    let alg = info.signature_algorithm.oid;
    if alg != rfc5912::ECDSA_WITH_SHA_256 && alg != rfc5912::ID_EC_PUBLIC_KEY {
        return Err(format!(
            "signature algorithm {alg}; only ecdsa-with-SHA256 is supported"
        ));
    }
    let attrs = info
        .signed_attrs
        .as_ref()
        .ok_or("no signed attributes (a bare signature over the content is not accepted)")?;
    let signed_attrs_der = raw::signed_attributes(der)?;
    let embedded = match &sd.encap_content_info.econtent {
        Some(c) if c.tag() == Tag::OctetString => Some(c.value().to_vec()),
        Some(c) => return Err(format!("embedded content of type {}", c.tag())),
        None => None,
    };
    let embedded_digest = embedded.as_deref().map(sha256);
    let (content_digest, where_) = match (digest, embedded_digest) {
        (Some(d), None) => (*d, "content given"),
        (Some(d), Some(_)) => (*d, "content given and embedded"),
        (None, Some(d)) => (d, "embedded content"),
        (None, None) => {
            return Err("a detached signature: the signed content must be given".into());
        }
    };
    let mut certs: Vec<Vec<u8>> = Vec::new();
    for c in raw::certificates(der)? {
        if !certs.contains(&c) {
            certs.push(c);
        }
    }
    let mut matching = Vec::new();
    let mut pool = Vec::new();
    for der in certs {
        match Cert::from_der(&der) {
            Ok(c) if identifies(&info.sid, &c) => matching.push(c),
            _ => pool.push(der),
        }
    }
    let signer = match matching.len() {
        1 => matching.remove(0),
        0 => return Err("the signer's certificate is not in the signature".into()),
        n => {
            return Err(format!(
                "{n} different certificates in the message match the signer identifier \
                 ({}); an ambiguous signer is refused",
                matching
                    .iter()
                    .map(|c| c.subject())
                    .collect::<Vec<_>>()
                    .join(" / ")
            ));
        }
    };
    if !signer.is_p256() {
        return Err("the signer's key is not an EC key on P-256".into());
    }
    let detail = format!(
        "SignedData, one signer, SHA-256, ECDSA, {where_}, {} certificate(s), one of them the signer's",
        pool.len() + 1
    );
    let parts = Parts {
        info,
        attrs,
        signed_attrs_der,
        content_digest,
        embedded,
        embedded_digest,
        signer,
        pool,
    };
    Ok((parts, detail))
}

pub(super) fn identifies(sid: &SignerIdentifier, c: &Cert) -> bool {
    let tbs = c.parsed().tbs_certificate();
    match sid {
        SignerIdentifier::IssuerAndSerialNumber(isn) => {
            &isn.issuer == tbs.issuer() && &isn.serial_number == tbs.serial_number()
        }
        SignerIdentifier::SubjectKeyIdentifier(ski) => matches!(
            c.extension(der::oid::db::rfc5280::ID_CE_SUBJECT_KEY_IDENTIFIER)
                .map(SubjectKeyIdentifier::from_der),
            Some(Ok(own)) if own == *ski
        ),
    }
}
