//! Path validation: rustls-webpki builds and checks the path (signatures,
//! basicConstraints, pathLenConstraint, validity, critical extensions,
//! extended key usage, CRLs, name constraints); on every path it accepts
//! our own checks run as well ([`super::checks`]), and a path is valid only
//! when both accept it. When webpki finds none, our own path building
//! finds the likeliest one and the checks say where it breaks.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime};
use webpki::{
    EndEntityCert, ExpirationPolicy, RevocationCheckDepth, RevocationOptionsBuilder,
    UnknownStatusPolicy, VerifiedPath,
};

use super::certificate::Cert;
use super::checks::{Context, evaluate};
use super::crl::Crl;
use super::purpose::EkuRule;
use super::{Check, PathValidation, Purpose, TrustAnchors, algorithms, rfc3339};
use crate::error::{Error, Result};

/// Longest path our own path building tries (end entity, up to six
/// intermediates — webpki's limit —, trust anchor).
const MAX_PATH: usize = 8;

/// What a path is validated for, and with what.
#[derive(Clone, Debug)]
pub struct ValidationOptions {
    /// The validation time: now, or the time the user asks about.
    pub at: SystemTime,
    /// What the end entity is for.
    pub purpose: Purpose,
    /// CRLs to check every certificate of the path against.
    pub crls: Vec<Crl>,
    /// A certificate of the path without a CRL from its issuer fails.
    pub require_crl: bool,
}

impl ValidationOptions {
    /// Validation at `at` for `purpose`, no CRL.
    pub fn new(at: SystemTime, purpose: Purpose) -> Self {
        Self {
            at,
            purpose,
            crls: Vec::new(),
            require_crl: false,
        }
    }
}

/// Validates the end-entity certificate `target` (DER) against `anchors`,
/// building the path with the certificates of `pool` (DER; any order,
/// unrelated ones and copies allowed; those that do not parse are
/// ignored). `Err` only when `target` is not a certificate.
pub fn validate(
    target: &[u8],
    pool: &[Vec<u8>],
    anchors: &TrustAnchors,
    opts: &ValidationOptions,
) -> Result<PathValidation> {
    let target = Cert::from_der(target)
        .map_err(|e| Error::Certificate(format!("not a valid X.509 certificate: {e}")))?;
    let mut others: Vec<Cert> = Vec::new();
    for der in pool {
        if let Ok(c) = Cert::from_der(der)
            && c != target
            && !others.contains(&c)
        {
            others.push(c);
        }
    }
    let mut crls = opts.crls.clone();
    crls.sort_by_key(|c| std::cmp::Reverse(c.this_update()));
    let cx = Context {
        at: opts.at,
        purpose: opts.purpose,
        crls: &crls,
        require_crl: opts.require_crl,
    };
    let gate = Gate::run(&target, &others, anchors.certs(), &cx);
    let (path, checks) = match (gate.result, gate.accepted, gate.rejected) {
        (Ok(()), Some((path, checks)), _) => {
            let mut checks = checks;
            checks.push(Check::new(
                Check::WEBPKI,
                Ok("rustls-webpki 0.103 validates the same path".into()),
            ));
            (path, checks)
        }
        (_, _, Some((path, checks))) => {
            let mut checks = checks;
            checks.push(Check::new(
                Check::WEBPKI,
                Ok("rustls-webpki 0.103 accepts this path; the checks above refuse it".into()),
            ));
            (path, checks)
        }
        (result, _, None) => {
            let (path, complete) = build(&target, &others, anchors.certs());
            let mut checks = evaluate(&path, complete, &cx);
            let why = match result {
                Err(e) => describe(&e),
                Ok(()) => "it accepted a path the checks above did not see".into(),
            };
            checks.push(Check::new(
                Check::WEBPKI,
                Err(format!("rustls-webpki 0.103 refuses: {why}")),
            ));
            (path, checks)
        }
    };
    let valid = checks.iter().all(|c| c.ok);
    Ok(PathValidation {
        valid,
        path: path.iter().map(Cert::subject).collect(),
        checks,
        validation_time: rfc3339(opts.at),
        purpose: opts.purpose,
        certs: path,
    })
}

/// rustls-webpki's verdict, and the paths it offered to our checks.
struct Gate {
    result: std::result::Result<(), webpki::Error>,
    accepted: Option<(Vec<Cert>, Vec<Check>)>,
    rejected: Option<(Vec<Cert>, Vec<Check>)>,
}

impl Gate {
    fn run(target: &Cert, pool: &[Cert], anchors: &[Cert], cx: &Context<'_>) -> Self {
        let accepted = RefCell::new(None);
        let rejected = RefCell::new(None);
        let result = Self::verify(target, pool, anchors, cx, &accepted, &rejected);
        Self {
            result,
            accepted: accepted.into_inner(),
            rejected: rejected.into_inner(),
        }
    }

