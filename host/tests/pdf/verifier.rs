//! Our verifier on PDFs pyHanko signed with an openssl key, with and
//! without a time stamp from an openssl TSA, and on the same altered.

use crate::pdf_tools::{self as tools, OpensslTsa};
use crate::setup::Setup;

#[test]
fn pyhanko_signatures_verify_and_alterations_are_caught() {
    let s = Setup::new();
    let doc = tools::ghostscript_pdf(s.dir.path(), 1);
    let signer = tools::openssl_p256_signer(s.dir.path());
    let tsa = OpensslTsa::start(s.dir.path());
    let root = signer.ca_pem.to_str().unwrap();
    let tsa_root = tsa.root_pem.to_str().unwrap();
    for (name, stamp, pades, level) in [
        ("plain.pdf", false, true, "PAdES B-B"),
        ("stamped.pdf", true, true, "PAdES B-T"),
        ("pkcs7.pdf", false, false, "PKCS#7 detached"),
    ] {
        let out = s.path(name);
        tools::pyhanko_sign(
            &doc,
            &out,
            &signer,
            "Sig",
            stamp.then_some(tsa.url.as_str()),
            pades,
        );
        let (code, v, text) = s.verify(&out, &["--ca", root, "--tsa-ca", tsa_root]);
        assert_eq!(code, 0, "{name}: {text}");
        let sig = &v["signatures"][0];
        assert_eq!(
            sig["level"].as_str().unwrap().split(" (").next(),
            Some(level),
            "{name}: {v}"
        );
        assert_eq!(sig["covers_whole_file"], true);
        assert_eq!(sig["cms"]["timestamp"].is_object(), stamp, "{name}: {v}");
        // Not trusted: another root.
        let (code, _, text) = s.verify(&out, &["--ca", "ca/root.pem", "--tsa-ca", tsa_root]);
        assert_eq!(code, 1, "{name}: {text}");

        // Appended change to the page: reported, and not valid.
        let altered = s.path(&format!("altered-{name}"));
        tools::alter_after_signing(&out, &altered);
        let (code, v, text) = s.verify(&altered, &["--ca", root, "--tsa-ca", tsa_root]);
        assert_eq!(code, 1, "{name}: {text}");
        let sig = &v["signatures"][0];
        assert_eq!(
            sig["valid"], true,
            "the signature itself still verifies: {v}"
        );
        assert_eq!(sig["covers_whole_file"], false);
        let change = &sig["changes_after"][0];
        assert_eq!(change["kind"], "unknown change", "{name}: {v}");
        assert!(
            text.contains("a change a signature does not allow"),
            "{text}"
        );

        // A byte changed inside the signed range.
        let flipped = s.path(&format!("flipped-{name}"));
        tools::alter_in_place(&out, &flipped);
        let (code, v, text) = s.verify(&flipped, &["--ca", root, "--tsa-ca", tsa_root]);
        assert_eq!(code, 1, "{name}: {text}");
        assert_eq!(v["signatures"][0]["valid"], false, "{v}");
    }
}

#[test]
fn a_same_length_rewrite_of_a_stream_after_signing_is_a_change() {
    // A content stream rewritten in a later revision with the same
    // dictionary and length differs only in its data.
    let s = Setup::new();
    let doc = tools::ghostscript_pdf(s.dir.path(), 1);
    let classic = tools::qpdf_classic(&doc);
    s.sign(&classic, &["-o", "signed.pdf"]);
    let signed = s.path("signed.pdf");
    let bytes = std::fs::read(&signed).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    let contents: u32 = text
        .split("/Contents ")
        .find_map(|t| {
            let mut w = t.split_whitespace();
            let (n, g, r) = (w.next()?, w.next()?, w.next()?);
            (g == "0" && r.starts_with('R'))
                .then(|| n.parse().ok())
                .flatten()
        })
        .unwrap();
    let start = bytes
        .windows(format!("\n{contents} 0 obj").len())
        .position(|w| w == format!("\n{contents} 0 obj").as_bytes())
        .unwrap()
        + 1;
    let end = start
        + bytes[start..]
            .windows(6)
            .position(|w| w == b"endobj")
            .unwrap()
        + 6;
    let mut object = bytes[start..end].to_vec();
    let data = object.windows(6).position(|w| w == b"stream").unwrap() + 8;
    object[data + 2] ^= 0x01;
    let prev = tools::last_startxref(&signed);
    let trailer_root = text.rsplit("/Root ").next().unwrap();
    let root: Vec<&str> = trailer_root.split_whitespace().take(2).collect();
    let size = text
        .rsplit("/Size ")
        .next()
        .unwrap()
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .to_owned();
    let mut out = bytes.clone();
    let at = out.len();
    out.extend_from_slice(&object);
    out.push(b'\n');
    let xref = out.len();
    out.extend_from_slice(
        format!(
            "xref\n{contents} 1\n{at:010} 00000 n \ntrailer\n<</Size {size}/Root {} {} R/Prev {prev}>>\nstartxref\n{xref}\n%%EOF\n",
            root[0], root[1]
        )
        .as_bytes(),
    );
    let altered = s.path("altered.pdf");
    std::fs::write(&altered, out).unwrap();
    let (code, v, text) = s.verify(&altered, &["--ca", "ca/root.pem"]);
    assert_eq!(code, 1, "{text}");
    let change = &v["signatures"][0]["changes_after"][0];
    assert_eq!(change["kind"], "unknown change", "{v}");
    assert!(
        change["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("stream object {contents}")),
        "{v}"
    );
}
