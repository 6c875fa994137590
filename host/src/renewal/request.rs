//! What an application asks for ([`Request`]), the states it can be in
//! ([`State`]) and the deadlines of the procedure.

use std::fmt;

use asan_applet::ServiceType;

use super::body::{Contact, NumberKind, OrganisationData};
use super::profiles::ProfileSet;
use super::rules::{Refusal, Rule};
use super::window::Validity;

/// The head has this many calendar days (Baku time) after the day the
/// application was sent to approve the power of attorney.
pub const POWER_OF_ATTORNEY_DAYS: i64 = 30;
/// The subscriber has this many calendar days (Baku time) after the day
/// the service lapses to prolong it.
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
    /// The User ID of the card's activation notice (6 digits).
    pub user_id: Option<String>,
    /// Whether the Asan İmza number is personal or corporate.
    pub number: NumberKind,
    /// The Business or Governmental data of the application.
    pub organisation: Option<OrganisationData>,
}

/// Where an application is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// Signed and sent to the certification centre (directly, or after the
    /// head's approval); the centre has not received it yet.
    Submitted,
    /// In the cabinet of the head of the organisation, waiting for the
    /// approval of the power of attorney (30 days); it reaches the centre
    /// only once approved.
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

/// A Business or Governmental application, and one from a corporate
/// number, names a 10-digit VÖEN.
pub(super) fn check_voen(
    requested: ProfileSet,
    number: NumberKind,
    voen: Option<&str>,
) -> Result<(), Refusal> {
    match voen {
        Some(v) if is_voen(v) => Ok(()),
        Some(v) => Err(Refusal::new(
            Rule::Voen,
            format!("the VÖEN must be exactly 10 digits, not '{v}'"),
        )),
        None if requested.has_organisation() => Err(Refusal::new(
            Rule::Voen,
            format!("a {requested} application names the organisation's tax id VÖEN"),
        )),
        None if number == NumberKind::Corporate => Err(Refusal::new(
            Rule::CorporateNumber,
            "the Asan İmza number is corporate: give the organisation's VÖEN",
        )),
        None => Ok(()),
    }
}

/// Whether `v` is a VÖEN: exactly 10 ASCII digits.
pub fn is_voen(v: &str) -> bool {
    v.len() == 10 && v.bytes().all(|b| b.is_ascii_digit())
}

/// The User ID: exactly 6 ASCII digits (section 2).
pub(super) fn check_user_id(user_id: Option<&str>) -> Result<(), Refusal> {
    match user_id {
        Some(u) if u.len() == 6 && u.bytes().all(|b| b.is_ascii_digit()) => Ok(()),
        Some(u) => Err(Refusal::new(
            Rule::UserId,
            format!("the User ID is the 6-digit code of the activation notice, not '{u}'"),
        )),
        None => Err(Refusal::new(
            Rule::UserId,
            "give the User ID: the 6-digit code of the card's activation notice (asan ca notice)",
        )),
    }
}

/// A Business or Governmental application carries the organisation's data
/// (3.2.1 step 6); a Citizen application carries none.
pub(super) fn check_organisation(
    requested: ProfileSet,
    organisation: Option<&OrganisationData>,
) -> Result<(), Refusal> {
    match (requested.has_organisation(), organisation) {
        (true, Some(o)) => o.check(),
        (true, None) => Err(Refusal::new(
            Rule::OrganisationData,
            format!(
                "a {requested} application gives the organisation's name, the applicant's position, unit, the seal's text and the signing permissions"
            ),
        )),
        (false, Some(_)) => Err(Refusal::new(
            Rule::OrganisationData,
            "a Citizen application carries no organisation data",
        )),
        (false, None) => Ok(()),
    }
}
