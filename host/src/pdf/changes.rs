//! What each later revision of a PDF changed, object by object, and which
//! changes a signature allows (ISO 32000-1 §12.8.2.2, DocMDP): another
//! signature, a form fill, validation data (DSS), metadata, an annotation,
//! or an unknown change.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use super::PdfError;
use super::file::{Entry, PdfFile, SectionKind};
use super::object::{Dict, ObjRef, Object};

/// What one later revision did.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Change {
    /// The revision (from 1, the original document).
    pub revision: usize,
    /// `signature`, `form fill`, `validation data`, `metadata`,
    /// `annotation`, `unknown change` or `no change`.
    pub kind: &'static str,
    /// What was changed.
    pub detail: String,
    /// Whether the change is one the document's signatures allow (see
    /// [`Change::allowed_under`]).
    pub allowed: bool,
}

impl Change {
    /// Whether the change leaves an earlier signature's document as signed,
    /// under the document's DocMDP permission `p` (ISO 32000-1 §12.8.2.2):
    /// none (1) allows only validation data; form fills, signatures and
    /// metadata (2, and the default for a document that is not certified);
    /// annotations too (3). Unknown changes never.
    pub fn allowed_under(&self, p: Option<i64>) -> bool {
        match self.kind {
            "validation data" | "no change" => true,
            "signature" | "form fill" | "metadata" => p != Some(1),
            "annotation" => p == Some(3),
            _ => false,
        }
    }
}

/// The document's certification (DocMDP, ISO 32000-1 §12.8.2.2) as of
/// revision `rev`: the certifying signature's dictionary and its
/// permission `P` (2 when absent).
pub fn docmdp(pdf: &PdfFile, rev: usize) -> std::result::Result<Option<(Dict, i64)>, PdfError> {
    let (_, catalog) = pdf.catalog(rev)?;
    let Some(perms) = catalog.get("Perms") else {
        return Ok(None);
    };
    let perms = pdf.deref(perms, rev)?;
    let Some(sig) = perms.as_dict().and_then(|d| d.get("DocMDP")) else {
        return Ok(None);
    };
    let Object::Dict(sig) = pdf.deref(sig, rev)? else {
        return Ok(None);
    };
    let mut p = 2;
    for reference in sig
        .get("Reference")
        .and_then(Object::as_array)
        .unwrap_or_default()
    {
        let reference = pdf.deref(reference, rev)?;
        if let Some(r) = reference.as_dict()
            && r.is("TransformMethod", "DocMDP")
            && let Some(params) = r.get("TransformParams")
        {
            let params = pdf.deref(params, rev)?;
            p = params.as_dict().and_then(|d| d.int("P")).unwrap_or(2);
        }
    }
    Ok(Some((sig, p)))
}

