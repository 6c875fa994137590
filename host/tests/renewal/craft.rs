//! Renewal packages and decisions signed in this process — with a card's
//! own keys (the in-process virtual card) or a software key — to test what
//! `asan renew request` and `renew approve` would never write.

use std::path::{Path, PathBuf};

use asan_applet::{CertificateProfile, KeyRef, KeyUsage, ServiceType};
use asan_host::cms::{SignOptions, digest_reader, sign_detached, sign_on_card};
use asan_host::renewal::{
    ApplicationBody, Attorney, Contact, Contract, CurrentCertificate, NumberKind, OrganisationData,
    PACKAGE_VERSION, Party, RenewalPackage, format_time, to_system_time,
};
use asan_host::x509::{DevCa, SoftwareSigner, SubjectInfo, build_csr, subject_name};
use asan_host::{AsanCard, Pin2};

use crate::support::{Card, Lab, ORG, VOEN};

impl Card {
    /// The certificate of `profile`/`usage` on the card (DER).
    pub fn certificate(&self, profile: CertificateProfile, usage: KeyUsage) -> Vec<u8> {
        let mut card = AsanCard::open(crate::common::open_image(Path::new(&self.img))).unwrap();
        card.read_certificate_der(KeyRef::new(profile, usage))
            .unwrap()
    }

    /// The package `renew request` would make at `at`, to change before
    /// signing: the application of `requested` signed by `signer`.
    pub fn package(
        &self,
        at: i64,
        service: &str,
        requested: &[&str],
        signer: CertificateProfile,
    ) -> RenewalPackage {
        let mut card = AsanCard::open(crate::common::open_image(Path::new(&self.img))).unwrap();
        let info = card.info().unwrap();
        let mut current = Vec::new();
        for k in info.keys.iter().filter(|k| k.certificate_len > 0) {
            let der = card.read_certificate_der(k.key).unwrap();
            let parsed = asan_host::cert::parse(&der).unwrap();
            current.push(CurrentCertificate::of(
                asan_host::info::profile_name(k.key.profile),
                asan_host::info::usage_name(k.key.usage),
                &der,
                &parsed,
            ));
        }
        let signer_der = card
            .read_certificate_der(KeyRef::new(signer, KeyUsage::Signing))
            .unwrap();
        let parsed = asan_host::cert::parse(&signer_der).unwrap();
        let party = party_of(&parsed);
        let organisation = requested
            .iter()
            .any(|p| *p != "citizen")
            .then(|| OrganisationData {
                name: ORG.into(),
                position: "mühasib".into(),
                unit: None,
                seal_text: None,
                signing_permissions: vec!["e-taxes".into()],
            });
        let application = ApplicationBody {
            serial: info.serial.clone(),
            user_id: self.user_id.clone(),
            service: service.into(),
            requested_profiles: requested.iter().map(|p| (*p).to_owned()).collect(),
            signer_profile: asan_host::info::profile_name(signer).into(),
            current_certificates: current,
            contact: Contact::Phone("+994501234567".into()),
            number: NumberKind::Personal,
            voen: organisation.as_ref().map(|_| VOEN.to_owned()),
            organisation,
            head_of_organisation: true,
            power_of_attorney: None,
            created: format_time(at),
        };
        let contract = Contract::for_application(&application, party);
        RenewalPackage {
            version: PACKAGE_VERSION,
            application,
            contract,
        }
    }

    /// Gives the card a new certificate for its `profile`/`usage` key, valid
    /// from `start` (the CA reissues it; `asan cert load` loads it), as if
    /// it had been renewed later than the others.
    pub fn renew_later(&self, profile: CertificateProfile, usage: KeyUsage, start: i64) {
        let ca = DevCa::load(Path::new(&self.ca)).unwrap();
        let der = ca
            .reissue(
                &self.certificate(profile, usage),
                profile,
                usage,
                to_system_time(start),
            )
            .unwrap();
        let file = self.file("later.der");
        std::fs::write(&file, der).unwrap();
        let (p, u) = (
            asan_host::info::profile_name(profile),
            asan_host::info::usage_name(usage),
        );
        self.run(&[
            "cert",
            "load",
            "--profile",
            p,
            "--usage",
            u,
            &file.display().to_string(),
        ])
        .ok();
    }

