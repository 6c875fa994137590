//! What the concurrency tests share: running `asan`, the card on vpcd port
//! [`PORT`] (personalised with the CLI), digests, and a watch for other
//! programs on the slot.

use std::ffi::CString;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use asan_tests::{VirtualReader, asan_command, pcsc_context, reader_for, release, run_within};
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::ecdsa::{Signature, VerifyingKey};
use pcsc::{Protocols, ShareMode};
use serde_json::Value;

/// The only vpcd slot these tests use.
pub const PORT: u16 = 35964;
pub const PIN1: &str = "1234";
pub const PIN2: &str = "12345";
pub const PUK: &str = "12345678";
pub const WRONG_PIN2: &str = "54321";

/// The tests of this file share the slot: one at a time.
pub static SLOT: Mutex<()> = Mutex::new(());

pub fn slot() -> MutexGuard<'static, ()> {
    SLOT.lock().unwrap_or_else(PoisonError::into_inner)
}

pub fn reader() -> &'static str {
    reader_for(PORT)
}

/// One run of `asan`.
#[derive(Debug)]
pub struct Run {
    pub args: Vec<String>,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub took: Duration,
}

impl Run {
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, Some(0), "asan {:?} failed: {self:#?}", self.args);
        &self.stdout
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(self.ok())
            .unwrap_or_else(|e| panic!("asan {:?}: no JSON ({e}): {self:#?}", self.args))
    }

    /// A clean failure: non-zero exit, nothing on stdout, exactly one
    /// `asan: …` line on stderr.
    pub fn assert_clean_failure(&self) {
        assert!(
            matches!(self.code, Some(c) if c != 0),
            "asan {:?} should have failed (and not by a signal): {self:#?}",
            self.args
        );
        assert_eq!(self.stdout, "", "{self:#?}");
        let line = self.stderr.trim_end();
        assert!(
            line.starts_with("asan: ") && !line.contains('\n'),
            "one `asan: …` line expected: {self:#?}"
        );
    }
}

/// Runs `asan args…` with `env` (and none of the test's own `ASAN_*`
/// variables), no stdin, a 60 s limit; checks there is no panic.
pub fn asan(args: &[&str], env: &[(&str, &str)]) -> Run {
    let (output, took) = run_within(asan_command(args, env), Duration::from_secs(60))
        .unwrap_or_else(|limit| panic!("asan {args:?} hangs (killed after {limit:?})"));
    let run = Run {
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
        took,
    };
    assert!(!run.stderr.contains("panicked"), "{run:#?}");
    run
}

/// `asan --reader … --json sign --profile P --digest HEX` with `pin2` (and `env`).
pub fn sign(digest: &[u8; 32], pin2: &str, profile: &str, env: &[(&str, &str)]) -> Run {
    let hex_digest = hex::encode(digest);
    let env: Vec<(&str, &str)> = [("ASAN_PIN2", pin2)]
        .into_iter()
        .chain(env.iter().copied())
        .collect();
    asan(
        &[
            "--reader",
            reader(),
            "--json",
            "sign",
            "--profile",
            profile,
            "--digest",
            &hex_digest,
        ],
        &env,
    )
}

/// The raw signature `r‖s` of a successful `sign` run of `digest`.
pub fn signature_of(run: &Run, digest: &[u8; 32]) -> Signature {
    let json = run.json();
    assert_eq!(json["digest"], hex::encode(digest), "{run:#?}");
    let bytes = hex::decode(json["signature"].as_str().unwrap()).unwrap();
    Signature::from_slice(&bytes).unwrap()
}

/// Whether a successful `sign` run holds a signature of `digest` by `key`.
pub fn signature_verifies(run: &Run, key: &VerifyingKey, digest: &[u8; 32]) -> bool {
    key.verify_prehash(digest, &signature_of(run, digest))
        .is_ok()
}

/// `asan pin status --json` of the card.
pub fn pin_status() -> Value {
    asan(&["--reader", reader(), "--json", "pin", "status"], &[]).json()
}

/// Tries left and retry limit of `pin` in a `pins` object.
pub fn tries(pins: &Value, pin: &str) -> (u64, u64) {
    let p = &pins[pin];
    assert_eq!(p["set"], true, "{pins:#}");
    (
        p["tries_left"].as_u64().unwrap(),
        p["max_tries"].as_u64().unwrap(),
    )
}

/// The P-256 key in a DER certificate: the point after the SPKI header of
/// an EC P-256 key.
pub fn public_key_of(der: &[u8]) -> VerifyingKey {
    let spki = hex::decode("3059301306072A8648CE3D020106082A8648CE3D030107034200").unwrap();
    let at = der
        .windows(spki.len())
        .position(|w| w == spki.as_slice())
        .expect("a P-256 key in the certificate");
    VerifyingKey::from_sec1_bytes(&der[at + spki.len()..at + spki.len() + 65]).unwrap()
}

