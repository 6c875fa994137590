//! `asan pin status | verify | change | unblock`.

use serde_json::json;

use super::{Cli, Io, PinCommand, PinName, json as print_json, say, transport};
use crate::error::{Error, Result, pin_name};
use crate::pin::{AnyPin, Puk};

fn env_var(pin: PinName) -> &'static str {
    match pin {
        PinName::Pin1 => "ASAN_PIN1",
        PinName::Pin2 => "ASAN_PIN2",
        PinName::Puk => "ASAN_PUK",
    }
}

/// Runs a `pin` subcommand.
pub fn run(cli: &Cli, cmd: &PinCommand, io: &mut Io<'_>) -> Result<()> {
    // Read and check every PIN before touching the card: a typo costs nothing.
    match cmd {
        PinCommand::Status => {
            let mut card = transport::open(cli)?;
            let pins = card.pin_status()?;
            if cli.json {
                return print_json(io.out, &serde_json::to_value(pins).unwrap_or_default());
            }
            for pin in asan_applet::PinRef::ALL {
                let p = pins.get(pin);
                let line = if !p.set {
                    format!("{}: not set", pin_name(pin))
                } else if p.blocked() {
                    format!("{}: blocked", pin_name(pin))
                } else {
                    format!(
                        "{}: {} of {} tries left",
                        pin_name(pin),
                        p.tries_left,
                        p.max_tries
                    )
                };
                say(io.out, &line)?;
            }
            Ok(())
        }
        PinCommand::Verify { pin } => {
            let value = io.pins.read(env_var(*pin), pin_name(pin.kind()))?;
            let value = AnyPin::new(pin.kind(), &value)?;
            let mut card = transport::open(cli)?;
            card.verify_any(&value)?;
            done(cli, io, &format!("{} is correct", pin_name(pin.kind())))
        }
        PinCommand::Change { pin } => {
            let old = io
                .pins
                .read(env_var(*pin), &format!("current {}", pin_name(pin.kind())))?;
            let old = AnyPin::new(pin.kind(), &old)?;
            let new = io.pins.read_new(&format!("new {}", pin_name(pin.kind())))?;
            let new = AnyPin::new(pin.kind(), &new)?;
            let mut card = transport::open(cli)?;
            card.change_pin(&old, &new)?;
            done(cli, io, &format!("{} changed", pin_name(pin.kind())))
        }
        PinCommand::Unblock { pin, keep } => {
            if *pin == PinName::Puk {
                return Err(Error::Usage(
                    "the PUK cannot be unblocked; a blocked PUK means a new SIM from the operator"
                        .into(),
                ));
            }
            let puk = io.pins.read("ASAN_PUK", "PUK")?;
            let puk = Puk::new(&puk)?;
            let new = if *keep {
                None
            } else {
                let v = io.pins.read_new(&format!("new {}", pin_name(pin.kind())))?;
                Some(AnyPin::new(pin.kind(), &v)?)
            };
            let mut card = transport::open(cli)?;
            card.unblock(Some(pin.kind()), &puk, new.as_ref())?;
            let what = if *keep {
                "unblocked, value kept"
            } else {
                "unblocked with a new value"
            };
            done(cli, io, &format!("{} {what}", pin_name(pin.kind())))
        }
    }
}

fn done(cli: &Cli, io: &mut Io<'_>, message: &str) -> Result<()> {
    if cli.json {
        print_json(io.out, &json!({ "ok": true, "message": message }))
    } else {
        say(io.out, message)
    }
}
