//! Verification of a trail: every line's hash, `seq` and `prev`, and a
//! head recorded earlier.

use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use super::{GENESIS, HASH_TAIL, io, sha256_hex};
use crate::error::{Error, Result};

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

pub(super) fn verify_bytes(bytes: &[u8]) -> std::result::Result<Verified, String> {
    chain(bytes).map(|hashes| verified(&hashes))
}

/// The hashes of the lines of a whole trail, in order; the first line that
/// fails and why otherwise.
pub(super) fn chain(bytes: &[u8]) -> std::result::Result<Vec<String>, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_owned())?;
    if !text.is_empty() && !text.ends_with('\n') {
        return Err("the last line is incomplete (no newline)".into());
    }
    let mut hashes: Vec<String> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let prev = hashes.last().map_or(GENESIS, String::as_str);
        let (hash, value) = parse_line(line, &format!("line {n}"))?;
        if value["prev"].as_str() != Some(prev) {
            return Err(if n == 1 {
                "line 1: gap or edit: its prev is not 64 zeros, as the first line's must be"
                    .to_owned()
            } else {
                format!(
                    "line {n}: gap or edit: it does not follow line {} (its prev is not that line's hash)",
                    n - 1
                )
            });
        }
        if value["seq"].as_u64() != Some(n as u64) {
            return Err(format!(
                "line {n}: gap: seq {} where {n} was due",
                value["seq"]
            ));
        }
        hashes.push(hash);
    }
    Ok(hashes)
}

/// One line's own hash, checked against its content, and its content;
/// `n` names the line in the error.
pub(super) fn parse_line(line: &str, n: &str) -> std::result::Result<(String, Value), String> {
    let split = line
        .len()
        .checked_sub(HASH_TAIL)
        .filter(|&at| line.is_char_boundary(at))
        .ok_or_else(|| format!("{n}: not an audit line"))?;
    let (open, tail) = line.split_at(split);
    let hash = tail
        .strip_prefix(",\"hash\":\"")
        .and_then(|t| t.strip_suffix("\"}"))
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| format!("{n}: no hash at its end"))?;
    let body = format!("{open}}}");
    if sha256_hex(body.as_bytes()) != hash {
        return Err(format!("{n}: edited (its content does not match its hash)"));
    }
    let value: Value =
        serde_json::from_str(&body).map_err(|_| format!("{n}: not a JSON object"))?;
    Ok((hash.to_owned(), value))
}