/// Other programs that use our slot: `asan-vcard` processes serving vpcd
/// port [`PORT`] that do not serve an image under `own`, and runs over all
/// readers (`asan … --all-readers`, `asan-bench batch`). Other tests and
/// benchmarks of the workspace (`batch.rs`, `asan-bench batch`) start cards
/// on all four vpcd slots, this one included.
pub fn intruders(own: &std::path::Path) -> Vec<String> {
    let own = own.display().to_string();
    let slot = format!("127.0.0.1:{PORT}");
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    procs
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| {
            let raw = std::fs::read(e.path().join("cmdline")).ok()?;
            let text = String::from_utf8_lossy(&raw);
            let argv: Vec<&str> = text.split('\0').filter(|a| !a.is_empty()).collect();
            let program = std::path::Path::new(argv.first()?).file_name()?.to_str()?;
            let has = |arg: &str| argv.contains(&arg);
            let intruder = match program {
                "asan-vcard" => has(&slot) && !argv.iter().any(|a| a.contains(&own)),
                "asan" => has("--all-readers"),
                "asan-bench" => has("batch"),
                _ => false,
            };
            intruder.then(|| {
                format!(
                    "pid {}: {}",
                    e.file_name().to_string_lossy(),
                    argv.join(" ")
                )
            })
        })
        .collect()
}

/// Watches for [`intruders`] while a test runs; names them on stderr when
/// it ends, so that a failure they caused is recognised as such.
pub struct Watch {
    /// Dropped when the test ends, to wake and end the watch.
    stopped: Option<std::sync::mpsc::Sender<()>>,
    seen: Option<thread::JoinHandle<std::collections::BTreeSet<String>>>,
}

impl Watch {
    pub fn start(own: &std::path::Path) -> Self {
        let own = own.to_path_buf();
        let (stopped, wake) = std::sync::mpsc::channel::<()>();
        let seen = thread::spawn(move || {
            let mut seen = std::collections::BTreeSet::new();
            // A look every 250 ms until the test ends (the sender drops):
            // the end wakes the watch at once.
            loop {
                seen.extend(intruders(&own));
                match wake.recv_timeout(Duration::from_millis(250)) {
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                    _ => break,
                }
            }
            seen
        });
        Self {
            stopped: Some(stopped),
            seen: Some(seen),
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        drop(self.stopped.take());
        let seen = self
            .seen
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        if !seen.is_empty() {
            eprintln!(
                "NOTE: other programs used vpcd port {PORT} (reader {:?}) during this test; \
                 a failure may be theirs, not asan's: {seen:#?}",
                reader()
            );
        }
    }
}

/// A personalised card served by `asan-vcard` on [`PORT`].
pub struct Card {
    _watch: Watch,
    _dir: tempfile::TempDir,
    pub image: PathBuf,
    pub reader: Option<VirtualReader>,
    /// The key of the citizen signing certificate.
    pub key: VerifyingKey,
    /// The key of the business signing certificate, on a business card.
    pub business_key: Option<VerifyingKey>,
    /// The `asan-vcard` arguments beyond the image and slot.
    pub vcard_args: Vec<String>,
}

impl Card {
    pub fn reader(&mut self) -> &mut VirtualReader {
        self.reader.as_mut().unwrap()
    }

    pub fn log(&self) -> String {
        self.reader.as_ref().unwrap().log()
    }

