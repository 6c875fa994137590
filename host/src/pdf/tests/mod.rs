//! The reader, the update and the verifier on hand-made PDFs.

use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use super::file::{Entry, SectionKind};
use super::object::{ObjRef, Object};
use super::update::{SignatureFields, prepare};
use super::*;

/// A one-page PDF with a classic table; objects as given (number, body).
fn minimal(objects: &[(u32, &str)]) -> Vec<u8> {
    let mut out = b"%PDF-1.7\n%asan\n".to_vec();
    let mut offsets = Vec::new();
    for (n, body) in objects {
        offsets.push((*n, out.len()));
        out.extend_from_slice(format!("{n} 0 obj\n{body}\nendobj\n").as_bytes());
    }
    let xref = out.len();
    let size = objects.iter().map(|(n, _)| n + 1).max().unwrap_or(1);
    out.extend_from_slice(format!("xref\n0 {size}\n0000000000 65535 f \n").as_bytes());
    for n in 1..size {
        match offsets.iter().find(|(m, _)| *m == n) {
            Some((_, at)) => out.extend_from_slice(format!("{at:010} 00000 n \n").as_bytes()),
            None => out.extend_from_slice(b"0000000000 00000 f \n"),
        }
    }
    out.extend_from_slice(
        format!("trailer\n<< /Size {size} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n").as_bytes(),
    );
    out
}

fn doc() -> Vec<u8> {
    minimal(&[
        (1, "<< /Type /Catalog /Pages 2 0 R >>"),
        (2, "<< /Type /Pages /Kids [3 0 R] /Count 1 >>"),
        (
            3,
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
        ),
        (4, "<< /Length 8 >>\nstream\nBT 1 Tf\nendstream"),
    ])
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn fields() -> SignatureFields {
    SignatureFields {
        signer: "Leyla Həsənova".into(),
        time: UNIX_EPOCH + Duration::from_secs(1_796_670_752),
        reason: Some("Razıyam".into()),
        location: None,
        visible: None,
        reserve: 64,
    }
}

#[test]
fn the_reader_finds_the_catalog_and_pages_of_a_classic_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "a.pdf", &doc());
    let pdf = PdfFile::open(&p).unwrap();
    assert_eq!(pdf.sections.len(), 1);
    assert_eq!(pdf.latest().kind, SectionKind::Table);
    assert_eq!(pdf.size(), 5);
    assert_eq!(pdf.entry(0, 0), Some(Entry::Free));
    let pages = pdf.pages(0).unwrap();
    assert_eq!(pages.len(), 1);
    assert_eq!(pages[0].0, ObjRef::new(3, 0));
    assert_eq!(pdf.latest().end, Some(pdf.len));
}

#[test]
fn not_a_pdf_truncated_encrypted_and_looping_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let not = write(d, "n.pdf", b"hello\n");
    assert!(matches!(PdfFile::open(&not), Err(PdfError::NotPdf)));
    let full = doc();
    let cut = write(d, "c.pdf", &full[..full.len() - 30]);
    assert!(matches!(PdfFile::open(&cut), Err(PdfError::Broken(_))));
    let enc = String::from_utf8_lossy(&full).replace("/Root 1 0 R", "/Root 1 0 R /Encrypt 9 0 R");
    let enc = write(d, "e.pdf", enc.as_bytes());
    let r = PdfFile::open(&enc);
    assert!(matches!(r, Err(PdfError::Encrypted)), "{r:?}");
    // /Prev pointing at itself.
    let text = String::from_utf8_lossy(&full).into_owned();
    let xref = text.rfind("xref\n0").unwrap();
    let looped = text.replace("/Root 1 0 R", &format!("/Root 1 0 R /Prev {xref}"));
    let looped = write(d, "l.pdf", looped.as_bytes());
    let err = PdfFile::open(&looped).unwrap_err().to_string();
    assert!(err.contains("loop"), "{err}");
    // startxref pointing into nowhere.
    let wrong = text.replace(&format!("startxref\n{xref}"), "startxref\n17");
    let wrong = write(d, "w.pdf", wrong.as_bytes());
    assert!(matches!(PdfFile::open(&wrong), Err(PdfError::Broken(_))));
}

