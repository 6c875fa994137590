//! The operations under test: every public method of `AsanCard`, with the
//! good answers that make each one succeed and what each position of its
//! exchange carries.

use asan_applet::{CertificateProfile, KeyRef, KeyUsage, PinRef};
use asan_host::transport::scripted::ScriptedTransport;
use asan_host::{AnyPin, AsanCard, Error, Pin1, Pin2, Puk};
use p256::ecdsa::signature::hazmat::PrehashSigner;
use p256::ecdsa::{Signature, SigningKey};

use crate::common::{certificate, hx};

/// The most APDUs a failing case may send (GET RESPONSE loops included).
pub const MAX_APDUS: usize = 400;

// ---------------------------------------------------------------------------
// good answers
// ---------------------------------------------------------------------------

pub const OK: &str = "9000";
/// GET DATA 6E of an operational Citizen card (protocol.md, section 4).
pub const INFO: &str = "6E44 C003000101 C1089A3744504560639E C20105 C3020101 \
                        C40C810303018203030183 0A0A01 \
                        C518110100001200000013000000210100002200000023000000 C60430000001";
pub const PIN_STATUS: &str = "C40C 81030301 82030301 830A0A01";
pub const SERIAL: &str = "C108 9A3744504560639E";
/// The P-256 base point G, uncompressed.
pub const POINT_G: &str = "04 6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296 \
                           4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5";

pub fn ok(data: &[u8]) -> Vec<u8> {
    [data, &[0x90, 0x00]].concat()
}

pub fn okh(data: &str) -> Vec<u8> {
    ok(&hx(data))
}

pub fn public_key_answer(point: &str) -> Vec<u8> {
    let p = hx(point);
    let inner = [&[0x86, p.len() as u8][..], &p].concat();
    ok(&[&[0x7F, 0x49, inner.len() as u8][..], &inner].concat())
}

/// The digest every signing operation signs.
pub const DIGEST: [u8; 32] = [0x42; 32];

/// The key of the scripted card's signatures on a shared card.
pub fn signer() -> SigningKey {
    SigningKey::from_bytes(&[0x17; 32].into()).unwrap()
}

/// Its public point, uncompressed.
pub fn signer_point() -> Vec<u8> {
    signer()
        .verifying_key()
        .to_sec1_point(false)
        .as_bytes()
        .to_vec()
}

/// A signature of `digest` by [`signer`], `r || s`.
pub fn signed(digest: &[u8]) -> Vec<u8> {
    let s: Signature = signer().sign_prehash(digest).unwrap();
    s.to_bytes().to_vec()
}

pub fn signature_answer(len: usize) -> Vec<u8> {
    ok(&vec![0x5C; len])
}

// ---------------------------------------------------------------------------
// the operations
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Open,
    Info,
    PinStatus,
    GetData,
    VerifyPin,
    PinVerified,
    Logout,
    ChangePin,
    Unblock,
    UnblockPin,
    Authenticate,
    AuthenticateBusiness,
    Sign,
    SignGovernmental,
    /// `sign` on a card whose FCI states contract 1.1: one PSO with PIN2.
    SignContract11,
    PublicKey,
    ReadCertificateDer,
    ReadCertificate,
    /// `sign` on a card other programs share: the signature is checked.
    SignShared,
    /// `authenticate` on a card other programs share.
    AuthenticateShared,
}

/// The operations whose card is shared (tested in `shared.rs`: a hostile
/// answer there may make them try again, so they are not in `OPS`).
pub const SHARED_OPS: [Op; 2] = [Op::SignShared, Op::AuthenticateShared];

pub const OPS: [Op; 18] = [
    Op::Open,
    Op::Info,
    Op::PinStatus,
    Op::GetData,
    Op::VerifyPin,
    Op::PinVerified,
    Op::Logout,
    Op::ChangePin,
    Op::Unblock,
    Op::UnblockPin,
    Op::Authenticate,
    Op::AuthenticateBusiness,
    Op::Sign,
    Op::SignGovernmental,
    Op::SignContract11,
    Op::PublicKey,
    Op::ReadCertificateDer,
    Op::ReadCertificate,
];

/// The FCI of a contract 1.1 card: `6F { 84 AID, A5 { C0 000201, C7 01, C2 05 } }`.
pub const FCI_1_1: &str = "6F19 840AF04153414E494D5A4101 A50B C003000201 C70101 C20105 9000";

/// What each position of an exchange carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// SELECT of the applet (no data expected).
    Select,
    /// A command answered by a status only (VERIFY, MSE, SELECT EF…).
    NoData,
    /// GET DATA 6E.
    Info,
    /// GET DATA C4.
    Pins,
    /// GET DATA C1.
    Serial,
    /// INTERNAL AUTHENTICATE / PSO: 64 bytes.
    Signature,
    /// GET PUBLIC KEY.
    PublicKey,
    /// READ BINARY.
    Certificate,
}

