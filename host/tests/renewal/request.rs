//! `asan renew request`: what it refuses before asking for PIN2, and the
//! package it signs — as documented — which the centre accepts.

use std::path::Path;

use asan_host::renewal::{DAY, RenewalPackage, baku, format_baku, format_time, to_system_time};
use serde_json::Value;

use crate::support::{BUSINESS_DATA, Card, VOEN, asan};

#[test]
fn request_is_refused_outside_the_window_and_for_what_the_rules_do_not_allow() {
    let (_lab, card) = Card::new("business");
    let e = card.expiry;
    let mail = ["--email", "ali@example.az"];
    let cases: Vec<(i64, Vec<&str>, Vec<&str>)> = vec![
        (
            baku::window_opens(e, 30) - 1,
            vec!["--profile", "citizen"],
            vec!["too early", "+04:00", "3.1 step 8 note"],
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
        (
            e - DAY,
            vec!["--profile", "citizen,business"],
            vec!["position is empty", "3.2.1 step 6"],
        ),
        (
            e - DAY,
            vec!["--profile", "citizen", "--position", "mühasib"],
            vec!["Citizen application carries no organisation data"],
        ),
    ];
    for (at, mut args, needles) in cases {
        args.extend(mail);
        card.request(at, "x.p7s", &args).fails(1, &needles);
        assert!(!card.file("x.p7s").exists());
    }
    card.request(e - DAY, "x.p7s", &["--profile", "citizen"])
        .fails(1, &["e-mail address or a mobile number", "3.1 step 6"]);
    card.request_raw(
        e - DAY,
        "x.p7s",
        &["--profile", "citizen", "--phone", "+994501234567"],
    )
    .fails(1, &["User ID", "section 2"]);
    card.request_raw(
        e - DAY,
        "x.p7s",
        &[
            "--profile",
            "citizen",
            "--phone",
            "+994501234567",
            "--user-id",
            "12345",
        ],
    )
    .fails(1, &["6-digit", "section 2"]);
    let (_citizen_lab, citizen) = Card::new("citizen");
    citizen
        .request(
            citizen.expiry - DAY,
            "x.p7s",
            &[
                "--profile",
                "citizen",
                "--phone",
                "+994501234567",
                "--corporate-number",
            ],
        )
        .fails(1, &["corporate", "VÖEN", "3.1 step 5 note"]);
    assert!(!card.file("x.p7s").exists());
    let out = card.run(&[
        "renew",
        "request",
        "--profile",
        "citizen",
        "--phone",
        "+994501234567",
        "--user-id",
        &card.user_id,
    ]);
    out.fails(1, &["too early"]);
}

#[test]
fn a_request_signs_the_documented_package_and_the_centre_accepts_it() {
    let (lab, card) = Card::new("business");
    let at = baku::window_opens(card.expiry, 30);
    let mut args = vec![
        "--profile",
        "citizen",
        "--profile",
        "business",
        "--email",
        "ali@example.az",
    ];
    args.extend(BUSINESS_DATA);
    card.request(at, "app.p7s", &args).ok();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(card.file("app.p7s"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the package holds the User ID");
    }
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
    let keys = |v: &Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort_unstable();
        k
    };
    assert_eq!(keys(&raw), ["application", "contract", "version"]);
    assert_eq!(
        keys(&raw["application"]),
        [
            "contact",
            "created",
            "current_certificates",
            "head_of_organisation",
            "number",
            "organisation",
            "power_of_attorney",
            "requested_profiles",
            "serial",
            "service",
            "signer_profile",
            "user_id",
            "voen",
        ]
    );
    assert_eq!(
        keys(&raw["contract"]),
        [
            "application_sha256",
            "card_serial",
            "created",
            "profiles",
            "provider",
            "subscriber",
            "term_years",
            "text",
            "title",
            "voen",
        ]
    );
    let package = RenewalPackage::parse(&content).unwrap();
    let app = &package.application;
    assert_eq!(app.serial, card.serial);
    assert_eq!(app.user_id, card.user_id);
    assert_eq!(app.service, "business");
    assert_eq!(app.requested_profiles, ["citizen", "business"]);
    assert_eq!(
        app.signer_profile, "business",
        "a Business renewal is signed as the organisation"
    );
    assert_eq!(
        app.voen.as_deref(),
        Some(VOEN),
        "taken from the Business certificate"
    );
    let org = app.organisation.as_ref().unwrap();
    assert_eq!(
        (
            org.name.as_str(),
            org.position.as_str(),
            org.unit.as_deref()
        ),
        ("Test MMC", "mühasib", Some("maliyyə"))
    );
    assert_eq!(org.signing_permissions, ["e-taxes", "customs"]);
    assert!(app.head_of_organisation && app.power_of_attorney.is_none());
    assert_eq!(app.created, format_time(at));
    assert_eq!(app.current_certificates.len(), 4);
    assert_eq!(
        package.contract.title,
        "Sertifikat xidmətlərinin göstərilməsinə dair Müqavilə"
    );
    assert_eq!(package.contract.subscriber.id, crate::support::HEAD);
    assert_eq!(package.contract.term_years, 3);
    let listed = app
        .current_certificates
        .iter()
        .find(|c| c.profile == "business" && c.usage == "sign");
    let digest = <sha2::Sha256 as sha2::Digest>::digest(&signer);
    assert_eq!(
        listed.unwrap().sha256,
        hex::encode(digest),
        "the signer is listed"
    );

    // Reviewed during the window: accepted, processing.
    let v = lab.review(&card.file("app.p7s"), at + 3600, &[]).json();
    assert_eq!(
        (v["decision"].as_str(), v["state"].as_str()),
        (Some("accepted"), Some("processing")),
        "{v}"
    );
    assert!(v["reason"].is_null());
    assert_eq!(v["sent"], format_time(at).as_str());
    assert_eq!(v["sent_baku"], format_baku(at).as_str());
    assert_eq!(v["sent_from"], "signing-time");
    // Received again after expiry: still processing — sent in time — and
    // waiting for the prolongation once the service lapsed.
    let v = lab
        .review(&card.file("app.p7s"), card.expiry + 1, &[])
        .json();
    assert_eq!(
        (v["decision"].as_str(), v["state"].as_str()),
        (Some("pending"), Some("awaiting_service_prolongation")),
        "{v}"
    );
    let text = asan(&[
        "ca",
        "review",
        &card.ca,
        &card.file("app.p7s").display().to_string(),
        "--now",
        &format_time(card.expiry + DAY),
    ]);
    assert!(
        text.ok()
            .contains("decision: pending, state awaiting_service_prolongation"),
        "{text:#?}"
    );
}
