//! PC/SC through pcscd with the `pcsc` crate: finds the card by SELECTing
//! the Asan İmza AID on each reader (never by ATR), shares the card with
//! other programs, reconnects and re-SELECTs after another program reset
//! it, and always leaves the card as it is on disconnect.

use std::ffi::{CStr, CString};

use ::pcsc::{
    Card, Context, Disposition, Error as PcscError, Protocol, Protocols, Scope, ShareMode,
};
use asan_applet::wire::{AID, ins, p};

use super::watchdog::guard;
use super::{Exchange, Transport};
use crate::error::{Error, Result};

/// What `asan readers` reports about one reader.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ReaderReport {
    /// The reader's name.
    pub name: String,
    /// Whether a card is present.
    pub card_present: bool,
    /// Whether the card answers SELECT of the Asan İmza applet.
    pub asan_imza: bool,
    /// The card's ATR, hex.
    pub atr: Option<String>,
}

/// Maps a PC/SC error to ours.
pub fn map_error(e: PcscError) -> Error {
    match e {
        PcscError::NoService | PcscError::ServiceStopped => Error::PcscNotRunning,
        PcscError::NoReadersAvailable | PcscError::UnknownReader => Error::NoReader,
        PcscError::SharingViolation => Error::SharingViolation,
        PcscError::NoSmartcard | PcscError::RemovedCard => {
            Error::Transport("the card was removed".into())
        }
        PcscError::Timeout => Error::Transport("the card does not answer (timeout)".into()),
        PcscError::NotTransacted
        | PcscError::ResetCard
        | PcscError::UnpoweredCard
        | PcscError::UnresponsiveCard => {
            Error::Transport("the card stopped answering or was removed".into())
        }
        other => Error::Transport(other.to_string()),
    }
}

fn context() -> Result<Context> {
    Context::establish(Scope::User).map_err(map_error)
}

fn readers(ctx: &Context) -> Result<Vec<CString>> {
    match ctx.list_readers_owned() {
        Ok(r) if r.is_empty() => Err(Error::NoReader),
        Ok(r) => Ok(r),
        Err(e) => Err(map_error(e)),
    }
}

/// The SELECT of our applet, asking for its FCI (which states the contract
/// version).
pub fn select_apdu() -> Vec<u8> {
    let mut v = vec![
        0x00,
        ins::SELECT,
        p::SELECT_BY_NAME,
        p::SELECT_RETURN_FCI,
        AID.len() as u8,
    ];
    v.extend_from_slice(&AID);
    v.push(0x00);
    v
}

thread_local! {
    /// One receive buffer per thread, not a fresh 64 KiB one per APDU.
    static RECEIVE: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0u8; ::pcsc::MAX_BUFFER_SIZE_EXTENDED]);
}

fn raw_transmit(card: &Card, capdu: &[u8]) -> std::result::Result<Vec<u8>, PcscError> {
    let answer = RECEIVE.with(|buf| {
        let mut buf = buf.borrow_mut();
        guard(|| card.transmit(capdu, &mut buf).map(<[u8]>::to_vec))
    })?;
    if answer.is_empty() {
        // vpcd and some readers report success with nothing when the card
        // went away in the middle of the command.
        return Err(PcscError::RemovedCard);
    }
    Ok(answer)
}

/// SELECTs our applet: its answer when the card has it (`9000`, or `61xx`
/// when a T=0 card keeps the FCI for GET RESPONSE).
fn selects(card: &Card) -> Option<Vec<u8>> {
    match raw_transmit(card, &select_apdu()) {
        Ok(r) if matches!(r.as_slice(), [.., 0x90, 0x00] | [.., 0x61, _]) => Some(r),
        _ => None,
    }
}

fn leave(card: Card) {
    let _ = card.disconnect(Disposition::LeaveCard);
}

/// Lists every reader with what it holds.
pub fn list_readers() -> Result<Vec<ReaderReport>> {
    let ctx = context()?;
    let names = match readers(&ctx) {
        Err(Error::NoReader) => return Ok(Vec::new()),
        other => other?,
    };
    let mut out = Vec::new();
    for name in names {
        let mut report = ReaderReport {
            name: name.to_string_lossy().into_owned(),
            card_present: false,
            asan_imza: false,
            atr: None,
        };
        match guard(|| ctx.connect(&name, ShareMode::Shared, Protocols::ANY)) {
            Ok(card) => {
                report.card_present = true;
                report.atr = card
                    .status2_owned()
                    .ok()
                    .map(|s| hex::encode_upper(s.atr()));
                report.asan_imza = selects(&card).is_some();
                leave(card);
            }
            Err(PcscError::SharingViolation) => report.card_present = true,
            Err(_) => {}
        }
        out.push(report);
    }
    Ok(out)
}

/// A card in a PC/SC reader.
pub struct PcscTransport {
    _ctx: Context,
    card: Option<Card>,
    reader: CString,
    extended: bool,
    count: u64,
    /// The SELECT that found the card, until something else is sent.
    connect_select: Option<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for PcscTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcscTransport")
            .field("reader", &self.reader)
            .finish_non_exhaustive()
    }
}

impl PcscTransport {
    /// Connects to the Asan İmza card: the only reader whose card answers
    /// SELECT of the AID, or the one whose name contains `reader`.
    pub fn connect(reader: Option<&str>) -> Result<Self> {
        Self::connect_matching(reader, false)
    }

