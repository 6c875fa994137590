//! The `asan-vcard` process killed (SIGKILL) at several moments of a
//! signing loop: the `asan` in flight ends within seconds with one `asan: …`
//! line, and the restarted card loads its image and is consistent.

use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use asan_tests::VirtualReader;

use crate::harness::{
    PIN2, PSO_LINE, Run, SELECT_LINE, VERIFY_LINE, asan, digest, pin_status, provisioned_card,
    reader, sign, signature_verifies, slot, splitmix, start_card, tries,
};

/// When to kill the card process, relative to the signing loop.
#[derive(Clone, Copy, Debug)]
pub enum Moment {
    /// Once the card logged a VERIFY PIN2 (the PSO is on its way), plus a delay.
    AfterVerify(Duration),
    /// Once the card logged a PSO, plus a delay.
    AfterPso(Duration),
    /// Once the card logged the second SELECT of a run (VERIFY is on its
    /// way), plus a delay.
    AfterSecondSelect(Duration),
    /// At the time the card takes from a run's second SELECT to the end of
    /// VERIFY (measured on the run before), less this much: during VERIFY's
    /// processing, if the timing holds.
    DuringVerify(Duration),
    /// A delay after the loop started.
    AfterStart(Duration),
}

/// One `asan sign` of the loop.
#[derive(Debug)]
pub struct LoopRun {
    pub digest: [u8; 32],
    pub started: Instant,
    pub ended: Instant,
    pub run: Run,
}

/// Signs with `ASAN_TIMEOUT=5`, one `asan` after the other, until one fails
/// or one that started after the kill has ended.
pub fn signing_loop(stream: u64, killed_at: &Mutex<Option<Instant>>) -> Vec<LoopRun> {
    let mut runs = Vec::new();
    for i in 0..400 {
        let d = digest(stream, i);
        let started = Instant::now();
        let run = sign(&d, PIN2, "citizen", &[("ASAN_TIMEOUT", "5")]);
        let ended = Instant::now();
        let failed = run.code != Some(0);
        runs.push(LoopRun {
            digest: d,
            started,
            ended,
            run,
        });
        let after_kill = killed_at.lock().unwrap().is_some_and(|k| started > k);
        if failed || after_kill {
            break;
        }
    }
    runs
}

/// How many lines of the card's log contain `needle`, or with `pairs`, how
/// many such lines directly follow another one.
pub fn count(log: &str, needle: &str, pairs: bool) -> usize {
    let lines: Vec<&str> = log.lines().collect();
    if pairs {
        lines
            .windows(2)
            .filter(|w| w[0].contains(needle) && w[1].contains(needle))
            .count()
    } else {
        lines.iter().filter(|l| l.contains(needle)).count()
    }
}

/// Waits until the log has a new line with `needle` (see [`count`]); when
/// it appeared, or `None` after 30 s.
pub fn next_line(vr: &VirtualReader, needle: &str, pairs: bool) -> Option<Instant> {
    let base = count(&vr.log(), needle, pairs);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if count(&vr.log(), needle, pairs) > base {
            return Some(Instant::now());
        }
        thread::sleep(Duration::from_micros(200));
    }
    None
}

/// Waits for `moment`; false if it never came.
pub fn wait_for(moment: Moment, vr: &VirtualReader, start: Instant) -> bool {
    // A run SELECTs twice (finding the card, opening it), then VERIFYs.
    let (needle, pairs, delay) = match moment {
        Moment::AfterStart(d) => {
            thread::sleep(d.saturating_sub(start.elapsed()));
            return true;
        }
        Moment::AfterVerify(d) => (VERIFY_LINE, false, d),
        Moment::AfterPso(d) => (PSO_LINE, false, d),
        Moment::AfterSecondSelect(d) => (SELECT_LINE, true, d),
        Moment::DuringVerify(early) => {
            let Some(selected) = next_line(vr, SELECT_LINE, true) else {
                return false;
            };
            let Some(verified) = next_line(vr, VERIFY_LINE, false) else {
                return false;
            };
            let gap = verified.duration_since(selected);
            (SELECT_LINE, true, gap.saturating_sub(early))
        }
    };
    match next_line(vr, needle, pairs) {
        Some(_) => {
            thread::sleep(delay);
            true
        }
        None => false,
    }
}

/// A source of random delays; the seed is printed so a run can be repeated.
pub struct Rng(u64);

impl Rng {
    pub fn below(&mut self, n: u64) -> u64 {
        splitmix(&mut self.0) % n
    }
}

