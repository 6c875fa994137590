//! Model-based test: random sequences of user and operator commands run on
//! the card and on a small reference model of PINs, security status, life
//! cycle and service; every answer must be the one the model predicts.
//!
//! Invariants this checks twice — through the model, and on the card's own
//! answers and counters alone ([`Observed`], which would catch a mistake the
//! model shares with the card): no signature without a PIN2 verification
//! just before it; tries never increase except by a correct PIN or PUK;
//! blocked stays blocked; a terminated card stays terminated; every APDU
//! gets a status word.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use asan_applet::{PinRef, ServiceType};
use common::*;
use proptest::prelude::*;

#[derive(Clone, Copy, Debug)]
enum Guess {
    Right,
    Wrong,
    Malformed,
}

#[derive(Clone, Debug)]
enum Op {
    Verify(PinRef, Guess),
    Status(PinRef),
    Logout(PinRef),
    Change(PinRef, Guess, u32),
    Unblock(PinRef, Guess, Option<u32>),
    Mse(bool, u8),
    Sign,
    Auth,
    Select,
    Reset,
    PowerCycle,
    SetService(u8, bool),
    Terminate,
    Garbage(Vec<u8>),
}

#[derive(Clone, Debug)]
struct ModelPin {
    value: Vec<u8>,
    tries: u8,
    limit: u8,
    verified: bool,
}

#[derive(Clone, Debug)]
struct Model {
    pins: [ModelPin; 3],
    terminated: bool,
    service: (u8, bool),
    auth_key: u8,
    sign_key: u8,
}

/// Keys the personalised Business card holds.
const KEYS: [u8; 4] = [0x11, 0x12, 0x21, 0x22];

impl Model {
    fn new() -> Self {
        let pin = |v: &[u8], limit| ModelPin {
            value: v.to_vec(),
            tries: limit,
            limit,
            verified: false,
        };
        Self {
            pins: [pin(PIN1, 3), pin(PIN2, 3), pin(PUK, 10)],
            terminated: false,
            service: (ServiceType::Business as u8, true),
            auth_key: 0x11,
            sign_key: 0x21,
        }
    }

    fn pin(&mut self, p: PinRef) -> &mut ModelPin {
        &mut self.pins[p.index()]
    }

    fn clear_session(&mut self) {
        for p in &mut self.pins {
            p.verified = false;
        }
        self.auth_key = 0x11;
        self.sign_key = 0x21;
    }

    fn permits(&self, key: u8) -> bool {
        let profile = key & 0x0F;
        let (kind, active) = self.service;
        active && (profile == 1 || profile == kind)
    }

    /// Spends a try on `p` and compares; the status word of a mismatch.
    fn check(&mut self, p: PinRef, right: bool) -> Result<(), u16> {
        let pin = self.pin(p);
        if pin.tries == 0 {
            return Err(0x6983);
        }
        if right {
            pin.tries = pin.limit;
            Ok(())
        } else {
            pin.tries -= 1;
            pin.verified = false;
            Err(0x63C0 | u16::from(pin.tries))
        }
    }
}

fn digits(p: PinRef, seed: u32) -> Vec<u8> {
    let (min, max) = p.length_range();
    let len = min + (seed as usize % (max - min + 1));
    (0..len)
        .map(|i| b'0' + ((seed >> (i % 8)) as u8).wrapping_add(i as u8) % 10)
        .collect()
}

fn guess_block(model: &Model, p: PinRef, g: Guess) -> Vec<u8> {
    match g {
        Guess::Right => block(p, &model.pins[p.index()].value),
        Guess::Wrong => {
            let mut v = model.pins[p.index()].value.clone();
            v[0] = if v[0] == b'9' { b'0' } else { v[0] + 1 };
            block(p, &v)
        }
        Guess::Malformed => b"12\xFF4\xFF\xFF\xFF\xFF".to_vec(),
    }
}

