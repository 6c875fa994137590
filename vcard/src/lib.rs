//! The virtual Asan İmza SIM.
//!
//! The `asan-applet` model inside a card shell: an ATR that offers T=1 and
//! carries `ASANIMZA` in its historical bytes, power-on, power-off and reset
//! that clear the volatile state as a real card does, a persistent image
//! file written atomically at every committed change ([`image`]), a connector
//! to pcscd's vpcd driver so real PC/SC software sees it as a card in a
//! reader ([`vpcd`], binary `asan-vcard`), and an in-process card for tests
//! and the demo ([`VirtualCard::in_memory`]).
#![forbid(unsafe_code)]

pub mod atr;
mod card;
pub mod image;
pub mod vpcd;

pub use card::{CardError, CardRng, VirtualCard};
pub use image::{FileStore, ImageError};
