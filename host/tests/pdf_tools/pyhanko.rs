//! pyHanko's command line (`pip install pyhanko pyhanko-cli`): signing with
//! PEM key material and validating, with its reports parsed.
//!
//! pyHanko always runs in a fresh empty working directory (it would read a
//! `pyhanko.yml` from the current one), with no standard input and
//! `--no-pass`, so it never prompts.

use std::path::Path;

use super::pki::Signer;
use super::run::{Run, arg, run_in};

/// Runs `pyhanko ARGS…` in an empty scratch directory.
pub fn pyhanko(args: &[&str]) -> Run {
    let cwd = tempfile::tempdir().unwrap();
    run_in(Some(cwd.path()), "pyhanko", args)
}

/// Signs `input` into `output` with `pyhanko sign addsig … pemder --key
/// KEY --cert CERT --chain CA --no-pass`.
///
/// `field` is a field name (a new invisible field, or an existing empty
/// one) or `PAGE/X1,Y1,X2,Y2/NAME` for a new visible one (pages from 1);
/// `tsa_url` adds `--timestamp-url` (a signature time stamp: PAdES B-T
/// with `pades`); `pades` adds `--use-pades` (`/SubFilter
/// /ETSI.CAdES.detached` instead of `/adbe.pkcs7.detached`). Panics with
/// pyHanko's output when it fails.
pub fn pyhanko_sign(
    input: &Path,
    output: &Path,
    signer: &Signer,
    field: &str,
    tsa_url: Option<&str>,
    pades: bool,
) {
    let mut args = vec!["sign", "addsig", "--field", field];
    if let Some(url) = tsa_url {
        args.extend(["--timestamp-url", url]);
    }
    if pades {
        args.push("--use-pades");
    }
    args.extend([
        "pemder",
        "--key",
        arg(&signer.key_pem),
        "--cert",
        arg(&signer.cert_pem),
        "--chain",
        arg(&signer.ca_pem),
        "--no-pass",
        arg(input),
        arg(output),
    ]);
    pyhanko(&args).ok();
    assert!(output.is_file(), "pyhanko wrote no {}", output.display());
}

/// What pyHanko says about one signature field.
#[derive(Clone, Debug)]
pub struct PyhankoSignature {
    /// The field name (`Field N: NAME` in the pretty report).
    pub field: String,
    /// The status part of the one-line summary after `FIELD:CERT-SHA256:`,
    /// e.g. `INTACT:TRUSTED,TIMESTAMP_TOKEN<INTACT:TRUSTED>,UNTOUCHED`.
    pub summary: String,
    /// The summary starts with `INTACT` and the report says "The signature
    /// is cryptographically sound." (the digest matches the signed bytes
    /// and the signature verifies).
    pub intact: bool,
    /// "The signer's certificate is trusted."
    pub trusted: bool,
    /// "The signature is judged VALID." (bottom line).
    pub valid: bool,
    /// The bottom line's text: "The signature is judged VALID." / "…INVALID."
    pub bottom_line: String,
    /// "The signature covers the entire file."
    pub covers_whole_file: bool,
    /// The last flag of the summary: pyHanko's modification level,
    /// `UNTOUCHED`, `EXTENDED_WITH_FORM_FILLING,ACCEPTABLE_MODIFICATIONS`
    /// (its last part) or another such word.
    pub modification: String,
    /// The lines of the pretty report's "Modifications" section.
    pub modifications_text: String,
    /// The signature time stamp (unsigned attribute of the CMS signer
    /// info), when pyHanko found one: PAdES B-T.
    pub timestamp: Option<PyhankoTimestamp>,
    /// This field's part of the pretty report.
    pub pretty: String,
}

