//! A development time-stamping authority (RFC 3161): `asan tsa init`
//! makes its key and its certificate from the development CA,
//! `asan tsa stamp` answers a `TimeStampReq` with a `TimeStampResp`, and
//! `asan tsa serve` does so over HTTP ([`serve`]).
//!
//! The TSA directory holds `tsa.key` (PKCS#8 PEM, mode 0600), `tsa.pem`
//! and `serial` (the last serial number given, written and fsynced before
//! a token carries the next one, so serial numbers never repeat). Tokens
//! carry the policy [`TSA_POLICY`], genTime to the second with an accuracy
//! of one second, the request's nonce, and the TSA's certificate when the
//! request asks for it. A request this TSA cannot serve gets a rejection
//! (status 2) with the RFC's failure bit and a reason, never a token.

pub mod client;
pub mod serve;
pub mod types;

pub use client::TsaClient;

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use der::asn1::{Any, BitString, Int, Utf8StringRef};
use der::pem::LineEnding;
use der::{Decode, Encode};
use p256::ecdsa::SigningKey;
use p256::elliptic_curve::Generate;
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey};

use crate::cms::asn1;
use crate::error::{Error, Result};
use crate::x509::{DevCa, io_error};
use types::{Accuracy, PkiStatusInfo, TimeStampReq, TimeStampResp, TstInfo};

/// The development TSA's policy: our UUID arc, `.2.1`.
pub const TSA_POLICY: &str = "2.25.61485682124220308471771109637782283797.2.1";

const KEY_FILE: &str = "tsa.key";
const CERT_FILE: &str = "tsa.pem";
const SERIAL_FILE: &str = "serial";

/// `PKIFailureInfo` bits (RFC 3161 §2.4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Unrecognised or unsupported algorithm.
    BadAlg = 0,
    /// Transaction not permitted or supported.
    BadRequest = 2,
    /// The data submitted has the wrong format.
    BadDataFormat = 5,
    /// The requested TSA policy is not supported.
    UnacceptedPolicy = 15,
    /// The requested extension is not supported.
    UnacceptedExtension = 16,
}

/// A time-stamping authority, loaded from its directory.
pub struct Tsa {
    dir: PathBuf,
    key: SigningKey,
    cert_der: Vec<u8>,
}

