//! The implemented PKCS#11 functions: pointers checked and copied here,
//! the work done by the core.

use std::time::Duration;

use cryptoki_sys::*;

use super::mem::{copy_out, get, input, list_out, put, template, template_values};
use super::{Global, guard, lock, padded, rv, version, with_module};
use crate::core::objects::Value;
use crate::core::reader::{PcscConnector, wait_for_change};
use crate::core::{MECHANISMS, Module, Signed};

/// Library version reported by `C_GetInfo`.
const LIBRARY_VERSION: (u8, u8) = (0, 1);

/// `C_Initialize`.
// SAFETY: exports the PKCS#11 name of this function, defined once in the
// module; its signature is the standard's (cryptoki-sys's type checks it
// where the function lists take it).
#[unsafe(no_mangle)]
pub extern "C" fn C_Initialize(args: *mut std::os::raw::c_void) -> CK_RV {
    guard(|| {
        if !args.is_null() {
            let a = match get(args as *const CK_C_INITIALIZE_ARGS) {
                Ok(a) => a,
                Err(rv) => return rv,
            };
            if !a.pReserved.is_null() {
                return CKR_ARGUMENTS_BAD;
            }
            let given = [
                a.CreateMutex.is_some(),
                a.DestroyMutex.is_some(),
                a.LockMutex.is_some(),
                a.UnlockMutex.is_some(),
            ];
            if given.iter().any(|g| *g) && !given.iter().all(|g| *g) {
                return CKR_ARGUMENTS_BAD;
            }
            // With or without the caller's mutex functions we lock with the
            // operating system's (CKF_OS_LOCKING_OK or not: both are
            // allowed when the library can use native locks).
        }
        let mut state = lock();
        match state.as_ref() {
            Some(g) if g.pid == std::process::id() => return CKR_CRYPTOKI_ALREADY_INITIALIZED,
            Some(_) => {
                // A forked child: the parent's state is not ours to release.
                if let Some(inherited) = state.take() {
                    std::mem::forget(inherited);
                }
            }
            None => {}
        }
        let module = Module::new(PcscConnector::new());
        *state = Some(Global {
            pid: std::process::id(),
            module,
        });
        CKR_OK
    })
}

/// `C_Finalize`: closes every session and releases PC/SC.
// SAFETY: exports the PKCS#11 name of this function, defined once in the
// module; its signature is the standard's (cryptoki-sys's type checks it
// where the function lists take it).
#[unsafe(no_mangle)]
pub extern "C" fn C_Finalize(reserved: *mut std::os::raw::c_void) -> CK_RV {
    guard(|| {
        if !reserved.is_null() {
            return CKR_ARGUMENTS_BAD;
        }
        let mut state = lock();
        match state.take() {
            Some(g) if g.pid == std::process::id() => {
                drop(g);
                CKR_OK
            }
            Some(g) => {
                std::mem::forget(g);
                CKR_CRYPTOKI_NOT_INITIALIZED
            }
            None => CKR_CRYPTOKI_NOT_INITIALIZED,
        }
    })
}

/// `C_GetInfo`.
// SAFETY: exports the PKCS#11 name of this function, defined once in the
// module; its signature is the standard's (cryptoki-sys's type checks it
// where the function lists take it).
#[unsafe(no_mangle)]
pub extern "C" fn C_GetInfo(info: *mut CK_INFO) -> CK_RV {
    with_module(|_| {
        put(
            info,
            CK_INFO {
                cryptokiVersion: version(2, 40),
                manufacturerID: padded("Asan Imza toolchain"),
                flags: 0,
                libraryDescription: padded("Asan Imza SIM PKCS#11 module"),
                libraryVersion: version(LIBRARY_VERSION.0, LIBRARY_VERSION.1),
            },
        )
    })
}

/// `C_GetSlotList`.
// SAFETY: exports the PKCS#11 name of this function, defined once in the
// module; its signature is the standard's (cryptoki-sys's type checks it
// where the function lists take it).
#[unsafe(no_mangle)]
pub extern "C" fn C_GetSlotList(
    token_present: CK_BBOOL,
    list: *mut CK_SLOT_ID,
    count: *mut CK_ULONG,
) -> CK_RV {
    with_module(|m| {
        get(count)?;
        let slots = m.slot_list(token_present != CK_FALSE);
        list_out(&slots, list, count)
    })
}

