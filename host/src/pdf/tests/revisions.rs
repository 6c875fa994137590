//! What later revisions changed: the change classes, DocMDP, xref-stream
//! updates.

use super::*;

/// A form with one text field (object 5) on the page, and an /Info.
fn form() -> Vec<u8> {
    minimal(&[
        (1, "<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [5 0 R] >> >>"),
        (2, "<< /Type /Pages /Kids [3 0 R] /Count 1 >>"),
        (3, "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Annots [5 0 R] >>"),
        (4, "<< /Length 8 >>\nstream\nBT 1 Tf\nendstream"),
        (5, "<< /Type /Annot /Subtype /Widget /FT /Tx /T (name) /V () /Rect [10 10 200 30] /P 3 0 R >>"),
        (6, "<< /Producer (test) >>"),
    ])
    .into_iter()
    .collect::<Vec<u8>>()
}

/// Appends a revision redefining `objects` (a classic table section).
fn append(bytes: &[u8], objects: &[(u32, &str)]) -> Vec<u8> {
    let text = String::from_utf8_lossy(bytes);
    let prev: u64 = text
        .rsplit("startxref")
        .next()
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let mut out = bytes.to_vec();
    let mut offsets = Vec::new();
    for (n, body) in objects {
        offsets.push((*n, out.len()));
        out.extend_from_slice(format!("{n} 0 obj\n{body}\nendobj\n").as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(b"xref\n");
    for (n, at) in &offsets {
        out.extend_from_slice(format!("{n} 1\n{at:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size 20 /Root 1 0 R /Info 6 0 R /Prev {prev} >>\nstartxref\n{xref}\n%%EOF\n"
        )
        .as_bytes(),
    );
    out
}

/// Signs `bytes` (a dummy CMS) and returns the signed file's bytes.
fn signed(dir: &Path, bytes: &[u8]) -> Vec<u8> {
    let input = write(dir, "in.pdf", bytes);
    let out = dir.join("signed.pdf");
    let _ = std::fs::remove_file(&out);
    sign_pdf(&input, &out, false, &fields(), &mut |_| {
        Ok(vec![0x30, 0x00])
    })
    .unwrap();
    std::fs::read(out).unwrap()
}

fn kind_of_last_revision(dir: &Path, bytes: &[u8]) -> (&'static str, String) {
    let p = write(dir, "changed.pdf", bytes);
    let pdf = PdfFile::open(&p).unwrap();
    let changes = changes::classify(&pdf, pdf.sections.len() - 1).unwrap();
    assert_eq!(changes.len(), 1, "{changes:?}");
    (changes[0].kind, changes[0].detail.clone())
}

#[test]
fn later_revisions_are_told_apart_form_fill_signature_annotation_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let base = signed(d, &form());
    let filled = "<< /Type /Annot /Subtype /Widget /FT /Tx /T (name) /V (Leyla) /Rect [10 10 200 30] /P 3 0 R /AP << /N 9 0 R >> >>";
    let cases: Vec<(Vec<(u32, &str)>, &str)> = vec![
        // The field's value and appearance: a form fill.
        (
            vec![
                (5, filled),
                (
                    9,
                    "<< /Length 0 /Subtype /Form /BBox [0 0 1 1] >>\nstream\n\nendstream",
                ),
            ],
            "form fill",
        ),
        // The field renamed: more than a value.
        (
            vec![(
                5,
                "<< /Type /Annot /Subtype /Widget /FT /Tx /T (other) /V () /Rect [10 10 200 30] /P 3 0 R >>",
            )],
            "unknown change",
        ),
        // A comment added to the page.
        (
            vec![
                (
                    3,
                    "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Annots [5 0 R 8 0 R 10 0 R] >>",
                ),
                (
                    10,
                    "<< /Type /Annot /Subtype /Text /Rect [0 0 10 10] /Contents (hi) >>",
                ),
            ],
            "annotation",
        ),
        // What the page shows.
        (
            vec![(4, "<< /Length 8 >>\nstream\nBT 2 Tf\nendstream")],
            "unknown change",
        ),
        (
            vec![(
                3,
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 300] /Contents 4 0 R /Annots [5 0 R] >>",
            )],
            "unknown change",
        ),
        // The catalog gains an action.
        (
            vec![(
                1,
                "<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [5 0 R] >> /OpenAction [3 0 R /Fit] >>",
            )],
            "unknown change",
        ),
        // Metadata.
        (
            vec![(6, "<< /Producer (other) /ModDate (D:20270101000000Z) >>")],
            "metadata",
        ),
        // The annotation removed.
        (
            vec![(
                3,
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Annots [] >>",
            )],
            "unknown change",
        ),
        // An object deleted is written as a free entry: see below.
    ];
    for (objects, kind) in cases {
        let changed = append(&base, &objects);
        let (found, detail) = kind_of_last_revision(d, &changed);
        assert_eq!(found, kind, "{objects:?}: {detail}");
    }
    // Another signature on top.
    let twice = signed(d, &base);
    assert_eq!(kind_of_last_revision(d, &twice).0, "signature");
    // The signature's own revision, from the original: a signature.
    assert_eq!(kind_of_last_revision(d, &base).0, "signature");
}

#[test]
fn a_document_certified_with_no_changes_allowed_is_not_signed_again() {
    let dir = tempfile::tempdir().unwrap();
    let certified = |p: u8| {
        minimal(&[
            (
                1,
                "<< /Type /Catalog /Pages 2 0 R /Perms << /DocMDP 5 0 R >> >>",
            ),
            (2, "<< /Type /Pages /Kids [3 0 R] /Count 1 >>"),
            (3, "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>"),
            (
                5,
                &format!(
                    "<< /Type /Sig /Reference [<< /TransformMethod /DocMDP /TransformParams << /P {p} /V /1.2 >> >>] >>"
                ),
            ),
        ])
    };
    let p1 = write(dir.path(), "p1.pdf", &certified(1));
    let err = sign_pdf(
        &p1,
        &dir.path().join("o.pdf"),
        false,
        &fields(),
        &mut |_| Ok(vec![0x30, 0]),
    )
    .unwrap_err();
    assert!(err.to_string().contains("DocMDP P=1"), "{err}");
    assert!(!dir.path().join("o.pdf").exists());
    let p2 = write(dir.path(), "p2.pdf", &certified(2));
    let pdf = PdfFile::open(&p2).unwrap();
    assert_eq!(changes::docmdp(&pdf, 0).unwrap().map(|(_, p)| p), Some(2));
    sign_pdf(
        &p2,
        &dir.path().join("o.pdf"),
        false,
        &fields(),
        &mut |_| Ok(vec![0x30, 0]),
    )
    .unwrap();
}

#[test]
fn what_each_docmdp_permission_allows() {
    let change = |kind| changes::Change {
        revision: 2,
        kind,
        detail: String::new(),
        allowed: false,
    };
    let table = [
        ("validation data", [true, true, true, true]),
        ("signature", [true, false, true, true]),
        ("form fill", [true, false, true, true]),
        ("metadata", [true, false, true, true]),
        ("annotation", [false, false, false, true]),
        ("unknown change", [false, false, false, false]),
    ];
    for (kind, expected) in table {
        let found = [None, Some(1), Some(2), Some(3)].map(|p| change(kind).allowed_under(p));
        assert_eq!(found, expected, "{kind}");
    }
}

/// [`form`] with the AcroForm, its /Fields and the page's /Annots as
/// objects of their own (11, 12, 13).
fn indirect_form() -> Vec<u8> {
    minimal(&[
        (1, "<< /Type /Catalog /Pages 2 0 R /AcroForm 11 0 R >>"),
        (2, "<< /Type /Pages /Kids [3 0 R] /Count 1 >>"),
        (
            3,
            "<< /Type /Page /Parent 2 0 R /MediaBox 10 0 R /Contents 4 0 R /Annots 13 0 R >>",
        ),
        (4, "<< /Length 8 >>\nstream\nBT 1 Tf\nendstream"),
        (
            5,
            "<< /Type /Annot /Subtype /Widget /FT /Tx /T (name) /V () /Rect [10 10 200 30] /P 3 0 R >>",
        ),
        (6, "<< /Producer (test) >>"),
        (
            9,
            "<< /Type /Annot /Subtype /Widget /Parent 5 0 R /Rect [0 0 1 1] /AS /Off >>",
        ),
        (10, "[0 0 595 842]"),
        (11, "<< /Fields 12 0 R /DA (/Helv 0 Tf 0 g) >>"),
        (12, "[5 0 R]"),
        (13, "[5 0 R]"),
    ])
}

#[test]
fn changes_through_indirect_form_objects_are_told_apart_too() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let base = signed(d, &indirect_form());
    // The signature's own update rewrote the objects, not the catalog.
    let pdf = PdfFile::open(&write(d, "s.pdf", &base)).unwrap();
    let rewritten: Vec<u32> = pdf.sections[1].entries.keys().copied().collect();
    assert!(rewritten.contains(&11) && rewritten.contains(&12) && rewritten.contains(&13));
    assert!(
        !rewritten.contains(&1) && !rewritten.contains(&3),
        "{rewritten:?}"
    );
    let changes = changes::classify(&pdf, 1).unwrap();
    assert_eq!(changes[0].kind, "signature", "{changes:?}");
    assert_eq!(changes[0].revision, 2);
    // The signature's widget is 15 (size 14: signature 14, widget 15).
    // Objects written again, the kind found, words of its detail.
    type Case<'a> = (Vec<(u32, &'a str)>, &'a str, &'a str);
    let cases: Vec<Case<'_>> = vec![
        (
            vec![(
                11,
                "<< /Fields 12 0 R /DA (/Helv 10 Tf 0 g) /NeedAppearances true >>",
            )],
            "form fill",
            "the AcroForm",
        ),
        (
            vec![
                (12, "[5 0 R 15 0 R 20 0 R]"),
                (20, "<< /FT /Tx /T (more) >>"),
            ],
            "form fill",
            "fields added to the form",
        ),
        (
            vec![(12, "[15 0 R]")],
            "unknown change",
            "form fields removed",
        ),
        (
            vec![
                (13, "[5 0 R 15 0 R 21 0 R]"),
                (21, "<< /Type /Annot /Subtype /Square /Rect [0 0 9 9] >>"),
            ],
            "annotation",
            "annotation 21 added",
        ),
        (
            vec![
                (13, "[5 0 R 15 0 R 22 0 R]"),
                (22, "<< /Type /Annot /Subtype /Widget /Rect [0 0 9 9] >>"),
            ],
            "form fill",
            "widgets added to page object 3",
        ),
        (
            vec![(13, "[5 0 R]")],
            "unknown change",
            "annotations removed from page object 3",
        ),
        // The catalog gains a DSS: validation data.
        (
            vec![
                (
                    1,
                    "<< /Type /Catalog /Pages 2 0 R /AcroForm 11 0 R /DSS 23 0 R >>",
                ),
                (23, "<< /Type /DSS /Certs [] >>"),
            ],
            "validation data",
            "the catalog's /DSS",
        ),
        // A dictionary that is not a field gaining a /V is no form fill.
        (
            vec![(2, "<< /Type /Pages /Kids [3 0 R] /Count 1 /V (x) >>")],
            "unknown change",
            "object 2 (/Pages) changed",
        ),
        (
            vec![(6, "[1 2]")],
            "metadata",
            "document metadata (object 6)",
        ),
        // A content stream replaced by a dictionary.
        (
            vec![(4, "<< /Length 8 >>")],
            "unknown change",
            "stream object 4 (a stream) changed",
        ),
        (
            vec![(14, "<< /Type /Sig /ByteRange [0 0 0 0] /Contents <00> >>")],
            "unknown change",
            "object 14 (/Sig) changed",
        ),
        // An array that is neither /Fields nor /Annots: what the page shows.
        (
            vec![(10, "[0 0 300 300]")],
            "unknown change",
            "object 10 (an array) changed",
        ),
        // A widget that is a field's kid (no /FT of its own) switched on.
        (
            vec![(
                9,
                "<< /Type /Annot /Subtype /Widget /Parent 5 0 R /Rect [0 0 1 1] /AS /On >>",
            )],
            "form fill",
            "form field 9 filled",
        ),
    ];
    for (objects, kind, detail) in cases {
        let changed = append(&base, &objects);
        let p = write(d, "changed.pdf", &changed);
        let pdf = PdfFile::open(&p).unwrap();
        let found = changes::classify(&pdf, 2).unwrap();
        assert_eq!(found.len(), 1, "{objects:?}: {found:?}");
        assert_eq!(
            (found[0].kind, found[0].revision),
            (kind, 3),
            "{objects:?}: {found:?}"
        );
        assert!(found[0].detail.contains(detail), "{objects:?}: {found:?}");
    }
}

