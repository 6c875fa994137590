//! `asan ca init DIR` and `asan ca issue DIR CSR --profile … --usage …`.

use serde_json::json;

use super::{CaCommand, Cli, Io, json as print_json, say};
use crate::cert;
use crate::error::{Error, Result};
use crate::x509::{DevCa, verify_csr};

/// Runs a `ca` subcommand.
pub fn run(cli: &Cli, cmd: &CaCommand, io: &mut Io<'_>) -> Result<()> {
    match cmd {
        CaCommand::Review(args) => super::renewal::review(cli, args, io),
        CaCommand::Init { dir } => {
            let ca = DevCa::init(dir)?;
            let root = cert::parse(&ca.root_der())?;
            if cli.json {
                return print_json(
                    io.out,
                    &json!({ "dir": dir.display().to_string(), "root": root.tbs_certificate().subject().to_string() }),
                );
            }
            say(
                io.out,
                &format!("development CA created in {}", dir.display()),
            )?;
            say(
                io.out,
                &format!("root certificate: {}", dir.join("root.pem").display()),
            )?;
            say(
                io.out,
                &format!("root key (keep secret): {}", dir.join("root.key").display()),
            )
        }
        CaCommand::Issue {
            dir,
            csr,
            profile,
            usage,
            output,
        } => {
            let ca = DevCa::load(dir)?;
            let request = std::fs::read(csr).map_err(|e| Error::Io {
                path: csr.display().to_string(),
                source: e,
            })?;
            let (subject, _) = verify_csr(&request)?;
            let der = ca.issue(
                &request,
                (*profile).into(),
                (*usage).into(),
                std::time::SystemTime::now(),
            )?;
            let pem = cert::to_pem(&der);
            if let Some(path) = output {
                std::fs::write(path, &pem).map_err(|e| Error::Io {
                    path: path.display().to_string(),
                    source: e,
                })?;
            }
            if cli.json {
                return print_json(
                    io.out,
                    &json!({ "subject": subject.to_string(), "pem": pem }),
                );
            }
            match output {
                Some(path) => say(io.out, &format!("issued for {subject}: {}", path.display())),
                None => io.out.write_all(pem.as_bytes()).map_err(|e| Error::Io {
                    path: "<output>".into(),
                    source: e,
                }),
            }
        }
    }
}
