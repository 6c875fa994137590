//! The procedure's stories end to end with the development CA: 3.2.2 on
//! two virtual cards (the employee's and the head's) — request, the head's
//! approval, prolongation, issuance, the activation notice —, the head's
//! own application (3.2.1) prolonged as `ferdi`, a cancellation, and the
//! Governmental case (the VÖEN from the centre's record).

use asan_host::renewal::{DAY, baku, format_baku, format_time};
use serde_json::Value;

use crate::support::{BUSINESS_DATA, EMPLOYEE, HEAD, Lab, VOEN, asan};

fn business_args(not_head: bool) -> Vec<&'static str> {
    let mut args = vec!["--profile", "citizen,business", "--email", "ali@example.az"];
    args.extend(BUSINESS_DATA);
    if not_head {
        args.push("--not-head");
    }
    args
}

fn state(v: &Value) -> (&str, &str) {
    (
        v["decision"].as_str().unwrap_or_default(),
        v["state"].as_str().unwrap_or_default(),
    )
}

#[test]
fn the_whole_3_2_2_story_on_two_cards() {
    let lab = Lab::new();
    let head = lab.card("head", "business", HEAD);
    let employee = lab.card("employee", "business", EMPLOYEE);
    assert_ne!(head.user_id, employee.user_id, "one User ID per SIM");
    let expiry = employee.expiry;
    let sent = baku::window_opens(expiry, 30) + 2 * DAY;

    // Steps 5-8: the employee signs the application, the power of attorney
    // and the contract.
    let out = employee.request(sent, "emp.p7s", &business_args(true));
    let deadline = baku::last_second_of_day_after(sent, 30);
    assert!(
        out.ok().contains(&format!(
            "next     the head of the organisation (VÖEN {VOEN}) approves the power of attorney by {}",
            format_baku(deadline)
        )),
        "{out:#?}"
    );
    let app = employee.file("emp.p7s");

    // Step 9: it waits in the head's cabinet; the centre does not process it.
    let v = lab.review(&app, sent + 3600, &[]).json();
    assert_eq!(state(&v), ("pending", "awaiting_power_of_attorney"), "{v}");
    assert_eq!(
        v["power_of_attorney_deadline"],
        format_time(deadline).as_str()
    );
    assert_eq!(
        v["power_of_attorney_deadline_baku"],
        format_baku(deadline).as_str()
    );

    // Steps 10-13: the head approves with the organisation's certificate.
    let approved = sent + 3 * DAY;
    let out = head.run(&[
        "--json",
        "renew",
        "approve",
        &app.display().to_string(),
        "--now",
        &format_time(approved),
        "--ca",
        &lab.ca,
        "-o",
        &employee.file("emp.poa.p7s").display().to_string(),
    ]);
    let d = out.json();
    assert_eq!(d["decision"], "approved");
    assert_eq!(d["attorney"]["id"], EMPLOYEE);
    assert_eq!(d["voen"], VOEN);
    assert_eq!(d["application_verified"], true);
    let poa = employee.file("emp.poa.p7s").display().to_string();

    // Step 14: with the approval the application reaches the centre.
    let v = lab.review(&app, approved + 3600, &["--poa", &poa]).json();
    assert_eq!(state(&v), ("accepted", "processing"), "{v}");
    assert_eq!(v["power_of_attorney"]["decision"], "approved");
    assert_eq!(v["power_of_attorney"]["head"], HEAD);
    assert_eq!(v["power_of_attorney"]["at"], format_time(approved).as_str());

    // Reviewed after the expiry without the approval at hand: the journal
    // has it; the service has lapsed, not prolonged yet.
    let v = lab.review(&app, expiry + 3600, &[]).json();
    assert_eq!(
        state(&v),
        ("pending", "awaiting_service_prolongation"),
        "{v}"
    );

    // Step 15: the mobile operator prolongs the service (SMS "biznes").
    let prolonged = expiry + 2 * DAY;
    let p = asan(&[
        "--json",
        "ca",
        "prolong",
        &lab.ca,
        &employee.serial,
        "biznes",
        "--now",
        &format_time(prolonged),
    ])
    .json();
    assert_eq!(
        (p["service"].as_str(), p["sms"].as_str()),
        (Some("business"), Some("biznes"))
    );
    assert_eq!(p["from"], format_time(prolonged).as_str());
    assert_eq!(p["until"], format_time(prolonged + 1095 * DAY).as_str());

    // Steps 16-17: the centre processes it and issues the certificates.
    let issued_at = prolonged + 3600;
    let out_dir = lab.file("issued");
    let out_arg = out_dir.display().to_string();
    let v = lab.review(&app, issued_at, &["--out", &out_arg]).json();
    assert_eq!(state(&v), ("accepted", "issued"), "{v}");
    let issued = v["issued"].as_array().unwrap();
    assert_eq!(issued.len(), 4, "{v}");
    assert!(v["not_issued"].is_null());
    let new_expiry = format_time(issued_at + 1095 * DAY);
    for c in issued {
        assert_eq!(c["not_after"], new_expiry.as_str());
        let file = c["file"].as_str().unwrap();
        let (p, u) = (c["profile"].as_str().unwrap(), c["usage"].as_str().unwrap());
        assert!(
            file.ends_with(&format!("{}-{p}-{u}.pem", employee.serial)),
            "{file}"
        );
        // The new certificates certify the card's keys: `cert load` checks.
        employee
            .run(&["cert", "load", "--profile", p, "--usage", u, file])
            .ok();
    }
    let check = employee
        .run(&[
            "--json",
            "renew",
            "check",
            "--now",
            &format_time(issued_at + DAY),
        ])
        .json();
    for c in check["certificates"].as_array().unwrap() {
        assert_eq!(c["not_after"], new_expiry.as_str(), "{c}");
    }

    // The activation notice: the same User ID, the new certificates.
    let notice = asan(&["--json", "ca", "notice", &lab.ca, &employee.serial]).json();
    assert_eq!(notice["user_id"], employee.user_id.as_str());
    assert_eq!(notice["service"], "business");
    let serials: Vec<&str> = notice["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["serial_number"].as_str().unwrap())
        .collect();
    let mut expected: Vec<&str> = issued
        .iter()
        .map(|c| c["serial_number"].as_str().unwrap())
        .collect();
    let mut got = serials.clone();
    expected.sort_unstable();
    got.sort_unstable();
    assert_eq!(got, expected);

    // Reviewed again: issued once.
    let v = lab.review(&app, issued_at + DAY, &[]).json();
    assert_eq!(state(&v), ("accepted", "issued"), "{v}");
    assert!(v["issued"].as_array().unwrap().is_empty());

    // The centre's journal tells the whole story.
    let list = asan(&["--json", "ca", "applications", &lab.ca]).json();
    let apps = list["applications"].as_array().unwrap();
    assert_eq!(apps.len(), 1, "{list}");
    let a = &apps[0];
    assert_eq!(state(a), ("accepted", "issued"));
    assert_eq!(a["serial"], employee.serial.as_str());
    assert_eq!(a["power_of_attorney"]["decision"], "approved");
    assert_eq!(
        a["issued"]["profiles"],
        serde_json::json!(["citizen", "business"])
    );
    assert_eq!(a["first_reviewed"], format_time(sent + 3600).as_str());
    let text = asan(&["ca", "applications", &lab.ca]);
    assert!(text.ok().contains("issued (accepted)"), "{text:#?}");
}

#[test]
fn the_heads_own_application_prolonged_as_ferdi_gets_citizen_only() {
    let lab = Lab::new();
    let head = lab.card("head", "business", HEAD);
    let sent = head.expiry - 3 * DAY;
    head.request(sent, "head.p7s", &business_args(false)).ok();
    let app = head.file("head.p7s");
    let v = lab.review(&app, sent + 60, &[]).json();
    assert_eq!(state(&v), ("accepted", "processing"), "{v}");
    let power = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "power of attorney")
        .unwrap()
        .clone();
    assert_eq!(power["detail"], "not needed");
    // Prolonged too early: refused, nothing recorded.
    asan(&[
        "ca",
        "prolong",
        &lab.ca,
        &head.serial,
        "ferdi",
        "--now",
        &format_time(sent + 120),
    ])
    .fails(1, &["after it lapses", "3.1 step 10"]);
    let at = head.expiry + DAY;
    asan(&[
        "ca",
        "prolong",
        &lab.ca,
        &head.serial,
        "ferdi",
        "--now",
        &format_time(at),
    ])
    .ok();
    let v = lab.review(&app, at + 60, &[]).json();
    assert_eq!(state(&v), ("accepted", "issued"), "{v}");
    let profiles: Vec<&str> = v["issued"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["profile"].as_str().unwrap())
        .collect();
    assert_eq!(profiles, ["citizen", "citizen"]);
    let note = v["not_issued"].as_str().unwrap();
    assert!(
        note.contains("Business not issued") && note.contains("ferdi"),
        "{note}"
    );
    let notice = asan(&["--json", "ca", "notice", &lab.ca, &head.serial]).json();
    assert_eq!(notice["service"], "citizen");
    assert_eq!(notice["user_id"], head.user_id.as_str());
}

