//! GlobalPlatform Secure Channel Protocol '03' (GP Card Specification
//! Amendment D), AES-128 keys, pseudo-random card challenge.
//!
//! * [`crypto`]: primitives (CMAC, the SP 800-108 KDF, session keys,
//!   cryptograms, ICV/IV derivation, padding, CBC).
//! * [`card`]: the card side of one session ([`CardChannel`]).
//! * [`host`]: the host side of one session ([`HostChannel`]).
//!
//! Every verification failure (cryptogram, C-MAC, R-MAC, padding, framing)
//! terminates the session on the side that detected it, as GP requires for
//! the card: a new INITIALIZE UPDATE is then needed.
#![deny(clippy::indexing_slicing)]

use core::fmt;

use subtle::ConstantTimeEq;
use zeroize::Zeroize;

pub mod card;
pub mod crypto;
pub mod host;

#[cfg(test)]
mod tests;

pub use card::CardChannel;
pub use crypto::SessionKeys;
pub use host::HostChannel;

/// Default key version number of the test / personalisation key set.
pub const DEFAULT_KVN: u8 = 0x30;

/// Secure channel protocol identifier returned in INITIALIZE UPDATE.
pub const SCP_ID: u8 = 0x03;

/// i parameter the card announces: pseudo-random challenge + R-MAC + R-ENC supported.
pub const I_PARAM: u8 = 0x70;

/// Length of a truncated C-MAC / R-MAC / cryptogram.
pub const MAC_LEN: usize = 8;

/// Static key set (K-ENC, K-MAC, K-DEK) of one key version.
///
/// The key bytes are wiped on drop, `Debug` prints them redacted and
/// equality is compared in constant time.
pub struct StaticKeys {
    /// K-ENC: derives S-ENC and the pseudo-random card challenge.
    pub enc: [u8; 16],
    /// K-MAC: derives S-MAC and S-RMAC.
    pub mac: [u8; 16],
    /// K-DEK: encrypts key material (PUT KEY, STORE DATA).
    pub dek: [u8; 16],
    /// Key version number.
    pub kvn: u8,
}

/// The GlobalPlatform test key `40 41 .. 4F`.
const TEST_KEY: [u8; 16] = [
    0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4A, 0x4B, 0x4C, 0x4D, 0x4E, 0x4F,
];

impl StaticKeys {
    /// Length of [`StaticKeys::to_bytes`]: kvn || enc || mac || dek.
    pub const ENCODED_LEN: usize = 49;

    /// The well-known GlobalPlatform test keys (`40..4F` for all three keys),
    /// key version [`DEFAULT_KVN`]. Never use them in production.
    pub const fn default_test_keys() -> Self {
        Self {
            enc: TEST_KEY,
            mac: TEST_KEY,
            dek: TEST_KEY,
            kvn: DEFAULT_KVN,
        }
    }

    /// Serialise as kvn || enc || mac || dek (49 bytes). The caller must
    /// wipe the returned array once it has been stored.
    pub fn to_bytes(&self) -> [u8; 49] {
        let mut out = [0u8; 49];
        write_parts(&mut out, &[&[self.kvn], &self.enc, &self.mac, &self.dek]);
        out
    }

    /// Parse kvn || enc || mac || dek; `None` unless exactly 49 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let all: &[u8; 49] = bytes.try_into().ok()?;
        let (kvn, rest) = all.split_first()?;
        let (enc, rest) = rest.split_first_chunk::<16>()?;
        let (mac, dek) = rest.split_first_chunk::<16>()?;
        Some(Self {
            enc: *enc,
            mac: *mac,
            dek: dek.try_into().ok()?,
            kvn: *kvn,
        })
    }
}

impl Clone for StaticKeys {
    fn clone(&self) -> Self {
        Self {
            enc: self.enc,
            mac: self.mac,
            dek: self.dek,
            kvn: self.kvn,
        }
    }
}

impl PartialEq for StaticKeys {
    fn eq(&self, other: &Self) -> bool {
        let keys =
            self.enc.ct_eq(&other.enc) & self.mac.ct_eq(&other.mac) & self.dek.ct_eq(&other.dek);
        bool::from(keys & self.kvn.ct_eq(&other.kvn))
    }
}

impl Eq for StaticKeys {}

impl fmt::Debug for StaticKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticKeys")
            .field("enc", &"***")
            .field("mac", &"***")
            .field("dek", &"***")
            .field("kvn", &self.kvn)
            .finish()
    }
}

impl Drop for StaticKeys {
    fn drop(&mut self) {
        self.enc.zeroize();
        self.mac.zeroize();
        self.dek.zeroize();
    }
}

/// Security level of a session (P1 of EXTERNAL AUTHENTICATE).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SecurityLevel(u8);

impl SecurityLevel {
    /// Bit: command MAC.
    pub const C_MAC: u8 = 0x01;
    /// Bit: command data encryption.
    pub const C_DECRYPTION: u8 = 0x02;
    /// Bit: response MAC.
    pub const R_MAC: u8 = 0x10;
    /// Bit: response data encryption.
    pub const R_ENCRYPTION: u8 = 0x20;

