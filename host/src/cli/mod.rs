//! The `asan` command line: arguments, the card it talks to, and dispatch.
//! Every command prints human-readable text, or one JSON object with
//! `--json`; errors are one line on stderr, with the exit codes of
//! [`Error::exit_code`](crate::Error::exit_code).

mod args;
mod ca;
mod cache;
mod card_info;
mod demo;
mod documents;
mod input;
mod keys;
mod manual;
mod operator;
mod pdf;
mod pins;
mod provisioning;
mod renewal;
mod signing;
mod station;
mod transport;
pub mod tsa;
mod validation;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::error::{Error, Result};
pub use args::{
    AuthArgs, CertCommand, PinCommand, PinName, Profile, ServiceCommand, SignArgs, Usage,
    VerifyArgs,
};
pub use input::PinInput;
pub use transport::AnyTransport;
pub use validation::{CertVerifyArgs, PurposeArg, TrustArgs};

/// Command-line tool for Asan İmza SIM cards.
#[derive(Debug, Parser)]
#[command(
    name = "asan",
    version,
    about = "Asan İmza SIM cards: PINs, signatures, certificates, provisioning, renewal",
    long_about = None
)]
pub struct Cli {
    /// Use the reader whose name contains this text.
    #[arg(long, global = true, value_name = "SUBSTR")]
    pub reader: Option<String>,
    /// Use an in-process virtual card with this image file instead of PC/SC
    /// (it must exist: see --create).
    #[arg(long = "virtual", global = true, value_name = "STATE_FILE")]
    pub virtual_card: Option<PathBuf>,
    /// With --virtual: make a factory-fresh card image if the file does not
    /// exist (`asan provision` does so without being asked: it personalises
    /// a fresh card).
    #[arg(long, global = true, requires = "virtual_card")]
    pub create: bool,
    /// Machine-readable output: one JSON object on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// Log every APDU on stderr (PIN blocks shown as ***).
    #[arg(long, global = true)]
    pub trace: bool,
    /// The command.
    #[command(subcommand)]
    pub command: Commands,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Commands {
    /// Readers, whether a card is present, whether the Asan İmza applet answers.
    Readers,
    /// Serial, life cycle, service, PIN tries, certificates.
    Info,
    /// PIN status, verification, change, unblock.
    #[command(subcommand)]
    Pin(PinCommand),
    /// Sign a challenge with the authentication key (PIN1).
    Auth(AuthArgs),
    /// Sign a file (CMS signature, FILE.p7s) or a SHA-256 digest with the
    /// signing key (PIN2).
    Sign(SignArgs),
    /// Verify a CMS document signature (ours or openssl's): the message, then
    /// the signer's certificate path (RFC 5280) now or at --at; every check,
    /// and which failed.
    Verify(VerifyArgs),
    /// Certificates on the card.
    #[command(subcommand)]
    Cert(CertCommand),
    /// Operator: personalise fresh cards (one, or every card present).
    Provision(Box<ProvisionCommand>),
    /// Development certification authority for test environments and CI.
    #[command(subcommand)]
    Ca(CaCommand),
    /// Development time-stamping authority (RFC 3161) for test environments
    /// and CI.
    #[command(subcommand)]
    Tsa(tsa::TsaCommand),
    /// Operator: set the subscriber's service type and state.
    #[command(subcommand)]
    Service(ServiceCommand),
    /// Online certificate renewal by the Asan İmza procedure: whether it is
    /// open, and the signed application.
    #[command(subcommand)]
    Renew(renewal::RenewCommand),
    /// Operator: SCP03 key sets: one card's keys from the master key set,
    /// key rotation.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Operator: the station's audit trail.
    #[command(subcommand)]
    Audit(keys::AuditCommand),
    /// Operator: terminate the card, irreversibly.
    Terminate {
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
        /// Secure channel options.
        #[command(flatten)]
        operator: provisioning::OperatorArgs,
    },
    /// The whole story on a fresh in-process virtual card with a temporary
    /// development CA: provision, certificates, PIN1 authentication, PIN2
    /// signature and its verification, a wrong PIN, PUK unblock.
    Demo,
    /// Shell completions on stdout (e.g. `asan completions bash >
    /// /etc/bash_completion.d/asan`).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: manual::Shell,
    },
    /// The man page asan(1) on stdout, or every command's page in a
    /// directory (`asan man --dir /usr/local/share/man/man1`).
    Man {
        /// Write asan.1 and one page per command here.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

/// The commands that use no card, by name: `--reader` and `--virtual`
/// are refused there rather than silently ignored.
fn cardless(command: &Commands) -> Option<&'static str> {
    match command {
        Commands::Ca(_) => Some("`asan ca`"),
        Commands::Tsa(_) => Some("`asan tsa`"),
        Commands::Demo => Some("`asan demo` (it makes its own in-process card)"),
        Commands::Keys(keys::KeysCommand::Derive { .. }) => Some("`asan keys derive`"),
        Commands::Audit(_) => Some("`asan audit`"),
        Commands::Completions { .. } => Some("`asan completions`"),
        Commands::Man { .. } => Some("`asan man`"),
        Commands::Verify(_) => Some("`asan verify`"),
        Commands::Cert(CertCommand::Verify(_)) => Some("`asan cert verify`"),
        Commands::Auth(a) if a.verify.is_some() => Some("`asan auth --verify`"),
        _ => None,
    }
}

/// `asan provision [renew]`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ProvisionCommand {
    /// `renew`: new key pairs and certificates for one profile.
    #[command(subcommand)]
    pub renew: Option<ProvisionSub>,
    /// Options of a first personalisation.
    #[command(flatten)]
    pub args: provisioning::ProvisionArgs,
}

