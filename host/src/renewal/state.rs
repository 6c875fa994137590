//! The life of one renewal application, as a state machine driven by
//! explicit instants (Unix seconds): every event takes `now`, and time
//! passing ([`Application::tick`]) is an event too.
//!
//! ```text
//! submit (sent) ─┬─ Business/Governmental, not the head ─► AwaitingPowerOfAttorney
//!                │                                          │ approve      │ cancel, or 30 days pass
//!                ▼                                          ▼              ▼
//!            Submitted ◄────────────────────────────────────┘          Cancelled
//!                │ receive (the centre)
//!                ▼
//!            Processing ── service lapses ──► AwaitingServiceProlongation ── 30 days pass ──► Cancelled
//!                ▲                                   │ prolonged (ferdi, biznes, dovlet)
//!                └───────────────────────────────────┘
//!
//! Processing, once prolonged ─issue─► Issued (the profiles the prolonged service type allows)
//! ```
//!
//! The window is checked when the application is sent ([`Application::submit`]);
//! the centre receiving it later does not cancel it. Deadlines are counted in
//! calendar days, Baku time ([`super::baku`]).

use asan_applet::ServiceType;

use super::baku::{format_both, last_second_of_day_after};
use super::profiles::{Move, ProfileSet, check_move, service_label, sms_keyword};
use super::request::{
    POWER_OF_ATTORNEY_DAYS, PROLONGATION_DAYS, PowerOfAttorney, Request, State, check_organisation,
    check_user_id, check_voen,
};
use super::rules::{Refusal, Rule};
use super::window::Window;

/// One renewal application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Application {
    request: Request,
    moved: Move,
    submitted: i64,
    power_of_attorney: Option<PowerOfAttorney>,
    received: Option<i64>,
    prolonged: Option<(i64, ServiceType)>,
    issued: Option<ProfileSet>,
    state: State,
    history: Vec<(i64, State)>,
}

impl Application {
    /// The subscriber signs and sends `request` at `now`: the signing
    /// certificate must be in its renewal window, the move allowed, the
    /// contact, the VÖEN, the organisation's data and the User ID given. A
    /// Business or Governmental application by someone who is not the head
    /// goes to the head's cabinet first (3.2.2 step 9); the others go to
    /// the centre (3.1 step 9, 3.2.1 step 10).
    pub fn submit(request: Request, now: i64) -> Result<Self, Refusal> {
        Window::at(request.signer, now).check()?;
        let contact = request.contact.as_ref().ok_or_else(|| {
            Refusal::new(
                Rule::Contact,
                "give an e-mail address or a mobile number for notices",
            )
        })?;
        contact.check()?;
        let moved = check_move(request.service, request.current, request.requested)?;
        check_voen(request.requested, request.number, request.voen.as_deref())?;
        check_organisation(request.requested, request.organisation.as_ref())?;
        check_user_id(request.user_id.as_deref())?;
        let power_of_attorney = (request.requested.has_organisation()
            && !request.head_of_organisation)
            .then_some(PowerOfAttorney {
                deadline: last_second_of_day_after(now, POWER_OF_ATTORNEY_DAYS),
                approved: None,
            });
        let state = match power_of_attorney {
            Some(_) => State::AwaitingPowerOfAttorney,
            None => State::Submitted,
        };
        Ok(Self {
            request,
            moved,
            submitted: now,
            power_of_attorney,
            received: None,
            prolonged: None,
            issued: None,
            history: vec![(now, state.clone())],
            state,
        })
    }

    /// The state.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Every state the application has been in, with when it entered it.
    pub fn history(&self) -> &[(i64, State)] {
        &self.history
    }

    /// The request.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// The profile move.
    pub fn profile_move(&self) -> &Move {
        &self.moved
    }

    /// When it was signed and sent.
    pub fn submitted(&self) -> i64 {
        self.submitted
    }

    /// The power of attorney, when one is needed.
    pub fn power_of_attorney(&self) -> Option<PowerOfAttorney> {
        self.power_of_attorney
    }

    /// When the centre received it, if it did.
    pub fn received(&self) -> Option<i64> {
        self.received
    }

    /// When the service was prolonged, if it was.
    pub fn prolonged(&self) -> Option<i64> {
        self.prolonged.map(|(t, _)| t)
    }

    /// The service type the service was prolonged as, if it was.
    pub fn prolonged_as(&self) -> Option<ServiceType> {
        self.prolonged.map(|(_, s)| s)
    }

    /// The profiles issued, once issued.
    pub fn issued(&self) -> Option<ProfileSet> {
        self.issued
    }

    /// The last second the service may be prolonged: 23:59:59 Baku time of
    /// the 30th calendar day after the day the service lapses.
    pub fn prolongation_deadline(&self) -> i64 {
        last_second_of_day_after(self.request.service_expires, PROLONGATION_DAYS)
    }

