//! The tables: every operation against every hostile answer at every
//! position, malformed data, what is not a certificate, and the known library
//! bugs.

use asan_host::Error;
use asan_host::transport::scripted::{Answer, ScriptedTransport};

use crate::answers::{generic, malformed};
use crate::cases::{Hostile, Want, assert_all, guarded, hostile};
use crate::common::{certificate, hx};
use crate::ops::{INFO, OK, OPS, Op, POINT_G, Slot, ok, okh, public_key_answer, signature_answer};

#[test]
fn baseline_scripts_succeed() {
    for op in OPS {
        let good = op.good();
        let t = ScriptedTransport::new(good.iter().map(|(_, a)| Answer::Bytes(a.clone())));
        match guarded(op, t) {
            Ok(Ok(v)) => assert!(
                v.ends_with(&format!("after {} APDUs", good.len())),
                "{op:?}: {v}"
            ),
            other => panic!("{op:?}: the good script must succeed: {other:?}"),
        }
    }
}

#[test]
fn every_method_fails_cleanly_on_generic_hostile_answers_at_every_position() {
    let cases: Vec<(Op, usize, Hostile)> = OPS
        .iter()
        .flat_map(|&op| {
            op.positions()
                .flat_map(move |pos| generic().into_iter().map(move |h| (op, pos, h)))
        })
        .collect();
    assert!(cases.len() > 500, "{} cases", cases.len());
    assert_all(&cases);
}

#[test]
fn malformed_data_is_an_invalid_response() {
    let cases: Vec<(Op, usize, Hostile)> = OPS
        .iter()
        .flat_map(|&op| {
            let good = op.good();
            op.positions()
                .flat_map(move |pos| {
                    malformed(good[pos].0)
                        .into_iter()
                        .map(move |h| (op, pos, h))
                })
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(cases.len() > 80, "{} cases", cases.len());
    assert_all(&cases);
}

/// `read_certificate` parses what it reads: anything that is not an X.509
/// certificate is a `Certificate` (or `InvalidResponse`) error.
#[test]
fn read_certificate_refuses_what_is_not_a_certificate() {
    let cert = certificate();
    // The real certificate with its TBS tag broken, outer frame intact.
    let mut broken = cert.clone();
    broken[4] = 0x31;
    // The first 200 bytes re-framed as a complete SEQUENCE.
    let mut cut = vec![0x30, 0x81, 197];
    cut.extend_from_slice(&cert[3..200]);
    let cases: Vec<(Op, usize, Hostile)> = [
        hostile(
            "a DER SEQUENCE that is not a certificate",
            okh("3003 020101"),
            Want::BadCertificate,
        ),
        hostile("an empty SEQUENCE", okh("3000"), Want::BadCertificate),
        hostile(
            "a SET, not a SEQUENCE",
            okh("3103 020101"),
            Want::BadCertificate,
        ),
        hostile(
            "a public key TLV",
            public_key_answer(POINT_G),
            Want::BadCertificate,
        ),
        hostile(
            "a certificate with a broken TBS",
            ok(&broken[..256]),
            Want::AnyErr,
        ),
        hostile(
            "a re-framed truncated certificate",
            ok(&cut),
            Want::BadCertificate,
        ),
    ]
    .into_iter()
    .map(|h| (Op::ReadCertificate, 2, h))
    .collect();
    assert_all(&cases);
    // The broken TBS read whole.
    let t = ScriptedTransport::new(
        [hx(OK), hx(OK), ok(&broken[..256]), ok(&broken[256..])].map(Answer::Bytes),
    );
    match guarded(Op::ReadCertificate, t) {
        Ok(Err(Error::Certificate(m))) => assert!(m.contains("not a valid X.509"), "{m}"),
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------
// regressions: library bugs these tables found, fixed since
// ---------------------------------------------------------------------------

/// Found here (fixed in card.rs, `check_empty`): answers with data to
/// commands that return none (SELECT with P2 `0C`, VERIFY, logout, CHANGE
/// REFERENCE DATA, RESET RETRY COUNTER, MSE, SELECT EF) were accepted, the
/// data silently ignored. Such an answer is out of order (meant for another
/// command) or garbage followed by `9000`: `InvalidResponse`.
#[test]
fn data_where_none_is_expected_is_refused() {
    let foreign = [
        hostile("CAFE 9000", okh("CAFE"), Want::Invalid),
        hostile(
            "a signature (answer to PSO) + 9000",
            signature_answer(64),
            Want::Invalid,
        ),
        hostile(
            "a public key (answer to GET PUBLIC KEY) + 9000",
            public_key_answer(POINT_G),
            Want::Invalid,
        ),
        hostile("GET DATA 6E answer + 9000", okh(INFO), Want::Invalid),
    ];
    let mut cases = Vec::new();
    for op in OPS {
        let good = op.good();
        for pos in op.positions() {
            if matches!(good[pos].0, Slot::Select | Slot::NoData) {
                cases.extend(foreign.iter().cloned().map(|h| (op, pos, h)));
            }
        }
    }
    assert_all(&cases);
}

/// Found here (fixed in card.rs, `read_certificate_der`): the READ BINARY
/// loop stopped at `6B00` (end of file) and returned whatever it had read,
/// and at the first complete TLV of *any* tag, so the raw "certificate"
/// could be non-DER garbage, a truncated certificate, or a public-key TLV.
/// Each is an error now.
#[test]
fn read_certificate_der_refuses_what_is_not_der() {
    let cert = certificate();
    let cases: Vec<(Op, usize, ScriptedTransport)> = vec![
        (
            Op::ReadCertificateDer,
            2,
            ScriptedTransport::new(
                [hx(OK), hx(OK), okh("DEADBEEF"), hx("6B00")].map(Answer::Bytes),
            ),
        ),
        (
            Op::ReadCertificateDer,
            2,
            ScriptedTransport::new(
                [hx(OK), hx(OK), ok(&cert[..256]), hx("6B00")].map(Answer::Bytes),
            ),
        ),
        (
            Op::ReadCertificateDer,
            2,
            ScriptedTransport::new([hx(OK), hx(OK), public_key_answer(POINT_G)].map(Answer::Bytes)),
        ),
        (
            Op::ReadCertificateDer,
            2,
            ScriptedTransport::new([hx(OK), hx(OK), okh("0400")].map(Answer::Bytes)),
        ),
    ];
    let mut failures = Vec::new();
    for (i, (op, _, t)) in cases.into_iter().enumerate() {
        match guarded(op, t) {
            Ok(Err(_)) => {}
            other => failures.push(format!("case {i}: {other:?}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
