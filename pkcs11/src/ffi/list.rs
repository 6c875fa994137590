//! The function lists (v2.40 and v3.0), `C_GetFunctionList` and the v3.0
//! interface entry points, and the functions the module does not offer
//! (`CKR_FUNCTION_NOT_SUPPORTED`, never a null pointer in a list).

use std::os::raw::c_void;
use std::sync::OnceLock;

use cryptoki_sys::*;

use super::entry;
use super::mem::{get, put};
use super::{guard, rv};

/// A function list of type `$list`, version `$major.$minor`: the 68 functions of
/// v2.40 (written once), then `$extra` (the v3.0 additions).
macro_rules! function_list {
    ($list:ident, $major:literal, $minor:literal, { $($extra:ident: $value:expr),* $(,)? }) => {
        $list {
            version: CK_VERSION { major: $major, minor: $minor },
            C_Initialize: Some(entry::C_Initialize),
            C_Finalize: Some(entry::C_Finalize),
            C_GetInfo: Some(entry::C_GetInfo),
            C_GetFunctionList: Some(C_GetFunctionList),
            C_GetSlotList: Some(entry::C_GetSlotList),
            C_GetSlotInfo: Some(entry::C_GetSlotInfo),
            C_GetTokenInfo: Some(entry::C_GetTokenInfo),
            C_GetMechanismList: Some(entry::C_GetMechanismList),
            C_GetMechanismInfo: Some(entry::C_GetMechanismInfo),
            C_InitToken: Some(stubs::C_InitToken),
            C_InitPIN: Some(entry::C_InitPIN),
            C_SetPIN: Some(entry::C_SetPIN),
            C_OpenSession: Some(entry::C_OpenSession),
            C_CloseSession: Some(entry::C_CloseSession),
            C_CloseAllSessions: Some(entry::C_CloseAllSessions),
            C_GetSessionInfo: Some(entry::C_GetSessionInfo),
            C_GetOperationState: Some(stubs::C_GetOperationState),
            C_SetOperationState: Some(stubs::C_SetOperationState),
            C_Login: Some(entry::C_Login),
            C_Logout: Some(entry::C_Logout),
            C_CreateObject: Some(stubs::C_CreateObject),
            C_CopyObject: Some(stubs::C_CopyObject),
            C_DestroyObject: Some(stubs::C_DestroyObject),
            C_GetObjectSize: Some(stubs::C_GetObjectSize),
            C_GetAttributeValue: Some(entry::C_GetAttributeValue),
            C_SetAttributeValue: Some(stubs::C_SetAttributeValue),
            C_FindObjectsInit: Some(entry::C_FindObjectsInit),
            C_FindObjects: Some(entry::C_FindObjects),
            C_FindObjectsFinal: Some(entry::C_FindObjectsFinal),
            C_EncryptInit: Some(stubs::C_EncryptInit),
            C_Encrypt: Some(stubs::C_Encrypt),
            C_EncryptUpdate: Some(stubs::C_EncryptUpdate),
            C_EncryptFinal: Some(stubs::C_EncryptFinal),
            C_DecryptInit: Some(stubs::C_DecryptInit),
            C_Decrypt: Some(stubs::C_Decrypt),
            C_DecryptUpdate: Some(stubs::C_DecryptUpdate),
            C_DecryptFinal: Some(stubs::C_DecryptFinal),
            C_DigestInit: Some(stubs::C_DigestInit),
            C_Digest: Some(stubs::C_Digest),
            C_DigestUpdate: Some(stubs::C_DigestUpdate),
            C_DigestKey: Some(stubs::C_DigestKey),
            C_DigestFinal: Some(stubs::C_DigestFinal),
            C_SignInit: Some(entry::C_SignInit),
            C_Sign: Some(entry::C_Sign),
            C_SignUpdate: Some(entry::C_SignUpdate),
            C_SignFinal: Some(entry::C_SignFinal),
            C_SignRecoverInit: Some(stubs::C_SignRecoverInit),
            C_SignRecover: Some(stubs::C_SignRecover),
            C_VerifyInit: Some(stubs::C_VerifyInit),
            C_Verify: Some(stubs::C_Verify),
            C_VerifyUpdate: Some(stubs::C_VerifyUpdate),
            C_VerifyFinal: Some(stubs::C_VerifyFinal),
            C_VerifyRecoverInit: Some(stubs::C_VerifyRecoverInit),
            C_VerifyRecover: Some(stubs::C_VerifyRecover),
            C_DigestEncryptUpdate: Some(stubs::C_DigestEncryptUpdate),
            C_DecryptDigestUpdate: Some(stubs::C_DecryptDigestUpdate),
            C_SignEncryptUpdate: Some(stubs::C_SignEncryptUpdate),
            C_DecryptVerifyUpdate: Some(stubs::C_DecryptVerifyUpdate),
            C_GenerateKey: Some(stubs::C_GenerateKey),
            C_GenerateKeyPair: Some(stubs::C_GenerateKeyPair),
            C_WrapKey: Some(stubs::C_WrapKey),
            C_UnwrapKey: Some(stubs::C_UnwrapKey),
            C_DeriveKey: Some(stubs::C_DeriveKey),
            C_SeedRandom: Some(entry::C_SeedRandom),
            C_GenerateRandom: Some(entry::C_GenerateRandom),
            C_GetFunctionStatus: Some(stubs::C_GetFunctionStatus),
            C_CancelFunction: Some(stubs::C_CancelFunction),
            C_WaitForSlotEvent: Some(entry::C_WaitForSlotEvent),
            $($extra: $value,)*
        }
    };
}

