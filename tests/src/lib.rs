//! End-to-end test support for the Asan İmza toolchain: starts virtual
//! cards (`asan-vcard` processes) on pcscd's vpcd slots and finds them
//! through the real PC/SC stack.
//!
//! Tests that need pcscd fail loudly when it is not running: in CI it is
//! always there (`.ci/run` starts it).
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use pcsc::{Context, Protocols, Scope, ShareMode};

pub mod operator;
pub mod station;

/// The vpcd slots `.ci/run` configures: port and the reader name pcscd gives it.
pub const SLOTS: [(u16, &str); 4] = [
    (35963, "Virtual PCD 00 00"),
    (35964, "Virtual PCD 00 01"),
    (35965, "Virtual PCD 35965 00 00"),
    (35966, "Virtual PCD 35965 00 01"),
];

/// The reader name of a vpcd port.
pub fn reader_for(port: u16) -> &'static str {
    SLOTS
        .iter()
        .find(|(p, _)| *p == port)
        .map(|(_, r)| *r)
        .unwrap_or_else(|| panic!("no vpcd slot on port {port}"))
}

/// A PC/SC context; panics with instructions when pcscd is not running.
pub fn pcsc_context() -> Context {
    match Context::establish(Scope::User) {
        Ok(ctx) => ctx,
        Err(e) => panic!(
            "pcscd is not running ({e}); these tests need the real PC/SC stack with vsmartcard-vpcd: \
             run `bash .ci/run`, or start it with `sudo pcscd --foreground &`"
        ),
    }
}

/// The `asan-vcard` binary, built if needed.
pub fn vcard_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
    let bin = dir.join("asan-vcard");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", "asan-vcard", "--bin", "asan-vcard"])
            .status()
            .unwrap();
        assert!(status.success(), "building asan-vcard failed");
    }
    bin
}

/// A running `asan-vcard` process on a vpcd slot.
pub struct VirtualReader {
    /// The process.
    pub child: Child,
    /// The vpcd port.
    pub port: u16,
    /// The reader name.
    pub reader: CString,
    /// The image file.
    pub state: PathBuf,
}

impl VirtualReader {
    /// Starts a virtual card on `port` with its image at `state`, and waits
    /// until pcscd reports a card in that reader.
    pub fn start(port: u16, state: &Path) -> Self {
        Self::start_with(port, state, &[])
    }

    /// [`VirtualReader::start`] with more `asan-vcard` arguments (such as
    /// `--contract 1.0`).
    pub fn start_with(port: u16, state: &Path, args: &[String]) -> Self {
        let ctx = pcsc_context();
        let log = std::fs::File::create(state.with_extension("log")).unwrap();
        let child = Command::new(vcard_binary())
            .arg("--state")
            .arg(state)
            .arg("--vpcd")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--verbose")
            .args(args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let reader = CString::new(reader_for(port)).unwrap();
        let mut me = Self {
            child,
            port,
            reader,
            state: state.to_path_buf(),
        };
        me.wait_for_card(&ctx);
        me
    }

    fn wait_for_card(&mut self, ctx: &Context) {
        let start = Instant::now();
        loop {
            if let Ok(card) = ctx.connect(&self.reader, ShareMode::Shared, Protocols::ANY) {
                release(card);
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("asan-vcard on port {} exited: {status}", self.port);
            }
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "no card appeared in {:?} within 15 s (is vpcd configured for port {}?); asan-vcard log:\n{}",
                self.reader,
                self.port,
                self.log()
            );
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// What the process wrote to stderr.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.state.with_extension("log")).unwrap_or_default()
    }

    /// Stops the process with SIGTERM and waits for a clean exit.
    pub fn stop(mut self) {
        let ok = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(ok.success());
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "asan-vcard exit status {status}");
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "asan-vcard did not stop; its log:\n{}",
                self.log()
            );
            thread::sleep(Duration::from_millis(20));
        }
        // Let pcscd notice the card is gone before the slot is reused.
        wait_until_card_gone(&self.reader);
    }
}

