//! The main hierarchy (made in 2018, valid thirty years) and the path cases
//! P1–P24 of `asan cert verify`; the certificates that the CMS and CRL
//! cases sign with.

use super::cases::{Case, OK, PathCheck, Purpose, at, fails};
use super::hierarchy::{AUTH, Alg, CA, Cert, Opts, Pki, ROOT, SIGN};

pub const ROOT_NAME: &str = "/C=AZ/O=Asan Imza Test/CN=Test Root CA";
pub const INT_NAME: &str = "/C=AZ/O=Asan Imza Test/CN=Test Intermediate CA";
pub const SIGNER: &str = "/C=AZ/CN=Test Signer/serialNumber=1234567";

/// Reasons for deliberate differences from openssl.
pub const CA_SIGNER: &str = "a signer that is a CA: RFC 5280 and the issue require refusing it; \
     OpenSSL's smimesign purpose accepts a CA as end entity";
pub const ANY_EKU: &str = "anyExtendedKeyUsage / documentSigning (RFC 9336) allow document \
     signing; OpenSSL's smimesign purpose requires emailProtection";
pub const DIGITAL_SIGNATURE: &str = "keyUsage digitalSignature alone: a document signature \
     needs nonRepudiation (contentCommitment) so that an authentication key (PIN1) can never \
     make one; OpenSSL's smimesign accepts digitalSignature";
pub const RSA: &str = "RSA is not supported (ECDSA P-256/P-384 only)";

/// The main hierarchy and the leaves other cases reuse.
pub struct Main {
    pub root: Cert,
    pub int: Cert,
    /// The honest signing leaf.
    pub sign: Cert,
    /// EKU serverAuth only.
    pub server_auth: Cert,
    /// A signing leaf that is a CA.
    pub ca_leaf: Cert,
    /// A signing leaf under an intermediate without keyCertSign, and it.
    pub no_kcs_leaf: Cert,
    pub no_kcs_int: Cert,
    /// A signing leaf with an unknown critical extension.
    pub critical: Cert,
    /// A CA of another key with the intermediate's subject and SKI.
    pub impostor: Cert,
    /// An unrelated root CA.
    pub unrelated: Cert,
}

const MADE: Opts = Opts {
    alg: Alg::P256,
    md: "sha256",
    days: 10950,
    at: Some("2018-01-01 00:00:00"),
};
const LEAF: Opts = Opts {
    alg: Alg::P256,
    md: "sha256",
    days: 730,
    at: None,
};

/// `ext` with the honest signing leaf's SKI/AKI/basicConstraints and the
/// given keyUsage and EKU lines.
fn leaf_ext(lines: &str) -> String {
    format!(
        "basicConstraints=critical,CA:FALSE\n{lines}\nsubjectKeyIdentifier=hash\n\
         authorityKeyIdentifier=keyid:always"
    )
}

