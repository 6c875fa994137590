//! `asan renew approve|cancel APPLICATION`: the head of the organisation
//! decides on an employee's power of attorney with their own Asan İmza —
//! the Business or Governmental signing certificate of the organisation —
//! and PIN2 (procedure 3.2.2 steps 10–13). The decision repeats the
//! application as it is: nothing in it can be changed (step 13 note).

use std::path::{Path, PathBuf};

use asan_applet::{CertificateProfile, KeyRef, KeyUsage};
use clap::Args;
use serde_json::json;

use super::{clock, read, refused};
use crate::cli::{Cli, Io, json as print_json, say, transport};
use crate::cms::{SignOptions, digest_reader, sign_on_card, unverified_content};
use crate::error::{Error, Result};
use crate::pin::Pin2;
use crate::pki::TrustAnchors;
use crate::renewal::{
    POWER_OF_ATTORNEY_DAYS, PoaDecision, PowerOfAttorneyDecision, Refusal, RenewalPackage, Rule,
    baku, format_baku, format_both, format_time, label, parse_time, verify_document,
    voen_in_certificate,
};
use crate::x509::registered_revocations;
use crate::{cert, renewal};

/// `asan renew approve|cancel` options.
#[derive(Debug, Args)]
pub struct DecisionArgs {
    /// The employee's signed application (`asan renew request`).
    pub application: PathBuf,
    /// Write the signed decision here (default: APPLICATION with `.poa.p7s`
    /// for an approval, `.cancel.p7s` for a cancellation).
    #[arg(short = 'o', long = "output", value_name = "POA.p7s")]
    pub output: Option<PathBuf>,
    /// Sign at this instant (RFC 3339) instead of now.
    #[arg(long, value_name = "RFC3339")]
    pub now: Option<String>,
    /// A CA directory: check the applicant's signature against its root
    /// first (without it the application is shown as written, and the
    /// centre checks it).
    #[arg(long, value_name = "DIR")]
    pub ca: Option<PathBuf>,
}

fn default_output(application: &Path, approve: bool) -> PathBuf {
    let stem = application
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "application".to_owned());
    let ext = if approve { "poa.p7s" } else { "cancel.p7s" };
    application.with_file_name(format!("{stem}.{ext}"))
}

/// The package, verified against `--ca` when given.
fn package_of(args: &DecisionArgs, now: i64) -> Result<(Vec<u8>, bool)> {
    let signed = read(&args.application)?;
    let Some(dir) = &args.ca else {
        return Ok((unverified_content(&signed)?, false));
    };
    let root = cert::pem_or_der(&read(&dir.join(crate::x509::ROOT_CERT_FILE))?)?;
    let anchors = TrustAnchors::from_der(&[root], "the CA's root")?;
    let revoked = registered_revocations(dir)?;
    match verify_document(&signed, &anchors, &revoked, now, Rule::SignedWithCurrentKey)? {
        Ok(v) => Ok((v.content, true)),
        Err(r) => Err(refused(&r)),
    }
}

/// `asan renew approve` (`approve`) or `asan renew cancel`.
pub(super) fn decide(cli: &Cli, args: &DecisionArgs, approve: bool, io: &mut Io<'_>) -> Result<()> {
    let now = clock(args.now.as_deref())?.now();
    let (content, verified) = package_of(args, now)?;
    let package = RenewalPackage::parse(&content).map_err(|r| refused(&r))?;
    let app = &package.application;
    let decision = if approve {
        PoaDecision::Approved
    } else {
        PoaDecision::Cancelled
    };
    let document =
        PowerOfAttorneyDecision::for_package(&package, &content, decision, format_time(now))
            .map_err(|r| refused(&r))?;
    let created = parse_time(&app.created).map_err(Error::Usage)?;
    let deadline = baku::last_second_of_day_after(created, POWER_OF_ATTORNEY_DAYS);
    if now > deadline || now < created {
        let why = if now < created {
            format!(
                "the application was made on {}, after {}",
                format_both(created),
                format_both(now)
            )
        } else {
            format!(
                "the head had until {} to approve the power of attorney: the application is cancelled",
                format_both(deadline)
            )
        };
        return Err(refused(&Refusal::new(Rule::PowerOfAttorneyDeadline, why)));
    }
    let profile = if app.requested().map_err(|r| refused(&r))?.business {
        CertificateProfile::Business
    } else {
        CertificateProfile::Governmental
    };
    let mut card = transport::open(cli)?;
    let certificate = card
        .read_certificate_der(KeyRef::new(profile, KeyUsage::Signing))
        .map_err(|e| match e {
            Error::NotFound(_) => Error::NotFound(format!(
                "the {} signing certificate: the head signs with the organisation's certificate ({})",
                label(profile),
                Rule::HeadSignsPowerOfAttorney.citation()
            )),
            other => other,
        })?;
    let parsed = cert::parse(&certificate)?;
    if profile == CertificateProfile::Business {
        let on_card = voen_in_certificate(&parsed);
        if on_card.as_deref() != Some(document.voen.as_str()) {
            return Err(refused(&Refusal::new(
                Rule::HeadSignsPowerOfAttorney,
                format!(
                    "this card's Business certificate is for VÖEN {}, the application names VÖEN {}",
                    on_card.as_deref().unwrap_or("none"),
                    document.voen
                ),
            )));
        }
    }
    let bytes = document.to_bytes();
    let pin2 = Pin2::new(&io.pins.read("ASAN_PIN2", "PIN2")?)?;
    let digest = digest_reader(&mut bytes.as_slice())?;
    let opts = SignOptions {
        chain: Vec::new(),
        signing_time: renewal::to_system_time(now),
        signing_time_attribute: true,
        attached: Some(bytes),
        timestamp: None,
    };
    let signed = sign_on_card(&mut card, &pin2, profile, &digest, &opts)?;
    let path = args
        .output
        .clone()
        .unwrap_or_else(|| default_output(&args.application, approve));
    crate::x509::write_atomic(&path, &signed.cms)?;
    let signer_serial = hex::encode_upper(parsed.tbs_certificate().serial_number().as_bytes());
    if cli.json {
        return print_json(
            io.out,
            &json!({
                "file": path.display().to_string(),
                "decision": decision.name(),
                "application": document.application,
                "serial": document.card_serial,
                "voen": document.voen,
                "organisation": document.organisation,
                "attorney": { "name": document.attorney.name, "id": document.attorney.id },
                "requested_profiles": document.requested_profiles,
                "signed_at": format_time(now),
                "signed_at_baku": format_baku(now),
                "signed_with": signer_serial,
                "application_verified": verified,
            }),
        );
    }
    let lines = [
        format!(
            "power of attorney {} and signed: {}",
            decision.name(),
            path.display()
        ),
        format!(
            "  application {} of card {} ({})",
            renewal::short(&document.application),
            document.card_serial,
            if verified {
                "signature verified"
            } else {
                "signature not checked here: give --ca DIR"
            }
        ),
        format!(
            "  attorney    {} (FIN {}) for {} (VÖEN {}), {}",
            document.attorney.name,
            document.attorney.id,
            document.organisation,
            document.voen,
            document.requested_profiles.join(", ")
        ),
        format!(
            "  signed      at {} with the {} signing certificate {signer_serial}",
            format_both(now),
            label(profile)
        ),
        format!(
            "  next        the centre reviews the application with it: asan ca review DIR {} --poa {}",
            args.application.display(),
            path.display()
        ),
    ];
    for line in lines {
        say(io.out, &line)?;
    }
    Ok(())
}
