//! A case: the `asan` command, the openssl command that is its oracle, and
//! what each must say. The two command lines are made from one description
//! (`PathCheck`, `CmsCheck`), so the options map the same way everywhere:
//! `--purpose sign|auth|any` ↔ `-purpose smimesign|sslclient|(none)`,
//! `--at T` ↔ `-attime <unix seconds>`, `--crl F --require-crl` ↔
//! `-crl_check_all -CRLfile F` (without `--require-crl` openssl checks no CRL).

use std::path::{Path, PathBuf};

use super::hierarchy::Cert;
use super::openssl::{p, strings};

/// One case of the corpus.
#[derive(Clone, Debug)]
pub struct Case {
    pub name: &'static str,
    pub asan: Vec<String>,
    pub openssl: Vec<String>,
    /// asan's expected exit code: 0 valid, 1 invalid, 2 usage error.
    pub asan_exit: i32,
    /// openssl's verdict as observed (valid or not).
    pub openssl_ok: bool,
    /// Text that openssl's output contains (its error, or `OK`).
    pub openssl_says: &'static str,
    /// Why asan deliberately disagrees with openssl here.
    pub difference: Option<&'static str>,
    /// asan's output mentions one of these (case-insensitive), if not empty.
    pub asan_says: &'static [&'static str],
}

/// What openssl is expected to answer.
#[derive(Clone, Copy)]
pub struct Expect {
    pub ok: bool,
    pub says: &'static str,
}

/// openssl accepts (`…: OK` from `openssl verify`, `Verification
/// successful` from `openssl cms`).
pub const OK: Expect = Expect { ok: true, says: "" };

/// openssl refuses, saying `says`.
pub const fn fails(says: &'static str) -> Expect {
    Expect { ok: false, says }
}

impl Case {
    pub fn new(name: &'static str, cmds: (Vec<String>, Vec<String>), asan: i32, o: Expect) -> Self {
        let success = match cmds.1.first().map(String::as_str) {
            Some("verify") => ": OK",
            _ => "Verification successful",
        };
        Self {
            name,
            asan: cmds.0,
            openssl: cmds.1,
            asan_exit: asan,
            openssl_ok: o.ok,
            openssl_says: if o.ok { success } else { o.says },
            difference: None,
            asan_says: &[],
        }
    }

    /// A documented, deliberate difference from openssl.
    pub fn differs(mut self, reason: &'static str) -> Self {
        self.difference = Some(reason);
        self
    }

    /// asan's output must mention one of `words`.
    pub fn saying(mut self, words: &'static [&'static str]) -> Self {
        self.asan_says = words;
        self
    }
}

/// `--at`: a moment as RFC 3339 (for asan) and Unix seconds (for openssl).
#[derive(Clone, Debug)]
pub struct At {
    pub rfc3339: String,
    pub unix: u64,
}

/// The moment `y-mo-d h:mi:s` UTC.
pub fn at(y: u16, mo: u8, d: u8, h: u8, mi: u8, s: u8) -> At {
    let t = der::DateTime::new(y, mo, d, h, mi, s).unwrap();
    At {
        rfc3339: format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z"),
        unix: t.unix_duration().as_secs(),
    }
}

/// `--purpose`.
#[derive(Clone, Copy, Debug)]
pub enum Purpose {
    Sign,
    Auth,
    Any,
}

/// CRLs given, and whether one is required for every certificate.
#[derive(Clone, Debug, Default)]
pub struct Crls {
    pub files: Vec<PathBuf>,
    pub require: bool,
}

impl Crls {
    pub fn required(files: &[&PathBuf]) -> Self {
        Self {
            files: files.iter().map(|f| (*f).clone()).collect(),
            require: true,
        }
    }

    fn asan(&self, args: &mut Vec<String>) {
        for f in &self.files {
            args.extend(strings(&["--crl", p(f)]));
        }
        if self.require {
            args.push("--require-crl".into());
        }
    }

    fn openssl(&self, args: &mut Vec<String>) {
        if self.require {
            args.push("-crl_check_all".into());
            for f in &self.files {
                args.extend(strings(&["-CRLfile", p(f)]));
            }
        }
    }
}

/// `asan cert verify` ↔ `openssl verify -x509_strict`.
#[derive(Clone, Debug)]
pub struct PathCheck {
    pub cert: PathBuf,
    pub chain: Vec<PathBuf>,
    pub ca: PathBuf,
    pub purpose: Purpose,
    pub at: Option<At>,
    pub crls: Crls,
}

