//! Card-side model of the Asan İmza SIM applet.
//!
//! This crate is an executable, `no_std` model of the applet that Azerbaijani
//! mobile-signature SIMs carry: it implements every command of the APDU
//! contract (`shared/spec/applet-apdu.md`, explained in `docs/protocol.md`) —
//! PIN1 for authentication, PIN2 for each signature, a PUK to unblock, two
//! P-256 key pairs per certificate profile, certificate files, service rules,
//! the life cycle and the card side of GlobalPlatform SCP03 for the operator.
//!
//! * [`Applet`] processes one C-APDU at a time ([`Applet::process`]).
//! * All persistent state goes through a [`store::Store`] with transactions;
//!   [`store::MemStore`] models non-volatile memory with a journal and can cut
//!   the power after any write (tearing tests).
//! * [`wire`] is the single definition of the wire constants, and [`scp03`]
//!   the SCP03 primitives; the host crate reuses both.
//!
//! No heap: all buffers are fixed-size, sized for the contract's 4096-byte
//! certificates.
#![no_std]
#![forbid(unsafe_code)]
#![deny(clippy::indexing_slicing)]

pub mod apdu;
mod applet;
pub mod command;
pub mod objects;
mod out;
pub mod pin;
pub mod scp03;
mod session;
pub mod state;
pub mod store;
pub mod wire;

pub use applet::{Applet, Response};
pub use objects::{
    CertificateFid, CertificateProfile, KeyRef, KeyUsage, LifeCycle, Service, ServiceType,
};
pub use pin::{PinBlock, PinRef};
pub use state::Fault;
pub use store::{MemStore, Store, StoreError};
