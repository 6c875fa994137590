//! Verifying every signature of a PDF: the byte range (the whole file up
//! to the end of one revision but the `/Contents` hole), the CMS signature
//! over it (through [`crate::cms::verify_with`]), and what each later
//! revision changed: another signature, a form fill, validation data
//! (DSS), an annotation, or an unknown change.

use std::collections::HashSet;
use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::PdfError;
use super::changes::{Change, classify, docmdp};
use super::file::PdfFile;
use super::object::{Dict, Object};
use crate::cms::{self, Verification, VerifyOptions};
use crate::error::{Error, Result};
use crate::pki::{Check, TrustAnchors};

impl Check {
    /// The `/ByteRange` covers the file from its start to the end of a
    /// revision, all but the `/Contents` string of this signature.
    pub const BYTE_RANGE: &'static str = "byte range";
    /// The signature's `/SubFilter` is one we verify.
    pub const SUB_FILTER: &'static str = "sub-filter";
}

/// One signature of a PDF.
#[derive(Clone, Debug, Serialize)]
pub struct PdfSignature {
    /// The field's name (`/T`).
    pub field: String,
    /// `/SubFilter`.
    pub sub_filter: String,
    /// The level reached: `PAdES B-B`, `PAdES B-T`, with `+ DSS` when
    /// validation data was added; `PKCS#7 detached` for adbe.pkcs7.detached.
    pub level: String,
    /// `/ByteRange`.
    pub byte_range: Vec<i64>,
    /// The revision the signature covers (from 1), when found.
    pub revision: Option<usize>,
    /// The signature covers the whole file.
    pub covers_whole_file: bool,
    /// `/M`: the time the PDF states (the signer's claim).
    pub signing_time: Option<String>,
    /// `/Reason`.
    pub reason: Option<String>,
    /// `/Location`.
    pub location: Option<String>,
    /// The byte range check and every check of the CMS signature passed.
    pub valid: bool,
    /// The byte range and sub-filter checks.
    pub checks: Vec<Check>,
    /// The CMS verification (signer, time stamp, path, its checks).
    pub cms: Option<Verification>,
    /// What later revisions changed.
    pub changes_after: Vec<Change>,
    /// For the certifying signature: its DocMDP permission (1 no changes,
    /// 2 form fill and signatures, 3 also annotations).
    pub certification: Option<i64>,
}

/// The verification of a PDF's signatures.
#[derive(Clone, Debug, Serialize)]
pub struct PdfVerification {
    /// Every signature is valid, none is followed by a change a signature
    /// does not allow, and there is at least one.
    pub valid: bool,
    /// The number of revisions.
    pub revisions: usize,
    /// The DocMDP permission of the document's certification, if any.
    pub docmdp: Option<i64>,
    /// The signatures, oldest first.
    pub signatures: Vec<PdfSignature>,
}

impl PdfVerification {
    /// Why the document is not valid.
    pub fn failure(&self) -> Option<String> {
        if self.signatures.is_empty() {
            return Some("the document has no signature".into());
        }
        for s in &self.signatures {
            if let Some(c) = s.checks.iter().find(|c| !c.ok) {
                return Some(format!("{}: {}: {}", s.field, c.name, c.detail));
            }
            if let Some(c) = s.cms.as_ref().and_then(Verification::first_failure) {
                return Some(format!("{}: {}: {}", s.field, c.name, c.detail));
            }
            if let Some(c) = s.changes_after.iter().find(|c| !c.allowed) {
                return Some(format!(
                    "{}: revision {} after it made a change a signature does not allow ({}: {})",
                    s.field, c.revision, c.kind, c.detail
                ));
            }
        }
        None
    }
}

/// Verifies every signature of the PDF at `path` against `anchors`, with
/// `opts` (the validation time, CRLs, time-stamp authorities). `Err` when
/// the file is not a PDF we can read.
pub fn verify_pdf(
    path: &Path,
    anchors: &TrustAnchors,
    opts: &VerifyOptions,
) -> Result<PdfVerification> {
    let pdf = PdfFile::open(path).map_err(|e| e.about(path))?;
    verify_file(&pdf, path, anchors, opts)
}

