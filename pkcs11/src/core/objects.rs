//! The objects a token shows: per key a certificate, a public key and a
//! private key linked by `CKA_ID` (the card's key reference), and the
//! PKCS#11 3.0 profile object that tells NSS the certificates are public.
//! Attribute values are encoded here, once, the way the C ABI returns them.

use asan_applet::{KeyRef, KeyUsage};
use cryptoki_sys::*;
use der::{Decode, Encode};
use x509_cert::Certificate;

/// DER of the named curve prime256v1 (1.2.840.10045.3.1.7), `CKA_EC_PARAMS`.
pub const P256_PARAMS: [u8; 10] = [0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];

/// What one object is.
#[derive(Clone, Debug)]
pub enum Object {
    /// The PKCS#11 3.0 profile `CKP_PUBLIC_CERTIFICATES_TOKEN`.
    Profile,
    /// An X.509 certificate of a key.
    Certificate {
        /// The key it certifies.
        key: KeyRef,
        /// The DER bytes and the fields taken from them.
        cert: CertificateParts,
    },
    /// The public half of a key pair.
    PublicKey(KeyObject),
    /// The private half, on the card (never extractable).
    PrivateKey(KeyObject),
}

/// The parts of a certificate PKCS#11 shows.
#[derive(Clone, Debug)]
pub struct CertificateParts {
    /// The whole certificate, DER.
    pub der: Vec<u8>,
    /// Its subject name, DER.
    pub subject: Vec<u8>,
    /// Its issuer name, DER.
    pub issuer: Vec<u8>,
    /// Its serial number as a DER INTEGER (tag, length, value).
    pub serial: Vec<u8>,
}

impl CertificateParts {
    /// Takes a certificate apart; a broken one is an error naming the cause.
    pub fn parse(der: Vec<u8>) -> Result<(Self, Vec<u8>), String> {
        let cert = Certificate::from_der(&der).map_err(|e| e.to_string())?;
        let tbs = &cert.tbs_certificate();
        let subject = tbs.subject().to_der().map_err(|e| e.to_string())?;
        let issuer = tbs.issuer().to_der().map_err(|e| e.to_string())?;
        let serial = tbs.serial_number().to_der().map_err(|e| e.to_string())?;
        let point = tbs
            .subject_public_key_info()
            .subject_public_key
            .as_bytes()
            .ok_or("the public key is not a whole number of bytes")?
            .to_vec();
        Ok((
            Self {
                der,
                subject,
                issuer,
                serial,
            },
            point,
        ))
    }
}

/// What a public and a private key object share.
#[derive(Clone, Debug)]
pub struct KeyObject {
    /// The card's key reference.
    pub key: KeyRef,
    /// The uncompressed point `04 || x || y`.
    pub point: Vec<u8>,
    /// The subject of its certificate (DER), empty without one.
    pub subject: Vec<u8>,
}

/// `CKA_ID` of a key: its key reference byte (`11` citizen authentication …
/// `23` government signing).
pub fn key_id(key: KeyRef) -> Vec<u8> {
    vec![key.byte()]
}

/// `CKA_LABEL` of a key and its certificate: `Citizen signing`, ….
pub fn key_label(key: KeyRef) -> String {
    let profile = match key.profile {
        asan_applet::CertificateProfile::Citizen => "Citizen",
        asan_applet::CertificateProfile::Business => "Business",
        asan_applet::CertificateProfile::Governmental => "Government",
    };
    let usage = match key.usage {
        KeyUsage::Authentication => "authentication",
        KeyUsage::Signing => "signing",
    };
    format!("{profile} {usage}")
}

/// The value of one attribute of an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// The bytes the C ABI returns.
    Bytes(Vec<u8>),
    /// The attribute exists but is sensitive (`CKR_ATTRIBUTE_SENSITIVE`).
    Sensitive,
    /// The object has no such attribute (`CKR_ATTRIBUTE_TYPE_INVALID`).
    Invalid,
}

fn ulong(v: CK_ULONG) -> Value {
    Value::Bytes(v.to_ne_bytes().to_vec())
}

fn bool_(v: bool) -> Value {
    Value::Bytes(vec![if v { CK_TRUE } else { CK_FALSE }])
}

fn bytes(v: &[u8]) -> Value {
    Value::Bytes(v.to_vec())
}

