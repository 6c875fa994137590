//! The vpcd connector: protocol, reconnection after pcscd restarts, clean
//! shutdown on signals, several instances at once, and tearing by killing
//! the process at random points while it changes its state.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use asan_applet::PinRef;
use asan_vcard::{VirtualCard, image, vpcd};
use common::*;

const SELECT: &[u8] = &[
    0x00, 0xA4, 0x04, 0x0C, 0x0A, 0xF0, 0x41, 0x53, 0x41, 0x4E, 0x49, 0x4D, 0x5A, 0x41, 0x01,
];

#[test]
fn protocol_power_and_reconnection() {
    let mut pcscd = FakeVpcd::new();
    let address = pcscd.address();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = Arc::clone(&stop);
    let card_thread = thread::spawn(move || {
        let mut card = VirtualCard::in_memory().unwrap();
        vpcd::run(&mut card, &address, &stop2, &mut |_| {}, &mut |_| {});
        card
    });
    pcscd.accept();
    assert_eq!(pcscd.atr(), asan_vcard::atr::ATR.to_vec());
    pcscd.control(vpcd::control::POWER_ON);
    assert_eq!(sw(&pcscd.transmit(SELECT)), 0x9000);
    let mut tx = |c: &[u8]| pcscd.try_transmit(c);
    personalise(&mut tx).unwrap();
    let verify = [
        vec![0x00, 0x20, 0x00, 0x81, 0x08],
        block(PinRef::Pin1, PIN1),
    ]
    .concat();
    assert_eq!(sw(&pcscd.transmit(&verify)), 0x9000);
    assert_eq!(sw(&pcscd.transmit(&[0x00, 0x20, 0x00, 0x81])), 0x9000);
    // Reset clears the security status.
    pcscd.control(vpcd::control::RESET);
    assert_eq!(sw(&pcscd.transmit(&[0x00, 0x20, 0x00, 0x81])), 0x63C3);
    // A wrong PIN, then pcscd "restarts": the connection drops.
    let wrong = [
        vec![0x00, 0x20, 0x00, 0x81, 0x08],
        block(PinRef::Pin1, b"0000"),
    ]
    .concat();
    assert_eq!(sw(&pcscd.transmit(&wrong)), 0x63C2);
    pcscd.stream = None;
    // The card comes back by itself, powered off, with its state.
    pcscd.accept();
    pcscd.control(vpcd::control::POWER_ON);
    assert_eq!(sw(&pcscd.transmit(&[0x00, 0x20, 0x00, 0x81])), 0x63C2);
    // A long answer (4 KiB certificate) crosses the socket whole.
    let mut tx = |c: &[u8]| pcscd.try_transmit(c);
    let mut op = Operator::open(&mut tx, 0x03).unwrap();
    let (_, s) = op
        .send(&mut tx, [0x80, 0xDA, 0xA1, 0x01], &certificate(0x5A))
        .unwrap();
    assert_eq!(s, 0x9000);
    assert_eq!(
        sw(&pcscd.transmit(&[0x00, 0xA4, 0x02, 0x0C, 0x02, 0xA1, 0x01])),
        0x9000
    );
    let r = pcscd.transmit(&[0x00, 0xB0, 0x00, 0x00, 0x00, 0x00, 0x00]);
    assert_eq!(r.len(), 4098);
    assert_eq!(r[..4096], certificate(0x5A)[..]);
    stop.store(true, Ordering::Relaxed);
    let card = card_thread.join().unwrap();
    assert!(
        !card.powered(),
        "the card is powered off when the session ends"
    );
}

fn spawn(state: &Path, address: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_asan-vcard"))
        .arg("--state")
        .arg(state)
        .arg("--vpcd")
        .arg(address)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(ok.success());
}

fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(start.elapsed() < within, "asan-vcard did not exit");
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn process_exits_cleanly_on_signals_and_restarts_with_its_state() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("card.img");
    for sig in ["TERM", "INT"] {
        let mut pcscd = FakeVpcd::new();
        let mut child = spawn(&state, &pcscd.address());
        pcscd.accept();
        pcscd.control(vpcd::control::POWER_ON);
        if sig == "TERM" {
            let mut tx = |c: &[u8]| pcscd.try_transmit(c);
            personalise(&mut tx).unwrap();
            let wrong = [
                vec![0x00, 0x20, 0x00, 0x82, 0x08],
                block(PinRef::Pin2, b"00000"),
            ]
            .concat();
            assert_eq!(sw(&pcscd.transmit(&wrong)), 0x63C2);
        } else {
            // Restarted process: same card, same counters.
            assert_eq!(sw(&pcscd.transmit(&[0x00, 0x20, 0x00, 0x82])), 0x63C2);
        }
        signal(&child, sig);
        let status = wait_exit(&mut child, Duration::from_secs(5));
        assert!(status.success(), "exit status {status:?} on SIG{sig}");
        image::load(&state).expect("the image is intact");
    }
    // Not running without a reachable vpcd: it keeps retrying, and stops on SIGTERM.
    let free = FakeVpcd::new().address(); // listener dropped at once: nothing listens there
    let mut child = spawn(&state, &free);
    thread::sleep(Duration::from_millis(300));
    signal(&child, "TERM");
    assert!(wait_exit(&mut child, Duration::from_secs(5)).success());
}

