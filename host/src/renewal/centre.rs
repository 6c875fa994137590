//! The certification centre's review of an application, from what it
//! knows: the signature, the facts ([`super::check`]), the head's decision
//! (presented now or recorded earlier), the card's service prolongation,
//! and its own journal of earlier reviews. The application's state is
//! rebuilt from those events every time, so a later event — the approval,
//! the prolongation, a deadline passing — moves it on when it is reviewed
//! again. Pure: the caller loads the records, issues what
//! [`Outcome::issue`] asks for and appends the journal records.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use asan_applet::ServiceType;

use super::baku::format_both;
use super::check::check_package;
use super::facts::{Facts, Signer};
use super::head::check_decision;
use super::package::RenewalPackage;
use super::poa::{PoaDecision, application_id};
use super::profiles::{ProfileSet, profile_from_name, service_from_name};
use super::review::{HeadDecision, Review};
use super::rules::{Refusal, Rule};
use super::signed::verify_document;
use super::state::Application;
use super::time::{format, parse};
use super::window::Window;
use crate::error::{Error, Result};
use crate::pki::TrustAnchors;
use crate::x509::{ActivatedCertificate, Revocation};

/// What the centre reviews with.
#[derive(Clone, Copy, Debug)]
pub struct Desk<'a> {
    /// The trust anchors (the CA's root).
    pub anchors: &'a TrustAnchors,
    /// The CA's revocations.
    pub revoked: &'a [Revocation],
    /// The registers.
    pub facts: Facts<'a>,
    /// The journal's records, oldest first.
    pub journal: &'a [Value],
}

/// Certificates the centre is to issue now (3.1 step 12).
#[derive(Clone, Debug)]
pub struct IssueOrder {
    /// The card.
    pub serial: String,
    /// The profiles to issue.
    pub profiles: ProfileSet,
    /// The card's certificates of those profiles, whose keys get new
    /// certificates.
    pub certificates: Vec<ActivatedCertificate>,
}

/// A review, the journal records it makes (events before the review
/// record, which [`review_record`] makes once issuing is done), and what
/// to issue.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The review.
    pub review: Review,
    /// New events for the journal.
    pub events: Vec<Value>,
    /// Certificates to issue.
    pub issue: Option<IssueOrder>,
}

/// One event in an application's life.
#[derive(Clone, Debug)]
enum Event {
    /// The head's decision, with its journal record when it is new.
    Decision(HeadDecision, Option<Value>),
    Receive(i64),
    Prolong(i64, ServiceType),
    Issue(i64),
}

impl Event {
    fn when(&self) -> (i64, u8) {
        match self {
            Self::Decision(d, _) => (d.at, 0),
            Self::Receive(t) => (*t, 1),
            Self::Prolong(t, _) => (*t, 2),
            Self::Issue(t) => (*t, 3),
        }
    }
}

fn time_of(record: &Value, key: &str) -> Option<i64> {
    record[key].as_str().and_then(|s| parse(s).ok())
}

/// The journal's record of a review.
pub fn review_record(review: &Review, now: i64) -> Value {
    let reason = review.reason();
    json!({
        "kind": "review",
        "application": review.id,
        "at": format(now),
        "serial": review.package.as_ref().map(|p| p.application.serial.clone()),
        "signer": review.signer,
        "requested_profiles": review.package.as_ref().map(|p| p.application.requested_profiles.clone()),
        "sent": review.sent.map(format),
        "decision": review.decision(),
        "state": review.state_name(),
        "reason": reason.as_ref().map(|r| r.reason.clone()),
        "step": reason.as_ref().map(|r| r.rule.step()),
    })
}

/// The journal's record of certificates issued for application `id`.
pub fn issued_record(
    id: &str,
    serial: &str,
    profiles: ProfileSet,
    certs: &[Value],
    now: i64,
) -> Value {
    let names: Vec<&str> = profiles
        .profiles()
        .into_iter()
        .map(crate::info::profile_name)
        .collect();
    json!({
        "kind": "issued",
        "application": id,
        "serial": serial,
        "at": format(now),
        "profiles": names,
        "certificates": certs,
    })
}

