//! Running one case (an operation with a hostile answer at one position)
//! in a thread with a timeout, and what it must end in.

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use asan_applet::PinRef;
use asan_host::Error;
use asan_host::transport::scripted::{Answer, ScriptedTransport};

use crate::ops::Op;

/// How long one case may take before it counts as a hang.
pub const CASE_TIMEOUT: Duration = Duration::from_secs(20);

/// What a case must end in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
    /// `InvalidResponse`.
    Invalid,
    /// `Transport` (silence).
    Transport,
    /// `Status` with this SW.
    Status(u16),
    /// `Certificate` or `InvalidResponse`.
    BadCertificate,
    /// `WrongPin` for this PIN with these tries.
    WrongPin(PinRef, u8),
    /// `Blocked` for this PIN.
    Blocked(PinRef),
    /// `SecurityStatusNotSatisfied`.
    Security,
    /// `ConditionsNotSatisfied`.
    Conditions,
    /// `NotFound`.
    NotFound,
    /// `NoCard`.
    NoCard,
    /// Any error.
    AnyErr,
}

impl Want {
    pub fn accepts(self, e: &Error) -> bool {
        match (self, e) {
            (Want::Invalid, Error::InvalidResponse(_))
            | (Want::Transport, Error::Transport(_))
            | (Want::BadCertificate, Error::Certificate(_) | Error::InvalidResponse(_))
            | (Want::Security, Error::SecurityStatusNotSatisfied)
            | (Want::Conditions, Error::ConditionsNotSatisfied(_))
            | (Want::NotFound, Error::NotFound(_))
            | (Want::NoCard, Error::NoCard(_))
            | (Want::AnyErr, _) => true,
            (Want::Status(want), Error::Status { sw, .. }) => *sw == want,
            (Want::WrongPin(p, n), Error::WrongPin { pin, tries_left }) => {
                *pin == p && *tries_left == n
            }
            (Want::Blocked(p), Error::Blocked { pin }) => *pin == p,
            _ => false,
        }
    }
}

/// One hostile answer.
#[derive(Clone, Debug)]
pub struct Hostile {
    pub name: String,
    pub answer: Answer,
    /// Answer every later command with this (loops); otherwise the rest of
    /// the good script follows the hostile answer.
    pub forever: Option<Vec<u8>>,
    pub want: Want,
}

pub fn hostile(name: &str, answer: Vec<u8>, want: Want) -> Hostile {
    Hostile {
        name: name.to_owned(),
        answer: Answer::Bytes(answer),
        forever: None,
        want,
    }
}

pub fn looping(name: &str, answer: Vec<u8>, want: Want) -> Hostile {
    Hostile {
        name: name.to_owned(),
        answer: Answer::Bytes(answer.clone()),
        forever: Some(answer),
        want,
    }
}

/// The script: the good answers before `pos`, the hostile one, then the
/// good answers after it (or the hostile one forever).
pub fn script(op: Op, pos: usize, h: &Hostile) -> ScriptedTransport {
    let good = op.good();
    let mut answers: Vec<Answer> = good[..pos]
        .iter()
        .map(|(_, a)| Answer::Bytes(a.clone()))
        .collect();
    answers.push(h.answer.clone());
    if h.forever.is_none() {
        answers.extend(
            good[pos + 1..]
                .iter()
                .map(|(_, a)| Answer::Bytes(a.clone())),
        );
    }
    let mut t = ScriptedTransport::new(answers);
    t.fallback.clone_from(&h.forever);
    t
}

/// Runs `op` over `t` in a thread; `Err` describes a hang or a panic.
pub fn guarded(op: Op, t: ScriptedTransport) -> Result<Result<String, Error>, String> {
    let (tx, rx) = mpsc::channel();
    let start = Instant::now();
    let handle = thread::spawn(move || {
        let _ = tx.send(op.run(t));
    });
    match rx.recv_timeout(CASE_TIMEOUT) {
        Ok(r) => {
            let _ = handle.join();
            Ok(r)
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            Err(format!("HANG (no result after {:?})", start.elapsed()))
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => Err("PANIC".to_owned()),
    }
}

/// Runs every (op, position, hostile answer); returns the failures and the
/// number of cases.
pub fn run_cases(cases: &[(Op, usize, Hostile)]) -> (Vec<String>, usize) {
    let mut failures = Vec::new();
    for (op, pos, h) in cases {
        let label = format!("{op:?} @{pos} {}", h.name);
        match guarded(*op, script(*op, *pos, h)) {
            Err(what) => failures.push(format!("{label}: {what}")),
            Ok(Ok(v)) => failures.push(format!("{label}: returned Ok: {v}")),
            Ok(Err(e)) if !h.want.accepts(&e) => {
                failures.push(format!("{label}: wanted {:?}, got {e:?}", h.want));
            }
            Ok(Err(e)) => {
                if std::env::var_os("HOSTILE_VERBOSE").is_some() {
                    eprintln!("{label}: {e}");
                }
            }
        }
    }
    (failures, cases.len())
}

pub fn assert_all(cases: &[(Op, usize, Hostile)]) {
    let (failures, n) = run_cases(cases);
    assert!(
        failures.is_empty(),
        "{} of {n} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
