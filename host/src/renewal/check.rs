//! The centre checks facts, not claims: an application is compared with
//! the validated signer certificate (its profile from the certificate
//! policy, its FIN, its organisation identifier) and with the centre's own
//! records — the card the certificate was activated on, the card's User
//! ID, certificates and service, the register of organisations and their
//! heads (procedure 3.1 step 5 note: these data are filled in by the
//! system, not by the applicant).

use asan_applet::CertificateProfile;

use super::body::{ApplicationBody, Attorney, signing_profile};
use super::facts::{Facts, Signer};
use super::package::{Contract, RenewalPackage};
use super::profiles::{ProfileSet, label, profile_from_name, service_from_name};
use super::request::Request;
use super::review::{CREATED_TOLERANCE, Review};
use super::rules::{Refusal, Rule};
use super::time::{format, parse};
use crate::x509::CardRecord;

/// What the facts establish about an application.
#[derive(Clone, Debug)]
pub struct Established {
    /// The state machine's request, from facts where there are facts.
    pub request: Request,
    /// The card's record.
    pub card: CardRecord,
    /// Whether the signer is the registered head of the organisation.
    pub head: bool,
}

/// Runs `f`, recording a passed check `name` with its detail, or the
/// failure; `None` on failure.
fn step<T>(
    review: &mut Review,
    name: &'static str,
    rule: Rule,
    f: impl FnOnce() -> Result<(T, String), Refusal>,
) -> Option<T> {
    match f() {
        Ok((value, detail)) => {
            review.pass(name, detail, Some(rule));
            Some(value)
        }
        Err(r) => {
            review.fail(name, r);
            None
        }
    }
}

/// Checks the package signed at `signing_time` (claim) and sent at `sent`
/// by `signer` against the facts; records every check in `review`.
pub fn check_package(
    review: &mut Review,
    package: &RenewalPackage,
    signer: &Signer,
    signing_time: i64,
    sent: i64,
    facts: &Facts<'_>,
) -> Option<Established> {
    let app = &package.application;
    step(review, "signer", Rule::CertificateData, || {
        check_signer(app, signer)
    })?;
    let card = step(review, "card", Rule::CertificateData, || {
        check_card(app, signer, facts)
    })?;
    step(review, "user id", Rule::UserId, || {
        if app.user_id == card.user_id {
            Ok(((), "the User ID of the card's activation notice".to_owned()))
        } else {
            Err(Refusal::new(
                Rule::UserId,
                format!(
                    "the User ID {} is not the one of card {}'s activation notice",
                    app.user_id, card.serial
                ),
            ))
        }
    })?;
    let (current, service_expires) = step(
        review,
        "current certificates",
        Rule::CertificateData,
        || check_current(app, &card, sent),
    )?;
    step(review, "created", Rule::SignedWithCurrentKey, || {
        check_created(app, signing_time)
    })?;
    step(review, "voen", Rule::CertificateData, || {
        check_voen_fact(app, signer, &card)
    })?;
    let head = step(review, "head", Rule::RegisteredHead, || {
        check_head(app, signer, facts)
    })?;
    step(review, "contract", Rule::Contract, || {
        check_contract(package, signer)
    })?;
    let request = match request_of(app, signer, current, service_expires, head) {
        Ok(r) => r,
        Err(r) => {
            review.fail("body", r);
            return None;
        }
    };
    Some(Established {
        request,
        card,
        head,
    })
}

fn refuse<T>(why: String) -> Result<T, Refusal> {
    Err(Refusal::new(Rule::CertificateData, why))
}

/// The signer's profile is the certificate's (its policy), the one the body
/// names, the one the listing gives it, and the one that signs such an
/// application.
fn check_signer(app: &ApplicationBody, signer: &Signer) -> Result<((), String), Refusal> {
    let actual = label(signer.profile);
    let said = app.signer()?;
    if said != signer.profile {
        return refuse(format!(
            "the signer's certificate is a {actual} certificate (its certificate policy), the application presents it as {}",
            label(said)
        ));
    }
    let listed = app
        .current_certificates
        .iter()
        .find(|c| c.sha256.eq_ignore_ascii_case(&signer.sha256));
    match listed {
        Some(c) if profile_from_name(&c.profile) == Some(signer.profile) && c.usage == "sign" => {}
        Some(c) => {
            return refuse(format!(
                "the signer's certificate is a {actual} signing certificate, the application lists it as {} {}",
                c.profile, c.usage
            ));
        }
        None => {
            return refuse(
                "the signer's certificate is not one of the application's current certificates"
                    .into(),
            );
        }
    }
    let expected = signing_profile(app.requested()?, app.current()?);
    if expected != signer.profile {
        return Err(Refusal::new(
            Rule::SignedWithCurrentKey,
            format!(
                "an application for {} from a card with {} is signed with the {} signing certificate, not the {actual} one",
                app.requested()?,
                app.current()?,
                label(expected)
            ),
        ));
    }
    Ok((
        (),
        format!(
            "the {actual} signing certificate {} of {} (profile from its certificate policy)",
            signer.serial_number, signer.name
        ),
    ))
}

