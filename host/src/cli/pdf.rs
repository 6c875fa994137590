//! `asan sign FILE.pdf --pades` and `asan verify FILE.pdf`: PDF signatures
//! (PAdES).

use std::path::Path;
use std::time::SystemTime;

use asan_applet::{CertificateProfile, KeyRef, KeyUsage};
use serde_json::json;

use super::{Cli, Io, SignArgs, documents, json as print_json, say, transport, validation};
use crate::cert;
use crate::cms::{self, SignOptions, Verification, VerifyOptions};
use crate::error::{Error, Result};
use crate::pdf::{self, PdfVerification, SignatureFields};
use crate::pin::Pin2;
use crate::pki::TrustAnchors;

/// The subject's common name, or the whole subject.
fn common_name(der: &[u8]) -> Result<String> {
    let c = cert::parse(der)?;
    let subject = c.tbs_certificate().subject();
    for atv in subject.iter() {
        if atv.oid != der::oid::db::rfc4519::CN {
            continue;
        }
        if let Ok(s) = atv.value.decode_as::<der::asn1::Utf8StringRef<'_>>() {
            return Ok(s.as_str().to_owned());
        }
        if let Ok(s) = atv.value.decode_as::<der::asn1::PrintableStringRef<'_>>() {
            return Ok(s.as_str().to_owned());
        }
    }
    Ok(subject.to_string())
}

/// `asan sign FILE.pdf... --pades [-o OUT.pdf] [--force] [--reason TEXT]
/// [--location TEXT] [--visible PAGE,X,Y,W,H] [--tsa URL] [--chain PEM]`:
/// one PIN2 entry, one signature command per PDF.
pub fn sign(cli: &Cli, args: &SignArgs, io: &mut Io<'_>) -> Result<()> {
    if args.files.is_empty() {
        return Err(Error::Usage("give the PDF to sign".into()));
    }
    let timestamp = args.tsa.as_deref().map(documents::tsa_client).transpose()?;
    // Everything about the inputs and the outputs is checked before the
    // card is asked for anything.
    let outputs = documents::outputs(&args.files, args.output.as_ref(), args.force, |f| {
        pdf::default_output(f)
    })?;
    for file in &args.files {
        if !pdf::looks_like_pdf(file) {
            return Err(Error::Usage(format!(
                "{}: not a PDF (no %PDF- header); --pades signs PDF documents",
                file.display()
            )));
        }
        // The structure is read now, so that a damaged or encrypted PDF
        // costs no PIN entry.
        pdf::PdfFile::open(file).map_err(|e| e.about(file))?;
    }
    let chain = match &args.chain {
        Some(path) => crate::pki::certificates_in_file(path)?,
        None => Vec::new(),
    };
    let pin2 = io.pins.read("ASAN_PIN2", "PIN2")?;
    let pin2 = Pin2::new(&pin2)?;
    let profile = CertificateProfile::from(args.profile);
    let mut card = transport::open(cli)?;
    let certificate = match &args.certificate {
        Some(path) => cert::pem_or_der(&std::fs::read(path).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?)?,
        None => card.read_certificate_der(KeyRef::new(profile, KeyUsage::Signing))?,
    };
    let signer = common_name(&certificate)?;
    let mut done = Vec::new();
    for (file, output) in args.files.iter().zip(&outputs) {
        let time = SystemTime::now();
        let certificates: usize = chain.iter().map(Vec::len).sum::<usize>() + certificate.len();
        let fields = SignatureFields {
            signer: signer.clone(),
            time,
            reason: args.reason.clone(),
            location: args.location.clone(),
            visible: args.visible,
            reserve: certificates
                + if timestamp.is_some() {
                    pdf::RESERVE_WITH_TIMESTAMP
                } else {
                    pdf::RESERVE
                },
        };
        let mut opts = SignOptions::new(time);
        opts.chain = chain.clone();
        // PAdES baseline: the time is /M, never a CMS signing-time attribute.
        opts.signing_time_attribute = false;
        opts.timestamp = timestamp.clone();
        let result = pdf::sign_pdf(file, output, args.force, &fields, &mut |digest| {
            cms::sign_on_card_with(&mut card, &pin2, profile, digest, &opts, Some(&certificate))
                .map(|s| s.cms)
        });
        transport::warn_interference(&mut card, io.err);
        let signed = match result {
            Ok(s) => s,
            Err(e) => {
                documents::stopped(io, done.len(), args.files.len(), file);
                return Err(e);
            }
        };
        let level = if timestamp.is_some() {
            "PAdES B-T"
        } else {
            "PAdES B-B"
        };
        let when = crate::pki::rfc3339(time);
        done.push(documents::Signed {
            json: json!({
                "file": file.display().to_string(),
                "signed_file": output.display().to_string(),
                "field": signed.field,
                "level": level,
                "signer": signer,
                "signing_time": when,
                "byte_range": signed.byte_range,
                "digest": hex::encode(signed.digest),
            }),
            text: format!(
                "signed {}\n  signed PDF:   {} ({level}, field {}, {} byte signature)\n  \
                 signer:       {signer}\n  time (/M):    {when}\n  byte range:   {:?}\n  \
                 SHA-256:      {}",
                file.display(),
                output.display(),
                signed.field,
                signed.cms_len,
                signed.byte_range,
                hex::encode(signed.digest)
            ),
        });
    }
    documents::report(cli, io, done, "with one PIN2 entry")
}

