//! The response buffer, and the `61xx` / GET RESPONSE delivery of long answers.

use crate::wire::{Status, limits::MAX_CERTIFICATE};

/// Capacity of a response: a whole certificate plus secure-messaging overhead.
pub const OUT_CAP: usize = MAX_CERTIFICATE + 64;

/// Response data being built, then delivered in parts of at most Ne bytes.
pub struct Out {
    buf: [u8; OUT_CAP],
    len: usize,
    /// How much has been delivered; `sent < len` means GET RESPONSE has more.
    sent: usize,
}

impl core::fmt::Debug for Out {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Out")
            .field("len", &self.len)
            .field("sent", &self.sent)
            .finish()
    }
}

impl Default for Out {
    fn default() -> Self {
        Self {
            buf: [0; OUT_CAP],
            len: 0,
            sent: 0,
        }
    }
}

impl Out {
    /// Drops any data, delivered or pending.
    pub fn clear(&mut self) {
        self.buf
            .get_mut(..self.len)
            .into_iter()
            .flatten()
            .for_each(|b| *b = 0);
        self.len = 0;
        self.sent = 0;
    }

    /// Appends bytes; a response that does not fit is a card error (`6F00`).
    pub fn extend(&mut self, data: &[u8]) -> Result<(), Status> {
        let end = self.len + data.len();
        let dst = self
            .buf
            .get_mut(self.len..end)
            .ok_or(Status::UnspecifiedCheckingError)?;
        dst.copy_from_slice(data);
        self.len = end;
        Ok(())
    }

    /// Appends a TLV with a one-byte tag and short or long-form length.
    pub fn tlv(&mut self, tag: &[u8], value: &[u8]) -> Result<(), Status> {
        self.extend(tag)?;
        self.length(value.len())?;
        self.extend(value)
    }

    /// Appends a BER length.
    pub fn length(&mut self, len: usize) -> Result<(), Status> {
        match len {
            0..=0x7F => self.extend(&[len as u8]),
            0x80..=0xFF => self.extend(&[0x81, len as u8]),
            _ => {
                let [hi, lo] = u16::try_from(len)
                    .map_err(|_| Status::UnspecifiedCheckingError)?
                    .to_be_bytes();
                self.extend(&[0x82, hi, lo])
            }
        }
    }

    /// Space to write into directly; commit with [`Out::advance`].
    pub fn spare(&mut self) -> &mut [u8] {
        self.buf.get_mut(self.len..).unwrap_or(&mut [])
    }

    /// Marks `n` bytes of [`Out::spare`] as written.
    pub fn advance(&mut self, n: usize) -> Result<(), Status> {
        if self.len + n > OUT_CAP {
            return Err(Status::UnspecifiedCheckingError);
        }
        self.len += n;
        Ok(())
    }

    /// The response built so far.
    pub fn data(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }

    /// Replaces the response with `data`.
    pub fn replace(&mut self, data: &[u8]) -> Result<(), Status> {
        self.clear();
        self.extend(data)
    }

    /// Whether GET RESPONSE has data to serve.
    pub fn pending(&self) -> bool {
        self.sent < self.len
    }

    /// Delivers the next part of at most `ne` bytes for a command that
    /// answered `status`. Long `9000` answers are served as `61xx` parts;
    /// other answers are delivered whole.
    pub fn deliver(&mut self, ne: usize, status: Status) -> (&[u8], Status) {
        let start = self.sent;
        let remaining = self.len.saturating_sub(start);
        let (n, status) = if status == Status::Success && remaining > ne {
            let left = remaining - ne;
            (ne, Status::MoreAvailable(left.min(256) as u8))
        } else {
            (remaining, status)
        };
        self.sent = start + n;
        (self.buf.get(start..start + n).unwrap_or(&[]), status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_answers_come_in_parts() {
        let mut out = Out::default();
        assert!(out.extend(&[7u8; 300]).is_ok());
        let (d, s) = out.deliver(0, Status::Success);
        assert_eq!((d.len(), s), (0, Status::MoreAvailable(0)));
        let (d, s) = out.deliver(256, Status::Success);
        assert_eq!((d.len(), s), (256, Status::MoreAvailable(44)));
        let (d, s) = out.deliver(256, Status::Success);
        assert_eq!((d.len(), s), (44, Status::Success));
        assert!(!out.pending());
    }

    #[test]
    fn lengths_and_overflow() {
        let mut out = Out::default();
        assert!(out.tlv(&[0x53], &[0; 200]).is_ok());
        assert_eq!(out.data().get(..3), Some(&[0x53, 0x81, 200][..]));
        out.clear();
        assert!(out.tlv(&[0x53], &[0; 300]).is_ok());
        assert_eq!(out.data().get(..4), Some(&[0x53, 0x82, 1, 44][..]));
        assert_eq!(
            out.extend(&[0; OUT_CAP]),
            Err(Status::UnspecifiedCheckingError)
        );
    }
}