/// A one-page PDF whose cross-reference section is an uncompressed
/// stream (object 5), the objects in an object stream (object 6).
fn xref_stream_doc() -> Vec<u8> {
    let mut out = b"%PDF-1.7\n".to_vec();
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
    ];
    // Objects 1-3 in object stream 6.
    let mut header = String::new();
    let mut body = String::new();
    for (i, o) in objects.iter().enumerate() {
        header.push_str(&format!("{} {} ", i + 1, body.len()));
        body.push_str(o);
        body.push(' ');
    }
    let data = format!("{header}{body}");
    let objstm_at = out.len();
    out.extend_from_slice(
        format!(
            "6 0 obj\n<< /Type /ObjStm /N 3 /First {} /Length {} >>\nstream\n{data}\nendstream\nendobj\n",
            header.len(),
            data.len()
        )
        .as_bytes(),
    );
    let xref_at = out.len();
    // Widths 1 3 2: type; offset or object stream; generation or index.
    let row = |t: u8, f2: usize, f3: u16| {
        let mut r = vec![t];
        r.extend_from_slice(&(f2 as u32).to_be_bytes()[1..]);
        r.extend_from_slice(&f3.to_be_bytes());
        r
    };
    let mut data = row(0, 0, 0xFFFF);
    for i in 0..3u16 {
        data.extend(row(2, 6, i));
    }
    data.extend(row(0, 0, 0));
    data.extend(row(1, xref_at, 0));
    data.extend(row(1, objstm_at, 0));
    out.extend_from_slice(
        format!(
            "5 0 obj\n<< /Type /XRef /Size 7 /W [1 3 2] /Root 1 0 R /Length {} >>\nstream\n",
            data.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(&data);
    out.extend_from_slice(format!("\nendstream\nendobj\nstartxref\n{xref_at}\n%%EOF\n").as_bytes());
    out
}

#[test]
fn an_xref_stream_document_gets_an_xref_stream_update() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let original = xref_stream_doc();
    let pdf = PdfFile::open(&write(d, "x.pdf", &original)).unwrap();
    assert!(matches!(pdf.latest().kind, SectionKind::Stream(r) if r.num == 5));
    assert_eq!(
        pdf.entry(2, 0),
        Some(Entry::Compressed {
            stream: 6,
            index: 1
        })
    );
    assert_eq!(pdf.pages(0).unwrap().len(), 1);
    let bytes = signed(d, &original);
    let pdf = PdfFile::open(&write(d, "s.pdf", &bytes)).unwrap();
    let SectionKind::Stream(x) = pdf.latest().kind else {
        panic!("the update's section is a table");
    };
    assert_eq!(x.num, 9, "signature 7, widget 8, the xref stream 9");
    assert_eq!(
        pdf.latest().trailer.int("Prev"),
        Some(pdf.sections[0].offset as i64)
    );
    // Its own entry and the object stream are not changes.
    let changes = changes::classify(&pdf, 1).unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].kind, "signature", "{changes:?}");
    assert!(!changes[0].detail.contains("object 9"), "{changes:?}");
    // Objects moved out of the object stream, unchanged, are no change.
    let again = append(&bytes, &[(2, "<< /Type /Pages /Kids [3 0 R] /Count 1 >>")]);
    let pdf = PdfFile::open(&write(d, "a.pdf", &again)).unwrap();
    let changes = changes::classify(&pdf, 2).unwrap();
    assert_eq!(changes[0].kind, "no change", "{changes:?}");
    assert_eq!(changes[0].revision, 3);
}

