//! PDF signatures (PAdES) against software we did not write: our signer
//! on PDFs made by ghostscript and qpdf (a cross-reference stream, an
//! existing pyHanko signature), judged by pdfsig, pyHanko and qpdf; our
//! verifier on PDFs pyHanko signed with an openssl key, with and without
//! a time stamp from an openssl TSA, and on the same PDFs altered; PAdES
//! B-T with our TSA; inputs we must refuse without writing anything.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod pdf_tools;
#[path = "pdf/setup.rs"]
mod setup;
#[path = "pdf/signer.rs"]
mod signer;
#[path = "pdf/verifier.rs"]
mod verifier;
