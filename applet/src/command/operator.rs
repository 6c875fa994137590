//! Operator commands (inside SCP03): PINs, retry limits, key pairs,
//! certificates, service, activation, termination, SCP03 keys.

use p256::SecretKey;
use p256::elliptic_curve::Generate;
use rand_core::CryptoRng;
use zeroize::Zeroize;

use crate::applet::Core;
use crate::command::security::public_key_template;
use crate::objects::{CertificateFid, KeyRef, LifeCycle, Service};
use crate::out::Out;
use crate::pin::{PinBlock, PinRef};
use crate::scp03::{StaticKeys, crypto};
use crate::state::{self, transact, write_pin, write_scp_keys};
use crate::store::{RecordId, Store};
use crate::wire::Status;

fn require(ok: bool) -> Result<(), Status> {
    if ok {
        Ok(())
    } else {
        Err(Status::ConditionsOfUseNotSatisfied)
    }
}

fn personalising(lcs: LifeCycle) -> Result<(), Status> {
    require(lcs == LifeCycle::Initialisation)
}

fn not_terminated(lcs: LifeCycle) -> Result<(), Status> {
    require(lcs != LifeCycle::Terminated)
}

/// Sets a PIN or PUK value; its counter goes to the limit. Life cycle `03`.
pub fn set_pin<S: Store, R>(
    core: &mut Core<S, R>,
    lcs: LifeCycle,
    pin: PinRef,
    value: PinBlock,
) -> Result<(), Status> {
    personalising(lcs)?;
    let mut rec = state::pin(&core.store, pin)?;
    rec.value = Some(value);
    rec.tries_left = rec.limit;
    transact(&mut core.store, |s| write_pin(s, pin, &rec))?;
    Ok(())
}

/// Sets a retry limit (1–15); the counter goes to the new limit. Life cycle `03`.
pub fn set_retry_limit<S: Store, R>(
    core: &mut Core<S, R>,
    lcs: LifeCycle,
    pin: PinRef,
    limit: u8,
) -> Result<(), Status> {
    personalising(lcs)?;
    let mut rec = state::pin(&core.store, pin)?;
    rec.limit = limit;
    rec.tries_left = limit;
    transact(&mut core.store, |s| write_pin(s, pin, &rec))?;
    Ok(())
}

/// Generates a key pair on the card, replacing the old one, and answers the
/// public key. The old key's certificate no longer matches and is deleted
/// in the same transaction.
pub fn generate_key_pair<S: Store, R: CryptoRng>(
    core: &mut Core<S, R>,
    lcs: LifeCycle,
    key: KeyRef,
    out: &mut Out,
) -> Result<(), Status> {
    not_terminated(lcs)?;
    let secret = SecretKey::generate_from_rng(&mut core.rng);
    let mut bytes: [u8; 32] = secret.to_bytes().into();
    let r = transact(&mut core.store, |s| {
        s.write(RecordId::Key(key), &bytes)?;
        s.write(RecordId::Certificate(key), &[])?;
        Ok(())
    });
    bytes.zeroize();
    r?;
    public_key_template(core, key, out)
}

/// Checks that `der` is one complete DER SEQUENCE (the outer frame of a certificate).
fn well_framed(der: &[u8]) -> bool {
    let Some((&0x30, rest)) = der.split_first() else {
        return false;
    };
    let Some((&first, rest)) = rest.split_first() else {
        return false;
    };
    let (len, body) = match first {
        0..=0x7F => (usize::from(first), rest),
        0x81 => match rest.split_first() {
            Some((&l, body)) if l >= 0x80 => (usize::from(l), body),
            _ => return false,
        },
        0x82 => match rest.split_first_chunk::<2>() {
            Some((&[hi, lo], body)) if hi != 0 => (usize::from(u16::from_be_bytes([hi, lo])), body),
            _ => return false,
        },
        _ => return false,
    };
    len == body.len()
}

/// Writes (atomically replaces) or, with empty data, deletes a certificate.
pub fn write_certificate<S: Store, R>(
    core: &mut Core<S, R>,
    lcs: LifeCycle,
    file: CertificateFid,
    der: &[u8],
) -> Result<(), Status> {
    not_terminated(lcs)?;
    if !der.is_empty() && !well_framed(der) {
        return Err(Status::IncorrectDataParameter);
    }
    transact(&mut core.store, |s| {
        Ok(s.write(RecordId::Certificate(file.key()), der)?)
    })?;
    if der.is_empty() && core.session.current_ef == Some(file) {
        core.session.current_ef = None;
    }
    Ok(())
}

/// Sets the service type and state.
pub fn set_service<S: Store, R>(
    core: &mut Core<S, R>,
    lcs: LifeCycle,
    service: Service,
) -> Result<(), Status> {
    not_terminated(lcs)?;
    transact(&mut core.store, |s| {
        Ok(s.write(RecordId::Service, &service.bytes())?)
    })?;
    Ok(())
}

