//! Each finding of issue 15 ("the centre believes what the application
//! says about itself") as the test that failed on the code before it: the
//! centre accepted each of these applications (or had no way to check the
//! head's approval at all).

use asan_applet::CertificateProfile::{Business, Citizen};
use asan_host::renewal::{
    Contract, DAY, PoaDecision, PowerOfAttorneyDecision, RenewalPackage, baku, format_time,
};
use serde_json::Value;

use crate::craft::{attorney_of, party_of};
use crate::support::{BUSINESS_DATA, Card, EMPLOYEE, Lab, Out};

/// The failed check of a refused review: (check, step).
fn refused_by(out: &Out) -> (String, String) {
    assert_eq!(out.code, 1, "{out:#?}");
    let v = out.json();
    assert_eq!(v["decision"], "refused", "{v}");
    let c = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["ok"] == false)
        .cloned()
        .unwrap_or(Value::Null);
    (
        c["check"].as_str().unwrap_or_default().to_owned(),
        c["step"].as_str().unwrap_or_default().to_owned(),
    )
}

fn business_args() -> Vec<&'static str> {
    let mut args = vec!["--profile", "citizen,business", "--phone", "+994501234567"];
    args.extend(BUSINESS_DATA);
    args
}

#[test]
fn a_business_certificate_presented_as_citizen_is_refused() {
    let (lab, card) = Card::new("business");
    let at = card.expiry - 5 * DAY;
    // A Citizen application whose body says its signer is the Citizen
    // signing certificate — signed with the Business one, listed as Citizen.
    let mut package = card.package(at, "business", &["citizen"], Business);
    let app = &mut package.application;
    app.signer_profile = "citizen".into();
    app.current_certificates
        .retain(|c| !(c.profile == "citizen" && c.usage == "sign"));
    for c in &mut app.current_certificates {
        if c.profile == "business" && c.usage == "sign" {
            c.profile = "citizen".into();
        }
    }
    let signer =
        asan_host::cert::parse(&card.certificate(Business, asan_applet::KeyUsage::Signing))
            .unwrap();
    package.contract = Contract::for_application(&package.application, party_of(&signer));
    let file = card.sign(&package.to_bytes(), Business, at, "as-citizen.p7s");
    let out = lab.review(&file, at + 60, &[]);
    assert_eq!(
        refused_by(&out),
        ("signer".into(), "3.1 step 5 note".into())
    );
    out.fails(1, &["is a Business certificate", "presents it as Citizen"]);
}

#[test]
fn a_voen_that_differs_from_the_certificate_is_refused() {
    let (lab, card) = Card::new("business");
    let at = card.expiry - 5 * DAY;
    let mut args = business_args();
    args.extend(["--voen", "9999999999"]);
    card.request(at, "voen.p7s", &args).ok();
    let out = lab.review(&card.file("voen.p7s"), at + 60, &[]);
    assert_eq!(refused_by(&out), ("voen".into(), "3.1 step 5 note".into()));
    out.fails(
        1,
        &["VÖEN 9999999999", "certificate is for VÖEN 1234567890"],
    );
}

#[test]
fn a_self_declared_head_is_refused() {
    let lab = Lab::new();
    let employee = lab.card("employee", "business", EMPLOYEE);
    let at = employee.expiry - 5 * DAY;
    // Without --not-head the application says its signer is the head.
    employee.request(at, "self.p7s", &business_args()).ok();
    let out = lab.review(&employee.file("self.p7s"), at + 60, &[]);
    assert_eq!(refused_by(&out), ("head".into(), "3.2.2 step 9".into()));
    out.fails(1, &["register names another head"]);
    assert_eq!(out.json()["state"], "cancelled");
}

#[test]
fn an_approval_by_someone_who_is_not_the_registered_head_is_refused() {
    let lab = Lab::new();
    let employee = lab.card("employee", "business", EMPLOYEE);
    let colleague = lab.card("colleague", "business", "5OTHER1");
    let at = employee.expiry - 5 * DAY;
    let mut args = business_args();
    args.push("--not-head");
    employee.request(at, "emp.p7s", &args).ok();
    colleague
        .decide("approve", "emp.p7s", at + DAY, "emp.poa.p7s")
        .ok();
    let poa = employee.file("emp.poa.p7s").display().to_string();
    let out = lab.review(&employee.file("emp.p7s"), at + DAY + 60, &["--poa", &poa]);
    assert_eq!(
        refused_by(&out),
        ("power of attorney".into(), "3.2.2 step 9".into())
    );
    out.fails(1, &["FIN 5OTHER1", "not the registered head"]);
    // The application itself still waits for its head.
    assert_eq!(out.json()["state"], "awaiting_power_of_attorney");
}

