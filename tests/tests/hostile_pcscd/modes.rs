//! How the hostile card answers: the modes, the answers of a card that
//! works (the baseline every mode spoils its own way), and the responder
//! that picks each C-APDU's reply.

use p256::ecdsa::signature::hazmat::PrehashSigner;
use p256::ecdsa::{Signature, SigningKey};

use crate::h;

/// SELECT of the Asan İmza applet by its AID, as `asan` sends it.
const SELECT_AID: &str = "00A404000AF04153414E494D5A4101";
/// GET DATA `6E` of an operational Citizen card whose signing key `21`
/// has a 417-byte certificate (protocol.md, section 4).
const INFO: &str = "6E44 C003000101 C1089A3744504560639E C20105 C3020101 \
                    C40C 81030301 82030301 830A0A01 \
                    C518 11010000 12000000 13000000 210101A1 22000000 23000000 \
                    C60430000001";
/// GET DATA `C4`: all PINs set, all tries left.
const PIN_STATUS: &str = "C40C 81030301 82030301 830A0A01";
/// A real self-signed P-256 X.509 certificate (CN=Asan Test, O=Test), 417
/// bytes of DER (the fixture of host/tests/common).
const CERTIFICATE: &str = concat!(
    "3082019d30820143a00302010202145b9d25dac43f81682f396f056583cbfde38e4eeb300a06082a8648ce3d04030230",
    "233112301006035504030c094173616e2054657374310d300b060355040a0c04546573743020170d3236313132323138",
    "353531355a180f32313236313032393138353531355a30233112301006035504030c094173616e2054657374310d300b",
    "060355040a0c04546573743059301306072a8648ce3d020106082a8648ce3d03010703420004acaa547a51e91c556950",
    "5413afb4db8ae76280e11781c4b54d0f03cb2319fae777853fd8d80b2222434d822ea3f4fdef74afdb43f3bc9b64b508",
    "dc94f5c97d06a3533051301d0603551d0e0416041450933279ce542d938efe7322e105589409dbc727301f0603551d23",
    "04183016801450933279ce542d938efe7322e105589409dbc727300f0603551d130101ff040530030101ff300a06082a",
    "8648ce3d0403020348003045022100aafeb5cd67f746704eb4f932acf8d535a8c422cb2952c54200ab7aa769c32adb02",
    "202d2d9005384244d903984ff7311dc039e9dc5d9b3068f3b2a49de328ae427668",
);

fn with_sw(data: &[u8], sw: u16) -> Vec<u8> {
    [data, &sw.to_be_bytes()].concat()
}

/// How the hostile card answers everything but SELECT of the applet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Correct answers (a fake card without crypto): the baseline.
    Honest,
    /// Random bytes, random status word (seeded by the command).
    Garbage,
    /// Random data followed by `9000`.
    GarbageOk,
    /// A 0-byte answer. vpcd reads it with `recv(…, 0, MSG_WAITALL)`,
    /// which waits for a byte: to the host it is silence.
    Empty,
    /// A 1-byte answer.
    OneByte,
    /// The correct answer with half its data cut off (SW kept); answers
    /// without data stay correct ([`Mode::OneByte`] cuts those).
    Truncated,
    /// `size` bytes of data with `9000` instead of every answer that
    /// carries data, or (`everywhere`) instead of every answer.
    Oversized { size: usize, everywhere: bool },
    /// 255 bytes and `61FF` to every command and every GET RESPONSE.
    MoreForever,
    /// `6100` without data to every command and every GET RESPONSE.
    MoreNothingForever,
    /// The correct answer of another command.
    OutOfOrder,
    /// The correct answer of the previous command (SELECT's `9000` first).
    Lagging,
    /// `6Cxx` to every command, a different xx each time.
    LeLoop,
    /// VERIFY: `63C2`; everything else correct.
    WrongPin,
    /// VERIFY: `6983`; everything else correct.
    Blocked,
    /// SELECT of the applet: garbage.
    SelectGarbage,
    /// SELECT of the applet: data and `9000`.
    SelectWithData,
    /// Every command after SELECT is read and never answered.
    SilentAfterSelect,
    /// The first APDU (the SELECT by which `asan` looks for the applet) is
    /// read and never answered.
    SilentFromStart,
    /// The socket is closed when the (n+1)-th command after the last
    /// SELECT of the applet arrives (read, never answered).
    Disconnect(usize),
    /// The n-th command after the last SELECT of the applet is answered
    /// correctly, then the socket is closed (the card is pulled between
    /// two commands).
    GoneAfterAnswer(usize),
}

