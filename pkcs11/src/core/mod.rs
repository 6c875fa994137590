//! The module's safe core: slots, tokens, sessions, objects, PINs and
//! signatures, in Rust types. The C ABI layer (`crate::ffi`) only checks
//! pointers and copies in and out; every decision is made here.
//!
//! Slot `2·i` is the PIN1 token of reader `i` (authentication keys), slot
//! `2·i + 1` its PIN2 token (signing keys). Readers keep their index for
//! the life of the module; readers plugged in later are appended.

mod login;
pub mod objects;
pub mod reader;
mod sign;
mod slots;
pub mod token;

use std::collections::BTreeMap;

use asan_applet::PinRef;
use asan_card::Error;
use cryptoki_sys::*;

pub use login::Login;
use objects::{Object, Value};
use reader::{Connector, Presence, gone};
pub use sign::{SIGNATURE_LEN, SignOp, Signed};
pub use slots::{SlotInfo, TokenInfo};
use token::{LoadedCard, TokenKind};

/// A PKCS#11 return value other than `CKR_OK`.
pub type Rv = CK_RV;

/// Result of the core: a value or the `CK_RV` to return.
pub type CkResult<T> = Result<T, Rv>;

/// What `C_GetSessionInfo` reports.
#[derive(Debug, Clone, Copy)]
pub struct SessionInfo {
    /// The session's slot.
    pub slot: CK_SLOT_ID,
    /// `CKS_…`.
    pub state: CK_STATE,
    /// `CKF_SERIAL_SESSION`, `CKF_RW_SESSION`.
    pub flags: CK_FLAGS,
}

struct Reader<T: asan_card::transport::Transport> {
    name: String,
    /// What the reader held when we last looked.
    presence: Presence,
    /// What `C_WaitForSlotEvent` last reported, per slot.
    reported: [Presence; 2],
    card: Option<LoadedCard<T>>,
    /// Bumped whenever the card goes: sessions of an older generation are
    /// dead (`CKR_DEVICE_REMOVED`).
    generation: u64,
    logins: [Login; 2],
    /// Per PIN (PIN1, PIN2, PUK): the block the card refused last.
    refused: [Option<zeroize::Zeroizing<Vec<u8>>>; 3],
}

struct Session {
    slot: usize,
    generation: u64,
    rw: bool,
    find: Option<Vec<CK_OBJECT_HANDLE>>,
    sign: Option<SignOp>,
}

/// Every slot, token and session of one module instance.
pub struct Module<C: Connector> {
    connector: C,
    readers: Vec<Reader<C::Transport>>,
    sessions: BTreeMap<CK_SESSION_HANDLE, Session>,
    next_session: CK_SESSION_HANDLE,
    /// When pcscd was last asked what the readers hold.
    refreshed: Option<std::time::Instant>,
    /// How long an answer stands for a session's operations.
    presence_window: std::time::Duration,
}

/// How long pcscd's answer about the readers stands for the operations of
/// a session (slot and token calls always ask anew).
pub const PRESENCE_WINDOW: std::time::Duration = std::time::Duration::from_millis(100);

/// The mechanisms every token offers.
pub const MECHANISMS: [CK_MECHANISM_TYPE; 2] = [CKM_ECDSA, CKM_ECDSA_SHA256];

/// Maps a card error to the PKCS#11 code.
pub fn rv_of(e: &Error) -> Rv {
    match e {
        Error::WrongPin { tries_left: 0, .. } | Error::Blocked { .. } => CKR_PIN_LOCKED,
        Error::WrongPin { .. } => CKR_PIN_INCORRECT,
        Error::InvalidPinFormat { .. } => CKR_PIN_INVALID,
        Error::SecurityStatusNotSatisfied => CKR_USER_NOT_LOGGED_IN,
        // Service suspended, profile not allowed, card not operational.
        Error::ConditionsNotSatisfied(_) => CKR_KEY_FUNCTION_NOT_PERMITTED,
        e if gone(e) => CKR_DEVICE_REMOVED,
        Error::PcscNotRunning | Error::SharingViolation | Error::InvalidResponse(_) => {
            CKR_DEVICE_ERROR
        }
        _ => CKR_FUNCTION_FAILED,
    }
}

/// The handle of object `index` of the token in `slot`.
pub(crate) fn handle_of(slot: usize, index: usize) -> CK_OBJECT_HANDLE {
    (slot as CK_OBJECT_HANDLE) * 256 + index as CK_OBJECT_HANDLE + 1
}

