//! The rules of the published procedure, each with the step it comes from,
//! and [`Refusal`]: a rule that says no, with the reason.
//!
//! Steps are cited as in the Azerbaijani procedure ("3.1 step 8 note" is
//! the *Qeyd* under step 8 of section 3.1); where the rule is only in the
//! FAQ, the FAQ is cited.

use std::fmt;

/// One rule of the online renewal procedure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rule {
    /// The application can be sent only in the last 30 days before the
    /// certificate expires.
    RenewalWindow,
    /// The application can be sent only while the certificate is active
    /// (valid and not yet expired); afterwards renewal is in person.
    CertificateActive,
    /// The application is signed with the Asan İmza in force (the
    /// subscriber's current signing key, PIN2).
    SignedWithCurrentKey,
    /// Notices go to one contact: an e-mail address or a mobile number.
    Contact,
    /// Business and Governmental applications name the organisation's
    /// tax id VÖEN.
    Voen,
    /// Which certificates a service type allows: Citizen → Citizen only;
    /// Business → Citizen and Business; Governmental → Citizen and
    /// Governmental.
    ServiceProfiles,
    /// The online moves between service types: to the same type, from
    /// Citizen to Business or Governmental, from Business or Governmental
    /// back to Citizen.
    ProfileMove,
    /// A Business or Governmental application by someone who is not the
    /// head of the organisation carries a power of attorney, sent to the
    /// head's cabinet by the VÖEN in the application.
    PowerOfAttorney,
    /// The head must approve the power of attorney within 30 days, or the
    /// application is cancelled.
    PowerOfAttorneyDeadline,
    /// The head approves or cancels the power of attorney; changing it is
    /// not provided for.
    HeadApprovesOrCancels,
    /// The signed application goes to the certification centre for
    /// processing (after the head's approval, when one is needed).
    SentForProcessing,
    /// The service is prolonged at the mobile operator after it lapses.
    ProlongAfterLapse,
    /// Within 30 days after the certificate (and service) expires the
    /// subscriber must have the service prolonged, or the application is
    /// cancelled and renewal is in person.
    ServiceProlongationDeadline,
    /// The certification centre processes the application once the
    /// service is active again.
    ProcessAfterProlongation,
    /// The centre activates the new certificates and sends them, the
    /// contract and the activation notice to the subscriber's cabinet.
    Issue,
}

impl Rule {
    /// Every rule, in the order of the procedure.
    pub const ALL: [Self; 15] = [
        Self::RenewalWindow,
        Self::CertificateActive,
        Self::SignedWithCurrentKey,
        Self::Contact,
        Self::Voen,
        Self::ServiceProfiles,
        Self::ProfileMove,
        Self::PowerOfAttorney,
        Self::PowerOfAttorneyDeadline,
        Self::HeadApprovesOrCancels,
        Self::SentForProcessing,
        Self::ProlongAfterLapse,
        Self::ServiceProlongationDeadline,
        Self::ProcessAfterProlongation,
        Self::Issue,
    ];

