//! Batch provisioning: cards per minute with `asan provision --all-readers`
//! through pcscd on one and on four virtual readers (`asan-vcard` on
//! 35963–35966), and the same personalisation in-process (memory store and
//! image file) to show what the time goes to.

use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use asan_applet::ServiceType;
use asan_host::AsanCard;
use asan_host::transport::pcsc::PcscTransport;
use asan_host::transport::virtual_card::VirtualTransport;
use serde_json::{Value, json};

use crate::fixture::Fixture;
use crate::procs::{self, SLOTS, VirtualReader};
use crate::stats::{r3, time_n};
use crate::{BoxResult, Options, Section};

/// `asan provision` on the cards present: the wall time and the serials
/// it personalised.
fn provision(asan: &Path, dir: &Path, reader: Option<&str>) -> BoxResult<(Duration, Vec<String>)> {
    let mut cmd = Command::new(asan);
    cmd.arg("--json");
    match reader {
        Some(r) => cmd.args(["--reader", r, "provision"]),
        None => cmd.args(["provision", "--all-readers"]),
    };
    cmd.args(["--service", "citizen", "--level", "33", "--ca"])
        .arg(dir.join("ca"))
        .arg("--mailer")
        .arg(dir.join("mailer.jsonl"))
        .env_remove("ASAN_PIN1")
        .env_remove("ASAN_PIN2")
        .env_remove("ASAN_PUK")
        .stdin(Stdio::null())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let out = cmd.output()?;
    let took = start.elapsed();
    if !out.status.success() {
        return Err(format!(
            "asan provision failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )
        .into());
    }
    let v: Value = serde_json::from_slice(&out.stdout)?;
    let cards = match v["cards"].as_array() {
        Some(cards) => cards.clone(),
        None => vec![v],
    };
    let serials = cards
        .iter()
        .filter(|c| c["result"] == "personalised")
        .filter_map(|c| c["serial"].as_str().map(str::to_owned))
        .collect();
    Ok((took, serials))
}

/// The serial of a fresh card image made at `path`.
fn fresh_image(path: &Path) -> BoxResult<String> {
    Ok(AsanCard::open(VirtualTransport::open(path)?)?
        .info()?
        .serial)
}

/// The serial of the card in `reader`, through pcscd (retried for 10 s:
/// pcscd may still be powering up a card that was just inserted).
fn serial_in(reader: &str) -> BoxResult<String> {
    let start = Instant::now();
    loop {
        match PcscTransport::connect(Some(reader))
            .and_then(AsanCard::open)
            .and_then(|mut c| c.info())
        {
            Ok(info) => return Ok(info.serial),
            Err(e) if start.elapsed() > Duration::from_secs(10) => return Err(e.into()),
            Err(_) => thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// Starts fresh cards on `slots` (which must be empty), checks that the
/// cards pcscd then shows are ours, provisions them in one run, stops them.
/// Other users' cards are never provisioned: a slot that holds one stops
/// the run before `asan provision` starts.
fn batch_on(
    asan: &Path,
    vcard: &Path,
    dir: &Path,
    slots: &[(u16, &str)],
    tag: &str,
    by_reader: bool,
) -> BoxResult<(Duration, usize)> {
    for (_, name) in slots {
        if procs::card_present(name)? {
            return Err(format!("{name} holds someone else's card").into());
        }
    }
    let mut readers = Vec::new();
    let mut ours = Vec::new();
    for (i, (port, name)) in slots.iter().enumerate() {
        let image = dir.join(format!("{tag}-{i}.img"));
        ours.push(fresh_image(&image)?);
        readers.push(VirtualReader::start(vcard, *port, name, &image)?);
    }
    let mut result = Ok((Duration::ZERO, Vec::new()));
    for ((_, name), serial) in slots.iter().zip(&ours) {
        match serial_in(name) {
            Ok(s) if s == *serial => {}
            Ok(s) => {
                result = Err(format!(
                    "{name} shows card {s}, not ours ({serial}): not provisioning"
                )
                .into())
            }
            Err(e) => result = Err(e),
        }
    }
    if result.is_ok() {
        let reader = by_reader.then_some(slots.first().map(|s| s.1)).flatten();
        result = provision(asan, dir, reader);
    }
    for r in readers {
        if let Err(e) = r.stop() {
            eprintln!("asan-bench: batch: {e}");
        }
    }
    let (took, serials) = result?;
    if let Some(s) = serials.iter().find(|s| !ours.contains(s)) {
        return Err(format!("asan provision personalised a card that is not ours: {s}").into());
    }
    Ok((took, serials.len()))
}

/// `asan-vcard` processes that are not ours.
fn foreign(ours: &[u32]) -> Vec<u32> {
    procs::vcard_pids()
        .into_iter()
        .filter(|p| !ours.contains(p))
        .collect()
}

fn per_minute(cards: usize, d: Duration) -> f64 {
    cards as f64 * 60.0 / d.as_secs_f64().max(1e-9)
}

/// Runs the section.
pub fn run(o: &Options) -> BoxResult<Section> {
    let asan = procs::binary("asan-host", "asan")?;
    let vcard = procs::binary("asan-vcard", "asan-vcard")?;
    let fx = Fixture::new()?;
    let dir = fx.dir.path();
    let mut lines = Vec::new();

    // In-process: the same personalisation without pcscd.
    let mut k = 0;
    let mem = time_n(o.cards, || -> BoxResult<()> {
        fx.memory_card(ServiceType::Citizen, 0x33).map(|_| ())
    })?;
    let file = time_n(o.cards, || -> BoxResult<()> {
        k += 1;
        let mut card = AsanCard::open(VirtualTransport::open(&dir.join(format!("f{k}.img")))?)?;
        fx.personalise(&mut card, ServiceType::Citizen, 0x33)
    })?;
    let (mem_s, file_s) = (
        mem.as_secs_f64() / o.cards as f64,
        file.as_secs_f64() / o.cards as f64,
    );
    lines.push(format!(
        "in-process, per card: memory store {:.0} ms, image file {:.0} ms",
        mem_s * 1e3,
        file_s * 1e3
    ));

    // One reader: named with --reader. With --all-readers the other three
    // vpcd slots, free for anyone, would be provisioned too: a card another
    // program puts there between our check and the run would be personalised.
    // (Four readers fill every slot with ours, so there --all-readers is safe.)
    let mode = "--reader (the same personalisation as --all-readers; see docs/performance.md)";
    let (mut one_time, mut one_cards) = (Duration::ZERO, 0);
    for i in 0..o.cards {
        let (t, n) = batch_on(&asan, &vcard, dir, &SLOTS[..1], &format!("one{i}"), true)?;
        one_time += t;
        one_cards += n;
    }
    let one_rate = per_minute(one_cards, one_time);
    lines.push(format!(
        "1 reader: {one_cards} cards in {:.2} s: {one_rate:.1} cards/min ({:.0} ms per card; {mode})",
        one_time.as_secs_f64(),
        one_time.as_secs_f64() * 1e3 / one_cards.max(1) as f64
    ));

    // Four readers: only when no one else uses the vpcd slots.
    let deadline = Instant::now() + Duration::from_secs(o.wait_minutes * 60);
    // Free means no other asan-vcard at two polls 5 s apart (tests come in bursts).
    let mut busy = foreign(&[]);
    let mut free_polls = 0;
    while free_polls < 2 && Instant::now() < deadline {
        if busy.is_empty() {
            free_polls += 1;
        } else {
            free_polls = 0;
            eprintln!(
                "asan-bench: batch: waiting for {} other asan-vcard processes",
                busy.len()
            );
        }
        thread::sleep(Duration::from_secs(5));
        busy = foreign(&[]);
    }
    let four = if busy.is_empty() {
        let (mut t4, mut n4) = (Duration::ZERO, 0);
        for i in 0..o.cards {
            if !foreign(&[]).is_empty() {
                lines.push(format!(
                    "4 readers: stopped after {i} batches: other asan-vcard processes appeared"
                ));
                break;
            }
            match batch_on(&asan, &vcard, dir, &SLOTS, &format!("four{i}"), false) {
                Ok((t, n)) => {
                    t4 += t;
                    n4 += n;
                }
                Err(e) => {
                    lines.push(format!("4 readers: stopped after {i} batches: {e}"));
                    break;
                }
            }
        }
        let rate = per_minute(n4, t4);
        lines.push(format!(
            "4 readers: {n4} cards in {:.2} s: {rate:.1} cards/min; scaling {:.2}x of 1 reader (ideal 4x; {} CPUs)",
            t4.as_secs_f64(),
            rate / one_rate,
            std::thread::available_parallelism().map(usize::from).unwrap_or(1)
        ));
        json!({ "cards": n4, "seconds": r3(t4.as_secs_f64()), "cards_per_min": r3(rate), "scaling": r3(rate / one_rate) })
    } else {
        let why = format!(
            "not measured: {} other asan-vcard processes still running after {} min",
            busy.len(),
            o.wait_minutes
        );
        lines.push(format!("4 readers: {why}"));
        json!({ "skipped": why })
    };
    Ok(Section {
        json: json!({
            "service": "citizen",
            "level": "33",
            "in_process_ms_per_card": { "memory": r3(mem_s * 1e3), "image_file": r3(file_s * 1e3) },
            "one_reader": {
                "cards": one_cards,
                "seconds": r3(one_time.as_secs_f64()),
                "cards_per_min": r3(one_rate),
                "mode": mode,
            },
            "four_readers": four,
        }),
        lines,
    })
}
