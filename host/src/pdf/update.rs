//! The incremental update that signs a PDF (ISO 32000-1 §7.5.6, §12.8):
//! the original bytes unchanged, then a signature value dictionary, a
//! signature field that is also its widget annotation, the objects that
//! must point to it (the AcroForm and its fields, the page's annotations)
//! written again, and a cross-reference section of the same kind as the
//! last one (a table, or a stream) with `/Prev`.

use std::time::SystemTime;

use sha2::{Digest, Sha256};

use super::PdfError;
use super::appearance::{Placement, appearance, num};
use super::file::{Entry, PdfFile, SectionKind};
use super::object::{Dict, ObjRef, Object, pdf_date};

/// What to put into a signature dictionary.
#[derive(Clone, Debug)]
pub struct SignatureFields {
    /// The signer's name (`/Name`, and the visible text).
    pub signer: String,
    /// `/M`, the signing time the PDF states (PAdES: not a CMS attribute).
    pub time: SystemTime,
    /// `/Reason`.
    pub reason: Option<String>,
    /// `/Location`.
    pub location: Option<String>,
    /// A visible signature here; invisible (on page 1) otherwise.
    pub visible: Option<Placement>,
    /// Bytes reserved for the CMS signature in `/Contents`.
    pub reserve: usize,
}

/// The update, ready to be hashed and completed with the signature.
#[derive(Debug)]
pub struct Prepared {
    /// The bytes to append (with zeros in `/Contents`).
    pub update: Vec<u8>,
    /// The original file's length: where the update starts.
    pub base: u64,
    /// The offset in `update` of the `<` that opens `/Contents`.
    pub contents_at: usize,
    /// The hexadecimal digits of `/Contents`.
    pub hex_len: usize,
    /// The new field's name.
    pub field: String,
    /// `/ByteRange`.
    pub byte_range: [u64; 4],
}

impl Prepared {
    /// Puts the DER signature into `/Contents` (zero padded).
    pub fn fill(&mut self, der: &[u8]) -> Result<(), PdfError> {
        if der.len() * 2 > self.hex_len {
            return Err(PdfError::Broken(format!(
                "the signature ({} bytes) does not fit the {} bytes reserved",
                der.len(),
                self.hex_len / 2
            )));
        }
        let hex = hex::encode_upper(der);
        let start = self.contents_at + 1;
        self.update[start..start + hex.len()].copy_from_slice(hex.as_bytes());
        Ok(())
    }

    /// The update's bytes the signature covers: before and after
    /// `/Contents`.
    pub fn covered(&self) -> [&[u8]; 2] {
        let end = self.contents_at + self.hex_len + 2;
        [&self.update[..self.contents_at], &self.update[end..]]
    }
}

/// Width reserved for the four `/ByteRange` numbers.
const BYTE_RANGE_WIDTH: usize = 4 * 21;

