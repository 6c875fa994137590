//! Support for the station tests (`asan provision --watch` as a process):
//! its status lines as they come, and a guard that kills it if a test
//! fails half-way.

use std::io::BufRead;
use std::process::Child;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Kills a child process (the station, a private pcscd) when dropped.
pub struct Killer(pub Child);

impl Drop for Killer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A process's output lines (the station's status lines on stderr), line by
/// line as they come.
pub struct Lines {
    rx: mpsc::Receiver<String>,
    /// Every line received so far.
    pub seen: Vec<String>,
    /// Whether a wait returned the line of `seen` at the same index.
    taken: Vec<bool>,
}

impl Lines {
    /// Reads `from` on a thread of its own.
    pub fn of(from: impl std::io::Read + Send + 'static) -> Self {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for l in std::io::BufReader::new(from).lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
        Self {
            rx,
            seen: Vec::new(),
            taken: Vec::new(),
        }
    }

    /// Waits (at most 60 s) for a line with all of `parts` that no earlier
    /// wait returned (lines of several readers come in any order); returns
    /// it.
    pub fn wait(&mut self, parts: &[&str]) -> String {
        let matches = |l: &str| parts.iter().all(|p| l.contains(p));
        if let Some(i) = (0..self.seen.len()).find(|&i| !self.taken[i] && matches(&self.seen[i])) {
            self.taken[i] = true;
            return self.seen[i].clone();
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    let hit = matches(&l);
                    self.taken.push(hit);
                    if hit {
                        return l;
                    }
                }
                Err(_) => panic!(
                    "no line with {parts:?}; the process said:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }
}