    fn verify(
        target: &Cert,
        pool: &[Cert],
        anchors: &[Cert],
        cx: &Context<'_>,
        accepted: &RefCell<Option<(Vec<Cert>, Vec<Check>)>>,
        rejected: &RefCell<Option<(Vec<Cert>, Vec<Check>)>>,
    ) -> std::result::Result<(), webpki::Error> {
        let target_der = CertificateDer::from(target.der());
        let end_entity = EndEntityCert::try_from(&target_der)?;
        let anchor_ders: Vec<CertificateDer<'_>> = anchors
            .iter()
            .map(|a| CertificateDer::from(a.der()))
            .collect();
        let webpki_anchors: Vec<TrustAnchor<'_>> = anchor_ders
            .iter()
            .filter_map(|d| webpki::anchor_from_trusted_cert(d).ok())
            .collect();
        let intermediates: Vec<CertificateDer<'_>> =
            pool.iter().map(|c| CertificateDer::from(c.der())).collect();
        let lists: Vec<webpki::CertRevocationList<'static>> =
            cx.crls.iter().map(Crl::webpki).collect();
        let refs: Vec<&webpki::CertRevocationList<'_>> = lists.iter().collect();
        let revocation = RevocationOptionsBuilder::new(&refs).ok().map(|b| {
            b.with_depth(RevocationCheckDepth::Chain)
                .with_status_policy(if cx.require_crl {
                    UnknownStatusPolicy::Deny
                } else {
                    UnknownStatusPolicy::Allow
                })
                .with_expiration_policy(ExpirationPolicy::Enforce)
                .build()
        });
        let time = UnixTime::since_unix_epoch(cx.at.duration_since(UNIX_EPOCH).unwrap_or_default());
        let check_path = |candidate: &VerifiedPath<'_>| -> std::result::Result<(), webpki::Error> {
            let Some(path) = ours(target, pool, anchors, candidate) else {
                return Err(webpki::Error::UnknownIssuer);
            };
            let checks = evaluate(&path, Ok(()), cx);
            if checks.iter().all(|c| c.ok) {
                *accepted.borrow_mut() = Some((path, checks));
                Ok(())
            } else {
                rejected.borrow_mut().get_or_insert((path, checks));
                Err(webpki::Error::UnknownIssuer)
            }
        };
        end_entity
            .verify_for_usage(
                algorithms::SUPPORTED,
                &webpki_anchors,
                &intermediates,
                time,
                EkuRule(cx.purpose),
                revocation,
                Some(&check_path),
            )
            .map(|_| ())
    }
}

/// The DER contents of a TLV.
fn contents(tlv: &[u8]) -> &[u8] {
    use der::Decode;
    der::asn1::AnyRef::from_der(tlv).map_or(&[][..], |a| a.value())
}

/// Our certificates for a path webpki offers.
fn ours(
    target: &Cert,
    pool: &[Cert],
    anchors: &[Cert],
    candidate: &VerifiedPath<'_>,
) -> Option<Vec<Cert>> {
    let mut path = vec![target.clone()];
    for cert in candidate.intermediate_certificates() {
        let der = cert.der();
        path.push(pool.iter().find(|c| c.der() == der.as_ref())?.clone());
    }
    let anchor = candidate.anchor();
    let found = anchors.iter().find(|a| {
        contents(a.subject_der()) == anchor.subject.as_ref()
            && contents(a.spki_der()) == anchor.subject_public_key_info.as_ref()
    })?;
    path.push(found.clone());
    Some(path)
}

