//! A hostile-PKI corpus made with openssl, and OpenSSL as the oracle of
//! our verifier, case by case.
//!
//! The corpus (built once per test binary, in a temporary directory under
//! the target directory) holds hierarchies, certificates, CRLs and CMS
//! signatures made with `openssl req`, `x509 -req`, `ca` and `cms -sign`,
//! at past or future times through `faketime`; one certificate with an
//! unsorted multi-valued RDN is written byte by byte. Each case pairs an
//! `asan cert verify` / `asan verify` command with the `openssl verify` /
//! `openssl cms -verify` command that answers the same question:
//!
//! - `openssl_verdicts`: openssl's verdict on each case is the recorded one
//!   (and the recorded verdicts of asan and openssl agree unless the case
//!   documents why they differ);
//! - `asan_agrees_with_openssl`: the `asan` binary exits as recorded and
//!   agrees with openssl, except where a difference is documented.
//!
//! `cargo test --test pki_corpus -- --nocapture` prints the table of
//! openssl's verdicts and where the corpus is.
//!
//! The hierarchy builder is `pki_corpus/hierarchy.rs`, the case type and
//! the mapping of options `pki_corpus/cases.rs`; the cases are in
//! `paths.rs` (P), `cms.rs` and `unsorted.rs` (C) and `crl.rs` (R).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "pki_corpus/cases.rs"]
mod cases;
#[path = "pki_corpus/cms.rs"]
mod cms;
#[path = "pki_corpus/crl.rs"]
mod crl;
#[path = "pki_corpus/hierarchy.rs"]
mod hierarchy;
#[path = "pki_corpus/openssl.rs"]
mod openssl;
#[path = "pki_corpus/paths.rs"]
mod paths;
#[path = "pki_corpus/unsorted.rs"]
mod unsorted;

use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use cases::Case;
use hierarchy::Pki;
use openssl::{asan, run, verdict, verdict_line};

/// Every case, by the first word of its name.
const IDS: &[&str] = &[
    "P1", "P2", "P3", "P4", "P4b", "P5", "P6", "P7", "P8a", "P8b", "P9a", "P9b", "P10", "P11",
    "P23", "P12", "P13", "P14", "P15", "P22", "P16", "P17", "P18", "P19", "P20", "P21", "P25",
    "P26", "C1", "C2", "C2b", "C3", "C4", "C4b", "C5", "C6", "C7", "C8", "C9", "C10a", "C10b",
    "C11", "P24", "R1", "R2", "R3", "R4", "R5", "R6", "R7", "R8", "R9", "R10", "R11", "R12", "R13",
    "R14", "R15", "R16", "R2-cms",
];

/// For every case asan must refuse (exit 1): the first check it fails
/// (`--json`), so that each refusal is for the reason the case is about.
const FIRST_FAILURE: &[(&str, &str)] = &[
    ("P4", "validity"),
    ("P5", "validity"),
    ("P6", "validity"),
    ("P7", "issuer key usage"),
    ("P8a", "basic constraints"),
    ("P8b", "basic constraints"),
    ("P9a", "path length"),
    ("P9b", "path length"),
    ("P10", "critical extensions"),
    ("P11", "extended key usage"),
    ("P23", "extended key usage"),
    ("P12", "end entity"),
    ("P14", "chain"),
    ("P22", "chain"),
    ("P18", "key usage"),
    ("P19", "validity"),
    ("P21", "chain"),
    ("P25", "extended key usage"),
    ("C2b", "signing-certificate-v2"),
    ("C4", "validity"),
    ("C5", "content digest"),
    ("C6", "extended key usage"),
    ("C7", "end entity"),
    ("C8", "issuer key usage"),
    ("C9", "critical extensions"),
    ("C10a", "structure"),
    ("C10b", "structure"),
    ("R2", "revocation"),
    ("R3", "revocation"),
    ("R4", "revocation"),
    ("R5", "revocation"),
    ("R6", "revocation"),
    ("R7", "revocation"),
    ("R10", "revocation"),
    ("R11", "revocation"),
    ("R13", "revocation"),
    ("R14", "revocation"),
    ("R16", "revocation"),
    ("R2-cms", "revocation"),
];

struct Corpus {
    dir: tempfile::TempDir,
    cases: Vec<Case>,
}

static CORPUS: OnceLock<Corpus> = OnceLock::new();

/// Removes corpora that earlier runs left (a static is never dropped).
fn prune_old_corpora(parent: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    let hour_ago = SystemTime::now() - Duration::from_secs(3600);
    for entry in entries.flatten() {
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t < hour_ago);
        if old
            && entry
                .file_name()
                .to_string_lossy()
                .starts_with("pki-corpus-")
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn corpus() -> &'static Corpus {
    CORPUS.get_or_init(|| {
        let parent = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
        prune_old_corpora(parent);
        let dir = tempfile::Builder::new()
            .prefix("pki-corpus-")
            .tempdir_in(parent)
            .unwrap();
        let start = Instant::now();
        let pki = Pki::new(dir.path());
        let doc = pki.write("doc.bin", cms::DOC);
        let (main, mut cases) = paths::build(&pki);
        cases.extend(cms::build(&pki, &main, &doc));
        cases.extend(crl::build(&pki, &main, &doc));
        println!(
            "corpus of {} cases made in {:.1} s in {}",
            cases.len(),
            start.elapsed().as_secs_f64(),
            dir.path().display()
        );
        Corpus { dir, cases }
    })
}

