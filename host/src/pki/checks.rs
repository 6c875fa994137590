//! The checks of RFC 5280 §6 on one certification path (end entity first,
//! trust anchor last), each with what it found: the report behind every
//! verdict, and the checks rustls-webpki leaves out (keyCertSign on
//! issuers, the trust anchor's own validity and pathLenConstraint, CRL
//! thisUpdate, the end entity's key usage).

use std::time::SystemTime;

use der::asn1::ObjectIdentifier;
use der::oid::db::rfc5280;

use super::certificate::{Cert, oid_text};
use super::crl::{self, Crl, Status};
use super::{Check, Purpose, rfc3339};

/// Extensions processed by the validator (rustls-webpki or these checks);
/// any other critical extension makes a certificate unusable (RFC 5280 §4.2).
const KNOWN: [ObjectIdentifier; 6] = [
    rfc5280::ID_CE_BASIC_CONSTRAINTS,
    rfc5280::ID_CE_KEY_USAGE,
    rfc5280::ID_CE_EXT_KEY_USAGE,
    rfc5280::ID_CE_SUBJECT_ALT_NAME,
    rfc5280::ID_CE_NAME_CONSTRAINTS,
    rfc5280::ID_CE_CRL_DISTRIBUTION_POINTS,
];

/// What a path is checked with.
pub(super) struct Context<'a> {
    pub at: SystemTime,
    pub purpose: Purpose,
    pub crls: &'a [Crl],
    pub require_crl: bool,
}

/// The checks of `path` (end entity first). `complete` is `Ok` when the
/// path ends at a trust anchor, else why it does not. Checks that need an
/// issuer are left out when there is none.
pub(super) fn evaluate(
    path: &[Cert],
    complete: Result<(), String>,
    cx: &Context<'_>,
) -> Vec<Check> {
    let mut out = Vec::new();
    let anchored = complete.is_ok();
    let Some(target) = path.first() else {
        return out;
    };
    let chain = complete.map(|()| {
        let mut names: Vec<String> = path.iter().map(Cert::subject).collect();
        if let Some(last) = names.last_mut() {
            last.push_str(" (trust anchor)");
        }
        names.join(" <- ")
    });
    out.push(Check::new(Check::CHAIN, chain));
    let issuers = path.get(1..).unwrap_or_default();
    if !issuers.is_empty() {
        out.push(Check::new(Check::CERTIFICATE_SIGNATURES, signatures(path)));
    }
    out.push(Check::new(Check::VALIDITY, validity(path, cx.at)));
    if !issuers.is_empty() {
        out.push(Check::new(
            Check::BASIC_CONSTRAINTS,
            basic_constraints(issuers),
        ));
    }
    out.push(Check::new(Check::END_ENTITY, end_entity(target)));
    if !issuers.is_empty() {
        out.push(Check::new(Check::PATH_LENGTH, path_length(path)));
        out.push(Check::new(
            Check::ISSUER_KEY_USAGE,
            issuer_key_usage(issuers),
        ));
    }
    out.push(Check::new(
        Check::CRITICAL_EXTENSIONS,
        critical_extensions(path),
    ));
    out.push(Check::new(
        Check::KEY_USAGE,
        cx.purpose.check_key_usage(target),
    ));
    out.push(Check::new(
        Check::EXTENDED_KEY_USAGE,
        extended_key_usage(path, cx.purpose),
    ));
    if !issuers.is_empty() {
        out.push(Check::new(
            Check::REVOCATION,
            revocation(path, anchored, cx),
        ));
    }
    out
}

fn signatures(path: &[Cert]) -> Result<String, String> {
    for pair in path.windows(2) {
        let [cert, issuer] = pair else { continue };
        cert.verify_issued_by(issuer).map_err(|e| {
            format!(
                "the signature on {} by {}: {e}",
                cert.subject(),
                issuer.subject()
            )
        })?;
    }
    Ok(format!(
        "each of {} certificate(s) verifies with its issuer's key, over its tbsCertificate as received",
        path.len() - 1
    ))
}

fn validity(path: &[Cert], at: SystemTime) -> Result<String, String> {
    for cert in path {
        let (from, until) = cert.validity();
        let v = cert.parsed().tbs_certificate().validity();
        let state = if from > until {
            "malformed (notBefore after notAfter)"
        } else if at < from {
            "not yet valid"
        } else if at > until {
            "expired"
        } else {
            continue;
        };
        return Err(format!(
            "{} is {state} at the validation time {}: valid from {} until {}",
            cert.subject(),
            rfc3339(at),
            v.not_before,
            v.not_after
        ));
    }
    Ok(format!(
        "{} certificate(s) valid at {}",
        path.len(),
        rfc3339(at)
    ))
}

fn basic_constraints(issuers: &[Cert]) -> Result<String, String> {
    for issuer in issuers {
        match issuer.basic_constraints()? {
            Some((true, _)) => {}
            Some((false, _)) => {
                return Err(format!(
                    "{} issues certificates but is not a CA (basicConstraints cA FALSE)",
                    issuer.subject()
                ));
            }
            None => {
                return Err(format!(
                    "{} issues certificates but is not a CA (no basicConstraints)",
                    issuer.subject()
                ));
            }
        }
    }
    Ok(format!(
        "every issuer is a CA (basicConstraints cA TRUE): {}",
        names(issuers)
    ))
}