#[test]
fn a_damaged_image_stops_the_process_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("card.img");
    std::fs::write(&state, b"garbage").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_asan-vcard"))
        .arg("--state")
        .arg(&state)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not an asan-vcard image"), "{err}");
    assert_eq!(std::fs::read(&state).unwrap(), b"garbage");
    let out = Command::new(env!("CARGO_BIN_EXE_asan-vcard"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "usage error");
}

#[test]
fn several_instances_serve_several_slots() {
    let dir = tempfile::tempdir().unwrap();
    let mut slots: Vec<(FakeVpcd, Child)> = (0..3)
        .map(|i| {
            let pcscd = FakeVpcd::new();
            let child = spawn(&dir.path().join(format!("card{i}.img")), &pcscd.address());
            (pcscd, child)
        })
        .collect();
    let mut serials = Vec::new();
    for (pcscd, _) in &mut slots {
        pcscd.accept();
        pcscd.control(vpcd::control::POWER_ON);
        assert_eq!(sw(&pcscd.transmit(SELECT)), 0x9000);
        serials.push(pcscd.transmit(&[0x00, 0xCA, 0x00, 0xC1, 0x00]));
    }
    serials.dedup();
    assert_eq!(serials.len(), 3, "three different cards");
    for (_, child) in &mut slots {
        signal(child, "TERM");
        assert!(wait_exit(child, Duration::from_secs(5)).success());
    }
}

/// What a loaded image may hold after a kill: the certificate is one whole
/// version; PIN1's tries left (`63Cx`, or 0 when blocked) — the caller
/// checks them against the round before.
fn check_image(state: &Path, versions: &[u8]) -> (u8, u8) {
    let store = image::load(state).expect("image loads after a kill");
    let mut card = VirtualCard::with_store(store).unwrap();
    card.power_on();
    assert_eq!(card.transmit(SELECT).unwrap(), vec![0x90, 0x00]);
    let r = card
        .transmit(&[0x00, 0xA4, 0x02, 0x0C, 0x02, 0xA1, 0x01])
        .unwrap();
    let version = if r == vec![0x6A, 0x82] {
        0
    } else {
        let r = card
            .transmit(&[0x00, 0xB0, 0x00, 0x00, 0x00, 0x00, 0x00])
            .unwrap();
        let fill = r[4];
        assert!(versions.contains(&fill));
        assert_eq!(
            r[..4096],
            certificate(fill)[..],
            "a certificate is whole, never mixed"
        );
        fill
    };
    let status = sw(&card.transmit(&[0x00, 0x20, 0x00, 0x81]).unwrap());
    let tries = match status {
        0x63C0..=0x63C3 => (status & 0x0F) as u8,
        0x6983 => 0,
        other => panic!("PIN1 status {other:04X}"),
    };
    (version, tries)
}

