//! Running commands: openssl (now or at a faked time, through `faketime`)
//! and the `asan` binary; what they printed; openssl's verdict.

use std::path::Path;
use std::process::Command;

/// One finished command: its line, exit code and output.
pub struct Run {
    pub command: String,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Exit status 0.
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }

    /// Everything a failure message needs: the command, exit code, output.
    pub fn report(&self) -> String {
        format!(
            "$ {}\nexit code: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command,
            self.code,
            self.stdout.trim_end(),
            self.stderr.trim_end()
        )
    }

    /// stdout and stderr together.
    pub fn output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// A path as an argument (the corpus lives in a UTF-8 temporary directory).
pub fn p(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// Arguments as owned strings.
pub fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_owned()).collect()
}

fn shell_word(arg: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:=,+@%".contains(c);
    if !arg.is_empty() && arg.chars().all(plain) {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// Runs `program args`, under `faketime at` when `at` is given (any date
/// `date -d` reads: "2019-06-01 12:00:00", "10 days ago", "2 days").
pub fn run(program: &str, args: &[String], at: Option<&str>) -> Run {
    let mut words: Vec<String> = Vec::new();
    let mut cmd = match at {
        Some(at) => {
            words.extend(["faketime".to_owned(), at.to_owned()]);
            let mut c = Command::new("faketime");
            c.arg(at)
                .arg(program)
                .env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
            c
        }
        None => Command::new(program),
    };
    cmd.args(args);
    words.push(program.to_owned());
    words.extend(args.iter().cloned());
    let command = words
        .iter()
        .map(|w| shell_word(w))
        .collect::<Vec<_>>()
        .join(" ");
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot start `{command}`: {e}"));
    Run {
        command,
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A command line from a template: each word `{}` is the next of `values`
/// (a whole argument, spaces and all).
pub fn argv(template: &str, values: &[&str]) -> Vec<String> {
    let mut values = values.iter();
    let args: Vec<String> = template
        .split_whitespace()
        .map(|w| match w {
            "{}" => (*values.next().expect("a value for each {}")).to_owned(),
            _ => w.to_owned(),
        })
        .collect();
    assert!(
        values.next().is_none(),
        "more values than {{}} in {template}"
    );
    args
}

/// Runs openssl, which must succeed: a step of building the corpus.
pub fn must(args: &[String], at: Option<&str>) -> Run {
    let run = run("openssl", args, at);
    assert!(run.ok(), "building the corpus failed:\n{}", run.report());
    run
}

/// The `asan` binary under test.
pub fn asan(args: &[String]) -> Run {
    run(env!("CARGO_BIN_EXE_asan"), args, None)
}

/// openssl's verdict on a case: exit status 0, and for `openssl verify`
/// also `OK` on stdout.
pub fn verdict(args: &[String], run: &Run) -> bool {
    let says_ok = args.first().map(String::as_str) != Some("verify") || run.stdout.contains(": OK");
    run.ok() && says_ok
}

/// The line of openssl's output that tells its verdict: the certificate
/// verification error, else the last error's reason, else the first line.
pub fn verdict_line(run: &Run) -> String {
    let text = run.output();
    let lines: Vec<&str> = text.lines().collect();
    let verify_error = lines.iter().find_map(|l| l.split_once("Verify error:"));
    if let Some((_, reason)) = verify_error {
        return reason.trim().to_owned();
    }
    if let Some(line) = lines.iter().find(|l| l.contains("depth lookup:")) {
        return line.trim().to_owned();
    }
    // <pid>:error:<code>:<library>:<function>:<reason>:<file>:<line>:
    let reason = lines.iter().rev().find_map(|l| {
        let fields: Vec<&str> = l.split(':').collect();
        (fields.get(1) == Some(&"error")).then(|| fields.get(5).copied().unwrap_or(l))
    });
    if run.ok() && lines.first().is_some_and(|l| l.ends_with(": OK")) {
        return "OK".to_owned();
    }
    let first = lines.iter().find(|l| !l.trim().is_empty()).copied();
    reason.or(first).unwrap_or_default().trim().to_owned()
}
