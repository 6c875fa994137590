//! A certificate as it was received: its DER bytes are kept and every
//! signed part (tbsCertificate, names, key) is taken from them, never from
//! a re-encoding — `der` sorts a `SET OF` it re-encodes, and a multi-valued
//! RDN that a CA did not sort would then no longer match its signature.

use crate::cert::NameText as _;
use std::time::SystemTime;

use der::asn1::{AnyRef, ObjectIdentifier};
use der::{Decode, Encode, Reader, SliceReader, Tag, TagNumber, Tagged};
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage};

/// A parsed certificate with the bytes it came in.
#[derive(Clone)]
pub struct Cert {
    der: Vec<u8>,
    parsed: x509_cert::Certificate,
    raw: RawParts,
}

/// The signed parts of a certificate, as received (DER TLVs).
#[derive(Clone, Debug)]
struct RawParts {
    tbs: Vec<u8>,
    tbs_algorithm: Vec<u8>,
    algorithm: Vec<u8>,
    signature: Vec<u8>,
    issuer: Vec<u8>,
    subject: Vec<u8>,
    spki: Vec<u8>,
}

impl std::fmt::Debug for Cert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cert")
            .field("subject", &self.subject())
            .field("serial", &self.serial_hex())
            .finish_non_exhaustive()
    }
}

impl PartialEq for Cert {
    fn eq(&self, other: &Self) -> bool {
        self.der == other.der
    }
}

impl Eq for Cert {}

/// The elements of a constructed value, each as a reference into it.
pub(crate) fn elements(value: &[u8]) -> der::Result<Vec<AnyRef<'_>>> {
    let mut reader = SliceReader::new(value)?;
    let mut out = Vec::new();
    while !reader.is_finished() {
        out.push(AnyRef::decode(&mut reader)?);
    }
    Ok(out)
}

fn tlv(any: &AnyRef<'_>) -> der::Result<Vec<u8>> {
    any.to_der()
}

fn raw_parts(der: &[u8]) -> Result<RawParts, String> {
    let asn1 = |e: der::Error| e.to_string();
    let outer = AnyRef::from_der(der).map_err(asn1)?;
    let [tbs, algorithm, signature] = elements(outer.value()).map_err(asn1)?[..] else {
        return Err("a certificate has three parts".into());
    };
    if signature.tag() != Tag::BitString {
        return Err("the signature is not a BIT STRING".into());
    }
    let bits = der::asn1::BitStringRef::try_from(signature).map_err(asn1)?;
    let signature = bits
        .as_bytes()
        .ok_or("the signature is not a whole number of bytes")?
        .to_vec();
    let fields = elements(tbs.value()).map_err(asn1)?;
    let version_tag = Tag::ContextSpecific {
        constructed: true,
        number: TagNumber(0),
    };
    let skip = usize::from(fields.first().is_some_and(|f| f.tag() == version_tag));
    let field = |i: usize| {
        fields
            .get(skip + i)
            .ok_or_else(|| "the tbsCertificate is truncated".to_owned())
    };
    Ok(RawParts {
        tbs: tlv(&tbs).map_err(asn1)?,
        tbs_algorithm: tlv(field(1)?).map_err(asn1)?,
        algorithm: tlv(&algorithm).map_err(asn1)?,
        signature,
        issuer: tlv(field(2)?).map_err(asn1)?,
        subject: tlv(field(4)?).map_err(asn1)?,
        spki: tlv(field(5)?).map_err(asn1)?,
    })
}

