//! An in-memory store that models the card's non-volatile memory: a main
//! area of fixed slots and a journal. Every physical write is one step, and a
//! fault-injection budget can cut the power after any step.

use super::{RECORD_COUNT, RecordId, Store, StoreError, capacity_of};
use crate::wire::limits::MAX_CERTIFICATE;

/// Slot header: 2-byte length.
const HEADER: usize = 2;

const fn slot_offset(index: usize) -> usize {
    let mut offset = 0;
    let mut i = 0;
    while i < index {
        offset += HEADER + capacity_of(i);
        i += 1;
    }
    offset
}

/// Size of the main area, the persistent image.
pub const IMAGE_LEN: usize = slot_offset(RECORD_COUNT);
/// Journal capacity: the largest transaction (a certificate plus small records).
const JOURNAL_LEN: usize = MAX_CERTIFICATE + 512;
/// Journal entry header: record index (1), length (2).
const ENTRY_HEADER: usize = 3;

fn set_slot(main: &mut [u8; IMAGE_LEN], index: usize, data: &[u8]) -> Result<(), StoreError> {
    if data.len() > capacity_of(index) {
        return Err(StoreError::TooLarge);
    }
    let off = slot_offset(index);
    let slot = main
        .get_mut(off..off + HEADER + data.len())
        .ok_or(StoreError::Corrupt)?;
    let (header, body) = slot.split_at_mut(HEADER);
    header.copy_from_slice(&(data.len() as u16).to_be_bytes());
    body.copy_from_slice(data);
    Ok(())
}

/// In-memory journaled store with fault injection, for tests and as the
/// basis of the virtual card's file store.
#[derive(Clone)]
pub struct MemStore {
    main: [u8; IMAGE_LEN],
    journal: [u8; JOURNAL_LEN],
    journal_used: usize,
    in_transaction: bool,
    /// The commit mark: set once all entries are in the journal.
    committed: bool,
    steps: usize,
    fail_after: Option<usize>,
    power_lost: bool,
}

impl Default for MemStore {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for MemStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MemStore")
            .field("steps", &self.steps)
            .field("power_lost", &self.power_lost)
            .finish_non_exhaustive()
    }
}

impl MemStore {
    /// An empty store (no records: the applet installs itself on it).
    pub const fn new() -> Self {
        Self {
            main: [0; IMAGE_LEN],
            journal: [0; JOURNAL_LEN],
            journal_used: 0,
            in_transaction: false,
            committed: false,
            steps: 0,
            fail_after: None,
            power_lost: false,
        }
    }

    /// A store holding a previously saved [`MemStore::image`]; checks every slot.
    pub fn from_image(image: &[u8]) -> Result<Self, StoreError> {
        let mut store = Self::new();
        let main: [u8; IMAGE_LEN] = image.try_into().map_err(|_| StoreError::Corrupt)?;
        store.main = main;
        for index in 0..RECORD_COUNT {
            store.slot_len(index)?;
        }
        Ok(store)
    }

    /// The committed records as one byte image (meaningful outside a transaction).
    pub fn image(&self) -> &[u8; IMAGE_LEN] {
        &self.main
    }

    /// Cuts the power after `n` more physical writes: write `n + 1` and all
    /// later ones fail with [`StoreError::PowerLost`]. `None` disarms.
    pub fn fail_after(&mut self, n: Option<usize>) {
        self.fail_after = n.map(|n| self.steps.saturating_add(n));
    }

    /// Physical writes made so far.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// Whether the injected power cut has happened.
    pub fn power_lost(&self) -> bool {
        self.power_lost
    }

    /// Power comes back: disarms fault injection and recovers the journal —
    /// a marked journal is replayed, an unmarked one discarded.
    pub fn power_cycle(&mut self) -> Result<(), StoreError> {
        self.recover(None)
    }

    /// Power comes back and is cut again after `n` physical writes of the
    /// recovery (a cut during recovery): a marked journal is replayed only
    /// in part, stays marked, and the next power-up replays it again. Fault
    /// injection is disarmed once the recovery completes.
    pub fn power_cycle_cut_after(&mut self, n: usize) -> Result<(), StoreError> {
        self.recover(Some(n))
    }

    fn recover(&mut self, cut: Option<usize>) -> Result<(), StoreError> {
        self.power_lost = false;
        self.in_transaction = false;
        self.fail_after(cut);
        if self.committed {
            self.apply_journal()?;
        }
        self.clear_journal();
        self.fail_after = None;
        Ok(())
    }

    fn step(&mut self) -> Result<(), StoreError> {
        if self.power_lost {
            return Err(StoreError::PowerLost);
        }
        if self.fail_after.is_some_and(|limit| self.steps >= limit) {
            self.power_lost = true;
            return Err(StoreError::PowerLost);
        }
        self.steps = self.steps.saturating_add(1);
        Ok(())
    }