/// Subcommands of `asan provision`.
#[derive(Debug, Subcommand)]
pub enum ProvisionSub {
    /// The operator's half of renewal: new key pairs of a profile on the
    /// card, requests signed with the subscriber's PINs, certificates issued
    /// and loaded.
    Renew {
        /// The profile to renew.
        #[arg(long, value_enum)]
        profile: Profile,
        /// Development CA directory.
        #[arg(long, value_name = "DIR")]
        ca: Option<PathBuf>,
        /// Without a CA: write the requests to DIR.
        #[arg(long, value_name = "DIR", conflicts_with = "ca")]
        requests: Option<PathBuf>,
        /// Secure channel options.
        #[command(flatten)]
        operator: provisioning::OperatorArgs,
    },
}

/// `asan ca …`
#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// Create a development CA in DIR (P-256 root key and certificate).
    Init {
        /// The CA directory (must not hold a CA yet).
        dir: PathBuf,
        /// The CRL distribution point written into every certificate the CA
        /// issues (http://, https:// or file://); default: the file:// URL
        /// of DIR/root.crl.
        #[arg(long, value_name = "URL")]
        crl_url: Option<String>,
    },
    /// Issue an end-entity certificate for a PKCS#10 request.
    Issue {
        /// The CA directory.
        dir: PathBuf,
        /// The request (DER or PEM).
        csr: PathBuf,
        /// The profile.
        #[arg(long, value_enum)]
        profile: Profile,
        /// The key usage.
        #[arg(long, value_enum)]
        usage: Usage,
        /// Write the certificate (PEM) to FILE instead of standard output.
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Revoke a certificate this CA issued (recorded in DIR/revocations.json;
    /// the next CRL lists it).
    Revoke {
        /// The CA directory.
        dir: PathBuf,
        /// The certificate (PEM or DER).
        cert: PathBuf,
        /// Why (RFC 5280 reason code; the camelCase spellings work too).
        #[arg(long, value_enum, default_value = "unspecified")]
        reason: ca::Reason,
    },
    /// Sign a CRL listing every revoked certificate (DER; PEM when FILE
    /// ends in .pem).
    Crl {
        /// The CA directory.
        dir: PathBuf,
        /// Where to write it (default DIR/root.crl).
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
        /// Days until nextUpdate (1 to 366).
        #[arg(long, value_name = "N", default_value_t = crate::x509::DEFAULT_CRL_DAYS,
              value_parser = clap::value_parser!(u32).range(1..=i64::from(crate::x509::MAX_CRL_DAYS)))]
        days: u32,
    },
    /// The certification centre's review of a renewal application: the
    /// signature, the facts (signer certificate, card, User ID, VÖEN,
    /// head), the head's decision, the procedure's rules; the decision,
    /// recorded in the journal.
    Review(renewal::ReviewArgs),
    /// The renewal applications the centre has reviewed (its journal).
    Applications(renewal::ApplicationsArgs),
    /// The register of organisations and their heads.
    #[command(subcommand)]
    Org(renewal::OrgCommand),
    /// A card's activation notice (User ID, service, certificates), again.
    Notice(renewal::NoticeArgs),
    /// Record that the mobile operator prolonged a card's service for 3
    /// years (ferdi, biznes or dovlet).
    Prolong(renewal::ProlongArgs),
}

