//! The station's audit trail: one JSON line per card and event, appended
//! and fsynced line by line, each line carrying the SHA-256 of the line
//! before it (`prev`) and of itself (`hash`), so that [`verify`] finds a
//! line removed, inserted or edited. It never holds a PIN, a PUK or a key.
//!
//! ```text
//! {"certificates":[…],"error":null,"event":"provision","key_version":49,"prev":"00…00","reader":"…","result":"personalised","seq":1,"serial":"…","service":"citizen","station":"st-1","time":"2026-12-07T20:28:29Z","hash":"…"}
//! ```
//!
//! `hash` is the SHA-256 (hex) of the line up to, without, `,"hash":"…"`
//! followed by `}`; `prev` is the `hash` of the line before (64 zeros on the
//! first line); `seq` counts lines from 1. Removing the last lines, or
//! rewriting the last line with a new hash, leaves a shorter or different
//! chain that is whole: record the head ([`AuditLog::head`],
//! [`Verified::head`]) elsewhere (the shift log) and check the trail against
//! it later with [`verify_with_head`] to catch that.

use std::fs::OpenOptions;
use std::io::Write;
#[cfg(unix)]
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::provision::{CardReport, IssuedCertificate};

/// `prev` of the first line.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// `,"hash":"` + 64 hex + `"}`.
const HASH_TAIL: usize = 9 + 64 + 2;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.display().to_string(),
        source,
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// One event of one card.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Event {
    /// `provision`, `rotate`, `removed`, …
    pub event: String,
    /// The reader (or virtual card).
    pub reader: String,
    /// The card serial, once known.
    pub serial: Option<String>,
    /// The SCP03 key version the card answers to afterwards.
    pub key_version: Option<u8>,
    /// The service type.
    pub service: Option<String>,
    /// Certificates written: profile and usage, serial, SHA-256.
    pub certificates: Vec<IssuedCertificate>,
    /// `personalised`, `resumed`, `skipped`, `failed`, `rotated`, …
    pub result: String,
    /// Why it failed or was skipped.
    pub error: Option<String>,
}

impl Event {
    /// The event of a personalisation report.
    pub fn of_report(event: &str, report: &CardReport, service: Option<&str>) -> Self {
        Self {
            event: event.into(),
            reader: report.reader.clone(),
            serial: report.serial.clone(),
            key_version: report.key_version,
            service: service.map(str::to_owned),
            certificates: report.issued.clone(),
            result: report.result.into(),
            error: report.error.clone(),
        }
    }
}

struct Head {
    seq: u64,
    prev: String,
}

/// An audit file open for appending (shared by the threads of a batch).
pub struct AuditLog {
    path: PathBuf,
    station: String,
    head: Mutex<Head>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("path", &self.path)
            .field("station", &self.station)
            .finish_non_exhaustive()
    }
}

