//! Test fixtures made with PDF software that is not ours, for testing our
//! PAdES signer and verifier against it:
//!
//! - unsigned PDFs: [`ghostscript_pdf`], its qpdf rewrites
//!   [`qpdf_xref_stream_pdf`] (object streams, cross-reference stream) and
//!   [`qpdf_classic`] (xref table), [`large_pdf`] (streamed, any size);
//!   [`qpdf_check`] judges any PDF;
//! - an openssl PKI ([`openssl_p256_signer`]) and a loopback openssl TSA
//!   ([`OpensslTsa`]);
//! - pyHanko signing and validating ([`pyhanko_sign`], [`pyhanko_validate`]);
//! - poppler's `pdfsig` ([`pdfsig`], [`pdfsig_trusting`] with
//!   [`nss_db_with`]);
//! - tampering: [`alter_after_signing`], [`alter_in_place`].
//!
//! Every function runs the tool and panics with the tool's output when it
//! fails. Tools: Debian's ghostscript, qpdf, poppler-utils, openssl,
//! libnss3-tools; PyPI's pyhanko and pyhanko-cli (see
//! `/work/notes/pdf-tools.md` for versions and what they print).
//!
//! Use from an integration test crate root with `mod pdf_tools;` (and
//! `#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]`);
//! it needs the `tempfile` dev-dependency.
#![allow(dead_code, unused_imports)]

pub mod alter;
pub mod docs;
pub mod pdfsig;
pub mod pki;
pub mod pyhanko;
pub mod run;
pub mod tsa;

pub use alter::{ALTERATION, alter_after_signing, alter_in_place, last_byte_range};
pub use docs::{
    XrefKind, ghostscript_pdf, large_pdf, last_startxref, page_count, pdftotext, qpdf_check,
    qpdf_classic, qpdf_xref_stream_pdf, xref_kind,
};
pub use pdfsig::{PdfsigSignature, nss_db_with, parse_pdfsig, pdfsig, pdfsig_trusting};
pub use pki::{OpensslCa, ROOT_CN, SIGNER_CN, Signer, openssl_p256_signer, openssl_root};
pub use pyhanko::{
    PyhankoReport, PyhankoSignature, PyhankoTimestamp, pyhanko, pyhanko_ades_validate,
    pyhanko_sign, pyhanko_validate,
};
pub use run::{Run, run, run_in};
pub use tsa::{OpensslTsa, TSA_CN};
