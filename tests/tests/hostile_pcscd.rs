//! A hostile card behind the real PC/SC stack: the `asan` command line
//! against a scripted virtual card that talks to pcscd's vpcd driver on
//! port 35966 (reader "Virtual PCD 35965 00 01") and answers SELECT of the
//! Asan İmza applet with `9000` — so `asan` finds it — and every other
//! command, per mode, with garbage, nothing (0 or 1 byte), truncated or
//! oversized data (up to the 65 535 bytes a vpcd message holds), `61xx`
//! announcing more forever, another command's answer, `6Cxx` forever, a
//! wrong or blocked PIN, silence (the APDU is read and never answered) or a
//! closed socket in the middle of a command.
//!
//! For every mode the commands `info`, `pin status`, `pin verify pin2`,
//! `sign --digest`, `auth --challenge`, `cert read` and `readers` run with
//! `ASAN_TIMEOUT=3`, each under a deadline (a run that overruns is killed
//! and fails the test). Every run must exit with the code its answers
//! warrant (1 for anything malformed, 3 for `63C2` on VERIFY, 4 for `6983`,
//! 0 where the answers are in fact usable), print one `asan: …` line on
//! stderr naming the cause, and never panic. A silent card must be given up
//! by the watchdog ("does not answer") within 10 s; a card that goes away
//! mid-command must fail quickly.
//!
//! The card runs in a thread of the test; it is restarted between modes and
//! stopped by a guard (the socket is shut down) even when a check fails.
//! Between a card leaving and the next connecting pcscd gets a second. The
//! card acknowledges vpcd's segments at once (`TCP_QUICKACK`): vpcd sends
//! an APDU's length and body in two writes, and a delayed ACK would cost
//! ~40 ms per APDU (12 s for one endless `61xx` loop).
//!
//! Three defects of `asan` were found here and fixed; their tests stay as
//! regressions: later runs hung in `SCardConnect` once a card had gone
//! mute, a card that vanished mid-command was called an invalid answer, and
//! one pulled between commands got pcsc's "non-existent transaction" text.
//! `HOSTILE_VERBOSE=1 cargo test --test hostile_pcscd -- --nocapture` prints
//! every run's outcome and time.
//!
//! The card's answers per mode are in `hostile_pcscd/modes.rs`, the card on
//! vpcd in `hostile_pcscd/vicc.rs`, the `asan` runs in
//! `hostile_pcscd/cli.rs`, what each must end in in
//! `hostile_pcscd/expect.rs`, the running of modes × commands in
//! `hostile_pcscd/cases.rs`; the tests are here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "hostile_pcscd/cases.rs"]
mod cases;
#[path = "hostile_pcscd/cli.rs"]
mod cli;
#[path = "hostile_pcscd/expect.rs"]
mod expect;
#[path = "hostile_pcscd/modes.rs"]
mod modes;
#[path = "hostile_pcscd/vicc.rs"]
mod vicc;

use std::sync::{Mutex, MutexGuard};

use cases::{DISCONNECT_LIMIT, SILENCE_LIMIT, assert_none, run_modes};
use cli::{ALL, Cli, asan};
use expect::{Expect, GONE, SILENT, check};
use modes::Mode;
use vicc::HostileCard;

/// The vpcd slot of these tests (the others may be in use by other tests).
const PORT: u16 = 35966;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

/// One port, one card at a time: the tests of this file take turns.
fn port_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

// ---------------------------------------------------------------------------
// tests
// ---------------------------------------------------------------------------

/// The baseline: against a card that answers correctly, every command
/// succeeds (so the hostile modes fail for their answers, not the harness).
#[test]
fn an_honest_scripted_card_works() {
    let _port = port_lock();
    assert_none(&run_modes(&[Mode::Honest], &ALL));
}

/// Malformed answers: garbage, nothing, truncated, oversized, endless
/// `61xx`, another command's answer, `6Cxx` loops, a hostile SELECT.
#[test]
fn malformed_answers_end_in_typed_errors_and_exit_1() {
    let _port = port_lock();
    assert_none(&run_modes(
        &[
            Mode::Garbage,
            Mode::GarbageOk,
            Mode::OneByte,
            Mode::Truncated,
            Mode::Oversized {
                size: 6_000,
                everywhere: false,
            },
            Mode::Oversized {
                size: 65_533,
                everywhere: true,
            },
            Mode::MoreForever,
            Mode::MoreNothingForever,
            Mode::OutOfOrder,
            Mode::Lagging,
            Mode::LeLoop,
            Mode::SelectGarbage,
            Mode::SelectWithData,
        ],
        &ALL,
    ));
}

/// A scripted `63C2` on VERIFY exits 3, `6983` exits 4.
#[test]
fn pin_status_words_give_exit_3_and_4() {
    let _port = port_lock();
    assert_none(&run_modes(&[Mode::WrongPin, Mode::Blocked], &ALL));
}

