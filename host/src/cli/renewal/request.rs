//! `asan renew request`: the renewal package — the application and the
//! contract drawn up from it — signed on the card with PIN2 (procedure 3.1
//! steps 5–8, 3.2.1 steps 5–9, 3.2.2 steps 5–8).

use std::path::PathBuf;

use asan_applet::{CertificateProfile, KeyRef, KeyUsage};
use clap::Args;
use der::oid::db::rfc4519::{COMMON_NAME, ORGANIZATION_NAME, SERIAL_NUMBER};
use serde_json::{Value, json};

use super::{CardCertificate, certificates, clock, refused};
use crate::cli::{Cli, Io, Profile, json as print_json, say, transport};
use crate::cms::{SignOptions, digest_reader, sign_on_card};
use crate::error::{Error, Result};
use crate::info::{profile_name, usage_name};
use crate::pin::Pin2;
use crate::renewal::{
    self, Application, ApplicationBody, Attorney, Contact, Contract, CurrentCertificate,
    NumberKind, OrganisationData, PACKAGE_VERSION, Party, ProfileSet, RenewalPackage, Request,
    Rule, Validity, Window, application_id, format_baku, format_both, format_time, label,
    signing_profile, subject_attribute,
};
use crate::tsp::TsaClient;

/// `asan renew request` options.
#[derive(Debug, Args)]
pub struct RequestArgs {
    /// The profiles wanted after renewal: repeat, or a comma list
    /// (`--profile citizen,business`).
    #[arg(long = "profile", value_enum, value_delimiter = ',', required = true)]
    pub profiles: Vec<Profile>,
    /// The User ID of the card's activation notice (6 digits).
    #[arg(long, value_name = "NNNNNN")]
    pub user_id: Option<String>,
    /// Write the package here (default: renewal-SERIAL.p7s); mode 0600, it
    /// holds the User ID.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Notices by e-mail.
    #[arg(long, value_name = "E", conflicts_with = "phone")]
    pub email: Option<String>,
    /// Notices to this mobile number.
    #[arg(long, value_name = "P")]
    pub phone: Option<String>,
    /// The Asan İmza number is the organisation's (needs the VÖEN, also for
    /// a Citizen application).
    #[arg(long)]
    pub corporate_number: bool,
    /// The organisation's tax id (default: from the card's Business
    /// certificate).
    #[arg(long, value_name = "V")]
    pub voen: Option<String>,
    /// Business/Governmental: the organisation's name (default: from the
    /// card's Business or Governmental certificate).
    #[arg(long, value_name = "TEXT")]
    pub org_name: Option<String>,
    /// Business/Governmental: the applicant's position.
    #[arg(long, value_name = "TEXT")]
    pub position: Option<String>,
    /// Business/Governmental: the structural unit.
    #[arg(long, value_name = "TEXT")]
    pub unit: Option<String>,
    /// Business/Governmental: the text on the organisation's seal.
    #[arg(long, value_name = "TEXT")]
    pub seal_text: Option<String>,
    /// Business/Governmental: what the applicant may sign (comma list, or
    /// repeat).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub signing_permissions: Vec<String>,
    /// The applicant is not the head of the organisation: a Business or
    /// Governmental application then carries a power of attorney for the
    /// head to approve.
    #[arg(long)]
    pub not_head: bool,
    /// Pretend it is this instant (RFC 3339): the window is checked and the
    /// package dated at it.
    #[arg(long, value_name = "RFC3339")]
    pub now: Option<String>,
    /// Time-stamp the signature at this RFC 3161 TSA (http://): the centre
    /// then takes the sending time from the token, a fact, instead of the
    /// signing time, a claim.
    #[arg(long, value_name = "URL")]
    pub tsa: Option<String>,
}

/// The organisation's data from the options, when the application is for
/// Business or Governmental or any of them is given.
fn organisation(
    args: &RequestArgs,
    requested: ProfileSet,
    certs: &[CardCertificate],
) -> Option<OrganisationData> {
    let given = args.org_name.is_some()
        || args.position.is_some()
        || args.unit.is_some()
        || args.seal_text.is_some()
        || !args.signing_permissions.is_empty();
    if !(requested.has_organisation() || given) {
        return None;
    }
    let name = args.org_name.clone().or_else(|| {
        certs
            .iter()
            .filter(|c| c.key.profile != CertificateProfile::Citizen)
            .find_map(|c| subject_attribute(&c.parsed, ORGANIZATION_NAME))
    });
    Some(OrganisationData {
        name: name.unwrap_or_default(),
        position: args.position.clone().unwrap_or_default(),
        unit: args.unit.clone(),
        seal_text: args.seal_text.clone(),
        signing_permissions: args.signing_permissions.clone(),
    })
}

