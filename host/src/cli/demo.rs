//! `asan demo`: the whole story on a fresh in-process virtual card with a
//! temporary development CA, step by step.

use asan_applet::scp03::{SecurityLevel, StaticKeys};
use asan_applet::{CertificateProfile, KeyRef, KeyUsage, PinRef, ServiceType};
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::ecdsa::{Signature, VerifyingKey};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::transport::{AnyTransport, open_on};
use super::{Cli, Io, json as print_json, say};
use crate::error::{Error, Result};
use crate::info::{profile_name, usage_name};
use crate::pin::{AnyPin, Pin1, Pin2, Puk};
use crate::provision::{self, CardPins, Issuer, Personalisation};
use crate::transport::Transport;
use crate::transport::virtual_card::VirtualTransport;
use crate::x509::{DevCa, SubjectInfo};
use crate::{AsanCard, cert};

fn verify_with_certificate(der: &[u8], digest: &[u8], signature: &[u8; 64]) -> Result<()> {
    let parsed = cert::parse(der)?;
    let key = VerifyingKey::from_sec1_bytes(&cert::public_key_bytes(&parsed))
        .map_err(|_| Error::Certificate("the certificate's key is not P-256".into()))?;
    let sig = Signature::from_slice(signature)
        .map_err(|_| Error::InvalidResponse("bad signature".into()))?;
    key.verify_prehash(digest, &sig).map_err(|_| {
        Error::Certificate("the signature does not verify with the certificate".into())
    })
}

struct Steps<'a, 'b> {
    io: &'a mut Io<'b>,
    json: bool,
    log: Vec<serde_json::Value>,
    n: usize,
}

impl Steps<'_, '_> {
    fn step(&mut self, title: &str, detail: &[String]) -> Result<()> {
        self.n += 1;
        self.log
            .push(json!({ "step": self.n, "title": title, "detail": detail }));
        if self.json {
            return Ok(());
        }
        say(self.io.out, &format!("{}. {title}", self.n))?;
        for d in detail {
            say(self.io.out, &format!("   {d}"))?;
        }
        Ok(())
    }
}

