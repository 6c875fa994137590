//! Connector to the vpcd driver of pcscd (Debian package `vsmartcard-vpcd`).
//!
//! vpcd listens on a TCP port per virtual reader slot (35963, 35964, …);
//! the virtual card connects to it. Every message is a 2-byte big-endian
//! length and a payload. A 1-byte payload is a control message — `00` power
//! off, `01` power on, `02` reset, `04` get ATR (answered with the ATR);
//! any longer payload is a C-APDU, answered with the R-APDU.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use asan_applet::store::Store;

use crate::card::VirtualCard;

/// The default vpcd address (first slot).
pub const DEFAULT_ADDRESS: &str = "127.0.0.1:35963";

/// Control messages from vpcd.
pub mod control {
    /// Power off.
    pub const POWER_OFF: u8 = 0x00;
    /// Power on.
    pub const POWER_ON: u8 = 0x01;
    /// Reset.
    pub const RESET: u8 = 0x02;
    /// Get the ATR.
    pub const GET_ATR: u8 = 0x04;
}

/// How often a blocked read wakes up to look at the shutdown flag.
const POLL: Duration = Duration::from_millis(200);
/// pcscd asks for the ATR several times a second to see whether the card is
/// still there. A connection that stays silent longer than this was accepted
/// by vpcd but is not being served (this happens when a card reconnects while
/// vpcd is still dropping its previous connection): reconnect.
pub const SILENCE: Duration = Duration::from_secs(3);
/// Time a message has to arrive whole once its first byte came (vpcd sends
/// the length and the payload back to back, on the same machine): a peer
/// that sends part of a message and stops is dropped after this.
pub const MESSAGE_DEADLINE: Duration = Duration::from_secs(2);

/// Outcome of reading one message.
enum Incoming {
    Message(Vec<u8>),
    Closed,
    Shutdown,
    Silent,
}

/// How reading into a buffer ended.
enum Fill {
    /// The buffer is full.
    Full,
    /// The peer closed the connection (before the buffer was full).
    Closed,
    /// Shutdown was requested.
    Shutdown,
    /// Nothing arrived for [`SILENCE`] before the message began.
    Silent,
}

/// When the message being read began, and so when it must be complete.
struct Message {
    /// Set by the message's first byte.
    deadline: Option<Instant>,
    /// When reading started, for [`SILENCE`].
    since: Instant,
}

impl Message {
    fn new() -> Self {
        Self {
            deadline: None,
            since: Instant::now(),
        }
    }
}

/// Reads exactly `buf.len()` bytes, waking up on timeouts to check `stop`.
/// Before the message's first byte, [`SILENCE`] ends the wait; after it,
/// the message must be complete by its deadline.
fn read_full(
    stream: &mut TcpStream,
    buf: &mut [u8],
    stop: &AtomicBool,
    message: &mut Message,
) -> io::Result<Fill> {
    let mut filled = 0;
    while let Some(rest) = buf.get_mut(filled..).filter(|rest| !rest.is_empty()) {
        if stop.load(Ordering::Relaxed) {
            // Nothing of this message has been acted on: stopping now still
            // falls between two exchanges.
            return Ok(Fill::Shutdown);
        }
        // Never wait past the deadline of a message once begun.
        let wait = match message.deadline {
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "a message did not arrive whole in time",
                    ));
                }
                left.min(POLL)
            }
            None => POLL,
        };
        stream.set_read_timeout(Some(wait))?;
        // vpcd writes a message's length and body separately; without
        // quick ACKs the second write waits for a delayed ACK (~40 ms).
        #[cfg(target_os = "linux")]
        {
            use std::os::linux::net::TcpStreamExt;
            let _ = stream.set_quickack(true);
        }
        match stream.read(rest) {
            Ok(0) => return Ok(Fill::Closed),
            Ok(n) => {
                filled += n;
                if message.deadline.is_none() {
                    message.deadline = Some(Instant::now() + MESSAGE_DEADLINE);
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                if message.deadline.is_none() && message.since.elapsed() > SILENCE {
                    return Ok(Fill::Silent);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Fill::Full)
}

fn read_message(stream: &mut TcpStream, stop: &AtomicBool) -> io::Result<Incoming> {
    let mut message = Message::new();
    let mut len = [0u8; 2];
    match read_full(stream, &mut len, stop, &mut message)? {
        Fill::Full => {}
        Fill::Closed => return Ok(Incoming::Closed),
        Fill::Shutdown => return Ok(Incoming::Shutdown),
        Fill::Silent => return Ok(Incoming::Silent),
    }
    let mut payload = vec![0u8; usize::from(u16::from_be_bytes(len))];
    match read_full(stream, &mut payload, stop, &mut message)? {
        Fill::Full => Ok(Incoming::Message(payload)),
        Fill::Closed => Ok(Incoming::Closed),
        Fill::Shutdown => Ok(Incoming::Shutdown),
        // The message has begun: only its deadline applies.
        Fill::Silent => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "a message did not arrive whole in time",
        )),
    }
}

