//! The RFC 3161 structures, as `der` types (no crate on our RustCrypto
//! line has them: `x509-tsp` is on der 0.7).
//!
//! ```text
//! TimeStampReq ::= SEQUENCE { version INTEGER { v1(1) }, messageImprint MessageImprint,
//!     reqPolicy TSAPolicyId OPTIONAL, nonce INTEGER OPTIONAL,
//!     certReq BOOLEAN DEFAULT FALSE, extensions [0] IMPLICIT Extensions OPTIONAL }
//! MessageImprint ::= SEQUENCE { hashAlgorithm AlgorithmIdentifier, hashedMessage OCTET STRING }
//! TimeStampResp ::= SEQUENCE { status PKIStatusInfo, timeStampToken TimeStampToken OPTIONAL }
//! PKIStatusInfo ::= SEQUENCE { status PKIStatus, statusString PKIFreeText OPTIONAL,
//!     failInfo PKIFailureInfo OPTIONAL }
//! TSTInfo ::= SEQUENCE { version INTEGER { v1(1) }, policy TSAPolicyId,
//!     messageImprint MessageImprint, serialNumber INTEGER, genTime GeneralizedTime,
//!     accuracy Accuracy OPTIONAL, ordering BOOLEAN DEFAULT FALSE, nonce INTEGER OPTIONAL,
//!     tsa [0] GeneralName OPTIONAL, extensions [1] IMPLICIT Extensions OPTIONAL }
//! Accuracy ::= SEQUENCE { seconds INTEGER OPTIONAL, millis [0] INTEGER (1..999) OPTIONAL,
//!     micros [1] INTEGER (1..999) OPTIONAL }
//! ```
//!
//! Policies are kept as raw DER (`Any`): our policy arcs are UUID OIDs,
//! larger than `const-oid` holds. genTime is a [`GenTime`]: RFC 3161
//! allows fractions of a second, which `der`'s `GeneralizedTime` refuses.

use std::time::{Duration, SystemTime};

use der::asn1::{Any, BitString, GeneralizedTime, Int, OctetString, Utf8StringRef};
use der::{DecodeValue, EncodeValue, FixedTag, Header, Length, Reader, Sequence, Tag, Writer};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::spki::AlgorithmIdentifierOwned;

/// A TSTInfo's genTime (RFC 3161 §2.4.2): a DER `GeneralizedTime`
/// `YYYYMMDDhhmmss[.s...]Z`, fractions of a second allowed (read, kept to
/// the nanosecond); written to the second, without a fraction.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct GenTime(SystemTime);

impl GenTime {
    /// The time, truncated to the second when it is encoded.
    pub fn from_system_time(time: SystemTime) -> der::Result<Self> {
        GeneralizedTime::from_system_time(time)?;
        Ok(Self(time))
    }

    /// The time, with the fraction of a second the token carries.
    pub fn to_system_time(self) -> SystemTime {
        self.0
    }
}

impl FixedTag for GenTime {
    const TAG: Tag = Tag::GeneralizedTime;
}

impl<'a> DecodeValue<'a> for GenTime {
    type Error = der::Error;

    fn decode_value<R: Reader<'a>>(reader: &mut R, header: Header) -> der::Result<Self> {
        let bytes = reader.read_vec(header.length())?;
        let bad = || der::Error::from(der::ErrorKind::DateTime);
        let (whole, rest) = (
            bytes.get(..14).ok_or_else(bad)?,
            bytes.get(14..).ok_or_else(bad)?,
        );
        let fraction = match rest {
            [b'Z'] => &[][..],
            // DER has no trailing zeros; they are taken all the same (the
            // token's signature covers the bytes as they are).
            [b'.', digits @ .., b'Z']
                if !digits.is_empty()
                    && digits.len() <= 9
                    && digits.iter().all(u8::is_ascii_digit) =>
            {
                digits
            }
            _ => return Err(bad()),
        };
        let mut plain = vec![0x18, 15];
        plain.extend_from_slice(whole);
        plain.push(b'Z');
        let seconds = <GeneralizedTime as der::Decode>::from_der(&plain)?.to_system_time();
        let mut nanos = 0u32;
        for (i, d) in fraction.iter().enumerate() {
            nanos += u32::from(d - b'0') * 10u32.pow(8 - i as u32);
        }
        Ok(Self(seconds + Duration::from_nanos(u64::from(nanos))))
    }
}

impl EncodeValue for GenTime {
    fn value_len(&self) -> der::Result<Length> {
        GeneralizedTime::from_system_time(self.0)?.value_len()
    }

    fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
        GeneralizedTime::from_system_time(self.0)?.encode_value(writer)
    }
}

/// An OBJECT IDENTIFIER kept as its content octets: any arc size (our
/// policies are UUID OIDs), and, unlike `Any`, only ever this tag, so an
/// optional policy is never mistaken for the field after it.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct RawOid(pub Vec<u8>);