/// `C_GetSlotInfo`.
// SAFETY: exports the PKCS#11 name of this function, defined once in the
// module; its signature is the standard's (cryptoki-sys's type checks it
// where the function lists take it).
#[unsafe(no_mangle)]
pub extern "C" fn C_GetSlotInfo(slot: CK_SLOT_ID, info: *mut CK_SLOT_INFO) -> CK_RV {
    with_module(|m| {
        if info.is_null() {
            return Err(CKR_ARGUMENTS_BAD);
        }
        let s = m.slot_info(slot)?;
        put(
            info,
            CK_SLOT_INFO {
                slotDescription: padded(&s.description),
                manufacturerID: padded("Asan Imza toolchain"),
                flags: s.flags,
                hardwareVersion: version(0, 0),
                firmwareVersion: version(0, 0),
            },
        )
    })
}

/// `C_GetTokenInfo`.
// SAFETY: exports the PKCS#11 name of this function, defined once in the
// module; its signature is the standard's (cryptoki-sys's type checks it
// where the function lists take it).
#[unsafe(no_mangle)]
pub extern "C" fn C_GetTokenInfo(slot: CK_SLOT_ID, info: *mut CK_TOKEN_INFO) -> CK_RV {
    with_module(|m| {
        if info.is_null() {
            return Err(CKR_ARGUMENTS_BAD);
        }
        let t = m.token_info(slot)?;
        put(
            info,
            CK_TOKEN_INFO {
                label: padded(&t.label),
                manufacturerID: padded("Asan Imza"),
                model: padded("SIM applet"),
                serialNumber: padded(&t.serial),
                flags: t.flags,
                ulMaxSessionCount: CK_EFFECTIVELY_INFINITE,
                ulSessionCount: t.sessions.0 as CK_ULONG,
                ulMaxRwSessionCount: CK_EFFECTIVELY_INFINITE,
                ulRwSessionCount: t.sessions.1 as CK_ULONG,
                ulMaxPinLen: t.pin_len.1 as CK_ULONG,
                ulMinPinLen: t.pin_len.0 as CK_ULONG,
                ulTotalPublicMemory: CK_UNAVAILABLE_INFORMATION,
                ulFreePublicMemory: CK_UNAVAILABLE_INFORMATION,
                ulTotalPrivateMemory: CK_UNAVAILABLE_INFORMATION,
                ulFreePrivateMemory: CK_UNAVAILABLE_INFORMATION,
                hardwareVersion: version(t.version.0, t.version.1),
                firmwareVersion: version(t.version.0, t.version.1),
                utcTime: [b' '; 16],
            },
        )
    })
}

/// `C_GetMechanismList`.
// SAFETY: exports the PKCS#11 name of this function, defined once in the
// module; its signature is the standard's (cryptoki-sys's type checks it
// where the function lists take it).
#[unsafe(no_mangle)]
pub extern "C" fn C_GetMechanismList(
    slot: CK_SLOT_ID,
    list: *mut CK_MECHANISM_TYPE,
    count: *mut CK_ULONG,
) -> CK_RV {
    with_module(|m| {
        m.mechanism_info(slot, CKM_ECDSA)?;
        list_out(&MECHANISMS, list, count)
    })
}

/// `C_GetMechanismInfo`.
// SAFETY: exports the PKCS#11 name of this function, defined once in the
// module; its signature is the standard's (cryptoki-sys's type checks it
// where the function lists take it).
#[unsafe(no_mangle)]
pub extern "C" fn C_GetMechanismInfo(
    slot: CK_SLOT_ID,
    mechanism: CK_MECHANISM_TYPE,
    info: *mut CK_MECHANISM_INFO,
) -> CK_RV {
    with_module(|m| {
        if info.is_null() {
            return Err(CKR_ARGUMENTS_BAD);
        }
        let (min, max, flags) = m.mechanism_info(slot, mechanism)?;
        put(
            info,
            CK_MECHANISM_INFO {
                ulMinKeySize: min,
                ulMaxKeySize: max,
                flags,
            },
        )
    })
}

/// `C_InitPIN`.
// SAFETY: exports the PKCS#11 name of this function, defined once in the
// module; its signature is the standard's (cryptoki-sys's type checks it
// where the function lists take it).
#[unsafe(no_mangle)]
pub extern "C" fn C_InitPIN(
    session: CK_SESSION_HANDLE,
    pin: *mut CK_UTF8CHAR,
    len: CK_ULONG,
) -> CK_RV {
    with_module(|m| m.init_pin(session, input(pin, len)?))
}