#[test]
fn the_update_adds_a_field_and_keeps_the_original_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let original = doc();
    let p = write(dir.path(), "a.pdf", &original);
    let pdf = PdfFile::open(&p).unwrap();
    let mut prepared = prepare(&pdf, &fields()).unwrap();
    assert_eq!(prepared.base, original.len() as u64);
    prepared.fill(&[0x30, 0x03, 0x02, 0x01, 0x05]).unwrap();
    assert!(
        prepared.fill(&[0u8; 65]).is_err(),
        "too large for the reserve"
    );
    let mut signed = original.clone();
    signed.extend_from_slice(&prepared.update);
    let out = write(dir.path(), "b.pdf", &signed);

    // The byte range: the whole file but the hex string.
    let [a, b, c, d] = prepared.byte_range;
    assert_eq!(a, 0);
    assert_eq!(signed[b as usize], b'<');
    assert_eq!(signed[c as usize - 1], b'>');
    assert_eq!(c + d, signed.len() as u64);
    assert_eq!(c - b, 64 * 2 + 2);

    let pdf = PdfFile::open(&out).unwrap();
    assert_eq!(pdf.sections.len(), 2);
    let (_, catalog) = pdf.catalog(1).unwrap();
    let acro = catalog.get("AcroForm").unwrap().as_dict().unwrap();
    assert_eq!(acro.int("SigFlags"), Some(3));
    let field = &acro.get("Fields").unwrap().as_array().unwrap()[0];
    let widget = pdf.deref(field, 1).unwrap();
    let widget = widget.as_dict().unwrap();
    assert!(widget.is("FT", "Sig") && widget.is("Subtype", "Widget"));
    assert_eq!(widget.get("T"), Some(&Object::Str(b"Signature1".to_vec())));
    let sig = pdf.deref(widget.get("V").unwrap(), 1).unwrap();
    let sig = sig.as_dict().unwrap();
    assert!(sig.is("SubFilter", "ETSI.CAdES.detached") && sig.is("Filter", "Adobe.PPKLite"));
    assert_eq!(
        sig.get("M"),
        Some(&Object::Str(b"D:20261207191232+00'00'".to_vec()))
    );
    assert_eq!(
        sig.get("Contents").unwrap(),
        &Object::Str([&[0x30, 0x03, 0x02, 0x01, 0x05][..], &[0; 59]].concat())
    );
    // The page lists the widget; the original revision does not.
    let page = pdf.resolve(ObjRef::new(3, 0), 1).unwrap();
    assert!(page.as_dict().unwrap().get("Annots").is_some());
    let before = pdf.resolve(ObjRef::new(3, 0), 0).unwrap();
    assert!(before.as_dict().unwrap().get("Annots").is_none());
    // A second signature gets the next name.
    let again = prepare(&pdf, &fields()).unwrap();
    assert_eq!(again.field, "Signature2");
}

#[test]
fn a_signature_never_leaves_a_file_when_signing_fails() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "a.pdf", &doc());
    let out = dir.path().join("a.signed.pdf");
    let err = sign_pdf(&p, &out, false, &fields(), &mut |_| {
        Err(Error::Usage("the card said no".into()))
    })
    .unwrap_err();
    assert!(err.to_string().contains("the card said no"));
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(left.len(), 1, "only the input remains");
    // Too large a signature for the reserve: the same.
    let err = sign_pdf(&p, &out, false, &fields(), &mut |_| Ok(vec![0x30; 100])).unwrap_err();
    assert!(err.to_string().contains("does not fit"), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    // An existing output is kept without --force, replaced with it.
    std::fs::write(&out, b"keep me").unwrap();
    let ok = |_: &[u8; 32]| Ok(vec![0x30, 0x00]);
    assert!(sign_pdf(&p, &out, false, &fields(), &mut ok.clone()).is_err());
    assert_eq!(std::fs::read(&out).unwrap(), b"keep me");
    sign_pdf(&p, &out, true, &fields(), &mut ok.clone()).unwrap();
    assert!(std::fs::read(&out).unwrap().starts_with(&doc()));
    // The input itself is never the output.
    assert!(sign_pdf(&p, &p, true, &fields(), &mut ok.clone()).is_err());
    assert_eq!(std::fs::read(&p).unwrap(), doc());
}

#[test]
fn the_hash_covers_exactly_the_byte_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "a.pdf", &doc());
    let out = dir.path().join("b.pdf");
    let mut seen = [0u8; 32];
    let signed = sign_pdf(&p, &out, false, &fields(), &mut |d| {
        seen = *d;
        Ok(vec![0x30, 0x00])
    })
    .unwrap();
    let bytes = std::fs::read(&out).unwrap();
    let [_, b, c, d] = signed.byte_range;
    let mut covered = bytes[..b as usize].to_vec();
    covered.extend_from_slice(&bytes[c as usize..(c + d) as usize]);
    assert_eq!(seen, <[u8; 32]>::from(sha2::Sha256::digest(&covered)));
    assert_eq!(signed.digest, seen);
}

mod revisions;