impl AuditLog {
    /// Opens (or creates, mode 0600) the audit file; an existing file must
    /// verify whole, or nothing is appended to it.
    pub fn open(path: &Path, station: &str) -> Result<Self> {
        let head = match std::fs::read(path) {
            Ok(bytes) => {
                let v = verify_bytes(&bytes).map_err(|e| {
                    Error::ConditionsNotSatisfied(format!(
                        "{}: the audit trail is not whole ({e}); nothing appended",
                        path.display()
                    ))
                })?;
                Head {
                    seq: v.lines,
                    prev: v.head,
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Head {
                seq: 0,
                prev: GENESIS.into(),
            },
            Err(e) => return Err(io(path)(e)),
        };
        Ok(Self {
            path: path.to_owned(),
            station: station.to_owned(),
            head: Mutex::new(head),
        })
    }

    /// The trail's head now: its number of lines and the hash of its last
    /// line (64 zeros when empty), the values to record at the end of a
    /// shift and give to `asan audit verify --head` later.
    pub fn head(&self) -> Result<(u64, String)> {
        let head = self
            .head
            .lock()
            .map_err(|_| Error::Transport("audit trail lock poisoned".into()))?;
        Ok((head.seq, head.prev.clone()))
    }

    /// Appends one event (time now) and syncs it to disk.
    pub fn append(&self, event: &Event) -> Result<()> {
        let mut head = self
            .head
            .lock()
            .map_err(|_| Error::Transport("audit trail lock poisoned".into()))?;
        let time = der::DateTime::from_system_time(std::time::SystemTime::now())
            .map(|t| t.to_string())
            .unwrap_or_default();
        let mut value = serde_json::to_value(event).unwrap_or_else(|_| json!({}));
        if let Value::Object(map) = &mut value {
            map.insert("seq".into(), json!(head.seq + 1));
            map.insert("time".into(), json!(time));
            map.insert("station".into(), json!(self.station));
            map.insert("prev".into(), json!(head.prev));
        }
        let body = value.to_string();
        let hash = sha256_hex(body.as_bytes());
        let open = body.strip_suffix('}').unwrap_or(&body);
        let line = format!("{open},\"hash\":\"{hash}\"}}\n");
        let mut options = OpenOptions::new();
        options.append(true).create(true);
        #[cfg(unix)]
        options.mode(0o600);
        let mut f = options.open(&self.path).map_err(io(&self.path))?;
        f.write_all(line.as_bytes()).map_err(io(&self.path))?;
        f.sync_all().map_err(io(&self.path))?;
        head.seq += 1;
        head.prev = hash;
        Ok(())
    }
}

/// A whole audit trail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Verified {
    /// Its number of lines.
    pub lines: u64,
    /// The hash of its last line (64 zeros when empty).
    pub head: String,
}

/// Where a head recorded earlier is in a whole trail
/// ([`verify_with_head`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Anchor {
    /// The recorded head (lower-case hex).
    pub hash: String,
    /// The line that has it as its `hash` (0 for the head of an empty
    /// trail, 64 zeros).
    pub line: u64,
    /// How many lines follow that line.
    pub later_lines: u64,
}

/// Checks that the audit file is whole: every line's own hash, its `seq`,
/// and its `prev` (the hash of the line before). The error names the first
/// line that fails and why.
pub fn verify(path: &Path) -> Result<Verified> {
    let bytes = std::fs::read(path).map_err(io(path))?;
    verify_bytes(&bytes).map_err(|e| Error::Refused(format!("{}: {e}", path.display())))
}

/// [`verify`], and then requires `head`, a head recorded earlier (the
/// SHA-256 of a line, 64 hex digits in either case), to be the `hash` of
/// one of the trail's lines: without it, lines cut from the end of the
/// trail, or a last line rewritten with its hash recomputed, leave a chain
/// that is whole. Refused when it is not in the trail.
pub fn verify_with_head(path: &Path, head: &str) -> Result<(Verified, Anchor)> {
    let head = check_head(head)?;
    let bytes = std::fs::read(path).map_err(io(path))?;
    let hashes = chain(&bytes).map_err(|e| Error::Refused(format!("{}: {e}", path.display())))?;
    let anchor = anchor(&hashes, &head).ok_or_else(|| {
        Error::Refused(format!(
            "{}: the recorded head {head} is not in the trail: lines were cut from its end or rewritten",
            path.display()
        ))
    })?;
    Ok((verified(&hashes), anchor))
}

/// A recorded head in lower case, refused unless it is 64 hex digits.
fn check_head(head: &str) -> Result<String> {
    if head.len() == 64 && head.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(head.to_ascii_lowercase())
    } else {
        Err(Error::Usage(format!(
            "--head `{}` must be a line's hash: 64 hex digits, as `asan audit verify` prints the head",
            head.escape_debug()
        )))
    }
}

/// Where `head` (lower case) is among the hashes of a whole trail.
fn anchor(hashes: &[String], head: &str) -> Option<Anchor> {
    let line = if head == GENESIS {
        0
    } else {
        hashes.iter().position(|h| h == head)? + 1
    };
    let total = hashes.len();
    Some(Anchor {
        hash: head.to_owned(),
        line: line as u64,
        later_lines: (total - line) as u64,
    })
}

fn verified(hashes: &[String]) -> Verified {
    Verified {
        lines: hashes.len() as u64,
        head: hashes.last().map_or(GENESIS, String::as_str).to_owned(),
    }
}

fn verify_bytes(bytes: &[u8]) -> std::result::Result<Verified, String> {
    chain(bytes).map(|hashes| verified(&hashes))
}

