//! Two `asan` processes signing at the same time, with a third program
//! sending PSO: COMPUTE DIGITAL SIGNATURE without VERIFY — inside PC/SC
//! transactions as well-behaved middleware does, or without (which pcsc-lite
//! lets run inside another program's transaction).

use std::collections::BTreeMap;
use std::ffi::CString;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use asan_tests::{pcsc_context, release};
use pcsc::{Disposition, Protocols, ShareMode};

use crate::harness::{
    Card, Contract, PIN2, PSO_LINE, PSO_WITH_PIN_LINE, Run, VERIFY_LINE, WRONG_PIN2,
    assert_all_tries_left, digest, pin_status, provisioned_card, provisioned_card_of, reader, sign,
    signature_verifies, slot, tries,
};

/// One signature attempt of a signer.
#[derive(Debug)]
pub struct Attempt {
    pub digest: [u8; 32],
    pub wrong_pin: bool,
    pub run: Run,
}

/// What a signer with a wrong PIN2 saw around it: PIN2 tries right after the
/// wrong VERIFY, and right after its own next right signature.
#[derive(Debug)]
pub struct Recovery {
    pub after_wrong: u64,
    pub after_next_right: u64,
}

/// One signer: `n` citizen signatures of different digests, one `asan`
/// process after the other. At `wrong_at`, first a try with a wrong PIN2,
/// then the PIN2 counter, then the right signature, then the counter again.
pub fn signer(stream: u64, n: u64, wrong_at: Option<u64>) -> (Vec<Attempt>, Option<Recovery>) {
    let mut attempts = Vec::new();
    let mut recovery = None;
    for i in 0..n {
        let d = digest(stream, i);
        if wrong_at == Some(i) {
            let run = sign(&d, WRONG_PIN2, "citizen", &[]);
            attempts.push(Attempt {
                digest: d,
                wrong_pin: true,
                run,
            });
            let after_wrong = tries(&pin_status(), "pin2").0;
            let run = sign(&d, PIN2, "citizen", &[]);
            attempts.push(Attempt {
                digest: d,
                wrong_pin: false,
                run,
            });
            let after_next_right = tries(&pin_status(), "pin2").0;
            recovery = Some(Recovery {
                after_wrong,
                after_next_right,
            });
        } else {
            let run = sign(&d, PIN2, "citizen", &[]);
            attempts.push(Attempt {
                digest: d,
                wrong_pin: false,
                run,
            });
        }
    }
    (attempts, recovery)
}

/// What the raw PSO prober saw.
#[derive(Debug, Default)]
pub struct Probes {
    /// Outcome (`SW` in hex, or the PC/SC error) and how often.
    pub outcomes: BTreeMap<String, usize>,
    /// The longest single transmit (it waits while a transaction runs).
    pub slowest: Duration,
}

impl Probes {
    /// How many probes got a signature.
    fn signed(&self) -> usize {
        self.outcomes.get("9000").copied().unwrap_or(0)
    }
}

/// How the prober sends its PSO.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prober {
    /// Each PSO in a PC/SC transaction of its own, as OpenSC and other
    /// middleware do.
    InTransactions,
    /// A bare `SCardTransmit`: pcsc-lite lets one that is in flight when
    /// another program's transaction begins run inside that transaction.
    Bare,
}

