//! Signatures: `CKM_ECDSA` over the caller's digest (20–64 bytes) and
//! `CKM_ECDSA_SHA256` hashed here (`C_SignUpdate`/`C_SignFinal` stream).
//! The result is raw `r || s`, 64 bytes. A length query (no buffer, or one
//! too short) answers 64 and neither signs nor uses up the PIN2.
//!
//! A PIN1 key signs by INTERNAL AUTHENTICATE after VERIFY PIN1 in one
//! transaction; a PIN2 key by the one command that carries its PIN2
//! (contract 1.1; VERIFY + PSO in one transaction on a 1.0 card). The card
//! signs a 32-byte digest with a PIN2 key, so another length is brought to
//! 32 bytes the way ECDSA itself reads a digest (FIPS 186-4 §6.4: the
//! leftmost 256 bits; a shorter one is the same integer with leading
//! zeros): the signature is the one the caller's digest asks for.

use asan_applet::{KeyRef, KeyUsage, PinRef};
use asan_card::{Pin2, Secret};
use cryptoki_sys::*;
use sha2::{Digest, Sha256};

use super::objects::Object;
use super::reader::Connector;
use super::token::TokenKind;
use super::{CkResult, Module};

/// The length of every signature: `r || s` of P-256.
pub const SIGNATURE_LEN: usize = 64;

/// A signature operation between `C_SignInit` and its end (`Debug` shows
/// a PIN2 as `Pin2(***)`).
#[derive(Debug)]
pub struct SignOp {
    key: KeyRef,
    mechanism: CK_MECHANISM_TYPE,
    hash: Option<Sha256>,
    streamed: bool,
    pin2: Option<Pin2>,
}

impl SignOp {
    /// A context-specific login: the PIN2 of this signature.
    pub fn authorise(&mut self, pin2: Pin2) {
        self.pin2 = Some(pin2);
    }
}

/// What `C_Sign` / `C_SignFinal` produce.
#[derive(Debug, PartialEq, Eq)]
pub enum Signed {
    /// A length query: this many bytes are needed; nothing was signed and
    /// the operation goes on.
    Length(usize),
    /// The signature, `r || s`; the operation is over.
    Signature(Vec<u8>),
}

/// The digest the card signs for `data` under `mechanism`.
fn digest_of(mechanism: CK_MECHANISM_TYPE, data: &[u8]) -> CkResult<Vec<u8>> {
    match mechanism {
        CKM_ECDSA if (20..=64).contains(&data.len()) => Ok(data.to_vec()),
        CKM_ECDSA => Err(CKR_DATA_LEN_RANGE),
        _ => Ok(Sha256::digest(data).to_vec()),
    }
}

/// A digest of 20–64 bytes as the 32 bytes ECDSA over P-256 reads of it.
pub fn as_p256_digest(digest: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    if digest.len() >= 32 {
        out.copy_from_slice(&digest[..32]);
    } else {
        out[32 - digest.len()..].copy_from_slice(digest);
    }
    out
}

impl<C: Connector> Module<C> {
    /// `C_SignInit`.
    pub fn sign_init(
        &mut self,
        handle: CK_SESSION_HANDLE,
        mechanism: CK_MECHANISM_TYPE,
        key: CK_OBJECT_HANDLE,
    ) -> CkResult<()> {
        let (_, kind) = self.session(handle)?;
        if self.session_mut(handle)?.sign.is_some() {
            return Err(CKR_OPERATION_ACTIVE);
        }
        let key = match self.object(handle, key)? {
            Object::PrivateKey(k) => k.key,
            _ => return Err(CKR_KEY_TYPE_INCONSISTENT),
        };
        if key.usage != kind.usage() {
            return Err(CKR_KEY_HANDLE_INVALID);
        }
        if !super::MECHANISMS.contains(&mechanism) {
            return Err(CKR_MECHANISM_INVALID);
        }
        self.session_mut(handle)?.sign = Some(SignOp {
            key,
            mechanism,
            hash: (mechanism == CKM_ECDSA_SHA256).then(Sha256::new),
            streamed: false,
            pin2: None,
        });
        Ok(())
    }

