//! `asan renew check`, `asan renew request` and `asan ca review`: the
//! subscriber's and the certification centre's halves of online renewal
//! (rules in [`crate::renewal`], documented in `docs/renewal.md`).

use std::path::PathBuf;

use asan_applet::{CertificateProfile, KeyRef, KeyUsage};
use clap::{Args, Subcommand};
use p256::PublicKey;
use serde_json::{Value, json};

use super::{Cli, Io, Profile, json as print_json, say, transport};
use crate::cms::{SignOptions, digest_reader, sign_detached};
use crate::error::{Error, Result};
use crate::info::{profile_name, usage_name};
use crate::pin::Pin2;
use crate::renewal::{
    self, Application, ApplicationBody, BODY_VERSION, Clock, Contact, CurrentCertificate,
    FixedClock, ProfileSet, Refusal, Request, Rule, SystemClock, Validity, Window, format_time,
};
use crate::x509::DigestSigner;
use crate::{AsanCard, cert};

/// `asan renew …`
#[derive(Debug, Subcommand)]
pub enum RenewCommand {
    /// For each certificate on the card: whether renewal is open, from when
    /// until when, and why not.
    Check {
        /// Pretend it is this instant (RFC 3339) instead of now.
        #[arg(long, value_name = "RFC3339")]
        now: Option<String>,
    },
    /// Write the renewal application, signed with the Citizen signing key
    /// (PIN2): CMS with the JSON body embedded.
    Request(RequestArgs),
}

/// `asan renew request` options.
#[derive(Debug, Args)]
pub struct RequestArgs {
    /// The profiles wanted after renewal: repeat, or a comma list
    /// (`--profile citizen,business`).
    #[arg(long = "profile", value_enum, value_delimiter = ',', required = true)]
    pub profiles: Vec<Profile>,
    /// Write the application here (default: renewal-SERIAL.p7s).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Notices by e-mail.
    #[arg(long, value_name = "E", conflicts_with = "phone")]
    pub email: Option<String>,
    /// Notices to this mobile number.
    #[arg(long, value_name = "P")]
    pub phone: Option<String>,
    /// The organisation's tax id (default: from the card's Business or
    /// Governmental certificate).
    #[arg(long, value_name = "V")]
    pub voen: Option<String>,
    /// The applicant is not the head of the organisation: a Business or
    /// Governmental application then needs the head's power of attorney.
    #[arg(long)]
    pub not_head: bool,
    /// Pretend it is this instant (RFC 3339): the window is checked and the
    /// application dated at it.
    #[arg(long, value_name = "RFC3339")]
    pub now: Option<String>,
}

/// `asan ca review DIR APPLICATION`
#[derive(Debug, Args)]
pub struct ReviewArgs {
    /// The CA directory (its root.pem is the trust anchor).
    pub dir: PathBuf,
    /// The signed application (`asan renew request`).
    pub application: PathBuf,
    /// Review at this instant (RFC 3339) instead of now.
    #[arg(long, value_name = "RFC3339")]
    pub now: Option<String>,
}

/// A refusal as the CLI's error: exit code 1, one line with the step.
fn refused(r: &Refusal) -> Error {
    Error::Refused(format!("renewal refused: {r}"))
}

fn clock(now: Option<&str>) -> Result<Box<dyn Clock>> {
    match now {
        Some(t) => renewal::parse_time(t)
            .map(|t| Box::new(FixedClock(t)) as Box<dyn Clock>)
            .map_err(|e| Error::Usage(format!("--now: {e}"))),
        None => Ok(Box::new(SystemClock)),
    }
}

fn read(path: &std::path::Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })
}

/// A certificate read from the card.
struct CardCertificate {
    key: KeyRef,
    der: Vec<u8>,
    parsed: x509_cert::Certificate,
}

/// Every certificate on the card: `Ok`, or the key and why it is unreadable.
fn certificates(
    card: &mut AsanCard<transport::AnyTransport>,
) -> Result<Vec<std::result::Result<CardCertificate, (KeyRef, Error)>>> {
    let info = card.info()?;
    Ok(info
        .keys
        .iter()
        .filter(|k| k.certificate_len > 0)
        .map(|k| {
            card.read_certificate_der(k.key)
                .and_then(|der| Ok((cert::parse(&der)?, der)))
                .map(|(parsed, der)| CardCertificate {
                    key: k.key,
                    der,
                    parsed,
                })
                .map_err(|e| (k.key, e))
        })
        .collect())
}

