//! Station mode (`asan provision --watch`, issue 17) through pcscd and vpcd:
//! cards inserted and removed by starting and stopping `asan-vcard` on the
//! four vpcd slots. Fresh cards are personalised with their own SCP03 keys,
//! an operational card is skipped, a card pulled out half-way is reported
//! failed and finished when it comes back, Ctrl-C (SIGINT) stops the
//! station cleanly; the audit trail verifies, matches the cards, and an
//! edited copy is caught.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use asan_tests::station::{Killer, Lines};
use asan_tests::{VirtualReader, asan_command, reader_for, wait_until_card_gone};

const MASTER: &str = "kvn = 31\n\
    enc = 000102030405060708090A0B0C0D0E0F\n\
    mac = 101112131415161718191A1B1C1D1E1F\n\
    dek = 202122232425262728292A2B2C2D2E2F\n";
const PINS: [(&str, &str); 3] = [
    ("ASAN_PIN1", "2468"),
    ("ASAN_PIN2", "13579"),
    ("ASAN_PUK", "86420864"),
];

fn asan_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = asan_command(args, env);
    cmd.current_dir(dir);
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    out
}

fn info(dir: &Path, img: &str) -> serde_json::Value {
    let out = asan_in(dir, &["--virtual", img, "--json", "info"], &[]);
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn station_personalises_cards_as_they_come_and_go_and_keeps_a_whole_audit_trail() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(asan_in(d, &["ca", "init", "ca"], &[]).status.success());
    std::fs::write(d.join("master.keys"), MASTER).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            d.join("master.keys"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
    }
    // An operational card (own keys already).
    let out = asan_in(
        d,
        &[
            "--virtual",
            "op.img",
            "provision",
            "--service",
            "citizen",
            "--ca",
            "ca",
            "--master-keys",
            "master.keys",
        ],
        &PINS,
    );
    assert!(out.status.success(), "{out:?}");
    for img in ["a.img", "b.img", "d.img"] {
        info_create(d, img);
    }

    let mut station = asan_command(
        &[
            "provision",
            "--watch",
            "--service",
            "citizen",
            "--ca",
            "ca",
            "--master-keys",
            "master.keys",
            "--audit",
            "audit.jsonl",
            "--station",
            "st-test",
        ],
        &PINS,
    );
    station.current_dir(d).stdout(Stdio::null());
    let child = station.spawn().unwrap();
    let mut child = Killer(child);
    let mut lines = Lines::of(child.0.stderr.take().unwrap());
    lines.wait(&["station: watching every reader"]);

    let (ra, rb, rc, rd) = (
        reader_for(35963),
        reader_for(35964),
        reader_for(35965),
        reader_for(35966),
    );
    let a = VirtualReader::start(35963, &d.join("a.img"));
    let b = VirtualReader::start(35964, &d.join("b.img"));
    let c = VirtualReader::start(35965, &d.join("op.img"));
    lines.wait(&[ra, "personalised; the card may be removed"]);
    lines.wait(&[rb, "personalised; the card may be removed"]);
    lines.wait(&[rc, "skipped", "already operational"]);
    a.stop();
    lines.wait(&[ra, "empty, ready for the next card"]);

    // Each card's certificates start when that card is personalised, not
    // when the station started: a second passes before card d comes.
    std::thread::sleep(Duration::from_millis(1100));
    let d_comes = String::from_utf8(
        Command::new("date")
            .args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_owned();

    // Pulled out half-way, then back.
    // The card process logs each APDU it answered: it is killed right after
    // its first GENERATE KEY PAIR (`84 47 80 11`), with its PINs set and key
    // pairs half made.
    let mut dproc = Command::new(asan_tests::vcard_binary())
        .arg("--state")
        .arg(d.join("d.img"))
        .args(["--vpcd", "127.0.0.1:35966", "--verbose"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = std::io::BufReader::new(dproc.stderr.take().unwrap());
    let (log_tx, log_rx) = mpsc::channel();
    std::thread::spawn(move || {
        for l in log.lines().map_while(Result::ok) {
            let _ = log_tx.send(l);
        }
    });
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while let Ok(l) = log_rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        seen.push(l.clone());
        if l.contains(": 84 47 80 11 ") {
            break;
        }
    }
    dproc.kill().unwrap();
    dproc.wait().unwrap();
    assert!(
        seen.iter().any(|l| l.contains(": 84 47 80 11 ")),
        "{seen:#?}\nstation: {:#?}",
        lines.seen
    );
    lines.wait(&[rd, "failed", "insert it again to resume"]);
    wait_until_card_gone(&std::ffi::CString::new(rd).unwrap());
    let dcard = VirtualReader::start(35966, &d.join("d.img"));
    let back = lines.wait(&[rd, "; the card may be removed"]);
    assert!(
        back.contains("personalised;") || back.contains("resumed;"),
        "{back}"
    );

    // Ctrl-C: a clean stop.
    let ok = Command::new("kill")
        .arg("-INT")
        .arg(child.0.id().to_string())
        .status()
        .unwrap();
    assert!(ok.success());
    let summary = lines.wait(&["station: stopped:"]);
    assert!(summary.contains("1 skipped"), "{summary}");
    // The head of the trail, to be written down at the end of the shift.
    let told = lines.wait(&["audit trail:", ", head "]);
    let head = told.rsplit(' ').next().unwrap().to_owned();
    let status = child.0.wait().unwrap();
    assert!(status.success(), "{status}; {}", lines.seen.join("\n"));
    b.stop();
    c.stop();
    dcard.stop();

    // The cards: operational, on their own keys (version 31).
    let mut serials = std::collections::HashMap::new();
    for img in ["a.img", "b.img", "d.img", "op.img"] {
        let i = info(d, img);
        assert_eq!(i["life_cycle"], "operational", "{img}");
        assert_eq!(i["scp_key_version"], 0x31, "{img}");
        serials.insert(img, i["serial"].as_str().unwrap().to_owned());
    }
    let d_certificates = info(d, "d.img")["certificates"].clone();
    for c in d_certificates.as_array().unwrap() {
        let not_before = c["not_before"].as_str().unwrap();
        assert!(
            not_before >= d_comes.as_str(),
            "{not_before} < {d_comes}: {c}"
        );
    }
    // The trail verifies and says the same.
    let out = asan_in(d, &["--json", "audit", "verify", "audit.jsonl"], &[]);
    assert!(out.status.success(), "{out:?}");
    let text = std::fs::read_to_string(d.join("audit.jsonl")).unwrap();
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let results_of = |img: &str| -> Vec<String> {
        events
            .iter()
            .filter(|e| e["serial"] == serials[img].as_str())
            .map(|e| e["result"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(results_of("a.img"), ["personalised"]);
    assert_eq!(results_of("b.img"), ["personalised"]);
    assert_eq!(results_of("op.img"), ["skipped"]);
    let d_results = results_of("d.img");
    assert!(
        matches!(
            d_results.last().map(String::as_str),
            Some("personalised" | "resumed")
        ),
        "{d_results:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e["result"] == "failed" && e["reader"] == rd),
        "{text}"
    );
    assert!(events.iter().all(|e| e["station"] == "st-test"));
    assert_eq!(events.last().unwrap()["hash"], head.as_str(), "{told}");
    assert!(
        told.contains(&format!("audit trail: {} lines,", events.len())),
        "{told}"
    );
    let out = asan_in(d, &["audit", "verify", "audit.jsonl", "--head", &head], &[]);
    assert!(out.status.success(), "{out:?}");
    // Cut the last line: whole as a chain, but the recorded head is gone.
    let cut: String = text
        .lines()
        .take(events.len() - 1)
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(d.join("cut.jsonl"), cut).unwrap();
    let out = asan_in(d, &["audit", "verify", "cut.jsonl"], &[]);
    assert!(out.status.success(), "{out:?}");
    let out = asan_in(d, &["audit", "verify", "cut.jsonl", "--head", &head], &[]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    for (_, pin) in PINS {
        assert!(!text.contains(&format!("\"{pin}\"")));
    }
    // An edited copy is caught.
    let edited = text.replacen("\"personalised\"", "\"skipped\"", 1);
    std::fs::write(d.join("edited.jsonl"), edited).unwrap();
    let out = asan_in(d, &["audit", "verify", "edited.jsonl"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("edited"),
        "{out:?}"
    );
}

fn info_create(d: &Path, img: &str) {
    let out = asan_in(d, &["--virtual", img, "--create", "--json", "info"], &[]);
    assert!(out.status.success(), "{out:?}");
}
