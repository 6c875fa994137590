//! The applet's APDU framing and command parsing on arbitrary bytes.
#![no_main]

use asan_applet::apdu::Apdu;
use asan_applet::command;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(apdu) = Apdu::parse(data) {
        assert!(apdu.data.len() <= data.len());
        let _ = command::parse(apdu.ins, apdu.p1, apdu.p2, apdu.data);
    }
});