/// Reviews the signed application `signed` at `now`, with the head's
/// signed decision `decision` if one is presented. `Err` for what is not
/// the application's fault: a broken register entry, a review at an
/// instant before one the journal already has.
pub fn review(
    desk: &Desk<'_>,
    signed: &[u8],
    decision: Option<&[u8]>,
    now: i64,
) -> Result<Outcome> {
    let mut outcome = Outcome {
        review: Review::default(),
        events: Vec::new(),
        issue: None,
    };
    let review = &mut outcome.review;
    review.id = hex::encode(Sha256::digest(signed));
    let verified = match verify_document(
        signed,
        desk.anchors,
        desk.revoked,
        now,
        Rule::SignedWithCurrentKey,
    )? {
        Ok(v) => v,
        Err(r) => {
            review.fail("signature", r);
            return Ok(outcome);
        }
    };
    review.id = application_id(&verified.content);
    review.signer = Some(verified.signer.clone());
    review.sent = Some(verified.sent);
    review.time_stamped = verified.time_stamped;
    let history: Vec<&Value> = desk
        .journal
        .iter()
        .filter(|r| r["application"].as_str() == Some(review.id.as_str()))
        .collect();
    if let Some(last) = history
        .iter()
        .filter_map(|r| time_of(r, "recorded").or_else(|| time_of(r, "at")))
        .max()
        .filter(|t| *t > now)
    {
        return Err(Error::Usage(format!(
            "the journal already has a record of this application at {}: a review cannot be made at an earlier instant ({})",
            format(last),
            format(now)
        )));
    }
    let from = if verified.time_stamped {
        "time-stamp"
    } else {
        "signing time"
    };
    review.pass(
        "signature",
        format!(
            "valid ({} checks), sent at {} ({from}) by {}",
            verified.checks,
            format_both(verified.sent),
            verified.signer
        ),
        Some(Rule::SignedWithCurrentKey),
    );
    let package = match RenewalPackage::parse(&verified.content) {
        Ok(p) => p,
        Err(r) => {
            review.fail("package", r);
            return Ok(outcome);
        }
    };
    review.package = Some(package.clone());
    let signer = match Signer::of(&verified.signer_der, Rule::CertificateData) {
        Ok(s) => s,
        Err(r) => {
            review.fail("signer", r);
            return Ok(outcome);
        }
    };
    let Some(established) = check_package(
        review,
        &package,
        &signer,
        verified.signing_time,
        verified.sent,
        &desk.facts,
    ) else {
        return Ok(outcome);
    };
    let window = Window::at(signer.validity, verified.sent);
    let service_expires = established.request.service_expires;
    let mut app = match Application::submit(established.request, verified.sent) {
        Ok(app) => app,
        Err(r) => {
            let name = match r.rule {
                Rule::RenewalWindow | Rule::CertificateActive => "window at sending",
                Rule::Contact => "contact",
                Rule::Voen | Rule::CorporateNumber => "voen",
                Rule::OrganisationData => "organisation",
                Rule::UserId => "user id",
                _ => "move",
            };
            review.fail(name, r);
            return Ok(outcome);
        }
    };
    review.pass(
        "window at sending",
        format!(
            "sent at {}, inside the window {} to {}",
            format_both(verified.sent),
            format_both(window.opens),
            format_both(window.closes)
        ),
        Some(Rule::RenewalWindow),
    );
    review.pass(
        "move",
        app.profile_move().to_string(),
        Some(Rule::ProfileMove),
    );

    let mut events = Vec::new();
    let recorded_decision = history
        .iter()
        .find(|r| r["kind"] == "power_of_attorney")
        .copied();
    if let Some(r) = recorded_decision {
        let decision = if r["decision"] == "cancelled" {
            PoaDecision::Cancelled
        } else {
            PoaDecision::Approved
        };
        if let Some(at) = time_of(r, "at") {
            let d = HeadDecision {
                decision,
                at,
                head: r["head"].as_str().unwrap_or_default().to_owned(),
            };
            review.head_decision = Some(d.clone());
            events.push(Event::Decision(d, None));
        }
    }
    if let Some(signed_decision) = decision {
        let document = hex::encode(Sha256::digest(signed_decision));
        match recorded_decision {
            Some(r) if r["document"].as_str() == Some(document.as_str()) => {}
            Some(r) => review.fail(
                "power of attorney",
                Refusal::new(
                    Rule::HeadApprovesOrCancels,
                    format!(
                        "the head already {} the power of attorney on {}: a decision is made once",
                        r["decision"].as_str().unwrap_or("decided"),
                        r["at"].as_str().unwrap_or("?")
                    ),
                ),
            ),
            None => match check_decision(
                signed_decision,
                &package,
                &verified.content,
                desk.anchors,
                desk.revoked,
                &desk.facts,
                now,
            )? {
                Ok(checked) => {
                    let d = checked.decision;
                    let record = json!({
                        "kind": "power_of_attorney",
                        "application": review.id,
                        "decision": d.decision.name(),
                        "at": format(d.at),
                        "head": d.head,
                        "document": checked.document,
                        "recorded": format(now),
                    });
                    review.head_decision = Some(d.clone());
                    events.push(Event::Decision(d, Some(record)));
                }
                Err(r) => review.fail("power of attorney", r),
            },
        }
    }
    let received = history
        .iter()
        .find(|r| r["kind"] == "received")
        .and_then(|r| time_of(r, "at"));
    if let Some(t) = received {
        events.push(Event::Receive(t));
    }
    for period in &established.card.services {
        let (Ok((from, _)), Some(service)) = (period.span(), service_from_name(&period.service))
        else {
            continue;
        };
        if from >= service_expires && from <= now {
            events.push(Event::Prolong(from, service));
            break;
        }
    }
    let issued = history
        .iter()
        .find(|r| r["kind"] == "issued")
        .and_then(|r| time_of(r, "at"));
    if let Some(t) = issued {
        events.push(Event::Issue(t));
    }
    events.sort_by_key(Event::when);
    let voen = app.request().voen.clone().unwrap_or_default();
    for event in events {
        let (result, record) = match event {
            Event::Decision(d, record) => (
                match d.decision {
                    PoaDecision::Approved => app.approve_power_of_attorney(&voen, d.at),
                    PoaDecision::Cancelled => app.cancel_power_of_attorney(&voen, d.at),
                },
                record,
            ),
            Event::Receive(t) => (app.receive(t), None),
            Event::Prolong(t, s) => (app.service_prolonged(t, s), None),
            Event::Issue(t) => (app.issue(t).map(|_| ()), None),
        };
        match result {
            Ok(()) => outcome.events.extend(record),
            Err(r) if record.is_some() && review.refusal.is_none() && !app.state().is_final() => {
                review.fail("power of attorney", r);
            }
            Err(_) => {}
        }
    }
    if received.is_none() && app.receive(now).is_ok() {
        outcome.events.push(json!({
            "kind": "received",
            "application": review.id,
            "at": format(now),
        }));
    }
    app.tick(now);
    let issuable = app.state() == &super::request::State::Processing && app.prolonged().is_some();
    if issued.is_none()
        && issuable
        && let Ok(profiles) = app.issue(now)
    {
        review.not_issued = app.not_issued();
        let certificates = established
            .card
            .certificates
            .iter()
            .filter(|c| c.superseded.is_none())
            .filter(|c| profile_from_name(&c.profile).is_some_and(|p| profiles.contains(p)))
            .cloned()
            .collect();
        outcome.issue = Some(IssueOrder {
            serial: established.card.serial.clone(),
            profiles,
            certificates,
        });
    }
    review_power_of_attorney(review, &app);
    review.application = Some(app);
    Ok(outcome)
}

/// The line about the power of attorney: needed or not, decided or not.
fn review_power_of_attorney(review: &mut Review, app: &Application) {
    if review.checks.iter().any(|c| c.name == "power of attorney") {
        return;
    }
    let detail = match (app.power_of_attorney(), &review.head_decision) {
        (None, _) => "not needed".to_owned(),
        (Some(_), Some(d)) => format!(
            "{} by the registered head (FIN {}) on {}",
            d.decision.name(),
            d.head,
            format_both(d.at)
        ),
        (Some(p), None) => format!(
            "needed: in the cabinet of the head of the organisation (VÖEN {}), to approve by {}",
            app.request().voen.as_deref().unwrap_or_default(),
            format_both(p.deadline)
        ),
    };
    review.pass("power of attorney", detail, Some(Rule::PowerOfAttorney));
}
