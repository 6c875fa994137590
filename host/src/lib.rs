//! Host side of the Asan İmza toolchain: the library behind the `asan` CLI —
//! PKI and CMS (X.509, the development CA, signing and verification),
//! provisioning, renewal and the CLI itself — over the card library
//! `asan-card`, whose modules are re-exported here:
//!
//! * [`transport`]: how APDUs reach a card — PC/SC through pcscd (found by
//!   SELECTing the Asan İmza AID on each reader), the in-process virtual
//!   card, or a scripted card for tests.
//! * [`apdu`]: short and extended APDUs, command chaining, `61xx` and `6Cxx`.
//! * [`AsanCard`]: the typed card API — PINs ([`Pin1`], [`Pin2`], [`Puk`]:
//!   checked before sending, zeroized, printed as `***`), authentication,
//!   signatures, public keys, certificates, card information.
//! * [`Error`]: one flat error type with the CLI's exit codes.
//!
//! Wire constants come from the `asan-applet` crate; nothing is declared twice.
//!
//! ```
//! use asan_host::{AsanCard, transport::virtual_card::VirtualTransport};
//! # fn main() -> asan_host::Result<()> {
//! let mut card = AsanCard::open(VirtualTransport::in_memory()?)?;
//! let info = card.info()?;
//! assert_eq!(info.life_cycle, "initialisation");
//! assert_eq!(info.pins.pin2.max_tries, 3);
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

pub mod audit;
pub mod cli;
pub mod cms;
pub mod pdf;
pub mod pki;
pub mod provision;
pub mod renewal;
pub mod tsp;
pub mod x509;

// The card library (crate `asan-card`), re-exported under the paths it had
// before it became a crate of its own.
pub use asan_card::{AnyPin, AsanCard, Error, Pin1, Pin2, Puk, RawSignature, Result, Secret};
pub use asan_card::{apdu, card, cert, error, files, info, keys, operator, pin, tlv, transport};
