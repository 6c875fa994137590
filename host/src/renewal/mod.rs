//! Online renewal of Asan İmza certificates, by the published procedure
//! ("“Asan İmza” sertifikatlarının onlayn yenilənməsi", sections 2, 3.1,
//! 3.2.1 and 3.2.2, and the Asan İmza FAQ), as rules the toolchain enforces
//! and explains. `docs/renewal.md` lists every rule with its step.
//!
//! * [`Window`]: an application can be sent only while the signing
//!   certificate is valid and within the 30 calendar days (Baku time)
//!   before its expiry date ([`baku`]: Asia/Baku is UTC+4).
//! * [`check_move`]: which profiles a service type allows and which moves
//!   between service types are online moves.
//! * [`Application`]: the state machine of one application — awaiting the
//!   power of attorney, submitted, processing, awaiting the service's
//!   prolongation, issued, cancelled — driven by explicit instants (or a
//!   [`Clock`]).
//! * [`RenewalPackage`]: the application ([`ApplicationBody`]) and the
//!   contract ([`Contract`]) signed together; [`PowerOfAttorneyDecision`]:
//!   the head's approval or cancellation.
//! * [`centre::review`]: the certification centre's decision, from facts —
//!   the validated signer certificate and the centre's records
//!   ([`Facts`]) — and its journal.
//!
//! Every refusal is a [`Refusal`]: the [`Rule`] (with its step of the
//! procedure) and the reason in this case.
//!
//! ```
//! use asan_applet::{CertificateProfile::*, ServiceType};
//! use asan_host::renewal::{
//!     baku, Application, Contact, NumberKind, OrganisationData, ProfileSet, Request, State,
//!     Validity, DAY,
//! };
//! let signer = Validity { not_before: 0, not_after: 1095 * DAY };
//! let request = Request {
//!     service: ServiceType::Business,
//!     current: ProfileSet::of(&[Citizen, Business]),
//!     requested: ProfileSet::of(&[Citizen, Business]),
//!     signer,
//!     service_expires: signer.not_after,
//!     contact: Some(Contact::Email("ali@example.az".into())),
//!     voen: Some("1234567890".into()),
//!     head_of_organisation: false,
//!     user_id: Some("482913".into()),
//!     number: NumberKind::Personal,
//!     organisation: Some(OrganisationData {
//!         name: "Nümunə MMC".into(),
//!         position: "mühasib".into(),
//!         unit: None,
//!         seal_text: None,
//!         signing_permissions: vec!["e-taxes".into()],
//!     }),
//! };
//! // 31 calendar days before the expiry date (Baku time): too early.
//! let opens = baku::window_opens(signer.not_after, 30);
//! let e = Application::submit(request.clone(), opens - 1).unwrap_err();
//! assert_eq!(e.rule.step(), "3.1 step 8 note");
//! // From 00:00 Baku time 30 days before: the head has 30 calendar days to approve.
//! let mut app = Application::submit(request, opens).unwrap();
//! assert_eq!(app.state(), &State::AwaitingPowerOfAttorney);
//! app.approve_power_of_attorney("1234567890", opens + 30 * DAY).unwrap();
//! assert_eq!(app.state(), &State::Submitted);
//! app.receive(opens + 30 * DAY).unwrap();
//! app.service_prolonged(signer.not_after + DAY, ServiceType::Citizen).unwrap();
//! // Prolonged as `ferdi` (Citizen): only the Citizen certificate is issued.
//! let issued = app.issue(signer.not_after + 2 * DAY).unwrap();
//! assert_eq!(issued, ProfileSet::of(&[Citizen]));
//! assert_eq!(app.state(), &State::Issued);
//! ```
#![forbid(unsafe_code)]

pub mod baku;
mod body;
pub mod centre;
mod check;
mod facts;
mod head;
pub mod office;
mod package;
mod poa;
mod profiles;
mod request;
mod review;
mod rules;
mod signed;
mod state;
mod time;
mod window;

#[cfg(test)]
mod tests;

pub use baku::{BAKU_OFFSET, format_baku, format_both};
pub use body::{
    ApplicationBody, Attorney, Contact, CurrentCertificate, MAX_PERMISSIONS, MAX_TEXT, NumberKind,
    OrganisationData, check_text, signing_profile, voen_in_certificate,
};
pub use check::{Established, check_package};
pub use facts::{Facts, Signer, subject_attribute};
pub use head::{CheckedDecision, check_decision};
pub use package::{
    CONTRACT_TITLE, Contract, PACKAGE_VERSION, PROVIDER, Party, RenewalPackage, TERM_YEARS,
    application_digest,
};
pub use poa::{DECISION_VERSION, PoaDecision, PowerOfAttorneyDecision, application_id, short};
pub use profiles::{
    Move, ProfileSet, check_move, label, profile_from_name, service_from_name, service_from_sms,
    service_label, sms_keyword,
};
pub use request::{
    POWER_OF_ATTORNEY_DAYS, PROLONGATION_DAYS, PowerOfAttorney, Request, State, is_voen,
};
pub use review::{CREATED_TOLERANCE, HeadDecision, IssuedCertificate, Review, ReviewCheck};
pub use rules::{Refusal, Rule};
pub use signed::{Verified, verify_document};
pub use state::Application;
pub use time::{
    Clock, DAY, FixedClock, SystemClock, format as format_time, from_system_time,
    parse as parse_time, to_system_time,
};
pub use window::{Closed, Validity, WINDOW, WINDOW_DAYS, Window};
