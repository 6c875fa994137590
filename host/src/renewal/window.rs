//! When a certificate may be renewed online: while it is valid
//! (`not_before ≤ now < not_after`) and in the last 30 days before it
//! expires (`now ≥ not_after − 30 days`) — procedure 3.1 step 8 note.

use super::rules::{Refusal, Rule};
use super::time::{DAY, format};

/// How long before expiry the window opens: 30 days.
pub const WINDOW: i64 = 30 * DAY;

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
    /// First second an application may be sent.
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
        let opens = validity
            .not_after
            .saturating_sub(WINDOW)
            .max(validity.not_before);
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
                "too early: opens on {}, 30 days before expiry on {}",
                format(self.opens),
                format(self.closes)
            ),
            Closed::Expired => format!(
                "expired on {}: an expired certificate cannot be renewed online, renewal needs a visit in person to a certification centre",
                format(self.validity.not_after)
            ),
            Closed::NotYetValid => format!(
                "not yet valid: the certificate is valid from {}; only an active certificate can be renewed",
                format(self.validity.not_before)
            ),
        };
        Err(Refusal::new(closed.rule(), reason))
    }
}
