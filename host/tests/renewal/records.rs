//! The centre's records in the CA directory: the register of organisations
//! (`ca org add|list`), the activation notices with their User IDs
//! (`provision --notice`, `ca notice`), and the journal of applications
//! (`ca applications`), crash-safe.

use std::path::Path;

use asan_host::renewal::{DAY, format_time};
use serde_json::Value;

use crate::support::{Card, HEAD, Lab, ORG, VOEN, asan};

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn the_register_of_organisations() {
    let lab = Lab::new();
    let list = asan(&["--json", "ca", "org", "list", &lab.ca]).json();
    let orgs = list["organisations"].as_array().unwrap();
    assert_eq!(orgs.len(), 1);
    let mut keys: Vec<&str> = orgs[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["added", "head", "name", "voen"]);
    assert_eq!(
        (orgs[0]["voen"].as_str(), orgs[0]["head"].as_str()),
        (Some(VOEN), Some(HEAD))
    );
    let register = Path::new(&lab.ca).join("organisations.json");
    let before = std::fs::read(&register).unwrap();
    // Refused, nothing written: a VÖEN registered already, malformed fields.
    let cases: [(&[&str], i32, &str); 4] = [
        (
            &["--voen", VOEN, "--name", "Other", "--head", "1AAAAAA"],
            2,
            "already registered",
        ),
        (
            &["--voen", "123", "--name", "X", "--head", "1AAAAAA"],
            2,
            "10 digits",
        ),
        (
            &["--voen", "2222222222", "--name", " ", "--head", "1AAAAAA"],
            2,
            "name",
        ),
        (
            &["--voen", "2222222222", "--name", "X", "--head", "a_b"],
            2,
            "FIN",
        ),
    ];
    for (args, code, needle) in cases {
        let mut all = vec!["ca", "org", "add", lab.ca.as_str()];
        all.extend(args);
        asan(&all).fails(code, &[needle]);
        assert_eq!(std::fs::read(&register).unwrap(), before);
    }
    let added = asan(&[
        "--json",
        "ca",
        "org",
        "add",
        &lab.ca,
        "--voen",
        "2222222222",
        "--name",
        "Dövlət Qurumu",
        "--head",
        "1AAAAAA",
        "--now",
        "2030-01-01T10:00:00+04:00",
    ])
    .json();
    assert_eq!(added["added"], "2030-01-01T06:00:00Z");
    let text = asan(&["ca", "org", "list", &lab.ca]);
    assert!(
        text.ok()
            .contains("2222222222  head 1AAAAAA  Dövlət Qurumu"),
        "{text:#?}"
    );
    assert!(text.ok().contains(&format!("{VOEN}  head {HEAD}  {ORG}")));
    std::fs::write(&register, b"{").unwrap();
    asan(&["ca", "org", "list", &lab.ca]).fails(1, &["organisations.json", "not a register"]);
}

#[test]
fn one_user_id_per_sim_issued_at_activation_and_kept() {
    let lab = Lab::new();
    let card = lab.card("card", "business", HEAD);
    let other = lab.card("other", "citizen", "5OTHER1");
    assert_ne!(card.user_id, other.user_id);
    assert_eq!(card.user_id.len(), 6);
    assert!(card.user_id.bytes().all(|b| b.is_ascii_digit()));
    let notice_file = card.file("card-notice.json");
    #[cfg(unix)]
    {
        assert_eq!(mode(&notice_file), 0o600, "the notice holds the User ID");
        let record = Path::new(&lab.ca)
            .join("notices")
            .join(format!("{}.json", card.serial));
        assert_eq!(mode(&record), 0o600);
    }
    let notice: Value = serde_json::from_slice(&std::fs::read(&notice_file).unwrap()).unwrap();
    let mut keys: Vec<&str> = notice
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "activated",
            "certificates",
            "notice",
            "serial",
            "service",
            "service_until",
            "user_id",
            "voen"
        ]
    );
    assert_eq!(
        notice["notice"],
        "Sertifikatların aktivləşdirilməsi barədə bildiriş"
    );
    assert_eq!(notice["certificates"].as_array().unwrap().len(), 4);
    assert_eq!(notice["voen"], VOEN);
    assert_eq!(notice["service_until"], format_time(card.expiry).as_str());
    // `ca notice` prints it again, the same.
    let again = asan(&[
        "--json",
        "ca",
        "notice",
        &lab.ca,
        &card.serial.to_lowercase(),
    ])
    .json();
    assert_eq!(again, notice);
    let text = asan(&["ca", "notice", &lab.ca, &card.serial]);
    assert!(
        text.ok().contains(&format!("User ID     {}", card.user_id)),
        "{text:#?}"
    );
    asan(&["ca", "notice", &lab.ca, "00AA00AA00AA00AA"]).fails(1, &["no activation notice"]);
    asan(&["ca", "notice", &lab.ca, "not-hex"]).fails(2, &["card serial"]);

    // New certificates on the card (the operator's half of renewal): the
    // same User ID, the notice lists the new ones.
    card.run(&[
        "provision",
        "renew",
        "--profile",
        "business",
        "--ca",
        &lab.ca,
    ])
    .ok();
    let renewed = asan(&["--json", "ca", "notice", &lab.ca, &card.serial]).json();
    assert_eq!(renewed["user_id"], card.user_id.as_str());
    let serial_of = |v: &Value, p: &str, u: &str| {
        v["certificates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["profile"] == p && c["usage"] == u)
            .unwrap()["serial_number"]
            .clone()
    };
    assert_ne!(
        serial_of(&renewed, "business", "sign"),
        serial_of(&notice, "business", "sign")
    );
    assert_eq!(
        serial_of(&renewed, "citizen", "sign"),
        serial_of(&notice, "citizen", "sign")
    );
    // Run again on the operational card: skipped, the notice written again.
    let file = card.file("again.json").display().to_string();
    card.run(&[
        "provision",
        "--service",
        "business",
        "--ca",
        &lab.ca,
        "--notice",
        &file,
    ])
    .ok();
    let written: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(written["user_id"], card.user_id.as_str());
    // --notice needs a CA.
    let out = card.run(&[
        "provision",
        "--service",
        "business",
        "--requests",
        "r",
        "--notice",
        &file,
    ]);
    assert_eq!(out.code, 2, "{out:#?}");
    assert!(out.stderr.contains("--ca"), "{out:#?}");
}

