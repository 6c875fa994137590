//! The image store under file-system failures ([`FaultyFs`]): whatever step
//! of a commit fails, the running card and its file hold the same state —
//! the one before when the new image could not be put in place, the new
//! one when it was but its directory could not be synced — so a restart
//! never changes what the card answers. Lock failures other than "in use"
//! are reported as what they are.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io;
use std::path::Path;

use asan_applet::PinRef;
use asan_vcard::image::{self, FaultyFs, FileStore, FsStep};
use asan_vcard::{CardError, ImageError, VirtualCard};
use common::*;

const SELECT: &[u8] = &[
    0x00, 0xA4, 0x04, 0x0C, 0x0A, 0xF0, 0x41, 0x53, 0x41, 0x4E, 0x49, 0x4D, 0x5A, 0x41, 0x01,
];
/// GET DATA `C4`: the PINs' tries (changes with every comparison).
const TRIES: &[u8] = &[0x00, 0xCA, 0x00, 0xC4, 0x00];

/// A personalised, operational card image at `path`.
fn personalised(path: &Path) {
    let (mut card, _) = VirtualCard::open(path).unwrap();
    card.power_on();
    let mut tx = |c: &[u8]| -> io::Result<Vec<u8>> {
        card.transmit(c)
            .map_err(|e| io::Error::other(e.to_string()))
    };
    personalise(&mut tx).unwrap();
}

fn open_faulty(path: &Path, fs: FaultyFs) -> VirtualCard<FileStore> {
    let (store, created) = FileStore::open_or_create_with(path, Box::new(fs)).unwrap();
    assert!(!created);
    let mut card = VirtualCard::with_store(store).unwrap();
    card.power_on();
    assert_eq!(card.transmit(SELECT).unwrap(), [0x90, 0x00]);
    card
}

fn change_pin1(old: &[u8], new: &[u8]) -> Vec<u8> {
    [
        vec![0x00, 0x24, 0x00, 0x81, 0x10],
        block(PinRef::Pin1, old),
        block(PinRef::Pin1, new),
    ]
    .concat()
}

fn verify_pin1(pin: &[u8]) -> Vec<u8> {
    [vec![0x00, 0x20, 0x00, 0x81, 0x08], block(PinRef::Pin1, pin)].concat()
}

/// What a restarted card answers: which PIN1 value it takes, and its tries.
fn after_restart(path: &Path) -> (Vec<u8>, &'static [u8]) {
    let (mut card, _) = VirtualCard::open(path).unwrap();
    card.power_on();
    card.transmit(SELECT).unwrap();
    let tries = card.transmit(TRIES).unwrap();
    let pin = if sw(&card.transmit(&verify_pin1(b"4321")).unwrap()) == 0x9000 {
        b"4321".as_slice()
    } else {
        assert_eq!(sw(&card.transmit(&verify_pin1(PIN1)).unwrap()), 0x9000);
        PIN1
    };
    (tries, pin)
}

/// CHANGE REFERENCE DATA of PIN1 whose second transaction (the new value
/// with the restored counter) meets a failure of `step`.
fn change_with_failure(step: FsStep) -> (VirtualCard<FileStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("card.img");
    personalised(&path);
    // Opening takes the lock once; the first transaction of the command
    // (the spent try) succeeds; its second one fails.
    let skip = if step == FsStep::Lock { 2 } else { 1 };
    let mut card = open_faulty(&path, FaultyFs::new(step, skip, io::ErrorKind::Other));
    let answer = card.transmit(&change_pin1(PIN1, b"4321")).unwrap();
    assert_eq!(sw(&answer), 0x6F00, "{step:?}: the command fails");
    (card, dir)
}

#[test]
fn a_write_that_fails_before_the_rename_leaves_both_at_the_state_before() {
    for step in [
        FsStep::Create,
        FsStep::Lock,
        FsStep::Write,
        FsStep::SyncFile,
        FsStep::Rename,
    ] {
        let (mut card, dir) = change_with_failure(step);
        let path = dir.path().join("card.img");
        let on_disk = image::load(&path).unwrap();
        assert!(
            card.store().records() == on_disk.image(),
            "{step:?}: memory and file disagree"
        );
        let tries = card.transmit(TRIES).unwrap();
        drop(card);
        let (restarted_tries, pin) = after_restart(&path);
        assert_eq!(
            tries, restarted_tries,
            "{step:?}: a restart changes nothing"
        );
        assert_eq!(pin, PIN1, "{step:?}: the old PIN1 stays");
        // The spent try of the first transaction is on disk (PIN1: 2 tries of 3).
        assert_eq!(&tries[2..6], &[0x81, 0x02, 0x03, 0x01], "{step:?}");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "{step:?}: no temporary file left");
    }
}