/// `CKA_EC_POINT`: the point wrapped in a DER OCTET STRING (as PKCS#11
/// v2.40 says and OpenSC, NSS and OpenSSH expect).
fn ec_point(point: &[u8]) -> Value {
    match der::asn1::OctetStringRef::new(point).and_then(|o| o.to_der()) {
        Ok(v) => Value::Bytes(v),
        Err(_) => Value::Invalid,
    }
}

impl Object {
    /// The object's class.
    pub fn class(&self) -> CK_OBJECT_CLASS {
        match self {
            Self::Profile => CKO_PROFILE,
            Self::Certificate { .. } => CKO_CERTIFICATE,
            Self::PublicKey(_) => CKO_PUBLIC_KEY,
            Self::PrivateKey(_) => CKO_PRIVATE_KEY,
        }
    }

    /// Whether the object is private (`CKA_PRIVATE`): seen only after a
    /// login. That is the PIN1 token's private keys alone: applications
    /// such as libp11 log in when, and only when, the key they look for is
    /// not visible without it. Certificates and public keys are public, and
    /// so are the PIN2 token's private keys — a PIN2 login lasts one
    /// signature, and `CKA_ALWAYS_AUTHENTICATE` makes applications ask for
    /// the PIN2 of each signature anyway.
    pub fn is_private(&self) -> bool {
        matches!(self, Self::PrivateKey(k) if k.key.usage == KeyUsage::Authentication)
    }

    /// The value of `attribute`.
    pub fn attribute(&self, attribute: CK_ATTRIBUTE_TYPE) -> Value {
        // Storage attributes every object has: on the token, read-only.
        match attribute {
            CKA_CLASS => return ulong(self.class()),
            CKA_TOKEN => return bool_(true),
            CKA_PRIVATE => return bool_(self.is_private()),
            CKA_MODIFIABLE | CKA_COPYABLE | CKA_DESTROYABLE => return bool_(false),
            _ => {}
        }
        match self {
            Self::Profile => match attribute {
                CKA_PROFILE_ID => ulong(CKP_PUBLIC_CERTIFICATES_TOKEN),
                CKA_LABEL => bytes(b"Public certificates"),
                _ => Value::Invalid,
            },
            Self::Certificate { key, cert } => match attribute {
                CKA_CERTIFICATE_TYPE => ulong(CKC_X_509),
                CKA_VALUE => bytes(&cert.der),
                CKA_SUBJECT => bytes(&cert.subject),
                CKA_ISSUER => bytes(&cert.issuer),
                CKA_SERIAL_NUMBER => bytes(&cert.serial),
                CKA_ID => bytes(&key_id(*key)),
                CKA_LABEL => bytes(key_label(*key).as_bytes()),
                CKA_TRUSTED => bool_(false),
                // 1: the token user's own certificate.
                CKA_CERTIFICATE_CATEGORY => ulong(1),
                CKA_JAVA_MIDP_SECURITY_DOMAIN => ulong(0),
                CKA_START_DATE
                | CKA_END_DATE
                | CKA_URL
                | CKA_HASH_OF_SUBJECT_PUBLIC_KEY
                | CKA_HASH_OF_ISSUER_PUBLIC_KEY => bytes(&[]),
                _ => Value::Invalid,
            },
            Self::PublicKey(k) | Self::PrivateKey(k) => self.key_attribute(k, attribute),
        }
    }

