//! PIN values as types: the type says which PIN it is, the format is
//! checked before anything is sent (a typo never costs a try), the digits
//! are wiped from memory on drop and print as `***`.
//!
//! ```
//! use asan_card::{Error, Pin1, Pin2, Puk};
//! # fn main() -> asan_card::Result<()> {
//! let pin2 = Pin2::new("12345")?;
//! assert_eq!(format!("{pin2:?}"), "Pin2(***)");
//!
//! // The format is checked here, before any card sees it: a typo costs no try.
//! let e = Pin1::new("12a4").unwrap_err();
//! assert!(matches!(e, Error::InvalidPinFormat { .. }));
//! assert_eq!(e.to_string(), "invalid PIN1: only digits 0-9 are allowed (nothing was sent to the card)");
//! assert_eq!(e.exit_code(), 2);
//! assert!(Pin2::new("1234").is_err()); // PIN2 has 5 to 8 digits
//! assert!(Puk::new("1234567").is_err()); // the PUK exactly 8
//! # Ok(())
//! # }
//! ```

use std::fmt;

use asan_applet::{PinBlock, PinRef};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// A PIN of a known kind.
pub trait Secret {
    /// Which PIN this is.
    const KIND: PinRef;
    /// The validated wire block.
    fn block(&self) -> &PinBlock;
}

fn parse(kind: PinRef, text: &str) -> Result<PinBlock> {
    let digits = Zeroizing::new(text.trim_end_matches(['\r', '\n']).as_bytes().to_vec());
    let (min, max) = kind.length_range();
    let reason = if digits.is_empty() {
        Some("empty".to_owned())
    } else if !digits.iter().all(u8::is_ascii_digit) {
        Some("only digits 0-9 are allowed".to_owned())
    } else if digits.len() < min || digits.len() > max {
        Some(if min == max {
            format!("it must have exactly {min} digits, not {}", digits.len())
        } else {
            format!("it must have {min} to {max} digits, not {}", digits.len())
        })
    } else {
        None
    };
    if let Some(reason) = reason {
        return Err(Error::InvalidPinFormat { pin: kind, reason });
    }
    PinBlock::from_digits(kind, &digits).ok_or(Error::InvalidPinFormat {
        pin: kind,
        reason: "not a valid PIN".into(),
    })
}

macro_rules! pin_type {
    ($name:ident, $kind:expr, $doc:literal) => {
        #[doc = $doc]
        #[derive(Clone)]
        pub struct $name(PinBlock);

        impl $name {
            /// Checks the digits; an error names what is wrong, and nothing
            /// reaches the card.
            pub fn new(digits: &str) -> Result<Self> {
                parse($kind, digits).map(Self)
            }
        }

        impl Secret for $name {
            const KIND: PinRef = $kind;
            fn block(&self) -> &PinBlock {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}(***)", stringify!($name))
            }
        }
    };
}

pin_type!(
    Pin1,
    PinRef::Pin1,
    "PIN1: 4–8 digits, authorises authentication for the card session."
);
pin_type!(
    Pin2,
    PinRef::Pin2,
    "PIN2: 5–8 digits, authorises exactly one signature."
);
pin_type!(Puk, PinRef::Puk, "PUK: 8 digits, unblocks PIN1 and PIN2.");

/// A PIN of a kind known only at run time (the CLI's `pin change puk`).
#[derive(Clone)]
pub struct AnyPin {
    kind: PinRef,
    block: PinBlock,
}

impl AnyPin {
    /// Checks `digits` as a PIN of `kind`.
    pub fn new(kind: PinRef, digits: &str) -> Result<Self> {
        Ok(Self {
            kind,
            block: parse(kind, digits)?,
        })
    }

    /// Which PIN.
    pub fn kind(&self) -> PinRef {
        self.kind
    }

    /// The wire block.
    pub fn block(&self) -> &PinBlock {
        &self.block
    }
}

impl fmt::Debug for AnyPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AnyPin({:?}, ***)", self.kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_checked_before_sending() {
        assert!(Pin1::new("1234").is_ok());
        assert!(Pin1::new("123").is_err());
        assert!(Pin2::new("1234").is_err());
        assert!(Pin2::new("12345\n").is_ok());
        assert!(Puk::new("1234567").is_err());
        assert!(Puk::new("1234567a").is_err());
        assert!(Pin1::new("").is_err());
        let e = Pin2::new("12a45")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains("only digits") && e.contains("nothing was sent"),
            "{e}"
        );
        let e = Puk::new("123")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("exactly 8 digits"), "{e}");
    }

    #[test]
    fn never_printed() {
        let p = Pin2::new("54321")
            .map(|p| format!("{p:?}"))
            .unwrap_or_default();
        assert_eq!(p, "Pin2(***)");
        let a = AnyPin::new(PinRef::Puk, "12345678")
            .map(|p| format!("{p:?}"))
            .unwrap_or_default();
        assert!(!a.contains("1234"));
    }
}
