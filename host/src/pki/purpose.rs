//! What a certificate is checked for: document signing, authentication, or
//! anything. The purpose decides the extended key usages allowed (on every
//! certificate of the path: rustls-webpki checks those below the trust
//! anchor, OpenSSL the trust anchor's too) and the key usage the end
//! entity must have.

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
            Self::Any => "any",
        }
    }

    /// The extended key usages that allow this purpose (contents of the
    /// OIDs); empty for [`Purpose::Any`].
    fn allowed(self) -> &'static [&'static [u8]] {
        match self {
            Self::Sign => &[EMAIL_PROTECTION, DOCUMENT_SIGNING, ANY_EXTENDED_KEY_USAGE],
            Self::Auth => &[CLIENT_AUTH, ANY_EXTENDED_KEY_USAGE],
            Self::Any => &[],
        }
    }

    fn allowed_names(self) -> &'static str {
        match self {
            Self::Sign => "emailProtection, documentSigning or anyExtendedKeyUsage",
            Self::Auth => "clientAuth or anyExtendedKeyUsage",
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

    fn describe(self) -> &'static str {
        match self {
            Self::Sign => "document signing",
            Self::Auth => "authentication",
            Self::Any => "any use",
        }
    }
}

/// A readable name of an extended key usage.
fn eku_name(contents: &[u8]) -> String {
    const NAMES: [(&[u8], &str); 5] = [
        (EMAIL_PROTECTION, "emailProtection"),
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
