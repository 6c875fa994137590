//! End-to-end tests of operator provisioning (issue 5) with the `asan`
//! binary on `--virtual` card images in a temporary directory: the
//! development CA, personalisation with generated PINs and the PIN mailer,
//! requests for the certification centre and `cert load`, re-runs that skip,
//! PINs from the environment, key files (wrong keys, malformed files, keys
//! rotated with PUT KEY), service suspension, renewal, termination, both
//! secure-channel levels and `asan demo`. Certificates and requests are
//! checked with the real `openssl`; signatures are verified against the
//! certificates' keys.
//!
//! Every run of the binary is checked for a panic. PC/SC is pointed at a
//! socket that does not exist, so no test can reach a reader (or another
//! test's card in a shared pcscd).
//!
//! `provision/defects.rs` holds the regression tests for the defects found
//! while writing this file. All of them are fixed; each test is named after
//! the behaviour that holds now.
//!
//! The lab (`provision/lab.rs`, running the binary in `common/run.rs`) and
//! the checks (`provision/checks.rs`) are shared by the test modules.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

#[path = "provision/checks.rs"]
mod checks;
#[path = "provision/lab.rs"]
mod lab;

#[path = "provision/audit_trail.rs"]
mod audit_trail;
#[path = "provision/defects.rs"]
mod defects;
#[path = "provision/keys.rs"]
mod keys;
#[path = "provision/keys_derive.rs"]
mod keys_derive;
#[path = "provision/levels.rs"]
mod levels;
#[path = "provision/lifecycle.rs"]
mod lifecycle;
#[path = "provision/master_keys.rs"]
mod master_keys;
#[path = "provision/personalisation.rs"]
mod personalisation;
#[path = "provision/requests.rs"]
mod requests;
#[path = "provision/reviewed.rs"]
mod reviewed;