/// [`verify_pdf`] on an open PDF; `path` names it in errors.
pub fn verify_file(
    pdf: &PdfFile,
    path: &Path,
    anchors: &TrustAnchors,
    opts: &VerifyOptions,
) -> Result<PdfVerification> {
    let last = pdf.sections.len() - 1;
    let fields = signature_fields(pdf, last).map_err(|e| e.about(path))?;
    let changes: Vec<Vec<Change>> = (0..pdf.sections.len())
        .map(|rev| classify(pdf, rev).map_err(|e| e.about(path)))
        .collect::<Result<_>>()?;
    let certification = docmdp(pdf, last).map_err(|e| e.about(path))?;
    let p = certification.as_ref().map(|(_, p)| *p);
    let changes: Vec<Vec<Change>> = changes
        .into_iter()
        .map(|cs| {
            cs.into_iter()
                .map(|c| Change {
                    allowed: c.allowed_under(p),
                    ..c
                })
                .collect()
        })
        .collect();
    let mut signatures = Vec::new();
    for (name, sig) in fields {
        let mut one = one(pdf, path, name, &sig, &changes, anchors, opts)?;
        if certification.as_ref().is_some_and(|(c, _)| *c == sig) {
            one.certification = p;
        }
        signatures.push(one);
    }
    signatures.sort_by_key(|s| s.byte_range.get(2).copied().unwrap_or(0));
    let mut v = PdfVerification {
        valid: false,
        revisions: pdf.sections.len(),
        docmdp: p,
        signatures,
    };
    v.valid = v.failure().is_none();
    Ok(v)
}

fn text(o: Option<&Object>) -> Option<String> {
    match o {
        Some(Object::Str(s)) => Some(decode_text(s)),
        _ => None,
    }
}

/// A PDF text string: UTF-16BE with a BOM, or PDFDocEncoding (read as
/// Latin-1, which agrees on the printable range).
pub(crate) fn decode_text(s: &[u8]) -> String {
    if let Some(rest) = s.strip_prefix(&[0xFE, 0xFF]) {
        let units: Vec<u16> = rest
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect();
        return String::from_utf16_lossy(&units);
    }
    s.iter().map(|&b| char::from(b)).collect()
}

/// The signature fields with a value, as of revision `rev`: name and
/// signature dictionary.
fn signature_fields(
    pdf: &PdfFile,
    rev: usize,
) -> std::result::Result<Vec<(String, Dict)>, PdfError> {
    let (_, catalog) = pdf.catalog(rev)?;
    let Some(acro) = catalog.get("AcroForm") else {
        return Ok(Vec::new());
    };
    let acro = pdf.deref(acro, rev)?;
    let Some(fields) = acro.as_dict().and_then(|d| d.get("Fields")) else {
        return Ok(Vec::new());
    };
    let fields = pdf.deref(fields, rev)?;
    let mut out = Vec::new();
    let mut stack: Vec<(Object, String, bool, usize)> = fields
        .as_array()
        .unwrap_or_default()
        .iter()
        .rev()
        .map(|f| (f.clone(), String::new(), false, 0))
        .collect();
    let mut seen = HashSet::new();
    while let Some((f, parent, parent_sig, depth)) = stack.pop() {
        if let Object::Ref(r) = &f
            && !seen.insert(*r)
        {
            continue;
        }
        if depth > 32 {
            return Err(PdfError::Broken("form fields nested too deeply".into()));
        }
        let Object::Dict(d) = pdf.deref(&f, rev)? else {
            continue;
        };
        let partial = text(d.get("T")).unwrap_or_default();
        let name = match (parent.is_empty(), partial.is_empty()) {
            (true, _) => partial,
            (false, true) => parent.clone(),
            (false, false) => format!("{parent}.{partial}"),
        };
        let is_sig = d
            .get("FT")
            .map_or(parent_sig, |ft| ft == &Object::name("Sig"));
        if let Some(kids) = d.get("Kids") {
            for kid in pdf
                .deref(kids, rev)?
                .as_array()
                .unwrap_or_default()
                .iter()
                .rev()
            {
                stack.push((kid.clone(), name.clone(), is_sig, depth + 1));
            }
        }
        if is_sig
            && let Some(v) = d.get("V")
            && let Object::Dict(sig) = pdf.deref(v, rev)?
        {
            out.push((name, sig));
        }
    }
    Ok(out)
}

