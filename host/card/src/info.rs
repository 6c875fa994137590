//! What GET DATA tells about a card, decoded into types (and JSON).

use asan_applet::wire::data_object as tag;
use asan_applet::{CertificateProfile, KeyRef, KeyUsage, LifeCycle, PinRef, ServiceType};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::tlv;

/// Tries left and the limit of one PIN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct PinInfo {
    /// Tries left before the PIN blocks.
    pub tries_left: u8,
    /// The retry limit.
    pub max_tries: u8,
    /// Whether a value is set.
    pub set: bool,
}

impl PinInfo {
    /// Whether the PIN is blocked.
    pub fn blocked(&self) -> bool {
        self.tries_left == 0
    }
}

/// The three PINs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct PinsInfo {
    /// PIN1.
    pub pin1: PinInfo,
    /// PIN2.
    pub pin2: PinInfo,
    /// PUK.
    pub puk: PinInfo,
}

impl PinsInfo {
    /// The entry of `pin`.
    pub fn get(&self, pin: PinRef) -> PinInfo {
        match pin {
            PinRef::Pin1 => self.pin1,
            PinRef::Pin2 => self.pin2,
            PinRef::Puk => self.puk,
        }
    }
}

/// The subscriber's service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ServiceInfo {
    /// `citizen`, `business` or `government`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Active (`true`) or suspended.
    pub active: bool,
}

/// One key slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct KeyInfo {
    /// `citizen`, `business` or `government`.
    pub profile: &'static str,
    /// `auth` or `sign`.
    pub usage: &'static str,
    /// Whether the key pair exists.
    pub present: bool,
    /// Size of its certificate (0 = none).
    pub certificate_len: u16,
    /// The key reference.
    #[serde(skip)]
    pub key: KeyRef,
}

/// Everything GET DATA `6E` answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CardInfo {
    /// Card serial number, hex.
    pub serial: String,
    /// `initialisation`, `operational` or `terminated`.
    pub life_cycle: &'static str,
    /// The service, if the operator has set one.
    pub service: Option<ServiceInfo>,
    /// PIN counters.
    pub pins: PinsInfo,
    /// Key slots.
    pub keys: Vec<KeyInfo>,
    /// Applet version `major.minor`.
    pub applet_version: String,
    /// APDU contract version: `1.0`, or `1.1` for a card with PSO: CDS
    /// carrying its own PIN2.
    pub contract_version: String,
    /// SCP03 key version.
    pub scp_key_version: u8,
    /// SCP03 sequence counter.
    pub scp_sequence_counter: u32,
}

/// The CLI's name of a profile.
pub fn profile_name(p: CertificateProfile) -> &'static str {
    match p {
        CertificateProfile::Citizen => "citizen",
        CertificateProfile::Business => "business",
        CertificateProfile::Governmental => "government",
    }
}

/// The CLI's name of a usage.
pub fn usage_name(u: KeyUsage) -> &'static str {
    match u {
        KeyUsage::Authentication => "auth",
        KeyUsage::Signing => "sign",
    }
}

/// The CLI's name of a service type.
pub fn service_name(s: ServiceType) -> &'static str {
    match s {
        ServiceType::Citizen => "citizen",
        ServiceType::Business => "business",
        ServiceType::Governmental => "government",
    }
}

/// The name of a life cycle state.
pub fn life_cycle_name(l: LifeCycle) -> &'static str {
    match l {
        LifeCycle::Initialisation => "initialisation",
        LifeCycle::Operational => "operational",
        LifeCycle::Terminated => "terminated",
    }
}

fn bad(what: &str) -> Error {
    Error::InvalidResponse(format!("GET DATA: {what}"))
}

/// Decodes the `C4` PIN status object's value.
pub fn parse_pins(v: &[u8]) -> Result<PinsInfo> {
    let mut pins = [None; 3];
    if v.len() != 12 {
        return Err(bad("PIN status is not 12 bytes"));
    }
    for chunk in v.chunks_exact(4) {
        let [r, tries, max, set] = <[u8; 4]>::try_from(chunk).map_err(|_| bad("PIN status"))?;
        let pin = PinRef::from_byte(r).ok_or_else(|| bad("unknown PIN reference"))?;
        if tries > max || max == 0 || max > 15 || set > 1 {
            return Err(bad("impossible PIN counters"));
        }
        if let Some(slot) = pins.get_mut(pin.index()) {
            *slot = Some(PinInfo {
                tries_left: tries,
                max_tries: max,
                set: set == 1,
            });
        }
    }
    match pins {
        [Some(pin1), Some(pin2), Some(puk)] => Ok(PinsInfo { pin1, pin2, puk }),
        _ => Err(bad("a PIN is missing")),
    }
}

