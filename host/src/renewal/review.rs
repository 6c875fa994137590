//! The certification centre's side: an application's body and signer,
//! checked against the rules at the instant it was signed and at the
//! instant it is reviewed; the decision and the state it leaves the
//! application in.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::body::ApplicationBody;
use super::request::{Request, State};
use super::rules::{Refusal, Rule};
use super::state::Application;
use super::time::format;
use super::window::{Validity, Window};
use crate::cert;

/// How far `created` in the body may be from the signing time: 5 minutes.
pub const CREATED_TOLERANCE: i64 = 300;

/// One check of a review.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReviewCheck {
    /// What was checked: `signature`, `signer`, `window`, `move`, …
    pub name: &'static str,
    /// Whether it passed.
    pub ok: bool,
    /// What was found.
    pub detail: String,
    /// The rule checked, if it is one of the procedure's.
    pub rule: Option<Rule>,
}

/// The outcome of a review.
#[derive(Clone, Debug, Default)]
pub struct Review {
    /// Every check made, in order; the review stops at the first failure.
    pub checks: Vec<ReviewCheck>,
    /// Why the application is refused, if it is.
    pub refusal: Option<Refusal>,
    /// The application and its state, once it passed the checks at signing.
    pub application: Option<Application>,
    /// The signer's subject.
    pub signer: Option<String>,
    /// When it was signed (Unix seconds).
    pub signing_time: Option<i64>,
    /// The body, once read.
    pub body: Option<ApplicationBody>,
}

impl Review {
    /// Records a passed check.
    pub fn pass(&mut self, name: &'static str, detail: impl Into<String>, rule: Option<Rule>) {
        self.checks.push(ReviewCheck {
            name,
            ok: true,
            detail: detail.into(),
            rule,
        });
    }

    /// Records a failed check and refuses the application.
    pub fn fail(&mut self, name: &'static str, refusal: Refusal) {
        self.checks.push(ReviewCheck {
            name,
            ok: false,
            detail: refusal.reason.clone(),
            rule: Some(refusal.rule),
        });
        self.refusal = Some(refusal);
    }

    /// Whether the application is accepted (it may still wait for a power
    /// of attorney).
    pub fn accepted(&self) -> bool {
        self.refusal.is_none()
            && self
                .application
                .as_ref()
                .is_some_and(|a| !matches!(a.state(), State::Cancelled(_)))
    }

    /// The state the application is in, if it got that far.
    pub fn state(&self) -> Option<&State> {
        self.application.as_ref().map(Application::state)
    }

    /// The review as text, one line per check and the decision.
    pub fn lines(&self, now: i64) -> Vec<String> {
        let serial = self.body.as_ref().map_or("?", |b| b.serial.as_str());
        let signer = self.signer.as_deref().unwrap_or("?");
        let mut lines = vec![format!(
            "application of card {serial} ({signer}), reviewed at {}",
            format(now)
        )];
        for c in &self.checks {
            let step = c
                .rule
                .map(|r| format!(" [{}]", r.step()))
                .unwrap_or_default();
            let mark = if c.ok { "ok  " } else { "FAIL" };
            lines.push(format!("  {mark} {}: {}{step}", c.name, c.detail));
        }
        lines.push(match (&self.refusal, self.state()) {
            (Some(r), _) => format!("decision: refused: {r}"),
            (None, Some(s)) => format!("decision: accepted, state {s}"),
            (None, None) => "decision: refused".to_owned(),
        });
        lines
    }

    /// The review as JSON (see `docs/renewal.md`).
    pub fn to_json(&self) -> Value {
        let checks: Vec<Value> = self
            .checks
            .iter()
            .map(|c| {
                json!({
                    "check": c.name,
                    "ok": c.ok,
                    "detail": c.detail,
                    "step": c.rule.map(Rule::step),
                })
            })
            .collect();
        let poa = self
            .application
            .as_ref()
            .and_then(Application::power_of_attorney);
        json!({
            "decision": if self.accepted() { "accepted" } else { "refused" },
            "state": self.state().map_or("refused", State::name),
            "reason": self.refusal.as_ref().map(|r| r.reason.clone()),
            "step": self.refusal.as_ref().map(|r| r.rule.step()),
            "serial": self.body.as_ref().map(|b| b.serial.clone()),
            "signer": self.signer,
            "signing_time": self.signing_time.map(format),
            "requested_profiles": self.body.as_ref().map(|b| b.requested_profiles.clone()),
            "power_of_attorney_deadline": poa.map(|p| format(p.deadline)),
            "prolongation_deadline": self.application.as_ref().map(|a| format(a.prolongation_deadline())),
            "checks": checks,
        })
    }
}

