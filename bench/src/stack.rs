//! The applet's stack high-water mark, measured: the applet runs in a
//! thread whose stack is first used up to a chosen depth by a recursion of
//! 256-byte frames; the host library in the main thread talks to it over
//! channels, and a child process (`asan-bench --stack-probe DEPTH MODE`)
//! either completes or overflows. The deepest recursion that still
//! completes, with commands and without, differs by the applet's stack use.
//! (A plain small thread stack cannot measure it: glibc rounds every thread
//! stack up to its minimum plus TLS, more than the applet needs.)

use std::hint::black_box;
use std::process::{Command, Stdio};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread;

use asan_applet::{CertificateProfile, KeyRef, ServiceType};
use asan_host::transport::{Exchange, Transport};
use asan_host::{AsanCard, Error};
use asan_vcard::VirtualCard;

use crate::BoxResult;
use crate::fixture::{Fixture, pins};

/// The host's end of the channels to the applet thread.
struct Remote {
    tx: Sender<Vec<u8>>,
    rx: Receiver<Vec<u8>>,
    count: u64,
}

impl Exchange for Remote {
    fn transmit(&mut self, capdu: &[u8]) -> asan_host::Result<Vec<u8>> {
        self.count += 1;
        let gone = |_| Error::Transport("the applet thread is gone".into());
        self.tx.send(capdu.to_vec()).map_err(gone)?;
        self.rx
            .recv()
            .map_err(|_| Error::Transport("the applet thread is gone".into()))
    }
}

impl Transport for Remote {
    fn extended_length(&self) -> bool {
        true
    }
    fn exclusive(
        &mut self,
        f: &mut dyn FnMut(&mut dyn Exchange) -> asan_host::Result<()>,
    ) -> asan_host::Result<()> {
        f(self)
    }
    fn shared(&self) -> bool {
        false
    }
    fn name(&self) -> String {
        "applet thread".into()
    }
    fn apdu_count(&self) -> u64 {
        self.count
    }
}

/// The thread's stack: generous, so that the recursion decides.
const STACK: usize = 1 << 20;

/// Recurses `depth` frames of at least 256 bytes each, then runs `f`.
fn descend(depth: usize, f: &mut dyn FnMut()) -> u8 {
    let pad = black_box([depth as u8; 256]);
    if depth == 0 {
        f();
        return pad[0];
    }
    descend(depth - 1, f).wrapping_add(black_box(pad)[1])
}

/// The bytes one [`descend`] frame takes (addresses of a local, two levels apart).
fn frame_bytes() -> usize {
    fn level(depth: usize, out: &mut Vec<usize>) {
        let pad = black_box([0u8; 256]);
        out.push(std::ptr::addr_of!(pad) as usize);
        if depth > 0 {
            level(depth - 1, out);
        }
        black_box(pad);
    }
    let mut v = Vec::new();
    level(2, &mut v);
    match v.as_slice() {
        [a, b, ..] => a.abs_diff(*b),
        _ => 256,
    }
}

/// In the child: the applet on a thread that first recurses `depth`
/// frames; `work` runs provisioning (business, SCP03 level 33), a
/// signature, an authentication and a certificate read through it.
pub fn probe(depth: usize, work: bool) -> BoxResult<()> {
    let (to_card, card_rx) = channel::<Vec<u8>>();
    let (card_tx, from_card) = channel::<Vec<u8>>();
    let mut card = VirtualCard::in_memory()?;
    let applet = thread::Builder::new().stack_size(STACK).spawn(move || {
        card.power_on();
        descend(depth, &mut || {
            while let Ok(c) = card_rx.recv() {
                if card_tx.send(card.transmit(&c).unwrap_or_default()).is_err() {
                    break;
                }
            }
        });
    })?;
    if work {
        let fx = Fixture::new()?;
        let remote = Remote {
            tx: to_card,
            rx: from_card,
            count: 0,
        };
        let mut host = AsanCard::open(remote)?;
        fx.personalise(&mut host, ServiceType::Business, 0x33)?;
        let pins = pins()?;
        let digest = [0x5Au8; 32];
        host.sign(&digest, &pins.pin2, CertificateProfile::Business)?;
        host.authenticate(&digest, &pins.pin1, CertificateProfile::Citizen)?;
        host.read_certificate_der(KeyRef::DEFAULT_SIGNING)?;
    } else {
        drop((to_card, from_card));
    }
    applet.join().map_err(|_| "the applet thread failed")?;
    Ok(())
}

fn completes(depth: usize, work: bool) -> BoxResult<bool> {
    let status = Command::new(std::env::current_exe()?)
        .args(["--stack-probe", &depth.to_string()])
        .arg(if work { "work" } else { "idle" })
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    Ok(status.success())
}

/// The deepest recursion that completes.
fn deepest(work: bool) -> BoxResult<usize> {
    let (mut lo, mut hi) = (0usize, STACK / 256);
    if !completes(lo, work)? {
        return Err("the stack probe fails even without recursion".into());
    }
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if completes(mid, work)? {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(lo)
}

/// The applet's stack high-water mark in bytes (within one frame), and the frame size.
pub fn applet_stack() -> BoxResult<(usize, usize)> {
    let frame = frame_bytes();
    let idle = deepest(false)?;
    let work = deepest(true)?;
    Ok((idle.saturating_sub(work) * frame, frame))
}
