//! Every window of the procedure counted in calendar days, Asia/Baku time
//! (UTC+4), tested at both ends on the Baku midnight boundaries: each row
//! names the instant in Baku time and in UTC.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use asan_applet::CertificateProfile::{Business as B, Citizen as C};
use asan_applet::ServiceType;

use super::{VOEN, request};
use crate::renewal::*;

/// A certificate of three years expiring at `expiry` (RFC 3339).
fn validity(expiry: &str) -> Validity {
    let not_after = parse_time(expiry).unwrap();
    Validity {
        not_before: not_after - 1095 * DAY,
        not_after,
    }
}

fn at(baku: &str, utc: &str) -> i64 {
    let t = parse_time(baku).unwrap();
    assert_eq!(format_time(t), utc, "{baku} is {utc}");
    assert_eq!(format_baku(t), baku);
    assert_eq!(format_both(t), format!("{baku} ({utc})"));
    t
}

#[test]
fn the_renewal_window_opens_at_baku_midnight_30_days_before_the_expiry_date() {
    // (expiry, instant in Baku, the same in UTC, open?)
    let table = [
        // Expires 23:24:50 Baku on 21 November: the window opens 22 October.
        (
            "2029-11-21T19:24:50Z",
            "2029-10-21T23:59:59+04:00",
            "2029-10-21T19:59:59Z",
            false,
        ),
        (
            "2029-11-21T19:24:50Z",
            "2029-10-22T00:00:00+04:00",
            "2029-10-21T20:00:00Z",
            true,
        ),
        (
            "2029-11-21T19:24:50Z",
            "2029-11-21T23:24:49+04:00",
            "2029-11-21T19:24:49Z",
            true,
        ),
        (
            "2029-11-21T19:24:50Z",
            "2029-11-21T23:24:50+04:00",
            "2029-11-21T19:24:50Z",
            false,
        ),
        // Expires 00:30 Baku on 22 November (still 21 November in UTC): the
        // Baku date counts, the window opens 23 October.
        (
            "2029-11-21T20:30:00Z",
            "2029-10-22T23:59:59+04:00",
            "2029-10-22T19:59:59Z",
            false,
        ),
        (
            "2029-11-21T20:30:00Z",
            "2029-10-23T00:00:00+04:00",
            "2029-10-22T20:00:00Z",
            true,
        ),
        // Expires exactly at Baku midnight starting 22 November.
        (
            "2029-11-21T20:00:00Z",
            "2029-10-22T23:59:59+04:00",
            "2029-10-22T19:59:59Z",
            false,
        ),
        (
            "2029-11-21T20:00:00Z",
            "2029-10-23T00:00:00+04:00",
            "2029-10-22T20:00:00Z",
            true,
        ),
        (
            "2029-11-21T20:00:00Z",
            "2029-11-21T23:59:59+04:00",
            "2029-11-21T19:59:59Z",
            true,
        ),
        (
            "2029-11-21T20:00:00Z",
            "2029-11-22T00:00:00+04:00",
            "2029-11-21T20:00:00Z",
            false,
        ),
    ];
    for (expiry, baku, utc, open) in table {
        let now = at(baku, utc);
        let w = Window::at(validity(expiry), now);
        assert_eq!(w.is_open(), open, "expiry {expiry}, at {baku} ({utc})");
        let sent = Application::submit(
            Request {
                signer: validity(expiry),
                service_expires: validity(expiry).not_after,
                ..request(ServiceType::Citizen, &[C], true)
            },
            now,
        );
        assert_eq!(sent.is_ok(), open, "expiry {expiry}, at {baku}");
        if !open && now < w.opens {
            let why = w.reason().unwrap();
            assert!(why.contains(&format_both(w.opens)), "{why}");
        }
    }
}

