//! Reading a PDF without loading it: the trailer and the cross-reference
//! sections (tables, streams and hybrids, ISO 32000-1 §7.5.4, §7.5.8), then
//! single objects by positioned reads, objects in object streams included.
//! Every revision's section is kept, so an object can be looked up as it
//! was in any revision.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::PdfError;
use super::filters::decode_stream;
use super::object::{Dict, ObjRef, Object};
use super::parse::{ParseError, Parser};
use super::xref::{parse_table, xref_stream_entries};

/// The largest object (or stream we decode) read into memory.
const MAX_OBJECT: u64 = 64 << 20;
/// The most cross-reference sections followed (a `/Prev` loop guard).
const MAX_SECTIONS: usize = 10_000;

/// Where an object is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    /// A free entry.
    Free,
    /// At a byte offset, with its generation.
    Offset(u64, u16),
    /// The `index`-th object of object stream `stream`.
    Compressed {
        /// The object stream's number.
        stream: u32,
        /// The index in the stream.
        index: u32,
    },
}

/// What kind of cross-reference section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SectionKind {
    /// A classic `xref` table (perhaps with an `/XRefStm`).
    Table,
    /// A cross-reference stream, object `ObjRef`.
    Stream(ObjRef),
}

/// One revision's cross-reference section.
#[derive(Clone, Debug)]
pub struct Section {
    /// Where the section starts (the `startxref` value).
    pub offset: u64,
    /// Table or stream.
    pub kind: SectionKind,
    /// The trailer (the stream's dictionary for an xref stream).
    pub trailer: Dict,
    /// The objects this revision defines.
    pub entries: BTreeMap<u32, Entry>,
    /// The end of this revision: just after its `%%EOF` and end of line,
    /// when found.
    pub end: Option<u64>,
}

/// Where the bytes are.
enum Source {
    File(File),
    Bytes(Vec<u8>),
}

/// An open PDF.
pub struct PdfFile {
    source: Source,
    path: PathBuf,
    /// The file's length.
    pub len: u64,
    /// The revisions' sections, oldest first.
    pub sections: Vec<Section>,
    object_streams: RefCell<HashMap<u32, std::rc::Rc<ObjectStream>>>,
}

struct ObjectStream {
    data: Vec<u8>,
    offsets: Vec<(u32, usize)>,
}

impl std::fmt::Debug for PdfFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PdfFile")
            .field("path", &self.path)
            .field("len", &self.len)
            .field("revisions", &self.sections.len())
            .finish_non_exhaustive()
    }
}

fn broken(what: impl Into<String>) -> PdfError {
    PdfError::Broken(what.into())
}

impl PdfFile {
    /// Opens `path`: checks the header, reads every cross-reference section
    /// back from the last `startxref`. Encrypted files are refused.
    pub fn open(path: &Path) -> Result<Self, PdfError> {
        let file = File::open(path).map_err(|e| PdfError::Io(path.to_path_buf(), e))?;
        let len = file
            .metadata()
            .map_err(|e| PdfError::Io(path.to_path_buf(), e))?
            .len();
        Self::load(Source::File(file), path.to_path_buf(), len)
    }