    /// `C_Sign`: `room` is the caller's buffer size (`None`: a length query).
    pub fn sign(
        &mut self,
        handle: CK_SESSION_HANDLE,
        data: &[u8],
        room: Option<usize>,
    ) -> CkResult<Signed> {
        self.session(handle)?;
        let op = self
            .session_mut(handle)?
            .sign
            .as_ref()
            .ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        if op.streamed {
            return Err(CKR_OPERATION_ACTIVE);
        }
        let digest = match digest_of(op.mechanism, data) {
            Ok(d) => d,
            Err(e) => {
                self.session_mut(handle)?.sign = None;
                return Err(e);
            }
        };
        self.finish(handle, &digest, room)
    }

    /// `C_SignUpdate` (`CKM_ECDSA_SHA256` only).
    pub fn sign_update(&mut self, handle: CK_SESSION_HANDLE, data: &[u8]) -> CkResult<()> {
        self.session(handle)?;
        let session = self.session_mut(handle)?;
        let op = session.sign.as_mut().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        match op.hash.as_mut() {
            Some(h) => {
                h.update(data);
                op.streamed = true;
                Ok(())
            }
            None => {
                // Raw ECDSA cannot be streamed; the operation ends.
                session.sign = None;
                Err(CKR_FUNCTION_NOT_SUPPORTED)
            }
        }
    }

    /// `C_SignFinal`.
    pub fn sign_final(
        &mut self,
        handle: CK_SESSION_HANDLE,
        room: Option<usize>,
    ) -> CkResult<Signed> {
        self.session(handle)?;
        let session = self.session_mut(handle)?;
        let op = session.sign.as_ref().ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        let Some(hash) = op.hash.clone() else {
            session.sign = None;
            return Err(CKR_FUNCTION_NOT_SUPPORTED);
        };
        self.finish(handle, &hash.finalize(), room)
    }

    /// Answers a length query, or signs `digest` and ends the operation.
    fn finish(
        &mut self,
        handle: CK_SESSION_HANDLE,
        digest: &[u8],
        room: Option<usize>,
    ) -> CkResult<Signed> {
        match room {
            None => return Ok(Signed::Length(SIGNATURE_LEN)),
            Some(n) if n < SIGNATURE_LEN => return Err(CKR_BUFFER_TOO_SMALL),
            Some(_) => {}
        }
        let i = self.session_mut(handle)?.slot / 2;
        let Some(mut op) = self.session_mut(handle)?.sign.take() else {
            return Err(CKR_OPERATION_NOT_INITIALIZED);
        };
        let profile = op.key.profile;
        let signature = match op.key.usage {
            KeyUsage::Authentication => {
                let pin1 = self.pin1(i).ok_or(CKR_USER_NOT_LOGGED_IN)?;
                let result = self.with_pin(i, PinRef::Pin1, pin1.block().as_bytes(), |c| {
                    c.card.authenticate(digest, &pin1, profile)
                });
                if result == Err(CKR_PIN_INCORRECT) || result == Err(CKR_PIN_LOCKED) {
                    // PIN1 changed elsewhere: the login is void.
                    self.readers[i].logins[TokenKind::Pin1.index()] = super::Login::Public;
                }
                result?
            }
            KeyUsage::Signing => {
                // One PIN2, one signature: a context-specific PIN and a
                // user login's PIN are both used up by it.
                let pending = self.take_pin2(i);
                let pin2 = op.pin2.take().or(pending).ok_or(CKR_USER_NOT_LOGGED_IN)?;
                let digest = as_p256_digest(digest);
                self.with_pin(i, PinRef::Pin2, pin2.block().as_bytes(), |c| {
                    c.card.sign(&digest, &pin2, profile)
                })?
            }
        };
        let pin = match op.key.usage {
            KeyUsage::Authentication => PinRef::Pin1,
            KeyUsage::Signing => PinRef::Pin2,
        };
        self.restored(i, pin);
        Ok(Signed::Signature(signature.to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_read_as_ecdsa_reads_them() {
        let long: Vec<u8> = (0..64).collect();
        assert_eq!(as_p256_digest(&long).as_slice(), &long[..32]);
        let short = [7u8; 20];
        let d = as_p256_digest(&short);
        assert_eq!(&d[..12], &[0; 12]);
        assert_eq!(&d[12..], &short);
        assert_eq!(digest_of(CKM_ECDSA, &[0; 19]), Err(CKR_DATA_LEN_RANGE));
        assert_eq!(digest_of(CKM_ECDSA, &[0; 65]), Err(CKR_DATA_LEN_RANGE));
        assert_eq!(digest_of(CKM_ECDSA_SHA256, b"").map(|d| d.len()), Ok(32));
    }
}