#[test]
fn the_head_cancels_and_the_application_is_cancelled() {
    let lab = Lab::new();
    let head = lab.card("head", "business", HEAD);
    let employee = lab.card("employee", "business", EMPLOYEE);
    let sent = employee.expiry - 10 * DAY;
    employee.request(sent, "emp.p7s", &business_args(true)).ok();
    head.decide("cancel", "emp.p7s", sent + DAY, "emp.cancel.p7s")
        .ok();
    let cancel = employee.file("emp.cancel.p7s").display().to_string();
    let out = lab.review(
        &employee.file("emp.p7s"),
        sent + DAY + 60,
        &["--poa", &cancel],
    );
    out.fails(
        1,
        &["cancelled the power of attorney", "3.2.2 step 13 note"],
    );
    assert_eq!(state(&out.json()), ("refused", "cancelled"));
    // A second decision is not taken: the head decides once.
    head.decide("approve", "emp.p7s", sent + 2 * DAY, "emp.poa.p7s")
        .ok();
    let poa = employee.file("emp.poa.p7s").display().to_string();
    let out = lab.review(
        &employee.file("emp.p7s"),
        sent + 2 * DAY + 60,
        &["--poa", &poa],
    );
    out.fails(1, &["already cancelled", "a decision is made once"]);
}

