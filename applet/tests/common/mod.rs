//! Shared helpers of the applet's integration tests: a card on a `MemStore`
//! with a seeded CSPRNG, and an operator that talks SCP03 to it.
#![allow(dead_code)]

use asan_applet::scp03::host::HostChannel;
use asan_applet::scp03::{SecurityLevel, StaticKeys};
use asan_applet::{Applet, MemStore, PinBlock, PinRef, ServiceType};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;

pub type Card = Applet<MemStore, ChaCha20Rng>;

pub const PIN1: &[u8] = b"1234";
pub const PIN2: &[u8] = b"12345";
pub const PUK: &[u8] = b"12345678";
pub const SELECT: &str = "00A4040C0AF04153414E494D5A4101";

pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

pub fn fresh() -> Card {
    Applet::new(MemStore::new(), rng(1)).expect("fresh card")
}

/// Reloads the card from its store after a power cut, as a real card powers up.
pub fn power_cycle(card: Card, seed: u64) -> Card {
    let mut store = card.into_store();
    store.power_cycle().expect("recovery");
    Applet::new(store, rng(seed)).expect("card after power cycle")
}

pub fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).expect("hex")
}

/// Sends raw bytes, returns (data, sw).
pub fn tx(card: &mut Card, capdu: &[u8]) -> (Vec<u8>, u16) {
    let r = card.process(capdu);
    (r.data.to_vec(), r.sw())
}

/// Sends raw bytes and follows `61xx` with GET RESPONSE; returns all data and the final SW.
pub fn tx_all(card: &mut Card, capdu: &[u8]) -> (Vec<u8>, u16) {
    let (mut data, mut sw) = tx(card, capdu);
    while sw & 0xFF00 == 0x6100 {
        let (more, next) = tx(card, &[0x00, 0xC0, 0x00, 0x00, sw as u8]);
        data.extend(more);
        sw = next;
    }
    (data, sw)
}

/// Sends hex, returns (data, sw).
pub fn txh(card: &mut Card, capdu: &str) -> (Vec<u8>, u16) {
    tx(card, &h(capdu))
}

/// Sends hex and expects `sw`; returns the data.
pub fn expect(card: &mut Card, capdu: &str, sw: u16) -> Vec<u8> {
    let (data, got) = txh(card, capdu);
    assert_eq!(got, sw, "{capdu}: got {got:04X}, want {sw:04X}");
    data
}

pub fn block(pin: PinRef, digits: &[u8]) -> Vec<u8> {
    PinBlock::from_digits(pin, digits)
        .expect("valid pin")
        .as_bytes()
        .to_vec()
}

/// Builds a short (or extended, when needed) APDU.
pub fn apdu(header: [u8; 4], data: &[u8], le: Option<usize>) -> Vec<u8> {
    let mut v = header.to_vec();
    let extended = data.len() > 255 || le.is_some_and(|l| l > 256);
    if !data.is_empty() {
        if extended {
            v.extend([0, (data.len() >> 8) as u8, data.len() as u8]);
        } else {
            v.push(data.len() as u8);
        }
        v.extend(data);
    }
    if let Some(le) = le {
        if extended {
            if data.is_empty() {
                v.push(0);
            }
            v.extend([(le >> 8) as u8, le as u8]);
        } else {
            v.push(le as u8);
        }
    }
    v
}

pub fn verify(card: &mut Card, pin: PinRef, digits: &[u8]) -> u16 {
    tx(
        card,
        &apdu([0, 0x20, 0, pin.byte()], &block(pin, digits), None),
    )
    .1
}

/// An operator session over SCP03.
pub struct Operator {
    pub channel: HostChannel,
}

impl Operator {
    pub fn open(card: &mut Card, level: u8) -> Self {
        Self::open_with(card, level, &StaticKeys::default_test_keys())
    }

