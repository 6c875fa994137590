//! The invariants checked on the card's own answers and counters
//! alone, without the reference model: a mistake the model shares with the
//! applet cannot hide from these.

use asan_applet::PinRef;

use crate::common::{Card, expect};
use crate::{Guess, Op};

/// The card's own retry counters (GET DATA `C4`: PIN1, PIN2, PUK), which
/// a terminated card still answers; reading them changes nothing.
pub(crate) fn card_tries(card: &mut Card) -> [u8; 3] {
    let c4 = expect(card, "00CA00C400", 0x9000);
    [c4[3], c4[7], c4[11]]
}

/// What the card itself showed, with the invariants checked on that
/// alone. Where it is unsure whether a command clears a verification it
/// keeps it, so a failed check is always a real violation.
#[derive(Debug, Default)]
pub(crate) struct Observed {
    /// A PIN1 / PIN2 verification the card accepted that nothing has
    /// certainly used or cleared since.
    verified: [bool; 2],
    /// PINs whose counter the card showed at 0, not unblocked since.
    blocked: [bool; 3],
    /// The card accepted TERMINATE.
    pub(crate) terminated: bool,
}

impl Observed {
    pub(crate) fn check(&mut self, i: usize, op: &Op, sw: u16, before: [u8; 3], after: [u8; 3]) {
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
                    Op::Verify(q, Guess::Right) | Op::Change(q, Guess::Right, _) => {
                        q.index() == k && ok
                    }
                    Op::Unblock(q, Guess::Right, _) => {
                        (q.index() == k || k == PinRef::Puk.index()) && ok
                    }
                    // The right PIN2 in PSO: CDS with PIN2 restores its
                    // counter, also when the service then refuses (6985).
                    Op::SignWithPin(Guess::Right, _) => {
                        k == PinRef::Pin2.index() && (ok || sw == 0x6985)
                    }
                    _ => false,
                };
                assert!(by, "{}: PIN #{k} gained tries", at());
            }
        }
        // Blocked stays blocked: only an accepted RESET RETRY COUNTER frees a
        // user PIN; the PUK never comes back.
        if let Op::Verify(q, _) | Op::Change(q, _, _) = op {
            // (A malformed block never gets 9000 either.)
            assert!(
                !(self.blocked[q.index()] && ok),
                "{}: a blocked PIN was accepted",
                at()
            );
        }
        if let Op::SignWithPin(g, _) = op {
            assert!(
                !(ok && self.blocked[PinRef::Pin2.index()]),
                "{}: signed with a blocked PIN2",
                at()
            );
            assert!(
                !ok || matches!(g, Guess::Right),
                "{}: signed with a wrong PIN2",
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
            // It needs no verification and grants none; a wrong PIN2
            // clears one.
            Op::SignWithPin(_, _) if sw & 0xFFF0 == 0x63C0 => self.verified[1] = false,
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
    #[should_panic(expected = "signed with a wrong PIN2")]
    fn a_signature_with_its_own_wrong_pin2() {
        replay(&[(Op::SignWithPin(Guess::Wrong, 0x21), 0x9000, FULL, FULL)]);
    }

    #[test]
    #[should_panic(expected = "signed with a blocked PIN2")]
    fn a_signature_with_its_own_pin2_while_blocked() {
        replay(&[
            (verify_pin2(Guess::Wrong), 0x63C0, [3, 1, 10], PIN2_BLOCKED),
            (
                Op::SignWithPin(Guess::Right, 0x21),
                0x9000,
                PIN2_BLOCKED,
                FULL,
            ),
        ]);
    }

    #[test]
    #[should_panic(expected = "signed without PIN2")]
    fn a_signature_with_its_own_pin2_grants_no_verification() {
        replay(&[
            (Op::SignWithPin(Guess::Right, 0x21), 0x9000, FULL, FULL),
            (Op::Sign, 0x9000, FULL, FULL),
        ]);
    }

    #[test]
    #[should_panic(expected = "gained tries")]
    fn a_wrong_pin2_in_the_command_that_restores_tries() {
        replay(&[(
            Op::SignWithPin(Guess::Wrong, 0x21),
            0x63C2,
            [3, 2, 10],
            [3, 3, 10],
        )]);
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
