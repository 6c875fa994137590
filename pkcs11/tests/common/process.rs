//! Running the tools: every command with a deadline and its whole output
//! in failure messages; background servers killed when dropped.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use super::DEADLINE;

/// What a finished command did.
pub struct Run {
    /// The command line, for messages.
    pub cmdline: String,
    /// Its exit status.
    pub status: ExitStatus,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

impl Run {
    /// Asserts a zero exit status.
    #[track_caller]
    pub fn ok(self) -> Self {
        assert!(self.status.success(), "command failed: {self}");
        self
    }

    /// Asserts a non-zero exit status.
    #[track_caller]
    pub fn fails(self) -> Self {
        assert!(!self.status.success(), "command should have failed: {self}");
        self
    }

    /// Standard output and error together.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// Asserts that stdout or stderr contains `needle`.
    #[track_caller]
    pub fn says(&self, needle: &str) -> &Self {
        assert!(
            self.all().contains(needle),
            "no {needle:?} in the output of {self}"
        );
        self
    }
}

impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` ({})\n--- stdout\n{}\n--- stderr\n{}\n---",
            self.cmdline, self.status, self.stdout, self.stderr
        )
    }
}

/// The command line of `cmd`, for messages.
pub fn cmdline(cmd: &Command) -> String {
    let mut words = vec![cmd.get_program().to_string_lossy().into_owned()];
    words.extend(cmd.get_args().map(|a| {
        let a = a.to_string_lossy();
        if a.contains(' ') || a.is_empty() {
            format!("'{a}'")
        } else {
            a.into_owned()
        }
    }));
    words.join(" ")
}

/// Runs `cmd` with standard input closed, for at most [`DEADLINE`].
#[track_caller]
pub fn run(cmd: &mut Command) -> Run {
    run_with_input(cmd, None)
}

/// Runs `cmd` with `input` on its standard input (`None`: closed), for at
/// most [`DEADLINE`]; a command that hangs is killed and fails the test.
#[track_caller]
pub fn run_with_input(cmd: &mut Command, input: Option<&[u8]>) -> Run {
    let line = cmdline(cmd);
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| {
        panic!("cannot start `{line}`: {e} (is its package installed? see .ci/run)")
    });
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        let input = input.to_vec();
        thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
    }
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(DEADLINE) {
        Ok(out) => {
            let out = out.unwrap();
            Run {
                cmdline: line,
                status: out.status,
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            }
        }
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            let _ = rx.recv_timeout(Duration::from_secs(5));
            panic!("`{line}` did not finish within {DEADLINE:?} and was killed");
        }
    }
}

/// A background process (a server, an agent) killed when dropped.
pub struct Daemon {
    child: Child,
    /// Its command line.
    pub cmdline: String,
    /// The file its stdout and stderr go to.
    pub log: PathBuf,
}

impl Daemon {
    /// Starts `cmd` with its output in `log`; standard input is a pipe kept
    /// open until the daemon is dropped (`openssl s_server` stops at EOF).
    pub fn start(cmd: &mut Command, log: &Path) -> Self {
        let line = cmdline(cmd);
        let out = std::fs::File::create(log).unwrap();
        let child = cmd
            .stdin(Stdio::piped())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `{line}`: {e}"));
        Self {
            child,
            cmdline: line,
            log: log.to_path_buf(),
        }
    }

    /// What it wrote so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until its output contains `needle` (or it exits, or the
    /// deadline passes: then the test fails).
    #[track_caller]
    pub fn wait_for_output(&mut self, needle: &str) {
        let start = Instant::now();
        while !self.output().contains(needle) {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "`{}` exited ({status}) before saying {needle:?}:\n{}",
                    self.cmdline,
                    self.output()
                );
            }
            assert!(
                start.elapsed() < DEADLINE,
                "`{}` did not say {needle:?} within {DEADLINE:?}:\n{}",
                self.cmdline,
                self.output()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until `path` exists (a socket the daemon creates).
    #[track_caller]
    pub fn wait_for_file(&mut self, path: &Path) {
        let start = Instant::now();
        while !path.exists() {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("`{}` exited ({status}):\n{}", self.cmdline, self.output());
            }
            assert!(
                start.elapsed() < DEADLINE,
                "`{}` made no {}",
                self.cmdline,
                path.display()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for it to exit by itself (at most [`DEADLINE`]); its output.
    #[track_caller]
    pub fn wait(mut self) -> String {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let out = self.output();
                assert!(
                    status.success(),
                    "`{}` exited with {status}:\n{out}",
                    self.cmdline
                );
                return out;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "`{}` did not exit within {DEADLINE:?}:\n{}",
                self.cmdline,
                self.output()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP port free at the time of the call.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
