//! The head's decision on a power of attorney (procedure 3.2.2 steps
//! 10–13): approved or cancelled, never changed (step 13 note). The head
//! signs it with their own Asan İmza (`asan renew approve|cancel`); it
//! names the application by the SHA-256 of its signed package and repeats
//! the attorney's details, which must be the application's.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::body::Attorney;
use super::package::RenewalPackage;
use super::rules::{Refusal, Rule};

/// The version of the decision format.
pub const DECISION_VERSION: u32 = 1;

/// What the head decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PoaDecision {
    /// The power of attorney is approved: the application goes to the
    /// centre (3.2.2 step 14).
    Approved,
    /// The power of attorney is cancelled: so is the application.
    Cancelled,
}

impl PoaDecision {
    /// `approved` or `cancelled`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Approved => "approved",
            Self::Cancelled => "cancelled",
        }
    }
}

/// The signed decision's document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PowerOfAttorneyDecision {
    /// [`DECISION_VERSION`].
    pub version: u32,
    /// Approved or cancelled.
    pub decision: PoaDecision,
    /// The application: SHA-256 (lower-case hex) of its signed package.
    pub application: String,
    /// The applicant's card serial.
    pub card_serial: String,
    /// The organisation's VÖEN.
    pub voen: String,
    /// The organisation's name, as in the application.
    pub organisation: String,
    /// The person the power of attorney is for, as in the application.
    pub attorney: Attorney,
    /// The profiles applied for.
    pub requested_profiles: Vec<String>,
    /// When the head decided, RFC 3339.
    pub created: String,
}

/// The id of an application: SHA-256 (lower-case hex) of the exact bytes
/// of its signed package.
pub fn application_id(package_bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(package_bytes))
}

impl PowerOfAttorneyDecision {
    /// The head's `decision` at `created` on the application whose signed
    /// package is `package_bytes` (parsed as `package`). Refused when the
    /// application carries no power of attorney.
    pub fn for_package(
        package: &RenewalPackage,
        package_bytes: &[u8],
        decision: PoaDecision,
        created: String,
    ) -> Result<Self, Refusal> {
        let app = &package.application;
        let (Some(attorney), Some(voen)) = (&app.power_of_attorney, &app.voen) else {
            return Err(Refusal::new(
                Rule::PowerOfAttorney,
                "this application carries no power of attorney: it is a Citizen application or \
                 the head's own",
            ));
        };
        Ok(Self {
            version: DECISION_VERSION,
            decision,
            application: application_id(package_bytes),
            card_serial: app.serial.clone(),
            voen: voen.clone(),
            organisation: app
                .organisation
                .as_ref()
                .map(|o| o.name.clone())
                .unwrap_or_default(),
            attorney: attorney.clone(),
            requested_profiles: app.requested_profiles.clone(),
            created,
        })
    }

    /// The exact bytes that are signed: pretty JSON and a newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }

    /// Parses a signed decision (version 1, no unknown fields).
    pub fn parse(bytes: &[u8]) -> Result<Self, Refusal> {
        let decision: Self = serde_json::from_slice(bytes).map_err(|e| {
            Refusal::new(
                Rule::HeadSignsPowerOfAttorney,
                format!("the signed content is not a decision on a power of attorney: {e}"),
            )
        })?;
        if decision.version != DECISION_VERSION {
            return Err(Refusal::new(
                Rule::HeadSignsPowerOfAttorney,
                format!(
                    "the decision has version {}, this tool reads version {DECISION_VERSION}",
                    decision.version
                ),
            ));
        }
        Ok(decision)
    }

    /// Checks that the decision is about this application and repeats it
    /// unchanged: a power of attorney is approved or cancelled, never
    /// edited (3.2.2 step 13 note).
    pub fn check_against(
        &self,
        package: &RenewalPackage,
        package_bytes: &[u8],
    ) -> Result<(), Refusal> {
        let id = application_id(package_bytes);
        if self.application != id {
            return Err(Refusal::new(
                Rule::PowerOfAttorney,
                format!(
                    "the decision is about application {}, not this one ({})",
                    short(&self.application),
                    short(&id)
                ),
            ));
        }
        let expected =
            Self::for_package(package, package_bytes, self.decision, self.created.clone())?;
        if &expected != self {
            return Err(Refusal::new(
                Rule::HeadApprovesOrCancels,
                "the decision does not repeat the application's power of attorney as it is: the \
                 head approves or cancels it, changing it is not provided for",
            ));
        }
        Ok(())
    }
}

/// The first 16 hex digits of an id, for people.
pub fn short(id: &str) -> &str {
    id.get(..16).unwrap_or(id)
}