/// Until `done`: connects (shared), sends PSO: COMPUTE DIGITAL SIGNATURE
/// without any VERIFY (in a transaction or bare), releases the card
/// (LeaveCard); counts the answers.
pub fn probe_until(done: &AtomicBool, how: Prober) -> Probes {
    let ctx = pcsc_context();
    let name = CString::new(reader()).unwrap();
    let mut capdu = vec![0x00, 0x2A, 0x9E, 0x9A, 0x20];
    capdu.extend_from_slice(&[0x5A; 32]);
    capdu.push(0x00);
    let mut probes = Probes::default();
    let mut buf = vec![0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED];
    let answer = |r: Result<&[u8], pcsc::Error>| match r {
        Ok([.., a, b]) => format!("{a:02X}{b:02X}"),
        Ok(short) => format!("short answer {short:02X?}"),
        Err(e) => format!("transmit: {e}"),
    };
    while !done.load(Ordering::Relaxed) {
        let outcome = match ctx.connect(&name, ShareMode::Shared, Protocols::ANY) {
            Ok(mut card) => {
                let start = Instant::now();
                let outcome = match how {
                    Prober::Bare => answer(card.transmit(&capdu, &mut buf)),
                    Prober::InTransactions => match card.transaction() {
                        Ok(tx) => {
                            let outcome = answer(tx.transmit(&capdu, &mut buf));
                            let _ = tx.end(Disposition::LeaveCard);
                            outcome
                        }
                        Err(e) => format!("transaction: {e}"),
                    },
                };
                probes.slowest = probes.slowest.max(start.elapsed());
                release(card);
                outcome
            }
            Err(e) => format!("connect: {e}"),
        };
        *probes.outcomes.entry(outcome).or_default() += 1;
        thread::yield_now();
    }
    probes
}

/// Min, median, 95th percentile, max and mean of `times`, for the report.
pub fn summary(times: &[Duration]) -> String {
    let mut t = times.to_vec();
    t.sort();
    if t.is_empty() {
        return "no runs".into();
    }
    let mean = t.iter().sum::<Duration>() / u32::try_from(t.len()).unwrap();
    let p95 = t[(t.len() * 95 / 100).min(t.len() - 1)];
    format!(
        "min {:?}, median {:?}, p95 {:?}, max {:?}, mean {:?} ({} runs)",
        t[0],
        t[t.len() / 2],
        p95,
        t[t.len() - 1],
        mean,
        t.len()
    )
}

/// Runs two citizen signers (`n` each, the first with a wrong PIN2 at
/// `wrong_at`) and the PSO prober at the same time.
pub fn contend(
    n: u64,
    wrong_at: Option<u64>,
    how: Prober,
) -> (Vec<Attempt>, Option<Recovery>, Probes, Duration) {
    let done = AtomicBool::new(false);
    let start = Instant::now();
    let (a, b, probes) = thread::scope(|s| {
        let a = s.spawn(|| signer(1, n, wrong_at));
        let b = s.spawn(|| signer(2, n, None));
        let p = s.spawn(|| probe_until(&done, how));
        let (a, b) = (a.join(), b.join());
        done.store(true, Ordering::Relaxed);
        (a, b, p.join())
    });
    let wall = start.elapsed();
    let (mut attempts, recovery) = a.unwrap_or_else(|e| std::panic::resume_unwind(e));
    let (b, none) = b.unwrap_or_else(|e| std::panic::resume_unwind(e));
    assert!(none.is_none());
    attempts.extend(b);
    (
        attempts,
        recovery,
        probes.unwrap_or_else(|e| std::panic::resume_unwind(e)),
        wall,
    )
}

/// The warning `asan` gives when its verification was gone before its PSO.
const LOST: &str = "no longer held the verification";

/// The `asan: warning: …` lines of a run (another program disturbed it and
/// it signed again); anything else on stderr of a successful run fails.
fn warnings(run: &Run) -> Vec<&str> {
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert!(
        lines.iter().all(|l| l.starts_with("asan: warning: ")),
        "{run:#?}"
    );
    lines
}

/// Every right attempt signed, with the card's key, each digest once;
/// returns the warnings given.
fn all_signed(card: &Card, attempts: &[&Attempt]) -> Vec<String> {
    let failed: Vec<&&Attempt> = attempts.iter().filter(|a| a.run.code != Some(0)).collect();
    assert!(
        failed.is_empty(),
        "{} signatures failed under contention: {failed:#?}",
        failed.len()
    );
    let bad: Vec<&&Attempt> = attempts
        .iter()
        .filter(|a| !signature_verifies(&a.run, &card.key, &a.digest))
        .collect();
    assert!(
        bad.is_empty(),
        "{} signatures do not verify: {bad:#?}",
        bad.len()
    );
    let mut digests: Vec<_> = attempts.iter().map(|a| a.digest).collect();
    digests.sort_unstable();
    digests.dedup();
    assert_eq!(
        digests.len(),
        attempts.len(),
        "the digests are all different"
    );
    attempts
        .iter()
        .flat_map(|a| warnings(&a.run))
        .map(str::to_owned)
        .collect()
}