    /// Accept only the combinations this implementation supports:
    /// `01`, `03`, `11`, `13`, `33` (C-MAC is always required).
    pub fn from_byte(b: u8) -> Option<Self> {
        match b {
            0x01 | 0x03 | 0x11 | 0x13 | 0x33 => Some(Self(b)),
            _ => None,
        }
    }

    /// The level byte.
    pub fn byte(self) -> u8 {
        self.0
    }

    /// Command MAC (always true for a valid level).
    pub fn c_mac(self) -> bool {
        self.0 & Self::C_MAC != 0
    }

    /// Command data encryption.
    pub fn c_decryption(self) -> bool {
        self.0 & Self::C_DECRYPTION != 0
    }

    /// Response MAC.
    pub fn r_mac(self) -> bool {
        self.0 & Self::R_MAC != 0
    }

    /// Response data encryption.
    pub fn r_encryption(self) -> bool {
        self.0 & Self::R_ENCRYPTION != 0
    }
}

/// Errors of the secure channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScpError {
    /// A length (APDU data, response, Lc/Le) is invalid.
    WrongLength,
    /// C-MAC or R-MAC verification failed.
    BadMac,
    /// Card or host cryptogram verification failed.
    BadCryptogram,
    /// ISO 9797-1 method 2 padding is malformed after decryption.
    BadPadding,
    /// The output buffer is too small.
    BufferTooSmall,
    /// The channel is not open (not yet authenticated, or terminated).
    NotAuthenticated,
    /// The encryption counter cannot be incremented any more.
    CounterExhausted,
    /// Unsupported or unannounced security level.
    BadLevel,
    /// Unexpected CLA / INS / P2 (e.g. SM bit missing).
    BadHeader,
    /// The card answered with a secure channel protocol other than `03`.
    UnsupportedScp,
    /// The card answered with another key version than the host's keys.
    KeyVersionMismatch,
    /// The operation is not allowed in the current session state
    /// (e.g. a second EXTERNAL AUTHENTICATE).
    BadState,
    /// A response was wrapped / unwrapped without a preceding command.
    NoPendingCommand,
}

impl fmt::Display for ScpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Self::WrongLength => "wrong length",
            Self::BadMac => "MAC verification failed",
            Self::BadCryptogram => "cryptogram verification failed",
            Self::BadPadding => "bad padding",
            Self::BufferTooSmall => "buffer too small",
            Self::NotAuthenticated => "secure channel not open",
            Self::CounterExhausted => "encryption counter exhausted",
            Self::BadLevel => "unsupported security level",
            Self::BadHeader => "unexpected command header",
            Self::UnsupportedScp => "not SCP03",
            Self::KeyVersionMismatch => "key version mismatch",
            Self::BadState => "wrong secure channel state",
            Self::NoPendingCommand => "no pending command",
        };
        f.write_str(s)
    }
}

impl core::error::Error for ScpError {}

/// Whether a response with this status word is protected (R-MAC / R-ENC):
/// only `9000`, `62xx` and `63xx` (GP Amd D §6.2.7).
pub fn sw_is_protected(sw: u16) -> bool {
    let [sw1, _] = sw.to_be_bytes();
    sw == 0x9000 || sw1 == 0x62 || sw1 == 0x63
}

/// Copy the concatenation of `parts` into `out`, as far as it fits;
/// returns the number of bytes written.
pub(crate) fn write_parts(out: &mut [u8], parts: &[&[u8]]) -> usize {
    let src = parts.iter().flat_map(|p| p.iter());
    let mut n = 0usize;
    for (d, s) in out.iter_mut().zip(src) {
        *d = *s;
        n = n.saturating_add(1);
    }
    n
}

/// Copy `src` into `dst`, which must have exactly the same length.
pub(crate) fn copy_exact(dst: &mut [u8], src: &[u8]) -> Result<(), ScpError> {
    if dst.len() != src.len() {
        return Err(ScpError::BufferTooSmall);
    }
    dst.copy_from_slice(src);
    Ok(())
}

/// Copy `src` to the start of `out`; returns `src.len()`.
pub(crate) fn copy_to(out: &mut [u8], src: &[u8]) -> Result<usize, ScpError> {
    let dst = out.get_mut(..src.len()).ok_or(ScpError::BufferTooSmall)?;
    copy_exact(dst, src)?;
    Ok(src.len())
}

/// Encoding of Lc: 1 byte (short) or `00 hi lo` (extended).
pub(crate) fn encode_lc(len: usize, extended: bool) -> Result<([u8; 3], usize), ScpError> {
    if extended {
        let v = u16::try_from(len).map_err(|_| ScpError::WrongLength)?;
        if v == 0 {
            return Err(ScpError::WrongLength);
        }
        let [hi, lo] = v.to_be_bytes();
        Ok(([0, hi, lo], 3))
    } else {
        let v = u8::try_from(len).map_err(|_| ScpError::WrongLength)?;
        Ok(([v, 0, 0], 1))
    }
}
