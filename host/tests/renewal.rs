//! End-to-end tests of online renewal (issue 6): `asan renew check`,
//! `asan renew request` and `asan ca review` on `--virtual` card images
//! personalised with `asan provision --ca` (3-year certificates starting
//! now), at instants set with `--now` around the signing certificate's
//! expiry; and applications made with the library to test what the card
//! would never sign (outside the window, with the wrong certificate).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "renewal/support.rs"]
mod support;

use std::path::Path;
use std::process::Command;

use asan_applet::KeyUsage;
use asan_host::renewal::{ApplicationBody, Contact, DAY, format_time, to_system_time};
use serde_json::Value;
use support::{Card, VOEN, asan, crafted};

#[test]
fn check_json_at_the_window_boundaries() {
    let card = Card::new("business");
    let e = card.expiry;
    // (instant, open?, reason contains)
    let table = [
        (e - 31 * DAY, false, "too early: opens on"),
        (e - 30 * DAY - 1, false, "too early"),
        (e - 30 * DAY, true, ""),
        (e - 1, true, ""),
        (e, false, "visit in person"),
        (e + 1, false, "visit in person"),
    ];
    for (at, open, reason) in table {
        let v = card
            .run(&["--json", "renew", "check", "--now", &format_time(at)])
            .json();
        assert_eq!(
            v.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["certificates"]
        );
        let certs = v["certificates"].as_array().unwrap();
        assert_eq!(certs.len(), 4, "{v}");
        for c in certs {
            let mut keys: Vec<&str> = c.as_object().unwrap().keys().map(String::as_str).collect();
            keys.sort_unstable();
            let want = [
                "closes",
                "not_after",
                "opens",
                "profile",
                "reason",
                "renewal_open",
                "usage",
            ];
            assert_eq!(keys, want);
            assert_eq!(c["renewal_open"], open, "{} {c}", format_time(at));
            assert_eq!(c["opens"], format_time(e - 30 * DAY).as_str());
            assert_eq!(c["closes"], format_time(e).as_str());
            assert_eq!(c["not_after"], format_time(e).as_str());
            match open {
                true => assert!(c["reason"].is_null()),
                false => {
                    let r = c["reason"].as_str().unwrap();
                    assert!(r.contains(reason) && r.contains("3.1 step 8 note"), "{r}");
                }
            }
        }
    }
    let text = card.run(&["renew", "check", "--now", &format_time(e - DAY)]);
    assert_eq!(
        text.ok().matches("renewal open from").count(),
        4,
        "{text:#?}"
    );
    card.run(&["renew", "check", "--now", "tomorrow"])
        .fails(2, &["--now", "RFC 3339"]);
}

#[test]
fn request_is_refused_outside_the_window_and_for_moves_the_service_does_not_allow() {
    let card = Card::new("business");
    let e = card.expiry;
    let mail = ["--email", "ali@example.az"];
    let cases: Vec<(i64, Vec<&str>, Vec<&str>)> = vec![
        (
            e - 31 * DAY,
            vec!["--profile", "citizen"],
            vec!["too early", "3.1 step 8 note"],
        ),
        (
            e,
            vec!["--profile", "citizen"],
            vec!["visit in person", "3.1 step 8 note"],
        ),
        (
            e + 1,
            vec!["--profile", "citizen"],
            vec!["expired on", "visit in person"],
        ),
        (
            e - DAY,
            vec!["--profile", "business"],
            vec!["Business without Citizen", "FAQ"],
        ),
        (
            e - DAY,
            vec!["--profile", "citizen,government"],
            vec!["Business → Governmental"],
        ),
        (
            e - DAY,
            vec!["--profile", "citizen", "--profile", "business,government"],
            vec!["Business and Governmental together"],
        ),
        (
            e - DAY,
            vec!["--profile", "citizen,business", "--voen", "12"],
            vec!["VÖEN", "3.2.1 step 6"],
        ),
    ];
    for (at, mut args, needles) in cases {
        args.extend(mail);
        card.request(at, "x.p7s", &args).fails(1, &needles);
        assert!(!card.file("x.p7s").exists());
    }
    card.request(e - DAY, "x.p7s", &["--profile", "citizen"])
        .fails(1, &["e-mail address or a mobile number", "3.1 step 6"]);
    let out = card.run(&[
        "renew",
        "request",
        "--profile",
        "citizen",
        "--phone",
        "+994501234567",
    ]);
    out.fails(1, &["too early"]);
}

