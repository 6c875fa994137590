//! One flat error type for everything the host does, with the exit code the
//! CLI uses for it.

use std::fmt;

use asan_applet::PinRef;

/// Result with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// Which secret a PIN error is about.
pub use asan_applet::PinRef as PinKind;

/// Everything that can go wrong talking to a card.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The card refused a PIN; `tries_left` more attempts before it blocks.
    WrongPin {
        /// Which PIN.
        pin: PinRef,
        /// Attempts left.
        tries_left: u8,
    },
    /// The PIN or PUK is blocked.
    Blocked {
        /// Which PIN.
        pin: PinRef,
    },
    /// A PIN typed by the user does not have the required format; nothing was sent.
    InvalidPinFormat {
        /// Which PIN.
        pin: PinRef,
        /// What is wrong.
        reason: String,
    },
    /// The operation needs a PIN verification first (`6982`).
    SecurityStatusNotSatisfied,
    /// The card refuses in its present state (`6985`): life cycle, service, profile.
    ConditionsNotSatisfied(String),
    /// The object (key, certificate, data) is not on the card (`6A82`/`6A88`).
    NotFound(String),
    /// Any other status word the card answered.
    Status {
        /// The command.
        command: &'static str,
        /// The status word.
        sw: u16,
    },
    /// The card's answer is malformed: truncated, oversized, out of order.
    InvalidResponse(String),
    /// pcscd is not running.
    PcscNotRunning,
    /// No reader is connected.
    NoReader,
    /// No reader has a card that answers with the Asan İmza applet.
    NoCard(String),
    /// A reader was named that does not exist or holds no Asan İmza card.
    ReaderNotFound(String),
    /// Several readers have an Asan İmza card; `--reader` must pick one.
    AmbiguousReader(Vec<String>),
    /// Another process holds the card exclusively.
    SharingViolation,
    /// The card or reader went away or stopped answering.
    Transport(String),
    /// A certificate on the card (or in a file) is broken.
    Certificate(String),
    /// The secure channel could not be opened or broke.
    SecureChannel(String),
    /// A file could not be read or written.
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A request the rules refuse (renewal), with the rule and its source.
    Refused(String),
    /// The virtual card's image cannot be used (its message names the file).
    VirtualCard(String),
    /// Bad input from the user (not a card problem).
    Usage(String),
    /// A signature, an authentication answer or a certificate is not valid,
    /// or not what it claims to be; says what and what failed.
    Verification(String),
    /// Another program sharing the reader kept disturbing an operation
    /// (see [`crate::card::Interference`]); it was given up.
    Interference(String),
    /// A time-stamping authority (RFC 3161) could not be reached, did not
    /// answer in time, refused the request, or answered with something
    /// that is not a good token for it; says which.
    Timestamp(String),
}

impl Error {
    /// The CLI's exit code: 3 wrong PIN, 4 blocked, 2 usage, 1 anything else
    /// (a time-stamping authority that fails included).
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::WrongPin { .. } => 3,
            Self::Blocked { .. } => 4,
            Self::Usage(_) | Self::InvalidPinFormat { .. } => 2,
            _ => 1,
        }
    }
}

/// The everyday name of a PIN.
pub fn pin_name(pin: PinRef) -> &'static str {
    match pin {
        PinRef::Pin1 => "PIN1",
        PinRef::Pin2 => "PIN2",
        PinRef::Puk => "PUK",
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WrongPin { pin, tries_left } => {
                let s = if *tries_left == 1 { "try" } else { "tries" };
                write!(f, "wrong {}, {tries_left} {s} left", pin_name(*pin))?;
                if *tries_left == 0 {
                    write!(f, "; it is now blocked")?;
                }
                Ok(())
            }
            Self::Blocked { pin: PinRef::Puk } => {
                f.write_str("the PUK is blocked; the SIM cannot be unblocked any more and must be replaced")
            }
            Self::Blocked { pin } => write!(
                f,
                "{} is blocked; unblock it with the PUK: asan pin unblock {}",
                pin_name(*pin),
                pin_name(*pin).to_lowercase()
            ),
            Self::InvalidPinFormat { pin, reason } => {
                write!(f, "invalid {}: {reason} (nothing was sent to the card)", pin_name(*pin))
            }
            Self::SecurityStatusNotSatisfied => {
                f.write_str("the card wants a PIN verification first (security status not satisfied)")
            }
            Self::ConditionsNotSatisfied(what) => write!(f, "the card refuses: {what}"),
            Self::NotFound(what) => write!(f, "not on the card: {what}"),
            Self::Status { command, sw } => write!(f, "{command} failed: the card answered {sw:04X}"),
            Self::InvalidResponse(what) => write!(f, "the card's answer is invalid: {what}"),
            Self::PcscNotRunning => f.write_str(
                "the PC/SC service is not running: start it with `sudo systemctl start pcscd` (or `sudo pcscd`)",
            ),
            Self::NoReader => f.write_str("no smart-card reader found: connect a reader (or start asan-vcard)"),
            Self::NoCard(detail) => write!(f, "no Asan İmza card found: {detail}"),
            Self::ReaderNotFound(name) => {
                write!(f, "no reader matching '{name}' holds an Asan İmza card; see `asan readers`")
            }
            Self::AmbiguousReader(names) => write!(
                f,
                "several readers hold an Asan İmza card ({}); pick one with --reader",
                names.join(", ")
            ),
            Self::SharingViolation => {
                f.write_str("another program is using the card exclusively; close it and try again")
            }
            Self::Transport(what) => write!(f, "communication with the card failed: {what}"),
            Self::Certificate(what) => write!(f, "certificate problem: {what}"),
            Self::SecureChannel(what) => write!(f, "secure channel: {what}"),
            Self::Io { path, source } => write!(f, "{path}: {source}"),
            Self::VirtualCard(what) | Self::Refused(what) => f.write_str(what),
            Self::Usage(what) => f.write_str(what),
            Self::Verification(what) => f.write_str(what),
            Self::Interference(what) => write!(
                f,
                "another program using the card kept disturbing the operation: {what}"
            ),
            Self::Timestamp(what) => write!(f, "time stamp: {what}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