/// Runs `op` on the card and the model; returns (card SW, expected SW).
fn step(card: &mut Card, m: &mut Model, op: &Op) -> (u16, u16) {
    let user_gate = |m: &Model| if m.terminated { Some(0x6985) } else { None };
    match op {
        Op::Verify(p, g) => {
            let sw = tx(
                card,
                &apdu([0, 0x20, 0, p.byte()], &guess_block(m, *p, *g), None),
            )
            .1;
            let want = match (g, user_gate(m)) {
                (Guess::Malformed, _) => 0x6A80,
                (_, Some(s)) => s,
                (g, None) => match m.check(*p, matches!(g, Guess::Right)) {
                    Ok(()) => {
                        m.pin(*p).verified = true;
                        0x9000
                    }
                    Err(s) => s,
                },
            };
            (sw, want)
        }
        Op::Status(p) => {
            let sw = tx(card, &[0, 0x20, 0, p.byte()]).1;
            let pin = &m.pins[p.index()];
            let want = user_gate(m).unwrap_or(if pin.verified {
                0x9000
            } else if pin.tries == 0 {
                0x6983
            } else {
                0x63C0 | u16::from(pin.tries)
            });
            (sw, want)
        }
        Op::Logout(p) => {
            let sw = tx(card, &[0, 0x20, 0xFF, p.byte()]).1;
            let want = user_gate(m).unwrap_or_else(|| {
                m.pin(*p).verified = false;
                0x9000
            });
            (sw, want)
        }
        Op::Change(p, g, seed) => {
            let new = digits(*p, *seed);
            let data = [guess_block(m, *p, *g), block(*p, &new)].concat();
            let sw = tx(card, &apdu([0, 0x24, 0, p.byte()], &data, None)).1;
            let want = match (g, user_gate(m)) {
                (Guess::Malformed, _) => 0x6A80,
                (_, Some(s)) => s,
                (g, None) => match m.check(*p, matches!(g, Guess::Right)) {
                    Ok(()) => {
                        let pin = m.pin(*p);
                        pin.value = new;
                        pin.verified = false;
                        0x9000
                    }
                    Err(s) => s,
                },
            };
            (sw, want)
        }
        Op::Unblock(p, g, new) => {
            let new = new.map(|s| digits(*p, s));
            let mut data = guess_block(m, PinRef::Puk, *g);
            if let Some(n) = &new {
                data.extend(block(*p, n));
            }
            let p1 = if new.is_some() { 0 } else { 1 };
            let sw = tx(card, &apdu([0, 0x2C, p1, p.byte()], &data, None)).1;
            let want = match (g, user_gate(m)) {
                (Guess::Malformed, _) => 0x6A80,
                (_, Some(s)) => s,
                (g, None) => match m.check(PinRef::Puk, matches!(g, Guess::Right)) {
                    Ok(()) => {
                        let pin = m.pin(*p);
                        pin.tries = pin.limit;
                        pin.verified = false;
                        if let Some(n) = new {
                            pin.value = n;
                        }
                        0x9000
                    }
                    Err(s) => {
                        m.pin(PinRef::Puk).verified = false;
                        s
                    }
                },
            };
            (sw, want)
        }
        Op::Mse(signing, profile) => {
            let key = if *signing { 0x20 } else { 0x10 } | profile;
            let sw = tx(
                card,
                &[
                    0,
                    0x22,
                    0x41,
                    if *signing { 0xB6 } else { 0xA4 },
                    3,
                    0x84,
                    1,
                    key,
                ],
            )
            .1;
            let want = user_gate(m).unwrap_or(if KEYS.contains(&key) {
                if *signing {
                    m.sign_key = key;
                } else {
                    m.auth_key = key;
                }
                0x9000
            } else {
                0x6A88
            });
            (sw, want)
        }
        Op::Sign => {
            let sw = tx(card, &apdu([0, 0x2A, 0x9E, 0x9A], &[0x5A; 32], Some(256))).1;
            let want = user_gate(m).unwrap_or_else(|| {
                let authorised = std::mem::take(&mut m.pin(PinRef::Pin2).verified);
                if !authorised {
                    0x6982
                } else if !m.permits(m.sign_key) {
                    0x6985
                } else {
                    0x9000
                }
            });
            (sw, want)
        }
        Op::Auth => {
            let sw = tx(card, &apdu([0, 0x88, 0, 0], &[0x33; 32], Some(256))).1;
            let want = user_gate(m).unwrap_or(if !m.pins[0].verified {
                0x6982
            } else if !m.permits(m.auth_key) {
                0x6985
            } else {
                0x9000
            });
            (sw, want)
        }
        Op::Select => {
            m.clear_session();
            (expect(card, SELECT, 0x9000).len() as u16 + 0x9000, 0x9000)
        }
        Op::Reset | Op::PowerCycle => unreachable!("handled by the runner"),
        Op::SetService(kind, active) => {
            if m.terminated {
                // No channel opens on a terminated card.
                let sw = txh(card, "8050300008 0102030405060708 00").1;
                return (sw, 0x6985);
            }
            let mut op = Operator::open(card, 0x03);
            let sw = op
                .send(
                    card,
                    [0x80, 0xDA, 0x00, 0x43],
                    &[*kind, u8::from(*active)],
                    None,
                )
                .1;
            m.service = (*kind, *active);
            (sw, 0x9000)
        }
        Op::Terminate => {
            if m.terminated {
                let sw = txh(card, "8050300008 0102030405060708 00").1;
                return (sw, 0x6985);
            }
            let mut op = Operator::open(card, 0x03);
            let sw = op.send(card, [0x80, 0xFE, 0x00, 0x00], &[], None).1;
            m.terminated = true;
            m.clear_session();
            (sw, 0x9000)
        }
        Op::Garbage(bytes) => {
            let mut capdu = vec![0xFF];
            capdu.extend(bytes);
            (tx(card, &capdu).1, 0x6E00)
        }
    }
}

