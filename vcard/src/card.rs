//! The card shell: the applet with power, reset and an ATR.

use std::fmt;
use std::path::Path;

use asan_applet::store::{MemStore, Store};
use asan_applet::{Applet, Fault};
use rand_chacha::ChaCha20Rng;
use rand_core::{SeedableRng, TryRng};

use crate::atr::ATR;
use crate::image::{FileStore, ImageError};

/// The card's random number generator: ChaCha20 seeded from the operating
/// system's CSPRNG at every power-up.
pub type CardRng = ChaCha20Rng;

/// Why a virtual card could not be brought up or used.
#[derive(Debug)]
pub enum CardError {
    /// The image file cannot be used.
    Image(ImageError),
    /// The operating system's random source failed.
    Random,
    /// The stored state does not decode.
    Store(Fault),
    /// A command was sent while the card is powered off.
    PoweredOff,
}

impl fmt::Display for CardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Image(e) => e.fmt(f),
            Self::Random => f.write_str("the operating system's random source failed"),
            Self::Store(e) => write!(f, "the card's stored state is unusable: {e:?}"),
            Self::PoweredOff => f.write_str("the card is powered off"),
        }
    }
}

impl std::error::Error for CardError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Image(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ImageError> for CardError {
    fn from(e: ImageError) -> Self {
        Self::Image(e)
    }
}

fn seeded_rng() -> Result<CardRng, CardError> {
    let mut seed = [0u8; 32];
    getrandom::SysRng
        .try_fill_bytes(&mut seed)
        .map_err(|_| CardError::Random)?;
    Ok(ChaCha20Rng::from_seed(seed))
}

/// A virtual Asan İmza SIM: the applet on store `S`, with power state.
pub struct VirtualCard<S: Store = FileStore> {
    applet: Box<Applet<S, CardRng>>,
    powered: bool,
}

impl<S: Store> fmt::Debug for VirtualCard<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VirtualCard")
            .field("powered", &self.powered)
            .finish_non_exhaustive()
    }
}

impl VirtualCard<FileStore> {
    /// Opens the card whose image is at `path`, creating a fresh card there
    /// if the file does not exist. Returns the card and whether it was created.
    pub fn open(path: &Path) -> Result<(Self, bool), CardError> {
        let (store, created) = FileStore::open_or_create(path)?;
        Ok((Self::with_store(store)?, created))
    }
}

impl VirtualCard<MemStore> {
    /// A fresh card in memory (in-process tests, the demo).
    pub fn in_memory() -> Result<Self, CardError> {
        Self::with_store(MemStore::new())
    }
}

impl<S: Store> VirtualCard<S> {
    /// A card on `store`, powered off. An empty store gets a fresh card.
    pub fn with_store(store: S) -> Result<Self, CardError> {
        let applet = Applet::new(store, seeded_rng()?).map_err(CardError::Store)?;
        Ok(Self {
            applet: Box::new(applet),
            powered: false,
        })
    }

    /// The ATR.
    pub fn atr(&self) -> &'static [u8] {
        &ATR
    }

    /// Whether the card is powered.
    pub fn powered(&self) -> bool {
        self.powered
    }

    /// Cold power-up: clears all volatile state; answers the ATR.
    pub fn power_on(&mut self) -> &'static [u8] {
        self.applet.reset();
        self.powered = true;
        &ATR
    }

    /// Power-off: volatile state (security status, MSE, chains, pending
    /// responses, secure channel) is lost.
    pub fn power_off(&mut self) {
        self.applet.reset();
        self.powered = false;
    }

    /// Warm reset: like power-off then power-on; answers the ATR.
    pub fn reset(&mut self) -> &'static [u8] {
        self.power_on()
    }

    /// Sends one C-APDU; returns the R-APDU (data followed by SW1 SW2).
    pub fn transmit(&mut self, capdu: &[u8]) -> Result<Vec<u8>, CardError> {
        if !self.powered {
            return Err(CardError::PoweredOff);
        }
        let r = self.applet.process(capdu);
        let mut out = Vec::with_capacity(r.data.len() + 2);
        out.extend_from_slice(r.data);
        out.extend_from_slice(&r.sw().to_be_bytes());
        Ok(out)
    }

    /// Presents the card as one implementing contract version 1.0 (no
    /// PSO: CDS with PIN2), for testing hosts against older cards; kept
    /// across power cycles of this process, never stored in the image.
    pub fn emulate_contract_1_0(&mut self) {
        self.applet.emulate_contract_1_0();
    }

    /// The store (to inspect a card in tests).
    pub fn store(&self) -> &S {
        self.applet.store()
    }

    /// Takes the store back.
    pub fn into_store(self) -> S {
        self.applet.into_store()
    }
}
