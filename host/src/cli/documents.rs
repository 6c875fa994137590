//! `asan sign FILE` and `asan verify`: CMS document signatures.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use asan_applet::CertificateProfile;
use serde_json::json;

use super::{Cli, Io, SignArgs, VerifyArgs, json as print_json, say, transport, validation};
use crate::cert;
use crate::cert::NameText as _;
use crate::cms::{self, SignOptions};
use crate::error::{Error, Result};
use crate::pin::Pin2;
use crate::pki::TrustAnchors;
use crate::tsp::TsaClient;

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })
}

/// The certificates of a file, errors naming the file.
fn certificates(path: &Path) -> Result<Vec<Vec<u8>>> {
    crate::pki::certificates_in_file(path)
}

/// `FILE.p7s` next to `FILE`.
fn default_output(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".p7s");
    PathBuf::from(name)
}

/// The time-stamp client of `--tsa URL`: the deadline from
/// `ASAN_TSA_TIMEOUT` (seconds, fractions allowed), default 10 s.
pub(super) fn tsa_client(url: &str) -> Result<TsaClient> {
    let client = TsaClient::new(url)?;
    match std::env::var("ASAN_TSA_TIMEOUT") {
        Ok(text) => {
            let secs = text
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s > 0.0 && *s <= 3600.0)
                .ok_or_else(|| {
                    Error::Usage(format!(
                        "ASAN_TSA_TIMEOUT={text}: give seconds, more than 0 and at most 3600"
                    ))
                })?;
            Ok(client.with_timeout(Duration::from_secs_f64(secs)))
        }
        Err(_) => Ok(client),
    }
}

/// Writes `bytes` to `path` whole or not at all, never over an existing
/// file unless `replace` ([`crate::files::write_whole`]).
pub(super) fn write_atomically(path: &Path, bytes: &[u8], replace: bool) -> Result<()> {
    crate::files::write_whole(path, bytes, false, replace).map_err(|e| match e {
        Error::Io { source, .. } if source.kind() == std::io::ErrorKind::AlreadyExists => {
            exists(path)
        }
        e => e,
    })
}

/// Says how far a run over several files got before `file` failed.
pub(super) fn stopped(io: &mut Io<'_>, done: usize, total: usize, file: &Path) {
    if done > 0 {
        let _ = writeln!(
            io.err,
            "asan: {done} of {total} files signed before {} failed",
            file.display()
        );
    }
}

/// The error for an output that exists.
pub(super) fn exists(path: &Path) -> Error {
    Error::Usage(format!(
        "{} exists; give --force to replace it",
        path.display()
    ))
}

/// The outputs of `files` (`-o` only with one file), checked before the
/// card is asked for anything: none exists unless `force`, no two are the
/// same, none is an input.
pub(super) fn outputs(
    files: &[PathBuf],
    output: Option<&PathBuf>,
    force: bool,
    default: fn(&Path) -> PathBuf,
) -> Result<Vec<PathBuf>> {
    let outputs: Vec<PathBuf> = match (output, files) {
        (Some(o), [_]) => vec![o.clone()],
        (Some(_), _) => {
            return Err(Error::Usage(
                "-o names the output of one file; with several files each goes beside its file"
                    .into(),
            ));
        }
        (None, files) => files.iter().map(|f| default(f)).collect(),
    };
    for (i, out) in outputs.iter().enumerate() {
        if outputs[..i].contains(out) {
            return Err(Error::Usage(format!(
                "{} is the output of two files",
                out.display()
            )));
        }
        if files.contains(out) {
            return Err(Error::Usage(format!(
                "{} is an input; the output goes to a new file",
                out.display()
            )));
        }
        if out.exists() && !force {
            return Err(exists(out));
        }
    }
    for f in files {
        std::fs::metadata(f).map_err(|source| Error::Io {
            path: f.display().to_string(),
            source,
        })?;
    }
    Ok(outputs)
}

/// What one signed file reports.
pub(super) struct Signed {
    pub(super) json: serde_json::Value,
    pub(super) text: String,
}