/// The main hierarchy, its variants and the path cases.
pub fn build(pki: &Pki) -> (Main, Vec<Case>) {
    let root = pki.root("root", ROOT_NAME, ROOT, MADE);
    let int = pki.issue("int", INT_NAME, CA, &root, MADE);
    let sign = pki.issue("sign", SIGNER, SIGN, &int, LEAF);
    let auth = pki.issue("auth", SIGNER, AUTH, &int, LEAF);
    let leaf = |name: &str, ext: &str, issuer: &Cert| pki.issue(name, SIGNER, ext, issuer, LEAF);
    let ca_under = |name: &str, subject: &str, ext: &str, issuer: &Cert| {
        pki.issue(name, subject, ext, issuer, Opts::default())
    };
    let check = |c: &Cert| PathCheck::new(c, &[&int], &root);
    let mut cases = Vec::new();

    let name = "P1 signing leaf, purpose sign";
    cases.push(Case::new(name, check(&sign).cmds(), 0, OK));
    let p2 = check(&auth).purpose(Purpose::Auth);
    let name = "P2 authentication leaf, purpose auth";
    cases.push(Case::new(name, p2.cmds(), 0, OK));
    let p3 = check(&sign).purpose(Purpose::Any);
    cases.push(Case::new("P3 signing leaf, purpose any", p3.cmds(), 0, OK));

    let in_2020 = Opts {
        days: 30,
        at: Some("2020-01-01 00:00:00"),
        ..LEAF
    };
    let expired = pki.issue("p4-expired", SIGNER, SIGN, &int, in_2020);
    let expired_says = fails("certificate has expired");
    let name = "P4 expired leaf";
    cases.push(Case::new(name, check(&expired).cmds(), 1, expired_says));
    let p4b = check(&expired).at(at(2020, 1, 15, 12, 0, 0));
    let name = "P4b expired leaf, --at inside its validity";
    cases.push(Case::new(name, p4b.cmds(), 0, OK));
    let future = Opts {
        at: Some("365 days"),
        ..LEAF
    };
    let p5 = pki.issue("p5-future", SIGNER, SIGN, &int, future);
    let p5_says = fails("certificate is not yet valid");
    let name = "P5 leaf not yet valid";
    cases.push(Case::new(name, check(&p5).cmds(), 1, p5_says));

    let old_int = Opts {
        days: 365,
        at: Some("2019-01-01 00:00:00"),
        ..MADE
    };
    let p6_int = pki.issue("p6-int", "/CN=Expired Intermediate CA", CA, &root, old_int);
    let p6 = PathCheck::new(&leaf("p6-leaf", SIGN, &p6_int), &[&p6_int], &root);
    let name = "P6 expired intermediate";
    cases.push(Case::new(name, p6.cmds(), 1, expired_says));

    let no_kcs = "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,digitalSignature,cRLSign\n\
                  subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always";
    let no_kcs_int = ca_under("p7-int", "/CN=No keyCertSign CA", no_kcs, &root);
    let no_kcs_leaf = leaf("p7-leaf", SIGN, &no_kcs_int);
    let p7 = PathCheck::new(&no_kcs_leaf, &[&no_kcs_int], &root);
    let invalid_ca = fails("invalid CA certificate");
    let name = "P7 intermediate without keyCertSign";
    cases.push(Case::new(name, p7.cmds(), 1, invalid_ca));
    let no_bc = "keyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n\
                 authorityKeyIdentifier=keyid:always";
    let p8a_int = ca_under("p8a-int", "/CN=No basicConstraints CA", no_bc, &root);
    let p8a = PathCheck::new(&leaf("p8a-leaf", SIGN, &p8a_int), &[&p8a_int], &root);
    let name = "P8a intermediate without basicConstraints";
    cases.push(Case::new(name, p8a.cmds(), 1, invalid_ca));
    let not_ca = CA.replace("CA:TRUE", "CA:FALSE");
    let p8b_int = ca_under("p8b-int", "/CN=CA FALSE CA", &not_ca, &root);
    let p8b = PathCheck::new(&leaf("p8b-leaf", SIGN, &p8b_int), &[&p8b_int], &root);
    let name = "P8b intermediate with CA:FALSE";
    cases.push(Case::new(name, p8b.cmds(), 1, invalid_ca));

    let pathlen0 = |ext: &str| ext.replace("CA:TRUE", "CA:TRUE,pathlen:0");
    let p9_root = pki.root("p9a-root", "/CN=Pathlen 0 Root CA", &pathlen0(ROOT), MADE);
    let p9a_int = ca_under("p9a-int", "/CN=Below Pathlen 0 CA", CA, &p9_root);
    let p9a = PathCheck::new(&leaf("p9a-leaf", SIGN, &p9a_int), &[&p9a_int], &p9_root);
    let pathlen_says = fails("path length constraint exceeded");
    let name = "P9a root pathlen:0 above an intermediate";
    cases.push(Case::new(name, p9a.cmds(), 1, pathlen_says));
    let p9b_int = ca_under("p9b-int", "/CN=Pathlen 0 CA", &pathlen0(CA), &root);
    let p9b_sub = ca_under("p9b-sub", "/CN=Sub CA", CA, &p9b_int);
    let p9b_leaf = leaf("p9b-leaf", SIGN, &p9b_sub);
    let p9b = PathCheck::new(&p9b_leaf, &[&p9b_sub, &p9b_int], &root);
    let name = "P9b intermediate pathlen:0 above a sub-intermediate";
    cases.push(Case::new(name, p9b.cmds(), 1, pathlen_says));

    let critical = leaf(
        "p10",
        &format!("{SIGN}\n1.2.3.4.5=critical,DER:05:00"),
        &int,
    );
    let p10_says = fails("unhandled critical extension");
    let name = "P10 unknown critical extension";
    cases.push(Case::new(name, check(&critical).cmds(), 1, p10_says));
    let server_auth = leaf(
        "p11",
        &leaf_ext("keyUsage=critical,nonRepudiation\nextendedKeyUsage=serverAuth"),
        &int,
    );
    let purpose_says = fails("unsuitable certificate purpose");
    let name = "P11 leaf EKU serverAuth only, purpose sign";
    cases.push(Case::new(name, check(&server_auth).cmds(), 1, purpose_says));
    let p23_int = ca_under(
        "p23-int",
        "/CN=Server Auth Only CA",
        &format!("{CA}\nextendedKeyUsage=serverAuth"),
        &root,
    );
    let p23 = PathCheck::new(&leaf("p23-leaf", SIGN, &p23_int), &[&p23_int], &root);
    let name = "P23 intermediate EKU serverAuth only, purpose sign";
    cases.push(Case::new(name, p23.cmds(), 1, purpose_says));
    let ca_leaf = leaf("p12", &SIGN.replace("CA:FALSE", "CA:TRUE"), &int);
    let name = "P12 leaf that is a CA, purpose sign";
    cases.push(Case::new(name, check(&ca_leaf).cmds(), 1, OK).differs(CA_SIGNER));

    let p13 = PathCheck::new(&sign, &[], &sign);
    let p13_says = fails("unable to get local issuer certificate");
    let name = "P13 the leaf as trust anchor";
    cases.push(Case::new(name, p13.cmds(), 2, p13_says));
    let impostor = pki.impostor("impostor", INT_NAME, &int);
    let forged = leaf("p14-forged", SIGN, &impostor);
    let p14_says = fails("certificate signature failure");
    let name = "P14 forged issuer";
    cases.push(Case::new(name, check(&forged).cmds(), 1, p14_says));

    let unrelated = pki.root("unrelated", "/C=AZ/CN=Unrelated Root CA", ROOT, MADE);
    let unrelated_leaf = leaf("unrelated-leaf", SIGN, &unrelated);
    let a = pki.bundle("p15-chain-a", &[&unrelated_leaf, &int, &unrelated]);
    let b = pki.bundle("p15-chain-b", &[&p9a_int, &auth]);
    let mut p15 = check(&sign);
    p15.chain = vec![b, a];
    let name = "P15 chain with junk certificates, shuffled";
    cases.push(Case::new(name, p15.cmds(), 0, OK));
    let p22 = PathCheck::new(&sign, &[], &root);
    let name = "P22 intermediate missing";
    let p22_case = Case::new(name, p22.cmds(), 1, p13_says);
    cases.push(p22_case.saying(&["no trust anchor or other certificate given is"]));

    let eku = |oid: &str| {
        leaf_ext(&format!(
            "keyUsage=critical,nonRepudiation\nextendedKeyUsage={oid}"
        ))
    };
    let p16 = leaf("p16", &eku("anyExtendedKeyUsage"), &int);
    let name = "P16 leaf EKU anyExtendedKeyUsage only, purpose sign";
    cases.push(Case::new(name, check(&p16).cmds(), 0, purpose_says).differs(ANY_EKU));
    let p17 = leaf("p17", &eku("1.3.6.1.5.5.7.3.36"), &int);
    let name = "P17 leaf EKU documentSigning only, purpose sign";
    cases.push(Case::new(name, check(&p17).cmds(), 0, purpose_says).differs(ANY_EKU));
    let p18_ext = leaf_ext("keyUsage=critical,digitalSignature\nextendedKeyUsage=emailProtection");
    let p18 = leaf("p18", &p18_ext, &int);
    let name = "P18 leaf keyUsage digitalSignature only, purpose sign";
    cases.push(Case::new(name, check(&p18).cmds(), 1, OK).differs(DIGITAL_SIGNATURE));

    let old_root = Opts {
        days: 365,
        at: Some("2019-01-01 00:00:00"),
        ..MADE
    };
    let p19_root = pki.root("p19-root", "/CN=Expired Root CA", ROOT, old_root);
    let p19_int = ca_under("p19-int", "/CN=Under Expired Root CA", CA, &p19_root);
    let p19 = PathCheck::new(&leaf("p19-leaf", SIGN, &p19_int), &[&p19_int], &p19_root);
    cases.push(Case::new("P19 expired root", p19.cmds(), 1, expired_says));

    let p384 = Opts {
        alg: Alg::P384,
        ..Opts::default()
    };
    let p20_int = pki.issue("p20-int", "/CN=P-384 Intermediate CA", CA, &root, p384);
    let sha384 = Opts {
        md: "sha384",
        ..LEAF
    };
    let p20_leaf = pki.issue("p20-leaf", SIGNER, SIGN, &p20_int, sha384);
    let p20 = PathCheck::new(&p20_leaf, &[&p20_int], &root);
    let name = "P20 P-384 intermediate, ecdsa-with-SHA384";
    cases.push(Case::new(name, p20.cmds(), 0, OK));
    let rsa = Opts {
        alg: Alg::Rsa2048,
        ..Opts::default()
    };
    let p21_root = pki.root("p21-root", "/CN=RSA Root CA", ROOT, rsa);
    let p21_int = pki.issue("p21-int", "/CN=RSA Intermediate CA", CA, &p21_root, rsa);
    let p21 = PathCheck::new(&leaf("p21-leaf", SIGN, &p21_int), &[&p21_int], &p21_root);
    let name = "P21 RSA-2048 root and intermediate";
    cases.push(Case::new(name, p21.cmds(), 1, OK).differs(RSA));

    let eku_root_ext = format!("{ROOT}\nextendedKeyUsage=serverAuth");
    let p25_root = pki.root("p25-root", "/CN=Server Auth Root CA", &eku_root_ext, MADE);
    let p25_int = ca_under("p25-int", "/CN=Under Server Auth Root CA", CA, &p25_root);
    let p25 = PathCheck::new(&leaf("p25-leaf", SIGN, &p25_int), &[&p25_int], &p25_root);
    let name = "P25 trust anchor with EKU serverAuth only, purpose sign";
    cases.push(Case::new(name, p25.cmds(), 1, purpose_says));
    let p26 = p25.purpose(Purpose::Any);
    let name = "P26 the same, purpose any";
    cases.push(Case::new(name, p26.cmds(), 0, OK));

    let main = Main {
        root,
        int,
        sign,
        server_auth,
        ca_leaf,
        no_kcs_leaf,
        no_kcs_int,
        critical,
        impostor,
        unrelated,
    };
    (main, cases)
}