fn write_message(stream: &mut TcpStream, payload: &[u8]) -> io::Result<()> {
    let len = u16::try_from(payload.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "message over 65535 bytes"))?;
    let mut msg = Vec::with_capacity(payload.len() + 2);
    msg.extend_from_slice(&len.to_be_bytes());
    msg.extend_from_slice(payload);
    stream.write_all(&msg)?;
    stream.flush()
}

/// One trace line for an exchange: the header, the lengths and the status
/// word — never the data, which may hold PIN blocks.
pub fn describe(capdu: &[u8], rapdu: &[u8]) -> String {
    let header: Vec<String> = capdu.iter().take(4).map(|b| format!("{b:02X}")).collect();
    let sw: Vec<String> = rapdu
        .iter()
        .rev()
        .take(2)
        .rev()
        .map(|b| format!("{b:02X}"))
        .collect();
    format!(
        "{} ({} bytes) -> {} ({} bytes of data)",
        header.join(" "),
        capdu.len(),
        sw.join(""),
        rapdu.len().saturating_sub(2)
    )
}

/// Why a session with vpcd ended.
#[derive(Debug, PartialEq, Eq)]
pub enum SessionEnd {
    /// vpcd closed the connection (pcscd stopped or restarted).
    Closed,
    /// Shutdown was requested.
    Shutdown,
    /// vpcd sent nothing for a while: the connection is not being served.
    Silent,
}

/// Serves one connection until vpcd closes it or `stop` is set. The card is
/// powered off when the session ends, as when a card leaves a reader. A
/// message that is not whole [`MESSAGE_DEADLINE`] after its first byte ends
/// the session with a [`io::ErrorKind::TimedOut`] error (its part is never
/// acted on); `stop` is honoured while waiting for any byte.
pub fn serve<S: Store>(
    card: &mut VirtualCard<S>,
    stream: &mut TcpStream,
    stop: &AtomicBool,
    trace: &mut dyn FnMut(&str),
) -> io::Result<SessionEnd> {
    stream.set_nodelay(true)?;
    let result = loop {
        let msg = match read_message(stream, stop) {
            Ok(Incoming::Message(m)) => m,
            Ok(Incoming::Closed) => break Ok(SessionEnd::Closed),
            Ok(Incoming::Silent) => break Ok(SessionEnd::Silent),
            Ok(Incoming::Shutdown) => break Ok(SessionEnd::Shutdown),
            Err(e) => break Err(e),
        };
        let reply = match msg.as_slice() {
            [control::POWER_OFF] => {
                trace("power off");
                card.power_off();
                None
            }
            [control::POWER_ON] => {
                trace("power on");
                card.power_on();
                None
            }
            [control::RESET] => {
                trace("reset");
                card.reset();
                None
            }
            [control::GET_ATR] => Some(card.atr().to_vec()),
            [other] => {
                trace(&format!("unknown control message {other:02X}"));
                None
            }
            capdu => {
                let reply = match card.transmit(capdu) {
                    Ok(r) => r,
                    // vpcd sends APDUs only to a powered card.
                    Err(_) => vec![0x6F, 0x00],
                };
                trace(&describe(capdu, &reply));
                Some(reply)
            }
        };
        if let Some(reply) = reply
            && let Err(e) = write_message(stream, &reply)
        {
            break Err(e);
        }
    };
    card.power_off();
    result
}

/// Serves vpcd at `address` until `stop` is set: connects, serves, and
/// reconnects with back-off (0.1 s doubling to 5 s) whenever vpcd is not
/// there or goes away, as when pcscd restarts. `log` receives one line per
/// connection event, `trace` one line per exchange (see [`describe`]).
pub fn run<S: Store>(
    card: &mut VirtualCard<S>,
    address: &str,
    stop: &Arc<AtomicBool>,
    log: &mut dyn FnMut(&str),
    trace: &mut dyn FnMut(&str),
) {
    let mut backoff = Duration::from_millis(100);
    let mut last_error = String::new();
    while !stop.load(Ordering::Relaxed) {
        match TcpStream::connect(address) {
            Ok(mut stream) => {
                backoff = Duration::from_millis(100);
                last_error.clear();
                log(&format!("connected to vpcd at {address}"));
                match serve(card, &mut stream, stop, trace) {
                    Ok(SessionEnd::Shutdown) => break,
                    Ok(SessionEnd::Closed) => log("vpcd closed the connection; reconnecting"),
                    Ok(SessionEnd::Silent) => trace("vpcd is silent; reconnecting"),
                    Err(e) => log(&format!("connection to vpcd lost ({e}); reconnecting")),
                }
            }
            Err(e) => {
                let msg = e.to_string();
                if msg != last_error {
                    log(&format!(
                        "cannot reach vpcd at {address} ({msg}); is pcscd running with vsmartcard-vpcd? retrying"
                    ));
                    last_error = msg;
                }
                let mut waited = Duration::ZERO;
                while waited < backoff && !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(50));
                    waited += Duration::from_millis(50);
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}