#[test]
pub fn killing_the_card_process_mid_signing_gives_an_error_and_a_consistent_card() {
    let _slot = slot();
    let mut card = provisioned_card("citizen");
    let seed = std::env::var("ASAN_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            u64::try_from(nanos % u128::from(u64::MAX)).unwrap()
        });
    eprintln!("kill moments from seed {seed} (set ASAN_TEST_SEED to repeat)");
    let mut rng = Rng(seed);
    let mut moments = vec![
        Moment::AfterVerify(Duration::ZERO),
        Moment::AfterPso(Duration::ZERO),
        Moment::AfterSecondSelect(Duration::from_micros(rng.below(4000))),
    ];
    for _ in 0..3 {
        moments.push(Moment::DuringVerify(Duration::from_micros(rng.below(1500))));
    }
    moments.push(Moment::AfterVerify(Duration::from_micros(rng.below(3000))));
    moments.push(Moment::AfterStart(Duration::from_millis(
        100 + rng.below(900),
    )));

    let mut report = Vec::new();
    for (round, &moment) in moments.iter().enumerate() {
        let killed_at = Mutex::new(None);
        let start = Instant::now();
        let stream = 100 + u64::try_from(round).unwrap();
        let (runs, reached) = thread::scope(|s| {
            let looper = s.spawn(|| signing_loop(stream, &killed_at));
            let vr = card.reader();
            let reached = wait_for(moment, vr, start);
            vr.child.kill().unwrap();
            *killed_at.lock().unwrap() = Some(Instant::now());
            (looper.join(), reached)
        });
        let runs = runs.unwrap_or_else(|e| std::panic::resume_unwind(e));
        let kill = killed_at.lock().unwrap().unwrap();
        assert!(reached, "round {round}: {moment:?} never came");
        let old_log = card.log();
        let last_lines: Vec<&str> = old_log.lines().rev().take(2).collect();

        // Before the kill every signature worked; a run caught by the kill
        // either got its signature out or failed; the last one failed.
        for r in &runs {
            assert!(
                r.run.took < Duration::from_secs(10),
                "round {round} ({moment:?}): asan took {:?}: {r:#?}",
                r.run.took
            );
            if r.run.code == Some(0) {
                assert!(signature_verifies(&r.run, &card.key, &r.digest), "{r:#?}");
            } else {
                assert!(
                    r.ended > kill,
                    "round {round}: a signature failed before the kill: {r:#?}"
                );
            }
        }
        let last = runs.last().unwrap();
        last.run.assert_clean_failure();
        let to_error = last.ended.duration_since(kill);
        assert!(
            to_error < Duration::from_secs(10),
            "round {round}: the host needed {to_error:?} after the kill: {last:#?}"
        );
        let caught = runs
            .iter()
            .find(|r| r.started <= kill && r.ended >= kill)
            .map_or_else(
                || "none".to_owned(),
                |r| {
                    if r.run.code == Some(0) {
                        "signed".to_owned()
                    } else {
                        format!("failed: {}", r.run.stderr.trim_end())
                    }
                },
            );

        // The card comes back with its image.
        drop(card.reader.take());
        card.reader = Some(start_card(&card.image));
        let log = card.log();
        assert!(
            log.contains(&format!("asan-vcard: loaded {}", card.image.display())),
            "round {round}: the image did not load: {log}"
        );
        let info = asan(&["--reader", reader(), "--json", "info"], &[]).json();
        assert_eq!(info["life_cycle"], "operational", "{info:#}");
        assert_eq!(info["service"]["type"], "citizen", "{info:#}");
        assert_eq!(info["service"]["active"], true, "{info:#}");
        assert_eq!(
            info["certificates"].as_array().unwrap().len(),
            2,
            "{info:#}"
        );
        assert_eq!(tries(&info["pins"], "pin1"), (3, 3), "{info:#}");
        assert_eq!(tries(&info["pins"], "puk"), (10, 10), "{info:#}");
        let (pin2, max) = tries(&info["pins"], "pin2");
        assert_eq!(max, 3, "{info:#}");
        assert!(
            (2..=3).contains(&pin2),
            "round {round}: PIN2 has {pin2} tries after the kill: {info:#}"
        );
        // Signing works again with the same key, and the counter is full.
        let d = digest(900, u64::try_from(round).unwrap());
        let again = sign(&d, PIN2, "citizen", &[]);
        assert!(signature_verifies(&again, &card.key, &d), "{again:#?}");
        assert_eq!(tries(&pin_status(), "pin2"), (3, 3));

        report.push(format!(
            "round {round}: {moment:?}: {} runs; the one running at the kill: {caught}; \
             the last asan ended {to_error:?} after the kill; card's last lines {last_lines:?}; \
             PIN2 after the restart {pin2}/3",
            runs.len(),
        ));
    }
    for line in &report {
        eprintln!("{line}");
    }
    card.stop();
}