#[test]
fn killing_the_process_at_random_points_leaves_a_consistent_image() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("card.img");
    // Personalise once.
    {
        let mut pcscd = FakeVpcd::new();
        let mut child = spawn(&state, &pcscd.address());
        pcscd.accept();
        pcscd.control(vpcd::control::POWER_ON);
        let mut tx = |c: &[u8]| pcscd.try_transmit(c);
        personalise(&mut tx).unwrap();
        signal(&child, "TERM");
        assert!(wait_exit(&mut child, Duration::from_secs(5)).success());
    }
    let versions: Vec<u8> = (1..=40).collect();
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut seen = std::collections::BTreeSet::new();
    // PIN1 tries left after the round before: each round's correct VERIFYs
    // restore 3, and a kill between a VERIFY's decrement and its restore
    // (one whole command) costs exactly one try: so a round ends at 3, at 2
    // (torn after a restore), where it started, or one below — never
    // higher than a restore allows, never two tries lost in one round.
    let mut before = 3u8;
    for round in 0..12 {
        let mut pcscd = FakeVpcd::new();
        let mut child = spawn(&state, &pcscd.address());
        pcscd.accept();
        pcscd.control(vpcd::control::POWER_ON);
        // Kill after a random delay while the card writes certificates and
        // spends and restores PIN1 tries.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = Duration::from_micros(2_000 + seed % 40_000);
        let pid = child.id();
        let killer = thread::spawn(move || {
            thread::sleep(delay);
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(pid.to_string())
                .status();
        });
        let mut tx = |c: &[u8]| pcscd.try_transmit(c);
        let result = (|| -> std::io::Result<()> {
            let mut op = Operator::open(&mut tx, 0x03)?;
            for v in &versions {
                op.send(&mut tx, [0x80, 0xDA, 0xA1, 0x01], &certificate(*v))?;
                let verify = [
                    vec![0x00, 0x20, 0x00, 0x81, 0x08],
                    block(PinRef::Pin1, PIN1),
                ]
                .concat();
                tx(&verify)?;
            }
            Ok(())
        })();
        killer.join().unwrap();
        let _ = child.wait();
        let (version, tries) = check_image(&state, &versions);
        seen.insert((version, tries));
        eprintln!(
            "kill round {round}: after {delay:?} ({}), certificate v{version}, PIN1 {tries} tries left",
            if result.is_ok() { "finished" } else { "cut" }
        );
        assert!(
            tries >= 2 || tries == before || tries + 1 == before,
            "round {round}: PIN1 went from {before} to {tries} tries"
        );
        before = tries;
    }
    assert!(
        seen.len() > 1,
        "the kills should land at different points: {seen:?}"
    );
}

/// A peer that sends a length and part of a message, then nothing: the
/// message's deadline ends the session (no `serve` held forever), and the
/// card goes on serving the next connection.
#[test]
fn a_stalled_message_ends_the_session_at_its_deadline() {
    use std::io::Write;
    use std::sync::mpsc;
    let mut pcscd = FakeVpcd::new();
    let address = pcscd.address();
    let stop = Arc::new(AtomicBool::new(false));
    let (done, ended) = mpsc::channel();
    let stop2 = Arc::clone(&stop);
    let card_thread = thread::spawn(move || {
        let mut card = VirtualCard::in_memory().unwrap();
        let mut stream = std::net::TcpStream::connect(&address).unwrap();
        let started = Instant::now();
        let end = vpcd::serve(&mut card, &mut stream, &stop2, &mut |_| {});
        done.send((end.map_err(|e| e.kind()), started.elapsed()))
            .unwrap();
    });
    pcscd.accept();
    pcscd.control(vpcd::control::POWER_ON);
    // A 16-byte message announced, 3 bytes sent, then silence.
    let s = pcscd.stream.as_mut().unwrap();
    s.write_all(&[0x00, 0x10, 0x00, 0xA4, 0x04]).unwrap();
    let (end, took) = ended
        .recv_timeout(Duration::from_secs(20))
        .expect("serve is still waiting for the rest of the message");
    assert_eq!(end, Err(std::io::ErrorKind::TimedOut));
    assert!(took < Duration::from_secs(10), "{took:?}");
    card_thread.join().unwrap();
    // The same for the 2-byte length itself: one byte, then nothing.
    let stop3 = Arc::clone(&stop);
    let address = pcscd.address();
    let (done, ended) = mpsc::channel();
    let card_thread = thread::spawn(move || {
        let mut card = VirtualCard::in_memory().unwrap();
        let mut stream = std::net::TcpStream::connect(&address).unwrap();
        let end = vpcd::serve(&mut card, &mut stream, &stop3, &mut |_| {});
        done.send(end.map_err(|e| e.kind())).unwrap();
    });
    pcscd.accept();
    pcscd.stream.as_mut().unwrap().write_all(&[0x00]).unwrap();
    let end = ended
        .recv_timeout(Duration::from_secs(20))
        .expect("serve is still waiting for the second length byte");
    assert_eq!(end, Err(std::io::ErrorKind::TimedOut));
    card_thread.join().unwrap();
}

/// SIGTERM (and SIGINT) stop the process promptly even while a peer has
/// left a message half sent.
#[test]
fn signals_stop_the_process_during_a_stalled_message() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("card.img");
    for sig in ["TERM", "INT"] {
        let mut pcscd = FakeVpcd::new();
        let mut child = spawn(&state, &pcscd.address());
        pcscd.accept();
        pcscd.control(vpcd::control::POWER_ON);
        assert_eq!(sw(&pcscd.transmit(SELECT)), 0x9000);
        let s = pcscd.stream.as_mut().unwrap();
        s.write_all(&[0x00, 0x10, 0x00, 0xA4]).unwrap();
        s.flush().unwrap();
        // The bytes are on their way before the signal: the card reads them
        // within its poll interval, long before the signal arrives (and a
        // stop between two messages is fine too; it must just never hang).
        signal(&child, sig);
        let status = wait_exit(&mut child, Duration::from_secs(5));
        assert!(status.success(), "SIG{sig}: {status:?}");
        image::load(&state).expect("the image is intact");
    }
}

