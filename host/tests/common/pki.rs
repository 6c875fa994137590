//! A small PKI built in Rust for the verification and CMS tests: roots,
//! intermediates and end entities with exactly the extensions, validity and
//! names a test needs, and certificates re-signed after their bytes were
//! changed on purpose. Included by path (`#[path = "common/pki.rs"]`).
#![allow(dead_code)]

use std::time::{Duration, SystemTime};

use der::asn1::{BitString, ObjectIdentifier, OctetString};
use der::{Decode, Encode};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{DerSignature, SigningKey};
use p256::elliptic_curve::Generate;
use x509_cert::TbsCertificate;
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages,
    SubjectKeyIdentifier,
};
use x509_cert::ext::{Extension, ToExtension};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{SubjectPublicKeyInfoOwned, SubjectPublicKeyInfoRef};
use x509_cert::time::{Time, Validity};

pub const DAY: Duration = Duration::from_secs(86_400);
pub const YEAR: Duration = Duration::from_secs(365 * 86_400);

/// What a certificate is made with.
#[derive(Clone)]
pub struct Spec {
    pub subject: String,
    pub ca: Option<Option<u8>>,
    pub key_usage: Option<KeyUsage>,
    pub eku: Option<Vec<ObjectIdentifier>>,
    pub not_before: SystemTime,
    pub not_after: SystemTime,
    pub serial: u64,
    pub extra: Vec<Extension>,
}

impl Spec {
    /// A CA valid from ten years ago to ten years from now.
    pub fn ca(subject: &str) -> Self {
        let now = SystemTime::now();
        Self {
            subject: subject.into(),
            ca: Some(None),
            key_usage: Some(KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign)),
            eku: None,
            not_before: now - 10 * YEAR,
            not_after: now + 10 * YEAR,
            serial: 1,
            extra: vec![],
        }
    }

    /// A document-signing end entity valid from a day ago for a year.
    pub fn signer(subject: &str) -> Self {
        let now = SystemTime::now();
        Self {
            subject: subject.into(),
            ca: None,
            key_usage: Some(KeyUsage(KeyUsages::NonRepudiation.into())),
            eku: Some(vec![der::oid::db::rfc5280::ID_KP_EMAIL_PROTECTION]),
            not_before: now - DAY,
            not_after: now + YEAR,
            serial: 2,
            extra: vec![],
        }
    }
}

/// A key with its certificate.
pub struct Issued {
    pub key: SigningKey,
    pub der: Vec<u8>,
}

impl Issued {
    pub fn name(&self) -> Name {
        x509_cert::Certificate::from_der(&self.der)
            .unwrap()
            .tbs_certificate()
            .subject()
            .clone()
    }
}

pub fn new_key() -> SigningKey {
    SigningKey::try_generate_from_rng(&mut getrandom::SysRng).unwrap()
}

struct Profile {
    issuer: Name,
    subject: Name,
    spec: Spec,
}

impl BuilderProfile for Profile {
    fn get_issuer(&self, _subject: &Name) -> Name {
        self.issuer.clone()
    }

    fn get_subject(&self) -> Name {
        self.subject.clone()
    }

    fn build_extensions(
        &self,
        spk: SubjectPublicKeyInfoRef<'_>,
        issuer_spk: SubjectPublicKeyInfoRef<'_>,
        tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        let subject = tbs.subject();
        let mut out = Vec::new();
        let bc = BasicConstraints {
            ca: self.spec.ca.is_some(),
            path_len_constraint: self.spec.ca.flatten(),
        };
        out.push(bc.to_extension(subject, &out)?);
        if let Some(ku) = &self.spec.key_usage {
            out.push(ku.to_extension(subject, &out)?);
        }
        if let Some(eku) = &self.spec.eku {
            out.push(ExtendedKeyUsage(eku.clone()).to_extension(subject, &out)?);
        }
        out.push(SubjectKeyIdentifier::try_from(spk)?.to_extension(subject, &out)?);
        let aki = AuthorityKeyIdentifier {
            key_identifier: Some(SubjectKeyIdentifier::try_from(issuer_spk)?.0),
            ..Default::default()
        };
        out.push(aki.to_extension(subject, &out)?);
        out.extend(self.spec.extra.iter().cloned());
        Ok(out)
    }
}

fn time(t: SystemTime) -> Time {
    Time::try_from(t).unwrap()
}

/// A certificate for `key` with `spec`, signed by `issuer` (or self-signed).
pub fn issue(spec: &Spec, key: &SigningKey, issuer: Option<&Issued>) -> Vec<u8> {
    let subject: Name = spec.subject.parse().unwrap();
    let (issuer_name, issuer_key) = match issuer {
        Some(i) => (i.name(), &i.key),
        None => (subject.clone(), key),
    };
    let spki = SubjectPublicKeyInfoOwned::from_key(key.verifying_key()).unwrap();
    let profile = Profile {
        issuer: issuer_name,
        subject,
        spec: spec.clone(),
    };
    let validity = Validity::new(time(spec.not_before), time(spec.not_after));
    let serial = SerialNumber::from(spec.serial);
    let builder = CertificateBuilder::new(profile, serial, validity, spki).unwrap();
    builder
        .build::<_, DerSignature>(issuer_key)
        .unwrap()
        .to_der()
        .unwrap()
}

/// A new key and its certificate.
pub fn make(spec: &Spec, issuer: Option<&Issued>) -> Issued {
    let key = new_key();
    let der = issue(spec, &key, issuer);
    Issued { key, der }
}

/// An extension from its OID, criticality and DER value.
pub fn extension(oid: &str, critical: bool, value: &[u8]) -> Extension {
    Extension {
        extn_id: ObjectIdentifier::new_unwrap(oid),
        critical,
        extn_value: OctetString::new(value.to_vec()).unwrap(),
    }
}

/// The certificate `der` with its tbsCertificate bytes passed through
/// `edit`, signed again by `issuer_key` (the bytes are kept as they are).
pub fn resign_tbs(der: &[u8], issuer_key: &SigningKey, edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let cert = der::asn1::AnyRef::from_der(der).unwrap();
    let mut reader = der::SliceReader::new(cert.value()).unwrap();
    let tbs = <der::asn1::AnyRef<'_> as Decode>::decode(&mut reader).unwrap();
    let mut tbs = tbs.to_der().unwrap();
    edit(&mut tbs);
    let signature: DerSignature = issuer_key.sign(&tbs);
    let alg = x509_cert::spki::AlgorithmIdentifierOwned {
        oid: der::oid::db::rfc5912::ECDSA_WITH_SHA_256,
        parameters: None,
    }
    .to_der()
    .unwrap();
    let bits = BitString::from_bytes(signature.as_bytes())
        .unwrap()
        .to_der()
        .unwrap();
    let mut body = tbs;
    body.extend(alg);
    body.extend(bits);
    let mut out = vec![0x30];
    let len = body.len();
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend([0x81, len as u8]);
    } else {
        out.extend([0x82, (len >> 8) as u8, len as u8]);
    }
    out.extend(body);
    out
}
