//! Certificate revocation lists (RFC 5280 §5): loading them (DER or PEM,
//! several per file), choosing the one that speaks for a certificate, and
//! its verdict: signed by the certificate's issuer, fresh at the validation
//! time, and whether it lists the certificate (with the date and reason).
//!
//! The same CRLs, in the same order (newest first), go to rustls-webpki;
//! a CRL is chosen here as webpki chooses it (the first with the
//! certificate's issuer name whose scope covers the certificate), so the
//! two judge the same list.

use std::path::Path;
use std::time::SystemTime;

use der::asn1::AnyRef;
use der::{Decode, Encode, Tagged};
use x509_cert::crl::CertificateList;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{CrlDistributionPoints, CrlNumber, CrlReason, IssuingDistributionPoint};

use super::certificate::{Cert, elements};
use super::rfc3339;
use crate::error::{Error, Result};

/// One CRL as received.
#[derive(Clone)]
pub struct Crl {
    source: String,
    parsed: CertificateList,
    owned: webpki::OwnedCertRevocationList,
    issuer: Vec<u8>,
    tbs: Vec<u8>,
    algorithm: Vec<u8>,
    signature: Vec<u8>,
    this_update: SystemTime,
    next_update: SystemTime,
}

impl std::fmt::Debug for Crl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Crl")
            .field("source", &self.source)
            .field("issuer", &self.issuer_name())
            .finish_non_exhaustive()
    }
}

fn broken(source: &str, why: impl std::fmt::Display) -> Error {
    Error::Certificate(format!("{source}: not a usable CRL: {why}"))
}

impl Crl {
    /// Parses a DER CRL; `source` names it in messages. Refused, with the
    /// cause: what does not parse, a CRL without nextUpdate (its freshness
    /// cannot be judged), and what rustls-webpki does not support (delta
    /// and indirect CRLs, unknown critical extensions).
    pub fn from_der(der: &[u8], source: &str) -> Result<Self> {
        let parsed = CertificateList::from_der(der).map_err(|e| broken(source, e))?;
        let tbs_list = &parsed.tbs_cert_list;
        let next_update = tbs_list
            .next_update
            .ok_or_else(|| broken(source, "it has no nextUpdate, so its freshness is unknown"))?;
        let owned =
            webpki::OwnedCertRevocationList::from_der(der).map_err(|e| broken(source, e))?;
        let asn1 = |e: der::Error| broken(source, e);
        let outer = AnyRef::from_der(der).map_err(asn1)?;
        let [tbs, algorithm, signature] = elements(outer.value()).map_err(asn1)?[..] else {
            return Err(broken(source, "a CRL has three parts"));
        };
        let fields = elements(tbs.value()).map_err(asn1)?;
        let skip = usize::from(fields.first().is_some_and(|f| f.tag() == der::Tag::Integer));
        let issuer = fields
            .get(skip + 1)
            .ok_or_else(|| broken(source, "the tbsCertList is truncated"))?
            .to_der()
            .map_err(asn1)?;
        let bits = der::asn1::BitStringRef::try_from(signature).map_err(asn1)?;
        Ok(Self {
            source: source.to_owned(),
            this_update: tbs_list.this_update.to_system_time(),
            next_update: next_update.to_system_time(),
            issuer,
            tbs: tbs.to_der().map_err(asn1)?,
            algorithm: algorithm.to_der().map_err(asn1)?,
            signature: bits
                .as_bytes()
                .ok_or_else(|| broken(source, "the signature is not whole bytes"))?
                .to_vec(),
            owned,
            parsed,
        })
    }

    /// The CRLs in a file: DER, or one or more PEM `X509 CRL` blocks.
    pub fn from_file(path: &Path) -> Result<Vec<Self>> {
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?;
        let name = path.display().to_string();
        let blocks = super::pem_blocks(&bytes, "X509 CRL").map_err(|e| broken(&name, e))?;
        if blocks.is_empty() {
            return Ok(vec![Self::from_der(&bytes, &name)?]);
        }
        blocks
            .iter()
            .enumerate()
            .map(|(i, der)| Self::from_der(der, &format!("{name} (CRL {})", i + 1)))
            .collect()
    }

