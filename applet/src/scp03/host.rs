//! Host side of an SCP03 session (off-card entity), used for operator
//! provisioning and for testing the card side.

use core::fmt;

use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use super::crypto::{
    SessionKeys, card_cryptogram, cmac, command_icv, decrypt_unpad, derive_session_keys,
    encrypt_padded, host_cryptogram, padded_len, response_icv, truncate_mac,
};
use super::{
    MAC_LEN, SCP_ID, ScpError, SecurityLevel, StaticKeys, copy_exact, copy_to, encode_lc,
    sw_is_protected, write_parts,
};

/// Length of the INITIALIZE UPDATE response with pseudo-random challenge.
pub const INITIALIZE_UPDATE_RESPONSE_LEN: usize = 32;

/// Host side of one secure channel session (used by the host crate for operator provisioning).
pub struct HostChannel {
    keys: SessionKeys,
    level: SecurityLevel,
    open: bool,
    /// MAC chaining value.
    chain: [u8; 16],
    /// Encryption counter (value of the last command).
    counter: u64,
    /// Counter of the last wrapped command whose response is pending.
    pending: Option<u64>,
    seq: [u8; 3],
    card_challenge: [u8; 8],
    i_param: u8,
    kvn: u8,
}

impl fmt::Debug for HostChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostChannel")
            .field("level", &self.level)
            .field("open", &self.open)
            .field("counter", &self.counter)
            .field("seq", &self.seq)
            .field("kvn", &self.kvn)
            .field("keys", &"***")
            .finish_non_exhaustive()
    }
}

impl Drop for HostChannel {
    fn drop(&mut self) {
        self.chain.zeroize();
    }
}

/// `N` bytes of `src` starting at `start`.
fn take<const N: usize>(src: &[u8], start: usize) -> Result<[u8; N], ScpError> {
    let end = start.checked_add(N).ok_or(ScpError::WrongLength)?;
    let s = src.get(start..end).ok_or(ScpError::WrongLength)?;
    s.try_into().map_err(|_| ScpError::WrongLength)
}

impl HostChannel {
    /// The INITIALIZE UPDATE C-APDU: 80 50 kvn 00 08 host_challenge 00
    pub fn initialize_update_apdu(kvn: u8, host_challenge: &[u8; 8]) -> [u8; 14] {
        let mut apdu = [0u8; 14];
        write_parts(
            &mut apdu,
            &[&[0x80, 0x50, kvn, 0x00, 0x08], host_challenge, &[0x00]],
        );
        apdu
    }

    /// Parse the INITIALIZE UPDATE response (32 bytes, without SW), check SCP id 03 and the key version, derive session keys,
    /// verify the card cryptogram (constant time), and build the EXTERNAL AUTHENTICATE C-APDU (84 82 SL 00 10 host cryptogram || C-MAC, 21 bytes).
    ///
    /// Levels with R-MAC / R-ENC are refused (`BadLevel`) unless the i
    /// parameter announces them.
    pub fn open(
        keys: &StaticKeys,
        host_challenge: &[u8; 8],
        response: &[u8],
        level: SecurityLevel,
    ) -> Result<(Self, [u8; 21]), ScpError> {
        if response.len() != INITIALIZE_UPDATE_RESPONSE_LEN {
            return Err(ScpError::WrongLength);
        }
        let [kvn, scp, i_param] = take::<3>(response, 10)?;
        let card_challenge = take::<8>(response, 13)?;
        let card_crypto = take::<8>(response, 21)?;
        let seq = take::<3>(response, 29)?;
        if scp != SCP_ID {
            return Err(ScpError::UnsupportedScp);
        }
        if kvn != keys.kvn {
            return Err(ScpError::KeyVersionMismatch);
        }
        if (level.r_mac() && i_param & 0x20 == 0) || (level.r_encryption() && i_param & 0x40 == 0) {
            return Err(ScpError::BadLevel);
        }
        let session = derive_session_keys(keys, host_challenge, &card_challenge);
        let expected = card_cryptogram(&session.mac, host_challenge, &card_challenge);
        if !bool::from(card_crypto.ct_eq(&expected)) {
            return Err(ScpError::BadCryptogram);
        }
        let host_crypto = host_cryptogram(&session.mac, host_challenge, &card_challenge);
        let header = [0x84, 0x82, level.byte(), 0x00];
        let full = cmac(&session.mac, &[&[0u8; 16], &header, &[0x10], &host_crypto]);
        let mut apdu = [0u8; 21];
        write_parts(
            &mut apdu,
            &[&header, &[0x10], &host_crypto, &truncate_mac(&full)],
        );
        let channel = Self {
            keys: session,
            level,
            open: true,
            chain: full,
            counter: 0,
            pending: None,
            seq,
            card_challenge,
            i_param,
            kvn,
        };
        Ok((channel, apdu))
    }

    /// Parsed fields of the response, for display: sequence counter, card challenge, i parameter.
    pub fn sequence_counter(&self) -> [u8; 3] {
        self.seq
    }

    /// Card challenge of the INITIALIZE UPDATE response.
    pub fn card_challenge(&self) -> [u8; 8] {
        self.card_challenge
    }

    /// i parameter of the INITIALIZE UPDATE response.
    pub fn i_param(&self) -> u8 {
        self.i_param
    }

    /// Key version number the card used.
    pub fn key_version(&self) -> u8 {
        self.kvn
    }

    /// Security level requested in EXTERNAL AUTHENTICATE.
    pub fn level(&self) -> SecurityLevel {
        self.level
    }

    /// Whether the session is still usable (no verification failure).
    pub fn is_open(&self) -> bool {
        self.open
    }