impl<C: Connector> Module<C> {
    /// A module over `connector`; readers are listed at once.
    pub fn new(connector: C) -> Self {
        let mut m = Self {
            connector,
            readers: Vec::new(),
            sessions: BTreeMap::new(),
            next_session: 1,
            refreshed: None,
            presence_window: PRESENCE_WINDOW,
        };
        m.update_readers();
        m.settle_events();
        m
    }

    /// Sets how long pcscd's answer about the readers stands for session
    /// operations (tests that swap cards at once use zero).
    pub fn set_presence_window(&mut self, window: std::time::Duration) {
        self.presence_window = window;
    }

    /// Adds readers attached since the last look (never renumbers).
    fn update_readers(&mut self) {
        let Ok(names) = self.connector.readers() else {
            return;
        };
        for name in names {
            if !self.readers.iter().any(|r| r.name == name) {
                let presence = Presence {
                    card: false,
                    events: 0,
                };
                self.readers.push(Reader {
                    name,
                    presence,
                    reported: [presence; 2],
                    card: None,
                    generation: 0,
                    logins: [Login::Public, Login::Public],
                    refused: [None, None, None],
                });
            }
        }
    }

    /// Like [`Module::refresh`] within a session's operations, but at most
    /// once per [`PRESENCE_WINDOW`]: asking pcscd costs two round trips, a
    /// signature takes five calls, and a card cannot leave and come back
    /// faster than pcscd itself notices it. A card that left in between is
    /// caught anyway: its PC/SC handle fails, never reaching another card.
    fn refresh_recent(&mut self) {
        let fresh = self
            .refreshed
            .is_some_and(|t| t.elapsed() < self.presence_window);
        if !fresh {
            self.refresh();
        }
    }

    /// Looks (without an APDU) whether the cards are still the ones we know;
    /// forgets those that left.
    fn refresh(&mut self) {
        self.refreshed = Some(std::time::Instant::now());
        let names: Vec<String> = self.readers.iter().map(|r| r.name.clone()).collect();
        let now = self.connector.presence(&names);
        for (reader, p) in self.readers.iter_mut().zip(now) {
            if p != reader.presence {
                reader.presence = p;
                Self::forget(reader);
            }
        }
    }

    fn forget(reader: &mut Reader<C::Transport>) {
        if reader.card.take().is_some() {
            reader.generation += 1;
        }
        reader.logins = [Login::Public, Login::Public];
        reader.refused = [None, None, None];
    }

    fn reader_index(&self, slot: CK_SLOT_ID) -> CkResult<usize> {
        let i = usize::try_from(slot).map_err(|_| CKR_SLOT_ID_INVALID)? / 2;
        if i < self.readers.len() {
            Ok(i)
        } else {
            Err(CKR_SLOT_ID_INVALID)
        }
    }

    /// Connects to the card of reader `i` if not yet done: its objects read.
    fn load(&mut self, i: usize) -> CkResult<&mut LoadedCard<C::Transport>> {
        let reader = self.readers.get_mut(i).ok_or(CKR_SLOT_ID_INVALID)?;
        if reader.card.is_none() {
            if !reader.presence.card {
                return Err(CKR_TOKEN_NOT_PRESENT);
            }
            let loaded = self
                .connector
                .connect(&reader.name)
                .and_then(LoadedCard::load)
                .map_err(|e| match e {
                    Error::PcscNotRunning | Error::SharingViolation => CKR_DEVICE_ERROR,
                    _ => CKR_TOKEN_NOT_PRESENT,
                })?;
            reader.card = Some(loaded);
        }
        reader.card.as_mut().ok_or(CKR_TOKEN_NOT_PRESENT)
    }

    /// `C_OpenSession`.
    pub fn open_session(
        &mut self,
        slot: CK_SLOT_ID,
        flags: CK_FLAGS,
    ) -> CkResult<CK_SESSION_HANDLE> {
        let i = self.reader_index(slot)?;
        if flags & CKF_SERIAL_SESSION == 0 {
            return Err(CKR_SESSION_PARALLEL_NOT_SUPPORTED);
        }
        self.refresh();
        self.load(i)?;
        let kind = TokenKind::of_slot(slot as usize);
        let rw = flags & CKF_RW_SESSION != 0;
        if !rw && matches!(self.readers[i].logins[kind.index()], Login::So(_)) {
            return Err(CKR_SESSION_READ_WRITE_SO_EXISTS);
        }
        let handle = self.next_session;
        self.next_session += 1;
        self.sessions.insert(
            handle,
            Session {
                slot: slot as usize,
                generation: self.readers[i].generation,
                rw,
                find: None,
                sign: None,
            },
        );
        Ok(handle)
    }