    /// The issuer, RFC 4514.
    pub fn issuer_name(&self) -> String {
        self.parsed.tbs_cert_list.issuer.to_string()
    }

    /// thisUpdate.
    pub fn this_update(&self) -> SystemTime {
        self.this_update
    }

    /// The cRLNumber, when the CRL has one (decimal).
    pub fn number(&self) -> Option<String> {
        let exts = self.parsed.tbs_cert_list.crl_extensions.as_ref()?;
        let ext = exts
            .iter()
            .find(|e| e.extn_id == der::oid::db::rfc5280::ID_CE_CRL_NUMBER)?;
        let n = CrlNumber::from_der(ext.extn_value.as_bytes()).ok()?;
        let bytes = n.0.as_bytes();
        let mut wide = [0u8; 16];
        match wide.len().checked_sub(bytes.len()) {
            Some(at) => {
                wide.get_mut(at..)?.copy_from_slice(bytes);
                Some(u128::from_be_bytes(wide).to_string())
            }
            None => Some(format!("0x{}", hex::encode_upper(bytes))),
        }
    }

    /// For rustls-webpki.
    pub(super) fn webpki(&self) -> webpki::CertRevocationList<'static> {
        webpki::CertRevocationList::from(self.owned.clone())
    }

    /// "CRL #n of ISSUER (FILE)".
    fn describe(&self) -> String {
        let number = self.number().map(|n| format!(" #{n}")).unwrap_or_default();
        format!("CRL{number} of {} ({})", self.issuer_name(), self.source)
    }

    fn idp(&self) -> Option<IssuingDistributionPoint> {
        let exts = self.parsed.tbs_cert_list.crl_extensions.as_ref()?;
        let oid = der::oid::db::rfc5280::ID_CE_ISSUING_DISTRIBUTION_POINT;
        let ext = exts.iter().find(|e| e.extn_id == oid)?;
        IssuingDistributionPoint::from_der(ext.extn_value.as_bytes()).ok()
    }

    /// Whether this CRL speaks for `cert` (an end entity, or a CA when
    /// `issuer_role`): the same issuer name (as received) and, when it has
    /// an issuing distribution point, a scope that covers the certificate:
    /// the right kind of certificate, and a distribution point of the
    /// certificate's (a full-name URI) among the CRL's. A certificate
    /// without cRLDistributionPoints is not covered by a CRL whose
    /// distribution point has a name — as OpenSSL decides, where
    /// rustls-webpki would take the CRL.
    fn covers(&self, cert: &Cert, issuer_role: bool) -> bool {
        if self.issuer != cert.issuer_der() {
            return false;
        }
        let Some(idp) = self.idp() else { return true };
        if (idp.only_contains_ca_certs && !issuer_role)
            || (idp.only_contains_user_certs && issuer_role)
        {
            return false;
        }
        let Some(DistributionPointName::FullName(idp_names)) = &idp.distribution_point else {
            return false;
        };
        let Some(value) = cert.extension(der::oid::db::rfc5280::ID_CE_CRL_DISTRIBUTION_POINTS)
        else {
            return false;
        };
        let Ok(points) = CrlDistributionPoints::from_der(value) else {
            return false;
        };
        let idp_uris = uris(idp_names);
        points.0.iter().any(|dp| {
            dp.crl_issuer.is_none()
                && dp.reasons.is_none()
                && matches!(&dp.distribution_point, Some(DistributionPointName::FullName(n))
                    if uris(n).iter().any(|u| idp_uris.contains(u)))
        })
    }
}