    /// What the subscriber and the head still have to do, one line each,
    /// with the step.
    pub fn next_steps(&self) -> Vec<String> {
        let mut steps = Vec::new();
        if let Some(p) = self.power_of_attorney.filter(|p| p.approved.is_none()) {
            steps.push(format!(
                "the head of the organisation (VÖEN {}) approves the power of attorney by {} ({})",
                self.request.voen.as_deref().unwrap_or_default(),
                format_both(p.deadline),
                Rule::PowerOfAttorneyDeadline.citation()
            ));
        }
        if self.prolonged.is_none() {
            steps.push(format!(
                "once the service lapses on {}, prolong it at the mobile operator by {} ({})",
                format_both(self.request.service_expires),
                format_both(self.prolongation_deadline()),
                Rule::ServiceProlongationDeadline.citation()
            ));
        }
        steps
    }

    fn enter(&mut self, now: i64, state: State) {
        if self.state != state {
            self.history.push((now, state.clone()));
            self.state = state;
        }
    }

    /// The refusal of an event in a final state.
    fn closed(&self) -> Result<(), Refusal> {
        match &self.state {
            State::Cancelled(r) => Err(Refusal::new(
                r.rule,
                format!("the application is cancelled: {}", r.reason),
            )),
            State::Issued => Err(Refusal::new(
                Rule::Issue,
                "the certificates are already issued",
            )),
            _ => Ok(()),
        }
    }

    /// Time passes until `now`: deadlines cancel, a lapsing service waits
    /// for prolongation, a prolongation moves on.
    pub fn tick(&mut self, now: i64) {
        if self.state.is_final() {
            return;
        }
        let poa_late = self
            .power_of_attorney
            .filter(|p| p.approved.is_none() && now > p.deadline)
            .map(|p| p.deadline);
        let service_late =
            (self.prolonged.is_none() && now > self.prolongation_deadline()).then_some(());
        let cancel = match (poa_late, service_late) {
            (Some(d), _) if d <= self.prolongation_deadline() || service_late.is_none() => {
                Some(Refusal::new(
                    Rule::PowerOfAttorneyDeadline,
                    format!(
                        "the head of the organisation did not approve the power of attorney within 30 calendar days (by {})",
                        format_both(d)
                    ),
                ))
            }
            (_, Some(())) => Some(Refusal::new(
                Rule::ServiceProlongationDeadline,
                format!(
                    "the service lapsed on {} and was not prolonged within 30 calendar days (by {}): renewal needs a visit in person",
                    format_both(self.request.service_expires),
                    format_both(self.prolongation_deadline())
                ),
            )),
            _ => None,
        };
        if let Some(r) = cancel {
            self.enter(now, State::Cancelled(r));
            return;
        }
        if self.received.is_some() {
            let next = self.route(now);
            self.enter(now, next);
        }
    }

    /// Where a received application is at `now`, deadlines aside.
    fn route(&self, now: i64) -> State {
        if self.prolonged.is_none() && now >= self.request.service_expires {
            State::AwaitingServiceProlongation
        } else {
            State::Processing
        }
    }

    /// The certification centre receives the application at `now` (3.1
    /// step 9, 3.2.2 step 14). Whether it was sent in the window was
    /// decided when it was sent: receiving it after the certificate expired
    /// does not cancel it. An application waiting for the head's approval
    /// has not been sent to the centre yet.
    pub fn receive(&mut self, now: i64) -> Result<(), Refusal> {
        self.tick(now);
        self.closed()?;
        match self.state {
            State::Submitted => {}
            State::AwaitingPowerOfAttorney => {
                return Err(Refusal::new(
                    Rule::PowerOfAttorney,
                    "the application is in the cabinet of the head of the organisation: it reaches the centre once the head approves the power of attorney (3.2.2 steps 9-14)",
                ));
            }
            _ => {
                return Err(Refusal::new(
                    Rule::SentForProcessing,
                    format!("the application was already received ({})", self.state),
                ));
            }
        }
        if now < self.submitted {
            return Err(Refusal::new(
                Rule::SentForProcessing,
                format!(
                    "received at {} before it was sent at {}",
                    format_both(now),
                    format_both(self.submitted)
                ),
            ));
        }
        self.received = Some(now);
        let next = self.route(now);
        self.enter(now, next);
        Ok(())
    }

