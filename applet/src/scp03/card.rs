//! Card side of an SCP03 session: INITIALIZE UPDATE, EXTERNAL AUTHENTICATE,
//! command unwrapping (C-MAC, C-DECRYPTION) and response wrapping (R-ENC,
//! R-MAC).

use core::fmt;

use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use super::crypto::{
    self, SessionKeys, card_cryptogram, cmac, command_icv, decrypt_unpad, derive_session_keys,
    encrypt_padded, host_cryptogram, padded_len, response_icv, truncate_mac,
};
use super::{
    I_PARAM, MAC_LEN, SCP_ID, ScpError, SecurityLevel, StaticKeys, copy_exact, copy_to, encode_lc,
    sw_is_protected, write_parts,
};

/// Session state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// INITIALIZE UPDATE done, waiting for EXTERNAL AUTHENTICATE.
    Initialized,
    /// Authenticated at this level.
    Open(SecurityLevel),
    /// Terminated after a failure; a new INITIALIZE UPDATE is needed.
    Closed,
}

/// Card side of one secure channel session.
pub struct CardChannel {
    keys: SessionKeys,
    expected_host_cryptogram: [u8; 8],
    state: State,
    /// MAC chaining value (full 16-byte C-MAC of the last command).
    chain: [u8; 16],
    /// Encryption counter (value of the last command).
    counter: u64,
    /// Counter of the last unwrapped command whose response is pending.
    pending: Option<u64>,
    /// The sequence counter value of this session (INITIALIZE UPDATE).
    seq: [u8; 3],
}

impl fmt::Debug for CardChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CardChannel")
            .field("state", &self.state)
            .field("counter", &self.counter)
            .field("keys", &"***")
            .finish_non_exhaustive()
    }
}

impl Drop for CardChannel {
    fn drop(&mut self) {
        self.expected_host_cryptogram.zeroize();
        self.chain.zeroize();
    }
}

impl CardChannel {
    /// Handle INITIALIZE UPDATE data. `seq` is the sequence counter value the card already persisted for this session;
    /// `div` 10 bytes key-diversification data; computes the pseudo-random challenge from K-ENC, seq and `aid`.
    /// Returns the channel (not yet authenticated) and the 32-byte response: div(10) || kvn || 0x03 || I_PARAM || card challenge(8) || card cryptogram(8) || seq(3).
    pub fn initialize(
        keys: &StaticKeys,
        host_challenge: &[u8; 8],
        seq: [u8; 3],
        aid: &[u8],
        div: &[u8; 10],
    ) -> (Self, [u8; 32]) {
        let challenge = crypto::card_challenge(&keys.enc, seq, aid);
        Self::initialize_with_challenge(keys, host_challenge, challenge, seq, div)
    }

    /// Same with an explicit card challenge (for reference vectors from cards whose invoking AID is unknown).
    pub fn initialize_with_challenge(
        keys: &StaticKeys,
        host_challenge: &[u8; 8],
        card_challenge: [u8; 8],
        seq: [u8; 3],
        div: &[u8; 10],
    ) -> (Self, [u8; 32]) {
        let session = derive_session_keys(keys, host_challenge, &card_challenge);
        let card_crypto = card_cryptogram(&session.mac, host_challenge, &card_challenge);
        let host_crypto = host_cryptogram(&session.mac, host_challenge, &card_challenge);
        let mut response = [0u8; 32];
        write_parts(
            &mut response,
            &[
                div,
                &[keys.kvn, SCP_ID, I_PARAM],
                &card_challenge,
                &card_crypto,
                &seq,
            ],
        );
        let channel = Self {
            keys: session,
            expected_host_cryptogram: host_crypto,
            state: State::Initialized,
            chain: [0; 16],
            counter: 0,
            pending: None,
            seq,
        };
        (channel, response)
    }

    /// EXTERNAL AUTHENTICATE: `header` = CLA INS P1 P2 as received (84 82 SL 00), `data` = 16 bytes host cryptogram || C-MAC.
    /// Checks the level (P1), the host cryptogram and the C-MAC; on success the channel is open at that level and the MAC chaining value is set.
    ///
    /// Allowed once, right after INITIALIZE UPDATE; any failure terminates
    /// the session.
    pub fn external_authenticate(
        &mut self,
        header: [u8; 4],
        data: &[u8],
    ) -> Result<SecurityLevel, ScpError> {
        if self.state != State::Initialized {
            self.abort();
            return Err(ScpError::BadState);
        }
        match self.check_external_authenticate(header, data) {
            Ok((level, mac)) => {
                self.state = State::Open(level);
                self.chain = mac;
                self.counter = 0;
                self.pending = None;
                Ok(level)
            }
            Err(e) => {
                self.abort();
                Err(e)
            }
        }
    }

    fn check_external_authenticate(
        &self,
        header: [u8; 4],
        data: &[u8],
    ) -> Result<(SecurityLevel, [u8; 16]), ScpError> {
        let [cla, ins, p1, p2] = header;
        if cla & 0xFC != 0x84 || ins != 0x82 || p2 != 0x00 {
            return Err(ScpError::BadHeader);
        }
        let data: &[u8; 16] = data.try_into().map_err(|_| ScpError::WrongLength)?;
        let level = SecurityLevel::from_byte(p1).ok_or(ScpError::BadLevel)?;
        let (cryptogram, mac) = data
            .split_first_chunk::<MAC_LEN>()
            .ok_or(ScpError::WrongLength)?;
        let full = cmac(
            &self.keys.mac,
            &[&[0u8; 16], &header, &[0x10], cryptogram.as_slice()],
        );
        let crypto_ok = cryptogram.as_slice().ct_eq(&self.expected_host_cryptogram);
        let mac_ok = mac.ct_eq(&truncate_mac(&full));
        if !bool::from(crypto_ok) {
            return Err(ScpError::BadCryptogram);
        }
        if !bool::from(mac_ok) {
            return Err(ScpError::BadMac);
        }
        Ok((level, full))
    }

