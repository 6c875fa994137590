//! The operator's commands on a personalised card, over a secure channel:
//! `asan provision renew`, `asan cert load`, `asan service set`,
//! `asan terminate`, and the secure-channel options they share.

use std::path::{Path, PathBuf};

use asan_applet::scp03::{SecurityLevel, StaticKeys};
use asan_applet::{CertificateProfile, KeyRef, KeyUsage, Service};
use clap::Args;
use serde_json::json;

use super::provisioning::{issuer, load_ca, print_report, service_type};
use super::{Cli, Io, Profile, Usage, json as print_json, say, transport};
use crate::error::{Error, Result};
use crate::info::{profile_name, usage_name};
use crate::operator::Operator;
use crate::pin::{Pin1, Pin2, Puk};
use crate::provision::{self, CardPins};
use crate::transport::Transport;
use crate::{AsanCard, cert, keys};

/// Secure-channel options of operator commands.
#[derive(Debug, Args)]
pub struct OperatorArgs {
    /// SCP03 key file (kvn, enc, mac, dek in hex); without it the
    /// GlobalPlatform default test keys are used, with a warning.
    #[arg(long, value_name = "FILE")]
    pub keys: Option<PathBuf>,
    /// Master SCP03 key set (key file format): the card's own keys are
    /// derived from it and the card serial (`asan keys derive`). With
    /// `asan provision`, --keys names the keys fresh cards come with
    /// (default: the test keys), replaced by the card's own at the end.
    #[arg(long, value_name = "FILE")]
    pub master_keys: Option<PathBuf>,
    /// Secure channel level: 03 (C-MAC, C-DECRYPTION) or 33 (also R-MAC, R-ENC).
    #[arg(long, value_name = "LEVEL", default_value = "33", value_parser = ["03", "33"])]
    pub level: String,
}

/// The keys of an operator command: one key set, or a master key set each
/// card's own keys are derived from.
#[derive(Debug)]
pub enum OperatorKeys {
    /// This key set.
    Fixed(StaticKeys),
    /// Derived from this master key set and the card serial.
    Master(StaticKeys),
}

impl OperatorKeys {
    /// The key set of the card with this serial.
    pub fn for_serial(&self, serial: &str) -> Result<StaticKeys> {
        match self {
            Self::Fixed(k) => Ok(k.clone()),
            Self::Master(m) => keys::derive(m, serial),
        }
    }

    /// The key set of this card (its serial read when derived).
    pub fn for_card<T: Transport>(&self, card: &mut AsanCard<T>) -> Result<StaticKeys> {
        match self {
            Self::Fixed(k) => Ok(k.clone()),
            Self::Master(m) => keys::derive(m, &card.info()?.serial),
        }
    }
}

impl OperatorArgs {
    /// The keys (fixed, or a master set) and level of an operator command
    /// on a personalised card.
    pub fn operator_keys(
        &self,
        err: &mut dyn std::io::Write,
    ) -> Result<(OperatorKeys, SecurityLevel)> {
        match (&self.master_keys, &self.keys) {
            (Some(_), Some(_)) => Err(Error::Usage(
                "--keys and --master-keys both name the card's keys: give one".into(),
            )),
            (Some(m), None) => Ok((OperatorKeys::Master(keys::load(m)?), self.level()?)),
            (None, _) => {
                let (k, level) = self.resolve(err)?;
                Ok((OperatorKeys::Fixed(k), level))
            }
        }
    }

    /// The secure channel level.
    pub fn level(&self) -> Result<SecurityLevel> {
        let level = if self.level == "03" { 0x03 } else { 0x33 };
        SecurityLevel::from_byte(level).ok_or_else(|| Error::Usage("bad level".into()))
    }

    /// The key set and level.
    pub fn resolve(&self, err: &mut dyn std::io::Write) -> Result<(StaticKeys, SecurityLevel)> {
        let keys = match &self.keys {
            Some(path) => keys::load(path)?,
            None => {
                let _ = writeln!(
                    err,
                    "asan: WARNING: no --keys file: using the GlobalPlatform default test keys (40..4F). \
                     Only test cards have them; never use them for cards that go to subscribers."
                );
                StaticKeys::default_test_keys()
            }
        };
        let level = if self.level == "03" { 0x03 } else { 0x33 };
        let level =
            SecurityLevel::from_byte(level).ok_or_else(|| Error::Usage("bad level".into()))?;
        Ok((keys, level))
    }
}

