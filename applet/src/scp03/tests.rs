//! Round-trip tests host ↔ card.

use super::*;

const HOST_CHALLENGE: [u8; 8] = [1, 2, 3, 4, 5, 6, 7, 8];
const SEQ: [u8; 3] = [0x00, 0x00, 0x2A];
const AID: [u8; 8] = [0xA0, 0x00, 0x00, 0x01, 0x51, 0x00, 0x00, 0x00];
const DIV: [u8; 10] = [0x11; 10];
const LEVELS: [u8; 5] = [0x01, 0x03, 0x11, 0x13, 0x33];
const BIG: usize = 4096;
/// Room for a 4096-byte command: header, ext. Lc, padding, MAC, Le.
const APDU_BUF: usize = BIG + 64;

fn level(b: u8) -> Result<SecurityLevel, ScpError> {
    SecurityLevel::from_byte(b).ok_or(ScpError::BadLevel)
}

/// INITIALIZE UPDATE + EXTERNAL AUTHENTICATE on both sides.
fn open(lvl: SecurityLevel) -> Result<(CardChannel, HostChannel), ScpError> {
    let keys = StaticKeys::default_test_keys();
    let (mut card, resp) = CardChannel::initialize(&keys, &HOST_CHALLENGE, SEQ, &AID, &DIV);
    let (host, ea) = HostChannel::open(&keys, &HOST_CHALLENGE, &resp, lvl)?;
    assert_eq!(host.sequence_counter(), SEQ);
    assert_eq!(
        host.card_challenge(),
        crypto::card_challenge(&keys.enc, SEQ, &AID)
    );
    assert_eq!(host.i_param(), I_PARAM);
    assert_eq!(card.level(), None);
    let (hdr, rest) = ea.split_first_chunk::<4>().ok_or(ScpError::WrongLength)?;
    let (_lc, data) = rest.split_first().ok_or(ScpError::WrongLength)?;
    assert_eq!(card.external_authenticate(*hdr, data), Ok(lvl));
    assert_eq!(card.level(), Some(lvl));
    Ok((card, host))
}

/// Split a C-APDU produced by `wrap_command` into header, extended flag,
/// data field (Le dropped).
fn parse(apdu: &[u8]) -> Result<([u8; 4], bool, &[u8]), ScpError> {
    let (hdr, rest) = apdu.split_first_chunk::<4>().ok_or(ScpError::WrongLength)?;
    let (&b0, rest) = rest.split_first().ok_or(ScpError::WrongLength)?;
    if b0 == 0 {
        let (len, rest) = rest.split_first_chunk::<2>().ok_or(ScpError::WrongLength)?;
        let n = usize::from(u16::from_be_bytes(*len));
        Ok((*hdr, true, rest.get(..n).ok_or(ScpError::WrongLength)?))
    } else {
        let n = usize::from(b0);
        Ok((*hdr, false, rest.get(..n).ok_or(ScpError::WrongLength)?))
    }
}

fn exchange(
    card: &mut CardChannel,
    host: &mut HostChannel,
    plain: &[u8],
    le: Option<usize>,
) -> Result<(), ScpError> {
    let mut apdu = [0u8; APDU_BUF];
    let n = host.wrap_command([0x80, 0xE2, 0x90, 0x00], plain, le, &mut apdu)?;
    let (hdr, ext, data) = parse(apdu.get(..n).ok_or(ScpError::WrongLength)?)?;
    assert_eq!(hdr, [0x84, 0xE2, 0x90, 0x00]);
    let lvl = host.level();
    let body = if lvl.c_decryption() && !plain.is_empty() {
        crypto::padded_len(plain.len())
    } else {
        plain.len()
    };
    assert_eq!(ext, body + MAC_LEN > 255 || le.is_some_and(|l| l > 256));
    let mut got = [0u8; BIG];
    let m = card.unwrap_command(hdr, ext, data, &mut got)?;
    assert_eq!(got.get(..m), Some(plain));
    // response: echo the data back (at most 256 bytes)
    let resp = plain
        .get(..plain.len().min(256))
        .ok_or(ScpError::WrongLength)?;
    let mut wrapped = [0u8; 300];
    let w = card.wrap_response(resp, 0x9000, &mut wrapped)?;
    let mut back = [0u8; 300];
    let b = host.unwrap_response(
        wrapped.get(..w).ok_or(ScpError::WrongLength)?,
        0x9000,
        &mut back,
    )?;
    assert_eq!(back.get(..b), Some(resp));
    Ok(())
}

