//! PINs, kept as the card keeps them. PIN1 (`CKU_USER` on the PIN1 token)
//! is verified at login and held, zeroized, until logout or the token's
//! last session ends, so that each authentication can verify it again in
//! the same transaction (another program's SELECT may have cleared the
//! card's status). PIN2 is never held beyond one signature: a `CKU_USER`
//! login on the PIN2 token or a `CKU_CONTEXT_SPECIFIC` login after
//! `C_SignInit` authorises exactly the next signature, and the PIN travels
//! only inside that signing command (contract 1.1), so a wrong PIN2 is
//! reported by `C_Sign`. The PUK is the security officer's PIN.

use asan_applet::PinRef;
use asan_card::{AnyPin, Pin1, Pin2, Puk, Secret};
use cryptoki_sys::*;
use zeroize::Zeroizing;

use super::reader::Connector;
use super::token::TokenKind;
use super::{CkResult, Module};

/// Who is logged in to a token.
#[derive(Debug)]
pub enum Login {
    /// Nobody.
    Public,
    /// PIN1, verified; kept to verify again before each authentication.
    Pin1(Pin1),
    /// PIN2, for the next signature only (not yet checked by the card).
    Pin2(Pin2),
    /// The PUK (security officer), verified.
    So(Puk),
}

impl Login {
    /// The PIN whose verification the card may still hold.
    pub fn card_pin(&self) -> Option<PinRef> {
        match self {
            Self::Pin1(_) => Some(PinRef::Pin1),
            Self::So(_) => Some(PinRef::Puk),
            Self::Public | Self::Pin2(_) => None,
        }
    }
}

/// Checks a PIN given through PKCS#11 before anything reaches the card:
/// `CKR_PIN_INVALID` for anything but digits, `CKR_PIN_LEN_RANGE` for a
/// wrong length. Returns the digits, wiped when dropped.
pub fn checked(kind: PinRef, bytes: &[u8]) -> CkResult<Zeroizing<String>> {
    let (min, max) = kind.length_range();
    if !bytes.iter().all(u8::is_ascii_digit) {
        return Err(CKR_PIN_INVALID);
    }
    if bytes.len() < min || bytes.len() > max {
        return Err(CKR_PIN_LEN_RANGE);
    }
    Ok(Zeroizing::new(String::from_utf8_lossy(bytes).into_owned()))
}

fn any(kind: PinRef, bytes: &[u8]) -> CkResult<AnyPin> {
    AnyPin::new(kind, &checked(kind, bytes)?).map_err(|_| CKR_PIN_INVALID)
}

fn pin1(bytes: &[u8]) -> CkResult<Pin1> {
    Pin1::new(&checked(PinRef::Pin1, bytes)?).map_err(|_| CKR_PIN_INVALID)
}

fn pin2(bytes: &[u8]) -> CkResult<Pin2> {
    Pin2::new(&checked(PinRef::Pin2, bytes)?).map_err(|_| CKR_PIN_INVALID)
}

fn puk(bytes: &[u8]) -> CkResult<Puk> {
    Puk::new(&checked(PinRef::Puk, bytes)?).map_err(|_| CKR_PIN_INVALID)
}

impl<C: Connector> Module<C> {
    /// `C_Login`.
    pub fn login(
        &mut self,
        handle: CK_SESSION_HANDLE,
        user: CK_USER_TYPE,
        pin: &[u8],
    ) -> CkResult<()> {
        let (i, kind) = self.session(handle)?;
        match user {
            CKU_CONTEXT_SPECIFIC => return self.context_login(handle, i, kind, pin),
            CKU_USER | CKU_SO => {}
            _ => return Err(CKR_USER_TYPE_INVALID),
        }
        let current = &self.readers[i].logins[kind.index()];
        match (current, user) {
            (Login::Public, _) => {}
            (Login::So(_), CKU_SO) | (Login::Pin1(_) | Login::Pin2(_), CKU_USER) => {
                return Err(CKR_USER_ALREADY_LOGGED_IN);
            }
            _ => return Err(CKR_USER_ANOTHER_ALREADY_LOGGED_IN),
        }
        let login = if user == CKU_SO {
            let slot = self.session_mut(handle)?.slot;
            if self.sessions.values().any(|s| s.slot == slot && !s.rw) {
                return Err(CKR_SESSION_READ_ONLY_EXISTS);
            }
            let puk: Puk = puk(pin)?;
            self.blocked(i, PinRef::Puk)?;
            self.with_pin(i, PinRef::Puk, puk.block().as_bytes(), |c| {
                c.card.verify_pin(&puk)
            })?;
            self.restored(i, PinRef::Puk);
            Login::So(puk)
        } else {
            match kind {
                TokenKind::Pin1 => Login::Pin1(self.verify_pin1(i, pin)?),
                TokenKind::Pin2 => {
                    let pin2: Pin2 = pin2(pin)?;
                    self.blocked(i, PinRef::Pin2)?;
                    Login::Pin2(pin2)
                }
            }
        };
        self.readers[i].logins[kind.index()] = login;
        Ok(())
    }

