//! Signing a document with the card: the signing key of a profile and its
//! certificate, both on the card.

use asan_applet::{CertificateProfile, KeyRef, KeyUsage};
use p256::PublicKey;

use super::{SignOptions, sign_detached};
use crate::error::{Error, Result};
use crate::pin::Pin2;
use crate::transport::Transport;
use crate::x509::DigestSigner;
use crate::{AsanCard, cert};

/// The signing key of `profile` on the card as a [`DigestSigner`]: each
/// signature is VERIFY PIN2 and PSO: COMPUTE DIGITAL SIGNATURE. Its public
/// key is the one in the certificate, so a signature by another key (a
/// wrong key selected, a certificate that does not belong to the key) is
/// refused before it reaches a file.
struct CardSigningKey<'a, T: Transport> {
    card: &'a mut AsanCard<T>,
    pin2: &'a Pin2,
    profile: CertificateProfile,
    public: PublicKey,
}

impl<T: Transport> DigestSigner for CardSigningKey<'_, T> {
    fn public_key(&self) -> PublicKey {
        self.public
    }

    fn sign_digest(&mut self, digest: &[u8; 32]) -> Result<[u8; 64]> {
        self.card.sign(digest, self.pin2, self.profile)
    }
}

/// A document signature made on the card.
#[derive(Clone, Debug)]
pub struct CardSignature {
    /// The CMS `ContentInfo`, DER.
    pub cms: Vec<u8>,
    /// The signer's certificate, DER (as read from the card).
    pub certificate: Vec<u8>,
}

/// Reads the signing certificate of `profile` from the card and signs the
/// content whose SHA-256 is `digest` with [`sign_detached`]: one VERIFY
/// PIN2 + PSO. The card's error (wrong PIN2, blocked) comes back unchanged.
pub fn sign_on_card<T: Transport>(
    card: &mut AsanCard<T>,
    pin2: &Pin2,
    profile: CertificateProfile,
    digest: &[u8; 32],
    opts: &SignOptions,
) -> Result<CardSignature> {
    sign_on_card_with(card, pin2, profile, digest, opts, None)
}

/// Like [`sign_on_card`], with the signer's certificate already known
/// (saved by `asan cert read`): then only VERIFY and PSO reach the card.
/// The signature is still checked against that certificate's key, so a
/// certificate of another key is refused before anything is written.
pub fn sign_on_card_with<T: Transport>(
    card: &mut AsanCard<T>,
    pin2: &Pin2,
    profile: CertificateProfile,
    digest: &[u8; 32],
    opts: &SignOptions,
    known_certificate: Option<&[u8]>,
) -> Result<CardSignature> {
    let certificate = match known_certificate {
        Some(der) => der.to_vec(),
        None => card.read_certificate_der(KeyRef::new(profile, KeyUsage::Signing))?,
    };
    let parsed = cert::parse(&certificate)?;
    let public = PublicKey::from_sec1_bytes(&cert::public_key_bytes(&parsed)).map_err(|_| {
        Error::Certificate("the key of the signing certificate is not a P-256 key".into())
    })?;
    // Over a shared reader the card API checks each signature against this
    // key (and does one disturbed by another program again).
    card.expect_public_key(KeyRef::new(profile, KeyUsage::Signing), public);
    let mut key = CardSigningKey {
        card,
        pin2,
        profile,
        public,
    };
    let cms = sign_detached(digest, &certificate, &mut key, opts)?;
    Ok(CardSignature { cms, certificate })
}
