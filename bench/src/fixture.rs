//! Personalised cards to measure on: a development CA in a temporary
//! directory, fixed PINs, and `provision::personalise` exactly as
//! `asan demo` does it.

use std::path::Path;

use asan_applet::ServiceType;
use asan_applet::scp03::{SecurityLevel, StaticKeys};
use asan_applet::store::MemStore;
use asan_host::provision::{self, CardPins, Issuer, Personalisation, SubjectSpec};
use asan_host::transport::Transport;
use asan_host::transport::virtual_card::VirtualTransport;
use asan_host::x509::DevCa;
use asan_host::{AsanCard, Pin1, Pin2, Puk};

use crate::BoxResult;

/// A temporary directory with a development CA.
pub struct Fixture {
    /// The directory (removed on drop).
    pub dir: tempfile::TempDir,
    /// The CA.
    pub ca: DevCa,
}

impl Fixture {
    /// A fresh directory and CA.
    pub fn new() -> BoxResult<Self> {
        let dir = tempfile::Builder::new().prefix("asan-bench-").tempdir()?;
        let ca = DevCa::init(&dir.path().join("ca"))?;
        Ok(Self { dir, ca })
    }

    /// The plan: fixed PINs, development subject, test keys, `level` (03 or 33).
    pub fn plan(&self, service: ServiceType, level: u8) -> BoxResult<Personalisation<'_>> {
        Ok(Personalisation {
            service,
            subject: SubjectSpec::default(),
            pins: Some(pins()?),
            keys: StaticKeys::default_test_keys(),
            master: None,
            level: SecurityLevel::from_byte(level).ok_or("bad security level")?,
            issuer: Issuer::Ca(&self.ca),
            mailer: None,
            now: std::time::SystemTime::now(),
        })
    }

    /// Personalises the card behind `card` (its result must be `personalised`).
    pub fn personalise<T: Transport>(
        &self,
        card: &mut AsanCard<T>,
        service: ServiceType,
        level: u8,
    ) -> BoxResult<()> {
        let report = provision::personalise(card, &self.plan(service, level)?)?;
        if report.result != "personalised" {
            return Err(format!("personalisation: {} {:?}", report.result, report.error).into());
        }
        Ok(())
    }

    /// A personalised in-process card (memory store).
    pub fn memory_card(
        &self,
        service: ServiceType,
        level: u8,
    ) -> BoxResult<AsanCard<VirtualTransport<MemStore>>> {
        let mut card = AsanCard::open(VirtualTransport::in_memory()?)?;
        self.personalise(&mut card, service, level)?;
        Ok(card)
    }

    /// A personalised card image file at `path` (closed again, so that a
    /// process can serve it).
    pub fn image(&self, path: &Path, service: ServiceType) -> BoxResult<()> {
        let mut card = AsanCard::open(VirtualTransport::open(path)?)?;
        self.personalise(&mut card, service, 0x33)?;
        Ok(())
    }
}

/// The bench's PINs: PIN1 1234, PIN2 12345, PUK 12345678 (as the demo).
pub fn pins() -> BoxResult<CardPins> {
    Ok(CardPins {
        pin1: Pin1::new("1234")?,
        pin2: Pin2::new("12345")?,
        puk: Puk::new("12345678")?,
    })
}
