//! `asan provision --watch`: the personalisation station. It waits on
//! every reader for PC/SC reader-state changes (`SCardGetStatusChange`, no
//! polling), personalises each card as it is inserted (one thread per
//! card), says per reader on stderr what it is doing and when the card may be
//! removed, picks up readers plugged in later, and stops on Ctrl-C once the
//! cards in progress are done.

use std::collections::HashMap;
use std::ffi::CString;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use pcsc::{Context, PNP_NOTIFICATION, ReaderState, Scope, State};

use crate::AsanCard;
use crate::audit::{AuditLog, Event};
use crate::error::{Error, Result};
use crate::provision::{self, CardReport, Personalisation};
use crate::transport::pcsc::{PcscTransport, map_error};

/// One status line on stderr, like the progress lines of a batch (whole
/// lines, from any thread; stdout is held by the command's output).
fn line(text: &str) {
    let mut out = std::io::stderr().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

/// Personalises the card just inserted in `reader`.
fn one_card(
    reader: &str,
    plan: &Personalisation<'_>,
    audit: Option<&AuditLog>,
    service: &str,
) -> CardReport {
    line(&format!(
        "{reader}: card inserted: personalising, do not remove it"
    ));
    let mut report = match PcscTransport::connect_exact(reader).and_then(AsanCard::open) {
        Ok(mut card) => {
            let serial = card.info().ok().map(|i| i.serial);
            let mut r = provision::personalise_reporting(&mut card, plan);
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
    if let Some(log) = audit
        && let Err(e) = log.append(&Event::of_report("provision", &report, Some(service)))
    {
        line(&format!("{reader}: audit trail: {e}"));
    }
    report
}

/// [`one_card`], then wakes the station's wait.
fn run_card(
    reader: &str,
    plan: &Personalisation<'_>,
    audit: Option<&AuditLog>,
    service: &str,
    ctx: &Context,
    finished: &Mutex<Vec<CString>>,
) -> CardReport {
    let report = one_card(reader, plan, audit, service);
    if let (Ok(mut v), Ok(name)) = (finished.lock(), CString::new(reader)) {
        v.push(name);
    }
    let _ = ctx.cancel();
    report
}

/// What the station did, by result.
#[derive(Debug, Default)]
struct Tally(HashMap<&'static str, usize>);

/// Runs the station until Ctrl-C; returns the reports of every card seen.
pub fn watch(
    plan: &Personalisation<'_>,
    audit: Option<&AuditLog>,
    service: &str,
) -> Result<Vec<CardReport>> {
    let ctx = Context::establish(Scope::User).map_err(map_error)?;
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = Arc::clone(&stop);
        let ctx = ctx.clone();
        ctrlc::set_handler(move || {
            stop.store(true, Ordering::SeqCst);
            let _ = ctx.cancel();
        })
        .map_err(|e| Error::Transport(format!("cannot catch Ctrl-C: {e}")))?;
    }
    line("station: watching every reader; Ctrl-C stops once the cards in progress are done");
    let mut tally = Tally::default();
    let mut reports = Vec::new();
    // Readers whose card run has ended (it then only returns): joined at once.
    let finished_one: Mutex<Vec<CString>> = Mutex::new(Vec::new());
    std::thread::scope(|s| -> Result<()> {
        let mut workers: HashMap<CString, std::thread::ScopedJoinHandle<'_, CardReport>> =
            HashMap::new();
        let mut present: HashMap<CString, bool> = HashMap::new();
        let mut states = vec![ReaderState::new(PNP_NOTIFICATION(), State::UNAWARE)];
        // Readers whose card came back while its failed run was still
        // ending: started once that run is over (a finished run wakes the
        // wait with SCardCancel).
        let mut pending: Vec<CString> = Vec::new();
        let (ctx, finished_one) = (&ctx, &finished_one);
        let mut result = Ok(());
        while !stop.load(Ordering::SeqCst) {
            // The readers now: new ones are watched, gone ones dropped.
            let names = match ctx.list_readers_owned() {
                Ok(n) => n,
                Err(pcsc::Error::NoReadersAvailable) => Vec::new(),
                Err(e) => {
                    result = Err(map_error(e));
                    break;
                }
            };
            states.retain(|rs| {
                rs.name() == PNP_NOTIFICATION() || names.iter().any(|n| n.as_c_str() == rs.name())
            });
            for n in &names {
                if !states.iter().any(|rs| rs.name() == n.as_c_str()) {
                    line(&format!("{}: watching", n.to_string_lossy()));
                    states.push(ReaderState::new(n.clone(), State::UNAWARE));
                }
            }
            let any_ended = finished_one.lock().map(|v| !v.is_empty()).unwrap_or(false);
            let changed = if any_ended {
                false
            } else {
                match ctx.get_status_change(None, &mut states) {
                    Ok(()) => true,
                    Err(pcsc::Error::Cancelled | pcsc::Error::Timeout) => false,
                    // A reader went away between the listing and the wait.
                    Err(pcsc::Error::UnknownReader) => {
                        states.retain(|rs| rs.name() == PNP_NOTIFICATION());
                        continue;
                    }
                    Err(e) => {
                        result = Err(map_error(e));
                        break;
                    }
                }
            };
            // Cards done since the last change. A run puts its reader here
            // just before it returns, so every run found finished below has
            // its name taken here too.
            let ended: Vec<CString> = finished_one
                .lock()
                .map(|mut v| std::mem::take(&mut *v))
                .unwrap_or_default();
            let finished: Vec<CString> = workers
                .iter()
                .filter(|(n, h)| h.is_finished() || ended.contains(n))
                .map(|(n, _)| n.clone())
                .collect();
            for n in finished {
                if let Some(Ok(r)) = workers.remove(&n).map(|h| h.join()) {
                    *tally.0.entry(r.result).or_default() += 1;
                    reports.push(r);
                }
            }
            // Cards that came back while their failed run was ending.
            let due: Vec<CString> = pending
                .iter()
                .filter(|n| !workers.contains_key(*n))
                .cloned()
                .collect();
            for name in due {
                pending.retain(|n| *n != name);
                if present.get(&name).copied().unwrap_or(false) && !stop.load(Ordering::SeqCst) {
                    let r = name.to_string_lossy().into_owned();
                    workers.insert(
                        name,
                        s.spawn(move || run_card(&r, plan, audit, service, ctx, finished_one)),
                    );
                }
            }
            if !changed {
                continue;
            }
            for rs in &mut states {
                if rs.name() == PNP_NOTIFICATION() {
                    rs.sync_current_state();
                    continue;
                }
                let name = rs.name().to_owned();
                let event = rs.event_state();
                rs.sync_current_state();
                if event.intersects(State::IGNORE | State::UNKNOWN | State::UNAVAILABLE) {
                    continue;
                }
                let now = event.contains(State::PRESENT) && !event.contains(State::MUTE);
                let before = present.insert(name.clone(), now).unwrap_or(false);
                let reader = name.to_string_lossy().into_owned();
                if now && !before && workers.contains_key(&name) {
                    pending.push(name);
                } else if now && !before {
                    let r = reader.clone();
                    workers.insert(
                        name,
                        s.spawn(move || run_card(&r, plan, audit, service, ctx, finished_one)),
                    );
                } else if !now && before {
                    pending.retain(|n| *n != name);
                    if workers.contains_key(&name) {
                        line(&format!(
                            "{reader}: card removed half-way: it fails now; insert it again to resume"
                        ));
                    } else {
                        line(&format!("{reader}: empty, ready for the next card"));
                    }
                }
            }
        }
        if stop.load(Ordering::SeqCst) {
            line(&format!(
                "station: stopping: finishing {} card(s) in progress",
                workers.len()
            ));
        }
        for (_, h) in workers.drain() {
            if let Ok(r) = h.join() {
                *tally.0.entry(r.result).or_default() += 1;
                reports.push(r);
            }
        }
        result
    })?;
    let count = |k: &str| tally.0.get(k).copied().unwrap_or(0);
    line(&format!(
        "station: stopped: {} personalised, {} resumed, {} skipped, {} failed",
        count("personalised"),
        count("resumed"),
        count("skipped"),
        count("failed")
    ));
    Ok(reports)
}
