//! The virtual card's image loader on arbitrary files: refused or loaded,
//! never a panic; a loaded image gives a card that answers.
#![no_main]

use std::path::Path;

use asan_vcard::{VirtualCard, image};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(store) = image::decode(Path::new("fuzz.img"), data)
        && let Ok(mut card) = VirtualCard::with_store(store)
    {
        card.power_on();
        let _ = card.transmit(&[0x00, 0xCA, 0x00, 0x6E, 0x00]);
    }
});
