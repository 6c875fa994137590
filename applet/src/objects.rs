//! Domain objects of the card: certificate profiles, key references,
//! certificate files, service and life cycle.

/// Certificate profile; the profiles follow the subscriber service types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CertificateProfile {
    /// Profile 1, Citizen (Şəxsi).
    Citizen = 1,
    /// Profile 2, Business (İş).
    Business = 2,
    /// Profile 3, Governmental (Dövlət və bələdiyyə).
    Governmental = 3,
}

impl CertificateProfile {
    /// All profiles in order.
    pub const ALL: [Self; 3] = [Self::Citizen, Self::Business, Self::Governmental];

    /// Profile from its number 1–3.
    pub const fn from_number(n: u8) -> Option<Self> {
        match n {
            1 => Some(Self::Citizen),
            2 => Some(Self::Business),
            3 => Some(Self::Governmental),
            _ => None,
        }
    }

    /// The profile number 1–3.
    pub const fn number(self) -> u8 {
        self as u8
    }
}

/// What a key pair is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyUsage {
    /// Authentication (INTERNAL AUTHENTICATE, PIN1).
    Authentication = 1,
    /// Signing (PSO: COMPUTE DIGITAL SIGNATURE, PIN2).
    Signing = 2,
}

/// A key reference (`11`–`13` authentication, `21`–`23` signing).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyRef {
    /// The profile the key belongs to.
    pub profile: CertificateProfile,
    /// What the key is for.
    pub usage: KeyUsage,
}

impl KeyRef {
    /// All six key references, authentication keys first.
    pub const ALL: [Self; 6] = [
        Self::new(CertificateProfile::Citizen, KeyUsage::Authentication),
        Self::new(CertificateProfile::Business, KeyUsage::Authentication),
        Self::new(CertificateProfile::Governmental, KeyUsage::Authentication),
        Self::new(CertificateProfile::Citizen, KeyUsage::Signing),
        Self::new(CertificateProfile::Business, KeyUsage::Signing),
        Self::new(CertificateProfile::Governmental, KeyUsage::Signing),
    ];
    /// The default authentication key after SELECT (`11`).
    pub const DEFAULT_AUTHENTICATION: Self =
        Self::new(CertificateProfile::Citizen, KeyUsage::Authentication);
    /// The default signing key after SELECT (`21`).
    pub const DEFAULT_SIGNING: Self = Self::new(CertificateProfile::Citizen, KeyUsage::Signing);

    /// A key reference from profile and usage.
    pub const fn new(profile: CertificateProfile, usage: KeyUsage) -> Self {
        Self { profile, usage }
    }

    /// Parses the wire byte (`11`–`13`, `21`–`23`).
    pub const fn from_byte(b: u8) -> Option<Self> {
        let usage = match b >> 4 {
            1 => KeyUsage::Authentication,
            2 => KeyUsage::Signing,
            _ => return None,
        };
        match CertificateProfile::from_number(b & 0x0F) {
            Some(profile) => Some(Self::new(profile, usage)),
            None => None,
        }
    }

    /// The wire byte.
    pub const fn byte(self) -> u8 {
        ((self.usage as u8) << 4) | self.profile.number()
    }

    /// Index 0–5 in [`KeyRef::ALL`].
    pub const fn index(self) -> usize {
        (self.usage as usize - 1) * 3 + (self.profile as usize - 1)
    }

    /// The certificate file that holds this key's certificate.
    pub const fn certificate(self) -> CertificateFid {
        CertificateFid(self)
    }
}

/// A certificate elementary file (`A101`…`A302`): `A` profile, `0` usage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CertificateFid(pub KeyRef);

impl CertificateFid {
    /// Parses a 2-byte file identifier.
    pub const fn from_bytes(fid: [u8; 2]) -> Option<Self> {
        let [hi, lo] = fid;
        if hi >> 4 != 0xA || lo >> 4 != 0 {
            return None;
        }
        let usage = match lo {
            1 => KeyUsage::Authentication,
            2 => KeyUsage::Signing,
            _ => return None,
        };
        match CertificateProfile::from_number(hi & 0x0F) {
            Some(profile) => Some(Self(KeyRef::new(profile, usage))),
            None => None,
        }
    }

    /// The 2-byte file identifier.
    pub const fn bytes(self) -> [u8; 2] {
        [0xA0 | self.0.profile.number(), self.0.usage as u8]
    }

    /// The key whose certificate this file holds.
    pub const fn key(self) -> KeyRef {
        self.0
    }
}