    fn slot_len(&self, index: usize) -> Result<usize, StoreError> {
        let off = slot_offset(index);
        let header = self
            .main
            .get(off..off + HEADER)
            .ok_or(StoreError::Corrupt)?;
        let len = usize::from(u16::from_be_bytes([
            header.first().copied().unwrap_or(0),
            header.get(1).copied().unwrap_or(0),
        ]));
        if len > capacity_of(index) {
            return Err(StoreError::Corrupt);
        }
        Ok(len)
    }

    fn slot_data(&self, index: usize) -> Result<&[u8], StoreError> {
        let len = self.slot_len(index)?;
        let start = slot_offset(index) + HEADER;
        self.main.get(start..start + len).ok_or(StoreError::Corrupt)
    }

    /// Iterates the journal entries as (record index, data).
    fn entries(&self) -> JournalIter<'_> {
        JournalIter {
            rest: self.journal.get(..self.journal_used).unwrap_or(&[]),
        }
    }

    /// The newest staged data for a record, if any.
    fn staged(&self, index: usize) -> Option<&[u8]> {
        self.entries()
            .filter(|(i, _)| *i == index)
            .last()
            .map(|(_, d)| d)
    }

    fn apply_journal(&mut self) -> Result<(), StoreError> {
        let mut pos = 0;
        while pos < self.journal_used {
            self.step()?;
            let rest = self.journal.get(pos..self.journal_used).unwrap_or(&[]);
            let mut it = JournalIter { rest };
            let (index, data) = it.next().ok_or(StoreError::Corrupt)?;
            pos += ENTRY_HEADER + data.len();
            set_slot(&mut self.main, index, data)?;
        }
        Ok(())
    }

    fn clear_journal(&mut self) {
        self.journal_used = 0;
        self.committed = false;
        self.in_transaction = false;
    }
}

struct JournalIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for JournalIter<'a> {
    type Item = (usize, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let (header, body) = self.rest.split_at_checked(ENTRY_HEADER)?;
        let [index, hi, lo] = <[u8; ENTRY_HEADER]>::try_from(header).ok()?;
        let len = usize::from(u16::from_be_bytes([hi, lo]));
        let (data, rest) = body.split_at_checked(len)?;
        self.rest = rest;
        Some((usize::from(index), data))
    }
}

impl Store for MemStore {
    fn len(&self, id: RecordId) -> Result<usize, StoreError> {
        match self.staged(id.index()) {
            Some(d) => Ok(d.len()),
            None => self.slot_len(id.index()),
        }
    }

    fn read(&self, id: RecordId, offset: usize, buf: &mut [u8]) -> Result<usize, StoreError> {
        let data = match self.staged(id.index()) {
            Some(d) => d,
            None => self.slot_data(id.index())?,
        };
        let src = data.get(offset..).unwrap_or(&[]);
        let n = src.len().min(buf.len());
        let (dst, src) = (buf.get_mut(..n), src.get(..n));
        if let (Some(dst), Some(src)) = (dst, src) {
            dst.copy_from_slice(src);
        }
        Ok(n)
    }

    fn begin(&mut self) -> Result<(), StoreError> {
        if self.power_lost {
            return Err(StoreError::PowerLost);
        }
        if self.in_transaction {
            return Err(StoreError::NoTransaction);
        }
        self.journal_used = 0;
        self.committed = false;
        self.in_transaction = true;
        Ok(())
    }

    fn write(&mut self, id: RecordId, data: &[u8]) -> Result<(), StoreError> {
        if !self.in_transaction {
            return Err(StoreError::NoTransaction);
        }
        if data.len() > id.capacity() {
            return Err(StoreError::TooLarge);
        }
        let start = self.journal_used;
        let end = start + ENTRY_HEADER + data.len();
        if end > JOURNAL_LEN {
            return Err(StoreError::JournalFull);
        }
        self.step()?;
        let entry = self
            .journal
            .get_mut(start..end)
            .ok_or(StoreError::JournalFull)?;
        let (header, body) = entry.split_at_mut(ENTRY_HEADER);
        let len = (data.len() as u16).to_be_bytes();
        header.copy_from_slice(&[id.index() as u8, len[0], len[1]]);
        body.copy_from_slice(data);
        self.journal_used = end;
        Ok(())
    }

    fn commit(&mut self) -> Result<(), StoreError> {
        if !self.in_transaction {
            return Err(StoreError::NoTransaction);
        }
        // The commit mark: from here on the transaction survives a power cut.
        self.step()?;
        self.committed = true;
        self.apply_journal()?;
        // Clearing the mark is the last physical write.
        self.step()?;
        self.clear_journal();
        Ok(())
    }