fn end_entity(target: &Cert) -> Result<String, String> {
    match target.basic_constraints()? {
        Some((true, _)) => Err(format!(
            "{} is a CA certificate (basicConstraints cA TRUE), not an end entity: \
             a CA's key must not sign documents or authenticate",
            target.subject()
        )),
        _ => Ok(format!("{} is not a CA", target.subject())),
    }
}

/// pathLenConstraint of every issuer, the trust anchor's included: the
/// non-self-issued intermediates below it may not outnumber it.
fn path_length(path: &[Cert]) -> Result<String, String> {
    for (j, issuer) in path.iter().enumerate().skip(1) {
        let Some((true, Some(limit))) = issuer.basic_constraints()? else {
            continue;
        };
        let below = path
            .get(1..j)
            .unwrap_or_default()
            .iter()
            .filter(|c| !c.self_issued())
            .count();
        if below > usize::from(limit) {
            return Err(format!(
                "{} allows {limit} intermediate CA(s) below it (pathLenConstraint), \
                 but the path has {below}",
                issuer.subject()
            ));
        }
    }
    Ok("no pathLenConstraint is exceeded".into())
}

fn issuer_key_usage(issuers: &[Cert]) -> Result<String, String> {
    for issuer in issuers {
        if let Some(ku) = issuer.key_usage()?
            && !ku.key_cert_sign()
        {
            return Err(format!(
                "{} issues certificates but its keyUsage lacks keyCertSign",
                issuer.subject()
            ));
        }
    }
    Ok("every issuer with a keyUsage extension allows keyCertSign".into())
}

fn critical_extensions(path: &[Cert]) -> Result<String, String> {
    for cert in path {
        for (oid, critical, _) in cert.extensions() {
            if critical && !KNOWN.contains(&oid) {
                return Err(format!(
                    "{} has the critical extension {}, which is not processed here; \
                     RFC 5280 §4.2 requires refusing the certificate",
                    cert.subject(),
                    oid_text(oid.as_bytes())
                ));
            }
        }
    }
    Ok("no unknown critical extension".into())
}

/// The purpose's extended key usage on every certificate of the path, the
/// trust anchor's included (an EKU on a CA restricts what it may certify;
/// OpenSSL checks the trust anchor's too, rustls-webpki does not).
fn extended_key_usage(path: &[Cert], purpose: Purpose) -> Result<String, String> {
    if let Some(target) = path.first() {
        purpose.check_end_entity_eku(target)?;
    }
    for cert in path {
        let ekus = cert
            .extended_key_usage()
            .map_err(|e| format!("{}: {e}", cert.subject()))?;
        purpose
            .check_eku(ekus.as_deref())
            .map_err(|e| format!("{}: {e}", cert.subject()))?;
    }
    Ok(match purpose {
        Purpose::Any => "not checked for purpose any".into(),
        Purpose::Sign => "allows document signing wherever present".into(),
        Purpose::Auth => "allows authentication wherever present".into(),
        Purpose::TimeStamp => {
            "timeStamping alone and critical on the TSA's certificate; allows time stamping \
             wherever present"
                .into()
        }
    })
}

/// Every certificate of the path against the CRL of its issuer; a
/// self-issued trust anchor against its own CRL as well (RFC 5280 leaves
/// trust anchors out, rustls-webpki too, but `openssl verify
/// -crl_check_all` wants the root covered by its own CRL: so do we, with
/// `--require-crl`).
fn revocation(path: &[Cert], anchored: bool, cx: &Context<'_>) -> Result<String, String> {
    if cx.crls.is_empty() && !cx.require_crl {
        return Ok("not checked: no CRL was given (--crl)".into());
    }
    let mut pairs: Vec<(&Cert, &Cert, bool)> = path
        .windows(2)
        .enumerate()
        .filter_map(|(i, pair)| match pair {
            [cert, issuer] => Some((cert, issuer, i > 0)),
            _ => None,
        })
        .collect();
    if anchored && let Some(anchor) = path.last().filter(|a| a.self_issued()) {
        pairs.push((anchor, anchor, true));
    }
    let mut good = Vec::new();
    for (cert, issuer, issuer_role) in pairs {
        match crl::status(cert, issuer, issuer_role, cx.crls, cx.at) {
            Status::Good(d) => good.push(d),
            Status::Revoked(d) | Status::Unusable(d) => return Err(d),
            Status::Unknown(d) if cx.require_crl => {
                return Err(format!("{d}, and --require-crl asks for one"));
            }
            Status::Unknown(d) => good.push(format!("not checked: {d}")),
        }
    }
    Ok(good.join("; "))
}

fn names(certs: &[Cert]) -> String {
    certs
        .iter()
        .map(Cert::subject)
        .collect::<Vec<_>>()
        .join(", ")
}
