//! The arguments of the card commands: `service`, `pin`, `auth`, `sign`,
//! `verify`, `cert`.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use super::{CertVerifyArgs, TrustArgs, provisioning};

/// `asan service …`
#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// Set the service: `asan service set business active`.
    Set {
        /// citizen, business or government.
        #[arg(value_enum)]
        kind: Profile,
        /// active or suspended.
        #[arg(value_parser = ["active", "suspended"])]
        state: String,
        /// Secure channel options.
        #[command(flatten)]
        operator: provisioning::OperatorArgs,
    },
}

/// Which PIN a command names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PinName {
    /// PIN1 (authentication).
    Pin1,
    /// PIN2 (signing).
    Pin2,
    /// PUK (unblocking).
    Puk,
}

impl PinName {
    /// The card's reference.
    pub fn kind(self) -> asan_applet::PinRef {
        match self {
            Self::Pin1 => asan_applet::PinRef::Pin1,
            Self::Pin2 => asan_applet::PinRef::Pin2,
            Self::Puk => asan_applet::PinRef::Puk,
        }
    }
}

/// `asan pin …`
#[derive(Debug, Subcommand)]
pub enum PinCommand {
    /// Tries left and limits of PIN1, PIN2 and the PUK.
    Status,
    /// Check a PIN (spends a try if wrong).
    Verify {
        /// pin1, pin2 or puk.
        pin: PinName,
    },
    /// Change a PIN: the current value, then the new one.
    Change {
        /// pin1, pin2 or puk.
        pin: PinName,
    },
    /// Unblock PIN1 or PIN2 with the PUK and set a new value.
    Unblock {
        /// pin1 or pin2.
        pin: PinName,
        /// Keep the old PIN value; only reset its counter.
        #[arg(long)]
        keep: bool,
    },
}

/// Certificate profiles on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Profile {
    /// Citizen (Şəxsi), profile 1.
    Citizen,
    /// Business (İş), profile 2.
    Business,
    /// Governmental (Dövlət və bələdiyyə), profile 3.
    Government,
}

impl From<Profile> for asan_applet::CertificateProfile {
    fn from(p: Profile) -> Self {
        match p {
            Profile::Citizen => Self::Citizen,
            Profile::Business => Self::Business,
            Profile::Government => Self::Governmental,
        }
    }
}

/// Key usages on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Usage {
    /// The authentication key and certificate.
    Auth,
    /// The signing key and certificate.
    Sign,
}

impl From<Usage> for asan_applet::KeyUsage {
    fn from(u: Usage) -> Self {
        match u {
            Usage::Auth => Self::Authentication,
            Usage::Sign => Self::Signing,
        }
    }
}

/// `asan auth`
#[derive(Debug, Args)]
pub struct AuthArgs {
    /// The digest to sign, hex (20 to 64 bytes).
    #[arg(
        long,
        value_name = "HEX",
        conflicts_with = "challenge",
        required_unless_present_any = ["challenge", "verify"]
    )]
    pub digest: Option<String>,
    /// A challenge text; its SHA-256 is signed.
    #[arg(long, value_name = "TEXT")]
    pub challenge: Option<String>,
    /// Which profile's authentication key.
    #[arg(long, value_enum, default_value = "citizen")]
    pub profile: Profile,
    /// Check an answer instead: the JSON that `asan auth --json` printed
    /// (challenge or digest, signature, certificate). No card needed; needs
    /// --ca and --challenge (or --any-challenge).
    #[arg(long, value_name = "ANSWER.json", conflicts_with_all = ["digest"])]
    pub verify: Option<PathBuf>,
    /// With --verify: accept an answer to any challenge (an old answer can
    /// then be replayed; the output says so).
    #[arg(long, requires = "verify", conflicts_with = "challenge")]
    pub any_challenge: bool,
    /// With --verify: trust anchors, more certificates, time, CRLs.
    #[command(flatten)]
    pub trust: TrustArgs,
}