/// Our own path building, for the report when webpki finds no path: from
/// `target` by issuer name (as received) to an anchor, preferring an
/// issuer whose key verifies the signature and anchors over the pool.
/// Returns the path and whether it reaches an anchor (or why not).
fn build(
    target: &Cert,
    pool: &[Cert],
    anchors: &[Cert],
) -> (Vec<Cert>, std::result::Result<(), String>) {
    let mut path = vec![target.clone()];
    if anchors.is_empty() {
        return (path, Err("no trust anchor was given".into()));
    }
    // The first link whose signature does not verify, if any.
    let mut broken: Option<String> = None;
    let end = |path: &[Cert], broken: Option<String>| match broken {
        None => Ok(()),
        Some(link) => Err(format!(
            "the path by issuer names ends at {}, but {link}",
            path.last().map(Cert::subject).unwrap_or_default()
        )),
    };
    while path.len() < MAX_PATH {
        let Some(current) = path.last().cloned() else {
            break;
        };
        if anchors.contains(&current) {
            let result = end(&path, broken);
            return (path, result);
        }
        let named = |c: &&Cert| c.subject_der() == current.issuer_der() && !path.contains(c);
        let from_anchors: Vec<&Cert> = anchors.iter().filter(named).collect();
        let from_pool: Vec<&Cert> = pool.iter().filter(named).collect();
        let verifies = |c: &&&Cert| current.verify_issued_by(c).is_ok();
        let choice = from_anchors
            .iter()
            .find(verifies)
            .map(|c| (*c, true))
            .or_else(|| from_pool.iter().find(verifies).map(|c| (*c, false)))
            .or_else(|| from_anchors.first().map(|c| (*c, true)))
            .or_else(|| from_pool.first().map(|c| (*c, false)));
        match choice {
            Some((issuer, is_anchor)) => {
                if broken.is_none()
                    && let Err(e) = current.verify_issued_by(issuer)
                {
                    broken = Some(format!(
                        "the signature on {} by {} does not verify: {e}",
                        current.subject(),
                        issuer.subject()
                    ));
                }
                path.push(issuer.clone());
                if is_anchor {
                    let result = end(&path, broken);
                    return (path, result);
                }
            }
            None if current.self_issued() => {
                let why = format!(
                    "{} is self-issued but is not a trust anchor given with --ca",
                    current.subject()
                );
                return (path, Err(why));
            }
            None => {
                let why = format!(
                    "no trust anchor or other certificate given is {} (the issuer of {}); \
                     give its certificate with --chain or its root with --ca",
                    current.issuer(),
                    current.subject()
                );
                return (path, Err(why));
            }
        }
    }
    (
        path,
        Err(format!("no trust anchor within {MAX_PATH} certificates")),
    )
}

/// rustls-webpki's error in words.
fn describe(e: &webpki::Error) -> String {
    use webpki::Error as E;
    match e {
        E::UnknownIssuer => "no path from the certificate to a trust anchor".into(),
        E::CertExpired { time, not_after } => format!(
            "a certificate of the path expired at {} (validation time {})",
            unix(not_after.as_secs()),
            unix(time.as_secs())
        ),
        E::CertNotValidYet { time, not_before } => format!(
            "a certificate of the path is valid only from {} (validation time {})",
            unix(not_before.as_secs()),
            unix(time.as_secs())
        ),
        E::CaUsedAsEndEntity => "the end-entity certificate is a CA".into(),
        E::EndEntityUsedAsCa => "a certificate that is not a CA issued another".into(),
        E::PathLenConstraintViolated => "a pathLenConstraint is exceeded".into(),
        E::UnsupportedCriticalExtension => "a certificate has an unknown critical extension".into(),
        E::RequiredEkuNotFoundContext(_) => {
            "an extended key usage of the path does not allow the purpose".into()
        }
        E::CertRevoked => "a certificate of the path is revoked".into(),
        E::UnknownRevocationStatus => "a certificate of the path has no CRL from its issuer".into(),
        E::CrlExpired { time, next_update } => format!(
            "a CRL expired at {} (its nextUpdate; validation time {})",
            unix(next_update.as_secs()),
            unix(time.as_secs())
        ),
        E::InvalidSignatureForPublicKey => "a certificate's signature does not verify".into(),
        E::InvalidCrlSignatureForPublicKey => "a CRL's signature does not verify".into(),
        E::IssuerNotCrlSigner => "a CRL issuer's keyUsage lacks cRLSign".into(),
        E::UnsupportedCertVersion => "a certificate is not version 3".into(),
        E::NameConstraintViolation => "a name constraint is violated".into(),
        E::UnsupportedSignatureAlgorithmContext(_)
        | E::UnsupportedSignatureAlgorithmForPublicKeyContext(_) => format!(
            "a certificate of the path is signed with an algorithm that is not supported \
             (only {})",
            algorithms::SUPPORTED_NAMES
        ),
        E::UnsupportedCrlSignatureAlgorithmContext(_)
        | E::UnsupportedCrlSignatureAlgorithmForPublicKeyContext(_) => format!(
            "a CRL is signed with an algorithm that is not supported (only {})",
            algorithms::SUPPORTED_NAMES
        ),
        E::MaximumSignatureChecksExceeded | E::MaximumPathBuildCallsExceeded => {
            "too many candidate paths (rustls-webpki's search budget is spent)".into()
        }
        E::MaximumPathDepthExceeded => "the path is longer than six intermediate CAs".into(),
        other => format!("{other:?}"),
    }
}

fn unix(secs: u64) -> String {
    rfc3339(UNIX_EPOCH + std::time::Duration::from_secs(secs))
}