/// Life cycle `03` → `05`: needs PIN1, PIN2 and PUK set and keys `11`, `21`.
pub fn activate<S: Store, R>(core: &mut Core<S, R>, lcs: LifeCycle) -> Result<(), Status> {
    personalising(lcs)?;
    for pin in PinRef::ALL {
        require(state::pin(&core.store, pin)?.value.is_some())?;
    }
    require(state::has_key(&core.store, KeyRef::DEFAULT_AUTHENTICATION)?)?;
    require(state::has_key(&core.store, KeyRef::DEFAULT_SIGNING)?)?;
    transact(&mut core.store, |s| {
        Ok(s.write(RecordId::LifeCycle, &[LifeCycle::Operational.byte()])?)
    })?;
    Ok(())
}

/// Any life cycle → `0F`, irreversibly.
pub fn terminate<S: Store, R>(core: &mut Core<S, R>) -> Result<(), Status> {
    transact(&mut core.store, |s| {
        Ok(s.write(RecordId::LifeCycle, &[LifeCycle::Terminated.byte()])?)
    })?;
    core.session = crate::session::Session {
        channel: core.session.channel.take(),
        ..Default::default()
    };
    Ok(())
}

/// Length of one key component of PUT KEY: type, length, key length, key, KCV length, KCV.
const KEY_COMPONENT: usize = 1 + 1 + 1 + 16 + 1 + 3;
/// GlobalPlatform key type AES.
const KEY_TYPE_AES: u8 = 0x88;

/// Decrypts and checks one key component of PUT KEY.
fn key_component(dek: &[u8; 16], c: &[u8]) -> Result<[u8; 16], Status> {
    let bad = Status::IncorrectDataParameter;
    let (head, rest) = c.split_first_chunk::<3>().ok_or(bad)?;
    let (enc, rest) = rest.split_first_chunk::<16>().ok_or(bad)?;
    let (kcv_len, kcv) = rest.split_first().ok_or(bad)?;
    if *head != [KEY_TYPE_AES, 0x11, 0x10] || *kcv_len != 3 {
        return Err(bad);
    }
    let mut key = *enc;
    crypto::aes_cbc_decrypt_zero_iv(dek, &mut key).map_err(|_| bad)?;
    if crypto::key_check_value(&key).as_slice() != kcv {
        key.zeroize();
        return Err(bad);
    }
    Ok(key)
}

/// PUT KEY: replaces the SCP03 key set (keys encrypted under the current
/// K-DEK, each with its check value). Answers new KVN and the three KCVs.
pub fn put_key<S: Store, R>(
    core: &mut Core<S, R>,
    kvn: u8,
    data: &[u8],
    out: &mut Out,
) -> Result<(), Status> {
    let current = state::scp_keys(&core.store)?;
    if kvn != 0 && kvn != current.kvn {
        return Err(Status::KeyReferenceNotFound);
    }
    let (&new_kvn, components) = data.split_first().ok_or(Status::WrongLength)?;
    if components.len() != 3 * KEY_COMPONENT {
        return Err(Status::WrongLength);
    }
    if new_kvn == 0 || new_kvn > 0x7F {
        return Err(Status::IncorrectDataParameter);
    }
    let mut keys = [[0u8; 16]; 3];
    for (key, c) in keys.iter_mut().zip(components.chunks_exact(KEY_COMPONENT)) {
        *key = key_component(&current.dek, c)?;
    }
    let [enc, mac, dek] = keys;
    keys.zeroize();
    let new = StaticKeys {
        enc,
        mac,
        dek,
        kvn: new_kvn,
    };
    transact(&mut core.store, |s| write_scp_keys(s, &new))?;
    out.extend(&[new_kvn])?;
    for k in [&new.enc, &new.mac, &new.dek] {
        out.extend(&crypto::key_check_value(k))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::well_framed;

    #[test]
    fn der_framing() {
        assert!(well_framed(&[0x30, 0x02, 0x05, 0x00]));
        assert!(!well_framed(&[0x30, 0x03, 0x05, 0x00]));
        assert!(!well_framed(&[0x31, 0x02, 0x05, 0x00]));
        let mut long = [0u8; 4 + 300];
        long[..4].copy_from_slice(&[0x30, 0x82, 0x01, 0x2C]);
        assert!(well_framed(&long));
        assert!(!well_framed(&long[..303]));
        assert!(!well_framed(&[0x30, 0x81, 0x05, 0, 0, 0, 0, 0])); // non-minimal length
        // The one-byte long form: 128 to 255 bytes.
        for len in [0x80usize, 0xC8, 0xFF] {
            let mut der = [0u8; 3 + 0xFF];
            der[..3].copy_from_slice(&[0x30, 0x81, len as u8]);
            assert!(well_framed(&der[..3 + len]), "{len}");
            assert!(!well_framed(&der[..2 + len]), "{len} truncated");
        }
        // 0x82 with a zero high byte is not minimal (0x81 would do).
        let mut short = [0u8; 4 + 0xC8];
        short[..4].copy_from_slice(&[0x30, 0x82, 0x00, 0xC8]);
        assert!(!well_framed(&short));
        assert!(!well_framed(&[0x30, 0x82, 0x00, 0x00]));
        assert!(!well_framed(&[0x30]));
        assert!(!well_framed(&[]));
    }
}
