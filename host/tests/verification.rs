//! Verification that agrees with RFC 5280: path validation, the signer
//! bound to what is checked, the time a chain is checked at.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "verification/boundaries.rs"]
mod boundaries;
#[path = "verification/regressions.rs"]
mod regressions;
#[path = "common/pki.rs"]
mod support;
