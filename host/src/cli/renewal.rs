//! `asan renew check|request|approve|cancel` (the subscriber's and the
//! head's side of online renewal) and the centre's `asan ca review`,
//! `ca applications`, `ca prolong`, `ca org add|list`, `ca notice` (rules
//! in [`crate::renewal`], documented in `docs/renewal.md`).

mod head;
mod records;
mod request;
mod review;

use asan_applet::KeyRef;
use clap::Subcommand;
use serde_json::{Value, json};

use super::{Cli, Io, json as print_json, say, transport};
use crate::error::{Error, Result};
use crate::info::{profile_name, usage_name};
use crate::renewal::{
    self, Clock, FixedClock, Refusal, SystemClock, Validity, Window, format_baku, format_both,
    format_time,
};
use crate::{AsanCard, cert};

pub use head::DecisionArgs;
pub use records::{NoticeArgs, OrgCommand};
pub use request::RequestArgs;
pub use review::{ApplicationsArgs, ProlongArgs, ReviewArgs};

/// `asan renew …`
#[derive(Debug, Subcommand)]
pub enum RenewCommand {
    /// For each certificate on the card: whether renewal is open, from when
    /// until when (Baku time and UTC), and why not.
    Check {
        /// Pretend it is this instant (RFC 3339) instead of now.
        #[arg(long, value_name = "RFC3339")]
        now: Option<String>,
    },
    /// Write the renewal package — the application and the contract on the
    /// provision of certificate services — signed with PIN2.
    Request(Box<RequestArgs>),
    /// The head of the organisation approves an employee's power of
    /// attorney: signs the application's digest and the attorney's details
    /// with the head's own Asan İmza (PIN2).
    Approve(DecisionArgs),
    /// The head of the organisation cancels an employee's power of
    /// attorney (signed with PIN2); the application is cancelled.
    Cancel(DecisionArgs),
}

/// A refusal as the CLI's error: exit code 1, one line with the step.
pub(crate) fn refused(r: &Refusal) -> Error {
    Error::Refused(format!("renewal refused: {r}"))
}

/// `--now` or the system clock.
pub(crate) fn clock(now: Option<&str>) -> Result<Box<dyn Clock>> {
    match now {
        Some(t) => renewal::parse_time(t)
            .map(|t| Box::new(FixedClock(t)) as Box<dyn Clock>)
            .map_err(|e| Error::Usage(format!("--now: {e}"))),
        None => Ok(Box::new(SystemClock)),
    }
}

/// Reads a file, naming it in the error.
pub(crate) fn read(path: &std::path::Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })
}

/// A certificate read from the card.
pub(crate) struct CardCertificate {
    pub(crate) key: KeyRef,
    pub(crate) der: Vec<u8>,
    pub(crate) parsed: x509_cert::Certificate,
}

/// Every certificate on the card: `Ok`, or the key and why it is unreadable.
pub(crate) fn certificates(
    card: &mut AsanCard<transport::AnyTransport>,
) -> Result<Vec<std::result::Result<CardCertificate, (KeyRef, Error)>>> {
    let info = card.info()?;
    Ok(info
        .keys
        .iter()
        .filter(|k| k.certificate_len > 0)
        .map(|k| {
            card.read_certificate_der(k.key)
                .and_then(|der| Ok((cert::parse(&der)?, der)))
                .map(|(parsed, der)| CardCertificate {
                    key: k.key,
                    der,
                    parsed,
                })
                .map_err(|e| (k.key, e))
        })
        .collect())
}

/// Runs `asan renew …`.
pub fn run(cli: &Cli, cmd: &RenewCommand, io: &mut Io<'_>) -> Result<()> {
    match cmd {
        RenewCommand::Check { now } => check(cli, now.as_deref(), io),
        RenewCommand::Request(args) => request::request(cli, args, io),
        RenewCommand::Approve(args) => head::decide(cli, args, true, io),
        RenewCommand::Cancel(args) => head::decide(cli, args, false, io),
    }
}

/// `asan ca review`.
pub fn review(cli: &Cli, args: &ReviewArgs, io: &mut Io<'_>) -> Result<()> {
    review::review(cli, args, io)
}

/// `asan ca applications`.
pub fn applications(cli: &Cli, args: &ApplicationsArgs, io: &mut Io<'_>) -> Result<()> {
    review::applications(cli, args, io)
}

/// `asan ca prolong`.
pub fn prolong(cli: &Cli, args: &ProlongArgs, io: &mut Io<'_>) -> Result<()> {
    review::prolong(cli, args, io)
}

/// `asan ca org add|list`.
pub fn org(cli: &Cli, cmd: &OrgCommand, io: &mut Io<'_>) -> Result<()> {
    records::org(cli, cmd, io)
}

/// `asan ca notice`.
pub fn notice(cli: &Cli, args: &NoticeArgs, io: &mut Io<'_>) -> Result<()> {
    records::notice(cli, args, io)
}

/// `asan renew check`.
fn check(cli: &Cli, now: Option<&str>, io: &mut Io<'_>) -> Result<()> {
    let now = clock(now)?.now();
    let mut card = transport::open(cli)?;
    let mut entries = Vec::new();
    for c in certificates(&mut card)? {
        entries.push(match c {
            Ok(c) => {
                let w = Window::at(Validity::of(&c.parsed), now);
                json!({
                    "profile": profile_name(c.key.profile),
                    "usage": usage_name(c.key.usage),
                    "not_after": format_time(w.validity.not_after),
                    "not_after_baku": format_baku(w.validity.not_after),
                    "renewal_open": w.is_open(),
                    "opens": format_time(w.opens),
                    "opens_baku": format_baku(w.opens),
                    "closes": format_time(w.closes),
                    "closes_baku": format_baku(w.closes),
                    "reason": w.reason(),
                })
            }
            Err((key, e)) => json!({
                "profile": profile_name(key.profile),
                "usage": usage_name(key.usage),
                "not_after": null,
                "not_after_baku": null,
                "renewal_open": false,
                "opens": null,
                "opens_baku": null,
                "closes": null,
                "closes_baku": null,
                "reason": format!("the certificate cannot be read: {e}"),
            }),
        });
    }
    if cli.json {
        return print_json(io.out, &json!({ "certificates": entries }));
    }
    if entries.is_empty() {
        return say(io.out, "no certificates on the card");
    }
    let s = |v: &Value, k: &str| v[k].as_str().unwrap_or_default().to_owned();
    let both =
        |v: &Value, k: &str| renewal::parse_time(&s(v, k)).map_or_else(|_| s(v, k), format_both);
    for e in &entries {
        let head = format!("{} {}", s(e, "profile"), s(e, "usage"));
        let line = if e["renewal_open"].as_bool() == Some(true) {
            format!(
                "{head}: renewal open from {} until {}",
                both(e, "opens"),
                both(e, "closes")
            )
        } else {
            format!("{head}: renewal not open: {}", s(e, "reason"))
        };
        say(io.out, &line)?;
    }
    Ok(())
}
