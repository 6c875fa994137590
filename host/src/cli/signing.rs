//! `asan auth` and `asan sign --digest`.

use asan_applet::{CertificateProfile, KeyRef, KeyUsage};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{AuthArgs, Cli, Io, SignArgs, json as print_json, say, transport};
use crate::cert;
use crate::error::{Error, Result};
use crate::info::profile_name;
use crate::pin::{Pin1, Pin2};

fn parse_hex(text: &str, what: &str) -> Result<Vec<u8>> {
    hex::decode(text.trim()).map_err(|e| Error::Usage(format!("{what} is not hex: {e}")))
}

/// `asan auth --digest HEX | --challenge TEXT`, or `asan auth --verify`.
pub fn auth(cli: &Cli, args: &AuthArgs, io: &mut Io<'_>) -> Result<()> {
    if let Some(answer) = &args.verify {
        return auth_verify(
            cli,
            answer,
            args.ca.as_deref(),
            args.challenge.as_deref(),
            io,
        );
    }
    let digest = match (&args.digest, &args.challenge) {
        (Some(d), _) => parse_hex(d, "--digest")?,
        (None, Some(c)) => Sha256::digest(c.as_bytes()).to_vec(),
        (None, None) => return Err(Error::Usage("give --digest HEX or --challenge TEXT".into())),
    };
    if !(20..=64).contains(&digest.len()) {
        return Err(Error::Usage(format!(
            "--digest must have 20 to 64 bytes, not {}",
            digest.len()
        )));
    }
    let pin1 = io.pins.read("ASAN_PIN1", "PIN1")?;
    let pin1 = Pin1::new(&pin1)?;
    let profile = CertificateProfile::from(args.profile);
    let mut card = transport::open(cli)?;
    let signature = card.authenticate(&digest, &pin1, profile);
    transport::warn_interference(&mut card, io.err);
    let signature = signature?;
    if cli.json {
        let key = KeyRef::new(profile, KeyUsage::Authentication);
        let certificate = match card.read_certificate_der(key) {
            Ok(der) => json!(cert::to_pem(&der)),
            Err(_) => serde_json::Value::Null,
        };
        return print_json(
            io.out,
            &json!({
                "profile": profile_name(profile),
                "challenge": args.challenge,
                "digest": hex::encode(&digest),
                "signature": hex::encode(signature),
                "certificate": certificate,
            }),
        );
    }
    say(io.out, &hex::encode(signature))?;
    let key = KeyRef::new(profile, KeyUsage::Authentication);
    if let Ok(der) = card.read_certificate_der(key) {
        io.out
            .write_all(cert::to_pem(&der).as_bytes())
            .map_err(|e| Error::Io {
                path: "<output>".into(),
                source: e,
            })?;
    }
    Ok(())
}

fn invalid(what: String) -> Error {
    Error::Verification(what)
}

/// `asan auth --verify ANSWER.json [--ca ROOT.pem] [--challenge TEXT]`:
/// the relying party's check of an authentication answer.
fn auth_verify(
    cli: &Cli,
    answer: &std::path::Path,
    ca: Option<&std::path::Path>,
    expected_challenge: Option<&str>,
    io: &mut Io<'_>,
) -> Result<()> {
    let read = |p: &std::path::Path| {
        std::fs::read(p).map_err(|e| Error::Io {
            path: p.display().to_string(),
            source: e,
        })
    };
    let v: serde_json::Value = serde_json::from_slice(&read(answer)?).map_err(|e| {
        Error::Usage(format!(
            "{}: not the JSON of `asan auth --json`: {e}",
            answer.display()
        ))
    })?;
    let field = |k: &str| v[k].as_str().map(str::to_owned);
    let digest = parse_hex(
        &field("digest").ok_or_else(|| Error::Usage("the answer has no digest".into()))?,
        "digest",
    )?;
    // The bytes signed: the digest, as an ECDSA pre-hash (its leftmost 256
    // bits); for a challenge the digest is SHA-256 of its UTF-8 bytes.
    let challenge = field("challenge");
    if let Some(c) = challenge.as_deref().or(expected_challenge)
        && Sha256::digest(c.as_bytes()).as_slice() != digest.as_slice()
    {
        return Err(invalid("the digest is not SHA-256 of the challenge".into()));
    }
    if let (Some(expected), Some(c)) = (expected_challenge, challenge.as_deref())
        && expected != c
    {
        return Err(invalid("the answer is for another challenge".into()));
    }
    let signature = parse_hex(
        &field("signature").ok_or_else(|| Error::Usage("the answer has no signature".into()))?,
        "signature",
    )?;
    let pem =
        field("certificate").ok_or_else(|| invalid("the answer carries no certificate".into()))?;
    let der = cert::pem_or_der(pem.as_bytes())?;
    let parsed = cert::parse(&der)?;
    let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&cert::public_key_bytes(&parsed))
        .map_err(|_| invalid("the certificate's key is not P-256".into()))?;
    let sig = p256::ecdsa::Signature::from_slice(&signature).map_err(|_| {
        invalid(format!(
            "a signature of {} bytes is not r || s",
            signature.len()
        ))
    })?;
    use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
    key.verify_prehash(&digest, &sig)
        .map_err(|_| invalid("the signature does not verify with the certificate's key".into()))?;
    let usage = match parsed
        .tbs_certificate()
        .get_extension::<x509_cert::ext::pkix::KeyUsage>()
    {
        Ok(Some((_, ku))) => ku.digital_signature(),
        _ => false,
    };
    if !usage {
        return Err(invalid(
            "the certificate does not allow digitalSignature (authentication)".into(),
        ));
    }
    let chain = match ca {
        Some(root) => {
            let anchors = crate::cms::certificates_from_file_bytes(&read(root)?)?;
            Some(
                crate::cms::check_chain(&der, &anchors, std::time::SystemTime::now())
                    .map_err(invalid)?,
            )
        }
        None => None,
    };
    let subject = parsed.tbs_certificate().subject().to_string();
    if cli.json {
        return print_json(
            io.out,
            &json!({ "valid": true, "signer": subject, "chain": chain }),
        );
    }
    say(
        io.out,
        &format!("valid authentication answer from {subject}"),
    )?;
    match chain {
        Some(c) => say(io.out, &format!("chain: {c}")),
        None => say(io.out, "chain not checked (give --ca ROOT.pem)"),
    }
}

/// `asan sign --digest HEX`.
pub fn sign(cli: &Cli, args: &SignArgs, io: &mut Io<'_>) -> Result<()> {
    let Some(digest) = &args.digest else {
        return Err(Error::Usage("give FILE or --digest HEX".into()));
    };
    let digest = parse_hex(digest, "--digest")?;
    let digest: [u8; 32] = digest.as_slice().try_into().map_err(|_| {
        Error::Usage(format!(
            "--digest must be a SHA-256 digest of 32 bytes, not {}",
            digest.len()
        ))
    })?;
    let pin2 = io.pins.read("ASAN_PIN2", "PIN2")?;
    let pin2 = Pin2::new(&pin2)?;
    let profile = CertificateProfile::from(args.profile);
    let mut card = transport::open(cli)?;
    let signature = card.sign(&digest, &pin2, profile);
    transport::warn_interference(&mut card, io.err);
    let signature = signature?;
    if cli.json {
        return print_json(
            io.out,
            &json!({
                "profile": profile_name(profile),
                "digest": hex::encode(digest),
                "signature": hex::encode(signature),
            }),
        );
    }
    say(io.out, &hex::encode(signature))
}
