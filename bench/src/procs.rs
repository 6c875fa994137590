//! The workspace's binaries (`asan`, `asan-vcard`) and its PKCS#11 module,
//! and virtual cards served to pcscd by `asan-vcard` processes on vpcd slots.

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use pcsc::{Context, Disposition, Protocols, Scope, ShareMode};

use crate::BoxResult;

/// The vpcd slots `.ci/run` configures: port and the reader pcscd names.
pub const SLOTS: [(u16, &str); 4] = [
    (35963, "Virtual PCD 00 00"),
    (35964, "Virtual PCD 00 01"),
    (35965, "Virtual PCD 35965 00 00"),
    (35966, "Virtual PCD 35965 00 01"),
];

/// A binary of the workspace beside this one; built first when the bench
/// runs under cargo (`cargo run` builds only the bench itself).
/// `ASAN_BENCH_VCARD=PATH` puts another `asan-vcard` in (to measure a change).
pub fn binary(package: &str, name: &str) -> BoxResult<PathBuf> {
    if let (Ok(path), "asan-vcard") = (std::env::var("ASAN_BENCH_VCARD"), name) {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe()?;
    let dir = exe.parent().ok_or("no directory of the bench binary")?;
    if let Ok(cargo) = std::env::var("CARGO") {
        let mut build = Command::new(cargo);
        build.args(["build", "--quiet", "-p", package, "--bin", name]);
        if dir.file_name().is_some_and(|n| n == "release") {
            build.arg("--release");
        }
        if !build.status()?.success() {
            return Err(format!("building {name} failed").into());
        }
    }
    let bin = dir.join(name);
    if !bin.exists() {
        return Err(format!(
            "no {} (build it: cargo build --release -p {package} --bin {name})",
            bin.display()
        )
        .into());
    }
    Ok(bin)
}

/// The workspace's PKCS#11 module, `libasan_pkcs11.so` beside this binary
/// (`target/debug/` or `target/release/`); built first when the bench runs
/// under cargo, in the bench's profile. `ASAN_PKCS11_MODULE=PATH` puts
/// another module in. Absolute, as `dlopen` is given it.
pub fn pkcs11_module() -> BoxResult<PathBuf> {
    if let Some(path) = std::env::var_os("ASAN_PKCS11_MODULE") {
        let path = PathBuf::from(path);
        if !path.is_file() {
            return Err(format!("ASAN_PKCS11_MODULE: no file {}", path.display()).into());
        }
        return Ok(std::fs::canonicalize(path)?);
    }
    let exe = std::env::current_exe()?;
    let dir = exe.parent().ok_or("no directory of the bench binary")?;
    let release = dir.file_name().is_some_and(|n| n == "release");
    if let Ok(cargo) = std::env::var("CARGO") {
        let mut build = Command::new(cargo);
        build.args(["build", "--quiet", "-p", "asan-pkcs11", "--lib"]);
        if release {
            build.arg("--release");
        }
        if !build.status()?.success() {
            return Err("building asan-pkcs11 failed".into());
        }
    }
    let module = dir.join("libasan_pkcs11.so");
    if !module.is_file() {
        return Err(format!(
            "no {} (build it: cargo build{} -p asan-pkcs11, or set ASAN_PKCS11_MODULE)",
            module.display(),
            if release { " --release" } else { "" }
        )
        .into());
    }
    Ok(std::fs::canonicalize(module)?)
}

/// Leaves the card as it is (dropping a `pcsc::Card` resets it, which
/// confuses vpcd).
pub fn leave(card: pcsc::Card) {
    let _ = card.disconnect(Disposition::LeaveCard);
}

/// The PIDs of all `asan-vcard` processes on the machine.
pub fn vcard_pids() -> Vec<u32> {
    Command::new("pgrep")
        .args(["-x", "asan-vcard"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter_map(|l| l.trim().parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// An `asan-vcard` process serving an image on a vpcd slot.
pub struct VirtualReader {
    child: Child,
    /// The reader name.
    pub reader: String,
    /// Its standard error: `IMAGE.log` beside the image.
    pub log: PathBuf,
}

impl VirtualReader {
    /// Starts `asan-vcard` on `port` with `image`; waits until pcscd sees the card.
    pub fn start(vcard: &Path, port: u16, reader: &str, image: &Path) -> BoxResult<Self> {
        Self::spawn(vcard, port, reader, image, false)
    }

    /// The same with `--verbose`: a line per APDU in [`VirtualReader::log`]
    /// (see [`VirtualReader::apdus`]).
    pub fn start_verbose(vcard: &Path, port: u16, reader: &str, image: &Path) -> BoxResult<Self> {
        Self::spawn(vcard, port, reader, image, true)
    }

    fn spawn(
        vcard: &Path,
        port: u16,
        reader: &str,
        image: &Path,
        verbose: bool,
    ) -> BoxResult<Self> {
        let log = image.with_extension("log");
        let mut cmd = Command::new(vcard);
        cmd.arg("--state")
            .arg(image)
            .arg("--vpcd")
            .arg(format!("127.0.0.1:{port}"));
        if verbose {
            cmd.arg("--verbose");
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()?;
        let mut me = Self {
            child,
            reader: reader.to_owned(),
            log,
        };
        me.wait_for_card()?;
        Ok(me)
    }

    /// The APDUs the card has answered so far, from the log of a card
    /// started with [`VirtualReader::start_verbose`] (one `HEADER (n bytes)
    /// -> SW (m bytes of data)` line each, written before the answer goes
    /// out, so an answered APDU is always in it).
    pub fn apdus(&self) -> BoxResult<u64> {
        let text = std::fs::read_to_string(&self.log)?;
        Ok(text.lines().filter(|l| l.contains(" -> ")).count() as u64)
    }

    fn wait_for_card(&mut self) -> BoxResult<()> {
        let ctx = Context::establish(Scope::User)?;
        let name = CString::new(self.reader.clone())?;
        let start = Instant::now();
        loop {
            if let Ok(card) = ctx.connect(&name, ShareMode::Shared, Protocols::ANY) {
                leave(card);
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                return Err(format!("asan-vcard for {} exited: {status}", self.reader).into());
            }
            if start.elapsed() > Duration::from_secs(15) {
                return Err(format!("no card in {} within 15 s", self.reader).into());
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM, a clean exit, and pcscd seeing the card gone.
    pub fn stop(mut self) -> BoxResult<()> {
        Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()?;
        let start = Instant::now();
        let mut clean = true;
        while self.child.try_wait()?.is_none() {
            if start.elapsed() > Duration::from_secs(10) {
                // Stuck (a connect to a vpcd slot someone else holds): ours, by its handle.
                self.child.kill()?;
                self.child.wait()?;
                clean = false;
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let ctx = Context::establish(Scope::User)?;
        let name = CString::new(self.reader.clone())?;
        let start = Instant::now();
        while let Ok(card) = ctx.connect(&name, ShareMode::Shared, Protocols::ANY) {
            leave(card);
            if start.elapsed() > Duration::from_secs(5) {
                break;
            }
            thread::sleep(Duration::from_millis(50));
        }
        if clean {
            Ok(())
        } else {
            Err(format!(
                "asan-vcard for {} did not stop on SIGTERM; killed",
                self.reader
            )
            .into())
        }
    }
}

/// Whether pcscd reports a card in `reader`.
pub fn card_present(reader: &str) -> BoxResult<bool> {
    let ctx = Context::establish(Scope::User)?;
    let name = CString::new(reader)?;
    Ok(
        match ctx.connect(&name, ShareMode::Shared, Protocols::ANY) {
            Ok(card) => {
                leave(card);
                true
            }
            Err(_) => false,
        },
    )
}

impl Drop for VirtualReader {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