/// The card the signer's certificate was activated on is the application's.
fn check_card(
    app: &ApplicationBody,
    signer: &Signer,
    facts: &Facts<'_>,
) -> Result<(CardRecord, String), Refusal> {
    let Some(card) = facts.card_of(&signer.sha256) else {
        return refuse(format!(
            "the centre has no record of the signer's certificate {} being activated on a card",
            signer.serial_number
        ));
    };
    if !card.serial.eq_ignore_ascii_case(&app.serial) {
        return refuse(format!(
            "the signer's certificate was activated on card {}, the application names card {}",
            card.serial, app.serial
        ));
    }
    Ok((
        card.clone(),
        format!("card {}, activated {}", card.serial, card.activated),
    ))
}

/// The listed certificates are the card's when it was sent, and the
/// service type is the card's then. Returns the profiles and the service's
/// lapse.
fn check_current(
    app: &ApplicationBody,
    card: &CardRecord,
    sent: i64,
) -> Result<((ProfileSet, i64), String), Refusal> {
    let mut recorded: Vec<(String, String, String)> = card
        .certificates_at(sent)
        .iter()
        .map(|c| {
            (
                c.profile.clone(),
                c.usage.clone(),
                c.sha256.to_ascii_lowercase(),
            )
        })
        .collect();
    let mut listed: Vec<(String, String, String)> = app
        .current_certificates
        .iter()
        .map(|c| {
            (
                c.profile.clone(),
                c.usage.clone(),
                c.sha256.to_ascii_lowercase(),
            )
        })
        .collect();
    recorded.sort();
    listed.sort();
    if recorded != listed {
        let missing = recorded.iter().filter(|c| !listed.contains(c)).count();
        let foreign = listed.iter().filter(|c| !recorded.contains(c)).count();
        return refuse(format!(
            "the listed certificates are not the card's when it was sent ({missing} of the card's missing, {foreign} not the card's)"
        ));
    }
    for c in &app.current_certificates {
        let fact = card.certificate(&c.sha256);
        if !fact.is_some_and(|f| {
            f.serial_number.eq_ignore_ascii_case(&c.serial_number) && f.not_after == c.not_after
        }) {
            return refuse(format!(
                "the listed serial number or expiry of the {} {} certificate is not the certificate's",
                c.profile, c.usage
            ));
        }
    }
    let period = card.service_at(sent).ok_or_else(|| {
        Refusal::new(
            Rule::CertificateData,
            "the card had no service when it was sent",
        )
    })?;
    if service_from_name(&period.service) != Some(app.service_type()?) {
        return refuse(format!(
            "the application says the card's service is {}, the centre's record says {}",
            app.service, period.service
        ));
    }
    let (_, until) = period
        .span()
        .map_err(|e| Refusal::new(Rule::CertificateData, e.to_string()))?;
    let mut profiles = ProfileSet::default();
    for (p, _, _) in &recorded {
        if let Some(p) = profile_from_name(p) {
            profiles.insert(p);
        }
    }
    Ok((
        (profiles, until),
        format!(
            "{} certificates, as the centre activated them; {} service until {}",
            recorded.len(),
            period.service,
            period.until
        ),
    ))
}

/// `created` is the signing time (within 5 minutes).
fn check_created(app: &ApplicationBody, signing_time: i64) -> Result<((), String), Refusal> {
    let refuse = |why: String| Refusal::new(Rule::SignedWithCurrentKey, why);
    let created = parse(&app.created).map_err(refuse)?;
    if (created - signing_time).abs() > CREATED_TOLERANCE {
        return Err(refuse(format!(
            "the application says it was created at {}, the signature says {}",
            format(created),
            format(signing_time)
        )));
    }
    Ok(((), format!("{} (the signing time)", app.created)))
}

