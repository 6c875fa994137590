//! The hostile card as a virtual ICC of vpcd: the vpcd protocol (a 2-byte
//! length, then the message), a thread that connects to vpcd on
//! [`PORT`](crate::PORT) and serves one connection after the other, and the
//! guard that stops it.

use std::ffi::CString;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use asan_tests::{pcsc_context, reader_for, release, wait_until_card_gone};
use pcsc::{Protocols, ShareMode};

use crate::modes::{Mode, Reply, Responder};
use crate::{PORT, h};

/// The card's ATR (T=1, historical bytes "ASANIMZA").
const ATR: &str = "3B88014153414E494D5A418B";
/// vpcd needs this long between a card leaving and the next connecting.
const VPCD_GAP: Duration = Duration::from_millis(1100);

/// Outcome of reading one vpcd message.
enum Incoming {
    Message(Vec<u8>),
    Idle,
    Closed,
}

/// Reads exactly `buf.len()` bytes; `Ok(false)` when nothing came before
/// the read timeout (only before the first byte) or the peer closed.
fn read_full(stream: &mut TcpStream, buf: &mut [u8], begun: bool) -> io::Result<Option<bool>> {
    let mut filled = 0;
    let since = Instant::now();
    while filled < buf.len() {
        match stream.read(&mut buf[filled..]) {
            Ok(0) => return Ok(None),
            Ok(n) => filled += n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                if filled == 0 && !begun {
                    return Ok(Some(false));
                }
                if since.elapsed() > Duration::from_secs(10) {
                    return Err(e);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Some(true))
}

/// Acknowledges at once what vpcd sends: vpcd writes the length and the
/// APDU separately, and with a delayed ACK Nagle's algorithm would hold the
/// APDU back ~40 ms (Linux clears the flag again now and then).
fn quick_ack(stream: &TcpStream) {
    #[cfg(target_os = "linux")]
    {
        use std::os::linux::net::TcpStreamExt;
        let _ = stream.set_quickack(true);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = stream;
}

fn read_message(stream: &mut TcpStream) -> Incoming {
    quick_ack(stream);
    let mut len = [0u8; 2];
    match read_full(stream, &mut len, false) {
        Ok(Some(true)) => {}
        Ok(Some(false)) => return Incoming::Idle,
        Ok(None) | Err(_) => return Incoming::Closed,
    }
    quick_ack(stream);
    let mut payload = vec![0u8; usize::from(u16::from_be_bytes(len))];
    match read_full(stream, &mut payload, true) {
        Ok(Some(true)) => Incoming::Message(payload),
        _ => Incoming::Closed,
    }
}

fn write_message(stream: &mut TcpStream, payload: &[u8]) -> io::Result<()> {
    let len = u16::try_from(payload.len()).unwrap();
    let msg = [&len.to_be_bytes()[..], payload].concat();
    stream.write_all(&msg)?;
    stream.flush()
}

fn short_hex(bytes: &[u8]) -> String {
    let shown = hex::encode_upper(&bytes[..bytes.len().min(12)]);
    if bytes.len() > 12 {
        format!("{shown}… ({} bytes)", bytes.len())
    } else {
        shown
    }
}

type Log = Arc<Mutex<Vec<String>>>;

/// Adds a line to the card's log, stamped with the milliseconds since the
/// test process started.
pub fn note(log: &Log, line: String) {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let ms = START.get_or_init(Instant::now).elapsed().as_millis();
    let mut log = log
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    log.push(format!("{ms:>7} {line}"));
}

/// Serves one connection until vpcd closes it, the card closes it (its
/// mode), `stop`, or vpcd stays silent for 3 s although nothing is pending
/// (an accepted connection vpcd does not serve: reconnect).
fn serve(
    mut stream: TcpStream,
    mode: Mode,
    stop: &AtomicBool,
    log: &Log,
    socket: &Socket,
    served: &AtomicBool,
) {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
    let _ = stream.set_nodelay(true);
    let mut responder = Responder::new(mode);
    let mut holding = false;
    let mut last = Instant::now();
    loop {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let msg = match read_message(&mut stream) {
            Incoming::Message(m) => m,
            Incoming::Idle => {
                if !holding && last.elapsed() > Duration::from_secs(3) {
                    note(log, "vpcd silent for 3 s; reconnecting".into());
                    return;
                }
                continue;
            }
            Incoming::Closed => {
                note(log, "vpcd closed the connection".into());
                return;
            }
        };
        last = Instant::now();
        let reply = match msg.as_slice() {
            [0x04] => {
                if !served.swap(true, Ordering::Relaxed) {
                    note(log, "vpcd serves the connection (first GET ATR)".into());
                }
                Some(h(ATR))
            }
            [c @ 0x00..=0x02] => {
                let what = ["power off", "power on", "reset"][usize::from(*c)];
                note(log, what.into());
                responder.previous = h("9000");
                None
            }
            [other] => {
                note(log, format!("unknown control {other:02X}"));
                None
            }
            capdu => match responder.reply(capdu) {
                Reply::Bytes(b) if b.is_empty() => {
                    note(log, format!("> {} < (0 bytes)", short_hex(capdu)));
                    holding = true;
                    Some(b)
                }
                Reply::Bytes(b) => {
                    note(log, format!("> {} < {}", short_hex(capdu), short_hex(&b)));
                    Some(b)
                }
                Reply::BytesThenClose(b) => {
                    note(
                        log,
                        format!("> {} < {}, socket closed", short_hex(capdu), short_hex(&b)),
                    );
                    let _ = write_message(&mut stream, &b);
                    cut(socket);
                    return;
                }
                Reply::Silence => {
                    note(log, format!("> {} < (silence)", short_hex(capdu)));
                    holding = true;
                    None
                }
                Reply::Close => {
                    note(log, format!("> {} < (socket closed)", short_hex(capdu)));
                    cut(socket);
                    return;
                }
            },
        };
        if let Some(r) = reply
            && write_message(&mut stream, &r).is_err()
        {
            note(log, "write failed".into());
            return;
        }
    }
}

/// The card's present connection to vpcd, if any.
type Socket = Arc<Mutex<Option<TcpStream>>>;

/// Ends the present connection: from then on the card is gone (and
/// [`HostileCard::wait_ready`] waits for the next connection).
fn cut(socket: &Socket) {
    let taken = socket
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take();
    if let Some(s) = taken {
        let _ = s.shutdown(Shutdown::Both);
    }
}

/// When the last card left the slot (vpcd wants a gap before the next).
fn last_left() -> &'static Mutex<Option<Instant>> {
    static LEFT: Mutex<Option<Instant>> = Mutex::new(None);
    &LEFT
}

fn mark_left() {
    *last_left()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Instant::now());
}

fn wait_gap(stop: &AtomicBool) {
    loop {
        let left = *last_left()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match left {
            Some(t) if t.elapsed() < VPCD_GAP && !stop.load(Ordering::Relaxed) => {
                thread::sleep(Duration::from_millis(50));
            }
            _ => return,
        }
    }
}

/// A hostile card in a thread of the test, connected to vpcd on [`PORT`];
/// it reconnects (after [`VPCD_GAP`]) whenever its connection ends, until
/// dropped. Dropping it shuts the socket down, so pcscd sees the card leave.
pub struct HostileCard {
    mode: Mode,
    stop: Arc<AtomicBool>,
    socket: Socket,
    /// Whether vpcd has polled the present connection (it accepts a
    /// connection only at its next presence poll).
    served: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    pub log: Log,
    reader: CString,
}

impl HostileCard {
    /// Starts the card and waits until pcscd reports it present.
    pub fn start(mode: Mode) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let socket: Socket = Arc::new(Mutex::new(None));
        let served = Arc::new(AtomicBool::new(false));
        let log: Log = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, socket, served, log) =
                (stop.clone(), socket.clone(), served.clone(), log.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    wait_gap(&stop);
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let stream = match TcpStream::connect(("127.0.0.1", PORT)) {
                        Ok(s) => s,
                        Err(e) => {
                            note(&log, format!("cannot reach vpcd on port {PORT}: {e}"));
                            mark_left();
                            continue;
                        }
                    };
                    note(&log, "connected to vpcd".into());
                    *socket
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) =
                        stream.try_clone().ok();
                    serve(stream, mode, &stop, &log, &socket, &served);
                    served.store(false, Ordering::Relaxed);
                    cut(&socket);
                    mark_left();
                }
            })
        };
        let card = Self {
            mode,
            stop,
            socket,
            served,
            thread: Some(thread),
            log,
            reader: CString::new(reader_for(PORT)).unwrap(),
        };
        card.wait_ready();
        card
    }

    /// Waits until the card is connected to vpcd (after a connection ended:
    /// again, after the gap, by which time pcscd has seen it leave) and
    /// pcscd reports it present.
    pub fn wait_ready(&self) {
        let start = Instant::now();
        while self
            .socket
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_none()
            || !self.served.load(Ordering::Relaxed)
        {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the hostile card ({:?}) did not connect to vpcd within 20 s; its log:\n{}",
                self.mode,
                self.log_tail(40)
            );
            thread::sleep(Duration::from_millis(20));
        }
        self.wait_present();
    }

    /// Waits until pcscd reports a card in the reader (connects and leaves
    /// it with `LeaveCard`, never a reset).
    fn wait_present(&self) {
        let ctx = pcsc_context();
        let start = Instant::now();
        loop {
            if let Ok(card) = ctx.connect(&self.reader, ShareMode::Shared, Protocols::ANY) {
                release(card);
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the hostile card ({:?}) did not appear in {:?} within 20 s; its log:\n{}",
                self.mode,
                self.reader,
                self.log_tail(40)
            );
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// Closes the present connection (the card leaves; the thread connects
    /// again after the gap): frees pcscd from a silent card.
    pub fn drop_connection(&self) {
        cut(&self.socket);
    }

    pub fn log_tail(&self, n: usize) -> String {
        let log = self
            .log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        log[log.len().saturating_sub(n)..].join("\n")
    }
}

impl Drop for HostileCard {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.drop_connection();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        mark_left();
        // Let pcscd notice the card is gone before the slot is reused.
        wait_until_card_gone(&self.reader);
    }
}
