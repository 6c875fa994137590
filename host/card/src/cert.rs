//! Certificates read from the card: parsed with `x509-cert`, summarised,
//! turned into PEM. A broken certificate is reported with its cause.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use der::{Decode, Encode, Tagged as _};
use serde::Serialize;
use x509_cert::Certificate;

use crate::error::{Error, Result};

/// Parses a DER certificate.
pub fn parse(der_bytes: &[u8]) -> Result<Certificate> {
    Certificate::from_der(der_bytes)
        .map_err(|e| Error::Certificate(format!("not a valid X.509 certificate: {e}")))
}

/// What `asan info` shows of a certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CertificateSummary {
    /// `citizen`, `business` or `government`.
    pub profile: &'static str,
    /// `auth` or `sign`.
    pub usage: &'static str,
    /// Subject, RFC 4514.
    pub subject: String,
    /// Issuer, RFC 4514.
    pub issuer: String,
    /// Start of validity, RFC 3339.
    pub not_before: String,
    /// End of validity, RFC 3339.
    pub not_after: String,
    /// Whole days until `not_after` (negative once expired).
    pub days_left: i64,
    /// Serial number, hex.
    pub serial_number: String,
}

/// Seconds since 1970 of a certificate time.
pub fn unix_seconds(t: &x509_cert::time::Time) -> i64 {
    i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
}

/// Seconds since 1970 now.
pub fn now_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Summarises `cert`, counting days left from `now` (seconds since 1970).
pub fn summary(
    cert: &Certificate,
    profile: &'static str,
    usage: &'static str,
    now: i64,
) -> CertificateSummary {
    let tbs = cert.tbs_certificate();
    let validity = tbs.validity();
    let not_after = unix_seconds(&validity.not_after);
    CertificateSummary {
        profile,
        usage,
        subject: tbs.subject().text(),
        issuer: tbs.issuer().text(),
        not_before: validity.not_before.to_string(),
        not_after: validity.not_after.to_string(),
        days_left: (not_after - now).div_euclid(86_400),
        serial_number: hex::encode_upper(tbs.serial_number().as_bytes()),
    }
}

/// The uncompressed EC point of the certificate's public key.
pub fn public_key_bytes(cert: &Certificate) -> Vec<u8> {
    cert.tbs_certificate()
        .subject_public_key_info()
        .subject_public_key
        .raw_bytes()
        .to_vec()
}

/// DER encoding.
pub fn to_der(cert: &Certificate) -> Result<Vec<u8>> {
    cert.to_der().map_err(|e| Error::Certificate(e.to_string()))
}

/// DER bytes from a file that holds DER or one PEM certificate.
pub fn pem_or_der(bytes: &[u8]) -> Result<Vec<u8>> {
    let text = String::from_utf8_lossy(bytes);
    let Some(start) = text.find("-----BEGIN CERTIFICATE-----") else {
        return Ok(bytes.to_vec());
    };
    let body = &text[start + "-----BEGIN CERTIFICATE-----".len()..];
    let end = body
        .find("-----END CERTIFICATE-----")
        .ok_or_else(|| Error::Certificate("PEM without its END line".into()))?;
    base64_decode(&body[..end]).ok_or_else(|| Error::Certificate("PEM body is not base64".into()))
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in text.bytes().filter(|c| !c.is_ascii_whitespace()) {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => return None,
        };
        bits = (bits << 6) | u32::from(v);
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    Some(out)
}

