//! The development CA's hygiene and revocation, each checked with the real
//! `openssl` command as the independent judge: the revocation register and
//! `DevCa::revoke`, signed CRLs (`openssl crl -text`, `openssl crl
//! -verify`, `openssl verify -crl_check_all`), the CRL distribution point
//! and certificate policy in issued certificates (`openssl x509 -text`),
//! the subject rules for requests made by `openssl req`, and the `asan ca`
//! commands.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

#[path = "ca_revocation/support.rs"]
mod support;

#[path = "ca_revocation/cli.rs"]
mod cli;
#[path = "ca_revocation/crl.rs"]
mod crl;
#[path = "ca_revocation/issuing.rs"]
mod issuing;
#[path = "ca_revocation/revoke.rs"]
mod revoke;
#[path = "ca_revocation/verify.rs"]
mod verify;
