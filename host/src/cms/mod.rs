//! Document signatures: CMS `SignedData` (RFC 5652) with CAdES-BES signed
//! attributes, made with a key that only signs SHA-256 digests (the card),
//! and a verifier that says which check failed.
//!
//! * [`digest_reader`] / [`digest_file`]: SHA-256 of a document, streamed in
//!   64 KiB blocks, so a file of any size costs constant memory.
//! * [`sign_detached`]: the signature over a digest — content-type
//!   (id-data), message-digest, signing-time and signing-certificate-v2
//!   (RFC 5035, SHA-256 of the signer's certificate) as signed attributes,
//!   the signer's certificate and any chain, ecdsa-with-SHA256. One
//!   signature by the key: one VERIFY + PSO on the card. Detached by default,
//!   or with the content embedded ([`SignOptions::attached`]).
//!   [`sign_on_card`] does it with the signing key and certificate of a
//!   profile on the card. With [`SignOptions::timestamp`] a signature
//!   time-stamp token (RFC 3161) over the signature value is added as an
//!   unsigned attribute (CAdES-T); [`timestamp_of`] reads it back and
//!   [`check_token`] checks a token on its own.
//! * [`verify`] / [`verify_with`]: structure (exactly one certificate in the
//!   message matches the signer identifier), content digest, signature
//!   (ECDSA in DER or raw `r || s`), signed attributes (signing-time
//!   reported, never used; signing-certificate-v2 as the CAdES-BES
//!   binding), signature time-stamp tokens (each token's signature and
//!   imprint, its TSA's path at the validation time), then the signer's
//!   certificate path validated by [`crate::pki`] for document signing —
//!   at the validation time, or at the token's genTime when the signature
//!   is time-stamped — each reported as a [`Check`]. The validated certificate, as received, is
//!   what [`Verification::signer_certificate`] gives. It also verifies what
//!   `openssl cms -sign -md sha256` makes.
//! * [`verify_ecdsa_p256_sha256`]: the one ECDSA verification every check
//!   goes through (tested against the Wycheproof vectors).
//!
//! OpenSSL 3.0 does not check the signing-certificate-v2 hash; [`verify`]
//! does.
//!
//! All of the `cms` crate (a pinned release candidate) is used here and
//! nowhere else.
//!
//! ```
//! use asan_host::cms::{SignOptions, digest_reader, sign_detached, verify};
//! use asan_host::x509::{DevCa, SoftwareSigner, SubjectInfo, build_csr, subject_name};
//! use asan_applet::{CertificateProfile, KeyUsage};
//! # fn main() -> asan_host::Result<()> {
//! # let dir = std::env::temp_dir().join(format!("asan-doc-cms-{}", std::process::id()));
//! # let _ = std::fs::remove_dir_all(&dir);
//! let ca = DevCa::init(&dir)?;
//! let info = SubjectInfo { name: "Test".into(), id: "1234567".into(), organisation: None, voen: None };
//! let mut key = SoftwareSigner::generate()?;
//! let csr = build_csr(subject_name(CertificateProfile::Citizen, &info)?, &mut key)?;
//! let now = std::time::SystemTime::now();
//! let cert = ca.issue(&csr, CertificateProfile::Citizen, KeyUsage::Signing, now)?;
//!
//! let digest = digest_reader(&mut &b"a contract"[..])?;
//! let opts = SignOptions {
//!     chain: vec![],
//!     signing_time: now,
//!     signing_time_attribute: true,
//!     attached: None,
//!     timestamp: None, // Some(TsaClient::new("http://…")?) for CAdES-T
//! };
//! let p7s = sign_detached(&digest, &cert, &mut key, &opts)?;
//! let result = verify(&p7s, Some(&digest), &[ca.root_der()], now)?;
//! assert!(result.valid, "{:?}", result.checks);
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok(())
//! # }
//! ```

mod card;
mod ess;
mod raw;
mod sign;
mod structure;
mod timestamp;
pub(crate) mod token;
mod verify;

use std::io::Read;
use std::path::Path;

use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::ecdsa::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

pub use card::{CardSignature, sign_on_card, sign_on_card_with};
pub use ess::{
    EssCertIdV2, ID_AA_SIGNING_CERTIFICATE_V2, IssuerSerial, SigningCertificateV2,
    signing_certificate_v2,
};
pub(crate) use sign::asn1;
pub use sign::{SignOptions, sign_detached};
pub use timestamp::{ID_CT_TST_INFO, sign_tst_info};
pub use token::{ID_AA_SIGNATURE_TIME_STAMP_TOKEN, TimeStampInfo, check_token, timestamp_of};
pub use verify::{Check, TimestampReport, Verification, VerifyOptions, verify, verify_with};

