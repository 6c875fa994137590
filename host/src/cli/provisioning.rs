//! `asan provision`: one card, `--all-readers`, or the station
//! (`--watch`, in `station/`).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use asan_applet::ServiceType;
use asan_applet::scp03::StaticKeys;
use clap::Args;
use serde_json::json;

use super::keys::tell_head;
pub use super::operator::{OperatorArgs, OperatorKeys};
use super::{Cli, Io, Profile, json as print_json, say, transport};
use crate::audit::{AuditLog, Event};
use crate::error::{Error, Result};
use crate::pin::{Pin1, Pin2, Puk};
use crate::provision::{self, CardPins, CardReport, Issuer, Personalisation, SubjectSpec};
use crate::transport::Transport;
use crate::transport::pcsc::{self, PcscTransport};
use crate::x509::DevCa;
use crate::{AsanCard, keys};

/// `asan provision` options.
#[derive(Debug, Args)]
pub struct ProvisionArgs {
    /// The subscriber's service type.
    #[arg(long, value_enum)]
    pub service: Option<Profile>,
    /// Development CA directory (`asan ca init`): certificates are issued and written at once.
    #[arg(long, value_name = "DIR")]
    pub ca: Option<PathBuf>,
    /// Without a CA here: write the certificate requests to DIR for the certification centre.
    #[arg(long, value_name = "DIR", conflicts_with = "ca")]
    pub requests: Option<PathBuf>,
    /// Append the PIN mailer line (serial, PIN1, PIN2, PUK as JSON) to FILE (mode 0600).
    #[arg(long, value_name = "FILE")]
    pub mailer: Option<PathBuf>,
    /// Personalise every fresh card present, in parallel.
    #[arg(long)]
    pub all_readers: bool,
    /// Station mode: wait on every reader and personalise each card as it
    /// is inserted, until Ctrl-C (which finishes the cards in progress).
    #[arg(long, conflicts_with_all = ["all_readers", "report", "notice"])]
    pub watch: bool,
    /// Also write the JSON report of a batch to FILE.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// With --ca: write the card's activation notice (JSON: user_id, the
    /// card serial, the certificates) to FILE, mode 0600.
    #[arg(long, value_name = "FILE")]
    pub notice: Option<PathBuf>,
    /// Subscriber's name (certificate CN); default: a test name from the card serial.
    #[arg(long)]
    pub name: Option<String>,
    /// Subscriber's personal identification (serialNumber); default: from the card serial.
    #[arg(long)]
    pub id: Option<String>,
    /// Organisation (Business and Governmental).
    #[arg(long)]
    pub org: Option<String>,
    /// Tax id VÖEN, 10 digits (Business).
    #[arg(long)]
    pub voen: Option<String>,
    /// Append one hash-chained JSON line per card to this audit trail
    /// (`asan audit verify FILE` checks it).
    #[arg(long, value_name = "FILE")]
    pub audit: Option<PathBuf>,
    /// The station's name in the audit trail (default: the host name).
    #[arg(long, value_name = "NAME", requires = "audit")]
    pub station: Option<String>,
    /// Secure channel options.
    #[command(flatten)]
    pub operator: OperatorArgs,
}

/// The station name: given, or the host name.
pub fn station_name(given: Option<&str>) -> String {
    given.map(str::to_owned).unwrap_or_else(|| {
        std::fs::read_to_string("/etc/hostname")
            .ok()
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "station".into())
    })
}

pub(super) fn service_type(p: Profile) -> ServiceType {
    match p {
        Profile::Citizen => ServiceType::Citizen,
        Profile::Business => ServiceType::Business,
        Profile::Government => ServiceType::Governmental,
    }
}

fn subject(args: &ProvisionArgs) -> SubjectSpec {
    SubjectSpec {
        name: args.name.clone(),
        id: args.id.clone(),
        organisation: args.org.clone(),
        voen: args.voen.clone(),
    }
}

/// PINs from the environment (all three), or `None` to generate them.
fn pins_from_env(io: &mut Io<'_>) -> Result<Option<CardPins>> {
    let any = ["ASAN_PIN1", "ASAN_PIN2", "ASAN_PUK"]
        .iter()
        .any(|v| std::env::var(v).is_ok());
    if !any {
        return Ok(None);
    }
    Ok(Some(CardPins {
        pin1: Pin1::new(&io.pins.read("ASAN_PIN1", "PIN1")?)?,
        pin2: Pin2::new(&io.pins.read("ASAN_PIN2", "PIN2")?)?,
        puk: Puk::new(&io.pins.read("ASAN_PUK", "PUK")?)?,
    }))
}

pub(super) fn load_ca(dir: &Option<PathBuf>) -> Result<Option<DevCa>> {
    dir.as_deref().map(DevCa::load).transpose()
}

pub(super) fn issuer<'a>(ca: &'a Option<DevCa>, requests: &Option<PathBuf>) -> Result<Issuer<'a>> {
    match (ca, requests) {
        (Some(ca), _) => Ok(Issuer::Ca(ca)),
        (None, Some(dir)) => Ok(Issuer::Requests(dir.clone())),
        (None, None) => Err(Error::Usage(
            "say who issues the certificates: --ca DIR (development CA) or --requests DIR".into(),
        )),
    }
}