/// The v2.40 function list.
static FUNCTIONS: CK_FUNCTION_LIST = function_list!(CK_FUNCTION_LIST, 2, 40, {});

/// The v3.0 function list (the v2.40 functions, the interface functions and
/// the v3.0 ones, which are not supported).
static FUNCTIONS_3_0: CK_FUNCTION_LIST_3_0 = function_list!(CK_FUNCTION_LIST_3_0, 3, 0, {
    C_GetInterfaceList: Some(C_GetInterfaceList),
    C_GetInterface: Some(C_GetInterface),
    C_LoginUser: Some(stubs::C_LoginUser),
    C_SessionCancel: Some(stubs::C_SessionCancel),
    C_MessageEncryptInit: Some(stubs::C_MessageEncryptInit),
    C_EncryptMessage: Some(stubs::C_EncryptMessage),
    C_EncryptMessageBegin: Some(stubs::C_EncryptMessageBegin),
    C_EncryptMessageNext: Some(stubs::C_EncryptMessageNext),
    C_MessageEncryptFinal: Some(stubs::C_MessageEncryptFinal),
    C_MessageDecryptInit: Some(stubs::C_MessageDecryptInit),
    C_DecryptMessage: Some(stubs::C_DecryptMessage),
    C_DecryptMessageBegin: Some(stubs::C_DecryptMessageBegin),
    C_DecryptMessageNext: Some(stubs::C_DecryptMessageNext),
    C_MessageDecryptFinal: Some(stubs::C_MessageDecryptFinal),
    C_MessageSignInit: Some(stubs::C_MessageSignInit),
    C_SignMessage: Some(stubs::C_SignMessage),
    C_SignMessageBegin: Some(stubs::C_SignMessageBegin),
    C_SignMessageNext: Some(stubs::C_SignMessageNext),
    C_MessageSignFinal: Some(stubs::C_MessageSignFinal),
    C_MessageVerifyInit: Some(stubs::C_MessageVerifyInit),
    C_VerifyMessage: Some(stubs::C_VerifyMessage),
    C_VerifyMessageBegin: Some(stubs::C_VerifyMessageBegin),
    C_VerifyMessageNext: Some(stubs::C_VerifyMessageNext),
    C_MessageVerifyFinal: Some(stubs::C_MessageVerifyFinal),
});

/// The interface name every PKCS#11 3.0 module offers, NUL-terminated.
static NAME: &[u8] = b"PKCS 11\0";

