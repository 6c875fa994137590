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
//!
//! Appending ([`AuditLog::append`]) takes an exclusive lock on the file and
//! continues the chain from the file's last line, so that several appenders
//! (threads, processes) make one chain; a line that cannot be written whole
//! is cut back; a file moved or replaced since [`AuditLog::open`] is not
//! appended to. A last line torn by a power cut (no newline) after a whole
//! chain is cut by the next appender, which records the cut in a
//! `recovered` line; [`verify`] reports it until then.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
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

impl Head {
    fn genesis() -> Self {
        Self {
            seq: 0,
            prev: GENESIS.into(),
        }
    }
}

/// The identity of the file a trail was opened as (device and inode), to
/// refuse appending to another file put at its path (rotated, moved).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileId(u64, u64);

impl FileId {
    #[cfg(unix)]
    fn of(meta: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        Self(meta.dev(), meta.ino())
    }

    #[cfg(not(unix))]
    fn of(_meta: &std::fs::Metadata) -> Self {
        Self(0, 0)
    }
}

struct State {
    /// The last line this log wrote or found.
    head: Head,
    /// The file it appends to; `None` until the file exists.
    file: Option<FileId>,
}

/// An audit file open for appending (shared by the threads of a batch).
///
/// Every append takes an exclusive lock on the file and continues the chain
/// from the file's last line as it is then, so that two logs on one trail
/// (two processes, a station and `asan keys rotate`) append one chain.
pub struct AuditLog {
    path: PathBuf,
    station: String,
    state: Mutex<State>,
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
    /// Opens the audit file (created, mode 0600, by the first append); an
    /// existing file must verify whole, or nothing is appended to it. The
    /// one exception: a last line without its newline (a power cut while it
    /// was written) after a whole chain is cut, and a `recovered` line
    /// recording its length and SHA-256 is appended.
    pub fn open(path: &Path, station: &str) -> Result<Self> {
        let log = Self {
            path: path.to_owned(),
            station: station.to_owned(),
            state: Mutex::new(State {
                head: Head::genesis(),
                file: None,
            }),
        };
        let mut f = match OpenOptions::new().read(true).append(true).open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(log),
            Err(e) => return Err(io(path)(e)),
        };
        f.lock().map_err(io(path))?;
        let id = FileId::of(&f.metadata().map_err(io(path))?);
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes).map_err(io(path))?;
        let head = match verify_bytes(&bytes) {
            Ok(v) => Head {
                seq: v.lines,
                prev: v.head,
            },
            Err(e) => {
                let not_whole = || {
                    Error::ConditionsNotSatisfied(format!(
                        "{}: the audit trail is not whole ({e}); nothing appended",
                        path.display()
                    ))
                };
                let cut = whole_lines(&bytes);
                if cut == bytes.len() {
                    return Err(not_whole());
                }
                let v = verify_bytes(&bytes[..cut]).map_err(|_| not_whole())?;
                let head = Head {
                    seq: v.lines,
                    prev: v.head,
                };
                log.recover(&mut f, &bytes[cut..], cut as u64, &head)?
            }
        };
        let state = State {
            head,
            file: Some(id),
        };
        Ok(Self {
            state: Mutex::new(state),
            ..log
        })
    }

    /// The trail's head after this log's last append (or as it was opened):
    /// its number of lines and the hash of its last line (64 zeros when
    /// empty), the values to record at the end of a shift and give to
    /// `asan audit verify --head` later.
    pub fn head(&self) -> Result<(u64, String)> {
        let state = self.state()?;
        Ok((state.head.seq, state.head.prev.clone()))
    }

    fn state(&self) -> Result<std::sync::MutexGuard<'_, State>> {
        self.state
            .lock()
            .map_err(|_| Error::Transport("audit trail lock poisoned".into()))
    }

    fn moved(&self, what: &str) -> Error {
        Error::ConditionsNotSatisfied(format!(
            "the audit trail {} was moved or replaced while this run had it open: {what}; nothing appended (a new run opens the file now there)",
            self.path.display()
        ))
    }

    /// Appends one event (time now) and syncs it to disk: under an
    /// exclusive lock on the file, after the file's last line. Refused if
    /// the file was moved or replaced since it was opened; a write that
    /// fails leaves the file as it was.
    pub fn append(&self, event: &Event) -> Result<()> {
        let mut state = self.state()?;
        let path = &self.path;
        let mut options = OpenOptions::new();
        options.read(true).append(true);
        if state.file.is_none() {
            options.create(true);
            #[cfg(unix)]
            options.mode(0o600);
        }
        let mut f = match options.open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(self.moved("there is no file there now"));
            }
            Err(e) => return Err(io(path)(e)),
        };
        f.lock().map_err(io(path))?;
        let id = FileId::of(&f.metadata().map_err(io(path))?);
        let there = std::fs::metadata(path).map(|m| FileId::of(&m));
        if state.file.is_some_and(|known| known != id) || there.ok() != Some(id) {
            return Err(self.moved("another file is there now"));
        }
        let (len, head) = self.last_line(&mut f)?;
        let head = self.write_line(&mut f, len, &head, event)?;
        state.file = Some(id);
        state.head = head;
        Ok(())
    }

    /// The length of the file (locked) and the head its last line leaves;
    /// a torn last line is cut and recorded first.
    fn last_line(&self, f: &mut File) -> Result<(u64, Head)> {
        let path = &self.path;
        let len = f.metadata().map_err(io(path))?.len();
        // Read back from the end until the last whole line is in `tail`.
        let mut window: u64 = 4096;
        let tail = loop {
            let start = len.saturating_sub(window);
            f.seek(SeekFrom::Start(start)).map_err(io(path))?;
            let mut tail = Vec::new();
            f.read_to_end(&mut tail).map_err(io(path))?;
            if start == 0 || tail.iter().filter(|&&b| b == b'\n').count() >= 2 {
                break (start, tail);
            }
            window = window.saturating_mul(2);
        };
        let (start, tail) = tail;
        let cut = whole_lines(&tail);
        let body = &tail[..cut];
        let head = match body.strip_suffix(b"\n") {
            None => Head::genesis(),
            Some(body) => {
                let line = &body[whole_lines(body)..];
                let n = "the last line";
                let parsed = std::str::from_utf8(line)
                    .map_err(|_| format!("{n}: not UTF-8 text"))
                    .and_then(|line| parse_line(line, n))
                    .and_then(|(hash, value)| {
                        value["seq"]
                            .as_u64()
                            .map(|seq| Head { seq, prev: hash })
                            .ok_or_else(|| format!("{n}: no seq"))
                    });
                parsed.map_err(|e| {
                    Error::ConditionsNotSatisfied(format!(
                        "{}: the audit trail is not whole ({e}); nothing appended",
                        path.display()
                    ))
                })?
            }
        };
        if cut == tail.len() {
            return Ok((len, head));
        }
        let whole = start + cut as u64;
        let head = self.recover(f, &tail[cut..], whole, &head)?;
        Ok((f.metadata().map_err(io(path))?.len(), head))
    }

    /// Cuts `torn`, the bytes after the last newline (at `whole`), and
    /// appends a `recovered` line recording them; puts them back if that
    /// line cannot be written.
    fn recover(&self, f: &mut File, torn: &[u8], whole: u64, head: &Head) -> Result<Head> {
        let path = &self.path;
        f.set_len(whole).map_err(io(path))?;
        f.sync_all().map_err(io(path))?;
        let event = Event {
            event: "recovered".into(),
            result: "cut".into(),
            error: Some(format!(
                "a torn last line of {} bytes (SHA-256 {}) was cut",
                torn.len(),
                sha256_hex(torn)
            )),
            ..Event::default()
        };
        self.write_line(f, whole, head, &event).inspect_err(|_| {
            // Best effort: the file as it was found.
            let _ = f.write_all(torn).and_then(|()| f.sync_all());
        })
    }

    /// Writes the line of `event` after `head` to the file (of length `len`,
    /// locked) and syncs it; on any error, cuts the file back to `len`.
    fn write_line(&self, f: &mut File, len: u64, head: &Head, event: &Event) -> Result<Head> {
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
        if let Err(e) = f.write_all(line.as_bytes()).and_then(|()| f.sync_all()) {
            // No torn line: the file as it was.
            let _ = f.set_len(len).and_then(|()| f.sync_all());
            return Err(io(&self.path)(e));
        }
        Ok(Head {
            seq: head.seq + 1,
            prev: hash,
        })
    }
}

/// The length of `bytes` up to and with its last newline (0 if none).
fn whole_lines(bytes: &[u8]) -> usize {
    bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)
}

mod verify;
pub use verify::{Anchor, Verified, verify, verify_with_head};
use verify::{parse_line, verify_bytes};

#[cfg(test)]
mod tests;
