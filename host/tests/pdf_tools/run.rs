//! Running one external tool: no standard input, a time limit, both output
//! streams captured, and a panic that shows them when the tool cannot be
//! started or fails.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How long one tool run may take before it counts as a hang and is killed.
pub const TIME_LIMIT: Duration = Duration::from_secs(120);

/// One finished run of an external tool.
#[derive(Debug)]
pub struct Run {
    /// The program and its arguments, for messages.
    pub command: String,
    /// The exit code; `None` when a signal ended it.
    pub code: Option<i32>,
    /// Standard output, raw.
    pub stdout: Vec<u8>,
    /// Standard error, lossily decoded.
    pub stderr: String,
}

impl Run {
    /// Standard output, lossily decoded.
    pub fn out(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Standard output followed by standard error.
    pub fn text(&self) -> String {
        let mut text = self.out();
        if !self.stderr.is_empty() {
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(&self.stderr);
        }
        text
    }

    /// Panics, showing everything the tool said, unless it exited 0.
    pub fn ok(self) -> Self {
        if self.code != Some(0) {
            panic!("{self}");
        }
        self
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` exited with {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command,
            self.code,
            self.out(),
            self.stderr
        )
    }
}

/// Where each tool comes from, for the message when it is missing.
fn install_hint(program: &str) -> &'static str {
    match program {
        "gs" => "apt-get install ghostscript",
        "qpdf" => "apt-get install qpdf",
        "pdfsig" | "pdftotext" | "pdfinfo" => "apt-get install poppler-utils",
        "certutil" => "apt-get install libnss3-tools",
        "openssl" => "apt-get install openssl",
        "pyhanko" => "pip install pyhanko pyhanko-cli",
        _ => "install it",
    }
}

/// Runs `program args…` in `cwd` (when given) and returns what happened,
/// whatever the exit code; panics only when it cannot start or hangs.
pub fn run_in(cwd: Option<&Path>, program: &str, args: &[&str]) -> Run {
    let command = std::iter::once(program)
        .chain(args.iter().copied())
        .collect::<Vec<_>>()
        .join(" ");
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(cwd) = cwd {
        cmd.current_dir(cwd);
    }
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => panic!(
            "cannot run `{command}`: {e} ({program} missing? {})",
            install_hint(program)
        ),
    };
    let mut out_pipe = child.stdout.take().unwrap();
    let mut err_pipe = child.stderr.take().unwrap();
    let out_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        out_pipe.read_to_end(&mut buf).unwrap();
        buf
    });
    let err_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        err_pipe.read_to_end(&mut buf).unwrap();
        buf
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > TIME_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`{command}` did not finish within {TIME_LIMIT:?} and was killed");
        }
        thread::sleep(Duration::from_millis(5));
    };
    Run {
        command,
        code: status.code(),
        stdout: out_reader.join().unwrap(),
        stderr: String::from_utf8_lossy(&err_reader.join().unwrap()).into_owned(),
    }
}

/// [`run_in`] in the test's own working directory.
pub fn run(program: &str, args: &[&str]) -> Run {
    run_in(None, program, args)
}

/// A path as a `&str` argument (test paths are UTF-8).
pub fn arg(path: &Path) -> &str {
    path.to_str().unwrap()
}