/// `asan provision renew --profile P`: new key pairs of the profile,
/// requests signed with them (the subscriber's PIN1 and PIN2), certificates
/// issued and loaded.
pub fn renew(
    cli: &Cli,
    profile: Profile,
    ca: &Option<PathBuf>,
    requests: &Option<PathBuf>,
    op: &OperatorArgs,
    io: &mut Io<'_>,
) -> Result<()> {
    let (keys, level) = op.operator_keys(io.err)?;
    let pins = CardPins {
        pin1: Pin1::new(&io.pins.read("ASAN_PIN1", "PIN1")?)?,
        pin2: Pin2::new(&io.pins.read("ASAN_PIN2", "PIN2")?)?,
        puk: Puk::new("00000000")?,
    };
    let ca = load_ca(ca)?;
    let issuer = issuer(&ca, requests)?;
    let mut card = transport::open(cli)?;
    let keys = keys.for_card(&mut card)?;
    let profile = CertificateProfile::from(profile);
    let report = provision::renew(
        &mut card,
        profile,
        &pins,
        &keys,
        level,
        &issuer,
        std::time::SystemTime::now(),
    )?;
    print_report(cli, io, &report, None)
}

/// `asan cert load --profile P --usage U FILE`.
pub fn cert_load(
    cli: &Cli,
    profile: Profile,
    usage: Usage,
    file: &Path,
    op: &OperatorArgs,
    io: &mut Io<'_>,
) -> Result<()> {
    let bytes = std::fs::read(file).map_err(|e| Error::Io {
        path: file.display().to_string(),
        source: e,
    })?;
    let der = cert::pem_or_der(&bytes)?;
    let parsed = cert::parse(&der)?;
    let key = KeyRef::new(CertificateProfile::from(profile), KeyUsage::from(usage));
    let (keys, level) = op.operator_keys(io.err)?;
    let mut card = transport::open(cli)?;
    let keys = keys.for_card(&mut card)?;
    let on_card = card.public_key(key)?;
    if cert::public_key_bytes(&parsed) != on_card.to_sec1_point(false).as_bytes() {
        return Err(Error::Certificate(format!(
            "{} does not certify the card's {} {} key",
            file.display(),
            profile_name(key.profile),
            usage_name(key.usage)
        )));
    }
    let extended = card.transport().extended_length();
    card.exclusive(|a| Operator::open(a, &keys, level, extended)?.write_certificate(key, &der))?;
    card.select()?;
    let message = format!(
        "{} {} certificate loaded: {}",
        profile_name(key.profile),
        usage_name(key.usage),
        parsed.tbs_certificate().subject()
    );
    done(cli, io, &message)
}

/// `asan service set <type> <active|suspended>`.
pub fn service_set(
    cli: &Cli,
    kind: Profile,
    state: &str,
    op: &OperatorArgs,
    io: &mut Io<'_>,
) -> Result<()> {
    let active = match state {
        "active" => true,
        "suspended" => false,
        other => {
            return Err(Error::Usage(format!(
                "state must be active or suspended, not {other}"
            )));
        }
    };
    let (keys, level) = op.operator_keys(io.err)?;
    let mut card = transport::open(cli)?;
    let keys = keys.for_card(&mut card)?;
    let extended = card.transport().extended_length();
    let service = Service {
        kind: service_type(kind),
        active,
    };
    card.exclusive(|a| Operator::open(a, &keys, level, extended)?.set_service(service))?;
    card.select()?;
    done(
        cli,
        io,
        &format!(
            "service set: {} {state}",
            crate::info::service_name(service.kind)
        ),
    )
}

/// `asan terminate`: asks to type the card serial, unless `--yes`.
pub fn terminate(cli: &Cli, yes: bool, op: &OperatorArgs, io: &mut Io<'_>) -> Result<()> {
    let (keys, level) = op.operator_keys(io.err)?;
    let mut card = transport::open(cli)?;
    let serial = card.info()?.serial;
    let keys = keys.for_serial(&serial)?;
    if !yes {
        let _ = writeln!(
            io.err,
            "Terminating card {serial} is irreversible: it will never sign again. Type its serial to confirm:"
        );
        let typed = io.pins.read_visible("ASAN_CONFIRM", "serial")?;
        if typed.trim() != serial {
            return Err(Error::Usage(
                "confirmation does not match the serial; nothing was done".into(),
            ));
        }
    }
    let extended = card.transport().extended_length();
    card.exclusive(|a| Operator::open(a, &keys, level, extended)?.terminate())?;
    card.select()?;
    done(cli, io, &format!("card {serial} terminated"))
}

fn done(cli: &Cli, io: &mut Io<'_>, message: &str) -> Result<()> {
    if cli.json {
        print_json(io.out, &json!({ "ok": true, "message": message }))
    } else {
        say(io.out, message)
    }
}

use p256::elliptic_curve::sec1::ToSec1Point as _;
