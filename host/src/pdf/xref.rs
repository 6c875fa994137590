//! The two kinds of cross-reference section (ISO 32000-1 §7.5.4 tables,
//! §7.5.8 streams), parsed into entries.

use std::collections::BTreeMap;

use super::PdfError;
use super::file::Entry;
use super::object::{Dict, Object};
use super::parse::{ParseError, Parser};

fn broken(what: impl Into<String>) -> PdfError {
    PdfError::Broken(what.into())
}

/// A classic `xref` table and its trailer.
pub(super) fn parse_table(buf: &[u8]) -> Result<(BTreeMap<u32, Entry>, Dict), ParseError> {
    let mut p = Parser::new(buf, 0);
    p.keyword("xref")?;
    let mut entries = BTreeMap::new();
    loop {
        p.skip_white();
        let save = p.pos;
        if p.token()? == b"trailer" {
            let trailer = p.dict()?;
            return Ok((entries, trailer));
        }
        p.pos = save;
        let first = p.unsigned()?;
        let count = p.unsigned()?;
        for i in 0..count {
            let offset = p.unsigned()?;
            let gen_ = p.unsigned()?;
            let kind = p.token()?;
            let num = u32::try_from(first + i)
                .map_err(|_| ParseError::Bad("object number out of range".into()))?;
            let entry = match kind {
                b"n" => Entry::Offset(offset, u16::try_from(gen_).unwrap_or(u16::MAX)),
                b"f" => Entry::Free,
                _ => {
                    return Err(ParseError::Bad(
                        "a table entry is neither `n` nor `f`".into(),
                    ));
                }
            };
            entries.insert(num, entry);
        }
    }
}

/// The entries of a cross-reference stream (§7.5.8.3).
pub(super) fn xref_stream_entries(
    dict: &Dict,
    data: &[u8],
) -> Result<BTreeMap<u32, Entry>, PdfError> {
    let widths: Vec<usize> = dict
        .get("W")
        .and_then(Object::as_array)
        .ok_or_else(|| broken("a cross-reference stream without /W"))?
        .iter()
        .map(|w| {
            w.as_int()
                .and_then(|w| usize::try_from(w).ok())
                .filter(|&w| w <= 8)
        })
        .collect::<Option<_>>()
        .filter(|w: &Vec<usize>| w.len() == 3)
        .ok_or_else(|| broken("a cross-reference stream with a bad /W"))?;
    let size = dict
        .int("Size")
        .ok_or_else(|| broken("a cross-reference stream without /Size"))?;
    let index: Vec<i64> = match dict.get("Index").and_then(Object::as_array) {
        Some(a) => a
            .iter()
            .map(Object::as_int)
            .collect::<Option<_>>()
            .ok_or_else(|| broken("a bad /Index"))?,
        None => vec![0, size],
    };
    let row = widths.iter().sum::<usize>();
    if row == 0 {
        return Err(broken("a cross-reference stream with empty rows"));
    }
    let mut rows = data.chunks_exact(row);
    let mut entries = BTreeMap::new();
    for pair in index.chunks(2) {
        let [first, count] = pair else {
            return Err(broken("an odd /Index"));
        };
        for i in 0..*count {
            let Some(r) = rows.next() else {
                return Err(broken("a cross-reference stream shorter than its /Index"));
            };
            let field = |k: usize| -> u64 {
                let start: usize = widths[..k].iter().sum();
                r[start..start + widths[k]]
                    .iter()
                    .fold(0u64, |n, &b| n << 8 | u64::from(b))
            };
            let kind = if widths[0] == 0 { 1 } else { field(0) };
            let num = u32::try_from(first + i).map_err(|_| broken("object number out of range"))?;
            let entry = match kind {
                0 => Entry::Free,
                1 => Entry::Offset(field(1), u16::try_from(field(2)).unwrap_or(0)),
                2 => Entry::Compressed {
                    stream: u32::try_from(field(1)).map_err(|_| broken("bad object stream"))?,
                    index: u32::try_from(field(2)).map_err(|_| broken("bad index"))?,
                },
                // §7.5.8.3: unknown types are references to null.
                _ => Entry::Free,
            };
            entries.insert(num, entry);
        }
    }
    Ok(entries)
}
