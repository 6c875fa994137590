//! Per-card SCP03 keys (issue 17): derived from a master key set and the
//! card serial, set by PUT KEY at the end of provisioning; `asan keys
//! derive`, `asan keys rotate` (killed at every APDU and run again), and
//! the audit trail of provisioning.

use asan_applet::scp03::{SecurityLevel, StaticKeys};
use asan_applet::store::MemStore;
use asan_host::operator::Operator;
use asan_host::transport::virtual_card::VirtualTransport;
use asan_host::transport::{Exchange, Transport};

use crate::lab::Lab;

pub(crate) const MASTER: &str = "# master keys, batch A\nkvn = 31\n\
    enc = 000102030405060708090A0B0C0D0E0F\n\
    mac = 101112131415161718191A1B1C1D1E1F\n\
    dek = 202122232425262728292A2B2C2D2E2F\n";
pub(crate) const MASTER2: &str = "# master keys, batch B\nkvn = 32\n\
    enc = A0A1A2A3A4A5A6A7A8A9AAABACADAEAF\n\
    mac = B0B1B2B3B4B5B6B7B8B9BABBBCBDBEBF\n\
    dek = C0C1C2C3C4C5C6C7C8C9CACBCCCDCECF\n";

pub(crate) fn level() -> SecurityLevel {
    SecurityLevel::from_byte(0x33).unwrap()
}

/// Whether a channel with `keys` opens on the card image.
pub(crate) fn opens(lab: &Lab, img: &str, keys: &StaticKeys) -> bool {
    let transport = crate::common::open_image(&lab.path(img));
    let mut card = asan_host::AsanCard::open(transport).unwrap();
    let extended = card.transport().extended_length();
    card.exclusive(|a| Operator::open(a, keys, level(), extended).map(|_| ()))
        .is_ok()
}

pub(crate) fn serial(lab: &Lab, img: &str) -> String {
    lab.info(img)["serial"].as_str().unwrap().to_owned()
}

pub(crate) fn master(text: &str) -> StaticKeys {
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
