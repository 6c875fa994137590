//! C-APDU framing: header, class, Lc/Le (short and extended, parsed with the
//! `iso7816` crate), before any command-specific meaning.

use iso7816::command::CommandView;

use crate::wire::{Status, cla};

/// What the class byte says about the command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClassKind {
    /// `00` / `10`: interindustry, plain.
    Iso,
    /// `80` / `90`: GlobalPlatform, plain (INITIALIZE UPDATE).
    Gp,
    /// `84` / `94`: GlobalPlatform with SCP03 secure messaging.
    GpSecure,
}

/// A framed C-APDU.
#[derive(Clone, Copy, Debug)]
pub struct Apdu<'a> {
    /// Raw class byte.
    pub cla: u8,
    /// Kind of class.
    pub kind: ClassKind,
    /// Whether the chaining bit is set (more parts follow).
    pub chained: bool,
    /// Instruction.
    pub ins: u8,
    /// Parameter 1.
    pub p1: u8,
    /// Parameter 2.
    pub p2: u8,
    /// Command data.
    pub data: &'a [u8],
    /// Ne: 0 when Le is absent, 256 for short `00`, 65536 for extended `0000`.
    pub ne: usize,
    /// Whether Lc/Le were extended-length encoded.
    pub extended: bool,
}

impl<'a> Apdu<'a> {
    /// Frames `bytes`; the error is the status word to answer.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Status> {
        let (&cla_byte, _) = bytes.split_first().ok_or(Status::WrongLength)?;
        let kind = classify(cla_byte)?;
        let view = CommandView::try_from(bytes).map_err(|_| Status::WrongLength)?;
        let [_, ins, p1, p2] = header(bytes).ok_or(Status::WrongLength)?;
        Ok(Self {
            cla: cla_byte,
            kind,
            chained: cla_byte & cla::CHAIN != 0,
            ins,
            p1,
            p2,
            data: view.data(),
            ne: view.expected(),
            extended: view.extended,
        })
    }

    /// The four header bytes as received.
    pub fn header(&self) -> [u8; 4] {
        [self.cla, self.ins, self.p1, self.p2]
    }

    /// Whether Le was present.
    pub fn has_le(&self) -> bool {
        self.ne != 0
    }
}

fn header(bytes: &[u8]) -> Option<[u8; 4]> {
    bytes.get(..4)?.try_into().ok()
}

/// Checks the class byte: only logical channel 0, no ISO secure messaging,
/// classes `00 10 80 84 90 94`.
pub fn classify(cla_byte: u8) -> Result<ClassKind, Status> {
    let logical_channel = match cla_byte {
        0x00..=0x1F | 0x80..=0xFE => cla_byte & cla::CHANNEL_MASK != 0,
        0x40..=0x7F => true,
        _ => false,
    };
    if logical_channel {
        return Err(Status::LogicalChannelNotSupported);
    }
    match cla_byte & !cla::CHAIN {
        cla::ISO => Ok(ClassKind::Iso),
        cla::GP => Ok(ClassKind::Gp),
        cla::GP_SECURE => Ok(ClassKind::GpSecure),
        _ => Err(Status::ClassNotSupported),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths() {
        let a = Apdu::parse(&[0, 0xB0, 0, 0, 0]).ok();
        assert_eq!(a.map(|a| (a.ne, a.extended)), Some((256, false)));
        let a = Apdu::parse(&[0, 0xB0, 0, 0, 0, 0, 0]).ok();
        assert_eq!(a.map(|a| (a.ne, a.extended)), Some((65536, true)));
        let a = Apdu::parse(&[0, 0x20, 0, 0x81]).ok();
        assert_eq!(a.map(|a| (a.ne, a.data.len())), Some((0, 0)));
        let a = Apdu::parse(&[0x10, 0x20, 0, 0x81, 2, 1, 2]).ok();
        assert_eq!(a.map(|a| (a.chained, a.data)), Some((true, &[1u8, 2][..])));
        assert_eq!(Apdu::parse(&[0, 0x20, 0]).err(), Some(Status::WrongLength));
        assert_eq!(
            Apdu::parse(&[0, 0x20, 0, 0x81, 5, 1]).err(),
            Some(Status::WrongLength)
        );
        assert_eq!(Apdu::parse(&[]).err(), Some(Status::WrongLength));
    }

    #[test]
    fn classes() {
        for ok in [0x00, 0x10, 0x80, 0x84, 0x90, 0x94] {
            assert!(classify(ok).is_ok(), "{ok:02X}");
        }
        for ch in [0x01, 0x02, 0x03, 0x41, 0x60, 0x81, 0x87] {
            assert_eq!(classify(ch), Err(Status::LogicalChannelNotSupported));
        }
        for bad in [0x0C, 0x08, 0x20, 0xA0, 0xFF, 0xC0, 0x88] {
            assert_eq!(classify(bad), Err(Status::ClassNotSupported), "{bad:02X}");
        }
    }
}
