//! APDU counts per operation, counted by the transport (`apdu_count()`) and
//! recorded one by one (the [`Recording`] wrapper around the in-process
//! `VirtualTransport`), against the targets of issue 8.

use std::collections::BTreeMap;

use asan_applet::scp03::{SecurityLevel, StaticKeys};
use asan_applet::store::MemStore;
use asan_applet::{CertificateProfile, KeyRef, KeyUsage, ServiceType};
use asan_host::cms::{self, SignOptions};
use asan_host::operator::Operator;
use asan_host::transport::Transport;
use asan_host::transport::virtual_card::VirtualTransport;
use asan_host::x509::DigestSigner;
use asan_host::{AsanCard, Pin2};
use p256::PublicKey;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::fixture::{Fixture, pins};
use crate::recording::{Rec, Recording};
use crate::{BoxResult, Options, Section};

type Card = AsanCard<Recording<VirtualTransport<MemStore>>>;

/// One counted operation.
struct Row {
    name: String,
    count: u64,
    target: Option<u64>,
    apdus: Vec<Rec>,
}

/// Runs `f` on `card`; the transport's count of what it sent, and the log.
fn count<R>(
    card: &mut Card,
    f: impl FnOnce(&mut Card) -> BoxResult<R>,
) -> BoxResult<(u64, Vec<Rec>)> {
    card.transport_mut().take();
    let before = card.transport().inner_count();
    f(card)?;
    let n = card.transport().inner_count() - before;
    let log = card.transport_mut().take();
    if log.len() as u64 != n {
        return Err(format!(
            "the transport counted {n} APDUs, the recorder {}",
            log.len()
        )
        .into());
    }
    Ok((n, log))
}

fn row(rows: &mut Vec<Row>, name: &str, target: Option<u64>, (count, apdus): (u64, Vec<Rec>)) {
    rows.push(Row {
        name: name.to_owned(),
        count,
        target,
        apdus,
    });
}

/// A 2048-byte DER SEQUENCE (`30 82 07FC { 04 82 07F8 ... }`): the framing
/// is all the card and the reader check, and the size is what counts here.
fn certificate_2k() -> Vec<u8> {
    let mut der = vec![0x30, 0x82, 0x07, 0xFC, 0x04, 0x82, 0x07, 0xF8];
    der.extend((0..2040u32).map(|i| (i % 251) as u8));
    der
}

/// Writes `der` as the certificate of `key` over SCP03 (not counted).
fn write_certificate(card: &mut Card, key: KeyRef, der: &[u8]) -> BoxResult<()> {
    let extended = card.transport().extended_length();
    let keys = StaticKeys::default_test_keys();
    let level = SecurityLevel::from_byte(0x33).ok_or("level")?;
    card.exclusive(|a| Operator::open(a, &keys, level, extended)?.write_certificate(key, der))?;
    card.select()?;
    Ok(())
}

/// The card's signing key, for `sign_detached` with a certificate the caller has.
struct Signer<'a> {
    card: &'a mut Card,
    pin2: &'a Pin2,
    public: PublicKey,
}

impl DigestSigner for Signer<'_> {
    fn public_key(&self) -> PublicKey {
        self.public
    }
    fn sign_digest(&mut self, digest: &[u8; 32]) -> asan_host::Result<[u8; 64]> {
        self.card
            .sign(digest, self.pin2, CertificateProfile::Citizen)
    }
}

fn fresh(short_only: bool) -> BoxResult<Card> {
    Ok(AsanCard::open(Recording::new(
        VirtualTransport::in_memory()?,
        short_only,
    ))?)
}