#[test]
fn an_approval_after_the_30th_day_cancels_the_application() {
    let lab = Lab::new();
    let employee = lab.card("employee", "business", EMPLOYEE);
    let head = lab.card("head", "business", crate::support::HEAD);
    let sent = employee.expiry - 29 * DAY;
    // The head's Business certificate was renewed a year later, so it is
    // still valid when the 30 days have run out.
    head.renew_later(
        Business,
        asan_applet::KeyUsage::Signing,
        head.expiry - 700 * DAY,
    );
    let mut args = business_args();
    args.push("--not-head");
    employee.request(sent, "late.p7s", &args).ok();
    // 00:00 Baku time of the 31st day: `renew approve` refuses to sign…
    let late = baku::last_second_of_day_after(sent, 30) + 1;
    head.decide("approve", "late.p7s", late, "late.poa.p7s")
        .fails(1, &["3.2.2 step 9 note"]);
    assert!(!employee.file("late.poa.p7s").exists());
    // …and a decision signed then anyway is too late for the centre.
    let signed = std::fs::read(employee.file("late.p7s")).unwrap();
    let content = asan_host::cms::unverified_content(&signed).unwrap();
    let package = RenewalPackage::parse(&content).unwrap();
    let decision = PowerOfAttorneyDecision::for_package(
        &package,
        &content,
        PoaDecision::Approved,
        format_time(late),
    )
    .unwrap();
    let poa = head.sign(&decision.to_bytes(), Business, late, "late-anyway.p7s");
    let poa = poa.display().to_string();
    let out = lab.review(&employee.file("late.p7s"), late + 60, &["--poa", &poa]);
    out.fails(
        1,
        &[
            "did not approve the power of attorney within 30 calendar days",
            "3.2.2 step 9 note",
        ],
    );
    let v = out.json();
    assert_eq!(
        (v["decision"].as_str(), v["state"].as_str()),
        (Some("refused"), Some("cancelled"))
    );
    assert_eq!(v["step"], "3.2.2 step 9 note");
}

#[test]
fn a_wrong_user_id_is_refused() {
    let (lab, card) = Card::new("citizen");
    let at = card.expiry - 5 * DAY;
    let wrong = if card.user_id == "000000" {
        "000001"
    } else {
        "000000"
    };
    card.request_raw(
        at,
        "uid.p7s",
        &[
            "--profile",
            "citizen",
            "--phone",
            "+994501234567",
            "--user-id",
            wrong,
        ],
    )
    .ok();
    let out = lab.review(&card.file("uid.p7s"), at + 60, &[]);
    assert_eq!(
        refused_by(&out),
        ("user id".into(), "section 2 (User ID)".into())
    );
    out.fails(1, &[&format!("User ID {wrong}"), "activation notice"]);
}

#[test]
fn a_package_without_the_contract_is_refused() {
    let (lab, card) = Card::new("citizen");
    let at = card.expiry - 5 * DAY;
    let package = card.package(at, "citizen", &["citizen"], Citizen);
    let mut value = serde_json::to_value(&package).unwrap();
    value.as_object_mut().unwrap().remove("contract");
    let file = card.sign(
        &serde_json::to_vec_pretty(&value).unwrap(),
        Citizen,
        at,
        "nocontract.p7s",
    );
    let out = lab.review(&file, at + 60, &[]);
    assert_eq!(refused_by(&out), ("package".into(), "3.1 step 8".into()));
    out.fails(1, &["no contract", "signed together"]);
    // A version 1 application (the format before the contract) too.
    let mut v1 = serde_json::to_value(&package.application).unwrap();
    v1["version"] = 1.into();
    let file = card.sign(
        &serde_json::to_vec_pretty(&v1).unwrap(),
        Citizen,
        at,
        "v1.p7s",
    );
    lab.review(&file, at + 60, &[])
        .fails(1, &["version 1 application has no contract"]);
    // A contract that is not the one drawn up for the application.
    let mut changed = package.clone();
    changed.contract.term_years = 5;
    let file = card.sign(&changed.to_bytes(), Citizen, at, "changed.p7s");
    let out = lab.review(&file, at + 60, &[]);
    assert_eq!(refused_by(&out), ("contract".into(), "3.1 step 8".into()));
}

#[test]
fn the_card_and_its_certificates_are_the_centres_not_the_applications() {
    let (lab, card) = Card::new("citizen");
    let at = card.expiry - 5 * DAY;
    let signer =
        asan_host::cert::parse(&card.certificate(Citizen, asan_applet::KeyUsage::Signing)).unwrap();
    // Another card's serial.
    let mut package = card.package(at, "citizen", &["citizen"], Citizen);
    package.application.serial = "00FF00FF00FF00FF".into();
    package.contract = Contract::for_application(&package.application, party_of(&signer));
    let file = card.sign(&package.to_bytes(), Citizen, at, "serial.p7s");
    let out = lab.review(&file, at + 60, &[]);
    assert_eq!(refused_by(&out), ("card".into(), "3.1 step 5 note".into()));
    // A certificate left out of the list.
    let mut package = card.package(at, "citizen", &["citizen"], Citizen);
    package
        .application
        .current_certificates
        .retain(|c| c.usage == "sign");
    package.contract = Contract::for_application(&package.application, party_of(&signer));
    let file = card.sign(&package.to_bytes(), Citizen, at, "list.p7s");
    let out = lab.review(&file, at + 60, &[]);
    assert_eq!(
        refused_by(&out),
        ("current certificates".into(), "3.1 step 5 note".into())
    );
    // A service type the card does not have.
    let mut package = card.package(at, "business", &["citizen"], Citizen);
    package.contract = Contract::for_application(&package.application, party_of(&signer));
    let file = card.sign(&package.to_bytes(), Citizen, at, "service.p7s");
    lab.review(&file, at + 60, &[])
        .fails(1, &["the centre's record says citizen"]);
    // A power of attorney in a Citizen application.
    let mut package = card.package(at, "citizen", &["citizen"], Citizen);
    package.application.power_of_attorney = Some(attorney_of(&signer));
    package.contract = Contract::for_application(&package.application, party_of(&signer));
    let file = card.sign(&package.to_bytes(), Citizen, at, "poa.p7s");
    lab.review(&file, at + 60, &[])
        .fails(1, &["Citizen application carries no power of attorney"]);
}
