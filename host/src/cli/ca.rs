//! `asan ca init DIR [--crl-url URL]`, `asan ca issue DIR CSR --profile …
//! --usage …`, `asan ca revoke DIR CERT [--reason R]` and `asan ca crl DIR
//! [-o FILE] [--days N]`; the renewal commands (`ca review`, `ca
//! applications`, `ca org`, `ca notice`, `ca prolong`) are in
//! [`super::renewal`].

use crate::cert::NameText as _;
use std::path::Path;
use std::time::SystemTime;

use clap::ValueEnum;
use serde_json::json;

use super::{CaCommand, Cli, Io, json as print_json, say};
use crate::cert;
use crate::error::{Error, Result};
use crate::x509::{CRL_FILE, CaConfig, DevCa, RevocationReason, verify_csr};

/// Revocation reasons on the command line: the RFC 5280 names in
/// kebab-case, the RFC's camelCase spellings as aliases.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Reason {
    /// No reason given (the CRL entry has no reasonCode).
    Unspecified,
    /// The certificate's key is compromised.
    #[value(alias = "keyCompromise")]
    KeyCompromise,
    /// The CA's key is compromised.
    #[value(alias = "cACompromise", alias = "caCompromise")]
    CaCompromise,
    /// The holder's name or affiliation changed.
    #[value(alias = "affiliationChanged")]
    AffiliationChanged,
    /// A new certificate replaces it.
    Superseded,
    /// No longer needed (the card was terminated).
    #[value(alias = "cessationOfOperation")]
    CessationOfOperation,
    /// Suspended for now.
    #[value(alias = "certificateHold")]
    CertificateHold,
    /// A privilege was withdrawn.
    #[value(alias = "privilegeWithdrawn")]
    PrivilegeWithdrawn,
}

impl From<Reason> for RevocationReason {
    fn from(r: Reason) -> Self {
        match r {
            Reason::Unspecified => Self::Unspecified,
            Reason::KeyCompromise => Self::KeyCompromise,
            Reason::CaCompromise => Self::CaCompromise,
            Reason::AffiliationChanged => Self::AffiliationChanged,
            Reason::Superseded => Self::Superseded,
            Reason::CessationOfOperation => Self::CessationOfOperation,
            Reason::CertificateHold => Self::CertificateHold,
            Reason::PrivilegeWithdrawn => Self::PrivilegeWithdrawn,
        }
    }
}

/// Reads a file, naming it in the error.
fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::Io {
        path: path.display().to_string(),
        source: e,
    })
}

/// Runs a `ca` subcommand.
pub fn run(cli: &Cli, cmd: &CaCommand, io: &mut Io<'_>) -> Result<()> {
    match cmd {
        CaCommand::Review(args) => super::renewal::review(cli, args, io),
        CaCommand::Applications(args) => super::renewal::applications(cli, args, io),
        CaCommand::Org(cmd) => super::renewal::org(cli, cmd, io),
        CaCommand::Notice(args) => super::renewal::notice(cli, args, io),
        CaCommand::Prolong(args) => super::renewal::prolong(cli, args, io),
        CaCommand::Init { dir, crl_url } => init(cli, dir, crl_url.as_deref(), io),
        CaCommand::Issue {
            dir,
            csr,
            profile,
            usage,
            output,
        } => {
            let ca = DevCa::load(dir)?;
            let request = read(csr)?;
            let (subject, _) = verify_csr(&request)?;
            let der = ca.issue(
                &request,
                (*profile).into(),
                (*usage).into(),
                SystemTime::now(),
            )?;
            let pem = cert::to_pem(&der);
            if let Some(path) = output {
                crate::files::write_whole(path, pem.as_bytes(), false, true)?;
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
        CaCommand::Revoke { dir, cert, reason } => revoke(cli, dir, cert, *reason, io),
        CaCommand::Crl { dir, output, days } => crl(cli, dir, output.as_deref(), *days, io),
    }
}

/// `asan ca init DIR [--crl-url URL]`.
fn init(cli: &Cli, dir: &Path, crl_url: Option<&str>, io: &mut Io<'_>) -> Result<()> {
    let config = match crl_url {
        Some(url) => CaConfig::with_crl_url(url)?,
        None => CaConfig::default(),
    };
    let ca = DevCa::init_with_config(dir, &config)?;
    let root = cert::parse(&ca.root_der())?;
    if cli.json {
        return print_json(
            io.out,
            &json!({
                "dir": dir.display().to_string(),
                "root": root.tbs_certificate().subject().text(),
                "crl_url": ca.crl_url(),
            }),
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
    )?;
    say(io.out, &format!("CRL distribution point: {}", ca.crl_url()))
}

/// `asan ca revoke DIR CERT [--reason R]`.
fn revoke(cli: &Cli, dir: &Path, cert_file: &Path, reason: Reason, io: &mut Io<'_>) -> Result<()> {
    let ca = DevCa::load(dir)?;
    let bytes = read(cert_file)?;
    let revocation = cert::pem_or_der(&bytes)
        .and_then(|der| ca.revoke(&der, reason.into(), SystemTime::now()))
        .map_err(|e| match e {
            Error::Certificate(m) => Error::Certificate(format!("{}: {m}", cert_file.display())),
            other => other,
        })?;
    if cli.json {
        return print_json(
            io.out,
            &json!({
                "serial": revocation.serial,
                "subject": revocation.subject,
                "revoked_at": revocation.revoked_at,
                "reason": revocation.reason.name(),
            }),
        );
    }
    say(
        io.out,
        &format!(
            "revoked {} ({}) at {}, reason {}",
            revocation.serial, revocation.subject, revocation.revoked_at, revocation.reason
        ),
    )
}

/// `asan ca crl DIR [-o FILE] [--days N]`.
fn crl(cli: &Cli, dir: &Path, output: Option<&Path>, days: u32, io: &mut Io<'_>) -> Result<()> {
    let ca = DevCa::load(dir)?;
    let file = output.map_or_else(|| dir.join(CRL_FILE), Path::to_path_buf);
    let issued = ca.write_crl(&file, SystemTime::now(), days)?;
    if cli.json {
        return print_json(
            io.out,
            &json!({
                "file": file.display().to_string(),
                "crl_number": issued.number,
                "this_update": issued.this_update,
                "next_update": issued.next_update,
                "revoked": issued.revoked,
            }),
        );
    }
    let s = if issued.revoked == 1 { "" } else { "s" };
    say(
        io.out,
        &format!(
            "CRL number {} written to {}: thisUpdate {}, nextUpdate {}, {} revoked certificate{s}",
            issued.number,
            file.display(),
            issued.this_update,
            issued.next_update,
            issued.revoked
        ),
    )
}
