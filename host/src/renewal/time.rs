//! Time for the renewal rules: an injectable [`Clock`], instants as Unix
//! seconds (`i64`), and RFC 3339 in and out.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// One day in seconds.
pub const DAY: i64 = 86_400;

/// Where "now" comes from: the system clock, or a fixed instant (tests,
/// `--now`).
pub trait Clock {
    /// Now, in seconds since 1970-01-01T00:00:00Z.
    fn now(&self) -> i64;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        crate::cert::now_seconds()
    }
}

/// A clock that always answers the same instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FixedClock(pub i64);

impl Clock for FixedClock {
    fn now(&self) -> i64 {
        self.0
    }
}

/// Unix seconds of a `SystemTime` (saturating; before 1970 is 0).
pub fn from_system_time(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The `SystemTime` of Unix seconds (before 1970 is 1970).
pub fn to_system_time(t: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::try_from(t).unwrap_or(0))
}

/// RFC 3339 in UTC, to the second: `2029-11-21T19:12:37Z`. Instants outside
/// 1970–9999 are written as their number of seconds.
pub fn format(t: i64) -> String {
    u64::try_from(t)
        .ok()
        .and_then(|s| der::DateTime::from_unix_duration(Duration::from_secs(s)).ok())
        .map_or_else(|| format!("@{t}"), |d| d.to_string())
}

/// Parses RFC 3339 (`2029-10-22T19:12:37Z`, `2029-10-22T23:12:37+04:00`,
/// fractions of a second ignored) into Unix seconds; years 1970–9999.
pub fn parse(text: &str) -> Result<i64, String> {
    let bad = || format!("'{text}' is not an RFC 3339 time such as 2029-10-22T19:12:37Z");
    let b = text.trim().as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<u16> {
        let digits = b.get(range)?;
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(digits).ok()?.parse().ok()
    };
    let sep = |i: usize, allowed: &[u8]| b.get(i).is_some_and(|c| allowed.contains(c));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
        return Err(bad());
    }
    let field = |r: std::ops::Range<usize>| num(r).ok_or_else(bad);
    let (year, month, day) = (field(0..4)?, field(5..7)?, field(8..10)?);
    let (hour, minute, second) = (field(11..13)?, field(14..16)?, field(17..19)?);
    let mut rest = b.get(19..).unwrap_or_default();
    if let Some(frac) = rest.strip_prefix(b".") {
        let digits = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return Err(bad());
        }
        rest = frac.get(digits..).unwrap_or_default();
    }
    let offset: i64 = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let digits = [*h1, *h2, *m1, *m2];
            if !digits.iter().all(u8::is_ascii_digit) {
                return Err(bad());
            }
            let [h1, h2, m1, m2] = digits.map(|d| i64::from(d - b'0'));
            let (h, m) = (h1 * 10 + h2, m1 * 10 + m2);
            if h > 23 || m > 59 {
                return Err(bad());
            }
            let s = (h * 60 + m) * 60;
            if *sign == b'+' { s } else { -s }
        }
        _ => return Err(bad()),
    };
    let small = |v: u16| u8::try_from(v).map_err(|_| bad());
    let utc = der::DateTime::new(
        year,
        small(month)?,
        small(day)?,
        small(hour)?,
        small(minute)?,
        small(second)?,
    )
    .map_err(|_| bad())?;
    let local = i64::try_from(utc.unix_duration().as_secs()).map_err(|_| bad())?;
    Ok(local - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_offsets() {
        let t = parse("2029-11-21T19:12:37Z").unwrap();
        assert_eq!(format(t), "2029-11-21T19:12:37Z");
        assert_eq!(parse("2029-11-21T23:12:37+04:00").unwrap(), t);
        assert_eq!(parse("2029-11-21T18:12:37.123-01:00").unwrap(), t);
        assert_eq!(parse("1970-01-01T00:00:00Z").unwrap(), 0);
        assert_eq!(format(-1), "@-1");
        assert_eq!(from_system_time(to_system_time(t)), t);
    }

    #[test]
    fn refuses_what_is_not_rfc_3339() {
        for bad in [
            "",
            "2029-11-21",
            "2029-11-21T19:12:37",
            "2029-13-21T19:12:37Z",
            "2029-02-30T19:12:37Z",
            "2029-11-21T24:00:00Z",
            "2029-11-21T19:12:37+4:00",
            "2029-11-21T19:12:37.Z",
            "1969-12-31T23:59:59Z",
            "２029-11-21T19:12:37Z",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
