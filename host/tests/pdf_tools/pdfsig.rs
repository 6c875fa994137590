//! Poppler's `pdfsig` (poppler-utils) with its report parsed, and an NSS
//! database (libnss3-tools' `certutil`) holding our roots for its
//! certificate validation.
//!
//! Lines parsed, per `Signature #N:` block (poppler 22.12):
//! `- Signature Field Name: …`, `- Signer Certificate Common Name: …`,
//! `- Signature Type: …`, `- Signed Ranges: [a - b], [c - d]`,
//! `- Total document signed` / `- Not total document signed`,
//! `- Signature Validation: …` (the CMS signature and the digest of the
//! signed ranges: "Signature is Valid." or e.g. "Digest Mismatch.") and
//! `- Certificate Validation: …` (the signer's chain against the NSS
//! database: "Certificate is Trusted." or e.g. "Certificate issuer isn't
//! Trusted."; absent with `-nocert`).

use std::path::{Path, PathBuf};

use super::run::{arg, run};

/// One signature as `pdfsig` reports it.
#[derive(Clone, Debug, Default)]
pub struct PdfsigSignature {
    /// `Signature Field Name`.
    pub field: String,
    /// `Signer Certificate Common Name`.
    pub signer_cn: String,
    /// `Signature Type`: `adbe.pkcs7.detached` or `ETSI.CAdES.detached`.
    pub signature_type: String,
    /// `Signed Ranges` as printed: (start, end) with the end exclusive, so
    /// `[0 - 4986], [9328 - 9915]` is `/ByteRange [0 4986 9328 587]` and
    /// the last end is the file's length when the whole file is signed.
    pub ranges: Vec<(u64, u64)>,
    /// "Total document signed" (false for "Not total document signed"):
    /// the byte range reaches the end of the file.
    pub total_document: bool,
    /// The text after `Signature Validation: `.
    pub signature_validation: String,
    /// `Signature Validation: Signature is Valid.`
    pub valid: bool,
    /// The text after `Certificate Validation: `; `None` with `-nocert`.
    pub certificate_validation: Option<String>,
    /// `Certificate Validation: Certificate is Trusted.`
    pub certificate_trusted: bool,
    /// This signature's block of the output.
    pub raw: String,
}

/// `pdfsig -nocert PATH`: every signature's integrity, without
/// certificate validation (so no NSS database is read and the result does
/// not depend on the machine's `~/.pki/nssdb`). An unsigned file gives an
/// empty list; panics with the output when pdfsig fails otherwise.
pub fn pdfsig(path: &Path) -> Vec<PdfsigSignature> {
    pdfsig_args(&["-nocert", arg(path)])
}

/// `pdfsig -nssdir sql:NSSDIR PATH`: also validates each signer's
/// certificate against the roots in the NSS database (see
/// [`nss_db_with`]).
///
/// Not with `-no-ocsp`: poppler 22.12 then answers "Unknown issue with
/// Certificate or corrupted data." for every certificate. Without it, NSS
/// would ask an OCSP responder named in a certificate's AIA extension
/// (soft-fail); the openssl certificates here name none. Another poppler
/// 22.12 quirk: when two consecutive signatures carry the same signer
/// certificate, the second one's certificate validation also says
/// "Unknown issue with Certificate or corrupted data." (its signature
/// validation is unaffected).
pub fn pdfsig_trusting(path: &Path, nssdir: &Path) -> Vec<PdfsigSignature> {
    let db = format!("sql:{}", arg(nssdir));
    pdfsig_args(&["-nssdir", &db, arg(path)])
}

fn pdfsig_args(args: &[&str]) -> Vec<PdfsigSignature> {
    let r = run("pdfsig", args);
    let out = r.out();
    if out.contains("does not contain any signatures") {
        return Vec::new();
    }
    if r.code != Some(0) {
        panic!("{r}");
    }
    let sigs = parse_pdfsig(&out);
    assert!(
        !sigs.is_empty(),
        "no signature blocks in pdfsig's output:\n{r}"
    );
    sigs
}

/// Parses pdfsig's report into one entry per `Signature #N:` block.
pub fn parse_pdfsig(out: &str) -> Vec<PdfsigSignature> {
    let mut sigs: Vec<PdfsigSignature> = Vec::new();
    for line in out.lines() {
        if line.starts_with("Signature #") {
            sigs.push(PdfsigSignature::default());
        }
        let Some(sig) = sigs.last_mut() else { continue };
        sig.raw.push_str(line);
        sig.raw.push('\n');
        let Some(item) = line.trim_start().strip_prefix("- ") else {
            continue;
        };
        let (key, value) = item.split_once(": ").unwrap_or((item, ""));
        let value = value.trim();
        match key {
            "Signature Field Name" => sig.field = value.to_owned(),
            "Signer Certificate Common Name" => sig.signer_cn = value.to_owned(),
            "Signature Type" => sig.signature_type = value.to_owned(),
            "Signed Ranges" => {
                sig.ranges = value
                    .split(',')
                    .filter_map(|r| {
                        let r = r.trim().strip_prefix('[')?.strip_suffix(']')?;
                        let (a, b) = r.split_once(" - ")?;
                        Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
                    })
                    .collect();
            }
            "Total document signed" => sig.total_document = true,
            "Not total document signed" => sig.total_document = false,
            "Signature Validation" => {
                sig.signature_validation = value.to_owned();
                sig.valid = value == "Signature is Valid.";
            }
            "Certificate Validation" => {
                sig.certificate_validation = Some(value.to_owned());
                sig.certificate_trusted = value == "Certificate is Trusted.";
            }
            _ => {}
        }
    }
    sigs
}

/// A new NSS database `dir/nssdb` (empty password) with each of `roots`
/// (PEM) added as a trusted CA: `certutil -N -d sql:DIR --empty-password`,
/// then `certutil -A -d sql:DIR -n root-N -t C,C,C -i ROOT.pem`. The
/// S/MIME trust (the middle `C`) is what pdfsig needs: with `-t C,,` only,
/// it says "Certificate issuer isn't Trusted.". Pass the returned
/// directory to [`pdfsig_trusting`] (`pdfsig -nssdir sql:DIR`).
pub fn nss_db_with(dir: &Path, roots: &[&Path]) -> PathBuf {
    let db = dir.join("nssdb");
    std::fs::create_dir_all(&db).unwrap();
    let sql = format!("sql:{}", arg(&db));
    run("certutil", &["-N", "-d", &sql, "--empty-password"]).ok();
    for (i, root) in roots.iter().enumerate() {
        run(
            "certutil",
            &[
                "-A",
                "-d",
                &sql,
                "-n",
                &format!("root-{i}"),
                "-t",
                "C,C,C",
                "-i",
                arg(root),
            ],
        )
        .ok();
    }
    db
}
