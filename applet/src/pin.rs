//! PIN objects: references, the 8-byte PIN block and the persistent PIN record.

use core::fmt;
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use crate::wire::{limits::PIN_BLOCK, pin_ref};

/// Which PIN a command addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PinRef {
    /// PIN1 (`81`): authentication, 4–8 digits.
    Pin1,
    /// PIN2 (`82`): signing, 5–8 digits.
    Pin2,
    /// PUK (`83`): unblocks PIN1 and PIN2, 8 digits.
    Puk,
}

impl PinRef {
    /// All references in order.
    pub const ALL: [Self; 3] = [Self::Pin1, Self::Pin2, Self::Puk];

    /// Parses the reference byte.
    pub const fn from_byte(b: u8) -> Option<Self> {
        match b {
            pin_ref::PIN1 => Some(Self::Pin1),
            pin_ref::PIN2 => Some(Self::Pin2),
            pin_ref::PUK => Some(Self::Puk),
            _ => None,
        }
    }

    /// The reference byte.
    pub const fn byte(self) -> u8 {
        match self {
            Self::Pin1 => pin_ref::PIN1,
            Self::Pin2 => pin_ref::PIN2,
            Self::Puk => pin_ref::PUK,
        }
    }

    /// Allowed number of digits (inclusive range).
    pub const fn length_range(self) -> (usize, usize) {
        match self {
            Self::Pin1 => (4, 8),
            Self::Pin2 => (5, 8),
            Self::Puk => (8, 8),
        }
    }

    /// Default retry limit of a fresh card.
    pub const fn default_limit(self) -> u8 {
        match self {
            Self::Pin1 | Self::Pin2 => 3,
            Self::Puk => 10,
        }
    }

    /// Index 0–2 in [`PinRef::ALL`].
    pub const fn index(self) -> usize {
        match self {
            Self::Pin1 => 0,
            Self::Pin2 => 1,
            Self::Puk => 2,
        }
    }
}

/// Highest retry limit the operator may set.
pub const MAX_RETRY_LIMIT: u8 = 15;

/// A validated PIN block: ASCII digits right-padded with `FF` to 8 bytes.
/// Zeroized on drop; `Debug` never shows the digits.
#[derive(Clone)]
pub struct PinBlock {
    bytes: [u8; PIN_BLOCK],
    len: u8,
}

impl PinBlock {
    /// Validates `block` for `pin`: exactly 8 bytes, digits then `FF`,
    /// a digit count within the PIN's range. `None` means `6A80` (or `6700`
    /// for a wrong size, which the caller checks first).
    pub fn parse(pin: PinRef, block: &[u8]) -> Option<Self> {
        let bytes: [u8; PIN_BLOCK] = block.try_into().ok()?;
        let len = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
        let padded = bytes.iter().skip(len).all(|b| *b == 0xFF);
        let (min, max) = pin.length_range();
        if !padded || len < min || len > max {
            return None;
        }
        Some(Self {
            bytes,
            len: len as u8,
        })
    }

    /// Builds a block from digits (host side helper, validated the same way).
    pub fn from_digits(pin: PinRef, digits: &[u8]) -> Option<Self> {
        if digits.len() > PIN_BLOCK {
            return None;
        }
        let mut bytes = [0xFF; PIN_BLOCK];
        for (b, d) in bytes.iter_mut().zip(digits) {
            *b = *d;
        }
        let block = Self::parse(pin, &bytes);
        bytes.zeroize();
        block
    }

    /// The 8 wire bytes.
    pub fn as_bytes(&self) -> &[u8; PIN_BLOCK] {
        &self.bytes
    }

    /// Number of digits.
    pub fn digit_count(&self) -> usize {
        usize::from(self.len)
    }

    /// Constant-time comparison of the full blocks.
    pub fn matches(&self, other: &PinBlock) -> bool {
        bool::from(self.bytes.ct_eq(&other.bytes))
    }
}

impl Drop for PinBlock {
    fn drop(&mut self) {
        self.bytes.zeroize();
        #[cfg(test)]
        tests::dropped(&self.bytes);
    }
}

impl fmt::Debug for PinBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PinBlock(***)")
    }
}

/// The persistent record of one PIN: value (if set), tries left, retry limit.
#[derive(Clone)]
pub struct PinRecord {
    /// The reference value; `None` until the operator sets it.
    pub value: Option<PinBlock>,
    /// Tries left before the PIN is blocked.
    pub tries_left: u8,
    /// Retry limit.
    pub limit: u8,
}

/// Size of an encoded [`PinRecord`].
pub const PIN_RECORD_LEN: usize = 3 + PIN_BLOCK;

impl PinRecord {
    /// The record of a fresh card: no value, default limit.
    pub const fn fresh(pin: PinRef) -> Self {
        Self {
            value: None,
            tries_left: pin.default_limit(),
            limit: pin.default_limit(),
        }
    }

    /// Whether the tries are used up.
    pub fn blocked(&self) -> bool {
        self.tries_left == 0
    }

    /// Encodes as `set(1) || block(8) || tries(1) || limit(1)`.
    pub fn encode(&self) -> [u8; PIN_RECORD_LEN] {
        let mut out = [0xFF; PIN_RECORD_LEN];
        let (head, tail) = out.split_at_mut(1 + PIN_BLOCK);
        if let (Some(v), Some((flag, block))) = (&self.value, head.split_first_mut()) {
            *flag = 1;
            block.copy_from_slice(v.as_bytes());
        } else if let Some(flag) = head.first_mut() {
            *flag = 0;
        }
        tail.copy_from_slice(&[self.tries_left, self.limit]);
        out
    }

