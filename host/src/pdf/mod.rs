//! PDF signatures (PAdES, ETSI EN 319 142-1) without loading the PDF: the
//! reader ([`file`]) takes the trailer, the cross-reference sections and
//! the few objects a signature touches by positioned reads; the signer
//! ([`sign_pdf`]) appends an incremental update ([`update`]) and streams
//! the byte ranges through SHA-256 while it copies the original; the
//! verifier ([`verify`]) checks every signature of a document and reports
//! what was appended after each one.
//!
//! The PDF syntax code is our own and small (ISO 32000-1 §7.2–7.5): the
//! crates that parse PDFs load the whole document, which a 200 MiB file
//! must not need. Streams are decoded only for cross-reference and object
//! streams (FlateDecode with PNG predictors, through `flate2`).

mod appearance;
pub mod changes;
pub mod file;
mod filters;
pub mod object;
mod parse;
pub mod update;
pub mod verify;
mod xref;

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub use appearance::Placement;
pub use file::PdfFile;
pub use update::{Prepared, SignatureFields, prepare};
pub use verify::{PdfSignature, PdfVerification, verify_file, verify_pdf};

use crate::error::{Error, Result};

/// What is wrong with a PDF.
#[derive(Debug)]
pub enum PdfError {
    /// Not a PDF at all (no `%PDF-` header).
    NotPdf,
    /// An encrypted PDF (not supported).
    Encrypted,
    /// A damaged PDF: what is damaged.
    Broken(String),
    /// A request the document cannot satisfy (a page that does not exist).
    Usage(String),
    /// The file cannot be read.
    Io(PathBuf, std::io::Error),
}

impl std::fmt::Display for PdfError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotPdf => write!(f, "not a PDF (no %PDF- header)"),
            Self::Encrypted => write!(
                f,
                "the PDF is encrypted; signing and verifying encrypted PDFs is not supported \
                 (decrypt it first, e.g. qpdf --decrypt)"
            ),
            Self::Broken(why) => write!(f, "damaged PDF: {why}"),
            Self::Usage(why) => write!(f, "{why}"),
            Self::Io(path, e) => write!(f, "{}: {e}", path.display()),
        }
    }
}

impl PdfError {
    /// As our error, naming the file.
    pub fn about(self, path: &Path) -> Error {
        match self {
            Self::Io(p, source) => Error::Io {
                path: p.display().to_string(),
                source,
            },
            e => Error::Usage(format!("{}: {e}", path.display())),
        }
    }
}

/// Bytes reserved for the CMS signature when a time stamp is added, and
/// when not.
pub const RESERVE_WITH_TIMESTAMP: usize = 24_576;
/// See [`RESERVE_WITH_TIMESTAMP`].
pub const RESERVE: usize = 12_288;

/// The result of signing a PDF.
#[derive(Clone, Debug)]
pub struct SignedPdf {
    /// The new signature field's name.
    pub field: String,
    /// The signature's `/ByteRange`.
    pub byte_range: [u64; 4],
    /// SHA-256 of the byte ranges (the CMS message digest).
    pub digest: [u8; 32],
    /// The CMS signature's size.
    pub cms_len: usize,
}

/// The file `output` until it is complete; removed unless kept.
struct Pending {
    path: PathBuf,
    kept: bool,
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Signs `input` into `output`: an incremental update with `fields`, the
/// original copied and hashed in one pass (constant memory), `sign` called
/// with SHA-256 of the byte ranges and returning the DER CMS signature,
/// then the signature put in place and the file moved to `output` whole.
/// `output` is never overwritten unless `force`; on any error no file is
/// left behind.
pub fn sign_pdf(
    input: &Path,
    output: &Path,
    force: bool,
    fields: &SignatureFields,
    sign: &mut dyn FnMut(&[u8; 32]) -> Result<Vec<u8>>,
) -> Result<SignedPdf> {
    if !force && output.exists() {
        return Err(Error::Usage(format!(
            "{} exists; give --force to replace it",
            output.display()
        )));
    }
    if same_file(input, output) {
        return Err(Error::Usage(format!(
            "{} is the input itself; an incremental update goes to a new file",
            output.display()
        )));
    }
    let pdf = PdfFile::open(input).map_err(|e| e.about(input))?;
    let mut prepared = prepare(&pdf, fields).map_err(|e| e.about(input))?;

    let dir = output
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(io(&tmp))?;
    let mut pending = Pending {
        path: tmp.clone(),
        kept: false,
    };

    // Copy and hash the original in one pass.
    let mut hasher = Sha256::new();
    let mut src = File::open(input).map_err(io(input))?.take(prepared.base);
    let mut buf = vec![0u8; 1 << 20];
    let mut copied = 0u64;
    loop {
        let n = src.read(&mut buf).map_err(io(input))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(io(&tmp))?;
        copied += n as u64;
    }
    if copied != prepared.base {
        return Err(Error::Usage(format!(
            "{} changed while it was being signed",
            input.display()
        )));
    }
    for part in prepared.covered() {
        hasher.update(part);
    }
    let digest: [u8; 32] = hasher.finalize().into();

    let cms = sign(&digest)?;
    prepared.fill(&cms).map_err(|e| e.about(input))?;
    out.write_all(&prepared.update).map_err(io(&tmp))?;
    out.sync_all().map_err(io(&tmp))?;
    drop(out);

    if force {
        std::fs::rename(&tmp, output).map_err(io(output))?;
    } else {
        // A link never replaces: a file created meanwhile is not lost.
        std::fs::hard_link(&tmp, output).map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => Error::Usage(format!(
                "{} exists; give --force to replace it",
                output.display()
            )),
            _ => io(output)(e),
        })?;
        std::fs::remove_file(&tmp).map_err(io(&tmp))?;
    }
    pending.kept = true;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(SignedPdf {
        field: prepared.field.clone(),
        byte_range: prepared.byte_range,
        digest,
        cms_len: cms.len(),
    })
}

fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// `doc.signed.pdf` beside `doc.pdf`.
pub fn default_output(input: &Path) -> PathBuf {
    let stem = input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "document".into());
    input.with_file_name(format!("{stem}.signed.pdf"))
}

/// Whether `path` starts like a PDF (`%PDF-` in its first 1024 bytes).
pub fn looks_like_pdf(path: &Path) -> bool {
    let mut head = [0u8; 1024];
    let Ok(mut f) = File::open(path) else {
        return false;
    };
    let n = f.read(&mut head).unwrap_or(0);
    head[..n].windows(5).any(|w| w == b"%PDF-")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