    pub fn stop(mut self) {
        if let Some(r) = self.reader.take() {
            r.stop();
        }
    }
}

/// The key of the `profile` signing certificate, read with `asan cert read`.
pub fn signing_key(profile: &str, dir: &std::path::Path) -> VerifyingKey {
    let der = dir.join(format!("{profile}-sign.der"));
    asan(
        &[
            "--reader",
            reader(),
            "cert",
            "read",
            "--profile",
            profile,
            "--usage",
            "sign",
            "-o",
            der.to_str().unwrap(),
        ],
        &[],
    )
    .ok();
    public_key_of(&std::fs::read(&der).unwrap())
}

/// Whether pcscd finds a card in `reader` (one that can be connected to).
fn card_present(reader: &std::ffi::CStr) -> bool {
    match pcsc_context().connect(reader, ShareMode::Shared, Protocols::ANY) {
        Ok(card) => {
            release(card);
            true
        }
        Err(_) => false,
    }
}

/// Whether the card in our reader answers SELECT of the applet (raw PC/SC,
/// our reader only: `asan readers` would also wait for other people's cards).
pub fn card_answers() -> bool {
    let ctx = pcsc_context();
    let name = CString::new(reader()).unwrap();
    let Ok(card) = ctx.connect(&name, ShareMode::Shared, Protocols::ANY) else {
        return false;
    };
    let mut buf = vec![0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED];
    let select = hex::decode("00A4040C0AF04153414E494D5A4101").unwrap();
    let ok = matches!(card.transmit(&select, &mut buf), Ok([.., 0x90, 0x00]));
    release(card);
    ok
}

/// Starts `asan-vcard` on [`PORT`] with `image` once pcscd sees no card in
/// the slot's reader (vpcd has dropped the previous connection: a card that
/// connects while vpcd still drops the previous one shows up and goes away
/// again), and waits until the card answers twice in a row.
pub fn start_card(image: &std::path::Path, args: &[String]) -> VirtualReader {
    let name = CString::new(reader()).unwrap();
    let start = Instant::now();
    while card_present(&name) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the previous card on port {PORT} does not go away"
        );
        thread::sleep(Duration::from_millis(50));
    }
    let vr = VirtualReader::start_with(PORT, image, args);
    let start = Instant::now();
    let mut seen = 0;
    while seen < 2 {
        seen = if card_answers() { seen + 1 } else { 0 };
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the card on port {PORT} does not stay:\n{}",
            vr.log()
        );
        thread::sleep(Duration::from_millis(300));
    }
    vr
}

/// Which APDU contract the card presents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Contract {
    /// 1.0: a signature is VERIFY + PSO (`asan-vcard --contract 1.0`).
    V1_0,
    /// 1.1: a signature is one PSO: CDS carrying its own PIN2.
    V1_1,
}

/// A fresh card on [`PORT`] personalised for `service` with the CLI from a
/// development CA, of contract 1.1.
pub fn provisioned_card(service: &str) -> Card {
    provisioned_card_of(service, Contract::V1_1)
}

/// [`provisioned_card`] of the contract `contract`.
pub fn provisioned_card_of(service: &str, contract: Contract) -> Card {
    let vcard_args: Vec<String> = match contract {
        Contract::V1_0 => vec!["--contract".into(), "1.0".into()],
        Contract::V1_1 => vec![],
    };
    let dir = tempfile::tempdir().unwrap();
    let watch = Watch::start(dir.path());
    let ca = dir.path().join("ca");
    asan(&["ca", "init", ca.to_str().unwrap()], &[]).ok();
    let image = dir.path().join("card.img");
    let vr = start_card(&image, &vcard_args);
    let out = asan(
        &[
            "--reader",
            reader(),
            "provision",
            "--service",
            service,
            "--ca",
            ca.to_str().unwrap(),
        ],
        &[("ASAN_PIN1", PIN1), ("ASAN_PIN2", PIN2), ("ASAN_PUK", PUK)],
    );
    assert!(out.ok().contains("personalised"), "{out:#?}");
    let key = signing_key("citizen", dir.path());
    let business_key = (service == "business").then(|| signing_key("business", dir.path()));
    Card {
        _watch: watch,
        _dir: dir,
        image,
        reader: Some(vr),
        key,
        business_key,
        vcard_args,
    }
}

/// The next value of a splitmix64 sequence.
pub fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The `i`-th digest of signer `stream`: different for every pair.
pub fn digest(stream: u64, i: u64) -> [u8; 32] {
    let mut state = (stream << 32) | i;
    let mut out = [0u8; 32];
    for chunk in out.chunks_mut(8) {
        chunk.copy_from_slice(&splitmix(&mut state).to_be_bytes());
    }
    out
}

/// How the card's log (`asan-vcard --verbose`) shows our SELECT, VERIFY
/// PIN2 and PSO: COMPUTE DIGITAL SIGNATURE.
pub const SELECT_LINE: &str = "00 A4 04 00 (16 bytes)";
/// The card's log line of a PSO: CDS carrying its PIN2 (contract 1.1).
pub const PSO_WITH_PIN_LINE: &str = "00 2A 9E AC";
pub const VERIFY_LINE: &str = "00 20 00 82 (13 bytes)";
pub const PSO_LINE: &str = "00 2A 9E 9A";

/// The counters of a card that has seen only right PINs since the last wrong one.
pub fn assert_all_tries_left() {
    let status = pin_status();
    assert_eq!(tries(&status, "pin1"), (3, 3), "{status:#}");
    assert_eq!(tries(&status, "pin2"), (3, 3), "{status:#}");
    assert_eq!(tries(&status, "puk"), (10, 10), "{status:#}");
}
