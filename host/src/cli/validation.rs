//! What every verification command shares — trust anchors, more
//! certificates, the validation time, CRLs — and `asan cert verify`, path
//! validation on its own.

use std::path::PathBuf;
use std::time::SystemTime;

use clap::{Args, ValueEnum};
use serde_json::json;

use super::{Cli, Io, json as print_json, say};
use crate::error::{Error, Result};
use crate::pki::{self, Check, Crl, PathValidation, Purpose, TrustAnchors, ValidationOptions};

/// How a certificate path is validated.
#[derive(Clone, Debug, Default, Args)]
pub struct TrustArgs {
    /// Trust anchors: CA certificates (PEM, several per file, or DER;
    /// repeatable). Only a CA certificate can be one.
    #[arg(long, value_name = "ROOT.pem")]
    pub ca: Vec<PathBuf>,
    /// More certificates to build the path with, e.g. intermediate CAs (PEM,
    /// several per file, or DER; repeatable). Not trusted by themselves.
    #[arg(long = "chain", value_name = "PEM")]
    pub chain: Vec<PathBuf>,
    /// Validate at this time (RFC 3339, e.g. 2026-01-31T12:00:00Z) instead
    /// of now, like `openssl verify -attime`.
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    /// A CRL (DER, or PEM with several per file; repeatable): every
    /// certificate of the path is checked against the CRL its issuer signed.
    #[arg(long, value_name = "FILE")]
    pub crl: Vec<PathBuf>,
    /// Fail when a certificate of the path has no CRL from its issuer.
    #[arg(long)]
    pub require_crl: bool,
}

impl TrustArgs {
    /// Whether any of the options was given.
    pub fn given(&self) -> bool {
        !self.ca.is_empty()
            || !self.chain.is_empty()
            || self.at.is_some()
            || !self.crl.is_empty()
            || self.require_crl
    }

    /// The trust anchors; `--ca` is required.
    pub fn anchors(&self) -> Result<TrustAnchors> {
        if self.ca.is_empty() {
            return Err(Error::Usage(
                "give the trust anchor: --ca ROOT.pem (a CA certificate)".into(),
            ));
        }
        TrustAnchors::from_files(&self.ca)
    }

    /// The certificates of `--chain`.
    pub fn chain(&self) -> Result<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        for path in &self.chain {
            out.extend(pki::certificates_in_file(path)?);
        }
        Ok(out)
    }

    /// `--at`, or now.
    pub fn time(&self) -> Result<SystemTime> {
        match &self.at {
            Some(text) => crate::renewal::parse_time(text)
                .map(crate::renewal::to_system_time)
                .map_err(|e| Error::Usage(format!("--at: {e}"))),
            None => Ok(SystemTime::now()),
        }
    }

    /// The CRLs of `--crl`.
    pub fn crls(&self) -> Result<Vec<Crl>> {
        let mut out = Vec::new();
        for path in &self.crl {
            out.extend(Crl::from_file(path)?);
        }
        Ok(out)
    }

    /// Validation options for `purpose`.
    pub fn options(&self, purpose: Purpose) -> Result<ValidationOptions> {
        Ok(ValidationOptions {
            at: self.time()?,
            purpose,
            crls: self.crls()?,
            require_crl: self.require_crl,
        })
    }
}

/// `--purpose` on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PurposeArg {
    /// Document signing: keyUsage nonRepudiation; EKU emailProtection,
    /// documentSigning or anyExtendedKeyUsage where present.
    Sign,
    /// Authentication: keyUsage digitalSignature; EKU clientAuth or
    /// anyExtendedKeyUsage where present.
    Auth,
    /// A time-stamping authority (RFC 3161): EKU timeStamping alone and
    /// critical; keyUsage, where present, digitalSignature/nonRepudiation.
    Timestamp,
    /// No key usage requirement (like `openssl verify` without -purpose).
    Any,
}

impl From<PurposeArg> for Purpose {
    fn from(p: PurposeArg) -> Self {
        match p {
            PurposeArg::Sign => Self::Sign,
            PurposeArg::Auth => Self::Auth,
            PurposeArg::Timestamp => Self::TimeStamp,
            PurposeArg::Any => Self::Any,
        }
    }
}

/// `asan cert verify CERT …`.
#[derive(Debug, Args)]
pub struct CertVerifyArgs {
    /// The end-entity certificate (PEM or DER); further certificates in the
    /// same file help build the path.
    #[arg(value_name = "CERT")]
    pub cert: PathBuf,
    /// What the certificate must be fit for.
    #[arg(long, value_enum, default_value = "any")]
    pub purpose: PurposeArg,
    /// Trust anchors, more certificates, time, CRLs.
    #[command(flatten)]
    pub trust: TrustArgs,
}

/// Prints the checks of a validation, one line each.
pub fn print_checks(io: &mut Io<'_>, checks: &[Check]) -> Result<()> {
    for check in checks {
        let state = if check.ok { "OK" } else { "FAILED" };
        say(
            io.out,
            &format!("  {state:<6}  {}: {}", check.name, check.detail),
        )?;
    }
    Ok(())
}

/// The error for an invalid verdict: the first failed check.
pub fn invalid(first: Option<&Check>, what: &str) -> Error {
    match first {
        Some(c) => Error::Verification(format!(
            "{what} is not valid: {} failed: {}",
            c.name, c.detail
        )),
        None => Error::Verification(format!("{what} is not valid")),
    }
}

/// `asan cert verify CERT [--chain PEM] --ca ROOT.pem [--at TIME] [--crl
/// FILE] [--require-crl] [--purpose sign|auth|any]`: exit 0 valid, 1
/// invalid, 2 usage.
pub fn cert_verify(cli: &Cli, args: &CertVerifyArgs, io: &mut Io<'_>) -> Result<()> {
    let anchors = args.trust.anchors()?;
    let mut certs = pki::certificates_in_file(&args.cert)?;
    let target = certs.remove(0);
    certs.extend(args.trust.chain()?);
    let opts = args.trust.options(args.purpose.into())?;
    let result = pki::validate(&target, &certs, &anchors, &opts)?;
    report(cli, io, &result)?;
    match result.valid {
        true => Ok(()),
        false => Err(invalid(result.first_failure(), "the certificate")),
    }
}

fn report(cli: &Cli, io: &mut Io<'_>, result: &PathValidation) -> Result<()> {
    if cli.json {
        return print_json(
            io.out,
            &json!({
                "valid": result.valid,
                "path": result.path,
                "checks": result.checks,
                "validation_time": result.validation_time,
                "purpose": result.purpose.name(),
            }),
        );
    }
    if let Some(subject) = result.path.first() {
        say(io.out, &format!("certificate:     {subject}"))?;
    }
    say(
        io.out,
        &format!("path:            {}", result.path.join(" <- ")),
    )?;
    say(
        io.out,
        &format!(
            "validated at:    {} for purpose {}",
            result.validation_time,
            result.purpose.name()
        ),
    )?;
    print_checks(io, &result.checks)?;
    say(
        io.out,
        if result.valid {
            "the certificate is valid"
        } else {
            "the certificate is NOT valid"
        },
    )
}
