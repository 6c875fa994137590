//! Online renewal of Asan İmza certificates, by the published procedure
//! ("“Asan İmza” sertifikatlarının onlayn yenilənməsi", sections 3.1, 3.2.1
//! and 3.2.2, and the Asan İmza FAQ), as rules the toolchain enforces and
//! explains. `docs/renewal.md` lists every rule with its step.
//!
//! * [`Window`]: an application can be sent only while the signing
//!   certificate is valid and in its last 30 days.
//! * [`check_move`]: which profiles a service type allows and which moves
//!   between service types are online moves.
//! * [`Application`]: the state machine of one application — submitted,
//!   awaiting the power of attorney, awaiting the service's prolongation,
//!   processing, issued, cancelled — driven by explicit instants (or a
//!   [`Clock`]).
//! * [`ApplicationBody`]: the JSON document that is signed.
//! * [`review_signed`] and [`review_body`]: the certification centre's
//!   decision on a signed application.
//!
//! Every refusal is a [`Refusal`]: the [`Rule`] (with its step of the
//! procedure) and the reason in this case.
//!
//! ```
//! use asan_applet::{CertificateProfile::*, ServiceType};
//! use asan_host::renewal::{Application, Contact, ProfileSet, Request, State, Validity, DAY};
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
//! };
//! // 31 days before expiry: too early.
//! let e = Application::submit(request.clone(), signer.not_after - 31 * DAY).unwrap_err();
//! assert_eq!(e.rule.step(), "3.1 step 8 note");
//! // 30 days before: the head has 30 days to approve the power of attorney.
//! let t = signer.not_after - 30 * DAY;
//! let mut app = Application::submit(request, t).unwrap();
//! app.receive(t).unwrap();
//! assert_eq!(app.state(), &State::AwaitingPowerOfAttorney);
//! app.approve_power_of_attorney("1234567890", t + 30 * DAY).unwrap();
//! assert_eq!(app.state(), &State::AwaitingServiceProlongation);
//! app.service_prolonged(t + 31 * DAY).unwrap();
//! app.issue(t + 32 * DAY).unwrap();
//! assert_eq!(app.state(), &State::Issued);
//! ```
#![forbid(unsafe_code)]

mod body;
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

pub use body::{ApplicationBody, BODY_VERSION, Contact, CurrentCertificate, voen_in_certificate};
pub use profiles::{
    Move, ProfileSet, check_move, label, profile_from_name, service_from_name, service_label,
};
pub use request::{POWER_OF_ATTORNEY_DAYS, PROLONGATION_DAYS, PowerOfAttorney, Request, State};
pub use review::{CREATED_TOLERANCE, Review, ReviewCheck, review_body};
pub use rules::{Refusal, Rule};
pub use signed::review_signed;
pub use state::Application;
pub use time::{
    Clock, DAY, FixedClock, SystemClock, format as format_time, from_system_time,
    parse as parse_time, to_system_time,
};
pub use window::{Closed, Validity, WINDOW, Window};
