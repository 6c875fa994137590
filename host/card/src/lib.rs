//! Card library of the Asan İmza toolchain: everything a program needs to
//! talk to the card, and nothing else (no CLI, no CA, no CMS). The `asan`
//! CLI (`asan-host`) and the PKCS#11 module (`asan-pkcs11`) are built on it.
//!
//! * [`transport`]: how APDUs reach a card — PC/SC through pcscd (found by
//!   SELECTing the Asan İmza AID on each reader), the in-process virtual
//!   card (feature `virtual-card`, on by default), or a scripted card for
//!   tests.
//! * [`apdu`]: short and extended APDUs, command chaining, `61xx` and `6Cxx`.
//! * [`AsanCard`]: the typed card API — PINs ([`Pin1`], [`Pin2`], [`Puk`]:
//!   checked before sending, zeroized, printed as `***`), authentication,
//!   signatures, public keys, certificates, card information.
//! * [`operator`]: the operator's SCP03 side (personalisation commands).
//! * [`Error`]: one flat error type with the CLI's exit codes.
//!
//! Wire constants come from the `asan-applet` crate; nothing is declared twice.
#![forbid(unsafe_code)]

pub mod apdu;
pub mod card;
pub mod cert;
pub mod error;
pub mod files;
pub mod info;
pub mod keys;
pub mod operator;
pub mod pin;
pub mod tlv;
pub mod transport;

pub use card::{AsanCard, RawSignature};
pub use error::{Error, Result};
pub use pin::{AnyPin, Pin1, Pin2, Puk, Secret};