    /// `C_Login(CKU_CONTEXT_SPECIFIC)`: the PIN of the signature `C_SignInit`
    /// started (or, before one, of the next signature).
    fn context_login(
        &mut self,
        handle: CK_SESSION_HANDLE,
        i: usize,
        kind: TokenKind,
        pin: &[u8],
    ) -> CkResult<()> {
        // Without a signature started, a context-specific login authorises
        // the next one, as a user login does (pkcs11-tool's
        // `--login-type context-specific` logs in so before `C_SignInit`).
        match kind {
            TokenKind::Pin2 => {
                let pin2: Pin2 = pin2(pin)?;
                self.blocked(i, PinRef::Pin2)?;
                match self.session_mut(handle)?.sign.as_mut() {
                    Some(op) => op.authorise(pin2),
                    None => self.readers[i].logins[kind.index()] = Login::Pin2(pin2),
                }
                Ok(())
            }
            TokenKind::Pin1 => {
                // Not needed for PIN1 keys; taken as a PIN1 login.
                let pin1 = self.verify_pin1(i, pin)?;
                self.readers[i].logins[kind.index()] = Login::Pin1(pin1);
                Ok(())
            }
        }
    }

    /// Checks `pin` as PIN1 and verifies it on the card.
    fn verify_pin1(&mut self, i: usize, pin: &[u8]) -> CkResult<Pin1> {
        let pin1 = pin1(pin)?;
        self.blocked(i, PinRef::Pin1)?;
        self.with_pin(i, PinRef::Pin1, pin1.block().as_bytes(), |c| {
            c.card.verify_pin(&pin1)
        })?;
        self.restored(i, PinRef::Pin1);
        Ok(pin1)
    }

    /// Sends a PIN to the card through `f` — unless it is the very value the
    /// card refused last time for that PIN, which is answered
    /// `CKR_PIN_INCORRECT` at once without spending another try
    /// (applications retry: pkcs11-tool signs again by parts after a failed
    /// `C_Sign`, with the same context-specific PIN). Any success with the
    /// PIN, a change or an unblock forgets the refused value.
    pub(super) fn with_pin<R>(
        &mut self,
        i: usize,
        pin: PinRef,
        block: &[u8],
        f: impl FnOnce(&mut super::token::LoadedCard<C::Transport>) -> asan_card::Result<R>,
    ) -> CkResult<R> {
        let refused = &self.readers[i].refused[pin.index()];
        if refused.as_ref().is_some_and(|r| r.as_slice() == block) {
            return Err(CKR_PIN_INCORRECT);
        }
        let result = self.card_op(i, f);
        let refused = &mut self.readers[i].refused[pin.index()];
        match &result {
            Err(CKR_PIN_INCORRECT) => *refused = Some(Zeroizing::new(block.to_vec())),
            Ok(_) => *refused = None,
            Err(_) => {}
        }
        result
    }

    /// Forgets the value the card last refused for `pin` (it has a new one).
    fn forget_wrong(&mut self, i: usize, pin: PinRef) {
        self.readers[i].refused[pin.index()] = None;
    }

    /// `CKR_PIN_LOCKED` when the counters we know say the PIN is blocked
    /// (nothing is sent for a blocked PIN).
    fn blocked(&mut self, i: usize, pin: PinRef) -> CkResult<()> {
        match self.readers[i].card.as_ref() {
            Some(c) if c.pins.get(pin).tries_left == 0 => Err(CKR_PIN_LOCKED),
            _ => Ok(()),
        }
    }

    /// After a successful verification: the counter is back at its limit.
    pub(super) fn restored(&mut self, i: usize, pin: PinRef) {
        if let Some(c) = self.readers[i].card.as_mut() {
            let max = c.pins.get(pin).max_tries;
            super::set_tries(c, pin, max);
        }
    }

    /// `C_Logout`.
    pub fn logout(&mut self, handle: CK_SESSION_HANDLE) -> CkResult<()> {
        let (i, kind) = self.session(handle)?;
        let login = std::mem::replace(&mut self.readers[i].logins[kind.index()], Login::Public);
        if let Login::Public = login {
            return Err(CKR_USER_NOT_LOGGED_IN);
        }
        if let Some(pin) = login.card_pin() {
            self.card_op(i, |c| c.card.logout(pin))?;
        }
        Ok(())
    }

