//! Persistent state goes through a [`Store`]: records addressed by
//! [`RecordId`], changed only inside a transaction (`begin` … `commit`).
//!
//! The atomicity argument lives in [`MemStore`]: writes go to a journal first,
//! a single commit mark makes them durable, and recovery at power-up either
//! replays a marked journal or discards an unmarked one. Whatever write a power
//! cut interrupts, the records afterwards are those before or after the
//! transaction.

mod mem;

pub use mem::{IMAGE_LEN, MemStore};

use crate::objects::KeyRef;
use crate::pin::{PIN_RECORD_LEN, PinRef};
use crate::wire::limits::MAX_CERTIFICATE;

/// Why a store operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreError {
    /// Power was cut (fault injection) or the medium failed: nothing more is written.
    PowerLost,
    /// The transaction does not fit in the journal.
    JournalFull,
    /// The data is larger than the record's capacity.
    TooLarge,
    /// `write` or `commit` outside a transaction, or `begin` inside one.
    NoTransaction,
    /// The stored image is not a valid image.
    Corrupt,
}

/// A persistent record of the applet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecordId {
    /// Life cycle state, 1 byte.
    LifeCycle,
    /// Card serial number, 8 bytes.
    Serial,
    /// Service type and state, 2 bytes; absent until set.
    Service,
    /// A PIN record.
    Pin(PinRef),
    /// A private key scalar, 32 bytes; absent until generated.
    Key(KeyRef),
    /// A DER certificate, up to 4096 bytes; absent until written.
    Certificate(KeyRef),
    /// The SCP03 static key set: kvn || K-ENC || K-MAC || K-DEK.
    ScpKeys,
    /// The SCP03 sequence counter, 3 bytes big-endian.
    ScpCounter,
}

/// Number of records.
pub const RECORD_COUNT: usize = 20;

impl RecordId {
    /// Index 0..[`RECORD_COUNT`].
    pub const fn index(self) -> usize {
        match self {
            Self::LifeCycle => 0,
            Self::Serial => 1,
            Self::Service => 2,
            Self::Pin(p) => 3 + p.index(),
            Self::Key(k) => 6 + k.index(),
            Self::Certificate(k) => 12 + k.index(),
            Self::ScpKeys => 18,
            Self::ScpCounter => 19,
        }
    }

    /// Capacity in bytes.
    pub const fn capacity(self) -> usize {
        capacity_of(self.index())
    }
}

/// Capacity of the record at `index`.
pub(crate) const fn capacity_of(index: usize) -> usize {
    match index {
        0 => 1,
        1 => 8,
        2 => 2,
        3..=5 => PIN_RECORD_LEN,
        6..=11 => 32,
        12..=17 => MAX_CERTIFICATE,
        18 => 1 + 3 * 16,
        19 => 3,
        _ => 0,
    }
}

/// Transactional persistent storage of records.
///
/// Reads see the committed state plus the writes of the open transaction.
/// An empty write deletes a record; an absent record reads as length 0.
pub trait Store {
    /// Length of a record (0 if absent).
    fn len(&self, id: RecordId) -> Result<usize, StoreError>;
    /// Copies up to `buf.len()` bytes of a record from `offset`; returns how many.
    fn read(&self, id: RecordId, offset: usize, buf: &mut [u8]) -> Result<usize, StoreError>;
    /// Opens a transaction.
    fn begin(&mut self) -> Result<(), StoreError>;
    /// Stages a write (empty `data` deletes) in the open transaction.
    fn write(&mut self, id: RecordId, data: &[u8]) -> Result<(), StoreError>;
    /// Makes every staged write durable at once.
    fn commit(&mut self) -> Result<(), StoreError>;
    /// Drops the staged writes.
    fn abort(&mut self);
}
