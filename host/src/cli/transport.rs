//! The card the command line talks to: PC/SC, or an in-process virtual card.

use std::io::Write as _;

use asan_applet::store::MemStore;

use super::Cli;
use crate::AsanCard;
use crate::error::Result;
use crate::transport::pcsc::PcscTransport;
use crate::transport::virtual_card::VirtualTransport;
use crate::transport::{Exchange, Transport};

/// Any of the transports the CLI can use.
pub enum AnyTransport {
    /// A card in a PC/SC reader.
    Pcsc(PcscTransport),
    /// A virtual card backed by an image file.
    Virtual(VirtualTransport),
    /// A virtual card in memory (the demo).
    Memory(VirtualTransport<MemStore>),
}

impl AnyTransport {
    fn inner(&mut self) -> &mut dyn Transport {
        match self {
            Self::Pcsc(t) => t,
            Self::Virtual(t) => t,
            Self::Memory(t) => t,
        }
    }

    fn inner_ref(&self) -> &dyn Transport {
        match self {
            Self::Pcsc(t) => t,
            Self::Virtual(t) => t,
            Self::Memory(t) => t,
        }
    }
}

impl Exchange for AnyTransport {
    fn transmit(&mut self, capdu: &[u8]) -> Result<Vec<u8>> {
        self.inner().transmit(capdu)
    }
}

impl Transport for AnyTransport {
    fn extended_length(&self) -> bool {
        self.inner_ref().extended_length()
    }

    fn exclusive(&mut self, f: &mut dyn FnMut(&mut dyn Exchange) -> Result<()>) -> Result<()> {
        self.inner().exclusive(f)
    }

    fn shared(&self) -> bool {
        self.inner_ref().shared()
    }

    fn name(&self) -> String {
        self.inner_ref().name()
    }

    fn apdu_count(&self) -> u64 {
        self.inner_ref().apdu_count()
    }

    fn connect_select(&mut self) -> Option<(Vec<u8>, Vec<u8>)> {
        self.inner().connect_select()
    }
}

/// Opens the card the command line names: `--virtual FILE`, or the PC/SC
/// reader (`--reader` picks one when several hold an Asan İmza card).
pub fn open(cli: &Cli) -> Result<AsanCard<AnyTransport>> {
    let transport = match &cli.virtual_card {
        Some(path) => {
            let creates = cli.create || matches!(cli.command, super::Commands::Provision(_));
            if !creates && std::fs::symlink_metadata(path).is_err() {
                return Err(crate::Error::Usage(format!(
                    "no such card image: {} (give --create to make a factory-fresh card there, \
                     or personalise one with `asan provision --virtual`)",
                    path.display()
                )));
            }
            AnyTransport::Virtual(VirtualTransport::open(path)?)
        }
        None => AnyTransport::Pcsc(PcscTransport::connect(cli.reader.as_deref())?),
    };
    open_on(cli, transport)
}

/// SELECTs the applet on `transport`, with the APDU trace if asked for.
pub fn open_on(cli: &Cli, transport: AnyTransport) -> Result<AsanCard<AnyTransport>> {
    let trace = cli.trace.then(|| {
        Box::new(|line: &str| {
            let _ = writeln!(std::io::stderr(), "asan: {line}");
        }) as crate::card::Trace
    });
    AsanCard::open_traced(transport, trace)
}

/// Writes one `asan: warning: …` line to `err` for each disturbance by
/// another program that `card` recovered from (see
/// [`crate::card::Interference`]).
pub fn warn_interference(card: &mut AsanCard<AnyTransport>, err: &mut dyn std::io::Write) {
    for what in card.take_interference() {
        let _ = writeln!(err, "asan: warning: {what}");
    }
}
