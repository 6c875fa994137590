//! Path validation at the edges RFC 5280 draws: validity to the second,
//! pathLenConstraint exactly used up, and what each check reports.

use std::time::{Duration, SystemTime};

use asan_host::pki::{Check, PathValidation, Purpose, TrustAnchors, ValidationOptions, validate};

use super::support::{Issued, Spec, YEAR, make};

const SECOND: Duration = Duration::from_secs(1);

fn anchors(root: &Issued) -> TrustAnchors {
    TrustAnchors::from_der(std::slice::from_ref(&root.der), "root").unwrap()
}

fn at(leaf: &Issued, pool: &[&Issued], root: &Issued, t: SystemTime) -> (bool, Vec<&'static str>) {
    let pool: Vec<Vec<u8>> = pool.iter().map(|c| c.der.clone()).collect();
    let v = validate(
        &leaf.der,
        &pool,
        &anchors(root),
        &ValidationOptions::new(t, Purpose::Sign),
    )
    .unwrap();
    let failed = v.checks.iter().filter(|c| !c.ok).map(|c| c.name).collect();
    (v.valid, failed)
}

/// `leaf` validated alone against `root` at `t` for `purpose`.
fn check(leaf: &Issued, root: &Issued, t: SystemTime, purpose: Purpose) -> PathValidation {
    validate(
        &leaf.der,
        &[],
        &anchors(root),
        &ValidationOptions::new(t, purpose),
    )
    .unwrap()
}

