//! The signature algorithms certificates and CRLs may be signed with:
//! ECDSA on P-256 or P-384 with SHA-256 or SHA-384, verified by RustCrypto
//! (`p256`, `p384`). One set of implementations serves both
//! `rustls-webpki` (through `rustls_pki_types::SignatureVerificationAlgorithm`)
//! and our own checks, so the two never disagree about a signature.

use p256::ecdsa::signature::hazmat::PrehashVerifier;
use rustls_pki_types::alg_id;
use rustls_pki_types::{AlgorithmIdentifier, InvalidSignature, SignatureVerificationAlgorithm};
use sha2::{Digest, Sha256, Sha384};

/// The curve of an ECDSA key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Curve {
    P256,
    P384,
}

/// The hash an ECDSA signature is made over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hash {
    Sha256,
    Sha384,
}

/// ECDSA with one curve and one hash.
#[derive(Debug)]
struct Ecdsa {
    curve: Curve,
    hash: Hash,
}

impl Ecdsa {
    fn digest(&self, message: &[u8]) -> Vec<u8> {
        match self.hash {
            Hash::Sha256 => Sha256::digest(message).to_vec(),
            Hash::Sha384 => Sha384::digest(message).to_vec(),
        }
    }

    /// Whether `signature` (DER `ECDSA-Sig-Value`, strict) over `message`
    /// verifies with the SEC1 point `public_key`.
    fn verifies(&self, public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
        let digest = self.digest(message);
        match self.curve {
            Curve::P256 => {
                let (Ok(key), Ok(sig)) = (
                    p256::ecdsa::VerifyingKey::from_sec1_bytes(public_key),
                    p256::ecdsa::Signature::from_der(signature),
                ) else {
                    return false;
                };
                key.verify_prehash(&digest, &sig).is_ok()
            }
            Curve::P384 => {
                let (Ok(key), Ok(sig)) = (
                    p384::ecdsa::VerifyingKey::from_sec1_bytes(public_key),
                    p384::ecdsa::Signature::from_der(signature),
                ) else {
                    return false;
                };
                key.verify_prehash(&digest, &sig).is_ok()
            }
        }
    }
}

impl SignatureVerificationAlgorithm for Ecdsa {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        if self.verifies(public_key, message, signature) {
            Ok(())
        } else {
            Err(InvalidSignature)
        }
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        match self.curve {
            Curve::P256 => alg_id::ECDSA_P256,
            Curve::P384 => alg_id::ECDSA_P384,
        }
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        match self.hash {
            Hash::Sha256 => alg_id::ECDSA_SHA256,
            Hash::Sha384 => alg_id::ECDSA_SHA384,
        }
    }
}

static ECDSA_P256_SHA256: Ecdsa = Ecdsa {
    curve: Curve::P256,
    hash: Hash::Sha256,
};
static ECDSA_P256_SHA384: Ecdsa = Ecdsa {
    curve: Curve::P256,
    hash: Hash::Sha384,
};
static ECDSA_P384_SHA256: Ecdsa = Ecdsa {
    curve: Curve::P384,
    hash: Hash::Sha256,
};
static ECDSA_P384_SHA384: Ecdsa = Ecdsa {
    curve: Curve::P384,
    hash: Hash::Sha384,
};

/// Every algorithm a certificate or CRL may be signed with.
pub static SUPPORTED: &[&dyn SignatureVerificationAlgorithm] = &[
    &ECDSA_P256_SHA256,
    &ECDSA_P256_SHA384,
    &ECDSA_P384_SHA256,
    &ECDSA_P384_SHA384,
];

/// What the supported algorithms are, for messages.
pub const SUPPORTED_NAMES: &str = "ECDSA on P-256 or P-384 with SHA-256 or SHA-384";

/// Verifies `signature` over `message` by the key of `spki` (a DER
/// `SubjectPublicKeyInfo`) with the signature algorithm `algorithm` (a DER
/// `AlgorithmIdentifier`). `Err` says why not: an algorithm we do not
/// support, a key that does not go with it, or a signature that does not
/// verify.
pub fn verify_signed(
    spki: &[u8],
    algorithm: &[u8],
    message: &[u8],
    signature: &[u8],
) -> Result<(), String> {
    let (key_alg, point) = spki_parts(spki).ok_or("the public key is malformed")?;
    let sig_alg = content(algorithm).ok_or("the signature algorithm is malformed")?;
    let Some(alg) = SUPPORTED
        .iter()
        .find(|a| a.signature_alg_id().as_ref() == sig_alg)
    else {
        return Err(format!(
            "the signature algorithm is not supported (only {SUPPORTED_NAMES})"
        ));
    };
    let Some(alg) = SUPPORTED.iter().find(|a| {
        a.signature_alg_id().as_ref() == alg.signature_alg_id().as_ref()
            && a.public_key_alg_id().as_ref() == key_alg
    }) else {
        return Err(format!(
            "the issuer's key is not one the signature algorithm can be used with \
             (only {SUPPORTED_NAMES})"
        ));
    };
    alg.verify_signature(&point, message, signature)
        .map_err(|_| "the signature does not verify".to_owned())
}

