//! What a certificate is checked for: document signing, authentication,
//! time stamping, or anything. The purpose decides the extended key usages
//! allowed (on every certificate of the path: rustls-webpki checks those
//! below the trust anchor, OpenSSL the trust anchor's too) and the key
//! usage the end entity must have. Time stamping also asks more of the end
//! entity's extended key usage: present, critical, and id-kp-timeStamping
//! alone (RFC 3161 §2.3, as OpenSSL's `timestampsign` purpose).

use webpki::{ExtendedKeyUsageValidator, KeyPurposeId, KeyPurposeIdIter};

use super::certificate::{Cert, oid_text};

/// id-kp-emailProtection (1.3.6.1.5.5.7.3.4).
const EMAIL_PROTECTION: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x04];
/// id-kp-documentSigning (1.3.6.1.5.5.7.3.36, RFC 9336).
const DOCUMENT_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x24];
/// id-kp-clientAuth (1.3.6.1.5.5.7.3.2).
const CLIENT_AUTH: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02];
/// anyExtendedKeyUsage (2.5.29.37.0).
const ANY_EXTENDED_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x25, 0x00];
/// id-kp-timeStamping (1.3.6.1.5.5.7.3.8).
const TIME_STAMPING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x08];

/// What the end-entity certificate is to be used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Purpose {
    /// Document signatures (PIN2): keyUsage nonRepudiation
    /// (contentCommitment); extendedKeyUsage, where present,
    /// emailProtection, documentSigning or anyExtendedKeyUsage.
    Sign,
    /// Authentication (PIN1): keyUsage digitalSignature; extendedKeyUsage,
    /// where present, clientAuth or anyExtendedKeyUsage.
    Auth,
    /// A time-stamping authority's certificate (RFC 3161 §2.3): the end
    /// entity's extendedKeyUsage present, critical and id-kp-timeStamping
    /// alone; keyUsage, where present, digitalSignature and/or
    /// nonRepudiation and nothing else; on the CAs above it, extendedKeyUsage
    /// where present timeStamping or anyExtendedKeyUsage.
    #[serde(rename = "timestamp")]
    TimeStamp,
    /// No key usage or extended key usage requirement (like `openssl
    /// verify` without `-purpose`).
    Any,
}