/// `asan sign FILE... [-o FILE.p7s] [--profile P] [--chain PEM]
/// [--attached] [--tsa URL] [--force]`: each signature is made on the
/// card (one PIN2 entry for all, one signature command per file),
/// time-stamped when asked, checked, and only then written (atomically,
/// never over an existing file without `--force`).
pub fn sign(cli: &Cli, args: &SignArgs, io: &mut Io<'_>) -> Result<()> {
    if args.files.is_empty() {
        return Err(Error::Usage("give FILE or --digest HEX".into()));
    }
    let timestamp = args.tsa.as_deref().map(tsa_client).transpose()?;
    let outputs = outputs(
        &args.files,
        args.output.as_ref(),
        args.force,
        default_output,
    )?;
    let chain = match &args.chain {
        Some(path) => certificates(path)?,
        None => Vec::new(),
    };
    let mut known = match &args.certificate {
        Some(path) => Some(cert::pem_or_der(&std::fs::read(path).map_err(
            |source| Error::Io {
                path: path.display().to_string(),
                source,
            },
        )?)?),
        None => None,
    };
    let pin2 = io.pins.read("ASAN_PIN2", "PIN2")?;
    let pin2 = Pin2::new(&pin2)?;
    let profile = CertificateProfile::from(args.profile);
    let mut card = transport::open(cli)?;
    let mut done: Vec<Signed> = Vec::new();
    for (file, output) in args.files.iter().zip(&outputs) {
        let one = sign_one(
            &mut card,
            args,
            &pin2,
            profile,
            (file, output),
            (&chain, timestamp.as_ref()),
            &mut known,
            io,
        );
        match one {
            Ok(signed) => done.push(signed),
            Err(e) => {
                stopped(io, done.len(), args.files.len(), file);
                return Err(e);
            }
        }
    }
    report(cli, io, done, "with one PIN2 entry")
}

