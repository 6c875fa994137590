//! `asan readers`, `asan info`, `asan cert read`.

use std::path::Path;

use asan_applet::{CertificateProfile, KeyRef, KeyUsage};
use serde_json::{Value, json};

use super::{Cli, Io, Profile, Usage, json as print_json, say, transport};
use crate::cert;
use crate::error::{Error, Result, pin_name};
use crate::info::{profile_name, usage_name};
use crate::transport::{Transport, pcsc};

/// `asan readers`.
pub fn readers(cli: &Cli, io: &mut Io<'_>) -> Result<()> {
    let list = match &cli.virtual_card {
        Some(path) => {
            // An image that cannot be used is an error, not "no applet".
            transport::open(cli)?;
            vec![pcsc::ReaderReport {
                name: format!("virtual card {}", path.display()),
                card_present: true,
                asan_imza: true,
                atr: Some(hex::encode_upper(asan_vcard::atr::ATR)),
            }]
        }
        None => pcsc::list_readers()?,
    };
    if cli.json {
        return print_json(io.out, &json!({ "readers": list }));
    }
    if list.is_empty() {
        return say(io.out, "no readers");
    }
    for r in &list {
        let state = match (r.card_present, r.asan_imza) {
            (_, true) => "Asan İmza card",
            (true, false) => "card, no Asan İmza applet",
            (false, _) => "no card",
        };
        say(io.out, &format!("{}: {state}", r.name))?;
    }
    Ok(())
}

/// One certificate's summary, or the reason it could not be read.
fn certificate_entry(
    card: &mut crate::AsanCard<transport::AnyTransport>,
    key: KeyRef,
    now: i64,
) -> Value {
    let profile = profile_name(key.profile);
    let usage = usage_name(key.usage);
    match card
        .read_certificate_der(key)
        .and_then(|der| cert::parse(&der))
    {
        Ok(c) => {
            serde_json::to_value(cert::summary(&c, profile, usage, now)).unwrap_or(Value::Null)
        }
        Err(e) => json!({ "profile": profile, "usage": usage, "error": e.to_string() }),
    }
}

/// `asan info`.
pub fn info(cli: &Cli, io: &mut Io<'_>) -> Result<()> {
    let mut card = transport::open(cli)?;
    let info = card.info()?;
    let now = cert::now_seconds();
    let certificates: Vec<Value> = info
        .keys
        .iter()
        .filter(|k| k.certificate_len > 0)
        .map(|k| certificate_entry(&mut card, k.key, now))
        .collect();
    if cli.json {
        let mut v = serde_json::to_value(&info).unwrap_or(Value::Null);
        if let Some(obj) = v.as_object_mut() {
            obj.insert("certificates".into(), Value::Array(certificates));
            obj.insert("card".into(), Value::String(card.transport().name()));
        }
        return print_json(io.out, &v);
    }
    say(
        io.out,
        &format!("Card          {}", card.transport().name()),
    )?;
    say(io.out, &format!("Serial        {}", info.serial))?;
    say(io.out, &format!("Life cycle    {}", info.life_cycle))?;
    let service = match info.service {
        Some(s) => format!(
            "{}, {}",
            s.kind,
            if s.active { "active" } else { "suspended" }
        ),
        None => "not set".into(),
    };
    say(io.out, &format!("Service       {service}"))?;
    for pin in asan_applet::PinRef::ALL {
        let p = info.pins.get(pin);
        let state = if !p.set {
            "not set".to_owned()
        } else if p.blocked() {
            "BLOCKED".to_owned()
        } else {
            format!("{} of {} tries left", p.tries_left, p.max_tries)
        };
        say(io.out, &format!("{:<13} {state}", pin_name(pin)))?;
    }
    if certificates.is_empty() {
        return say(io.out, "Certificates  none");
    }
    say(io.out, "Certificates")?;
    for c in &certificates {
        let head = format!(
            "  {} {}",
            c["profile"].as_str().unwrap_or("?"),
            c["usage"].as_str().unwrap_or("?")
        );
        if let Some(e) = c["error"].as_str() {
            say(io.out, &format!("{head}: {e}"))?;
            continue;
        }
        say(
            io.out,
            &format!("{head}: {}", c["subject"].as_str().unwrap_or("")),
        )?;
        say(
            io.out,
            &format!("    issuer    {}", c["issuer"].as_str().unwrap_or("")),
        )?;
        let days = c["days_left"].as_i64().unwrap_or(0);
        let left = if days < 0 {
            "expired".to_owned()
        } else {
            format!("{days} days left")
        };
        say(
            io.out,
            &format!(
                "    valid     {} to {} ({left})",
                c["not_before"].as_str().unwrap_or(""),
                c["not_after"].as_str().unwrap_or("")
            ),
        )?;
    }
    Ok(())
}

/// `asan cert read`.
pub fn cert_read(
    cli: &Cli,
    profile: Profile,
    usage: Usage,
    output: Option<&Path>,
    pem: bool,
    io: &mut Io<'_>,
) -> Result<()> {
    let mut card = transport::open(cli)?;
    let key = KeyRef::new(CertificateProfile::from(profile), KeyUsage::from(usage));
    let der = card.read_certificate_der(key)?;
    let parsed = cert::parse(&der)?;
    let summary = cert::summary(
        &parsed,
        profile_name(key.profile),
        usage_name(key.usage),
        cert::now_seconds(),
    );
    if let Some(path) = output {
        let bytes = if pem {
            cert::to_pem(&der).into_bytes()
        } else {
            der.clone()
        };
        crate::files::write_whole(path, &bytes, false, true)?;
    }
    if cli.json {
        let mut v = serde_json::to_value(&summary).unwrap_or(Value::Null);
        if let Some(obj) = v.as_object_mut() {
            obj.insert("pem".into(), Value::String(cert::to_pem(&der)));
            if let Some(p) = output {
                obj.insert("file".into(), Value::String(p.display().to_string()));
            }
        }
        return print_json(io.out, &v);
    }
    match output {
        Some(p) => say(
            io.out,
            &format!(
                "{} {} certificate ({}) written to {}",
                summary.profile,
                summary.usage,
                summary.subject,
                p.display()
            ),
        ),
        None => write_text(io.out, &cert::to_pem(&der)),
    }
}

fn write_text(out: &mut dyn std::io::Write, text: &str) -> Result<()> {
    out.write_all(text.as_bytes()).map_err(|e| Error::Io {
        path: "<output>".into(),
        source: e,
    })
}