#[test]
fn round_trip_all_levels() -> Result<(), ScpError> {
    let mut payload = [0u8; BIG];
    for (i, b) in payload.iter_mut().enumerate() {
        *b = (i % 251) as u8;
    }
    for lvl in LEVELS {
        let lvl = level(lvl)?;
        let (mut card, mut host) = open(lvl)?;
        for len in [0usize, 1, 15, 16, 17, 255, BIG] {
            let plain = payload.get(..len).ok_or(ScpError::WrongLength)?;
            exchange(&mut card, &mut host, plain, None)?;
            exchange(&mut card, &mut host, plain, Some(256))?;
        }
        exchange(&mut card, &mut host, &[], Some(4096))?;
        // error SW: response passes through unchanged, the session goes on
        let mut apdu = [0u8; 64];
        let n = host.wrap_command([0x00, 0xA4, 0x04, 0x00], &[1, 2], None, &mut apdu)?;
        let (hdr, ext, data) = parse(apdu.get(..n).ok_or(ScpError::WrongLength)?)?;
        assert_eq!(hdr, [0x04, 0xA4, 0x04, 0x00]);
        let mut got = [0u8; 4];
        assert_eq!(card.unwrap_command(hdr, ext, data, &mut got), Ok(2));
        let mut out = [0u8; 16];
        assert_eq!(card.wrap_response(&[], 0x6A82, &mut out), Ok(0));
        assert_eq!(host.unwrap_response(&[], 0x6A82, &mut out), Ok(0));
        exchange(&mut card, &mut host, &[9, 9, 9], Some(1))?;
    }
    Ok(())
}

#[test]
fn tampered_command_is_rejected() -> Result<(), ScpError> {
    for lvl in LEVELS {
        let mut apdu = [0u8; 64];
        let n = open(level(lvl)?)?.1.wrap_command(
            [0x80, 0xCA, 0x00, 0x66],
            &[0x42; 20],
            None,
            &mut apdu,
        )?;
        for bit in 0..n * 8 {
            // fresh, identical session (same challenges) for every flip
            let (mut card, _) = open(level(lvl)?)?;
            let mut bad = apdu;
            let byte = bad.get_mut(bit / 8).ok_or(ScpError::WrongLength)?;
            *byte ^= 1 << (bit % 8);
            if let Ok((hdr, ext, data)) = parse(bad.get(..n).ok_or(ScpError::WrongLength)?) {
                let mut out = [0u8; 64];
                assert!(card.unwrap_command(hdr, ext, data, &mut out).is_err());
                // the failure terminated the session
                assert_eq!(card.level(), None);
            }
        }
        // truncated data field
        let (mut card, _) = open(level(lvl)?)?;
        let mut out = [0u8; 64];
        let r = card.unwrap_command([0x84, 0xCA, 0x00, 0x66], false, &[0; 7], &mut out);
        assert_eq!(r, Err(ScpError::WrongLength));
    }
    Ok(())
}

#[test]
fn tampered_response_and_misuse() -> Result<(), ScpError> {
    let (mut card, mut host) = open(level(0x33)?)?;
    let mut out = [0u8; 64];
    // no command yet
    assert_eq!(
        card.wrap_response(&[], 0x9000, &mut out),
        Err(ScpError::NoPendingCommand)
    );
    let mut apdu = [0u8; 64];
    let n = host.wrap_command([0x80, 0xCA, 0x00, 0x66], &[], Some(256), &mut apdu)?;
    let (hdr, ext, data) = parse(apdu.get(..n).ok_or(ScpError::WrongLength)?)?;
    assert_eq!(card.unwrap_command(hdr, ext, data, &mut out), Ok(0));
    // a too small buffer leaves the response pending
    let small = out.get_mut(..10).ok_or(ScpError::WrongLength)?;
    assert_eq!(
        card.wrap_response(&[1; 20], 0x9000, small),
        Err(ScpError::BufferTooSmall)
    );
    let w = card.wrap_response(&[1; 20], 0x9000, &mut out)?;
    assert_eq!(w, 40);
    let mut resp = out;
    if let Some(b) = resp.get_mut(w.saturating_sub(1)) {
        *b ^= 0x80;
    }
    let mut plain = [0u8; 64];
    let r = host.unwrap_response(
        resp.get(..w).ok_or(ScpError::WrongLength)?,
        0x9000,
        &mut plain,
    );
    assert_eq!(r, Err(ScpError::BadMac));
    assert!(!host.is_open());
    let mut apdu2 = [0u8; 64];
    let r = host.wrap_command([0x80, 0xCA, 0x00, 0x66], &[], None, &mut apdu2);
    assert_eq!(r, Err(ScpError::NotAuthenticated));
    // second EXTERNAL AUTHENTICATE is refused and terminates the session
    assert_eq!(
        card.external_authenticate([0x84, 0x82, 0x33, 0x00], &[0; 16]),
        Err(ScpError::BadState)
    );
    assert_eq!(card.level(), None);
    assert_eq!(
        card.unwrap_command(hdr, ext, data, &mut out),
        Err(ScpError::NotAuthenticated)
    );
    Ok(())
}