/// `asan renew request`.
pub(super) fn request(cli: &Cli, args: &RequestArgs, io: &mut Io<'_>) -> Result<()> {
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
    let current = ProfileSet::of(&certs.iter().map(|c| c.key.profile).collect::<Vec<_>>());
    let requested = ProfileSet::of(
        &args
            .profiles
            .iter()
            .map(|p| CertificateProfile::from(*p))
            .collect::<Vec<_>>(),
    );
    let signer_profile = signing_profile(requested, current);
    let signing_key = KeyRef::new(signer_profile, KeyUsage::Signing);
    let signer = certs.iter().find(|c| c.key == signing_key).ok_or_else(|| {
        Error::NotFound(format!(
            "the {} signing certificate: the application is signed with it ({})",
            label(signer_profile),
            Rule::SignedWithCurrentKey.citation()
        ))
    })?;
    let corporate = args.corporate_number;
    let voen = args.voen.clone().or_else(|| {
        (requested.has_organisation() || corporate)
            .then(|| {
                certs
                    .iter()
                    .filter(|c| c.key.profile != CertificateProfile::Citizen)
                    .find_map(|c| renewal::voen_in_certificate(&c.parsed))
            })
            .flatten()
    });
    let contact = match (&args.email, &args.phone) {
        (Some(e), _) => Some(Contact::Email(e.clone())),
        (None, Some(p)) => Some(Contact::Phone(p.clone())),
        (None, None) => None,
    };
    let number = if corporate {
        NumberKind::Corporate
    } else {
        NumberKind::Personal
    };
    let organisation = organisation(args, requested, &certs);
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
        user_id: args.user_id.clone(),
        number,
        organisation: organisation.clone(),
    };
    let app = Application::submit(req, now).map_err(|r| refused(&r))?;
    let party = Party {
        name: subject_attribute(&signer.parsed, COMMON_NAME).unwrap_or_default(),
        id: subject_attribute(&signer.parsed, SERIAL_NUMBER).unwrap_or_default(),
    };
    let application = ApplicationBody {
        serial: info.serial.clone(),
        user_id: args.user_id.clone().unwrap_or_default(),
        service: crate::info::service_name(service).to_owned(),
        requested_profiles: requested
            .profiles()
            .into_iter()
            .map(|p| profile_name(p).to_owned())
            .collect(),
        signer_profile: profile_name(signer_profile).to_owned(),
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
        number,
        voen,
        organisation,
        head_of_organisation: !args.not_head,
        power_of_attorney: app.power_of_attorney().map(|_| Attorney {
            name: party.name.clone(),
            id: party.id.clone(),
        }),
        created: format_time(now),
    };
    let contract = Contract::for_application(&application, party);
    let package = RenewalPackage {
        version: PACKAGE_VERSION,
        application,
        contract,
    };
    let bytes = package.to_bytes();
    let timestamp = args.tsa.as_deref().map(TsaClient::new).transpose()?;
    let pin2 = Pin2::new(&io.pins.read("ASAN_PIN2", "PIN2")?)?;
    let digest = digest_reader(&mut bytes.as_slice())?;
    let opts = SignOptions {
        chain: Vec::new(),
        signing_time: renewal::to_system_time(now),
        signing_time_attribute: true,
        attached: Some(bytes.clone()),
        timestamp,
    };
    let signed = sign_on_card(&mut card, &pin2, signer_profile, &digest, &opts)?;
    let path = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("renewal-{}.p7s", info.serial)));
    crate::files::write_private(&path, &signed.cms)?;
    let signer_serial =
        hex::encode_upper(signer.parsed.tbs_certificate().serial_number().as_bytes());
    let written = Written {
        path: &path,
        id: application_id(&bytes),
        signer_serial,
        signer_profile: label(signer_profile),
    };
    report(cli, io, &written, &app, &package)
}

/// What was written.
struct Written<'a> {
    path: &'a std::path::Path,
    id: String,
    signer_serial: String,
    signer_profile: &'static str,
}

fn report(
    cli: &Cli,
    io: &mut Io<'_>,
    written: &Written<'_>,
    app: &Application,
    package: &RenewalPackage,
) -> Result<()> {
    let window = Window::at(app.request().signer, app.submitted());
    let poa = app.power_of_attorney();
    let sent = app.submitted();
    if cli.json {
        return print_json(
            io.out,
            &json!({
                "file": written.path.display().to_string(),
                "application": written.id,
                "serial": package.application.serial,
                "requested_profiles": package.application.requested_profiles,
                "move": app.profile_move().to_string(),
                "signer_profile": package.application.signer_profile,
                "signed_with": written.signer_serial,
                "signing_time": format_time(sent),
                "signing_time_baku": format_baku(sent),
                "window": {
                    "opens": format_time(window.opens),
                    "opens_baku": format_baku(window.opens),
                    "closes": format_time(window.closes),
                    "closes_baku": format_baku(window.closes),
                },
                "state": app.state().name(),
                "power_of_attorney_deadline": poa.map(|p| format_time(p.deadline)),
                "power_of_attorney_deadline_baku": poa.map(|p| format_baku(p.deadline)),
                "prolongation_deadline": format_time(app.prolongation_deadline()),
                "prolongation_deadline_baku": format_baku(app.prolongation_deadline()),
                "next_steps": app.next_steps(),
                "package": serde_json::to_value(package).unwrap_or(Value::Null),
            }),
        );
    }
    let lines = [
        format!(
            "renewal application and contract written to {}",
            written.path.display()
        ),
        format!("  id       {}", written.id),
        format!("  move     {}", app.profile_move()),
        format!(
            "  window   open from {} until {}",
            format_both(window.opens),
            format_both(window.closes)
        ),
        format!(
            "  signed   at {} with the {} signing certificate {}",
            format_both(sent),
            written.signer_profile,
            written.signer_serial
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