impl std::fmt::Debug for Tsa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tsa")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Tsa {
    /// Creates a TSA in `dir` (which must not hold one): a P-256 key and
    /// its certificate issued by `ca` at `now`.
    pub fn init(dir: &Path, ca: &DevCa, now: SystemTime) -> Result<Self> {
        if dir.join(KEY_FILE).exists() {
            return Err(Error::Usage(format!(
                "{} already holds a TSA; choose another directory",
                dir.display()
            )));
        }
        std::fs::create_dir_all(dir).map_err(io_error(dir))?;
        let key = SigningKey::try_generate_from_rng(&mut getrandom::SysRng)
            .map_err(|e| Error::Certificate(format!("cannot generate the TSA key: {e}")))?;
        let cert_der = ca.issue_tsa(&p256::PublicKey::from(key.verifying_key()), now)?;
        let key_pem = key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| Error::Certificate(format!("cannot encode the TSA key: {e}")))?;
        crate::files::write_private(&dir.join(KEY_FILE), key_pem.as_bytes())?;
        crate::files::write_private(
            &dir.join(CERT_FILE),
            crate::cert::to_pem(&cert_der).as_bytes(),
        )?;
        Ok(Self {
            dir: dir.to_path_buf(),
            key,
            cert_der,
        })
    }

    /// Loads the TSA of `dir`.
    pub fn load(dir: &Path) -> Result<Self> {
        let key_path = dir.join(KEY_FILE);
        let key_pem = std::fs::read_to_string(&key_path).map_err(io_error(&key_path))?;
        let key = SigningKey::from_pkcs8_pem(&key_pem).map_err(|e| {
            Error::Certificate(format!(
                "{}: not a PKCS#8 P-256 key: {e}",
                key_path.display()
            ))
        })?;
        let cert_path = dir.join(CERT_FILE);
        let cert_der =
            crate::cert::pem_or_der(&std::fs::read(&cert_path).map_err(io_error(&cert_path))?)?;
        let cert = crate::cert::parse(&cert_der)?;
        let certified = p256::PublicKey::from_sec1_bytes(&crate::cert::public_key_bytes(&cert));
        if certified.ok().as_ref() != Some(&p256::PublicKey::from(key.verifying_key())) {
            return Err(Error::Certificate(format!(
                "{} is not the certificate of {}",
                cert_path.display(),
                key_path.display()
            )));
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            key,
            cert_der,
        })
    }

    /// The TSA's certificate (DER).
    pub fn certificate(&self) -> &[u8] {
        &self.cert_der
    }

    /// The next serial number, persisted before it is used.
    fn next_serial(&self) -> Result<u64> {
        let path = self.dir.join(SERIAL_FILE);
        let last = match std::fs::read_to_string(&path) {
            Ok(s) => s.trim().parse::<u64>().map_err(|_| {
                Error::Certificate(format!(
                    "{}: not a serial number; the TSA refuses to guess",
                    path.display()
                ))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(io_error(&path)(e)),
        };
        let next = last
            .checked_add(1)
            .ok_or_else(|| Error::Certificate("the TSA's serial numbers are used up".into()))?;
        crate::files::write_private(&path, format!("{next}\n").as_bytes())?;
        Ok(next)
    }

    /// Answers a DER `TimeStampReq` at `now`: a granted `TimeStampResp` with
    /// a token, or a rejection with the failure bit and a reason.
    pub fn stamp(&self, request: &[u8], now: SystemTime) -> Result<Stamped> {
        let req = match TimeStampReq::from_der(request) {
            Ok(r) => r,
            Err(e) => return reject(Failure::BadDataFormat, &format!("not a TimeStampReq: {e}")),
        };
        if req.version != 1 {
            return reject(Failure::BadRequest, "only version 1 requests are served");
        }
        let imprint = &req.message_imprint;
        let expected_len = match imprint.hash_algorithm.oid {
            der::oid::db::rfc5912::ID_SHA_256 => 32,
            der::oid::db::rfc5912::ID_SHA_384 => 48,
            der::oid::db::rfc5912::ID_SHA_512 => 64,
            _ => {
                return reject(
                    Failure::BadAlg,
                    "the hash must be SHA-256, SHA-384 or SHA-512",
                );
            }
        };
        if imprint.hashed_message.as_bytes().len() != expected_len {
            return reject(
                Failure::BadDataFormat,
                "the hash has the wrong length for its algorithm",
            );
        }
        let policy = types::RawOid::from_oid_der(&crate::x509::oid_to_der(TSA_POLICY)?)
            .map_err(asn1("the policy"))?;
        if req.req_policy.as_ref().is_some_and(|p| *p != policy) {
            return reject(
                Failure::UnacceptedPolicy,
                &format!("this TSA's policy is {TSA_POLICY}"),
            );
        }
        if req.extensions.is_some() {
            return reject(
                Failure::UnacceptedExtension,
                "no request extensions are supported",
            );
        }
        let serial = self.next_serial()?;
        let gen_time = types::GenTime::from_system_time(now)
            .map_err(|e| Error::Usage(format!("the time is out of range: {e}")))?;
        let tst = TstInfo {
            version: 1,
            policy,
            message_imprint: req.message_imprint.clone(),
            serial_number: Int::new(&minimal_integer(serial)).map_err(asn1("the serial number"))?,
            gen_time,
            accuracy: Some(Accuracy {
                seconds: Some(1),
                millis: None,
                micros: None,
            }),
            ordering: false,
            nonce: req.nonce.clone(),
            tsa: None,
            extensions: None,
        };
        let tst_der = tst.to_der().map_err(asn1("TSTInfo"))?;
        let token = crate::cms::sign_tst_info(&tst_der, &self.cert_der, &self.key, req.cert_req)?;
        let response = TimeStampResp {
            status: PkiStatusInfo {
                status: 0,
                status_string: None,
                fail_info: None,
            },
            time_stamp_token: Some(Any::from_der(&token).map_err(asn1("the token"))?),
        }
        .to_der()
        .map_err(asn1("the response"))?;
        Ok(Stamped {
            response,
            granted: Some((serial, now)),
            reason: None,
        })
    }
}

/// The content octets of a DER INTEGER for `n` (no leading zero byte but
/// the one a high bit needs).
pub(crate) fn minimal_integer(n: u64) -> Vec<u8> {
    let bytes = n.to_be_bytes();
    let first = bytes
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(bytes.len() - 1);
    let mut out = Vec::with_capacity(9);
    if bytes[first] & 0x80 != 0 {
        out.push(0);
    }
    out.extend_from_slice(&bytes[first..]);
    out
}

/// What [`Tsa::stamp`] answered.
#[derive(Clone, Debug)]
pub struct Stamped {
    /// The DER `TimeStampResp`.
    pub response: Vec<u8>,
    /// Serial number and time of a granted token.
    pub granted: Option<(u64, SystemTime)>,
    /// Why a request was rejected.
    pub reason: Option<String>,
}

/// A rejection: status 2 (rejection), the failure bit, the reason.
fn reject(failure: Failure, reason: &str) -> Result<Stamped> {
    let bit = failure as usize;
    let mut bytes = vec![0u8; bit / 8 + 1];
    bytes[bit / 8] = 0x80 >> (bit % 8);
    let unused = (bit % 8) as u8 ^ 7;
    let text = Utf8StringRef::new(reason).map_err(asn1("the reason"))?;
    let response = TimeStampResp {
        status: PkiStatusInfo {
            status: 2,
            status_string: Some(vec![text]),
            fail_info: Some(BitString::new(unused, bytes).map_err(asn1("the failure"))?),
        },
        time_stamp_token: None,
    }
    .to_der()
    .map_err(asn1("the response"))?;
    Ok(Stamped {
        response,
        granted: None,
        reason: Some(reason.to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_numbers_are_minimal_positive_integers() {
        assert_eq!(minimal_integer(0), [0]);
        assert_eq!(minimal_integer(1), [1]);
        assert_eq!(minimal_integer(127), [0x7F]);
        assert_eq!(minimal_integer(128), [0, 0x80]);
        assert_eq!(minimal_integer(256), [1, 0]);
        assert_eq!(
            minimal_integer(u64::MAX),
            [0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]
        );
    }

    #[test]
    fn a_rejection_carries_the_failure_bit_and_the_reason() {
        let r = reject(Failure::UnacceptedExtension, "no extensions")
            .unwrap_or_else(|e| unreachable!("{e}"));
        let resp = TimeStampResp::from_der(&r.response).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(resp.status.status, 2);
        assert!(resp.time_stamp_token.is_none());
        let bits = resp.status.fail_info.unwrap_or_else(|| unreachable!());
        assert_eq!(bits.raw_bytes(), [0, 0, 0x80]);
        assert_eq!(bits.unused_bits(), 7);
        assert_eq!(r.reason.as_deref(), Some("no extensions"));
    }
}
