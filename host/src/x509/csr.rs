//! PKCS#10 certificate requests: built with one signature by a
//! [`DigestSigner`] (on the card), parsed and verified for the CA.

use der::{Decode, Encode};
use p256::PublicKey;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{DerSignature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use x509_cert::builder::Builder;
use x509_cert::ext::pkix::BasicConstraints;
use x509_cert::name::Name;
use x509_cert::request::{CertReq, RequestBuilder};

use super::cert_error;
use super::signer::{CardSigner, DigestSigner, ECDSA_WITH_SHA256};
use crate::error::{Error, Result};

/// A PKCS#10 request for the key behind `signer`, subject `subject`, signed by
/// the signer (on the card: one signature). Returns DER.
///
/// The request asks for `basicConstraints CA:false`, so its
/// extensionRequest attribute is never an empty SET. If the signer fails,
/// its own error comes back (for example [`Error::WrongPin`]).
pub fn build_csr(subject: Name, signer: &mut dyn DigestSigner) -> Result<Vec<u8>> {
    let card = CardSigner::new(signer);
    let mut builder = RequestBuilder::new(subject)
        .map_err(|e| cert_error("cannot start the certificate request", e))?;
    builder
        .add_extension(&BasicConstraints {
            ca: false,
            path_len_constraint: None,
        })
        .map_err(|e| cert_error("cannot add basicConstraints to the certificate request", e))?;
    let request = match builder.build::<_, DerSignature>(&card) {
        Ok(request) => request,
        Err(e) => {
            return Err(card
                .take_error()
                .unwrap_or_else(|| cert_error("cannot build the certificate request", e)));
        }
    };
    request
        .to_der()
        .map_err(|e| cert_error("cannot encode the certificate request", e))
}

/// The DER of a request given as DER or PEM (`CERTIFICATE REQUEST` or
/// `NEW CERTIFICATE REQUEST`).
fn request_der(bytes: &[u8]) -> Result<Vec<u8>> {
    let trimmed = bytes.trim_ascii();
    if !trimmed.starts_with(b"-----BEGIN") {
        return Ok(bytes.to_vec());
    }
    let (label, der) = der::pem::decode_vec(trimmed)
        .map_err(|e| cert_error("the certificate request is not valid PEM", e))?;
    match label {
        "CERTIFICATE REQUEST" | "NEW CERTIFICATE REQUEST" => Ok(der),
        other => Err(Error::Certificate(format!(
            "expected a PEM CERTIFICATE REQUEST, found a PEM {other}"
        ))),
    }
}

/// Parses a request (DER or PEM), verifies its self-signature (ECDSA
/// P-256 with SHA-256), returns its subject and public key.
pub fn verify_csr(bytes: &[u8]) -> Result<(Name, PublicKey)> {
    let der = request_der(bytes)?;
    let request =
        CertReq::from_der(&der).map_err(|e| cert_error("not a PKCS#10 certificate request", e))?;
    // The signature covers the encoded CertificationRequestInfo; re-encoding
    // is only the same bytes if the input was canonical DER.
    let reencoded = request
        .to_der()
        .map_err(|e| cert_error("cannot encode the certificate request", e))?;
    if reencoded != der {
        return Err(Error::Certificate(
            "the certificate request is not in canonical DER".into(),
        ));
    }
    if request.algorithm.oid != ECDSA_WITH_SHA256 || request.algorithm.parameters.is_some() {
        return Err(Error::Certificate(format!(
            "the certificate request is signed with {}, expected ecdsa-with-SHA256",
            request.algorithm.oid
        )));
    }
    let spki = request
        .info
        .public_key
        .to_der()
        .map_err(|e| cert_error("cannot encode the request's public key", e))?;
    let public_key = PublicKey::from_public_key_der(&spki)
        .map_err(|e| cert_error("the request's public key is not a P-256 key", e))?;
    let signature_bytes = request.signature.as_bytes().ok_or_else(|| {
        Error::Certificate("the request's signature is not a whole number of bytes".into())
    })?;
    let signature = DerSignature::try_from(signature_bytes)
        .map_err(|e| cert_error("the request's signature is not a DER ECDSA signature", e))?;
    let info = request
        .info
        .to_der()
        .map_err(|e| cert_error("cannot encode the request", e))?;
    VerifyingKey::from(&public_key)
        .verify(&info, &signature)
        .map_err(|_| {
            Error::Certificate("the certificate request's signature does not verify".into())
        })?;
    Ok((request.info.subject, public_key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::x509::{SoftwareSigner, SubjectInfo, subject_name};
    use asan_applet::CertificateProfile;
    use der::EncodePem;

    fn csr() -> (Vec<u8>, PublicKey, Name) {
        let info = SubjectInfo {
            name: "Test".into(),
            id: "1ABCDEF".into(),
            organisation: None,
            voen: None,
        };
        let subject = subject_name(CertificateProfile::Citizen, &info).unwrap();
        let mut key = SoftwareSigner::generate().unwrap();
        let der = build_csr(subject.clone(), &mut key).unwrap();
        (der, key.public_key(), subject)
    }

    #[test]
    fn round_trip_der_and_pem() {
        let (der, pk, subject) = csr();
        assert_eq!(verify_csr(&der).unwrap(), (subject.clone(), pk));
        let pem = CertReq::from_der(&der)
            .unwrap()
            .to_pem(der::pem::LineEnding::LF)
            .unwrap();
        assert_eq!(verify_csr(pem.as_bytes()).unwrap(), (subject, pk));
    }

    #[test]
    fn tampered_subject_is_refused() {
        let (der, _, _) = csr();
        let at = der.windows(4).position(|w| w == b"Test").unwrap();
        let mut bad = der.clone();
        bad[at] = b'B';
        assert!(
            matches!(verify_csr(&bad), Err(Error::Certificate(m)) if m.contains("does not verify"))
        );
    }
}