impl Purpose {
    /// The purpose's name on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sign => "sign",
            Self::Auth => "auth",
            Self::TimeStamp => "timestamp",
            Self::Any => "any",
        }
    }

    /// The extended key usages that allow this purpose (contents of the
    /// OIDs); empty for [`Purpose::Any`].
    fn allowed(self) -> &'static [&'static [u8]] {
        match self {
            Self::Sign => &[EMAIL_PROTECTION, DOCUMENT_SIGNING, ANY_EXTENDED_KEY_USAGE],
            Self::Auth => &[CLIENT_AUTH, ANY_EXTENDED_KEY_USAGE],
            Self::TimeStamp => &[TIME_STAMPING, ANY_EXTENDED_KEY_USAGE],
            Self::Any => &[],
        }
    }

    fn allowed_names(self) -> &'static str {
        match self {
            Self::Sign => "emailProtection, documentSigning or anyExtendedKeyUsage",
            Self::Auth => "clientAuth or anyExtendedKeyUsage",
            Self::TimeStamp => "timeStamping or anyExtendedKeyUsage",
            Self::Any => "anything",
        }
    }

    /// Whether a certificate's extended key usages (`None`: no extension)
    /// allow this purpose; `Err` says why not.
    pub fn check_eku(self, ekus: Option<&[Vec<u8>]>) -> Result<(), String> {
        let Some(ekus) = ekus else { return Ok(()) };
        if self == Self::Any || ekus.iter().any(|e| self.allowed().contains(&e.as_slice())) {
            return Ok(());
        }
        let found: Vec<String> = ekus.iter().map(|e| eku_name(e)).collect();
        Err(format!(
            "its extended key usage ({}) does not allow {} (needs {})",
            found.join(", "),
            self.describe(),
            self.allowed_names()
        ))
    }

    /// Whether the end entity's keyUsage allows this purpose; `Err` says
    /// why not. A document signature needs nonRepudiation, so that an
    /// authentication key (PIN1) can never make one.
    pub fn check_key_usage(self, cert: &Cert) -> Result<String, String> {
        let ku = cert.key_usage()?;
        let (wanted, has) = match self {
            Self::Any => return Ok("not checked for purpose any".into()),
            Self::TimeStamp => return time_stamping_key_usage(cert, ku.as_ref()),
            Self::Sign => ("nonRepudiation", ku.map(|k| k.non_repudiation())),
            Self::Auth => ("digitalSignature", ku.map(|k| k.digital_signature())),
        };
        match has {
            Some(true) => Ok(format!("{} allows {wanted}", cert.subject())),
            Some(false) => Err(format!(
                "{} does not allow {wanted} (needed for {}){}",
                cert.subject(),
                self.describe(),
                if self == Self::Sign {
                    "; is it an authentication certificate?"
                } else {
                    ""
                }
            )),
            None => Err(format!(
                "{} has no keyUsage extension; {} needs {wanted}",
                cert.subject(),
                self.describe()
            )),
        }
    }

    /// What the purpose asks of the end entity's extendedKeyUsage beyond
    /// [`Purpose::check_eku`]: for time stamping, the extension present,
    /// critical, and id-kp-timeStamping alone (RFC 3161 §2.3); nothing for
    /// the other purposes. `Err` says why not.
    pub fn check_end_entity_eku(self, cert: &Cert) -> Result<(), String> {
        if self != Self::TimeStamp {
            return Ok(());
        }
        let ekus = cert.extended_key_usage()?;
        let critical = cert.extensions().iter().any(|(oid, critical, _)| {
            *oid == der::oid::db::rfc5280::ID_CE_EXT_KEY_USAGE && *critical
        });
        match ekus {
            None => Err(format!(
                "{} has no extendedKeyUsage; a TSA certificate needs id-kp-timeStamping \
                 (RFC 3161 §2.3)",
                cert.subject()
            )),
            Some(list)
                if list.len() != 1 || list.first().map(Vec::as_slice) != Some(TIME_STAMPING) =>
            {
                let found: Vec<String> = list.iter().map(|e| eku_name(e)).collect();
                Err(format!(
                    "{}: its extended key usage ({}) is not timeStamping alone, as a TSA \
                     certificate's must be (RFC 3161 §2.3)",
                    cert.subject(),
                    found.join(", ")
                ))
            }
            Some(_) if !critical => Err(format!(
                "{}: its extendedKeyUsage timeStamping is not critical, as a TSA \
                 certificate's must be (RFC 3161 §2.3)",
                cert.subject()
            )),
            Some(_) => Ok(()),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Self::Sign => "document signing",
            Self::Auth => "authentication",
            Self::TimeStamp => "time stamping",
            Self::Any => "any use",
        }
    }
}

/// A TSA certificate's keyUsage: absent, or digitalSignature and/or
/// nonRepudiation and nothing else (as OpenSSL's `timestampsign`).
fn time_stamping_key_usage(
    cert: &Cert,
    ku: Option<&x509_cert::ext::pkix::KeyUsage>,
) -> Result<String, String> {
    let Some(ku) = ku else {
        return Ok(format!(
            "{} has no keyUsage (allowed for time stamping)",
            cert.subject()
        ));
    };
    let signs = ku.digital_signature() || ku.non_repudiation();
    let other = ku.key_encipherment()
        || ku.data_encipherment()
        || ku.key_agreement()
        || ku.key_cert_sign()
        || ku.crl_sign()
        || ku.encipher_only()
        || ku.decipher_only();
    if signs && !other {
        Ok(format!(
            "{} allows digitalSignature/nonRepudiation and nothing else",
            cert.subject()
        ))
    } else {
        Err(format!(
            "{}: a TSA certificate's keyUsage must be digitalSignature and/or \
             nonRepudiation and nothing else",
            cert.subject()
        ))
    }
}