/// A connection on which vpcd says nothing ends after [`vpcd::SILENCE`],
/// not before (pcscd polls several times a second) and not never.
#[test]
fn a_silent_connection_ends_after_the_silence_time() {
    use std::sync::mpsc;
    let mut pcscd = FakeVpcd::new();
    let address = pcscd.address();
    let stop = Arc::new(AtomicBool::new(false));
    let (done, ended) = mpsc::channel();
    let card_thread = thread::spawn(move || {
        let mut card = VirtualCard::in_memory().unwrap();
        let mut stream = std::net::TcpStream::connect(&address).unwrap();
        let started = Instant::now();
        let end = vpcd::serve(&mut card, &mut stream, &stop, &mut |_| {});
        done.send((end.map_err(|e| e.kind()), started.elapsed()))
            .unwrap();
    });
    pcscd.accept();
    let (end, took) = ended
        .recv_timeout(vpcd::SILENCE * 4)
        .expect("a silent connection is kept forever");
    assert_eq!(end, Ok(vpcd::SessionEnd::Silent));
    assert!(
        took >= vpcd::SILENCE && took < vpcd::SILENCE + Duration::from_secs(2),
        "{took:?}"
    );
    card_thread.join().unwrap();
}

/// Without vpcd, `run` says so once (not at every retry), and stops soon
/// after `stop` is set, also in the middle of a long back-off.
#[test]
fn without_vpcd_run_logs_once_and_stops_promptly() {
    let free = FakeVpcd::new().address(); // nothing listens there any more
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = Arc::clone(&stop);
    let (lines, logged) = std::sync::mpsc::channel();
    let card_thread = thread::spawn(move || {
        let mut card = VirtualCard::in_memory().unwrap();
        vpcd::run(
            &mut card,
            &free,
            &stop2,
            &mut |line| lines.send(line.to_owned()).unwrap(),
            &mut |_| {},
        );
    });
    // Back-off 0.1 + 0.2 + 0.4 + 0.8 s, then a wait of 1.6 s: stop in it.
    let first = logged.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(first.contains("cannot reach vpcd"), "{first}");
    assert!(
        logged.recv_timeout(Duration::from_millis(2000)).is_err(),
        "the same failure is logged once"
    );
    let stopped = Instant::now();
    stop.store(true, Ordering::Relaxed);
    card_thread.join().unwrap();
    assert!(
        stopped.elapsed() < Duration::from_millis(300),
        "{:?} after stop",
        stopped.elapsed()
    );
}

#[test]
fn a_trace_line_shows_the_header_and_status_never_the_data() {
    let verify = [
        0x00, 0x20, 0x00, 0x81, 0x08, 0x31, 0x32, 0x33, 0x34, 0xFF, 0xFF, 0xFF, 0xFF,
    ];
    assert_eq!(
        vpcd::describe(&verify, &[0x63, 0xC2]),
        "00 20 00 81 (13 bytes) -> 63C2 (0 bytes of data)"
    );
    assert_eq!(
        vpcd::describe(&[0x00, 0xCA, 0x00, 0xC1, 0x00], &[1, 2, 3, 0x90, 0x00]),
        "00 CA 00 C1 (5 bytes) -> 9000 (3 bytes of data)"
    );
}

/// When vpcd comes (back) after `run` started without it, the card connects
/// at the next retry of its back-off.
#[test]
fn run_connects_when_vpcd_appears() {
    let address = FakeVpcd::new().address(); // free for now
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = Arc::clone(&stop);
    let to = address.clone();
    let card_thread = thread::spawn(move || {
        let mut card = VirtualCard::in_memory().unwrap();
        vpcd::run(&mut card, &to, &stop2, &mut |_| {}, &mut |_| {});
    });
    // Some retries later (0.1, 0.2, 0.4, 0.8 s…), vpcd listens.
    thread::sleep(Duration::from_millis(1000));
    let listener = std::net::TcpListener::bind(&address).unwrap();
    let (accepted, got) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let _ = accepted.send(listener.accept().map(|(s, _)| s));
    });
    let stream = got
        .recv_timeout(Duration::from_secs(6))
        .expect("the card never tried again")
        .unwrap();
    let mut pcscd = FakeVpcd {
        listener: std::net::TcpListener::bind("127.0.0.1:0").unwrap(),
        stream: Some(stream),
    };
    assert_eq!(pcscd.atr(), asan_vcard::atr::ATR.to_vec());
    stop.store(true, Ordering::Relaxed);
    card_thread.join().unwrap();
}
