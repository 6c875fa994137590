//! When a certificate may be renewed online: while it is valid
//! (`not_before ≤ now < not_after`) and within the 30 calendar days before
//! the day it expires, counted in Baku time (from 00:00 Asia/Baku of the
//! 30th day before the expiry date) — procedure 3.1 step 8 note.

use super::baku::{format_both, window_opens};
use super::rules::{Refusal, Rule};
use super::time::DAY;

/// How many calendar days before the expiry date the window opens: 30.
pub const WINDOW_DAYS: i64 = 30;

/// The window's length in seconds when the expiry is at Baku midnight: 30
/// days (kept for callers that want a duration).
pub const WINDOW: i64 = WINDOW_DAYS * DAY;

/// A certificate's validity, in Unix seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validity {
    /// First second of validity.
    pub not_before: i64,
    /// Expiry: the certificate is no longer valid from this second on.
    pub not_after: i64,
}

impl Validity {
    /// The validity of a parsed certificate.
    pub fn of(cert: &x509_cert::Certificate) -> Self {
        let v = cert.tbs_certificate().validity();
        Self {
            not_before: crate::cert::unix_seconds(&v.not_before),
            not_after: crate::cert::unix_seconds(&v.not_after),
        }
    }
}

/// Why the window is not open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closed {
    /// The certificate is not valid yet.
    NotYetValid,
    /// More than 30 days before expiry.
    TooEarly,
    /// Expired (at or after `not_after`): renewal needs a visit in person.
    Expired,
}

impl Closed {
    /// The rule that keeps the window closed.
    pub const fn rule(self) -> Rule {
        match self {
            Self::TooEarly => Rule::RenewalWindow,
            Self::NotYetValid | Self::Expired => Rule::CertificateActive,
        }
    }
}

/// The renewal window of one certificate, seen at one instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// The certificate's validity.
    pub validity: Validity,
    /// First second an application may be sent: 00:00 Baku time, 30
    /// calendar days before the Baku date of the expiry (or `not_before`
    /// for a certificate shorter than that).
    pub opens: i64,
    /// The window is closed from this second on (the certificate's expiry).
    pub closes: i64,
    /// When the window was looked at.
    pub now: i64,
    /// `None` when open, otherwise why not.
    pub closed: Option<Closed>,
}

impl Window {
    /// The window of `validity` at `now`.
    pub fn at(validity: Validity, now: i64) -> Self {
        let opens = window_opens(validity.not_after, WINDOW_DAYS).max(validity.not_before);
        let closes = validity.not_after;
        let closed = if now >= validity.not_after {
            Some(Closed::Expired)
        } else if now < validity.not_before {
            Some(Closed::NotYetValid)
        } else if now < opens {
            Some(Closed::TooEarly)
        } else {
            None
        };
        Self {
            validity,
            opens,
            closes,
            now,
            closed,
        }
    }

    /// Whether an application may be sent now.
    pub fn is_open(&self) -> bool {
        self.closed.is_none()
    }

    /// Why not, in words with the step; `None` when open.
    pub fn reason(&self) -> Option<String> {
        self.check().err().map(|r| r.to_string())
    }

    /// `Ok` when open, otherwise the refusal with its rule.
    pub fn check(&self) -> Result<(), Refusal> {
        let Some(closed) = self.closed else {
            return Ok(());
        };
        let reason = match closed {
            Closed::TooEarly => format!(
                "too early: opens on {} (00:00 Baku time, 30 calendar days before the expiry date); the certificate expires on {}",
                format_both(self.opens),
                format_both(self.closes)
            ),
            Closed::Expired => format!(
                "expired on {}: an expired certificate cannot be renewed online, renewal needs a visit in person to a certification centre",
                format_both(self.validity.not_after)
            ),
            Closed::NotYetValid => format!(
                "not yet valid: the certificate is valid from {}; only an active certificate can be renewed",
                format_both(self.validity.not_before)
            ),
        };
        Err(Refusal::new(closed.rule(), reason))
    }
}