/// A time on a whole second (certificate times have no fractions).
fn whole(t: SystemTime) -> SystemTime {
    let secs = t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

#[test]
fn validity_includes_both_ends_to_the_second() {
    let root = make(&Spec::ca("CN=Root,C=AZ"), None);
    let start = whole(SystemTime::now() - YEAR);
    let end = start + YEAR / 2;
    let mut spec = Spec::signer("CN=Leaf,C=AZ");
    (spec.not_before, spec.not_after) = (start, end);
    let leaf = make(&spec, Some(&root));
    assert_eq!(at(&leaf, &[], &root, start), (true, vec![]));
    assert_eq!(at(&leaf, &[], &root, end), (true, vec![]));
    let before = at(&leaf, &[], &root, start - SECOND);
    assert!(
        !before.0 && before.1.contains(&Check::VALIDITY),
        "{before:?}"
    );
    let after = at(&leaf, &[], &root, end + SECOND);
    assert!(!after.0 && after.1.contains(&Check::VALIDITY), "{after:?}");
    // rustls-webpki's verdict says when, too.
    let v = check(&leaf, &root, end + SECOND, Purpose::Sign);
    let webpki = v.check(Check::WEBPKI).unwrap();
    let until = asan_host::pki::rfc3339(end);
    assert!(
        webpki.detail.contains(&format!("expired at {until}")),
        "{webpki:?}"
    );

    // A certificate valid for one instant is valid at that instant.
    (spec.not_before, spec.not_after) = (start, start);
    let instant = make(&spec, Some(&root));
    assert_eq!(at(&instant, &[], &root, start), (true, vec![]));
}

#[test]
fn a_validity_that_ends_before_it_starts_is_reported_as_malformed() {
    let root = make(&Spec::ca("CN=Root,C=AZ"), None);
    let now = whole(SystemTime::now());
    let mut spec = Spec::signer("CN=Leaf,C=AZ");
    (spec.not_before, spec.not_after) = (now + YEAR, now - YEAR);
    let leaf = make(&spec, Some(&root));
    let v = check(&leaf, &root, now, Purpose::Sign);
    let check = v.check(Check::VALIDITY).unwrap();
    assert!(!check.ok && check.detail.contains("malformed"), "{check:?}");
}

#[test]
fn a_path_length_constraint_may_be_used_up_exactly() {
    let now = SystemTime::now();
    // pathLenConstraint 0 on the root: a leaf directly under it is fine.
    let mut zero = Spec::ca("CN=Root,C=AZ");
    zero.ca = Some(Some(0));
    let root = make(&zero, None);
    let leaf = make(&Spec::signer("CN=Leaf,C=AZ"), Some(&root));
    assert_eq!(at(&leaf, &[], &root, now), (true, vec![]));
    // pathLenConstraint 1 on the root: one intermediate, not two.
    let mut one = Spec::ca("CN=Root,C=AZ");
    one.ca = Some(Some(1));
    let root = make(&one, None);
    let int = make(&Spec::ca("CN=Issuing CA,C=AZ"), Some(&root));
    let leaf = make(&Spec::signer("CN=Leaf,C=AZ"), Some(&int));
    assert_eq!(at(&leaf, &[&int], &root, now), (true, vec![]));
    let sub = make(&Spec::ca("CN=Sub CA,C=AZ"), Some(&int));
    let deep = make(&Spec::signer("CN=Leaf,C=AZ"), Some(&sub));
    let (valid, failed) = at(&deep, &[&int, &sub], &root, now);
    assert!(!valid);
    assert!(failed.contains(&Check::PATH_LENGTH), "{failed:?}");
}

#[test]
fn a_broken_signature_is_named_by_the_signature_check_too() {
    let root = make(&Spec::ca("CN=Root,C=AZ"), None);
    let impostor = make(&Spec::ca("CN=Root,C=AZ"), None);
    let leaf = make(&Spec::signer("CN=Leaf,C=AZ"), Some(&impostor));
    let v = check(&leaf, &root, SystemTime::now(), Purpose::Sign);
    let sig = v.check(Check::CERTIFICATE_SIGNATURES).unwrap();
    assert!(!sig.ok && sig.detail.contains("CN=Leaf"), "{:#?}", v.checks);
    assert!(!v.check(Check::CHAIN).unwrap().ok);
    assert!(!v.check(Check::WEBPKI).unwrap().ok);
    // A good path names how many signatures it checked.
    let good = make(&Spec::signer("CN=Leaf,C=AZ"), Some(&root));
    let v = check(&good, &root, SystemTime::now(), Purpose::Sign);
    let sig = v.check(Check::CERTIFICATE_SIGNATURES).unwrap();
    assert!(
        sig.ok && sig.detail.contains("each of 1 certificate"),
        "{sig:?}"
    );
}

#[test]
fn extended_key_usage_is_checked_by_both_validators_and_names_what_it_needs() {
    let root = make(&Spec::ca("CN=Root,C=AZ"), None);
    let mut server = Spec::signer("CN=Leaf,C=AZ");
    server.eku = Some(vec![der::oid::db::rfc5280::ID_KP_SERVER_AUTH]);
    let leaf = make(&server, Some(&root));
    let v = check(&leaf, &root, SystemTime::now(), Purpose::Sign);
    let ours = v.check(Check::EXTENDED_KEY_USAGE).unwrap();
    assert!(!ours.ok, "{ours:?}");
    assert!(
        ours.detail
            .contains("needs emailProtection, documentSigning or anyExtendedKeyUsage"),
        "{ours:?}"
    );
    let theirs = v.check(Check::WEBPKI).unwrap();
    assert!(
        !theirs.ok && theirs.detail.contains("extended key usage"),
        "rustls-webpki applies the purpose itself: {theirs:?}"
    );
    // One allowed purpose among others is enough, for both.
    server.eku = Some(vec![
        der::oid::db::rfc5280::ID_KP_SERVER_AUTH,
        der::oid::db::rfc5280::ID_KP_EMAIL_PROTECTION,
    ]);
    let leaf = make(&server, Some(&root));
    assert_eq!(at(&leaf, &[], &root, SystemTime::now()), (true, vec![]));
    // Authentication wants clientAuth.
    let v = check(&leaf, &root, SystemTime::now(), Purpose::Auth);
    let ours = v.check(Check::EXTENDED_KEY_USAGE).unwrap();
    assert!(
        ours.detail
            .contains("needs clientAuth or anyExtendedKeyUsage"),
        "{ours:?}"
    );
}

#[test]
fn the_report_names_the_issuers_it_checked() {
    let root = make(&Spec::ca("CN=Root,C=AZ"), None);
    let int = make(&Spec::ca("CN=Issuing CA,C=AZ"), Some(&root));
    let leaf = make(&Spec::signer("CN=Leaf,C=AZ"), Some(&int));
    let v = validate(
        &leaf.der,
        std::slice::from_ref(&int.der),
        &anchors(&root),
        &ValidationOptions::new(SystemTime::now(), Purpose::Sign),
    )
    .unwrap();
    assert!(v.valid, "{:#?}", v.checks);
    assert_eq!(
        v.path,
        ["CN=Leaf,C=AZ", "CN=Issuing CA,C=AZ", "CN=Root,C=AZ"]
    );
    let bc = v.check(Check::BASIC_CONSTRAINTS).unwrap();
    assert!(
        bc.detail.ends_with("CN=Issuing CA,C=AZ, CN=Root,C=AZ"),
        "{bc:?}"
    );
    assert_eq!(v.purpose.name(), "sign");
    assert_eq!(Purpose::Auth.name(), "auth");
    assert_eq!(Purpose::Any.name(), "any");
    assert_eq!(v.certificates().unwrap().len(), 3);
}

#[test]
fn of_two_anchors_with_one_name_the_one_whose_key_signed_is_the_path() {
    let impostor = make(&Spec::ca("CN=Root,C=AZ"), None);
    let root = make(&Spec::ca("CN=Root,C=AZ"), None);
    let leaf = make(&Spec::signer("CN=Leaf,C=AZ"), Some(&root));
    for order in [[&impostor, &root], [&root, &impostor]] {
        let ders: Vec<Vec<u8>> = order.iter().map(|c| c.der.clone()).collect();
        let anchors = TrustAnchors::from_der(&ders, "roots").unwrap();
        let opts = ValidationOptions::new(SystemTime::now(), Purpose::Sign);
        let v = validate(&leaf.der, &[], &anchors, &opts).unwrap();
        assert!(v.valid, "{:#?}", v.checks);
        let last = v.certificates().unwrap().last().unwrap();
        assert_eq!(last.der(), root.der.as_slice());
    }
}

#[test]
fn where_the_path_breaks_is_said() {
    let now = SystemTime::now();
    let root = make(&Spec::ca("CN=Root,C=AZ"), None);
    // A self-signed certificate that is not a trust anchor.
    let mut alone = Spec::signer("CN=Alone,C=AZ");
    alone.ca = None;
    let alone = make(&alone, None);
    let v = check(&alone, &root, now, Purpose::Sign);
    let chain = v.check(Check::CHAIN).unwrap();
    assert!(
        chain
            .detail
            .contains("CN=Alone,C=AZ is self-issued but is not a trust anchor"),
        "{chain:?}"
    );
    // An issuer nobody gave.
    let missing = make(&Spec::ca("CN=Missing CA,C=AZ"), Some(&root));
    let leaf = make(&Spec::signer("CN=Leaf,C=AZ"), Some(&missing));
    let v = check(&leaf, &root, now, Purpose::Sign);
    let chain = v.check(Check::CHAIN).unwrap();
    assert!(
        chain
            .detail
            .starts_with("no trust anchor or other certificate given is CN=Missing CA,C=AZ"),
        "{chain:?}"
    );
    // Seven CAs below the root: nine certificates, one more than any path
    // tried (rustls-webpki takes six intermediates at most).
    let mut cas = vec![make(&Spec::ca("CN=CA 1,C=AZ"), Some(&root))];
    for i in 2..=7 {
        let next = make(&Spec::ca(&format!("CN=CA {i},C=AZ")), cas.last());
        cas.push(next);
    }
    let leaf = make(&Spec::signer("CN=Deep,C=AZ"), cas.last());
    let pool: Vec<Vec<u8>> = cas.iter().map(|c| c.der.clone()).collect();
    let v = validate(
        &leaf.der,
        &pool,
        &anchors(&root),
        &ValidationOptions::new(now, Purpose::Sign),
    )
    .unwrap();
    assert!(!v.valid);
    let chain = v.check(Check::CHAIN).unwrap();
    assert_eq!(
        chain.detail, "no trust anchor within 8 certificates",
        "{chain:?}"
    );
}