fn op() -> impl Strategy<Value = Op> {
    let pin = prop::sample::select(vec![PinRef::Pin1, PinRef::Pin2, PinRef::Puk]);
    let user_pin = prop::sample::select(vec![PinRef::Pin1, PinRef::Pin2]);
    let guess =
        prop_oneof![3 => Just(Guess::Right), 3 => Just(Guess::Wrong), 1 => Just(Guess::Malformed)];
    prop_oneof![
        6 => (pin.clone(), guess.clone()).prop_map(|(p, g)| Op::Verify(p, g)),
        2 => pin.clone().prop_map(Op::Status),
        1 => pin.clone().prop_map(Op::Logout),
        2 => (pin, guess.clone(), any::<u32>()).prop_map(|(p, g, s)| Op::Change(p, g, s)),
        2 => (user_pin, guess, prop::option::of(any::<u32>())).prop_map(|(p, g, n)| Op::Unblock(p, g, n)),
        2 => (any::<bool>(), 1u8..=3).prop_map(|(s, p)| Op::Mse(s, p)),
        5 => Just(Op::Sign),
        3 => Just(Op::Auth),
        1 => Just(Op::Select),
        1 => Just(Op::Reset),
        1 => Just(Op::PowerCycle),
        1 => (1u8..=3, any::<bool>()).prop_map(|(k, a)| Op::SetService(k, a)),
        1 => Just(Op::Terminate),
        1 => prop::collection::vec(any::<u8>(), 0..12).prop_map(Op::Garbage),
    ]
}

/// The card's own retry counters (GET DATA `C4`: PIN1, PIN2, PUK), which
/// a terminated card still answers; reading them changes nothing.
fn card_tries(card: &mut Card) -> [u8; 3] {
    let c4 = expect(card, "00CA00C400", 0x9000);
    [c4[3], c4[7], c4[11]]
}

/// What the card itself showed, with the invariants checked on that
/// alone. Where it is unsure whether a command clears a verification it
/// keeps it, so a failed check is always a real violation.
#[derive(Debug, Default)]
struct Observed {
    /// A PIN1 / PIN2 verification the card accepted that nothing has
    /// certainly used or cleared since.
    verified: [bool; 2],
    /// PINs whose counter the card showed at 0, not unblocked since.
    blocked: [bool; 3],
    /// The card accepted TERMINATE.
    terminated: bool,
}