/// The hashes of the lines of a whole trail, in order; the first line that
/// fails and why otherwise.
fn chain(bytes: &[u8]) -> std::result::Result<Vec<String>, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_owned())?;
    if !text.is_empty() && !text.ends_with('\n') {
        return Err("the last line is incomplete (no newline)".into());
    }
    let mut hashes: Vec<String> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let prev = hashes.last().map_or(GENESIS, String::as_str);
        let split = line
            .len()
            .checked_sub(HASH_TAIL)
            .filter(|&at| line.is_char_boundary(at))
            .ok_or_else(|| format!("line {n}: not an audit line"))?;
        let (open, tail) = line.split_at(split);
        let hash = tail
            .strip_prefix(",\"hash\":\"")
            .and_then(|t| t.strip_suffix("\"}"))
            .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| format!("line {n}: no hash at its end"))?;
        let body = format!("{open}}}");
        if sha256_hex(body.as_bytes()) != hash {
            return Err(format!(
                "line {n}: edited (its content does not match its hash)"
            ));
        }
        let value: Value =
            serde_json::from_str(&body).map_err(|_| format!("line {n}: not a JSON object"))?;
        if value["prev"].as_str() != Some(prev) {
            return Err(format!(
                "line {n}: gap or edit: it does not follow line {} (its prev is not that line's hash)",
                n - 1
            ));
        }
        if value["seq"].as_u64() != Some(n as u64) {
            return Err(format!(
                "line {n}: gap: seq {} where {n} was due",
                value["seq"]
            ));
        }
        hashes.push(hash.to_owned());
    }
    Ok(hashes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(serial: &str) -> Event {
        Event {
            event: "provision".into(),
            reader: "r0".into(),
            serial: Some(serial.into()),
            key_version: Some(0x31),
            service: Some("citizen".into()),
            result: "personalised".into(),
            ..Event::default()
        }
    }

    #[test]
    fn a_whole_trail_verifies_and_gaps_and_edits_are_caught() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::open(&path, "st-1").unwrap();
        for s in ["A1", "A2", "A3"] {
            log.append(&event(s)).unwrap();
        }
        // A second opening continues the chain.
        AuditLog::open(&path, "st-1")
            .unwrap()
            .append(&event("A4"))
            .unwrap();
        let whole = verify(&path).unwrap();
        assert_eq!(whole.lines, 4);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.lines().all(|l| l.contains("\"station\":\"st-1\"")));
        let lines: Vec<&str> = text.lines().collect();

        // A line removed.
        let gap = format!("{}\n{}\n{}\n", lines[0], lines[2], lines[3]);
        let e = verify_bytes(gap.as_bytes()).unwrap_err();
        assert!(e.starts_with("line 2: gap"), "{e}");
        // A line edited.
        let edited = text.replace("\"serial\":\"A3\"", "\"serial\":\"B3\"");
        let e = verify_bytes(edited.as_bytes()).unwrap_err();
        assert!(e.starts_with("line 3: edited"), "{e}");
        // Two lines swapped.
        let swapped = format!("{}\n{}\n{}\n{}\n", lines[0], lines[2], lines[1], lines[3]);
        assert!(
            verify_bytes(swapped.as_bytes())
                .unwrap_err()
                .starts_with("line 2:")
        );
        // A torn last line.
        let torn = &text[..text.len() - 5];
        assert!(verify_bytes(torn.as_bytes()).is_err());
        // Nothing is appended to a broken trail.
        std::fs::write(&path, edited).unwrap();
        assert!(AuditLog::open(&path, "st-1").is_err());
    }

    /// A trail of `n` lines in `dir`; returns its path and the log.
    fn trail(dir: &Path, n: usize) -> (PathBuf, AuditLog) {
        let path = dir.join("audit.jsonl");
        let log = AuditLog::open(&path, "st-1").unwrap();
        for i in 0..n {
            log.append(&event(&format!("A{i}"))).unwrap();
        }
        (path, log)
    }

    #[test]
    fn the_head_of_the_log_is_the_head_verify_finds() {
        let dir = tempfile::tempdir().unwrap();
        let (path, log) = trail(dir.path(), 0);
        assert_eq!(log.head().unwrap(), (0, GENESIS.to_owned()));
        log.append(&event("A1")).unwrap();
        log.append(&event("A2")).unwrap();
        let v = verify(&path).unwrap();
        assert_eq!(log.head().unwrap(), (2, v.head.clone()));
        assert_ne!(v.head, GENESIS);
        // Reopened: the same head.
        let again = AuditLog::open(&path, "st-1").unwrap();
        assert_eq!(again.head().unwrap(), (2, v.head));
    }

    #[test]
    fn a_recorded_head_is_found_with_the_lines_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let (path, log) = trail(dir.path(), 3);
        let text = std::fs::read_to_string(&path).unwrap();
        let hashes = chain(text.as_bytes()).unwrap();
        assert_eq!(hashes.len(), 3);
        let whole = verify(&path).unwrap();
        assert_eq!(whole.head, hashes[2]);
        for (i, h) in hashes.iter().enumerate() {
            let (v, a) = verify_with_head(&path, &h.to_uppercase()).unwrap();
            assert_eq!(v, whole);
            assert_eq!(
                a,
                Anchor {
                    hash: h.clone(),
                    line: i as u64 + 1,
                    later_lines: 2 - i as u64,
                }
            );
        }
        // The head of the empty trail it began as.
        let (_, a) = verify_with_head(&path, GENESIS).unwrap();
        assert_eq!((a.line, a.later_lines), (0, 3));
        // A trail that does not verify is refused, head or not.
        let edited = text.replace("\"serial\":\"A1\"", "\"serial\":\"B1\"");
        std::fs::write(&path, edited).unwrap();
        let e = verify_with_head(&path, &hashes[0]).unwrap_err().to_string();
        assert!(e.contains("line 2: edited"), "{e}");
        drop(log);
        // Heads that are not a line's hash in hex: usage errors.
        let bad_hex = format!("{}g", &hashes[0][..63]);
        for bad in [
            "",
            "5c1e",
            &hashes[0][..63],
            &bad_hex,
            &format!("{}0", hashes[0]),
        ] {
            let e = verify_with_head(&path, bad).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad}: {e}");
        }
    }

    #[test]
    fn a_cut_or_rewritten_end_is_whole_without_the_head_and_caught_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let (path, log) = trail(dir.path(), 3);
        let (_, head) = log.head().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let not_in = |bytes: &str| {
            std::fs::write(&path, bytes).unwrap();
            // The limitation: the chain alone is whole.
            let v = verify(&path).unwrap();
            let e = verify_with_head(&path, &head).unwrap_err();
            assert_eq!(e.exit_code(), 1, "{e}");
            let e = e.to_string();
            assert!(
                e.contains(&format!(
                    "the recorded head {head} is not in the trail: lines were cut from its end or rewritten"
                )),
                "{e}"
            );
            v
        };
        // The last line cut.
        let v = not_in(&format!("{}\n{}\n", lines[0], lines[1]));
        assert_eq!(v.lines, 2);
        // Every line cut.
        assert_eq!(not_in("").head, GENESIS);
        // The last line rewritten, its hash recomputed.
        let open = &lines[2][..lines[2].len() - HASH_TAIL];
        let open = open.replace("\"result\":\"personalised\"", "\"result\":\"failed\"");
        let hash = sha256_hex(format!("{open}}}").as_bytes());
        let v = not_in(&format!(
            "{}\n{}\n{open},\"hash\":\"{hash}\"}}\n",
            lines[0], lines[1]
        ));
        assert_eq!((v.lines, v.head), (3, hash));
    }

    #[test]
    fn a_trail_that_cannot_be_read_is_not_taken_for_a_new_one() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the file should be: reading it fails, and
        // only a file that is not there starts a new trail.
        let e = AuditLog::open(dir.path(), "st-1").unwrap_err();
        assert!(matches!(e, Error::Io { .. }), "{e}");
        let log = AuditLog::open(&dir.path().join("audit.jsonl"), "st-9").unwrap();
        // What the log is, for a trace; never its head.
        let shown = format!("{log:?}");
        assert!(shown.starts_with("AuditLog"), "{shown}");
        assert!(
            shown.contains("audit.jsonl") && shown.contains("st-9"),
            "{shown}"
        );
    }

    #[test]
    fn a_hash_that_is_not_hex_is_no_hash() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _log) = trail(dir.path(), 1);
        let text = std::fs::read_to_string(&path).unwrap();
        let line = text.trim_end();
        let not_hex = format!("{}{}\"}}\n", &line[..line.len() - 66], "z".repeat(64));
        assert_eq!(not_hex.len(), text.len());
        let e = verify_bytes(not_hex.as_bytes()).unwrap_err();
        assert_eq!(e, "line 1: no hash at its end");
    }

    #[cfg(unix)]
    #[test]
    fn the_trail_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        AuditLog::open(&path, "s")
            .unwrap()
            .append(&event("A1"))
            .unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
