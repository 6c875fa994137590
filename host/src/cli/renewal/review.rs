//! `asan ca review DIR APPLICATION [--poa POA.p7s]`, `asan ca applications
//! DIR` and `asan ca prolong DIR SERIAL ferdi|biznes|dovlet`: the
//! certification centre's side.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Args;
use serde_json::{Value, json};

use super::{clock, read, refused};
use crate::cli::{Cli, Io, json as print_json, say};
use crate::error::{Error, Result};
use crate::renewal::{
    self, format_baku, format_both, format_time, office, service_from_sms, service_label, short,
};
use crate::x509::{DevCa, journal_records};

/// `asan ca review DIR APPLICATION`
#[derive(Debug, Args)]
pub struct ReviewArgs {
    /// The CA directory (its root.pem is the trust anchor; its registers
    /// are the centre's facts; its journal records the decision).
    pub dir: PathBuf,
    /// The signed application (`asan renew request`).
    pub application: PathBuf,
    /// The head's signed decision on the power of attorney (`asan renew
    /// approve|cancel`).
    #[arg(long, value_name = "POA.p7s")]
    pub poa: Option<PathBuf>,
    /// Review at this instant (RFC 3339) instead of now.
    #[arg(long, value_name = "RFC3339")]
    pub now: Option<String>,
    /// Also write the certificates this review issues to DIR, as
    /// SERIAL-PROFILE-USAGE.pem (for `asan cert load`).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// `asan ca applications DIR`
#[derive(Debug, Args)]
pub struct ApplicationsArgs {
    /// The CA directory.
    pub dir: PathBuf,
}

/// `asan ca prolong DIR SERIAL ferdi|biznes|dovlet`
#[derive(Debug, Args)]
pub struct ProlongArgs {
    /// The CA directory.
    pub dir: PathBuf,
    /// The card serial (hex).
    pub serial: String,
    /// The SMS text of the prolongation: ferdi (Citizen), biznes
    /// (Business), dovlet (Governmental).
    #[arg(value_parser = ["ferdi", "biznes", "dovlet"])]
    pub service: String,
    /// Prolonged at this instant (RFC 3339) instead of now.
    #[arg(long, value_name = "RFC3339")]
    pub now: Option<String>,
}

/// `asan ca review`.
pub(super) fn review(cli: &Cli, args: &ReviewArgs, io: &mut Io<'_>) -> Result<()> {
    let now = clock(args.now.as_deref())?.now();
    let signed = read(&args.application)?;
    let poa = args.poa.as_deref().map(read).transpose()?;
    let review = office::review_in(&args.dir, &signed, poa.as_deref(), now, args.out.as_deref())?;
    if cli.json {
        print_json(io.out, &review.to_json())?;
    } else {
        for line in review.lines(now) {
            say(io.out, &line)?;
        }
    }
    match (review.decision(), review.reason()) {
        ("refused", Some(r)) => Err(refused(&r)),
        ("refused", None) => Err(Error::Refused("renewal refused".into())),
        _ => Ok(()),
    }
}

/// One application as the journal tells it.
#[derive(Default)]
struct Entry {
    serial: Value,
    signer: Value,
    requested: Value,
    first: Option<String>,
    last: Option<String>,
    decision: Value,
    state: Value,
    reason: Value,
    step: Value,
    power_of_attorney: Value,
    issued: Value,
}

/// `asan ca applications`.
pub(super) fn applications(cli: &Cli, args: &ApplicationsArgs, io: &mut Io<'_>) -> Result<()> {
    DevCa::load(&args.dir)?;
    let mut order = Vec::new();
    let mut entries: BTreeMap<String, Entry> = BTreeMap::new();
    for r in journal_records(&args.dir)? {
        let Some(id) = r["application"].as_str() else {
            continue;
        };
        if !entries.contains_key(id) {
            order.push(id.to_owned());
        }
        let e = entries.entry(id.to_owned()).or_default();
        match r["kind"].as_str() {
            Some("review") => {
                e.first
                    .get_or_insert_with(|| r["at"].as_str().unwrap_or_default().to_owned());
                e.last = r["at"].as_str().map(str::to_owned);
                for (field, key) in [
                    (&mut e.decision, "decision"),
                    (&mut e.state, "state"),
                    (&mut e.reason, "reason"),
                    (&mut e.step, "step"),
                ] {
                    *field = r[key].clone();
                }
                if !r["serial"].is_null() {
                    e.serial = r["serial"].clone();
                    e.signer = r["signer"].clone();
                    e.requested = r["requested_profiles"].clone();
                }
            }
            Some("power_of_attorney") => {
                e.power_of_attorney = json!({
                    "decision": r["decision"], "at": r["at"], "head": r["head"],
                });
            }
            Some("issued") => {
                e.issued = json!({ "at": r["at"], "profiles": r["profiles"] });
            }
            _ => {}
        }
    }
    let list: Vec<Value> = order
        .iter()
        .filter_map(|id| entries.get(id).map(|e| (id, e)))
        .map(|(id, e)| {
            json!({
                "application": id,
                "serial": e.serial,
                "signer": e.signer,
                "requested_profiles": e.requested,
                "decision": e.decision,
                "state": e.state,
                "reason": e.reason,
                "step": e.step,
                "first_reviewed": e.first,
                "last_reviewed": e.last,
                "power_of_attorney": e.power_of_attorney,
                "issued": e.issued,
            })
        })
        .collect();
    if cli.json {
        return print_json(io.out, &json!({ "applications": list }));
    }
    if list.is_empty() {
        return say(io.out, "no applications reviewed yet");
    }
    for a in &list {
        let s = |k: &str| a[k].as_str().unwrap_or("?").to_owned();
        say(
            io.out,
            &format!(
                "{}  card {}  {} ({}) as of {}  {}",
                short(&s("application")),
                s("serial"),
                s("state"),
                s("decision"),
                s("last_reviewed"),
                s("signer"),
            ),
        )?;
    }
    Ok(())
}

/// `asan ca prolong`.
pub(super) fn prolong(cli: &Cli, args: &ProlongArgs, io: &mut Io<'_>) -> Result<()> {
    let now = clock(args.now.as_deref())?.now();
    let service = service_from_sms(&args.service)
        .ok_or_else(|| Error::Usage(format!("unknown service '{}'", args.service)))?;
    let ca = DevCa::load(&args.dir)?;
    let record = ca.record_prolongation(&args.serial, service, now)?;
    let period = record
        .service()
        .ok_or_else(|| Error::Certificate("the card record has no service".into()))?;
    let (from, until) = period.span()?;
    if cli.json {
        return print_json(
            io.out,
            &json!({
                "serial": record.serial,
                "service": period.service,
                "sms": args.service,
                "from": format_time(from),
                "from_baku": format_baku(from),
                "until": format_time(until),
                "until_baku": format_baku(until),
            }),
        );
    }
    say(
        io.out,
        &format!(
            "service of card {} prolonged as {} ({}) from {} until {} ({})",
            record.serial,
            args.service,
            service_label(service),
            format_both(from),
            format_both(until),
            renewal::Rule::ProlongedServiceType.citation()
        ),
    )?;
    Ok(())
}