    fn key_attribute(&self, k: &KeyObject, attribute: CK_ATTRIBUTE_TYPE) -> Value {
        let private = matches!(self, Self::PrivateKey(_));
        let common = match attribute {
            CKA_KEY_TYPE => Some(ulong(CKK_EC)),
            CKA_ID => Some(bytes(&key_id(k.key))),
            CKA_LABEL => Some(bytes(key_label(k.key).as_bytes())),
            CKA_EC_PARAMS => Some(bytes(&P256_PARAMS)),
            CKA_SUBJECT => Some(bytes(&k.subject)),
            // Generated on the card.
            CKA_LOCAL => Some(bool_(true)),
            CKA_KEY_GEN_MECHANISM => Some(ulong(CKM_EC_KEY_PAIR_GEN)),
            CKA_DERIVE => Some(bool_(false)),
            CKA_START_DATE | CKA_END_DATE => Some(bytes(&[])),
            CKA_ALLOWED_MECHANISMS => Some(Value::Bytes(
                [CKM_ECDSA, CKM_ECDSA_SHA256]
                    .iter()
                    .flat_map(|m| m.to_ne_bytes())
                    .collect(),
            )),
            _ => None,
        };
        if let Some(v) = common {
            return v;
        }
        if private {
            match attribute {
                CKA_SIGN => bool_(true),
                CKA_SENSITIVE | CKA_ALWAYS_SENSITIVE | CKA_NEVER_EXTRACTABLE => bool_(true),
                CKA_EXTRACTABLE
                | CKA_DECRYPT
                | CKA_SIGN_RECOVER
                | CKA_UNWRAP
                | CKA_WRAP_WITH_TRUSTED => bool_(false),
                // Each signature with a signing key needs its own PIN2.
                CKA_ALWAYS_AUTHENTICATE => bool_(k.key.usage == KeyUsage::Signing),
                CKA_VALUE => Value::Sensitive,
                _ => Value::Invalid,
            }
        } else {
            match attribute {
                CKA_EC_POINT => ec_point(&k.point),
                CKA_VERIFY => bool_(true),
                CKA_ENCRYPT | CKA_VERIFY_RECOVER | CKA_WRAP | CKA_TRUSTED => bool_(false),
                _ => Value::Invalid,
            }
        }
    }

    /// Whether the object has every attribute of `template` with exactly
    /// that value (`C_FindObjectsInit`).
    pub fn matches(&self, template: &[(CK_ATTRIBUTE_TYPE, Vec<u8>)]) -> bool {
        template
            .iter()
            .all(|(t, v)| matches!(self.attribute(*t), Value::Bytes(b) if b == *v))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn key(usage: KeyUsage) -> KeyObject {
        KeyObject {
            key: KeyRef::new(asan_applet::CertificateProfile::Business, usage),
            point: vec![4; 65],
            subject: vec![0x30, 0],
        }
    }

    #[test]
    fn private_keys_are_sensitive_and_signing_keys_always_authenticate() {
        let sign = Object::PrivateKey(key(KeyUsage::Signing));
        let auth = Object::PrivateKey(key(KeyUsage::Authentication));
        assert_eq!(sign.attribute(CKA_VALUE), Value::Sensitive);
        assert_eq!(sign.attribute(CKA_ALWAYS_AUTHENTICATE), bool_(true));
        assert_eq!(auth.attribute(CKA_ALWAYS_AUTHENTICATE), bool_(false));
        assert_eq!(sign.attribute(CKA_EXTRACTABLE), bool_(false));
        assert_eq!(sign.attribute(CKA_SENSITIVE), bool_(true));
        assert_eq!(sign.attribute(CKA_EC_POINT), Value::Invalid);
        assert_eq!(sign.attribute(CKA_ID), Value::Bytes(vec![0x22]));
        assert_eq!(
            sign.attribute(CKA_LABEL),
            Value::Bytes(b"Business signing".to_vec())
        );
    }

    #[test]
    fn the_public_point_is_a_der_octet_string() {
        let public = Object::PublicKey(key(KeyUsage::Signing));
        let Value::Bytes(v) = public.attribute(CKA_EC_POINT) else {
            panic!("no point")
        };
        assert_eq!(&v[..3], &[0x04, 0x41, 0x04]);
        assert_eq!(v.len(), 67);
        assert_eq!(
            public.attribute(CKA_EC_PARAMS),
            Value::Bytes(P256_PARAMS.to_vec())
        );
    }

    #[test]
    fn templates_match_by_exact_value() {
        let public = Object::PublicKey(key(KeyUsage::Signing));
        let class = CKO_PUBLIC_KEY.to_ne_bytes().to_vec();
        assert!(public.matches(&[(CKA_CLASS, class.clone()), (CKA_ID, vec![0x22])]));
        assert!(!public.matches(&[(CKA_CLASS, class.clone()), (CKA_ID, vec![0x21])]));
        assert!(!public.matches(&[(CKA_CLASS, vec![2])]));
        assert!(!public.matches(&[(CKA_SIGN, vec![1])]));
        assert!(Object::Profile.matches(&[
            (CKA_CLASS, CKO_PROFILE.to_ne_bytes().to_vec()),
            (
                CKA_PROFILE_ID,
                CKP_PUBLIC_CERTIFICATES_TOKEN.to_ne_bytes().to_vec()
            )
        ]));
    }
}