/// `asan sign FILE | --digest HEX`
#[derive(Debug, Args)]
pub struct SignArgs {
    /// The files to sign: a CMS signature (CAdES-BES) goes to FILE.p7s
    /// beside each (a PDF with --pades to FILE.signed.pdf). Files are
    /// streamed (constant memory) unless --attached. Several files take one
    /// PIN2 entry and one signature command each.
    #[arg(
        value_name = "FILE",
        conflicts_with = "digest",
        required_unless_present = "digest"
    )]
    pub files: Vec<PathBuf>,
    /// Instead of a file: the SHA-256 digest to sign, hex (32 bytes); prints
    /// the raw signature r || s.
    #[arg(long, value_name = "HEX")]
    pub digest: Option<String>,
    /// Which profile's signing key.
    #[arg(long, value_enum, default_value = "citizen")]
    pub profile: Profile,
    /// Write the signature to this file instead of FILE.p7s.
    #[arg(
        short = 'o',
        long = "output",
        value_name = "FILE",
        conflicts_with = "digest"
    )]
    pub output: Option<PathBuf>,
    /// Certificates to include (PEM or DER), e.g. the issuing CA, so a
    /// verifier can build the chain.
    #[arg(long, value_name = "PEM", conflicts_with = "digest")]
    pub chain: Option<PathBuf>,
    /// Embed the file in the signature (read into memory) instead of a
    /// detached signature.
    #[arg(long, conflicts_with = "digest")]
    pub attached: bool,
    /// The signer's certificate (from `asan cert read`, PEM or DER), so the
    /// card is not asked for it: the signature then costs two APDUs.
    #[arg(long, value_name = "FILE", conflicts_with = "digest")]
    pub certificate: Option<PathBuf>,
    /// Time-stamp the signature at this RFC 3161 TSA (http:// only), making
    /// it CAdES-T; when the TSA fails nothing is written.
    #[arg(long, value_name = "URL", conflicts_with = "digest")]
    pub tsa: Option<String>,
    /// Sign a PDF (PAdES baseline B-B, B-T with --tsa): an incremental
    /// update with a signature field, written to FILE.signed.pdf unless -o.
    #[arg(long, conflicts_with_all = ["digest", "attached"])]
    pub pades: bool,
    /// The PDF signature's /Reason.
    #[arg(long, value_name = "TEXT", requires = "pades")]
    pub reason: Option<String>,
    /// The PDF signature's /Location.
    #[arg(long, value_name = "TEXT", requires = "pades")]
    pub location: Option<String>,
    /// A visible PDF signature on page PAGE (from 1) at X,Y (points from
    /// the bottom left), W wide and H high; invisible by default.
    #[arg(long, value_name = "PAGE,X,Y,W,H", requires = "pades")]
    pub visible: Option<crate::pdf::Placement>,
    /// Replace output files that exist (never done without).
    #[arg(long, conflicts_with = "digest")]
    pub force: bool,
}

/// `asan verify FILE FILE.p7s --ca ROOT.pem`
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The signed file; or, alone, a signature with the content embedded.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The signature (CMS, DER or PEM), usually FILE.p7s.
    #[arg(value_name = "SIGNATURE")]
    pub signature: Option<PathBuf>,
    /// Require CAdES-BES: a missing signing-certificate-v2 attribute fails.
    #[arg(long)]
    pub cades: bool,
    /// Trust anchors for the TSA certificates of time-stamp tokens (PEM,
    /// several per file, or DER; repeatable); default: those of --ca.
    #[arg(long, value_name = "TSAROOT.pem")]
    pub tsa_ca: Vec<PathBuf>,
    /// Trust anchors (--ca, required), more certificates, time, CRLs.
    #[command(flatten)]
    pub trust: TrustArgs,
}

/// `asan cert …`
#[derive(Debug, Subcommand)]
pub enum CertCommand {
    /// Read a certificate from the card.
    Read {
        /// The profile.
        #[arg(long, value_enum)]
        profile: Profile,
        /// The key usage.
        #[arg(long, value_enum)]
        usage: Usage,
        /// Write it to this file (DER, or PEM with --pem) instead of printing PEM.
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<PathBuf>,
        /// PEM instead of DER in the output file.
        #[arg(long)]
        pem: bool,
    },
    /// Validate a certificate's path to a trust anchor (RFC 5280), like
    /// `openssl verify`: exit 0 valid, 1 invalid, 2 usage.
    Verify(CertVerifyArgs),
    /// Operator: load (atomically replace) a certificate on the card.
    Load {
        /// The profile.
        #[arg(long, value_enum)]
        profile: Profile,
        /// The key usage.
        #[arg(long, value_enum)]
        usage: Usage,
        /// The certificate (DER or PEM).
        file: PathBuf,
        /// Secure channel options.
        #[command(flatten)]
        operator: provisioning::OperatorArgs,
    },
}
