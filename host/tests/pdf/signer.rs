//! Our PDF signer, judged by pdfsig, pyHanko and qpdf.

use std::path::Path;

use crate::pdf_tools::{self as tools, XrefKind};
use crate::setup::{OurTsa, Setup, text};

/// The checks every PDF we sign must pass with every tool.
fn judged_valid(s: &Setup, signed: &Path, fields: usize) -> tools::PyhankoReport {
    let (clean, why) = tools::qpdf_check(signed);
    assert!(clean, "qpdf --check: {why}");
    let sigs = tools::pdfsig(signed);
    assert_eq!(sigs.len(), fields, "{sigs:?}");
    for (i, sig) in sigs.iter().enumerate() {
        assert!(sig.valid, "pdfsig: {}", sig.raw);
        assert_eq!(sig.total_document, i + 1 == fields, "{}", sig.raw);
    }
    let nss = tools::nss_db_with(&s.path("nss"), &[&s.root()]);
    let trusted = tools::pdfsig_trusting(signed, &nss);
    let ours = trusted.last().unwrap();
    assert!(ours.certificate_trusted, "pdfsig: {}", ours.raw);
    let (code, report, out) = s.verify(signed, &["--ca", "ca/root.pem"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(report["valid"], true);
    assert_eq!(report["signatures"].as_array().unwrap().len(), fields);
    tools::pyhanko_validate(signed, &s.root(), &[])
}

#[test]
fn a_ghostscript_pdf_signed_invisibly_is_valid_for_pdfsig_pyhanko_qpdf_and_us() {
    let s = Setup::new();
    let doc = tools::ghostscript_pdf(s.dir.path(), 2);
    let original = std::fs::read(&doc).unwrap();
    let json = s.sign(&doc, &["--reason", "Razıyam", "--location", "Bakı"]);
    let signed = s.path(&format!(
        "{}.signed.pdf",
        doc.file_stem().unwrap().to_str().unwrap()
    ));
    assert_eq!(json["signed_file"], signed.to_str().unwrap());
    assert_eq!(json["level"], "PAdES B-B");
    let bytes = std::fs::read(&signed).unwrap();
    assert!(
        bytes.starts_with(&original),
        "an incremental update keeps every original byte"
    );
    let report = judged_valid(&s, &signed, 1);
    let sig = report.field("Signature1");
    assert!(sig.intact && sig.trusted && sig.valid, "{}", sig.pretty);
    assert!(sig.covers_whole_file && sig.timestamp.is_none());
    let pdfsig = &tools::pdfsig(&signed)[0];
    assert_eq!(pdfsig.signature_type, "ETSI.CAdES.detached");

    // PAdES baseline B-B: no CMS signing-time; /M, /Reason, /Location.
    let (_, v, _) = s.verify(&signed, &["--ca", "ca/root.pem"]);
    let ours = &v["signatures"][0];
    assert_eq!(ours["level"], "PAdES B-B", "{v}");
    assert!(ours["cms"]["signing_time"].is_null(), "{v}");
    assert!(ours["signing_time"].as_str().unwrap().starts_with("D:20"));
    assert_eq!(ours["reason"], "Razıyam");
    assert_eq!(ours["location"], "Bakı");
    assert_eq!(ours["cms"]["cades_bes"], true);

    // OpenSSL agrees on the CMS part: the hole taken out, the rest as content.
    let range: Vec<usize> = json["byte_range"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_u64().unwrap() as usize)
        .collect();
    let (hole, rest) = (&bytes[range[1] + 1..range[2] - 1], &bytes[range[2]..]);
    let der = hex::decode(hole).unwrap();
    let len = 4 + usize::from(u16::from_be_bytes([der[2], der[3]]));
    assert_eq!(der[..2], [0x30, 0x82], "a long-form DER SEQUENCE");
    std::fs::write(s.path("sig.der"), &der[..len]).unwrap();
    std::fs::write(s.path("covered.bin"), [&bytes[..range[1]], rest].concat()).unwrap();
    let out = std::process::Command::new("openssl")
        .args([
            "cms", "-verify", "-binary", "-inform", "DER", "-in", "sig.der",
        ])
        .args([
            "-content",
            "covered.bin",
            "-CAfile",
            "ca/root.pem",
            "-purpose",
            "any",
        ])
        .args(["-out", "/dev/null"])
        .current_dir(s.dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "openssl cms -verify: {}", text(&out));
}

#[test]
fn a_second_signature_on_an_xref_stream_pdf_signed_by_pyhanko_keeps_the_first_valid() {
    let s = Setup::new();
    let gs = tools::ghostscript_pdf(s.dir.path(), 2);
    let doc = tools::qpdf_xref_stream_pdf(&gs, s.dir.path());
    assert_eq!(tools::xref_kind(&doc), XrefKind::Stream);
    // The first signature is pyHanko's, with an openssl-made key.
    let theirs = tools::openssl_p256_signer(s.dir.path());
    let first = s.path("first.pdf");
    tools::pyhanko_sign(&doc, &first, &theirs, "Approval", None, true);
    // Ours goes on page 2, visible, to a named output.
    let out = s.path("both.pdf");
    s.sign(&first, &["-o", "both.pdf", "--visible", "2,72,72,220,50"]);
    let report = judged_valid_two(&s, &out, &theirs.ca_pem);
    assert!(report.field("Approval").valid, "{}", report.raw);
    assert!(report.field("Signature1").valid, "{}", report.raw);
    assert!(!report.field("Approval").covers_whole_file);

    // The appearance is drawn inside the rectangle on page 2.
    let ink = crate::setup::ink_in_rect(&out, 2, (72.0, 72.0, 292.0, 122.0));
    assert!(ink > 0.05, "the visible signature draws nothing ({ink})");
    let blank = crate::setup::ink_in_rect(&out, 1, (72.0, 72.0, 292.0, 122.0));
    assert!(blank < 0.001, "page 1 is untouched ({blank})");
}

/// Two signatures, the first under another root: pdfsig, qpdf, pyHanko,
/// and us with both roots.
fn judged_valid_two(s: &Setup, signed: &Path, other_root: &Path) -> tools::PyhankoReport {
    let (clean, why) = tools::qpdf_check(signed);
    assert!(clean, "qpdf --check: {why}");
    let sigs = tools::pdfsig(signed);
    assert_eq!(sigs.len(), 2);
    assert!(sigs.iter().all(|s| s.valid), "{sigs:?}");
    assert!(!sigs[0].total_document && sigs[1].total_document);
    let other = other_root.to_str().unwrap();
    let (code, v, out) = s.verify(signed, &["--ca", "ca/root.pem", "--ca", other]);
    assert_eq!(code, 0, "{out}");
    let first = &v["signatures"][0];
    assert_eq!(first["changes_after"][0]["kind"], "signature", "{v}");
    tools::pyhanko_validate(signed, &s.root(), &["--trust", other])
}

#[test]
fn pades_b_t_with_our_tsa_is_seen_as_time_stamped_by_pyhanko() {
    let s = Setup::new();
    let tsa = OurTsa::start(&s);
    let doc = tools::ghostscript_pdf(s.dir.path(), 1);
    let json = s.sign(&doc, &["--tsa", &tsa.url, "-o", "bt.pdf"]);
    assert_eq!(json["level"], "PAdES B-T");
    let signed = s.path("bt.pdf");
    let report = judged_valid(&s, &signed, 1);
    let sig = report.field("Signature1");
    let stamp = sig
        .timestamp
        .as_ref()
        .unwrap_or_else(|| panic!("{}", sig.pretty));
    assert!(stamp.intact && stamp.trusted, "{}", sig.pretty);
    assert!(report.timestamped && report.valid, "{}", report.raw);
    let (_, v, _) = s.verify(&signed, &["--ca", "ca/root.pem"]);
    assert_eq!(v["signatures"][0]["level"], "PAdES B-T", "{v}");
    assert!(v["signatures"][0]["cms"]["timestamp"].is_object(), "{v}");
}

#[test]
fn the_tsa_failing_leaves_no_file() {
    let s = Setup::new();
    let doc = tools::ghostscript_pdf(s.dir.path(), 1);
    // Nothing listens on this port once the listener is dropped.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/");
    let before: Vec<_> = std::fs::read_dir(s.dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let out = s.asan(&["sign", "--pades", "--tsa", &url, doc.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(text(&out).contains("127.0.0.1"), "{}", text(&out));
    let after: Vec<_> = std::fs::read_dir(s.dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(before, after, "no output and no temporary file");
}

#[test]
fn inputs_we_cannot_sign_are_refused_with_their_cause_and_cost_no_try() {
    let s = Setup::new();
    let doc = tools::ghostscript_pdf(s.dir.path(), 1);
    let enc = s.path("enc.pdf");
    tools::run::run(
        "qpdf",
        &[
            "--encrypt",
            "u",
            "o",
            "256",
            "--",
            doc.to_str().unwrap(),
            enc.to_str().unwrap(),
        ],
    );
    let bytes = std::fs::read(&doc).unwrap();
    std::fs::write(s.path("cut.pdf"), &bytes[..bytes.len() / 2]).unwrap();
    std::fs::write(s.path("text.pdf"), "not a PDF at all\n").unwrap();
    let tries = s.pin2_tries();
    for (file, cause) in [
        ("enc.pdf", "encrypted"),
        ("cut.pdf", "damaged PDF"),
        ("text.pdf", "not a PDF"),
        ("missing.pdf", "No such file"),
    ] {
        let out = s.asan(&["sign", "--pades", file]);
        assert!(!out.status.success(), "{file}");
        assert!(text(&out).contains(cause), "{file}: {}", text(&out));
        let stem = file.trim_end_matches(".pdf");
        assert!(!s.path(&format!("{stem}.signed.pdf")).exists(), "{file}");
    }
    // A page that does not exist.
    let out = s.asan(&[
        "sign",
        "--pades",
        "--visible",
        "3,10,10,100,40",
        doc.to_str().unwrap(),
    ]);
    assert!(
        text(&out).contains("page 3 does not exist"),
        "{}",
        text(&out)
    );
    assert_eq!(s.pin2_tries(), tries, "refusals cost no PIN2 try");
    let leftovers: Vec<_> = std::fs::read_dir(s.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp") || n.ends_with(".signed.pdf"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // An existing output is kept, and replaced only with --force.
    let signed = s.path("doc.signed.pdf");
    let target = doc.with_file_name(format!(
        "{}.signed.pdf",
        doc.file_stem().unwrap().to_str().unwrap()
    ));
    std::fs::write(&target, "mine").unwrap();
    let out = s.asan(&["sign", "--pades", doc.to_str().unwrap()]);
    assert!(text(&out).contains("--force"), "{}", text(&out));
    assert_eq!(std::fs::read(&target).unwrap(), b"mine");
    s.sign(&doc, &["--force"]);
    assert!(std::fs::read(&target).unwrap().starts_with(b"%PDF"));
    let _ = signed;
    // A wrong PIN2: no file.
    std::fs::remove_file(&target).unwrap();
    let out = s.asan_pin2("99999", &["sign", "--pades", doc.to_str().unwrap()]);
    assert!(text(&out).contains("wrong PIN2"), "{}", text(&out));
    assert!(!target.exists());
}

#[test]
fn a_b_t_signature_outlives_its_certificate_and_a_b_b_one_does_not() {
    // The CA and the card 1094 days ago: the signing certificate (1095
    // days) expires tomorrow. The TSA is made now.
    let s = Setup::made(Some("1094 days ago"));
    let tsa = OurTsa::start(&s);
    let doc = tools::ghostscript_pdf(s.dir.path(), 1);
    s.sign(&doc, &["--tsa", &tsa.url, "-o", "bt.pdf"]);
    s.sign(&doc, &["-o", "bb.pdf"]);
    let later = asan_host::pki::rfc3339(
        std::time::SystemTime::now() + std::time::Duration::from_secs(3 * 86_400),
    );
    let args = ["--ca", "ca/root.pem", "--at", later.as_str()];
    // Today both are valid.
    for f in ["bt.pdf", "bb.pdf"] {
        let (code, _, out) = s.verify(&s.path(f), &args[..2]);
        assert_eq!(code, 0, "{f}: {out}");
    }
    // In three days only the time-stamped one.
    let (code, v, out) = s.verify(&s.path("bt.pdf"), &args);
    assert_eq!(code, 0, "{out}");
    let cms = &v["signatures"][0]["cms"];
    assert_eq!(cms["validation_time"], cms["timestamp"]["gen_time"], "{v}");
    let (code, v, out) = s.verify(&s.path("bb.pdf"), &args);
    assert_eq!(code, 1, "{out}");
    let failed: Vec<&str> = v["signatures"][0]["cms"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["validity", "rustls-webpki"], "{v}");
}

#[test]
fn several_pdfs_are_signed_with_one_pin2_entry() {
    let s = Setup::new();
    let one = tools::ghostscript_pdf(s.dir.path(), 1);
    let two = s.path("two.pdf");
    std::fs::copy(&one, &two).unwrap();
    let tries = s.pin2_tries();
    let v = s.sign(&one, &[two.to_str().unwrap()]);
    let files = v["files"].as_array().unwrap();
    assert_eq!(files.len(), 2, "{v}");
    for f in files {
        let signed = std::path::PathBuf::from(f["signed_file"].as_str().unwrap());
        let (code, _, out) = s.verify(&signed, &["--ca", "ca/root.pem"]);
        assert_eq!(code, 0, "{out}");
    }
    assert_eq!(s.pin2_tries(), tries);
    // Both outputs exist now: a second run is refused before the card.
    let out = s.asan(&[
        "sign",
        "--pades",
        one.to_str().unwrap(),
        two.to_str().unwrap(),
    ]);
    assert!(text(&out).contains("--force"), "{}", text(&out));
}
