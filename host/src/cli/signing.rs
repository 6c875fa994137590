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

/// `asan auth --digest HEX | --challenge TEXT`.
pub fn auth(cli: &Cli, args: &AuthArgs, io: &mut Io<'_>) -> Result<()> {
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
    let signature = card.authenticate(&digest, &pin1, profile)?;
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
                "digest": hex::encode(&digest),
                "signature": hex::encode(signature),
                "certificate": certificate,
            }),
        );
    }
    say(io.out, &hex::encode(signature))
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
    let signature = card.sign(&digest, &pin2, profile)?;
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