#[test]
fn a_request_signs_the_documented_body_and_the_centre_accepts_it() {
    let card = Card::new("business");
    let at = card.expiry - 30 * DAY;
    card.request(
        at,
        "app.p7s",
        &[
            "--profile",
            "citizen",
            "--profile",
            "business",
            "--email",
            "ali@example.az",
        ],
    )
    .ok();
    let signed = std::fs::read(card.file("app.p7s")).unwrap();
    let root = std::fs::read(Path::new(&card.ca).join("root.pem")).unwrap();
    let root = asan_host::cert::pem_or_der(&root).unwrap();
    let verified = asan_host::cms::verify(&signed, None, &[root], to_system_time(at)).unwrap();
    assert!(verified.valid, "{:#?}", verified.checks);
    let (content, signer) = (
        verified.content().unwrap().to_vec(),
        verified.signer_certificate().unwrap().to_vec(),
    );
    let raw: Value = serde_json::from_slice(&content).unwrap();
    let mut keys: Vec<&str> = raw
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    let want = [
        "contact",
        "created",
        "current_certificates",
        "head_of_organisation",
        "requested_profiles",
        "serial",
        "service",
        "version",
        "voen",
    ];
    assert_eq!(keys, want);
    let body = ApplicationBody::parse(&content).unwrap();
    let info = card.run(&["--json", "info"]).json();
    assert_eq!(body.serial, info["serial"].as_str().unwrap());
    assert_eq!((body.version, body.service.as_str()), (1, "business"));
    assert_eq!(body.requested_profiles, ["citizen", "business"]);
    assert_eq!(body.contact, Contact::Email("ali@example.az".into()));
    assert_eq!(
        body.voen.as_deref(),
        Some(VOEN),
        "taken from the Business certificate"
    );
    assert!(body.head_of_organisation);
    assert_eq!(body.created, format_time(at));
    assert_eq!(body.current_certificates.len(), 4);
    let listed = body
        .current_certificates
        .iter()
        .find(|c| c.profile == "citizen" && c.usage == "sign");
    let digest = <sha2::Sha256 as sha2::Digest>::digest(&signer);
    assert_eq!(
        listed.unwrap().sha256,
        hex::encode(digest),
        "the signer is listed"
    );

    // Reviewed during the window: processing; at and after expiry: refused.
    let v = card.review("app.p7s", at + 3600).json();
    assert_eq!(
        (v["decision"].as_str(), v["state"].as_str()),
        (Some("accepted"), Some("processing")),
        "{v}"
    );
    assert!(v["reason"].is_null());
    // At the expiry instant the certificate is still valid (RFC 5280's
    // notAfter is inclusive) but the procedure's window is closed; a second
    // later the path validation at the review instant refuses it already.
    for (at, state) in [(card.expiry, "cancelled"), (card.expiry + 1, "refused")] {
        let out = card.review("app.p7s", at);
        out.fails(
            1,
            &[
                "renewal refused",
                "expired",
                "visit in person",
                "3.1 step 8 note",
            ],
        );
        assert_eq!(out.json()["state"], state);
    }
    let text = asan(&[
        "ca",
        "review",
        &card.ca,
        &card.file("app.p7s").display().to_string(),
        "--now",
        &format_time(card.expiry - 1),
    ]);
    assert!(
        text.ok().contains("decision: accepted, state Processing"),
        "{text:#?}"
    );
}

#[test]
fn the_centre_refuses_an_application_signed_by_a_revoked_certificate() {
    let card = Card::new("citizen");
    let at = card.expiry - 10 * DAY;
    let args = ["--profile", "citizen", "--phone", "+994501234567"];
    card.request(at, "app.p7s", &args).ok();
    assert_eq!(
        card.review("app.p7s", at + DAY).json()["state"],
        "processing"
    );
    let signer = card.file("signer.pem").display().to_string();
    let read = [
        "cert",
        "read",
        "--profile",
        "citizen",
        "--usage",
        "sign",
        "-o",
        &signer,
    ];
    card.run(&read).ok();
    asan(&[
        "ca",
        "revoke",
        &card.ca,
        &signer,
        "--reason",
        "key-compromise",
    ])
    .ok();
    let out = card.review("app.p7s", at + DAY);
    out.fails(1, &["renewal refused", "revoked", "key-compromise"]);
    assert_eq!(out.json()["decision"], "refused");
}