/// PEM encoding of DER bytes.
pub fn to_pem(der_bytes: &[u8]) -> String {
    let b64 = base64_encode(der_bytes);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

fn base64_encode(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                let idx = ((n >> (18 - 6 * i)) & 0x3F) as usize;
                out.push(char::from(ALPHABET.get(idx).copied().unwrap_or(b'A')));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_known_answers() {
        assert_eq!(base64_encode(b""), "");
        assert_eq!(base64_encode(b"f"), "Zg==");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert_eq!(base64_encode(b"foo"), "Zm9v");
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn pem_round_trip() {
        let der: Vec<u8> = (0..=255u8).cycle().take(700).collect();
        assert_eq!(pem_or_der(to_pem(&der).as_bytes()).ok(), Some(der.clone()));
        assert_eq!(pem_or_der(&der).ok(), Some(der));
        assert!(pem_or_der(b"-----BEGIN CERTIFICATE-----\nAAAA").is_err());
    }

    #[test]
    fn broken_certificates_name_the_cause() {
        let e = parse(&[0x30, 0x03, 0x02, 0x01, 0x01])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.starts_with("certificate problem: not a valid X.509 certificate"),
            "{e}"
        );
    }
}

/// Attributes RFC 4514 text names that `x509-cert` leaves as dotted OIDs
/// (`2.5.4.97=#13…`): written by name, like the ones it knows.
const MORE_NAMES: [(&str, &str); 4] = [
    ("2.5.4.97", "organizationIdentifier"),
    ("2.5.4.15", "businessCategory"),
    ("1.3.6.1.4.1.311.60.2.1.3", "jurisdictionCountryName"),
    ("2.5.4.65", "pseudonym"),
];

/// [`name_text`] as a method: `tbs.subject().text()`.
pub trait NameText {
    /// The name as RFC 4514 text, every attribute by name where it has one.
    fn text(&self) -> String;
}

impl NameText for x509_cert::name::Name {
    fn text(&self) -> String {
        name_text(self)
    }
}

/// A distinguished name as RFC 4514 text (last RDN first), every attribute
/// by name where it has one — `organizationIdentifier=VOEN-1234567890`,
/// never `2.5.4.97=#13…`; attributes with no name stay `OID=#hex`.
pub fn name_text(name: &x509_cert::name::Name) -> String {
    let rdns: Vec<String> = name
        .iter_rdn()
        .map(|rdn| {
            rdn.iter()
                .map(|atv| {
                    let known = MORE_NAMES
                        .iter()
                        .find(|(oid, _)| atv.oid.to_string() == *oid)
                        .map(|(_, n)| *n);
                    let text = std::str::from_utf8(atv.value.value()).ok().filter(|_| {
                        matches!(
                            atv.value.tag(),
                            der::Tag::Utf8String | der::Tag::PrintableString | der::Tag::Ia5String
                        )
                    });
                    match (known, text) {
                        (Some(n), Some(v)) => format!("{n}={}", escape_rfc4514(v)),
                        _ => atv.to_string(),
                    }
                })
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect();
    rdns.into_iter().rev().collect::<Vec<_>>().join(",")
}

/// RFC 4514 §2.4 escaping of an attribute value.
fn escape_rfc4514(v: &str) -> String {
    let mut out = String::new();
    let n = v.chars().count();
    for (i, c) in v.chars().enumerate() {
        match c {
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i + 1 == n => out.push_str("\\ "),
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\x00'..='\x1f' | '\x7f' => out.push_str(&format!("\\{:02x}", c as u8)),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod name_tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn organization_identifiers_are_written_by_name() {
        let name =
            x509_cert::name::Name::from_str("CN=Ali Valiyev,O=ASAN LLC,C=AZ").unwrap_or_default();
        assert_eq!(name_text(&name), "CN=Ali Valiyev,O=ASAN LLC,C=AZ");
        // organizationIdentifier (2.5.4.97) as the CA writes it.
        let der = {
            use der::asn1::{PrintableStringRef, SetOfVec};
            let atv = x509_cert::attr::AttributeTypeAndValue {
                oid: der::asn1::ObjectIdentifier::new_unwrap("2.5.4.97"),
                value: der::Any::encode_from(&PrintableStringRef::new("VOEN-1234567890").unwrap())
                    .unwrap(),
            };
            let mut set = SetOfVec::new();
            set.insert(atv).unwrap();
            let rdn = x509_cert::name::RelativeDistinguishedName::from(set);
            let mut seq = x509_cert::name::RdnSequence::default();
            seq.push(rdn);
            seq.to_der().unwrap_or_default()
        };
        let name = x509_cert::name::Name::from_der(&der).unwrap_or_default();
        assert_eq!(name_text(&name), "organizationIdentifier=VOEN-1234567890");
        assert_eq!(escape_rfc4514(" a,b "), "\\ a\\,b\\ ");
    }
}