impl Drop for VirtualReader {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Disconnects leaving the card as it is. (Dropping a `pcsc::Card` resets
/// the card, which races with vpcd's presence polling and can leave pcscd
/// believing the card is gone.)
pub fn release(card: pcsc::Card) {
    let _ = card.disconnect(pcsc::Disposition::LeaveCard);
}

/// Sends one APDU through PC/SC; returns the R-APDU with its SW.
pub fn transmit(card: &pcsc::Card, capdu: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED];
    card.transmit(capdu, &mut buf).unwrap().to_vec()
}

/// The status word of an R-APDU.
pub fn sw(rapdu: &[u8]) -> u16 {
    match rapdu {
        [.., a, b] => u16::from_be_bytes([*a, *b]),
        _ => panic!("R-APDU without status word: {rapdu:02X?}"),
    }
}

/// A binary of the workspace (`package`, `name`), built if needed.
pub fn workspace_binary(package: &str, name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
    let bin = dir.join(name);
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", package, "--bin", name])
            .status()
            .unwrap();
        assert!(status.success(), "building {name} failed");
    }
    bin
}

/// The `asan` CLI binary, built with `cargo build -p asan-host --bin asan`
/// on first use in each test process, so that it always matches the sources
/// (the tests crate does not depend on `asan-host`, so `cargo test -p
/// asan-tests` alone would not rebuild it).
pub fn asan_binary() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().unwrap();
            let dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let mut build = Command::new(cargo);
            build.args(["build", "--quiet", "-p", "asan-host", "--bin", "asan"]);
            if dir.file_name().is_some_and(|n| n == "release") {
                build.arg("--release");
            }
            let status = build.status().unwrap();
            assert!(status.success(), "building asan failed");
            let bin = dir.join("asan");
            assert!(bin.exists(), "no {} after the build", bin.display());
            bin
        })
        .clone()
}

/// The variables through which `asan` takes PINs and its watchdog time:
/// a test's own environment must not leak into the runs it starts.
const ASAN_VARIABLES: [&str; 5] = [
    "ASAN_PIN1",
    "ASAN_PIN2",
    "ASAN_PUK",
    "ASAN_NEW_PIN",
    "ASAN_TIMEOUT",
];

/// `asan args…` with `env` and none of the test's own `ASAN_*` variables,
/// standard input closed, output captured.
pub fn asan_command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(asan_binary());
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for var in ASAN_VARIABLES {
        cmd.env_remove(var);
    }
    // No per-reader key cache shared between tests (or with the user's own)
    // unless a test asks for one.
    cmd.env("ASAN_CACHE_DIR", "off");
    cmd.envs(env.iter().copied());
    cmd
}

/// Runs `cmd` for at most `deadline`: its output and how long it took, or
/// `Err` with the time it was given when it had to be killed.
pub fn run_within(mut cmd: Command, deadline: Duration) -> Result<(Output, Duration), Duration> {
    let start = Instant::now();
    let child = cmd.spawn().unwrap();
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(deadline) {
        Ok(output) => Ok((output.unwrap(), start.elapsed())),
        Err(_) => {
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(pid.to_string())
                .status();
            let _ = rx.recv_timeout(Duration::from_secs(5));
            Err(deadline)
        }
    }
}

/// Waits (at most 5 s) until pcscd no longer finds a card in `reader`, so
/// that the slot can be used again.
pub fn wait_until_card_gone(reader: &std::ffi::CStr) {
    let Ok(ctx) = Context::establish(Scope::User) else {
        return;
    };
    let start = Instant::now();
    while let Ok(card) = ctx.connect(reader, ShareMode::Shared, Protocols::ANY) {
        release(card);
        if start.elapsed() > Duration::from_secs(5) {
            break;
        }
        thread::sleep(Duration::from_millis(100));
    }
}