/// The contract version (major, minor) an FCI (the answer to SELECT with
/// P2 `00`) states: `C0` (applet major, minor, contract major) and `C7`
/// (contract minor, absent for `n.0`), in `6F { 84 AID, A5 { … } }`. An
/// empty answer is a version 1.0 card.
pub fn contract_in_fci(fci: &[u8]) -> Result<(u8, u8)> {
    if fci.is_empty() {
        return Ok((1, 0));
    }
    let bad = |what: &str| Error::InvalidResponse(format!("the SELECT answer (FCI): {what}"));
    let body = tlv::expect(fci, u16::from(asan_applet::wire::tag::FCI))
        .map_err(|e| bad(&e.to_string()))?;
    let proprietary = tlv::all(body)
        .map_err(|e| bad(&e.to_string()))?
        .into_iter()
        .find(|t| t.tag == u16::from(asan_applet::wire::tag::FCI_PROPRIETARY))
        .ok_or_else(|| bad("no proprietary data (A5)"))?;
    let mut major = None;
    let mut minor = 0;
    for t in tlv::all(proprietary.value).map_err(|e| bad(&e.to_string()))? {
        match (u8::try_from(t.tag).unwrap_or(0), t.value) {
            (tag::VERSION, [_, _, contract]) => major = Some(*contract),
            (tag::VERSION, _) => return Err(bad("the version object is not 3 bytes")),
            (tag::CONTRACT_MINOR, [m]) => minor = *m,
            (tag::CONTRACT_MINOR, _) => {
                return Err(bad("the contract minor version is not 1 byte"));
            }
            _ => {}
        }
    }
    Ok((major.ok_or_else(|| bad("no version object (C0)"))?, minor))
}

/// Decodes the answer to GET DATA `6E`.
pub fn parse(answer: &[u8]) -> Result<CardInfo> {
    let inner = tlv::expect(answer, u16::from(tag::ALL))?;
    let mut serial = None;
    let mut life_cycle = None;
    let mut service = None;
    let mut pins = None;
    let mut keys = None;
    let mut version = None;
    let mut minor = 0;
    let mut scp = None;
    for t in tlv::all(inner)? {
        let v = t.value;
        match u8::try_from(t.tag).unwrap_or(0) {
            tag::VERSION => match v {
                [major, minor, contract] => version = Some((format!("{major}.{minor}"), *contract)),
                _ => return Err(bad("version")),
            },
            tag::SERIAL if v.len() == 8 => serial = Some(hex::encode_upper(v)),
            tag::LIFE_CYCLE => {
                let [b] = v else {
                    return Err(bad("life cycle"));
                };
                life_cycle =
                    Some(LifeCycle::from_byte(*b).ok_or_else(|| bad("unknown life cycle"))?);
            }
            tag::SERVICE => {
                let b = <[u8; 2]>::try_from(v).map_err(|_| bad("service"))?;
                let s =
                    asan_applet::Service::from_bytes(b).ok_or_else(|| bad("unknown service"))?;
                service = Some(ServiceInfo {
                    kind: service_name(s.kind),
                    active: s.active,
                });
            }
            tag::PIN_STATUS => pins = Some(parse_pins(v)?),
            tag::OBJECTS => {
                if v.len() != 24 {
                    return Err(bad("key status is not 24 bytes"));
                }
                let mut list = Vec::new();
                for chunk in v.chunks_exact(4) {
                    let [r, present, hi, lo] =
                        <[u8; 4]>::try_from(chunk).map_err(|_| bad("keys"))?;
                    let key = KeyRef::from_byte(r).ok_or_else(|| bad("unknown key reference"))?;
                    list.push(KeyInfo {
                        profile: profile_name(key.profile),
                        usage: usage_name(key.usage),
                        present: present == 1,
                        certificate_len: u16::from_be_bytes([hi, lo]),
                        key,
                    });
                }
                keys = Some(list);
            }
            tag::CONTRACT_MINOR => match v {
                [m] => minor = *m,
                _ => return Err(bad("contract minor version")),
            },
            tag::SECURE_CHANNEL => match v {
                [kvn, a, b, c] => scp = Some((*kvn, u32::from_be_bytes([0, *a, *b, *c]))),
                _ => return Err(bad("secure channel")),
            },
            _ => {}
        }
    }
    let (applet_version, contract_version) = version.ok_or_else(|| bad("no version"))?;
    let (scp_key_version, scp_sequence_counter) =
        scp.ok_or_else(|| bad("no secure channel data"))?;
    Ok(CardInfo {
        serial: serial.ok_or_else(|| bad("no serial number"))?,
        life_cycle: life_cycle_name(life_cycle.ok_or_else(|| bad("no life cycle"))?),
        service,
        pins: pins.ok_or_else(|| bad("no PIN status"))?,
        keys: keys.ok_or_else(|| bad("no key status"))?,
        applet_version,
        contract_version: format!("{contract_version}.{minor}"),
        scp_key_version,
        scp_sequence_counter,
    })
}