    /// Decodes a record of `pin`; `None` if it is corrupt.
    pub fn decode(pin: PinRef, bytes: &[u8]) -> Option<Self> {
        let (&flag, rest) = bytes.split_first()?;
        let (block, counters) = rest.split_at_checked(PIN_BLOCK)?;
        let [tries_left, limit] = <[u8; 2]>::try_from(counters).ok()?;
        let value = match flag {
            0 => None,
            1 => Some(PinBlock::parse(pin, block)?),
            _ => return None,
        };
        if limit == 0 || limit > MAX_RETRY_LIMIT || tries_left > limit {
            return None;
        }
        Some(Self {
            value,
            tries_left,
            limit,
        })
    }
}

impl fmt::Debug for PinRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PinRecord")
            .field("set", &self.value.is_some())
            .field("tries_left", &self.tries_left)
            .field("limit", &self.limit)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use core::sync::atomic::{AtomicUsize, Ordering};
    use std::format;

    /// PIN blocks dropped with their bytes wiped (counted in every test of
    /// the crate: only ever grows).
    static WIPED: AtomicUsize = AtomicUsize::new(0);

    pub(super) fn dropped(bytes: &[u8; PIN_BLOCK]) {
        if bytes.iter().all(|b| *b == 0) {
            WIPED.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_dropped_block_is_wiped() {
        let before = WIPED.load(Ordering::SeqCst);
        let block = PinBlock::from_digits(PinRef::Pin1, b"1234");
        assert!(block.is_some());
        drop(block);
        assert!(WIPED.load(Ordering::SeqCst) > before);
    }

    #[test]
    fn block_format() {
        assert!(PinBlock::parse(PinRef::Pin1, b"1234\xFF\xFF\xFF\xFF").is_some());
        assert!(PinBlock::parse(PinRef::Pin1, b"12345678").is_some());
        assert!(PinBlock::parse(PinRef::Pin1, b"123\xFF\xFF\xFF\xFF\xFF").is_none());
        assert!(PinBlock::parse(PinRef::Pin2, b"1234\xFF\xFF\xFF\xFF").is_none());
        assert!(PinBlock::parse(PinRef::Pin2, b"12345\xFF\xFF\xFF").is_some());
        assert!(PinBlock::parse(PinRef::Puk, b"1234567\xFF").is_none());
        assert!(PinBlock::parse(PinRef::Puk, b"12345678").is_some());
        // digits after padding, non-digits, wrong padding byte, wrong size
        assert!(PinBlock::parse(PinRef::Pin1, b"1234\xFF5\xFF\xFF").is_none());
        assert!(PinBlock::parse(PinRef::Pin1, b"12a4\xFF\xFF\xFF\xFF").is_none());
        assert!(PinBlock::parse(PinRef::Pin1, b"1234\x00\x00\x00\x00").is_none());
        assert!(PinBlock::parse(PinRef::Pin1, b"1234\xFF\xFF\xFF").is_none());
        assert!(PinBlock::parse(PinRef::Pin1, b"").is_none());
        // The digit count (the host reads the digits back with it).
        for (pin, digits) in [
            (PinRef::Pin1, &b"1234"[..]),
            (PinRef::Pin2, b"123456"),
            (PinRef::Puk, b"12345678"),
        ] {
            let block = PinBlock::from_digits(pin, digits);
            assert_eq!(block.map(|b| b.digit_count()), Some(digits.len()));
        }
    }

    #[test]
    fn debug_is_redacted() {
        let b = PinBlock::from_digits(PinRef::Pin1, b"9876").map(|b| format!("{b:?}"));
        assert_eq!(b.as_deref(), Some("PinBlock(***)"));
        let rec = PinRecord {
            value: PinBlock::from_digits(PinRef::Pin1, b"9876"),
            tries_left: 2,
            limit: 3,
        };
        let shown = format!("{rec:?}");
        assert!(!shown.contains("9876"), "{shown}");
        assert_eq!(shown, "PinRecord { set: true, tries_left: 2, limit: 3 }");
    }

    #[test]
    fn record_round_trip_and_corruption() {
        let rec = PinRecord {
            value: PinBlock::from_digits(PinRef::Pin2, b"55555"),
            tries_left: 1,
            limit: 3,
        };
        let enc = rec.encode();
        let dec = PinRecord::decode(PinRef::Pin2, &enc);
        assert!(dec.as_ref().is_some_and(|d| {
            d.value
                .as_ref()
                .is_some_and(|v| v.matches(rec.value.as_ref().unwrap_or(v)))
                && d.tries_left == 1
                && d.limit == 3
        }));
        let fresh = PinRecord::fresh(PinRef::Puk).encode();
        assert!(
            PinRecord::decode(PinRef::Puk, &fresh)
                .is_some_and(|d| d.value.is_none() && d.limit == 10)
        );
        let mut bad = enc;
        bad[9] = 4; // tries > limit
        assert!(PinRecord::decode(PinRef::Pin2, &bad).is_none());
        assert!(PinRecord::decode(PinRef::Pin2, &enc[..5]).is_none());
        // A limit of 0, or above 15, is corrupt even with tries within it.
        let mut bad = enc;
        (bad[9], bad[10]) = (0, 0);
        assert!(PinRecord::decode(PinRef::Pin2, &bad).is_none());
        let mut bad = enc;
        (bad[9], bad[10]) = (16, 16);
        assert!(PinRecord::decode(PinRef::Pin2, &bad).is_none());
        let mut good = enc;
        (good[9], good[10]) = (15, 15);
        assert!(PinRecord::decode(PinRef::Pin2, &good).is_some());
        let mut bad = enc;
        bad[0] = 7;
        assert!(PinRecord::decode(PinRef::Pin2, &bad).is_none());
    }
}
