//! SCP03 cryptographic primitives (GP Card Specification Amendment D §4.1,
//! §6.2): AES-CMAC, the NIST SP 800-108 counter-mode KDF, session keys,
//! cryptograms, key check values, ICV derivation, ISO 9797-1 method 2
//! padding and AES-CBC.

use core::fmt;

use aes::Aes128;
use aes::cipher::{BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use cmac::{Cmac, Mac};
use zeroize::Zeroize;

use super::{MAC_LEN, ScpError, StaticKeys, write_parts};

/// AES block length.
pub const BLOCK_LEN: usize = 16;

/// Derivation constants of the KDF (GP Amd D table 4-1).
pub mod constants {
    /// Card cryptogram.
    pub const CARD_CRYPTOGRAM: u8 = 0x00;
    /// Host cryptogram.
    pub const HOST_CRYPTOGRAM: u8 = 0x01;
    /// Pseudo-random card challenge.
    pub const CARD_CHALLENGE: u8 = 0x02;
    /// S-ENC.
    pub const S_ENC: u8 = 0x04;
    /// S-MAC.
    pub const S_MAC: u8 = 0x06;
    /// S-RMAC.
    pub const S_RMAC: u8 = 0x07;
}

fn aes128(key: &[u8; 16]) -> Aes128 {
    Aes128::new(key.into())
}

/// AES-128 encryption of one block.
pub fn aes_encrypt_block(key: &[u8; 16], block: &[u8; 16]) -> [u8; 16] {
    let mut out = *block;
    aes128(key).encrypt_block((&mut out).into());
    out
}

/// AES-CMAC (NIST SP 800-38B) over the concatenation of `parts`.
pub fn cmac(key: &[u8; 16], parts: &[&[u8]]) -> [u8; 16] {
    let mut mac = <Cmac<Aes128> as KeyInit>::new(key.into());
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// First 8 bytes of a full MAC.
pub(crate) fn truncate_mac(full: &[u8; 16]) -> [u8; MAC_LEN] {
    let mut out = [0u8; MAC_LEN];
    for (d, s) in out.iter_mut().zip(full.iter()) {
        *d = *s;
    }
    out
}

/// GP Amd D §4.1.5 KDF (NIST SP 800-108 counter mode with CMAC): label = 11 zero bytes || constant, separation 00, L (2 bytes, bits), counter i (1 byte), context.
///
/// Fills `out` with successive CMAC outputs (counter 1, 2, ...); `out`
/// should be `out_bits / 8` bytes long (at most 255 blocks are produced,
/// bytes beyond 4080 are left untouched).
pub fn kdf(key: &[u8; 16], constant: u8, out_bits: u16, context: &[&[u8]], out: &mut [u8]) {
    let mut prefix = [0u8; 16];
    let [l_hi, l_lo] = out_bits.to_be_bytes();
    // 11 zero bytes || constant || 00 || L || i
    write_tail(&mut prefix, &[constant, 0x00, l_hi, l_lo]);
    let base = <Cmac<Aes128> as KeyInit>::new(key.into());
    for (i, chunk) in (1u8..=255).zip(out.chunks_mut(BLOCK_LEN)) {
        if let Some(last) = prefix.last_mut() {
            *last = i;
        }
        let mut mac = base.clone();
        mac.update(&prefix);
        for c in context {
            mac.update(c);
        }
        let mut block: [u8; 16] = mac.finalize().into_bytes().into();
        for (d, s) in chunk.iter_mut().zip(block.iter()) {
            *d = *s;
        }
        block.zeroize();
    }
}

/// Write `tail` so that it ends one byte before the end of `block`
/// (the last byte is the KDF counter).
fn write_tail(block: &mut [u8; 16], tail: &[u8; 4]) {
    for (d, s) in block.iter_mut().skip(11).zip(tail.iter()) {
        *d = *s;
    }
}

/// Session keys of one SCP03 session. Wiped on drop, redacted `Debug`.
pub struct SessionKeys {
    /// S-ENC: command / response data encryption.
    pub enc: [u8; 16],
    /// S-MAC: C-MAC and cryptograms.
    pub mac: [u8; 16],
    /// S-RMAC: R-MAC.
    pub rmac: [u8; 16],
}

impl fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionKeys { *** }")
    }
}

