//! CRLs made with `openssl ca -gencrl` (the root's covers the intermediate,
//! the intermediate's covers the leaves) and the cases R1–R12 of
//! `asan cert verify --crl … --require-crl --purpose sign`, and R2 through
//! `asan verify` of a signature by the revoked leaf.

use std::path::{Path, PathBuf};

use super::cases::{Case, CmsCheck, Crls, OK, PathCheck, fails};
use super::cms::sign;
use super::hierarchy::{CA, Opts, Pki, SIGN};
use super::paths::{Main, SIGNER};

pub fn build(pki: &Pki, m: &Main, doc: &Path) -> Vec<Case> {
    let root_db = pki.ca_db("root", &m.root);
    let root_crl = root_db.crl("root", 30, None);
    let uri = |name: &str| format!("URI:http://crl.asan-imza.test/{name}.crl");
    let idp = |name: &str, scope: &str| format!("fullname={}\n{scope}", uri(name));
    let root_ca_only = root_db.crl_with_idp("r9-root-ca-only", &idp("root", "onlyCA=TRUE"));
    let root_users_only =
        root_db.crl_with_idp("r10-root-users-only", &idp("root", "onlyuser=TRUE"));
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
    let r1_case = Case::new("R1 no revocation, both CRLs", r1.cmds(), 0, OK);
    // openssl's crlnumber file starts at hex 1000.
    cases.push(r1_case.saying(&["not revoked (CRL #4096 of CN=Test Intermediate CA"]));
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

    // The scope of a CRL (issuingDistributionPoint, with a distribution
    // point name as rustls-webpki requires): only CA certificates, only end
    // entities, one distribution point. A second intermediate and leaf that
    // name their CRLs' distribution points.
    let dp = |name: &str| format!("crlDistributionPoints={}", uri(name));
    let int_dp_ext = format!("{CA}\n{}", dp("root"));
    let int_dp = pki.issue(
        "r9-int",
        "/CN=Distribution Point CA",
        &int_dp_ext,
        &m.root,
        leaf,
    );
    let leaf_dp = pki.issue(
        "r9-leaf",
        SIGNER,
        &format!("{SIGN}\n{}", dp("int")),
        &int_dp,
        leaf,
    );
    let int_dp_db = pki.ca_db("r9-int", &int_dp);
    let int_users_only = int_dp_db.crl_with_idp("r9-int-users-only", &idp("int", "onlyuser=TRUE"));
    let int_other = int_dp_db.crl_with_idp("r11-int-other", &idp("other", ""));
    let int_plain = int_dp_db.crl("r12-int", 30, None);
    let scoped = |crls: &[&PathBuf]| {
        PathCheck::new(&leaf_dp, &[&int_dp], &m.root).crls(Crls::required(crls))
    };
    let r9 = scoped(&[&root_crl, &int_users_only]);
    let name = "R9 the intermediate's CRL scoped to end entities at the leaf's point";
    cases.push(Case::new(name, r9.cmds(), 0, OK));
    let r10 = scoped(&[&root_users_only, &int_users_only]);
    let name = "R10 the root's CRL covers end entities only, not the intermediate";
    cases.push(Case::new(name, r10.cmds(), 1, fails("different CRL scope")));
    let r11 = scoped(&[&root_crl, &int_other]);
    let name = "R11 the leaf's distribution point is not the CRL's";
    cases.push(Case::new(name, r11.cmds(), 1, fails("different CRL scope")));
    let r12 = scoped(&[&root_crl, &int_plain]);
    let name = "R12 a CRL without a distribution point covers the leaf that names one";
    cases.push(Case::new(name, r12.cmds(), 0, OK));
    let main_scoped = int_db.crl_with_idp("r13-int-users-only", &idp("int", "onlyuser=TRUE"));
    let r13 = check(&[&root_crl, &main_scoped]);
    let name = "R13 a scoped CRL does not cover a leaf that names no distribution point";
    cases.push(Case::new(name, r13.cmds(), 1, fails("different CRL scope")));
    let r14 = scoped(&[&root_ca_only, &int_plain]);
    let name = "R14 the root's CRL, scoped to CAs at a point, does not cover the root itself";
    cases.push(Case::new(name, r14.cmds(), 1, fails("different CRL scope")));

    // A CA below the intermediate: the intermediate's CRL scoped to CAs
    // covers it, one scoped to end entities does not.
    let sub_ext = format!("{CA}\n{}", dp("int"));
    let sub = pki.issue("r15-sub", "/CN=Sub CA", &sub_ext, &int_dp, leaf);
    let sub_leaf = pki.issue(
        "r15-leaf",
        SIGNER,
        &format!("{SIGN}\n{}", dp("sub")),
        &sub,
        leaf,
    );
    let sub_crl = pki.ca_db("r15-sub", &sub).crl("r15-sub", 30, None);
    let int_ca_only = int_dp_db.crl_with_idp("r15-int-ca-only", &idp("int", "onlyCA=TRUE"));
    let deep = |crls: &[&PathBuf]| {
        PathCheck::new(&sub_leaf, &[&sub, &int_dp], &m.root).crls(Crls::required(crls))
    };
    let r15 = deep(&[&root_crl, &int_ca_only, &sub_crl]);
    let name = "R15 a CRL scoped to CAs covers the CA below";
    cases.push(Case::new(name, r15.cmds(), 0, OK));
    let r16 = deep(&[&root_crl, &int_users_only, &sub_crl]);
    let name = "R16 a CRL scoped to end entities does not cover the CA below";
    cases.push(Case::new(name, r16.cmds(), 1, fails("different CRL scope")));

    // openssl cms -verify takes no CRLs: its oracle checks the signer's
    // certificate with openssl verify -crl_check_all.
    let certfile = pki.bundle("r2-chain", &[&m.int]);
    let sig = sign(pki, "r2", doc, &revoked, &certfile, "-cades", None);
    let cms = CmsCheck::new(Some(doc), &sig, &m.root).crls(both());
    let name = "R2-cms signature by the revoked leaf";
    cases.push(Case::new(name, (cms.asan(), r2.openssl()), 1, revoked_says));
    cases
}