/// The prober never got a signature, and got `6982` every time.
fn check_probes(probes: &Probes) {
    eprintln!(
        "PSO without VERIFY in transactions: {:?}, slowest transmit {:?}",
        probes.outcomes, probes.slowest
    );
    assert_eq!(
        probes.outcomes.keys().collect::<Vec<_>>(),
        ["6982"],
        "a PSO without VERIFY must always be refused with 6982 (a 9000 is a signature made \
         with another program's PIN verification): {:?}",
        probes.outcomes
    );
}

/// The card's view: every right VERIFY PIN2 directly followed by a PSO
/// that signs; returns the VERIFYs that were not, with the lines after them.
pub fn intrusions(log: &str) -> Vec<String> {
    let lines: Vec<&str> = log
        .lines()
        .map(|l| l.trim_start_matches("asan-vcard: "))
        .collect();
    lines
        .windows(4)
        .filter(|w| w[0].contains(VERIFY_LINE) && w[0].contains("-> 9000"))
        .filter(|w| !(w[1].contains(PSO_LINE) && w[1].contains("-> 9000")))
        .map(|w| w.join(" / "))
        .collect()
}

#[test]
fn two_processes_sign_100_times_each_and_no_one_sees_another_s_verification() {
    let _slot = slot();
    let card = provisioned_card("citizen");

    // Uncontended, for comparison.
    let alone: Vec<Duration> = (0..5)
        .map(|i| {
            let d = digest(9, i);
            let run = sign(&d, PIN2, "citizen", &[]);
            assert!(signature_verifies(&run, &card.key, &d));
            run.took
        })
        .collect();

    let (attempts, recovery, probes, wall) = contend(100, None, Prober::InTransactions);
    assert!(recovery.is_none());
    assert_eq!(attempts.len(), 200);
    let times: Vec<Duration> = attempts.iter().map(|a| a.run.took).collect();
    eprintln!("one asan sign alone: {}", summary(&alone));
    eprintln!(
        "one asan sign with two signers and the prober: {}",
        summary(&times)
    );
    eprintln!(
        "200 signatures in {wall:?}: {:?} per signature overall",
        wall / 200
    );
    let intruded = intrusions(&card.log());
    let all: Vec<&Attempt> = attempts.iter().collect();
    let warned = all_signed(&card, &all);
    eprintln!(
        "commands between a right VERIFY PIN2 and its PSO: {} {intruded:#?}; asan warnings: \
         {warned:#?}",
        intruded.len()
    );
    // No one sees another's verification.
    check_probes(&probes);
    assert_all_tries_left();
    card.stop();
}

#[test]
fn a_wrong_pin2_in_one_of_two_signers_fails_once_and_the_counter_recovers() {
    let _slot = slot();
    let card = provisioned_card("citizen");
    let (attempts, recovery, probes, wall) = contend(25, Some(12), Prober::InTransactions);
    // 25 + 25 signatures, and the one wrong try.
    assert_eq!(attempts.len(), 51);
    let recovery = recovery.unwrap();
    eprintln!("wrong PIN2 variant: 51 attempts in {wall:?}; PIN2 tries {recovery:?}");
    let (wrong, right): (Vec<&Attempt>, Vec<&Attempt>) = attempts.iter().partition(|a| a.wrong_pin);
    assert_eq!(wrong.len(), 1);
    let wrong = wrong[0];
    assert_eq!(wrong.run.code, Some(3), "{wrong:#?}");
    assert_eq!(wrong.run.stdout, "");
    assert_eq!(wrong.run.stderr, "asan: wrong PIN2, 2 tries left\n");
    check_probes(&probes);
    all_signed(&card, &right);
    // Right after the wrong try the other signer may already have verified.
    assert!((2..=3).contains(&recovery.after_wrong), "{recovery:?}");
    // After this process's next right VERIFY, and no wrong one since: 3.
    assert_eq!(recovery.after_next_right, 3, "{recovery:?}");
    assert_all_tries_left();
    card.stop();
}

