//! The C ABI: PKCS#11 v2.40 entry points and the v3.0 interface list. The
//! only `unsafe` code of the project lives here, each block small and with
//! its `// SAFETY:` comment: reading what the caller passes (checked for
//! null first), writing results back. Every decision is the safe core's
//! ([`crate::core`]). No call unwinds into the caller: each entry point
//! runs behind `catch_unwind` and answers `CKR_GENERAL_ERROR` instead.
#![allow(unsafe_code)]

mod entry;
mod list;
mod mem;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Mutex, MutexGuard};

use cryptoki_sys::*;

use crate::core::reader::PcscConnector;
use crate::core::{CkResult, Module};

/// The module's state between `C_Initialize` and `C_Finalize`.
struct Global {
    /// The process that initialised the module: a forked child sees a
    /// state that is not its own and must initialise again.
    pid: u32,
    module: Module<PcscConnector>,
}

static STATE: Mutex<Option<Global>> = Mutex::new(None);

fn lock() -> MutexGuard<'static, Option<Global>> {
    // A panic while the lock was held (caught at the boundary) leaves the
    // state usable: every operation leaves it consistent before it can fail.
    STATE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `f` so that no panic crosses the C boundary.
fn guard(f: impl FnOnce() -> CK_RV) -> CK_RV {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(CKR_GENERAL_ERROR)
}

/// Runs `f` on the initialised module of this process.
fn with_module(f: impl FnOnce(&mut Module<PcscConnector>) -> CkResult<()>) -> CK_RV {
    guard(|| {
        let mut state = lock();
        match state.as_mut() {
            Some(g) if g.pid == std::process::id() => match f(&mut g.module) {
                Ok(()) => CKR_OK,
                Err(rv) => rv,
            },
            Some(_) => {
                // Inherited across fork(): the parent's PC/SC handles must
                // not be released from here, so the state is left behind.
                if let Some(inherited) = state.take() {
                    std::mem::forget(inherited);
                }
                CKR_CRYPTOKI_NOT_INITIALIZED
            }
            None => CKR_CRYPTOKI_NOT_INITIALIZED,
        }
    })
}

/// Converts a core result to the return value.
fn rv(r: CkResult<()>) -> CK_RV {
    match r {
        Ok(()) => CKR_OK,
        Err(rv) => rv,
    }
}

/// Copies `text` into a fixed, blank-padded PKCS#11 string field,
/// truncated at a character boundary.
fn padded<const N: usize>(text: &str) -> [u8; N] {
    let mut out = [b' '; N];
    let mut end = text.len().min(N);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    out[..end].copy_from_slice(&text.as_bytes()[..end]);
    out
}

fn version(major: u8, minor: u8) -> CK_VERSION {
    CK_VERSION { major, minor }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_blank_padded_and_cut_at_characters() {
        assert_eq!(&padded::<8>("ab"), b"ab      ");
        assert_eq!(&padded::<4>("abcdef"), b"abcd");
        // "İ" is two bytes: not cut in half.
        assert_eq!(&padded::<2>("aİ"), b"a ");
    }
}