/// Subscriber service type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ServiceType {
    /// `01` Citizen: profile 1.
    Citizen = 1,
    /// `02` Business: profiles 1 and 2.
    Business = 2,
    /// `03` Governmental: profiles 1 and 3.
    Governmental = 3,
}

impl ServiceType {
    /// Parses the wire byte.
    pub const fn from_byte(b: u8) -> Option<Self> {
        match b {
            1 => Some(Self::Citizen),
            2 => Some(Self::Business),
            3 => Some(Self::Governmental),
            _ => None,
        }
    }

    /// Whether this service type may use keys of `profile`.
    pub const fn allows(self, profile: CertificateProfile) -> bool {
        matches!(
            (self, profile),
            (_, CertificateProfile::Citizen)
                | (Self::Business, CertificateProfile::Business)
                | (Self::Governmental, CertificateProfile::Governmental)
        )
    }
}

/// The subscriber's service as the operator set it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Service {
    /// Service type.
    pub kind: ServiceType,
    /// `true` active (`01`), `false` suspended (`00`).
    pub active: bool,
}

impl Service {
    /// Parses `type || state`.
    pub const fn from_bytes(b: [u8; 2]) -> Option<Self> {
        let [t, s] = b;
        let active = match s {
            0 => false,
            1 => true,
            _ => return None,
        };
        match ServiceType::from_byte(t) {
            Some(kind) => Some(Self { kind, active }),
            None => None,
        }
    }

    /// Encodes `type || state`.
    pub const fn bytes(self) -> [u8; 2] {
        [self.kind as u8, self.active as u8]
    }

    /// Whether keys of `profile` may be used now.
    pub const fn permits(self, profile: CertificateProfile) -> bool {
        self.active && self.kind.allows(profile)
    }
}

/// Card life cycle (ISO 7816-4 LCS values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LifeCycle {
    /// `03`: fresh, the operator personalises.
    Initialisation = 0x03,
    /// `05`: operational.
    Operational = 0x05,
    /// `0F`: terminated, irreversible.
    Terminated = 0x0F,
}

impl LifeCycle {
    /// Parses the LCS byte.
    pub const fn from_byte(b: u8) -> Option<Self> {
        match b {
            0x03 => Some(Self::Initialisation),
            0x05 => Some(Self::Operational),
            0x0F => Some(Self::Terminated),
            _ => None,
        }
    }

    /// The LCS byte.
    pub const fn byte(self) -> u8 {
        self as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_refs_round_trip() {
        for (i, k) in KeyRef::ALL.iter().enumerate() {
            assert_eq!(KeyRef::from_byte(k.byte()), Some(*k));
            assert_eq!(k.index(), i);
            assert_eq!(
                CertificateFid::from_bytes(k.certificate().bytes()),
                Some(k.certificate())
            );
        }
        assert_eq!(KeyRef::DEFAULT_AUTHENTICATION.byte(), 0x11);
        assert_eq!(
            KeyRef::from_byte(0x23).map(|k| k.certificate().bytes()),
            Some([0xA3, 0x02])
        );
        for bad in [0x00, 0x10, 0x14, 0x20, 0x31, 0x81, 0xFF] {
            assert_eq!(KeyRef::from_byte(bad), None);
        }
        for bad in [
            [0xA0, 0x01],
            [0xA1, 0x03],
            [0xB1, 0x01],
            [0xA1, 0x11],
            [0x3F, 0x00],
        ] {
            assert_eq!(CertificateFid::from_bytes(bad), None);
        }
    }

    #[test]
    fn service_rules() {
        use CertificateProfile::*;
        let table = [
            (ServiceType::Citizen, [true, false, false]),
            (ServiceType::Business, [true, true, false]),
            (ServiceType::Governmental, [true, false, true]),
        ];
        for (kind, allowed) in table {
            for (p, a) in CertificateProfile::ALL.iter().zip(allowed) {
                assert_eq!(kind.allows(*p), a);
                assert_eq!(Service { kind, active: true }.permits(*p), a);
                assert!(
                    !Service {
                        kind,
                        active: false
                    }
                    .permits(*p)
                );
            }
        }
        assert_eq!(
            Service::from_bytes([2, 1]).map(|s| s.permits(Business)),
            Some(true)
        );
        assert_eq!(Service::from_bytes([4, 1]), None);
        assert_eq!(Service::from_bytes([1, 2]), None);
    }
}