/// Builds the update that adds a signature field to the newest revision of
/// `pdf`.
pub fn prepare(pdf: &PdfFile, fields: &SignatureFields) -> Result<Prepared, PdfError> {
    let rev = pdf.sections.len() - 1;
    let gen_of = |r: ObjRef| match pdf.entry(r.num, rev) {
        Some(Entry::Offset(_, g)) => g,
        _ => 0,
    };
    if let Some((_, 1)) = super::changes::docmdp(pdf, rev)? {
        return Err(PdfError::Usage(
            "the document is certified with no changes allowed (DocMDP P=1): a signature \
             added now would break its certification"
                .into(),
        ));
    }
    let (root, mut catalog) = pdf.catalog(rev)?;
    let pages = pdf.pages(rev)?;
    let page_no = fields.visible.map_or(1, |v| v.page);
    let (page_ref, mut page) = pages.get(page_no - 1).cloned().ok_or_else(|| {
        PdfError::Usage(format!(
            "page {page_no} does not exist: the document has {} page(s)",
            pages.len()
        ))
    })?;

    let mut next = pdf.size();
    let mut alloc = || {
        let r = ObjRef::new(next, 0);
        next += 1;
        r
    };
    let sig_ref = alloc();
    let widget_ref = alloc();
    let ap_ref = fields.visible.map(|_| alloc());

    // Objects written again, by reference.
    let mut rewritten: Vec<(ObjRef, Object)> = Vec::new();

    // The AcroForm: direct in the catalog, or an object of its own.
    let (acro_ref, mut acro) = match catalog.get("AcroForm") {
        Some(Object::Ref(r)) => match pdf.resolve(*r, rev)? {
            Object::Dict(d) => (Some(*r), d),
            Object::Null => (None, Dict::default()),
            _ => return Err(PdfError::Broken("/AcroForm is not a dictionary".into())),
        },
        Some(Object::Dict(d)) => (None, d.clone()),
        _ => (None, Dict::default()),
    };
    let (fields_ref, mut field_list) = match acro.get("Fields") {
        Some(Object::Ref(r)) => match pdf.resolve(*r, rev)? {
            Object::Array(a) => (Some(*r), a),
            _ => return Err(PdfError::Broken("/AcroForm /Fields is not an array".into())),
        },
        Some(Object::Array(a)) => (None, a.clone()),
        _ => (None, Vec::new()),
    };
    let mut names = Vec::new();
    for f in &field_list {
        if let Some(d) = pdf.deref(f, rev)?.as_dict()
            && let Some(Object::Str(t)) = d.get("T")
        {
            names.push(t.clone());
        }
    }
    let field = (1..)
        .map(|i| format!("Signature{i}"))
        .find(|n| !names.contains(&n.as_bytes().to_vec()))
        .unwrap_or_else(|| "Signature".into());
    field_list.push(Object::Ref(widget_ref));
    match fields_ref {
        Some(r) => rewritten.push((r, Object::Array(field_list))),
        None => acro.set("Fields", Object::Array(field_list)),
    }
    // SignaturesExist | AppendOnly (§12.7.2).
    acro.set(
        "SigFlags",
        Object::Int(acro.int("SigFlags").unwrap_or(0) | 3),
    );
    match acro_ref {
        Some(r) => rewritten.push((r, Object::Dict(acro))),
        None => {
            catalog.set("AcroForm", Object::Dict(acro));
            rewritten.push((root, Object::Dict(catalog)));
        }
    }

    // The page's annotations.
    match page.get("Annots") {
        Some(Object::Ref(r)) => {
            let mut annots = match pdf.resolve(*r, rev)? {
                Object::Array(a) => a,
                Object::Null => Vec::new(),
                _ => return Err(PdfError::Broken("a page's /Annots is not an array".into())),
            };
            annots.push(Object::Ref(widget_ref));
            rewritten.push((*r, Object::Array(annots)));
        }
        other => {
            let mut annots = other
                .and_then(Object::as_array)
                .map(<[Object]>::to_vec)
                .unwrap_or_default();
            annots.push(Object::Ref(widget_ref));
            page.set("Annots", Object::Array(annots));
            rewritten.push((page_ref, Object::Dict(page)));
        }
    }

    // The field and its widget, merged (§12.5.2, §12.7.3.1).
    let mut widget = Dict::default();
    widget.set("Type", Object::name("Annot"));
    widget.set("Subtype", Object::name("Widget"));
    widget.set("FT", Object::name("Sig"));
    widget.set("T", Object::text(&field));
    widget.set("V", Object::Ref(sig_ref));
    // Print | Locked.
    widget.set("F", Object::Int(132));
    widget.set("P", Object::Ref(page_ref));
    let rect = match fields.visible {
        Some(v) => [v.x, v.y, v.x + v.width, v.y + v.height],
        None => [0.0; 4],
    };
    widget.set(
        "Rect",
        Object::Array(rect.iter().map(|&n| Object::Real(num(n))).collect()),
    );
    if let Some(ap) = ap_ref {
        let mut ap_dict = Dict::default();
        ap_dict.set("N", Object::Ref(ap));
        widget.set("AP", Object::Dict(ap_dict));
    }

    // Assemble.
    let base = pdf.len;
    let mut update = Vec::new();
    let tail = pdf.read(base.saturating_sub(1), 1)?;
    if !matches!(tail.first(), Some(b'\n' | b'\r')) {
        update.push(b'\n');
    }
    let mut offsets: Vec<(ObjRef, usize)> = Vec::new();
    let mut put = |update: &mut Vec<u8>, r: ObjRef, body: &[u8]| {
        offsets.push((r, update.len()));
        update.extend_from_slice(format!("{} {} obj\n", r.num, r.gen_).as_bytes());
        update.extend_from_slice(body);
        update.extend_from_slice(b"\nendobj\n");
    };

    // The signature value dictionary, with its placeholders.
    let mut sig = Vec::new();
    sig.extend_from_slice(b"<</Type /Sig/Filter /Adobe.PPKLite/SubFilter /ETSI.CAdES.detached");
    let mut extra = Dict::default();
    extra.set("M", Object::Str(pdf_date(fields.time).into_bytes()));
    extra.set("Name", Object::text(&fields.signer));
    if let Some(r) = &fields.reason {
        extra.set("Reason", Object::text(r));
    }
    if let Some(l) = &fields.location {
        extra.set("Location", Object::text(l));
    }
    for (k, v) in &extra.0 {
        sig.push(b'/');
        sig.extend_from_slice(k);
        sig.push(b' ');
        v.write(&mut sig);
    }
    sig.extend_from_slice(b"/ByteRange [");
    let byte_range_at = sig.len();
    sig.extend_from_slice(&[b' '; BYTE_RANGE_WIDTH]);
    sig.extend_from_slice(b"]/Contents ");
    let contents_in_sig = sig.len();
    let hex_len = fields.reserve * 2;
    sig.push(b'<');
    sig.extend(std::iter::repeat_n(b'0', hex_len));
    sig.extend_from_slice(b">>>");
    let sig_start = update.len() + format!("{} 0 obj\n", sig_ref.num).len();
    put(&mut update, sig_ref, &sig);
    let contents_at = sig_start + contents_in_sig;
    let byte_range_at = sig_start + byte_range_at;

    put(&mut update, widget_ref, &Object::Dict(widget).to_bytes());
    if let (Some(ap), Some(v)) = (ap_ref, fields.visible) {
        let stream = appearance(&fields.signer, fields.time, v.width, v.height);
        put(&mut update, ap, &stream.to_bytes());
    }
    for (r, o) in &rewritten {
        let r = ObjRef::new(r.num, gen_of(*r));
        put(&mut update, r, &o.to_bytes());
    }

    // The trailer entries every section repeats.
    let old = pdf.trailer();
    let id0 = match old.get("ID").and_then(Object::as_array) {
        Some([Object::Str(first), ..]) => first.clone(),
        _ => Sha256::digest(format!("{base}{}", pdf_date(fields.time)))[..16].to_vec(),
    };
    let id1 =
        Sha256::digest([&update[..], pdf_date(fields.time).as_bytes()].concat())[..16].to_vec();
    let mut trailer = Dict::default();
    trailer.set("Root", Object::Ref(root));
    if let Some(info) = old.get("Info") {
        trailer.set("Info", info.clone());
    }
    trailer.set(
        "ID",
        Object::Array(vec![Object::Str(id0), Object::Str(id1)]),
    );
    trailer.set(
        "Prev",
        Object::Int(i64::try_from(pdf.latest().offset).unwrap_or(i64::MAX)),
    );

    let xref_at;
    match pdf.latest().kind {
        SectionKind::Table => {
            xref_at = update.len();
            trailer.set("Size", Object::Int(i64::from(next)));
            update.extend_from_slice(b"xref\n");
            for run in runs(&offsets) {
                update.extend_from_slice(format!("{} {}\n", run[0].0.num, run.len()).as_bytes());
                for (r, at) in run {
                    update.extend_from_slice(
                        format!("{:010} {:05} n\r\n", base + at as u64, r.gen_).as_bytes(),
                    );
                }
            }
            update.extend_from_slice(b"trailer\n");
            update.extend_from_slice(&Object::Dict(trailer).to_bytes());
            update.push(b'\n');
        }
        SectionKind::Stream(_) => {
            let xref_ref = ObjRef::new(next, 0);
            next += 1;
            xref_at = update.len();
            offsets.push((xref_ref, xref_at));
            let max = base + xref_at as u64;
            let width = (1..=8).find(|w| max < 1u64 << (8 * w)).unwrap_or(8).max(4);
            let mut data = Vec::new();
            let mut index = Vec::new();
            for run in runs(&offsets) {
                index.push(Object::Int(i64::from(run[0].0.num)));
                index.push(Object::Int(run.len() as i64));
                for (r, at) in run {
                    data.push(1);
                    data.extend_from_slice(&(base + at as u64).to_be_bytes()[8 - width..]);
                    data.extend_from_slice(&r.gen_.to_be_bytes());
                }
            }
            let mut d = Dict::default();
            d.set("Type", Object::name("XRef"));
            d.set("Size", Object::Int(i64::from(next)));
            d.set(
                "W",
                Object::Array(vec![
                    Object::Int(1),
                    Object::Int(width as i64),
                    Object::Int(2),
                ]),
            );
            d.set("Index", Object::Array(index));
            d.0.extend(trailer.0);
            update.extend_from_slice(format!("{} 0 obj\n", xref_ref.num).as_bytes());
            Object::Stream(d, data).write(&mut update);
            update.extend_from_slice(b"\nendobj\n");
        }
    }
    update.extend_from_slice(format!("startxref\n{}\n%%EOF\n", base + xref_at as u64).as_bytes());

    // The byte range, now that every length is known.
    let a = base + contents_at as u64;
    let b = a + hex_len as u64 + 2;
    let c = base + update.len() as u64 - b;
    let byte_range = [0, a, b, c];
    let text = format!("0 {a} {b} {c}");
    if text.len() > BYTE_RANGE_WIDTH {
        return Err(PdfError::Broken(
            "the file is too large for a byte range".into(),
        ));
    }
    update[byte_range_at..byte_range_at + text.len()].copy_from_slice(text.as_bytes());
    Ok(Prepared {
        update,
        base,
        contents_at,
        hex_len,
        field,
        byte_range,
    })
}

/// Consecutive object numbers, as cross-reference subsections.
fn runs(offsets: &[(ObjRef, usize)]) -> Vec<Vec<(ObjRef, usize)>> {
    let mut sorted = offsets.to_vec();
    sorted.sort_by_key(|(r, _)| r.num);
    sorted.dedup_by_key(|(r, _)| r.num);
    let mut out: Vec<Vec<(ObjRef, usize)>> = Vec::new();
    for item in sorted {
        match out.last_mut() {
            Some(run) if run.last().is_some_and(|(r, _)| r.num + 1 == item.0.num) => run.push(item),
            _ => out.push(vec![item]),
        }
    }
    out
}