    /// A PDF in memory (for tests and fuzzing), read as [`PdfFile::open`]
    /// reads a file.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, PdfError> {
        let len = bytes.len() as u64;
        Self::load(Source::Bytes(bytes), PathBuf::from("<memory>"), len)
    }

    fn load(source: Source, path: PathBuf, len: u64) -> Result<Self, PdfError> {
        let mut pdf = Self {
            source,
            path,
            len,
            sections: Vec::new(),
            object_streams: RefCell::new(HashMap::new()),
        };
        let head = pdf.read(0, 1024.min(len))?;
        if !head.windows(5).any(|w| w == b"%PDF-") {
            return Err(PdfError::NotPdf);
        }
        let (start, end) = pdf.last_startxref()?;
        pdf.read_sections(start, end)?;
        if pdf.trailer().get("Encrypt").is_some() {
            return Err(PdfError::Encrypted);
        }
        Ok(pdf)
    }

    /// Reads `n` bytes at `offset` (fewer at the end of the file).
    pub fn read(&self, offset: u64, n: u64) -> Result<Vec<u8>, PdfError> {
        let n = n.min(self.len.saturating_sub(offset));
        let mut buf = vec![0; usize::try_from(n).map_err(|_| broken("object too large"))?];
        match &self.source {
            Source::File(f) => f
                .read_exact_at(&mut buf, offset)
                .map_err(|e| PdfError::Io(self.path.clone(), e))?,
            Source::Bytes(b) => {
                let start = usize::try_from(offset).map_err(|_| broken("offset too large"))?;
                let part = b
                    .get(start..start + buf.len())
                    .ok_or_else(|| broken("read beyond the end"))?;
                buf.copy_from_slice(part);
            }
        }
        Ok(buf)
    }

    /// The newest trailer.
    pub fn trailer(&self) -> &Dict {
        &self.latest().trailer
    }

    /// The newest section.
    pub fn latest(&self) -> &Section {
        // `open` refuses a file without a section.
        &self.sections[self.sections.len() - 1]
    }

    /// The object number one past the highest in use (`/Size`).
    pub fn size(&self) -> u32 {
        self.sections
            .iter()
            .filter_map(|s| s.trailer.int("Size"))
            .chain(
                self.sections
                    .iter()
                    .filter_map(|s| s.entries.keys().next_back().map(|&n| i64::from(n) + 1)),
            )
            .max()
            .and_then(|s| u32::try_from(s).ok())
            .unwrap_or(0)
    }

    fn last_startxref(&self) -> Result<(u64, Option<u64>), PdfError> {
        let tail_len = self.len.min(4096);
        let tail_at = self.len - tail_len;
        let tail = self.read(tail_at, tail_len)?;
        let at = rfind(&tail, b"startxref")
            .ok_or_else(|| broken("no `startxref` at the end: the file is truncated or damaged"))?;
        let mut p = Parser::new(&tail, at + 9);
        let offset = p
            .unsigned()
            .map_err(|_| broken("`startxref` is not followed by an offset"))?;
        let end = eof_end(&tail, p.pos).map(|e| tail_at + e as u64);
        Ok((offset, end))
    }

    fn read_sections(&mut self, start: u64, end: Option<u64>) -> Result<(), PdfError> {
        let mut next = Some((start, end));
        let mut seen = Vec::new();
        let mut newest_first = Vec::new();
        while let Some((offset, end)) = next.take() {
            if seen.contains(&offset) || seen.len() >= MAX_SECTIONS {
                return Err(broken(format!(
                    "the cross-reference sections loop (offset {offset} again)"
                )));
            }
            seen.push(offset);
            let mut section = self.section_at(offset)?;
            section.end = end;
            if let Some(stm) = section.trailer.int("XRefStm") {
                let hybrid = self.section_at(to_offset(stm)?)?;
                for (num, entry) in hybrid.entries {
                    section.entries.entry(num).or_insert(entry);
                }
            }
            if let Some(prev) = section.trailer.get("Prev") {
                let prev = prev
                    .as_int()
                    .ok_or_else(|| broken("`/Prev` is not an integer"))?;
                let prev = to_offset(prev)?;
                let prev_end = self.revision_end_before(prev, offset)?;
                next = Some((prev, prev_end));
            }
            newest_first.push(section);
        }
        newest_first.reverse();
        self.sections = newest_first;
        Ok(())
    }

    /// The end of the revision whose section starts at `section`: the
    /// first `%%EOF` after it (and before `limit`, the next section).
    fn revision_end_before(&self, section: u64, limit: u64) -> Result<Option<u64>, PdfError> {
        if limit <= section {
            return Ok(None);
        }
        // The section itself may be long: look from the end of the window
        // before the next section back to the last %%EOF.
        let window = (limit - section).min(1 << 16);
        let at = limit - window;
        let bytes = self.read(at, window)?;
        Ok(rfind(&bytes, b"%%EOF").map(|i| at + eof_end(&bytes, i).unwrap_or(i + 5) as u64))
    }

    /// Parses the cross-reference section at `offset`.
    fn section_at(&self, offset: u64) -> Result<Section, PdfError> {
        let head = self.read(offset, 4)?;
        if head == b"xref" {
            return self.table_at(offset);
        }
        let (reference, object, data_at) = self.object_at(offset)?;
        let Object::Dict(dict) = &object else {
            return Err(broken(format!(
                "no cross-reference section at offset {offset} (`startxref` or `/Prev` is wrong)"
            )));
        };
        if !dict.is("Type", "XRef") {
            return Err(broken(format!(
                "the object at offset {offset} is not a cross-reference stream"
            )));
        }
        let data_at = data_at.ok_or_else(|| broken("a cross-reference stream without data"))?;
        let data = self.stream_data(dict, data_at)?;
        let entries = xref_stream_entries(dict, &data)?;
        Ok(Section {
            offset,
            kind: SectionKind::Stream(reference),
            trailer: dict.clone(),
            entries,
            end: None,
        })
    }

    fn table_at(&self, offset: u64) -> Result<Section, PdfError> {
        let mut window = 1u64 << 16;
        loop {
            let buf = self.read(offset, window)?;
            match parse_table(&buf) {
                Ok((entries, trailer)) => {
                    return Ok(Section {
                        offset,
                        kind: SectionKind::Table,
                        trailer,
                        entries,
                        end: None,
                    });
                }
                Err(ParseError::Eof) if offset + window < self.len && window < MAX_OBJECT => {
                    window *= 4;
                }
                Err(ParseError::Eof) => {
                    return Err(broken(format!(
                        "the cross-reference table at offset {offset} is truncated"
                    )));
                }
                Err(ParseError::Bad(why)) => {
                    return Err(broken(format!(
                        "the cross-reference table at offset {offset}: {why}"
                    )));
                }
            }
        }
    }

    /// The indirect object at `offset`: its reference, the object (a
    /// stream's dictionary for a stream) and, for a stream, where its data
    /// starts.
    pub fn object_at(&self, offset: u64) -> Result<(ObjRef, Object, Option<u64>), PdfError> {
        let mut window = 4096u64;
        loop {
            let buf = self.read(offset, window)?;
            let mut p = Parser::new(&buf, 0);
            let parsed = p.object_header().and_then(|r| {
                let o = p.object()?;
                let data = match &o {
                    Object::Dict(_) => p.stream_start()?,
                    _ => None,
                };
                Ok((r, o, data))
            });
            match parsed {
                Ok((r, o, data)) => return Ok((r, o, data.map(|d| offset + d as u64))),
                Err(ParseError::Eof) if offset + window < self.len && window < MAX_OBJECT => {
                    window *= 4;
                }
                Err(ParseError::Eof) => {
                    return Err(broken(format!(
                        "the object at offset {offset} is truncated"
                    )));
                }
                Err(ParseError::Bad(why)) => {
                    return Err(broken(format!("the object at offset {offset}: {why}")));
                }
            }
        }
    }

    /// A stream's decoded data (FlateDecode with PNG predictors, or none).
    fn stream_data(&self, dict: &Dict, data_at: u64) -> Result<Vec<u8>, PdfError> {
        let length = match dict.get("Length") {
            Some(Object::Int(n)) => *n,
            Some(Object::Ref(r)) => self
                .resolve(*r, self.sections.len().saturating_sub(1))?
                .as_int()
                .ok_or_else(|| broken("a stream's /Length is not an integer"))?,
            _ => return Err(broken("a stream without /Length")),
        };
        let length = u64::try_from(length).map_err(|_| broken("a negative stream /Length"))?;
        if length > MAX_OBJECT || data_at + length > self.len {
            return Err(broken(format!(
                "a stream of {length} bytes at offset {data_at} does not fit the file"
            )));
        }
        let raw = self.read(data_at, length)?;
        decode_stream(dict, raw).map_err(broken)
    }

    /// Where object `num` is as of revision `rev` (index in `sections`).
    pub fn entry(&self, num: u32, rev: usize) -> Option<Entry> {
        self.sections[..=rev.min(self.sections.len() - 1)]
            .iter()
            .rev()
            .find_map(|s| s.entries.get(&num).copied())
    }

    /// Object `r` as of revision `rev` (a stream's dictionary for a
    /// stream); `Null` when free or absent (ISO 32000-1 §7.3.10).
    pub fn resolve(&self, r: ObjRef, rev: usize) -> Result<Object, PdfError> {
        Ok(self.resolve_located(r, rev)?.0)
    }

    /// Like [`PdfFile::resolve`], with where a stream's data starts.
    pub fn resolve_located(
        &self,
        r: ObjRef,
        rev: usize,
    ) -> Result<(Object, Option<u64>), PdfError> {
        match self.entry(r.num, rev) {
            None | Some(Entry::Free) => Ok((Object::Null, None)),
            Some(Entry::Offset(offset, _)) => {
                let (found, object, data) = self.object_at(offset)?;
                if found.num != r.num {
                    return Err(broken(format!(
                        "the cross-reference entry of object {} points to object {}",
                        r.num, found.num
                    )));
                }
                Ok((object, data))
            }
            Some(Entry::Compressed { stream, index }) => {
                Ok((self.compressed(stream, index, r.num, rev)?, None))
            }
        }
    }

    /// Follows a reference (once); anything else is returned as it is.
    pub fn deref(&self, o: &Object, rev: usize) -> Result<Object, PdfError> {
        match o {
            Object::Ref(r) => self.resolve(*r, rev),
            o => Ok(o.clone()),
        }
    }

    /// A stream object's decoded data as of revision `rev`.
    pub fn stream(&self, r: ObjRef, rev: usize) -> Result<(Dict, Vec<u8>), PdfError> {
        match self.resolve_located(r, rev)? {
            (Object::Dict(d), Some(at)) => {
                let data = self.stream_data(&d, at)?;
                Ok((d, data))
            }
            _ => Err(broken(format!("object {} is not a stream", r.num))),
        }
    }

    /// A stream object's data as stored (not decoded), for comparing two
    /// revisions of it; `None` when `r` is not a stream.
    pub fn stream_raw(&self, r: ObjRef, rev: usize) -> Result<Option<Vec<u8>>, PdfError> {
        let (Object::Dict(d), Some(at)) = self.resolve_located(r, rev)? else {
            return Ok(None);
        };
        let length = match d.get("Length") {
            Some(Object::Int(n)) => *n,
            Some(Object::Ref(l)) => self.resolve(*l, rev)?.as_int().unwrap_or(-1),
            _ => -1,
        };
        let length = u64::try_from(length)
            .ok()
            .filter(|&n| n <= MAX_OBJECT && at + n <= self.len)
            .ok_or_else(|| broken(format!("stream object {} has a bad /Length", r.num)))?;
        Ok(Some(self.read(at, length)?))
    }

    fn compressed(
        &self,
        stream: u32,
        index: u32,
        num: u32,
        rev: usize,
    ) -> Result<Object, PdfError> {
        let cached = self.object_streams.borrow().get(&stream).cloned();
        let objstm = match cached {
            Some(s) => s,
            None => {
                let (dict, data) = self.stream(ObjRef::new(stream, 0), rev)?;
                if !dict.is("Type", "ObjStm") {
                    return Err(broken(format!("object {stream} is not an object stream")));
                }
                let n = dict.int("N").unwrap_or(0);
                let first = dict.int("First").unwrap_or(0);
                let first = usize::try_from(first).map_err(|_| broken("bad /First"))?;
                let mut p = Parser::new(&data, 0);
                let mut offsets = Vec::new();
                for _ in 0..n.clamp(0, 1 << 20) {
                    let (Ok(obj), Ok(off)) = (p.unsigned(), p.unsigned()) else {
                        return Err(broken(format!("object stream {stream}: bad header")));
                    };
                    let obj = u32::try_from(obj).map_err(|_| broken("bad object number"))?;
                    offsets.push((obj, first + off as usize));
                }
                let s = std::rc::Rc::new(ObjectStream { data, offsets });
                self.object_streams.borrow_mut().insert(stream, s.clone());
                s
            }
        };
        let at = objstm
            .offsets
            .get(index as usize)
            .filter(|(n, _)| *n == num)
            .or_else(|| objstm.offsets.iter().find(|(n, _)| *n == num))
            .map(|(_, at)| *at)
            .ok_or_else(|| broken(format!("object {num} is not in object stream {stream}")))?;
        let mut p = Parser::new(&objstm.data, at);
        // Objects at the end of an object stream may end at the buffer's
        // end: give the parser a terminating space.
        match p.object() {
            Ok(o) => Ok(o),
            Err(ParseError::Eof) => {
                let mut data = objstm.data[at..].to_vec();
                data.push(b' ');
                Parser::new(&data, 0).object().map_err(|_| {
                    broken(format!(
                        "object {num} in object stream {stream} is truncated"
                    ))
                })
            }
            Err(ParseError::Bad(why)) => Err(broken(format!(
                "object {num} in object stream {stream}: {why}"
            ))),
        }
    }

    /// The document catalog as of revision `rev`, and its reference.
    pub fn catalog(&self, rev: usize) -> Result<(ObjRef, Dict), PdfError> {
        let trailer = &self.sections[rev].trailer;
        let root = trailer
            .reference("Root")
            .ok_or_else(|| broken("the trailer has no /Root"))?;
        match self.resolve(root, rev)? {
            Object::Dict(d) => Ok((root, d)),
            _ => Err(broken("/Root is not a dictionary")),
        }
    }

    /// The pages, in order, as of revision `rev` (references to the page
    /// objects).
    pub fn pages(&self, rev: usize) -> Result<Vec<(ObjRef, Dict)>, PdfError> {
        let (_, catalog) = self.catalog(rev)?;
        let root = catalog
            .reference("Pages")
            .ok_or_else(|| broken("the catalog has no /Pages"))?;
        let mut out = Vec::new();
        let mut stack = vec![(root, 0usize)];
        let mut visited = std::collections::HashSet::new();
        while let Some((r, depth)) = stack.pop() {
            if !visited.insert(r) || depth > 64 {
                return Err(broken("the page tree loops"));
            }
            let node = match self.resolve(r, rev)? {
                Object::Dict(d) => d,
                _ => {
                    return Err(broken(format!(
                        "page tree node {} is not a dictionary",
                        r.num
                    )));
                }
            };
            if node.is("Type", "Pages") || node.get("Kids").is_some() && !node.is("Type", "Page") {
                let kids = self.deref(node.get("Kids").unwrap_or(&Object::Null), rev)?;
                let kids = kids
                    .as_array()
                    .ok_or_else(|| broken("a page tree node without /Kids"))?;
                for kid in kids.iter().rev() {
                    match kid {
                        Object::Ref(k) => stack.push((*k, depth + 1)),
                        _ => return Err(broken("a page tree /Kids entry is not a reference")),
                    }
                }
            } else {
                out.push((r, node));
            }
        }
        Ok(out)
    }
}

fn to_offset(n: i64) -> Result<u64, PdfError> {
    u64::try_from(n).map_err(|_| broken(format!("bad offset {n}")))
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

/// Just after `%%EOF` (and its end of line) following `from`.
fn eof_end(buf: &[u8], from: usize) -> Option<usize> {
    let at = buf.get(from..)?.windows(5).position(|w| w == b"%%EOF")? + from + 5;
    let mut end = at;
    if buf.get(end) == Some(&b'\r') {
        end += 1;
    }
    if buf.get(end) == Some(&b'\n') {
        end += 1;
    }
    Some(end)
}