/// Reviews `body`, signed at `signing_time` by the certificate
/// `signer_der`, at `now` (the signature itself is checked by the caller).
pub fn review_body(
    review: &mut Review,
    body: ApplicationBody,
    signer_der: &[u8],
    signing_time: i64,
    now: i64,
) {
    review.body = Some(body.clone());
    let signer = match check_signer(&body, signer_der) {
        Ok((validity, detail)) => {
            review.pass("signer", detail, Some(Rule::SignedWithCurrentKey));
            validity
        }
        Err(r) => return review.fail("signer", r),
    };
    match super::time::parse(&body.created) {
        Ok(created) if (created - signing_time).abs() <= CREATED_TOLERANCE => {}
        Ok(created) => {
            return review.fail(
                "created",
                Refusal::new(
                    Rule::SignedWithCurrentKey,
                    format!(
                        "the body says it was created at {}, the signature says {}",
                        format(created),
                        format(signing_time)
                    ),
                ),
            );
        }
        Err(e) => return review.fail("created", Refusal::new(Rule::SignedWithCurrentKey, e)),
    }
    if signing_time > now {
        return review.fail(
            "signing time",
            Refusal::new(
                Rule::SignedWithCurrentKey,
                format!(
                    "signed at {}, after the review time {}",
                    format(signing_time),
                    format(now)
                ),
            ),
        );
    }
    let request = match request_of(&body, signer) {
        Ok(r) => r,
        Err(r) => return review.fail("body", r),
    };
    let window = Window::at(signer, signing_time);
    if let Err(r) = window.check() {
        return review.fail("window at signing", r);
    }
    review.pass(
        "window at signing",
        format!(
            "signed at {}, inside the window {} to {}",
            format(signing_time),
            format(window.opens),
            format(window.closes)
        ),
        Some(Rule::RenewalWindow),
    );
    let mut app = match Application::submit(request, signing_time) {
        Ok(app) => app,
        Err(r) => {
            let name = match r.rule {
                Rule::Contact => "contact",
                Rule::Voen => "voen",
                _ => "move",
            };
            return review.fail(name, r);
        }
    };
    review.pass(
        "move",
        app.profile_move().to_string(),
        Some(Rule::ProfileMove),
    );
    let received = app.receive(now);
    match received {
        Ok(()) => {
            review.pass(
                "window at review",
                format!(
                    "received at {}, the certificate is still active",
                    format(now)
                ),
                Some(Rule::CertificateActive),
            );
            match app.power_of_attorney() {
                Some(p) => review.pass(
                    "power of attorney",
                    format!(
                        "needed (not the head): the head with VÖEN {} approves it by {}",
                        app.request().voen.as_deref().unwrap_or_default(),
                        format(p.deadline)
                    ),
                    Some(Rule::PowerOfAttorney),
                ),
                None => review.pass(
                    "power of attorney",
                    "not needed",
                    Some(Rule::PowerOfAttorney),
                ),
            }
        }
        Err(r) => review.fail("window at review", r),
    }
    review.application = Some(app);
}

/// The signer must be the Citizen signing certificate the body lists, as
/// listed (serial number and expiry).
fn check_signer(body: &ApplicationBody, signer_der: &[u8]) -> Result<(Validity, String), Refusal> {
    let refuse = |why: String| Refusal::new(Rule::SignedWithCurrentKey, why);
    let parsed = cert::parse(signer_der).map_err(|e| refuse(e.to_string()))?;
    let digest = hex::encode(Sha256::digest(signer_der));
    let listed = body
        .current_certificates
        .iter()
        .find(|c| c.sha256.eq_ignore_ascii_case(&digest))
        .ok_or_else(|| {
            refuse(
                "the signer's certificate is not one of the application's current certificates"
                    .into(),
            )
        })?;
    if listed.profile != "citizen" || listed.usage != "sign" {
        return Err(refuse(format!(
            "signed with the {} {} certificate; the application is signed with the Citizen signing key (PIN2)",
            listed.profile, listed.usage
        )));
    }
    let summary = cert::summary(&parsed, "citizen", "sign", 0);
    if !summary
        .serial_number
        .eq_ignore_ascii_case(&listed.serial_number)
        || summary.not_after != listed.not_after
    {
        return Err(refuse(
            "the listed serial number or expiry of the signer's certificate is not the certificate's".into(),
        ));
    }
    Ok((
        Validity::of(&parsed),
        format!(
            "the current Citizen signing certificate {} ({})",
            summary.serial_number, summary.subject
        ),
    ))
}

/// The state machine's request from a body and the signer's validity.
fn request_of(body: &ApplicationBody, signer: Validity) -> Result<Request, Refusal> {
    Ok(Request {
        service: body.service_type()?,
        current: body.current()?,
        requested: body.requested()?,
        signer,
        service_expires: signer.not_after,
        contact: Some(body.contact.clone()),
        voen: body.voen.clone(),
        head_of_organisation: body.head_of_organisation,
    })
}
