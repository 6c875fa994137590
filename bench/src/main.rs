//! `asan-bench`: the performance figures of the Asan İmza toolchain, each
//! measured against its floor in the same run (see `docs/performance.md`).
//!
//! ```text
//! asan-bench [--json] [--iterations N] [--rounds R] [--cards N]
//!            [--wait-minutes M] [SECTION...]
//! ```
//!
//! Sections: `signing` (VERIFY + PSO through the host API and the applet
//! against raw `p256`), `roundtrip` (host library over pcscd + vpcd against
//! bare `pcsc` transmits), `apdus` (APDU counts per operation), `wire` (the
//! APDUs of `asan` commands through pcscd, counted by a vpcd relay), `batch`
//! (provisioning through pcscd on 1 and 4 virtual readers), `memory` (peak
//! RSS of `asan sign FILE`, card image, applet buffers), `pkcs11` (a
//! signature through the PKCS#11 module, loaded with `cryptoki`, against the
//! host library's on the same card through pcscd + vpcd, with the APDUs of
//! each counted in the card's log), `pades` (`asan sign --pades` on a
//! 200 MiB PDF: peak RSS and time against `sha256sum`), `station` (cards
//! per minute of `asan provision --watch` on 1 and 4 virtual readers, cards
//! inserted and removed by starting and stopping `asan-vcard`); `all` (the default)
//! runs every one.
//! `--json` prints one JSON object on stdout. `ASAN_PKCS11_MODULE=PATH`
//! measures another module than `libasan_pkcs11.so` beside the bench.
#![forbid(unsafe_code)]

mod apdus;
mod batch;
mod fixture;
mod memory;
mod pades;
mod pkcs11;
mod procs;
mod recording;
mod roundtrip;
mod signing;
mod stack;
mod station;
mod stats;
mod wire;

use std::process::ExitCode;

use serde_json::{Value, json};

/// Errors of the bench: boxed, with a message.
pub type BoxResult<T> = Result<T, Box<dyn std::error::Error>>;

/// What a section measured: JSON for tooling, lines for people.
#[derive(Debug, Default)]
pub struct Section {
    /// The figures.
    pub json: Value,
    /// The same, as text.
    pub lines: Vec<String>,
}

/// Command-line options.
#[derive(Debug, Clone)]
pub struct Options {
    /// Print JSON.
    pub json: bool,
    /// Operations per timed block.
    pub iterations: usize,
    /// Timed blocks per side (interleaved).
    pub rounds: usize,
    /// Cards provisioned on one reader in the batch section.
    pub cards: usize,
    /// How long the batch section waits for other users' vpcd slots.
    pub wait_minutes: u64,
}

const SECTIONS: [&str; 9] = [
    "signing",
    "roundtrip",
    "apdus",
    "wire",
    "batch",
    "memory",
    "pkcs11",
    "pades",
    "station",
];

const USAGE: &str = "usage: asan-bench [--json] [--iterations N] [--rounds R] [--cards N] [--wait-minutes M] [SECTION...]
sections: signing roundtrip apdus wire batch memory pkcs11 pades station all (default: all)
env: ASAN_BENCH_VCARD=PATH (another asan-vcard), ASAN_PKCS11_MODULE=PATH (another libasan_pkcs11.so)";

fn number<T: std::str::FromStr>(v: Option<String>, name: &str) -> BoxResult<T> {
    v.and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{name} needs a number").into())
}

fn parse_args() -> BoxResult<Option<(Options, Vec<String>)>> {
    let mut o = Options {
        json: false,
        iterations: 200,
        rounds: 10,
        cards: 3,
        wait_minutes: 20,
    };
    let mut sections = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "-h" | "--help" => return Ok(None),
            "--json" => o.json = true,
            "--iterations" => o.iterations = number(args.next(), "--iterations")?,
            "--rounds" => o.rounds = number(args.next(), "--rounds")?,
            "--cards" => o.cards = number(args.next(), "--cards")?,
            "--wait-minutes" => o.wait_minutes = number(args.next(), "--wait-minutes")?,
            "all" => sections.extend(SECTIONS.iter().map(|s| (*s).to_owned())),
            s if SECTIONS.contains(&s) => sections.push(s.to_owned()),
            other => return Err(format!("unknown argument '{other}'\n{USAGE}").into()),
        }
    }
    if sections.is_empty() {
        sections.extend(SECTIONS.iter().map(|s| (*s).to_owned()));
    }
    o.iterations = o.iterations.max(1);
    o.rounds = o.rounds.max(1);
    o.cards = o.cards.max(1);
    Ok(Some((o, sections)))
}

fn proc_field(path: &str, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_owned())
}

/// The machine the figures were measured on.
fn machine() -> Value {
    json!({
        "nproc": std::thread::available_parallelism().map(usize::from).unwrap_or(1),
        "cpu": proc_field("/proc/cpuinfo", "model name").unwrap_or_default(),
        "memory": proc_field("/proc/meminfo", "MemTotal").unwrap_or_default(),
        "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_owned())
            .unwrap_or_default(),
        "build": if cfg!(debug_assertions) { "debug" } else { "release" },
    })
}

fn run_section(name: &str, o: &Options) -> BoxResult<Section> {
    match name {
        "signing" => signing::run(o),
        "roundtrip" => roundtrip::run(o),
        "apdus" => apdus::run(o),
        "wire" => wire::run(o),
        "batch" => batch::run(o),
        "memory" => memory::run(o),
        "pkcs11" => pkcs11::run(o),
        "pades" => pades::run(o),
        "station" => station::run(o),
        other => Err(format!("unknown section {other}").into()),
    }
}

/// The child side of the stack measurement: `--stack-probe BYTES idle|work`.
fn stack_probe(args: &[String]) -> Option<ExitCode> {
    let [flag, bytes, mode] = args else {
        return None;
    };
    if flag != "--stack-probe" {
        return None;
    }
    let bytes: usize = bytes.parse().ok()?;
    Some(match stack::probe(bytes, mode == "work") {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(code) = stack_probe(&args) {
        return code;
    }
    let (o, sections) = match parse_args() {
        Ok(Some(x)) => x,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("asan-bench: {e}");
            return ExitCode::from(2);
        }
    };
    let m = machine();
    if !o.json {
        println!("machine: {m}");
    }
    let mut out = serde_json::Map::new();
    let mut failed = false;
    for name in &sections {
        eprintln!("asan-bench: {name} ...");
        let value = match run_section(name, &o) {
            Ok(s) => {
                if !o.json {
                    println!("\n== {name}");
                    for l in &s.lines {
                        println!("{l}");
                    }
                }
                s.json
            }
            Err(e) => {
                failed = true;
                eprintln!("asan-bench: {name}: {e}");
                json!({ "error": e.to_string() })
            }
        };
        out.insert(name.clone(), value);
    }
    if o.json {
        println!("{}", json!({ "machine": m, "sections": out }));
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
