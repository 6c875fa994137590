//! The renewal package: the application and the contract "on the provision
//! of certificate services" that the system draws up from it, signed
//! together with the Asan İmza in force (procedure 3.1 step 8, 3.2.1 step
//! 9, 3.2.2 step 8) — one CMS signature over one JSON document, so one
//! PIN2. The exact bytes ([`RenewalPackage::to_bytes`]) are what is signed.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::body::ApplicationBody;
use super::rules::{Refusal, Rule};

/// The version of the package format (version 1 was an application
/// without a contract).
pub const PACKAGE_VERSION: u32 = 2;

/// The contract's title, as the procedure names it.
pub const CONTRACT_TITLE: &str = "Sertifikat xidmətlərinin göstərilməsinə dair Müqavilə";

/// The provider of the certificate services.
pub const PROVIDER: &str = "Asan Sertifikat Xidmətləri Mərkəzi (ASXM)";

/// The service term the contract is for, in years (3.1 step 10).
pub const TERM_YEARS: u32 = 3;

/// A party of the contract: the subscriber as their certificate names them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Party {
    /// The name (CN).
    pub name: String,
    /// The personal identification FIN (serialNumber).
    pub id: String,
}

/// The contract "on the provision of certificate services", drawn up from
/// the application (3.1 step 8): who, which certificates, for how long.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contract {
    /// [`CONTRACT_TITLE`].
    pub title: String,
    /// [`PROVIDER`].
    pub provider: String,
    /// The subscriber.
    pub subscriber: Party,
    /// The card (SIM) serial.
    pub card_serial: String,
    /// The certificates provided, as in the application.
    pub profiles: Vec<String>,
    /// The organisation's VÖEN, when the application names one.
    pub voen: Option<String>,
    /// [`TERM_YEARS`].
    pub term_years: u32,
    /// The SHA-256 (lower-case hex) of the application's JSON (compact
    /// serialisation): the application this contract belongs to.
    pub application_sha256: String,
    /// When it was drawn up (the application's `created`).
    pub created: String,
    /// The contract's text.
    pub text: String,
}

impl Contract {
    /// The contract the system draws up for `application` by `subscriber`.
    pub fn for_application(application: &ApplicationBody, subscriber: Party) -> Self {
        let profiles = application.requested_profiles.clone();
        let text = format!(
            "{PROVIDER} provides {} with the Asan İmza certificates {} on the SIM card {} for \
             {TERM_YEARS} years from their activation, under the law \"On electronic signature \
             and electronic document\"; the subscriber keeps PIN1, PIN2 and the PUK secret and \
             asks for revocation when the SIM card is lost.",
            subscriber.name,
            profiles.join(", "),
            application.serial,
        );
        Self {
            title: CONTRACT_TITLE.to_owned(),
            provider: PROVIDER.to_owned(),
            subscriber,
            card_serial: application.serial.clone(),
            profiles,
            voen: application.voen.clone(),
            term_years: TERM_YEARS,
            application_sha256: application_digest(application),
            created: application.created.clone(),
            text,
        }
    }
}

/// SHA-256 (lower-case hex) of an application's compact JSON.
pub fn application_digest(application: &ApplicationBody) -> String {
    let bytes = serde_json::to_vec(application).unwrap_or_default();
    hex::encode(Sha256::digest(bytes))
}

/// What is signed: the application and its contract.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenewalPackage {
    /// [`PACKAGE_VERSION`].
    pub version: u32,
    /// The application.
    pub application: ApplicationBody,
    /// The contract drawn up from it.
    pub contract: Contract,
}

impl RenewalPackage {
    /// The exact bytes that are signed: pretty JSON and a newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }

    /// Parses the signed bytes. Refuses, with the rule it breaks, what is
    /// not a version 2 package with both an application and a contract.
    pub fn parse(bytes: &[u8]) -> Result<Self, Refusal> {
        let refuse = |rule: Rule, why: String| Refusal::new(rule, why);
        let value: Value = serde_json::from_slice(bytes).map_err(|e| {
            refuse(
                Rule::Contract,
                format!("the signed content is not a renewal package (JSON): {e}"),
            )
        })?;
        let Some(object) = value.as_object() else {
            return Err(refuse(
                Rule::Contract,
                "the signed content is not a renewal package (a JSON object)".into(),
            ));
        };
        let version = object.get("version").and_then(Value::as_u64);
        if version != Some(u64::from(PACKAGE_VERSION)) {
            let why = match version {
                Some(1) => "a version 1 application has no contract: the application and the \
                     contract on the provision of certificate services are signed together"
                    .to_owned(),
                _ => format!(
                    "the package has version {}, this tool reads version {PACKAGE_VERSION}",
                    object.get("version").unwrap_or(&Value::Null)
                ),
            };
            return Err(refuse(Rule::Contract, why));
        }
        for part in ["application", "contract"] {
            if object.get(part).is_none_or(Value::is_null) {
                return Err(refuse(
                    Rule::Contract,
                    format!(
                        "the package has no {part}: the application and the contract on the \
                         provision of certificate services are signed together"
                    ),
                ));
            }
        }
        serde_json::from_value(value).map_err(|e| {
            refuse(
                Rule::Contract,
                format!("the renewal package is malformed: {e}"),
            )
        })
    }
}
