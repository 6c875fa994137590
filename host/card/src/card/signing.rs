//! Signatures made by the card — INTERNAL AUTHENTICATE after PIN1, PSO:
//! COMPUTE DIGITAL SIGNATURE after PIN2 — each in one PC/SC transaction.
//!
//! Over a shared reader (PC/SC) other programs reach the same card session,
//! and pcsc-lite lets one command another program had in flight run inside
//! our transaction. So there every signature is checked against the public
//! key of the key asked for (read once per card session, or taken from its
//! certificate), and an operation another program disturbed — a verification
//! gone before the command it authorised, a signature made with another
//! key — is done again, MSE included, and reported as [`Interference`].

use std::fmt;

use asan_applet::wire::{ins, p, tag};
use asan_applet::{CertificateProfile, KeyRef, KeyUsage, PinRef};
use p256::PublicKey;
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::ecdsa::{Signature, VerifyingKey};

use super::{AsanCard, RawSignature, check, check_empty, public_key_answer, public_key_command};
use crate::apdu::{Apdus, Command};
use crate::error::{Error, Result};
use crate::info;
use crate::pin::{Pin1, Pin2, Secret};
use crate::transport::Transport;

/// How often an operation that another program disturbed is tried in all.
pub const ATTEMPTS: usize = 3;

/// Something another program sharing the reader did in the middle of one of
/// our signatures, which we noticed and recovered from by doing the
/// operation again. [`AsanCard::take_interference`] hands them out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Interference {
    /// Our VERIFY succeeded, but the command it authorised found no
    /// verification: another program's command ran in between (a SELECT, a
    /// logout — or a signature of its own, which then used our PIN).
    VerificationLost {
        /// The PIN we had verified.
        pin: PinRef,
    },
    /// The card's signature did not verify with the public key of the key
    /// asked for: another program's MSE had selected another key (or the
    /// key was replaced since we read its public key).
    WrongKey {
        /// The key asked for.
        key: KeyRef,
    },
}

impl fmt::Display for Interference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::VerificationLost { pin } => write!(
                f,
                "another program's command ran between our VERIFY {} and the command it \
                 authorised, so the card no longer held the verification (if it was a signature \
                 of that program, it used your PIN); verified and signed again",
                crate::error::pin_name(*pin)
            ),
            Self::WrongKey { key } => write!(
                f,
                "the card signed with another key than the {} {} key (another program's MSE \
                 selected another key, or the key was replaced); selected it and signed again",
                info::profile_name(key.profile),
                info::usage_name(key.usage)
            ),
        }
    }
}

/// One signing operation: the key, the PIN that authorises it, the command.
struct Operation<'a> {
    key: KeyRef,
    pin: PinRef,
    block: &'a [u8],
    template: u8,
    header: [u8; 4],
    name: &'static str,
    digest: &'a [u8],
}

/// How one attempt ended.
enum Outcome {
    Signed(RawSignature),
    /// The verification was gone when the signing command came.
    Lost,
}

impl<T: Transport> AsanCard<T> {
    /// Signs `digest` (20–64 bytes) with the authentication key of
    /// `profile` after verifying PIN1 — in one transaction: MSE (only when
    /// another key than the selected one is asked for), VERIFY, INTERNAL
    /// AUTHENTICATE. Over a shared reader see [`AsanCard::sign`].
    pub fn authenticate(
        &mut self,
        digest: &[u8],
        pin1: &Pin1,
        profile: CertificateProfile,
    ) -> Result<RawSignature> {
        if !(20..=64).contains(&digest.len()) {
            return Err(Error::Usage(format!(
                "the digest must have 20 to 64 bytes, not {}",
                digest.len()
            )));
        }
        self.signature(&Operation {
            key: KeyRef::new(profile, KeyUsage::Authentication),
            pin: PinRef::Pin1,
            block: pin1.block().as_bytes(),
            template: p::MSE_AT,
            header: [0x00, ins::INTERNAL_AUTHENTICATE, 0, 0],
            name: "INTERNAL AUTHENTICATE",
            digest,
        })
    }

