//! APDU-transcript tests: every `*.apdu` file under `test-vectors/apdu/` is
//! replayed against its own fresh card, and each response is matched against
//! the expectation written in the file. The format is documented in
//! `test-vectors/apdu/README.md`.
//!
//! All failures of all files are collected and reported together, each with
//! `file:line`, the expected and the received R-APDU. A transcript that does
//! not parse is a failure, and so is an empty transcript directory.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use asan_applet::apdu::Apdu;
use asan_applet::scp03::host::HostChannel;
use asan_applet::scp03::{SecurityLevel, StaticKeys};
use asan_applet::{Applet, MemStore, ServiceType};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

type Card = Applet<MemStore, ChaCha20Rng>;

/// Host challenge of every `! scp` session.
const HOST_CHALLENGE: [u8; 8] = [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88];

/// The status words of section 5 of the contract, as written there.
const CONTRACT_SWS: [&str; 18] = [
    "9000", "61xx", "6Cxx", "63Cx", "6700", "6881", "6883", "6982", "6983", "6985", "6A80", "6A82",
    "6A86", "6A88", "6B00", "6D00", "6E00", "6F00",
];

// ---------------------------------------------------------------------------
// Transcript model and parser
// ---------------------------------------------------------------------------

#[path = "transcript/format.rs"]
mod format;
use format::*;

struct Runner {
    card: Option<Card>,
    host: Option<HostChannel>,
    seed: u64,
    failures: Vec<String>,
    file: String,
}

impl Runner {
    fn new(file: String) -> Self {
        let mut r = Self {
            card: None,
            host: None,
            seed: 0,
            failures: Vec::new(),
            file,
        };
        r.fresh(0);
        r
    }

    fn fail(&mut self, line: usize, msg: String) {
        self.failures.push(format!("{}:{line}: {msg}", self.file));
    }

    fn next_rng(&mut self) -> ChaCha20Rng {
        self.seed += 1;
        ChaCha20Rng::seed_from_u64(self.seed)
    }

    fn fresh(&mut self, line: usize) {
        self.host = None;
        let rng = self.next_rng();
        match Applet::new(MemStore::new(), rng) {
            Ok(card) => self.card = Some(card),
            Err(e) => {
                self.card = None;
                self.fail(line, format!("cannot create a fresh card: {e:?}"));
            }
        }
    }

    /// Sends raw bytes; `None` when there is no card.
    fn tx(&mut self, capdu: &[u8]) -> Option<(Vec<u8>, u16)> {
        let card = self.card.as_mut()?;
        let r = card.process(capdu);
        Some((r.data.to_vec(), r.sw()))
    }

    /// Wraps a plain C-APDU with the host channel, sends it, unwraps the answer.
    fn tx_secure(&mut self, plain: &[u8], tamper: bool) -> Result<(Vec<u8>, u16), String> {
        let apdu =
            Apdu::parse(plain).map_err(|s| format!("plain command does not frame: {s:?}"))?;
        let le = (apdu.ne != 0).then_some(apdu.ne);
        let host = self
            .host
            .as_mut()
            .ok_or("no host channel: use `! scp <level>` first")?;
        let mut wrapped = vec![0u8; 4400];
        let n = host
            .wrap_command(apdu.header(), apdu.data, le, &mut wrapped)
            .map_err(|e| format!("host cannot wrap: {e}"))?;
        wrapped.truncate(n);
        if tamper {
            // Corrupt the first byte of the data field (short or extended Lc):
            // the C-MAC no longer verifies.
            let at = if wrapped.get(4) == Some(&0) { 7 } else { 5 };
            if let Some(b) = wrapped.get_mut(at) {
                *b ^= 0x01;
            }
        }
        let (mut data, mut sw) = self.tx(&wrapped).ok_or("no card")?;
        // A protected answer longer than Le comes in parts: collect them
        // before unwrapping, as a host's APDU layer does.
        while sw & 0xFF00 == 0x6100 {
            let (more, next) = self
                .tx(&[0x00, 0xC0, 0x00, 0x00, sw as u8])
                .ok_or("no card")?;
            data.extend(more);
            sw = next;
        }
        let host = self.host.as_mut().ok_or("no host channel")?;
        let mut plain_out = vec![0u8; 4400];
        let m = host
            .unwrap_response(&data, sw, &mut plain_out)
            .map_err(|e| format!("host cannot unwrap the answer {}: {e}", show(&data, sw)))?;
        plain_out.truncate(m);
        Ok((plain_out, sw))
    }

