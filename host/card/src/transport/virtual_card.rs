//! The in-process virtual card as a transport: the same applet as
//! `asan-vcard`, no sockets, no pcscd.

use std::path::Path;

use asan_applet::store::{MemStore, Store};
use asan_vcard::{FileStore, VirtualCard};

use super::{Exchange, Transport};
use crate::error::{Error, Result};

/// A [`VirtualCard`] in this process, powered on.
pub struct VirtualTransport<S: Store = FileStore> {
    card: VirtualCard<S>,
    name: String,
    count: u64,
}

impl<S: Store> std::fmt::Debug for VirtualTransport<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtualTransport")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl VirtualTransport<FileStore> {
    /// Opens (or creates) the virtual card whose image is `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let (card, _) = VirtualCard::open(path).map_err(|e| Error::VirtualCard(e.to_string()))?;
        Ok(Self::with_card(
            card,
            format!("virtual card {}", path.display()),
        ))
    }
}

impl VirtualTransport<MemStore> {
    /// A fresh card in memory.
    pub fn in_memory() -> Result<Self> {
        let card = VirtualCard::in_memory().map_err(|e| Error::Transport(e.to_string()))?;
        Ok(Self::with_card(card, "virtual card (in memory)".to_owned()))
    }
}

impl<S: Store> VirtualTransport<S> {
    /// Wraps a card and powers it on.
    pub fn with_card(mut card: VirtualCard<S>, name: String) -> Self {
        card.power_on();
        Self {
            card,
            name,
            count: 0,
        }
    }

    /// The card (to power-cycle it in tests).
    pub fn card_mut(&mut self) -> &mut VirtualCard<S> {
        &mut self.card
    }
}

impl<S: Store> Exchange for VirtualTransport<S> {
    fn transmit(&mut self, capdu: &[u8]) -> Result<Vec<u8>> {
        self.count += 1;
        self.card
            .transmit(capdu)
            .map_err(|e| Error::Transport(e.to_string()))
    }
}

impl<S: Store> Transport for VirtualTransport<S> {
    fn extended_length(&self) -> bool {
        true
    }

    fn exclusive(&mut self, f: &mut dyn FnMut(&mut dyn Exchange) -> Result<()>) -> Result<()> {
        f(self)
    }

    fn shared(&self) -> bool {
        false
    }

    fn name(&self) -> String {
        self.name.clone()
    }

    fn apdu_count(&self) -> u64 {
        self.count
    }
}
