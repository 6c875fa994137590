//! Typed access to the persistent records, and installation of a fresh card.

use p256::SecretKey;
use rand_core::CryptoRng;
use zeroize::Zeroize;

use crate::objects::{KeyRef, LifeCycle, Service};
use crate::pin::{PinRecord, PinRef};
use crate::scp03::StaticKeys;
use crate::store::{RecordId, Store, StoreError};

/// A persistent-state failure: the store failed or a record is corrupt.
/// Answered `6F00`; the command changes nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The store failed.
    Store(StoreError),
    /// A record does not decode.
    CorruptRecord(RecordId),
}

impl From<StoreError> for Fault {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// Length of the card serial number.
pub const SERIAL_LEN: usize = 8;
/// Largest value of the 3-byte SCP03 sequence counter.
pub const MAX_SEQUENCE_COUNTER: u32 = 0x00FF_FFFF;

fn read_fixed<S: Store, const N: usize>(s: &S, id: RecordId) -> Result<Option<[u8; N]>, Fault> {
    match s.len(id)? {
        0 => Ok(None),
        n if n == N => {
            let mut buf = [0u8; N];
            s.read(id, 0, &mut buf)?;
            Ok(Some(buf))
        }
        _ => Err(Fault::CorruptRecord(id)),
    }
}

fn required<T>(v: Option<T>, id: RecordId) -> Result<T, Fault> {
    v.ok_or(Fault::CorruptRecord(id))
}

/// Whether the card has been installed (its life cycle record exists).
pub fn installed<S: Store>(s: &S) -> Result<bool, Fault> {
    Ok(s.len(RecordId::LifeCycle)? != 0)
}

/// The life cycle state.
pub fn life_cycle<S: Store>(s: &S) -> Result<LifeCycle, Fault> {
    let id = RecordId::LifeCycle;
    let [b] = required(read_fixed::<_, 1>(s, id)?, id)?;
    required(LifeCycle::from_byte(b), id)
}

/// The card serial number.
pub fn serial<S: Store>(s: &S) -> Result<[u8; SERIAL_LEN], Fault> {
    required(read_fixed(s, RecordId::Serial)?, RecordId::Serial)
}

/// The service, if the operator has set one.
pub fn service<S: Store>(s: &S) -> Result<Option<Service>, Fault> {
    let id = RecordId::Service;
    match read_fixed::<_, 2>(s, id)? {
        None => Ok(None),
        Some(b) => Ok(Some(required(Service::from_bytes(b), id)?)),
    }
}

/// A PIN record.
pub fn pin<S: Store>(s: &S, pin: PinRef) -> Result<PinRecord, Fault> {
    let id = RecordId::Pin(pin);
    let mut buf = [0u8; crate::pin::PIN_RECORD_LEN];
    let rec = match read_fixed::<_, { crate::pin::PIN_RECORD_LEN }>(s, id)? {
        Some(b) => {
            buf = b;
            PinRecord::decode(pin, &buf)
        }
        None => None,
    };
    buf.zeroize();
    required(rec, id)
}

/// A private key, if generated.
pub fn key<S: Store>(s: &S, key: KeyRef) -> Result<Option<SecretKey>, Fault> {
    let id = RecordId::Key(key);
    match read_fixed::<_, 32>(s, id)? {
        None => Ok(None),
        Some(mut b) => {
            let k = SecretKey::from_slice(&b).map_err(|_| Fault::CorruptRecord(id));
            b.zeroize();
            k.map(Some)
        }
    }
}

/// Whether a key pair exists.
pub fn has_key<S: Store>(s: &S, key: KeyRef) -> Result<bool, Fault> {
    Ok(s.len(RecordId::Key(key))? != 0)
}

/// Length of a certificate (0 if absent).
pub fn certificate_len<S: Store>(s: &S, key: KeyRef) -> Result<usize, Fault> {
    Ok(s.len(RecordId::Certificate(key))?)
}

/// The SCP03 static keys.
pub fn scp_keys<S: Store>(s: &S) -> Result<StaticKeys, Fault> {
    let id = RecordId::ScpKeys;
    let mut b = required(read_fixed::<_, { 1 + 3 * 16 }>(s, id)?, id)?;
    let keys = StaticKeys::from_bytes(&b);
    b.zeroize();
    required(keys, id)
}

/// The SCP03 sequence counter.
pub fn scp_counter<S: Store>(s: &S) -> Result<u32, Fault> {
    let id = RecordId::ScpCounter;
    let [a, b, c] = required(read_fixed::<_, 3>(s, id)?, id)?;
    Ok(u32::from_be_bytes([0, a, b, c]))
}

/// Runs `f` as one transaction: commits if it succeeds, aborts otherwise.
pub fn transact<S: Store, T>(
    s: &mut S,
    f: impl FnOnce(&mut S) -> Result<T, Fault>,
) -> Result<T, Fault> {
    s.begin()?;
    match f(s).and_then(|v| s.commit().map(|()| v).map_err(Fault::from)) {
        Ok(v) => Ok(v),
        Err(e) => {
            s.abort();
            Err(e)
        }
    }
}

/// Writes a PIN record (inside a transaction).
pub fn write_pin<S: Store>(s: &mut S, pin: PinRef, rec: &PinRecord) -> Result<(), Fault> {
    let mut enc = rec.encode();
    let r = s.write(RecordId::Pin(pin), &enc);
    enc.zeroize();
    Ok(r?)
}

/// Writes the 3-byte sequence counter (inside a transaction).
pub fn write_scp_counter<S: Store>(s: &mut S, value: u32) -> Result<(), Fault> {
    let [_, a, b, c] = value.to_be_bytes();
    Ok(s.write(RecordId::ScpCounter, &[a, b, c])?)
}

/// Writes the SCP03 key set (inside a transaction).
pub fn write_scp_keys<S: Store>(s: &mut S, keys: &StaticKeys) -> Result<(), Fault> {
    let mut b = keys.to_bytes();
    let r = s.write(RecordId::ScpKeys, &b);
    b.zeroize();
    Ok(r?)
}

/// Installs a fresh card on an empty store in one transaction: life cycle
/// `03`, a random serial, PINs unset with default limits, the GlobalPlatform
/// default test keys under version `30`, sequence counter 0.
pub fn install<S: Store, R: CryptoRng>(s: &mut S, rng: &mut R) -> Result<(), Fault> {
    let mut serial = [0u8; SERIAL_LEN];
    rng.fill_bytes(&mut serial);
    transact(s, |s| {
        s.write(RecordId::Serial, &serial)?;
        for p in PinRef::ALL {
            write_pin(s, p, &PinRecord::fresh(p))?;
        }
        write_scp_keys(s, &StaticKeys::default_test_keys())?;
        write_scp_counter(s, 0)?;
        // Written last: its presence marks an installed card.
        s.write(RecordId::LifeCycle, &[LifeCycle::Initialisation.byte()])?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use rand_chacha::ChaCha20Rng;
    use rand_core::{Rng, SeedableRng};

    use super::*;
    use crate::store::MemStore;

    #[test]
    fn the_serial_is_the_installing_randomness() {
        let mut store = MemStore::new();
        install(&mut store, &mut ChaCha20Rng::seed_from_u64(7)).unwrap_or_else(|_| panic!());
        let mut expected = [0u8; SERIAL_LEN];
        ChaCha20Rng::seed_from_u64(7).fill_bytes(&mut expected);
        assert_eq!(serial(&store), Ok(expected));
        // Records a fresh card does not have yet read as absent.
        assert_eq!(service(&store), Ok(None));
        assert!(matches!(
            key(&store, crate::objects::KeyRef::DEFAULT_SIGNING),
            Ok(None)
        ));
        assert_ne!(expected, [0; SERIAL_LEN]);
    }

    #[test]
    fn a_record_of_the_wrong_length_is_corrupt() {
        let mut store = MemStore::new();
        install(&mut store, &mut ChaCha20Rng::seed_from_u64(7)).unwrap_or_else(|_| panic!());
        for (id, len) in [
            (RecordId::Serial, SERIAL_LEN - 1),
            (RecordId::Serial, 1),
            (RecordId::ScpCounter, 2),
            (RecordId::LifeCycle, 1),
        ] {
            let mut s = store.clone();
            let written = transact(&mut s, |s| Ok(s.write(id, &[7; 8][..len])?));
            assert_eq!(written, Ok(()));
            let read = match id {
                RecordId::Serial => serial(&s).map(|_| ()),
                RecordId::ScpCounter => scp_counter(&s).map(|_| ()),
                _ => life_cycle(&s).map(|_| ()),
            };
            assert_eq!(read, Err(Fault::CorruptRecord(id)), "{id:?} of {len} bytes");
        }
    }
}