impl PathCheck {
    /// `cert` under `ca` with `chain`, `--purpose sign`, now, no CRLs.
    pub fn new(cert: &Cert, chain: &[&Cert], ca: &Cert) -> Self {
        Self {
            cert: cert.pem.clone(),
            chain: chain.iter().map(|c| c.pem.clone()).collect(),
            ca: ca.pem.clone(),
            purpose: Purpose::Sign,
            at: None,
            crls: Crls::default(),
        }
    }

    pub fn purpose(mut self, purpose: Purpose) -> Self {
        self.purpose = purpose;
        self
    }

    pub fn at(mut self, at: At) -> Self {
        self.at = Some(at);
        self
    }

    pub fn crls(mut self, crls: Crls) -> Self {
        self.crls = crls;
        self
    }

    /// The asan command line (without the program).
    pub fn asan(&self) -> Vec<String> {
        let mut a = strings(&["cert", "verify", p(&self.cert)]);
        for c in &self.chain {
            a.extend(strings(&["--chain", p(c)]));
        }
        a.extend(strings(&["--ca", p(&self.ca)]));
        if let Some(at) = &self.at {
            a.extend(["--at".into(), at.rfc3339.clone()]);
        }
        self.crls.asan(&mut a);
        let purpose = match self.purpose {
            Purpose::Sign => "sign",
            Purpose::Auth => "auth",
            Purpose::Any => "any",
        };
        a.extend(strings(&["--purpose", purpose]));
        a
    }

    /// The openssl command line (without the program).
    pub fn openssl(&self) -> Vec<String> {
        let mut o = strings(&["verify", "-x509_strict", "-CAfile", p(&self.ca)]);
        for c in &self.chain {
            o.extend(strings(&["-untrusted", p(c)]));
        }
        match self.purpose {
            Purpose::Sign => o.extend(strings(&["-purpose", "smimesign"])),
            Purpose::Auth => o.extend(strings(&["-purpose", "sslclient"])),
            Purpose::Any => {}
        }
        if let Some(at) = &self.at {
            o.extend(["-attime".into(), at.unix.to_string()]);
        }
        self.crls.openssl(&mut o);
        o.push(p(&self.cert).to_owned());
        o
    }

    /// Both command lines.
    pub fn cmds(&self) -> (Vec<String>, Vec<String>) {
        (self.asan(), self.openssl())
    }
}

/// `asan verify` ↔ `openssl cms -verify` (default purpose smimesign).
#[derive(Clone, Debug)]
pub struct CmsCheck {
    /// The signed file; `None` when the content is in the signature.
    pub content: Option<PathBuf>,
    pub signature: PathBuf,
    pub ca: PathBuf,
    pub at: Option<At>,
    pub crls: Crls,
    pub cades: bool,
}

impl CmsCheck {
    pub fn new(content: Option<&Path>, signature: &Path, ca: &Cert) -> Self {
        Self {
            content: content.map(Path::to_owned),
            signature: signature.to_owned(),
            ca: ca.pem.clone(),
            at: None,
            crls: Crls::default(),
            cades: false,
        }
    }

    pub fn at(mut self, at: At) -> Self {
        self.at = Some(at);
        self
    }

    pub fn cades(mut self) -> Self {
        self.cades = true;
        self
    }

    pub fn crls(mut self, crls: Crls) -> Self {
        self.crls = crls;
        self
    }

    pub fn asan(&self) -> Vec<String> {
        let mut a = vec!["verify".to_owned()];
        if let Some(c) = &self.content {
            a.push(p(c).to_owned());
        }
        a.extend(strings(&[p(&self.signature), "--ca", p(&self.ca)]));
        if let Some(at) = &self.at {
            a.extend(["--at".into(), at.rfc3339.clone()]);
        }
        self.crls.asan(&mut a);
        if self.cades {
            a.push("--cades".into());
        }
        a
    }

    pub fn openssl(&self) -> Vec<String> {
        let mut o = strings(&["cms", "-verify", "-binary", "-inform", "DER"]);
        o.extend(strings(&["-in", p(&self.signature)]));
        if let Some(c) = &self.content {
            o.extend(strings(&["-content", p(c)]));
        }
        o.extend(strings(&["-CAfile", p(&self.ca)]));
        if let Some(at) = &self.at {
            o.extend(["-attime".into(), at.unix.to_string()]);
        }
        o.extend(strings(&["-out", "/dev/null"]));
        o
    }

    pub fn cmds(&self) -> (Vec<String>, Vec<String>) {
        (self.asan(), self.openssl())
    }
}
