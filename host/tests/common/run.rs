//! Running the `asan` binary in a test and checking what must hold for every
//! run: it ends within a time limit, is not killed by a signal, does not
//! panic, prints UTF-8 and — with [`Asan::run`] — exits with a code of the
//! contract and prints none of the PINs it was given.
//!
//! Used by `host/tests/cli.rs` and `host/tests/provision.rs` (as
//! `common::run`) and by `tests/tests/cli_pcscd.rs`, which includes this
//! file by path: it may use only crates both packages depend on (`hex`,
//! `serde_json`) and takes the binary's path from its caller.
#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The variables `asan` reads PINs and confirmations from; no run inherits
/// them from the test's own environment.
pub const ASAN_VARIABLES: [&str; 5] = [
    "ASAN_PIN1",
    "ASAN_PIN2",
    "ASAN_PUK",
    "ASAN_NEW_PIN",
    "ASAN_CONFIRM",
];

/// How long one run may take before it counts as a hang (and is killed).
const TIME_LIMIT: Duration = Duration::from_secs(60);

/// One run of `asan`.
#[derive(Debug)]
pub struct Out {
    pub args: Vec<String>,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// Requires exit 0 and returns stdout.
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "asan {:?} failed: {self:#?}", self.args);
        &self.stdout
    }

    /// Requires exit 0 and parses stdout as one JSON object.
    pub fn json(&self) -> Value {
        let v: Value = serde_json::from_str(self.ok()).unwrap_or_else(|e| {
            panic!("asan {:?}: stdout is not JSON ({e}): {self:#?}", self.args)
        });
        assert!(v.is_object(), "not an object: {v}");
        v
    }

    /// Requires exit `code`, nothing on stdout, and one error line on stderr
    /// that starts with `asan: ` and contains `needle`; returns that line.
    pub fn fails(&self, code: i32, needle: &str) -> &str {
        assert_eq!(
            self.code, code,
            "asan {:?}: expected exit {code}: {self:#?}",
            self.args
        );
        assert_eq!(
            self.stdout, "",
            "asan {:?}: a failure prints nothing on stdout",
            self.args
        );
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "asan {:?}: an error is one line on stderr: {:?}",
            self.args,
            self.stderr
        );
        let line = lines[0];
        assert!(line.starts_with("asan: "), "{line:?}");
        assert!(
            line.contains(needle),
            "asan {:?}: {line:?} does not contain {needle:?}",
            self.args
        );
        line
    }

    /// Requires a clap usage error: exit 2, nothing on stdout.
    pub fn usage_error(&self) {
        assert_eq!(self.code, 2, "asan {:?}: {self:#?}", self.args);
        assert_eq!(self.stdout, "");
        assert!(!self.stderr.is_empty());
    }

    /// Requires the exit code `code`.
    pub fn code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "asan {:?}: expected exit {code}: {self:#?}",
            self.args
        );
        self
    }

    /// Requires `text` in stderr.
    pub fn says(&self, text: &str) -> &Self {
        assert!(
            self.stderr.contains(text),
            "asan {:?}: stderr lacks {text:?}: {self:#?}",
            self.args
        );
        self
    }
}