/// The two interfaces, "PKCS 11" 3.0 first (the preferred one), then 2.40,
/// each as a fresh value.
fn interface_values() -> [CK_INTERFACE; 2] {
    [
        CK_INTERFACE {
            pInterfaceName: NAME.as_ptr() as *mut CK_UTF8CHAR,
            pFunctionList: &FUNCTIONS_3_0 as *const CK_FUNCTION_LIST_3_0 as *mut c_void,
            flags: 0,
        },
        CK_INTERFACE {
            pInterfaceName: NAME.as_ptr() as *mut CK_UTF8CHAR,
            pFunctionList: &FUNCTIONS as *const CK_FUNCTION_LIST as *mut c_void,
            flags: 0,
        },
    ]
}

/// The interfaces `C_GetInterface` hands out, in writable memory allocated
/// once and never freed: callers may write into them (OpenSC's
/// pkcs11-spy puts its own function list in), which in a `static` would
/// be a write to read-only memory.
struct Interfaces([*mut CK_INTERFACE; 2]);

// SAFETY: the pointers come from `Box::into_raw` and are never freed; we
// never read or write through them after creating them, we only hand them
// out, so sharing the pointer values between threads is sound.
unsafe impl Send for Interfaces {}
// SAFETY: as above: the pointer values are immutable once set.
unsafe impl Sync for Interfaces {}

static INTERFACES: OnceLock<Interfaces> = OnceLock::new();

fn interfaces() -> &'static Interfaces {
    INTERFACES.get_or_init(|| {
        let [v3, v2] = interface_values();
        Interfaces([Box::into_raw(Box::new(v3)), Box::into_raw(Box::new(v2))])
    })
}

/// `C_GetFunctionList`: the v2.40 list.
// SAFETY: exports the PKCS#11 name of this function, defined once in the
// module; its signature is the standard's (cryptoki-sys's type checks it
// where the function lists take it).
#[unsafe(no_mangle)]
pub extern "C" fn C_GetFunctionList(list: *mut *mut CK_FUNCTION_LIST) -> CK_RV {
    guard(|| {
        rv(put(
            list,
            &FUNCTIONS as *const CK_FUNCTION_LIST as *mut CK_FUNCTION_LIST,
        ))
    })
}

/// `C_GetInterfaceList`: both interfaces, copied into the caller's array.
// SAFETY: exports the PKCS#11 name of this function, defined once in the
// module; its signature is the standard's (cryptoki-sys's type checks it
// where the function lists take it).
#[unsafe(no_mangle)]
pub extern "C" fn C_GetInterfaceList(list: *mut CK_INTERFACE, count: *mut CK_ULONG) -> CK_RV {
    guard(|| rv(interfaces_out(list, count)))
}

fn interfaces_out(list: *mut CK_INTERFACE, count: *mut CK_ULONG) -> crate::core::CkResult<()> {
    let all = interface_values();
    let room = get(count)?;
    put(count, all.len() as CK_ULONG)?;
    if list.is_null() {
        return Ok(());
    }
    if (room as usize) < all.len() {
        return Err(CKR_BUFFER_TOO_SMALL);
    }
    for (n, value) in all.into_iter().enumerate() {
        // SAFETY: `list` is not null and holds `room >= all.len()`
        // interfaces; `n < all.len()`.
        let slot = unsafe { list.add(n) };
        put(slot, value)?;
    }
    Ok(())
}

/// `C_GetInterface`: "PKCS 11" (or no name) in version 3.0 (or none
/// asked) or 2.40.
// SAFETY: exports the PKCS#11 name of this function, defined once in the
// module; its signature is the standard's (cryptoki-sys's type checks it
// where the function lists take it).
#[unsafe(no_mangle)]
pub extern "C" fn C_GetInterface(
    name: *mut CK_UTF8CHAR,
    version: *mut CK_VERSION,
    interface: *mut *mut CK_INTERFACE,
    flags: CK_FLAGS,
) -> CK_RV {
    guard(|| {
        if interface.is_null() {
            return CKR_ARGUMENTS_BAD;
        }
        if !name.is_null() {
            // SAFETY: not null; by the contract a NUL-terminated string.
            let asked = unsafe { std::ffi::CStr::from_ptr(name.cast::<std::os::raw::c_char>()) };
            if asked.to_bytes_with_nul() != NAME {
                return CKR_ARGUMENTS_BAD;
            }
        }
        let wanted = if version.is_null() {
            None
        } else {
            match get(version as *const CK_VERSION) {
                Ok(v) => Some((v.major, v.minor)),
                Err(e) => return e,
            }
        };
        // No interface has flags (fork-safety is handled without them).
        if flags != 0 {
            return CKR_ARGUMENTS_BAD;
        }
        let [v3, v2] = interfaces().0;
        let chosen = match wanted {
            None | Some((3, 0)) => v3,
            Some((2, 40)) => v2,
            Some(_) => return CKR_ARGUMENTS_BAD,
        };
        rv(put(interface, chosen))
    })
}