/// A card that reads the command and never answers: the watchdog gives up
/// after `ASAN_TIMEOUT` (3 s), within 10 s, with "does not answer".
#[test]
fn a_silent_card_is_given_up_by_the_watchdog() {
    let _port = port_lock();
    let mut failures = run_modes(&[Mode::SilentAfterSelect, Mode::Empty], &ALL);
    failures.extend(run_modes(
        &[Mode::SilentFromStart],
        &[Cli::Info, Cli::Sign, Cli::Readers],
    ));
    assert_none(&failures);
}

/// A card whose socket closes in the middle of a command (the first after
/// SELECT, or the second: PSO after VERIFY, READ BINARY after SELECT EF).
#[test]
fn a_card_that_goes_away_mid_command_fails_quickly() {
    let _port = port_lock();
    assert_none(&run_modes(
        &[
            Mode::Disconnect(0),
            Mode::Disconnect(1),
            Mode::GoneAfterAnswer(1),
        ],
        &ALL,
    ));
}

// ---------------------------------------------------------------------------
// regressions: defects found here, fixed since
// ---------------------------------------------------------------------------

/// Found here (a hang, fixed: the watchdog now guards `SCardConnect` and
/// transactions too): once a card has stopped answering, pcscd's thread for
/// that reader stays blocked in the driver, and every later `asan` run that
/// connected to the reader blocked in `SCardConnect` forever — `asan info`
/// as well as `asan readers`, which connects to every reader. Now every
/// run is given up within `ASAN_TIMEOUT`, not only the first.
#[test]
fn later_runs_against_a_mute_card_are_given_up_too() {
    let _port = port_lock();
    let card = HostileCard::start(Mode::SilentAfterSelect);
    let mut failures = Vec::new();
    for (i, cli) in [Cli::Info, Cli::Info, Cli::Readers, Cli::Sign]
        .into_iter()
        .enumerate()
    {
        let run = asan(cli.args(), cli.env(), SILENCE_LIMIT);
        let wrong = match &run {
            Ok(out) => check(out, Expect::Fail(1, SILENT)),
            Err(hang) => vec![hang.clone()],
        };
        if !wrong.is_empty() {
            failures.push(format!("run {i} ({cli:?}): {}", wrong.join("; ")));
        }
    }
    drop(card);
    assert_none(&failures);
}

/// Found here (fixed): a card whose connection closes while the host waits
/// for its answer (a card pulled mid-command) comes back from vpcd as a
/// 0-byte answer, and `asan` said "the card's answer is invalid: 0 bytes, no
/// status word". No card answers 0 bytes; it is the reader telling that
/// nothing came. Now it is a communication failure ("communication with
/// the card failed: …", as docs/cli.md lists for a removed card).
#[test]
fn a_card_that_vanishes_mid_command_is_a_communication_failure() {
    let _port = port_lock();
    let card = HostileCard::start(Mode::Disconnect(0));
    let mut failures = Vec::new();
    for cli in [Cli::Info, Cli::Sign] {
        card.wait_ready();
        let run = asan(cli.args(), cli.env(), DISCONNECT_LIMIT);
        let wrong = match &run {
            Ok(out) => check(
                out,
                Expect::Fail(1, &["communication with the card failed: "]),
            ),
            Err(hang) => vec![hang.clone()],
        };
        if !wrong.is_empty() {
            failures.push(format!("{cli:?}: {}: {run:?}", wrong.join("; ")));
        }
    }
    drop(card);
    assert_none(&failures);
}

/// Found here (fixed): a card pulled between two commands of one
/// transaction (the reader fails the next exchange,
/// `SCARD_E_NOT_TRANSACTED`) made `asan sign` say "communication with the
/// card failed: An attempt was made to end a non-existent transaction" —
/// the pcsc crate's text for that code, which tells the user nothing. Now
/// the message says the card went away.
#[test]
fn a_card_pulled_between_commands_is_said_to_be_gone() {
    let _port = port_lock();
    let card = HostileCard::start(Mode::GoneAfterAnswer(1));
    let mut failures = Vec::new();
    for cli in [Cli::Sign, Cli::CertRead] {
        card.wait_ready();
        let run = asan(cli.args(), cli.env(), DISCONNECT_LIMIT);
        let wrong = match &run {
            Ok(out) => {
                let mut wrong = check(out, Expect::Fail(1, GONE));
                if out.stderr.contains("non-existent transaction") {
                    wrong.push("the message speaks of a non-existent transaction".into());
                }
                if !["removed", "does not answer", "no longer"]
                    .iter()
                    .any(|w| out.stderr.contains(w))
                {
                    wrong.push("the message does not say the card went away".into());
                }
                wrong
            }
            Err(hang) => vec![hang.clone()],
        };
        if !wrong.is_empty() {
            failures.push(format!("{cli:?}: {}: {run:?}", wrong.join("; ")));
        }
    }
    drop(card);
    assert_none(&failures);
}