    /// Checks that the power of attorney waits for the head with `voen`.
    fn pending_power_of_attorney(&mut self, voen: &str, now: i64) -> Result<(), Refusal> {
        self.tick(now);
        self.closed()?;
        let Some(poa) = self.power_of_attorney else {
            return Err(Refusal::new(
                Rule::PowerOfAttorney,
                "this application has no power of attorney: it is a Citizen application or made by the head",
            ));
        };
        if poa.approved.is_some() {
            return Err(Refusal::new(
                Rule::HeadApprovesOrCancels,
                "the power of attorney is already approved",
            ));
        }
        if now < self.submitted {
            return Err(Refusal::new(
                Rule::PowerOfAttorney,
                format!(
                    "decided at {}, before the application was sent at {}",
                    format_both(now),
                    format_both(self.submitted)
                ),
            ));
        }
        let expected = self.request.voen.as_deref().unwrap_or_default();
        if voen != expected {
            return Err(Refusal::new(
                Rule::PowerOfAttorney,
                format!(
                    "the power of attorney goes to the head of the organisation with VÖEN {expected}, not {voen}"
                ),
            ));
        }
        Ok(())
    }

    /// The head of the organisation (`by_voen`) approves the power of
    /// attorney at `now`: the application is sent to the centre.
    pub fn approve_power_of_attorney(&mut self, by_voen: &str, now: i64) -> Result<(), Refusal> {
        self.pending_power_of_attorney(by_voen, now)?;
        if let Some(p) = self.power_of_attorney.as_mut() {
            p.approved = Some(now);
        }
        self.enter(now, State::Submitted);
        self.tick(now);
        Ok(())
    }

    /// The head of the organisation (`by_voen`) cancels the power of
    /// attorney at `now`: the application is cancelled.
    pub fn cancel_power_of_attorney(&mut self, by_voen: &str, now: i64) -> Result<(), Refusal> {
        self.pending_power_of_attorney(by_voen, now)?;
        let r = Refusal::new(
            Rule::HeadApprovesOrCancels,
            format!(
                "the head of the organisation (VÖEN {by_voen}) cancelled the power of attorney on {}",
                format_both(now)
            ),
        );
        self.enter(now, State::Cancelled(r));
        Ok(())
    }

    /// The head tries to change the power of attorney: always refused.
    pub fn edit_power_of_attorney(&mut self, by_voen: &str, now: i64) -> Result<(), Refusal> {
        self.pending_power_of_attorney(by_voen, now)?;
        Err(Refusal::new(
            Rule::HeadApprovesOrCancels,
            "the power of attorney cannot be changed: the head approves or cancels it",
        ))
    }

    /// The mobile operator prolongs the service at `now` as `service`
    /// (`ferdi`, `biznes`, `dovlet`; after it lapsed, within 30 days).
    pub fn service_prolonged(&mut self, now: i64, service: ServiceType) -> Result<(), Refusal> {
        self.tick(now);
        self.closed()?;
        if let Some((at, _)) = self.prolonged {
            return Err(Refusal::new(
                Rule::ProlongAfterLapse,
                format!("the service was already prolonged on {}", format_both(at)),
            ));
        }
        if now < self.request.service_expires {
            return Err(Refusal::new(
                Rule::ProlongAfterLapse,
                format!(
                    "the service runs until {}: it is prolonged at the mobile operator after it lapses",
                    format_both(self.request.service_expires)
                ),
            ));
        }
        self.prolonged = Some((now, service));
        self.tick(now);
        Ok(())
    }

    /// The profiles the centre issues: those requested that the prolonged
    /// service type allows (FAQ, service type notice).
    pub fn issuable(&self) -> ProfileSet {
        match self.prolonged {
            Some((_, service)) => {
                let allowed = ProfileSet::allowed_by(service);
                self.request
                    .requested
                    .minus(self.request.requested.minus(allowed))
            }
            None => ProfileSet::default(),
        }
    }

    /// The certification centre issues the new certificates at `now`: the
    /// requested profiles the prolonged service type allows.
    pub fn issue(&mut self, now: i64) -> Result<ProfileSet, Refusal> {
        self.tick(now);
        self.closed()?;
        let refusal = match self.state {
            State::Processing if self.prolonged.is_some() => {
                let issued = self.issuable();
                self.issued = Some(issued);
                self.enter(now, State::Issued);
                return Ok(issued);
            }
            State::Submitted => Refusal::new(
                Rule::SentForProcessing,
                "the certification centre has not received the application",
            ),
            State::AwaitingPowerOfAttorney => Refusal::new(
                Rule::PowerOfAttorney,
                "the head of the organisation has not approved the power of attorney",
            ),
            _ => Refusal::new(
                Rule::ProcessAfterProlongation,
                "the service has not been prolonged: certificates are issued once it is active again",
            ),
        };
        Err(refusal)
    }

    /// Why a requested profile is not issued, for the profiles the
    /// prolonged service type does not allow; `None` when all are.
    pub fn not_issued(&self) -> Option<String> {
        let (_, service) = self.prolonged?;
        let left = self.request.requested.minus(self.issuable());
        (!left.is_empty()).then(|| {
            format!(
                "{left} not issued: the service was prolonged as {} ({}), which allows {} ({})",
                sms_keyword(service),
                service_label(service),
                ProfileSet::allowed_by(service),
                Rule::ProlongedServiceType.citation()
            )
        })
    }
}