/// The functions the module does not offer.
mod stubs {
    #![allow(non_snake_case)]
    use std::os::raw::c_void;

    use cryptoki_sys::*;

    macro_rules! stub {
        ($name:ident, $($arg:tt)*) => {
            #[doc = concat!("`", stringify!($name), "`: not supported.")]
            pub extern "C" fn $name($($arg)*) -> CK_RV {
                CKR_FUNCTION_NOT_SUPPORTED
            }
        };
    }
    stub!(C_InitToken, _: CK_SLOT_ID, _: *mut CK_UTF8CHAR, _: CK_ULONG, _: *mut CK_UTF8CHAR);
    stub!(C_GetOperationState, _: CK_SESSION_HANDLE, _: *mut CK_BYTE, _: *mut CK_ULONG);
    stub!(C_SetOperationState, _: CK_SESSION_HANDLE, _: *mut CK_BYTE, _: CK_ULONG, _: CK_OBJECT_HANDLE, _: CK_OBJECT_HANDLE);
    stub!(C_CreateObject, _: CK_SESSION_HANDLE, _: *mut CK_ATTRIBUTE, _: CK_ULONG, _: *mut CK_OBJECT_HANDLE);
    stub!(C_CopyObject, _: CK_SESSION_HANDLE, _: CK_OBJECT_HANDLE, _: *mut CK_ATTRIBUTE, _: CK_ULONG, _: *mut CK_OBJECT_HANDLE);
    stub!(C_DestroyObject, _: CK_SESSION_HANDLE, _: CK_OBJECT_HANDLE);
    stub!(C_GetObjectSize, _: CK_SESSION_HANDLE, _: CK_OBJECT_HANDLE, _: *mut CK_ULONG);
    stub!(C_SetAttributeValue, _: CK_SESSION_HANDLE, _: CK_OBJECT_HANDLE, _: *mut CK_ATTRIBUTE, _: CK_ULONG);
    stub!(C_EncryptInit, _: CK_SESSION_HANDLE, _: *mut CK_MECHANISM, _: CK_OBJECT_HANDLE);
    stub!(C_Encrypt, _: CK_SESSION_HANDLE, _: *mut CK_BYTE, _: CK_ULONG, _: *mut CK_BYTE, _: *mut CK_ULONG);
    stub!(C_EncryptUpdate, _: CK_SESSION_HANDLE, _: *mut CK_BYTE, _: CK_ULONG, _: *mut CK_BYTE, _: *mut CK_ULONG);
    stub!(C_EncryptFinal, _: CK_SESSION_HANDLE, _: *mut CK_BYTE, _: *mut CK_ULONG);
    stub!(C_DecryptInit, _: CK_SESSION_HANDLE, _: *mut CK_MECHANISM, _: CK_OBJECT_HANDLE);
    stub!(C_Decrypt, _: CK_SESSION_HANDLE, _: *mut CK_BYTE, _: CK_ULONG, _: *mut CK_BYTE, _: *mut CK_ULONG);
    stub!(C_DecryptUpdate, _: CK_SESSION_HANDLE, _: *mut CK_BYTE, _: CK_ULONG, _: *mut CK_BYTE, _: *mut CK_ULONG);
    stub!(C_DecryptFinal, _: CK_SESSION_HANDLE, _: *mut CK_BYTE, _: *mut CK_ULONG);
    stub!(C_DigestInit, _: CK_SESSION_HANDLE, _: *mut CK_MECHANISM);
    stub!(C_Digest, _: CK_SESSION_HANDLE, _: *mut CK_BYTE, _: CK_ULONG, _: *mut CK_BYTE, _: *mut CK_ULONG);
    stub!(C_DigestUpdate, _: CK_SESSION_HANDLE, _: *mut CK_BYTE, _: CK_ULONG);
    stub!(C_DigestKey, _: CK_SESSION_HANDLE, _: CK_OBJECT_HANDLE);
    stub!(C_DigestFinal, _: CK_SESSION_HANDLE, _: *mut CK_BYTE, _: *mut CK_ULONG);
    stub!(C_SignRecoverInit, _: CK_SESSION_HANDLE, _: *mut CK_MECHANISM, _: CK_OBJECT_HANDLE);
    stub!(C_SignRecover, _: CK_SESSION_HANDLE, _: *mut CK_BYTE, _: CK_ULONG, _: *mut CK_BYTE, _: *mut CK_ULONG);
    stub!(C_VerifyInit, _: CK_SESSION_HANDLE, _: *mut CK_MECHANISM, _: CK_OBJECT_HANDLE);
    stub!(C_Verify, _: CK_SESSION_HANDLE, _: *mut CK_BYTE, _: CK_ULONG, _: *mut CK_BYTE, _: CK_ULONG);
    stub!(C_VerifyUpdate, _: CK_SESSION_HANDLE, _: *mut CK_BYTE, _: CK_ULONG);
    stub!(C_VerifyFinal, _: CK_SESSION_HANDLE, _: *mut CK_BYTE, _: CK_ULONG);
    stub!(C_VerifyRecoverInit, _: CK_SESSION_HANDLE, _: *mut CK_MECHANISM, _: CK_OBJECT_HANDLE);
    stub!(C_VerifyRecover, _: CK_SESSION_HANDLE, _: *mut CK_BYTE, _: CK_ULONG, _: *mut CK_BYTE, _: *mut CK_ULONG);
    stub!(C_DigestEncryptUpdate, _: CK_SESSION_HANDLE, _: *mut CK_BYTE, _: CK_ULONG, _: *mut CK_BYTE, _: *mut CK_ULONG);
    stub!(C_DecryptDigestUpdate, _: CK_SESSION_HANDLE, _: *mut CK_BYTE, _: CK_ULONG, _: *mut CK_BYTE, _: *mut CK_ULONG);
    stub!(C_SignEncryptUpdate, _: CK_SESSION_HANDLE, _: *mut CK_BYTE, _: CK_ULONG, _: *mut CK_BYTE, _: *mut CK_ULONG);
    stub!(C_DecryptVerifyUpdate, _: CK_SESSION_HANDLE, _: *mut CK_BYTE, _: CK_ULONG, _: *mut CK_BYTE, _: *mut CK_ULONG);
    stub!(C_GenerateKey, _: CK_SESSION_HANDLE, _: *mut CK_MECHANISM, _: *mut CK_ATTRIBUTE, _: CK_ULONG, _: *mut CK_OBJECT_HANDLE);
    stub!(C_GenerateKeyPair, _: CK_SESSION_HANDLE, _: *mut CK_MECHANISM, _: *mut CK_ATTRIBUTE, _: CK_ULONG, _: *mut CK_ATTRIBUTE, _: CK_ULONG, _: *mut CK_OBJECT_HANDLE, _: *mut CK_OBJECT_HANDLE);
    stub!(C_WrapKey, _: CK_SESSION_HANDLE, _: *mut CK_MECHANISM, _: CK_OBJECT_HANDLE, _: CK_OBJECT_HANDLE, _: *mut CK_BYTE, _: *mut CK_ULONG);
    stub!(C_UnwrapKey, _: CK_SESSION_HANDLE, _: *mut CK_MECHANISM, _: CK_OBJECT_HANDLE, _: *mut CK_BYTE, _: CK_ULONG, _: *mut CK_ATTRIBUTE, _: CK_ULONG, _: *mut CK_OBJECT_HANDLE);
    stub!(C_DeriveKey, _: CK_SESSION_HANDLE, _: *mut CK_MECHANISM, _: CK_OBJECT_HANDLE, _: *mut CK_ATTRIBUTE, _: CK_ULONG, _: *mut CK_OBJECT_HANDLE);
    stub!(C_GetFunctionStatus, _: CK_SESSION_HANDLE);
    stub!(C_CancelFunction, _: CK_SESSION_HANDLE);
    stub!(C_LoginUser, _: CK_SESSION_HANDLE, _: CK_USER_TYPE, _: *mut CK_UTF8CHAR, _: CK_ULONG, _: *mut CK_UTF8CHAR, _: CK_ULONG);
    stub!(C_SessionCancel, _: CK_SESSION_HANDLE, _: CK_FLAGS);
    stub!(C_MessageEncryptInit, _: CK_SESSION_HANDLE, _: *mut CK_MECHANISM, _: CK_OBJECT_HANDLE);
    stub!(C_EncryptMessage, _: CK_SESSION_HANDLE, _: *mut c_void, _: CK_ULONG, _: *mut CK_BYTE, _: CK_ULONG, _: *mut CK_BYTE, _: CK_ULONG, _: *mut CK_BYTE, _: *mut CK_ULONG);
    stub!(C_EncryptMessageBegin, _: CK_SESSION_HANDLE, _: *mut c_void, _: CK_ULONG, _: *mut CK_BYTE, _: CK_ULONG);
    stub!(C_EncryptMessageNext, _: CK_SESSION_HANDLE, _: *mut c_void, _: CK_ULONG, _: *mut CK_BYTE, _: CK_ULONG, _: *mut CK_BYTE, _: *mut CK_ULONG, _: CK_FLAGS);
    stub!(C_MessageEncryptFinal, _: CK_SESSION_HANDLE);
    stub!(C_MessageDecryptInit, _: CK_SESSION_HANDLE, _: *mut CK_MECHANISM, _: CK_OBJECT_HANDLE);
    stub!(C_DecryptMessage, _: CK_SESSION_HANDLE, _: *mut c_void, _: CK_ULONG, _: *mut CK_BYTE, _: CK_ULONG, _: *mut CK_BYTE, _: CK_ULONG, _: *mut CK_BYTE, _: *mut CK_ULONG);
    stub!(C_DecryptMessageBegin, _: CK_SESSION_HANDLE, _: *mut c_void, _: CK_ULONG, _: *mut CK_BYTE, _: CK_ULONG);
    stub!(C_DecryptMessageNext, _: CK_SESSION_HANDLE, _: *mut c_void, _: CK_ULONG, _: *mut CK_BYTE, _: CK_ULONG, _: *mut CK_BYTE, _: *mut CK_ULONG, _: CK_FLAGS);
    stub!(C_MessageDecryptFinal, _: CK_SESSION_HANDLE);
    stub!(C_MessageSignInit, _: CK_SESSION_HANDLE, _: *mut CK_MECHANISM, _: CK_OBJECT_HANDLE);
    stub!(C_SignMessage, _: CK_SESSION_HANDLE, _: *mut c_void, _: CK_ULONG, _: *mut CK_BYTE, _: CK_ULONG, _: *mut CK_BYTE, _: *mut CK_ULONG);
    stub!(C_SignMessageBegin, _: CK_SESSION_HANDLE, _: *mut c_void, _: CK_ULONG);
    stub!(C_SignMessageNext, _: CK_SESSION_HANDLE, _: *mut c_void, _: CK_ULONG, _: *mut CK_BYTE, _: CK_ULONG, _: *mut CK_BYTE, _: *mut CK_ULONG);
    stub!(C_MessageSignFinal, _: CK_SESSION_HANDLE);
    stub!(C_MessageVerifyInit, _: CK_SESSION_HANDLE, _: *mut CK_MECHANISM, _: CK_OBJECT_HANDLE);
    stub!(C_VerifyMessage, _: CK_SESSION_HANDLE, _: *mut c_void, _: CK_ULONG, _: *mut CK_BYTE, _: CK_ULONG, _: *mut CK_BYTE, _: CK_ULONG);
    stub!(C_VerifyMessageBegin, _: CK_SESSION_HANDLE, _: *mut c_void, _: CK_ULONG);
    stub!(C_VerifyMessageNext, _: CK_SESSION_HANDLE, _: *mut c_void, _: CK_ULONG, _: *mut CK_BYTE, _: CK_ULONG, _: *mut CK_BYTE, _: CK_ULONG);
    stub!(C_MessageVerifyFinal, _: CK_SESSION_HANDLE);
}
