//! Unsigned PDFs made by other software: Ghostscript, qpdf rewrites with
//! and without a cross-reference stream, `qpdf --check`, and a large PDF
//! written by streaming.

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::run::{arg, run};

/// A PDF of `pages` A4 pages made by Ghostscript's `pdfwrite` device from a
/// PostScript program written here; page `n` shows the text
/// `pdf_tools page n of N` (so `pdftotext` finds it) and a line below.
/// Returns `dir/ghostscript-Np.pdf`.
pub fn ghostscript_pdf(dir: &Path, pages: usize) -> PathBuf {
    assert!(pages > 0, "a PDF needs a page");
    let ps = dir.join(format!("ghostscript-{pages}p.ps"));
    let pdf = dir.join(format!("ghostscript-{pages}p.pdf"));
    let program = format!(
        "%!PS-Adobe-3.0\n\
         /Helvetica findfont 20 scalefont setfont\n\
         1 1 {pages} {{\n\
         \x20 /n exch def\n\
         \x20 72 760 moveto (pdf_tools page ) show n 10 string cvs show ( of {pages}) show\n\
         \x20 72 730 moveto (Made by Ghostscript for the asan-imza PDF tests.) show\n\
         \x20 2 setlinewidth 72 720 moveto 523 720 lineto stroke\n\
         \x20 showpage\n\
         }} for\n"
    );
    std::fs::write(&ps, program).unwrap();
    run(
        "gs",
        &[
            "-q",
            "-dNOPAUSE",
            "-dBATCH",
            "-dSAFER",
            "-sDEVICE=pdfwrite",
            "-dCompatibilityLevel=1.7",
            "-sPAPERSIZE=a4",
            "-dFIXEDMEDIA",
            &format!("-sOutputFile={}", arg(&pdf)),
            arg(&ps),
        ],
    )
    .ok();
    pdf
}

/// `input` rewritten by qpdf with object streams and a cross-reference
/// stream (`qpdf --object-streams=generate`): `dir/STEM-xrefstream.pdf`.
/// Panics unless the result's last cross-reference section really is a
/// stream (`/Type /XRef`).
pub fn qpdf_xref_stream_pdf(input: &Path, dir: &Path) -> PathBuf {
    let output = dir.join(format!("{}-xrefstream.pdf", stem(input)));
    run(
        "qpdf",
        &["--object-streams=generate", arg(input), arg(&output)],
    )
    .ok();
    assert_eq!(
        xref_kind(&output),
        XrefKind::Stream,
        "qpdf --object-streams=generate wrote no xref stream: {}",
        output.display()
    );
    output
}

/// `input` rewritten by qpdf with a classic cross-reference table and no
/// object streams (`qpdf --object-streams=disable`), beside the input as
/// `STEM-classic.pdf`.
pub fn qpdf_classic(input: &Path) -> PathBuf {
    let output = input.with_file_name(format!("{}-classic.pdf", stem(input)));
    run(
        "qpdf",
        &["--object-streams=disable", arg(input), arg(&output)],
    )
    .ok();
    assert_eq!(
        xref_kind(&output),
        XrefKind::Table,
        "qpdf --object-streams=disable wrote no xref table: {}",
        output.display()
    );
    output
}

fn stem(path: &Path) -> String {
    path.file_stem().unwrap().to_str().unwrap().to_owned()
}

/// `qpdf --check PATH`: `(true, output)` when it exits 0 and prints no
/// warning; otherwise `(false, output)` — exit 3 means warnings, 2 errors.
/// The output is stdout and stderr together, with the exit code appended
/// when it is not 0.
pub fn qpdf_check(path: &Path) -> (bool, String) {
    let r = run("qpdf", &["--check", arg(path)]);
    let mut text = r.text();
    let clean = r.code == Some(0) && !text.to_ascii_lowercase().contains("warning");
    if r.code != Some(0) {
        text.push_str(&format!("\n(qpdf exit code {:?})", r.code));
    }
    (clean, text)
}

/// The page count by `qpdf --show-npages`.
pub fn page_count(path: &Path) -> usize {
    let r = run("qpdf", &["--show-npages", arg(path)]).ok();
    r.out().trim().parse().unwrap()
}

/// The text of all pages by poppler's `pdftotext` (layout not kept).
pub fn pdftotext(path: &Path) -> String {
    run("pdftotext", &[arg(path), "-"]).ok().out()
}

/// What the file's last cross-reference section is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XrefKind {
    /// A classic `xref` table followed by `trailer`.
    Table,
    /// A cross-reference stream object (`/Type /XRef`).
    Stream,
}