    /// `C_InitPIN`: the security officer (PUK) unblocks the token's PIN and
    /// sets it to `pin`.
    pub fn init_pin(&mut self, handle: CK_SESSION_HANDLE, pin: &[u8]) -> CkResult<()> {
        let (i, kind) = self.session(handle)?;
        let Login::So(puk) = &self.readers[i].logins[kind.index()] else {
            return Err(CKR_USER_NOT_LOGGED_IN);
        };
        let puk = puk.clone();
        if !self.session_mut(handle)?.rw {
            return Err(CKR_SESSION_READ_ONLY);
        }
        let new = any(kind.pin(), pin)?;
        self.with_pin(i, PinRef::Puk, puk.block().as_bytes(), |c| {
            c.card.unblock_pin(&puk, Some(&new))
        })?;
        self.restored(i, kind.pin());
        self.forget_wrong(i, kind.pin());
        Ok(())
    }

    /// `C_SetPIN`: changes the PUK when the security officer is logged in,
    /// else the token's PIN. A PIN1 login goes on with the new PIN1.
    pub fn set_pin(&mut self, handle: CK_SESSION_HANDLE, old: &[u8], new: &[u8]) -> CkResult<()> {
        let (i, kind) = self.session(handle)?;
        if !self.session_mut(handle)?.rw {
            return Err(CKR_SESSION_READ_ONLY);
        }
        let which = match self.readers[i].logins[kind.index()] {
            Login::So(_) => PinRef::Puk,
            _ => kind.pin(),
        };
        if matches!(self.readers[i].logins[kind.index()], Login::Public) {
            // The counters as the card has them now.
            self.card_op(i, |c| {
                c.pins = c.card.pin_status()?;
                Ok(())
            })?;
            if self.blocked(i, which).is_err() {
                return self.unblock_with_puk(i, kind, old, new);
            }
        }
        let old = any(which, old)?;
        let new_pin = any(which, new)?;
        self.blocked(i, which)?;
        self.with_pin(i, which, old.block().as_bytes(), |c| {
            c.card.change_pin(&old, &new_pin)
        })?;
        // (with_pin forgot the refused value of `which` on success.)
        self.restored(i, which);
        let login = &mut self.readers[i].logins[kind.index()];
        match login {
            Login::Pin1(_) => *login = Login::Pin1(pin1(new)?),
            Login::So(_) => *login = Login::So(puk(new)?),
            Login::Public | Login::Pin2(_) => {}
        }
        Ok(())
    }

    /// `C_SetPIN` without a login while the token's PIN is blocked: `old` can
    /// only be the PUK, so the PIN is unblocked with it and set to `new`
    /// (OpenSC's convention, which `pkcs11-tool --unlock-pin` uses).
    fn unblock_with_puk(
        &mut self,
        i: usize,
        kind: TokenKind,
        old: &[u8],
        new: &[u8],
    ) -> CkResult<()> {
        let puk = puk(old)?;
        let new = any(kind.pin(), new)?;
        self.blocked(i, PinRef::Puk)?;
        self.with_pin(i, PinRef::Puk, puk.block().as_bytes(), |c| {
            c.card.unblock_pin(&puk, Some(&new))
        })?;
        self.restored(i, PinRef::Puk);
        self.restored(i, kind.pin());
        self.forget_wrong(i, kind.pin());
        Ok(())
    }

    /// Takes the PIN2 a `CKU_USER` login on the PIN2 token left for the
    /// next signature.
    pub(super) fn take_pin2(&mut self, i: usize) -> Option<Pin2> {
        let login = &mut self.readers[i].logins[TokenKind::Pin2.index()];
        match std::mem::replace(login, Login::Public) {
            Login::Pin2(p) => Some(p),
            other => {
                *login = other;
                None
            }
        }
    }

    /// The PIN1 of a login on the PIN1 token.
    pub(super) fn pin1(&self, i: usize) -> Option<Pin1> {
        match &self.readers[i].logins[TokenKind::Pin1.index()] {
            Login::Pin1(p) => Some(p.clone()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn logins_never_show_their_pins() {
        let shown = [
            format!("{:?}", Login::Pin1(pin1(b"7391").unwrap())),
            format!("{:?}", Login::Pin2(pin2(b"73915").unwrap())),
            format!("{:?}", Login::So(puk(b"73915264").unwrap())),
        ];
        for s in shown {
            assert!(!s.contains("739") && !s.contains("37 33"), "{s}");
        }
    }

    #[test]
    fn pins_are_checked_before_anything_is_sent() {
        assert_eq!(
            checked(PinRef::Pin2, b"1234").err(),
            Some(CKR_PIN_LEN_RANGE)
        );
        assert_eq!(
            checked(PinRef::Pin2, b"123456789").err(),
            Some(CKR_PIN_LEN_RANGE)
        );
        assert_eq!(checked(PinRef::Pin2, b"12 45").err(), Some(CKR_PIN_INVALID));
        assert_eq!(
            checked(PinRef::Puk, b"1234567").err(),
            Some(CKR_PIN_LEN_RANGE)
        );
        assert_eq!(checked(PinRef::Pin1, b"").err(), Some(CKR_PIN_LEN_RANGE));
        assert_eq!(checked(PinRef::Pin1, b"0000").map(|p| p.len()), Ok(4));
    }
}
