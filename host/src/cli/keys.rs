//! `asan keys derive` (one card's key file from the master key set) and
//! `asan keys rotate` (replace a card's SCP03 keys, safe to interrupt), and
//! `asan audit verify`.

use std::path::{Path, PathBuf};

use asan_applet::scp03::StaticKeys;

use clap::{Args, Subcommand};
use serde_json::json;

use super::provisioning::{OperatorKeys, station_name};
use super::{Cli, Io, json as print_json, say, transport};
use crate::audit::{self, AuditLog, Event};
use crate::error::{Error, Result};
use crate::provision::{Rotation, replace_keys};
use crate::transport::Transport;
use crate::transport::pcsc::{self, PcscTransport};
use crate::{AsanCard, keys};

/// `keys derive --json`: borrowed from the zeroized key strings.
#[derive(serde::Serialize)]
struct DerivedKeys<'a> {
    serial: &'a str,
    key_version: u8,
    keys: KeyHex<'a>,
}

/// The three keys in hex.
#[derive(serde::Serialize)]
struct KeyHex<'a> {
    enc: &'a str,
    mac: &'a str,
    dek: &'a str,
}

/// `asan keys …`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Print one card's SCP03 key file, derived from the master key set and
    /// the card serial (for support staff; the keys are secret).
    Derive {
        /// The master key set (key file; mode 0600).
        #[arg(long, value_name = "FILE")]
        master_keys: PathBuf,
        /// The card serial, as `asan info` shows it: 16 hex digits (lower
        /// case is taken as upper case).
        #[arg(long, value_name = "S")]
        serial: String,
        /// Write the key file to FILE (created with mode 0600) instead of
        /// standard output.
        /// An existing FILE is refused unless `--force`; the master key
        /// file itself always is.
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
        /// With `-o`: replace FILE if it exists (never the master key
        /// file).
        #[arg(long, requires = "output")]
        force: bool,
    },
    /// Replace the card's SCP03 key set by PUT KEY (a new key version),
    /// checked with a channel opened with the new keys. Safe to interrupt:
    /// the card answers to exactly one of the two sets, and a re-run
    /// finishes.
    Rotate(RotateArgs),
}

/// `asan keys rotate` options.
#[derive(Debug, Args)]
pub struct RotateArgs {
    /// The card's current key set (key file).
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "master_keys",
        required_unless_present = "master_keys"
    )]
    pub keys: Option<PathBuf>,
    /// The current master key set: the card's keys are derived from it.
    #[arg(long, value_name = "FILE")]
    pub master_keys: Option<PathBuf>,
    /// The new master key set (another key version).
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "new_keys",
        required_unless_present = "new_keys"
    )]
    pub new_master_keys: Option<PathBuf>,
    /// The new key set of a single card (key file).
    #[arg(long, value_name = "FILE", conflicts_with = "all_readers")]
    pub new_keys: Option<PathBuf>,
    /// Rotate the card in every reader.
    #[arg(long)]
    pub all_readers: bool,
    /// Secure channel level: 03 or 33.
    #[arg(long, value_name = "LEVEL", default_value = "33", value_parser = ["03", "33"])]
    pub level: String,
    /// Append one hash-chained JSON line per card to this audit trail.
    #[arg(long, value_name = "FILE")]
    pub audit: Option<PathBuf>,
    /// The station's name in the audit trail (default: the host name).
    #[arg(long, value_name = "NAME", requires = "audit")]
    pub station: Option<String>,
}

/// `asan audit …`
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check that an audit trail is whole: every line's hash, its sequence
    /// number and the hash of the line before; report the first gap or edit.
    Verify {
        /// The audit file.
        file: PathBuf,
        /// A head recorded earlier (the hash `verify` printed, e.g. at the
        /// end of a shift): refused unless a line of the trail has it, so
        /// that lines cut from the end, or a last line rewritten, are
        /// caught.
        #[arg(long, value_name = "HASH")]
        head: Option<String>,
    },
}

/// Runs `asan keys …`.
pub fn run(cli: &Cli, cmd: &KeysCommand, io: &mut Io<'_>) -> Result<()> {
    match cmd {
        KeysCommand::Derive {
            master_keys,
            serial,
            output,
            force,
        } => derive(
            cli,
            master_keys,
            serial,
            output.as_deref().map(|o| (o, *force)),
            io,
        ),
        KeysCommand::Rotate(args) => rotate(cli, args, io),
    }
}