    fn open_scp(&mut self, level: u8, keys: &StaticKeys) -> Result<(), String> {
        self.host = None;
        let init = HostChannel::initialize_update_apdu(keys.kvn, &HOST_CHALLENGE);
        let (resp, sw) = self.tx(&init).ok_or("no card")?;
        if sw != 0x9000 {
            return Err(format!("INITIALIZE UPDATE answered {}", show(&resp, sw)));
        }
        let level = SecurityLevel::from_byte(level).ok_or("unsupported level")?;
        let (channel, ext) = HostChannel::open(keys, &HOST_CHALLENGE, &resp, level)
            .map_err(|e| format!("host refuses the INITIALIZE UPDATE answer: {e}"))?;
        let (data, sw) = self.tx(&ext).ok_or("no card")?;
        if sw != 0x9000 {
            return Err(format!(
                "EXTERNAL AUTHENTICATE answered {}",
                show(&data, sw)
            ));
        }
        self.host = Some(channel);
        Ok(())
    }

    /// One operator command inside the open channel; must answer 9000.
    fn op(&mut self, what: &str, plain: &[u8]) -> Result<Vec<u8>, String> {
        let (data, sw) = self.tx_secure(plain, false)?;
        if sw != 0x9000 {
            return Err(format!("{what} answered {}", show(&data, sw)));
        }
        Ok(data)
    }

    /// The standard personalisation (as `tests/common::personalise`):
    /// PINs 1234 / 12345 / 12345678, both keys and a 600-byte certificate
    /// (`30 82 02 54` then the profile number repeated) for every profile the
    /// service allows, service active, activated, then SELECT.
    fn personalise(&mut self, service: ServiceType) -> Result<(), String> {
        self.open_scp(0x33, &StaticKeys::default_test_keys())?;
        for (pin, digits) in [
            (0x81u8, &b"1234"[..]),
            (0x82, b"12345"),
            (0x83, b"12345678"),
        ] {
            let mut block = [0xFFu8; 8];
            block[..digits.len()].copy_from_slice(digits);
            let mut cmd = vec![0x80, 0x2C, 0x02, pin, 8];
            cmd.extend(block);
            self.op("set PIN", &cmd)?;
        }
        let profiles: &[u8] = match service {
            ServiceType::Citizen => &[1],
            ServiceType::Business => &[1, 2],
            ServiceType::Governmental => &[1, 3],
        };
        for &p in profiles {
            for usage in [0x10u8, 0x20] {
                self.op("generate key pair", &[0x80, 0x47, 0x80, usage | p, 0x00])?;
                let mut cert = vec![0x30, 0x82, 0x02, 0x54];
                cert.resize(600, p);
                let mut cmd = vec![0x80, 0xDA, 0xA0 | p, usage >> 4, 0x00, 0x02, 0x58];
                cmd.extend(cert);
                self.op("write certificate", &cmd)?;
            }
        }
        self.op(
            "set service",
            &[0x80, 0xDA, 0x00, 0x43, 0x02, service as u8, 0x01],
        )?;
        self.op("activate", &[0x80, 0x44, 0x00, 0x00])?;
        self.host = None;
        let select = parse_command("00A4040C0AF04153414E494D5A4101")?;
        match self.tx(&select) {
            Some((_, 0x9000)) => Ok(()),
            Some((d, sw)) => Err(format!("SELECT answered {}", show(&d, sw))),
            None => Err("no card".into()),
        }
    }

    fn directive(&mut self, line: usize, directive: &Directive) {
        match directive {
            Directive::Fresh => self.fresh(line),
            Directive::Personalise(service) => {
                if let Err(e) = self.personalise(*service) {
                    self.fail(line, format!("personalisation failed: {e}"));
                }
            }
            Directive::Reset => match self.card.as_mut() {
                Some(card) => card.reset(),
                None => self.fail(line, "no card".into()),
            },
            Directive::PowerCycle => {
                let Some(card) = self.card.take() else {
                    self.fail(line, "no card".into());
                    return;
                };
                let mut store = card.into_store();
                if let Err(e) = store.power_cycle() {
                    self.fail(line, format!("store recovery failed: {e:?}"));
                }
                let rng = self.next_rng();
                match Applet::new(store, rng) {
                    Ok(card) => self.card = Some(card),
                    Err(e) => self.fail(line, format!("card does not power up: {e:?}")),
                }
            }
            Directive::PowerCut(n) => match self.card.as_mut() {
                Some(card) => card.store_mut().fail_after(Some(*n)),
                None => self.fail(line, "no card".into()),
            },
            Directive::Scp { level, keys } => {
                if let Err(e) = self.open_scp(*level, keys) {
                    self.fail(line, format!("cannot open SCP03 at level {level:02X}: {e}"));
                }
            }
            Directive::ScpEnd => self.host = None,
            Directive::Contract10 => match self.card.as_mut() {
                Some(card) => card.emulate_contract_1_0(),
                None => self.fail(line, "no card".into()),
            },
        }
    }

