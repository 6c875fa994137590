//! Concurrency and disconnects through the real PC/SC stack (issue 7): pcscd
//! with the vpcd driver and one `asan-vcard` process on vpcd port 35964
//! (reader "Virtual PCD 00 01") — the only slot these tests touch; the tests
//! take turns on it. Every card is personalised with the `asan` CLI (`ca
//! init`, `provision --ca`, PINs 1234/12345/12345678 from the environment).
//!
//! Cards are of contract 1.1 (a signature is one PSO: CDS carrying its
//! PIN2) unless a test says it runs on one of contract 1.0 (`asan-vcard
//! --contract 1.0`: VERIFY, then PSO, and the checks that path needs).
//!
//! Covered:
//! * `signers.rs`: two `asan` processes at a time signing 100 different
//!   digests each (two threads, each starting one `asan --json sign
//!   --digest` after the other) while a third program keeps sending PSO:
//!   COMPUTE DIGITAL SIGNATURE without VERIFY, each in a PC/SC transaction:
//!   all 200 signatures verify against the certificate's key, the third
//!   program always gets `6982` (never `9000`: no operation sees another's
//!   PIN verification), the counters are full after; the same with a wrong
//!   PIN2 once in the middle of one signer (exactly one failure, exit 3,
//!   `wrong PIN2, 2 tries left`; the counter back at 3 after that process's
//!   next right VERIFY); and with a third program that sends its PSO
//!   without a transaction, which pcsc-lite may run inside `asan`'s
//!   transaction: every such PSO that got a signature is matched by an
//!   `asan` warning that its verification was used, and `asan` signed again
//!   (on a 1.0 card); on a 1.1 card the same bare prober never gets
//!   anything but `6982`, no signature is redone, and the card's log shows
//!   one PSO with PIN2 per signature and nothing else.
//! * `keys.rs`: on a Business card, a citizen and a business signer while
//!   raw MSE SET DST (business key) come from six threads: every signature
//!   `asan` hands out is made with the key of its profile (it checks each
//!   against the key's public key and signs again when another program had
//!   selected another key) on a 1.0 card; on a 1.1 card with nothing
//!   disturbed at all.
//! * `kills.rs`: the `asan-vcard` process killed (SIGKILL) at several
//!   moments of a signing loop — on a 1.0 card right after VERIFY, right
//!   after the PSO, after the SELECT, timed to the end of VERIFY's
//!   processing, at a random time; on a 1.1 card right after the PSO with
//!   PIN2, after the SELECT, timed to the end of its processing, at a random
//!   time: the `asan` in flight ends within seconds
//!   (`ASAN_TIMEOUT=5`) with one `asan: …` line and no panic; the card
//!   restarted on the same image loads it, is operational, has PIN2 at 3 or
//!   2 tries (a kill between VERIFY's decrement of the counter and its
//!   restore leaves one try spent; never more than 3), and signs again with
//!   the same key.
//!
//! What pcsc-lite (1.9.9 here) does that matters: it checks a transaction's
//! lock when `SCardTransmit` starts and only then waits for the reader, so
//! a transmit of another program that passed the check just before
//! `SCardBeginTransaction` runs inside the transaction. Between programs
//! that send everything in transactions this cannot happen; a program that
//! does not (or `asan`'s own SELECT when it connects) can disturb a
//! signature. `asan` notices every such case — the PSO finds no
//! verification, or the signature does not verify with the key's public
//! key — and signs again (`docs/security.md`, "Other programs on the same
//! card").
//!
//! Ports 35963 and 35964 are the two slots of one vpcd reader ("Virtual
//! PCD" in reader.conf), which share pcscd's lock for that reader: a test
//! on 35963 at the same time slows these down. Other tests and benchmarks
//! of the workspace (`batch.rs`, `asan-bench batch`) start cards on all
//! four slots, this one included; a watcher names such programs on stderr
//! when a test ends, as a failure they cause is not asan's.
//!
//! The timings (per signature alone and under contention, from the kill to
//! the host's error) are printed: `cargo test -p asan-tests --test
//! concurrency -- --nocapture`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "concurrency/harness.rs"]
mod harness;
#[path = "concurrency/keys.rs"]
mod keys;
#[path = "concurrency/kills.rs"]
mod kills;
#[path = "concurrency/signers.rs"]
mod signers;
