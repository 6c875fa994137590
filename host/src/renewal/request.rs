//! What an application asks for ([`Request`]), the states it can be in
//! ([`State`]) and the deadlines of the procedure.

use std::fmt;

use asan_applet::ServiceType;

use super::body::Contact;
use super::profiles::ProfileSet;
use super::rules::{Refusal, Rule};
use super::window::Validity;

/// The head has this long after submission to approve a power of attorney.
pub const POWER_OF_ATTORNEY_DAYS: i64 = 30;
/// The subscriber has this long after the service lapses to prolong it.
pub const PROLONGATION_DAYS: i64 = 30;

/// What the subscriber asks for, and the facts the rules need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The card's service type now.
    pub service: ServiceType,
    /// Profiles that have certificates now.
    pub current: ProfileSet,
    /// Profiles wanted after renewal.
    pub requested: ProfileSet,
    /// Validity of the certificate that signs (the Citizen signing one).
    pub signer: Validity,
    /// When the service period lapses: the signing certificate's expiry
    /// (the procedure counts the 30 days from the certificate's expiry).
    pub service_expires: i64,
    /// Where notices go.
    pub contact: Option<Contact>,
    /// The organisation's tax id.
    pub voen: Option<String>,
    /// Whether the applicant heads the organisation.
    pub head_of_organisation: bool,
}

/// Where an application is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// Signed and sent; the certification centre has not received it yet.
    Submitted,
    /// Waiting for the head of the organisation to approve the power of
    /// attorney (30 days).
    AwaitingPowerOfAttorney,
    /// The service has lapsed; waiting for the subscriber to prolong it at
    /// the mobile operator (30 days).
    AwaitingServiceProlongation,
    /// At the certification centre; certificates are issued once the
    /// service is prolonged.
    Processing,
    /// New certificates issued.
    Issued,
    /// Cancelled, with the rule and the reason.
    Cancelled(Refusal),
}

impl State {
    /// The state's name in JSON: `submitted`, `awaiting_power_of_attorney`, …
    pub fn name(&self) -> &'static str {
        match self {
            Self::Submitted => "submitted",
            Self::AwaitingPowerOfAttorney => "awaiting_power_of_attorney",
            Self::AwaitingServiceProlongation => "awaiting_service_prolongation",
            Self::Processing => "processing",
            Self::Issued => "issued",
            Self::Cancelled(_) => "cancelled",
        }
    }

    /// Whether nothing more can happen.
    pub fn is_final(&self) -> bool {
        matches!(self, Self::Issued | Self::Cancelled(_))
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Submitted => f.write_str("Submitted"),
            Self::AwaitingPowerOfAttorney => f.write_str("AwaitingPowerOfAttorney"),
            Self::AwaitingServiceProlongation => f.write_str("AwaitingServiceProlongation"),
            Self::Processing => f.write_str("Processing"),
            Self::Issued => f.write_str("Issued"),
            Self::Cancelled(r) => write!(f, "Cancelled: {r}"),
        }
    }
}

/// A power of attorney for the head's approval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PowerOfAttorney {
    /// The last second the head may approve it.
    pub deadline: i64,
    /// When the head approved it.
    pub approved: Option<i64>,
}

/// A Business or Governmental application names a 10-digit VÖEN.
pub(super) fn check_voen(requested: ProfileSet, voen: Option<&str>) -> Result<(), Refusal> {
    match voen {
        Some(v) if v.len() == 10 && v.bytes().all(|b| b.is_ascii_digit()) => Ok(()),
        Some(v) => Err(Refusal::new(
            Rule::Voen,
            format!("the VÖEN must be exactly 10 digits, not '{v}'"),
        )),
        None if requested.has_organisation() => Err(Refusal::new(
            Rule::Voen,
            format!("a {requested} application names the organisation's tax id VÖEN"),
        )),
        None => Ok(()),
    }
}
