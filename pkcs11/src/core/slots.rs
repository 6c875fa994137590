//! Slots and tokens as `C_GetSlotList`, `C_GetSlotInfo`,
//! `C_GetTokenInfo` and `C_GetMechanismInfo` report them: two slots per
//! reader, the token's labels and serial, and its flags from the card's
//! PIN counters.

use cryptoki_sys::*;

use super::reader::Connector;
use super::token::TokenKind;
use super::{CkResult, MECHANISMS, Module};

/// What `C_GetSlotInfo` reports.
#[derive(Debug, Clone)]
pub struct SlotInfo {
    /// The reader's name and the token's PIN.
    pub description: String,
    /// `CKF_TOKEN_PRESENT`, `CKF_REMOVABLE_DEVICE`, `CKF_HW_SLOT`.
    pub flags: CK_FLAGS,
}

/// What `C_GetTokenInfo` reports.
#[derive(Debug, Clone)]
pub struct TokenInfo {
    /// `Asan PIN1 <serial>` or `Asan PIN2 <serial>`.
    pub label: String,
    /// Card serial (16 hex digits).
    pub serial: String,
    /// Token flags, PIN counters included.
    pub flags: CK_FLAGS,
    /// PIN length limits of the contract.
    pub pin_len: (usize, usize),
    /// Sessions open on this token: all, read/write.
    pub sessions: (usize, usize),
    /// Applet version.
    pub version: (u8, u8),
}

impl<C: Connector> Module<C> {
    /// `C_GetSlotList`: every slot, or those with a token.
    pub fn slot_list(&mut self, token_present: bool) -> Vec<CK_SLOT_ID> {
        self.update_readers();
        self.refresh();
        let mut out = Vec::new();
        for i in 0..self.readers.len() {
            if token_present && self.load(i).is_err() {
                continue;
            }
            out.extend([2 * i as CK_SLOT_ID, 2 * i as CK_SLOT_ID + 1]);
        }
        out
    }

    /// `C_GetSlotInfo`.
    pub fn slot_info(&mut self, slot: CK_SLOT_ID) -> CkResult<SlotInfo> {
        let i = self.reader_index(slot)?;
        self.refresh();
        let present = self.load(i).is_ok();
        let kind = TokenKind::of_slot(slot as usize);
        let name = &self.readers[i].name;
        Ok(SlotInfo {
            description: format!("{name} ({})", pin_label(kind)),
            flags: CKF_REMOVABLE_DEVICE | CKF_HW_SLOT | if present { CKF_TOKEN_PRESENT } else { 0 },
        })
    }

    /// `C_GetTokenInfo`: the PIN counters read from the card now.
    pub fn token_info(&mut self, slot: CK_SLOT_ID) -> CkResult<TokenInfo> {
        let i = self.reader_index(slot)?;
        self.refresh();
        let kind = TokenKind::of_slot(slot as usize);
        let card = self.load(i)?;
        if let Ok(pins) = card.card.pin_status() {
            card.pins = pins;
        }
        let pins = card.pins;
        let (serial, version) = (card.serial.clone(), card.applet_version);
        let user = pins.get(kind.pin());
        let mut flags = CKF_LOGIN_REQUIRED
            | CKF_USER_PIN_INITIALIZED
            | CKF_TOKEN_INITIALIZED
            | counter_flags(
                user,
                CKF_USER_PIN_COUNT_LOW,
                CKF_USER_PIN_FINAL_TRY,
                CKF_USER_PIN_LOCKED,
            )
            | counter_flags(
                pins.puk,
                CKF_SO_PIN_COUNT_LOW,
                CKF_SO_PIN_FINAL_TRY,
                CKF_SO_PIN_LOCKED,
            );
        if !user.set {
            flags &= !CKF_USER_PIN_INITIALIZED;
        }
        let generation = self.readers[i].generation;
        let on_token = self
            .sessions
            .values()
            .filter(|s| s.slot == slot as usize && s.generation == generation);
        let (all, rw) = on_token.fold((0, 0), |(a, w), s| (a + 1, w + usize::from(s.rw)));
        Ok(TokenInfo {
            label: format!("Asan {} {serial}", pin_label(kind)),
            serial,
            flags,
            pin_len: kind.pin().length_range(),
            sessions: (all, rw),
            version,
        })
    }

    /// `C_GetMechanismInfo` (`C_GetMechanismList` is [`MECHANISMS`]).
    pub fn mechanism_info(
        &mut self,
        slot: CK_SLOT_ID,
        mechanism: CK_MECHANISM_TYPE,
    ) -> CkResult<(CK_ULONG, CK_ULONG, CK_FLAGS)> {
        self.reader_index(slot)?;
        if !MECHANISMS.contains(&mechanism) {
            return Err(CKR_MECHANISM_INVALID);
        }
        Ok((
            256,
            256,
            CKF_HW | CKF_SIGN | CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS,
        ))
    }
}

fn counter_flags(
    pin: asan_card::info::PinInfo,
    low: CK_FLAGS,
    final_try: CK_FLAGS,
    locked: CK_FLAGS,
) -> CK_FLAGS {
    match pin.tries_left {
        0 => locked,
        1 => final_try | low,
        t if t < pin.max_tries => low,
        _ => 0,
    }
}

fn pin_label(kind: TokenKind) -> &'static str {
    match kind {
        TokenKind::Pin1 => "PIN1",
        TokenKind::Pin2 => "PIN2",
    }
}