/// What the card does with one C-APDU.
#[derive(Debug)]
pub enum Reply {
    Bytes(Vec<u8>),
    BytesThenClose(Vec<u8>),
    Silence,
    Close,
}

fn is_select_aid(capdu: &[u8]) -> bool {
    capdu.starts_with(&h(SELECT_AID))
}

/// Le of a READ BINARY: short (`00` = 256) or extended (`0000` = 65536).
fn read_binary_le(rest: &[u8]) -> usize {
    match rest {
        [] => 0,
        [0] => 256,
        [n] => usize::from(*n),
        [0, 0, 0] => 65_536,
        [0, a, b] => usize::from(u16::from_be_bytes([*a, *b])),
        _ => 256,
    }
}

/// The key of the honest card's signatures (all profiles, both usages):
/// through PC/SC `asan` checks each signature against the key's public key.
fn key() -> SigningKey {
    SigningKey::from_bytes(&[0x17; 32].into()).unwrap()
}

/// GET PUBLIC KEY's answer: `7F49 { 86 41 04 X Y }`.
fn public_key() -> Vec<u8> {
    let point = key().verifying_key().to_sec1_point(false);
    let point = point.as_bytes();
    let inner = [&[0x86, 0x41][..], point].concat();
    [&[0x7F, 0x49, 0x43][..], &inner].concat()
}

/// The signature `r || s` of the digest in a PSO or INTERNAL AUTHENTICATE
/// (its data field); 64 bytes of something for a command without one.
fn signature_of(capdu: &[u8]) -> Vec<u8> {
    match capdu {
        [_, _, _, _, lc, data @ ..] if data.len() > usize::from(*lc) => {
            let s: Signature = key().sign_prehash(&data[..usize::from(*lc)]).unwrap();
            s.to_bytes().to_vec()
        }
        _ => signature(),
    }
}

/// The honest card's signature of `digest`, hex (RFC 6979: one value).
pub fn honest_signature(digest: &[u8]) -> String {
    let s: Signature = key().sign_prehash(digest).unwrap();
    hex::encode(s.to_bytes())
}

/// 64 bytes standing in for a signature `r || s` (in wrong places).
fn signature() -> Vec<u8> {
    (1..=64).collect()
}

/// The answers of a card that works.
fn honest(capdu: &[u8]) -> Vec<u8> {
    let cert = h(CERTIFICATE);
    if is_select_aid(capdu) {
        // The FCI of a card of contract 1.0: signatures are VERIFY + PSO.
        return h("6F16 840AF04153414E494D5A4101 A508 C003000101 C20105 9000");
    }
    match capdu {
        [0x00, 0xA4, 0x04, ..] => h("6A82"),
        [0x00, 0xCA, 0x00, 0x6E, ..] => with_sw(&h(INFO), 0x9000),
        [0x00, 0xCA, 0x00, 0xC4, ..] => with_sw(&h(PIN_STATUS), 0x9000),
        [0x00, 0x20, 0x00, 0x81..=0x83] => h("63C3"),
        [0x00, 0x20, 0x00, 0x81..=0x83, _, ..] => h("9000"),
        [0x00, 0x88, 0x00, 0x00, ..] | [0x00, 0x2A, 0x9E, 0x9A, ..] => {
            with_sw(&signature_of(capdu), 0x9000)
        }
        [0x00, 0x47, 0x81, ..] => with_sw(&public_key(), 0x9000),
        [0x00, 0x22, 0x41, ..] => h("9000"),
        [0x00, 0xA4, 0x02, 0x0C, 0x02, 0xA1, 0x02] => h("9000"),
        [0x00, 0xA4, 0x02, ..] => h("6A82"),
        [0x00, 0xB0, hi, lo, rest @ ..] => {
            let offset = usize::from(u16::from_be_bytes([*hi, *lo]));
            if offset >= cert.len() {
                return h("6B00");
            }
            let end = cert.len().min(offset + read_binary_le(rest));
            with_sw(&cert[offset..end], 0x9000)
        }
        [_, 0xC0, ..] => h("6985"),
        _ => h("6D00"),
    }
}