    pub fn open_with(card: &mut Card, level: u8, keys: &StaticKeys) -> Self {
        let host_challenge = [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88];
        let init = HostChannel::initialize_update_apdu(keys.kvn, &host_challenge);
        let (resp, sw) = tx(card, &init);
        assert_eq!(sw, 0x9000, "INITIALIZE UPDATE");
        let level = SecurityLevel::from_byte(level).expect("level");
        let (channel, ext) =
            HostChannel::open(keys, &host_challenge, &resp, level).expect("card cryptogram");
        let (_, sw) = tx(card, &ext);
        assert_eq!(sw, 0x9000, "EXTERNAL AUTHENTICATE");
        Self { channel }
    }

    /// Sends one wrapped command (chained into 255-byte parts when long); returns plain data and SW.
    pub fn send(
        &mut self,
        card: &mut Card,
        header: [u8; 4],
        data: &[u8],
        le: Option<usize>,
    ) -> (Vec<u8>, u16) {
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
            let mut buf = vec![0u8; 4200];
            let n = self
                .channel
                .wrap_command(hdr, part, if more { None } else { le }, &mut buf)
                .expect("wrap");
            let (rdata, sw) = tx_all(card, &buf[..n]);
            let mut plain = vec![0u8; 4200];
            let m = self
                .channel
                .unwrap_response(&rdata, sw, &mut plain)
                .expect("unwrap");
            plain.truncate(m);
            last = (plain, sw);
            if more && sw != 0x9000 {
                return last;
            }
        }
        last
    }

    pub fn ok(&mut self, card: &mut Card, header: [u8; 4], data: &[u8]) -> Vec<u8> {
        let (d, sw) = self.send(card, header, data, Some(256));
        assert_eq!(
            sw, 0x9000,
            "operator command {header:02X?} answered {sw:04X}"
        );
        d
    }

    pub fn set_pin(&mut self, card: &mut Card, pin: PinRef, digits: &[u8]) {
        self.ok(card, [0x80, 0x2C, 0x02, pin.byte()], &block(pin, digits));
    }

    pub fn generate(&mut self, card: &mut Card, key: u8) -> Vec<u8> {
        self.ok(card, [0x80, 0x47, 0x80, key], &[])
    }
}

/// A minimal well-framed DER SEQUENCE of `len` bytes in total, standing in for a certificate.
pub fn fake_certificate(len: usize, fill: u8) -> Vec<u8> {
    assert!(
        !(130..260).contains(&len),
        "length not supported by this helper"
    );
    let mut v = if len < 130 {
        vec![0x30, (len - 2) as u8]
    } else {
        let body = len - 4;
        vec![0x30, 0x82, (body >> 8) as u8, body as u8]
    };
    v.resize(len, fill);
    v
}

/// Personalises a fresh card: PINs 1234 / 12345 / 12345678, keys of every
/// profile the service allows, certificates, service active, activated.
pub fn personalise(card: &mut Card, service: ServiceType) {
    let mut op = Operator::open(card, 0x33);
    op.set_pin(card, PinRef::Pin1, PIN1);
    op.set_pin(card, PinRef::Pin2, PIN2);
    op.set_pin(card, PinRef::Puk, PUK);
    let profiles: &[u8] = match service {
        ServiceType::Citizen => &[1],
        ServiceType::Business => &[1, 2],
        ServiceType::Governmental => &[1, 3],
    };
    for p in profiles {
        for usage in [0x10, 0x20] {
            op.generate(card, usage | p);
            let cert = fake_certificate(600, *p);
            op.ok(card, [0x80, 0xDA, 0xA0 | p, usage >> 4], &cert);
        }
    }
    op.ok(card, [0x80, 0xDA, 0x00, 0x43], &[service as u8, 1]);
    op.ok(card, [0x80, 0x44, 0x00, 0x00], &[]);
    expect(card, SELECT, 0x9000);
}

/// A personalised Business card (built once per test binary, then loaded
/// from its image).
pub fn operational() -> Card {
    static IMAGE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    let image = IMAGE.get_or_init(|| {
        let mut card = fresh();
        personalise(&mut card, ServiceType::Business);
        card.store().image().to_vec()
    });
    Applet::new(MemStore::from_image(image).expect("image"), rng(2)).expect("card")
}