/// The DER object at the start of `bytes` (padding after it ignored).
fn der_prefix(bytes: &[u8]) -> Option<&[u8]> {
    let first = *bytes.get(1)?;
    let (len, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7F);
        if n == 0 || n > 4 {
            return None;
        }
        let len = bytes
            .get(2..2 + n)?
            .iter()
            .fold(0usize, |l, &b| l << 8 | usize::from(b));
        (len, 2 + n)
    };
    bytes.get(..header.checked_add(len)?)
}

fn one(
    pdf: &PdfFile,
    path: &Path,
    field: String,
    sig: &Dict,
    changes: &[Vec<Change>],
    anchors: &TrustAnchors,
    opts: &VerifyOptions,
) -> Result<PdfSignature> {
    let sub_filter = sig
        .name("SubFilter")
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .unwrap_or_default();
    let byte_range: Vec<i64> = sig
        .get("ByteRange")
        .and_then(Object::as_array)
        .map(|a| a.iter().filter_map(Object::as_int).collect())
        .unwrap_or_default();
    let mut s = PdfSignature {
        field,
        sub_filter: sub_filter.clone(),
        level: String::new(),
        byte_range: byte_range.clone(),
        revision: None,
        covers_whole_file: false,
        signing_time: text(sig.get("M")),
        reason: text(sig.get("Reason")),
        location: text(sig.get("Location")),
        valid: false,
        checks: Vec::new(),
        cms: None,
        changes_after: Vec::new(),
        certification: None,
    };
    let cades = match sub_filter.as_str() {
        "ETSI.CAdES.detached" => true,
        "adbe.pkcs7.detached" => false,
        other => {
            s.checks.push(Check::new(
                Check::SUB_FILTER,
                Err(format!(
                    "/SubFilter /{other} is not verified here (only ETSI.CAdES.detached and \
                     adbe.pkcs7.detached)"
                )),
            ));
            return Ok(s);
        }
    };
    s.checks
        .push(Check::new(Check::SUB_FILTER, Ok(format!("/{sub_filter}"))));
    let contents = match sig.get("Contents") {
        Some(Object::Str(c)) => c.clone(),
        _ => Vec::new(),
    };
    let range = byte_range_check(pdf, &byte_range, &contents);
    let (start2, end) = match &range {
        Ok((_, start2, end)) => (*start2, *end),
        Err(_) => (0, 0),
    };
    s.checks.push(Check::new(
        Check::BYTE_RANGE,
        range
            .as_ref()
            .map(|(d, _, _)| d.clone())
            .map_err(Clone::clone),
    ));
    if range.is_err() {
        return Ok(s);
    }
    s.covers_whole_file = end == pdf.len;
    let index = pdf
        .sections
        .iter()
        .position(|sec| sec.end == Some(end))
        .or((end == pdf.len).then(|| pdf.sections.len() - 1));
    s.revision = index.map(|i| i + 1);
    let Some(rev) = index else {
        s.checks.push(Check::new(
            Check::BYTE_RANGE,
            Err(format!(
                "the byte range ends at {end}, which is not the end of a revision"
            )),
        ));
        return Ok(s);
    };
    s.changes_after = changes[rev + 1..].iter().flatten().cloned().collect();

    // SHA-256 of the two ranges, streamed.
    let digest = hash_ranges(pdf, path, &[(0, byte_range[1] as u64), (start2, end)])?;
    let Some(der) = der_prefix(&contents) else {
        s.checks.push(Check::new(
            Check::BYTE_RANGE,
            Err("/Contents does not hold a DER signature".into()),
        ));
        return Ok(s);
    };
    let mut cms_opts = opts.clone();
    cms_opts.cades = cms_opts.cades || cades;
    let v = match cms::verify_with(der, Some(&digest), anchors, &cms_opts) {
        Ok(v) => v,
        Err(Error::Verification(why)) => {
            s.checks.push(Check::new(
                Check::STRUCTURE,
                Err(format!("/Contents: {why}")),
            ));
            return Ok(s);
        }
        Err(e) => return Err(e),
    };
    let timestamped = v.timestamp.as_ref().is_some_and(|t| t.valid);
    s.level = match (cades, timestamped) {
        (true, true) => "PAdES B-T",
        (true, false) => "PAdES B-B",
        (false, true) => "PKCS#7 detached, time-stamped",
        (false, false) => "PKCS#7 detached",
    }
    .to_owned();
    if cades && v.signing_time.is_some() {
        s.level
            .push_str(" (with a CMS signing-time, which PAdES baseline leaves out)");
    }
    if s.changes_after.iter().any(|c| c.kind == "validation data") {
        s.level.push_str(" + DSS");
    }
    s.valid = v.valid && s.checks.iter().all(|c| c.ok);
    s.cms = Some(v);
    Ok(s)
}

