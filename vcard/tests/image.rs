//! The persistent image: created fresh when absent, reloaded exactly,
//! written with mode 0600, refused (never replaced) when damaged, locked
//! against a second user.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
#[cfg(unix)]
use std::os::unix::fs::PermissionsExt;

use asan_vcard::image::{self, IMAGE_FILE_LEN};
use asan_vcard::{CardError, ImageError, VirtualCard};

const SELECT: &[u8] = &[
    0x00, 0xA4, 0x04, 0x0C, 0x0A, 0xF0, 0x41, 0x53, 0x41, 0x4E, 0x49, 0x4D, 0x5A, 0x41, 0x01,
];
const GET_SERIAL: &[u8] = &[0x00, 0xCA, 0x00, 0xC1, 0x00];

fn serial(card: &mut VirtualCard) -> Vec<u8> {
    card.power_on();
    card.transmit(SELECT).unwrap();
    card.transmit(GET_SERIAL).unwrap()
}

#[test]
fn fresh_card_is_created_and_reloaded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("card.img");
    let (mut card, created) = VirtualCard::open(&path).unwrap();
    assert!(created);
    let first = serial(&mut card);
    assert_eq!(first.len(), 2 + 8 + 2);
    drop(card);
    let meta = fs::metadata(&path).unwrap();
    assert_eq!(meta.len() as usize, IMAGE_FILE_LEN);
    #[cfg(unix)]
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let (mut card, created) = VirtualCard::open(&path).unwrap();
    assert!(!created);
    assert_eq!(serial(&mut card), first, "same card after reload");
    // No temporary file is left behind.
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        names.iter().all(|n| !n.to_string_lossy().ends_with(".tmp")),
        "{names:?}"
    );
}

fn refused(bytes: &[u8]) -> ImageError {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("card.img");
    fs::write(&path, bytes).unwrap();
    let err = match VirtualCard::open(&path) {
        Err(CardError::Image(e)) => e,
        other => panic!("damaged image accepted: {other:?}"),
    };
    assert_eq!(
        fs::read(&path).unwrap(),
        bytes,
        "a refused image is never replaced"
    );
    err
}

#[test]
fn damaged_images_are_refused_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("card.img");
    drop(VirtualCard::open(&path).unwrap());
    let good = fs::read(&path).unwrap();

    let mut flipped = good.clone();
    flipped[100] ^= 0x01;
    assert!(matches!(refused(&flipped), ImageError::ChecksumMismatch(_)));

    assert!(matches!(
        refused(&good[..good.len() - 1]),
        ImageError::WrongLength(..)
    ));
    assert!(matches!(
        refused(b"not a card at all"),
        ImageError::NotAnImage(_)
    ));
    assert!(matches!(refused(&[]), ImageError::NotAnImage(_)));

    // A valid checksum over records that do not decode.
    let mut records = good[14..14 + asan_applet::store::IMAGE_LEN].to_vec();
    records[0] = 0xFF; // life-cycle slot length far beyond its capacity
    let forged = image::encode(&records.try_into().unwrap());
    assert!(matches!(refused(&forged), ImageError::CorruptRecords(_)));

    let msg = refused(&flipped).to_string();
    assert!(
        msg.contains("checksum") && msg.contains("refusing"),
        "{msg}"
    );
}

#[test]
fn an_image_in_use_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("card.img");
    let (_card, _) = VirtualCard::open(&path).unwrap();
    match VirtualCard::open(&path) {
        Err(CardError::Image(ImageError::Locked(_))) => {}
        other => panic!("second open: {other:?}"),
    }
}

#[test]
fn power_clears_the_session() {
    let mut card = VirtualCard::in_memory().unwrap();
    assert!(matches!(card.transmit(SELECT), Err(CardError::PoweredOff)));
    assert_eq!(card.power_on(), card.atr());
    // Open a secure channel, then power off: the channel is gone.
    let init = asan_applet::scp03::host::HostChannel::initialize_update_apdu(0x30, &[1; 8]);
    let r = card.transmit(&init).unwrap();
    assert_eq!(&r[r.len() - 2..], &[0x90, 0x00]);
    card.power_off();
    card.power_on();
    // EXTERNAL AUTHENTICATE without a preceding INITIALIZE UPDATE in this session: 6985.
    let r = card
        .transmit(&[
            0x84, 0x82, 0x03, 0x00, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ])
        .unwrap();
    assert_eq!(r, vec![0x69, 0x85]);
}

