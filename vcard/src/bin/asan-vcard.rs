//! `asan-vcard --state FILE [--vpcd HOST:PORT]`: serves a virtual Asan İmza
//! SIM to pcscd through the vpcd driver.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use asan_vcard::{VirtualCard, vpcd};

const USAGE: &str = "usage: asan-vcard --state <FILE> [--vpcd <HOST:PORT>]

Serves a virtual Asan Imza SIM to pcscd through the vpcd driver
(Debian package vsmartcard-vpcd). FILE is the card's persistent image:
created as a fresh card when absent, refused when damaged.

  --state <FILE>        the card image (mode 0600)
  --vpcd <HOST:PORT>    vpcd slot to serve (default 127.0.0.1:35963;
                        the second slot of the default reader is 35964)
  -v, --verbose         log power events and each APDU's header and
                        status word on stderr (never its data)
  --contract 1.0        present the card as one of APDU contract 1.0
                        (without PSO: CDS with PIN2), to test hosts
                        against older cards; the default is 1.1
  -h, --help            this text";

struct Args {
    state: PathBuf,
    vpcd: String,
    verbose: bool,
    contract_1_0: bool,
}

fn parse_args() -> Result<Option<Args>, String> {
    let mut state = None;
    let mut address = vpcd::DEFAULT_ADDRESS.to_owned();
    let mut verbose = false;
    let mut contract_1_0 = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--state" => state = Some(PathBuf::from(args.next().ok_or("--state needs a file")?)),
            "--vpcd" => address = args.next().ok_or("--vpcd needs HOST:PORT")?,
            "-v" | "--verbose" => verbose = true,
            "--contract" => match args.next().as_deref() {
                Some("1.0") => contract_1_0 = true,
                Some("1.1") => contract_1_0 = false,
                other => return Err(format!("--contract takes 1.0 or 1.1, not {other:?}")),
            },
            other => return Err(format!("unknown argument '{other}'")),
        }
    }
    let state = state.ok_or("--state <FILE> is required")?;
    if !address.contains(':') {
        return Err(format!("--vpcd '{address}' is not HOST:PORT"));
    }
    Ok(Some(Args {
        state,
        vpcd: address,
        verbose,
        contract_1_0,
    }))
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(Some(a)) => a,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("asan-vcard: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let (mut card, created) = match VirtualCard::open(&args.state) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("asan-vcard: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.contract_1_0 {
        card.emulate_contract_1_0();
    }
    let what = if created {
        "created a fresh card in"
    } else {
        "loaded"
    };
    eprintln!("asan-vcard: {what} {}", args.state.display());
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(signal, Arc::clone(&stop)) {
            eprintln!("asan-vcard: cannot handle signal {signal}: {e}");
            return ExitCode::FAILURE;
        }
    }
    let verbose = args.verbose;
    vpcd::run(
        &mut card,
        &args.vpcd,
        &stop,
        &mut |line| eprintln!("asan-vcard: {line}"),
        &mut |line| {
            if verbose {
                eprintln!("asan-vcard: {line}");
            }
        },
    );
    eprintln!(
        "asan-vcard: stopped; {} is consistent",
        args.state.display()
    );
    ExitCode::SUCCESS
}