    fn abort(&mut self) {
        self.open = false;
        self.pending = None;
        self.chain.zeroize();
        self.keys.wipe();
    }

    /// Wrap one plain command: `header` CLA INS P1 P2 (CLA 80/00 → SM bit set, chain bit kept), `data` plain data, `le` None or Some(n).
    /// Encrypts data (C-DECRYPTION levels, non-empty data), increments the counter, computes the C-MAC, and writes the complete C-APDU
    /// (short encoding when Lc' <= 255 and le <= 256, else extended) to `out`; returns its length.
    ///
    /// `le = Some(n)`: n expected bytes, 1..=65536; `Some(0)` is encoded
    /// like the maximum (`00` short, `00 00` extended). CLA of the further
    /// interindustry class (`40..7F`) is refused (`BadHeader`). On error
    /// the session state is unchanged.
    pub fn wrap_command(
        &mut self,
        header: [u8; 4],
        data: &[u8],
        le: Option<usize>,
        out: &mut [u8],
    ) -> Result<usize, ScpError> {
        if !self.open {
            return Err(ScpError::NotAuthenticated);
        }
        let [cla, ins, p1, p2] = header;
        if cla & 0xC0 == 0x40 || cla == 0xFF {
            return Err(ScpError::BadHeader);
        }
        let header = [cla | 0x04, ins, p1, p2];
        let counter = self
            .counter
            .checked_add(1)
            .ok_or(ScpError::CounterExhausted)?;
        let encrypt = self.level.c_decryption() && !data.is_empty();
        let body_len = if encrypt {
            padded_len(data.len())
        } else {
            data.len()
        };
        let lc_val = body_len.checked_add(MAC_LEN).ok_or(ScpError::WrongLength)?;
        let le_val = match le {
            Some(n) if n > 65536 => return Err(ScpError::WrongLength),
            other => other,
        };
        let extended = lc_val > 255 || le_val.is_some_and(|n| n > 256);
        let (lc, lc_len) = encode_lc(lc_val, extended)?;
        let (le_bytes, le_len) = match le_val {
            None => ([0u8; 2], 0),
            Some(n) if extended => (u16::try_from(n).unwrap_or(0).to_be_bytes(), 2),
            Some(n) => ([u8::try_from(n).unwrap_or(0), 0], 1),
        };
        let total = [lc_len, lc_val, le_len]
            .iter()
            .try_fold(header.len(), |acc, x| acc.checked_add(*x))
            .ok_or(ScpError::WrongLength)?;
        let dst = out.get_mut(..total).ok_or(ScpError::BufferTooSmall)?;
        let (hdr_dst, rest) = dst
            .split_at_mut_checked(4)
            .ok_or(ScpError::BufferTooSmall)?;
        let (lc_dst, rest) = rest
            .split_at_mut_checked(lc_len)
            .ok_or(ScpError::BufferTooSmall)?;
        let (body_dst, rest) = rest
            .split_at_mut_checked(body_len)
            .ok_or(ScpError::BufferTooSmall)?;
        let (mac_dst, le_dst) = rest
            .split_at_mut_checked(MAC_LEN)
            .ok_or(ScpError::BufferTooSmall)?;
        copy_exact(hdr_dst, &header)?;
        copy_exact(lc_dst, lc.get(..lc_len).ok_or(ScpError::WrongLength)?)?;
        copy_exact(le_dst, le_bytes.get(..le_len).ok_or(ScpError::WrongLength)?)?;
        if encrypt {
            let icv = command_icv(&self.keys.enc, counter);
            encrypt_padded(&self.keys.enc, &icv, data, body_dst)?;
        } else {
            copy_exact(body_dst, data)?;
        }
        let full = cmac(&self.keys.mac, &[&self.chain, hdr_dst, lc_dst, body_dst]);
        copy_exact(mac_dst, &truncate_mac(&full))?;
        self.chain = full;
        self.counter = counter;
        self.pending = Some(counter);
        Ok(total)
    }

    /// Unwrap a response: `data` response data without SW, `sw`. Verifies the R-MAC (levels with R-MAC, SW 9000/62xx/63xx) and decrypts (R-ENC, non-empty); writes plain data to `out`, returns its length.
    ///
    /// Any error terminates the session.
    pub fn unwrap_response(
        &mut self,
        data: &[u8],
        sw: u16,
        out: &mut [u8],
    ) -> Result<usize, ScpError> {
        if !self.open {
            return Err(ScpError::NotAuthenticated);
        }
        let counter = self.pending.take().ok_or(ScpError::NoPendingCommand)?;
        let result = self.unwrap_inner(counter, data, sw, out);
        if result.is_err() {
            self.abort();
        }
        result
    }

    fn unwrap_inner(
        &self,
        counter: u64,
        data: &[u8],
        sw: u16,
        out: &mut [u8],
    ) -> Result<usize, ScpError> {
        if !sw_is_protected(sw) {
            return copy_to(out, data);
        }
        let body = if self.level.r_mac() {
            let body_len = data
                .len()
                .checked_sub(MAC_LEN)
                .ok_or(ScpError::WrongLength)?;
            let (body, mac) = data
                .split_at_checked(body_len)
                .ok_or(ScpError::WrongLength)?;
            let full = cmac(&self.keys.rmac, &[&self.chain, body, &sw.to_be_bytes()]);
            if !bool::from(mac.ct_eq(&truncate_mac(&full))) {
                return Err(ScpError::BadMac);
            }
            body
        } else {
            data
        };
        if self.level.r_encryption() && !body.is_empty() {
            let icv = response_icv(&self.keys.enc, counter);
            decrypt_unpad(&self.keys.enc, &icv, body, out)
        } else {
            copy_to(out, body)
        }
    }
}