#[test]
fn a_directory_that_cannot_be_synced_keeps_the_new_state_and_fails_the_command() {
    for step in [FsStep::SyncDir, FsStep::OpenDir] {
        let (mut card, dir) = change_with_failure(step);
        let path = dir.path().join("card.img");
        let on_disk = image::load(&path).unwrap();
        assert!(
            card.store().records() == on_disk.image(),
            "{step:?}: memory and file disagree"
        );
        let tries = card.transmit(TRIES).unwrap();
        // The new PIN1 is in effect now, in the running card: the operator
        // sees it take effect now, not only after a restart.
        assert_eq!(&tries[2..6], &[0x81, 0x03, 0x03, 0x01], "{step:?}");
        drop(card);
        let (restarted_tries, pin) = after_restart(&path);
        assert_eq!(
            tries, restarted_tries,
            "{step:?}: a restart changes nothing"
        );
        assert_eq!(pin, b"4321", "{step:?}");
    }
}

#[test]
fn the_first_image_of_a_new_card_fails_cleanly() {
    for step in [FsStep::Write, FsStep::SyncFile, FsStep::Rename] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.img");
        let fs = FaultyFs::new(step, 0, io::ErrorKind::StorageFull);
        let (store, created) = FileStore::open_or_create_with(&path, Box::new(fs)).unwrap();
        assert!(created);
        assert!(
            matches!(VirtualCard::with_store(store), Err(CardError::Store(_))),
            "{step:?}"
        );
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(names.is_empty(), "{step:?}: nothing left behind: {names:?}");
        // The next start makes the card.
        let (_, created) = VirtualCard::open(&path).unwrap();
        assert!(created);
        image::load(&path).unwrap();
    }
}

