//! `asan`: the command-line tool for Asan İmza SIM cards.
#![forbid(unsafe_code)]

use std::io::Write as _;
use std::process::ExitCode;

use asan_host::cli::{Cli, Io, PinInput, run};
use clap::Parser;

fn main() -> ExitCode {
    let cli = Cli::parse();
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