/// Runs `asan renew …`.
pub fn run(cli: &Cli, cmd: &RenewCommand, io: &mut Io<'_>) -> Result<()> {
    match cmd {
        RenewCommand::Check { now } => check(cli, now.as_deref(), io),
        RenewCommand::Request(args) => request(cli, args, io),
    }
}

/// `asan renew check`.
fn check(cli: &Cli, now: Option<&str>, io: &mut Io<'_>) -> Result<()> {
    let now = clock(now)?.now();
    let mut card = transport::open(cli)?;
    let mut entries = Vec::new();
    for c in certificates(&mut card)? {
        entries.push(match c {
            Ok(c) => {
                let w = Window::at(Validity::of(&c.parsed), now);
                json!({
                    "profile": profile_name(c.key.profile),
                    "usage": usage_name(c.key.usage),
                    "not_after": format_time(w.validity.not_after),
                    "renewal_open": w.is_open(),
                    "opens": format_time(w.opens),
                    "closes": format_time(w.closes),
                    "reason": w.reason(),
                })
            }
            Err((key, e)) => json!({
                "profile": profile_name(key.profile),
                "usage": usage_name(key.usage),
                "not_after": null,
                "renewal_open": false,
                "opens": null,
                "closes": null,
                "reason": format!("the certificate cannot be read: {e}"),
            }),
        });
    }
    if cli.json {
        return print_json(io.out, &json!({ "certificates": entries }));
    }
    if entries.is_empty() {
        return say(io.out, "no certificates on the card");
    }
    let s = |v: &Value, k: &str| v[k].as_str().unwrap_or_default().to_owned();
    for e in &entries {
        let head = format!("{} {}", s(e, "profile"), s(e, "usage"));
        let line = if e["renewal_open"].as_bool() == Some(true) {
            format!(
                "{head}: renewal open from {} until {}",
                s(e, "opens"),
                s(e, "closes")
            )
        } else {
            format!("{head}: renewal not open: {}", s(e, "reason"))
        };
        say(io.out, &line)?;
    }
    Ok(())
}

/// The card's Citizen signing key as a [`DigestSigner`]: VERIFY PIN2 and
/// PSO: COMPUTE DIGITAL SIGNATURE for each digest.
struct CitizenSigningKey<'a> {
    card: &'a mut AsanCard<transport::AnyTransport>,
    pin2: &'a Pin2,
    public: PublicKey,
}

impl DigestSigner for CitizenSigningKey<'_> {
    fn public_key(&self) -> PublicKey {
        self.public
    }

    fn sign_digest(&mut self, digest: &[u8; 32]) -> Result<[u8; 64]> {
        self.card
            .sign(digest, self.pin2, CertificateProfile::Citizen)
    }
}

