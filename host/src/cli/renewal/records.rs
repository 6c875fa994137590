//! `asan ca org add|list` (the register of organisations and their heads)
//! and `asan ca notice DIR SERIAL` (a card's activation notice again).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::clock;
use crate::cli::{Cli, Io, json as print_json, say};
use crate::error::{Error, Result};
use crate::renewal::format_time;
use crate::x509::{DevCa, card_record, normalise_serial, registered_organisations};

/// `asan ca org …`
#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Register an organisation and its head (DIR/organisations.json).
    Add {
        /// The CA directory.
        dir: PathBuf,
        /// The organisation's tax id, 10 digits.
        #[arg(long, value_name = "N")]
        voen: String,
        /// The organisation's name.
        #[arg(long, value_name = "TEXT")]
        name: String,
        /// The head's FIN: the serialNumber of their certificates.
        #[arg(long, value_name = "SERIALNUMBER")]
        head: String,
        /// Registered at this instant (RFC 3339) instead of now.
        #[arg(long, value_name = "RFC3339")]
        now: Option<String>,
    },
    /// The registered organisations and their heads.
    List {
        /// The CA directory.
        dir: PathBuf,
    },
}

/// `asan ca notice DIR SERIAL`
#[derive(Debug, Args)]
pub struct NoticeArgs {
    /// The CA directory.
    pub dir: PathBuf,
    /// The card serial (hex).
    pub serial: String,
}

/// `asan ca org add|list`.
pub(super) fn org(cli: &Cli, cmd: &OrgCommand, io: &mut Io<'_>) -> Result<()> {
    match cmd {
        OrgCommand::Add {
            dir,
            voen,
            name,
            head,
            now,
        } => {
            let now = clock(now.as_deref())?.now();
            let ca = DevCa::load(dir)?;
            let o = ca.add_organisation(voen, name, head, &format_time(now))?;
            if cli.json {
                return print_json(io.out, &serde_json::to_value(&o).unwrap_or(Value::Null));
            }
            say(
                io.out,
                &format!(
                    "organisation {} (VÖEN {}) registered, head FIN {}",
                    o.name, o.voen, o.head
                ),
            )
        }
        OrgCommand::List { dir } => {
            DevCa::load(dir)?;
            let list = registered_organisations(dir)?;
            if cli.json {
                return print_json(
                    io.out,
                    &json!({ "organisations": serde_json::to_value(&list).unwrap_or(Value::Null) }),
                );
            }
            if list.is_empty() {
                return say(io.out, "no organisations registered");
            }
            for o in &list {
                say(
                    io.out,
                    &format!(
                        "{}  head {}  {}  (since {})",
                        o.voen, o.head, o.name, o.added
                    ),
                )?;
            }
            Ok(())
        }
    }
}

/// The notice's lines for people.
pub(crate) fn notice_lines(notice: &Value) -> Vec<String> {
    let s = |k: &str| notice[k].as_str().unwrap_or("-").to_owned();
    let mut lines = vec![
        s("notice"),
        format!("  card        {}", s("serial")),
        format!("  User ID     {}", s("user_id")),
        format!(
            "  service     {} until {}",
            s("service"),
            s("service_until")
        ),
        format!("  activated   {}", s("activated")),
    ];
    if let Some(v) = notice["voen"].as_str() {
        lines.push(format!("  VÖEN        {v}"));
    }
    for c in notice["certificates"].as_array().into_iter().flatten() {
        let f = |k: &str| c[k].as_str().unwrap_or("-").to_owned();
        lines.push(format!(
            "  {} {}: {} serial {} until {}",
            f("profile"),
            f("usage"),
            f("subject"),
            f("serial_number"),
            f("not_after")
        ));
    }
    lines
}

/// `asan ca notice DIR SERIAL`.
pub(super) fn notice(cli: &Cli, args: &NoticeArgs, io: &mut Io<'_>) -> Result<()> {
    DevCa::load(&args.dir)?;
    let serial = normalise_serial(&args.serial)?;
    let record = card_record(&args.dir, &serial)?.ok_or_else(|| {
        Error::Refused(format!(
            "the centre has no activation notice for card {serial} in {}",
            args.dir.display()
        ))
    })?;
    let notice = record.notice();
    if cli.json {
        return print_json(io.out, &notice);
    }
    for line in notice_lines(&notice) {
        say(io.out, &line)?;
    }
    Ok(())
}
