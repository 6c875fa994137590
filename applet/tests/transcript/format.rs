//! The transcript format: parsing of `.apdu` files and matching of answers
//! (see `test-vectors/apdu/README.md`).

use std::fmt::Write as _;

use asan_applet::ServiceType;
use asan_applet::scp03::{SecurityLevel, StaticKeys};

/// One element of an expected response's data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    /// These exact bytes.
    Lit(Vec<u8>),
    /// Exactly this many arbitrary bytes (`*N`).
    Any(usize),
    /// Any number of arbitrary bytes, also none (`*`).
    Star,
}

/// An expected R-APDU.
#[derive(Clone, Debug)]
pub struct Expected {
    pub data: Vec<Item>,
    pub sw: u16,
    pub text: String,
}

#[derive(Clone, Debug)]
pub enum Directive {
    Fresh,
    Personalise(ServiceType),
    Reset,
    PowerCycle,
    PowerCut(usize),
    Scp {
        level: u8,
        keys: StaticKeys,
    },
    ScpEnd,
    /// The card presents contract version 1.0 (until the next power cycle).
    Contract10,
}

#[derive(Clone, Debug)]
pub enum Step {
    Exchange {
        line: usize,
        command: Vec<u8>,
        text: String,
        secure: bool,
        tamper: bool,
        expected: Expected,
    },
    Directive {
        line: usize,
        directive: Directive,
    },
}

/// Parses hex with whitespace and `XX{N}` repetitions (N copies of byte XX).
pub fn parse_hex_token(token: &str) -> Result<Vec<u8>, String> {
    let (hex, repeat) = match token.split_once('{') {
        Some((h, rest)) => {
            let n = rest
                .strip_suffix('}')
                .ok_or_else(|| format!("unterminated repetition in {token:?}"))?;
            let n: usize = n
                .parse()
                .map_err(|_| format!("bad repetition count in {token:?}"))?;
            (h, Some(n))
        }
        None => (token, None),
    };
    let mut bytes = hex::decode(hex).map_err(|e| format!("bad hex {hex:?}: {e}"))?;
    if let Some(n) = repeat {
        let last = bytes
            .pop()
            .ok_or_else(|| format!("repetition without a byte in {token:?}"))?;
        bytes.extend(std::iter::repeat_n(last, n));
    }
    Ok(bytes)
}

/// A C-APDU: hex tokens (spaces allowed) and `XX{N}` repetitions.
pub fn parse_command(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for token in text.split_whitespace() {
        out.extend(parse_hex_token(token)?);
    }
    Ok(out)
}

/// An expected R-APDU: data items, then the status word as the last two
/// literal bytes.
pub fn parse_expected(text: &str) -> Result<Expected, String> {
    let mut items: Vec<Item> = Vec::new();
    for token in text.split_whitespace() {
        if let Some(n) = token.strip_prefix('*') {
            if n.is_empty() {
                items.push(Item::Star);
            } else {
                let n: usize = n.parse().map_err(|_| format!("bad matcher {token:?}"))?;
                items.push(Item::Any(n));
            }
        } else {
            let bytes = parse_hex_token(token)?;
            match items.last_mut() {
                Some(Item::Lit(prev)) => prev.extend(bytes),
                _ => items.push(Item::Lit(bytes)),
            }
        }
    }
    let sw = match items.last_mut() {
        Some(Item::Lit(bytes)) if bytes.len() >= 2 => {
            let lo = bytes.pop().unwrap_or(0);
            let hi = bytes.pop().unwrap_or(0);
            u16::from_be_bytes([hi, lo])
        }
        _ => return Err("an expected response must end with a literal status word".into()),
    };
    if matches!(items.last(), Some(Item::Lit(b)) if b.is_empty()) {
        items.pop();
    }
    Ok(Expected {
        data: items,
        sw,
        text: text.split_whitespace().collect::<Vec<_>>().join(" "),
    })
}

pub fn parse_key(s: &str) -> Result<[u8; 16], String> {
    parse_hex_token(s)?
        .try_into()
        .map_err(|_| format!("a key must be 16 bytes: {s:?}"))
}