    /// Signs a SHA-256 `digest` with the signing key of `profile` after
    /// verifying PIN2 — in one transaction: MSE (only when another key than
    /// the selected one is asked for), VERIFY, PSO: COMPUTE DIGITAL SIGNATURE.
    ///
    /// Over a shared reader ([`Transport::shared`]) the first signature with
    /// a key in this session also reads its public key (unless
    /// [`AsanCard::expect_public_key`] gave it), every signature is checked
    /// against it, and an operation another program disturbed is done again
    /// with MSE, up to [`ATTEMPTS`] times in all ([`Interference`]); a wrong
    /// PIN is never tried twice.
    ///
    /// # Example
    ///
    /// ```
    /// use asan_applet::{CertificateProfile, KeyRef};
    /// use asan_card::{AsanCard, Error, Pin2, transport::virtual_card::VirtualTransport};
    /// use p256::ecdsa::{Signature, VerifyingKey, signature::hazmat::PrehashVerifier};
    /// use sha2::{Digest, Sha256};
    /// # use asan_applet::scp03::{SecurityLevel, StaticKeys};
    /// # use asan_applet::{PinRef, Service, ServiceType};
    /// # use asan_card::{Pin1, Puk, Secret, operator::Operator};
    /// # fn main() -> asan_card::Result<()> {
    /// let mut card = AsanCard::open(VirtualTransport::in_memory()?)?;
    /// # card.exclusive(|a| {
    /// #     let level = SecurityLevel::from_byte(0x03).ok_or(Error::Usage("level".into()))?;
    /// #     let mut op = Operator::open(a, &StaticKeys::default_test_keys(), level, true)?;
    /// #     op.set_pin(PinRef::Pin1, Pin1::new("1234")?.block())?;
    /// #     op.set_pin(PinRef::Pin2, Pin2::new("12345")?.block())?;
    /// #     op.set_pin(PinRef::Puk, Puk::new("12345678")?.block())?;
    /// #     op.generate_key(KeyRef::DEFAULT_AUTHENTICATION)?;
    /// #     op.generate_key(KeyRef::DEFAULT_SIGNING)?;
    /// #     op.set_service(Service { kind: ServiceType::Citizen, active: true })?;
    /// #     op.activate()
    /// # })?;
    /// # card.select()?;
    /// let digest: [u8; 32] = Sha256::digest(b"the document").into();
    /// let pin2 = Pin2::new("12345")?;
    /// let signature = card.sign(&digest, &pin2, CertificateProfile::Citizen)?;
    ///
    /// let key = VerifyingKey::from(card.public_key(KeyRef::DEFAULT_SIGNING)?);
    /// let signature = Signature::from_slice(&signature).map_err(|_| Error::Usage("r||s".into()))?;
    /// assert!(key.verify_prehash(&digest, &signature).is_ok());
    ///
    /// // PIN2 authorises one signature: each call verifies it again.
    /// card.sign(&digest, &pin2, CertificateProfile::Citizen)?;
    /// // A card without Business keys refuses the Business profile; no PIN try is spent.
    /// assert!(card.sign(&digest, &pin2, CertificateProfile::Business).is_err());
    /// assert_eq!(card.pin_status()?.pin2.tries_left, 3);
    /// # Ok(())
    /// # }
    /// ```
    pub fn sign(
        &mut self,
        digest: &[u8; 32],
        pin2: &Pin2,
        profile: CertificateProfile,
    ) -> Result<RawSignature> {
        let key = KeyRef::new(profile, KeyUsage::Signing);
        if self.contract >= (1, 1) {
            match self.sign_with_pin(key, digest, pin2) {
                // The card does not know the command after all (its FCI
                // said otherwise): sign the version 1.0 way from now on.
                Err(Error::Status { sw: 0x6A86, .. }) => self.contract = (1, 0),
                result => return result,
            }
        }
        let [p1, p2] = p::PSO_CDS;
        self.signature(&Operation {
            key: KeyRef::new(profile, KeyUsage::Signing),
            pin: PinRef::Pin2,
            block: pin2.block().as_bytes(),
            template: p::MSE_DST,
            header: [0x00, ins::PSO, p1, p2],
            name: "PSO: COMPUTE DIGITAL SIGNATURE",
            digest,
        })
    }

