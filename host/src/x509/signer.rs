//! Keys that sign SHA-256 digests somewhere else (on the card), and the
//! adapter the `x509-cert` builders need.
//!
//! The builders sign through `signature::Signer<DerSignature>`, which cannot
//! carry our error type: a wrong PIN would come back as a generic signature
//! error. [`CardSigner`] keeps the signer's real error so the caller can
//! return it ([`CardSigner::take_error`]).

use std::cell::RefCell;
use std::fmt;

use der::oid::ObjectIdentifier;
use p256::PublicKey;
use p256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use p256::ecdsa::signature::{self, Keypair, Signer};
use p256::ecdsa::{DerSignature, Signature, SigningKey, VerifyingKey};
use p256::elliptic_curve::Generate;
use sha2::{Digest, Sha256};
use x509_cert::spki::{AlgorithmIdentifierOwned, DynSignatureAlgorithmIdentifier};

use super::cert_error;
use crate::error::{Error, Result};

/// `ecdsa-with-SHA256` (1.2.840.10045.4.3.2), without parameters.
pub const ECDSA_WITH_SHA256: ObjectIdentifier = der::oid::db::rfc5912::ECDSA_WITH_SHA_256;

/// A key that signs SHA-256 digests somewhere else (on the card): raw r||s.
pub trait DigestSigner {
    /// The public key.
    fn public_key(&self) -> PublicKey;
    /// Signs a SHA-256 digest; returns r || s.
    fn sign_digest(&mut self, digest: &[u8; 32]) -> Result<[u8; 64]>;
}

/// Adapter implementing what the `x509-cert` builders need over a
/// [`DigestSigner`]: `signature::Keypair`, `signature::Signer<DerSignature>`
/// (hashes the bytes it is given with SHA-256 and calls
/// [`DigestSigner::sign_digest`]) and `spki::DynSignatureAlgorithmIdentifier`
/// (ecdsa-with-SHA256, no parameters).
///
/// Each signature the signer returns is checked against its public key, so a
/// card that answers garbage is caught here and not by the relying party.
/// When signing fails the builder only sees a generic error; the real one
/// (for example [`Error::WrongPin`]) stays here for [`take_error`](Self::take_error).
pub struct CardSigner<'a> {
    inner: RefCell<&'a mut dyn DigestSigner>,
    verifying_key: VerifyingKey,
    error: RefCell<Option<Error>>,
}

impl<'a> CardSigner<'a> {
    /// Wraps `inner`; its public key is read once, here.
    pub fn new(inner: &'a mut dyn DigestSigner) -> Self {
        let verifying_key = VerifyingKey::from(inner.public_key());
        Self {
            inner: RefCell::new(inner),
            verifying_key,
            error: RefCell::new(None),
        }
    }

    /// The error of the last failed signature, if any (taken: a second call
    /// answers `None`).
    pub fn take_error(&self) -> Option<Error> {
        self.error.try_borrow_mut().ok().and_then(|mut e| e.take())
    }

    /// Hashes `msg`, has the inner signer sign the digest, checks the answer.
    fn sign_message(&self, msg: &[u8]) -> Result<DerSignature> {
        let digest: [u8; 32] = Sha256::digest(msg).into();
        let raw = {
            let mut inner = self
                .inner
                .try_borrow_mut()
                .map_err(|_| Error::Certificate("the signer is already signing".into()))?;
            inner.sign_digest(&digest)?
        };
        let signature = Signature::from_slice(&raw).map_err(|e| {
            Error::InvalidResponse(format!("the signature r || s is not valid: {e}"))
        })?;
        self.verifying_key
            .verify_prehash(&digest, &signature)
            .map_err(|_| {
                Error::InvalidResponse(
                    "the signature does not verify with the key's public key".into(),
                )
            })?;
        Ok(signature.to_der())
    }
}

impl fmt::Debug for CardSigner<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CardSigner")
            .field("verifying_key", &self.verifying_key)
            .finish_non_exhaustive()
    }
}

impl Keypair for CardSigner<'_> {
    type VerifyingKey = VerifyingKey;

    fn verifying_key(&self) -> VerifyingKey {
        self.verifying_key
    }
}

impl Signer<DerSignature> for CardSigner<'_> {
    fn try_sign(&self, msg: &[u8]) -> std::result::Result<DerSignature, signature::Error> {
        self.sign_message(msg).map_err(|e| {
            if let Ok(mut slot) = self.error.try_borrow_mut() {
                *slot = Some(e);
            }
            signature::Error::new()
        })
    }
}

impl DynSignatureAlgorithmIdentifier for CardSigner<'_> {
    fn signature_algorithm_identifier(&self) -> x509_cert::spki::Result<AlgorithmIdentifierOwned> {
        Ok(AlgorithmIdentifierOwned {
            oid: ECDSA_WITH_SHA256,
            parameters: None,
        })
    }
}

/// A software P-256 key as [`DigestSigner`] (for the CA and tests).
pub struct SoftwareSigner(pub SigningKey);

impl SoftwareSigner {
    /// A new random key from the operating system's generator.
    pub fn generate() -> Result<Self> {
        SigningKey::try_generate_from_rng(&mut getrandom::SysRng)
            .map(Self)
            .map_err(|e| cert_error("the system random generator failed", e))
    }

    /// The private key.
    pub fn signing_key(&self) -> &SigningKey {
        &self.0
    }
}

impl From<SigningKey> for SoftwareSigner {
    fn from(key: SigningKey) -> Self {
        Self(key)
    }
}

impl fmt::Debug for SoftwareSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SoftwareSigner")
            .field(self.0.verifying_key())
            .finish()
    }
}

impl DigestSigner for SoftwareSigner {
    fn public_key(&self) -> PublicKey {
        PublicKey::from(self.0.verifying_key())
    }

    fn sign_digest(&mut self, digest: &[u8; 32]) -> Result<[u8; 64]> {
        let signature: Signature = self
            .0
            .sign_prehash(digest)
            .map_err(|e| cert_error("software signing failed", e))?;
        Ok(signature.to_bytes().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Verifier;

    #[test]
    fn card_signer_signs_sha256_of_the_message() {
        let mut key = SoftwareSigner::generate().unwrap();
        let vk = *key.0.verifying_key();
        let signer = CardSigner::new(&mut key);
        let sig: DerSignature = signer.try_sign(b"hello").unwrap();
        vk.verify(b"hello", &sig).unwrap();
        assert!(signer.take_error().is_none());
        let alg = signer.signature_algorithm_identifier().unwrap();
        assert_eq!(alg.oid.to_string(), "1.2.840.10045.4.3.2");
        assert!(alg.parameters.is_none());
    }

    struct Garbage(PublicKey);
    impl DigestSigner for Garbage {
        fn public_key(&self) -> PublicKey {
            self.0
        }
        fn sign_digest(&mut self, _: &[u8; 32]) -> Result<[u8; 64]> {
            Ok([1; 64])
        }
    }

    #[test]
    fn a_signature_that_does_not_verify_is_refused() {
        let key = SoftwareSigner::generate().unwrap();
        let mut garbage = Garbage(key.public_key());
        let signer = CardSigner::new(&mut garbage);
        assert!(signer.try_sign(b"x").is_err());
        assert!(matches!(
            signer.take_error(),
            Some(Error::InvalidResponse(_))
        ));
        assert!(signer.take_error().is_none());
    }
}
