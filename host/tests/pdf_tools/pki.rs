//! A P-256 PKI made by `openssl` (not by our code): a root CA, a document
//! signer and a time-stamping authority, each valid from a day ago.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::run::{arg, run};

/// Key material for pyHanko's `pemder` signer, all PEM files.
#[derive(Clone, Debug)]
pub struct Signer {
    /// The end entity's unencrypted PKCS#8 private key.
    pub key_pem: PathBuf,
    /// The end entity's certificate.
    pub cert_pem: PathBuf,
    /// The root CA's certificate (the trust anchor; also the chain).
    pub ca_pem: PathBuf,
}

/// The signer's subject common name.
pub const SIGNER_CN: &str = "pdf_tools Test Signer";
/// The signer root's subject common name.
pub const ROOT_CN: &str = "pdf_tools Test Root CA";

/// Makes `dir/signer-pki/` with an openssl root CA (P-256, `CA:TRUE`,
/// keyCertSign) and a P-256 end entity `CN=pdf_tools Test Signer,
/// O=pdf_tools, C=AZ` with keyUsage digitalSignature, nonRepudiation
/// (critical) and extendedKeyUsage emailProtection; both valid from a day
/// ago (`openssl ca -startdate`).
pub fn openssl_p256_signer(dir: &Path) -> Signer {
    openssl_root(dir).signer("signer", SIGNER_CN)
}

/// The root CA of [`openssl_p256_signer`] alone (`dir/signer-pki/`), to
/// issue more signers under it with [`OpensslCa::signer`].
pub fn openssl_root(dir: &Path) -> OpensslCa {
    OpensslCa::new(
        &dir.join("signer-pki"),
        &format!("/CN={ROOT_CN}/O=pdf_tools"),
    )
}

/// A CA run by `openssl ca` in its own directory.
pub struct OpensslCa {
    /// Its directory (config, database, keys).
    pub dir: PathBuf,
    /// `ca.cnf`.
    pub config: PathBuf,
    /// The root's private key.
    pub key: PathBuf,
    /// The root's certificate.
    pub cert: PathBuf,
}

impl OpensslCa {
    /// A new self-signed P-256 root with subject `subject` (openssl's
    /// `/CN=…/O=…` form) in `dir`.
    pub fn new(dir: &Path, subject: &str) -> Self {
        std::fs::create_dir_all(dir.join("newcerts")).unwrap();
        std::fs::write(dir.join("index.txt"), "").unwrap();
        std::fs::write(dir.join("serial"), "1000\n").unwrap();
        let config = dir.join("ca.cnf");
        std::fs::write(&config, ca_config(dir)).unwrap();
        let ca = Self {
            dir: dir.to_owned(),
            key: dir.join("ca.key"),
            cert: dir.join("ca.pem"),
            config,
        };
        p256_key(&ca.key);
        let csr = dir.join("ca.csr");
        run(
            "openssl",
            &[
                "req",
                "-new",
                "-key",
                arg(&ca.key),
                "-subj",
                subject,
                "-out",
                arg(&csr),
            ],
        )
        .ok();
        ca.sign(&csr, &ca.cert, "v3_root", true);
        ca
    }

    /// Issues a P-256 certificate for `subject` with the extensions of
    /// section `extensions` of `ca.cnf` (`v3_signer`, `v3_tsa`); returns
    /// the key and certificate PEM paths `dir/NAME.key`, `dir/NAME.pem`.
    pub fn issue(&self, name: &str, subject: &str, extensions: &str) -> (PathBuf, PathBuf) {
        let key = self.dir.join(format!("{name}.key"));
        let cert = self.dir.join(format!("{name}.pem"));
        let csr = self.dir.join(format!("{name}.csr"));
        p256_key(&key);
        run(
            "openssl",
            &[
                "req",
                "-new",
                "-key",
                arg(&key),
                "-subj",
                subject,
                "-out",
                arg(&csr),
            ],
        )
        .ok();
        self.sign(&csr, &cert, extensions, false);
        (key, cert)
    }

    /// A document signer `CN=CN, O=pdf_tools, C=AZ` (profile `v3_signer`:
    /// keyUsage digitalSignature, nonRepudiation critical; EKU
    /// emailProtection) with files `dir/NAME.key` and `dir/NAME.pem`.
    pub fn signer(&self, name: &str, cn: &str) -> Signer {
        let (key_pem, cert_pem) =
            self.issue(name, &format!("/CN={cn}/O=pdf_tools/C=AZ"), "v3_signer");
        Signer {
            key_pem,
            cert_pem,
            ca_pem: self.cert.clone(),
        }
    }

    fn sign(&self, csr: &Path, cert: &Path, extensions: &str, self_signed: bool) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let start = asn1_time(now - 86_400);
        let end = asn1_time(now + 2 * 365 * 86_400);
        let mut args = vec![
            "ca",
            "-batch",
            "-notext",
            "-config",
            arg(&self.config),
            "-extensions",
            extensions,
            "-startdate",
            &start,
            "-enddate",
            &end,
            "-in",
            arg(csr),
            "-out",
            arg(cert),
        ];
        if self_signed {
            args.extend(["-selfsign", "-keyfile", arg(&self.key)]);
        } else {
            args.extend(["-cert", arg(&self.cert), "-keyfile", arg(&self.key)]);
        }
        run("openssl", &args).ok();
    }
}

/// A fresh unencrypted P-256 key in PKCS#8 PEM (`BEGIN PRIVATE KEY`).
fn p256_key(path: &Path) {
    run(
        "openssl",
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            arg(path),
        ],
    )
    .ok();
}

fn ca_config(dir: &Path) -> String {
    format!(
        "[ ca ]\n\
         default_ca = CA_default\n\
         [ CA_default ]\n\
         dir = {dir}\n\
         database = $dir/index.txt\n\
         new_certs_dir = $dir/newcerts\n\
         serial = $dir/serial\n\
         default_md = sha256\n\
         policy = policy_any\n\
         unique_subject = no\n\
         copy_extensions = none\n\
         [ policy_any ]\n\
         commonName = supplied\n\
         organizationName = optional\n\
         countryName = optional\n\
         [ v3_root ]\n\
         basicConstraints = critical,CA:TRUE\n\
         keyUsage = critical,keyCertSign,cRLSign\n\
         subjectKeyIdentifier = hash\n\
         [ v3_signer ]\n\
         basicConstraints = critical,CA:FALSE\n\
         keyUsage = critical,digitalSignature,nonRepudiation\n\
         extendedKeyUsage = emailProtection\n\
         subjectKeyIdentifier = hash\n\
         authorityKeyIdentifier = keyid\n\
         [ v3_tsa ]\n\
         basicConstraints = critical,CA:FALSE\n\
         keyUsage = critical,digitalSignature\n\
         extendedKeyUsage = critical,timeStamping\n\
         subjectKeyIdentifier = hash\n\
         authorityKeyIdentifier = keyid\n",
        dir = dir.display()
    )
}

/// `YYYYMMDDHHMMSSZ` (GeneralizedTime, as `openssl ca -startdate` takes it)
/// for seconds since the Unix epoch.
pub fn asn1_time(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}
