//! Station throughput (issue 17): cards per minute of `asan provision
//! --watch` (per-card keys by PUT KEY, audit trail) with cards inserted and
//! removed by starting and stopping `asan-vcard` on one vpcd slot, and on
//! four at once. A card counts from its insertion to the station's line
//! saying it may be removed; the swap (stopping one card process, starting
//! the next) is part of the time, as at a real station.

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::fixture::Fixture;
use crate::procs::{self, SLOTS, VirtualReader};
use crate::stats::r3;
use crate::{BoxResult, Options, Section};

const MASTER: &str = "kvn = 31\nenc = 000102030405060708090A0B0C0D0E0F\n\
    mac = 101112131415161718191A1B1C1D1E1F\ndek = 202122232425262728292A2B2C2D2E2F\n";

struct Station {
    child: Child,
    /// Lines per reader.
    by_reader: Vec<(String, mpsc::Receiver<String>)>,
}

impl Station {
    fn start(asan: &Path, dir: &Path, readers: &[&str]) -> BoxResult<Self> {
        let mut child = Command::new(asan)
            .args(["provision", "--watch", "--service", "citizen", "--ca", "ca"])
            .args(["--master-keys", "master.keys", "--mailer", "mailer.jsonl"])
            .args(["--audit", "audit.jsonl", "--station", "bench"])
            .current_dir(dir)
            .env_remove("ASAN_PIN1")
            .env_remove("ASAN_PIN2")
            .env_remove("ASAN_PUK")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        let stdout = child.stderr.take().ok_or("no station stderr")?;
        let mut senders = Vec::new();
        let mut by_reader = Vec::new();
        for r in readers {
            let (tx, rx) = mpsc::channel();
            senders.push(((*r).to_owned(), tx));
            by_reader.push(((*r).to_owned(), rx));
        }
        let (ready_tx, ready_rx) = mpsc::channel();
        std::thread::spawn(move || {
            for l in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if l.starts_with("station: watching") {
                    let _ = ready_tx.send(());
                }
                if let Some((_, tx)) = senders.iter().find(|(r, _)| l.starts_with(r.as_str())) {
                    let _ = tx.send(l);
                }
            }
        });
        ready_rx.recv_timeout(Duration::from_secs(30))?;
        Ok(Self { child, by_reader })
    }

    fn stop(mut self) -> BoxResult<()> {
        Command::new("kill")
            .arg("-INT")
            .arg(self.child.id().to_string())
            .status()?;
        let status = self.child.wait()?;
        if !status.success() {
            return Err(format!("the station exited with {status}").into());
        }
        Ok(())
    }
}

/// Feeds `cards` fresh cards, one after the other, into the reader on
/// `port`; returns when the last may be removed.
fn feed(
    vcard: &Path,
    dir: &Path,
    (port, reader): (u16, &str),
    lines: &mpsc::Receiver<String>,
    cards: usize,
    tag: &str,
) -> BoxResult<()> {
    for i in 0..cards {
        let image = dir.join(format!("{tag}-{port}-{i}.img"));
        let card = VirtualReader::start(vcard, port, reader, &image)?;
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let l = lines
                .recv_timeout(left)
                .map_err(|_| format!("{reader}: no answer from the station"))?;
            if l.contains("personalised; the card may be removed") {
                break;
            }
            if l.contains("may be removed") {
                return Err(format!("station: {l}").into());
            }
        }
        card.stop()?;
    }
    Ok(())
}

/// Cards and the wall time with `slots`, `cards` per slot.
fn measure(
    asan: &Path,
    vcard: &Path,
    dir: &Path,
    slots: &[(u16, &str)],
    cards: usize,
    tag: &str,
) -> BoxResult<(usize, Duration)> {
    for (_, name) in slots {
        if procs::card_present(name)? {
            return Err(format!("{name} holds someone else's card").into());
        }
    }
    let readers: Vec<&str> = slots.iter().map(|s| s.1).collect();
    let mut station = Station::start(asan, dir, &readers)?;
    let feeds = std::mem::take(&mut station.by_reader);
    let start = Instant::now();
    let results: Vec<BoxResult<()>> = std::thread::scope(|s| {
        let handles: Vec<_> = slots
            .iter()
            .zip(feeds)
            .map(|(slot, (_, rx))| {
                s.spawn(move || -> Result<(), String> {
                    feed(vcard, dir, *slot, &rx, cards, tag).map_err(|e| e.to_string())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| match h.join() {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(e.into()),
                Err(_) => Err("a feeder panicked".into()),
            })
            .collect()
    });
    let took = start.elapsed();
    station.stop()?;
    for r in results {
        r?;
    }
    Ok((cards * slots.len(), took))
}

fn per_minute(cards: usize, d: Duration) -> f64 {
    cards as f64 * 60.0 / d.as_secs_f64().max(1e-9)
}

/// Runs the section (it needs the four vpcd slots free: it stops when
/// another `asan-vcard` runs).
pub fn run(o: &Options) -> BoxResult<Section> {
    let asan = procs::binary("asan-host", "asan")?;
    let vcard = procs::binary("asan-vcard", "asan-vcard")?;
    let fx = Fixture::new()?;
    let dir = fx.dir.path();
    asan_host::files::write_private(&dir.join("master.keys"), MASTER.as_bytes())?;
    if !procs::vcard_pids().is_empty() {
        return Err("other asan-vcard processes use the vpcd slots: not measured".into());
    }
    let per_slot = o.cards.max(1) * 2;
    let (n1, t1) = measure(&asan, &vcard, dir, &SLOTS[..1], per_slot * 2, "one")?;
    let (n4, t4) = measure(&asan, &vcard, dir, &SLOTS, per_slot, "four")?;
    let (r1, r4) = (per_minute(n1, t1), per_minute(n4, t4));
    let cpus = std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(1);
    let lines = vec![
        format!(
            "station, 1 reader: {n1} cards in {:.2} s: {r1:.1} cards/min (insertion to \"may be removed\", swaps included)",
            t1.as_secs_f64()
        ),
        format!(
            "station, 4 readers: {n4} cards in {:.2} s: {r4:.1} cards/min; {:.2}x of 1 reader (goal 3x on 4 cores; {cpus} CPUs here)",
            t4.as_secs_f64(),
            r4 / r1
        ),
    ];
    Ok(Section {
        json: json!({
            "service": "citizen",
            "per_card_keys": true,
            "audit": true,
            "one_reader": { "cards": n1, "seconds": r3(t1.as_secs_f64()), "cards_per_min": r3(r1) },
            "four_readers": { "cards": n4, "seconds": r3(t4.as_secs_f64()), "cards_per_min": r3(r4), "scaling": r3(r4 / r1) },
            "cpus": cpus,
        }),
        lines,
    })
}