/// Sends one APDU to a powered card and returns its status word.
fn status(card: &mut VirtualCard, capdu: &[u8]) -> u16 {
    let r = card.transmit(capdu).unwrap();
    u16::from_be_bytes([r[r.len() - 2], r[r.len() - 1]])
}

/// A flipped bit in the format version is damage (the checksum covers the
/// version), not an image of another format.
#[test]
fn a_bit_flip_in_the_version_is_damage_not_another_format() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("card.img");
    drop(VirtualCard::open(&path).unwrap());
    let good = fs::read(&path).unwrap();
    for (byte, bit) in [(8usize, 0u8), (9, 1), (9, 7), (8, 7)] {
        let mut flipped = good.clone();
        flipped[byte] ^= 1 << bit;
        let err = refused(&flipped);
        assert!(
            matches!(err, ImageError::ChecksumMismatch(_)),
            "version byte {byte} bit {bit}: {err:?}"
        );
    }
    // A genuine image of another format version (its checksum right) is
    // named as such.
    let mut newer = good[..good.len() - 32].to_vec();
    newer[9] = 2;
    let sum = {
        use sha2::Digest;
        sha2::Sha256::digest(&newer)
    };
    newer.extend_from_slice(&sum);
    assert!(matches!(
        refused(&newer),
        ImageError::UnsupportedVersion(_, 2)
    ));
}

/// The lock belongs to the image, not to the name it was opened by: a
/// symbolic link and its target are one card, and no lock file is left
/// beside any of the names.
#[cfg(unix)]
#[test]
fn a_symlink_and_its_target_are_one_locked_card() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("card.img");
    let link = dir.path().join("link.img");
    drop(VirtualCard::open(&path).unwrap());
    std::os::unix::fs::symlink(&path, &link).unwrap();
    {
        let (_card, created) = VirtualCard::open(&path).unwrap();
        assert!(!created);
        match VirtualCard::open(&link) {
            Err(CardError::Image(ImageError::Locked(_))) => {}
            other => panic!("the same card through a symlink: {other:?}"),
        }
    }
    {
        let (_card, _) = VirtualCard::open(&link).unwrap();
        match VirtualCard::open(&path) {
            Err(CardError::Image(ImageError::Locked(_))) => {}
            other => panic!("the target of a card open through a symlink: {other:?}"),
        }
    }
}

/// A change made through a symbolic link lands in its target: the link
/// stays a link, and no lock or temporary file is left.
#[cfg(unix)]
#[test]
fn a_change_through_a_symlink_keeps_the_link() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("card.img");
    let link = dir.path().join("link.img");
    drop(VirtualCard::open(&path).unwrap());
    std::os::unix::fs::symlink(&path, &link).unwrap();
    let (mut card, _) = VirtualCard::open(&link).unwrap();
    card.power_on();
    let init = asan_applet::scp03::host::HostChannel::initialize_update_apdu(0x30, &[1; 8]);
    let mut op = Vec::new();
    op.extend(card.transmit(&init).unwrap());
    assert_eq!(&op[op.len() - 2..], &[0x90, 0x00]);
    let keys = asan_applet::scp03::StaticKeys::default_test_keys();
    let level = asan_applet::scp03::SecurityLevel::from_byte(0x01).unwrap();
    let (_, ext) =
        asan_applet::scp03::host::HostChannel::open(&keys, &[1; 8], &op[..op.len() - 2], level)
            .unwrap();
    assert_eq!(status(&mut card, &ext), 0x9000);
    drop(card);
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(fs::read(&link).unwrap(), fs::read(&path).unwrap());
    let names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        ["card.img", "link.img"],
        "no lock or temporary files left"
    );
}

/// A card that does not exist yet is created once: a second process that
/// starts at the same time finds it locked.
#[test]
fn no_lock_file_is_left_beside_a_new_card() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.img");
    {
        let (_card, created) = VirtualCard::open(&path).unwrap();
        assert!(created);
        match VirtualCard::open(&path) {
            Err(CardError::Image(ImageError::Locked(_))) => {}
            other => panic!("second open of a new card: {other:?}"),
        }
    }
    let names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["new.img"]);
}
