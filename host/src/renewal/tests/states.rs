//! The state machine: power of attorney, service prolongation, issue.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use asan_applet::CertificateProfile::{Business as B, Citizen as C, Governmental as G};
use asan_applet::ServiceType;

use super::{EXPIRY, VOEN, cancelled_by, received, request};
use crate::renewal::*;

#[test]
fn power_of_attorney_day_30_and_31() {
    let t = EXPIRY - 30 * DAY;
    // (approved at, still approvable?)
    let table = [
        (t, true),
        (t + 29 * DAY, true),
        (t + 30 * DAY, true),
        (t + 30 * DAY + 1, false),
        (t + 31 * DAY, false),
    ];
    for (service, profile) in [(ServiceType::Business, B), (ServiceType::Governmental, G)] {
        for (at, ok) in table {
            let mut app = received(service, &[C, profile], false);
            assert_eq!(app.state(), &State::AwaitingPowerOfAttorney);
            assert_eq!(app.power_of_attorney().unwrap().deadline, t + 30 * DAY);
            let r = app.approve_power_of_attorney(VOEN, at);
            if ok {
                assert!(r.is_ok(), "day {}: {r:?}", (at - t) / DAY);
                assert_ne!(app.state(), &State::AwaitingPowerOfAttorney);
            } else {
                let e = r.unwrap_err();
                assert_eq!(e.rule, Rule::PowerOfAttorneyDeadline, "{e}");
                assert_eq!(e.rule.step(), "3.2.2 step 9 note");
                assert_eq!(cancelled_by(&app), Some(Rule::PowerOfAttorneyDeadline));
            }
            // Time passing alone cancels as well.
            let mut idle = received(service, &[C, profile], false);
            idle.tick(at);
            assert_eq!(
                cancelled_by(&idle).is_none(),
                ok,
                "tick at day {}",
                (at - t) / DAY
            );
        }
    }
}

#[test]
fn service_lapsed_30_and_31_days() {
    // (prolonged at, accepted?)
    let table = [
        (EXPIRY, true),
        (EXPIRY + 29 * DAY, true),
        (EXPIRY + 30 * DAY, true),
        (EXPIRY + 30 * DAY + 1, false),
        (EXPIRY + 31 * DAY, false),
    ];
    for (at, ok) in table {
        let mut app = received(ServiceType::Citizen, &[C], true);
        assert_eq!(app.state(), &State::Processing);
        app.tick(EXPIRY - 1);
        assert_eq!(app.state(), &State::Processing);
        app.tick(EXPIRY);
        assert_eq!(app.state(), &State::AwaitingServiceProlongation);
        let r = app.service_prolonged(at);
        if ok {
            assert!(r.is_ok(), "{r:?}");
            assert_eq!(app.state(), &State::Processing);
            app.issue(at).unwrap();
            assert_eq!(app.state(), &State::Issued);
        } else {
            let e = r.unwrap_err();
            assert_eq!(e.rule, Rule::ServiceProlongationDeadline);
            assert_eq!(e.rule.step(), "3.1 step 9 note");
            assert!(e.reason.contains("visit in person"), "{e}");
        }
        let mut idle = received(ServiceType::Citizen, &[C], true);
        idle.tick(at);
        assert_eq!(cancelled_by(&idle).is_none(), ok);
    }
}

#[test]
fn the_service_is_prolonged_after_it_lapses_and_only_once() {
    let mut app = received(ServiceType::Citizen, &[C], true);
    let e = app.service_prolonged(EXPIRY - 1).unwrap_err();
    assert_eq!(e.rule, Rule::ProlongAfterLapse);
    assert_eq!(app.state(), &State::Processing);
    let e = app.issue(EXPIRY - 1).unwrap_err();
    assert_eq!(e.rule, Rule::ProcessAfterProlongation);
    app.service_prolonged(EXPIRY + DAY).unwrap();
    assert_eq!(
        app.service_prolonged(EXPIRY + DAY).unwrap_err().rule,
        Rule::ProlongAfterLapse
    );
    app.issue(EXPIRY + 2 * DAY).unwrap();
    assert_eq!(app.issue(EXPIRY + 2 * DAY).unwrap_err().rule, Rule::Issue);
    let names: Vec<&str> = app.history().iter().map(|(_, s)| s.name()).collect();
    assert_eq!(
        names,
        [
            "submitted",
            "processing",
            "awaiting_service_prolongation",
            "processing",
            "issued"
        ]
    );
}