fn id(case: &Case) -> &str {
    case.name.split(' ').next().unwrap_or_default()
}

#[test]
fn openssl_verdicts() {
    let corpus = corpus();
    let ids: Vec<&str> = corpus.cases.iter().map(id).collect();
    assert_eq!(ids, IDS, "the cases, in order");
    let mut wrong = Vec::new();
    println!(
        "{:<62} {:>4} {:>7}  openssl says",
        "case", "asan", "openssl"
    );
    for case in &corpus.cases {
        let out = run("openssl", &case.openssl, None);
        let ok = verdict(&case.openssl, &out);
        let verdict = if ok { "valid" } else { "invalid" };
        println!(
            "{:<62} {:>4} {:>7}  {}",
            case.name,
            case.asan_exit,
            verdict,
            verdict_line(&out)
        );
        if ok != case.openssl_ok || !out.output().contains(case.openssl_says) {
            let expected = if case.openssl_ok { "valid" } else { "invalid" };
            wrong.push(format!(
                "{}: expected openssl to say {expected} ({:?}), it said {verdict}:\n{}",
                case.name,
                case.openssl_says,
                out.report()
            ));
        }
        let agree = (case.asan_exit == 0) == case.openssl_ok;
        if agree == case.difference.is_some() {
            wrong.push(format!(
                "{}: asan is expected to exit {} and openssl to say {expected}; the \
                 documented difference is {:?}: the expectations contradict it",
                case.name,
                case.asan_exit,
                case.difference,
                expected = if case.openssl_ok { "valid" } else { "invalid" },
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} problems (corpus in {}):\n\n{}",
        wrong.len(),
        corpus.dir.path().display(),
        wrong.join("\n\n")
    );
}

/// What is wrong with asan's answer on `case`, if anything.
fn disagreement(case: &Case) -> Option<String> {
    let ours = asan(&case.asan);
    let oracle = run("openssl", &case.openssl, None);
    let theirs = verdict(&case.openssl, &oracle);
    let mut problems = Vec::new();
    if ours.code != Some(case.asan_exit) {
        problems.push(format!(
            "expected asan to exit {}, it exited {:?}",
            case.asan_exit, ours.code
        ));
    }
    let valid = |v: bool| if v { "valid" } else { "invalid" };
    match case.difference {
        None if (ours.code == Some(0)) != theirs => problems.push(format!(
            "asan says {}, openssl says {} and no difference is documented",
            valid(ours.code == Some(0)),
            valid(theirs)
        )),
        Some(reason) if (ours.code == Some(0)) == theirs => problems.push(format!(
            "asan and openssl both say {}, but a difference is documented: {reason}",
            valid(theirs)
        )),
        _ => {}
    }
    if case.asan_exit == 1 {
        match FIRST_FAILURE.iter().find(|(i, _)| *i == id(case)) {
            None => problems.push("no expected first failure is recorded for it".into()),
            Some((_, expected)) => {
                let mut args = case.asan.clone();
                args.push("--json".into());
                let json = asan(&args);
                let first = serde_json::from_str::<serde_json::Value>(&json.stdout)
                    .ok()
                    .and_then(|v| {
                        v["checks"]
                            .as_array()?
                            .iter()
                            .find(|c| c["ok"] == false)
                            .and_then(|c| c["name"].as_str().map(str::to_owned))
                    });
                if first.as_deref() != Some(*expected) {
                    problems.push(format!(
                        "expected the first failed check to be {expected:?}, it is {first:?} \
                         (--json: {})",
                        json.stdout
                    ));
                }
            }
        }
    }
    let said = ours.output().to_lowercase();
    let words = case.asan_says;
    if !words.is_empty() && !words.iter().any(|w| said.contains(&w.to_lowercase())) {
        problems.push(format!(
            "expected asan's output to mention one of {words:?}"
        ));
    }
    (!problems.is_empty()).then(|| {
        format!(
            "{}: {}\n{}\n--- openssl oracle ---\n{}",
            case.name,
            problems.join("; "),
            ours.report(),
            oracle.report()
        )
    })
}

#[test]
fn asan_agrees_with_openssl() {
    let corpus = corpus();
    let wrong: Vec<String> = corpus.cases.iter().filter_map(disagreement).collect();
    assert!(
        wrong.is_empty(),
        "{} of {} cases failed (corpus in {}):\n\n{}",
        wrong.len(),
        corpus.cases.len(),
        corpus.dir.path().display(),
        wrong.join("\n\n")
    );
}