#[test]
fn not_the_head_waits_for_the_power_of_attorney() {
    let card = Card::new("business");
    let at = card.expiry - 10 * DAY;
    card.request(
        at,
        "poa.p7s",
        &[
            "--profile",
            "citizen,business",
            "--phone",
            "+994501234567",
            "--not-head",
        ],
    )
    .ok();
    let v = card.review("poa.p7s", at + DAY).json();
    assert_eq!(v["state"], "awaiting_power_of_attorney", "{v}");
    assert_eq!(
        v["power_of_attorney_deadline"],
        format_time(at + 30 * DAY).as_str()
    );
    // Dropping Business is a Citizen application: no power of attorney.
    card.request(
        at,
        "c.p7s",
        &[
            "--profile",
            "citizen",
            "--phone",
            "+994501234567",
            "--not-head",
        ],
    )
    .ok();
    let v = card.review("c.p7s", at + DAY).json();
    assert_eq!(v["state"], "processing", "{v}");
}

#[test]
fn a_citizen_moves_to_citizen_and_business() {
    let card = Card::new("citizen");
    let at = card.expiry - 2 * DAY;
    let args = ["--profile", "citizen,business", "--email", "ali@example.az"];
    card.request(at, "m.p7s", &args)
        .fails(1, &["VÖEN", "3.2.1 step 6"]);
    let mut with_voen = args.to_vec();
    with_voen.extend(["--voen", VOEN]);
    let out = card.request(at, "m.p7s", &with_voen);
    assert!(
        out.ok()
            .contains("Citizen service → Business service (Citizen + Business; new: Business)"),
        "{out:#?}"
    );
    let v = card.review("m.p7s", at).json();
    assert_eq!(v["decision"], "accepted", "{v}");
}

#[test]
fn a_wrong_pin2_writes_nothing() {
    let card = Card::new("citizen");
    let path = card.file("w.p7s").display().to_string();
    let now = format_time(card.expiry - DAY);
    let out = Command::new(env!("CARGO_BIN_EXE_asan"))
        .args([
            "--virtual",
            &card.img,
            "renew",
            "request",
            "--profile",
            "citizen",
            "--phone",
            "+994501234567",
        ])
        .args(["--now", &now, "-o", &path])
        .env("ASAN_PIN2", "99999")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(!Path::new(&path).exists());
}

#[test]
fn the_centre_checks_the_signing_time_the_signer_and_the_signature() {
    let card = Card::new("citizen");
    let start = card.expiry - 1095 * DAY;
    let expiry = card.expiry;
    let review = |path: &Path, at: i64| {
        asan(&[
            "--json",
            "ca",
            "review",
            &card.ca,
            &path.display().to_string(),
            "--now",
            &format_time(at),
        ])
    };
    // Signed 31 days before expiry, reviewed inside the window: refused.
    let early = crafted(&card, start, expiry - 31 * DAY, KeyUsage::Signing, true);
    let out = review(&early, expiry - DAY);
    out.fails(1, &["too early", "3.1 step 8 note"]);
    let failed = out.json()["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["ok"] == false)
        .cloned();
    assert_eq!(failed.unwrap()["check"], "window at signing");
    // Signed 30 days before: accepted.
    let in_time = crafted(&card, start, expiry - 30 * DAY, KeyUsage::Signing, true);
    assert_eq!(review(&in_time, expiry - DAY).json()["state"], "processing");
    // Signed after the review instant: refused.
    review(&in_time, expiry - 31 * DAY).fails(1, &["signing-time", "after the validation time"]);
    // Signed with the authentication certificate: no nonRepudiation.
    let auth = crafted(&card, start, expiry - DAY, KeyUsage::Authentication, true);
    review(&auth, expiry - DAY).fails(1, &["key usage"]);
    // The signer is not one of the listed certificates.
    let unlisted = crafted(&card, start, expiry - DAY, KeyUsage::Signing, false);
    review(&unlisted, expiry - DAY)
        .fails(1, &["not one of the application's current certificates"]);
    // Tampered content: the signature check fails.
    let mut bytes = std::fs::read(&in_time).unwrap();
    let at = bytes
        .windows(13)
        .position(|w| w == b"+994501234567")
        .unwrap();
    bytes[at + 12] = b'8';
    let tampered = card.file("tampered.p7s");
    std::fs::write(&tampered, bytes).unwrap();
    review(&tampered, expiry - DAY).fails(1, &["signature is not valid", "content digest"]);
    // Not a signature at all; a CA that did not issue the signer.
    std::fs::write(card.file("junk.p7s"), b"not cms").unwrap();
    review(&card.file("junk.p7s"), expiry - DAY).fails(1, &["renewal refused"]);
    let other = card.file("other-ca");
    asan(&["ca", "init", &other.display().to_string()]).ok();
    let out = asan(&[
        "ca",
        "review",
        &other.display().to_string(),
        &in_time.display().to_string(),
        "--now",
        &format_time(expiry - DAY),
    ]);
    out.fails(1, &["chain"]);
}