/// Whether `needle` occurs in `hay` as a whole word (not inside a longer
/// run of letters and digits, as in a hex signature or a serial number).
pub fn contains_word(hay: &str, needle: &str) -> bool {
    hay.match_indices(needle).any(|(i, _)| {
        let before = hay[..i].chars().next_back();
        let after = hay[i + needle.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

/// Checks that nothing the user typed as a PIN shows in the output: not as
/// text, not as the hex of its ASCII digits (a trace of a PIN block).
pub fn assert_no_secret(out: &Out, secrets: &[String]) {
    // Shorter values are not PINs (and "1" is in every message).
    for s in secrets.iter().map(|s| s.trim()).filter(|s| s.len() >= 4) {
        for (name, text) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            assert!(
                !contains_word(text, s),
                "asan {:?} printed the PIN {s:?} on {name}: {text}",
                out.args
            );
            let hex = hex::encode(s.as_bytes());
            assert!(
                !text.to_lowercase().contains(&hex),
                "asan {:?} printed the PIN {s:?} as hex {hex} on {name}: {text}",
                out.args
            );
        }
    }
}

/// A command line being put together.
pub struct Asan {
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    /// Standard input: this text through a pipe, or `/dev/null` if `None`.
    stdin: Option<String>,
    dir: Option<PathBuf>,
    /// Whether "image in use" is the expected answer (else it is retried,
    /// see [`Asan::run`]).
    locked: bool,
}

impl Asan {
    /// `program` (the `asan` binary) without arguments, with an empty
    /// standard input.
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Self {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            stdin: Some(String::new()),
            dir: None,
            locked: false,
        }
    }

    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|a| (*a).to_owned()));
        self
    }

    /// Arguments separated by spaces.
    pub fn cmd(self, line: &str) -> Self {
        let words: Vec<&str> = line.split_whitespace().collect();
        self.args(&words)
    }

    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    pub fn stdin(mut self, text: &str) -> Self {
        self.stdin = Some(text.into());
        self
    }

    /// Standard input from `/dev/null`.
    pub fn no_stdin(mut self) -> Self {
        self.stdin = None;
        self
    }

    /// Runs in `dir` instead of the test's working directory.
    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }

    pub fn expect_locked(mut self) -> Self {
        self.locked = true;
        self
    }

    /// Runs the command with [`Asan::run_once`]. A virtual image is locked
    /// with `flock`, and a process that another test thread is spawning at
    /// that moment holds a copy of the lock's file descriptor until its
    /// `exec`: an "image in use" answer that no test asked for
    /// ([`Asan::expect_locked`]) is that race and is retried.
    pub fn run(self) -> Out {
        let start = Instant::now();
        loop {
            let out = self.run_once();
            if self.locked
                || !out.stderr.contains("in use by another asan-vcard process")
                || start.elapsed() > Duration::from_secs(10)
            {
                return out;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs the binary once ([`Asan::output`]) and also checks that the
    /// exit code is one of the contract and that no PIN given in the
    /// environment or on standard input shows in the output.
    pub fn run_once(&self) -> Out {
        let out = self.output();
        assert!(
            (0..=4).contains(&out.code),
            "asan {:?}: exit code {} is not in the contract",
            out.args,
            out.code
        );
        let mut secrets: Vec<String> = self.env.iter().map(|(_, v)| v.clone()).collect();
        if let Some(stdin) = &self.stdin {
            secrets.extend(stdin.lines().map(str::to_owned));
        }
        assert_no_secret(&out, &secrets);
        out
    }

    /// Runs the binary once (with none of the `ASAN_*` variables of the
    /// test's environment) and checks what must hold for every run: it ends
    /// within the time limit, is not killed by a signal, does not panic and
    /// prints UTF-8.
    pub fn output(&self) -> Out {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args);
        for var in ASAN_VARIABLES {
            cmd.env_remove(var);
        }
        // No per-reader key cache shared between tests (or with the user's
        // own `~/.cache/asan`) unless a test asks for one.
        if !self.env.iter().any(|(k, _)| k == "ASAN_CACHE_DIR") {
            cmd.env("ASAN_CACHE_DIR", "off");
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        if let Some(dir) = &self.dir {
            cmd.current_dir(dir);
        }
        cmd.stdin(if self.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let pid = child.id();
        if let (Some(mut pipe), Some(text)) = (child.stdin.take(), &self.stdin) {
            // The command may exit without reading; a broken pipe is fine.
            let _ = pipe.write_all(text.as_bytes());
        }
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        let output = match rx.recv_timeout(TIME_LIMIT) {
            Ok(o) => o.unwrap(),
            Err(_) => {
                let _ = Command::new("kill")
                    .arg("-KILL")
                    .arg(pid.to_string())
                    .status();
                panic!(
                    "asan {:?} hangs (killed after {} s)",
                    self.args,
                    TIME_LIMIT.as_secs()
                );
            }
        };
        let out = Out {
            code: output.status.code().unwrap_or_else(|| {
                panic!("asan {:?} was killed by a signal: {output:?}", self.args)
            }),
            stdout: String::from_utf8(output.stdout).unwrap(),
            stderr: String::from_utf8(output.stderr).unwrap(),
            args: self.args.clone(),
        };
        assert!(
            !out.stderr.contains("panicked")
                && !out.stdout.contains("panicked")
                && !out.stderr.contains("RUST_BACKTRACE"),
            "asan {:?} panicked: {out:#?}",
            out.args
        );
        out
    }
}
