//! Running commands against the hostile card in each of some modes: the
//! time limits, the card's reconnection after a run that left it unusable,
//! and the report of every failed check.

use std::time::{Duration, Instant};

use crate::cli::{Cli, asan};
use crate::expect::{check, expect};
use crate::modes::Mode;
use crate::vicc::{HostileCard, note};

/// How long one `asan` run may take before it counts as a hang.
const DEADLINE: Duration = Duration::from_secs(20);
/// How long `asan readers` may take: it SELECTs on every reader, also
/// those other tests use at the same time.
const READERS_DEADLINE: Duration = Duration::from_secs(40);
/// How long a run against a silent card may take (watchdog at 3 s).
pub const SILENCE_LIMIT: Duration = Duration::from_secs(10);
/// How long a run against a card that went away may take.
pub const DISCONNECT_LIMIT: Duration = Duration::from_secs(5);

/// The time limit of one run in `mode`.
fn limit(mode: Mode, cli: Cli) -> Duration {
    match (mode, cli) {
        // `readers` talks to every reader, also those of other tests.
        (Mode::SilentFromStart, Cli::Readers) => SILENCE_LIMIT,
        (_, Cli::Readers) => READERS_DEADLINE,
        (Mode::SilentAfterSelect | Mode::SilentFromStart | Mode::Empty, _) => SILENCE_LIMIT,
        (Mode::Disconnect(_) | Mode::GoneAfterAnswer(_), _) => DISCONNECT_LIMIT,
        _ => DEADLINE,
    }
}

/// Whether the run left the card's connection unusable (pcscd blocked on
/// a silent card, or vpcd gone): the card must leave and come back.
fn needs_reconnect(mode: Mode, cli: Cli) -> bool {
    match mode {
        Mode::SilentAfterSelect | Mode::Empty => cli != Cli::Readers,
        Mode::SilentFromStart => true,
        _ => false,
    }
}

fn verbose() -> bool {
    std::env::var_os("HOSTILE_VERBOSE").is_some()
}

/// Runs `commands` against a hostile card in each of `modes`; returns every
/// failed check (with the card's log) and prints a timing table.
pub fn run_modes(modes: &[Mode], commands: &[Cli]) -> Vec<String> {
    let mut failures = Vec::new();
    let mut table = Vec::new();
    for &mode in modes {
        let card = HostileCard::start(mode);
        let mode_start = Instant::now();
        for &cli in commands {
            // A card that left (a closed socket, a silent card dropped)
            // comes back after the gap.
            card.wait_ready();
            note(&card.log, format!("--- asan {}", cli.args().join(" ")));
            let result = asan(cli.args(), cli.env(), limit(mode, cli));
            let expected = expect(mode, cli);
            let (wrong, summary) = match &result {
                Ok(out) => {
                    let mut wrong = check(out, expected);
                    if out.elapsed > limit(mode, cli) {
                        wrong.push(format!("took {:?}", out.elapsed));
                    }
                    let said = if out.code == 0 {
                        out.stdout.lines().next().unwrap_or("").to_owned()
                    } else {
                        out.stderr.trim_end().to_owned()
                    };
                    (
                        wrong,
                        format!("{:>6} ms exit {} {said}", out.elapsed.as_millis(), out.code),
                    )
                }
                Err(hang) => (vec![hang.clone()], "HANG".to_owned()),
            };
            let row = format!("{mode:?} / {cli:?}: {summary}");
            if verbose() {
                eprintln!("{row}");
            }
            table.push(row.clone());
            if !wrong.is_empty() {
                failures.push(format!(
                    "{row}\n  wrong: {}\n  expected: {expected:?}\n  run: {result:#?}\n  card log:\n{}",
                    wrong.join("; "),
                    card.log_tail(30)
                ));
            }
            if needs_reconnect(mode, cli) {
                card.drop_connection();
            }
        }
        table.push(format!(
            "{mode:?}: {} ms in all",
            mode_start.elapsed().as_millis()
        ));
        drop(card);
    }
    if !verbose() {
        eprintln!("{}", table.join("\n"));
    }
    failures
}

pub fn assert_none(failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} failed runs:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