#[test]
fn the_journal_keeps_every_review_and_survives_a_torn_write() {
    let (lab, card) = Card::new("citizen");
    let at = card.expiry - 10 * DAY;
    card.request(
        at,
        "a.p7s",
        &["--profile", "citizen", "--phone", "+994501234567"],
    )
    .ok();
    let app = card.file("a.p7s");
    lab.review(&app, at + 60, &[]).ok();
    lab.review(&app, at + 120, &[]).ok();
    let journal = Path::new(&lab.ca).join("applications.jsonl");
    #[cfg(unix)]
    assert_eq!(mode(&journal), 0o600);
    let whole = std::fs::read(&journal).unwrap();
    let lines: Vec<Value> = whole
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    let kinds: Vec<&str> = lines
        .iter()
        .map(|l| l["record"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["received", "review", "review"]);
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["seq"], i + 1);
        assert_eq!(l["hash"].as_str().unwrap().len(), 64);
    }
    // A process killed half-way through a line: the line is left out, the
    // next review cuts it off and goes on.
    let mut torn = whole.clone();
    torn.extend_from_slice(br#"{"seq":4,"prev":"ab","rec"#);
    std::fs::write(&journal, &torn).unwrap();
    let list = asan(&["--json", "ca", "applications", &lab.ca]).json();
    assert_eq!(
        list["applications"][0]["last_reviewed"],
        format_time(at + 120).as_str()
    );
    lab.review(&app, at + 180, &[]).ok();
    let list = asan(&["--json", "ca", "applications", &lab.ca]).json();
    assert_eq!(
        list["applications"][0]["last_reviewed"],
        format_time(at + 180).as_str()
    );
    let text = std::fs::read_to_string(&journal).unwrap();
    assert!(text.ends_with('\n') && !text.contains("\"rec\n"), "{text}");
    // Damage inside: refused, never reset, no review recorded.
    let damaged = text.replacen("\"decision\":\"accepted\"", "\"decision\":\"refused\"", 1);
    std::fs::write(&journal, &damaged).unwrap();
    asan(&["ca", "applications", &lab.ca]).fails(1, &["damaged at line 2"]);
    lab.review(&app, at + 240, &[])
        .fails(1, &["damaged at line 2"]);
    assert_eq!(std::fs::read_to_string(&journal).unwrap(), damaged);
}

#[test]
fn two_reviews_at_once_issue_once() {
    let (lab, card) = Card::new("citizen");
    let at = card.expiry - 10 * DAY;
    card.request(
        at,
        "a.p7s",
        &["--profile", "citizen", "--phone", "+994501234567"],
    )
    .ok();
    let app = card.file("a.p7s").display().to_string();
    lab.review(&card.file("a.p7s"), at + 60, &[]).ok();
    let prolonged = card.expiry + DAY;
    asan(&[
        "ca",
        "prolong",
        &lab.ca,
        &card.serial,
        "ferdi",
        "--now",
        &format_time(prolonged),
    ])
    .ok();
    let now = format_time(prolonged + 60);
    let spawn = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_asan"))
            .args(["--json", "ca", "review", &lab.ca, &app, "--now", &now])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let outs = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
    let mut issued = 0;
    for out in &outs {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["state"], "issued", "{v}");
        issued += v["issued"].as_array().unwrap().len();
    }
    assert_eq!(
        issued, 2,
        "the Citizen pair, issued by one of the two reviews"
    );
    let journal = std::fs::read_to_string(Path::new(&lab.ca).join("applications.jsonl")).unwrap();
    assert_eq!(journal.matches("\"kind\":\"issued\"").count(), 1);
}
