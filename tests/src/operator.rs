//! An SCP03 operator session and the standard test personalisation, over
//! any transmit function (in-process card, fake vpcd, PC/SC). Shared by the
//! vcard tests (included by path) and the end-to-end tests.

use asan_applet::scp03::host::HostChannel;
use asan_applet::scp03::{SecurityLevel, StaticKeys};
use asan_applet::{PinBlock, PinRef};

/// Transmit one C-APDU, get the R-APDU with its SW.
pub type Tx<'a> = dyn FnMut(&[u8]) -> std::io::Result<Vec<u8>> + 'a;

/// The test PINs.
pub const PIN1: &[u8] = b"1234";
/// The test PIN2.
pub const PIN2: &[u8] = b"12345";
/// The test PUK.
pub const PUK: &[u8] = b"12345678";

/// The status word of an R-APDU.
pub fn status(rapdu: &[u8]) -> u16 {
    match rapdu {
        [.., a, b] => u16::from_be_bytes([*a, *b]),
        _ => 0,
    }
}

/// A PIN block for `digits`.
pub fn block(pin: PinRef, digits: &[u8]) -> Vec<u8> {
    PinBlock::from_digits(pin, digits)
        .map(|b| b.as_bytes().to_vec())
        .unwrap_or_default()
}

/// Sends and follows `61xx` with GET RESPONSE.
pub fn send_all(tx: &mut Tx<'_>, capdu: &[u8]) -> std::io::Result<(Vec<u8>, u16)> {
    let r = tx(capdu)?;
    let mut sw = status(&r);
    let mut data = r.get(..r.len().saturating_sub(2)).unwrap_or(&[]).to_vec();
    while sw & 0xFF00 == 0x6100 {
        let r = tx(&[0x00, 0xC0, 0x00, 0x00, sw as u8])?;
        sw = status(&r);
        data.extend_from_slice(r.get(..r.len().saturating_sub(2)).unwrap_or(&[]));
    }
    Ok((data, sw))
}

fn fail(what: &str) -> std::io::Error {
    std::io::Error::other(what.to_owned())
}

/// An operator session over SCP03 with the default test keys.
pub struct Operator {
    channel: HostChannel,
}

impl Operator {
    /// Opens the channel at `level`.
    pub fn open(tx: &mut Tx<'_>, level: u8) -> std::io::Result<Self> {
        let keys = StaticKeys::default_test_keys();
        let hc = [7u8; 8];
        let (resp, sw) = send_all(tx, &HostChannel::initialize_update_apdu(keys.kvn, &hc))?;
        if sw != 0x9000 {
            return Err(fail("INITIALIZE UPDATE refused"));
        }
        let level = SecurityLevel::from_byte(level).ok_or_else(|| fail("bad level"))?;
        let (channel, ext) =
            HostChannel::open(&keys, &hc, &resp, level).map_err(|_| fail("card cryptogram"))?;
        if status(&tx(&ext)?) != 0x9000 {
            return Err(fail("EXTERNAL AUTHENTICATE refused"));
        }
        Ok(Self { channel })
    }

    /// Sends one wrapped command (chained in 200-byte parts); returns plain data and SW.
    pub fn send(
        &mut self,
        tx: &mut Tx<'_>,
        header: [u8; 4],
        data: &[u8],
    ) -> std::io::Result<(Vec<u8>, u16)> {
        let parts: Vec<&[u8]> = if data.len() > 200 {
            data.chunks(200).collect()
        } else {
            vec![data]
        };
        let mut last = (Vec::new(), 0);
        for (i, part) in parts.iter().enumerate() {
            let more = i + 1 < parts.len();
            let mut hdr = header;
            if more {
                hdr[0] |= 0x10;
            }
            let mut buf = vec![0u8; 4400];
            let n = self
                .channel
                .wrap_command(hdr, part, Some(256), &mut buf)
                .map_err(|_| fail("wrap"))?;
            let (rdata, sw) = send_all(tx, buf.get(..n).unwrap_or(&[]))?;
            let mut plain = vec![0u8; 4400];
            let m = self
                .channel
                .unwrap_response(&rdata, sw, &mut plain)
                .map_err(|_| fail("R-MAC"))?;
            plain.truncate(m);
            last = (plain, sw);
        }
        Ok(last)
    }

    /// Sends and requires `9000`.
    pub fn ok(
        &mut self,
        tx: &mut Tx<'_>,
        header: [u8; 4],
        data: &[u8],
    ) -> std::io::Result<Vec<u8>> {
        match self.send(tx, header, data)? {
            (d, 0x9000) => Ok(d),
            (_, sw) => Err(fail(&format!(
                "operator command {header:02X?} answered {sw:04X}"
            ))),
        }
    }
}

/// Personalises a fresh card as a Citizen card with PINs 1234 / 12345 / 12345678
/// and keys 11 and 21.
pub fn personalise(tx: &mut Tx<'_>) -> std::io::Result<()> {
    let mut op = Operator::open(tx, 0x03)?;
    for (pin, digits) in [
        (PinRef::Pin1, PIN1),
        (PinRef::Pin2, PIN2),
        (PinRef::Puk, PUK),
    ] {
        op.ok(tx, [0x80, 0x2C, 0x02, pin.byte()], &block(pin, digits))?;
    }
    for key in [0x11, 0x21] {
        op.ok(tx, [0x80, 0x47, 0x80, key], &[])?;
    }
    op.ok(tx, [0x80, 0xDA, 0x00, 0x43], &[1, 1])?;
    op.ok(tx, [0x80, 0x44, 0x00, 0x00], &[])?;
    Ok(())
}

/// A DER-framed stand-in certificate of `len` (≥ 260) bytes filled with `fill`.
pub fn certificate(len: usize, fill: u8) -> Vec<u8> {
    let body = len - 4;
    let mut v = vec![0x30, 0x82, (body >> 8) as u8, body as u8];
    v.resize(len, fill);
    v
}
