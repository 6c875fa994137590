//! The CA directory's settings (`DIR/ca.json`): where relying parties find
//! the CRL. A directory without the file uses the defaults.

use std::path::Path;

use super::CRL_FILE;
use super::store::{io_error, write_atomic};
use crate::error::{Error, Result};

/// The CA's settings file in the CA directory (absent: defaults).
pub const CA_CONFIG_FILE: &str = "ca.json";

/// Longest CRL URL accepted.
const MAX_URL_LEN: usize = 2048;

/// Settings of a development CA, kept in `DIR/ca.json`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaConfig {
    /// The URL written as the cRLDistributionPoints URI of every certificate
    /// the CA issues (`http://`, `https://` or `file://`). `None`: the
    /// `file://` URL of `DIR/root.crl`, where `asan ca crl DIR` writes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crl_url: Option<String>,
}

impl CaConfig {
    /// Settings with `url` as the CRL distribution point; refuses
    /// ([`Error::Usage`]) a URL [`check_crl_url`] refuses.
    pub fn with_crl_url(url: &str) -> Result<Self> {
        check_crl_url(url)?;
        Ok(Self {
            crl_url: Some(url.to_owned()),
        })
    }

    /// Reads `dir/ca.json`; defaults when it does not exist. A file that is
    /// not valid settings is an error naming it, never replaced by defaults.
    pub(crate) fn read(dir: &Path) -> Result<Self> {
        let path = dir.join(CA_CONFIG_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(io_error(&path)(e)),
        };
        let invalid = |why: String| {
            io_error(&path)(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("not valid development CA settings: {why}"),
            ))
        };
        let config: Self = serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
        if let Some(url) = &config.crl_url {
            check_crl_url(url).map_err(|e| invalid(e.to_string()))?;
        }
        Ok(config)
    }

    /// Writes `dir/ca.json` atomically.
    pub(crate) fn write(&self, dir: &Path) -> Result<()> {
        let mut json = serde_json::to_vec_pretty(self).map_err(|e| {
            Error::Certificate(format!("cannot encode the development CA settings: {e}"))
        })?;
        json.push(b'\n');
        write_atomic(&dir.join(CA_CONFIG_FILE), &json)
    }

    /// The CRL URL for certificates of the CA in `dir`: the configured one,
    /// or the `file://` URL of `dir/root.crl` (absolute, canonical).
    pub(crate) fn crl_url_for(&self, dir: &Path) -> Result<String> {
        match &self.crl_url {
            Some(url) => Ok(url.clone()),
            None => {
                let dir = std::fs::canonicalize(dir).map_err(io_error(dir))?;
                Ok(file_url(&dir.join(CRL_FILE)))
            }
        }
    }
}

/// Checks a CRL distribution point URL: `http://HOST…`, `https://HOST…` or
/// `file://[HOST]/PATH`, printable ASCII without spaces (other characters
/// percent-encoded), at most 2048 characters. Answers [`Error::Usage`].
pub fn check_crl_url(url: &str) -> Result<()> {
    let bad = |why: &str| Error::Usage(format!("the CRL URL '{url}' {why}"));
    if url.len() > MAX_URL_LEN {
        return Err(bad("is longer than 2048 characters"));
    }
    if !url.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad(
            "may only contain printable ASCII without spaces (percent-encode the rest)",
        ));
    }
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| bad("must start with http://, https:// or file://"))?;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    match scheme.to_ascii_lowercase().as_str() {
        "http" | "https" if authority.is_empty() => Err(bad("has no host")),
        "http" | "https" => Ok(()),
        "file" if path.is_empty() || rest.contains(['?', '#']) => {
            Err(bad("must name a file: file:///absolute/path"))
        }
        "file" => Ok(()),
        _ => Err(bad("must start with http://, https:// or file://")),
    }
}

/// `file://` and the absolute path, percent-encoding every byte but
/// unreserved characters and `/` (RFC 3986, RFC 8089).
fn file_url(path: &Path) -> String {
    #[cfg(unix)]
    let bytes = {
        use std::os::unix::ffi::OsStrExt;
        path.as_os_str().as_bytes().to_vec()
    };
    #[cfg(not(unix))]
    let bytes = path.to_string_lossy().replace('\\', "/").into_bytes();
    let mut url = String::from("file://");
    if bytes.first() != Some(&b'/') {
        url.push('/');
    }
    for byte in bytes {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            url.push(char::from(byte));
        } else {
            url.push_str(&format!("%{byte:02X}"));
        }
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crl_urls() {
        for good in [
            "http://crl.example.invalid/root.crl",
            "https://example.invalid",
            "HTTP://example.invalid/a?b=c",
            "file:///srv/ca/root.crl",
            "file://localhost/srv/ca/root.crl",
        ] {
            check_crl_url(good).unwrap();
        }
        for bad in [
            "",
            "ftp://example.invalid/root.crl",
            "ldap://example.invalid",
            "http:///root.crl",
            "http://exa mple.invalid/",
            "http://example.invalid/ü",
            "file://",
            "file:///",
            "file:///a#b",
            "crl.example.invalid/root.crl",
        ] {
            assert!(
                matches!(check_crl_url(bad), Err(Error::Usage(_))),
                "{bad:?}"
            );
        }
        assert!(check_crl_url(&format!("http://a/{}", "x".repeat(2048))).is_err());
    }

    #[test]
    fn file_urls_are_percent_encoded() {
        assert_eq!(
            file_url(Path::new("/tmp/a b/ça/root.crl")),
            "file:///tmp/a%20b/%C3%A7a/root.crl"
        );
        check_crl_url(&file_url(Path::new("/tmp/a b/%/root.crl"))).unwrap();
    }

    #[test]
    fn settings_file() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(CaConfig::read(dir.path()).unwrap(), CaConfig::default());
        let default = CaConfig::default().crl_url_for(dir.path()).unwrap();
        assert!(
            default.starts_with("file:///") && default.ends_with("/root.crl"),
            "{default}"
        );

        let config = CaConfig::with_crl_url("https://crl.example.invalid/asan.crl").unwrap();
        config.write(dir.path()).unwrap();
        assert_eq!(CaConfig::read(dir.path()).unwrap(), config);
        assert_eq!(
            config.crl_url_for(dir.path()).unwrap(),
            "https://crl.example.invalid/asan.crl"
        );

        let path = dir.path().join(CA_CONFIG_FILE);
        for corrupt in [
            "",
            "{",
            r#"{"crl_url": 5}"#,
            r#"{"crl": "http://a/"}"#,
            r#"{"crl_url": "ftp://a/"}"#,
        ] {
            std::fs::write(&path, corrupt).unwrap();
            let e = CaConfig::read(dir.path()).unwrap_err();
            assert!(
                matches!(&e, Error::Io { path: p, .. } if p.ends_with(CA_CONFIG_FILE)),
                "{corrupt}: {e}"
            );
            assert_eq!(std::fs::read_to_string(&path).unwrap(), corrupt);
        }
    }
}
