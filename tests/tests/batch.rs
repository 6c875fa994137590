//! Batch provisioning through pcscd: four virtual cards on four vpcd slots,
//! one of them already operational, one whose card process is killed half
//! way. The report says what happened to each; a second run finishes the
//! interrupted card and personalises nothing twice.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use asan_tests::{SLOTS, VirtualReader, wait_until_card_gone, workspace_binary};
use serde_json::Value;

fn asan(args: &[&str], dir: &Path) -> Output {
    Command::new(workspace_binary("asan-host", "asan"))
        .args(args)
        .current_dir(dir)
        .env_remove("ASAN_PIN1")
        .env_remove("ASAN_PIN2")
        .env_remove("ASAN_PUK")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn provision_all(dir: &Path, ca: &Path, mailer: &Path) -> (Value, Output) {
    let out = asan(
        &[
            "--json",
            "provision",
            "--all-readers",
            "--service",
            "citizen",
            "--ca",
            ca.to_str().unwrap(),
            "--mailer",
            mailer.to_str().unwrap(),
            "--level",
            "03",
            "--audit",
            "audit.jsonl",
        ],
        dir,
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (report, out)
}

fn by_reader<'a>(report: &'a Value, reader: &str) -> &'a Value {
    report["cards"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["reader"] == reader)
        .unwrap_or_else(|| panic!("{reader} missing from {report:#}"))
}

fn info(dir: &Path, reader: &str) -> Value {
    let out = asan(&["--json", "--reader", reader, "info"], dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn batch_of_four_with_an_operational_card_and_a_killed_one() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = d.join("ca");
    let mailer = d.join("mailer.jsonl");
    assert!(
        asan(&["ca", "init", ca.to_str().unwrap()], d)
            .status
            .success()
    );

    let images: Vec<_> = (0..4).map(|i| d.join(format!("card{i}.img"))).collect();
    // Card 1 is personalised beforehand, on its own.
    {
        let vr = VirtualReader::start(SLOTS[1].0, &images[1]);
        let out = asan(
            &[
                "--reader",
                SLOTS[1].1,
                "provision",
                "--service",
                "citizen",
                "--ca",
                ca.to_str().unwrap(),
                "--mailer",
                mailer.to_str().unwrap(),
            ],
            d,
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        vr.stop();
    }
    let mut readers: Vec<Option<VirtualReader>> = (0..4)
        .map(|i| Some(VirtualReader::start(SLOTS[i].0, &images[i])))
        .collect();

    // Run the batch; kill card 2's process once its secure channel is open.
    let child = Command::new(workspace_binary("asan-host", "asan"))
        .args([
            "--json",
            "provision",
            "--all-readers",
            "--service",
            "citizen",
            "--level",
            "03",
        ])
        .arg("--ca")
        .arg(&ca)
        .arg("--mailer")
        .arg(&mailer)
        .current_dir(d)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let victim = readers[2].as_mut().unwrap();
    let start = Instant::now();
    while !victim.log().contains("80 47 80") && !victim.log().contains("84 47 80") {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the batch never reached card 2: {}",
            victim.log()
        );
        thread::sleep(Duration::from_millis(2));
    }
    let _ = victim.child.kill();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "a failed card makes the batch fail: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(by_reader(&report, SLOTS[0].1)["result"], "personalised");
    assert_eq!(by_reader(&report, SLOTS[1].1)["result"], "skipped");
    assert_eq!(by_reader(&report, SLOTS[3].1)["result"], "personalised");
    let killed = by_reader(&report, SLOTS[2].1);
    assert_eq!(killed["result"], "failed", "{killed:#}");
    assert!(killed["error"].as_str().unwrap_or("").len() > 5);
    assert_eq!(report["summary"]["failed"], 1);
    assert_eq!(report["summary"]["personalised"], 2);

    // The killed card comes back with its image; the second run finishes it
    // and touches nothing else.
    // Once pcscd has seen the killed card leave its reader, the slot is
    // free for the card to come back.
    let killed = readers[2].take().unwrap();
    let reader = killed.reader.clone();
    drop(killed);
    wait_until_card_gone(&reader);
    readers[2] = Some(VirtualReader::start(SLOTS[2].0, &images[2]));
    let (report, out) = provision_all(d, &ca, &mailer);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for i in [0, 1, 3] {
        assert_eq!(by_reader(&report, SLOTS[i].1)["result"], "skipped");
    }
    let again = &by_reader(&report, SLOTS[2].1)["result"];
    assert!(again == "personalised" || again == "resumed", "{report:#}");
    // The audit trail: one line per card, and its head in the report and
    // on stderr.
    let trail = std::fs::read_to_string(d.join("audit.jsonl")).unwrap();
    let last: Value = serde_json::from_str(trail.lines().last().unwrap()).unwrap();
    assert_eq!(trail.lines().count(), 4, "{trail}");
    assert_eq!(report["audit_head"], last["hash"], "{report:#}");
    let head = last["hash"].as_str().unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains(&format!("audit trail: 4 lines, head {head}")),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Every card is operational with its two certificates, and the mailer
    // holds each card's PINs (mode 0600).
    let mailer_text = std::fs::read_to_string(&mailer).unwrap();
    for (_, name) in SLOTS {
        let info = info(d, name);
        assert_eq!(info["life_cycle"], "operational");
        assert_eq!(
            info["certificates"].as_array().unwrap().len(),
            2,
            "{info:#}"
        );
        let serial = info["serial"].as_str().unwrap();
        assert!(mailer_text.contains(serial), "no mailer line for {serial}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&mailer).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    // Nothing secret went to the output.
    let pins: Value = serde_json::from_str(mailer_text.lines().next().unwrap()).unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains(pins["puk"].as_str().unwrap()));
    for r in readers.into_iter().flatten() {
        r.stop();
    }
}
