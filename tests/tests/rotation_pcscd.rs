//! `asan keys rotate` through pcscd and vpcd with the card process killed
//! after the k-th APDU of the sequence, for every k (issue 17): restarted,
//! the card answers to exactly one of the two key sets, and a re-run of the
//! same command finishes the rotation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use asan_tests::{VirtualReader, asan_command, reader_for, vcard_binary, wait_until_card_gone};
use pcsc::{ReaderState, State};

const PORT: u16 = 35963;
const TEST_KEYS: &str = "kvn = 30\nenc = 404142434445464748494A4B4C4D4E4F\n\
    mac = 404142434445464748494A4B4C4D4E4F\ndek = 404142434445464748494A4B4C4D4E4F\n";
const MASTER: &str = "kvn = 31\nenc = 000102030405060708090A0B0C0D0E0F\n\
    mac = 101112131415161718191A1B1C1D1E1F\ndek = 202122232425262728292A2B2C2D2E2F\n";

fn private(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn asan(d: &Path, args: &[&str]) -> std::process::Output {
    let mut all = vec!["--reader", reader_for(PORT)];
    all.extend_from_slice(args);
    let mut cmd = asan_command(&all, &[]);
    cmd.current_dir(d);
    let out = cmd.output().unwrap();
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("panicked"),
        "{out:?}"
    );
    out
}

/// Whether an operator command opens a channel with these keys.
fn answers(d: &Path, keys: &[&str]) -> bool {
    let mut args = vec!["service", "set", "citizen", "active"];
    args.extend_from_slice(keys);
    asan(d, &args).status.success()
}

/// Waits (PC/SC state change, at most 15 s) until pcscd sees a card in the reader.
fn wait_present() {
    let ctx = asan_tests::pcsc_context();
    let name = std::ffi::CString::new(reader_for(PORT)).unwrap();
    let mut states = [ReaderState::new(name, State::UNAWARE)];
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no card appeared");
        if ctx.get_status_change(Some(left), &mut states).is_ok() {
            let e = states[0].event_state();
            if e.contains(State::PRESENT) && !e.contains(State::MUTE) {
                return;
            }
            states[0].sync_current_state();
        }
    }
}

#[test]
fn rotation_killed_after_every_apdu_leaves_one_key_set_and_a_rerun_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    private(&d.join("test.keys"), TEST_KEYS);
    private(&d.join("master.keys"), MASTER);
    let fresh = d.join("fresh.img");
    {
        let (mut card, created) = asan_vcard::VirtualCard::open(&fresh).unwrap();
        assert!(created);
        card.power_on();
    }
    let rotate = [
        "keys",
        "rotate",
        "--keys",
        "test.keys",
        "--new-master-keys",
        "master.keys",
    ];
    let mut kills = 0;
    for k in 0.. {
        assert!(k < 40, "the rotation never finished");
        std::fs::copy(&fresh, d.join("card.img")).unwrap();
        let mut vcard = Command::new(vcard_binary())
            .arg("--state")
            .arg(d.join("card.img"))
            .args(["--vpcd", &format!("127.0.0.1:{PORT}"), "--verbose"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = std::io::BufReader::new(vcard.stderr.take().unwrap());
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for l in log.lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
        wait_present();
        while rx.try_recv().is_ok() {}
        // The rotation, with the card killed after its k-th APDU.
        let mut cmd = asan_command(
            &[&["--reader", reader_for(PORT)][..], &rotate].concat(),
            &[],
        );
        cmd.current_dir(d);
        let mut run = cmd.spawn().unwrap();
        let mut apdus = 0;
        let mut killed = false;
        let deadline = Instant::now() + Duration::from_secs(30);
        while let Ok(l) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            if l.contains(" bytes) -> ") {
                apdus += 1;
            }
            if apdus >= k && !killed {
                vcard.kill().unwrap();
                killed = true;
                break;
            }
        }
        let status = run.wait().unwrap();
        if !killed {
            vcard.kill().unwrap();
        }
        vcard.wait().unwrap();
        wait_until_card_gone(&std::ffi::CString::new(reader_for(PORT)).unwrap());
        let reader = VirtualReader::start(PORT, &d.join("card.img"));
        let old = answers(d, &["--keys", "test.keys"]);
        let new = answers(d, &["--master-keys", "master.keys"]);
        assert!(
            old ^ new,
            "killed after {k} APDUs: test keys {old}, new keys {new}"
        );
        if status.success() && new {
            reader.stop();
            break;
        }
        kills += 1;
        let out = asan(d, &rotate);
        assert!(out.status.success(), "re-run after {k}: {out:?}");
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(said.contains("key version 31"), "{said}");
        assert!(!answers(d, &["--keys", "test.keys"]), "after {k}");
        assert!(answers(d, &["--master-keys", "master.keys"]), "after {k}");
        reader.stop();
    }
    // SELECT, GET DATA, INITIALIZE UPDATE, EXTERNAL AUTHENTICATE, PUT KEY,
    // INITIALIZE UPDATE, EXTERNAL AUTHENTICATE, SELECT: a kill point each.
    assert!(kills >= 8, "{kills}");
}