/// Decoded DER OBJECT IDENTIFIER contents (any arc size up to 128 bits) as
/// dotted text: `const-oid` refuses arcs above 32 bits, which UUID OIDs
/// (`2.25.…`) have.
pub fn oid_text(contents: &[u8]) -> String {
    let mut arcs: Vec<u128> = Vec::new();
    let mut value: u128 = 0;
    for &b in contents {
        value = match value.checked_mul(128) {
            Some(v) => v | u128::from(b & 0x7f),
            None => return format!("(OID {})", hex::encode(contents)),
        };
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = value.min(80) / 40;
                arcs.push(first);
                arcs.push(value - first * 40);
            } else {
                arcs.push(value);
            }
            value = 0;
        }
    }
    arcs.iter()
        .map(u128::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

impl Cert {
    /// Parses DER; `Err` says why it is not a certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, String> {
        let parsed = x509_cert::Certificate::from_der(der).map_err(|e| e.to_string())?;
        let raw = raw_parts(der)?;
        Ok(Self {
            der: der.to_vec(),
            parsed,
            raw,
        })
    }

    /// The DER bytes, exactly as received.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The parsed certificate (for reading fields, never for re-encoding).
    pub fn parsed(&self) -> &x509_cert::Certificate {
        &self.parsed
    }

    /// Subject, RFC 4514.
    pub fn subject(&self) -> String {
        self.parsed.tbs_certificate().subject().text()
    }

    /// Issuer, RFC 4514.
    pub fn issuer(&self) -> String {
        self.parsed.tbs_certificate().issuer().text()
    }

    /// Serial number, upper-case hex.
    pub fn serial_hex(&self) -> String {
        hex::encode_upper(self.parsed.tbs_certificate().serial_number().as_bytes())
    }

    /// The public key: the subjectPublicKey bits (for EC keys the SEC1
    /// point).
    pub fn public_key(&self) -> &[u8] {
        self.parsed
            .tbs_certificate()
            .subject_public_key_info()
            .subject_public_key
            .raw_bytes()
    }

    /// Whether the key is an EC key on P-256.
    pub fn is_p256(&self) -> bool {
        let spki = self.parsed.tbs_certificate().subject_public_key_info();
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
        spki.algorithm.oid == der::oid::db::rfc5912::ID_EC_PUBLIC_KEY
            && curve == Some(der::oid::db::rfc5912::SECP_256_R_1)
    }

    /// The serial number's content octets (as a CRL lists them).
    pub fn serial_bytes(&self) -> &[u8] {
        self.parsed.tbs_certificate().serial_number().as_bytes()
    }

    /// The subject name, DER as received.
    pub fn subject_der(&self) -> &[u8] {
        &self.raw.subject
    }

    /// The issuer name, DER as received.
    pub fn issuer_der(&self) -> &[u8] {
        &self.raw.issuer
    }

    /// The `SubjectPublicKeyInfo`, DER as received.
    pub fn spki_der(&self) -> &[u8] {
        &self.raw.spki
    }

    /// Whether subject and issuer are the same name (self-issued).
    pub fn self_issued(&self) -> bool {
        self.raw.subject == self.raw.issuer
    }

    /// `notBefore` and `notAfter`.
    pub fn validity(&self) -> (SystemTime, SystemTime) {
        let v = self.parsed.tbs_certificate().validity();
        (v.not_before.to_system_time(), v.not_after.to_system_time())
    }

    /// Whether `issuer`'s key signed this certificate's tbsCertificate (as
    /// received); `Err` says why not.
    pub fn verify_issued_by(&self, issuer: &Cert) -> Result<(), String> {
        if self.raw.tbs_algorithm != self.raw.algorithm {
            return Err(
                "the signature algorithm inside the certificate is not the one outside \
                 it"
                .into(),
            );
        }
        super::algorithms::verify_signed(
            &issuer.raw.spki,
            &self.raw.algorithm,
            &self.raw.tbs,
            &self.raw.signature,
        )
    }

    /// basicConstraints: `None` when absent, `Some((cA, pathLenConstraint))`.
    pub fn basic_constraints(&self) -> Result<Option<(bool, Option<u8>)>, String> {
        match self
            .parsed
            .tbs_certificate()
            .get_extension::<BasicConstraints>()
        {
            Ok(Some((_, bc))) => Ok(Some((bc.ca, bc.path_len_constraint))),
            Ok(None) => Ok(None),
            Err(e) => Err(format!("its basicConstraints extension is malformed: {e}")),
        }
    }

    /// Whether basicConstraints says cA TRUE.
    pub fn is_ca(&self) -> bool {
        matches!(self.basic_constraints(), Ok(Some((true, _))))
    }

    /// keyUsage, `None` when absent.
    pub fn key_usage(&self) -> Result<Option<KeyUsage>, String> {
        match self.parsed.tbs_certificate().get_extension::<KeyUsage>() {
            Ok(found) => Ok(found.map(|(_, ku)| ku)),
            Err(e) => Err(format!("its keyUsage extension is malformed: {e}")),
        }
    }

    /// The extensions: (OID, critical, value octets).
    pub fn extensions(&self) -> Vec<(ObjectIdentifier, bool, &[u8])> {
        self.parsed
            .tbs_certificate()
            .extensions()
            .map(|exts| {
                exts.iter()
                    .map(|e| (e.extn_id, e.critical, e.extn_value.as_bytes()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The value octets of the extension `oid`, if present.
    pub fn extension(&self, oid: ObjectIdentifier) -> Option<&[u8]> {
        self.extensions()
            .into_iter()
            .find(|(id, _, _)| *id == oid)
            .map(|(_, _, value)| value)
    }

    /// extendedKeyUsage: `None` when absent, else the contents of each
    /// KeyPurposeId (read raw, so any OID is understood).
    pub fn extended_key_usage(&self) -> Result<Option<Vec<Vec<u8>>>, String> {
        let Some(value) = self.extension(der::oid::db::rfc5280::ID_CE_EXT_KEY_USAGE) else {
            return Ok(None);
        };
        let malformed = |e: der::Error| format!("its extendedKeyUsage extension is malformed: {e}");
        let seq = AnyRef::from_der(value).map_err(malformed)?;
        if seq.tag() != Tag::Sequence {
            return Err("its extendedKeyUsage extension is not a SEQUENCE".into());
        }
        let mut out = Vec::new();
        for id in elements(seq.value()).map_err(malformed)? {
            if id.tag() != Tag::ObjectIdentifier {
                return Err("its extendedKeyUsage extension holds a non-OID".into());
            }
            out.push(id.value().to_vec());
        }
        if out.is_empty() {
            return Err("its extendedKeyUsage extension is empty".into());
        }
        Ok(Some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oid_text_reads_big_arcs() {
        // 2.25.61485682124220308471771109637782283797.1.1
        let big: u128 = 61485682124220308471771109637782283797;
        let mut arc = Vec::new();
        let mut v = big;
        arc.push((v & 0x7f) as u8);
        v >>= 7;
        while v > 0 {
            arc.push(((v & 0x7f) as u8) | 0x80);
            v >>= 7;
        }
        arc.reverse();
        let mut contents = vec![0x69]; // 2.25
        contents.extend(arc);
        contents.extend([1, 1]);
        assert_eq!(
            oid_text(&contents),
            "2.25.61485682124220308471771109637782283797.1.1"
        );
        assert_eq!(
            oid_text(&[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x24]),
            "1.3.6.1.5.5.7.3.36"
        );
        assert_eq!(oid_text(&[0x55, 0x1d, 0x25]), "2.5.29.37");
    }
}
