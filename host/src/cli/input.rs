//! PIN entry: from the environment (`ASAN_PIN1`, `ASAN_PIN2`, `ASAN_PUK`,
//! `ASAN_NEW_PIN`) for automation, a hidden prompt on a terminal, or lines
//! on standard input in the order the command asks for them.

use std::io::{BufRead, IsTerminal, Write};

use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Looks up an environment variable.
type Env = Box<dyn Fn(&str) -> Option<String>>;

/// Where PINs come from.
pub struct PinInput {
    env: Env,
    lines: Box<dyn BufRead>,
    terminal: bool,
}

impl std::fmt::Debug for PinInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PinInput")
            .field("terminal", &self.terminal)
            .finish_non_exhaustive()
    }
}

impl PinInput {
    /// The process's environment and standard input (a hidden prompt when
    /// standard input is a terminal).
    pub fn from_process() -> Self {
        Self {
            env: Box::new(|name| std::env::var(name).ok()),
            terminal: std::io::stdin().is_terminal(),
            lines: Box::new(std::io::BufReader::new(std::io::stdin())),
        }
    }

    /// Fixed environment variables and input lines (tests, the demo).
    pub fn scripted(env: Vec<(&'static str, String)>, input: &str) -> Self {
        Self {
            env: Box::new(move |name| env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone())),
            terminal: false,
            lines: Box::new(std::io::Cursor::new(input.to_owned().into_bytes())),
        }
    }

    /// One PIN: the environment variable `var`, else a prompt or a line.
    pub fn read(&mut self, var: &str, prompt: &str) -> Result<Zeroizing<String>> {
        if let Some(v) = (self.env)(var) {
            return Ok(Zeroizing::new(v));
        }
        if self.terminal {
            return rpassword::prompt_password(format!("{prompt}: "))
                .map(Zeroizing::new)
                .map_err(|e| Error::Io {
                    path: "terminal".into(),
                    source: e,
                });
        }
        let mut line = Zeroizing::new(String::new());
        match self.lines.read_line(&mut line) {
            Ok(0) => Err(Error::Usage(format!(
                "{prompt} needed: set {var} or give it on standard input"
            ))),
            Ok(_) => {
                let trimmed = Zeroizing::new(line.trim_end_matches(['\r', '\n']).to_owned());
                Ok(trimmed)
            }
            Err(e) => Err(Error::Io {
                path: "standard input".into(),
                source: e,
            }),
        }
    }

    /// A value that is not secret (a confirmation): the environment
    /// variable, else a visible prompt on the terminal, else a line.
    pub fn read_visible(&mut self, var: &str, prompt: &str) -> Result<Zeroizing<String>> {
        if let Some(v) = (self.env)(var) {
            return Ok(Zeroizing::new(v));
        }
        if self.terminal {
            let _ = write!(std::io::stderr(), "{prompt}: ");
        }
        let mut line = Zeroizing::new(String::new());
        match self.lines.read_line(&mut line) {
            Ok(0) => Err(Error::Usage(format!(
                "{prompt} needed: set {var} or give it on standard input"
            ))),
            Ok(_) => Ok(Zeroizing::new(
                line.trim_end_matches(['\r', '\n']).to_owned(),
            )),
            Err(e) => Err(Error::Io {
                path: "standard input".into(),
                source: e,
            }),
        }
    }

    /// A new PIN: `ASAN_NEW_PIN`, else asked (twice on a terminal, and the
    /// two must agree).
    pub fn read_new(&mut self, prompt: &str) -> Result<Zeroizing<String>> {
        let first = self.read("ASAN_NEW_PIN", prompt)?;
        if self.terminal && (self.env)("ASAN_NEW_PIN").is_none() {
            let again = self.read("ASAN_NEW_PIN", &format!("{prompt} again"))?;
            if *again != *first {
                return Err(Error::Usage(
                    "the two new PINs differ; nothing was changed".into(),
                ));
            }
        }
        Ok(first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_first_then_lines_in_order() {
        let mut input = PinInput::scripted(vec![("ASAN_PIN2", "55555".into())], "1111\n22222222\n");
        assert_eq!(
            input
                .read("ASAN_PIN2", "PIN2")
                .map(|p| p.to_string())
                .ok()
                .as_deref(),
            Some("55555")
        );
        assert_eq!(
            input
                .read("ASAN_PIN1", "PIN1")
                .map(|p| p.to_string())
                .ok()
                .as_deref(),
            Some("1111")
        );
        assert_eq!(
            input
                .read("ASAN_PUK", "PUK")
                .map(|p| p.to_string())
                .ok()
                .as_deref(),
            Some("22222222")
        );
        let e = input
            .read("ASAN_PIN1", "PIN1")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("ASAN_PIN1"), "{e}");
    }
}