/// `asan renew request`.
fn request(cli: &Cli, args: &RequestArgs, io: &mut Io<'_>) -> Result<()> {
    let now = clock(args.now.as_deref())?.now();
    let mut card = transport::open(cli)?;
    let info = card.info()?;
    let service = info
        .service
        .and_then(|s| renewal::service_from_name(s.kind))
        .ok_or_else(|| Error::ConditionsNotSatisfied("the card has no service set".into()))?;
    let certs: Vec<CardCertificate> = certificates(&mut card)?
        .into_iter()
        .collect::<std::result::Result<_, _>>()
        .map_err(|(_, e)| e)?;
    let citizen_sign = KeyRef::new(CertificateProfile::Citizen, KeyUsage::Signing);
    let signer = certs
        .iter()
        .find(|c| c.key == citizen_sign)
        .ok_or_else(|| {
            Error::NotFound(format!(
                "the Citizen signing certificate: the application is signed with it ({})",
                Rule::SignedWithCurrentKey.citation()
            ))
        })?;
    let current = ProfileSet::of(&certs.iter().map(|c| c.key.profile).collect::<Vec<_>>());
    let requested = ProfileSet::of(
        &args
            .profiles
            .iter()
            .map(|p| CertificateProfile::from(*p))
            .collect::<Vec<_>>(),
    );
    let voen = args.voen.clone().or_else(|| {
        certs
            .iter()
            .filter(|c| c.key.profile != CertificateProfile::Citizen)
            .find_map(|c| renewal::voen_in_certificate(&c.parsed))
    });
    let contact = match (&args.email, &args.phone) {
        (Some(e), _) => Some(Contact::Email(e.clone())),
        (None, Some(p)) => Some(Contact::Phone(p.clone())),
        (None, None) => None,
    };
    let validity = Validity::of(&signer.parsed);
    let req = Request {
        service,
        current,
        requested,
        signer: validity,
        service_expires: validity.not_after,
        contact: contact.clone(),
        voen: voen.clone(),
        head_of_organisation: !args.not_head,
    };
    let app = Application::submit(req, now).map_err(|r| refused(&r))?;
    let body = ApplicationBody {
        version: BODY_VERSION,
        serial: info.serial.clone(),
        service: crate::info::service_name(service).to_owned(),
        requested_profiles: requested
            .profiles()
            .into_iter()
            .map(|p| profile_name(p).to_owned())
            .collect(),
        current_certificates: certs
            .iter()
            .map(|c| {
                CurrentCertificate::of(
                    profile_name(c.key.profile),
                    usage_name(c.key.usage),
                    &c.der,
                    &c.parsed,
                )
            })
            .collect(),
        contact: contact.ok_or_else(|| Error::Usage("a contact is required".into()))?,
        voen,
        head_of_organisation: !args.not_head,
        created: format_time(now),
    };
    let bytes = body.to_bytes();
    let public =
        PublicKey::from_sec1_bytes(&cert::public_key_bytes(&signer.parsed)).map_err(|_| {
            Error::Certificate("the Citizen signing certificate's key is not a P-256 key".into())
        })?;
    let signer_der = signer.der.clone();
    let signer_serial = cert::summary(&signer.parsed, "citizen", "sign", now).serial_number;
    let pin2 = Pin2::new(&io.pins.read("ASAN_PIN2", "PIN2")?)?;
    let digest = digest_reader(&mut bytes.as_slice())?;
    let opts = SignOptions {
        chain: Vec::new(),
        signing_time: renewal::to_system_time(now),
        signing_time_attribute: true,
        attached: Some(bytes),
        timestamp: None,
    };
    let mut key = CitizenSigningKey {
        card: &mut card,
        pin2: &pin2,
        public,
    };
    let signed = sign_detached(&digest, &signer_der, &mut key, &opts)?;
    let path = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("renewal-{}.p7s", info.serial)));
    std::fs::write(&path, &signed).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })?;
    report_request(cli, io, &path, &app, &body, &signer_serial)
}

fn report_request(
    cli: &Cli,
    io: &mut Io<'_>,
    path: &std::path::Path,
    app: &Application,
    body: &ApplicationBody,
    signer_serial: &str,
) -> Result<()> {
    let window = Window::at(app.request().signer, app.submitted());
    let poa = app.power_of_attorney();
    if cli.json {
        return print_json(
            io.out,
            &json!({
                "file": path.display().to_string(),
                "serial": body.serial,
                "requested_profiles": body.requested_profiles,
                "move": app.profile_move().to_string(),
                "signed_with": signer_serial,
                "signing_time": body.created,
                "window": { "opens": format_time(window.opens), "closes": format_time(window.closes) },
                "power_of_attorney_deadline": poa.map(|p| format_time(p.deadline)),
                "prolongation_deadline": format_time(app.prolongation_deadline()),
                "next_steps": app.next_steps(),
                "body": serde_json::to_value(body).unwrap_or(Value::Null),
            }),
        );
    }
    let lines = [
        format!("renewal application written to {}", path.display()),
        format!("  move     {}", app.profile_move()),
        format!(
            "  window   open from {} until {}",
            format_time(window.opens),
            format_time(window.closes)
        ),
        format!(
            "  signed   at {} with the Citizen signing certificate {signer_serial}",
            body.created
        ),
    ];
    for line in lines {
        say(io.out, &line)?;
    }
    for (i, step) in app.next_steps().iter().enumerate() {
        let label = if i == 0 { "next" } else { "then" };
        say(io.out, &format!("  {label:<8} {step}"))?;
    }
    Ok(())
}

/// `asan ca review DIR APPLICATION`.
pub fn review(cli: &Cli, args: &ReviewArgs, io: &mut Io<'_>) -> Result<()> {
    let now = clock(args.now.as_deref())?.now();
    let root = cert::pem_or_der(&read(&args.dir.join(crate::x509::ROOT_CERT_FILE))?)?;
    let signed = read(&args.application)?;
    let revoked = crate::x509::registered_revocations(&args.dir)?;
    let review = renewal::review_signed(&signed, &[root], &revoked, now)?;
    if cli.json {
        print_json(io.out, &review.to_json())?;
    } else {
        for line in review.lines(now) {
            say(io.out, &line)?;
        }
    }
    match &review.refusal {
        Some(r) if !review.accepted() => Err(refused(r)),
        _ => Ok(()),
    }
}
