//! Proves the fixtures of `tests/pdf_tools/` (PDF software that is not
//! ours): every document they make is what it claims, pyHanko signs and
//! validates with the openssl PKI and TSA, pdfsig agrees, and both notice
//! the two kinds of tampering. Every test asserts on what the tools say.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod pdf_tools;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pdf_tools::run::arg;
use pdf_tools::*;

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn ghostscript_pdf_is_clean_with_text_on_every_page() {
    let dir = tempdir();
    let pdf = ghostscript_pdf(dir.path(), 3);
    let (clean, report) = qpdf_check(&pdf);
    assert!(clean, "{report}");
    assert!(
        report.contains("No syntax or stream encoding errors found"),
        "{report}"
    );
    assert_eq!(page_count(&pdf), 3);
    let text = pdftotext(&pdf);
    for n in 1..=3 {
        assert!(text.contains(&format!("pdf_tools page {n} of 3")), "{text}");
    }
    assert_eq!(xref_kind(&pdf), XrefKind::Table);
    let head = std::fs::read(&pdf).unwrap();
    assert!(head.starts_with(b"%PDF-1.7"), "{:?}", &head[..16]);
}

#[test]
fn qpdf_rewrites_have_the_cross_reference_kind_they_claim() {
    let dir = tempdir();
    let pdf = ghostscript_pdf(dir.path(), 2);
    let xs = qpdf_xref_stream_pdf(&pdf, dir.path());
    let classic = qpdf_classic(&xs);

    assert_eq!(xref_kind(&xs), XrefKind::Stream);
    let xs_bytes = String::from_utf8_lossy(&std::fs::read(&xs).unwrap()).into_owned();
    assert!(
        xs_bytes.contains("/Type /XRef"),
        "no /Type /XRef in {}",
        xs.display()
    );
    assert!(
        xs_bytes.contains("/Type /ObjStm"),
        "no object stream in {}",
        xs.display()
    );
    let show = run("qpdf", &["--show-xref", arg(&xs)]).ok().out();
    assert!(show.contains("compressed; stream ="), "{show}");

    assert_eq!(xref_kind(&classic), XrefKind::Table);
    let classic_bytes = String::from_utf8_lossy(&std::fs::read(&classic).unwrap()).into_owned();
    assert!(!classic_bytes.contains("/XRef") && !classic_bytes.contains("/ObjStm"));
    assert!(classic_bytes.contains("\nxref\n") && classic_bytes.contains("\ntrailer"));
    let show = run("qpdf", &["--show-xref", arg(&classic)]).ok().out();
    assert!(!show.contains("compressed; stream"), "{show}");

    for p in [&xs, &classic] {
        let (clean, report) = qpdf_check(p);
        assert!(clean, "{report}");
        assert_eq!(page_count(p), 2);
        assert!(pdftotext(p).contains("pdf_tools page 2 of 2"));
    }
}

#[test]
fn qpdf_check_reports_a_damaged_file() {
    let dir = tempdir();
    let pdf = ghostscript_pdf(dir.path(), 1);
    // Point startxref past the end: qpdf recovers, with warnings (exit 3).
    let mut bytes = std::fs::read(&pdf).unwrap();
    let at = bytes.windows(9).rposition(|w| w == b"startxref").unwrap();
    bytes.truncate(at);
    bytes.extend_from_slice(b"startxref\n999999\n%%EOF\n");
    let damaged = dir.path().join("damaged.pdf");
    std::fs::write(&damaged, bytes).unwrap();
    let (clean, report) = qpdf_check(&damaged);
    assert!(!clean, "{report}");
    assert!(report.contains("WARNING"), "{report}");
    assert!(report.contains("qpdf exit code Some(3)"), "{report}");
}

