//! MSE: SET, INTERNAL AUTHENTICATE, PSO: COMPUTE DIGITAL SIGNATURE and
//! reading public keys.

use ecdsa::hazmat::sign_prehashed_rfc6979;
use p256::NistP256;
use p256::ecdsa::Signature;
use p256::elliptic_curve::sec1::ToSec1Point;
use rand_core::CryptoRng;
use sha2::Sha256;
use zeroize::Zeroize;

use crate::applet::Core;
use crate::command::Template;
use crate::objects::KeyRef;
use crate::out::Out;
use crate::pin::{PinBlock, PinRef};
use crate::state;
use crate::store::Store;
use crate::wire::{Status, limits, tag};

/// MSE: SET AT / DST selects the key for the following operations.
pub fn mse<S: Store, R>(
    core: &mut Core<S, R>,
    template: Template,
    key: KeyRef,
) -> Result<(), Status> {
    if !state::has_key(&core.store, key)? {
        return Err(Status::KeyReferenceNotFound);
    }
    match template {
        Template::Authentication => core.session.auth_key = key,
        Template::Signature => core.session.sign_key = key,
    }
    Ok(())
}

/// Service rules, then the signature over the pre-hash.
fn sign<S: Store, R: CryptoRng>(
    core: &mut Core<S, R>,
    key: KeyRef,
    digest: &[u8],
    out: &mut Out,
) -> Result<(), Status> {
    let service = state::service(&core.store)?.ok_or(Status::ConditionsOfUseNotSatisfied)?;
    if !service.permits(key.profile) {
        return Err(Status::ConditionsOfUseNotSatisfied);
    }
    let secret = state::key(&core.store, key)?.ok_or(Status::KeyReferenceNotFound)?;
    // RFC 6979 nonces hedged with 32 bytes of card randomness, straight on
    // the secret scalar (a `SigningKey` would recompute the public key on
    // every signature, doubling its cost).
    let mut hedge = [0u8; 32];
    core.rng.fill_bytes(&mut hedge);
    let (signature, _): (Signature, _) =
        sign_prehashed_rfc6979::<NistP256, Sha256>(&secret.to_nonzero_scalar(), digest, &hedge);
    hedge.zeroize();
    out.extend(&signature.to_bytes())
}

/// INTERNAL AUTHENTICATE with the current authentication key; needs PIN1.
pub fn internal_authenticate<S: Store, R: CryptoRng>(
    core: &mut Core<S, R>,
    digest: &[u8],
    out: &mut Out,
) -> Result<(), Status> {
    if !core.session.pin1_verified {
        return Err(Status::SecurityStatusNotSatisfied);
    }
    let key = core.session.auth_key;
    sign(core, key, digest, out)
}

/// PSO: COMPUTE DIGITAL SIGNATURE with the current signing key. Uses up the
/// PIN2 verification, whatever the outcome.
pub fn compute_signature<S: Store, R: CryptoRng>(
    core: &mut Core<S, R>,
    digest: &[u8],
    out: &mut Out,
) -> Result<(), Status> {
    let authorised = core::mem::take(&mut core.session.pin2_verified);
    if digest.len() != limits::SIGN_DIGEST {
        return Err(Status::WrongLength);
    }
    if !authorised {
        return Err(Status::SecurityStatusNotSatisfied);
    }
    let key = core.session.sign_key;
    sign(core, key, digest, out)
}

/// PSO: COMPUTE DIGITAL SIGNATURE with its own PIN2 (contract 1.1): the
/// key must exist (`6A88`, no try spent), then PIN2 is checked as VERIFY
/// checks it (a try spent and persisted before the comparison, restored on
/// a match; a wrong PIN2 clears the session's PIN2 status), then the service
/// rules and the signature. It neither needs nor grants a PIN2 verification
/// in the session and leaves the MSE selection as it is.
pub fn compute_signature_with_pin<S: Store, R: CryptoRng>(
    core: &mut Core<S, R>,
    key: KeyRef,
    pin2: &PinBlock,
    digest: &[u8],
    out: &mut Out,
) -> Result<(), Status> {
    if !state::has_key(&core.store, key)? {
        return Err(Status::KeyReferenceNotFound);
    }
    super::pin::confirm(core, PinRef::Pin2, pin2)?;
    sign(core, key, digest, out)
}

/// Appends the public key template `7F49 { 86 41 04 X Y }` of `key`.
pub fn public_key_template<S: Store, R>(
    core: &Core<S, R>,
    key: KeyRef,
    out: &mut Out,
) -> Result<(), Status> {
    let secret = state::key(&core.store, key)?.ok_or(Status::KeyReferenceNotFound)?;
    let point = secret.public_key().to_uncompressed_point();
    let mut inner = Out::default();
    inner.tlv(&[tag::EC_POINT], point.as_slice())?;
    out.tlv(&tag::PUBLIC_KEY_TEMPLATE, inner.data())
}

/// GET PUBLIC KEY: public, needs no PIN.
pub fn get_public_key<S: Store, R>(
    core: &mut Core<S, R>,
    key: KeyRef,
    out: &mut Out,
) -> Result<(), Status> {
    public_key_template(core, key, out)
}