impl RawOid {
    /// From the DER of a whole OID (tag, length, content).
    pub fn from_oid_der(der: &[u8]) -> der::Result<Self> {
        use der::Decode;
        Self::from_der(der)
    }
}

impl FixedTag for RawOid {
    const TAG: Tag = Tag::ObjectIdentifier;
}

impl<'a> DecodeValue<'a> for RawOid {
    type Error = der::Error;

    fn decode_value<R: Reader<'a>>(reader: &mut R, header: Header) -> der::Result<Self> {
        Ok(Self(reader.read_vec(header.length())?))
    }
}

impl EncodeValue for RawOid {
    fn value_len(&self) -> der::Result<Length> {
        Length::try_from(self.0.len())
    }

    fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
        writer.write(&self.0)
    }
}

/// `MessageImprint`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct MessageImprint {
    /// The hash algorithm.
    pub hash_algorithm: AlgorithmIdentifierOwned,
    /// The hash of the time-stamped data.
    pub hashed_message: OctetString,
}

/// `TimeStampReq`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct TimeStampReq {
    /// 1.
    pub version: u8,
    /// What is time-stamped.
    pub message_imprint: MessageImprint,
    /// The policy asked for.
    #[asn1(optional = "true")]
    pub req_policy: Option<RawOid>,
    /// A nonce the answer must repeat.
    #[asn1(optional = "true")]
    pub nonce: Option<Int>,
    /// Whether the TSA's certificate is to be included.
    #[asn1(default = "Default::default")]
    pub cert_req: bool,
    /// Extensions (none supported: their presence is refused).
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    pub extensions: Option<Vec<x509_cert::ext::Extension>>,
}

/// `Accuracy`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct Accuracy {
    /// Seconds.
    #[asn1(optional = "true")]
    pub seconds: Option<u32>,
    /// Milliseconds.
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    pub millis: Option<u16>,
    /// Microseconds.
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    pub micros: Option<u16>,
}

/// `TSTInfo`, the content a time-stamp token signs.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct TstInfo {
    /// 1.
    pub version: u8,
    /// The TSA's policy.
    pub policy: RawOid,
    /// What was time-stamped.
    pub message_imprint: MessageImprint,
    /// Unique for every token of the TSA.
    pub serial_number: Int,
    /// When.
    pub gen_time: GenTime,
    /// How precisely.
    #[asn1(optional = "true")]
    pub accuracy: Option<Accuracy>,
    /// Ordering (always false here).
    #[asn1(default = "Default::default")]
    pub ordering: bool,
    /// The request's nonce.
    #[asn1(optional = "true")]
    pub nonce: Option<Int>,
    /// The TSA's name (a hint; the certificate that signs the token is
    /// what is checked).
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub tsa: Option<GeneralName>,
    /// Extensions (none are interpreted).
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    pub extensions: Option<Vec<x509_cert::ext::Extension>>,
}

/// `PKIStatusInfo`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct PkiStatusInfo<'a> {
    /// 0 granted, 2 rejection.
    pub status: u8,
    /// Why (one UTF-8 string).
    #[asn1(optional = "true")]
    pub status_string: Option<Vec<Utf8StringRef<'a>>>,
    /// `PKIFailureInfo` bits.
    #[asn1(optional = "true")]
    pub fail_info: Option<BitString>,
}

/// `TimeStampResp`.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct TimeStampResp<'a> {
    /// Granted or not, and why.
    pub status: PkiStatusInfo<'a>,
    /// The token (a CMS `ContentInfo`), when granted.
    #[asn1(optional = "true")]
    pub time_stamp_token: Option<Any>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use der::{Decode, Encode};
    use std::time::UNIX_EPOCH;

    fn gen_time(text: &str) -> der::Result<GenTime> {
        let mut der = vec![0x18, u8::try_from(text.len()).unwrap_or(0)];
        der.extend_from_slice(text.as_bytes());
        GenTime::from_der(&der)
    }

    #[test]
    fn gen_time_takes_fractions_of_a_second() {
        let whole = gen_time("20261207192756Z").unwrap_or_else(|e| unreachable!("{e}"));
        let since = |t: GenTime| {
            t.to_system_time()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
        };
        assert_eq!(since(whole).as_secs(), 1_796_671_676);
        let milli = gen_time("20261207192756.345Z").unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(since(milli), since(whole) + Duration::from_millis(345));
        let nano = gen_time("20261207192756.000000001Z").unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(since(nano), since(whole) + Duration::from_nanos(1));
        for bad in [
            "20261207192756",
            "20261207192756.Z",
            "20261207192756.1234567891Z",
            "20261207192756,5Z",
            "2026120719275Z",
            "20261307192756Z",
            "20261207192756+0100",
        ] {
            assert!(gen_time(bad).is_err(), "{bad}");
        }
        // Written to the second.
        let der = milli.to_der().unwrap_or_default();
        assert_eq!(&der[2..], b"20261207192756Z");
    }
}