#[test]
fn large_pdf_is_clean_fast_and_about_the_size_asked() {
    let dir = tempdir();
    let path = dir.path().join("large.pdf");
    let target = 20u64 << 20;
    let start = Instant::now();
    let size = large_pdf(&path, target);
    let took = start.elapsed();
    assert!(took < Duration::from_secs(3), "20 MiB took {took:?}");
    assert_eq!(size, std::fs::metadata(&path).unwrap().len());
    assert!(size.abs_diff(target) < 4096, "{size} bytes for {target}");
    let (clean, report) = qpdf_check(&path);
    assert!(clean, "{report}");
    assert_eq!(page_count(&path), 1);
    assert!(pdftotext(&path).contains("pdf_tools large PDF"));
    let attachments = run("qpdf", &["--list-attachments", arg(&path)]).ok().out();
    assert!(attachments.contains("payload.bin"), "{attachments}");
}

#[test]
fn openssl_signer_has_the_profile_asked_for() {
    let dir = tempdir();
    let signer = openssl_p256_signer(dir.path());
    let text = run(
        "openssl",
        &["x509", "-noout", "-text", "-in", arg(&signer.cert_pem)],
    )
    .ok()
    .out();
    for needle in [
        "ASN1 OID: prime256v1",
        "X509v3 Key Usage: critical",
        "Digital Signature, Non Repudiation",
        "E-mail Protection",
        &format!("CN = {SIGNER_CN}"),
        "CA:FALSE",
    ] {
        assert!(text.contains(needle), "no {needle:?} in\n{text}");
    }
    let key = std::fs::read_to_string(&signer.key_pem).unwrap();
    assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"), "{key}");
    // Valid now and an hour ago.
    let hour_ago = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 3600;
    for attime in [None, Some(hour_ago.to_string())] {
        let mut args = vec!["verify", "-CAfile", arg(&signer.ca_pem)];
        if let Some(t) = &attime {
            args.extend(["-attime", t]);
        }
        args.push(arg(&signer.cert_pem));
        let out = run("openssl", &args).ok().out();
        assert!(out.trim().ends_with(": OK"), "{out}");
    }
}

#[test]
fn openssl_tsa_answers_a_plain_http_query() {
    let dir = tempdir();
    let tsa = OpensslTsa::start(dir.path());
    let cert = run(
        "openssl",
        &["x509", "-noout", "-text", "-in", arg(&tsa.cert_pem)],
    )
    .ok()
    .out();
    let eku = cert
        .lines()
        .skip_while(|l| !l.contains("Extended Key Usage"))
        .take(2)
        .collect::<Vec<_>>();
    assert!(
        eku[0].contains("critical") && eku[1].contains("Time Stamping"),
        "{cert}"
    );

    let data = dir.path().join("data.txt");
    std::fs::write(&data, "hello").unwrap();
    let query = dir.path().join("q.tsq");
    run(
        "openssl",
        &[
            "ts",
            "-query",
            "-data",
            arg(&data),
            "-sha256",
            "-cert",
            "-out",
            arg(&query),
        ],
    )
    .ok();
    let (status, body) = post(
        &tsa.url,
        "application/timestamp-query",
        &std::fs::read(&query).unwrap(),
    );
    assert!(status.contains("200"), "{status}");
    let reply = dir.path().join("r.tsr");
    std::fs::write(&reply, body).unwrap();
    let verified = run(
        "openssl",
        &[
            "ts",
            "-verify",
            "-queryfile",
            arg(&query),
            "-in",
            arg(&reply),
            "-CAfile",
            arg(&tsa.root_pem),
        ],
    )
    .ok()
    .out();
    assert!(verified.contains("Verification: OK"), "{verified}");
    assert_eq!(tsa.served(), 1);

    let (status, _) = post(&tsa.url, "text/plain", b"x");
    assert!(status.contains("415"), "{status}");
    assert_eq!(tsa.served(), 1);
}

/// One HTTP/1.1 POST to `url`: (status line, body).
fn post(url: &str, content_type: &str, body: &[u8]) -> (String, Vec<u8>) {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut stream = TcpStream::connect(host).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(body).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    (
        head.lines().next().unwrap().to_owned(),
        response[split + 4..].to_vec(),
    )
}

