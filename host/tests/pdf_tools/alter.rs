//! Changing a signed PDF the way an attacker or a careless editor would:
//! an incremental update that changes what a page shows (an "unknown
//! change" for validators, not a form fill), or one flipped byte inside a
//! signature's signed byte range.

use std::io::Write;
use std::path::Path;

use super::docs::{XrefKind, find_first, find_last, last_startxref, xref_kind};
use super::run::{arg, run};

/// What [`alter_after_signing`] draws over the first page: a red
/// rectangle at the bottom left.
pub const ALTERATION: &str = "q 1 0 0 rg 36 36 144 72 re f Q";

/// Copies `input` to `output` and appends, by hand, one incremental update
/// that redefines the first page's (first) content stream as its old
/// decoded content plus [`ALTERATION`], uncompressed. The update's
/// cross-reference section has the kind of the file's last one (an `xref`
/// table, or an uncompressed `/Type /XRef` stream), `/Prev` the old
/// `startxref`, and `/Root`, `/Info`, `/ID` copied from the old trailer.
/// qpdf (`--show-pages`, `--show-object`, `--filtered-stream-data`) finds
/// the objects. The signatures' byte ranges are untouched, so each stays
/// cryptographically intact but no longer covers the whole file.
pub fn alter_after_signing(input: &Path, output: &Path) {
    let pages = run("qpdf", &["--show-pages", arg(input)]).ok().out();
    let mut lines = pages.lines().skip_while(|l| !l.starts_with("page 1:"));
    lines
        .next()
        .unwrap_or_else(|| panic!("no page 1 in qpdf --show-pages:\n{pages}"));
    let content_ref = lines
        .skip_while(|l| l.trim() != "content:")
        .nth(1)
        .unwrap_or_else(|| panic!("page 1 has no content in qpdf --show-pages:\n{pages}"))
        .trim()
        .to_owned();
    let (num, generation) = match content_ref.split_whitespace().collect::<Vec<_>>()[..] {
        [n, g, "R"] => (n.parse::<u64>().unwrap(), g.parse::<u64>().unwrap()),
        _ => panic!("not a reference: {content_ref:?}"),
    };
    let mut content = run(
        "qpdf",
        &[
            &format!("--show-object={num},{generation}"),
            "--filtered-stream-data",
            arg(input),
        ],
    )
    .ok()
    .stdout;
    content.extend_from_slice(format!("\n{ALTERATION}\n").as_bytes());

    let trailer = run("qpdf", &["--show-object=trailer", arg(input)])
        .ok()
        .out();
    let size: u64 = value_after(&trailer, "/Size", 1)
        .unwrap_or_else(|| panic!("no /Size in the trailer: {trailer}"))
        .parse()
        .unwrap();
    let root = value_after(&trailer, "/Root", 3)
        .unwrap_or_else(|| panic!("no /Root in the trailer: {trailer}"));
    let mut carried = format!("/Root {root}");
    if let Some(info) = value_after(&trailer, "/Info", 3) {
        carried.push_str(&format!(" /Info {info}"));
    }
    if let Some(at) = trailer.find("/ID [") {
        let end = at + trailer[at..].find(']').unwrap();
        carried.push_str(&format!(" {}", &trailer[at..=end]));
    }
    let prev = last_startxref(input);
    let kind = xref_kind(input);

    let mut bytes = std::fs::read(input).unwrap();
    if !bytes.ends_with(b"\n") {
        bytes.push(b'\n');
    }
    let object_offset = bytes.len() as u64;
    write!(
        bytes,
        "{num} {generation} obj\n<< /Length {} >>\nstream\n",
        content.len()
    )
    .unwrap();
    bytes.extend_from_slice(&content);
    bytes.extend_from_slice(b"\nendstream\nendobj\n");
    let xref_offset = bytes.len() as u64;
    match kind {
        XrefKind::Table => {
            write!(
                bytes,
                "xref\n0 1\n0000000000 65535 f \n{num} 1\n{object_offset:010} {generation:05} n \n\
                 trailer\n<< /Size {size} {carried} /Prev {prev} >>\nstartxref\n{xref_offset}\n%%EOF\n"
            )
            .unwrap();
        }
        XrefKind::Stream => {
            // Entries of /W [1 4 2]: type 1, offset, generation.
            let entry = |offset: u64, generation: u64| {
                let mut e = vec![1u8];
                e.extend_from_slice(&u32::try_from(offset).unwrap().to_be_bytes());
                e.extend_from_slice(&u16::try_from(generation).unwrap().to_be_bytes());
                e
            };
            let xref_num = size;
            let mut data = entry(object_offset, generation);
            data.extend(entry(xref_offset, 0));
            write!(
                bytes,
                "{xref_num} 0 obj\n<< /Type /XRef /Size {} /W [ 1 4 2 ] /Index [ {num} 1 {xref_num} 1 ] \
                 {carried} /Prev {prev} /Length {} >>\nstream\n",
                size + 1,
                data.len()
            )
            .unwrap();
            bytes.extend_from_slice(&data);
            write!(
                bytes,
                "\nendstream\nendobj\nstartxref\n{xref_offset}\n%%EOF\n"
            )
            .unwrap();
        }
    }
    std::fs::write(output, bytes).unwrap();
}

/// The `count` whitespace-separated tokens after `key` in a dictionary
/// printed by qpdf, joined by spaces.
fn value_after(dict: &str, key: &str, count: usize) -> Option<String> {
    let tokens: Vec<&str> = dict.split_whitespace().collect();
    let at = tokens.iter().position(|t| *t == key)?;
    let value = tokens.get(at + 1..at + 1 + count)?;
    Some(value.join(" "))
}

/// Copies `input` to `output` with one byte inside the last signature's
/// signed byte range changed, without changing the file's structure: a
/// character of the binary comment on the line after `%PDF-x.y` (which
/// Ghostscript, qpdf and pyHanko all write), whose low bit is flipped.
/// Every signature covers it (byte ranges start at 0). Returns the offset.
pub fn alter_in_place(input: &Path, output: &Path) -> u64 {
    let mut bytes = std::fs::read(input).unwrap();
    let range =
        last_byte_range(&bytes).unwrap_or_else(|| panic!("no /ByteRange in {}", input.display()));
    let line_end =
        find_first(&bytes, b"\n").unwrap_or_else(|| panic!("no newline in {}", input.display()));
    let at = line_end + 2;
    assert!(
        bytes.get(line_end + 1) == Some(&b'%') && bytes.get(at).is_some_and(|b| *b >= 0x80),
        "{} has no binary comment after its header line",
        input.display()
    );
    assert!(
        (at as u64) >= range[0] && (at as u64) < range[0] + range[1],
        "offset {at} is outside the signed range {range:?}"
    );
    bytes[at] ^= 0x01;
    std::fs::write(output, bytes).unwrap();
    at as u64
}

/// The four numbers of the last `/ByteRange [a b c d]` in the file.
pub fn last_byte_range(bytes: &[u8]) -> Option<[u64; 4]> {
    let at = find_last(bytes, b"/ByteRange")?;
    let rest = &bytes[at + 10..bytes.len().min(at + 200)];
    let text = String::from_utf8_lossy(rest);
    let inside = text.trim_start().strip_prefix('[')?.split(']').next()?;
    let numbers: Vec<u64> = inside
        .split_whitespace()
        .map(|n| n.parse().ok())
        .collect::<Option<_>>()?;
    numbers.try_into().ok()
}