    /// The sequence counter value this session was initialised with (the
    /// last 3 bytes of its INITIALIZE UPDATE answer).
    pub fn sequence_counter(&self) -> [u8; 3] {
        self.seq
    }

    /// Security level once authenticated; `None` before EXTERNAL
    /// AUTHENTICATE succeeded or after the session was terminated.
    pub fn level(&self) -> Option<SecurityLevel> {
        match self.state {
            State::Open(level) => Some(level),
            State::Initialized | State::Closed => None,
        }
    }

    /// Terminate the session (e.g. on a failure, or when the applet is
    /// deselected). Further commands fail with `NotAuthenticated`.
    pub fn abort(&mut self) {
        self.state = State::Closed;
        self.pending = None;
        self.chain.zeroize();
        self.keys.wipe();
    }

    /// Unwrap one protected command (CLA has bit 0x04). `header` as received (CLA with SM bit, maybe chain bit 0x10), `extended` whether Lc was
    /// encoded as extended (3 bytes 00 hi lo) on the wire — the MAC covers the header and Lc exactly as sent —, `data` the received data field
    /// (possibly encrypted data || 8-byte C-MAC). Verifies the C-MAC, updates the chaining value, increments the encryption counter (for every
    /// command, also ones without data), decrypts and unpads when the level has C-DECRYPTION and data is non-empty. Writes the plain data to `out`,
    /// returns its length.
    ///
    /// `out` needs room for the plain data only. Any error terminates the
    /// session.
    pub fn unwrap_command(
        &mut self,
        header: [u8; 4],
        extended: bool,
        data: &[u8],
        out: &mut [u8],
    ) -> Result<usize, ScpError> {
        let State::Open(level) = self.state else {
            return Err(ScpError::NotAuthenticated);
        };
        self.pending = None;
        let result = self.unwrap_inner(level, header, extended, data, out);
        if result.is_err() {
            self.abort();
        }
        result
    }

    fn unwrap_inner(
        &mut self,
        level: SecurityLevel,
        header: [u8; 4],
        extended: bool,
        data: &[u8],
        out: &mut [u8],
    ) -> Result<usize, ScpError> {
        let [cla, ..] = header;
        if cla & 0x04 == 0 {
            return Err(ScpError::BadHeader);
        }
        let (lc, lc_len) = encode_lc(data.len(), extended)?;
        let body_len = data
            .len()
            .checked_sub(MAC_LEN)
            .ok_or(ScpError::WrongLength)?;
        let (body, mac) = data
            .split_at_checked(body_len)
            .ok_or(ScpError::WrongLength)?;
        let lc = lc.get(..lc_len).ok_or(ScpError::WrongLength)?;
        let full = cmac(&self.keys.mac, &[&self.chain, &header, lc, body]);
        if !bool::from(mac.ct_eq(&truncate_mac(&full))) {
            return Err(ScpError::BadMac);
        }
        let counter = self
            .counter
            .checked_add(1)
            .ok_or(ScpError::CounterExhausted)?;
        self.chain = full;
        self.counter = counter;
        let n = if level.c_decryption() && !body.is_empty() {
            let icv = command_icv(&self.keys.enc, counter);
            decrypt_unpad(&self.keys.enc, &icv, body, out)?
        } else {
            copy_to(out, body)?
        };
        self.pending = Some(counter);
        Ok(n)
    }

    /// Wrap the response of the last unwrapped command: R-ENC of non-empty data if the level has it (IV = AES(S-ENC, 0x80 || 0..0 || counter)), then R-MAC
    /// (CMAC(S-RMAC, chaining value || data || SW)[..8]) appended if the level has R-MAC. Only for SW 9000 / 62xx / 63xx; other SW: return the data
    /// unchanged (normally empty). Returns the length written to `out` (SW not included).
    ///
    /// The response to EXTERNAL AUTHENTICATE itself is sent plain (no
    /// pending command: `NoPendingCommand`). On `BufferTooSmall` nothing
    /// changes and the call may be repeated with a larger buffer.
    pub fn wrap_response(
        &mut self,
        data: &[u8],
        sw: u16,
        out: &mut [u8],
    ) -> Result<usize, ScpError> {
        let State::Open(level) = self.state else {
            return Err(ScpError::NotAuthenticated);
        };
        let counter = self.pending.ok_or(ScpError::NoPendingCommand)?;
        if !sw_is_protected(sw) {
            let n = copy_to(out, data)?;
            self.pending = None;
            return Ok(n);
        }
        let encrypt = level.r_encryption() && !data.is_empty();
        let body_len = if encrypt {
            padded_len(data.len())
        } else {
            data.len()
        };
        let mac_len = if level.r_mac() { MAC_LEN } else { 0 };
        let total = body_len.checked_add(mac_len).ok_or(ScpError::WrongLength)?;
        let dst = out.get_mut(..total).ok_or(ScpError::BufferTooSmall)?;
        let (body, tail) = dst
            .split_at_mut_checked(body_len)
            .ok_or(ScpError::BufferTooSmall)?;
        if encrypt {
            let icv = response_icv(&self.keys.enc, counter);
            encrypt_padded(&self.keys.enc, &icv, data, body)?;
        } else {
            copy_exact(body, data)?;
        }
        if level.r_mac() {
            let full = cmac(&self.keys.rmac, &[&self.chain, body, &sw.to_be_bytes()]);
            copy_exact(tail, &truncate_mac(&full))?;
        }
        self.pending = None;
        Ok(total)
    }
}
