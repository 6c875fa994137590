//! Readers and what is in them: the [`Connector`] that lists readers,
//! reports card events without sending an APDU, and connects to a card —
//! PC/SC through pcscd in the module ([`PcscConnector`]), the in-process
//! virtual card in unit tests.

use std::ffi::CString;
use std::time::Duration;

use asan_card::transport::Transport;
use asan_card::transport::pcsc::{PcscTransport, map_error};
use asan_card::{Error, Result};
use pcsc::{Context, ReaderState, Scope, State};

/// What a reader holds, as far as the reader knows (no APDU sent).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Presence {
    /// A card is in the reader.
    pub card: bool,
    /// Counts insertions and removals: a new value means another card (or
    /// the same one again), so everything read from the old one is void.
    pub events: u32,
}

/// Where the module's cards come from.
pub trait Connector: Send {
    /// The transport to one card.
    type Transport: Transport + Send;

    /// The names of the readers attached now.
    fn readers(&mut self) -> Result<Vec<String>>;

    /// What each of `readers` holds (a reader that is gone: no card).
    fn presence(&mut self, readers: &[String]) -> Vec<Presence>;

    /// Connects to the Asan İmza card in `reader` (its applet selected).
    fn connect(&mut self, reader: &str) -> Result<Self::Transport>;
}

/// Readers through pcscd.
pub struct PcscConnector {
    /// Established on first use and again after pcscd restarts, so that
    /// the module loads (with no slots) while pcscd is not running.
    ctx: Option<Context>,
}

impl std::fmt::Debug for PcscConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PcscConnector")
    }
}

impl PcscConnector {
    /// A connector; PC/SC is reached on first use.
    pub fn new() -> Self {
        Self { ctx: None }
    }

    fn context(&mut self) -> Result<&Context> {
        if self.ctx.is_none() {
            self.ctx = Some(Context::establish(Scope::User).map_err(map_error)?);
        }
        self.ctx.as_ref().ok_or(Error::PcscNotRunning)
    }
}

impl Default for PcscConnector {
    fn default() -> Self {
        Self::new()
    }
}

/// The states of `readers` now (`UNAWARE` in, current state out).
fn states(ctx: &Context, readers: &[String]) -> Vec<ReaderState> {
    let mut states: Vec<ReaderState> = readers
        .iter()
        .map(|r| ReaderState::new(CString::new(r.as_str()).unwrap_or_default(), State::UNAWARE))
        .collect();
    if !states.is_empty() {
        let _ = ctx.get_status_change(Duration::ZERO, &mut states);
    }
    states
}

/// Waits up to `timeout` for a card or reader change in any of `readers`,
/// on a PC/SC context of its own (so that the module is not locked while
/// `C_WaitForSlotEvent` blocks). The caller looks at what changed.
pub fn wait_for_change(readers: &[String], timeout: Duration) {
    let waited = Context::establish(Scope::User).ok().is_some_and(|ctx| {
        let mut now = states(&ctx, readers);
        for s in &mut now {
            s.sync_current_state();
        }
        !now.is_empty()
            && matches!(
                ctx.get_status_change(timeout, &mut now),
                Ok(()) | Err(pcsc::Error::Timeout)
            )
    });
    if !waited {
        // No readers, or no pcscd: wait anyway, without spinning.
        std::thread::sleep(timeout);
    }
}

impl Connector for PcscConnector {
    type Transport = PcscTransport;

    fn readers(&mut self) -> Result<Vec<String>> {
        let listed = self.context()?.list_readers_owned();
        match listed {
            Ok(r) => Ok(r
                .into_iter()
                .map(|n| n.to_string_lossy().into_owned())
                .collect()),
            Err(pcsc::Error::NoReadersAvailable) => Ok(Vec::new()),
            Err(e) => {
                // pcscd was restarted or stopped: a new context next time.
                self.ctx = None;
                Err(map_error(e))
            }
        }
    }

    fn presence(&mut self, readers: &[String]) -> Vec<Presence> {
        let Ok(ctx) = self.context() else {
            return vec![
                Presence {
                    card: false,
                    events: 0
                };
                readers.len()
            ];
        };
        states(ctx, readers)
            .iter()
            .map(|s| {
                let state = s.event_state();
                Presence {
                    card: state.contains(State::PRESENT) && !state.contains(State::UNAVAILABLE),
                    events: s.event_count(),
                }
            })
            .collect()
    }

    fn connect(&mut self, reader: &str) -> Result<PcscTransport> {
        PcscTransport::connect_exact(reader)
    }
}

/// Whether an error means the card (or reader) went away.
pub fn gone(e: &Error) -> bool {
    matches!(
        e,
        Error::Transport(_) | Error::NoCard(_) | Error::NoReader | Error::ReaderNotFound(_)
    )
}
