//! The state machine: the order of the steps, the power of attorney,
//! service prolongation, issue.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use asan_applet::CertificateProfile::{Business as B, Citizen as C, Governmental as G};
use asan_applet::ServiceType;

use super::{EXPIRY, VOEN, cancelled_by, opens, received, request};
use crate::renewal::*;

/// The last second of the 30th calendar day (Baku) after the day of `t`.
fn day_30_ends(t: i64) -> i64 {
    baku::last_second_of_day_after(t, 30)
}

#[test]
fn power_of_attorney_until_the_end_of_day_30() {
    let t = opens();
    let end = day_30_ends(t);
    assert_eq!(format_baku(end), "2030-03-17T23:59:59+04:00");
    // (approved at, still approvable?)
    let table = [
        (t, true),
        (t + 29 * DAY, true),
        (t + 30 * DAY, true),
        (end, true),
        (end + 1, false),
        (t + 31 * DAY, false),
    ];
    for (service, profile) in [(ServiceType::Business, B), (ServiceType::Governmental, G)] {
        for (at, ok) in table {
            let what = format_both(at);
            let mut app = received(service, &[C, profile], false);
            assert_eq!(app.state(), &State::AwaitingPowerOfAttorney);
            assert_eq!(app.power_of_attorney().unwrap().deadline, end);
            let r = app.approve_power_of_attorney(VOEN, at);
            if ok {
                assert!(r.is_ok(), "{what}: {r:?}");
                assert_eq!(app.state(), &State::Submitted, "{what}: sent to the centre");
            } else {
                let e = r.unwrap_err();
                assert_eq!(e.rule, Rule::PowerOfAttorneyDeadline, "{e}");
                assert_eq!(e.rule.step(), "3.2.2 step 9 note");
                assert_eq!(cancelled_by(&app), Some(Rule::PowerOfAttorneyDeadline));
            }
            // Time passing alone cancels as well.
            let mut idle = received(service, &[C, profile], false);
            idle.tick(at);
            assert_eq!(cancelled_by(&idle).is_none(), ok, "tick at {what}");
        }
    }
}

#[test]
fn service_prolonged_until_the_end_of_day_30_after_expiry() {
    let end = day_30_ends(EXPIRY);
    assert_eq!(format_baku(end), "2030-04-16T23:59:59+04:00");
    // (prolonged at, accepted?)
    let table = [
        (EXPIRY, true),
        (EXPIRY + 29 * DAY, true),
        (EXPIRY + 30 * DAY, true),
        (end, true),
        (end + 1, false),
        (EXPIRY + 31 * DAY, false),
    ];
    for (at, ok) in table {
        let mut app = received(ServiceType::Citizen, &[C], true);
        assert_eq!(app.state(), &State::Processing);
        app.tick(EXPIRY - 1);
        assert_eq!(app.state(), &State::Processing);
        app.tick(EXPIRY);
        assert_eq!(app.state(), &State::AwaitingServiceProlongation);
        let r = app.service_prolonged(at, ServiceType::Citizen);
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
        assert_eq!(cancelled_by(&idle).is_none(), ok, "{}", format_both(at));
    }
}

