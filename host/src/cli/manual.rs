//! `asan completions SHELL` and `asan man [--dir DIR]`: shell completions
//! and man pages generated from the same definitions the parser uses, so
//! they cannot drift from the command line.

use std::path::Path;

use clap::CommandFactory;

use super::{Cli, Io};
use crate::error::{Error, Result};

/// The shells completions are made for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    /// Bash.
    Bash,
    /// Zsh.
    Zsh,
    /// Fish.
    Fish,
}

fn out_err(e: std::io::Error) -> Error {
    Error::Io {
        path: "<output>".into(),
        source: e,
    }
}

/// `asan completions bash|zsh|fish`: the completion script on stdout.
pub fn completions(shell: Shell, io: &mut Io<'_>) -> Result<()> {
    let mut cmd = Cli::command();
    let shell = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    // Into memory first: clap_complete panics when its writer fails (a
    // closed pipe), and nothing here may panic.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "asan", &mut script);
    io.out.write_all(&script).map_err(out_err)?;
    io.out.flush().map_err(out_err)
}

/// `asan man`: the page `asan(1)` on stdout; with `--dir DIR`, one page per
/// command and subcommand (`asan.1`, `asan-sign.1`, `asan-ca-init.1`, …)
/// written there.
pub fn man(dir: Option<&Path>, io: &mut Io<'_>) -> Result<()> {
    let cmd = Cli::command();
    match dir {
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(cmd)
                .render(&mut page)
                .map_err(out_err)?;
            io.out.write_all(&page).map_err(out_err)
        }
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                path: dir.display().to_string(),
                source,
            })?;
            clap_mangen::generate_to(cmd, dir).map_err(|source| Error::Io {
                path: dir.display().to_string(),
                source,
            })?;
            let n = std::fs::read_dir(dir).map(Iterator::count).unwrap_or(0);
            super::say(io.err, &format!("{n} man pages in {}", dir.display()))
        }
    }
}
