//! Defects the review of issue 17 found in provisioning, each with the
//! test that failed on it: a second card claiming a serial that already has
//! certificates is refused before it changes, and an operational card on a
//! key version other than the station's is skipped, not failed.

use sha2::{Digest, Sha256};

use crate::lab::Lab;

const MASTER: &str = "kvn = 31\n\
    enc = 000102030405060708090A0B0C0D0E0F\n\
    mac = 101112131415161718191A1B1C1D1E1F\n\
    dek = 202122232425262728292A2B2C2D2E2F\n";
const MASTER2: &str = "kvn = 32\n\
    enc = A0A1A2A3A4A5A6A7A8A9AAABACADAEAF\n\
    mac = B0B1B2B3B4B5B6B7B8B9BABBBCBDBEBF\n\
    dek = C0C1C2C3C4C5C6C7C8C9CACBCCCDCECF\n";

fn serial(lab: &Lab, img: &str) -> String {
    lab.info(img)["serial"].as_str().unwrap().to_owned()
}

/// Gives the card image `img` the serial `serial` (a clone): the 8 serial
/// bytes replaced where they are, the image's SHA-256 made again.
fn clone_serial(lab: &Lab, img: &str, serial: &str) {
    let own = hex::decode(self::serial(lab, img)).unwrap();
    let new = hex::decode(serial).unwrap();
    let mut bytes = std::fs::read(lab.path(img)).unwrap();
    let body = bytes.len() - 32;
    let at: Vec<usize> = (0..body - 8)
        .filter(|&i| bytes[i..i + 8] == own[..])
        .collect();
    assert_eq!(at.len(), 1, "the serial is not in the image exactly once");
    bytes[at[0]..at[0] + 8].copy_from_slice(&new);
    let sum = Sha256::digest(&bytes[..body]);
    bytes[body..].copy_from_slice(&sum);
    std::fs::write(lab.path(img), bytes).unwrap();
}

#[test]
fn a_second_card_with_a_serial_that_has_certificates_is_refused_untouched() {
    let lab = Lab::with_ca();
    lab.write_keys("master.keys", MASTER);
    lab.info("a.img");
    lab.info("b.img");
    lab.provision_with_pins("a.img", "citizen", &["--master-keys", "master.keys"])
        .ok();
    let victim = serial(&lab, "a.img");
    let record = std::fs::read_to_string(lab.path(&format!("ca/notices/{victim}.json"))).unwrap();
    clone_serial(&lab, "b.img", &victim);
    assert_eq!(serial(&lab, "b.img"), victim);
    let before = std::fs::read(lab.path("b.img")).unwrap();

    let out = lab.provision_with_pins(
        "b.img",
        "citizen",
        &["--master-keys", "master.keys", "--audit", "audit.jsonl"],
    );
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(out.stderr.contains(&victim), "{out:#?}");
    assert!(out.stderr.contains("already has certificates"), "{out:#?}");
    // The clone is as it was: no PINs, keys, service, nor the victim's keys.
    assert_eq!(std::fs::read(lab.path("b.img")).unwrap(), before);
    assert_eq!(lab.info("b.img")["life_cycle"], "initialisation");
    assert_eq!(lab.info("b.img")["scp_key_version"], 0x30);
    // The victim's certificates are still its current ones.
    let now = std::fs::read_to_string(lab.path(&format!("ca/notices/{victim}.json"))).unwrap();
    assert_eq!(now, record);
    // The refusal is in the audit trail.
    let trail = std::fs::read_to_string(lab.path("audit.jsonl")).unwrap();
    assert!(
        trail.contains("\"failed\"") && trail.contains(&victim),
        "{trail}"
    );
}

#[test]
fn an_operational_card_on_another_key_version_is_skipped_not_failed() {
    let lab = Lab::with_ca();
    lab.write_keys("master.keys", MASTER);
    lab.write_keys("master2.keys", MASTER2);
    lab.info("a.img");
    lab.provision_with_pins("a.img", "citizen", &["--master-keys", "master.keys"])
        .ok();
    lab.card(
        "a.img",
        &[
            "keys",
            "rotate",
            "--master-keys",
            "master.keys",
            "--new-master-keys",
            "master2.keys",
        ],
        &[],
        None,
    )
    .ok();
    assert_eq!(lab.info("a.img")["scp_key_version"], 0x32);
    // A station still on the old master set, and one already on a newer
    // one than this card's.
    for master in ["master.keys", "master2.keys"] {
        let out = lab.provision_with_pins("a.img", "citizen", &["--master-keys", master, "--json"]);
        let card: serde_json::Value = serde_json::from_str(out.ok()).unwrap();
        assert_eq!(card["result"], "skipped", "{out:#?}");
        let why = card["error"].as_str().unwrap_or_default();
        assert!(why.contains("already operational"), "{out:#?}");
        // The old master set's station says why it leaves the card alone.
        if master == "master.keys" {
            assert!(why.contains("on key version 32"), "{out:#?}");
        }
    }
}