impl Op {
    /// The good answers, SELECT first, with what each position carries.
    pub fn good(self) -> Vec<(Slot, Vec<u8>)> {
        let select = match self {
            Op::SignContract11 => (Slot::Select, hx(FCI_1_1)),
            _ => (Slot::Select, hx(OK)),
        };
        let cert = certificate();
        let rest: Vec<(Slot, Vec<u8>)> = match self {
            Op::Open => vec![],
            Op::Info => vec![(Slot::Info, okh(INFO))],
            Op::PinStatus => vec![(Slot::Pins, okh(PIN_STATUS))],
            Op::GetData => vec![(Slot::Serial, okh(SERIAL))],
            Op::VerifyPin
            | Op::PinVerified
            | Op::Logout
            | Op::ChangePin
            | Op::Unblock
            | Op::UnblockPin => {
                vec![(Slot::NoData, hx(OK))]
            }
            Op::SignContract11 => vec![(Slot::Signature, signature_answer(64))],
            Op::Authenticate | Op::Sign => vec![
                (Slot::NoData, hx(OK)),
                (Slot::Signature, signature_answer(64)),
            ],
            Op::AuthenticateBusiness | Op::SignGovernmental => vec![
                (Slot::NoData, hx(OK)),
                (Slot::NoData, hx(OK)),
                (Slot::Signature, signature_answer(64)),
            ],
            Op::PublicKey => vec![(Slot::PublicKey, public_key_answer(POINT_G))],
            Op::SignShared | Op::AuthenticateShared => vec![
                (
                    Slot::PublicKey,
                    public_key_answer(&hex::encode(signer_point())),
                ),
                (Slot::NoData, hx(OK)),
                (Slot::Signature, ok(&signed(&DIGEST))),
            ],
            Op::ReadCertificateDer => vec![
                (Slot::NoData, hx(OK)),
                (Slot::Certificate, okh("30 03 020101")),
            ],
            Op::ReadCertificate => vec![
                (Slot::NoData, hx(OK)),
                (Slot::Certificate, ok(&cert[..256])),
                (Slot::Certificate, ok(&cert[256..])),
            ],
        };
        std::iter::once(select).chain(rest).collect()
    }

    /// The positions to attack: SELECT only through `open`.
    pub fn positions(self) -> std::ops::Range<usize> {
        let n = self.good().len();
        if self == Op::Open { 0..1 } else { 1..n }
    }

    /// Runs the operation; `Ok` carries a description of what it returned.
    pub fn run(self, t: ScriptedTransport) -> Result<String, Error> {
        let mut card = AsanCard::open(t)?;
        let pin1 = Pin1::new("1234")?;
        let pin2 = Pin2::new("12345")?;
        let puk = Puk::new("12345678")?;
        let digest = DIGEST;
        card.transport_mut().shared = SHARED_OPS.contains(&self);
        let r = match self {
            Op::Open => Ok("opened".to_owned()),
            Op::Info => card.info().map(|v| format!("{v:?}")),
            Op::PinStatus => card.pin_status().map(|v| format!("{v:?}")),
            Op::GetData => card.get_data(0xC1).map(|v| format!("{v:02X?}")),
            Op::VerifyPin => card.verify_pin(&pin1).map(|()| "verified".to_owned()),
            Op::PinVerified => card
                .pin_verified(PinRef::Pin1)
                .map(|v| format!("verified: {v}")),
            Op::Logout => card.logout(PinRef::Pin2).map(|()| "logged out".to_owned()),
            Op::ChangePin => card
                .change_pin(
                    &AnyPin::new(PinRef::Pin2, "12345")?,
                    &AnyPin::new(PinRef::Pin2, "54321")?,
                )
                .map(|()| "changed".to_owned()),
            Op::Unblock => card
                .unblock(Some(PinRef::Pin1), &puk, None)
                .map(|()| "unblocked".to_owned()),
            Op::UnblockPin => card
                .unblock_pin(&puk, Some(&AnyPin::new(PinRef::Pin2, "54321")?))
                .map(|()| "unblocked".to_owned()),
            Op::Authenticate => card
                .authenticate(&digest, &pin1, CertificateProfile::Citizen)
                .map(|s| format!("signature {:02X?}", &s[..4])),
            Op::AuthenticateBusiness => card
                .authenticate(&[0x42; 48], &pin1, CertificateProfile::Business)
                .map(|s| format!("signature {:02X?}", &s[..4])),
            Op::Sign => card
                .sign(&digest, &pin2, CertificateProfile::Citizen)
                .map(|s| format!("signature {:02X?}", &s[..4])),
            Op::SignGovernmental => card
                .sign(&digest, &pin2, CertificateProfile::Governmental)
                .map(|s| format!("signature {:02X?}", &s[..4])),
            Op::SignContract11 => card
                .sign(&digest, &pin2, CertificateProfile::Citizen)
                .map(|s| format!("signature {:02X?}", &s[..4])),
            Op::SignShared => card
                .sign(&digest, &pin2, CertificateProfile::Citizen)
                .map(|s| format!("signature {:02X?}", &s[..4])),
            Op::AuthenticateShared => card
                .authenticate(&digest, &pin1, CertificateProfile::Citizen)
                .map(|s| format!("signature {:02X?}", &s[..4])),
            Op::PublicKey => card
                .public_key(KeyRef::DEFAULT_SIGNING)
                .map(|k| format!("{k:?}")),
            Op::ReadCertificateDer => card
                .read_certificate_der(KeyRef::DEFAULT_SIGNING)
                .map(|d| format!("{} bytes {d:02X?}", d.len())),
            Op::ReadCertificate => card
                .read_certificate(CertificateProfile::Citizen, KeyUsage::Signing)
                .map(|c| {
                    format!(
                        "certificate, serial {:02X?}",
                        c.tbs_certificate().serial_number().as_bytes()
                    )
                }),
        };
        r.map(|s| format!("{s} after {} APDUs", card.transport().sent.len()))
            .inspect_err(|_| {
                let n = card.transport().sent.len();
                assert!(n <= MAX_APDUS, "{n} APDUs sent");
            })
    }
}