    /// Connects to the Asan İmza card in the reader named exactly `reader`
    /// (the PKCS#11 module's slots name their readers exactly).
    pub fn connect_exact(reader: &str) -> Result<Self> {
        Self::connect_matching(Some(reader), true)
    }

    fn connect_matching(reader: Option<&str>, exact: bool) -> Result<Self> {
        let ctx = context()?;
        let names = readers(&ctx)?;
        let mut found: Vec<(CString, Card, Vec<u8>)> = Vec::new();
        let mut busy = false;
        let mut present = 0;
        for name in names {
            let matches = |r: &str| {
                let name = name.to_string_lossy();
                if exact { name == r } else { name.contains(r) }
            };
            if reader.is_some_and(|r| !matches(r)) {
                continue;
            }
            match guard(|| ctx.connect(&name, ShareMode::Shared, Protocols::ANY)) {
                Ok(card) => {
                    present += 1;
                    if let Some(answer) = selects(&card) {
                        found.push((name, card, answer));
                    } else {
                        leave(card);
                    }
                }
                Err(PcscError::SharingViolation) => busy = true,
                Err(_) => {}
            }
        }
        match found.len() {
            1 => {
                let Some((reader, card, answer)) = found.pop() else {
                    return Err(Error::NoReader);
                };
                let extended = matches!(
                    card.status2_owned().map(|s| s.protocol2()),
                    Ok(Some(Protocol::T1))
                );
                Ok(Self {
                    _ctx: ctx,
                    card: Some(card),
                    reader,
                    extended,
                    // The SELECT that found the card is on the wire too.
                    count: 1,
                    connect_select: answer
                        .ends_with(&[0x90, 0x00])
                        .then(|| (select_apdu(), answer)),
                })
            }
            0 if busy => Err(Error::SharingViolation),
            0 => Err(match reader {
                Some(r) => Error::ReaderNotFound(r.to_owned()),
                None if present == 0 => Error::NoCard("no card in any reader".into()),
                None => Error::NoCard("the cards present have no Asan İmza applet".into()),
            }),
            _ => {
                let names = found
                    .iter()
                    .map(|(n, _, _)| n.to_string_lossy().into_owned())
                    .collect();
                for (_, card, _) in found {
                    leave(card);
                }
                Err(Error::AmbiguousReader(names))
            }
        }
    }

    /// The reader's name.
    pub fn reader(&self) -> &CStr {
        &self.reader
    }

    fn card(&self) -> Result<&Card> {
        self.card
            .as_ref()
            .ok_or_else(|| Error::Transport("disconnected".into()))
    }

    /// After another program reset the card: reconnect and SELECT again.
    fn recover(&mut self) -> Result<()> {
        let card = self
            .card
            .as_mut()
            .ok_or_else(|| Error::Transport("disconnected".into()))?;
        guard(|| card.reconnect(ShareMode::Shared, Protocols::ANY, Disposition::LeaveCard))
            .map_err(map_error)?;
        if selects(card).is_none() {
            return Err(Error::NoCard(
                "the card no longer answers SELECT after a reset".into(),
            ));
        }
        Ok(())
    }
}

impl Exchange for PcscTransport {
    fn transmit(&mut self, capdu: &[u8]) -> Result<Vec<u8>> {
        self.count += 1;
        self.connect_select = None;
        match raw_transmit(self.card()?, capdu) {
            Ok(r) => Ok(r),
            Err(PcscError::ResetCard) => {
                self.recover()?;
                raw_transmit(self.card()?, capdu).map_err(map_error)
            }
            Err(e) => Err(map_error(e)),
        }
    }
}

struct InTransaction<'a> {
    card: &'a Card,
    count: &'a mut u64,
}

impl Exchange for InTransaction<'_> {
    fn transmit(&mut self, capdu: &[u8]) -> Result<Vec<u8>> {
        *self.count += 1;
        raw_transmit(self.card, capdu).map_err(map_error)
    }
}

impl Transport for PcscTransport {
    fn extended_length(&self) -> bool {
        self.extended
    }

    fn exclusive(&mut self, f: &mut dyn FnMut(&mut dyn Exchange) -> Result<()>) -> Result<()> {
        for attempt in 0..2 {
            let card = self
                .card
                .as_mut()
                .ok_or_else(|| Error::Transport("disconnected".into()))?;
            self.connect_select = None;
            match guard(|| card.transaction()) {
                Ok(tx) => {
                    let result = f(&mut InTransaction {
                        card: &tx,
                        count: &mut self.count,
                    });
                    let _ = tx.end(Disposition::LeaveCard);
                    return result;
                }
                Err(PcscError::ResetCard) if attempt == 0 => {}
                Err(e) => return Err(map_error(e)),
            }
            self.recover()?;
        }
        Err(Error::Transport(
            "the card keeps being reset by another program".into(),
        ))
    }

    fn shared(&self) -> bool {
        true
    }

    fn name(&self) -> String {
        self.reader.to_string_lossy().into_owned()
    }

    fn apdu_count(&self) -> u64 {
        self.count
    }

    fn connect_select(&mut self) -> Option<(Vec<u8>, Vec<u8>)> {
        self.connect_select.take()
    }
}

impl Drop for PcscTransport {
    fn drop(&mut self) {
        if let Some(card) = self.card.take() {
            leave(card);
        }
    }
}