/// Whether `a` and `b` name the same existing file (by any path: a
/// symbolic or a hard link).
fn same_file(a: &Path, b: &Path) -> bool {
    let (Ok(ma), Ok(mb)) = (std::fs::metadata(a), std::fs::metadata(b)) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if (ma.dev(), ma.ino()) == (mb.dev(), mb.ino()) {
            return true;
        }
    }
    let _ = (ma, mb);
    matches!(
        (std::fs::canonicalize(a), std::fs::canonicalize(b)),
        (Ok(ca), Ok(cb)) if ca == cb
    )
}

/// Writes one card's key file to `path` for `keys derive -o`: never over
/// the master key file, over another existing file only when `force`.
fn save_derived(path: &Path, master: &Path, card: &StaticKeys, force: bool) -> Result<()> {
    if same_file(path, master) {
        return Err(Error::Usage(format!(
            "{} is the master key file: a card's key file is never written over it",
            path.display()
        )));
    }
    let exists = || {
        Error::Usage(format!(
            "{} exists: not replaced (--force replaces it)",
            path.display()
        ))
    };
    if !force && std::fs::symlink_metadata(path).is_ok() {
        return Err(exists());
    }
    // Hard-linked into place unless `force`: a file that appeared meanwhile
    // is not replaced either.
    keys::save_as(path, card, force).map_err(|e| match e {
        Error::Io { source, .. } if source.kind() == std::io::ErrorKind::AlreadyExists => exists(),
        e => e,
    })
}

fn derive(
    cli: &Cli,
    master_path: &Path,
    serial: &str,
    output: Option<(&Path, bool)>,
    io: &mut Io<'_>,
) -> Result<()> {
    let master = keys::load(master_path)?;
    // As the card reports it: 16 hex digits, upper case.
    let serial = &keys::card_serial(serial)?;
    let card = keys::derive(&master, serial)?;
    // The key version as the key file states it: two hex digits (JSON
    // gives the number, as `provision`, `keys rotate` and `info` do).
    let kvn = format!("{:02X}", card.kvn);
    match output {
        Some((path, force)) => {
            save_derived(path, master_path, &card, force)?;
            if cli.json {
                // Where the keys went; never the keys themselves.
                print_json(
                    io.out,
                    &json!({
                        "serial": serial,
                        "key_version": card.kvn,
                        "output": path.display().to_string(),
                    }),
                )
            } else {
                say(
                    io.out,
                    &format!(
                        "key file of card {serial} (key version {kvn}) written to {}",
                        path.display()
                    ),
                )
            }
        }
        None if cli.json => {
            let keys = zeroize::Zeroizing::new([
                hex::encode_upper(card.enc),
                hex::encode_upper(card.mac),
                hex::encode_upper(card.dek),
            ]);
            let [enc, mac, dek] = &*keys;
            // Written straight from the zeroized strings: no copy of the
            // keys is left in a JSON value.
            let doc = DerivedKeys {
                serial,
                key_version: card.kvn,
                keys: KeyHex { enc, mac, dek },
            };
            say(io.out, &crate::provision::wiped_json(&doc, true))
        }
        None => {
            let text = zeroize::Zeroizing::new(format!(
                "# SCP03 keys of card {serial} (keep secret)\nkvn = {kvn}\nenc = {}\nmac = {}\ndek = {}",
                hex::encode_upper(card.enc),
                hex::encode_upper(card.mac),
                hex::encode_upper(card.dek)
            ));
            say(io.out, &text)
        }
    }
}

/// What happened to one card in `asan keys rotate`.
#[derive(Debug, serde::Serialize)]
struct Rotated {
    reader: String,
    serial: Option<String>,
    /// `rotated`, `already` (an earlier run did it) or `failed`.
    result: &'static str,
    key_version: Option<u8>,
    error: Option<String>,
}

fn rotate_one<T: Transport>(
    card: &mut AsanCard<T>,
    old: &OperatorKeys,
    new: &OperatorKeys,
    level: asan_applet::scp03::SecurityLevel,
    serial: &mut Option<String>,
) -> Result<(Rotation, u8)> {
    let s = card.info()?.serial;
    *serial = Some(s.clone());
    let old = old.for_serial(&s)?;
    let new = new.for_serial(&s)?;
    Ok((replace_keys(card, &old, &new, level)?, new.kvn))
}

fn rotated(reader: String, serial: Option<String>, r: Result<(Rotation, u8)>) -> Rotated {
    match r {
        Ok((how, kvn)) => Rotated {
            reader,
            serial,
            result: match how {
                Rotation::Replaced => "rotated",
                Rotation::AlreadyDone => "already",
            },
            key_version: Some(kvn),
            error: None,
        },
        Err(e) => Rotated {
            reader,
            serial,
            result: "failed",
            key_version: None,
            error: Some(e.to_string()),
        },
    }
}

