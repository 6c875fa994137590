//! `asan sign FILE` and `asan verify`: CMS document signatures.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use asan_applet::CertificateProfile;
use serde_json::json;

use super::{Cli, Io, SignArgs, VerifyArgs, json as print_json, say, transport, validation};
use crate::cert;
use crate::cms::{self, SignOptions};
use crate::error::{Error, Result};
use crate::pin::Pin2;

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

/// `asan sign FILE [-o FILE.p7s] [--profile P] [--chain PEM] [--attached]`.
pub fn sign(cli: &Cli, args: &SignArgs, io: &mut Io<'_>) -> Result<()> {
    let Some(file) = &args.file else {
        return Err(Error::Usage("give FILE or --digest HEX".into()));
    };
    let output = args.output.clone().unwrap_or_else(|| default_output(file));
    let chain = match &args.chain {
        Some(path) => certificates(path)?,
        None => Vec::new(),
    };
    // Detached: the file is streamed; only --attached reads it whole.
    let (digest, attached) = if args.attached {
        let content = read(file)?;
        (cms::digest_reader(&mut content.as_slice())?, Some(content))
    } else {
        (cms::digest_file(file)?, None)
    };
    let pin2 = io.pins.read("ASAN_PIN2", "PIN2")?;
    let pin2 = Pin2::new(&pin2)?;
    let profile = CertificateProfile::from(args.profile);
    let mut card = transport::open(cli)?;
    let signing_time = SystemTime::now();
    let opts = SignOptions {
        chain,
        signing_time,
        attached,
    };
    // sign_on_card verifies the signature it made (against the
    // certificate's key) before anything is written.
    let known = match &args.certificate {
        Some(path) => Some(cert::pem_or_der(&std::fs::read(path).map_err(
            |source| Error::Io {
                path: path.display().to_string(),
                source,
            },
        )?)?),
        None => None,
    };
    let signed =
        cms::sign_on_card_with(&mut card, &pin2, profile, &digest, &opts, known.as_deref());
    transport::warn_interference(&mut card, io.err);
    let signed = signed?;
    std::fs::write(&output, &signed.cms).map_err(|source| Error::Io {
        path: output.display().to_string(),
        source,
    })?;
    let signer = cert::parse(&signed.certificate)?
        .tbs_certificate()
        .subject()
        .to_string();
    let when = x509_cert::time::Time::try_from(signing_time)
        .map(|t| t.to_string())
        .unwrap_or_default();
    if cli.json {
        return print_json(
            io.out,
            &json!({
                "file": file.display().to_string(),
                "signature_file": output.display().to_string(),
                "signer": signer,
                "signing_time": when,
                "digest": hex::encode(digest),
            }),
        );
    }
    let kind = if args.attached {
        "attached"
    } else {
        "detached"
    };
    say(
        io.out,
        &format!(
            "signed {}\n  signature:    {} (CMS, {kind}, {} bytes)\n  signer:       {signer}\n  \
             signing time: {when}\n  SHA-256:      {}",
            file.display(),
            output.display(),
            signed.cms.len(),
            hex::encode(digest)
        ),
    )
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
    };
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
        say(
            io.out,
            &format!("validated at:    {}", result.validation_time),
        )?;
        if !result.path.is_empty() {
            say(
                io.out,
                &format!("path:            {}", result.path.join(" <- ")),
            )?;
        }
        let form = if result.cades_bes {
            "CAdES-BES (signing-certificate-v2 binds the signer's certificate)"
        } else {
            "CMS, not CAdES-BES (no signing-certificate-v2)"
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
