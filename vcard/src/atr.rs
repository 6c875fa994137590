//! The virtual card's Answer To Reset.

use asan_applet::wire::HISTORICAL_MARKER;

/// Length of the ATR: TS, T0, TD1, eight historical bytes, TCK.
pub const ATR_LEN: usize = 3 + HISTORICAL_MARKER.len() + 1;

/// Builds the ATR: direct convention (`3B`), T0 announcing TD1 and eight
/// historical bytes, TD1 offering T=1 only, the historical bytes `ASANIMZA`,
/// and TCK (required when T=1 is offered) so that T0..TCK XOR to zero.
pub const fn atr() -> [u8; ATR_LEN] {
    let mut atr = [0u8; ATR_LEN];
    atr[0] = 0x3B; // TS: direct convention
    atr[1] = 0x80 | HISTORICAL_MARKER.len() as u8; // T0: TD1 present, K historical bytes
    atr[2] = 0x01; // TD1: no more interface bytes, protocol T=1
    let mut i = 0;
    while i < HISTORICAL_MARKER.len() {
        atr[3 + i] = HISTORICAL_MARKER[i];
        i += 1;
    }
    let mut tck = 0u8;
    let mut j = 1;
    while j < ATR_LEN - 1 {
        tck ^= atr[j];
        j += 1;
    }
    atr[ATR_LEN - 1] = tck;
    atr
}

/// The ATR.
pub const ATR: [u8; ATR_LEN] = atr();

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atr_is_well_formed() {
        assert_eq!(ATR[0], 0x3B);
        // T0: Y1 = 8 (TD1 only), K = 8.
        assert_eq!(ATR[1], 0x88);
        // TD1: T=1, no further interface bytes.
        assert_eq!(ATR[2] & 0x0F, 1);
        assert_eq!(ATR[2] >> 4, 0);
        assert_eq!(&ATR[3..11], b"ASANIMZA");
        // TCK: XOR of T0..TCK is zero.
        assert_eq!(ATR[1..].iter().fold(0u8, |a, b| a ^ b), 0);
        assert_eq!(hex::encode_upper(ATR), "3B88014153414E494D5A418B");
    }
}