#[test]
fn lock_and_open_failures_are_reported_as_what_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("card.img");
    drop(VirtualCard::open(&path).unwrap());
    let fs = FaultyFs::new(FsStep::Lock, 0, io::ErrorKind::Unsupported);
    match FileStore::open_or_create_with(&path, Box::new(fs)) {
        Err(e @ ImageError::Io { .. }) => {
            let ImageError::Io { action, source, .. } = &e else {
                unreachable!()
            };
            assert_eq!(*action, "lock");
            assert_eq!(source.kind(), io::ErrorKind::Unsupported);
            let cause = std::error::Error::source(&e).map(ToString::to_string);
            assert!(
                cause.is_some_and(|c| c.contains("injected Lock failure")),
                "{e}"
            );
        }
        other => panic!("a lock the kernel refuses is not 'in use': {other:?}"),
    }
    let fs = FaultyFs::new(FsStep::Open, 0, io::ErrorKind::PermissionDenied);
    match FileStore::open_or_create_with(&path, Box::new(fs)) {
        Err(e @ ImageError::Io { action: "open", .. }) => {
            assert!(e.to_string().contains("cannot open"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    let fs = FaultyFs::new(FsStep::Read, 0, io::ErrorKind::Other);
    assert!(matches!(
        FileStore::open_or_create_with(&path, Box::new(fs)),
        Err(ImageError::Io { action: "read", .. })
    ));
    // The real lock still works: the image was released each time.
    let (_store, _) = FileStore::open_or_create(&path).unwrap();
    assert!(matches!(
        FileStore::open_or_create(&path),
        Err(ImageError::Locked(_))
    ));
}

/// The real file system, with something done by "another process" just
/// before the first lock is taken.
struct Racing {
    before_lock: std::sync::Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl std::fmt::Debug for Racing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Racing")
    }
}

impl image::ImageFs for Racing {
    fn try_lock(&self, file: &std::fs::File) -> Result<(), std::fs::TryLockError> {
        if let Some(race) = self.before_lock.lock().unwrap().take() {
            race();
        }
        file.try_lock()
    }
}

fn racing(race: impl FnOnce() + Send + 'static) -> Box<Racing> {
    Box::new(Racing {
        before_lock: std::sync::Mutex::new(Some(Box::new(race))),
    })
}

/// A valid image of a fresh card with another serial than `path`'s.
fn other_image(dir: &Path) -> Vec<u8> {
    let other = dir.join("other.img");
    drop(VirtualCard::open(&other).unwrap());
    let bytes = std::fs::read(&other).unwrap();
    std::fs::remove_file(&other).unwrap();
    bytes
}

#[test]
fn an_image_replaced_before_the_lock_is_looked_at_again() {
    // Another process renames a new image over ours between our open and
    // our lock: the file we opened is no longer the image, so we open again
    // and load the new one.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("card.img");
    drop(VirtualCard::open(&path).unwrap());
    let newer = other_image(dir.path());
    let (target, bytes) = (path.clone(), newer.clone());
    let fs = racing(move || {
        let tmp = target.with_file_name(".card.img.tmp");
        std::fs::write(&tmp, &bytes).unwrap();
        std::fs::rename(&tmp, &target).unwrap();
    });
    let (store, created) = FileStore::open_or_create_with(&path, fs).unwrap();
    assert!(!created);
    let expected = image::decode(&path, &newer).unwrap();
    assert!(
        store.records() == expected.image(),
        "the image as it is now"
    );
}

#[test]
fn a_card_created_meanwhile_by_another_process_is_loaded_not_replaced() {
    // No image when we look; another process creates it while we take the
    // lock of our temporary file: we load its card instead of making one.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("card.img");
    let made = other_image(dir.path());
    let (target, bytes) = (path.clone(), made.clone());
    let fs = racing(move || std::fs::write(&target, &bytes).unwrap());
    let (store, created) = FileStore::open_or_create_with(&path, fs).unwrap();
    assert!(!created, "the other process's card is used");
    assert!(store.records() == image::decode(&path, &made).unwrap().image());
    drop(store);
    assert_eq!(std::fs::read(&path).unwrap(), made, "and left as it is");
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(names.len(), 1, "our temporary file is gone: {names:?}");
}

#[test]
fn a_new_card_given_up_removes_only_its_own_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("card.img");
    let tmp = dir.path().join(".card.img.tmp");
    // Given up before its first image: its temporary file goes.
    let (store, created) = FileStore::open_or_create(&path).unwrap();
    assert!(created && tmp.exists());
    drop(store);
    assert!(!tmp.exists());
    // Another file has taken the temporary name meanwhile: it stays.
    let (store, _) = FileStore::open_or_create(&path).unwrap();
    std::fs::write(dir.path().join("theirs"), b"theirs").unwrap();
    std::fs::rename(dir.path().join("theirs"), &tmp).unwrap();
    drop(store);
    assert_eq!(std::fs::read(&tmp).unwrap(), b"theirs");
}

#[test]
fn an_aborted_transaction_leaves_the_store_usable() {
    use asan_applet::store::{RecordId, Store};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("card.img");
    drop(VirtualCard::open(&path).unwrap());
    let (mut store, _) = FileStore::open_or_create(&path).unwrap();
    let serial = store.len(RecordId::Serial).unwrap();
    store.begin().unwrap();
    store.write(RecordId::Serial, &[1, 2, 3]).unwrap();
    store.abort();
    assert_eq!(store.len(RecordId::Serial), Ok(serial), "the write is gone");
    store.begin().unwrap();
    store.write(RecordId::Service, &[1, 1]).unwrap();
    store.commit().unwrap();
    assert_eq!(
        image::load(&path).unwrap().len(RecordId::Service),
        Ok(2),
        "the next transaction commits"
    );
    let shown = format!("{store:?}");
    assert!(
        shown.starts_with("FileStore { path: ") && shown.contains("card.img"),
        "{shown}"
    );
}

#[test]
fn an_image_under_a_file_is_refused_where_it_fails() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain");
    std::fs::write(&file, b"x").unwrap();
    match FileStore::open_or_create(&file.join("card.img")) {
        Err(
            e @ ImageError::Io {
                action: "resolve", ..
            },
        ) => {
            let source = std::error::Error::source(&e).map(ToString::to_string);
            assert!(source.is_some_and(|s| s.contains("directory")), "{e}");
        }
        other => panic!("{other:?}"),
    }
}