/// Prints what was signed: one file as before, several as a list and a
/// summary (`--json`: `{"files": [...]}`).
pub(super) fn report(cli: &Cli, io: &mut Io<'_>, done: Vec<Signed>, how: &str) -> Result<()> {
    let n = done.len();
    if cli.json {
        let value = match done.len() {
            1 => done.into_iter().map(|s| s.json).next().unwrap_or_default(),
            _ => json!({ "files": done.into_iter().map(|s| s.json).collect::<Vec<_>>() }),
        };
        return print_json(io.out, &value);
    }
    for s in &done {
        say(io.out, &s.text)?;
    }
    if n > 1 {
        say(io.out, &format!("{n} files signed {how}"))?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn sign_one(
    card: &mut crate::AsanCard<super::transport::AnyTransport>,
    args: &SignArgs,
    pin2: &Pin2,
    profile: CertificateProfile,
    (file, output): (&Path, &Path),
    (chain, timestamp): (&[Vec<u8>], Option<&TsaClient>),
    known: &mut Option<Vec<u8>>,
    io: &mut Io<'_>,
) -> Result<Signed> {
    // Detached: the file is streamed; only --attached reads it whole.
    let (digest, attached) = if args.attached {
        let content = read(file)?;
        (cms::digest_reader(&mut content.as_slice())?, Some(content))
    } else {
        (cms::digest_file(file)?, None)
    };
    let signing_time = SystemTime::now();
    let opts = SignOptions {
        chain: chain.to_vec(),
        signing_time,
        signing_time_attribute: true,
        attached,
        timestamp: timestamp.cloned(),
    };
    // sign_on_card verifies the signature it made (against the
    // certificate's key) before anything is written.
    let signed = cms::sign_on_card_with(card, pin2, profile, &digest, &opts, known.as_deref());
    transport::warn_interference(card, io.err);
    let signed = signed?;
    write_atomically(output, &signed.cms, args.force)?;
    // The next files need not read the certificate again.
    *known = Some(signed.certificate.clone());
    let stamp = match timestamp {
        Some(_) => cms::timestamp_of(&signed.cms)?,
        None => None,
    };
    let signer = cert::parse(&signed.certificate)?
        .tbs_certificate()
        .subject()
        .text();
    let when = x509_cert::time::Time::try_from(signing_time)
        .map(|t| t.to_string())
        .unwrap_or_default();
    let kind = if args.attached {
        "attached"
    } else {
        "detached"
    };
    let form = if stamp.is_some() {
        "CAdES-T"
    } else {
        "CAdES-BES"
    };
    let mut text = format!(
        "signed {}\n  signature:    {} (CMS {form}, {kind}, {} bytes)\n  signer:       {signer}\n  \
         signing time: {when}\n  SHA-256:      {}",
        file.display(),
        output.display(),
        signed.cms.len(),
        hex::encode(digest)
    );
    if let Some(stamp) = &stamp {
        text.push_str(&format!(
            "\n  time stamp:   {} by {} (serial {}, policy {})",
            stamp.gen_time, stamp.tsa, stamp.serial, stamp.policy
        ));
    }
    Ok(Signed {
        json: json!({
            "file": file.display().to_string(),
            "signature_file": output.display().to_string(),
            "signer": signer,
            "signing_time": when,
            "digest": hex::encode(digest),
            "timestamp": stamp,
        }),
        text,
    })
}

/// `asan verify FILE FILE.p7s --ca ROOT.pem [--chain PEM] [--at TIME]
/// [--crl FILE] [--require-crl] [--cades] [--json]`, or `asan verify
/// FILE.p7s --ca ROOT.pem …` for a signature with the content embedded.
pub fn verify(cli: &Cli, args: &VerifyArgs, io: &mut Io<'_>) -> Result<()> {
    let (content, signature) = match &args.signature {
        Some(signature) => (Some(args.file.as_path()), signature.as_path()),
        None => (None, args.file.as_path()),
    };
    let anchors = args.trust.anchors()?;
    let opts = cms::VerifyOptions {
        at: args.trust.time()?,
        cades: args.cades,
        crls: args.trust.crls()?,
        require_crl: args.trust.require_crl,
        extra_certificates: args.trust.chain()?,
        tsa_anchors: match args.tsa_ca.is_empty() {
            true => None,
            false => Some(TrustAnchors::from_files(&args.tsa_ca)?),
        },
    };
    // A PDF alone: its own signatures (PAdES).
    if content.is_none() && crate::pdf::looks_like_pdf(signature) {
        return super::pdf::verify(cli, signature, &anchors, &opts, io);
    }
    let signed = read(signature)?;
    let digest = content.map(cms::digest_file).transpose()?;
    let result =
        cms::verify_with(&signed, digest.as_ref(), &anchors, &opts).map_err(|e| match e {
            Error::Verification(what) => {
                Error::Verification(format!("{}: {what}", signature.display()))
            }
            e => e,
        })?;
    if cli.json {
        let value = serde_json::to_value(&result)
            .map_err(|e| Error::Usage(format!("cannot encode the result: {e}")))?;
        print_json(io.out, &value)?;
    } else {
        if let Some(signer) = &result.signer {
            say(io.out, &format!("signer:          {signer}"))?;
        }
        if let Some(time) = &result.signing_time {
            say(
                io.out,
                &format!("signing time:    {time} (claimed by the signer, not trusted)"),
            )?;
        }
        match &result.timestamp {
            Some(ts) => {
                say(
                    io.out,
                    &format!(
                        "time stamp:      {} by {} (serial {}, policy {}){}",
                        ts.info.gen_time,
                        ts.info.tsa,
                        ts.info.serial,
                        ts.info.policy,
                        if ts.valid { "" } else { " — NOT valid" }
                    ),
                )?;
                if ts.valid {
                    say(
                        io.out,
                        &format!(
                            "validated at:    {} (the signer's path, at the time stamp's genTime; \
                             the TSA's path at {})",
                            result.validation_time, ts.tsa_validation_time
                        ),
                    )?;
                } else {
                    say(
                        io.out,
                        &format!(
                            "validated at:    {} (the time stamp is not valid, so not its genTime)",
                            result.validation_time
                        ),
                    )?;
                }
            }
            None => say(
                io.out,
                &format!("validated at:    {}", result.validation_time),
            )?,
        }
        if !result.path.is_empty() {
            say(
                io.out,
                &format!("path:            {}", result.path.join(" <- ")),
            )?;
        }
        let form = match (result.cades_bes, &result.timestamp) {
            (true, Some(_)) => {
                "CAdES-T (signing-certificate-v2 binds the signer's certificate; a signature \
                 time-stamp token)"
            }
            (true, None) => "CAdES-BES (signing-certificate-v2 binds the signer's certificate)",
            (false, Some(_)) => {
                "CMS with a signature time-stamp token, not CAdES (no signing-certificate-v2)"
            }
            (false, None) => "CMS, not CAdES-BES (no signing-certificate-v2)",
        };
        say(io.out, &format!("form:            {form}"))?;
        validation::print_checks(io, &result.checks)?;
        let verdict = if result.valid {
            "the signature is valid"
        } else {
            "the signature is NOT valid"
        };
        say(io.out, verdict)?;
    }
    match result.valid {
        true => Ok(()),
        false => Err(validation::invalid(result.first_failure(), "the signature")),
    }
}
