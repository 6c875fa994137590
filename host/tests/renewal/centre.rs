//! The centre's checks of what it receives: the signature, the signer, the
//! sending time — with applications signed by a software key in this
//! process (a certificate the CA activated on a card it never saw).

use std::path::Path;

use asan_applet::KeyUsage;
use asan_host::renewal::{DAY, baku, format_time};

use crate::craft::{crafted, crafted_with};
use crate::support::{Lab, asan};

fn failed_check(out: &crate::support::Out) -> String {
    out.json()["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["ok"] == false)
        .map(|c| c["check"].as_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[test]
fn the_window_is_checked_when_the_application_was_sent() {
    let lab = Lab::new();
    let expiry = 2_000_000_000;
    let start = expiry - 1095 * DAY;
    let opens = baku::window_opens(expiry, 30);
    // Sent one second before 00:00 Baku time 30 days before the expiry
    // date, reviewed inside the window: refused.
    let early = crafted(&lab, start, opens - 1, KeyUsage::Signing, true);
    let out = lab.review(&early, expiry - DAY, &[]);
    out.fails(1, &["too early", "3.1 step 8 note"]);
    assert_eq!(failed_check(&out), "window at sending");
    assert_eq!(out.json()["state"], "cancelled");
}

#[test]
fn sent_in_the_window_and_received_after_expiry_is_not_cancelled() {
    let lab = Lab::new();
    let expiry = 2_000_000_000;
    let start = expiry - 1095 * DAY;
    let sent = baku::window_opens(expiry, 30);
    let app = crafted(&lab, start, sent, KeyUsage::Signing, true);
    // First received a day after the certificate expired: the signer's
    // path is validated when it was sent, and the window too.
    let v = lab.review(&app, expiry + DAY, &[]).json();
    assert_eq!(
        (v["decision"].as_str(), v["state"].as_str()),
        (Some("pending"), Some("awaiting_service_prolongation")),
        "{v}"
    );
    // But a review cannot go back before one the journal has.
    let out = lab.review(&app, expiry - DAY, &[]);
    out.fails(2, &["cannot be made at an earlier instant"]);
}

#[test]
fn a_signing_time_after_the_review_is_refused() {
    let lab = Lab::new();
    let expiry = 2_000_000_000;
    let app = crafted(
        &lab,
        expiry - 1095 * DAY,
        expiry - DAY,
        KeyUsage::Signing,
        true,
    );
    let out = lab.review(&app, expiry - 2 * DAY, &[]);
    out.fails(1, &["after the review time"]);
    assert_eq!(failed_check(&out), "signature");
}

#[test]
fn the_signer_must_be_a_listed_signing_certificate_and_the_signature_valid() {
    let lab = Lab::new();
    let expiry = 2_000_000_000;
    let start = expiry - 1095 * DAY;
    // Signed with the authentication certificate: no nonRepudiation.
    let auth = crafted(&lab, start, expiry - DAY, KeyUsage::Authentication, true);
    lab.review(&auth, expiry - DAY, &[])
        .fails(1, &["key usage"]);
    // The signer is not one of the listed certificates.
    let unlisted = crafted(&lab, start, expiry - DAY, KeyUsage::Signing, false);
    let out = lab.review(&unlisted, expiry - DAY, &[]);
    out.fails(1, &["not one of the application's current certificates"]);
    assert_eq!(failed_check(&out), "signer");
    // Tampered content: the signature check fails.
    let in_time = crafted(&lab, start, expiry - 2 * DAY, KeyUsage::Signing, true);
    let mut bytes = std::fs::read(&in_time).unwrap();
    let at = bytes
        .windows(13)
        .position(|w| w == b"+994501234567")
        .unwrap();
    bytes[at + 12] = b'8';
    let tampered = lab.file("tampered.p7s");
    std::fs::write(&tampered, bytes).unwrap();
    lab.review(&tampered, expiry - DAY, &[])
        .fails(1, &["signature is not valid", "content digest"]);
    // Not a signature at all; a CA that did not issue the signer.
    std::fs::write(lab.file("junk.p7s"), b"not cms").unwrap();
    let out = lab.review(&lab.file("junk.p7s"), expiry - DAY, &[]);
    out.fails(1, &["renewal refused"]);
    assert_eq!(out.json()["state"], "cancelled");
    let other = lab.file("other-ca");
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
    // Every review is in the journal, refusals too.
    let list = asan(&["--json", "ca", "applications", &lab.ca]).json();
    let states: Vec<&str> = list["applications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["decision"].as_str().unwrap())
        .collect();
    assert_eq!(
        states,
        ["refused", "refused", "refused", "refused"],
        "{list}"
    );
    assert!(Path::new(&lab.ca).join("applications.jsonl").exists());
}

/// The lab's CA with a TSA served in this process; its URL.
fn tsa(lab: &Lab) -> String {
    let ca = asan_host::x509::DevCa::load(Path::new(&lab.ca)).unwrap();
    let tsa =
        asan_host::tsp::Tsa::init(&lab.file("tsa"), &ca, std::time::SystemTime::now()).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        asan_host::tsp::serve::serve(&tsa, &listener, &|| false, &mut |_| {}).unwrap();
    });
    url
}

#[test]
fn a_time_stamp_makes_the_sending_time_a_fact() {
    use asan_host::tsp::TsaClient;
    let lab = Lab::new();
    let url = tsa(&lab);
    // A certificate that expires in 5 days, so that the window is open now;
    // the application claims it was signed an hour ago, the TSA says now.
    let now = asan_host::cert::now_seconds();
    let start = now + 5 * DAY - 1095 * DAY;
    let claimed = now - 3600;
    let app = crafted_with(
        &lab,
        start,
        claimed,
        KeyUsage::Signing,
        true,
        Some(TsaClient::new(&url).unwrap()),
    );
    let v = lab.review(&app, now + 60, &[]).json();
    assert_eq!(v["decision"], "accepted", "{v}");
    assert_eq!(v["sent_from"], "time-stamp");
    let sent = asan_host::renewal::parse_time(v["sent"].as_str().unwrap()).unwrap();
    assert!(
        (now..=now + 60).contains(&sent),
        "genTime, not the claim: {v}"
    );
}

#[test]
fn renew_request_with_a_tsa_now_and_the_centre_takes_the_token_time() {
    use asan_applet::{CertificateProfile, KeyRef, ServiceType};
    let (lab, card) = crate::support::Card::new("citizen");
    let url = tsa(&lab);
    // The card's Citizen certificates renewed as if three years ago: they
    // expire in 5 days, so that the window is open now, at the system clock.
    let now = asan_host::cert::now_seconds();
    let start = now + 5 * DAY - 1095 * DAY;
    let ca = asan_host::x509::DevCa::load(Path::new(&lab.ca)).unwrap();
    let mut issued = Vec::new();
    for usage in [KeyUsage::Authentication, KeyUsage::Signing] {
        card.renew_later(CertificateProfile::Citizen, usage, start);
        let der = card.certificate(CertificateProfile::Citizen, usage);
        issued.push((KeyRef::new(CertificateProfile::Citizen, usage), der));
    }
    ca.record_activation(&card.serial, ServiceType::Citizen, None, &issued, now)
        .unwrap();
    let file = card.file("tsa.p7s").display().to_string();
    let out = card.run(&[
        "--json",
        "renew",
        "request",
        "--profile",
        "citizen",
        "--phone",
        "+994501234567",
        "--user-id",
        &card.user_id,
        "--tsa",
        &url,
        "-o",
        &file,
    ]);
    assert_eq!(out.json()["state"], "submitted", "{out:#?}");
    let out = asan(&["--json", "ca", "review", &lab.ca, &file]);
    let v = out.json();
    assert_eq!(
        (v["decision"].as_str(), v["sent_from"].as_str()),
        (Some("accepted"), Some("time-stamp")),
        "{v}"
    );
}