    fn run(&mut self, steps: &[Step]) {
        for step in steps {
            match step {
                Step::Directive { line, directive } => self.directive(*line, directive),
                Step::Exchange {
                    line,
                    command,
                    text,
                    secure,
                    tamper,
                    expected,
                } => {
                    let (arrow, back) = if *secure { (">>", "<<") } else { (">", "<") };
                    let got = if *secure {
                        self.tx_secure(command, *tamper)
                    } else {
                        self.tx(command).ok_or_else(|| "no card".to_owned())
                    };
                    match got {
                        Ok((data, sw)) => {
                            if sw != expected.sw || !matches(&expected.data, &data) {
                                self.fail(
                                    *line,
                                    format!(
                                        "{arrow} {}\n      expected {back} {}\n      got      {back} {}",
                                        shorten(text),
                                        shorten(&expected.text),
                                        shorten(&show(&data, sw))
                                    ),
                                );
                            }
                        }
                        Err(e) => self.fail(*line, format!("{arrow} {}: {e}", shorten(text))),
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

fn transcript_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../test-vectors/apdu")
}

/// Every `*.apdu` file, sorted; an error if there are none.
fn transcript_files() -> Result<Vec<PathBuf>, String> {
    let dir = transcript_dir();
    let entries =
        std::fs::read_dir(&dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
            .path();
        if path.extension().is_some_and(|x| x == "apdu") {
            files.push(path);
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(format!("no *.apdu transcripts in {}", dir.display()));
    }
    Ok(files)
}

fn file_name(path: &Path) -> String {
    format!(
        "test-vectors/apdu/{}",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    )
}

/// Parses every transcript; parse errors are collected as failures.
fn parse_all(failures: &mut Vec<String>) -> Vec<(String, Vec<Step>)> {
    let mut out = Vec::new();
    let files = match transcript_files() {
        Ok(files) => files,
        Err(e) => {
            failures.push(e);
            return out;
        }
    };
    for path in files {
        let name = file_name(&path);
        match std::fs::read_to_string(&path) {
            Err(e) => failures.push(format!("{name}: cannot read: {e}")),
            Ok(source) => match parse_transcript(&source) {
                Err(e) => failures.push(format!("{name}: parse error: {e}")),
                Ok(steps) if steps.is_empty() => failures.push(format!("{name}: no steps")),
                Ok(steps) => out.push((name, steps)),
            },
        }
    }
    out
}

fn report(what: &str, failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} {what}:\n\n{}\n",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn transcripts_pass() {
    let mut failures = Vec::new();
    let mut exchanges = 0;
    for (name, steps) in parse_all(&mut failures) {
        exchanges += steps
            .iter()
            .filter(|s| matches!(s, Step::Exchange { .. }))
            .count();
        let mut runner = Runner::new(name);
        runner.run(&steps);
        failures.extend(runner.failures);
    }
    println!("{exchanges} exchanges replayed");
    report("transcript failures", &failures);
}

#[test]
fn every_contract_status_word_is_covered() {
    let mut failures = Vec::new();
    let mut seen = BTreeSet::new();
    for (name, steps) in parse_all(&mut failures) {
        for step in &steps {
            if let Step::Exchange { line, expected, .. } = step {
                let class = sw_class(expected.sw);
                if !CONTRACT_SWS.contains(&class.as_str()) {
                    failures.push(format!(
                        "{name}:{line}: expects {class}, which is not a status word of the contract"
                    ));
                }
                seen.insert(class);
            }
        }
    }
    for sw in CONTRACT_SWS {
        if !seen.contains(sw) {
            failures.push(format!("no transcript expects {sw}"));
        }
    }
    report("status-word coverage problems", &failures);
}

#[test]
fn format_parser_and_matcher() {
    let e = parse_expected("7F49 43 86 41 04 *64 9000").expect("parses");
    assert_eq!(e.sw, 0x9000);
    let mut key = vec![0x7F, 0x49, 0x43, 0x86, 0x41, 0x04];
    key.extend([7u8; 64]);
    assert!(matches(&e.data, &key));
    assert!(!matches(&e.data, &key[..69]));
    let e = parse_expected("63C2").expect("parses");
    assert!(e.data.is_empty() && e.sw == 0x63C2);
    assert!(matches(&e.data, &[]));
    let e = parse_expected("30 * 01 9000").expect("parses");
    assert!(matches(&e.data, &[0x30, 0x01]));
    assert!(matches(&e.data, &[0x30, 5, 6, 0x01]));
    assert!(!matches(&e.data, &[0x30, 5, 6]));
    assert_eq!(
        parse_command("00 B0 AB{3} 01").ok(),
        Some(vec![0, 0xB0, 0xAB, 0xAB, 0xAB, 1])
    );
    assert!(parse_expected("*8").is_err());
    assert!(parse_transcript("> 00A4").is_err());
    assert!(parse_transcript("< 9000").is_err());
    assert!(parse_transcript("> 00 ZZ\n< 9000").is_err());
    assert!(parse_transcript("! tamper\n> 00\n< 9000").is_err());
    assert!(parse_transcript(">> 00CA00C200\n< 9000").is_err());
    assert!(parse_transcript("! bogus").is_err());
    assert!(parse_transcript("! scp 02").is_err());
    assert!(parse_transcript("# c\n\n! fresh\n> 00CA00C200\n< C2 01 03 9000").is_ok());
}