impl Observed {
    fn check(&mut self, i: usize, op: &Op, sw: u16, before: [u8; 3], after: [u8; 3]) {
        let at = || format!("step {i} {op:?}: card {sw:04X}, tries {before:?} -> {after:?}");
        assert!(matches!(sw >> 12, 0x6 | 0x9), "{}: no status word", at());
        let ok = sw == 0x9000;
        if self.terminated {
            assert_eq!(
                before,
                after,
                "{}: a terminated card's counters changed",
                at()
            );
            let refused = matches!(op, Op::Select | Op::Reset | Op::PowerCycle) || !ok;
            assert!(refused, "{}: a terminated card served a command", at());
        }
        // Tries go up only by a right PIN (or the PUK for the PIN it unblocks).
        for k in 0..3 {
            if after[k] > before[k] {
                let by = match op {
                    Op::Verify(q, Guess::Right) | Op::Change(q, Guess::Right, _) => q.index() == k,
                    Op::Unblock(q, Guess::Right, _) => q.index() == k || k == PinRef::Puk.index(),
                    _ => false,
                };
                assert!(by && ok, "{}: PIN #{k} gained tries", at());
            }
        }
        // Blocked stays blocked: only an accepted RESET RETRY COUNTER frees a
        // user PIN; the PUK never comes back.
        if let Op::Verify(q, _) | Op::Change(q, _, _) = op {
            let k = q.index();
            let check = !matches!(
                op,
                Op::Verify(_, Guess::Malformed) | Op::Change(_, Guess::Malformed, _)
            );
            assert!(
                !(self.blocked[k] && ok && check),
                "{}: a blocked PIN was accepted",
                at()
            );
        }
        if let Op::Unblock(q, _, _) = op {
            assert!(
                !(self.blocked[PinRef::Puk.index()] && ok),
                "{}: a blocked PUK unblocked",
                at()
            );
            if ok {
                self.blocked[q.index()] = false;
            }
        }
        for (k, (blocked, tries)) in self.blocked.iter_mut().zip(after).enumerate() {
            *blocked |= tries == 0;
            assert!(
                !*blocked || tries == 0,
                "{}: PIN #{k} left the blocked state",
                at()
            );
        }
        // No signature without a PIN2 verification just before it; no
        // authentication without PIN1.
        match op {
            Op::Sign => {
                assert!(!ok || self.verified[1], "{}: signed without PIN2", at());
                self.verified[1] = false;
            }
            Op::Auth => assert!(
                !ok || self.verified[0],
                "{}: authenticated without PIN1",
                at()
            ),
            Op::Verify(q, g) if q.index() < 2 => match (g, sw) {
                (Guess::Right | Guess::Wrong, 0x9000) => self.verified[q.index()] = true,
                (_, s) if s & 0xFFF0 == 0x63C0 || s == 0x6983 => self.verified[q.index()] = false,
                _ => {}
            },
            Op::Logout(q) if q.index() < 2 && ok => self.verified[q.index()] = false,
            Op::Select | Op::Reset | Op::PowerCycle => self.verified = [false; 2],
            Op::Terminate if ok => self.terminated = true,
            _ => {}
        }
    }
}

fn run(ops: &[Op]) {
    let mut card = operational();
    let mut model = Model::new();
    let mut observed = Observed::default();
    let mut seed = 10;
    for (i, op) in ops.iter().enumerate() {
        let before: Vec<u8> = model.pins.iter().map(|p| p.tries).collect();
        let card_before = card_tries(&mut card);
        let sw = match op {
            Op::Reset => {
                card.reset();
                model.clear_session();
                0x9000
            }
            Op::PowerCycle => {
                seed += 1;
                card = power_cycle(card, seed);
                model.clear_session();
                0x9000
            }
            _ => {
                let (got, want) = step(&mut card, &mut model, op);
                assert_eq!(
                    got, want,
                    "step {i} {op:?}: card {got:04X}, model {want:04X}\nops: {ops:?}"
                );
                got
            }
        };
        let card_after = card_tries(&mut card);
        observed.check(i, op, sw, card_before, card_after);
        // Tries only go up through a correct PIN or PUK.
        for (p, (b, a)) in before
            .iter()
            .zip(model.pins.iter().map(|p| p.tries))
            .enumerate()
        {
            if a > *b {
                let restoring = matches!(op, Op::Verify(q, Guess::Right) | Op::Change(q, Guess::Right, _) if q.index() == p)
                    || matches!(op, Op::Unblock(_, Guess::Right, _));
                assert!(restoring, "step {i} {op:?} raised the tries of PIN #{p}");
            }
        }
        // The card's counters are the model's after every step.
        let model_tries: Vec<u8> = model.pins.iter().map(|p| p.tries).collect();
        assert_eq!(card_after.to_vec(), model_tries, "step {i} {op:?}: tries");
    }
    let lcs = expect(&mut card, "00CA00C200", 0x9000)[2];
    assert_eq!(lcs == 0x0F, model.terminated);
    assert_eq!(observed.terminated, model.terminated);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn card_follows_the_model(ops in prop::collection::vec(op(), 1..60)) {
        run(&ops);
    }
}

