//! The ESS signing-certificate-v2 attribute (RFC 5035), which the `cms`
//! crate does not define: it binds the signature to the signer's
//! certificate by its hash, so a certificate with the same key cannot be
//! substituted.
//!
//! ```text
//! SigningCertificateV2 ::= SEQUENCE {
//!     certs       SEQUENCE OF ESSCertIDv2,
//!     policies    SEQUENCE OF PolicyInformation OPTIONAL }
//! ESSCertIDv2 ::= SEQUENCE {
//!     hashAlgorithm  AlgorithmIdentifier DEFAULT {algorithm id-sha256},
//!     certHash       OCTET STRING,
//!     issuerSerial   IssuerSerial OPTIONAL }
//! IssuerSerial ::= SEQUENCE {
//!     issuer         GeneralNames,
//!     serialNumber   CertificateSerialNumber }
//! ```

use der::asn1::{Any, ObjectIdentifier, OctetString, SetOfVec};
use der::{Decode, Encode, Sequence};
use sha2::{Digest, Sha256, Sha384, Sha512};
use x509_cert::Certificate;
use x509_cert::attr::Attribute;
use x509_cert::ext::pkix::name::{GeneralName, GeneralNames};
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::AlgorithmIdentifierOwned;

use crate::error::{Error, Result};

/// `id-aa-signingCertificateV2` (1.2.840.113549.1.9.16.2.47).
pub const ID_AA_SIGNING_CERTIFICATE_V2: ObjectIdentifier =
    der::oid::db::rfc5911::ID_AA_SIGNING_CERTIFICATE_V_2;

/// `SigningCertificateV2` (RFC 5035 §3).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct SigningCertificateV2 {
    /// The certificates; the first is the signer's.
    pub certs: Vec<EssCertIdV2>,
    /// Policies (kept as they are, not interpreted).
    #[asn1(optional = "true")]
    pub policies: Option<Vec<Any>>,
}

/// `ESSCertIDv2`: a certificate by its hash.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct EssCertIdV2 {
    /// The hash algorithm; absent means SHA-256 (the DER of the default).
    #[asn1(optional = "true")]
    pub hash_algorithm: Option<AlgorithmIdentifierOwned>,
    /// The hash of the whole certificate (DER).
    pub cert_hash: OctetString,
    /// Issuer and serial number of the certificate.
    #[asn1(optional = "true")]
    pub issuer_serial: Option<IssuerSerial>,
}

/// `IssuerSerial`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct IssuerSerial {
    /// The issuer, as a directory name.
    pub issuer: GeneralNames,
    /// The certificate's serial number.
    pub serial_number: SerialNumber,
}

fn asn1_error(e: impl std::fmt::Display) -> Error {
    Error::Certificate(format!("cannot encode signing-certificate-v2: {e}"))
}

/// The signed attribute for the certificate `cert_der`: one ESSCertIDv2
/// with the SHA-256 of the certificate (hash algorithm left at its default)
/// and its issuer and serial number.
pub fn signing_certificate_v2(cert_der: &[u8]) -> Result<Attribute> {
    let cert = crate::cert::parse(cert_der)?;
    let tbs = cert.tbs_certificate();
    let value = SigningCertificateV2 {
        certs: vec![EssCertIdV2 {
            hash_algorithm: None,
            cert_hash: OctetString::new(super::sha256(cert_der).to_vec()).map_err(asn1_error)?,
            issuer_serial: Some(IssuerSerial {
                issuer: vec![GeneralName::DirectoryName(tbs.issuer().clone())],
                serial_number: tbs.serial_number().clone(),
            }),
        }],
        policies: None,
    };
    let der = value.to_der().map_err(asn1_error)?;
    let mut values = SetOfVec::new();
    values
        .insert(Any::from_der(&der).map_err(asn1_error)?)
        .map_err(asn1_error)?;
    Ok(Attribute {
        oid: ID_AA_SIGNING_CERTIFICATE_V2,
        values,
    })
}

/// Checks an attribute value against the signer's certificate: the first
/// ESSCertIDv2 must carry the certificate's hash (SHA-256, -384 or -512)
/// and, when present, its issuer and serial number. `Err` says why not.
pub(super) fn check(
    value: &Any,
    cert_der: &[u8],
    cert: &Certificate,
) -> std::result::Result<String, String> {
    let parsed: SigningCertificateV2 = value
        .decode_as()
        .map_err(|e| format!("malformed attribute: {e}"))?;
    let first = parsed
        .certs
        .first()
        .ok_or("the attribute names no certificate")?;
    let (name, hash): (&str, Vec<u8>) = match first.hash_algorithm.as_ref().map(|a| a.oid) {
        None => ("SHA-256", super::sha256(cert_der).to_vec()),
        Some(oid) if oid == der::oid::db::rfc5912::ID_SHA_256 => {
            ("SHA-256", Sha256::digest(cert_der).to_vec())
        }
        Some(oid) if oid == der::oid::db::rfc5912::ID_SHA_384 => {
            ("SHA-384", Sha384::digest(cert_der).to_vec())
        }
        Some(oid) if oid == der::oid::db::rfc5912::ID_SHA_512 => {
            ("SHA-512", Sha512::digest(cert_der).to_vec())
        }
        Some(oid) => return Err(format!("unsupported hash algorithm {oid}")),
    };
    if first.cert_hash.as_bytes() != hash.as_slice() {
        return Err(format!(
            "the certificate hash {} does not match the signer's certificate ({name} {})",
            hex::encode(first.cert_hash.as_bytes()),
            hex::encode(&hash)
        ));
    }
    if let Some(is) = &first.issuer_serial {
        let tbs = cert.tbs_certificate();
        let issuer_matches = is
            .issuer
            .iter()
            .any(|g| matches!(g, GeneralName::DirectoryName(n) if n == tbs.issuer()));
        if !issuer_matches || &is.serial_number != tbs.serial_number() {
            return Err(
                "the issuer and serial number do not match the signer's certificate".into(),
            );
        }
    }
    Ok(format!(
        "{name} of the signer's certificate matches ({})",
        hex::encode(&hash)
    ))
}
