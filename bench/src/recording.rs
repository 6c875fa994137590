//! A transport wrapper that records every C-APDU (header, lengths) and its
//! status word, inside transactions too, and can pretend to be a reader
//! without extended length.

use asan_applet::wire::{ins, p};
use asan_host::Result;
use asan_host::transport::{Exchange, Transport};

/// One exchange.
#[derive(Clone, Debug)]
pub struct Rec {
    /// CLA INS P1 P2.
    pub header: [u8; 4],
    /// Nc.
    pub data_len: usize,
    /// Ne, when the command asks for data.
    pub le: Option<usize>,
    /// Extended-length encoding.
    pub extended: bool,
    /// The answer's data length and status word.
    pub answer: (usize, u16),
}

impl Rec {
    fn parse(capdu: &[u8], rapdu: &[u8]) -> Self {
        let mut header = [0u8; 4];
        for (h, b) in header.iter_mut().zip(capdu) {
            *h = *b;
        }
        let body = capdu.get(4..).unwrap_or(&[]);
        let be = |i: usize| {
            usize::from(u16::from_be_bytes([
                body.get(i).copied().unwrap_or(0),
                body.get(i + 1).copied().unwrap_or(0),
            ]))
        };
        let short_le = |b: u8| if b == 0 { 256 } else { usize::from(b) };
        let ext_le = |n: usize| if n == 0 { 65_536 } else { n };
        let (data_len, le, extended) = match body {
            [] => (0, None, false),
            [l] => (0, Some(short_le(*l)), false),
            [0, _, _] => (0, Some(ext_le(be(1))), true),
            [0, _, _, ..] if body.len() == 3 + be(1) => (be(1), None, true),
            [0, _, _, ..] => (be(1), Some(ext_le(be(body.len() - 2))), true),
            [lc, ..] if body.len() == 1 + usize::from(*lc) => (usize::from(*lc), None, false),
            [lc, ..] => (usize::from(*lc), body.last().map(|b| short_le(*b)), false),
        };
        let sw = match rapdu {
            [.., a, b] => u16::from_be_bytes([*a, *b]),
            _ => 0,
        };
        Self {
            header,
            data_len,
            le,
            extended,
            answer: (rapdu.len().saturating_sub(2), sw),
        }
    }

    /// The command's name.
    pub fn name(&self) -> &'static str {
        let [cla, i, p1, _] = self.header;
        let secure = cla & 0x04 != 0;
        match (i, p1) {
            (ins::SELECT, p::SELECT_BY_NAME) => "SELECT applet",
            (ins::SELECT, _) => "SELECT EF",
            (ins::READ_BINARY, _) => "READ BINARY",
            (ins::VERIFY, _) => "VERIFY",
            (ins::CHANGE_REFERENCE_DATA, _) => "CHANGE REFERENCE DATA",
            (ins::RESET_RETRY_COUNTER, p::SET_PIN_VALUE) if secure => "set PIN (SM)",
            (ins::RESET_RETRY_COUNTER, _) => "RESET RETRY COUNTER",
            (ins::MSE, _) => "MSE: SET",
            (ins::INTERNAL_AUTHENTICATE, _) => "INTERNAL AUTHENTICATE",
            (ins::PSO, _) => "PSO: CDS",
            (ins::GENERATE_ASYMMETRIC_KEY_PAIR, p::KEY_GENERATE) => "GENERATE KEY PAIR (SM)",
            (ins::GENERATE_ASYMMETRIC_KEY_PAIR, _) => "GET PUBLIC KEY",
            (ins::GET_DATA, _) => "GET DATA",
            (ins::GET_RESPONSE, _) => "GET RESPONSE",
            (ins::PUT_DATA, 0x00) => "PUT DATA service (SM)",
            (ins::PUT_DATA, _) => "PUT DATA certificate (SM)",
            (ins::ACTIVATE, _) => "ACTIVATE (SM)",
            (ins::TERMINATE, _) => "TERMINATE (SM)",
            (ins::PUT_KEY, _) => "PUT KEY (SM)",
            (ins::INITIALIZE_UPDATE, _) => "INITIALIZE UPDATE",
            (ins::EXTERNAL_AUTHENTICATE, _) => "EXTERNAL AUTHENTICATE",
            _ => "other",
        }
    }

    /// One line: name, header, lengths, status word.
    pub fn describe(&self) -> String {
        let le = self.le.map(|l| format!(" Le={l}")).unwrap_or_default();
        let ext = if self.extended { " ext" } else { "" };
        format!(
            "{} [{}] Lc={}{le}{ext} -> {} bytes {:04X}",
            self.name(),
            hex_upper(&self.header),
            self.data_len,
            self.answer.0,
            self.answer.1
        )
    }
}

fn hex_upper(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

/// Records what goes through `inner`.
pub struct Recording<T: Transport> {
    inner: T,
    log: Vec<Rec>,
    short_only: bool,
}

fn record(ex: &mut dyn Exchange, log: &mut Vec<Rec>, capdu: &[u8]) -> Result<Vec<u8>> {
    let r = ex.transmit(capdu)?;
    log.push(Rec::parse(capdu, &r));
    Ok(r)
}

struct InTx<'a> {
    ex: &'a mut dyn Exchange,
    log: &'a mut Vec<Rec>,
}

impl Exchange for InTx<'_> {
    fn transmit(&mut self, capdu: &[u8]) -> Result<Vec<u8>> {
        record(self.ex, self.log, capdu)
    }
}

impl<T: Transport> Recording<T> {
    /// Wraps `inner`; `short_only` makes it report no extended length.
    pub fn new(inner: T, short_only: bool) -> Self {
        Self {
            inner,
            log: Vec::new(),
            short_only,
        }
    }

    /// Takes the log recorded so far.
    pub fn take(&mut self) -> Vec<Rec> {
        std::mem::take(&mut self.log)
    }

    /// Switches to short APDUs only (or back).
    pub fn set_short_only(&mut self, short_only: bool) {
        self.short_only = short_only;
    }

    /// The wrapped transport's own count.
    pub fn inner_count(&self) -> u64 {
        self.inner.apdu_count()
    }

    /// The wrapped transport.
    pub fn inner_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}

impl<T: Transport> Exchange for Recording<T> {
    fn transmit(&mut self, capdu: &[u8]) -> Result<Vec<u8>> {
        record(&mut self.inner, &mut self.log, capdu)
    }
}

impl<T: Transport> Transport for Recording<T> {
    fn extended_length(&self) -> bool {
        !self.short_only && self.inner.extended_length()
    }

    fn exclusive(&mut self, f: &mut dyn FnMut(&mut dyn Exchange) -> Result<()>) -> Result<()> {
        let log = &mut self.log;
        self.inner
            .exclusive(&mut |ex: &mut dyn Exchange| f(&mut InTx { ex, log: &mut *log }))
    }

    fn shared(&self) -> bool {
        self.inner.shared()
    }

    fn name(&self) -> String {
        self.inner.name()
    }

    fn apdu_count(&self) -> u64 {
        self.inner.apdu_count()
    }
}