#[test]
fn the_service_is_prolonged_after_it_lapses_and_only_once() {
    let mut app = received(ServiceType::Citizen, &[C], true);
    let e = app
        .service_prolonged(EXPIRY - 1, ServiceType::Citizen)
        .unwrap_err();
    assert_eq!(e.rule, Rule::ProlongAfterLapse);
    assert_eq!(app.state(), &State::Processing);
    let e = app.issue(EXPIRY - 1).unwrap_err();
    assert_eq!(e.rule, Rule::ProcessAfterProlongation);
    app.service_prolonged(EXPIRY + DAY, ServiceType::Citizen)
        .unwrap();
    assert_eq!(
        app.service_prolonged(EXPIRY + DAY, ServiceType::Citizen)
            .unwrap_err()
            .rule,
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
fn only_the_profiles_the_prolonged_service_type_allows_are_issued() {
    // (prolonged as, issued, a note on what is not)
    let table = [
        (ServiceType::Business, vec![C, B], false),
        (ServiceType::Citizen, vec![C], true),
        (ServiceType::Governmental, vec![C], true),
    ];
    for (service, issued, note) in table {
        let t = opens();
        let mut app =
            Application::submit(request(ServiceType::Business, &[C, B], true), t).unwrap();
        app.receive(t).unwrap();
        app.service_prolonged(EXPIRY + DAY, service).unwrap();
        assert_eq!(app.prolonged_as(), Some(service));
        assert_eq!(app.issue(EXPIRY + DAY).unwrap(), ProfileSet::of(&issued));
        assert_eq!(app.issued(), Some(ProfileSet::of(&issued)));
        assert_eq!(app.not_issued().is_some(), note, "{service:?}");
        if let Some(n) = app.not_issued() {
            assert!(
                n.contains("Business not issued") && n.contains(sms_keyword(service)),
                "{n}"
            );
        }
    }
    assert_eq!(service_from_sms("biznes"), Some(ServiceType::Business));
    assert_eq!(service_from_sms("ferdi"), Some(ServiceType::Citizen));
    assert_eq!(service_from_sms("dovlet"), Some(ServiceType::Governmental));
    assert_eq!(service_from_sms("business"), None);
}

#[test]
fn the_head_approves_or_cancels_but_does_not_edit() {
    let t = opens();
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
    let e = app.approve_power_of_attorney(VOEN, t - 1).unwrap_err();
    assert!(e.reason.contains("before the application was sent"), "{e}");
    app.cancel_power_of_attorney(VOEN, t + 2 * DAY).unwrap();
    assert_eq!(cancelled_by(&app), Some(Rule::HeadApprovesOrCancels));
    let e = app
        .approve_power_of_attorney(VOEN, t + 3 * DAY)
        .unwrap_err();
    assert!(e.reason.starts_with("the application is cancelled"), "{e}");

    // Approved: sent to the centre; approving twice is refused.
    let mut app = received(ServiceType::Business, &[C, B], false);
    app.approve_power_of_attorney(VOEN, t + DAY).unwrap();
    assert_eq!(app.state(), &State::Submitted);
    let e = app.approve_power_of_attorney(VOEN, t + DAY).unwrap_err();
    assert_eq!(e.rule, Rule::HeadApprovesOrCancels);
    app.receive(t + DAY).unwrap();
    assert_eq!(app.state(), &State::Processing);
}

#[test]
fn a_non_heads_application_reaches_the_centre_only_after_approval() {
    let t = opens();
    let mut app = received(ServiceType::Business, &[C, B], false);
    let e = app.receive(t + DAY).unwrap_err();
    assert_eq!(e.rule, Rule::PowerOfAttorney);
    assert!(e.reason.contains("3.2.2 steps 9-14"), "{e}");
    assert_eq!(app.state(), &State::AwaitingPowerOfAttorney);
    assert_eq!(app.received(), None);
    app.approve_power_of_attorney(VOEN, t + 2 * DAY).unwrap();
    app.receive(t + 3 * DAY).unwrap();
    assert_eq!(app.received(), Some(t + 3 * DAY));
    let names: Vec<&str> = app.history().iter().map(|(_, s)| s.name()).collect();
    assert_eq!(
        names,
        ["awaiting_power_of_attorney", "submitted", "processing"]
    );
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
    app.service_prolonged(EXPIRY + DAY, ServiceType::Business)
        .unwrap();
    assert_eq!(app.state(), &State::AwaitingPowerOfAttorney);
    app.approve_power_of_attorney(VOEN, t + 30 * DAY).unwrap();
    app.receive(t + 30 * DAY).unwrap();
    assert_eq!(app.state(), &State::Processing);
    app.issue(t + 30 * DAY).unwrap();
}

#[test]
fn the_earlier_deadline_cancels() {
    let mut app = received(ServiceType::Business, &[C, B], false);
    app.tick(EXPIRY + 100 * DAY);
    assert_eq!(cancelled_by(&app), Some(Rule::PowerOfAttorneyDeadline));
    app.tick(EXPIRY + 200 * DAY);
    assert_eq!(app.history().len(), 2, "{:?}", app.history());
}

/// Regression (issue 15): an application sent while the certificate was
/// valid is not cancelled because the centre received it after expiry.
#[test]
fn received_after_expiry_is_not_cancelled() {
    let t = EXPIRY - DAY;
    let mut app = Application::submit(request(ServiceType::Citizen, &[C], true), t).unwrap();
    let e = app.issue(t).unwrap_err();
    assert_eq!(e.rule, Rule::SentForProcessing);
    let e = app.receive(t - 1).unwrap_err();
    assert_eq!(e.rule, Rule::SentForProcessing);
    assert_eq!(app.state(), &State::Submitted);
    app.receive(EXPIRY + 1).unwrap();
    assert_eq!(app.state(), &State::AwaitingServiceProlongation);
    assert_eq!(cancelled_by(&app), None);
    app.service_prolonged(EXPIRY + 2, ServiceType::Citizen)
        .unwrap();
    app.issue(EXPIRY + 3).unwrap();

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
