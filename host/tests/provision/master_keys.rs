//! Per-card SCP03 keys (issue 17): derived from a master key set and the
//! card serial, set by PUT KEY at the end of provisioning; `asan keys
//! derive`, `asan keys rotate` (killed at every APDU and run again), and
//! the audit trail of provisioning.

use asan_applet::scp03::{SecurityLevel, StaticKeys};
use asan_applet::store::MemStore;
use asan_host::operator::Operator;
use asan_host::transport::virtual_card::VirtualTransport;
use asan_host::transport::{Exchange, Transport};

use crate::lab::{Lab, pin_env};

const MASTER: &str = "# master keys, batch A\nkvn = 31\n\
    enc = 000102030405060708090A0B0C0D0E0F\n\
    mac = 101112131415161718191A1B1C1D1E1F\n\
    dek = 202122232425262728292A2B2C2D2E2F\n";
const MASTER2: &str = "# master keys, batch B\nkvn = 32\n\
    enc = A0A1A2A3A4A5A6A7A8A9AAABACADAEAF\n\
    mac = B0B1B2B3B4B5B6B7B8B9BABBBCBDBEBF\n\
    dek = C0C1C2C3C4C5C6C7C8C9CACBCCCDCECF\n";

fn level() -> SecurityLevel {
    SecurityLevel::from_byte(0x33).unwrap()
}

/// Whether a channel with `keys` opens on the card image.
fn opens(lab: &Lab, img: &str, keys: &StaticKeys) -> bool {
    let transport = VirtualTransport::open(&lab.path(img)).unwrap();
    let mut card = asan_host::AsanCard::open(transport).unwrap();
    let extended = card.transport().extended_length();
    card.exclusive(|a| Operator::open(a, keys, level(), extended).map(|_| ()))
        .is_ok()
}

fn serial(lab: &Lab, img: &str) -> String {
    lab.info(img)["serial"].as_str().unwrap().to_owned()
}

fn master(text: &str) -> StaticKeys {
    asan_host::keys::parse(std::path::Path::new("m"), text).unwrap()
}

