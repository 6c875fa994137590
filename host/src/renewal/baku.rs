//! Dates as people in Azerbaijan read them: calendar days in Asia/Baku
//! time, which is UTC+4 all year (no daylight saving time since 2016), so a
//! fixed offset is the whole time zone and no tz database is needed.
//!
//! The procedure's windows are counted in whole calendar days:
//!
//! * "within the 30 days before the expiry date" (3.1 step 8 note): from
//!   00:00 Baku time of the 30th day before the day the certificate
//!   expires ([`window_opens`]);
//! * "within 30 days after expiry" (3.1 step 9 note) and "within 30 days"
//!   for the head's approval (3.2.2 step 9 note): until 23:59:59 Baku time
//!   of the 30th day after the day of the event ([`last_second_of_day_after`]).

use super::time::{DAY, format};

/// Asia/Baku's offset from UTC: +04:00, all year.
pub const BAKU_OFFSET: i64 = 4 * 3600;

/// The Baku calendar day of the instant `t` (Unix seconds), as a day
/// number (days since 1970-01-01 in Baku).
pub const fn day(t: i64) -> i64 {
    (t + BAKU_OFFSET).div_euclid(DAY)
}

/// The instant (Unix seconds) of 00:00:00 Baku time on day number `day`.
pub const fn midnight(day: i64) -> i64 {
    day * DAY - BAKU_OFFSET
}

/// The first second of the window "within the `days` days before the day
/// of `t`": 00:00 Baku time, `days` calendar days before the Baku date of
/// `t`.
pub const fn window_opens(t: i64, days: i64) -> i64 {
    midnight(day(t) - days)
}

/// The last second (23:59:59 Baku time) of the `days`-th calendar day
/// after the Baku date of `t`: the deadline of "within `days` days after".
pub const fn last_second_of_day_after(t: i64, days: i64) -> i64 {
    midnight(day(t) + days + 1) - 1
}

/// RFC 3339 in Baku time, to the second: `2029-11-21T23:24:50+04:00`.
/// Instants outside 1970–9999 are written as their number of seconds.
pub fn format_baku(t: i64) -> String {
    let local = format(t.saturating_add(BAKU_OFFSET));
    match local.strip_suffix('Z') {
        Some(stem) if t.checked_add(BAKU_OFFSET).is_some() && t >= 0 => format!("{stem}+04:00"),
        _ => format!("@{t}"),
    }
}

/// An instant in Baku time and UTC, for people:
/// `2029-11-21T23:24:50+04:00 (2029-11-21T19:24:50Z)`.
pub fn format_both(t: i64) -> String {
    format!("{} ({})", format_baku(t), format(t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::renewal::time::parse;

    #[test]
    fn days_and_midnights_in_baku() {
        // 19:59:59Z is 23:59:59 in Baku; 20:00:00Z is the next day's 00:00.
        let before = parse("2029-10-21T19:59:59Z").unwrap();
        let after = parse("2029-10-21T20:00:00Z").unwrap();
        assert_eq!(day(after), day(before) + 1);
        assert_eq!(midnight(day(after)), after);
        assert_eq!(format_baku(after), "2029-10-22T00:00:00+04:00");
        assert_eq!(
            format_both(before),
            "2029-10-21T23:59:59+04:00 (2029-10-21T19:59:59Z)"
        );
        assert_eq!(
            parse(&format_baku(before)).unwrap(),
            before,
            "the local form reads back"
        );
        assert_eq!(format_baku(-1), "@-1");
    }

    #[test]
    fn windows_count_calendar_days() {
        // Expiry at 23:24:50 Baku time on 21 November: the window opens at
        // 00:00 Baku time on 22 October, whatever the time of day.
        let expiry = parse("2029-11-21T19:24:50Z").unwrap();
        assert_eq!(
            format_baku(window_opens(expiry, 30)),
            "2029-10-22T00:00:00+04:00"
        );
        // Expiry at 00:30 Baku time on 22 November (20:30Z the day before):
        // a different Baku date than the UTC date.
        let late = parse("2029-11-21T20:30:00Z").unwrap();
        assert_eq!(
            format_baku(window_opens(late, 30)),
            "2029-10-23T00:00:00+04:00"
        );
        assert_eq!(
            format_baku(last_second_of_day_after(expiry, 30)),
            "2029-12-21T23:59:59+04:00"
        );
        assert_eq!(
            format_baku(last_second_of_day_after(late, 30)),
            "2029-12-22T23:59:59+04:00"
        );
    }
}