/// The contents of a DER TLV (without tag and length), when `der` is
/// exactly one TLV.
fn content(der: &[u8]) -> Option<&[u8]> {
    use der::{Decode, asn1::AnyRef};
    AnyRef::from_der(der).ok().map(|any| any.value())
}

/// The algorithm (contents of the `AlgorithmIdentifier`) and the key bits
/// of a DER `SubjectPublicKeyInfo`.
fn spki_parts(spki: &[u8]) -> Option<(&[u8], Vec<u8>)> {
    use der::{Decode, Reader, SliceReader, asn1::AnyRef, asn1::BitStringRef};
    let outer = AnyRef::from_der(spki).ok()?;
    let mut reader = SliceReader::new(outer.value()).ok()?;
    let algorithm = AnyRef::decode(&mut reader).ok()?;
    let key = BitStringRef::decode(&mut reader).ok()?;
    if !reader.is_finished() {
        return None;
    }
    Some((algorithm.value(), key.as_bytes()?.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use der::Encode;
    use p256::ecdsa::signature::Signer;
    use p256::elliptic_curve::Generate;
    use p256::pkcs8::EncodePublicKey;

    const ECDSA_WITH_SHA256: &[u8] = &[
        0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02,
    ];
    const ECDSA_WITH_SHA384: &[u8] = &[
        0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03,
    ];

    fn p256_key() -> (p256::ecdsa::SigningKey, Vec<u8>) {
        let key = p256::ecdsa::SigningKey::try_generate_from_rng(&mut getrandom::SysRng).unwrap();
        let spki = key
            .verifying_key()
            .to_public_key_der()
            .unwrap()
            .to_der()
            .unwrap();
        (key, spki)
    }

    #[test]
    fn p256_sha256_verifies_and_a_changed_message_does_not() {
        let (key, spki) = p256_key();
        let sig: p256::ecdsa::DerSignature = key.sign(b"tbs");
        assert_eq!(
            verify_signed(&spki, ECDSA_WITH_SHA256, b"tbs", sig.as_bytes()),
            Ok(())
        );
        assert!(verify_signed(&spki, ECDSA_WITH_SHA256, b"tbS", sig.as_bytes()).is_err());
        // The same signature claimed as SHA-384 is another message digest.
        assert!(verify_signed(&spki, ECDSA_WITH_SHA384, b"tbs", sig.as_bytes()).is_err());
    }

    #[test]
    fn p384_keys_and_sha384() {
        let key = p384::ecdsa::SigningKey::try_generate_from_rng(&mut getrandom::SysRng).unwrap();
        let spki = key
            .verifying_key()
            .to_public_key_der()
            .unwrap()
            .to_der()
            .unwrap();
        let digest = Sha384::digest(b"tbs");
        let sig: p384::ecdsa::Signature =
            p384::ecdsa::signature::hazmat::PrehashSigner::sign_prehash(&key, &digest).unwrap();
        let der = sig.to_der();
        assert_eq!(
            verify_signed(&spki, ECDSA_WITH_SHA384, b"tbs", der.as_bytes()),
            Ok(())
        );
        assert!(verify_signed(&spki, ECDSA_WITH_SHA256, b"tbs", der.as_bytes()).is_err());
    }

    #[test]
    fn unsupported_algorithms_and_raw_signatures_are_refused() {
        let (key, spki) = p256_key();
        let sig: p256::ecdsa::Signature = key.sign(b"tbs");
        // Raw r || s is not a certificate signature encoding.
        assert!(verify_signed(&spki, ECDSA_WITH_SHA256, b"tbs", &sig.to_bytes()).is_err());
        // sha256WithRSAEncryption.
        let rsa = [
            0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05,
            0x00,
        ];
        let der = sig.to_der();
        let e = verify_signed(&spki, &rsa, b"tbs", der.as_bytes()).unwrap_err();
        assert!(e.contains("not supported"), "{e}");
        assert!(verify_signed(&[0x30, 0x00], ECDSA_WITH_SHA256, b"tbs", der.as_bytes()).is_err());
    }
}
