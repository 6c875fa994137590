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
#[path = "model/observed.rs"]
mod observed;

use asan_applet::{PinRef, ServiceType};
use common::*;
use observed::{Observed, card_tries};
use proptest::prelude::*;

#[derive(Clone, Copy, Debug)]
pub(crate) enum Guess {
    Right,
    Wrong,
    Malformed,
}

#[derive(Clone, Debug)]
pub(crate) enum Op {
    Verify(PinRef, Guess),
    Status(PinRef),
    Logout(PinRef),
    Change(PinRef, Guess, u32),
    Unblock(PinRef, Guess, Option<u32>),
    Mse(bool, u8),
    Sign,
    /// PSO: CDS with its own PIN2 (contract 1.1), for a key reference.
    SignWithPin(Guess, u8),
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
        Op::SignWithPin(g, key) => {
            let data = [
                &[0x84, 0x01, *key, 0x81, 0x08][..],
                &guess_block(m, PinRef::Pin2, *g),
                &[0x90, 0x20],
                &[0x5A; 32],
            ]
            .concat();
            let sw = tx(card, &apdu([0, 0x2A, 0x9E, 0xAC], &data, Some(256))).1;
            let want = match (g, user_gate(m)) {
                (Guess::Malformed, _) => 0x6A80,
                _ if key & 0xF0 != 0x20 => 0x6A88,
                (_, Some(s)) => s,
                _ if !KEYS.contains(key) => 0x6A88,
                (g, None) => match m.check(PinRef::Pin2, matches!(g, Guess::Right)) {
                    Ok(()) if m.permits(*key) => 0x9000,
                    Ok(()) => 0x6985,
                    Err(s) => s,
                },
            };
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
        2 => (user_pin, guess.clone(), prop::option::of(any::<u32>())).prop_map(|(p, g, n)| Op::Unblock(p, g, n)),
        2 => (any::<bool>(), 1u8..=3).prop_map(|(s, p)| Op::Mse(s, p)),
        5 => Just(Op::Sign),
        4 => (guess.clone(), prop::sample::select(vec![0x21u8, 0x22, 0x23, 0x11]))
            .prop_map(|(g, k)| Op::SignWithPin(g, k)),
        3 => Just(Op::Auth),
        1 => Just(Op::Select),
        1 => Just(Op::Reset),
        1 => Just(Op::PowerCycle),
        1 => (1u8..=3, any::<bool>()).prop_map(|(k, a)| Op::SetService(k, a)),
        1 => Just(Op::Terminate),
        1 => prop::collection::vec(any::<u8>(), 0..12).prop_map(Op::Garbage),
    ]
}

fn run(ops: &[Op]) {
    let mut card = operational();
    let mut model = Model::new();
    let mut observed = Observed::default();
    let mut seed = 10;
    let mut card_before = card_tries(&mut card);
    for (i, op) in ops.iter().enumerate() {
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
        // The card's counters are the model's after every step.
        let model_tries: Vec<u8> = model.pins.iter().map(|p| p.tries).collect();
        assert_eq!(card_after.to_vec(), model_tries, "step {i} {op:?}: tries");
        card_before = card_after;
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
        Op::SignWithPin(Right, 0x21),
        Op::Sign,
        Op::Verify(PinRef::Pin2, Right),
        Op::SignWithPin(Right, 0x22),
        Op::SignWithPin(Wrong, 0x21),
        Op::Sign,
        Op::SignWithPin(Right, 0x23),
        Op::SignWithPin(Malformed, 0x11),
        Op::SignWithPin(Right, 0x12),
        Op::SignWithPin(Wrong, 0x21),
        Op::SignWithPin(Wrong, 0x21),
        Op::SignWithPin(Wrong, 0x21),
        Op::SignWithPin(Right, 0x21),
        Op::Unblock(PinRef::Pin2, Right, None),
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
        Op::SignWithPin(Right, 0x21),
        Op::Status(PinRef::Pin1),
    ]);
}