#[test]
fn model_sanity_sequences() {
    use Guess::*;
    run(&[
        Op::Sign,
        Op::Verify(PinRef::Pin2, Right),
        Op::Sign,
        Op::Sign,
        Op::Verify(PinRef::Pin2, Wrong),
        Op::Verify(PinRef::Pin2, Wrong),
        Op::Verify(PinRef::Pin2, Wrong),
        Op::Verify(PinRef::Pin2, Right),
        Op::Unblock(PinRef::Pin2, Right, Some(7)),
        Op::Mse(true, 2),
        Op::Verify(PinRef::Pin2, Right),
        Op::Sign,
        Op::SetService(1, true),
        Op::Verify(PinRef::Pin2, Right),
        Op::Sign,
        Op::Terminate,
        Op::Verify(PinRef::Pin1, Right),
        Op::Select,
        Op::Status(PinRef::Pin1),
    ]);
}

/// The card-side checker is not vacuous: each invariant it holds fails on
/// an answer sequence that breaks it (answers a faulty card could give).
mod observed_catches {
    use super::*;

    const FULL: [u8; 3] = [3, 3, 10];
    const PIN2_BLOCKED: [u8; 3] = [3, 0, 10];

    /// Feeds the checker (command, card status word, tries before, after).
    fn replay(steps: &[(Op, u16, [u8; 3], [u8; 3])]) {
        let mut observed = Observed::default();
        for (i, (op, sw, before, after)) in steps.iter().enumerate() {
            observed.check(i, op, *sw, *before, *after);
        }
    }

    fn verify_pin2(g: Guess) -> Op {
        Op::Verify(PinRef::Pin2, g)
    }

    #[test]
    #[should_panic(expected = "signed without PIN2")]
    fn a_signature_without_pin2() {
        replay(&[
            (verify_pin2(Guess::Right), 0x9000, FULL, FULL),
            (Op::Sign, 0x9000, FULL, FULL),
            (Op::Sign, 0x9000, FULL, FULL),
        ]);
    }

    #[test]
    #[should_panic(expected = "gained tries")]
    fn a_try_regained_by_a_wrong_pin() {
        replay(&[(verify_pin2(Guess::Wrong), 0x63C2, [3, 2, 10], FULL)]);
    }

    #[test]
    #[should_panic(expected = "a blocked PIN was accepted")]
    fn a_blocked_pin_accepted() {
        replay(&[
            (
                verify_pin2(Guess::Wrong),
                0x6983,
                PIN2_BLOCKED,
                PIN2_BLOCKED,
            ),
            (
                verify_pin2(Guess::Right),
                0x9000,
                PIN2_BLOCKED,
                PIN2_BLOCKED,
            ),
        ]);
    }

    #[test]
    #[should_panic(expected = "a terminated card served a command")]
    fn a_terminated_card_verifying() {
        replay(&[
            (Op::Terminate, 0x9000, FULL, FULL),
            (verify_pin2(Guess::Right), 0x9000, FULL, FULL),
        ]);
    }

    #[test]
    #[should_panic(expected = "no status word")]
    fn an_answer_without_a_status_word() {
        replay(&[(Op::Garbage(vec![]), 0x0000, FULL, FULL)]);
    }

    #[test]
    fn a_right_sequence_passes() {
        replay(&[
            (verify_pin2(Guess::Right), 0x9000, FULL, FULL),
            (Op::Sign, 0x9000, FULL, FULL),
            (Op::Sign, 0x6982, FULL, FULL),
            (verify_pin2(Guess::Wrong), 0x6983, FULL, PIN2_BLOCKED),
            (
                Op::Unblock(PinRef::Pin2, Guess::Right, None),
                0x9000,
                PIN2_BLOCKED,
                FULL,
            ),
            (verify_pin2(Guess::Right), 0x9000, FULL, FULL),
        ]);
    }
}
