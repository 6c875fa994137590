//! Certificate policies: which profile a certificate was issued for, in a
//! form other programs can read (the certificatePolicies extension,
//! RFC 5280 §4.2.1.4).
//!
//! Our policy identifiers live under a UUID arc (ITU-T X.667,
//! `2.25.<UUID as a decimal integer>`):
//!
//! ```text
//! 2.25.61485682124220308471771109637782283797        the project's arc
//!   .1.1  Citizen certificate policy
//!   .1.2  Business certificate policy
//!   .1.3  Governmental certificate policy
//!   .2    reserved for time-stamp policies
//! ```
//!
//! `const-oid` 0.10 keeps arcs in a `u32`, so it (and the x509-cert
//! `CertificatePolicies` type built on it) cannot represent these
//! identifiers. This module encodes and compares their DER by hand: arcs up
//! to 128 bits, which is every UUID.

use asan_applet::CertificateProfile;
use der::asn1::{Any, AnyRef, OctetString};
use der::oid::db::rfc5280::ID_CE_CERTIFICATE_POLICIES;
use der::{Decode, Encode, Reader, SliceReader, Tag, Tagged};
use x509_cert::Certificate;
use x509_cert::ext::Extension;

use super::cert_error;
use crate::error::{Error, Result};

/// The project's OID arc: `2.25.` and a UUID (ITU-T X.667) as a decimal
/// integer. Certificate policies are `<arc>.1.<n>`; `<arc>.2` is reserved
/// for time-stamp policies.
pub const POLICY_ARC: &str = "2.25.61485682124220308471771109637782283797";

/// The certificate policy of the Citizen profile, `<arc>.1.1`.
pub const CITIZEN_POLICY: &str = "2.25.61485682124220308471771109637782283797.1.1";
/// The certificate policy of the Business profile, `<arc>.1.2`.
pub const BUSINESS_POLICY: &str = "2.25.61485682124220308471771109637782283797.1.2";
/// The certificate policy of the Governmental profile, `<arc>.1.3`.
pub const GOVERNMENTAL_POLICY: &str = "2.25.61485682124220308471771109637782283797.1.3";

/// The certificate policy OID (dotted) of a profile.
pub fn policy_oid(profile: CertificateProfile) -> &'static str {
    match profile {
        CertificateProfile::Citizen => CITIZEN_POLICY,
        CertificateProfile::Business => BUSINESS_POLICY,
        CertificateProfile::Governmental => GOVERNMENTAL_POLICY,
    }
}

/// The DER encoding (tag, length, content) of a dotted object identifier
/// whose arcs may be as large as 128 bits.
///
/// Refuses ([`Error::Usage`]) an empty arc, a non-digit, fewer than two
/// arcs, a first arc above 2, a second arc above 39 under 0 or 1, and an arc
/// that does not fit in 128 bits.
pub fn oid_to_der(dotted: &str) -> Result<Vec<u8>> {
    let bad = |why: &str| Error::Usage(format!("'{dotted}' is not an object identifier: {why}"));
    let mut arcs = Vec::new();
    for arc in dotted.split('.') {
        if arc.is_empty() || !arc.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("every arc must be a decimal number"));
        }
        if arc.len() > 1 && arc.starts_with('0') {
            return Err(bad("an arc has a leading zero"));
        }
        arcs.push(
            arc.parse::<u128>()
                .map_err(|_| bad("an arc does not fit in 128 bits"))?,
        );
    }
    let (first, second, rest) = match arcs.as_slice() {
        [first, second, rest @ ..] => (*first, *second, rest),
        _ => return Err(bad("it needs at least two arcs")),
    };
    if first > 2 || (first < 2 && second > 39) {
        return Err(bad("the first two arcs are out of range"));
    }
    let head = (first * 40)
        .checked_add(second)
        .ok_or_else(|| bad("the second arc does not fit in 128 bits"))?;
    let mut content = Vec::new();
    for arc in std::iter::once(head).chain(rest.iter().copied()) {
        push_base128(&mut content, arc);
    }
    Any::new(Tag::ObjectIdentifier, content)
        .and_then(|any| any.to_der())
        .map_err(|e| cert_error("cannot encode an object identifier", e))
}

/// Appends `value` in base 128, most significant group first, the high bit
/// set on every byte but the last (X.690 §8.19.2).
fn push_base128(out: &mut Vec<u8>, value: u128) {
    let mut groups = vec![(value & 0x7f) as u8];
    let mut rest = value >> 7;
    while rest > 0 {
        groups.push((rest & 0x7f) as u8 | 0x80);
        rest >>= 7;
    }
    out.extend(groups.iter().rev());
}

