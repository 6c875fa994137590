//! `asan tsa init DIR --ca CADIR` and `asan tsa stamp DIR REQUEST [-o FILE]`:
//! a development time-stamping authority (RFC 3161) for tests and CI.

use crate::cert::NameText as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use clap::Subcommand;
use serde_json::json;

use super::{Cli, Io, json as print_json, say};
use crate::error::{Error, Result};
use crate::tsp::{TSA_POLICY, Tsa};
use crate::x509::DevCa;

/// `asan tsa …`
#[derive(Debug, Subcommand)]
pub enum TsaCommand {
    /// Create a TSA in DIR: a P-256 key and its certificate from the
    /// development CA (extendedKeyUsage timeStamping, critical).
    Init {
        /// The TSA directory (must not hold a TSA yet).
        dir: PathBuf,
        /// The development CA directory (`asan ca init`).
        #[arg(long, value_name = "CADIR")]
        ca: PathBuf,
    },
    /// Serve RFC 3161 over HTTP: POST application/timestamp-query, answered
    /// with application/timestamp-reply; until SIGTERM or SIGINT.
    Serve {
        /// The TSA directory.
        dir: PathBuf,
        /// Address and port to listen on.
        #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:3180")]
        listen: String,
    },
    /// Answer a time-stamp request (DER TimeStampReq, as `openssl ts -query`
    /// writes it) with a TimeStampResp, offline.
    Stamp {
        /// The TSA directory.
        dir: PathBuf,
        /// The request file.
        request: PathBuf,
        /// Where the response goes (default: REQUEST with the extension
        /// .tsr); an existing file is never replaced.
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

/// Runs a `tsa` subcommand.
pub fn run(cli: &Cli, cmd: &TsaCommand, io: &mut Io<'_>) -> Result<()> {
    match cmd {
        TsaCommand::Init { dir, ca } => {
            let ca = DevCa::load(ca)?;
            let tsa = Tsa::init(dir, &ca, SystemTime::now())?;
            let cert = crate::cert::parse(tsa.certificate())?;
            let subject = cert.tbs_certificate().subject().text();
            if cli.json {
                return print_json(
                    io.out,
                    &json!({
                        "dir": dir.display().to_string(),
                        "certificate": dir.join("tsa.pem").display().to_string(),
                        "subject": subject,
                        "policy": TSA_POLICY,
                    }),
                );
            }
            say(
                io.out,
                &format!("time-stamping authority created in {}", dir.display()),
            )?;
            say(
                io.out,
                &format!("certificate: {} ({subject})", dir.join("tsa.pem").display()),
            )
        }
        TsaCommand::Stamp {
            dir,
            request,
            output,
        } => stamp(cli, dir, request, output.as_deref(), io),
        TsaCommand::Serve { dir, listen } => {
            let tsa = Tsa::load(dir)?;
            let listener = std::net::TcpListener::bind(listen.as_str()).map_err(|e| Error::Io {
                path: listen.clone(),
                source: e,
            })?;
            let address = listener
                .local_addr()
                .map(|a| a.to_string())
                .unwrap_or_else(|_| listen.clone());
            say(
                io.err,
                &format!("time-stamping authority on http://{address}/"),
            )?;
            let err = &mut *io.err;
            crate::tsp::serve::serve(&tsa, &listener, &|| false, &mut |line| {
                let _ = say(&mut *err, line);
            })
        }
    }
}

fn stamp(
    cli: &Cli,
    dir: &Path,
    request: &Path,
    output: Option<&Path>,
    io: &mut Io<'_>,
) -> Result<()> {
    let tsa = Tsa::load(dir)?;
    let bytes = std::fs::read(request).map_err(|e| Error::Io {
        path: request.display().to_string(),
        source: e,
    })?;
    let out = output
        .map(Path::to_path_buf)
        .unwrap_or_else(|| request.with_extension("tsr"));
    if out.exists() {
        return Err(Error::Usage(format!(
            "{} exists; it is not replaced (give another with -o)",
            out.display()
        )));
    }
    let stamped = tsa.stamp(&bytes, SystemTime::now())?;
    crate::files::write_private(&out, &stamped.response)?;
    let serial = stamped.granted.map(|(s, _)| s);
    if cli.json {
        return print_json(
            io.out,
            &json!({
                "status": if serial.is_some() { "granted" } else { "rejection" },
                "serial": serial,
                "reason": stamped.reason,
                "output": out.display().to_string(),
            }),
        );
    }
    match (serial, &stamped.reason) {
        (Some(serial), _) => say(
            io.out,
            &format!("granted, serial {serial}: {}", out.display()),
        ),
        (None, reason) => say(
            io.out,
            &format!(
                "rejected ({}): {}",
                reason.as_deref().unwrap_or("no reason"),
                out.display()
            ),
        ),
    }
}