#[test]
fn the_prolongation_deadline_is_the_end_of_the_30th_day_after_the_expiry_date() {
    // (expiry, prolonged at in Baku, in UTC, in time?)
    let table = [
        // Expires 23:24:50 Baku on 21 November: prolong by 21 December.
        (
            "2029-11-21T19:24:50Z",
            "2029-12-21T23:59:59+04:00",
            "2029-12-21T19:59:59Z",
            true,
        ),
        (
            "2029-11-21T19:24:50Z",
            "2029-12-22T00:00:00+04:00",
            "2029-12-21T20:00:00Z",
            false,
        ),
        // Expires 00:30 Baku on 22 November: prolong by 22 December.
        (
            "2029-11-21T20:30:00Z",
            "2029-12-22T23:59:59+04:00",
            "2029-12-22T19:59:59Z",
            true,
        ),
        (
            "2029-11-21T20:30:00Z",
            "2029-12-23T00:00:00+04:00",
            "2029-12-22T20:00:00Z",
            false,
        ),
        // The expiry day itself, right after the lapse.
        (
            "2029-11-21T19:24:50Z",
            "2029-11-21T23:24:50+04:00",
            "2029-11-21T19:24:50Z",
            true,
        ),
    ];
    for (expiry, baku, utc, in_time) in table {
        let prolonged = at(baku, utc);
        let v = validity(expiry);
        let t = baku::window_opens(v.not_after, 30);
        let mut app = Application::submit(
            Request {
                signer: v,
                service_expires: v.not_after,
                ..request(ServiceType::Citizen, &[C], true)
            },
            t,
        )
        .unwrap();
        app.receive(t).unwrap();
        let r = app.service_prolonged(prolonged, ServiceType::Citizen);
        assert_eq!(
            r.is_ok(),
            in_time,
            "expiry {expiry}, prolonged {baku}: {r:?}"
        );
        if !in_time {
            let e = r.unwrap_err();
            assert_eq!(e.rule, Rule::ServiceProlongationDeadline);
            assert!(e.reason.contains(&format_both(prolonged - 1)), "{e}");
        }
    }
}

#[test]
fn the_head_has_until_the_end_of_the_30th_day_after_the_application_was_sent() {
    let expiry = validity("2029-11-21T19:24:50Z");
    // (sent in Baku, in UTC, approved in Baku, in UTC, in time?)
    let table = [
        // Sent at 10:00 Baku on 25 October: approve by 24 November 23:59:59.
        (
            ("2029-10-25T10:00:00+04:00", "2029-10-25T06:00:00Z"),
            ("2029-11-24T23:59:59+04:00", "2029-11-24T19:59:59Z"),
            true,
        ),
        (
            ("2029-10-25T10:00:00+04:00", "2029-10-25T06:00:00Z"),
            ("2029-11-25T00:00:00+04:00", "2029-11-24T20:00:00Z"),
            false,
        ),
        // Sent at 23:59:59 Baku (19:59:59 UTC): the same deadline as any
        // other time on 25 October.
        (
            ("2029-10-25T23:59:59+04:00", "2029-10-25T19:59:59Z"),
            ("2029-11-24T23:59:59+04:00", "2029-11-24T19:59:59Z"),
            true,
        ),
        // Sent at 00:00 Baku on 26 October (still 25 October in UTC): one
        // day more.
        (
            ("2029-10-26T00:00:00+04:00", "2029-10-25T20:00:00Z"),
            ("2029-11-25T23:59:59+04:00", "2029-11-25T19:59:59Z"),
            true,
        ),
        (
            ("2029-10-26T00:00:00+04:00", "2029-10-25T20:00:00Z"),
            ("2029-11-26T00:00:00+04:00", "2029-11-25T20:00:00Z"),
            false,
        ),
    ];
    for ((sent_baku, sent_utc), (approved_baku, approved_utc), in_time) in table {
        let sent = at(sent_baku, sent_utc);
        let approved = at(approved_baku, approved_utc);
        let mut app = Application::submit(
            Request {
                signer: expiry,
                service_expires: expiry.not_after,
                ..request(ServiceType::Business, &[C, B], false)
            },
            sent,
        )
        .unwrap();
        let deadline = app.power_of_attorney().unwrap().deadline;
        let r = app.approve_power_of_attorney(VOEN, approved);
        assert_eq!(
            r.is_ok(),
            in_time,
            "sent {sent_baku}, approved {approved_baku}: {r:?}"
        );
        if in_time {
            assert!(approved <= deadline);
        } else {
            assert_eq!(approved, deadline + 1, "the first second too late");
            let e = r.unwrap_err();
            assert_eq!(e.rule, Rule::PowerOfAttorneyDeadline);
            assert!(e.reason.contains(&format_both(deadline)), "{e}");
        }
    }
}