/// The URIs among `names`.
fn uris(names: &[GeneralName]) -> Vec<String> {
    names
        .iter()
        .filter_map(|n| match n {
            GeneralName::UniformResourceIdentifier(u) => Some(u.to_string()),
            _ => None,
        })
        .collect()
}

/// What the CRLs say of one certificate of a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Status {
    /// A fresh CRL from the issuer does not list it.
    Good(String),
    /// Listed as revoked.
    Revoked(String),
    /// No CRL speaks for it.
    Unknown(String),
    /// The CRL that speaks for it cannot be used (signature, freshness,
    /// issuer not allowed to sign CRLs).
    Unusable(String),
}

fn reason_name(reason: CrlReason) -> &'static str {
    match reason {
        CrlReason::Unspecified => "unspecified",
        CrlReason::KeyCompromise => "keyCompromise",
        CrlReason::CaCompromise => "cACompromise",
        CrlReason::AffiliationChanged => "affiliationChanged",
        CrlReason::Superseded => "superseded",
        CrlReason::CessationOfOperation => "cessationOfOperation",
        CrlReason::CertificateHold => "certificateHold",
        CrlReason::RemoveFromCRL => "removeFromCRL",
        CrlReason::PrivilegeWithdrawn => "privilegeWithdrawn",
        CrlReason::AaCompromise => "aACompromise",
    }
}

/// The status of `cert`, issued by `issuer`, at `at`, from `crls` (newest
/// first). `issuer_role`: `cert` is a CA of the path (not its end entity).
pub(super) fn status(
    cert: &Cert,
    issuer: &Cert,
    issuer_role: bool,
    crls: &[Crl],
    at: SystemTime,
) -> Status {
    let Some(crl) = crls.iter().find(|c| c.covers(cert, issuer_role)) else {
        return Status::Unknown(format!(
            "no CRL from {} (the issuer of {}) was given",
            cert.issuer(),
            cert.subject()
        ));
    };
    let what = crl.describe();
    if let Err(e) = super::algorithms::verify_signed(
        issuer.spki_der(),
        &crl.algorithm,
        &crl.tbs,
        &crl.signature,
    ) {
        return Status::Unusable(format!(
            "{what} is not signed by the key of {}: {e}",
            issuer.subject()
        ));
    }
    if let Ok(Some(ku)) = issuer.key_usage()
        && !ku.crl_sign()
    {
        return Status::Unusable(format!(
            "{} may not sign CRLs (its keyUsage lacks cRLSign), yet {what} is its",
            issuer.subject()
        ));
    }
    if crl.this_update > at {
        return Status::Unusable(format!(
            "{what} was issued at {}, after the validation time {}: it is not yet valid",
            rfc3339(crl.this_update),
            rfc3339(at)
        ));
    }
    if at >= crl.next_update {
        return Status::Unusable(format!(
            "{what} expired at {} (its nextUpdate); the validation time is {}",
            rfc3339(crl.next_update),
            rfc3339(at)
        ));
    }
    let revoked = crl
        .parsed
        .tbs_cert_list
        .revoked_certificates
        .iter()
        .flatten()
        .find(|r| r.serial_number.as_bytes() == cert.serial_bytes());
    let Some(entry) = revoked else {
        return Status::Good(format!("{}: not revoked ({what})", cert.subject()));
    };
    let reason = entry
        .crl_entry_extensions
        .iter()
        .flatten()
        .find(|e| e.extn_id == der::oid::db::rfc5280::ID_CE_CRL_REASONS)
        .map(|e| match CrlReason::from_der(e.extn_value.as_bytes()) {
            Ok(r) => reason_name(r).to_owned(),
            Err(_) => "a malformed reason".to_owned(),
        })
        .unwrap_or_else(|| "no reason given".to_owned());
    Status::Revoked(format!(
        "{} (serial {}) was revoked at {}, reason {reason} ({what})",
        cert.subject(),
        cert.serial_hex(),
        entry.revocation_date
    ))
}