/// `asan verify FILE.pdf --ca ROOT [--tsa-ca TSAROOT] [--crl …] [--json]`.
pub fn verify(
    cli: &Cli,
    file: &Path,
    anchors: &TrustAnchors,
    opts: &VerifyOptions,
    io: &mut Io<'_>,
) -> Result<()> {
    let result = pdf::verify_pdf(file, anchors, opts)?;
    if cli.json {
        let value = serde_json::to_value(&result)
            .map_err(|e| Error::Usage(format!("cannot encode the result: {e}")))?;
        print_json(io.out, &value)?;
    } else {
        report(file, &result, io)?;
    }
    match result.failure() {
        None => Ok(()),
        Some(why) => Err(Error::Verification(format!(
            "{}: the document's signatures are not valid: {why}",
            file.display()
        ))),
    }
}

fn report(file: &Path, result: &PdfVerification, io: &mut Io<'_>) -> Result<()> {
    say(
        io.out,
        &format!(
            "document:        {} ({} revision(s), {} signature(s))",
            file.display(),
            result.revisions,
            result.signatures.len()
        ),
    )?;
    for (i, s) in result.signatures.iter().enumerate() {
        say(io.out, "")?;
        let revision = s
            .revision
            .map(|r| format!("revision {r} of {}", result.revisions))
            .unwrap_or_else(|| "no revision".into());
        say(
            io.out,
            &format!(
                "signature {}:     {} ({}), {revision}{}",
                i + 1,
                s.field,
                if s.level.is_empty() {
                    &s.sub_filter
                } else {
                    &s.level
                },
                if s.covers_whole_file {
                    ", covers the whole file"
                } else {
                    ""
                }
            ),
        )?;
        if let Some(v) = &s.cms {
            cms_lines(v, io)?;
        }
        if let Some(p) = s.certification {
            let what = match p {
                1 => "no changes allowed",
                2 => "form filling and signatures allowed",
                _ => "form filling, signatures and annotations allowed",
            };
            say(io.out, &format!("  certification: DocMDP P={p} ({what})"))?;
        }
        for (label, value) in [
            ("stated time", &s.signing_time),
            ("reason", &s.reason),
            ("location", &s.location),
        ] {
            if let Some(value) = value {
                say(io.out, &format!("  {label:<14} {value}"))?;
            }
        }
        validation::print_checks(io, &s.checks)?;
        if let Some(v) = &s.cms {
            validation::print_checks(io, &v.checks)?;
        }
        for c in &s.changes_after {
            let mark = if c.allowed { "after" } else { "CHANGED" };
            say(
                io.out,
                &format!(
                    "  {mark:<6}  revision {}: {}: {}",
                    c.revision, c.kind, c.detail
                ),
            )?;
        }
        let verdict = match (s.valid, s.changes_after.iter().all(|c| c.allowed)) {
            (true, true) => "the signature is valid",
            (true, false) => {
                "the signature is valid for its revision, but the document was changed after it"
            }
            _ => "the signature is NOT valid",
        };
        say(io.out, &format!("  {verdict}"))?;
    }
    say(io.out, "")?;
    say(
        io.out,
        match result.valid {
            true => "the document's signatures are valid",
            false => "the document's signatures are NOT valid",
        },
    )
}

fn cms_lines(v: &Verification, io: &mut Io<'_>) -> Result<()> {
    if let Some(signer) = &v.signer {
        say(io.out, &format!("  signer:        {signer}"))?;
    }
    if let Some(t) = &v.timestamp {
        say(
            io.out,
            &format!(
                "  time stamp:    {} by {} (the signer's chain was validated then)",
                crate::pki::rfc3339(t.gen_time()),
                t.tsa_path.first().map(String::as_str).unwrap_or("?")
            ),
        )?;
    }
    say(io.out, &format!("  validated at:  {}", v.validation_time))?;
    if !v.path.is_empty() {
        say(io.out, &format!("  path:          {}", v.path.join(" <- ")))?;
    }
    Ok(())
}