/// A readable name of an extended key usage.
fn eku_name(contents: &[u8]) -> String {
    const NAMES: [(&[u8], &str); 6] = [
        (EMAIL_PROTECTION, "emailProtection"),
        (TIME_STAMPING, "timeStamping"),
        (DOCUMENT_SIGNING, "documentSigning"),
        (CLIENT_AUTH, "clientAuth"),
        (ANY_EXTENDED_KEY_USAGE, "anyExtendedKeyUsage"),
        (
            &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01],
            "serverAuth",
        ),
    ];
    NAMES
        .iter()
        .find(|(oid, _)| *oid == contents)
        .map_or_else(|| oid_text(contents), |(_, name)| (*name).to_owned())
}

/// The purpose as rustls-webpki's extended key usage rule: the same
/// [`Purpose::check_eku`], applied by webpki to every certificate below the
/// trust anchor.
pub(super) struct EkuRule(pub Purpose);

impl ExtendedKeyUsageValidator for EkuRule {
    fn validate(&self, iter: KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        if self.0 == Purpose::Any {
            return Ok(());
        }
        let mut present = Vec::new();
        for id in iter {
            let id = id?;
            present.push(id.to_decoded_oid());
            if self
                .0
                .allowed()
                .iter()
                .any(|allowed| KeyPurposeId::new(allowed) == id)
            {
                return Ok(());
            }
        }
        if present.is_empty() {
            return Ok(());
        }
        let first = self
            .0
            .allowed()
            .first()
            .copied()
            .unwrap_or(ANY_EXTENDED_KEY_USAGE);
        Err(webpki::Error::RequiredEkuNotFoundContext(
            webpki::RequiredEkuNotFoundContext {
                required: webpki::KeyUsage::required_if_present(first),
                present,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(list: &[&[u8]]) -> Vec<Vec<u8>> {
        list.iter().map(|o| o.to_vec()).collect()
    }

    #[test]
    fn eku_rules() {
        let server = [0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01];
        for (purpose, ekus, ok) in [
            (Purpose::Sign, None, true),
            (Purpose::Sign, Some(v(&[EMAIL_PROTECTION])), true),
            (Purpose::Sign, Some(v(&[DOCUMENT_SIGNING])), true),
            (Purpose::Sign, Some(v(&[ANY_EXTENDED_KEY_USAGE])), true),
            (Purpose::Sign, Some(v(&[&server])), false),
            (Purpose::Sign, Some(v(&[CLIENT_AUTH])), false),
            (Purpose::Auth, Some(v(&[CLIENT_AUTH, &server])), true),
            (Purpose::Auth, Some(v(&[EMAIL_PROTECTION])), false),
            (Purpose::Any, Some(v(&[&server])), true),
            (Purpose::TimeStamp, None, true),
            (Purpose::TimeStamp, Some(v(&[TIME_STAMPING])), true),
            (Purpose::TimeStamp, Some(v(&[ANY_EXTENDED_KEY_USAGE])), true),
            (Purpose::TimeStamp, Some(v(&[EMAIL_PROTECTION])), false),
            (Purpose::Sign, Some(v(&[TIME_STAMPING])), false),
        ] {
            let got = purpose.check_eku(ekus.as_deref());
            assert_eq!(got.is_ok(), ok, "{purpose:?} {ekus:?}: {got:?}");
        }
        let e = Purpose::Sign.check_eku(Some(&v(&[&server]))).unwrap_err();
        assert!(
            e.contains("serverAuth") && e.contains("document signing"),
            "{e}"
        );
    }
}
