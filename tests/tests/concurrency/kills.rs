//! The `asan-vcard` process killed (SIGKILL) at several moments of a
//! signing loop: the `asan` in flight ends within seconds with one `asan: …`
//! line, and the restarted card loads its image and is consistent.

use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use asan_tests::VirtualReader;

use crate::harness::{
    Card, Contract, PIN2, PSO_LINE, PSO_WITH_PIN_LINE, Run, SELECT_LINE, VERIFY_LINE, asan, digest,
    pin_status, provisioned_card_of, reader, sign, signature_verifies, slot, splitmix, start_card,
    tries,
};

/// When to kill the card process, relative to the signing loop (each
/// `asan` run SELECTs once, the SELECT that finds the card, then signs).
#[derive(Clone, Copy, Debug)]
pub enum Moment {
    /// Once the card logged a line with this text (a command it received),
    /// plus a delay.
    After(&'static str, Duration),
    /// At the time the card takes from a run's SELECT to the command with
    /// this text (measured on the run before), less this much: during that
    /// command's processing, if the timing holds.
    During(&'static str, Duration),
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
    let (needle, delay) = match moment {
        Moment::AfterStart(d) => {
            thread::sleep(d.saturating_sub(start.elapsed()));
            return true;
        }
        Moment::After(line, d) => (line, d),
        Moment::During(line, early) => {
            let Some(selected) = next_line(vr, SELECT_LINE, false) else {
                return false;
            };
            let Some(reached) = next_line(vr, line, false) else {
                return false;
            };
            let gap = reached.duration_since(selected);
            (SELECT_LINE, gap.saturating_sub(early))
        }
    };
    match next_line(vr, needle, false) {
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

/// A seed for the random kill moments, printed so a run can be repeated.
fn seed() -> u64 {
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
    seed
}

#[test]
pub fn killing_a_contract_1_0_card_mid_signing_gives_an_error_and_a_consistent_card() {
    let _slot = slot();
    let card = provisioned_card_of("citizen", Contract::V1_0);
    let mut rng = Rng(seed());
    let mut moments = vec![
        Moment::After(VERIFY_LINE, Duration::ZERO),
        Moment::After(PSO_LINE, Duration::ZERO),
        Moment::After(SELECT_LINE, Duration::from_micros(rng.below(4000))),
    ];
    for _ in 0..3 {
        moments.push(Moment::During(
            VERIFY_LINE,
            Duration::from_micros(rng.below(1500)),
        ));
    }
    moments.push(Moment::After(
        VERIFY_LINE,
        Duration::from_micros(rng.below(3000)),
    ));
    moments.push(Moment::AfterStart(Duration::from_millis(
        100 + rng.below(900),
    )));
    kill_rounds(card, &moments);
}

#[test]
pub fn killing_a_contract_1_1_card_mid_signing_gives_an_error_and_a_consistent_card() {
    let _slot = slot();
    let card = provisioned_card_of("citizen", Contract::V1_1);
    let mut rng = Rng(seed());
    let mut moments = vec![
        Moment::After(PSO_WITH_PIN_LINE, Duration::ZERO),
        Moment::After(SELECT_LINE, Duration::ZERO),
        Moment::After(SELECT_LINE, Duration::from_micros(rng.below(4000))),
    ];
    for _ in 0..3 {
        moments.push(Moment::During(
            PSO_WITH_PIN_LINE,
            Duration::from_micros(rng.below(1500)),
        ));
    }
    moments.push(Moment::AfterStart(Duration::from_millis(
        100 + rng.below(900),
    )));
    kill_rounds(card, &moments);
}

/// Kills the card at each of `moments` during a signing loop and checks
/// the host's error and the restarted card.
fn kill_rounds(mut card: Card, moments: &[Moment]) {
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
        card.reader = Some(start_card(&card.image, &card.vcard_args));
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
