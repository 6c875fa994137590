//! The C ABI as C applications meet it: `tests/c/abi.c` (the v3.0
//! interface entry points, both function lists without a null pointer,
//! argument checks, short buffers, `C_Initialize`/`C_Finalize` rules, the
//! functions not offered) and `tests/c/fork.c` (a forked child initialises
//! again and never touches its parent's PC/SC handles), compiled with the
//! system's C compiler against p11-kit's `pkcs11.h` and run on the built
//! module. They need pcscd (the slots come from its readers) but no card.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{module, run};

/// Compiles `tests/c/NAME.c` and runs it on the module.
fn c_program(name: &str) {
    drop(asan_tests::pcsc_context());
    let dir = tempfile::tempdir().unwrap();
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/c/{name}.c"));
    let exe = dir.path().join(name);
    run(Command::new("cc")
        .args(["-Wall", "-Werror", "-I/usr/include/p11-kit-1", "-o"])
        .arg(&exe)
        .arg(&source)
        .arg("-ldl"))
    .ok();
    run(Command::new(&exe).arg(module()))
        .ok()
        .says(&format!("{name}: ok"));
}

#[test]
fn interfaces_function_lists_and_argument_checks() {
    c_program("abi");
}

#[test]
fn a_forked_child_initialises_again() {
    c_program("fork");
}
