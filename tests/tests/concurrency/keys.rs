//! Another program changing the key selection: on a Business card, a
//! citizen signer, a business signer and raw MSE SET DST (business key)
//! from several threads at once. Every signature `asan` gives out is made
//! with the key of the profile asked for — on a card of contract 1.0 by
//! checking each and signing again, on one of 1.1 because the command names
//! its key.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Instant;

use asan_tests::{pcsc_context, release};
use p256::ecdsa::VerifyingKey;
use pcsc::{Protocols, ShareMode};

use crate::harness::{
    Contract, PIN2, Run, assert_all_tries_left, digest, provisioned_card_of, reader, sign,
    signature_verifies, slot,
};

/// What a signature of a `profile` signer turned out to be.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Made {
    WithItsKey,
    WithTheOtherKey,
    WithNeither,
    /// `asan` gave up: another program disturbed every attempt.
    GaveUp,
    Failed(String),
}

/// Signatures per signer.
const RUNS: usize = 100;
/// Threads sending the raw MSE SET DST, each on its own connection, without
/// transactions (one that meets a transaction waits in pcsc-lite; one in
/// flight when it begins runs inside it).
const MSE_SENDERS: usize = 6;

/// MSE: SET DST with the business signing key (key reference `22`: usage 2,
/// profile 2), as any other program may send it.
const MSE_BUSINESS_SIGNING: [u8; 8] = [0x00, 0x22, 0x41, 0xB6, 0x03, 0x84, 0x01, 0x22];

/// The error `asan` ends with when it gives up.
const GAVE_UP: &str = "kept disturbing the operation";

/// Until `done`: sends MSE SET DST business key, one after the other, on
/// one shared connection; counts the answers.
fn select_business_key_until(done: &AtomicBool) -> BTreeMap<String, usize> {
    let ctx = pcsc_context();
    let name = CString::new(reader()).unwrap();
    let card = ctx
        .connect(&name, ShareMode::Shared, Protocols::ANY)
        .unwrap();
    let mut outcomes = BTreeMap::new();
    let mut buf = vec![0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED];
    while !done.load(Ordering::Relaxed) {
        let outcome = match card.transmit(&MSE_BUSINESS_SIGNING, &mut buf) {
            Ok([.., a, b]) => format!("{a:02X}{b:02X}"),
            Ok(short) => format!("short answer {short:02X?}"),
            Err(e) => format!("transmit: {e}"),
        };
        *outcomes.entry(outcome).or_default() += 1;
    }
    release(card);
    outcomes
}

fn made(run: &Run, d: &[u8; 32], own: &VerifyingKey, other: &VerifyingKey) -> Made {
    if run.code != Some(0) {
        if run.code == Some(1) && run.stderr.contains(GAVE_UP) {
            Made::GaveUp
        } else {
            Made::Failed(run.stderr.trim_end().to_owned())
        }
    } else if signature_verifies(run, own, d) {
        Made::WithItsKey
    } else if signature_verifies(run, other, d) {
        Made::WithTheOtherKey
    } else {
        Made::WithNeither
    }
}

/// `asan` keeps track of the key MSE selected and sends no MSE for the
/// citizen key right after its own SELECT; other programs' MSE SET DST
/// between its transactions (or, through pcsc-lite's in-flight transmit,
/// inside one) make the card sign with the business key. Before the fix
/// `asan sign --profile citizen` then exited 0 with a business signature;
/// now it checks every signature against the key's public key and signs
/// again with its own MSE, and gives up (exit 1) rather than hand out a
/// signature by another key.
#[test]
fn every_signature_is_made_with_the_key_of_its_profile_despite_other_programs_mse() {
    mse_storm(Contract::V1_0);
}

/// On a card of contract 1.1 the signature names its key: the MSEs change
/// nothing, and nothing is disturbed or done again.
#[test]
fn a_contract_1_1_signature_names_its_key_and_no_mse_disturbs_it() {
    mse_storm(Contract::V1_1);
}

/// Two signers (citizen, business) and raw MSEs from [`MSE_SENDERS`]
/// threads, on a Business card of `contract`.
fn mse_storm(contract: Contract) {
    let _slot = slot();
    let card = provisioned_card_of("business", contract);
    let business = card.business_key.unwrap();
    let done = AtomicBool::new(false);
    let start = Instant::now();
    let signer = |stream: u64, profile: &str, own: &VerifyingKey, other: &VerifyingKey| {
        (0..RUNS)
            .map(|i| {
                let d = digest(stream, u64::try_from(i).unwrap());
                let run = sign(&d, PIN2, profile, &[]);
                let warned = run.stderr.matches("asan: warning: ").count();
                (made(&run, &d, own, other), warned)
            })
            .collect::<Vec<_>>()
    };
    let (citizen, business_runs, mse) = thread::scope(|s| {
        let mse: Vec<_> = (0..MSE_SENDERS)
            .map(|_| s.spawn(|| select_business_key_until(&done)))
            .collect();
        let b = s.spawn(|| signer(23, "business", &business, &card.key));
        let c = s.spawn(|| signer(21, "citizen", &card.key, &business));
        let (c, b) = (c.join(), b.join());
        done.store(true, Ordering::Relaxed);
        let mse = mse.into_iter().map(|h| h.join()).collect::<Vec<_>>();
        (c, b, mse)
    });
    let citizen = citizen.unwrap_or_else(|e| std::panic::resume_unwind(e));
    let business_runs = business_runs.unwrap_or_else(|e| std::panic::resume_unwind(e));
    let mut mse_outcomes = BTreeMap::new();
    for m in mse {
        for (k, n) in m.unwrap_or_else(|e| std::panic::resume_unwind(e)) {
            *mse_outcomes.entry(k).or_insert(0) += n;
        }
    }
    let mut tally: BTreeMap<(&str, &Made), usize> = BTreeMap::new();
    let mut warnings = 0;
    for (profile, runs) in [("citizen", &citizen), ("business", &business_runs)] {
        for (m, w) in runs {
            *tally.entry((profile, m)).or_default() += 1;
            warnings += w;
        }
    }
    eprintln!(
        "citizen and business signers with raw MSE SET DST business ({mse_outcomes:?}) in \
         {:?}: {tally:?}; {warnings} disturbed attempts noticed and redone",
        start.elapsed()
    );
    assert!(
        mse_outcomes.get("9000").is_some_and(|&n| n > 0),
        "the raw MSE SET must work: {mse_outcomes:?}"
    );
    match contract {
        // The other programs did get in between (else this test shows
        // nothing): about one signature in 15 here; each case was a warning
        // on stderr.
        Contract::V1_0 => assert!(warnings > 0, "no signature was disturbed: {tally:?}"),
        // Nothing to disturb: one command carries key, PIN2 and digest.
        Contract::V1_1 => assert_eq!(warnings, 0, "{tally:?}"),
    }
    // Never a signature by another key, never an unexplained failure.
    let runs = citizen.iter().chain(&business_runs).map(|(m, _)| m);
    let wrong: Vec<&Made> = runs
        .clone()
        .filter(|m| !matches!(m, Made::WithItsKey | Made::GaveUp))
        .collect();
    assert!(wrong.is_empty(), "{tally:?}");
    // Giving up is for an exceptionally unlucky run, not the rule; on 1.1
    // there is nothing to give up on.
    let gave_up = runs.filter(|m| **m == Made::GaveUp).count();
    let allowed = match contract {
        Contract::V1_0 => 2 * RUNS / 20,
        Contract::V1_1 => 0,
    };
    assert!(gave_up <= allowed, "{tally:?}");
    assert_all_tries_left();
    card.stop();
}
