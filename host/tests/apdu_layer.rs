//! The APDU layer (`asan_host::apdu`) against a scripted card: encoding of
//! the four ISO cases, short or extended by size, command chaining on
//! short-only readers, `61xx` / GET RESPONSE, `6Cxx` re-sends, malformed
//! R-APDUs, the command-size limit and the redacted trace. Every test checks
//! both the bytes that went to the card and what the layer returned.
//!
//! The helpers are here; the tests are in `apdu_layer/encoding.rs`,
//! `apdu_layer/responses.rs` and `apdu_layer/trace.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

#[path = "apdu_layer/encoding.rs"]
mod encoding;
#[path = "apdu_layer/responses.rs"]
mod responses;
#[path = "apdu_layer/trace.rs"]
mod trace;

use std::cell::RefCell;
use std::rc::Rc;

use asan_host::Error;
use asan_host::apdu::{Apdus, Command, Response};
use asan_host::transport::scripted::{Answer, ScriptedTransport};

/// `data || 90 00`.
fn ok(data: &[u8]) -> Vec<u8> {
    [data, &[0x90, 0x00]].concat()
}

/// `data || SW`.
fn with_sw(data: &[u8], sw: u16) -> Vec<u8> {
    [data, &sw.to_be_bytes()].concat()
}

fn script(answers: impl IntoIterator<Item = Vec<u8>>) -> ScriptedTransport {
    ScriptedTransport::new(answers.into_iter().map(Answer::Bytes))
}

/// Sends `cmd` through a fresh `Apdus` over `t`.
fn send(
    t: &mut ScriptedTransport,
    extended: bool,
    cmd: &Command<'_>,
) -> asan_host::Result<Response> {
    Apdus::new(t, extended, None).send(cmd)
}

/// Sends `cmd` with a trace; returns the result and the trace lines.
fn send_traced(
    t: &mut ScriptedTransport,
    extended: bool,
    cmd: &Command<'_>,
) -> (asan_host::Result<Response>, Vec<String>) {
    let lines = Rc::new(RefCell::new(Vec::new()));
    let sink = Rc::clone(&lines);
    let mut hook = move |l: &str| sink.borrow_mut().push(l.to_owned());
    let r = Apdus::new(t, extended, Some(&mut hook)).send(cmd);
    let out = lines.borrow().clone();
    (r, out)
}

fn assert_invalid(r: asan_host::Result<Response>, what: &str) {
    match r {
        Err(Error::InvalidResponse(_)) => {}
        other => panic!("{what}: expected InvalidResponse, got {other:?}"),
    }
}

const HDR: [u8; 4] = [0x00, 0xCA, 0x00, 0x6E];