/// One card's report; with `--json`, `audit_head` is added to it when the
/// run appended to an audit trail.
pub(super) fn print_report(
    cli: &Cli,
    io: &mut Io<'_>,
    r: &CardReport,
    audit_head: Option<&str>,
) -> Result<()> {
    if cli.json {
        let mut doc = serde_json::to_value(r).unwrap_or_default();
        if let (Some(head), Some(map)) = (audit_head, doc.as_object_mut()) {
            map.insert("audit_head".into(), json!(head));
        }
        return print_json(io.out, &doc);
    }
    let serial = r.serial.as_deref().unwrap_or("?");
    match r.error.as_deref() {
        Some(e) => say(
            io.out,
            &format!("{} ({serial}): {}: {e}", r.reader, r.result),
        )?,
        None => say(io.out, &format!("{} ({serial}): {}", r.reader, r.result))?,
    }
    for c in &r.certificates {
        say(io.out, &format!("  {c}"))?;
    }
    Ok(())
}

/// `asan provision`.
pub fn provision(cli: &Cli, args: &ProvisionArgs, io: &mut Io<'_>) -> Result<()> {
    let service = args
        .service
        .map(service_type)
        .ok_or_else(|| Error::Usage("--service citizen|business|government is required".into()))?;
    if args.all_readers && (cli.virtual_card.is_some() || cli.reader.is_some()) {
        return Err(Error::Usage(
            "--all-readers personalises the card in every reader; it does not go with --virtual or --reader".into(),
        ));
    }
    if args.watch && (cli.virtual_card.is_some() || cli.reader.is_some() || cli.json) {
        return Err(Error::Usage(
            "--watch watches every reader and prints a line per event; it does not go with --virtual, --reader or --json".into(),
        ));
    }
    if args.notice.is_some() && (args.ca.is_none() || args.all_readers) {
        return Err(Error::Usage(
            "--notice FILE writes the activation notice of one card from the development CA: it needs --ca DIR and does not go with --all-readers".into(),
        ));
    }
    let master = args
        .operator
        .master_keys
        .as_deref()
        .map(keys::load)
        .transpose()?;
    let (keys, level) = match (&master, &args.operator.keys) {
        // The test keys only open the first channel of a fresh card.
        (Some(_), None) => (StaticKeys::default_test_keys(), args.operator.level()?),
        _ => args.operator.resolve(io.err)?,
    };
    if let Some(m) = &master
        && m.kvn == keys.kvn
    {
        return Err(Error::Usage(format!(
            "the master key set has version {:02X}, like the keys the cards come with: give it another key version",
            m.kvn
        )));
    }
    let audit = args
        .audit
        .as_deref()
        .map(|f| AuditLog::open(f, &station_name(args.station.as_deref())))
        .transpose()?;
    let pins = pins_from_env(io)?;
    if pins.is_none() && args.mailer.is_none() {
        return Err(Error::Usage(
            "PINs are generated: give --mailer FILE for them (or set ASAN_PIN1, ASAN_PIN2 and ASAN_PUK)".into(),
        ));
    }
    let ca = load_ca(&args.ca)?;
    let plan = Personalisation {
        service,
        subject: subject(args),
        pins,
        keys,
        master,
        level,
        issuer: issuer(&ca, &args.requests)?,
        mailer: args.mailer.clone(),
        now: std::time::SystemTime::now(),
    };
    let service_name = crate::info::service_name(service);
    if args.watch {
        let reports = super::station::watch(&plan, audit.as_ref(), service_name);
        if let Some(log) = &audit {
            tell_head(log, io.err)?;
        }
        let reports = reports?;
        let failed = reports.iter().filter(|r| r.result == "failed").count();
        // A card that failed and came back done is not counted twice.
        let done: std::collections::HashSet<_> = reports
            .iter()
            .filter(|r| r.result != "failed")
            .filter_map(|r| r.serial.clone())
            .collect();
        let open = reports
            .iter()
            .filter(|r| r.result == "failed")
            .filter(|r| r.serial.as_ref().is_none_or(|s| !done.contains(s)))
            .count();
        return match open {
            0 => Ok(()),
            n => Err(Error::ConditionsNotSatisfied(format!(
                "{n} card(s) failed and were not finished ({failed} failures in all)"
            ))),
        };
    }
    if args.all_readers {
        return batch(cli, args, &plan, audit.as_ref(), io);
    }
    let mut card = transport::open(cli)?;
    let reader = card.transport().name();
    let result = provision::personalise(&mut card, &plan);
    if let Some(log) = &audit {
        let report = match &result {
            Ok(r) => r.clone(),
            Err(e) => CardReport::failed(reader, card.info().ok().map(|i| i.serial), e.to_string()),
        };
        log.append(&Event::of_report("provision", &report, Some(service_name)))?;
    }
    let audit_head = audit
        .as_ref()
        .map(|log| tell_head(log, io.err))
        .transpose()?;
    let report = result?;
    if let (Some(file), Some(dir), Some(serial)) = (&args.notice, &args.ca, &report.serial) {
        write_notice(file, dir, serial)?;
    }
    print_report(cli, io, &report, audit_head.as_deref())?;
    if let (Some(file), false) = (&args.notice, cli.json) {
        say(
            io.out,
            &format!("  activation notice (User ID): {}", file.display()),
        )?;
    }
    Ok(())
}