/// Signs a Ghostscript PDF once with pyHanko and checks what pyHanko and
/// pdfsig say about it.
fn sign_and_check(pades: bool, timestamped: bool, field: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempdir();
    let d = dir.path();
    let pdf = ghostscript_pdf(d, 2);
    let signer = openssl_p256_signer(d);
    let tsa = timestamped.then(|| OpensslTsa::start(d));
    let signed = d.join("signed.pdf");
    pyhanko_sign(
        &pdf,
        &signed,
        &signer,
        field,
        tsa.as_ref().map(|t| t.url.as_str()),
        pades,
    );
    let name = field.rsplit('/').next().unwrap();

    let tsa_root = tsa.as_ref().map(|t| arg(&t.root_pem).to_owned());
    let extra: Vec<&str> = match &tsa_root {
        Some(root) => vec!["--trust", root],
        None => vec![],
    };
    let report = pyhanko_validate(&signed, &signer.ca_pem, &extra);
    assert!(
        report.intact && report.valid && report.exit_ok,
        "{}",
        report.raw
    );
    assert_eq!(report.signatures.len(), 1, "{}", report.raw);
    let sig = report.field(name);
    assert!(sig.trusted && sig.covers_whole_file, "{}", report.raw);
    assert_eq!(sig.modification, "UNTOUCHED", "{}", report.summary_raw);
    assert_eq!(sig.bottom_line, "The signature is judged VALID.");
    assert_eq!(
        sig.modifications_text,
        "The signature covers the entire file."
    );
    match &tsa {
        Some(tsa) => {
            // pyHanko asks twice: once for a size estimate, once for real.
            assert!(tsa.served() >= 1, "served {}", tsa.served());
            assert!(report.timestamped, "{}", report.raw);
            let ts = sig.timestamp.as_ref().unwrap();
            assert!(ts.intact && ts.trusted, "{}", report.raw);
            assert!(
                ts.time.starts_with("20") && ts.time.ends_with("+00:00"),
                "{ts:?}"
            );
            assert!(
                sig.summary.contains("TIMESTAMP_TOKEN<INTACT:TRUSTED>"),
                "{}",
                sig.summary
            );
            if pades {
                // Without the TSA's root the token is intact but untrusted,
                // and pyHanko judges the whole signature not valid (exit 1).
                let untrusted = pyhanko_validate(&signed, &signer.ca_pem, &[]);
                let ts = untrusted.signatures[0].timestamp.as_ref().unwrap();
                assert!(ts.intact && !ts.trusted, "{}", untrusted.raw);
                assert!(
                    untrusted.signatures[0]
                        .summary
                        .contains("TIMESTAMP_TOKEN<INTACT:UNTRUSTED>")
                );
                assert!(
                    untrusted.intact && !untrusted.valid && !untrusted.exit_ok,
                    "{}",
                    untrusted.raw
                );
                assert!(
                    untrusted.raw.contains("Error: Validation failed"),
                    "{}",
                    untrusted.raw
                );
            }
        }
        None => {
            assert!(
                !report.timestamped && sig.timestamp.is_none(),
                "{}",
                report.raw
            );
            assert!(!sig.summary.contains("TIMESTAMP_TOKEN"), "{}", sig.summary);
        }
    }

    let sigs = pdfsig(&signed);
    assert_eq!(sigs.len(), 1, "{sigs:#?}");
    let p = &sigs[0];
    assert_eq!(p.field, name);
    assert!(p.valid && p.total_document, "{}", p.raw);
    assert_eq!(p.signer_cn, SIGNER_CN);
    assert_eq!(
        p.signature_type,
        if pades {
            "ETSI.CAdES.detached"
        } else {
            "adbe.pkcs7.detached"
        }
    );
    assert_eq!(p.ranges.len(), 2);
    assert_eq!(p.ranges[0].0, 0);
    assert_eq!(
        p.ranges[1].1,
        std::fs::metadata(&signed).unwrap().len(),
        "{}",
        p.raw
    );
    assert_eq!(
        p.certificate_validation, None,
        "-nocert skips the certificate"
    );

    let nss = nss_db_with(&d.join("with-root"), &[&signer.ca_pem]);
    let trusting = pdfsig_trusting(&signed, &nss);
    assert!(
        trusting[0].valid && trusting[0].certificate_trusted,
        "{}",
        trusting[0].raw
    );
    let empty = nss_db_with(&d.join("empty"), &[]);
    let distrusting = pdfsig_trusting(&signed, &empty);
    assert!(distrusting[0].valid && !distrusting[0].certificate_trusted);
    assert_eq!(
        distrusting[0].certificate_validation.as_deref(),
        Some("Certificate issuer isn't Trusted.")
    );
    (dir, signed)
}