/// Appends the audit lines of `results`.
fn record(log: &AuditLog, results: &[Rotated]) -> Result<()> {
    for r in results {
        log.append(&Event {
            event: "rotate".into(),
            reader: r.reader.clone(),
            serial: r.serial.clone(),
            key_version: r.key_version,
            result: r.result.into(),
            error: r.error.clone(),
            ..Event::default()
        })?;
    }
    Ok(())
}

/// `keys rotate --all-readers`: rotates the card in each of `readers`,
/// connected by `connect`, one after the other. Each card's audit line is
/// appended (and synced) right after its rotation, before the next reader
/// is touched: a run killed part-way has recorded every card it rotated (a
/// re-run would only see them as `already`). A line that cannot be
/// appended stops the run there.
fn rotate_readers<T: Transport>(
    readers: Vec<String>,
    mut connect: impl FnMut(&str) -> Result<T>,
    old: &OperatorKeys,
    new: &OperatorKeys,
    level: asan_applet::scp03::SecurityLevel,
    audit: Option<&AuditLog>,
) -> Result<Vec<Rotated>> {
    let mut results = Vec::new();
    for name in readers {
        let mut serial = None;
        let r = connect(&name)
            .and_then(AsanCard::open)
            .and_then(|mut card| rotate_one(&mut card, old, new, level, &mut serial));
        let done = rotated(name, serial, r);
        if let Some(log) = audit {
            record(log, std::slice::from_ref(&done))?;
        }
        results.push(done);
    }
    Ok(results)
}

fn rotate(cli: &Cli, args: &RotateArgs, io: &mut Io<'_>) -> Result<()> {
    if args.all_readers && (cli.virtual_card.is_some() || cli.reader.is_some()) {
        return Err(Error::Usage(
            "--all-readers rotates the card in every reader; it does not go with --virtual or --reader".into(),
        ));
    }
    let old = match (&args.master_keys, &args.keys) {
        (Some(m), _) => OperatorKeys::Master(keys::load(m)?),
        (None, Some(k)) => OperatorKeys::Fixed(keys::load(k)?),
        (None, None) => return Err(Error::Usage("--keys or --master-keys is required".into())),
    };
    let new = match (&args.new_master_keys, &args.new_keys) {
        (Some(m), _) => OperatorKeys::Master(keys::load(m)?),
        (None, Some(k)) => OperatorKeys::Fixed(keys::load(k)?),
        (None, None) => {
            return Err(Error::Usage(
                "--new-master-keys or --new-keys is required".into(),
            ));
        }
    };
    let kvn = |k: &OperatorKeys| match k {
        OperatorKeys::Fixed(k) | OperatorKeys::Master(k) => k.kvn,
    };
    if kvn(&old) == kvn(&new) {
        return Err(Error::Usage(format!(
            "the new keys must have another key version than the old ones ({:02X})",
            kvn(&old)
        )));
    }
    let level =
        asan_applet::scp03::SecurityLevel::from_byte(if args.level == "03" { 0x03 } else { 0x33 })
            .ok_or_else(|| Error::Usage("bad level".into()))?;
    let audit = args
        .audit
        .as_deref()
        .map(|f| AuditLog::open(f, &station_name(args.station.as_deref())))
        .transpose()?;
    let mut results = Vec::new();
    if args.all_readers {
        let readers: Vec<String> = pcsc::list_readers()?
            .into_iter()
            .filter(|r| r.asan_imza)
            .map(|r| r.name)
            .collect();
        if readers.is_empty() {
            return Err(Error::NoCard("no reader holds an Asan İmza card".into()));
        }
        results = rotate_readers(
            readers,
            // The listed name exactly: one reader's name may be part of
            // another's.
            PcscTransport::connect_exact,
            &old,
            &new,
            level,
            audit.as_ref(),
        )?;
    } else {
        let mut card = transport::open(cli)?;
        let mut serial = None;
        let r = match (
            rotate_one(&mut card, &old, &new, level, &mut serial),
            &audit,
        ) {
            // One card without a trail: the error is the answer.
            (Err(e), None) => return Err(e),
            (r, _) => r,
        };
        results.push(rotated(card.transport().name(), serial, r));
        if let Some(log) = &audit {
            record(log, &results)?;
        }
    }
    let audit_head = audit
        .as_ref()
        .map(|log| tell_head(log, io.err))
        .transpose()?;
    if cli.json {
        let mut doc = json!({ "cards": results });
        if let Some(head) = audit_head {
            doc["audit_head"] = json!(head);
        }
        print_json(io.out, &doc)?;
    } else {
        for r in &results {
            let serial = r.serial.as_deref().unwrap_or("?");
            let line = match (&r.error, r.key_version) {
                (Some(e), _) => format!("{} ({serial}): failed: {e}", r.reader),
                (None, Some(k)) => {
                    format!("{} ({serial}): {}, key version {k:02X}", r.reader, r.result)
                }
                (None, None) => format!("{} ({serial}): {}", r.reader, r.result),
            };
            say(io.out, &line)?;
        }
    }
    match results.iter().filter(|r| r.result == "failed").count() {
        0 => Ok(()),
        1 if results.len() == 1 => Err(Error::ConditionsNotSatisfied(format!(
            "key rotation failed: {}",
            results
                .first()
                .and_then(|r| r.error.clone())
                .unwrap_or_default()
        ))),
        n => Err(Error::ConditionsNotSatisfied(format!(
            "{n} of {} cards failed",
            results.len()
        ))),
    }
}