/// The correct answer of some other command than `capdu`.
fn another_commands_answer(capdu: &[u8]) -> Vec<u8> {
    match capdu {
        [0x00, 0xCA, 0x00, 0x6E, ..] | [0x00, 0xB0, ..] => with_sw(&h(PIN_STATUS), 0x9000),
        [0x00, 0xCA, 0x00, 0xC4, ..]
        | [0x00, 0x88, ..]
        | [0x00, 0x2A, ..]
        | [0x00, 0xA4, 0x02, ..]
        | [0x00, 0x47, ..] => with_sw(&h(INFO), 0x9000),
        [0x00, 0x20, ..] => with_sw(&signature(), 0x9000),
        _ => honest(capdu),
    }
}

/// Deterministic random bytes (xorshift), seeded by the command.
fn garbage(capdu: &[u8], min: usize, max: usize) -> Vec<u8> {
    let mut x: u64 = 0xCBF2_9CE4_8422_2325;
    for b in capdu {
        x = (x ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01B3);
    }
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let len = min + (next() as usize) % (max - min + 1);
    (0..len).map(|_| next() as u8).collect()
}

/// The state of one connection to vpcd.
pub struct Responder {
    mode: Mode,
    /// Commands since the last SELECT of the applet.
    since_select: usize,
    /// The answer before this one (for [`Mode::Lagging`]).
    pub previous: Vec<u8>,
    /// `6Cxx` answers so far.
    le_counter: u8,
}

impl Responder {
    pub fn new(mode: Mode) -> Self {
        Self {
            mode,
            since_select: 0,
            previous: h("9000"),
            le_counter: 0x10,
        }
    }

    pub fn reply(&mut self, capdu: &[u8]) -> Reply {
        let select = is_select_aid(capdu);
        if select {
            self.since_select = 0;
        } else {
            self.since_select += 1;
        }
        let correct = honest(capdu);
        let bytes = match self.mode {
            Mode::SilentFromStart => return Reply::Silence,
            Mode::SelectGarbage if select => garbage(capdu, 2, 40),
            Mode::SelectWithData if select => h("6F08 8406 F04153414E49 9000"),
            _ if select => correct.clone(),
            Mode::Honest | Mode::SelectGarbage | Mode::SelectWithData => correct.clone(),
            Mode::Garbage => garbage(capdu, 2, 300),
            Mode::GarbageOk => {
                let mut data = garbage(capdu, 1, 300);
                if data.len() == 64 {
                    data.push(0);
                }
                with_sw(&data, 0x9000)
            }
            Mode::Empty => Vec::new(),
            Mode::OneByte => vec![0x90],
            Mode::Truncated => match correct.len() {
                0..=2 => correct.clone(),
                n => {
                    let data = &correct[..n - 2];
                    [&data[..data.len() / 2], &correct[n - 2..]].concat()
                }
            },
            Mode::Oversized { size, everywhere } if everywhere || correct.len() > 2 => {
                let mut data = h("3082FFF0");
                data.resize(size, 0xAB);
                with_sw(&data, 0x9000)
            }
            Mode::Oversized { .. } => correct.clone(),
            Mode::MoreForever => with_sw(&[0xA5; 255], 0x61FF),
            Mode::MoreNothingForever => h("6100"),
            Mode::OutOfOrder => another_commands_answer(capdu),
            Mode::Lagging => self.previous.clone(),
            Mode::LeLoop => {
                self.le_counter = self.le_counter.wrapping_add(0x11).max(1);
                vec![0x6C, self.le_counter]
            }
            Mode::WrongPin | Mode::Blocked => match capdu {
                [0x00, 0x20, 0x00, 0x81..=0x83, _, ..] if self.mode == Mode::WrongPin => h("63C2"),
                [0x00, 0x20, 0x00, 0x81..=0x83, ..] if self.mode == Mode::Blocked => h("6983"),
                _ => correct.clone(),
            },
            Mode::SilentAfterSelect => return Reply::Silence,
            Mode::Disconnect(after) if self.since_select > after => return Reply::Close,
            Mode::Disconnect(_) => correct.clone(),
            Mode::GoneAfterAnswer(n) if self.since_select == n => {
                self.previous = correct.clone();
                return Reply::BytesThenClose(correct);
            }
            Mode::GoneAfterAnswer(_) => correct.clone(),
        };
        self.previous = correct;
        Reply::Bytes(bytes)
    }
}
