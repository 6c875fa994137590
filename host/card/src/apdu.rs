//! APDU mechanics: short or extended encoding by size and by what the
//! reader supports, command chaining for long data on short-only readers,
//! `61xx` followed with GET RESPONSE, `6Cxx` answered by re-sending with the
//! right Le, and an APDU trace with PIN blocks shown as `***`.

use asan_applet::wire::{cla, ins, limits::MAX_COMMAND_DATA};

use crate::error::{Error, Result};
use crate::transport::Exchange;

/// Most data a GET RESPONSE loop may collect before the answer is called
/// oversized (a certificate plus secure-messaging overhead, with margin).
pub const MAX_RESPONSE: usize = 65_536 + 4_096;
/// Most GET RESPONSE rounds for one command.
const MAX_ROUNDS: usize = 300;
/// Largest data part of a short APDU.
const SHORT_DATA: usize = 255;

/// One command to send.
#[derive(Clone, Copy)]
pub struct Command<'a> {
    /// CLA INS P1 P2.
    pub header: [u8; 4],
    /// Command data.
    pub data: &'a [u8],
    /// Expected answer length: `None` when no data is expected; `Some(0)`
    /// means "as much as there is" (Le `00` / `0000`).
    pub le: Option<usize>,
    /// The data holds PIN blocks: never show it in traces.
    pub secret: bool,
}

impl std::fmt::Debug for Command<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Command")
            .field("header", &hex::encode_upper(self.header))
            .field(
                "data",
                &if self.secret {
                    "***".to_owned()
                } else {
                    hex::encode_upper(self.data)
                },
            )
            .field("le", &self.le)
            .finish()
    }
}

impl<'a> Command<'a> {
    /// A command with no data and no answer expected.
    pub fn new(header: [u8; 4]) -> Self {
        Self {
            header,
            data: &[],
            le: None,
            secret: false,
        }
    }

    /// With data.
    pub fn data(mut self, data: &'a [u8]) -> Self {
        self.data = data;
        self
    }

    /// Expecting an answer (`0` = as much as there is).
    pub fn le(mut self, le: usize) -> Self {
        self.le = Some(le);
        self
    }

    /// Marks the data as secret (PIN blocks).
    pub fn secret(mut self) -> Self {
        self.secret = true;
        self
    }
}

/// A card's answer after `61xx`/`6Cxx` handling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// All response data.
    pub data: Vec<u8>,
    /// The final status word.
    pub sw: u16,
}

/// Encodes one APDU: short when it fits, extended otherwise.
pub fn encode(header: [u8; 4], data: &[u8], le: Option<usize>, extended: bool) -> Vec<u8> {
    let mut v = Vec::with_capacity(data.len() + 9);
    v.extend_from_slice(&header);
    if !extended {
        if !data.is_empty() {
            v.push(data.len() as u8);
            v.extend_from_slice(data);
        }
        if let Some(le) = le {
            v.push(if le >= 256 { 0 } else { le as u8 });
        }
        return v;
    }
    if !data.is_empty() {
        v.push(0);
        v.extend_from_slice(&(data.len() as u16).to_be_bytes());
        v.extend_from_slice(data);
    }
    if let Some(le) = le {
        if data.is_empty() {
            v.push(0);
        }
        let le = if le >= 65_536 { 0 } else { le as u16 };
        v.extend_from_slice(&le.to_be_bytes());
    }
    v
}

fn fits_short(data: &[u8], le: Option<usize>) -> bool {
    data.len() <= SHORT_DATA && le.is_none_or(|l| l <= 256)
}

/// Sends commands over an [`Exchange`], with a trace hook.
pub struct Apdus<'t> {
    exchange: &'t mut dyn Exchange,
    extended: bool,
    trace: Option<&'t mut dyn FnMut(&str)>,
}

pub(crate) fn split_sw(rapdu: &[u8]) -> Result<(&[u8], u16)> {
    match rapdu.split_last_chunk::<2>() {
        Some((data, [sw1, sw2])) => Ok((data, u16::from_be_bytes([*sw1, *sw2]))),
        None => Err(Error::InvalidResponse(match rapdu.len() {
            0 => "no bytes at all, not even a status word".to_owned(),
            n => format!("{n} byte(s), no status word"),
        })),
    }
}

impl<'t> Apdus<'t> {
    /// Over `exchange`; `extended` says whether extended APDUs reach the card.
    pub fn new(
        exchange: &'t mut dyn Exchange,
        extended: bool,
        trace: Option<&'t mut dyn FnMut(&str)>,
    ) -> Self {
        Self {
            exchange,
            extended,
            trace,
        }
    }

    fn raw(&mut self, capdu: &[u8], secret_from: Option<usize>) -> Result<(Vec<u8>, u16)> {
        if let Some(t) = self.trace.as_mut() {
            let shown = match secret_from {
                Some(at) => format!(
                    "{} ***",
                    hex::encode_upper(capdu.get(..at).unwrap_or(capdu))
                ),
                None => hex::encode_upper(capdu),
            };
            t(&format!("> {shown}"));
        }
        let rapdu = self.exchange.transmit(capdu)?;
        if let Some(t) = self.trace.as_mut() {
            t(&format!("< {}", hex::encode_upper(&rapdu)));
        }
        let (data, sw) = split_sw(&rapdu)?;
        Ok((data.to_vec(), sw))
    }