#[test]
fn pyhanko_pkcs7_signature_is_intact_and_valid() {
    sign_and_check(false, false, "Sig1");
}

#[test]
fn pyhanko_pkcs7_signature_with_time_stamp_is_valid() {
    sign_and_check(false, true, "Sig1");
}

#[test]
fn pyhanko_pades_b_b_signature_is_valid() {
    sign_and_check(true, false, "1/72,72,272,132/Visible");
}

#[test]
fn pyhanko_pades_b_t_signature_is_valid_and_timestamped() {
    sign_and_check(true, true, "PAdES");
}

#[test]
fn two_signatures_are_reported_each() {
    let dir = tempdir();
    let d = dir.path();
    let pdf = ghostscript_pdf(d, 1);
    let root = openssl_root(d);
    // Two signers: pdfsig 22.12 cannot validate the same certificate on
    // two consecutive signatures (see `pdfsig_trusting`).
    let alice = root.signer("alice", "Alice");
    let bob = root.signer("bob", "Bob");
    let once = d.join("once.pdf");
    let twice = d.join("twice.pdf");
    pyhanko_sign(&pdf, &once, &alice, "First", None, false);
    pyhanko_sign(&once, &twice, &bob, "Second", None, true);

    let report = pyhanko_validate(&twice, &root.cert, &[]);
    assert!(report.valid, "{}", report.raw);
    let names: Vec<&str> = report.signatures.iter().map(|s| s.field.as_str()).collect();
    assert_eq!(names, ["First", "Second"]);
    let first = report.field("First");
    assert!(
        first.intact && first.valid && !first.covers_whole_file,
        "{}",
        first.pretty
    );
    assert_eq!(
        first.summary,
        "INTACT:TRUSTED,EXTENDED_WITH_FORM_FILLING,ACCEPTABLE_MODIFICATIONS"
    );
    assert!(
        first
            .modifications_text
            .contains("All modifications relate to signing and form filling operations")
    );
    let second = report.field("Second");
    assert!(second.valid && second.covers_whole_file && second.modification == "UNTOUCHED");

    let sigs = pdfsig(&twice);
    assert_eq!(sigs.len(), 2);
    assert_eq!(
        (sigs[0].field.as_str(), sigs[1].field.as_str()),
        ("First", "Second")
    );
    assert!(sigs[0].valid && !sigs[0].total_document, "{}", sigs[0].raw);
    assert!(sigs[1].valid && sigs[1].total_document, "{}", sigs[1].raw);
    assert_eq!(sigs[1].signature_type, "ETSI.CAdES.detached");
    assert_eq!(
        (sigs[0].signer_cn.as_str(), sigs[1].signer_cn.as_str()),
        ("Alice", "Bob")
    );

    let nss = nss_db_with(d, &[&root.cert]);
    let trusting = pdfsig_trusting(&twice, &nss);
    assert_eq!(trusting.len(), 2);
    for sig in &trusting {
        assert!(sig.valid && sig.certificate_trusted, "{}", sig.raw);
    }
}

