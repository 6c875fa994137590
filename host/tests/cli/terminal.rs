//! PINs typed on a terminal (a pseudo-terminal from util-linux `script`).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::run::ASAN_VARIABLES;
use crate::harness::{Image, PIN1, PIN2};

/// The pseudo-terminal the process tree under `script` (pid) runs on: the
/// standard input of one of its children.
fn terminal_of(script: u32) -> Option<std::path::PathBuf> {
    let parent = script.to_string();
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid = entry.file_name().into_string().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // pid (comm) state ppid …: the command name may hold spaces.
            let ppid = stat.rsplit_once(')')?.1.split_whitespace().nth(1)?;
            if ppid != parent {
                return None;
            }
            let tty = std::fs::read_link(format!("/proc/{pid}/fd/0")).ok()?;
            tty.starts_with("/dev/pts").then_some(tty)
        })
}

/// Whether the terminal `tty` has echo switched off (`stty -a` shows `-echo`).
fn echo_off(tty: &Path) -> bool {
    Command::new("stty")
        .arg("-F")
        .arg(tty)
        .arg("-a")
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|out| {
            String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .any(|flag| flag == "-echo")
        })
}

/// Runs `asan --virtual IMAGE ARGS` on a pseudo-terminal (util-linux
/// `script`), typing each answer after its prompt appeared; returns what the
/// terminal showed and the exit code.
fn on_terminal(image: &Path, args: &str, env: &[(&str, &str)], answers: &[&str]) -> (String, i32) {
    use std::io::Read;
    use std::sync::{Arc, Mutex};
    let cmd = format!(
        "{} --virtual {} {args}",
        env!("CARGO_BIN_EXE_asan"),
        image.display()
    );
    let mut script = Command::new("script");
    script
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for var in ASAN_VARIABLES {
        script.env_remove(var);
    }
    for (k, v) in env {
        script.env(k, v);
    }
    let mut child = script.spawn().expect("util-linux script is installed");
    let screen = Arc::new(Mutex::new(Vec::new()));
    let mut stdout = child.stdout.take().unwrap();
    let sink = Arc::clone(&screen);
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 256];
        while let Ok(n @ 1..) = stdout.read(&mut buf) {
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    let shown = || String::from_utf8_lossy(&screen.lock().unwrap()).into_owned();
    let mut stdin = child.stdin.take().unwrap();
    for (i, answer) in answers.iter().enumerate() {
        let start = std::time::Instant::now();
        while shown().matches(": ").count() <= i {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "no prompt {} for asan {args}: {:?}",
                i + 1,
                shown()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        // The prompt is written just before echo is switched off: type only
        // once the terminal no longer echoes.
        let start = std::time::Instant::now();
        while !terminal_of(child.id()).is_some_and(|tty| echo_off(&tty)) {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "echo never switched off for prompt {} of asan {args}: {:?}",
                i + 1,
                shown()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        stdin.write_all(format!("{answer}\r").as_bytes()).unwrap();
        stdin.flush().unwrap();
    }
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("asan {args} on a terminal hangs: {:?}", shown());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(stdin);
    reader.join().unwrap();
    let text = shown();
    assert!(!text.contains("panicked"), "{text}");
    (text, status.code().unwrap_or(-1))
}

#[test]
fn pins_typed_on_a_terminal_are_not_echoed() {
    let image = Image::personalised();
    let (screen, code) = on_terminal(&image.path, "pin verify pin1", &[], &[PIN1]);
    assert_eq!(code, 0, "{screen:?}");
    assert!(screen.starts_with("PIN1: "), "{screen:?}");
    assert!(screen.contains("PIN1 is correct"), "{screen:?}");
    assert!(!screen.contains(PIN1), "the PIN was echoed: {screen:?}");

    // A new PIN is asked twice on a terminal.
    let (screen, code) = on_terminal(
        &image.path,
        "pin change pin2",
        &[],
        &[PIN2, "86420", "86420"],
    );
    assert_eq!(code, 0, "{screen:?}");
    for prompt in [
        "current PIN2: ",
        "new PIN2: ",
        "new PIN2 again: ",
        "PIN2 changed",
    ] {
        assert!(screen.contains(prompt), "{prompt:?} in {screen:?}");
    }
    assert!(
        !screen.contains(PIN2) && !screen.contains("86420"),
        "{screen:?}"
    );
    // …and the two must agree.
    let (screen, code) = on_terminal(
        &image.path,
        "pin change pin2",
        &[],
        &["86420", "11111", "22222"],
    );
    assert_eq!(code, 2, "{screen:?}");
    assert!(
        screen.contains("asan: the two new PINs differ; nothing was changed"),
        "{screen:?}"
    );
    assert_eq!(image.tries(), [3, 3, 10]);

    // The environment still wins: no prompt at all.
    let (screen, code) = on_terminal(
        &image.path,
        "pin verify pin2",
        &[("ASAN_PIN2", "86420")],
        &[],
    );
    assert_eq!(code, 0, "{screen:?}");
    assert!(!screen.contains("PIN2: "), "{screen:?}");
}