/// pcsc-lite runs a bare transmit that is in flight when another program's
/// transaction begins inside that transaction, so a program that sends PSO
/// without VERIFY and without a transaction can, rarely, land between
/// `asan`'s VERIFY and PSO and get a signature made with `asan`'s PIN
/// verification. `asan` cannot prevent that, but it never misses it: its
/// own PSO then finds no verification, so it warns ("… used your PIN") and
/// signs again. Every probe that got a signature has such a warning.
#[test]
fn a_program_without_transactions_never_gets_a_signature_unnoticed() {
    let _slot = slot();
    // The gap is that of contract 1.0 cards (VERIFY, then PSO).
    let card = provisioned_card_of("citizen", Contract::V1_0);
    let (attempts, _, probes, wall) = contend(40, None, Prober::Bare);
    let all: Vec<&Attempt> = attempts.iter().collect();
    let warned = all_signed(&card, &all);
    let lost = warned.iter().filter(|w| w.contains(LOST)).count();
    eprintln!(
        "bare PSO without VERIFY: {:?} (slowest {:?}); 80 signatures in {wall:?}; asan \
         noticed a lost verification {lost} times",
        probes.outcomes, probes.slowest
    );
    assert!(
        probes.signed() <= lost,
        "{} bare PSOs got a signature but asan noticed only {lost} lost verifications: \
         {warned:#?}",
        probes.signed()
    );
    assert!(
        probes.outcomes.keys().all(|k| k == "9000" || k == "6982"),
        "{:?}",
        probes.outcomes
    );
    assert_all_tries_left();
    card.stop();
}

/// Contract 1.1 closes that gap: a signature is one PSO: CDS carrying its
/// own PIN2, so no command of another program can come between a
/// verification and the signature it authorises, in or out of transactions.
/// Two `asan` processes sign 100 times each while a program sends PSO
/// without VERIFY in a tight loop without transactions: every attempt of
/// that program answers `6982`, every signature of ours verifies against
/// the key of the certificate named, and none had to be done again.
#[test]
fn on_a_contract_1_1_card_no_program_ever_gets_a_signature_on_our_pin2() {
    let _slot = slot();
    let card = provisioned_card_of("citizen", Contract::V1_1);
    let before = card.log().lines().count();
    let (attempts, _, probes, wall) = contend(100, None, Prober::Bare);
    assert_eq!(attempts.len(), 200);
    let all: Vec<&Attempt> = attempts.iter().collect();
    let warned = all_signed(&card, &all);
    eprintln!(
        "contract 1.1, bare PSO without VERIFY: {:?} (slowest {:?}); 200 signatures in {wall:?}",
        probes.outcomes, probes.slowest
    );
    assert!(warned.is_empty(), "nothing to redo on 1.1: {warned:#?}");
    check_probes(&probes);
    // On the wire (the card's own log): each `asan sign` is the SELECT that
    // found the card and one PSO with PIN2; no VERIFY, MSE or key read.
    let log = card.log();
    let lines: Vec<&str> = log.lines().skip(before).collect();
    let count = |needle: &str| lines.iter().filter(|l| l.contains(needle)).count();
    assert_eq!(
        count(PSO_WITH_PIN_LINE),
        200,
        "one PSO with PIN2 per signature"
    );
    assert_eq!(count(VERIFY_LINE), 0, "no VERIFY PIN2");
    assert_eq!(count("00 22 41"), 0, "no MSE");
    assert_eq!(count("00 47 81"), 0, "no public-key read");
    assert_all_tries_left();
    card.stop();
}
