//! Signature time-stamps (CAdES-T, RFC 3161): `asan sign FILE --tsa URL`
//! on a personalised virtual card against a TSA that is not ours (`openssl
//! ts -reply` behind a small HTTP server in this test) and against `asan
//! tsa serve`; `asan verify` with `--tsa-ca`, `openssl cms -verify` and
//! `openssl ts -verify` on the token; TSAs that fail (down, silent,
//! garbage, a token for other data, a rejection) leave no file; a
//! time-stamped signature stays valid after the signer's certificate
//! expired (its path validated at genTime), one without a token does not;
//! a token moved to another signature, or from an untrusted TSA, makes the
//! signature invalid.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "timestamp/cli.rs"]
mod cli;
#[path = "timestamp/library.rs"]
mod library;
#[path = "timestamp/servers.rs"]
mod servers;
#[path = "timestamp/setup.rs"]
mod setup;