/// A signature time stamp as pyHanko reports it.
#[derive(Clone, Debug)]
pub struct PyhankoTimestamp {
    /// After "Signature timestamp token: ", e.g. `2026-12-07T19:15:31+00:00`.
    pub time: String,
    /// `TIMESTAMP_TOKEN<INTACT:…>` and "The timestamp token is
    /// cryptographically sound."
    pub intact: bool,
    /// `TIMESTAMP_TOKEN<…:TRUSTED>` and "The TSA certificate is trusted."
    pub trusted: bool,
}

/// pyHanko's report on a file: every signature field it validated.
#[derive(Clone, Debug)]
pub struct PyhankoReport {
    /// The `--pretty-print` run's stdout and stderr.
    pub raw: String,
    /// The summary run's stdout and stderr (one `FIELD:SHA256:STATUS` line
    /// per signature).
    pub summary_raw: String,
    /// Both runs exited 0 (pyHanko exits 1, "Error: Validation failed",
    /// when any signature is not valid).
    pub exit_ok: bool,
    /// One entry per signature, in file order.
    pub signatures: Vec<PyhankoSignature>,
    /// There is a signature and every one is intact.
    pub intact: bool,
    /// There is a signature, every one is valid and pyHanko exited 0.
    pub valid: bool,
    /// There is a signature and every one has a signature time stamp.
    pub timestamped: bool,
}

impl PyhankoReport {
    /// The signature in field `name`; panics with the report if none.
    pub fn field(&self, name: &str) -> &PyhankoSignature {
        self.signatures
            .iter()
            .find(|s| s.field == name)
            .unwrap_or_else(|| panic!("pyHanko reports no field {name:?}:\n{}", self.raw))
    }
}

/// `pyhanko sign validate [--pretty-print] --no-revocation-check
/// --trust-replace --trust TRUST [EXTRA…] PATH`, run twice (once for the
/// one-line summaries, once pretty-printed) and parsed. pyHanko validates
/// every signature in the file and reports each; `extra` adds options, e.g.
/// `["--trust", tsa_root]` for a TSA under another root. Panics only when
/// pyHanko printed no report at all (a crash, an unreadable file).
pub fn pyhanko_validate(path: &Path, trust_pem: &Path, extra: &[&str]) -> PyhankoReport {
    validate_with("validate", path, trust_pem, extra)
}

/// The same with `pyhanko sign adesverify` (AdES-style validation of the
/// same signatures; its reports look alike but say nothing of the
/// signer-reported signing time).
pub fn pyhanko_ades_validate(path: &Path, trust_pem: &Path, extra: &[&str]) -> PyhankoReport {
    validate_with("adesverify", path, trust_pem, extra)
}

fn validate_with(command: &str, path: &Path, trust_pem: &Path, extra: &[&str]) -> PyhankoReport {
    let mut base = vec![
        "sign",
        command,
        "--no-revocation-check",
        "--trust-replace",
        "--trust",
        arg(trust_pem),
    ];
    base.extend_from_slice(extra);
    let mut summary_args = base.clone();
    summary_args.push(arg(path));
    let mut pretty_args = base;
    pretty_args.extend(["--pretty-print", arg(path)]);
    let summary_run = pyhanko(&summary_args);
    let pretty_run = pyhanko(&pretty_args);
    parse_report(&summary_run, &pretty_run)
}

fn parse_report(summary_run: &Run, pretty_run: &Run) -> PyhankoReport {
    let raw = pretty_run.text();
    let summary_raw = summary_run.text();
    let summaries: Vec<(String, String)> =
        summary_run.out().lines().filter_map(summary_line).collect();
    let sections = pretty_sections(&pretty_run.out());
    if summaries.is_empty() || sections.len() != summaries.len() {
        panic!(
            "pyHanko printed no usable report ({} summaries, {} pretty sections)\n{summary_run}\n{pretty_run}",
            summaries.len(),
            sections.len()
        );
    }
    let signatures: Vec<PyhankoSignature> = summaries
        .into_iter()
        .zip(sections)
        .map(|((field, summary), (pretty_field, pretty))| {
            assert_eq!(
                field, pretty_field,
                "pyHanko's two reports disagree:\n{summary_raw}\n{raw}"
            );
            signature(field, summary, pretty)
        })
        .collect();
    let any = !signatures.is_empty();
    let exit_ok = summary_run.code == Some(0) && pretty_run.code == Some(0);
    PyhankoReport {
        intact: any && signatures.iter().all(|s| s.intact),
        valid: any && exit_ok && signatures.iter().all(|s| s.valid),
        timestamped: any && signatures.iter().all(|s| s.timestamp.is_some()),
        raw,
        summary_raw,
        exit_ok,
        signatures,
    }
}