/// Runs `asan audit …`.
pub fn audit(cli: &Cli, cmd: &AuditCommand, io: &mut Io<'_>) -> Result<()> {
    match cmd {
        AuditCommand::Verify { file, head: None } => {
            let v = audit::verify(file)?;
            if cli.json {
                print_json(
                    io.out,
                    &json!({ "ok": true, "lines": v.lines, "head": v.head }),
                )
            } else {
                say(
                    io.out,
                    &format!(
                        "{}: whole, {} lines; head {}",
                        file.display(),
                        v.lines,
                        v.head
                    ),
                )
            }
        }
        AuditCommand::Verify {
            file,
            head: Some(recorded),
        } => {
            let (v, anchor) = audit::verify_with_head(file, recorded)?;
            if cli.json {
                print_json(
                    io.out,
                    &json!({
                        "ok": true,
                        "lines": v.lines,
                        "head": v.head,
                        "anchor": {
                            "hash": anchor.hash,
                            "line": anchor.line,
                            "later_lines": anchor.later_lines,
                        },
                    }),
                )
            } else {
                say(
                    io.out,
                    &format!(
                        "{}: whole, {} lines; head {}; recorded head {} is line {}, {} lines after it",
                        file.display(),
                        v.lines,
                        v.head,
                        anchor.hash,
                        anchor.line,
                        anchor.later_lines
                    ),
                )
            }
        }
    }
}

/// Tells the operator the head an appending command left the audit trail
/// at (`audit trail: N lines, head H` on `err`), to be recorded and checked
/// later with `asan audit verify --head`; returns the head.
pub(crate) fn tell_head(log: &AuditLog, err: &mut dyn std::io::Write) -> Result<String> {
    let (lines, head) = log.head()?;
    let s = if lines == 1 { "" } else { "s" };
    say(err, &format!("audit trail: {lines} line{s}, head {head}"))?;
    Ok(head)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::transport::virtual_card::VirtualTransport;
    use asan_applet::scp03::SecurityLevel;

    /// `keys rotate --all-readers` records each card as soon as it is
    /// rotated: when the next reader is connected (where a kill would
    /// strike), the trail already holds the cards before it.
    #[test]
    fn each_card_is_recorded_before_the_next_is_touched() {
        let dir = tempfile::tempdir().unwrap();
        let trail = dir.path().join("audit.jsonl");
        let log = AuditLog::open(&trail, "st-1").unwrap();
        let old = OperatorKeys::Fixed(StaticKeys::default_test_keys());
        let new = OperatorKeys::Master(StaticKeys {
            kvn: 0x31,
            ..StaticKeys::default_test_keys()
        });
        let level = SecurityLevel::from_byte(0x33).unwrap();
        let readers = ["r0", "r1", "r2"].map(String::from).to_vec();
        // The lines on disk each time a reader is connected.
        let mut seen = Vec::new();
        let results = rotate_readers(
            readers,
            |name| {
                let text = std::fs::read_to_string(&trail).unwrap_or_default();
                seen.push((name.to_owned(), text));
                VirtualTransport::in_memory()
            },
            &old,
            &new,
            level,
            Some(&log),
        )
        .unwrap();
        assert_eq!(results.len(), 3);
        assert!(results.iter().all(|r| r.result == "rotated"));
        for (i, (name, text)) in seen.iter().enumerate() {
            let lines: Vec<serde_json::Value> = text
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            assert_eq!(lines.len(), i, "at {name}: {text}");
            for (j, line) in lines.iter().enumerate() {
                assert_eq!(line["reader"], format!("r{j}"), "at {name}");
                assert_eq!(line["result"], "rotated", "at {name}");
                assert_eq!(line["key_version"], 0x31, "at {name}");
            }
        }
        assert_eq!(crate::audit::verify(&trail).unwrap().lines, 3);
    }
}
