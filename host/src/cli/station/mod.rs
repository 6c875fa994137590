//! `asan provision --watch`: the personalisation station. It waits on
//! every reader for PC/SC reader-state changes (`SCardGetStatusChange`, no
//! polling), personalises each card as it is inserted (one thread per
//! card), says per reader on stderr what it is doing and when the card may be
//! removed, picks up readers plugged in later, outlives a restart of pcscd,
//! and stops on Ctrl-C once the cards in progress are done. The rules (which
//! card to run when) live in [`readers`]; this file is the PC/SC side.

mod readers;

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use pcsc::{Context, PNP_NOTIFICATION, ReaderState, Scope, State};

use crate::AsanCard;
use crate::audit::{AuditLog, Event};
use crate::error::{Error, Result};
use crate::provision::{self, CardReport, Personalisation};
use crate::transport::pcsc::{PcscTransport, map_error};
use readers::{Action, Readers};

/// One status line on stderr, like the progress lines of a batch (whole
/// lines, from any thread; stdout is held by the command's output).
fn line(text: &str) {
    let mut out = std::io::stderr().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

/// Personalises the card just inserted in `reader`.
fn one_card(reader: &str, plan: &Personalisation<'_>) -> CardReport {
    line(&format!(
        "{reader}: card inserted: personalising, do not remove it"
    ));
    let mut report = match PcscTransport::connect_exact(reader).and_then(AsanCard::open) {
        Ok(mut card) => {
            let serial = card.info().ok().map(|i| i.serial);
            let mut r = provision::personalise_reporting(&mut card, &plan.now());
            if r.serial.is_none() {
                r.serial = serial;
            }
            r
        }
        Err(e) => CardReport::failed(reader.to_owned(), None, e.to_string()),
    };
    reader.clone_into(&mut report.reader);
    let serial = report.serial.clone().unwrap_or_else(|| "?".into());
    let error = report.error.clone().unwrap_or_default();
    line(&match report.result {
        "failed" => format!(
            "{reader} ({serial}): failed: {error}; the card may be removed; insert it again to resume"
        ),
        "skipped" => format!("{reader} ({serial}): skipped: {error}; the card may be removed"),
        done => format!("{reader} ({serial}): {done}; the card may be removed"),
    });
    report
}

/// Appends the card's line to the audit trail; false (said on stderr) when
/// the trail cannot take it.
fn record(reader: &str, report: &CardReport, audit: Option<&AuditLog>, service: &str) -> bool {
    match audit.map(|log| log.append(&Event::of_report("provision", report, Some(service)))) {
        Some(Err(e)) => {
            line(&format!(
                "{reader}: audit trail: {e}: card {} is not recorded; the station stops",
                report.serial.as_deref().unwrap_or("?")
            ));
            false
        }
        _ => true,
    }
}

/// What can end a wait in progress: a PC/SC context (`SCardCancel`).
trait Cancel: Clone {
    /// Ends the wait in progress, if any; nothing otherwise.
    fn cancel(&self);
}

impl Cancel for Context {
    fn cancel(&self) {
        let _ = Context::cancel(self);
    }
}

/// The PC/SC context the station waits on. It is replaced when pcscd comes
/// back after a restart; card runs and Ctrl-C wake the wait through it.
struct Service<C = Context> {
    ctx: Mutex<C>,
    /// The station's loop has ended: nobody waits any more.
    over: AtomicBool,
}

impl Service {
    fn establish() -> Result<Self> {
        Ok(Self::new(
            Context::establish(Scope::User).map_err(map_error)?,
        ))
    }
}

impl<C: Cancel> Service<C> {
    fn new(ctx: C) -> Self {
        Self {
            ctx: Mutex::new(ctx),
            over: AtomicBool::new(false),
        }
    }

    fn current(&self) -> C {
        self.ctx
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Ends the station's `SCardGetStatusChange` until `heard` says the
    /// loop has seen why (or the loop is over). `SCardCancel` only ends a
    /// wait in progress: one sent just before the loop starts waiting would
    /// be lost, so it is sent again every 20 ms until it has been heard.
    fn wake_until(&self, heard: impl Fn() -> bool) {
        loop {
            self.current().cancel();
            if heard() || self.over.load(Ordering::SeqCst) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn replace(&self, ctx: C) {
        *self.ctx.lock().unwrap_or_else(PoisonError::into_inner) = ctx;
    }
}

/// Errors after which the context is dead: pcscd stopped or restarted.
fn service_gone(e: pcsc::Error) -> bool {
    matches!(
        e,
        pcsc::Error::NoService
            | pcsc::Error::ServiceStopped
            | pcsc::Error::InvalidHandle
            | pcsc::Error::CommError
    )
}

/// After PC/SC failed: connects again, waiting for pcscd to answer if it
/// has gone (it gives no event for its return: one try every half second).
/// `Ok(false)` when Ctrl-C came first; the error itself when it is not a
/// lost service and came back at once on a fresh context (`again`: the
/// last attempt was already a fresh context).
fn recover(pcsc: &Service, stop: &AtomicBool, why: pcsc::Error, again: &mut bool) -> Result<bool> {
    if !service_gone(why) && std::mem::replace(again, true) {
        return Err(map_error(why));
    }
    line(&format!(
        "station: PC/SC failed ({why}); cards in progress may fail; connecting again"
    ));
    while !stop.load(Ordering::SeqCst) {
        if let Ok(ctx) = Context::establish(Scope::User) {
            pcsc.replace(ctx);
            line("station: connected to the PC/SC service again");
            return Ok(true);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    Ok(false)
}

/// [`one_card`] (a run that panics is a failed card), its audit line (a
/// trail that cannot take it sets `broken`: no card may go unrecorded),
/// then wakes the station's wait.
fn run_card(
    reader: &str,
    plan: &Personalisation<'_>,
    audit: Option<&AuditLog>,
    service: &str,
    pcsc: &Service,
    finished: &Mutex<Vec<String>>,
    broken: &AtomicBool,
) -> CardReport {
    let report = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        one_card(reader, plan)
    }))
    .unwrap_or_else(|_| {
        line(&format!(
            "{reader}: failed: internal error; the card may be removed; insert it again to resume"
        ));
        CardReport::failed(
            reader.to_owned(),
            None,
            "internal error: the card's run stopped unexpectedly".into(),
        )
    });
    if !record(reader, &report, audit, service) {
        broken.store(true, Ordering::SeqCst);
    }
    finished
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(reader.to_owned());
    // Heard once the loop has taken this run's reader from the list.
    pcsc.wake_until(|| {
        !finished
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .any(|r| r == reader)
    });
    report
}

/// What the station did, by result.
#[derive(Debug, Default)]
struct Tally(HashMap<&'static str, usize>);

impl Tally {
    fn count(&mut self, report: &CardReport) {
        *self.0.entry(report.result).or_default() += 1;
    }

    fn of(&self, result: &str) -> usize {
        self.0.get(result).copied().unwrap_or(0)
    }
}

/// Runs the station until Ctrl-C; returns the reports of every card seen.
pub fn watch(
    plan: &Personalisation<'_>,
    audit: Option<&AuditLog>,
    service: &str,
) -> Result<Vec<CardReport>> {
    let pcsc = Arc::new(Service::establish()?);
    let stop = Arc::new(AtomicBool::new(false));
    // A card's line could not be written to the audit trail.
    let broken = AtomicBool::new(false);
    {
        let (stop, pcsc) = (Arc::clone(&stop), Arc::clone(&pcsc));
        ctrlc::set_handler(move || {
            stop.store(true, Ordering::SeqCst);
            // Heard once the loop has ended.
            pcsc.wake_until(|| false);
        })
        .map_err(|e| Error::Transport(format!("cannot catch Ctrl-C: {e}")))?;
    }
    line("station: watching every reader; Ctrl-C stops once the cards in progress are done");
    let mut tally = Tally::default();
    let mut reports = Vec::new();
    // Readers whose card run has ended (it then only returns): joined at once.
    let finished_one: Mutex<Vec<String>> = Mutex::new(Vec::new());
    std::thread::scope(|s| -> Result<()> {
        let mut workers: HashMap<String, std::thread::ScopedJoinHandle<'_, CardReport>> =
            HashMap::new();
        let mut readers = Readers::default();
        let mut states = vec![ReaderState::new(PNP_NOTIFICATION(), State::UNAWARE)];
        let (pcsc, finished_one, broken) = (&*pcsc, &finished_one, &broken);
        // Carries out what the rules answer: status lines and card runs.
        macro_rules! act {
            ($actions:expr) => {
                for action in $actions {
                    match action {
                        Action::Say(text) => line(&text),
                        Action::Start(reader) => {
                            let r = reader.clone();
                            workers.insert(
                                reader,
                                s.spawn(move || {
                                    run_card(&r, plan, audit, service, pcsc, finished_one, broken)
                                }),
                            );
                        }
                    }
                }
            };
        }
        let mut result = Ok(());
        // The last PC/SC call failed and a fresh context was made.
        let mut again = false;
        // A failed list or wait: reconnect and start over, or stop.
        macro_rules! failed {
            ($e:expr) => {{
                readers.service_lost();
                states.truncate(1);
                states[0] = ReaderState::new(PNP_NOTIFICATION(), State::UNAWARE);
                match recover(pcsc, &stop, $e, &mut again) {
                    Ok(true) => continue,
                    Ok(false) => break,
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
            }};
        }
        while !stop.load(Ordering::SeqCst) {
            if broken.load(Ordering::SeqCst) {
                // No card may go unrecorded: no new card starts.
                stop.store(true, Ordering::SeqCst);
                break;
            }
            let ctx = pcsc.current();
            // The readers now: new ones are watched, gone ones dropped.
            let names = match ctx.list_readers_owned() {
                Ok(n) => n,
                Err(pcsc::Error::NoReadersAvailable) => Vec::new(),
                Err(e) => failed!(e),
            };
            // The rules know readers by their names as text; PC/SC is asked
            // with the names exactly as it listed them (a name that is not
            // UTF-8 would not survive a round trip through text).
            let listed = names;
            let names: Vec<String> = listed
                .iter()
                .map(|n| n.to_string_lossy().into_owned())
                .collect();
            act!(readers.listed(&names));
            states.retain(|rs| {
                rs.name() == PNP_NOTIFICATION()
                    || (listed.iter().any(|n| n.as_c_str() == rs.name())
                        && readers.watches(&rs.name().to_string_lossy()))
            });
            for n in &listed {
                if !states.iter().any(|rs| rs.name() == n.as_c_str()) {
                    states.push(ReaderState::new(n.clone(), State::UNAWARE));
                }
            }
            let any_ended = !finished_one
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_empty();
            let changed = if any_ended {
                false
            } else {
                match ctx.get_status_change(None, &mut states) {
                    Ok(()) => {
                        again = false;
                        true
                    }
                    Err(pcsc::Error::Cancelled | pcsc::Error::Timeout) => false,
                    // A reader went away between the listing and the wait.
                    Err(pcsc::Error::UnknownReader) => {
                        states.truncate(1);
                        false
                    }
                    Err(e) => failed!(e),
                }
            };
            if stop.load(Ordering::SeqCst) {
                readers.stop();
            }
            // Runs ended since the last change. A run puts its reader in
            // `finished_one` just before it returns.
            let ended: Vec<String> =
                std::mem::take(&mut *finished_one.lock().unwrap_or_else(PoisonError::into_inner));
            let done: Vec<String> = workers
                .iter()
                .filter(|(n, h)| h.is_finished() || ended.contains(n))
                .map(|(n, _)| n.clone())
                .collect();
            for n in done {
                if let Some(Ok(r)) = workers.remove(&n).map(|h| h.join()) {
                    tally.count(&r);
                    reports.push(r);
                }
                if broken.load(Ordering::SeqCst) {
                    readers.stop();
                }
                act!(readers.ended(&n));
            }
            if !changed {
                continue;
            }
            for rs in &mut states {
                let name = rs.name().to_string_lossy().into_owned();
                let event = rs.event_state();
                rs.sync_current_state();
                if rs.name() == PNP_NOTIFICATION()
                    || event.intersects(State::IGNORE | State::UNKNOWN | State::UNAVAILABLE)
                {
                    continue;
                }
                let present = event.contains(State::PRESENT) && !event.contains(State::MUTE);
                act!(readers.card(&name, present));
            }
        }
        pcsc.over.store(true, Ordering::SeqCst);
        readers.stop();
        if stop.load(Ordering::SeqCst) {
            line(&format!(
                "station: stopping: finishing {} card(s) in progress",
                readers.running()
            ));
        }
        for (_, h) in workers.drain() {
            if let Ok(r) = h.join() {
                tally.count(&r);
                reports.push(r);
            }
        }
        result
    })?;
    line(&format!(
        "station: stopped: {} personalised, {} resumed, {} skipped, {} failed",
        tally.of("personalised"),
        tally.of("resumed"),
        tally.of("skipped"),
        tally.of("failed")
    ));
    if broken.into_inner() {
        return Err(Error::ConditionsNotSatisfied(
            "the audit trail could not record every card: the station stopped; see the messages above"
                .into(),
        ));
    }
    Ok(reports)
}

#[cfg(test)]
mod tests;