    /// Sends `cmd` and returns its complete answer: long data goes as one
    /// extended APDU or as a chain of short ones, `61xx` is followed with
    /// GET RESPONSE, `6Cxx` is answered by sending again with that Le.
    pub fn send(&mut self, cmd: &Command<'_>) -> Result<Response> {
        if cmd.data.len() > MAX_COMMAND_DATA {
            return Err(Error::Usage(format!(
                "{} bytes of command data; the card takes at most {MAX_COMMAND_DATA}",
                cmd.data.len()
            )));
        }
        let (mut data, mut sw) = self.dispatch(cmd, cmd.le)?;
        if sw & 0xFF00 == 0x6C00 {
            // Wrong Le: the card names the right one.
            let le = match sw & 0xFF {
                0 => 256,
                n => usize::from(n as u8),
            };
            (data, sw) = self.dispatch(cmd, Some(le))?;
            if sw & 0xFF00 == 0x6C00 {
                return Err(Error::InvalidResponse(
                    "the card asks for a different Le twice".into(),
                ));
            }
        }
        self.complete(data, sw)
    }

    /// Sends an already encoded C-APDU (a secure-channel command) and
    /// follows `61xx` with GET RESPONSE.
    pub fn send_raw(&mut self, capdu: &[u8]) -> Result<Response> {
        let (data, sw) = self.raw(capdu, None)?;
        self.complete(data, sw)
    }

    /// Collects the rest of a `61xx` answer.
    fn complete(&mut self, mut data: Vec<u8>, mut sw: u16) -> Result<Response> {
        let mut rounds = 0;
        while sw & 0xFF00 == 0x6100 {
            rounds += 1;
            if rounds > MAX_ROUNDS || data.len() > MAX_RESPONSE {
                return Err(Error::InvalidResponse(
                    "the card keeps announcing more data (61xx)".into(),
                ));
            }
            let le = match sw & 0xFF {
                0 => 256,
                n => usize::from(n as u8),
            };
            let get = encode([0x00, ins::GET_RESPONSE, 0x00, 0x00], &[], Some(le), false);
            let (more, next) = self.raw(&get, None)?;
            data.extend_from_slice(&more);
            sw = next;
        }
        if data.len() > MAX_RESPONSE {
            return Err(Error::InvalidResponse(format!(
                "{} bytes of answer",
                data.len()
            )));
        }
        Ok(Response { data, sw })
    }

    /// Whether extended APDUs reach the card.
    pub fn extended(&self) -> bool {
        self.extended
    }

    /// One APDU when the data fits (short, or extended where the reader
    /// takes it), a chain of short APDUs otherwise. On a short-only reader
    /// an Le above 256 is asked as `00` (256); `61xx` brings the rest.
    fn dispatch(&mut self, cmd: &Command<'_>, le: Option<usize>) -> Result<(Vec<u8>, u16)> {
        if fits_short(cmd.data, le) {
            self.once(cmd.header, cmd.data, le, false, cmd.secret)
        } else if self.extended {
            self.once(cmd.header, cmd.data, le, true, cmd.secret)
        } else if cmd.data.len() <= SHORT_DATA {
            self.once(
                cmd.header,
                cmd.data,
                le.map(|l| l.min(256)),
                false,
                cmd.secret,
            )
        } else {
            self.chained(cmd, le)
        }
    }

    fn once(
        &mut self,
        header: [u8; 4],
        data: &[u8],
        le: Option<usize>,
        extended: bool,
        secret: bool,
    ) -> Result<(Vec<u8>, u16)> {
        // A command with a PIN block is encoded into memory that is wiped.
        let capdu = zeroize::Zeroizing::new(encode(header, data, le, extended));
        let secret_from = secret.then_some(if extended { 7 } else { 5 });
        self.raw(&capdu, secret_from)
    }

    fn chained(&mut self, cmd: &Command<'_>, le: Option<usize>) -> Result<(Vec<u8>, u16)> {
        let parts: Vec<&[u8]> = cmd.data.chunks(SHORT_DATA).collect();
        let last = parts.len().saturating_sub(1);
        for (i, part) in parts.iter().enumerate() {
            let mut header = cmd.header;
            let le = if i == last {
                le.map(|l| l.min(256))
            } else {
                header[0] |= cla::CHAIN;
                None
            };
            let (data, sw) = self.once(header, part, le, false, cmd.secret)?;
            if i == last || sw != 0x9000 {
                return Ok((data, sw));
            }
            if !data.is_empty() {
                return Err(Error::InvalidResponse(
                    "data in the answer to a chain part".into(),
                ));
            }
        }
        Err(Error::Usage("empty command chain".into()))
    }
}