/// Where output goes: stdout for results, stderr for messages and traces.
pub struct Io<'a> {
    /// Results.
    pub out: &'a mut dyn std::io::Write,
    /// Messages and traces.
    pub err: &'a mut dyn std::io::Write,
    /// PIN entry.
    pub pins: &'a mut PinInput,
}

/// Runs one parsed command line.
///
/// # Example
///
/// ```
/// use asan_host::cli::{Cli, Io, PinInput, run};
/// use clap::Parser;
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let image = dir.path().join("card.img");
/// // `asan --virtual card.img --json info`, in this process.
/// let cli = Cli::try_parse_from(["asan", "--virtual", image.to_str().ok_or("path")?, "--create", "--json", "info"])?;
/// let (mut out, mut err) = (Vec::new(), Vec::new());
/// let mut pins = PinInput::scripted(vec![], "");
/// run(&cli, &mut Io { out: &mut out, err: &mut err, pins: &mut pins })?;
/// let info: serde_json::Value = serde_json::from_slice(&out)?;
/// assert_eq!(info["life_cycle"], "initialisation");
///
/// // PINs come from the scripted environment or input lines; errors carry the exit code.
/// let cli = Cli::try_parse_from(["asan", "--virtual", image.to_str().ok_or("path")?, "pin", "verify", "pin2"])?;
/// let mut pins = PinInput::scripted(vec![("ASAN_PIN2", "1234".into())], "");
/// let e = run(&cli, &mut Io { out: &mut out, err: &mut err, pins: &mut pins }).unwrap_err();
/// assert_eq!(e.exit_code(), 2); // PIN2 needs 5 to 8 digits
/// # Ok(())
/// # }
/// ```
pub fn run(cli: &Cli, io: &mut Io<'_>) -> Result<()> {
    if let Some(what) = cardless(&cli.command)
        && (cli.reader.is_some() || cli.virtual_card.is_some())
    {
        return Err(Error::Usage(format!(
            "--reader and --virtual choose a card, and {what} uses none"
        )));
    }
    match &cli.command {
        Commands::Readers => card_info::readers(cli, io),
        Commands::Info => card_info::info(cli, io),
        Commands::Pin(cmd) => pins::run(cli, cmd, io),
        Commands::Auth(args) => signing::auth(cli, args, io),
        Commands::Sign(args) if args.pades => pdf::sign(cli, args, io),
        Commands::Sign(args) if !args.files.is_empty() => documents::sign(cli, args, io),
        Commands::Sign(args) => signing::sign(cli, args, io),
        Commands::Verify(args) => documents::verify(cli, args, io),
        Commands::Cert(CertCommand::Read {
            profile,
            usage,
            output,
            pem,
        }) => card_info::cert_read(cli, *profile, *usage, output.as_deref(), *pem, io),
        Commands::Cert(CertCommand::Verify(args)) => validation::cert_verify(cli, args, io),
        Commands::Cert(CertCommand::Load {
            profile,
            usage,
            file,
            operator,
        }) => operator::cert_load(cli, *profile, *usage, file, operator, io),
        Commands::Provision(cmd) => match &cmd.renew {
            Some(ProvisionSub::Renew {
                profile,
                ca,
                requests,
                operator,
            }) => operator::renew(cli, *profile, ca, requests, operator, io),
            None => provisioning::provision(cli, &cmd.args, io),
        },
        Commands::Ca(cmd) => ca::run(cli, cmd, io),
        Commands::Completions { shell } => manual::completions(*shell, io),
        Commands::Man { dir } => manual::man(dir.as_deref(), io),
        Commands::Tsa(cmd) => tsa::run(cli, cmd, io),
        Commands::Renew(cmd) => renewal::run(cli, cmd, io),
        Commands::Service(ServiceCommand::Set {
            kind,
            state,
            operator,
        }) => operator::service_set(cli, *kind, state, operator, io),
        Commands::Terminate { yes, operator } => operator::terminate(cli, *yes, operator, io),
        Commands::Demo => demo::run(cli, io),
        Commands::Keys(cmd) => keys::run(cli, cmd, io),
        Commands::Audit(cmd) => keys::audit(cli, cmd, io),
    }
}

/// Writes a line to `out`, mapping I/O errors.
pub(crate) fn say(out: &mut dyn std::io::Write, text: &str) -> Result<()> {
    writeln!(out, "{text}").map_err(|e| crate::Error::Io {
        path: "<output>".into(),
        source: e,
    })
}

/// Prints a JSON value on `out`.
pub(crate) fn json(out: &mut dyn std::io::Write, value: &serde_json::Value) -> Result<()> {
    say(
        out,
        &serde_json::to_string_pretty(value).unwrap_or_default(),
    )
}