    /// The step of the procedure the rule comes from.
    pub const fn step(self) -> &'static str {
        match self {
            Self::RenewalWindow | Self::CertificateActive => "3.1 step 8 note",
            Self::SignedWithCurrentKey => "3.1 step 8",
            Self::Contact => "3.1 step 6",
            Self::Voen => "3.2.1 step 6",
            Self::ServiceProfiles => "FAQ, service type notice",
            Self::ProfileMove => "FAQ, online prolongation moves",
            Self::PowerOfAttorney => "3.2.2 step 9",
            Self::PowerOfAttorneyDeadline => "3.2.2 step 9 note",
            Self::HeadApprovesOrCancels => "3.2.2 step 13 note",
            Self::SentForProcessing => "3.1 step 9",
            Self::ProlongAfterLapse => "3.1 step 10",
            Self::ServiceProlongationDeadline => "3.1 step 9 note",
            Self::ProcessAfterProlongation => "3.1 step 11",
            Self::Issue => "3.1 step 12",
        }
    }

    /// The step with its source: `procedure 3.1 step 8 note`, or
    /// `FAQ, service type notice` for the rules only the FAQ states.
    pub fn citation(self) -> String {
        let step = self.step();
        if step.starts_with("FAQ") {
            step.to_owned()
        } else {
            format!("procedure {step}")
        }
    }

    /// The same rule in the other sections of the procedure.
    pub const fn parallel_steps(self) -> &'static str {
        match self {
            Self::RenewalWindow => "FAQ: \"during the last 30 days before the expiration date\"",
            Self::CertificateActive => "",
            Self::SignedWithCurrentKey => "3.2.1 step 9, 3.2.2 step 8",
            Self::Contact => "3.2.1 step 7",
            Self::Voen => "3.1 step 5 note, 3.2.2 step 9",
            Self::ServiceProfiles | Self::ProfileMove => "",
            Self::PowerOfAttorney => "3.2.2 steps 6-7",
            Self::PowerOfAttorneyDeadline => "",
            Self::HeadApprovesOrCancels => "3.2.2 steps 10-13",
            Self::SentForProcessing => "3.2.1 step 10, 3.2.2 step 14",
            Self::ProlongAfterLapse => "3.2.1 step 11, 3.2.2 step 15; FAQ step 3",
            Self::ServiceProlongationDeadline => {
                "3.2.1 step 10 note, 3.2.2 step 14 note; FAQ \"1 month + 1 day\""
            }
            Self::ProcessAfterProlongation => "3.2.1 step 12, 3.2.2 step 16",
            Self::Issue => "3.2.1 step 13, 3.2.2 step 17",
        }
    }

    /// The rule in one line, in our words.
    pub const fn summary(self) -> &'static str {
        match self {
            Self::RenewalWindow => {
                "an application can be sent only in the last 30 days before the certificate expires"
            }
            Self::CertificateActive => {
                "an application can be sent only while the certificate is active; an expired certificate is renewed in person"
            }
            Self::SignedWithCurrentKey => {
                "the application is signed with the Asan İmza in force: the current Citizen signing key (PIN2)"
            }
            Self::Contact => "notices go to one contact: an e-mail address or a mobile number",
            Self::Voen => {
                "a Business or Governmental application names the organisation's tax id VÖEN (10 digits)"
            }
            Self::ServiceProfiles => {
                "Citizen service: Citizen only; Business: Citizen and Business; Governmental: Citizen and Governmental"
            }
            Self::ProfileMove => {
                "online moves: to the same service type, Citizen to Citizen + Business or Citizen + Governmental, and back to Citizen"
            }
            Self::PowerOfAttorney => {
                "someone who is not the head of the organisation needs a power of attorney, sent to the head identified by the VÖEN"
            }
            Self::PowerOfAttorneyDeadline => {
                "the head approves the power of attorney within 30 days, or the application is cancelled"
            }
            Self::HeadApprovesOrCancels => {
                "the head approves or cancels the power of attorney; changing it is not provided for"
            }
            Self::SentForProcessing => {
                "the signed application goes to the certification centre for processing (after the head's approval, when needed)"
            }
            Self::ProlongAfterLapse => {
                "the service is prolonged at the mobile operator after it lapses"
            }
            Self::ServiceProlongationDeadline => {
                "within 30 days after expiry the service must be prolonged, or the application is cancelled and renewal is in person"
            }
            Self::ProcessAfterProlongation => {
                "the certification centre processes the application once the service is active again"
            }
            Self::Issue => {
                "the centre activates the new certificates and sends them to the cabinet"
            }
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.step())
    }
}

/// A rule that says no: which rule, and why in this case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The rule.
    pub rule: Rule,
    /// Why, in this case (without the step; [`Display`](fmt::Display)
    /// appends it).
    pub reason: String,
}

impl Refusal {
    /// A refusal by `rule` because of `reason`.
    pub fn new(rule: Rule, reason: impl Into<String>) -> Self {
        Self {
            rule,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.reason, self.rule.citation())
    }
}

impl std::error::Error for Refusal {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_cites_a_step_and_says_something() {
        for rule in Rule::ALL {
            assert!(!rule.step().is_empty(), "{rule:?}");
            assert!(rule.summary().len() > 20, "{rule:?}");
        }
        let r = Refusal::new(Rule::PowerOfAttorneyDeadline, "not approved in 30 days");
        assert_eq!(
            r.to_string(),
            "not approved in 30 days (procedure 3.2.2 step 9 note)"
        );
    }
}
