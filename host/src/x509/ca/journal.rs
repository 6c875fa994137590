//! The centre's journal of renewal applications, `DIR/applications.jsonl`:
//! append-only JSON lines, one record per line, each fsynced before the
//! command that wrote it reports success, chained by SHA-256.
//!
//! ```text
//! {"seq":1,"prev":"000…0","record":{…},"hash":"<SHA-256 of '1\n000…0\n' + the record's text>"}
//! {"seq":2,"prev":"<hash of line 1>","record":{…},"hash":"…"}
//! ```
//!
//! A process killed while appending leaves at most a last line without its
//! newline: readers leave it out (it was never reported as written) and the
//! next append cuts it off first. Any other damage — a complete line that
//! does not parse, a broken chain, a sequence gap — is an error naming the
//! line, and the file is left as it is: the journal is never reset.
//! Appends hold the CA directory's lock.

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use super::DevCa;
use super::store::{DirLock, io_error, sync_directory};
use crate::error::{Error, Result};

/// The journal of applications in the CA directory.
pub const JOURNAL_FILE: &str = "applications.jsonl";

/// The `prev` of the first line.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line<'a> {
    seq: u64,
    prev: String,
    #[serde(borrow)]
    record: &'a RawValue,
    hash: String,
}

fn chain_hash(seq: u64, prev: &str, record: &str) -> String {
    hex::encode(Sha256::digest(format!("{seq}\n{prev}\n{record}")))
}

/// What a read of the journal found.
struct Scan {
    records: Vec<Value>,
    /// Bytes of whole, verified lines.
    valid_len: u64,
    /// The last line's sequence number and hash.
    last: (u64, String),
}

fn damaged(path: &Path, line: usize, why: &str) -> Error {
    io_error(path)(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("the journal is damaged at line {line}: {why}; it is left as it is"),
    ))
}

fn scan(path: &Path, bytes: &[u8]) -> Result<Scan> {
    let mut scan = Scan {
        records: Vec::new(),
        valid_len: 0,
        last: (0, GENESIS.to_owned()),
    };
    let mut rest = bytes;
    let mut number = 0;
    // Only lines with their newline count; a tail without one is torn.
    while let Some(end) = rest.iter().position(|b| *b == b'\n') {
        number += 1;
        let (line, after) = rest.split_at(end);
        rest = after.get(1..).unwrap_or_default();
        let text = std::str::from_utf8(line).map_err(|_| damaged(path, number, "not UTF-8"))?;
        let parsed: Line<'_> = serde_json::from_str(text)
            .map_err(|e| damaged(path, number, &format!("not a journal line ({e})")))?;
        let (seq, prev) = &scan.last;
        if parsed.seq != seq + 1 || &parsed.prev != prev {
            return Err(damaged(path, number, "the chain is broken"));
        }
        if parsed.hash != chain_hash(parsed.seq, &parsed.prev, parsed.record.get()) {
            return Err(damaged(path, number, "the hash does not match the record"));
        }
        let record: Value = serde_json::from_str(parsed.record.get())
            .map_err(|e| damaged(path, number, &e.to_string()))?;
        scan.records.push(record);
        scan.last = (parsed.seq, parsed.hash);
        scan.valid_len += u64::try_from(line.len() + 1).unwrap_or(u64::MAX);
    }
    Ok(scan)
}

/// Every record of the journal in the CA directory `dir`, oldest first
/// (none when there is no journal). A torn last line is left out.
pub fn journal_records(dir: &Path) -> Result<Vec<Value>> {
    let path = dir.join(JOURNAL_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => Ok(scan(&path, &bytes)?.records),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(io_error(&path)(e)),
    }
}

/// The lock file that serialises reviews of applications.
const REVIEWS_LOCK_FILE: &str = ".reviews.lock";

/// Held while one review reads the journal, decides, issues and records,
/// so that two reviews never decide on the same history (and never issue
/// twice). Released when dropped.
pub struct ReviewsLock {
    _lock: DirLock,
}

impl std::fmt::Debug for ReviewsLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReviewsLock")
    }
}

impl DevCa {
    /// Waits until no other review runs in this CA directory; reviews are
    /// serialised while the guard lives. (A lock of its own, so that the
    /// registers' lock can be taken inside.)
    pub fn lock_reviews(&self) -> Result<ReviewsLock> {
        Ok(ReviewsLock {
            _lock: DirLock::acquire_file(self.dir(), REVIEWS_LOCK_FILE)?,
        })
    }

