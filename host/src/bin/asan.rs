//! `asan`: the command-line tool for Asan İmza SIM cards.
#![forbid(unsafe_code)]

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use asan_host::cli::{Cli, Io, PinInput, run};
use asan_host::transport::watchdog;
use clap::Parser;

/// How long one exchange with a card may take before `asan` gives up
/// (`ASAN_TIMEOUT` seconds, default 30).
fn timeout() -> Duration {
    let secs = std::env::var("ASAN_TIMEOUT")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|s| *s > 0)
        .unwrap_or(30);
    Duration::from_secs(secs)
}

/// Exits with a clear error when a card stops answering: a PC/SC call that
/// never returns would otherwise hang the program.
fn start_watchdog() {
    let limit = timeout();
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(Duration::from_millis(200));
            if watchdog::stuck_for().is_some_and(|d| d > limit) {
                let _ = writeln!(
                    std::io::stderr(),
                    "asan: the card does not answer (nothing within {} s); check the reader, or set ASAN_TIMEOUT",
                    limit.as_secs()
                );
                std::process::exit(1);
            }
        }
    });
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    start_watchdog();
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr();
    let mut pins = PinInput::from_process();
    let mut io = Io {
        out: &mut stdout,
        err: &mut stderr,
        pins: &mut pins,
    };
    match run(&cli, &mut io) {
        Ok(()) => ExitCode::SUCCESS,
        // A reader of our output that went away (`asan … | head`) is no error to report.
        Err(asan_host::Error::Io { source, .. })
            if source.kind() == std::io::ErrorKind::BrokenPipe =>
        {
            ExitCode::from(1)
        }
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "asan: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
