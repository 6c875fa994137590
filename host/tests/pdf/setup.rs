//! A development CA, a personalised virtual card and `asan` on it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

pub struct Setup {
    pub dir: tempfile::TempDir,
    pin2: String,
}

pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

impl Setup {
    /// `asan ca init ca` and `asan provision --virtual card.img` with it.
    pub fn new() -> Self {
        Self::made(None)
    }

    /// The same, with the CA and the card made at `faketime AT`.
    pub fn made(at: Option<&str>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let s = Self {
            dir,
            pin2: String::new(),
        };
        let run = |args: &[&str]| match at {
            None => s.bare(args),
            Some(at) => Command::new("faketime")
                .arg(at)
                .arg(env!("CARGO_BIN_EXE_asan"))
                .args(args)
                .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
                .current_dir(s.dir.path())
                .stdin(Stdio::null())
                .output()
                .unwrap(),
        };
        let out = run(&["ca", "init", "ca"]);
        assert!(out.status.success(), "{}", text(&out));
        let out = run(&[
            "provision",
            "--virtual",
            "card.img",
            "--service",
            "citizen",
            "--ca",
            "ca",
            "--mailer",
            "pins.jsonl",
        ]);
        assert!(out.status.success(), "{}", text(&out));
        let pins = std::fs::read_to_string(s.path("pins.jsonl")).unwrap();
        let pins: Value = serde_json::from_str(pins.lines().next().unwrap()).unwrap();
        Self {
            pin2: pins["pin2"].as_str().unwrap().to_owned(),
            ..s
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn root(&self) -> PathBuf {
        self.path("ca/root.pem")
    }

    /// `asan ARGS` in the directory, without a card.
    pub fn bare(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_asan"))
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// `asan --virtual card.img ARGS` with the card's PIN2.
    pub fn asan(&self, args: &[&str]) -> Output {
        self.asan_pin2(&self.pin2, args)
    }

    pub fn asan_pin2(&self, pin2: &str, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_asan"))
            .arg("--virtual")
            .arg("card.img")
            .args(args)
            .env("ASAN_PIN2", pin2)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// `asan sign INPUT --pades ARGS --chain ca/root.pem`, which must work.
    pub fn sign(&self, input: &Path, args: &[&str]) -> Value {
        let mut all = vec!["--json", "sign", "--pades", "--chain", "ca/root.pem"];
        all.extend_from_slice(args);
        all.push(input.to_str().unwrap());
        let out = self.asan(&all);
        assert!(out.status.success(), "{}", text(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// `asan --json verify FILE --ca … ARGS`: exit code and report.
    pub fn verify(&self, file: &Path, args: &[&str]) -> (i32, Value, String) {
        let mut all = vec!["--json", "verify", file.to_str().unwrap()];
        all.extend_from_slice(args);
        let out = self.bare(&all);
        let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (out.status.code().unwrap_or(-1), json, text(&out))
    }

    /// PIN2 tries left.
    pub fn pin2_tries(&self) -> u64 {
        let out = self.asan(&["--json", "info"]);
        assert!(out.status.success(), "{}", text(&out));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v["pins"]["pin2"]["tries_left"]
            .as_u64()
            .or_else(|| v["pin2"]["tries_left"].as_u64())
            .or_else(|| v["pin2_tries"].as_u64())
            .unwrap_or_else(|| panic!("no PIN2 tries in {v}"))
    }
}

/// `asan tsa serve` on a free port: the process and its URL.
pub struct OurTsa {
    child: Child,
    pub url: String,
}

impl OurTsa {
    pub fn start(s: &Setup) -> Self {
        let out = s.bare(&["tsa", "init", "tsa", "--ca", "ca"]);
        assert!(out.status.success(), "{}", text(&out));
        let mut child = Command::new(env!("CARGO_BIN_EXE_asan"))
            .args(["tsa", "serve", "tsa", "--listen", "127.0.0.1:0"])
            .current_dir(s.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let url = loop {
            let line = lines.next().expect("asan tsa serve ended").unwrap();
            if let Some(at) = line.find("http://") {
                break line[at..].trim().to_owned();
            }
        };
        // Keep draining stderr so the server never blocks on it.
        std::thread::spawn(move || lines.for_each(drop));
        Self { child, url }
    }
}

impl Drop for OurTsa {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The share of pixels darker than white in a rectangle (x1, y1, x2, y2 in
/// points from the bottom left) of page `page`, rendered by poppler's
/// `pdftoppm` at 72 dpi (one pixel per point).
pub fn ink_in_rect(pdf: &Path, page: usize, rect: (f64, f64, f64, f64)) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("page");
    let p = page.to_string();
    let out = Command::new("pdftoppm")
        .args(["-r", "72", "-gray", "-singlefile", "-f", &p, "-l", &p])
        .arg(pdf)
        .arg(&prefix)
        .output()
        .unwrap();
    assert!(out.status.success(), "pdftoppm: {}", text(&out));
    let pgm = std::fs::read(prefix.with_extension("pgm")).unwrap();
    // P5 WIDTH HEIGHT 255 then the pixels.
    let mut fields = Vec::new();
    let mut at = 0;
    while fields.len() < 4 {
        while pgm[at].is_ascii_whitespace() {
            at += 1;
        }
        let start = at;
        while !pgm[at].is_ascii_whitespace() {
            at += 1;
        }
        fields.push(String::from_utf8_lossy(&pgm[start..at]).into_owned());
    }
    let pixels = &pgm[at + 1..];
    let (w, h): (usize, usize) = (fields[1].parse().unwrap(), fields[2].parse().unwrap());
    let (x1, y1, x2, y2) = rect;
    let (mut dark, mut all) = (0usize, 0usize);
    for y in (h as f64 - y2) as usize + 1..(h as f64 - y1) as usize - 1 {
        for x in x1 as usize + 1..x2 as usize - 1 {
            all += 1;
            if pixels[y * w + x] < 250 {
                dark += 1;
            }
        }
    }
    dark as f64 / all.max(1) as f64
}
