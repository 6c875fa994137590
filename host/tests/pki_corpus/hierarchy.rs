//! Keys, certificates and CRLs made with openssl: `openssl req` for roots,
//! `openssl req -new` + `openssl x509 -req -extfile` for everything issued,
//! `openssl ca -revoke` / `-gencrl` on a minimal CA database for CRLs.
//! Dates come from `faketime` where a case needs the past or the future.

use std::cell::Cell;
use std::path::{Path, PathBuf};

use super::openssl::{argv, must, p};

/// Extensions of a root CA.
pub const ROOT: &str = "basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash";
/// Extensions of an intermediate CA.
pub const CA: &str = "basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid:always";
/// Extensions of a document-signing leaf.
pub const SIGN: &str = "basicConstraints=critical,CA:FALSE
keyUsage=critical,nonRepudiation
extendedKeyUsage=emailProtection
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid:always";
/// Extensions of an authentication leaf.
pub const AUTH: &str = "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid:always";

/// Key algorithms.
#[derive(Clone, Copy)]
pub enum Alg {
    P256,
    P384,
    Rsa2048,
}

/// How a certificate is made: its key, digest, lifetime and when.
#[derive(Clone, Copy)]
pub struct Opts<'a> {
    pub alg: Alg,
    /// openssl's digest option: "sha256", "sha384".
    pub md: &'a str,
    pub days: u32,
    /// Made at this (faked) time; now if `None`.
    pub at: Option<&'a str>,
}

impl Default for Opts<'_> {
    fn default() -> Self {
        Self {
            alg: Alg::P256,
            md: "sha256",
            days: 3650,
            at: None,
        }
    }
}

/// A certificate (PEM) with its private key (PKCS#8 PEM).
#[derive(Clone, Debug)]
pub struct Cert {
    pub pem: PathBuf,
    pub key: PathBuf,
    pub serial: u64,
}

/// The builder: a directory and a serial counter (serials are unique
/// across the corpus, so a CRL never lists a certificate by accident).
pub struct Pki {
    dir: PathBuf,
    serial: Cell<u64>,
}

impl Pki {
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
            serial: Cell::new(0x1000),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn next_serial(&self) -> u64 {
        let s = self.serial.get() + 1;
        self.serial.set(s);
        s
    }

