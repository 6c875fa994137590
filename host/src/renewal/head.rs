//! The centre's check of the head's decision on a power of attorney: the
//! decision is signed by the registered head of the organisation the
//! application names, with the organisation's certificate valid when they
//! signed it (procedure 3.2.2 steps 10–13), and it repeats the
//! application's power of attorney unchanged (step 13 note). Whether it
//! came in time (step 9 note) is the state machine's business.

use asan_applet::CertificateProfile;
use sha2::{Digest, Sha256};

use super::facts::{Facts, Signer};
use super::package::RenewalPackage;
use super::poa::PowerOfAttorneyDecision;
use super::profiles::label;
use super::review::HeadDecision;
use super::rules::{Refusal, Rule};
use super::signed::verify_document;
use crate::error::Result;
use crate::pki::TrustAnchors;
use crate::x509::Revocation;

/// A decision the centre accepts as the head's.
#[derive(Clone, Debug)]
pub struct CheckedDecision {
    /// What, when and who.
    pub decision: HeadDecision,
    /// SHA-256 (hex) of the signed decision as received.
    pub document: String,
}

/// Checks the signed decision `signed` on the application whose package is
/// `package` (signed bytes `package_bytes`), at `now`.
#[allow(clippy::too_many_arguments)]
pub fn check_decision(
    signed: &[u8],
    package: &RenewalPackage,
    package_bytes: &[u8],
    anchors: &TrustAnchors,
    revoked: &[Revocation],
    facts: &Facts<'_>,
    now: i64,
) -> Result<std::result::Result<CheckedDecision, Refusal>> {
    let rule = Rule::HeadSignsPowerOfAttorney;
    let verified = match verify_document(signed, anchors, revoked, now, rule)? {
        Ok(v) => v,
        Err(r) => return Ok(Err(r)),
    };
    let checked = PowerOfAttorneyDecision::parse(&verified.content)
        .and_then(|d| d.check_against(package, package_bytes).map(|()| d))
        .and_then(|d| {
            let head = Signer::of(&verified.signer_der, rule)?;
            check_head(&head, package, facts)?;
            Ok(CheckedDecision {
                decision: HeadDecision {
                    decision: d.decision,
                    at: verified.sent,
                    head: head.id,
                },
                document: hex::encode(Sha256::digest(signed)),
            })
        });
    Ok(checked)
}

/// The head signed with the organisation's certificate (Business:
/// organisationIdentifier = the VÖEN; Governmental: activated for the VÖEN)
/// and is the head the register names for the VÖEN.
fn check_head(
    head: &Signer,
    package: &RenewalPackage,
    facts: &Facts<'_>,
) -> std::result::Result<(), Refusal> {
    let app = &package.application;
    let requested = app.requested()?;
    let profile = if requested.business {
        CertificateProfile::Business
    } else {
        CertificateProfile::Governmental
    };
    let voen = app.voen.as_deref().unwrap_or_default();
    let refuse = |rule: Rule, why: String| Err(Refusal::new(rule, why));
    if head.profile != profile {
        return refuse(
            Rule::HeadSignsPowerOfAttorney,
            format!(
                "the head signs with the {} certificate of the organisation (procedure 3.2.2 step 11), not a {} one",
                label(profile),
                label(head.profile)
            ),
        );
    }
    let for_voen = match profile {
        CertificateProfile::Business => head.voen.clone(),
        _ => facts.card_of(&head.sha256).and_then(|c| c.voen.clone()),
    };
    if for_voen.as_deref() != Some(voen) {
        return refuse(
            Rule::HeadSignsPowerOfAttorney,
            format!(
                "the decision is signed with a {} certificate for VÖEN {}, the application names VÖEN {voen}",
                label(profile),
                for_voen.as_deref().unwrap_or("none")
            ),
        );
    }
    let Some(org) = facts.organisation(voen) else {
        return refuse(
            Rule::RegisteredHead,
            format!("VÖEN {voen} is not in the centre's register of organisations"),
        );
    };
    if org.head != head.id {
        return refuse(
            Rule::RegisteredHead,
            format!(
                "the decision is signed by FIN {} ({}), who is not the registered head of {} (VÖEN {voen}): only the head approves or cancels the power of attorney",
                head.id, head.name, org.name
            ),
        );
    }
    Ok(())
}