#[test]
fn cards_get_their_own_keys_and_keys_derive_agrees_with_the_card() {
    let lab = Lab::with_ca();
    lab.write_keys("master.keys", MASTER);
    for img in ["a.img", "b.img"] {
        lab.info(img);
        let out = lab.provision_with_pins(img, "citizen", &["--master-keys", "master.keys"]);
        out.ok();
        // No test-key warning: the test keys only open the first channel.
        assert!(!out.stderr.contains("WARNING"), "{out:#?}");
        let info = lab.info(img);
        assert_eq!(info["life_cycle"], "operational");
        assert_eq!(info["scp_key_version"], 0x31);
    }
    let (sa, sb) = (serial(&lab, "a.img"), serial(&lab, "b.img"));
    assert_ne!(sa, sb);
    for (s, file) in [(&sa, "a.keys"), (&sb, "b.keys")] {
        lab.asan(&[
            "keys",
            "derive",
            "--master-keys",
            "master.keys",
            "--serial",
            s,
            "-o",
            file,
        ])
        .ok();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(lab.path(file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let ka = asan_host::keys::load(&lab.path("a.keys")).unwrap();
    let kb = asan_host::keys::load(&lab.path("b.keys")).unwrap();
    assert_ne!(ka.enc, kb.enc);
    assert_ne!(ka.mac, kb.mac);
    assert_ne!(ka.dek, kb.dek);
    // The printed key file is the same key set.
    let printed = lab.asan(&[
        "keys",
        "derive",
        "--master-keys",
        "master.keys",
        "--serial",
        &sa,
    ]);
    let printed = asan_host::keys::parse(std::path::Path::new("-"), printed.ok()).unwrap();
    assert!(printed == ka);

    // Each card answers to its own keys only; the test keys are gone.
    assert!(opens(&lab, "a.img", &ka));
    assert!(opens(&lab, "b.img", &kb));
    assert!(!opens(&lab, "a.img", &kb));
    assert!(!opens(&lab, "b.img", &ka));
    assert!(!opens(&lab, "a.img", &StaticKeys::default_test_keys()));
    lab.card(
        "a.img",
        &["service", "set", "citizen", "suspended"],
        &[],
        None,
    )
    .code(1)
    .says("no SCP03 key set with version 30");
    lab.card(
        "a.img",
        &["service", "set", "citizen", "suspended", "--keys", "b.keys"],
        &[],
        None,
    )
    .code(1)
    .says("card cryptogram does not match");
    assert_eq!(lab.info("a.img")["service"]["active"], true);

    // Every operator command derives the card's keys itself.
    lab.card(
        "a.img",
        &[
            "service",
            "set",
            "citizen",
            "suspended",
            "--master-keys",
            "master.keys",
        ],
        &[],
        None,
    )
    .ok();
    assert_eq!(lab.info("a.img")["service"]["active"], false);
    lab.card(
        "a.img",
        &["service", "set", "citizen", "active", "--keys", "a.keys"],
        &[],
        None,
    )
    .ok();
    assert_eq!(lab.info("a.img")["service"]["active"], true);
    lab.card(
        "b.img",
        &["terminate", "--yes", "--master-keys", "master.keys"],
        &[],
        None,
    )
    .ok();
    assert_eq!(lab.info("b.img")["life_cycle"], "terminated");
    // Both --keys and --master-keys: refused.
    lab.card(
        "a.img",
        &[
            "service",
            "set",
            "citizen",
            "suspended",
            "--master-keys",
            "master.keys",
            "--keys",
            "a.keys",
        ],
        &[],
        None,
    )
    .code(2)
    .says("give one");

    // A re-run skips the card (its own keys open it).
    let out = lab.provision_with_pins("a.img", "citizen", &["--master-keys", "master.keys"]);
    assert!(out.ok().contains("skipped"), "{out:#?}");
}

#[test]
fn key_files_readable_by_others_and_a_master_with_the_test_key_version_are_refused() {
    use std::os::unix::fs::PermissionsExt;
    let lab = Lab::with_ca();
    lab.write_keys("master.keys", MASTER);
    std::fs::set_permissions(
        lab.path("master.keys"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    lab.asan(&[
        "keys",
        "derive",
        "--master-keys",
        "master.keys",
        "--serial",
        "1234",
    ])
    .code(2)
    .says("readable by others");
    lab.info("card.img");
    lab.provision_with_pins("card.img", "citizen", &["--master-keys", "master.keys"])
        .code(2)
        .says("readable by others");
    crate::checks::assert_fresh(&lab, "card.img");

    lab.write_keys("m30.keys", MASTER.replace("kvn = 31", "kvn = 30"));
    lab.provision_with_pins("card.img", "citizen", &["--master-keys", "m30.keys"])
        .code(2)
        .says("another key version");
    crate::checks::assert_fresh(&lab, "card.img");
    lab.asan(&[
        "keys",
        "derive",
        "--master-keys",
        "m30.keys",
        "--serial",
        "12 34",
    ])
    .code(2)
    .says("must be 16 hex digits");
}

#[test]
fn provisioning_stopped_before_put_key_is_finished_by_a_rerun() {
    let lab = Lab::with_ca();
    lab.info("card.img");
    // Personalised with the test keys (as a run stopped before PUT KEY).
    lab.provision_with_pins("card.img", "citizen", &[]).ok();
    assert_eq!(lab.info("card.img")["scp_key_version"], 0x30);
    lab.write_keys("master.keys", MASTER);
    let out = lab.provision_with_pins("card.img", "citizen", &["--master-keys", "master.keys"]);
    assert!(out.ok().contains("resumed"), "{out:#?}");
    assert_eq!(lab.info("card.img")["scp_key_version"], 0x31);
    let own = asan_host::keys::derive(&master(MASTER), &serial(&lab, "card.img")).unwrap();
    assert!(opens(&lab, "card.img", &own));
    assert!(!opens(&lab, "card.img", &StaticKeys::default_test_keys()));
}

#[test]
fn keys_rotate_moves_a_card_to_the_new_master_and_a_rerun_says_already() {
    let lab = Lab::with_ca();
    lab.write_keys("master.keys", MASTER);
    lab.write_keys("master2.keys", MASTER2);
    lab.info("card.img");
    lab.provision_with_pins("card.img", "citizen", &["--master-keys", "master.keys"])
        .ok();
    let s = serial(&lab, "card.img");
    let rotate = [
        "keys",
        "rotate",
        "--master-keys",
        "master.keys",
        "--new-master-keys",
        "master2.keys",
        "--audit",
        "audit.jsonl",
        "--station",
        "st-1",
    ];
    let out = lab.card("card.img", &rotate, &[], None);
    assert!(out.ok().contains("rotated, key version 32"), "{out:#?}");
    let new = asan_host::keys::derive(&master(MASTER2), &s).unwrap();
    let old = asan_host::keys::derive(&master(MASTER), &s).unwrap();
    assert!(opens(&lab, "card.img", &new));
    assert!(!opens(&lab, "card.img", &old));
    let out = lab.card("card.img", &rotate, &[], None);
    assert!(out.ok().contains("already, key version 32"), "{out:#?}");
    // The trail: two whole lines, no key in them.
    let out = lab.asan(&["--json", "audit", "verify", "audit.jsonl"]);
    assert_eq!(out.json()["lines"], 2);
    let trail = std::fs::read_to_string(lab.path("audit.jsonl")).unwrap();
    for secret in [&new.enc, &new.mac, &new.dek, &old.enc, &old.mac, &old.dek] {
        assert!(!trail.to_uppercase().contains(&hex::encode_upper(secret)));
    }
    // The same key version: refused before the card.
    lab.card(
        "card.img",
        &[
            "keys",
            "rotate",
            "--master-keys",
            "master2.keys",
            "--new-master-keys",
            "master2.keys",
        ],
        &[],
        None,
    )
    .code(2)
    .says("another key version");
    // Wrong old keys: the card is not touched.
    lab.write_keys("a.keys", "kvn = 33\nenc = 000102030405060708090A0B0C0D0E0F\nmac = 000102030405060708090A0B0C0D0E0F\ndek = 000102030405060708090A0B0C0D0E0F\n");
    lab.card(
        "card.img",
        &[
            "keys",
            "rotate",
            "--master-keys",
            "master.keys",
            "--new-keys",
            "a.keys",
        ],
        &[],
        None,
    )
    .code(1)
    .says("no SCP03 key set with version 31");
    assert!(opens(&lab, "card.img", &new));
    // A single card to a key file of its own.
    lab.card(
        "card.img",
        &[
            "keys",
            "rotate",
            "--master-keys",
            "master2.keys",
            "--new-keys",
            "a.keys",
        ],
        &[],
        None,
    )
    .ok();
    assert!(opens(
        &lab,
        "card.img",
        &master(&std::fs::read_to_string(lab.path("a.keys")).unwrap())
    ));
    assert_eq!(lab.info("card.img")["scp_key_version"], 0x33);
}

/// A virtual card that loses power (its process killed) after `left`
/// APDUs: every APDU after that fails, as with a card gone. In memory, so
/// no image lock races with the other tests' processes.
struct Killed<'a> {
    inner: &'a mut VirtualTransport<MemStore>,
    left: usize,
}

impl Exchange for Killed<'_> {
    fn transmit(&mut self, capdu: &[u8]) -> asan_host::Result<Vec<u8>> {
        if self.left == 0 {
            return Err(asan_host::Error::Transport(
                "the card process was killed".into(),
            ));
        }
        self.left -= 1;
        self.inner.transmit(capdu)
    }
}

impl Transport for Killed<'_> {
    fn extended_length(&self) -> bool {
        self.inner.extended_length()
    }
    fn exclusive(
        &mut self,
        f: &mut dyn FnMut(&mut dyn Exchange) -> asan_host::Result<()>,
    ) -> asan_host::Result<()> {
        f(self)
    }
    fn shared(&self) -> bool {
        false
    }
    fn name(&self) -> String {
        "killed".into()
    }
    fn apdu_count(&self) -> u64 {
        self.inner.apdu_count()
    }
}

/// Whether a channel with `keys` opens on the in-memory card.
fn opens_mem(card: &mut VirtualTransport<MemStore>, keys: &StaticKeys) -> bool {
    let mut card = asan_host::AsanCard::open(Killed {
        inner: card,
        left: usize::MAX,
    })
    .unwrap();
    let extended = card.transport().extended_length();
    card.exclusive(|a| Operator::open(a, keys, level(), extended).map(|_| ()))
        .is_ok()
}

#[test]
fn rotation_killed_at_every_apdu_leaves_one_key_set_and_a_rerun_finishes() {
    let old = StaticKeys::default_test_keys();
    let new = asan_host::keys::derive(&master(MASTER), "0123456789ABCDEF").unwrap();
    let mut killed_at = 0;
    for n in 0.. {
        let mut inner = VirtualTransport::in_memory().unwrap();
        let run = asan_host::AsanCard::open(Killed {
            inner: &mut inner,
            left: n,
        })
        .and_then(|mut card| asan_host::provision::replace_keys(&mut card, &old, &new, level()));
        // The card restarts: exactly one key set opens it.
        inner.card_mut().power_off();
        inner.card_mut().power_on();
        let (o, w) = (opens_mem(&mut inner, &old), opens_mem(&mut inner, &new));
        assert!(o ^ w, "killed after {n} APDUs: old {o}, new {w}");
        if run.is_ok() {
            assert!(w);
            break;
        }
        killed_at += 1;
        // A re-run (no more kills) finishes.
        let how = asan_host::AsanCard::open(Killed {
            inner: &mut inner,
            left: usize::MAX,
        })
        .and_then(|mut card| asan_host::provision::replace_keys(&mut card, &old, &new, level()))
        .unwrap();
        // Killed after PUT KEY: the re-run only checks.
        assert_eq!(
            how == asan_host::provision::Rotation::AlreadyDone,
            w,
            "after {n}"
        );
        assert!(opens_mem(&mut inner, &new), "after {n}");
        assert!(!opens_mem(&mut inner, &old), "after {n}");
    }
    // Every APDU of the sequence was a kill point: SELECT, GET DATA,
    // INITIALIZE UPDATE, EXTERNAL AUTHENTICATE, PUT KEY, the check's
    // INITIALIZE UPDATE and EXTERNAL AUTHENTICATE, the last SELECT.
    assert_eq!(killed_at, 8);
}

#[test]
fn the_audit_trail_of_provisioning_verifies_and_an_edit_is_caught() {
    let lab = Lab::with_ca();
    lab.write_keys("master.keys", MASTER);
    for img in ["a.img", "b.img"] {
        lab.info(img);
        lab.provision_with_pins(
            img,
            "citizen",
            &[
                "--master-keys",
                "master.keys",
                "--audit",
                "audit.jsonl",
                "--station",
                "st-7",
            ],
        )
        .ok();
    }
    // A card already done: a `skipped` line.
    lab.provision_with_pins(
        "a.img",
        "citizen",
        &[
            "--master-keys",
            "master.keys",
            "--audit",
            "audit.jsonl",
            "--station",
            "st-7",
        ],
    )
    .ok();
    let out = lab.asan(&["audit", "verify", "audit.jsonl"]);
    assert!(out.ok().contains("whole, 3 lines"), "{out:#?}");
    let text = std::fs::read_to_string(lab.path("audit.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (sa, sb) = (serial(&lab, "a.img"), serial(&lab, "b.img"));
    assert_eq!(lines[0]["serial"], sa.as_str());
    assert_eq!(lines[1]["serial"], sb.as_str());
    assert_eq!(lines[2]["serial"], sa.as_str());
    let results: Vec<&str> = lines
        .iter()
        .map(|l| l["result"].as_str().unwrap())
        .collect();
    assert_eq!(results, ["personalised", "personalised", "skipped"]);
    for l in &lines[..2] {
        assert_eq!(l["station"], "st-7");
        assert_eq!(l["key_version"], 0x31);
        assert_eq!(l["service"], "citizen");
        let certs = l["certificates"].as_array().unwrap();
        assert_eq!(certs.len(), 2, "{l}");
        for c in certs {
            assert_eq!(c["sha256"].as_str().unwrap().len(), 64);
            assert!(!c["serial"].as_str().unwrap().is_empty());
        }
    }
    // The fingerprint is the certificate's on the card.
    use sha2::Digest as _;
    let der = lab.certificate("a.img", "citizen", "sign");
    let fp = hex::encode(sha2::Sha256::digest(&der));
    assert!(
        lines[0]["certificates"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["sha256"] == fp.as_str())
    );
    // Never a PIN.
    for pin in [crate::lab::PIN1, crate::lab::PIN2, crate::lab::PUK] {
        assert!(!text.contains(&format!("\"{pin}\"")), "{pin}");
    }
    let _ = pin_env();
    // An edited line is caught, and so is a removed one.
    let edited = text.replacen(&sb, "0000000000", 1);
    std::fs::write(lab.path("edited.jsonl"), edited).unwrap();
    lab.asan(&["audit", "verify", "edited.jsonl"])
        .code(1)
        .says("line 2: edited");
    let removed: Vec<&str> = text.lines().collect();
    std::fs::write(
        lab.path("gap.jsonl"),
        format!("{}\n{}\n", removed[0], removed[2]),
    )
    .unwrap();
    lab.asan(&["audit", "verify", "gap.jsonl"])
        .code(1)
        .says("line 2: gap");
}

#[test]
fn keys_derive_json_prints_the_key_set_or_only_where_it_was_written() {
    let lab = Lab::new();
    lab.write_keys("master.keys", MASTER);
    let derive = [
        "--json",
        "keys",
        "derive",
        "--master-keys",
        "master.keys",
        "--serial",
        "0011223344556677",
    ];
    let own = asan_host::keys::derive(&master(MASTER), "0011223344556677").unwrap();
    // Without -o: the key set, the same values as the plain key file.
    let v = lab.asan(&derive).json();
    assert_eq!(v["serial"], "0011223344556677");
    // The key version as the key file states it (`kvn = 31`).
    assert_eq!(v["key_version"], 0x31);
    assert_eq!(v["keys"]["enc"], hex::encode_upper(own.enc).as_str());
    assert_eq!(v["keys"]["mac"], hex::encode_upper(own.mac).as_str());
    assert_eq!(v["keys"]["dek"], hex::encode_upper(own.dek).as_str());
    assert_eq!(v.as_object().unwrap().len(), 3, "{v}");
    let plain = lab.asan(&derive[1..]);
    let plain = asan_host::keys::parse(std::path::Path::new("-"), plain.ok()).unwrap();
    assert!(plain == own);
    // With -o: where it went, and no key material on stdout.
    let mut to_file = derive.to_vec();
    to_file.extend_from_slice(&["-o", "card.keys"]);
    let out = lab.asan(&to_file);
    let v = out.json();
    assert_eq!(v["serial"], "0011223344556677");
    assert_eq!(v["key_version"], 0x31);
    assert_eq!(v["output"], "card.keys");
    assert!(v.get("keys").is_none(), "{v}");
    for secret in [&own.enc, &own.mac, &own.dek] {
        let hex = hex::encode_upper(secret);
        assert!(!out.stdout.to_uppercase().contains(&hex), "{out:#?}");
        assert!(!out.stderr.to_uppercase().contains(&hex), "{out:#?}");
    }
    assert!(asan_host::keys::load(&lab.path("card.keys")).unwrap() == own);
}

/// `keys derive -o FILE` never replaces a file unasked, and never the
/// master key file itself (by any name: `./`, a symbolic or a hard link),
/// not even with `--force`; a refused run changes nothing and leaves no
/// temporary file.
#[test]
fn keys_derive_o_refuses_an_existing_file_and_always_the_master_file() {
    use std::os::unix::fs::PermissionsExt;
    let lab = Lab::new();
    lab.write_keys("master.keys", MASTER);
    let s = "0011223344556677";
    let own = asan_host::keys::derive(&master(MASTER), s).unwrap();
    let derive = |out: &str, force: bool| {
        let mut args = vec![
            "keys",
            "derive",
            "--master-keys",
            "master.keys",
            "--serial",
            s,
            "-o",
            out,
        ];
        if force {
            args.push("--force");
        }
        lab.asan(&args)
    };
    // An existing file: refused, untouched; replaced with --force.
    lab.write_keys("card.keys", "not yet\n");
    let out = derive("card.keys", false);
    out.code(2)
        .says("card.keys exists")
        .says("(--force replaces it)");
    assert_eq!(
        std::fs::read_to_string(lab.path("card.keys")).unwrap(),
        "not yet\n"
    );
    derive("card.keys", true).ok();
    assert!(asan_host::keys::load(&lab.path("card.keys")).unwrap() == own);
    let mode = std::fs::metadata(lab.path("card.keys"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // The master key file, by any name: refused, with or without --force.
    std::os::unix::fs::symlink("master.keys", lab.path("sym.keys")).unwrap();
    std::fs::hard_link(lab.path("master.keys"), lab.path("hard.keys")).unwrap();
    for name in ["master.keys", "./master.keys", "sym.keys", "hard.keys"] {
        for force in [false, true] {
            derive(name, force).code(2).says("is the master key file");
            assert_eq!(
                std::fs::read_to_string(lab.path("master.keys")).unwrap(),
                MASTER,
                "{name} {force}"
            );
        }
    }
    assert!(
        std::fs::symlink_metadata(lab.path("sym.keys"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    // No temporary file left behind.
    let mut names: Vec<_> = std::fs::read_dir(lab.path(""))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("keys"))
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["card.keys", "hard.keys", "master.keys", "sym.keys"],
        "{names:?}"
    );
}

/// `keys derive --serial` takes the serial as a card reports it (16 hex
/// digits; lower case is the same serial), and refuses anything else
/// rather than derive keys no card has.
#[test]
fn keys_derive_takes_only_a_card_serial_in_either_case() {
    let lab = Lab::new();
    lab.write_keys("master.keys", MASTER);
    let derive = |serial: &str| {
        lab.asan(&[
            "--json",
            "keys",
            "derive",
            "--master-keys",
            "master.keys",
            "--serial",
            serial,
        ])
    };
    let up = derive("00112233AABBCCDD").json();
    let low = derive("00112233aabbccdd").json();
    assert_eq!(up, low);
    assert_eq!(low["serial"], "00112233AABBCCDD");
    let own = asan_host::keys::derive(&master(MASTER), "00112233AABBCCDD").unwrap();
    assert_eq!(low["keys"]["enc"], hex::encode_upper(own.enc).as_str());
    for bad in [
        "1",
        "0011223344",
        "00112233AABBCCD",
        "00112233AABBCCDD0",
        "00112233AABBCCDG",
        "8994000000123456789A",
    ] {
        let out = derive(bad);
        out.code(2).says("must be 16 hex digits");
        assert!(out.stdout.is_empty(), "{out:#?}");
    }
}

/// AES-CMAC of `data` under `key` by `openssl mac` (OpenSSL 3): the
/// cipher named after the key's length.
fn openssl_cmac(lab: &Lab, key: &[u8], data: &[u8]) -> String {
    let cipher = format!("AES-{}-CBC", key.len() * 8);
    let input = lab.path("kdf-input.bin");
    std::fs::write(&input, data).unwrap();
    let out = std::process::Command::new("openssl")
        .args(["mac", "-cipher", &cipher, "-macopt"])
        .arg(format!("hexkey:{}", hex::encode(key)))
        .arg("-in")
        .arg(&input)
        .arg("CMAC")
        .output()
        .unwrap();
    assert!(out.status.success(), "openssl mac: {out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_uppercase()
}

/// The KDF of docs/operator-guide.md ("Key custody"), checked against an
/// independent AES-CMAC (OpenSSL's): the input is built here from the
/// documented formula, `01 || label || 00 || serial || 00 80`, not by our
/// code, for two serials and the two master key sets. Key files take
/// AES-128 keys only (16 bytes); longer master keys are refused.
#[test]
fn keys_derive_is_the_documented_kdf_by_openssl() {
    let lab = Lab::new();
    for (name, text) in [("m1.keys", MASTER), ("m2.keys", MASTER2)] {
        lab.write_keys(name, text);
        let m = master(text);
        for serial in ["0011223344556677", "8994000012345678"] {
            let v = lab
                .asan(&[
                    "--json",
                    "keys",
                    "derive",
                    "--master-keys",
                    name,
                    "--serial",
                    serial,
                ])
                .json();
            for (field, key, label) in [
                ("enc", &m.enc, "ASAN-IMZA SCP03 K-ENC"),
                ("mac", &m.mac, "ASAN-IMZA SCP03 K-MAC"),
                ("dek", &m.dek, "ASAN-IMZA SCP03 K-DEK"),
            ] {
                let mut input = vec![0x01];
                input.extend_from_slice(label.as_bytes());
                input.push(0x00);
                input.extend_from_slice(serial.as_bytes());
                input.extend_from_slice(&[0x00, 0x80]);
                assert_eq!(
                    v["keys"][field].as_str().unwrap(),
                    openssl_cmac(&lab, key, &input),
                    "{name} {serial} {field}"
                );
            }
            assert_eq!(v["key_version"], m.kvn);
        }
    }
    // AES-192 and AES-256 master keys: refused, not derived with.
    for len in [24, 32] {
        let long = hex::encode_upper(vec![0x42u8; len]);
        let text = format!("kvn = 31\nenc = {long}\nmac = {long}\ndek = {long}\n");
        lab.write_keys("long.keys", text);
        lab.asan(&[
            "keys",
            "derive",
            "--master-keys",
            "long.keys",
            "--serial",
            "0011223344556677",
        ])
        .code(2)
        .says(&format!("must be 16 bytes (AES-128), not {len}"));
    }
}

/// `audit trail: N line(s), head H` on stderr: the head a command left.
fn told_head(out: &crate::common::run::Out, lines: u64) -> String {
    let s = if lines == 1 { "" } else { "s" };
    let prefix = format!("audit trail: {lines} line{s}, head ");
    let line = out
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no `{prefix}…` line: {out:#?}"));
    assert_eq!(line.len(), 64, "{line}");
    line.to_owned()
}

/// The hash of the last line of the trail.
fn last_hash(text: &str) -> String {
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    last["hash"].as_str().unwrap().to_owned()
}

#[test]
fn the_recorded_head_catches_lines_cut_from_the_end_or_the_last_line_rewritten() {
    let lab = Lab::with_ca();
    lab.write_keys("master.keys", MASTER);
    lab.write_keys("master2.keys", MASTER2);
    let audit = ["--audit", "audit.jsonl", "--station", "st-2"];
    let extra = [&["--master-keys", "master.keys"][..], &audit[..]].concat();
    // Each command that appends tells the operator the new head.
    lab.info("a.img");
    let out = lab.provision_with_pins("a.img", "citizen", &extra);
    out.ok();
    let h1 = told_head(&out, 1);
    let text = std::fs::read_to_string(lab.path("audit.jsonl")).unwrap();
    assert_eq!(h1, last_hash(&text));
    // With --json, the report carries it too.
    lab.info("b.img");
    let mut args = extra.clone();
    args.push("--json");
    let out = lab.provision_with_pins("b.img", "citizen", &args);
    let v = out.json();
    let h2 = told_head(&out, 2);
    assert_eq!(v["audit_head"], h2.as_str());
    assert_eq!(v["result"], "personalised");
    let text = std::fs::read_to_string(lab.path("audit.jsonl")).unwrap();
    assert_eq!(h2, last_hash(&text));
    let mut rotate = vec![
        "--json",
        "--virtual",
        "a.img",
        "keys",
        "rotate",
        "--master-keys",
        "master.keys",
        "--new-master-keys",
        "master2.keys",
    ];
    rotate.extend_from_slice(&audit);
    let out = lab.run(&rotate, &[], None);
    let v = out.json();
    let h3 = told_head(&out, 3);
    assert_eq!(v["audit_head"], h3.as_str());
    assert_eq!(v["cards"][0]["result"], "rotated");
    let text = std::fs::read_to_string(lab.path("audit.jsonl")).unwrap();
    assert_eq!(h3, last_hash(&text));
    // Without --json: the stderr line only.
    let out = lab.card("a.img", &rotate[3..], &[], None);
    assert!(out.ok().contains("already"), "{out:#?}");
    let h4 = told_head(&out, 4);
    let text = std::fs::read_to_string(lab.path("audit.jsonl")).unwrap();
    assert_eq!(h4, last_hash(&text));

    // The whole trail with a head recorded earlier: found, lines after it.
    let v = lab
        .asan(&["--json", "audit", "verify", "audit.jsonl", "--head", &h2])
        .json();
    assert_eq!(v["lines"], 4);
    assert_eq!(v["head"], h4.as_str());
    assert_eq!(v["anchor"]["hash"], h2.as_str());
    assert_eq!(v["anchor"]["line"], 2);
    assert_eq!(v["anchor"]["later_lines"], 2);
    let out = lab.asan(&[
        "audit",
        "verify",
        "audit.jsonl",
        "--head",
        &h4.to_uppercase(),
    ]);
    assert!(
        out.ok()
            .contains(&format!("recorded head {h4} is line 4, 0 lines after it")),
        "{out:#?}"
    );
    let v = lab
        .asan(&["--json", "audit", "verify", "audit.jsonl"])
        .json();
    assert!(v.get("anchor").is_none(), "{v}");

    // The last line cut: the chain alone is whole (the limitation), the
    // recorded head catches it.
    let lines: Vec<&str> = text.lines().collect();
    let cut = format!("{}\n", lines[..3].join("\n"));
    std::fs::write(lab.path("cut.jsonl"), &cut).unwrap();
    assert!(
        lab.asan(&["audit", "verify", "cut.jsonl"])
            .ok()
            .contains("whole, 3 lines")
    );
    lab.asan(&["audit", "verify", "cut.jsonl", "--head", &h4])
        .code(1)
        .says(&format!(
            "the recorded head {h4} is not in the trail: lines were cut from its end or rewritten"
        ));
    // An earlier head still verifies the cut trail: only what follows it
    // is covered.
    lab.asan(&["audit", "verify", "cut.jsonl", "--head", &h3])
        .ok();

    // The last line rewritten, its hash recomputed: whole without the head,
    // caught with it.
    use sha2::Digest as _;
    let last = lines[3];
    let open = &last[..last.len() - (9 + 64 + 2)];
    assert!(open.contains("\"result\":\"already\""), "{open}");
    let open = open.replace("\"result\":\"already\"", "\"result\":\"failed\"");
    let hash = hex::encode(sha2::Sha256::digest(format!("{open}}}").as_bytes()));
    let rewritten = format!("{}\n{open},\"hash\":\"{hash}\"}}\n", lines[..3].join("\n"));
    std::fs::write(lab.path("rewritten.jsonl"), &rewritten).unwrap();
    let v = lab
        .asan(&["--json", "audit", "verify", "rewritten.jsonl"])
        .json();
    assert_eq!(v["lines"], 4);
    assert_eq!(v["head"], hash.as_str());
    lab.asan(&["audit", "verify", "rewritten.jsonl", "--head", &h4])
        .code(1)
        .says("is not in the trail");
    // A head that is not a SHA-256 in hex: a usage error.
    lab.asan(&["audit", "verify", "audit.jsonl", "--head", "5c1e"])
        .code(2)
        .says("64 hex digits");
}

#[test]
fn a_torn_last_line_is_reported_until_the_next_run_cuts_and_records_it() {
    let lab = Lab::with_ca();
    lab.write_keys("master.keys", MASTER);
    let audit = ["--master-keys", "master.keys", "--audit", "audit.jsonl"];
    lab.info("a.img");
    lab.provision_with_pins("a.img", "citizen", &audit).ok();
    // A power cut while the second line was written.
    let mut bytes = std::fs::read(lab.path("audit.jsonl")).unwrap();
    let whole = bytes.len();
    bytes.extend_from_slice(b"{\"certificates\":[],\"err");
    std::fs::write(lab.path("audit.jsonl"), &bytes).unwrap();
    lab.asan(&["audit", "verify", "audit.jsonl"])
        .code(1)
        .says("the last line is incomplete");
    // The next run cuts it, records the cut and its own card.
    lab.info("b.img");
    let out = lab.provision_with_pins("b.img", "citizen", &audit);
    out.ok();
    let h = told_head(&out, 3);
    let text = std::fs::read_to_string(lab.path("audit.jsonl")).unwrap();
    assert_eq!(text.as_bytes()[..whole], bytes[..whole]);
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[1]["event"], "recovered");
    assert_eq!(lines[1]["result"], "cut");
    let said = lines[1]["error"].as_str().unwrap();
    assert!(
        said.starts_with("a torn last line of 23 bytes (SHA-256 ") && said.ends_with(") was cut"),
        "{said}"
    );
    assert_eq!(lines[2]["serial"], serial(&lab, "b.img").as_str());
    lab.asan(&["audit", "verify", "audit.jsonl", "--head", &h])
        .ok();
}