impl SessionKeys {
    /// Overwrites the three keys with zeros.
    pub fn wipe(&mut self) {
        self.enc.zeroize();
        self.mac.zeroize();
        self.rmac.zeroize();
    }
}

impl Drop for SessionKeys {
    fn drop(&mut self) {
        self.wipe();
    }
}

/// Derive S-ENC, S-MAC and S-RMAC from the static keys with context
/// host challenge || card challenge.
pub fn derive_session_keys(
    keys: &StaticKeys,
    host_challenge: &[u8; 8],
    card_challenge: &[u8; 8],
) -> SessionKeys {
    let ctx: [&[u8]; 2] = [host_challenge, card_challenge];
    let mut sk = SessionKeys {
        enc: [0; 16],
        mac: [0; 16],
        rmac: [0; 16],
    };
    kdf(&keys.enc, constants::S_ENC, 128, &ctx, &mut sk.enc);
    kdf(&keys.mac, constants::S_MAC, 128, &ctx, &mut sk.mac);
    kdf(&keys.mac, constants::S_RMAC, 128, &ctx, &mut sk.rmac);
    sk
}

/// pseudo-random card challenge: KDF(K-ENC, 0x02, 64 bits, seq(3) || invoking AID)
pub fn card_challenge(k_enc: &[u8; 16], seq: [u8; 3], aid: &[u8]) -> [u8; 8] {
    let mut out = [0u8; 8];
    kdf(k_enc, constants::CARD_CHALLENGE, 64, &[&seq, aid], &mut out);
    out
}

/// Card cryptogram: KDF(S-MAC, 0x00, 64 bits, host challenge || card challenge).
pub fn card_cryptogram(s_mac: &[u8; 16], host_ch: &[u8; 8], card_ch: &[u8; 8]) -> [u8; 8] {
    let mut out = [0u8; 8];
    kdf(
        s_mac,
        constants::CARD_CRYPTOGRAM,
        64,
        &[host_ch, card_ch],
        &mut out,
    );
    out
}

/// Host cryptogram: KDF(S-MAC, 0x01, 64 bits, host challenge || card challenge).
pub fn host_cryptogram(s_mac: &[u8; 16], host_ch: &[u8; 8], card_ch: &[u8; 8]) -> [u8; 8] {
    let mut out = [0u8; 8];
    kdf(
        s_mac,
        constants::HOST_CRYPTOGRAM,
        64,
        &[host_ch, card_ch],
        &mut out,
    );
    out
}

/// SCP03 key check value: first 3 bytes of AES(key, 16 x 0x01)
pub fn key_check_value(key: &[u8; 16]) -> [u8; 3] {
    let mut block = aes_encrypt_block(key, &[0x01; 16]);
    let [a, b, c, ..] = block;
    block.zeroize();
    [a, b, c]
}

/// ICV for C-DECRYPTION: AES(S-ENC, counter as 16 bytes big endian).
pub fn command_icv(s_enc: &[u8; 16], counter: u64) -> [u8; 16] {
    let mut block = [0u8; 16];
    write_parts(&mut block, &[&[0u8; 8], &counter.to_be_bytes()]);
    aes_encrypt_block(s_enc, &block)
}

/// ICV for R-ENCRYPTION: AES(S-ENC, 0x80 || counter as 15 bytes big endian).
pub fn response_icv(s_enc: &[u8; 16], counter: u64) -> [u8; 16] {
    let mut block = [0u8; 16];
    write_parts(&mut block, &[&[0x80], &[0u8; 7], &counter.to_be_bytes()]);
    aes_encrypt_block(s_enc, &block)
}

/// Length of `len` bytes after ISO 9797-1 method 2 padding to 16 bytes.
pub const fn padded_len(len: usize) -> usize {
    (len / BLOCK_LEN)
        .saturating_add(1)
        .saturating_mul(BLOCK_LEN)
}

/// ISO 9797-1 method 2 padding in place: `buf[..len]` is the message;
/// writes `80 00 ..` up to the next block boundary and returns the padded
/// length. `buf` must hold [`padded_len`]`(len)` bytes.
pub fn pad(buf: &mut [u8], len: usize) -> Result<usize, ScpError> {
    let total = padded_len(len);
    let region = buf.get_mut(len..total).ok_or(ScpError::BufferTooSmall)?;
    let mut it = region.iter_mut();
    if let Some(first) = it.next() {
        *first = 0x80;
    }
    it.for_each(|b| *b = 0);
    Ok(total)
}

