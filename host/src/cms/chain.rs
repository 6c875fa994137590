//! Certificates of a signature: the path from the signer to a trust anchor,
//! validity at a time, key usage.

use std::time::{SystemTime, UNIX_EPOCH};

use der::{Decode, Encode};
use x509_cert::Certificate;
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage};

use super::{raw, sha256, verify_ecdsa_p256_sha256};

/// Longest path tried (signer, intermediates, anchor).
const MAX_PATH: usize = 8;

/// A certificate with the DER it came in.
#[derive(Clone, Debug)]
pub(super) struct Cert {
    /// DER.
    pub der: Vec<u8>,
    /// Parsed.
    pub cert: Certificate,
}

impl Cert {
    /// Parses DER.
    pub fn from_der(der: &[u8]) -> Result<Self, der::Error> {
        Ok(Self {
            der: der.to_vec(),
            cert: Certificate::from_der(der)?,
        })
    }

    /// From a parsed certificate (its DER encoding).
    pub fn from_cert(cert: Certificate) -> Result<Self, der::Error> {
        Ok(Self {
            der: cert.to_der()?,
            cert,
        })
    }

    /// Subject, RFC 4514.
    pub fn subject(&self) -> String {
        self.cert.tbs_certificate().subject().to_string()
    }

    /// The public key: the SEC1 point.
    pub fn public_key(&self) -> &[u8] {
        self.cert
            .tbs_certificate()
            .subject_public_key_info()
            .subject_public_key
            .raw_bytes()
    }

    /// Whether the key is an EC key on P-256.
    pub fn is_p256(&self) -> bool {
        let spki = self.cert.tbs_certificate().subject_public_key_info();
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<der::asn1::ObjectIdentifier>().ok());
        spki.algorithm.oid == der::oid::db::rfc5912::ID_EC_PUBLIC_KEY
            && curve == Some(der::oid::db::rfc5912::SECP_256_R_1)
    }

    /// Whether `issuer` signed this certificate; `Err` says why not.
    fn signed_by(&self, issuer: &Cert) -> Result<(), String> {
        let alg = self.cert.signature_algorithm().oid;
        if alg != der::oid::db::rfc5912::ECDSA_WITH_SHA_256 {
            return Err(format!(
                "{} is signed with {alg}; only ecdsa-with-SHA256 is supported",
                self.subject()
            ));
        }
        if !issuer.is_p256() {
            return Err(format!("the key of {} is not P-256", issuer.subject()));
        }
        let tbs = raw::tbs_certificate(&self.der)?;
        let signature = self
            .cert
            .signature()
            .as_bytes()
            .ok_or_else(|| format!("the signature on {} is not whole bytes", self.subject()))?;
        if verify_ecdsa_p256_sha256(issuer.public_key(), &sha256(&tbs), signature) {
            Ok(())
        } else {
            Err(format!(
                "the signature on {} does not verify with the key of {}",
                self.subject(),
                issuer.subject()
            ))
        }
    }

    fn is_ca(&self) -> bool {
        matches!(
            self.cert.tbs_certificate().get_extension::<BasicConstraints>(),
            Ok(Some((_, bc))) if bc.ca
        )
    }
}

/// The path from `signer` to one of `anchors` through `pool` (the
/// signature's certificates): signer first, anchor last. `Err` says where
/// it breaks.
pub(super) fn build_path(
    signer: &Cert,
    pool: &[Cert],
    anchors: &[Cert],
) -> Result<Vec<Cert>, String> {
    if anchors.is_empty() {
        return Err("no trust anchor given".into());
    }
    let mut path = vec![signer.clone()];
    let mut why = String::new();
    while path.len() < MAX_PATH {
        let Some(current) = path.last() else { break };
        if anchors.iter().any(|a| a.der == current.der) {
            return Ok(path);
        }
        let issuer_name = current.cert.tbs_certificate().issuer();
        let mut found = None;
        for anchor in anchors {
            if anchor.cert.tbs_certificate().subject() == issuer_name {
                match current.signed_by(anchor) {
                    Ok(()) => {
                        found = Some((anchor.clone(), true));
                        break;
                    }
                    Err(e) => why = e,
                }
            }
        }
        if found.is_none() {
            for candidate in pool {
                let named = candidate.cert.tbs_certificate().subject() == issuer_name;
                if !named || path.iter().any(|p| p.der == candidate.der) {
                    continue;
                }
                if !candidate.is_ca() {
                    why = format!("{} is not a CA certificate", candidate.subject());
                    continue;
                }
                match current.signed_by(candidate) {
                    Ok(()) => {
                        found = Some((candidate.clone(), false));
                        break;
                    }
                    Err(e) => why = e,
                }
            }
        }
        match found {
            Some((cert, true)) => {
                path.push(cert);
                return Ok(path);
            }
            Some((cert, false)) => path.push(cert),
            None if why.is_empty() => {
                return Err(format!(
                    "no trust anchor or certificate in the signature is the issuer {issuer_name}"
                ));
            }
            None => return Err(why),
        }
    }
    Err(format!("no trust anchor within {MAX_PATH} certificates"))
}

/// Seconds since 1970 (0 before it), for messages.
fn seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// RFC 3339 of a time.
pub(super) fn rfc3339(t: SystemTime) -> String {
    match x509_cert::time::Time::try_from(t) {
        Ok(time) => time.to_string(),
        Err(_) => format!("{} seconds after 1970", seconds(t)),
    }
}

/// Whether every certificate of `path` was valid at `at`.
pub(super) fn check_validity(path: &[Cert], at: SystemTime) -> Result<String, String> {
    for c in path {
        let validity = c.cert.tbs_certificate().validity();
        let (from, until) = (
            validity.not_before.to_system_time(),
            validity.not_after.to_system_time(),
        );
        let state = if at < from {
            "not yet valid"
        } else if at > until {
            "expired"
        } else {
            continue;
        };
        return Err(format!(
            "{} was {state} at {}: valid from {} until {}",
            c.subject(),
            rfc3339(at),
            validity.not_before,
            validity.not_after
        ));
    }
    Ok(format!(
        "{} certificate(s) valid at {}",
        path.len(),
        rfc3339(at)
    ))
}

/// Whether the signer's certificate allows nonRepudiation (contentCommitment).
pub(super) fn check_key_usage(signer: &Cert) -> Result<String, String> {
    match signer.cert.tbs_certificate().get_extension::<KeyUsage>() {
        Ok(Some((_, ku))) if ku.non_repudiation() => {
            Ok("the signer's certificate allows nonRepudiation".into())
        }
        Ok(Some((_, ku))) => {
            let mut has = Vec::new();
            if ku.digital_signature() {
                has.push("digitalSignature");
            }
            if ku.key_cert_sign() {
                has.push("keyCertSign");
            }
            if ku.key_agreement() {
                has.push("keyAgreement");
            }
            Err(format!(
                "the signer's certificate does not allow nonRepudiation (key usage: {}); \
                 is it an authentication certificate?",
                if has.is_empty() {
                    "none".to_owned()
                } else {
                    has.join(", ")
                }
            ))
        }
        Ok(None) => Err("the signer's certificate has no key usage extension".into()),
        Err(e) => Err(format!("the key usage extension is malformed: {e}")),
    }
}
