//! A card as the module sees it: its connection, serial, PIN counters and
//! the objects of its two tokens, read once when the card is first used
//! (one GET DATA, and per key its certificate or, without one, its public
//! key), and kept until the card leaves the reader.

use asan_applet::{CertificateProfile, KeyUsage, PinRef, ServiceType};
use asan_card::info::PinsInfo;
use asan_card::transport::Transport;
use asan_card::{AsanCard, Result};
use p256::PublicKey;
use p256::elliptic_curve::sec1::ToSec1Point;

use super::objects::{CertificateParts, KeyObject, Object};

/// Which of a card's two tokens: the PIN1 token holds the authentication
/// keys, the PIN2 token the signing keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// Slot `2·reader`: PIN1, authentication keys.
    Pin1,
    /// Slot `2·reader + 1`: PIN2, signing keys.
    Pin2,
}

impl TokenKind {
    /// The token of slot `slot`.
    pub fn of_slot(slot: usize) -> Self {
        if slot.is_multiple_of(2) {
            Self::Pin1
        } else {
            Self::Pin2
        }
    }

    /// Index 0 or 1.
    pub fn index(self) -> usize {
        match self {
            Self::Pin1 => 0,
            Self::Pin2 => 1,
        }
    }

    /// The token's user PIN.
    pub fn pin(self) -> PinRef {
        match self {
            Self::Pin1 => PinRef::Pin1,
            Self::Pin2 => PinRef::Pin2,
        }
    }

    /// The usage of the token's keys.
    pub fn usage(self) -> KeyUsage {
        match self {
            Self::Pin1 => KeyUsage::Authentication,
            Self::Pin2 => KeyUsage::Signing,
        }
    }
}

/// A card in a reader, with what was read from it.
pub struct LoadedCard<T: Transport> {
    /// The connection.
    pub card: AsanCard<T>,
    /// Card serial, 16 hex digits.
    pub serial: String,
    /// Applet version (major, minor).
    pub applet_version: (u8, u8),
    /// PIN counters, refreshed by `C_GetTokenInfo` and after every PIN use.
    pub pins: PinsInfo,
    /// The objects of the PIN1 and the PIN2 token.
    pub objects: [Vec<Object>; 2],
    /// Certificates that could not be read or parsed (key, cause): their
    /// keys are still shown, with the public key read from the card.
    pub broken: Vec<String>,
}

fn service_type(name: &str) -> Option<ServiceType> {
    match name {
        "citizen" => Some(ServiceType::Citizen),
        "business" => Some(ServiceType::Business),
        "government" => Some(ServiceType::Governmental),
        _ => None,
    }
}

fn uncompressed(key: &PublicKey) -> Vec<u8> {
    key.to_sec1_point(false).as_bytes().to_vec()
}

impl<T: Transport> LoadedCard<T> {
    /// Selects the applet on `transport` and reads the tokens' objects: the
    /// keys present for the profiles the card's service allows.
    pub fn load(transport: T) -> Result<Self> {
        let mut card = AsanCard::open(transport)?;
        let info = card.info()?;
        let service = info.service.as_ref().and_then(|s| service_type(s.kind));
        let allowed = |p: CertificateProfile| service.is_none_or(|s| s.allows(p));
        let mut objects = [vec![Object::Profile], vec![Object::Profile]];
        let mut broken = Vec::new();
        for k in info
            .keys
            .iter()
            .filter(|k| k.present && allowed(k.key.profile))
        {
            let mut certificate = None;
            if k.certificate_len > 0 {
                match card
                    .read_certificate_der(k.key)
                    .map_err(|e| e.to_string())
                    .and_then(CertificateParts::parse)
                {
                    Ok((parts, point)) => match PublicKey::from_sec1_bytes(&point) {
                        Ok(public) => certificate = Some((parts, public)),
                        Err(_) => broken.push(format!(
                            "{:02X}: the certificate's key is not a P-256 point",
                            k.key.byte()
                        )),
                    },
                    Err(e) => broken.push(format!("{:02X}: {e}", k.key.byte())),
                }
            }
            let (public, subject) = match &certificate {
                Some((parts, public)) => {
                    card.expect_public_key(k.key, *public);
                    (*public, parts.subject.clone())
                }
                None => (card.public_key(k.key)?, Vec::new()),
            };
            let key = KeyObject {
                key: k.key,
                point: uncompressed(&public),
                subject,
            };
            let token = &mut objects[usize::from(k.key.usage == KeyUsage::Signing)];
            if let Some((cert, _)) = certificate {
                token.push(Object::Certificate { key: k.key, cert });
            }
            token.push(Object::PublicKey(key.clone()));
            token.push(Object::PrivateKey(key));
        }
        let applet_version = parse_version(&info.applet_version);
        Ok(Self {
            card,
            serial: info.serial,
            applet_version,
            pins: info.pins,
            objects,
            broken,
        })
    }
}

fn parse_version(v: &str) -> (u8, u8) {
    let mut parts = v.split('.').map(|p| p.parse::<u8>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}
