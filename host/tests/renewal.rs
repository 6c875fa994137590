//! End-to-end tests of online renewal (issues 6 and 15): `asan renew
//! check|request|approve|cancel` and `asan ca review|applications|prolong|
//! org|notice` on `--virtual` card images personalised with `asan
//! provision --ca` (3-year certificates starting now), at instants set with
//! `--now` around the signing certificate's expiry, counted in Baku time;
//! and packages signed in this process to test what `renew request` would
//! never write.
//!
//! * this file: the window in `renew check`, revocation, moves between
//!   service types, a wrong PIN2;
//! * `renewal/request.rs`: the refusals of `renew request`, the documented
//!   package, the centre accepting it;
//! * `renewal/centre.rs`: the centre's checks of the signature, the signer
//!   and the sending time;
//! * `renewal/findings.rs`: each finding of issue 15 as the test that
//!   failed on the code before it;
//! * `renewal/story.rs`: the 3.2.2 story on two cards (employee and head),
//!   the head's own application, prolongation as `ferdi`;
//! * `renewal/records.rs`: the registers (organisations, activation
//!   notices and User IDs) and the journal of applications.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

#[path = "renewal/centre.rs"]
mod centre;
#[path = "renewal/craft.rs"]
mod craft;
#[path = "renewal/findings.rs"]
mod findings;
#[path = "renewal/records.rs"]
mod records;
#[path = "renewal/request.rs"]
mod request;
#[path = "renewal/story.rs"]
mod story;
#[path = "renewal/support.rs"]
mod support;

use std::path::Path;
use std::process::Command;

use asan_host::renewal::{DAY, baku, format_baku, format_both, format_time};
use support::{BUSINESS_DATA, Card, VOEN, asan};

#[test]
fn check_json_at_the_baku_window_boundaries() {
    let (_lab, card) = Card::new("business");
    let e = card.expiry;
    let opens = baku::window_opens(e, 30);
    // (instant, open?, reason contains)
    let table = [
        (e - 31 * DAY, false, "too early: opens on"),
        (opens - 1, false, "too early"),
        (opens, true, ""),
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
                "closes_baku",
                "not_after",
                "not_after_baku",
                "opens",
                "opens_baku",
                "profile",
                "reason",
                "renewal_open",
                "usage",
            ];
            assert_eq!(keys, want);
            assert_eq!(c["renewal_open"], open, "{} {c}", format_both(at));
            assert_eq!(c["opens"], format_time(opens).as_str());
            assert_eq!(c["opens_baku"], format_baku(opens).as_str());
            assert!(
                c["opens_baku"]
                    .as_str()
                    .unwrap()
                    .ends_with("T00:00:00+04:00")
            );
            assert_eq!(c["closes"], format_time(e).as_str());
            assert_eq!(c["not_after"], format_time(e).as_str());
            assert_eq!(c["not_after_baku"], format_baku(e).as_str());
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
    let expected = format!(
        "renewal open from {} until {}",
        format_both(opens),
        format_both(e)
    );
    assert_eq!(text.ok().matches(&expected).count(), 4, "{text:#?}");
    card.run(&["renew", "check", "--now", "tomorrow"])
        .fails(2, &["--now", "RFC 3339"]);
}

#[test]
fn the_centre_refuses_an_application_signed_by_a_revoked_certificate() {
    let (lab, card) = Card::new("citizen");
    let at = card.expiry - 10 * DAY;
    let args = ["--profile", "citizen", "--phone", "+994501234567"];
    card.request(at, "app.p7s", &args).ok();
    assert_eq!(
        lab.review(&card.file("app.p7s"), at + DAY, &[]).json()["state"],
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
    let out = lab.review(&card.file("app.p7s"), at + 2 * DAY, &[]);
    out.fails(1, &["renewal refused", "revoked", "key-compromise"]);
    assert_eq!(out.json()["decision"], "refused");
    assert_eq!(out.json()["state"], "cancelled");
}

#[test]
fn a_citizen_moves_to_citizen_and_business() {
    let (lab, card) = Card::new("citizen");
    let at = card.expiry - 2 * DAY;
    let mut args = vec!["--profile", "citizen,business", "--email", "ali@example.az"];
    args.extend(BUSINESS_DATA);
    card.request(at, "m.p7s", &args)
        .fails(1, &["VÖEN", "3.2.1 step 6"]);
    args.extend(["--voen", VOEN]);
    card.request(at, "m.p7s", &args)
        .fails(1, &["organisation's name is empty", "3.2.1 step 6"]);
    args.extend(["--org-name", "Test MMC"]);
    let out = card.request(at, "m.p7s", &args);
    assert!(
        out.ok()
            .contains("Citizen service → Business service (Citizen + Business; new: Business)"),
        "{out:#?}"
    );
    // Signed with the Citizen certificate (there is no Business one yet);
    // the card's holder is the registered head of the VÖEN.
    let v = lab.review(&card.file("m.p7s"), at, &[]).json();
    assert_eq!(v["decision"], "accepted", "{v}");
}

#[test]
fn dropping_business_is_a_citizen_application_without_a_power_of_attorney() {
    let lab = support::Lab::new();
    let employee = lab.card("employee", "business", support::EMPLOYEE);
    let at = employee.expiry - 3 * DAY;
    let args = [
        "--profile",
        "citizen",
        "--phone",
        "+994501234567",
        "--not-head",
    ];
    employee.request(at, "c.p7s", &args).ok();
    let v = lab.review(&employee.file("c.p7s"), at + 60, &[]).json();
    assert_eq!(
        (v["decision"].as_str(), v["state"].as_str()),
        (Some("accepted"), Some("processing")),
        "{v}"
    );
    assert!(v["power_of_attorney_deadline"].is_null());
}

#[test]
fn a_wrong_pin2_writes_nothing() {
    let (_lab, card) = Card::new("citizen");
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
            "--user-id",
            &card.user_id,
        ])
        .args(["--now", &now, "-o", &path])
        .env("ASAN_PIN2", "99999")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(!Path::new(&path).exists());
}
