//! CRLs made with `openssl ca -gencrl` (the root's covers the intermediate,
//! the intermediate's covers the leaves) and the cases R1–R8 of
//! `asan cert verify --crl … --require-crl --purpose sign`, and R2 through
//! `asan verify` of a signature by the revoked leaf.

use std::path::{Path, PathBuf};

use super::cases::{Case, CmsCheck, Crls, OK, PathCheck, fails};
use super::cms::sign;
use super::hierarchy::{Opts, Pki, SIGN};
use super::paths::{Main, SIGNER};

pub fn build(pki: &Pki, m: &Main, doc: &Path) -> Vec<Case> {
    let root_db = pki.ca_db("root", &m.root);
    let root_crl = root_db.crl("root", 30, None);
    root_db.revoke(&m.int, "cACompromise");
    let root_revoking_int = root_db.crl("root-revoking-int", 30, None);

    let int_db = pki.ca_db("int", &m.int);
    let leaf = Opts {
        days: 730,
        ..Opts::default()
    };
    let revoked = pki.issue("r2-revoked", SIGNER, SIGN, &m.int, leaf);
    int_db.revoke(&revoked, "keyCompromise");
    // It lists the revoked leaf, not the honest one.
    let int_crl = int_db.crl("int", 30, None);
    let int_expired = int_db.crl("int-expired", 1, Some("10 days ago"));
    let int_future = int_db.crl("int-future", 30, Some("2 days"));
    let forged = pki
        .ca_db("impostor", &m.impostor)
        .crl("int-forged", 30, None);
    let unrelated = pki
        .ca_db("unrelated", &m.unrelated)
        .crl("unrelated", 30, None);

    let both = || Crls::required(&[&root_crl, &int_crl]);
    let check =
        |crls: &[&PathBuf]| PathCheck::new(&m.sign, &[&m.int], &m.root).crls(Crls::required(crls));
    let revoked_says = fails("certificate revoked");
    let mut cases = Vec::new();
    let r1 = check(&[&root_crl, &int_crl]);
    cases.push(Case::new("R1 no revocation, both CRLs", r1.cmds(), 0, OK));
    let r2 = PathCheck::new(&revoked, &[&m.int], &m.root).crls(both());
    let name = "R2 leaf revoked (keyCompromise)";
    let r2_case = Case::new(name, r2.cmds(), 1, revoked_says);
    cases.push(r2_case.saying(&["keyCompromise", "key compromise"]));
    let r3 = check(&[&root_revoking_int, &int_crl]);
    let name = "R3 intermediate revoked in the root's CRL";
    cases.push(Case::new(name, r3.cmds(), 1, revoked_says));
    let r4 = check(&[&root_crl, &forged]);
    let name = "R4 CRL with the intermediate's name, signed by another key";
    let says = fails("CRL signature failure");
    cases.push(Case::new(name, r4.cmds(), 1, says));
    let r5 = check(&[&root_crl, &int_expired]);
    let name = "R5 expired CRL";
    cases.push(Case::new(name, r5.cmds(), 1, fails("CRL has expired")));
    let r6 = check(&[&root_crl, &unrelated]);
    let name = "R6 no CRL of the leaf's issuer, one of an unrelated CA";
    let says = fails("unable to get certificate CRL");
    cases.push(Case::new(name, r6.cmds(), 1, says));
    let r7 = check(&[&root_crl, &int_future]);
    let not_yet = fails("CRL is not yet valid");
    cases.push(Case::new("R7 CRL not yet valid", r7.cmds(), 1, not_yet));
    let mut r8 = check(&[&root_crl]);
    r8.crls.require = false;
    let name = "R8 no CRL of the leaf's issuer, none required";
    cases.push(Case::new(name, r8.cmds(), 0, OK));

    // openssl cms -verify takes no CRLs: its oracle checks the signer's
    // certificate with openssl verify -crl_check_all.
    let certfile = pki.bundle("r2-chain", &[&m.int]);
    let sig = sign(pki, "r2", doc, &revoked, &certfile, "-cades", None);
    let cms = CmsCheck::new(Some(doc), &sig, &m.root).crls(both());
    let name = "R2-cms signature by the revoked leaf";
    cases.push(Case::new(name, (cms.asan(), r2.openssl()), 1, revoked_says));
    cases
}
