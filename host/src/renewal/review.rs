//! The outcome of the certification centre's review: every check made, the
//! decision (`accepted`, `pending`, `refused`), the state the application
//! is in, and how it reads as text and JSON.

use serde_json::{Value, json};

use super::baku::{format_baku, format_both};
use super::package::RenewalPackage;
use super::poa::{PoaDecision, short};
use super::request::State;
use super::rules::{Refusal, Rule};
use super::state::Application;
use super::time::format;

/// How far `created` in the application may be from the signing time: 5
/// minutes.
pub const CREATED_TOLERANCE: i64 = 300;

/// One check of a review.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReviewCheck {
    /// What was checked: `signature`, `signer`, `card`, `user id`, …
    pub name: &'static str,
    /// Whether it passed.
    pub ok: bool,
    /// What was found.
    pub detail: String,
    /// The rule checked, if it is one of the procedure's.
    pub rule: Option<Rule>,
}

/// The head's decision on the power of attorney, as the centre accepted it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeadDecision {
    /// Approved or cancelled.
    pub decision: PoaDecision,
    /// When the head decided (Unix seconds).
    pub at: i64,
    /// The head's FIN.
    pub head: String,
}

/// A certificate issued by the review.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedCertificate {
    /// `citizen`, `business` or `government`.
    pub profile: String,
    /// `auth` or `sign`.
    pub usage: String,
    /// Serial number, upper-case hex.
    pub serial_number: String,
    /// Expiry, RFC 3339.
    pub not_after: String,
    /// Where a copy was written, if asked.
    pub file: Option<String>,
}

/// The outcome of a review.
#[derive(Clone, Debug, Default)]
pub struct Review {
    /// The application's id: SHA-256 of its signed package (of the file
    /// when the package cannot be read).
    pub id: String,
    /// Every check made, in order; the review stops at the first failure.
    pub checks: Vec<ReviewCheck>,
    /// Why the application (or the decision presented with it) is refused.
    pub refusal: Option<Refusal>,
    /// The application and its state, once it passed the checks.
    pub application: Option<Application>,
    /// The signer's subject.
    pub signer: Option<String>,
    /// When it was sent (Unix seconds).
    pub sent: Option<i64>,
    /// Whether `sent` is a time-stamp's genTime (else the signing time).
    pub time_stamped: bool,
    /// The package, once read.
    pub package: Option<RenewalPackage>,
    /// The head's decision, once accepted.
    pub head_decision: Option<HeadDecision>,
    /// The certificates this review issued.
    pub issued: Vec<IssuedCertificate>,
    /// Requested profiles not issued, and why.
    pub not_issued: Option<String>,
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

    /// Records a failed check and refuses.
    pub fn fail(&mut self, name: &'static str, refusal: Refusal) {
        self.checks.push(ReviewCheck {
            name,
            ok: false,
            detail: refusal.reason.clone(),
            rule: Some(refusal.rule),
        });
        self.refusal = Some(refusal);
    }

    /// The state the application is in: its state machine's, `cancelled`
    /// when it never got that far.
    pub fn state_name(&self) -> &'static str {
        self.application
            .as_ref()
            .map_or("cancelled", |a| a.state().name())
    }

    /// `accepted` (processing, issued), `pending` (waiting for the head or
    /// for the service's prolongation) or `refused` (a check failed, or
    /// the application is cancelled).
    pub fn decision(&self) -> &'static str {
        if self.refusal.is_some() {
            return "refused";
        }
        match self.application.as_ref().map(Application::state) {
            Some(State::Processing | State::Issued) => "accepted",
            Some(
                State::AwaitingPowerOfAttorney
                | State::AwaitingServiceProlongation
                | State::Submitted,
            ) => "pending",
            Some(State::Cancelled(_)) | None => "refused",
        }
    }

    /// Why it is refused: the failed check's refusal, or the cancellation.
    pub fn reason(&self) -> Option<Refusal> {
        self.refusal
            .clone()
            .or_else(|| match self.application.as_ref().map(Application::state) {
                Some(State::Cancelled(r)) => Some(r.clone()),
                _ => None,
            })
    }

    /// The review as text, one line per check and the decision.
    pub fn lines(&self, now: i64) -> Vec<String> {
        let serial = self
            .package
            .as_ref()
            .map_or("?", |p| p.application.serial.as_str());
        let signer = self.signer.as_deref().unwrap_or("?");
        let mut lines = vec![format!(
            "application {} of card {serial} ({signer}), reviewed at {}",
            short(&self.id),
            format_both(now)
        )];
        for c in &self.checks {
            let step = c
                .rule
                .map(|r| format!(" [{}]", r.step()))
                .unwrap_or_default();
            let mark = if c.ok { "ok  " } else { "FAIL" };
            lines.push(format!("  {mark} {}: {}{step}", c.name, c.detail));
        }
        for c in &self.issued {
            let file = c
                .file
                .as_deref()
                .map(|f| format!(", written to {f}"))
                .unwrap_or_default();
            lines.push(format!(
                "  issued {} {} certificate {} until {}{file}",
                c.profile, c.usage, c.serial_number, c.not_after
            ));
        }
        if let Some(why) = &self.not_issued {
            lines.push(format!("  note {why}"));
        }
        let mut decision = format!("decision: {}, state {}", self.decision(), self.state_name());
        if let Some(r) = self.reason() {
            decision.push_str(&format!(": {r}"));
        }
        lines.push(decision);
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
        let app = self.application.as_ref();
        let poa = app.and_then(Application::power_of_attorney);
        let both = |t: Option<i64>| (t.map(format), t.map(format_baku));
        let (sent, sent_baku) = both(self.sent);
        let (poa_deadline, poa_deadline_baku) = both(poa.map(|p| p.deadline));
        let (prolong, prolong_baku) = both(app.map(Application::prolongation_deadline));
        let reason = self.reason();
        let issued: Vec<Value> = self
            .issued
            .iter()
            .map(|c| {
                json!({
                    "profile": c.profile,
                    "usage": c.usage,
                    "serial_number": c.serial_number,
                    "not_after": c.not_after,
                    "file": c.file,
                })
            })
            .collect();
        json!({
            "application": self.id,
            "decision": self.decision(),
            "state": self.state_name(),
            "reason": reason.as_ref().map(|r| r.reason.clone()),
            "step": reason.as_ref().map(|r| r.rule.step()),
            "serial": self.package.as_ref().map(|p| p.application.serial.clone()),
            "signer": self.signer,
            "sent": sent,
            "sent_baku": sent_baku,
            "sent_from": self.sent.map(|_| if self.time_stamped { "time-stamp" } else { "signing-time" }),
            "requested_profiles": self.package.as_ref().map(|p| p.application.requested_profiles.clone()),
            "power_of_attorney": self.head_decision.as_ref().map(|d| json!({
                "decision": d.decision.name(),
                "at": format(d.at),
                "at_baku": format_baku(d.at),
                "head": d.head,
            })),
            "power_of_attorney_deadline": poa_deadline,
            "power_of_attorney_deadline_baku": poa_deadline_baku,
            "prolongation_deadline": prolong,
            "prolongation_deadline_baku": prolong_baku,
            "issued": issued,
            "not_issued": self.not_issued,
            "checks": checks,
        })
    }
}