#[test]
fn a_governmental_application_takes_the_voen_from_the_centres_record() {
    let lab = Lab::new();
    let head = lab.card("head", "government", HEAD);
    let employee = lab.card("employee", "government", EMPLOYEE);
    let sent = employee.expiry - 10 * DAY;
    let mut args = vec![
        "--profile",
        "citizen,government",
        "--phone",
        "+994501234567",
    ];
    args.extend(BUSINESS_DATA);
    args.push("--not-head");
    // Governmental certificates carry no VÖEN: the applicant names it.
    employee
        .request(sent, "gov.p7s", &args)
        .fails(1, &["VÖEN", "3.2.1 step 6"]);
    let mut wrong = args.clone();
    wrong.extend(["--voen", "1111111111"]);
    employee.request(sent, "wrong.p7s", &wrong).ok();
    lab.review(&employee.file("wrong.p7s"), sent + 60, &[])
        .fails(1, &["activated the Governmental card for VÖEN 1234567890"]);
    args.extend(["--voen", VOEN]);
    employee.request(sent, "gov.p7s", &args).ok();
    head.decide("approve", "gov.p7s", sent + DAY, "gov.poa.p7s")
        .ok();
    let poa = employee.file("gov.poa.p7s").display().to_string();
    let v = lab
        .review(&employee.file("gov.p7s"), sent + DAY + 60, &["--poa", &poa])
        .json();
    assert_eq!(state(&v), ("accepted", "processing"), "{v}");
}