    fn abort(&mut self) {
        if !self.committed {
            self.clear_journal();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objects::KeyRef;

    fn read_vec(s: &MemStore, id: RecordId) -> ([u8; 64], usize) {
        let mut buf = [0u8; 64];
        let n = s.read(id, 0, &mut buf).unwrap_or(0);
        (buf, n)
    }

    #[test]
    fn transaction_is_all_or_nothing_at_every_cut() {
        let key = RecordId::Key(KeyRef::DEFAULT_SIGNING);
        // Count the physical writes of the transaction.
        let mut probe = MemStore::new();
        let run = |s: &mut MemStore| -> Result<(), StoreError> {
            s.begin()?;
            s.write(RecordId::LifeCycle, &[5])?;
            s.write(key, &[7; 32])?;
            s.write(RecordId::Serial, &[1; 8])?;
            s.commit()
        };
        let before = probe.steps();
        assert_eq!(run(&mut probe), Ok(()));
        let total = probe.steps() - before;
        assert_eq!(total, 3 + 1 + 3 + 1);
        for k in 0..=total {
            let mut s = MemStore::new();
            s.fail_after(Some(k));
            let r = run(&mut s);
            assert_eq!(r.is_ok(), k == total, "cut at {k}");
            assert_eq!(s.power_lost(), k < total);
            assert_eq!(s.power_cycle(), Ok(()));
            let (lcs, n) = read_vec(&s, RecordId::LifeCycle);
            let (_, keylen) = read_vec(&s, key);
            let (_, serlen) = read_vec(&s, RecordId::Serial);
            // marked journal (k >= 4) means after, otherwise before
            let after = k >= 4;
            assert_eq!(n == 1 && lcs[0] == 5, after, "cut at {k}");
            assert_eq!(keylen == 32, after);
            assert_eq!(serlen == 8, after);
        }
    }

    #[test]
    fn debug_shows_the_counters_not_the_records() {
        extern crate std;
        let mut s = MemStore::new();
        assert_eq!(s.begin(), Ok(()));
        assert_eq!(s.write(RecordId::Serial, b"SECRETXX"), Ok(()));
        assert_eq!(s.commit(), Ok(()));
        let shown = std::format!("{s:?}");
        assert_eq!(shown, "MemStore { steps: 4, power_lost: false, .. }");
    }

    #[test]
    fn the_journal_holds_exactly_its_capacity() {
        let a = RecordId::Certificate(KeyRef::DEFAULT_SIGNING);
        let b = RecordId::Certificate(KeyRef::DEFAULT_AUTHENTICATION);
        let rest = JOURNAL_LEN - (MAX_CERTIFICATE + ENTRY_HEADER) - ENTRY_HEADER;
        let mut s = MemStore::new();
        assert_eq!(s.begin(), Ok(()));
        assert_eq!(s.write(a, &[0x30; MAX_CERTIFICATE]), Ok(()));
        let steps = s.steps();
        // One byte too many: refused before any physical write.
        assert_eq!(
            s.write(b, &[0x31; MAX_CERTIFICATE][..rest + 1]),
            Err(StoreError::JournalFull)
        );
        assert_eq!(s.steps(), steps, "a refused write writes nothing");
        // Exactly full: accepted, and committed whole.
        assert_eq!(s.write(b, &[0x31; MAX_CERTIFICATE][..rest]), Ok(()));
        assert_eq!(s.commit(), Ok(()));
        assert_eq!(s.len(a), Ok(MAX_CERTIFICATE));
        assert_eq!(s.len(b), Ok(rest));
    }

    #[test]
    fn reads_see_staged_writes_and_abort_discards() {
        let mut s = MemStore::new();
        assert_eq!(s.begin(), Ok(()));
        assert_eq!(s.write(RecordId::Serial, &[9; 8]), Ok(()));
        assert_eq!(s.len(RecordId::Serial), Ok(8));
        s.abort();
        assert_eq!(s.len(RecordId::Serial), Ok(0));
        assert_eq!(
            s.write(RecordId::Serial, &[9; 8]),
            Err(StoreError::NoTransaction)
        );
    }

    #[test]
    fn limits_and_image() {
        let mut s = MemStore::new();
        assert_eq!(s.begin(), Ok(()));
        assert_eq!(
            s.write(RecordId::Serial, &[0; 9]),
            Err(StoreError::TooLarge)
        );
        let cert = RecordId::Certificate(KeyRef::DEFAULT_SIGNING);
        assert_eq!(s.write(cert, &[0x30; MAX_CERTIFICATE]), Ok(()));
        assert_eq!(s.commit(), Ok(()));
        let copy = MemStore::from_image(s.image());
        assert_eq!(copy.as_ref().map(|c| c.len(cert)), Ok(Ok(MAX_CERTIFICATE)));
        let mut bad = *s.image();
        bad[0] = 0xFF; // LifeCycle slot length 0xFF00 > capacity
        assert!(MemStore::from_image(&bad).is_err());
        assert!(MemStore::from_image(&bad[1..]).is_err());
    }
}
