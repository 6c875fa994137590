//! End-to-end tests of the `asan` command line against `--virtual` card
//! images: every command and global option of issue 4, PIN entry from the
//! environment and from standard input, exit codes and error messages,
//! JSON output, the APDU trace with its PIN redaction, certificates made
//! with `openssl`, broken and unusable images — and, for every single run,
//! that the binary neither panics nor prints a PIN it was given.
//!
//! The images are personalised with the shared operator helper
//! (`tests/src/operator.rs`): a Citizen card with PIN1 1234, PIN2 12345,
//! PUK 12345678 and keys 11 (authentication) and 21 (signing).
//!
//! The harness (`cli/harness.rs`, running the binary in `common/run.rs`)
//! and the checks (`cli/checks.rs`) are shared by the test modules, one a
//! group of commands.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[allow(dead_code)]
#[path = "../../tests/src/operator.rs"]
mod operator;

#[path = "cli/checks.rs"]
mod checks;
#[path = "cli/harness.rs"]
mod harness;

#[path = "cli/certificates.rs"]
mod certificates;
#[path = "cli/images.rs"]
mod images;
#[path = "cli/info.rs"]
mod info;
#[path = "cli/pins.rs"]
mod pins;
#[path = "cli/secrets.rs"]
mod secrets;
#[path = "cli/signing.rs"]
mod signing;
#[path = "cli/terminal.rs"]
mod terminal;