    /// PSO: COMPUTE DIGITAL SIGNATURE with its own PIN2 (contract 1.1): the
    /// key reference, the PIN2 block and the digest in one command, so no
    /// other program can come between a verification and the signature, and
    /// neither MSE nor VERIFY nor a public-key check is needed. The data is
    /// built in memory that is wiped afterwards.
    fn sign_with_pin(
        &mut self,
        key: KeyRef,
        digest: &[u8; 32],
        pin2: &Pin2,
    ) -> Result<RawSignature> {
        let block = pin2.block();
        let mut data = zeroize::Zeroizing::new(Vec::with_capacity(47));
        data.extend_from_slice(&[tag::KEY_REFERENCE, 1, key.byte(), tag::PIN_BLOCK, 8]);
        data.extend_from_slice(block.as_bytes());
        data.extend_from_slice(&[tag::DIGEST, 32]);
        data.extend_from_slice(digest);
        let [p1, p2] = p::PSO_CDS_WITH_PIN;
        let name = "PSO: COMPUTE DIGITAL SIGNATURE";
        let mut signature = None;
        self.exclusive(|a| {
            let r = a.send(
                &Command::new([0x00, ins::PSO, p1, p2])
                    .data(&data)
                    .le(0)
                    .secret(),
            )?;
            check(name, r.sw, Some(PinRef::Pin2)).map_err(|e| missing(e, key))?;
            signature = Some(raw_signature(&r.data)?);
            Ok(())
        })?;
        signature.ok_or_else(|| Error::InvalidResponse(format!("{name} answered nothing")))
    }

    /// Tells which public key `key` has (for example from its certificate),
    /// so that over a shared reader signatures are checked against it
    /// without reading it from the card first. A signature that does not
    /// verify makes us read the card's own public key again.
    ///
    /// A key given here that does not verify the card's signature is first
    /// read from the card (one GET PUBLIC KEY): when the card's own key
    /// verifies it, the given key was only stale (another card, new keys)
    /// and the signature stands, with no [`Interference`]; [`AsanCard::
    /// known_public_key`] then returns the card's key.
    pub fn expect_public_key(&mut self, key: KeyRef, public: PublicKey) {
        self.remember_public_key(key, public);
        self.expected.push(key);
    }

    /// Stores `public` as the card's public key of `key` (read from it).
    pub(crate) fn remember_public_key(&mut self, key: KeyRef, public: PublicKey) {
        self.public_keys.retain(|(k, _)| *k != key);
        self.public_keys.push((key, public));
        self.expected.retain(|k| *k != key);
    }

    /// Whether the public key known for `key` was read from this card in
    /// this session (or confirmed by a signature of it), rather than only
    /// given by the caller.
    pub fn public_key_confirmed(&self, key: KeyRef) -> bool {
        self.known_public_key(key).is_some() && !self.expected.contains(&key)
    }

    /// What other programs sharing the reader did in the middle of our
    /// signatures since the last call, each recovered from.
    pub fn take_interference(&mut self) -> Vec<Interference> {
        std::mem::take(&mut self.interference)
    }

