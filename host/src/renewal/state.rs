//! The life of one renewal application, as a state machine driven by
//! explicit instants (Unix seconds): every event takes `now`, and time
//! passing ([`Application::tick`]) is an event too.
//!
//! ```text
//! submit ─► Submitted ─receive─┬─► AwaitingPowerOfAttorney ─approve──┐
//!              │               │     │ cancel, or 30 days pass       │
//!              │ window closed │     ▼                               │
//!              └──────────────────► Cancelled                        │
//!                              └─► Processing ◄──────────────────────┘
//!                                    │ service lapses       ▲ prolonged
//!                                    ▼                      │ (≤ 30 days)
//!                          AwaitingServiceProlongation ─────┘
//!                                    │ 30 days pass
//!                                    ▼
//!                                Cancelled (renewal in person)
//!
//! Processing, once prolonged ─issue─► Issued
//! ```

use super::profiles::{Move, check_move};
use super::request::{
    POWER_OF_ATTORNEY_DAYS, PROLONGATION_DAYS, PowerOfAttorney, Request, State, check_voen,
};
use super::rules::{Refusal, Rule};
use super::time::{DAY, format};
use super::window::Window;

/// One renewal application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Application {
    request: Request,
    moved: Move,
    submitted: i64,
    power_of_attorney: Option<PowerOfAttorney>,
    prolonged: Option<i64>,
    state: State,
    history: Vec<(i64, State)>,
}

impl Application {
    /// The subscriber signs and sends `request` at `now`: the signing
    /// certificate must be in its renewal window, the move allowed, the
    /// contact and the VÖEN given.
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
        check_voen(request.requested, request.voen.as_deref())?;
        let power_of_attorney = (request.requested.has_organisation()
            && !request.head_of_organisation)
            .then_some(PowerOfAttorney {
                deadline: now.saturating_add(POWER_OF_ATTORNEY_DAYS * DAY),
                approved: None,
            });
        Ok(Self {
            request,
            moved,
            submitted: now,
            power_of_attorney,
            prolonged: None,
            state: State::Submitted,
            history: vec![(now, State::Submitted)],
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

    /// When the service was prolonged, if it was.
    pub fn prolonged(&self) -> Option<i64> {
        self.prolonged
    }

    /// The last second the service may be prolonged.
    pub fn prolongation_deadline(&self) -> i64 {
        self.request
            .service_expires
            .saturating_add(PROLONGATION_DAYS * DAY)
    }

    /// What the subscriber and the head still have to do, one line each,
    /// with the step.
    pub fn next_steps(&self) -> Vec<String> {
        let mut steps = Vec::new();
        if let Some(p) = self.power_of_attorney.filter(|p| p.approved.is_none()) {
            steps.push(format!(
                "the head of the organisation (VÖEN {}) approves the power of attorney by {} ({})",
                self.request.voen.as_deref().unwrap_or_default(),
                format(p.deadline),
                Rule::PowerOfAttorneyDeadline.citation()
            ));
        }
        if self.prolonged.is_none() {
            steps.push(format!(
                "once the service lapses on {}, prolong it at the mobile operator by {} ({})",
                format(self.request.service_expires),
                format(self.prolongation_deadline()),
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
    /// for prolongation, an approval or a prolongation moves on.
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
                        "the head of the organisation did not approve the power of attorney within 30 days (by {})",
                        format(d)
                    ),
                ))
            }
            (_, Some(())) => Some(Refusal::new(
                Rule::ServiceProlongationDeadline,
                format!(
                    "the service lapsed on {} and was not prolonged within 30 days (by {}): renewal needs a visit in person",
                    format(self.request.service_expires),
                    format(self.prolongation_deadline())
                ),
            )),
            _ => None,
        };
        if let Some(r) = cancel {
            self.enter(now, State::Cancelled(r));
            return;
        }
        if self.state != State::Submitted {
            let next = self.route(now);
            self.enter(now, next);
        }
    }

    /// Where a received application is at `now`, deadlines aside.
    fn route(&self, now: i64) -> State {
        if self.power_of_attorney.is_some_and(|p| p.approved.is_none()) {
            State::AwaitingPowerOfAttorney
        } else if self.prolonged.is_none() && now >= self.request.service_expires {
            State::AwaitingServiceProlongation
        } else {
            State::Processing
        }
    }

    /// The certification centre receives the application at `now`. It must
    /// still be in the signing certificate's window; otherwise it is
    /// cancelled and the refusal returned. Then it waits for the power of
    /// attorney, or is processed.
    pub fn receive(&mut self, now: i64) -> Result<(), Refusal> {
        self.tick(now);
        self.closed()?;
        if self.state != State::Submitted {
            return Err(Refusal::new(
                Rule::SentForProcessing,
                format!("the application was already received ({})", self.state),
            ));
        }
        if now < self.submitted {
            return Err(Refusal::new(
                Rule::SentForProcessing,
                format!(
                    "received at {} before it was signed at {}",
                    format(now),
                    format(self.submitted)
                ),
            ));
        }
        if let Err(r) = Window::at(self.request.signer, now).check() {
            self.enter(now, State::Cancelled(r.clone()));
            return Err(r);
        }
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
        if self.state == State::Submitted {
            return Err(Refusal::new(
                Rule::PowerOfAttorney,
                "the power of attorney has not reached the head yet (the application is not received)",
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
    /// attorney at `now`.
    pub fn approve_power_of_attorney(&mut self, by_voen: &str, now: i64) -> Result<(), Refusal> {
        self.pending_power_of_attorney(by_voen, now)?;
        if let Some(p) = self.power_of_attorney.as_mut() {
            p.approved = Some(now);
        }
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
                format(now)
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

    /// The mobile operator prolongs the service at `now` (after it lapsed,
    /// within 30 days).
    pub fn service_prolonged(&mut self, now: i64) -> Result<(), Refusal> {
        self.tick(now);
        self.closed()?;
        if let Some(at) = self.prolonged {
            return Err(Refusal::new(
                Rule::ProlongAfterLapse,
                format!("the service was already prolonged on {}", format(at)),
            ));
        }
        if now < self.request.service_expires {
            return Err(Refusal::new(
                Rule::ProlongAfterLapse,
                format!(
                    "the service runs until {}: it is prolonged at the mobile operator after it lapses",
                    format(self.request.service_expires)
                ),
            ));
        }
        self.prolonged = Some(now);
        self.tick(now);
        Ok(())
    }

    /// The certification centre issues the new certificates at `now`.
    pub fn issue(&mut self, now: i64) -> Result<(), Refusal> {
        self.tick(now);
        self.closed()?;
        let refusal = match self.state {
            State::Processing if self.prolonged.is_some() => {
                self.enter(now, State::Issued);
                return Ok(());
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
}