    /// Appends `records` to the journal, in order, each line synced to disk
    /// before the next; a torn last line left by a killed process is cut
    /// off first. Holds the CA directory's lock.
    pub fn append_journal(&self, records: &[Value]) -> Result<()> {
        let path = self.dir().join(JOURNAL_FILE);
        let _lock = DirLock::acquire(self.dir())?;
        let created = !path.exists();
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&path).map_err(io_error(&path))?;
        if created {
            sync_directory(self.dir())?;
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io_error(&path))?;
        let found = scan(&path, &bytes)?;
        if found.valid_len != u64::try_from(bytes.len()).unwrap_or(u64::MAX) {
            file.set_len(found.valid_len)
                .and_then(|()| file.sync_all())
                .map_err(io_error(&path))?;
        }
        file.seek(SeekFrom::Start(found.valid_len))
            .map_err(io_error(&path))?;
        let (mut seq, mut prev) = found.last;
        for record in records {
            let raw = serde_json::value::to_raw_value(record)
                .map_err(|e| Error::Certificate(format!("cannot encode a journal record: {e}")))?;
            seq += 1;
            let hash = chain_hash(seq, &prev, raw.get());
            let line = Line {
                seq,
                prev: prev.clone(),
                record: &raw,
                hash: hash.clone(),
            };
            let mut text = serde_json::to_vec(&line)
                .map_err(|e| Error::Certificate(format!("cannot encode a journal line: {e}")))?;
            text.push(b'\n');
            file.write_all(&text)
                .and_then(|()| file.sync_data())
                .map_err(io_error(&path))?;
            prev = hash;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ca() -> (tempfile::TempDir, DevCa) {
        let dir = tempfile::tempdir().unwrap();
        let ca = DevCa::init(&dir.path().join("ca")).unwrap();
        (dir, ca)
    }

    #[test]
    fn appends_chain_and_read_back() {
        let (_d, ca) = ca();
        assert!(journal_records(ca.dir()).unwrap().is_empty());
        ca.append_journal(&[json!({"n": 1}), json!({"n": 2})])
            .unwrap();
        ca.append_journal(&[json!({"n": 3, "text": "Əli\n\"x\""})])
            .unwrap();
        let records = journal_records(ca.dir()).unwrap();
        assert_eq!(records.len(), 3);
        assert_eq!(records[2]["text"], "Əli\n\"x\"");
        let text = std::fs::read_to_string(ca.dir().join(JOURNAL_FILE)).unwrap();
        assert_eq!(text.lines().count(), 3);
        assert!(
            text.lines()
                .all(|l| serde_json::from_str::<Value>(l).is_ok())
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(ca.dir().join(JOURNAL_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_torn_last_line_is_left_out_then_cut_off() {
        let (_d, ca) = ca();
        ca.append_journal(&[json!({"n": 1}), json!({"n": 2})])
            .unwrap();
        let path = ca.dir().join(JOURNAL_FILE);
        let whole = std::fs::read(&path).unwrap();
        // Killed half-way through the third line, at every possible byte.
        ca.append_journal(&[json!({"n": 3})]).unwrap();
        let third = std::fs::read(&path).unwrap();
        for cut in whole.len()..third.len() {
            std::fs::write(&path, &third[..cut]).unwrap();
            let records = journal_records(ca.dir()).unwrap();
            assert_eq!(records.len(), 2, "cut at {cut}");
        }
        ca.append_journal(&[json!({"n": 4})]).unwrap();
        let records = journal_records(ca.dir()).unwrap();
        let ns: Vec<_> = records.iter().map(|r| r["n"].as_u64().unwrap()).collect();
        assert_eq!(ns, [1, 2, 4]);
    }

    #[test]
    fn damage_is_refused_and_the_file_left_alone() {
        let (_d, ca) = ca();
        ca.append_journal(&[json!({"n": 1}), json!({"n": 2}), json!({"n": 3})])
            .unwrap();
        let path = ca.dir().join(JOURNAL_FILE);
        let good = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = good.lines().collect();
        let cases = [
            // A record changed: its hash no longer matches.
            good.replacen("{\"n\":2}", "{\"n\":5}", 1),
            // A line removed: the chain is broken.
            format!("{}\n{}\n", lines[0], lines[2]),
            // Garbage in the middle.
            format!("{}\nxx\n{}\n", lines[0], lines[1]),
        ];
        for bad in cases {
            std::fs::write(&path, &bad).unwrap();
            let e = journal_records(ca.dir()).unwrap_err();
            assert!(e.to_string().contains("damaged at line"), "{e}");
            let e = ca.append_journal(&[json!({"n": 9})]).unwrap_err();
            assert!(e.to_string().contains("damaged at line"), "{e}");
            assert_eq!(std::fs::read_to_string(&path).unwrap(), bad);
        }
    }
}