/// Remove ISO 9797-1 method 2 padding: the last non-zero byte must be
/// `80` and lie in the last block. Returns the message length.
pub fn unpad(buf: &[u8]) -> Result<usize, ScpError> {
    let pos = buf
        .iter()
        .rposition(|&b| b != 0)
        .ok_or(ScpError::BadPadding)?;
    if buf.get(pos) != Some(&0x80) || buf.len().saturating_sub(pos) > BLOCK_LEN {
        return Err(ScpError::BadPadding);
    }
    Ok(pos)
}

/// AES-128-CBC encryption in place over whole blocks.
pub fn cbc_encrypt(key: &[u8; 16], iv: &[u8; 16], buf: &mut [u8]) -> Result<(), ScpError> {
    if !buf.len().is_multiple_of(BLOCK_LEN) {
        return Err(ScpError::WrongLength);
    }
    let cipher = aes128(key);
    let mut prev = *iv;
    for chunk in buf.chunks_exact_mut(BLOCK_LEN) {
        let block: &mut [u8; 16] = chunk.try_into().map_err(|_| ScpError::WrongLength)?;
        for (b, p) in block.iter_mut().zip(prev.iter()) {
            *b ^= *p;
        }
        cipher.encrypt_block(block.into());
        prev = *block;
    }
    Ok(())
}

/// AES-128-CBC decryption in place over whole blocks.
pub fn cbc_decrypt(key: &[u8; 16], iv: &[u8; 16], buf: &mut [u8]) -> Result<(), ScpError> {
    if !buf.len().is_multiple_of(BLOCK_LEN) {
        return Err(ScpError::WrongLength);
    }
    let cipher = aes128(key);
    let mut prev = *iv;
    for chunk in buf.chunks_exact_mut(BLOCK_LEN) {
        let block: &mut [u8; 16] = chunk.try_into().map_err(|_| ScpError::WrongLength)?;
        let ct = *block;
        cipher.decrypt_block(block.into());
        for (b, p) in block.iter_mut().zip(prev.iter()) {
            *b ^= *p;
        }
        prev = ct;
    }
    Ok(())
}

/// AES-128-CBC with zero IV over whole blocks (for PUT KEY encryption of keys with K-DEK), in place.
pub fn aes_cbc_encrypt_zero_iv(key: &[u8; 16], buf: &mut [u8]) -> Result<(), ScpError> {
    cbc_encrypt(key, &[0; 16], buf)
}

/// AES-128-CBC decryption with zero IV over whole blocks, in place.
pub fn aes_cbc_decrypt_zero_iv(key: &[u8; 16], buf: &mut [u8]) -> Result<(), ScpError> {
    cbc_decrypt(key, &[0; 16], buf)
}

/// Pad `plain` (ISO 9797-1 method 2) and CBC-encrypt it into `out`;
/// returns the ciphertext length ([`padded_len`]`(plain.len())`).
pub fn encrypt_padded(
    key: &[u8; 16],
    iv: &[u8; 16],
    plain: &[u8],
    out: &mut [u8],
) -> Result<usize, ScpError> {
    let total = padded_len(plain.len());
    let buf = out.get_mut(..total).ok_or(ScpError::BufferTooSmall)?;
    let (msg, _) = buf
        .split_at_mut_checked(plain.len())
        .ok_or(ScpError::BufferTooSmall)?;
    msg.copy_from_slice(plain);
    pad(buf, plain.len())?;
    cbc_encrypt(key, iv, buf)?;
    Ok(total)
}