#[test]
fn field_changes_a_signature_allows_and_those_it_does_not() {
    let d = |text: &str| match parse::Parser::new(text.as_bytes(), 0).object().unwrap() {
        Object::Dict(d) => d,
        _ => panic!("not a dictionary"),
    };
    let kind = |now: &str, before: &str| changes::field_change(&d(now), &d(before), 5).0;
    let empty_sig = "<< /FT /Sig /T (S) /Rect [0 0 0 0] >> ";
    assert_eq!(
        kind("<< /FT /Sig /T (S) /Rect [0 0 0 0] /V 9 0 R >> ", empty_sig),
        "signature"
    );
    assert_eq!(
        kind(
            "<< /FT /Sig /T (S) /Rect [0 0 0 0] /V 9 0 R /AP << /N 8 0 R >> >> ",
            empty_sig
        ),
        "signature"
    );
    // Signed and renamed at once; changed without a value.
    assert_eq!(
        kind("<< /FT /Sig /T (O) /Rect [0 0 0 0] /V 9 0 R >> ", empty_sig),
        "unknown change"
    );
    assert_eq!(
        kind("<< /FT /Sig /T (S) /Rect [0 0 9 9] >> ", empty_sig),
        "unknown change"
    );
    // A signed field whose value is replaced.
    assert_eq!(
        kind(
            "<< /FT /Sig /T (S) /V 10 0 R >> ",
            "<< /FT /Sig /T (S) /V 9 0 R >> "
        ),
        "unknown change"
    );
    // A text field that becomes a signature field, and the other way.
    assert_eq!(
        kind("<< /FT /Sig /T (S) /V 9 0 R >> ", "<< /FT /Tx /T (S) >> "),
        "unknown change"
    );
    assert_eq!(
        kind("<< /FT /Tx /T (S) >> ", "<< /FT /Sig /T (S) >> "),
        "unknown change"
    );
    // Text fields: the value and its appearance; anything else is not.
    assert_eq!(
        kind(
            "<< /FT /Tx /T (S) /V (x) /AP << /N 3 0 R >> /MK << >> >> ",
            "<< /FT /Tx /T (S) >> "
        ),
        "form fill"
    );
    assert_eq!(
        kind("<< /FT /Tx /T (S) /Ff 1 >> ", "<< /FT /Tx /T (S) >> "),
        "unknown change"
    );
}