/// `C_SetPIN`.
// SAFETY: exports the PKCS#11 name of this function, defined once in the
// module; its signature is the standard's (cryptoki-sys's type checks it
// where the function lists take it).
#[unsafe(no_mangle)]
pub extern "C" fn C_SetPIN(
    session: CK_SESSION_HANDLE,
    old: *mut CK_UTF8CHAR,
    old_len: CK_ULONG,
    new: *mut CK_UTF8CHAR,
    new_len: CK_ULONG,
) -> CK_RV {
    with_module(|m| m.set_pin(session, input(old, old_len)?, input(new, new_len)?))
}

/// `C_OpenSession` (notifications are not used).
// SAFETY: exports the PKCS#11 name of this function, defined once in the
// module; its signature is the standard's (cryptoki-sys's type checks it
// where the function lists take it).
#[unsafe(no_mangle)]
pub extern "C" fn C_OpenSession(
    slot: CK_SLOT_ID,
    flags: CK_FLAGS,
    _application: *mut std::os::raw::c_void,
    _notify: CK_NOTIFY,
    session: *mut CK_SESSION_HANDLE,
) -> CK_RV {
    with_module(|m| {
        if session.is_null() {
            return Err(CKR_ARGUMENTS_BAD);
        }
        let handle = m.open_session(slot, flags)?;
        put(session, handle)
    })
}

/// `C_CloseSession`.
// SAFETY: exports the PKCS#11 name of this function, defined once in the
// module; its signature is the standard's (cryptoki-sys's type checks it
// where the function lists take it).
#[unsafe(no_mangle)]
pub extern "C" fn C_CloseSession(session: CK_SESSION_HANDLE) -> CK_RV {
    with_module(|m| m.close_session(session))
}

/// `C_CloseAllSessions`.
// SAFETY: exports the PKCS#11 name of this function, defined once in the
// module; its signature is the standard's (cryptoki-sys's type checks it
// where the function lists take it).
#[unsafe(no_mangle)]
pub extern "C" fn C_CloseAllSessions(slot: CK_SLOT_ID) -> CK_RV {
    with_module(|m| m.close_all_sessions(slot))
}

/// `C_GetSessionInfo`.
// SAFETY: exports the PKCS#11 name of this function, defined once in the
// module; its signature is the standard's (cryptoki-sys's type checks it
// where the function lists take it).
#[unsafe(no_mangle)]
pub extern "C" fn C_GetSessionInfo(
    session: CK_SESSION_HANDLE,
    info: *mut CK_SESSION_INFO,
) -> CK_RV {
    with_module(|m| {
        if info.is_null() {
            return Err(CKR_ARGUMENTS_BAD);
        }
        let s = m.session_info(session)?;
        put(
            info,
            CK_SESSION_INFO {
                slotID: s.slot,
                state: s.state,
                flags: s.flags,
                ulDeviceError: 0,
            },
        )
    })
}

/// `C_Login`.
// SAFETY: exports the PKCS#11 name of this function, defined once in the
// module; its signature is the standard's (cryptoki-sys's type checks it
// where the function lists take it).
#[unsafe(no_mangle)]
pub extern "C" fn C_Login(
    session: CK_SESSION_HANDLE,
    user: CK_USER_TYPE,
    pin: *mut CK_UTF8CHAR,
    len: CK_ULONG,
) -> CK_RV {
    // A null PIN would mean a protected authentication path; there is none.
    with_module(|m| m.login(session, user, input(pin, len)?))
}

/// `C_Logout`.
// SAFETY: exports the PKCS#11 name of this function, defined once in the
// module; its signature is the standard's (cryptoki-sys's type checks it
// where the function lists take it).
#[unsafe(no_mangle)]
pub extern "C" fn C_Logout(session: CK_SESSION_HANDLE) -> CK_RV {
    with_module(|m| m.logout(session))
}

