//! Reading the caller's memory and writing results into it. Every
//! pointer is checked for null before use; lengths come from the caller,
//! who by the PKCS#11 contract passes buffers of (at least) those sizes.

use std::os::raw::c_void;

use cryptoki_sys::*;

use crate::core::CkResult;

/// The `len` bytes at `ptr` (`len == 0` may come with a null pointer).
pub fn input<'a>(ptr: *const u8, len: CK_ULONG) -> CkResult<&'a [u8]> {
    let len = usize::try_from(len).map_err(|_| CKR_ARGUMENTS_BAD)?;
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() || len > isize::MAX as usize {
        return Err(CKR_ARGUMENTS_BAD);
    }
    // SAFETY: `ptr` is not null and, by the PKCS#11 contract, points to
    // `len` readable bytes that stay valid and unchanged during this call.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// The `count` attributes at `ptr` (a template), mutable so that values and
/// lengths can be written back.
pub fn template<'a>(ptr: *mut CK_ATTRIBUTE, count: CK_ULONG) -> CkResult<&'a mut [CK_ATTRIBUTE]> {
    let count = usize::try_from(count).map_err(|_| CKR_ARGUMENTS_BAD)?;
    if count == 0 {
        return Ok(&mut []);
    }
    if ptr.is_null() || count > 4096 {
        return Err(CKR_ARGUMENTS_BAD);
    }
    // SAFETY: not null; by the contract `ptr` points to `count` attributes
    // owned by the caller for the duration of the call, aliased by nothing
    // we hold.
    Ok(unsafe { std::slice::from_raw_parts_mut(ptr, count) })
}

/// A template's types and values, copied in.
pub fn template_values(
    ptr: *mut CK_ATTRIBUTE,
    count: CK_ULONG,
) -> CkResult<Vec<(CK_ATTRIBUTE_TYPE, Vec<u8>)>> {
    template(ptr, count)?
        .iter()
        .map(|a| {
            Ok((
                a.type_,
                input(a.pValue as *const u8, a.ulValueLen)?.to_vec(),
            ))
        })
        .collect()
}

/// Writes `value` to `ptr`.
pub fn put<T>(ptr: *mut T, value: T) -> CkResult<()> {
    if ptr.is_null() {
        return Err(CKR_ARGUMENTS_BAD);
    }
    // SAFETY: not null; by the contract `ptr` points to writable memory for
    // one `T` (an output parameter), suitably aligned.
    unsafe { ptr.write(value) };
    Ok(())
}

/// Reads the `T` at `ptr`.
pub fn get<T: Copy>(ptr: *const T) -> CkResult<T> {
    if ptr.is_null() {
        return Err(CKR_ARGUMENTS_BAD);
    }
    // SAFETY: not null; by the contract `ptr` points to a readable,
    // initialised `T`.
    Ok(unsafe { ptr.read() })
}

/// Copies `src` into the caller's buffer of `room` bytes at `dst`.
/// Returns false (copying nothing) when it does not fit.
pub fn copy_out(dst: *mut c_void, room: CK_ULONG, src: &[u8]) -> bool {
    if dst.is_null() || usize::try_from(room).map_or(true, |r| r < src.len()) {
        return false;
    }
    // SAFETY: `dst` is not null and has room for `room >= src.len()`
    // bytes (the caller's buffer); our `src` cannot overlap it.
    unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst.cast::<u8>(), src.len()) };
    true
}

/// A list of `values` returned the PKCS#11 way: with `out` null only the
/// count; with a buffer too small `CKR_BUFFER_TOO_SMALL` and the count;
/// else the values and the count.
pub fn list_out<T: Copy>(values: &[T], out: *mut T, count: *mut CK_ULONG) -> CkResult<()> {
    let room = get(count)?;
    put(count, values.len() as CK_ULONG)?;
    if out.is_null() {
        return Ok(());
    }
    if (room as usize) < values.len() {
        return Err(CKR_BUFFER_TOO_SMALL);
    }
    for (i, v) in values.iter().enumerate() {
        // SAFETY: `out` is not null and holds `room >= values.len()`
        // elements; `i < values.len()`, so the element is inside it.
        let slot = unsafe { out.add(i) };
        put(slot, *v)?;
    }
    Ok(())
}