#[test]
fn the_head_approves_or_cancels_but_does_not_edit() {
    let t = EXPIRY - 30 * DAY;
    let mut app = received(ServiceType::Business, &[C, B], false);
    let e = app.edit_power_of_attorney(VOEN, t + DAY).unwrap_err();
    assert_eq!(
        (e.rule, e.rule.step()),
        (Rule::HeadApprovesOrCancels, "3.2.2 step 13 note")
    );
    assert_eq!(app.state(), &State::AwaitingPowerOfAttorney);
    let e = app
        .approve_power_of_attorney("9999999999", t + DAY)
        .unwrap_err();
    assert_eq!(e.rule, Rule::PowerOfAttorney);
    assert!(e.reason.contains(VOEN), "{e}");
    let e = app.issue(t + DAY).unwrap_err();
    assert_eq!(e.rule, Rule::PowerOfAttorney);
    app.cancel_power_of_attorney(VOEN, t + 2 * DAY).unwrap();
    assert_eq!(cancelled_by(&app), Some(Rule::HeadApprovesOrCancels));
    let e = app
        .approve_power_of_attorney(VOEN, t + 3 * DAY)
        .unwrap_err();
    assert!(e.reason.starts_with("the application is cancelled"), "{e}");

    // Approved before the service lapses: processing; approving twice is refused.
    let mut app = received(ServiceType::Business, &[C, B], false);
    app.approve_power_of_attorney(VOEN, t + DAY).unwrap();
    assert_eq!(app.state(), &State::Processing);
    let e = app.approve_power_of_attorney(VOEN, t + DAY).unwrap_err();
    assert_eq!(e.rule, Rule::HeadApprovesOrCancels);
}

#[test]
fn who_needs_a_power_of_attorney() {
    // (service, requested, head?, needs one?)
    let table = [
        (ServiceType::Citizen, vec![C], false, false),
        (ServiceType::Business, vec![C], false, false),
        (ServiceType::Business, vec![C, B], true, false),
        (ServiceType::Business, vec![C, B], false, true),
        (ServiceType::Citizen, vec![C, B], false, true),
        (ServiceType::Citizen, vec![C, G], false, true),
        (ServiceType::Governmental, vec![C, G], true, false),
        (ServiceType::Governmental, vec![C, G], false, true),
    ];
    for (service, requested, head, needs) in table {
        let app = received(service, &requested, head);
        assert_eq!(
            app.power_of_attorney().is_some(),
            needs,
            "{service:?} {requested:?} head {head}"
        );
        let expected = if needs {
            State::AwaitingPowerOfAttorney
        } else {
            State::Processing
        };
        assert_eq!(app.state(), &expected);
    }
    let mut citizen = received(ServiceType::Citizen, &[C], false);
    let e = citizen
        .approve_power_of_attorney(VOEN, EXPIRY - DAY)
        .unwrap_err();
    assert_eq!(e.rule, Rule::PowerOfAttorney);
}

#[test]
fn prolonged_while_the_head_has_not_approved_yet() {
    let t = EXPIRY - 10 * DAY;
    let mut app = Application::submit(request(ServiceType::Business, &[C, B], false), t).unwrap();
    app.receive(t).unwrap();
    app.service_prolonged(EXPIRY + DAY).unwrap();
    assert_eq!(app.state(), &State::AwaitingPowerOfAttorney);
    app.approve_power_of_attorney(VOEN, t + 30 * DAY).unwrap();
    assert_eq!(app.state(), &State::Processing);
    app.issue(t + 30 * DAY).unwrap();
}

#[test]
fn the_earlier_deadline_cancels() {
    let mut app = received(ServiceType::Business, &[C, B], false);
    app.tick(EXPIRY + 100 * DAY);
    assert_eq!(cancelled_by(&app), Some(Rule::PowerOfAttorneyDeadline));
    app.tick(EXPIRY + 200 * DAY);
    assert_eq!(app.history().len(), 3, "{:?}", app.history());
}

#[test]
fn received_after_expiry_or_twice() {
    let t = EXPIRY - DAY;
    let mut app = Application::submit(request(ServiceType::Citizen, &[C], true), t).unwrap();
    let e = app.issue(t).unwrap_err();
    assert_eq!(e.rule, Rule::SentForProcessing);
    let e = app.receive(t - 1).unwrap_err();
    assert_eq!(e.rule, Rule::SentForProcessing);
    assert_eq!(app.state(), &State::Submitted);
    let e = app.receive(EXPIRY + 1).unwrap_err();
    assert_eq!(e.rule, Rule::CertificateActive);
    assert_eq!(cancelled_by(&app), Some(Rule::CertificateActive));

    let mut app = Application::submit(request(ServiceType::Citizen, &[C], true), t).unwrap();
    app.receive(EXPIRY - 1).unwrap();
    assert_eq!(
        app.receive(EXPIRY - 1).unwrap_err().rule,
        Rule::SentForProcessing
    );
}

#[test]
fn the_clock_is_injectable() {
    let clock: &dyn Clock = &FixedClock(EXPIRY - 30 * DAY);
    let app = Application::submit(request(ServiceType::Citizen, &[C], true), clock.now());
    assert!(app.is_ok());
    assert!(SystemClock.now() > 1_700_000_000);
}
