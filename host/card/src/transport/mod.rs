//! How APDUs reach a card: the [`Transport`] trait and its implementations —
//! PC/SC through pcscd ([`pcsc::PcscTransport`]), the in-process virtual card
//! ([`virtual_card::VirtualTransport`]) and a scripted card for tests
//! ([`scripted::ScriptedTransport`]).

pub mod pcsc;
pub mod scripted;
#[cfg(feature = "virtual-card")]
pub mod virtual_card;
pub mod watchdog;

use crate::error::Result;

/// Something that carries one C-APDU to the card and brings back the R-APDU.
pub trait Exchange {
    /// Sends `capdu`; returns the R-APDU (data followed by SW1 SW2).
    fn transmit(&mut self, capdu: &[u8]) -> Result<Vec<u8>>;
}

/// A connection to one card.
pub trait Transport: Exchange {
    /// Whether extended-length APDUs reach the card.
    fn extended_length(&self) -> bool;

    /// Runs `f` with exclusive access to the card, so that no other process
    /// can interleave its commands (a PC/SC transaction).
    fn exclusive(&mut self, f: &mut dyn FnMut(&mut dyn Exchange) -> Result<()>) -> Result<()>;

    /// Whether other programs can send commands to this card in between
    /// ours (a PC/SC reader: yes; the in-process virtual card: no). Over a
    /// shared card, signatures are checked and disturbed ones done again
    /// (see [`crate::AsanCard::sign`]).
    fn shared(&self) -> bool;

    /// A human-readable name: the reader, or the virtual card's image.
    fn name(&self) -> String;

    /// Counts of APDUs sent so far (for tests and benchmarks).
    fn apdu_count(&self) -> u64;

    /// The SELECT of the applet (C-APDU, R-APDU) the transport sent to find
    /// the card, if nothing was sent since; handed out once. The card
    /// library takes it instead of sending another SELECT.
    fn connect_select(&mut self) -> Option<(Vec<u8>, Vec<u8>)> {
        None
    }
}

impl<T: Exchange + ?Sized> Exchange for &mut T {
    fn transmit(&mut self, capdu: &[u8]) -> Result<Vec<u8>> {
        (**self).transmit(capdu)
    }
}