/// How many bytes [`digest_reader`] reads at a time (64 KiB).
pub const BLOCK_SIZE: usize = 64 * 1024;

/// SHA-256 of a reader, streamed in 64 KiB blocks (constant memory).
pub fn digest_reader(r: &mut dyn Read) -> Result<[u8; 32]> {
    let mut hasher = Sha256::new();
    let mut block = vec![0u8; BLOCK_SIZE];
    loop {
        match r.read(&mut block) {
            Ok(0) => break,
            Ok(n) => {
                let chunk = block.get(..n).ok_or_else(|| Error::Io {
                    path: "<input>".into(),
                    source: std::io::Error::other("the reader claims more bytes than it was given"),
                })?;
                hasher.update(chunk);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(source) => {
                return Err(Error::Io {
                    path: "<input>".into(),
                    source,
                });
            }
        }
    }
    Ok(hasher.finalize().into())
}

/// SHA-256 of a file through [`digest_reader`]; errors name the file.
pub fn digest_file(path: &Path) -> Result<[u8; 32]> {
    let name = || path.display().to_string();
    let mut file = std::fs::File::open(path).map_err(|source| Error::Io {
        path: name(),
        source,
    })?;
    digest_reader(&mut file).map_err(|e| match e {
        Error::Io { source, .. } => Error::Io {
            path: name(),
            source,
        },
        e => e,
    })
}

/// Verifies an ECDSA P-256 signature over a SHA-256 digest: `public_key` is
/// a SEC1 point, `signature` DER (`ECDSA-Sig-Value`, strict) or raw
/// `r || s` (64 bytes, IEEE P1363). Anything malformed is simply `false`.
pub fn verify_ecdsa_p256_sha256(public_key: &[u8], digest: &[u8; 32], signature: &[u8]) -> bool {
    let Ok(key) = VerifyingKey::from_sec1_bytes(public_key) else {
        return false;
    };
    let signature = match Signature::from_der(signature) {
        Ok(s) => s,
        Err(_) if signature.len() == 64 => match Signature::from_slice(signature) {
            Ok(s) => s,
            Err(_) => return false,
        },
        Err(_) => return false,
    };
    key.verify_prehash(digest, &signature).is_ok()
}

/// The certificates in a file: DER, or one or more PEM `CERTIFICATE` blocks.
pub fn certificates_from_file_bytes(bytes: &[u8]) -> Result<Vec<Vec<u8>>> {
    crate::pki::certificates_in_bytes(bytes)
}

/// The DER bytes of a CMS message given as DER or PEM (`CMS` or `PKCS7`).
pub fn cms_der(bytes: &[u8]) -> Result<Vec<u8>> {
    if !bytes.starts_with(b"-----BEGIN") {
        return Ok(bytes.to_vec());
    }
    let (label, der) = der::pem::decode_vec(bytes)
        .map_err(|e| Error::Verification(format!("not a PEM CMS message: {e}")))?;
    if label != "CMS" && label != "PKCS7" {
        return Err(Error::Verification(format!(
            "PEM label {label}, expected CMS or PKCS7"
        )));
    }
    Ok(der)
}

/// The content embedded in a CMS `SignedData` (DER or PEM), read without
/// verifying anything: for showing a document to a person before they
/// decide about it. Never trust it; [`verify_with`] and
/// [`Verification::content`] are what vouch for content.
pub fn unverified_content(signed: &[u8]) -> Result<Vec<u8>> {
    use ::cms::content_info::ContentInfo;
    use ::cms::signed_data::SignedData;
    use der::{Decode, Tagged};
    let der = cms_der(signed)?;
    let not_cms = |e: der::Error| Error::Verification(format!("not a CMS signature: {e}"));
    let content_info = ContentInfo::from_der(&der).map_err(not_cms)?;
    if content_info.content_type != der::oid::db::rfc5911::ID_SIGNED_DATA {
        return Err(Error::Verification(format!(
            "not a CMS SignedData (content type {})",
            content_info.content_type
        )));
    }
    let signed_data: SignedData = content_info.content.decode_as().map_err(not_cms)?;
    match signed_data.encap_content_info.econtent {
        Some(c) if c.tag() == der::Tag::OctetString => Ok(c.value().to_vec()),
        Some(c) => Err(Error::Verification(format!(
            "embedded content of type {}",
            c.tag()
        ))),
        None => Err(Error::Verification(
            "the signature has no embedded content".into(),
        )),
    }
}

/// The SHA-256 of `bytes`.
fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}
