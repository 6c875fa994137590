//! Running the `asan` command line against the hostile card under a
//! deadline, and the commands run against every mode.

use std::time::Duration;

use asan_tests::{asan_command, reader_for, run_within};

use crate::PORT;

/// One run of `asan`.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

/// Runs `asan --reader <ours> args…` with `env` (and none of the test's own
/// `ASAN_*` variables), `ASAN_TIMEOUT=3`, empty stdin; kills it and returns
/// `Err` if it overruns `deadline`.
pub fn asan(args: &[&str], env: &[(&str, &str)], deadline: Duration) -> Result<Out, String> {
    let mut all = vec!["--reader", reader_for(PORT)];
    all.extend_from_slice(args);
    let env: Vec<(&str, &str)> = [("ASAN_TIMEOUT", "3")]
        .into_iter()
        .chain(env.iter().copied())
        .collect();
    let (output, elapsed) = run_within(asan_command(&all, &env), deadline)
        .map_err(|limit| format!("asan {all:?} hangs: killed after {} s", limit.as_secs()))?;
    Ok(Out {
        code: output
            .status
            .code()
            .ok_or_else(|| format!("asan {all:?} was killed by a signal: {output:?}"))?,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        elapsed,
    })
}

/// The commands run against every mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cli {
    Info,
    PinStatus,
    Verify,
    Sign,
    Auth,
    CertRead,
    Readers,
}

pub const ALL: [Cli; 7] = [
    Cli::Info,
    Cli::PinStatus,
    Cli::Verify,
    Cli::Sign,
    Cli::Auth,
    Cli::CertRead,
    Cli::Readers,
];

pub const DIGEST: &str = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a";

impl Cli {
    pub fn args(self) -> &'static [&'static str] {
        match self {
            Self::Info => &["info"],
            Self::PinStatus => &["pin", "status"],
            Self::Verify => &["pin", "verify", "pin2"],
            Self::Sign => &["sign", "--digest", DIGEST],
            Self::Auth => &["auth", "--challenge", "x"],
            Self::CertRead => &["cert", "read", "--profile", "citizen", "--usage", "sign"],
            Self::Readers => &["readers"],
        }
    }

    pub fn env(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Self::Verify | Self::Sign => &[("ASAN_PIN2", "12345")],
            Self::Auth => &[("ASAN_PIN1", "1234")],
            _ => &[],
        }
    }
}
