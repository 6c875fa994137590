//! The station (`asan provision --watch`) outlives a restart of pcscd and
//! watches the readers the restarted pcscd brings: readers plugged in while
//! it runs, as far as PC/SC lets a test plug readers in.
//!
//! pcscd reads its reader configuration only when it starts (a changed
//! `reader.conf` cancels its re-check), and vpcd readers are not USB
//! devices, so a reader cannot be hot-plugged into a running pcscd here.
//! What a test can do: run a private pcscd, stop it, and start it again
//! with one more vpcd reader — the station sees the service go, come back
//! and list a reader it has not seen, and must watch it like any other.
//! (The rules for readers that come and go in one pcscd are unit tests of
//! `host/src/cli/station/readers.rs`.)
//!
//! The private pcscd runs in a mount namespace of its own (`unshare -m`)
//! with a temporary directory bound over `/run/pcscd`, so the machine's
//! pcscd and the other tests are untouched; the station finds it through
//! `PCSCLITE_CSOCK_NAME`. Its vpcd readers listen on ports 35973-35976,
//! which no other test uses.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use asan_tests::asan_command;
use asan_tests::station::{Killer, Lines};

const DRIVERS: &str = "/usr/lib/pcsc/drivers/serial";
const PINS: [(&str, &str); 3] = [
    ("ASAN_PIN1", "2468"),
    ("ASAN_PIN2", "13579"),
    ("ASAN_PUK", "86420864"),
];

/// One reader entry of a pcscd configuration file: a vpcd driver instance
/// (two slots, on `port` and `port + 1`). Each entry needs its own copy of
/// the driver library, which keeps its slots in static state.
fn reader_entry(name: &str, library: &str, port: u16) -> String {
    format!(
        "FRIENDLYNAME \"{name}\"\nDEVICENAME   /dev/null:0x{port:04X}\nLIBPATH      {DRIVERS}/{library}\nCHANNELID    0x{port:04X}\n"
    )
}

/// A pcscd of the test's own, in a mount namespace where `run` is
/// `/run/pcscd`; its socket is `run/pcscd.comm`.
fn private_pcscd(config: &Path, run: &Path, log: &Path) -> Killer {
    let script = format!(
        "mount --bind '{}' /run/pcscd && exec pcscd --foreground --config '{}'",
        run.display(),
        config.display()
    );
    let child = Command::new("unshare")
        .args(["--mount", "sh", "-c", &script])
        .stdout(std::fs::File::create(log).unwrap())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let socket = run.join("pcscd.comm");
    let start = Instant::now();
    while !socket.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "the private pcscd did not start: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Killer(child)
}

/// Stops a private pcscd and waits until it has removed its socket.
fn stop_pcscd(mut pcscd: Killer, run: &Path) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(pcscd.0.id().to_string())
        .status();
    let _ = pcscd.0.wait();
    let _ = std::fs::remove_file(run.join("pcscd.comm"));
}

/// A virtual card on a vpcd port of the private pcscd.
fn card(image: &Path, port: u16) -> Killer {
    Killer(
        Command::new(asan_tests::vcard_binary())
            .arg("--state")
            .arg(image)
            .args(["--vpcd", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

fn asan_in(dir: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = asan_command(args, &PINS);
    cmd.current_dir(dir);
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{args:?}: {out:?}");
    out
}

/// Whether this machine lets us make a mount namespace (root in CI).
fn namespaces_allowed() -> Result<(), String> {
    let out = Command::new("unshare")
        .args(["--mount", "true"])
        .output()
        .map_err(|e| format!("unshare: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn the_station_outlives_a_pcscd_restart_and_watches_the_readers_it_brings() {
    if let Err(why) = namespaces_allowed() {
        // Only without root (or in a container that forbids namespaces):
        // CI runs as root, where this is never taken.
        assert!(
            why.contains("Operation not permitted"),
            "unshare failed: {why}"
        );
        eprintln!("SKIPPED: no mount namespace for a private pcscd: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run = d.join("run");
    std::fs::create_dir(&run).unwrap();
    let config = d.join("reader.conf");
    let first = reader_entry("Station A", "libifdvpcd.so", 35973);
    std::fs::write(&config, &first).unwrap();
    let pcscd = private_pcscd(&config, &run, &d.join("pcscd-1.log"));

    asan_in(d, &["ca", "init", "ca"]);
    for img in ["a.img", "b.img"] {
        asan_in(d, &["--virtual", img, "--create", "info"]);
    }
    let socket = run.join("pcscd.comm");
    let mut station = asan_command(
        &[
            "provision",
            "--watch",
            "--service",
            "citizen",
            "--ca",
            "ca",
            "--audit",
            "audit.jsonl",
        ],
        &PINS,
    );
    station
        .current_dir(d)
        .env("PCSCLITE_CSOCK_NAME", &socket)
        .stdout(Stdio::null());
    let mut child = Killer(station.spawn().unwrap());
    let mut lines = Lines::of(child.0.stderr.take().unwrap());
    lines.wait(&["Station A 00 00: watching"]);
    let a = card(&d.join("a.img"), 35973);
    lines.wait(&["Station A 00 00 (", "personalised; the card may be removed"]);

    // pcscd stops; it comes back with a second reader.
    stop_pcscd(pcscd, &run);
    lines.wait(&["station: PC/SC failed", "connecting again"]);
    let second = reader_entry("Station B", "libifdvpcd-asan2.so", 35975);
    std::fs::write(&config, format!("{first}{second}")).unwrap();
    let _pcscd = private_pcscd(&config, &run, &d.join("pcscd-2.log"));
    lines.wait(&["station: connected to the PC/SC service again"]);
    lines.wait(&["Station B 00 00: watching"]);
    // The card left in reader A is looked at again (a run the outage broke
    // would resume): it is operational now, so it is skipped.
    lines.wait(&["Station A 00 00 (", "skipped", "already operational"]);
    let b = card(&d.join("b.img"), 35975);
    lines.wait(&["Station B 00 00 (", "personalised; the card may be removed"]);

    let ok = Command::new("kill")
        .arg("-INT")
        .arg(child.0.id().to_string())
        .status()
        .unwrap();
    assert!(ok.success());
    let summary = lines.wait(&["station: stopped:"]);
    assert!(
        summary.contains("2 personalised") && summary.contains("1 skipped"),
        "{summary}"
    );
    assert!(
        child.0.wait().unwrap().success(),
        "{}",
        lines.seen.join("\n")
    );
    drop((a, b));

    for img in ["a.img", "b.img"] {
        let out = asan_in(d, &["--virtual", img, "--json", "info"]);
        let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(info["life_cycle"], "operational", "{img}");
    }
    let out = asan_in(d, &["--json", "audit", "verify", "audit.jsonl"]);
    let verified: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(verified["lines"], 3, "{verified}");
}
