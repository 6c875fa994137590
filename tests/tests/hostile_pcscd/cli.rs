//! Running the `asan` command line against the hostile card under a
//! deadline, and the commands run against every mode.

use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use asan_tests::{asan_binary, reader_for};

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
    let mut cmd = Command::new(asan_binary());
    cmd.args(&all)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for var in [
        "ASAN_PIN1",
        "ASAN_PIN2",
        "ASAN_PUK",
        "ASAN_NEW_PIN",
        "ASAN_TIMEOUT",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("ASAN_TIMEOUT", "3");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let start = Instant::now();
    let mut child = cmd.spawn().unwrap();
    let pid = child.id();
    drop(child.stdin.take());
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let output = match rx.recv_timeout(deadline) {
        Ok(o) => o.unwrap(),
        Err(_) => {
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(pid.to_string())
                .status();
            let _ = rx.recv_timeout(Duration::from_secs(5));
            return Err(format!(
                "asan {all:?} hangs: killed after {} s",
                deadline.as_secs()
            ));
        }
    };
    Ok(Out {
        code: output
            .status
            .code()
            .ok_or_else(|| format!("asan {all:?} was killed by a signal: {output:?}"))?,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        elapsed: start.elapsed(),
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