/// Checks a `/ByteRange` `[0 a b c]`: the hole `[a, b)` is exactly this
/// signature's `/Contents` string, and `b + c` is within the file. Returns
/// a description, the second range's start and its end.
fn byte_range_check(
    pdf: &PdfFile,
    range: &[i64],
    contents: &[u8],
) -> std::result::Result<(String, u64, u64), String> {
    let [start, len1, start2, len2] = range else {
        return Err(format!("/ByteRange has {} numbers, not four", range.len()));
    };
    if range.iter().any(|&n| n < 0) {
        return Err("/ByteRange has a negative number".into());
    }
    let (start, len1, start2, len2) = (*start as u64, *len1 as u64, *start2 as u64, *len2 as u64);
    if start != 0 {
        return Err(format!(
            "/ByteRange starts at {start}, not at the beginning of the file"
        ));
    }
    let end = start2.checked_add(len2).ok_or("/ByteRange overflows")?;
    if start2 <= len1 || end > pdf.len {
        return Err(format!(
            "/ByteRange [0 {len1} {start2} {len2}] does not fit a file of {} bytes",
            pdf.len
        ));
    }
    let hole_len = start2 - len1;
    if hole_len > 4 << 20 {
        return Err(format!(
            "the /ByteRange hole ({hole_len} bytes) is too large"
        ));
    }
    let hole = pdf.read(len1, hole_len).map_err(|e| e.to_string())?;
    let digits = hole
        .strip_prefix(b"<")
        .and_then(|h| h.strip_suffix(b">"))
        .filter(|d| d.iter().all(|b| b.is_ascii_hexdigit()))
        .ok_or("the bytes the /ByteRange leaves out are not exactly one hexadecimal string")?;
    if hex::decode(digits).ok().as_deref() != Some(contents) {
        return Err(
            "the hexadecimal string the /ByteRange leaves out is not this signature's /Contents"
                .into(),
        );
    }
    Ok((
        format!("[0 {len1} {start2} {len2}]: all {end} bytes of the revision but /Contents",),
        start2,
        end,
    ))
}

fn hash_ranges(pdf: &PdfFile, path: &Path, ranges: &[(u64, u64)]) -> Result<[u8; 32]> {
    let mut hasher = Sha256::new();
    for &(start, end) in ranges {
        let mut at = start;
        while at < end {
            let n = (end - at).min(1 << 20);
            let block = pdf.read(at, n).map_err(|e| e.about(path))?;
            if block.is_empty() {
                break;
            }
            hasher.update(&block);
            at += block.len() as u64;
        }
    }
    Ok(hasher.finalize().into())
}
