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
    /// The application names the subscriber's User ID: the 6-digit code of
    /// the activation notice, one per SIM card.
    UserId,
    /// The certificate and Asan İmza data are filled in from the centre's
    /// records, not by the applicant: the signer's certificate and its
    /// profile, the card, its current certificates, the VÖEN of the
    /// certificate.
    CertificateData,
    /// A corporate Asan İmza number needs the organisation's VÖEN, also in
    /// a Citizen application.
    CorporateNumber,
    /// The application can be sent only in the last 30 days before the
    /// certificate expires.
    RenewalWindow,
    /// The application can be sent only while the certificate is active
    /// (valid and not yet expired); afterwards renewal is in person.
    CertificateActive,
    /// The application is signed with the Asan İmza in force (the
    /// subscriber's current signing key, PIN2).
    SignedWithCurrentKey,
    /// The application and the contract on the provision of certificate
    /// services are both signed.
    Contract,
    /// Notices go to one contact: an e-mail address or a mobile number.
    Contact,
    /// Business and Governmental applications name the organisation's
    /// tax id VÖEN.
    Voen,
    /// Business and Governmental applications give the organisation's
    /// name, the applicant's position and unit, the seal's text and the
    /// applicant's signing permissions.
    OrganisationData,
    /// Which certificates a service type allows: Citizen → Citizen only;
    /// Business → Citizen and Business; Governmental → Citizen and
    /// Governmental.
    ServiceProfiles,
    /// The online moves between service types: to the same type, from
    /// Citizen to Business or Governmental, from Business or Governmental
    /// back to Citizen.
    ProfileMove,
    /// Who heads an organisation is the centre's knowledge (its register
    /// by VÖEN): the applicant is the head when their certificate's
    /// serialNumber is the registered head's.
    RegisteredHead,
    /// A Business or Governmental application by someone who is not the
    /// head of the organisation carries a power of attorney, sent to the
    /// head's cabinet by the VÖEN in the application.
    PowerOfAttorney,
    /// The head must approve the power of attorney within 30 days, or the
    /// application is cancelled.
    PowerOfAttorneyDeadline,
    /// The head signs the power of attorney with their own Asan İmza, the
    /// certificate of the organisation the application names.
    HeadSignsPowerOfAttorney,
    /// The head approves or cancels the power of attorney; changing it is
    /// not provided for.
    HeadApprovesOrCancels,
    /// The signed application goes to the certification centre for
    /// processing (after the head's approval, when one is needed).
    SentForProcessing,
    /// The service is prolonged at the mobile operator after it lapses.
    ProlongAfterLapse,
    /// The service is prolonged for 3 years as a service type (`ferdi`,
    /// `biznes`, `dovlet`); the centre issues only the certificates that
    /// type allows.
    ProlongedServiceType,
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
    pub const ALL: [Self; 23] = [
        Self::UserId,
        Self::CertificateData,
        Self::CorporateNumber,
        Self::Contact,
        Self::Voen,
        Self::OrganisationData,
        Self::SignedWithCurrentKey,
        Self::Contract,
        Self::RenewalWindow,
        Self::CertificateActive,
        Self::ServiceProfiles,
        Self::ProfileMove,
        Self::RegisteredHead,
        Self::PowerOfAttorney,
        Self::PowerOfAttorneyDeadline,
        Self::HeadSignsPowerOfAttorney,
        Self::HeadApprovesOrCancels,
        Self::SentForProcessing,
        Self::ProlongAfterLapse,
        Self::ProlongedServiceType,
        Self::ServiceProlongationDeadline,
        Self::ProcessAfterProlongation,
        Self::Issue,
    ];

    /// The step of the procedure the rule comes from.
    pub const fn step(self) -> &'static str {
        match self {
            Self::UserId => "section 2 (User ID)",
            Self::CertificateData | Self::CorporateNumber => "3.1 step 5 note",
            Self::RenewalWindow | Self::CertificateActive => "3.1 step 8 note",
            Self::SignedWithCurrentKey | Self::Contract => "3.1 step 8",
            Self::OrganisationData => "3.2.1 step 6",
            Self::RegisteredHead => "3.2.2 step 9",
            Self::HeadSignsPowerOfAttorney => "3.2.2 step 13",
            Self::ProlongedServiceType => "FAQ, SMS prolongation",
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
            Self::UserId => "3.1 step 2, 3.2.1 step 2, 3.2.2 step 2",
            Self::CertificateData => "3.2.1 step 5 note",
            Self::CorporateNumber => "",
            Self::OrganisationData => "3.2.2 step 5",
            Self::Contract => "3.2.1 step 9, 3.2.2 step 8; 3.1 step 12",
            Self::RegisteredHead => "3.2.1 (heads), 3.2.2 steps 10-11",
            Self::HeadSignsPowerOfAttorney => "3.2.2 steps 10-11",
            Self::ProlongedServiceType => "3.1 step 10 (3 years); FAQ, service type notice",
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
            Self::UserId => {
                "the application names the User ID of the activation notice: 6 digits, one per SIM card"
            }
            Self::CertificateData => {
                "certificate data come from the centre's records: the signer's certificate, its profile, the card, its certificates, the VÖEN"
            }
            Self::CorporateNumber => {
                "a corporate Asan İmza number needs the organisation's VÖEN, even for a Citizen application"
            }
            Self::OrganisationData => {
                "Business and Governmental applications give organisation name, position, unit, seal text and signing permissions"
            }
            Self::Contract => {
                "the application and the contract on the provision of certificate services are signed together"
            }
            Self::RegisteredHead => {
                "the head of an organisation is whom the centre's register names for the VÖEN, not the applicant's word"
            }
            Self::HeadSignsPowerOfAttorney => {
                "the registered head signs the power of attorney with the organisation's certificate, valid at the time"
            }
            Self::ProlongedServiceType => {
                "the service is prolonged for 3 years as ferdi, biznes or dovlet; only the profiles that type allows are issued"
            }
            Self::RenewalWindow => {
                "an application can be sent only in the 30 calendar days (Baku time) before the certificate's expiry date"
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
                "the head approves the power of attorney within 30 calendar days, or the application is cancelled"
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
                "within 30 calendar days after expiry the service must be prolonged, or the application is cancelled and renewal is in person"
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