fn by_name(apdus: &[Rec]) -> String {
    let mut m: BTreeMap<&str, usize> = BTreeMap::new();
    for r in apdus {
        *m.entry(r.name()).or_default() += 1;
    }
    m.iter()
        .map(|(k, v)| format!("{k} x{v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs the section.
pub fn run(_o: &Options) -> BoxResult<Section> {
    let fx = Fixture::new()?;
    let pins = pins()?;
    let digest: [u8; 32] = Sha256::digest(b"asan-bench apdus").into();
    let mut rows = Vec::new();

    let mut card = fresh(false)?;
    fx.personalise(&mut card, ServiceType::Business, 0x33)?;
    let c = &mut card;
    let pin2 = &pins.pin2;
    let sign = |p| move |c: &mut Card| Ok(c.sign(&digest, pin2, p)?);
    row(
        &mut rows,
        "sign, default profile (citizen): PSO with PIN2",
        Some(1),
        count(c, sign(CertificateProfile::Citizen))?,
    );
    row(
        &mut rows,
        "sign, business profile: PSO with PIN2 naming the key",
        Some(1),
        count(c, sign(CertificateProfile::Business))?,
    );
    row(
        &mut rows,
        "sign, business profile again",
        Some(1),
        count(c, sign(CertificateProfile::Business))?,
    );
    // A card of contract 1.0: VERIFY + PSO (and MSE for another key).
    c.transport_mut()
        .inner_mut()
        .card_mut()
        .emulate_contract_1_0();
    c.select()?;
    row(
        &mut rows,
        "sign on a contract 1.0 card, default profile: VERIFY + PSO",
        Some(2),
        count(c, sign(CertificateProfile::Citizen))?,
    );
    row(
        &mut rows,
        "sign on a contract 1.0 card, business profile: MSE + VERIFY + PSO",
        Some(3),
        count(c, sign(CertificateProfile::Business))?,
    );
    let mut card = fresh(false)?;
    fx.personalise(&mut card, ServiceType::Business, 0x33)?;
    let c = &mut card;
    c.select()?;
    let auth =
        |c: &mut Card| Ok(c.authenticate(&digest, &pins.pin1, CertificateProfile::Citizen)?);
    row(
        &mut rows,
        "authenticate, default profile (citizen)",
        Some(2),
        count(c, auth)?,
    );
    let real = KeyRef::new(CertificateProfile::Citizen, KeyUsage::Signing);
    let (n, log) = count(c, |c| Ok(c.read_certificate_der(real)?))?;
    let real_len: usize = log
        .iter()
        .filter(|r| r.name() == "READ BINARY")
        .map(|r| r.answer.0)
        .sum();
    row(
        &mut rows,
        &format!("read certificate ({real_len} bytes, extended)"),
        Some(2),
        (n, log),
    );

    let big = KeyRef::new(CertificateProfile::Business, KeyUsage::Authentication);
    write_certificate(c, big, &certificate_2k())?;
    let read = |c: &mut Card| Ok(c.read_certificate_der(big)?);
    row(
        &mut rows,
        "read 2 KB certificate, extended",
        Some(2),
        count(c, read)?,
    );
    c.transport_mut().set_short_only(true);
    // Short Le is at most 256: 2048 / 256 = 8 READ BINARY + SELECT EF.
    row(
        &mut rows,
        "read 2 KB certificate, short APDUs only",
        Some(9),
        count(c, read)?,
    );
    c.transport_mut().set_short_only(false);

    let opts = SignOptions {
        chain: Vec::new(),
        signing_time: std::time::SystemTime::now(),
        signing_time_attribute: true,
        attached: None,
        timestamp: None,
    };
    let p = CertificateProfile::Citizen;
    row(
        &mut rows,
        "CMS sign_on_card (asan sign FILE: certificate read + signature)",
        Some(3),
        count(c, |c| {
            Ok(cms::sign_on_card(c, &pins.pin2, p, &digest, &opts)?)
        })?,
    );
    let certificate = c.read_certificate_der(real)?;
    let public = c.public_key(real)?;
    let detached = |c: &mut Card| {
        let mut s = Signer {
            card: c,
            pin2: &pins.pin2,
            public,
        };
        Ok(cms::sign_detached(&digest, &certificate, &mut s, &opts)?)
    };
    row(
        &mut rows,
        "CMS sign_detached, certificate known to the host",
        Some(1),
        count(c, detached)?,
    );

    for (service, sname) in [
        (ServiceType::Citizen, "citizen"),
        (ServiceType::Business, "business"),
    ] {
        for level in [0x03u8, 0x33] {
            for short_only in [false, true] {
                let mut card = fresh(short_only)?;
                let kind = if short_only {
                    "short APDUs"
                } else {
                    "extended"
                };
                let counted = count(&mut card, |c| fx.personalise(c, service, level))?;
                let name = format!("provision {sname}, level {level:02X}, {kind}");
                row(&mut rows, &name, None, counted);
            }
        }
    }
    Ok(report(&rows))
}

fn report(rows: &[Row]) -> Section {
    let mut lines = Vec::new();
    let mut json_rows: Vec<Value> = Vec::new();
    for r in rows {
        let met = r.target.map(|t| r.count <= t);
        let verdict = match (r.target, met) {
            (Some(t), Some(true)) => format!(" (target {t}: met)"),
            (Some(t), _) => format!(" (target {t}: MISSED)"),
            _ => String::new(),
        };
        lines.push(format!("{}: {} APDUs{verdict}", r.name, r.count));
        if r.name.starts_with("provision") {
            lines.push(format!("    {}", by_name(&r.apdus)));
        } else if met != Some(true) || r.count > 2 {
            for a in &r.apdus {
                lines.push(format!("    {}", a.describe()));
            }
        }
        json_rows.push(json!({
            "operation": r.name,
            "apdus": r.count,
            "target": r.target,
            "met": met,
            "by_command": by_name(&r.apdus),
            "sent": r.apdus.iter().map(Rec::describe).collect::<Vec<_>>(),
        }));
    }
    Section {
        json: json!({ "operations": json_rows }),
        lines,
    }
}
