//! A hostile card: every public method of `AsanCard` against scripted
//! answers that are empty, one byte, garbage, truncated, oversized, of the
//! wrong TLV shape, signatures of the wrong size, points off the curve,
//! certificates that are not certificates, endless `61xx`, `6Cxx` loops,
//! out-of-order answers, silence (timeout) and unknown status words — at
//! each position of each method's exchange. Every case must end in an `Err`
//! of the expected kind, without a panic and quickly: each case runs in its
//! own thread and a hang is reported after a timeout.
//!
//! Table-driven: a list of operations (with the good answers that make each
//! one succeed, checked by `baseline_scripts_succeed`) × a list of hostile
//! answers placed at every position, plus per-operation malformed data.
//! `HOSTILE_VERBOSE=1 cargo test --test hostile -- --nocapture` prints the
//! error each case ended in.
//!
//! The operations are in `hostile/ops.rs`, the hostile answers in
//! `hostile/answers.rs`, the running of a case in `hostile/cases.rs`; the
//! tests in `hostile/tables.rs` and `hostile/typed.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

#[path = "hostile/answers.rs"]
mod answers;
#[path = "hostile/cases.rs"]
mod cases;
#[path = "hostile/ops.rs"]
mod ops;

#[path = "hostile/shared.rs"]
mod shared;
#[path = "hostile/tables.rs"]
mod tables;
#[path = "hostile/typed.rs"]
mod typed;