/// CBC-decrypt `ct` (non-empty, whole blocks) and remove the padding,
/// writing only the message to `out` (which needs room for the message
/// only); returns the message length.
pub fn decrypt_unpad(
    key: &[u8; 16],
    iv: &[u8; 16],
    ct: &[u8],
    out: &mut [u8],
) -> Result<usize, ScpError> {
    if ct.is_empty() || !ct.len().is_multiple_of(BLOCK_LEN) {
        return Err(ScpError::WrongLength);
    }
    let head_len = ct.len().saturating_sub(BLOCK_LEN);
    let (head, last) = ct.split_at_checked(head_len).ok_or(ScpError::WrongLength)?;
    let mut tail: [u8; 16] = last.try_into().map_err(|_| ScpError::WrongLength)?;
    // IV of the last block: the previous ciphertext block, or `iv`.
    let last_iv: [u8; 16] = match head.rchunks_exact(BLOCK_LEN).next() {
        Some(prev) => prev.try_into().map_err(|_| ScpError::WrongLength)?,
        None => *iv,
    };
    let result = (|| {
        cbc_decrypt(key, &last_iv, &mut tail)?;
        let tail_len = unpad(&tail)?;
        let total = head_len
            .checked_add(tail_len)
            .ok_or(ScpError::WrongLength)?;
        let dst = out.get_mut(..total).ok_or(ScpError::BufferTooSmall)?;
        let (dst_head, dst_tail) = dst
            .split_at_mut_checked(head_len)
            .ok_or(ScpError::BufferTooSmall)?;
        dst_head.copy_from_slice(head);
        cbc_decrypt(key, iv, dst_head)?;
        write_parts(dst_tail, &[&tail]);
        Ok(total)
    })();
    tail.zeroize();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kcv_of_test_key() {
        // Computed with OpenSSL 3.0:
        //   printf '\x01%.0s' $(seq 16) | openssl enc -aes-128-ecb -nopad \
        //     -K 404142434445464748494a4b4c4d4e4f | xxd -p
        //   -> 504a77e6e457dd861e066f7804281a5f
        let key = StaticKeys::default_test_keys();
        assert_eq!(key_check_value(&key.enc), [0x50, 0x4a, 0x77]);
    }

    #[test]
    fn kdf_known_answer() {
        // Computed independently with OpenSSL 3.0:
        //   printf '0000000000000000000000''02''00''0040''01''300001''41424344454647' \
        //     | xxd -r -p | openssl mac -cipher AES-128-CBC \
        //       -macopt hexkey:404142434445464748494a4b4c4d4e4f CMAC
        //   -> 0A56D2048C5116B6E6597E4ECB1AD9AA (first 8 bytes are the challenge)
        // (11 zero bytes || 02 || 00 || L=0040 || i=01 || seq 300001 || "ABCDEFG")
        let key = StaticKeys::default_test_keys();
        let got = card_challenge(&key.enc, [0x30, 0x00, 0x01], b"ABCDEFG");
        assert_eq!(got, KDF_KAT);
    }

    const KDF_KAT: [u8; 8] = [0x0A, 0x56, 0xD2, 0x04, 0x8C, 0x51, 0x16, 0xB6];

    #[test]
    fn padding() {
        let mut buf = [0xAAu8; 48];
        assert_eq!(pad(&mut buf, 16), Ok(32));
        assert_eq!(unpad(buf.get(..32).unwrap_or(&[])), Ok(16));
        assert_eq!(pad(&mut buf, 48), Err(ScpError::BufferTooSmall));
        assert_eq!(pad(&mut buf, 47), Ok(48));
        assert_eq!(unpad(&[0u8; 16]), Err(ScpError::BadPadding));
        assert_eq!(unpad(&[0x81, 0, 0, 0]), Err(ScpError::BadPadding));
        let mut far = [0u8; 32];
        if let Some(b) = far.first_mut() {
            *b = 0x80;
        }
        assert_eq!(unpad(&far), Err(ScpError::BadPadding));
    }

    #[test]
    fn cbc_round_trip() -> Result<(), ScpError> {
        let key = [7u8; 16];
        let iv = [9u8; 16];
        for len in [0usize, 1, 15, 16, 17, 40] {
            let plain = [0x5Au8; 40];
            let msg = plain.get(..len).ok_or(ScpError::WrongLength)?;
            let mut ct = [0u8; 48];
            let n = encrypt_padded(&key, &iv, msg, &mut ct)?;
            assert_eq!(n, padded_len(len));
            let mut back = [0u8; 40];
            let ctn = ct.get(..n).ok_or(ScpError::WrongLength)?;
            let m = decrypt_unpad(&key, &iv, ctn, &mut back)?;
            assert_eq!(back.get(..m), Some(msg));
            // exact-size output buffer suffices
            let mut exact = [0u8; 40];
            let exact = exact.get_mut(..len).ok_or(ScpError::WrongLength)?;
            assert_eq!(decrypt_unpad(&key, &iv, ctn, exact), Ok(len));
        }
        let mut odd = [0u8; 17];
        assert_eq!(
            aes_cbc_encrypt_zero_iv(&key, &mut odd),
            Err(ScpError::WrongLength)
        );
        Ok(())
    }
}