/// The offset after the file's last `startxref` keyword.
pub fn last_startxref(path: &Path) -> u64 {
    let mut file = File::open(path).unwrap();
    let len = file.metadata().unwrap().len();
    let tail_len = len.min(2048);
    file.seek(SeekFrom::Start(len - tail_len)).unwrap();
    let mut tail = Vec::new();
    file.read_to_end(&mut tail).unwrap();
    let at = find_last(&tail, b"startxref")
        .unwrap_or_else(|| panic!("no startxref in the last 2 KiB of {}", path.display()));
    let digits: String = tail[at + 9..]
        .iter()
        .map(|&b| b as char)
        .skip_while(|c| c.is_ascii_whitespace())
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().unwrap()
}

/// Reads the object that the last `startxref` points at and tells whether
/// it is an `xref` table or a `/Type /XRef` stream.
pub fn xref_kind(path: &Path) -> XrefKind {
    let offset = last_startxref(path);
    let mut file = File::open(path).unwrap();
    file.seek(SeekFrom::Start(offset)).unwrap();
    let mut head = vec![0; 1024];
    let n = file.read(&mut head).unwrap();
    head.truncate(n);
    if head.starts_with(b"xref") {
        return XrefKind::Table;
    }
    let text = String::from_utf8_lossy(&head);
    let dict = text.split("stream").next().unwrap();
    let squeezed: String = dict.split_whitespace().collect::<Vec<_>>().join(" ");
    if squeezed.contains(" obj")
        && (squeezed.contains("/Type /XRef") || squeezed.contains("/Type/XRef"))
    {
        return XrefKind::Stream;
    }
    panic!(
        "startxref {offset} of {} points at neither `xref` nor a /Type /XRef stream: {text:?}",
        path.display()
    )
}

pub(crate) fn find_last(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).rposition(|w| w == needle)
}

pub(crate) fn find_first(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Writes a valid one-page PDF of about `bytes` bytes to `path` by
/// streaming (a 1 MiB buffer; never the whole file in memory): the page
/// shows one line of text, and the bulk is an uncompressed embedded file
/// (`/Type /EmbeddedFile`, named `payload.bin` in the catalog's
/// `/Names /EmbeddedFiles`) of pseudo-random bytes. Classic xref table,
/// `qpdf --check` clean. Returns the file's exact size (at least ~1 KiB,
/// whatever `bytes` asks).
pub fn large_pdf(path: &Path, bytes: u64) -> u64 {
    const OVERHEAD: u64 = 1500;
    let payload_len = bytes.saturating_sub(OVERHEAD).max(1);
    let file = File::create(path).unwrap();
    let mut w = Counting {
        inner: BufWriter::with_capacity(1 << 20, file),
        written: 0,
    };
    let mut offsets = Vec::new();
    w.write_all(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n").unwrap();
    let content = format!(
        "BT /F1 18 Tf 72 770 Td (pdf_tools large PDF: {payload_len} payload bytes) Tj ET\n"
    );
    let small = [
        "<< /Type /Catalog /Pages 2 0 R /Names << /EmbeddedFiles << /Names [ (payload.bin) 5 0 R ] >> >> >>".to_owned(),
        "<< /Type /Pages /Kids [ 3 0 R ] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [ 0 0 595 842 ] /Contents 4 0 R /Resources << /Font << /F1 7 0 R >> >> >>".to_owned(),
        format!("<< /Length {} >>\nstream\n{content}endstream", content.len()),
        "<< /Type /Filespec /F (payload.bin) /UF (payload.bin) /EF << /F 6 0 R >> >>".to_owned(),
    ];
    for (i, body) in small.iter().enumerate() {
        offsets.push(w.written);
        write!(w, "{} 0 obj\n{body}\nendobj\n", i + 1).unwrap();
    }
    offsets.push(w.written);
    write!(
        w,
        "6 0 obj\n<< /Type /EmbeddedFile /Subtype /application#2Foctet-stream /Length {payload_len} >>\nstream\n"
    )
    .unwrap();
    let block = payload_block();
    let mut left = payload_len;
    while left > 0 {
        let n = left.min(block.len() as u64);
        w.write_all(&block[..n as usize]).unwrap();
        left -= n;
    }
    w.write_all(b"\nendstream\nendobj\n").unwrap();
    offsets.push(w.written);
    w.write_all(b"7 0 obj\n<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>\nendobj\n")
        .unwrap();
    let xref = w.written;
    write!(w, "xref\n0 {}\n0000000000 65535 f \n", offsets.len() + 1).unwrap();
    for off in &offsets {
        writeln!(w, "{off:010} 00000 n ").unwrap();
    }
    write!(
        w,
        "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        offsets.len() + 1
    )
    .unwrap();
    w.inner.flush().unwrap();
    w.written
}

/// 64 KiB of xorshift bytes that contain no `endstream`/`endobj`.
fn payload_block() -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut block = Vec::with_capacity(1 << 16);
    while block.len() < 1 << 16 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        block.extend_from_slice(&x.to_le_bytes());
    }
    assert!(find_first(&block, b"endstream").is_none() && find_first(&block, b"endobj").is_none());
    block
}

struct Counting<W: Write> {
    inner: W,
    written: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