/// `C_GetAttributeValue`: every attribute is answered; the return value is
/// the last problem met (sensitive, unknown, buffer too small).
// SAFETY: exports the PKCS#11 name of this function, defined once in the
// module; its signature is the standard's (cryptoki-sys's type checks it
// where the function lists take it).
#[unsafe(no_mangle)]
pub extern "C" fn C_GetAttributeValue(
    session: CK_SESSION_HANDLE,
    object: CK_OBJECT_HANDLE,
    attributes: *mut CK_ATTRIBUTE,
    count: CK_ULONG,
) -> CK_RV {
    with_module(|m| {
        let attributes = template(attributes, count)?;
        let types: Vec<CK_ATTRIBUTE_TYPE> = attributes.iter().map(|a| a.type_).collect();
        let values = m.attributes(session, object, &types)?;
        let mut result = Ok(());
        for (a, v) in attributes.iter_mut().zip(values) {
            match v {
                Value::Bytes(b) if a.pValue.is_null() => a.ulValueLen = b.len() as CK_ULONG,
                Value::Bytes(b) => {
                    if copy_out(a.pValue, a.ulValueLen, &b) {
                        a.ulValueLen = b.len() as CK_ULONG;
                    } else {
                        a.ulValueLen = CK_UNAVAILABLE_INFORMATION;
                        result = Err(CKR_BUFFER_TOO_SMALL);
                    }
                }
                Value::Sensitive => {
                    a.ulValueLen = CK_UNAVAILABLE_INFORMATION;
                    result = Err(CKR_ATTRIBUTE_SENSITIVE);
                }
                Value::Invalid => {
                    a.ulValueLen = CK_UNAVAILABLE_INFORMATION;
                    result = Err(CKR_ATTRIBUTE_TYPE_INVALID);
                }
            }
        }
        result
    })
}

/// `C_FindObjectsInit`.
// SAFETY: exports the PKCS#11 name of this function, defined once in the
// module; its signature is the standard's (cryptoki-sys's type checks it
// where the function lists take it).
#[unsafe(no_mangle)]
pub extern "C" fn C_FindObjectsInit(
    session: CK_SESSION_HANDLE,
    attributes: *mut CK_ATTRIBUTE,
    count: CK_ULONG,
) -> CK_RV {
    with_module(|m| m.find_init(session, &template_values(attributes, count)?))
}

/// `C_FindObjects`.
// SAFETY: exports the PKCS#11 name of this function, defined once in the
// module; its signature is the standard's (cryptoki-sys's type checks it
// where the function lists take it).
#[unsafe(no_mangle)]
pub extern "C" fn C_FindObjects(
    session: CK_SESSION_HANDLE,
    objects: *mut CK_OBJECT_HANDLE,
    max: CK_ULONG,
    count: *mut CK_ULONG,
) -> CK_RV {
    with_module(|m| {
        if count.is_null() || (objects.is_null() && max > 0) {
            return Err(CKR_ARGUMENTS_BAD);
        }
        let found = m.find(session, usize::try_from(max).unwrap_or(usize::MAX))?;
        // `found` has at most `max` handles: `list_out` takes the room from
        // `*count` and writes the number found back into it.
        put(count, max)?;
        list_out(&found, objects, count)
    })
}

/// `C_FindObjectsFinal`.
// SAFETY: exports the PKCS#11 name of this function, defined once in the
// module; its signature is the standard's (cryptoki-sys's type checks it
// where the function lists take it).
#[unsafe(no_mangle)]
pub extern "C" fn C_FindObjectsFinal(session: CK_SESSION_HANDLE) -> CK_RV {
    with_module(|m| m.find_final(session))
}

/// `C_SignInit`.
// SAFETY: exports the PKCS#11 name of this function, defined once in the
// module; its signature is the standard's (cryptoki-sys's type checks it
// where the function lists take it).
#[unsafe(no_mangle)]
pub extern "C" fn C_SignInit(
    session: CK_SESSION_HANDLE,
    mechanism: *mut CK_MECHANISM,
    key: CK_OBJECT_HANDLE,
) -> CK_RV {
    with_module(|m| {
        let mechanism = get(mechanism as *const CK_MECHANISM)?;
        if mechanism.ulParameterLen != 0 {
            return Err(CKR_MECHANISM_PARAM_INVALID);
        }
        m.sign_init(session, mechanism.mechanism, key)
    })
}

/// Returns a signature the PKCS#11 way: a null buffer is a length query.
fn signature_out(
    signed: impl FnOnce(Option<usize>) -> crate::core::CkResult<Signed>,
    out: *mut CK_BYTE,
    len: *mut CK_ULONG,
) -> crate::core::CkResult<()> {
    let room = get(len)?;
    let room = (!out.is_null()).then(|| usize::try_from(room).unwrap_or(usize::MAX));
    match signed(room) {
        Ok(Signed::Length(n)) => put(len, n as CK_ULONG),
        Ok(Signed::Signature(s)) => {
            if !copy_out(out.cast(), room.unwrap_or(0) as CK_ULONG, &s) {
                return Err(CKR_BUFFER_TOO_SMALL);
            }
            put(len, s.len() as CK_ULONG)
        }
        Err(CKR_BUFFER_TOO_SMALL) => {
            put(len, crate::core::SIGNATURE_LEN as CK_ULONG)?;
            Err(CKR_BUFFER_TOO_SMALL)
        }
        Err(e) => Err(e),
    }
}