    /// Signs `content` on this card with the signing key of `profile` at
    /// `at` (CMS, content embedded) into FILE.
    pub fn sign(
        &self,
        content: &[u8],
        profile: CertificateProfile,
        at: i64,
        file: &str,
    ) -> PathBuf {
        let mut card = AsanCard::open(crate::common::open_image(Path::new(&self.img))).unwrap();
        let digest = digest_reader(&mut &content[..]).unwrap();
        let opts = SignOptions {
            chain: vec![],
            signing_time: to_system_time(at),
            signing_time_attribute: true,
            attached: Some(content.to_vec()),
            timestamp: None,
        };
        let pin2 = Pin2::new("12345").unwrap();
        let signed = sign_on_card(&mut card, &pin2, profile, &digest, &opts).unwrap();
        let path = self.file(file);
        std::fs::write(&path, signed.cms).unwrap();
        path
    }
}

/// The contract's party: the certificate's CN and serialNumber.
pub fn party_of(cert: &x509_cert::Certificate) -> Party {
    use der::oid::db::rfc4519::{COMMON_NAME, SERIAL_NUMBER};
    let get = |oid| asan_host::renewal::subject_attribute(cert, oid).unwrap();
    Party {
        name: get(COMMON_NAME),
        id: get(SERIAL_NUMBER),
    }
}

/// The attorney of a non-head's application: the signer.
pub fn attorney_of(cert: &x509_cert::Certificate) -> Attorney {
    let p = party_of(cert);
    Attorney {
        name: p.name,
        id: p.id,
    }
}

/// An application made with the library for card serial `0011223344556677`
/// (activated in the lab's CA at `start`): signed at `signed_at` with a
/// software key whose Citizen `usage` certificate starts at `start`.
pub fn crafted(
    lab: &Lab,
    start: i64,
    signed_at: i64,
    usage: KeyUsage,
    list_signer: bool,
) -> PathBuf {
    crafted_with(lab, start, signed_at, usage, list_signer, None)
}

/// [`crafted`], time-stamped by `tsa` when given (CAdES-T).
pub fn crafted_with(
    lab: &Lab,
    start: i64,
    signed_at: i64,
    usage: KeyUsage,
    list_signer: bool,
    tsa: Option<asan_host::tsp::TsaClient>,
) -> PathBuf {
    let ca = DevCa::load(Path::new(&lab.ca)).unwrap();
    let mut key = SoftwareSigner::generate().unwrap();
    let info = SubjectInfo {
        name: "Test".into(),
        id: "7GH2K4P".into(),
        organisation: None,
        voen: None,
    };
    let csr = build_csr(
        subject_name(CertificateProfile::Citizen, &info).unwrap(),
        &mut key,
    )
    .unwrap();
    let cert = ca
        .issue(
            &csr,
            CertificateProfile::Citizen,
            usage,
            to_system_time(start),
        )
        .unwrap();
    let serial = "0011223344556677";
    let record = ca
        .record_activation(
            serial,
            ServiceType::Citizen,
            None,
            &[(
                KeyRef::new(CertificateProfile::Citizen, usage),
                cert.clone(),
            )],
            start,
        )
        .unwrap();
    let parsed = asan_host::cert::parse(&cert).unwrap();
    let usage_name = if usage == KeyUsage::Signing {
        "sign"
    } else {
        "auth"
    };
    let application = ApplicationBody {
        serial: serial.into(),
        user_id: record.user_id.clone(),
        service: "citizen".into(),
        requested_profiles: vec!["citizen".into()],
        signer_profile: "citizen".into(),
        current_certificates: if list_signer {
            vec![CurrentCertificate::of(
                "citizen", usage_name, &cert, &parsed,
            )]
        } else {
            vec![]
        },
        contact: Contact::Phone("+994501234567".into()),
        number: NumberKind::Personal,
        voen: None,
        organisation: None,
        head_of_organisation: true,
        power_of_attorney: None,
        created: format_time(signed_at),
    };
    let contract = Contract::for_application(&application, party_of(&parsed));
    let bytes = RenewalPackage {
        version: PACKAGE_VERSION,
        application,
        contract,
    }
    .to_bytes();
    let digest = digest_reader(&mut bytes.as_slice()).unwrap();
    let opts = SignOptions {
        chain: vec![],
        signing_time: to_system_time(signed_at),
        signing_time_attribute: true,
        attached: Some(bytes),
        timestamp: tsa,
    };
    let signed = sign_detached(&digest, &cert, &mut key, &opts).unwrap();
    let path = lab.file(&format!(
        "crafted-{start}-{signed_at}-{usage_name}-{list_signer}.p7s"
    ));
    std::fs::write(&path, signed).unwrap();
    path
}