/// What revision `rev` changed, object by object, summarised (the first
/// revision changes nothing: it is the original).
pub fn classify(pdf: &PdfFile, rev: usize) -> std::result::Result<Vec<Change>, PdfError> {
    if rev == 0 {
        return Ok(Vec::new());
    }
    let prev = rev - 1;
    let section = &pdf.sections[rev];
    let (root, catalog) = pdf.catalog(rev)?;
    let info = section.trailer.reference("Info").map(|r| r.num);
    let metadata = catalog.reference("Metadata").map(|r| r.num);
    let acro_ref = catalog.reference("AcroForm");
    let pages = pdf.pages(rev)?;
    let page_refs: HashSet<ObjRef> = pages.iter().map(|(r, _)| *r).collect();
    // The annotation arrays that are objects of their own, by page.
    let annot_arrays: HashMap<u32, u32> = pages
        .iter()
        .filter_map(|(page, p)| p.reference("Annots").map(|r| (r.num, page.num)))
        .collect();
    let fields_array = acro_ref
        .and_then(|r| pdf.resolve(r, rev).ok())
        .and_then(|a| a.as_dict().and_then(|d| d.reference("Fields")))
        .map(|r| r.num);

    let mut kinds: Vec<(&'static str, String)> = Vec::new();
    for (&num, entry) in &section.entries {
        if num == 0 {
            continue;
        }
        if let SectionKind::Stream(x) = section.kind
            && x.num == num
        {
            continue;
        }
        if Some(num) == metadata {
            kinds.push(("metadata", format!("document metadata (object {num})")));
            continue;
        }
        let existed = !matches!(pdf.entry(num, prev), None | Some(Entry::Free));
        if *entry == Entry::Free {
            if existed {
                kinds.push(("unknown change", format!("object {num} deleted")));
            }
            continue;
        }
        let r = ObjRef::new(num, 0);
        let now = pdf.resolve(r, rev)?;
        let before = if existed {
            Some(pdf.resolve(r, prev)?)
        } else {
            None
        };
        let d = now.as_dict();
        if d.is_some_and(|d| d.is("Type", "ObjStm") || d.is("Type", "XRef")) {
            continue;
        }
        let Some(before) = before else {
            // A new object matters only through the existing objects that
            // point to it, classified below; name what it is.
            if let Some(d) = d {
                if d.get("ByteRange").is_some() {
                    kinds.push(("signature", format!("signature dictionary {num}")));
                } else if d.is("Type", "DSS") {
                    kinds.push(("validation data", "a document security store (DSS)".into()));
                } else if d.is("Type", "Annot") && !d.is("Subtype", "Widget") {
                    kinds.push(("annotation", format!("annotation {num} added")));
                }
            }
            continue;
        };
        // A stream is its dictionary and its data: compare both.
        let (data_now, data_before) = (pdf.stream_raw(r, rev)?, pdf.stream_raw(r, prev)?);
        if now == before && data_now == data_before {
            continue;
        }
        if data_now.is_some() || data_before.is_some() {
            kinds.push((
                "unknown change",
                format!("stream object {num} ({}) changed", type_name(&before)),
            ));
            continue;
        }
        let kind = match (&now, &before) {
            _ if Some(r.num) == info || Some(r.num) == metadata => {
                ("metadata", format!("document metadata (object {num})"))
            }
            _ if r.num == root.num => {
                let ignore = ["AcroForm", "DSS", "Extensions", "Version", "Metadata"];
                match (now.as_dict(), before.as_dict()) {
                    (Some(a), Some(b)) if a.without(&ignore) == b.without(&ignore) => {
                        if a.get("DSS") != b.get("DSS") {
                            ("validation data", "the catalog's /DSS".into())
                        } else {
                            ("form fill", "the catalog's /AcroForm".into())
                        }
                    }
                    _ => ("unknown change", "the document catalog changed".into()),
                }
            }
            _ if Some(r.num) == acro_ref.map(|a| a.num) => ("form fill", "the AcroForm".into()),
            (Object::Dict(a), Object::Dict(b)) if page_refs.iter().any(|p| p.num == num) => {
                if a.without(&["Annots"]) != b.without(&["Annots"]) {
                    (
                        "unknown change",
                        format!("page object {num}: content or resources changed"),
                    )
                } else {
                    annots_change(pdf, rev, a.get("Annots"), b.get("Annots"), num)?
                }
            }
            (Object::Array(a), Object::Array(b)) if annot_arrays.contains_key(&num) => {
                annots_change(
                    pdf,
                    rev,
                    Some(&Object::Array(a.clone())),
                    Some(&Object::Array(b.clone())),
                    annot_arrays.get(&num).copied().unwrap_or(num),
                )?
            }
            (Object::Array(a), Object::Array(b)) if Some(num) == fields_array => {
                if b.iter().all(|f| a.contains(f)) {
                    ("form fill", "fields added to the form".into())
                } else {
                    ("unknown change", "form fields removed".into())
                }
            }
            (Object::Dict(a), Object::Dict(b))
                if b.get("FT").is_some() || b.is("Subtype", "Widget") =>
            {
                field_change(a, b, num)
            }
            _ => (
                "unknown change",
                format!("object {num} ({}) changed", type_name(&before)),
            ),
        };
        kinds.push(kind);
    }
    let order = [
        "unknown change",
        "annotation",
        "signature",
        "form fill",
        "validation data",
        "metadata",
    ];
    let mut out = Vec::new();
    for kind in order {
        let details: Vec<&str> = kinds
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, d)| d.as_str())
            .collect();
        if !details.is_empty() {
            out.push(Change {
                revision: rev + 1,
                kind,
                detail: details.join("; "),
                allowed: false,
            });
            // The strongest kind names the revision.
            break;
        }
    }
    if out.is_empty() {
        out.push(Change {
            revision: rev + 1,
            kind: "no change",
            detail: "objects written again unchanged".into(),
            allowed: false,
        });
    }
    Ok(out)
}

fn type_name(o: &Object) -> String {
    match o.as_dict().and_then(|d| d.name("Type")) {
        Some(t) => format!("/{}", String::from_utf8_lossy(t)),
        None => match o {
            Object::Array(_) => "an array".into(),
            Object::Dict(d) if d.get("Length").is_some() => "a stream".into(),
            Object::Dict(_) => "a dictionary".into(),
            _ => "a value".into(),
        },
    }
}

/// A page's annotation list changed: widgets added is a form change,
/// other annotations added is an annotation, removals are unknown.
fn annots_change(
    pdf: &PdfFile,
    rev: usize,
    now: Option<&Object>,
    before: Option<&Object>,
    num: u32,
) -> std::result::Result<(&'static str, String), PdfError> {
    let list = |o: Option<&Object>| -> std::result::Result<Vec<Object>, PdfError> {
        Ok(match o {
            Some(o) => pdf.deref(o, rev)?.as_array().unwrap_or_default().to_vec(),
            None => Vec::new(),
        })
    };
    let (now, before) = (list(now)?, list(before)?);
    if !before.iter().all(|a| now.contains(a)) {
        return Ok((
            "unknown change",
            format!("annotations removed from page object {num}"),
        ));
    }
    for added in now.iter().filter(|a| !before.contains(a)) {
        let a = pdf.deref(added, rev)?;
        let widget = a.as_dict().is_some_and(|d| d.is("Subtype", "Widget"));
        if !widget {
            return Ok((
                "annotation",
                format!("an annotation added to page object {num}"),
            ));
        }
    }
    Ok(("form fill", format!("widgets added to page object {num}")))
}

/// A field or widget changed: a signature field getting its first value is
/// a signature; a value and its appearance is a form fill; anything else
/// is unknown.
pub(super) fn field_change(now: &Dict, before: &Dict, num: u32) -> (&'static str, String) {
    let sig_field = now.is("FT", "Sig") || before.is("FT", "Sig");
    if sig_field {
        return match (before.get("V"), now.get("V")) {
            (None, Some(_))
                if now.without(&["V", "AP", "AS", "F"])
                    == before.without(&["V", "AP", "AS", "F"]) =>
            {
                ("signature", format!("signature field {num} signed"))
            }
            _ => ("unknown change", format!("signature field {num} changed")),
        };
    }
    let ignore = ["V", "AP", "AS", "MK"];
    if now.without(&ignore) == before.without(&ignore) {
        ("form fill", format!("form field {num} filled"))
    } else {
        (
            "unknown change",
            format!("form field {num} changed beyond its value"),
        )
    }
}