#[test]
fn bad_external_authenticate() -> Result<(), ScpError> {
    let keys = StaticKeys::default_test_keys();
    let resp = CardChannel::initialize(&keys, &HOST_CHALLENGE, SEQ, &AID, &DIV).1;
    let (_, ea) = HostChannel::open(&keys, &HOST_CHALLENGE, &resp, level(0x13)?)?;
    let (hdr, rest) = ea.split_first_chunk::<4>().ok_or(ScpError::WrongLength)?;
    let data = rest.get(1..).ok_or(ScpError::WrongLength)?;
    for (i, expect) in [(0usize, ScpError::BadCryptogram), (8, ScpError::BadMac)] {
        let mut d = [0u8; 16];
        d.copy_from_slice(data);
        if let Some(b) = d.get_mut(i) {
            *b ^= 1;
        }
        let mut card = CardChannel::initialize(&keys, &HOST_CHALLENGE, SEQ, &AID, &DIV).0;
        assert_eq!(card.external_authenticate(*hdr, &d), Err(expect));
        // no second try on the same challenge
        assert_eq!(
            card.external_authenticate(*hdr, data),
            Err(ScpError::BadState)
        );
    }
    let mut card = CardChannel::initialize(&keys, &HOST_CHALLENGE, SEQ, &AID, &DIV).0;
    let e = card.external_authenticate([0x84, 0x82, 0x33, 0x00], data);
    assert_eq!(e, Err(ScpError::BadMac));
    let mut card = CardChannel::initialize(&keys, &HOST_CHALLENGE, SEQ, &AID, &DIV).0;
    assert_eq!(
        card.external_authenticate([0x84, 0x82, 0x02, 0x00], data),
        Err(ScpError::BadLevel)
    );
    let mut card = CardChannel::initialize(&keys, &HOST_CHALLENGE, SEQ, &AID, &DIV).0;
    let short = data.get(..15).ok_or(ScpError::WrongLength)?;
    assert_eq!(
        card.external_authenticate(*hdr, short),
        Err(ScpError::WrongLength)
    );
    let mut card = CardChannel::initialize(&keys, &HOST_CHALLENGE, SEQ, &AID, &DIV).0;
    assert_eq!(card.external_authenticate(*hdr, data), Ok(level(0x13)?));
    Ok(())
}

#[test]
fn static_keys_encoding_and_debug() {
    let keys = StaticKeys::default_test_keys();
    let bytes = keys.to_bytes();
    assert_eq!(bytes.first(), Some(&DEFAULT_KVN));
    assert_eq!(StaticKeys::from_bytes(&bytes), Some(keys.clone()));
    assert_eq!(StaticKeys::from_bytes(bytes.get(..48).unwrap_or(&[])), None);
    let mut text = Buf::default();
    let _ = core::fmt::write(&mut text, format_args!("{keys:?}"));
    assert!(!text.contains(b"64"));
    assert!(text.contains(b"***"));
    let sk = crypto::derive_session_keys(&keys, &[0; 8], &[0; 8]);
    let mut text = Buf::default();
    let _ = core::fmt::write(&mut text, format_args!("{sk:?}"));
    assert!(text.contains(b"***"));
}

#[test]
fn security_levels() {
    for b in 0u8..=255 {
        let ok = matches!(b, 0x01 | 0x03 | 0x11 | 0x13 | 0x33);
        assert_eq!(SecurityLevel::from_byte(b).is_some(), ok);
    }
    assert!(sw_is_protected(0x9000) && sw_is_protected(0x6310) && sw_is_protected(0x6283));
    assert!(!sw_is_protected(0x6A82) && !sw_is_protected(0x9001));
}

/// Tiny fixed-capacity `fmt::Write` sink (no alloc).
struct Buf {
    data: [u8; 256],
    len: usize,
}

impl Default for Buf {
    fn default() -> Self {
        Self {
            data: [0; 256],
            len: 0,
        }
    }
}

impl Buf {
    fn contains(&self, needle: &[u8]) -> bool {
        self.data
            .get(..self.len)
            .is_some_and(|h| h.windows(needle.len()).any(|w| w == needle))
    }
}

impl core::fmt::Write for Buf {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let dst = self.data.get_mut(self.len..).ok_or(core::fmt::Error)?;
        let n = write_parts(dst, &[s.as_bytes()]);
        self.len += n;
        if n == s.len() {
            Ok(())
        } else {
            Err(core::fmt::Error)
        }
    }
}