/// The VÖEN is the signer certificate's organisation identifier (Business)
/// or the one the centre recorded when it activated the card
/// (Governmental certificates carry none).
fn check_voen_fact(
    app: &ApplicationBody,
    signer: &Signer,
    card: &CardRecord,
) -> Result<((), String), Refusal> {
    let said = app.voen.as_deref();
    match signer.profile {
        CertificateProfile::Business => {
            if signer.voen.as_deref() != said {
                return refuse(format!(
                    "the application names VÖEN {}, the signer's Business certificate is for VÖEN {}",
                    said.unwrap_or("none"),
                    signer.voen.as_deref().unwrap_or("none")
                ));
            }
            Ok((
                (),
                format!(
                    "{} = the certificate's organisationIdentifier",
                    said.unwrap_or("")
                ),
            ))
        }
        CertificateProfile::Governmental => {
            if card.voen.as_deref() != said || said.is_none() {
                return refuse(format!(
                    "the application names VÖEN {}, the centre activated the Governmental card for VÖEN {}",
                    said.unwrap_or("none"),
                    card.voen.as_deref().unwrap_or("none")
                ));
            }
            Ok((
                (),
                format!(
                    "{} = the VÖEN the card was activated for",
                    said.unwrap_or("")
                ),
            ))
        }
        CertificateProfile::Citizen => Ok((
            (),
            match said {
                Some(v) => format!(
                    "{v} (no certificate of the organisation yet: checked against the register)"
                ),
                None => "none named".to_owned(),
            },
        )),
    }
}

/// Who heads the organisation is the register's word; a non-head's
/// application names the applicant as the attorney.
fn check_head(
    app: &ApplicationBody,
    signer: &Signer,
    facts: &Facts<'_>,
) -> Result<(bool, String), Refusal> {
    let requested = app.requested()?;
    let attorney = Attorney {
        name: signer.name.clone(),
        id: signer.id.clone(),
    };
    if !requested.has_organisation() {
        if app.power_of_attorney.is_some() {
            return Err(Refusal::new(
                Rule::PowerOfAttorney,
                "a Citizen application carries no power of attorney",
            ));
        }
        return Ok((false, "a Citizen application: no head involved".to_owned()));
    }
    let refuse = |why: String| Err(Refusal::new(Rule::RegisteredHead, why));
    let voen = app.voen.as_deref().unwrap_or_default();
    let Some(org) = facts.organisation(voen) else {
        return refuse(format!(
            "VÖEN {voen} is not in the centre's register of organisations (asan ca org add)"
        ));
    };
    let head = org.head == signer.id;
    match (app.head_of_organisation, head) {
        (true, false) => refuse(format!(
            "the application says its signer (FIN {}) heads {} (VÖEN {voen}), but the centre's register names another head: an employee's application carries a power of attorney (procedure 3.2.2 steps 6-13)",
            signer.id, org.name
        )),
        (false, true) => refuse(format!(
            "the centre's register names the signer (FIN {}) the head of {} (VÖEN {voen}): the head applies without a power of attorney (procedure 3.2.1)",
            signer.id, org.name
        )),
        (true, true) => {
            if app.power_of_attorney.is_some() {
                return Err(Refusal::new(
                    Rule::PowerOfAttorney,
                    "the head's application carries no power of attorney",
                ));
            }
            Ok((
                true,
                format!(
                    "the signer is the registered head of {} (VÖEN {voen})",
                    org.name
                ),
            ))
        }
        (false, false) => {
            if app.power_of_attorney.as_ref() != Some(&attorney) {
                return Err(Refusal::new(
                    Rule::PowerOfAttorney,
                    format!(
                        "the power of attorney is for the applicant as their certificate names them ({}, FIN {}) (procedure 3.2.2 step 6)",
                        attorney.name, attorney.id
                    ),
                ));
            }
            Ok((
                false,
                format!(
                    "not the head of {} (VÖEN {voen}): a power of attorney for {} goes to the registered head",
                    org.name, attorney.name
                ),
            ))
        }
    }
}

/// The contract is the one the system draws up for this application and
/// signer.
fn check_contract(package: &RenewalPackage, signer: &Signer) -> Result<((), String), Refusal> {
    let expected = Contract::for_application(&package.application, signer.party());
    if package.contract != expected {
        return Err(Refusal::new(
            Rule::Contract,
            "the contract is not the one drawn up for this application and subscriber",
        ));
    }
    Ok((
        (),
        format!(
            "{} for {}, {} years",
            expected.title,
            expected.profiles.join(", "),
            expected.term_years
        ),
    ))
}

/// The state machine's request: facts where the centre has them.
fn request_of(
    app: &ApplicationBody,
    signer: &Signer,
    current: ProfileSet,
    service_expires: i64,
    head: bool,
) -> Result<Request, Refusal> {
    Ok(Request {
        service: app.service_type()?,
        current,
        requested: app.requested()?,
        signer: signer.validity,
        service_expires,
        contact: Some(app.contact.clone()),
        voen: app.voen.clone(),
        head_of_organisation: head,
        user_id: Some(app.user_id.clone()),
        number: app.number,
        organisation: app.organisation.clone(),
    })
}
