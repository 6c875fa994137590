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
//! larger than `const-oid` holds.

use der::asn1::{Any, BitString, GeneralizedTime, Int, OctetString, Utf8StringRef};
use der::{DecodeValue, EncodeValue, FixedTag, Header, Length, Reader, Sequence, Tag, Writer};
use x509_cert::spki::AlgorithmIdentifierOwned;

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
    pub gen_time: GeneralizedTime,
    /// How precisely.
    #[asn1(optional = "true")]
    pub accuracy: Option<Accuracy>,
    /// Ordering (always false here).
    #[asn1(default = "Default::default")]
    pub ordering: bool,
    /// The request's nonce.
    #[asn1(optional = "true")]
    pub nonce: Option<Int>,
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