/// The non-critical certificatePolicies extension naming the profile's
/// policy (one PolicyInformation, no qualifiers), as raw DER.
pub(crate) fn certificate_policies(profile: CertificateProfile) -> Result<Extension> {
    let encode = |tag: Tag, content: &[u8]| {
        Any::new(tag, content)
            .and_then(|any| any.to_der())
            .map_err(|e| cert_error("cannot encode certificatePolicies", e))
    };
    let policy_information = encode(Tag::Sequence, &oid_to_der(policy_oid(profile))?)?;
    let policies = encode(Tag::Sequence, &policy_information)?;
    Ok(Extension {
        extn_id: ID_CE_CERTIFICATE_POLICIES,
        critical: false,
        extn_value: OctetString::new(policies)
            .map_err(|e| cert_error("cannot encode certificatePolicies", e))?,
    })
}

/// Which of our profiles a certificate (DER) was issued for, read from its
/// certificatePolicies extension without decoding the policy identifiers
/// as `const-oid` values.
///
/// `Some(profile)` when exactly one of the three profile policies is
/// present (other policies are ignored), `None` when there is no
/// certificatePolicies extension or none of ours is in it. An
/// [`Error::Certificate`] when the certificate does not parse, the
/// extension appears twice or is malformed, or it names two of our profiles.
pub fn certificate_profile(cert_der: &[u8]) -> Result<Option<CertificateProfile>> {
    let cert = Certificate::from_der(cert_der)
        .map_err(|e| cert_error("not a valid X.509 certificate", e))?;
    let mut policies = cert
        .tbs_certificate()
        .extensions()
        .into_iter()
        .flatten()
        .filter(|ext| ext.extn_id == ID_CE_CERTIFICATE_POLICIES);
    let Some(extension) = policies.next() else {
        return Ok(None);
    };
    if policies.next().is_some() {
        return Err(Error::Certificate(
            "the certificate has two certificatePolicies extensions".into(),
        ));
    }
    let ours = CertificateProfile::ALL
        .into_iter()
        .map(|p| Ok((p, oid_to_der(policy_oid(p))?)))
        .collect::<Result<Vec<_>>>()?;
    let mut found = Vec::new();
    for oid in policy_identifiers(extension.extn_value.as_bytes())
        .map_err(|e| cert_error("the certificatePolicies extension is malformed", e))?
    {
        if let Some((profile, _)) = ours.iter().find(|(_, der)| *der == oid) {
            found.push(*profile);
        }
    }
    match found.as_slice() {
        [] => Ok(None),
        [profile] => Ok(Some(*profile)),
        _ => Err(Error::Certificate(format!(
            "the certificatePolicies extension names more than one profile: {}",
            found
                .iter()
                .map(|p| policy_oid(*p))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// The policy identifiers (each as its whole DER TLV) of a
/// `certificatePolicies ::= SEQUENCE SIZE (1..MAX) OF PolicyInformation`,
/// `PolicyInformation ::= SEQUENCE { policyIdentifier OBJECT IDENTIFIER,
/// policyQualifiers SEQUENCE OF … OPTIONAL }`.
fn policy_identifiers(value: &[u8]) -> der::Result<Vec<Vec<u8>>> {
    let mut reader = SliceReader::new(value)?;
    let oids = reader.sequence(|policies| {
        let mut oids = Vec::new();
        while !policies.is_finished() {
            let oid = policies.sequence(|info| {
                let oid = AnyRef::decode(info)?;
                oid.tag().assert_eq(Tag::ObjectIdentifier)?;
                check_oid_content(oid.value())?;
                if !info.is_finished() {
                    AnyRef::decode(info)?.tag().assert_eq(Tag::Sequence)?;
                }
                oid.to_der()
            })?;
            oids.push(oid);
        }
        if oids.is_empty() {
            return Err(der::Error::from(der::ErrorKind::Length {
                tag: Tag::Sequence,
            }));
        }
        Ok::<_, der::Error>(oids)
    })?;
    reader.finish()?;
    Ok(oids)
}

/// Checks that OID content octets are well-formed base 128: not empty, the
/// last byte ends an arc, and no arc starts with a padding byte 0x80.
fn check_oid_content(content: &[u8]) -> der::Result<()> {
    let malformed = || {
        der::Error::from(der::ErrorKind::Value {
            tag: Tag::ObjectIdentifier,
        })
    };
    if content.last().is_none_or(|last| last & 0x80 != 0) {
        return Err(malformed());
    }
    let mut arc_start = true;
    for &byte in content {
        if arc_start && byte == 0x80 {
            return Err(malformed());
        }
        arc_start = byte & 0x80 == 0;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use der::oid::ObjectIdentifier;

    #[test]
    fn small_arcs_match_const_oid() {
        for dotted in [
            "2.5.29.32",
            "1.2.840.10045.4.3.2",
            "0.9.2342.19200300.100.1.1",
        ] {
            let oid = ObjectIdentifier::new(dotted).unwrap();
            assert_eq!(
                oid_to_der(dotted).unwrap(),
                oid.to_der().unwrap(),
                "{dotted}"
            );
        }
    }

    #[test]
    fn the_uuid_arc_by_hand() {
        // 2.25 → 2*40+25 = 105 = 0x69, then the UUID arc in base 128 (18
        // bytes); the expected bytes are what
        // `openssl asn1parse -genstr OID:<arc> -out f.der` writes.
        let der = oid_to_der(POLICY_ARC).unwrap();
        assert_eq!(
            hex::encode(&der),
            "061369dcc1db8bb7d08ab1e38babcae895c382cc15"
        );
        let mut citizen = der.clone();
        citizen.extend([0x01, 0x01]);
        citizen[1] += 2;
        assert_eq!(oid_to_der(CITIZEN_POLICY).unwrap(), citizen);
        // The largest 128-bit arc takes 19 base-128 groups.
        let max = format!("2.25.{}", u128::MAX);
        let der = oid_to_der(&max).unwrap();
        assert_eq!(der.len(), 2 + 1 + 19);
        assert_eq!(der[3], 0x83);
        assert_eq!(*der.last().unwrap(), 0x7f);
    }

    #[test]
    fn malformed_dotted_oids_are_refused() {
        for bad in [
            "",
            "2",
            "2.",
            "2..5",
            "3.1",
            "1.40",
            "2.25.x",
            "2.025",
            "2.25.340282366920938463463374607431768211456",
        ] {
            assert!(matches!(oid_to_der(bad), Err(Error::Usage(_))), "{bad}");
        }
        assert!(oid_to_der("2.100.3").is_ok());
    }

    #[test]
    fn policy_extension_parses_back() {
        for profile in CertificateProfile::ALL {
            let ext = certificate_policies(profile).unwrap();
            assert!(!ext.critical);
            let oids = policy_identifiers(ext.extn_value.as_bytes()).unwrap();
            assert_eq!(oids, vec![oid_to_der(policy_oid(profile)).unwrap()]);
        }
    }

    #[test]
    fn malformed_policy_values_are_refused() {
        let oid = oid_to_der(CITIZEN_POLICY).unwrap();
        let seq = |content: &[u8]| Any::new(Tag::Sequence, content).unwrap().to_der().unwrap();
        // An empty SEQUENCE OF, a policy that is not an OID, padding in an arc,
        // an unterminated last arc, trailing bytes, a qualifier that is not a
        // SEQUENCE, and something after the qualifiers.
        let mut padded = oid.clone();
        padded.insert(3, 0x80);
        padded[1] += 1;
        let mut unterminated = oid.clone();
        *unterminated.last_mut().unwrap() |= 0x80;
        let mut trailing = seq(&seq(&oid));
        trailing.push(0);
        let mut with_int = oid.clone();
        with_int.extend([0x02, 0x01, 0x00]);
        let mut after_qualifiers = oid.clone();
        after_qualifiers.extend(seq(&[]));
        after_qualifiers.extend([0x05, 0x00]);
        for bad in [
            seq(&[]),
            seq(&seq(&[0x02, 0x01, 0x01])),
            seq(&seq(&padded)),
            seq(&seq(&unterminated)),
            trailing,
            seq(&seq(&with_int)),
            seq(&seq(&after_qualifiers)),
        ] {
            assert!(policy_identifiers(&bad).is_err(), "{}", hex::encode(&bad));
        }
        let mut qualified = oid.clone();
        qualified.extend(seq(&[]));
        assert_eq!(
            policy_identifiers(&seq(&seq(&qualified))).unwrap(),
            vec![oid]
        );
    }
}