/// Runs the demo.
pub fn run(cli: &Cli, io: &mut Io<'_>) -> Result<()> {
    let dir = std::env::temp_dir().join(format!("asan-demo-{}", std::process::id()));
    let result = story(cli, io, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn story(cli: &Cli, io: &mut Io<'_>, dir: &std::path::Path) -> Result<()> {
    let mut s = Steps {
        io,
        json: cli.json,
        log: Vec::new(),
        n: 0,
    };
    let mut card: AsanCard<AnyTransport> =
        open_on(cli, AnyTransport::Memory(VirtualTransport::in_memory()?))?;
    let info = card.info()?;
    s.step(
        "A fresh virtual SIM (in this process, no reader)",
        &[format!(
            "serial {}, life cycle {}",
            info.serial, info.life_cycle
        )],
    )?;

    let ca = DevCa::init(&dir.join("ca"))?;
    let root = cert::parse(&ca.root_der())?;
    s.step(
        "A development CA",
        &[format!("root: {}", root.tbs_certificate().subject())],
    )?;

    // Demo PINs are fixed so the story can show them; real provisioning
    // generates them and writes them only to the PIN mailer file.
    let pins = CardPins {
        pin1: Pin1::new("1234")?,
        pin2: Pin2::new("12345")?,
        puk: Puk::new("12345678")?,
    };
    let plan = Personalisation {
        service: ServiceType::Business,
        subject: provision::SubjectSpec::given(SubjectInfo {
            name: "Aynur Məmmədova".into(),
            id: "5ZK3M7Q".into(),
            organisation: Some("Demo MMC".into()),
            voen: Some("1700123456".into()),
        }),
        pins: Some(pins.clone()),
        keys: StaticKeys::default_test_keys(),
        master: None,
        level: SecurityLevel::from_byte(0x33).ok_or_else(|| Error::Usage("level".into()))?,
        issuer: Issuer::Ca(&ca),
        mailer: None,
        now: std::time::SystemTime::now(),
    };
    let before = card.transport().apdu_count();
    let report = provision::personalise(&mut card, &plan)?;
    let mut detail = vec![
        "service business (profiles citizen and business), over SCP03 level 33 with the test keys"
            .to_owned(),
        "demo PINs: PIN1 1234, PIN2 12345, PUK 12345678 (real runs generate and mail them)"
            .to_owned(),
    ];
    detail.extend(report.certificates.iter().cloned());
    detail.push(format!("{} APDUs", card.transport().apdu_count() - before));
    s.step(
        "Provisioned: PINs, four key pairs generated on the card, certificates",
        &detail,
    )?;

    let mut detail = Vec::new();
    for key in provision::keys_for(ServiceType::Business) {
        let der = card.read_certificate_der(key)?;
        let c = cert::parse(&der)?;
        let sum = cert::summary(
            &c,
            profile_name(key.profile),
            usage_name(key.usage),
            cert::now_seconds(),
        );
        detail.push(format!(
            "{} {}: {} (until {}, {} days)",
            sum.profile, sum.usage, sum.subject, sum.not_after, sum.days_left
        ));
    }
    s.step("Certificates read from the card (no PIN needed)", &detail)?;

    let challenge = format!("login challenge {}", info.serial);
    let digest = Sha256::digest(challenge.as_bytes());
    let signature = card.authenticate(&digest, &pins.pin1, CertificateProfile::Citizen)?;
    let auth_cert = card.read_certificate_der(KeyRef::new(
        CertificateProfile::Citizen,
        KeyUsage::Authentication,
    ))?;
    verify_with_certificate(&auth_cert, &digest, &signature)?;
    s.step(
        "Authentication with PIN1",
        &[
            format!("challenge \"{challenge}\", SHA-256 signed by the citizen authentication key"),
            format!("signature {}…", hex::encode(&signature[..16])),
            "verified with the certificate's public key: OK".to_owned(),
        ],
    )?;

    let document = b"Muqavila 2026-11: razilasdirma";
    let digest: [u8; 32] = Sha256::digest(document).into();
    let signature = card.sign(&digest, &pins.pin2, CertificateProfile::Business)?;
    let sign_cert =
        card.read_certificate_der(KeyRef::new(CertificateProfile::Business, KeyUsage::Signing))?;
    verify_with_certificate(&sign_cert, &digest, &signature)?;
    let anchors = crate::pki::TrustAnchors::from_der(&[ca.root_der()], "the development root")?;
    let opts =
        crate::pki::ValidationOptions::new(std::time::SystemTime::now(), crate::pki::Purpose::Sign);
    let path = crate::pki::validate(&sign_cert, &[], &anchors, &opts)?;
    if !path.valid {
        return Err(Error::Certificate(format!(
            "the business signing certificate does not validate: {:?}",
            path.first_failure()
        )));
    }
    s.step(
        "A signature with PIN2 (business signing key)",
        &[
            format!("SHA-256 of the document: {}", hex::encode(digest)),
            format!("signature {}…", hex::encode(&signature[..16])),
            "verified with the business signing certificate: OK".to_owned(),
            format!(
                "certificate path {} valid for document signing (RFC 5280, {} checks): OK",
                path.path.join(" <- "),
                path.checks.len()
            ),
        ],
    )?;

    let wrong = Pin2::new("99999")?;
    let mut detail = Vec::new();
    for _ in 0..3 {
        match card.sign(&digest, &wrong, CertificateProfile::Citizen) {
            Err(e @ (Error::WrongPin { .. } | Error::Blocked { .. })) => {
                detail.push(format!("card: {e}"))
            }
            Err(e) => return Err(e),
            Ok(_) => return Err(Error::InvalidResponse("a wrong PIN2 was accepted".into())),
        }
    }
    match card.sign(&digest, &pins.pin2, CertificateProfile::Citizen) {
        Err(e @ Error::Blocked { .. }) => detail.push(format!("now even the right PIN2: {e}")),
        other => {
            return Err(Error::InvalidResponse(format!(
                "PIN2 should be blocked: {other:?}"
            )));
        }
    }
    s.step("Wrong PIN2, three times", &detail)?;

    let new_pin2 = AnyPin::new(PinRef::Pin2, "24680")?;
    card.unblock(Some(PinRef::Pin2), &pins.puk, Some(&new_pin2))?;
    let status = card.pin_status()?;
    let signature = card.sign(&digest, &Pin2::new("24680")?, CertificateProfile::Citizen)?;
    let citizen_cert =
        card.read_certificate_der(KeyRef::new(CertificateProfile::Citizen, KeyUsage::Signing))?;
    verify_with_certificate(&citizen_cert, &digest, &signature)?;
    s.step(
        "PUK unblock",
        &[
            "PIN2 unblocked with the PUK and set to 24680".to_owned(),
            format!(
                "PIN2 {} of {} tries, PUK {} of {}",
                status.pin2.tries_left,
                status.pin2.max_tries,
                status.puk.tries_left,
                status.puk.max_tries
            ),
            "signing works again; signature verified: OK".to_owned(),
        ],
    )?;

    if cli.json {
        return print_json(s.io.out, &json!({ "steps": s.log, "ok": true }));
    }
    say(s.io.out, "Done: every step worked.")
}