    /// `C_CloseSession`; the last session of a token logs it out.
    pub fn close_session(&mut self, handle: CK_SESSION_HANDLE) -> CkResult<()> {
        let s = self
            .sessions
            .remove(&handle)
            .ok_or(CKR_SESSION_HANDLE_INVALID)?;
        self.logout_if_last(s.slot, s.generation);
        Ok(())
    }

    /// `C_CloseAllSessions`.
    pub fn close_all_sessions(&mut self, slot: CK_SLOT_ID) -> CkResult<()> {
        let i = self.reader_index(slot)?;
        let generation = self.readers[i].generation;
        self.sessions.retain(|_, s| s.slot != slot as usize);
        self.logout_if_last(slot as usize, generation);
        Ok(())
    }

    fn logout_if_last(&mut self, slot: usize, generation: u64) {
        let others = self
            .sessions
            .values()
            .any(|s| s.slot == slot && s.generation == generation);
        let kind = TokenKind::of_slot(slot);
        if let Some(reader) = self.readers.get_mut(slot / 2)
            && !others
            && reader.generation == generation
        {
            let login = std::mem::replace(&mut reader.logins[kind.index()], Login::Public);
            if let (Some(card), Some(pin)) = (reader.card.as_mut(), login.card_pin()) {
                // Leave no verification behind on the card.
                let _ = card.card.logout(pin);
            }
        }
    }

    /// The live session `handle`: its reader index; a session whose card
    /// left answers `CKR_DEVICE_REMOVED`.
    fn session(&mut self, handle: CK_SESSION_HANDLE) -> CkResult<(usize, TokenKind)> {
        self.refresh_recent();
        let s = self
            .sessions
            .get(&handle)
            .ok_or(CKR_SESSION_HANDLE_INVALID)?;
        let i = s.slot / 2;
        let reader = self.readers.get(i).ok_or(CKR_SESSION_HANDLE_INVALID)?;
        if reader.generation != s.generation || reader.card.is_none() {
            return Err(CKR_DEVICE_REMOVED);
        }
        Ok((i, TokenKind::of_slot(s.slot)))
    }

    fn session_mut(&mut self, handle: CK_SESSION_HANDLE) -> CkResult<&mut Session> {
        self.sessions
            .get_mut(&handle)
            .ok_or(CKR_SESSION_HANDLE_INVALID)
    }

    /// `C_GetSessionInfo`.
    pub fn session_info(&mut self, handle: CK_SESSION_HANDLE) -> CkResult<SessionInfo> {
        let (i, kind) = self.session(handle)?;
        let s = self.session_mut(handle)?;
        let (slot, rw) = (s.slot, s.rw);
        let state = match (&self.readers[i].logins[kind.index()], rw) {
            (Login::So(_), _) => CKS_RW_SO_FUNCTIONS,
            (Login::Public, false) => CKS_RO_PUBLIC_SESSION,
            (Login::Public, true) => CKS_RW_PUBLIC_SESSION,
            (_, false) => CKS_RO_USER_FUNCTIONS,
            (_, true) => CKS_RW_USER_FUNCTIONS,
        };
        Ok(SessionInfo {
            slot: slot as CK_SLOT_ID,
            state,
            flags: CKF_SERIAL_SESSION | if rw { CKF_RW_SESSION } else { 0 },
        })
    }

    fn objects(&self, i: usize, kind: TokenKind) -> &[Object] {
        self.readers
            .get(i)
            .and_then(|r| r.card.as_ref())
            .map_or(&[], |c| c.objects[kind.index()].as_slice())
    }

    fn object(&self, handle: CK_SESSION_HANDLE, object: CK_OBJECT_HANDLE) -> CkResult<&Object> {
        let slot = self
            .sessions
            .get(&handle)
            .ok_or(CKR_SESSION_HANDLE_INVALID)?
            .slot;
        let index = object
            .checked_sub(handle_of(slot, 0))
            .filter(|d| *d < 256)
            .ok_or(CKR_OBJECT_HANDLE_INVALID)?;
        self.objects(slot / 2, TokenKind::of_slot(slot))
            .get(index as usize)
            .ok_or(CKR_OBJECT_HANDLE_INVALID)
    }