/// `FIELD:64-HEX:STATUS` → (FIELD, STATUS).
fn summary_line(line: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = line.splitn(3, ':').collect();
    if parts.len() == 3 && parts[1].len() == 64 && parts[1].bytes().all(|b| b.is_ascii_hexdigit()) {
        Some((parts[0].to_owned(), parts[2].trim().to_owned()))
    } else {
        None
    }
}

/// Splits the pretty report at its `Field N: NAME` headers.
fn pretty_sections(text: &str) -> Vec<(String, String)> {
    let mut sections: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        let header = line
            .strip_prefix("Field ")
            .and_then(|rest| rest.split_once(": "))
            .filter(|(n, _)| n.bytes().all(|b| b.is_ascii_digit()));
        if let Some((_, name)) = header {
            sections.push((name.to_owned(), String::new()));
        } else if let Some((_, body)) = sections.last_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    sections
}

/// Splits at commas outside `<…>`.
fn flags(status: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut depth = 0usize;
    for c in status.chars() {
        match c {
            '<' => depth += 1,
            '>' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                out.push(String::new());
                continue;
            }
            _ => {}
        }
        out.last_mut().unwrap().push(c);
    }
    out
}

/// The body of the pretty report's section `title` (a title line followed
/// by a `-----` underline), trimmed; empty when there is none.
fn section(pretty: &str, title: &str) -> String {
    let lines: Vec<&str> = pretty.lines().collect();
    let is_title = |i: usize| {
        !lines[i].trim().is_empty() && lines.get(i + 1).is_some_and(|n| n.starts_with("---"))
    };
    let Some(start) = (0..lines.len()).find(|&i| lines[i].trim() == title && is_title(i)) else {
        return String::new();
    };
    let end = (start + 2..lines.len())
        .find(|&i| is_title(i))
        .unwrap_or(lines.len());
    lines[start + 2..end].join("\n").trim().to_owned()
}

fn signature(field: String, summary: String, pretty: String) -> PyhankoSignature {
    let has = |s: &str| pretty.lines().any(|l| l.trim() == s);
    let flags = flags(&summary);
    let intact = summary.starts_with("INTACT:") && has("The signature is cryptographically sound.");
    let timestamp = pretty
        .lines()
        .find_map(|l| l.strip_prefix("Signature timestamp token: "))
        .map(|time| {
            let token = flags
                .iter()
                .find_map(|f| f.strip_prefix("TIMESTAMP_TOKEN<")?.strip_suffix('>'))
                .unwrap_or("");
            PyhankoTimestamp {
                time: time.trim().to_owned(),
                intact: token.starts_with("INTACT")
                    && has("The timestamp token is cryptographically sound."),
                trusted: token.ends_with(":TRUSTED") && has("The TSA certificate is trusted."),
            }
        });
    PyhankoSignature {
        intact,
        trusted: has("The signer's certificate is trusted."),
        valid: has("The signature is judged VALID."),
        bottom_line: section(&pretty, "Bottom line"),
        covers_whole_file: has("The signature covers the entire file."),
        modification: flags.last().cloned().unwrap_or_default(),
        modifications_text: section(&pretty, "Modifications"),
        timestamp,
        field,
        summary,
        pretty,
    }
}
