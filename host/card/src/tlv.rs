//! A small BER-TLV reader for the card's answers (one- or two-byte tags,
//! lengths up to `82 xx xx`), refusing anything truncated or overlong.

use crate::error::{Error, Result};

/// One TLV: tag (one or two bytes) and value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// The tag, `0x7F49` for two-byte tags.
    pub tag: u16,
    /// The value.
    pub value: &'a [u8],
}

fn bad(what: &str) -> Error {
    Error::InvalidResponse(format!("malformed TLV: {what}"))
}

/// Reads one TLV from the front of `data`; returns it and the rest.
pub fn read(data: &[u8]) -> Result<(Tlv<'_>, &[u8])> {
    let (&t0, rest) = data.split_first().ok_or_else(|| bad("empty"))?;
    let (tag, rest) = if t0 & 0x1F == 0x1F {
        let (&t1, rest) = rest.split_first().ok_or_else(|| bad("truncated tag"))?;
        (u16::from_be_bytes([t0, t1]), rest)
    } else {
        (u16::from(t0), rest)
    };
    let (&l0, rest) = rest.split_first().ok_or_else(|| bad("missing length"))?;
    let (len, rest) = match l0 {
        0..=0x7F => (usize::from(l0), rest),
        0x81 => {
            let (&l, rest) = rest.split_first().ok_or_else(|| bad("truncated length"))?;
            (usize::from(l), rest)
        }
        0x82 => {
            let (l, rest) = rest
                .split_first_chunk::<2>()
                .ok_or_else(|| bad("truncated length"))?;
            (usize::from(u16::from_be_bytes(*l)), rest)
        }
        _ => return Err(bad("unsupported length form")),
    };
    let (value, rest) = rest
        .split_at_checked(len)
        .ok_or_else(|| bad(&format!("value of {len} bytes, {} present", rest.len())))?;
    Ok((Tlv { tag, value }, rest))
}

/// Reads exactly one TLV that must fill `data` and carry `tag`.
pub fn expect(data: &[u8], tag: u16) -> Result<&[u8]> {
    let (tlv, rest) = read(data)?;
    if tlv.tag != tag {
        return Err(bad(&format!("tag {:02X}, expected {tag:02X}", tlv.tag)));
    }
    if !rest.is_empty() {
        return Err(bad(&format!("{} bytes after the object", rest.len())));
    }
    Ok(tlv.value)
}

/// All TLVs of `data`, in order.
pub fn all(mut data: &[u8]) -> Result<Vec<Tlv<'_>>> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let (tlv, rest) = read(data)?;
        out.push(tlv);
        data = rest;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_refuses() {
        let (t, rest) = read(&[0x7F, 0x49, 0x02, 0x86, 0x00, 0xAA])
            .ok()
            .unwrap_or((Tlv { tag: 0, value: &[] }, &[]));
        assert_eq!(
            (t.tag, t.value, rest),
            (0x7F49, &[0x86, 0x00][..], &[0xAA][..])
        );
        assert!(read(&[0xC1, 0x05, 1, 2]).is_err());
        assert!(read(&[0xC1]).is_err());
        assert!(read(&[0xC1, 0x83, 0, 0, 1]).is_err());
        assert!(read(&[0x7F]).is_err());
        assert!(expect(&[0xC2, 1, 5, 0], 0xC2).is_err());
        assert_eq!(expect(&[0xC2, 0x81, 1, 5], 0xC2).ok(), Some(&[5u8][..]));
        assert_eq!(all(&[0xC0, 0, 0xC1, 1, 9]).map(|v| v.len()).ok(), Some(2));
    }
}