/// `C_Sign`.
// SAFETY: exports the PKCS#11 name of this function, defined once in the
// module; its signature is the standard's (cryptoki-sys's type checks it
// where the function lists take it).
#[unsafe(no_mangle)]
pub extern "C" fn C_Sign(
    session: CK_SESSION_HANDLE,
    data: *mut CK_BYTE,
    data_len: CK_ULONG,
    signature: *mut CK_BYTE,
    len: *mut CK_ULONG,
) -> CK_RV {
    with_module(|m| {
        let data = input(data, data_len)?;
        signature_out(|room| m.sign(session, data, room), signature, len)
    })
}

/// `C_SignUpdate`.
// SAFETY: exports the PKCS#11 name of this function, defined once in the
// module; its signature is the standard's (cryptoki-sys's type checks it
// where the function lists take it).
#[unsafe(no_mangle)]
pub extern "C" fn C_SignUpdate(
    session: CK_SESSION_HANDLE,
    data: *mut CK_BYTE,
    len: CK_ULONG,
) -> CK_RV {
    with_module(|m| m.sign_update(session, input(data, len)?))
}

/// `C_SignFinal`.
// SAFETY: exports the PKCS#11 name of this function, defined once in the
// module; its signature is the standard's (cryptoki-sys's type checks it
// where the function lists take it).
#[unsafe(no_mangle)]
pub extern "C" fn C_SignFinal(
    session: CK_SESSION_HANDLE,
    signature: *mut CK_BYTE,
    len: *mut CK_ULONG,
) -> CK_RV {
    with_module(|m| signature_out(|room| m.sign_final(session, room), signature, len))
}

/// `C_WaitForSlotEvent`: with `CKF_DONT_BLOCK` answers at once
/// (`CKR_NO_EVENT`); else waits on PC/SC reader changes, without holding
/// the module, until a slot changes or `C_Finalize` is called.
// SAFETY: exports the PKCS#11 name of this function, defined once in the
// module; its signature is the standard's (cryptoki-sys's type checks it
// where the function lists take it).
#[unsafe(no_mangle)]
pub extern "C" fn C_WaitForSlotEvent(
    flags: CK_FLAGS,
    slot: *mut CK_SLOT_ID,
    reserved: *mut std::os::raw::c_void,
) -> CK_RV {
    guard(|| {
        if slot.is_null() || !reserved.is_null() {
            return CKR_ARGUMENTS_BAD;
        }
        loop {
            let mut found = None;
            let mut readers = Vec::new();
            let r = with_module(|m| {
                found = m.slot_event();
                readers = m.reader_names();
                Ok(())
            });
            if r != CKR_OK {
                return r;
            }
            if let Some(s) = found {
                return rv(put(slot, s));
            }
            if flags & CKF_DONT_BLOCK != 0 {
                return CKR_NO_EVENT;
            }
            wait_for_change(&readers, Duration::from_millis(500));
        }
    })
}

/// `C_SeedRandom`: the card has no random number generator command.
// SAFETY: exports the PKCS#11 name of this function, defined once in the
// module; its signature is the standard's (cryptoki-sys's type checks it
// where the function lists take it).
#[unsafe(no_mangle)]
pub extern "C" fn C_SeedRandom(
    session: CK_SESSION_HANDLE,
    _seed: *mut CK_BYTE,
    _len: CK_ULONG,
) -> CK_RV {
    with_module(|m| {
        m.session_info(session)?;
        Err(CKR_RANDOM_NO_RNG)
    })
}

/// `C_GenerateRandom`: the card has no random number generator command
/// (and random bytes of the host are not the token's).
// SAFETY: exports the PKCS#11 name of this function, defined once in the
// module; its signature is the standard's (cryptoki-sys's type checks it
// where the function lists take it).
#[unsafe(no_mangle)]
pub extern "C" fn C_GenerateRandom(
    session: CK_SESSION_HANDLE,
    _out: *mut CK_BYTE,
    _len: CK_ULONG,
) -> CK_RV {
    with_module(|m| {
        m.session_info(session)?;
        Err(CKR_RANDOM_NO_RNG)
    })
}