    /// A file written into the corpus.
    pub fn write(&self, name: &str, data: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, data).unwrap();
        path
    }

    /// A new private key `NAME.key`.
    pub fn key(&self, name: &str, alg: Alg) -> PathBuf {
        let key = self.path(&format!("{name}.key"));
        let opt = match alg {
            Alg::P256 => ["EC", "ec_paramgen_curve:P-256"],
            Alg::P384 => ["EC", "ec_paramgen_curve:P-384"],
            Alg::Rsa2048 => ["RSA", "rsa_keygen_bits:2048"],
        };
        must(
            &argv(
                "genpkey -algorithm {} -pkeyopt {} -out {}",
                &[opt[0], opt[1], p(&key)],
            ),
            None,
        );
        key
    }

    /// A config file with the extensions `ext` in section `[ext]`.
    fn config(&self, name: &str, ext: &str) -> PathBuf {
        self.write(
            &format!("{name}.cnf"),
            format!("[req]\ndistinguished_name=dn\n[dn]\n[ext]\n{ext}\n"),
        )
    }

    /// A self-signed certificate `NAME.pem` with a new key.
    pub fn root(&self, name: &str, subject: &str, ext: &str, o: Opts) -> Cert {
        let key = self.key(name, o.alg);
        self.self_signed(name, subject, ext, &key, o)
    }

    /// A self-signed certificate `NAME.pem` of the key `key`.
    pub fn self_signed(&self, name: &str, subject: &str, ext: &str, key: &Path, o: Opts) -> Cert {
        let cnf = self.config(name, ext);
        let pem = self.path(&format!("{name}.pem"));
        let serial = self.next_serial();
        let args = argv(
            "req -x509 -new -key {} -subj {} -config {} -extensions ext -days {} {} \
             -set_serial {} -out {}",
            &[
                p(key),
                subject,
                p(&cnf),
                &o.days.to_string(),
                &format!("-{}", o.md),
                &serial.to_string(),
                p(&pem),
            ],
        );
        must(&args, o.at);
        Cert {
            pem,
            key: key.to_owned(),
            serial,
        }
    }

    /// A certificate `NAME.pem` with a new key, issued by `issuer`.
    pub fn issue(&self, name: &str, subject: &str, ext: &str, issuer: &Cert, o: Opts) -> Cert {
        let key = self.key(name, o.alg);
        self.issue_with(name, subject, ext, issuer, &key, self.next_serial(), o)
    }

    /// A certificate `NAME.pem` of `key` with serial `serial`, issued by `issuer`.
    #[allow(clippy::too_many_arguments)]
    pub fn issue_with(
        &self,
        name: &str,
        subject: &str,
        ext: &str,
        issuer: &Cert,
        key: &Path,
        serial: u64,
        o: Opts,
    ) -> Cert {
        let cnf = self.config(name, ext);
        let csr = self.path(&format!("{name}.csr"));
        let pem = self.path(&format!("{name}.pem"));
        let args = argv(
            "req -new -key {} -subj {} -config {} -out {}",
            &[p(key), subject, p(&cnf), p(&csr)],
        );
        must(&args, None);
        let args = argv(
            "x509 -req -in {} -CA {} -CAkey {} -set_serial {} -days {} {} -extfile {} \
             -extensions ext -out {}",
            &[
                p(&csr),
                p(&issuer.pem),
                p(&issuer.key),
                &serial.to_string(),
                &o.days.to_string(),
                &format!("-{}", o.md),
                p(&cnf),
                p(&pem),
            ],
        );
        must(&args, o.at);
        Cert {
            pem,
            key: key.to_owned(),
            serial,
        }
    }

    /// A file `NAME.pem` of several PEM certificates, in this order.
    pub fn bundle(&self, name: &str, certs: &[&Cert]) -> PathBuf {
        let mut all = String::new();
        for c in certs {
            all.push_str(&std::fs::read_to_string(&c.pem).unwrap());
        }
        self.write(&format!("{name}.pem"), all)
    }

    /// The subject key identifier of `cert`, as openssl prints it (AB:CD:…).
    pub fn ski(&self, cert: &Cert) -> String {
        let args = argv(
            "x509 -in {} -noout -ext subjectKeyIdentifier",
            &[p(&cert.pem)],
        );
        let out = must(&args, None);
        let ski = out
            .stdout
            .lines()
            .last()
            .unwrap_or_default()
            .trim()
            .to_owned();
        assert!(ski.contains(':'), "no SKI in {}", out.report());
        ski
    }

    /// An impostor of `ca`: a self-signed CA certificate with `ca`'s exact
    /// subject name and subject key identifier, of another key.
    pub fn impostor(&self, name: &str, subject: &str, ca: &Cert) -> Cert {
        let ext = format!(
            "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n\
             subjectKeyIdentifier={}",
            self.ski(ca)
        );
        let cert = self.root(name, subject, &ext, Opts::default());
        assert_eq!(self.ski(&cert), self.ski(ca), "the impostor's SKI");
        cert
    }

    /// A CA database (index.txt, crlnumber) for `openssl ca` with `ca`'s key.
    pub fn ca_db(&self, name: &str, ca: &Cert) -> CaDb {
        let dir = self.path(&format!("{name}.db"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("index.txt"), "").unwrap();
        std::fs::write(dir.join("crlnumber"), "1000\n").unwrap();
        let cnf = format!(
            "[ca]\ndefault_ca=db\n[db]\ndatabase={}\ncrlnumber={}\ncertificate={}\n\
             private_key={}\ndefault_md=sha256\ndefault_crl_days=30\nunique_subject=no\n\
             crl_extensions=crl_ext\n[crl_ext]\nauthorityKeyIdentifier=keyid:always\n",
            p(&dir.join("index.txt")),
            p(&dir.join("crlnumber")),
            p(&ca.pem),
            p(&ca.key),
        );
        let cnf_path = dir.join("ca.cnf");
        std::fs::write(&cnf_path, cnf).unwrap();
        CaDb {
            cnf: cnf_path,
            out: self.dir.clone(),
        }
    }
}

/// A CA database that `openssl ca` revokes in and makes CRLs from.
pub struct CaDb {
    cnf: PathBuf,
    out: PathBuf,
}

impl CaDb {
    /// Marks `cert` revoked with `reason` (an `openssl ca -crl_reason`).
    pub fn revoke(&self, cert: &Cert, reason: &str) {
        let args = argv(
            "ca -config {} -revoke {} -crl_reason {}",
            &[p(&self.cnf), p(&cert.pem), reason],
        );
        must(&args, None);
    }

    /// A CRL of the revocations so far, made at `at` (now if `None`), valid
    /// for `days` days.
    pub fn crl(&self, name: &str, days: u32, at: Option<&str>) -> PathBuf {
        self.crl_from(&self.cnf, name, days, at)
    }

    /// A CRL valid for 30 days with an issuingDistributionPoint (critical)
    /// made of the openssl `[idp]` section lines `idp` (`onlyCA=TRUE`,
    /// `onlyuser=TRUE`, `fullname=URI:…`).
    pub fn crl_with_idp(&self, name: &str, idp: &str) -> PathBuf {
        let cnf = std::fs::read_to_string(&self.cnf).unwrap();
        let cnf = format!("{cnf}issuingDistributionPoint=critical,@idp\n[idp]\n{idp}\n");
        let path = self.cnf.with_file_name(format!("{name}.cnf"));
        std::fs::write(&path, cnf).unwrap();
        self.crl_from(&path, name, 30, None)
    }

    fn crl_from(&self, cnf: &Path, name: &str, days: u32, at: Option<&str>) -> PathBuf {
        let out = self.out.join(format!("{name}.crl"));
        let args = argv(
            "ca -config {} -gencrl -crldays {} -out {}",
            &[p(cnf), &days.to_string(), p(&out)],
        );
        must(&args, at);
        out
    }
}