    /// `C_FindObjectsInit`.
    pub fn find_init(
        &mut self,
        handle: CK_SESSION_HANDLE,
        template: &[(CK_ATTRIBUTE_TYPE, Vec<u8>)],
    ) -> CkResult<()> {
        let (i, kind) = self.session(handle)?;
        let slot = self.session_mut(handle)?.slot;
        if self.session_mut(handle)?.find.is_some() {
            return Err(CKR_OPERATION_ACTIVE);
        }
        // Private objects are seen by the logged-in user only.
        let user = matches!(self.readers[i].logins[kind.index()], Login::Pin1(_));
        let found: Vec<CK_OBJECT_HANDLE> = self
            .objects(i, kind)
            .iter()
            .enumerate()
            .filter(|(_, o)| (user || !o.is_private()) && o.matches(template))
            .map(|(n, _)| handle_of(slot, n))
            .rev()
            .collect();
        self.session_mut(handle)?.find = Some(found);
        Ok(())
    }

    /// `C_FindObjects`: up to `max` more handles.
    pub fn find(
        &mut self,
        handle: CK_SESSION_HANDLE,
        max: usize,
    ) -> CkResult<Vec<CK_OBJECT_HANDLE>> {
        self.session(handle)?;
        let left = self
            .session_mut(handle)?
            .find
            .as_mut()
            .ok_or(CKR_OPERATION_NOT_INITIALIZED)?;
        let mut out = Vec::new();
        while out.len() < max {
            match left.pop() {
                Some(h) => out.push(h),
                None => break,
            }
        }
        Ok(out)
    }

    /// `C_FindObjectsFinal`.
    pub fn find_final(&mut self, handle: CK_SESSION_HANDLE) -> CkResult<()> {
        self.session(handle)?;
        self.session_mut(handle)?
            .find
            .take()
            .map(|_| ())
            .ok_or(CKR_OPERATION_NOT_INITIALIZED)
    }

    /// `C_GetAttributeValue`: the value of each attribute asked for.
    pub fn attributes(
        &mut self,
        handle: CK_SESSION_HANDLE,
        object: CK_OBJECT_HANDLE,
        types: &[CK_ATTRIBUTE_TYPE],
    ) -> CkResult<Vec<Value>> {
        self.session(handle)?;
        let o = self.object(handle, object)?;
        Ok(types.iter().map(|t| o.attribute(*t)).collect())
    }

    /// `C_WaitForSlotEvent`: a slot whose reader changed since the last
    /// report, if any.
    pub fn slot_event(&mut self) -> Option<CK_SLOT_ID> {
        self.update_readers();
        self.refresh();
        for (i, reader) in self.readers.iter_mut().enumerate() {
            for k in 0..2 {
                if reader.reported[k] != reader.presence {
                    reader.reported[k] = reader.presence;
                    return Some((2 * i + k) as CK_SLOT_ID);
                }
            }
        }
        None
    }

    /// The names of the readers the slots stand for.
    pub fn reader_names(&self) -> Vec<String> {
        self.readers.iter().map(|r| r.name.clone()).collect()
    }

    /// Marks the state of each slot as reported (a fresh module reports
    /// changes, not the state it started in).
    fn settle_events(&mut self) {
        self.refresh();
        for reader in &mut self.readers {
            reader.reported = [reader.presence; 2];
        }
    }

    /// The card of reader `i`, for an operation of a live session; a card
    /// that turns out gone is forgotten (`CKR_DEVICE_REMOVED`).
    fn card_op<R>(
        &mut self,
        i: usize,
        f: impl FnOnce(&mut LoadedCard<C::Transport>) -> asan_card::Result<R>,
    ) -> CkResult<R> {
        let reader = self.readers.get_mut(i).ok_or(CKR_DEVICE_REMOVED)?;
        let card = reader.card.as_mut().ok_or(CKR_DEVICE_REMOVED)?;
        match f(card) {
            Ok(r) => Ok(r),
            Err(e) => {
                if let Error::WrongPin { pin, tries_left } = &e {
                    set_tries(card, *pin, *tries_left);
                }
                if let Error::Blocked { pin } = &e {
                    set_tries(card, *pin, 0);
                }
                if gone(&e) {
                    Self::forget(reader);
                }
                Err(rv_of(&e))
            }
        }
    }
}

fn set_tries<T: asan_card::transport::Transport>(card: &mut LoadedCard<T>, pin: PinRef, tries: u8) {
    let entry = match pin {
        PinRef::Pin1 => &mut card.pins.pin1,
        PinRef::Pin2 => &mut card.pins.pin2,
        PinRef::Puk => &mut card.pins.puk,
    };
    entry.tries_left = tries;
}

#[cfg(test)]
mod tests;