/// Writes the activation notice of card `serial` from the CA in `dir` to
/// `file` (atomically, mode 0600: it holds the User ID).
fn write_notice(file: &Path, dir: &Path, serial: &str) -> Result<()> {
    let record = crate::x509::card_record(dir, serial)?.ok_or_else(|| {
        Error::Refused(format!(
            "card {serial} has no activation record in {}: its certificates were not issued by this CA",
            dir.display()
        ))
    })?;
    let mut json = serde_json::to_vec_pretty(&record.notice()).unwrap_or_default();
    json.push(b'\n');
    crate::files::write_private(file, &json)
}

fn batch(
    cli: &Cli,
    args: &ProvisionArgs,
    plan: &Personalisation<'_>,
    audit: Option<&AuditLog>,
    io: &mut Io<'_>,
) -> Result<()> {
    let readers: Vec<String> = pcsc::list_readers()?
        .into_iter()
        .filter(|r| r.asan_imza)
        .map(|r| r.name)
        .collect();
    if readers.is_empty() {
        return Err(Error::NoCard("no reader holds an Asan İmza card".into()));
    }
    let total = readers.len();
    // A bar on a terminal (indicatif draws only there), one line per card
    // otherwise, so logs and pipes get plain text.
    let terminal = std::io::stderr().is_terminal();
    let bar = if terminal {
        indicatif::ProgressBar::new(total as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("[{bar:20}] {pos}/{len}  {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("#>."),
    );
    let progress = Mutex::new(());
    // Cards whose line the audit trail could not take.
    let unrecorded = std::sync::atomic::AtomicUsize::new(0);
    let reports: Vec<CardReport> = std::thread::scope(|s| {
        let handles: Vec<_> = readers
            .iter()
            .map(|name| {
                let progress = &progress;
                let bar = &bar;
                let unrecorded = &unrecorded;
                s.spawn(move || {
                    let report = match PcscTransport::connect_exact(name).and_then(AsanCard::open) {
                        Ok(mut card) => provision::personalise_reporting(&mut card, &plan.now()),
                        Err(e) => CardReport::failed(name.clone(), None, e.to_string()),
                    };
                    if let Some(log) = audit {
                        let service = crate::info::service_name(plan.service);
                        if let Err(e) =
                            log.append(&Event::of_report("provision", &report, Some(service)))
                        {
                            unrecorded.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            let _ = writeln!(
                                std::io::stderr(),
                                "asan: audit trail: {e}: card {} in {} is not recorded",
                                report.serial.as_deref().unwrap_or("?"),
                                report.reader
                            );
                        }
                    }
                    if let Ok(_one_at_a_time) = progress.lock() {
                        let line = format!("{}: {}", report.reader, report.result);
                        if terminal {
                            bar.set_message(line);
                            bar.inc(1);
                        } else {
                            let done = bar.position() + 1;
                            bar.set_position(done);
                            let _ = writeln!(std::io::stderr(), "{done}/{total}  {line}");
                        }
                    }
                    report
                })
            })
            .collect();
        // A run that panicked is a failed card, never a missing one.
        handles
            .into_iter()
            .zip(readers.iter())
            .map(|(h, name)| {
                h.join().unwrap_or_else(|_| {
                    CardReport::failed(
                        name.clone(),
                        None,
                        "internal error: the card's run stopped unexpectedly".into(),
                    )
                })
            })
            .collect()
    });
    bar.finish();
    let audit_head = audit.map(|log| tell_head(log, io.err)).transpose()?;
    let count = |r: &str| reports.iter().filter(|c| c.result == r).count();
    let mut doc = json!({
        "cards": reports,
        "summary": {
            "personalised": count("personalised"),
            "resumed": count("resumed"),
            "skipped": count("skipped"),
            "failed": count("failed"),
        }
    });
    if let Some(head) = audit_head {
        doc["audit_head"] = json!(head);
    }
    if let Some(path) = &args.report {
        // Whole or not at all (it names the cards and their certificates).
        let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
        text.push('\n');
        crate::files::write_whole(path, text.as_bytes(), false, true)?;
    }
    if cli.json {
        print_json(io.out, &doc)?;
    } else {
        for r in &reports {
            print_report(cli, io, r, None)?;
        }
    }
    let unrecorded = unrecorded.into_inner();
    if unrecorded > 0 {
        return Err(Error::ConditionsNotSatisfied(format!(
            "the audit trail could not record {unrecorded} card(s); see the messages above"
        )));
    }
    match count("failed") {
        0 => Ok(()),
        n => Err(Error::ConditionsNotSatisfied(format!(
            "{n} of {total} cards failed; see the report"
        ))),
    }
}