    /// The public key of `key` as far as we know it (read in this session,
    /// answered by GENERATE KEY PAIR, or given by the caller).
    pub fn known_public_key(&self, key: KeyRef) -> Option<PublicKey> {
        self.public_keys
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, public)| *public)
    }

    fn signature(&mut self, op: &Operation<'_>) -> Result<RawSignature> {
        let slot = usize::from(op.key.usage == KeyUsage::Signing);
        let shared = self.transport.shared();
        let mut last = None;
        for _ in 0..ATTEMPTS {
            // After a disturbed attempt nothing is known about the selection.
            let mut selected = last.is_none().then_some(self.selected[slot]);
            let mut public = self.known_public_key(op.key).filter(|_| shared);
            let mut read_now = false;
            let outcome = self.exclusive(|a| {
                if shared && public.is_none() {
                    let r = a.send(&public_key_command(op.key))?;
                    public = Some(public_key_answer(&r).map_err(|e| missing(e, op.key))?);
                    read_now = true;
                }
                if selected != Some(op.key) {
                    mse(a, op.template, op.key)?;
                    selected = Some(op.key);
                }
                let r = a.send(
                    &Command::new([0x00, ins::VERIFY, 0x00, op.pin.byte()])
                        .data(op.block)
                        .secret(),
                )?;
                check_empty("VERIFY", &r, Some(op.pin))?;
                let r = a.send(&Command::new(op.header).data(op.digest).le(0))?;
                if shared && r.sw == 0x6982 {
                    return Ok(Outcome::Lost);
                }
                check(op.name, r.sw, None)?;
                raw_signature(&r.data).map(Outcome::Signed)
            });
            if let Some(key) = selected {
                self.selected[slot] = key;
            }
            if let (Some(public), true) = (public, read_now) {
                self.remember_public_key(op.key, public);
            }
            let disturbed = match outcome? {
                Outcome::Signed(signature) if !shared => return Ok(signature),
                Outcome::Signed(signature) => {
                    if public.is_some_and(|k| verifies(&k, op.digest, &signature)) {
                        self.expected.retain(|k| *k != op.key);
                        return Ok(signature);
                    }
                    if self.expected.contains(&op.key) {
                        // The caller's key may be stale: ask the card.
                        let card_key = self.public_key(op.key).map_err(|e| missing(e, op.key))?;
                        self.remember_public_key(op.key, card_key);
                        if verifies(&card_key, op.digest, &signature) {
                            return Ok(signature);
                        }
                    } else {
                        // Read the card's public key again: it may be new.
                        self.public_keys.retain(|(k, _)| *k != op.key);
                    }
                    Interference::WrongKey { key: op.key }
                }
                Outcome::Lost => Interference::VerificationLost { pin: op.pin },
            };
            self.interference.push(disturbed);
            last = Some(disturbed);
        }
        let what = last.map_or_else(String::new, |i| i.to_string());
        Err(Error::Interference(format!(
            "{} failed {ATTEMPTS} times: {what}",
            op.name
        )))
    }
}

/// Whether `signature` over `digest` verifies with `public`.
fn verifies(public: &PublicKey, digest: &[u8], signature: &RawSignature) -> bool {
    Signature::from_slice(signature).is_ok_and(|s| {
        VerifyingKey::from(public)
            .verify_prehash(digest, &s)
            .is_ok()
    })
}

/// A clearer "not found" for a key the card does not have.
fn missing(e: Error, key: KeyRef) -> Error {
    match e {
        Error::NotFound(_) => Error::NotFound(format!(
            "the card has no {} {} key (its service has no such profile?)",
            info::profile_name(key.profile),
            info::usage_name(key.usage)
        )),
        e => e,
    }
}

/// MSE: SET of `key` in `template` (AT or DST).
fn mse(a: &mut Apdus<'_>, template: u8, key: KeyRef) -> Result<()> {
    let data = [tag::KEY_REFERENCE, 1, key.byte()];
    let r = a.send(&Command::new([0x00, ins::MSE, p::MSE_SET, template]).data(&data))?;
    check_empty("MSE: SET", &r, None).map_err(|e| missing(e, key))
}

fn raw_signature(data: &[u8]) -> Result<RawSignature> {
    <RawSignature>::try_from(data).map_err(|_| {
        Error::InvalidResponse(format!("a signature of {} bytes, expected 64", data.len()))
    })
}