pub fn parse_directive(text: &str) -> Result<Directive, String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    match words.as_slice() {
        ["fresh"] => Ok(Directive::Fresh),
        ["personalise", service] => {
            let service = match *service {
                "citizen" => ServiceType::Citizen,
                "business" => ServiceType::Business,
                "government" => ServiceType::Governmental,
                other => return Err(format!("unknown service {other:?}")),
            };
            Ok(Directive::Personalise(service))
        }
        ["reset"] => Ok(Directive::Reset),
        ["power-cycle"] => Ok(Directive::PowerCycle),
        ["power-cut", n] => n
            .parse()
            .map(Directive::PowerCut)
            .map_err(|_| format!("bad write count {n:?}")),
        ["scp-end"] => Ok(Directive::ScpEnd),
        ["contract", "1.0"] => Ok(Directive::Contract10),
        ["scp", level, rest @ ..] => {
            let level =
                u8::from_str_radix(level, 16).map_err(|_| format!("bad level {level:?}"))?;
            if SecurityLevel::from_byte(level).is_none() {
                return Err(format!("unsupported level {level:02X}"));
            }
            let keys = match rest {
                [] => StaticKeys::default_test_keys(),
                ["keys", enc, mac, dek, kvn] => StaticKeys {
                    enc: parse_key(enc)?,
                    mac: parse_key(mac)?,
                    dek: parse_key(dek)?,
                    kvn: u8::from_str_radix(kvn, 16).map_err(|_| format!("bad kvn {kvn:?}"))?,
                },
                _ => return Err("usage: ! scp <level> [keys <enc> <mac> <dek> <kvn>]".into()),
            };
            Ok(Directive::Scp { level, keys })
        }
        _ => Err(format!("unknown directive {text:?}")),
    }
}

/// Parses a whole transcript; the error names the line.
pub fn parse_transcript(source: &str) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    let mut pending: Option<(usize, Vec<u8>, String, bool, bool)> = None;
    let mut tamper_next = false;
    for (i, raw) in source.lines().enumerate() {
        let line = i + 1;
        let text = raw.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        let fail = |msg: String| format!("line {line}: {msg}");
        if let Some(rest) = text.strip_prefix("<<").or_else(|| text.strip_prefix('<')) {
            let secure = text.starts_with("<<");
            let Some((cmd_line, command, cmd_text, cmd_secure, tamper)) = pending.take() else {
                return Err(fail("response without a command".into()));
            };
            if secure != cmd_secure {
                return Err(fail("`<<` answers `>>`, `<` answers `>`".into()));
            }
            let expected = parse_expected(rest).map_err(fail)?;
            steps.push(Step::Exchange {
                line: cmd_line,
                command,
                text: cmd_text,
                secure,
                tamper,
                expected,
            });
            continue;
        }
        if let Some((l, ..)) = &pending {
            return Err(fail(format!(
                "the command of line {l} has no expected response"
            )));
        }
        if let Some(rest) = text.strip_prefix(">>").or_else(|| text.strip_prefix('>')) {
            let secure = text.starts_with(">>");
            let command = parse_command(rest).map_err(fail)?;
            if tamper_next && !secure {
                return Err(fail("`! tamper` must be followed by a `>>` command".into()));
            }
            let text = rest.split_whitespace().collect::<Vec<_>>().join(" ");
            pending = Some((line, command, text, secure, tamper_next));
            tamper_next = false;
        } else if let Some(rest) = text.strip_prefix('!') {
            if tamper_next {
                return Err(fail("`! tamper` must be followed by a `>>` command".into()));
            }
            if rest.trim() == "tamper" {
                tamper_next = true;
            } else {
                let directive = parse_directive(rest).map_err(fail)?;
                steps.push(Step::Directive { line, directive });
            }
        } else {
            return Err(fail(format!("cannot parse {text:?}")));
        }
    }
    if let Some((l, ..)) = pending {
        return Err(format!("line {l}: command without an expected response"));
    }
    if tamper_next {
        return Err("`! tamper` at the end of the file".into());
    }
    Ok(steps)
}

// ---------------------------------------------------------------------------
// Matching
// ---------------------------------------------------------------------------

pub fn matches(items: &[Item], data: &[u8]) -> bool {
    match items.split_first() {
        None => data.is_empty(),
        Some((Item::Lit(bytes), rest)) => {
            data.starts_with(bytes) && matches(rest, data.get(bytes.len()..).unwrap_or(&[]))
        }
        Some((Item::Any(n), rest)) => {
            data.len() >= *n && matches(rest, data.get(*n..).unwrap_or(&[]))
        }
        Some((Item::Star, rest)) => {
            (0..=data.len()).any(|k| matches(rest, data.get(k..).unwrap_or(&[])))
        }
    }
}

pub fn show(data: &[u8], sw: u16) -> String {
    let mut s = String::new();
    let _ = write!(s, "{}", hex::encode_upper(data));
    if !data.is_empty() {
        s.push(' ');
    }
    let _ = write!(s, "{sw:04X}");
    if data.len() > 48 {
        let _ = write!(s, " ({} data bytes)", data.len());
    }
    s
}

pub fn shorten(s: &str) -> String {
    if s.len() > 200 {
        let head: String = s.chars().take(200).collect();
        format!("{head}…({} chars)", s.len())
    } else {
        s.to_owned()
    }
}

/// The SW as written in section 5 of the contract (`61xx`, `6Cxx`, `63Cx` for the families).
pub fn sw_class(sw: u16) -> String {
    match sw {
        0x6100..=0x61FF => "61xx".into(),
        0x6C00..=0x6CFF => "6Cxx".into(),
        0x63C0..=0x63CF => "63Cx".into(),
        _ => format!("{sw:04X}"),
    }
}

// ---------------------------------------------------------------------------
// Runner
// ---------------------------------------------------------------------------
