//! `asan auth` and `asan sign --digest`.

use crate::cert::NameText as _;
use asan_applet::{CertificateProfile, KeyRef, KeyUsage};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::cache::CardCache;
use super::{AuthArgs, Cli, Io, SignArgs, json as print_json, say, transport, validation};
use crate::cert;
use crate::error::{Error, Result};
use crate::info::profile_name;
use crate::pin::{Pin1, Pin2};
use crate::pki::{self, Check, Purpose};
use crate::transport::Transport as _;

fn parse_hex(text: &str, what: &str) -> Result<Vec<u8>> {
    hex::decode(text.trim()).map_err(|e| Error::Usage(format!("{what} is not hex: {e}")))
}

/// `asan auth --digest HEX | --challenge TEXT`, or `asan auth --verify`.
pub fn auth(cli: &Cli, args: &AuthArgs, io: &mut Io<'_>) -> Result<()> {
    if let Some(answer) = &args.verify {
        return auth_verify(cli, answer, args, io);
    }
    if args.trust.given() {
        return Err(Error::Usage(
            "--ca, --chain, --at, --crl and --require-crl go with --verify".into(),
        ));
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
    let key = KeyRef::new(profile, KeyUsage::Authentication);
    let mut card = transport::open(cli)?;
    // Over PC/SC the key and certificate seen last time in this reader are
    // expected; the card's signature confirms them (or we read its own).
    let shared = card.transport().shared();
    let reader = card.transport().name();
    let mut cache = CardCache::load();
    if shared && let Some(public) = cache.public_key(&reader, key) {
        card.expect_public_key(key, public);
    }
    let signature = card.authenticate(&digest, &pin1, profile);
    transport::warn_interference(&mut card, io.err);
    let signature = signature?;
    let certificate = match card.known_public_key(key) {
        Some(public) if shared && card.public_key_confirmed(key) => {
            let der = cache
                .certificate(&reader, key, &public)
                .or_else(|| card.read_certificate_der(key).ok());
            cache.store(&reader, key, &public, der.as_deref());
            cache.save();
            der
        }
        _ => card.read_certificate_der(key).ok(),
    };
    if cli.json {
        return print_json(
            io.out,
            &json!({
                "profile": profile_name(profile),
                "challenge": args.challenge,
                "digest": hex::encode(&digest),
                "signature": hex::encode(signature),
                "certificate": certificate.as_deref().map(cert::to_pem),
            }),
        );
    }
    say(io.out, &hex::encode(signature))?;
    if let Some(der) = certificate {
        io.out
            .write_all(cert::to_pem(&der).as_bytes())
            .map_err(|e| Error::Io {
                path: "<output>".into(),
                source: e,
            })?;
    }
    Ok(())
}

/// `asan auth --verify ANSWER.json --ca ROOT.pem (--challenge TEXT |
/// --any-challenge) [--chain PEM] [--at TIME] [--crl FILE] [--require-crl]`:
/// the relying party's check of an authentication answer — the challenge,
/// the signature, and the certificate's path for authentication.
fn auth_verify(
    cli: &Cli,
    answer: &std::path::Path,
    args: &AuthArgs,
    io: &mut Io<'_>,
) -> Result<()> {
    if args.challenge.is_none() && !args.any_challenge {
        return Err(Error::Usage(
            "give --challenge TEXT, the challenge you sent, so that an old answer cannot be \
             replayed (or --any-challenge to accept an answer to any challenge)"
                .into(),
        ));
    }
    let anchors = args.trust.anchors()?;
    let bytes = std::fs::read(answer).map_err(|e| Error::Io {
        path: answer.display().to_string(),
        source: e,
    })?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
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
    let signature = parse_hex(
        &field("signature").ok_or_else(|| Error::Usage("the answer has no signature".into()))?,
        "signature",
    )?;
    let pem = field("certificate")
        .ok_or_else(|| Error::Usage("the answer carries no certificate".into()))?;
    let der = cert::pem_or_der(pem.as_bytes())?;
    let claimed = field("challenge");
    let mut checks = vec![Check::new(
        "challenge",
        challenge(&digest, claimed.as_deref(), args.challenge.as_deref()),
    )];
    checks.push(Check::new(
        "signature",
        answer_signature(&der, &digest, &signature),
    ));
    let opts = args.trust.options(Purpose::Auth)?;
    let path = pki::validate(&der, &args.trust.chain()?, &anchors, &opts)?;
    checks.extend(path.checks.iter().cloned());
    let valid = checks.iter().all(|c| c.ok);
    let subject = cert::parse(&der)?.tbs_certificate().subject().text();
    let replay = "the challenge was not checked (--any-challenge): this answer may be a replay";
    if cli.json {
        print_json(
            io.out,
            &json!({
                "valid": valid,
                "signer": subject,
                "challenge": claimed,
                "challenge_checked": !args.any_challenge,
                "path": path.path,
                "validation_time": path.validation_time,
                "checks": checks,
            }),
        )?;
    } else {
        say(io.out, &format!("signer:          {subject}"))?;
        say(
            io.out,
            &format!("path:            {}", path.path.join(" <- ")),
        )?;
        say(
            io.out,
            &format!("validated at:    {}", path.validation_time),
        )?;
        validation::print_checks(io, &checks)?;
        if args.any_challenge {
            say(io.out, &format!("WARNING: {replay}"))?;
        }
        say(
            io.out,
            if valid {
                "valid authentication answer"
            } else {
                "the authentication answer is NOT valid"
            },
        )?;
    }
    match checks.iter().find(|c| !c.ok) {
        None => Ok(()),
        first => Err(validation::invalid(first, "the authentication answer")),
    }
}

/// The challenge check: the digest signed is SHA-256 of the challenge the
/// relying party sent (`expected`), and of the one the answer names.
fn challenge(
    digest: &[u8],
    claimed: Option<&str>,
    expected: Option<&str>,
) -> std::result::Result<String, String> {
    let hash = |c: &str| Sha256::digest(c.as_bytes()).to_vec();
    if let Some(c) = claimed
        && hash(c) != digest
    {
        return Err("the digest is not SHA-256 of the answer's challenge".into());
    }
    match (expected, claimed) {
        (Some(e), Some(c)) if e != c => {
            Err(format!("the answer is for the challenge {c:?}, not {e:?}"))
        }
        (Some(e), _) if hash(e) != digest => {
            Err("the digest is not SHA-256 of the challenge sent".into())
        }
        (Some(e), _) => Ok(format!(
            "the answer signs SHA-256 of {e:?}, the challenge sent"
        )),
        (None, _) => Ok("not checked (--any-challenge): the answer may be a replay".into()),
    }
}

/// The signature check: raw `r || s` over the digest (its leftmost 256
/// bits, as an ECDSA pre-hash) with the certificate's P-256 key.
fn answer_signature(
    der: &[u8],
    digest: &[u8],
    signature: &[u8],
) -> std::result::Result<String, String> {
    let parsed = cert::parse(der).map_err(|e| e.to_string())?;
    let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&cert::public_key_bytes(&parsed))
        .map_err(|_| "the certificate's key is not P-256".to_owned())?;
    let sig = p256::ecdsa::Signature::from_slice(signature)
        .map_err(|_| format!("a signature of {} bytes is not r || s", signature.len()))?;
    use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
    key.verify_prehash(digest, &sig)
        .map(|()| "ECDSA P-256 over the digest verifies with the certificate's key".to_owned())
        .map_err(|_| "the signature does not verify with the certificate's key".to_owned())
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
