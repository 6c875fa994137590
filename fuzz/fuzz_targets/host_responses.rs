//! The host library's parsing of card answers: GET DATA objects, public
//! keys, TLVs, and whole API calls against a card that answers with the
//! fuzzer's bytes (as an unshared card and as one other programs share,
//! where signatures are checked and disturbed ones redone).
#![no_main]

use asan_host::transport::scripted::{Answer, ScriptedTransport};
use asan_host::{AsanCard, Pin2, card, info, tlv};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = info::parse(data);
    let _ = info::parse_pins(data);
    let _ = card::parse_public_key(data);
    let _ = tlv::all(data);
    // A card whose answers are cut from the input (2-byte length prefix each).
    let mut answers = vec![Answer::Bytes(vec![0x90, 0x00])];
    let mut rest = data;
    while let Some((len, tail)) = rest.split_first_chunk::<2>() {
        let n = usize::from(u16::from_be_bytes(*len)).min(tail.len());
        let (a, tail) = tail.split_at(n);
        answers.push(Answer::Bytes(a.to_vec()));
        rest = tail;
    }
    let mut transport = ScriptedTransport::new(answers);
    transport.shared = data.first().is_some_and(|b| b & 1 == 1);
    if let Ok(mut c) = AsanCard::open(transport) {
        let _ = c.info();
        let _ = c.pin_status();
        if let Ok(pin) = Pin2::new("12345") {
            let _ = c.sign(&[0; 32], &pin, asan_applet::CertificateProfile::Business);
            let _ = c.sign(&[0; 32], &pin, asan_applet::CertificateProfile::Citizen);
        }
        let _ = c.read_certificate_der(asan_applet::KeyRef::DEFAULT_SIGNING);
    }
});