/// A page change after signing: intact but an illegal modification for
/// pyHanko, valid but not covering the document for pdfsig.
fn check_altered_after_signing(input: &Path, d: &Path, signer: &Signer) {
    let signed = d.join("signed.pdf");
    pyhanko_sign(input, &signed, signer, "Sig1", None, true);
    let altered = d.join("altered.pdf");
    alter_after_signing(&signed, &altered);
    assert_eq!(xref_kind(&altered), xref_kind(&signed));
    let (clean, report) = qpdf_check(&altered);
    assert!(clean, "{report}");
    let content = run("qpdf", &["--show-object=trailer", arg(&altered)])
        .ok()
        .out();
    assert!(content.contains("/Prev"), "{content}");

    let report = pyhanko_validate(&altered, &signer.ca_pem, &[]);
    let sig = report.field("Sig1");
    assert!(sig.intact && sig.trusted, "{}", report.raw);
    assert!(
        !sig.valid && !report.valid && !report.exit_ok,
        "{}",
        report.raw
    );
    assert!(!sig.covers_whole_file, "{}", sig.pretty);
    assert_eq!(
        sig.summary,
        "INTACT:TRUSTED,EXTENDED_WITH_OTHER,ILLEGAL_MODIFICATIONS"
    );
    assert_eq!(sig.modification, "ILLEGAL_MODIFICATIONS");
    assert!(
        sig.modifications_text
            .contains("incompatible with the current document modification policy"),
        "{}",
        sig.modifications_text
    );
    assert_eq!(sig.bottom_line, "The signature is judged INVALID.");

    let sigs = pdfsig(&altered);
    assert!(sigs[0].valid && !sigs[0].total_document, "{}", sigs[0].raw);
    assert!(sigs[0].raw.contains("Not total document signed"));
}

#[test]
fn alter_after_signing_is_an_illegal_modification() {
    let dir = tempdir();
    let d = dir.path();
    let signer = openssl_p256_signer(d);
    let pdf = ghostscript_pdf(d, 2);
    check_altered_after_signing(&pdf, d, &signer);
}

#[test]
fn alter_after_signing_works_on_cross_reference_streams() {
    let dir = tempdir();
    let d = dir.path();
    let signer = openssl_p256_signer(d);
    let pdf = ghostscript_pdf(d, 2);
    let xs = qpdf_xref_stream_pdf(&pdf, d);
    check_altered_after_signing(&xs, d, &signer);
    assert_eq!(xref_kind(&d.join("altered.pdf")), XrefKind::Stream);
}

#[test]
fn alter_in_place_breaks_the_digest() {
    let dir = tempdir();
    let d = dir.path();
    let signer = openssl_p256_signer(d);
    let pdf = ghostscript_pdf(d, 1);
    let signed = d.join("signed.pdf");
    pyhanko_sign(&pdf, &signed, &signer, "Sig1", None, false);
    let altered = d.join("altered.pdf");
    let offset = alter_in_place(&signed, &altered);
    let (a, b) = (
        std::fs::read(&signed).unwrap(),
        std::fs::read(&altered).unwrap(),
    );
    assert_eq!(a.len(), b.len());
    let differing: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
    assert_eq!(differing, [offset as usize]);
    let range = last_byte_range(&a).unwrap();
    assert!(offset < range[1], "{offset} outside {range:?}");
    let (clean, report) = qpdf_check(&altered);
    assert!(clean, "{report}");

    let report = pyhanko_validate(&altered, &signer.ca_pem, &[]);
    let sig = report.field("Sig1");
    assert!(
        !sig.intact && !sig.valid && !report.exit_ok,
        "{}",
        report.raw
    );
    assert_eq!(sig.summary, "INVALID");
    assert!(
        sig.pretty
            .contains("The signature is cryptographically unsound."),
        "{}",
        sig.pretty
    );
    assert_eq!(sig.bottom_line, "The signature is judged INVALID.");

    let sigs = pdfsig(&altered);
    assert!(!sigs[0].valid, "{}", sigs[0].raw);
    assert_eq!(sigs[0].signature_validation, "Digest Mismatch.");
    assert!(sigs[0].total_document);
}
