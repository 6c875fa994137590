//! The file-system operations an image store makes, behind a trait, so
//! that tests can make any one of them fail ([`FaultyFs`]) and check what
//! the card and its file hold afterwards.

use std::fmt;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, SeekFrom, Write};
#[cfg(unix)]
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Mutex;

/// The file-system operations of [`FileStore`](super::FileStore), one
/// method per step. The default methods are the real operations, so
/// [`RealFs`] is the trait with nothing overridden.
pub trait ImageFs: Send + fmt::Debug {
    /// Opens an existing image for reading (the lock is taken on it).
    fn open(&self, path: &Path) -> io::Result<File> {
        File::open(path)
    }

    /// Opens or creates a file for writing, mode 0600, without truncating
    /// it; with `exclusive`, fails if it exists.
    fn create(&self, path: &Path, exclusive: bool) -> io::Result<File> {
        let mut options = OpenOptions::new();
        options.read(true).write(true);
        if exclusive {
            options.create_new(true);
        } else {
            options.create(true).truncate(false);
        }
        #[cfg(unix)]
        options.mode(0o600);
        options.open(path)
    }

    /// Takes the exclusive lock of the file's inode (`flock`) without
    /// waiting.
    fn try_lock(&self, file: &File) -> Result<(), TryLockError> {
        file.try_lock()
    }

    /// Reads the whole file from its start.
    fn read_all(&self, file: &mut File) -> io::Result<Vec<u8>> {
        file.seek(SeekFrom::Start(0))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    /// Replaces the file's content with `bytes`.
    fn write_all(&self, file: &mut File, bytes: &[u8]) -> io::Result<()> {
        file.set_len(0)?;
        file.seek(SeekFrom::Start(0))?;
        file.write_all(bytes)?;
        file.flush()
    }

    /// Makes the file's content durable (`fsync`).
    fn sync_file(&self, file: &File) -> io::Result<()> {
        file.sync_all()
    }

    /// Renames `from` over `to` (atomic).
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    /// Opens a directory so that it can be synced.
    fn open_dir(&self, dir: &Path) -> io::Result<File> {
        File::open(dir)
    }

    /// Makes a directory's entries durable (`fsync` of the directory).
    fn sync_dir(&self, dir: &File) -> io::Result<()> {
        dir.sync_all()
    }

    /// Removes a file.
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }
}

/// The operating system's file system.
#[derive(Clone, Copy, Debug, Default)]
pub struct RealFs;

impl ImageFs for RealFs {}

/// A step of [`ImageFs`], for [`FaultyFs`] to fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsStep {
    /// [`ImageFs::open`].
    Open,
    /// [`ImageFs::create`].
    Create,
    /// [`ImageFs::try_lock`].
    Lock,
    /// [`ImageFs::read_all`].
    Read,
    /// [`ImageFs::write_all`].
    Write,
    /// [`ImageFs::sync_file`].
    SyncFile,
    /// [`ImageFs::rename`].
    Rename,
    /// [`ImageFs::open_dir`].
    OpenDir,
    /// [`ImageFs::sync_dir`].
    SyncDir,
}

/// The real file system, except that one step fails: the `skip + 1`-th call
/// of `step` and every later one answer an error of `kind` (for tests: a
/// full disk, a directory that cannot be opened, a lock the kernel refuses).
#[derive(Debug)]
pub struct FaultyFs {
    step: FsStep,
    kind: io::ErrorKind,
    /// Calls of `step` still allowed to succeed.
    remaining: Mutex<usize>,
}

impl FaultyFs {
    /// Fails `step` with an error of `kind` after `skip` successful calls.
    pub fn new(step: FsStep, skip: usize, kind: io::ErrorKind) -> Self {
        Self {
            step,
            kind,
            remaining: Mutex::new(skip),
        }
    }

    fn check(&self, step: FsStep) -> io::Result<()> {
        if step != self.step {
            return Ok(());
        }
        let mut remaining = self
            .remaining
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match remaining.checked_sub(1) {
            Some(left) => {
                *remaining = left;
                Ok(())
            }
            None => Err(io::Error::new(
                self.kind,
                format!("injected {step:?} failure"),
            )),
        }
    }
}

impl ImageFs for FaultyFs {
    fn open(&self, path: &Path) -> io::Result<File> {
        self.check(FsStep::Open)?;
        RealFs.open(path)
    }

    fn create(&self, path: &Path, exclusive: bool) -> io::Result<File> {
        self.check(FsStep::Create)?;
        RealFs.create(path, exclusive)
    }

    fn try_lock(&self, file: &File) -> Result<(), TryLockError> {
        self.check(FsStep::Lock).map_err(TryLockError::Error)?;
        RealFs.try_lock(file)
    }

    fn read_all(&self, file: &mut File) -> io::Result<Vec<u8>> {
        self.check(FsStep::Read)?;
        RealFs.read_all(file)
    }

    fn write_all(&self, file: &mut File, bytes: &[u8]) -> io::Result<()> {
        self.check(FsStep::Write)?;
        RealFs.write_all(file, bytes)
    }

    fn sync_file(&self, file: &File) -> io::Result<()> {
        self.check(FsStep::SyncFile)?;
        RealFs.sync_file(file)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.check(FsStep::Rename)?;
        RealFs.rename(from, to)
    }

    fn open_dir(&self, dir: &Path) -> io::Result<File> {
        self.check(FsStep::OpenDir)?;
        RealFs.open_dir(dir)
    }

    fn sync_dir(&self, dir: &File) -> io::Result<()> {
        self.check(FsStep::SyncDir)?;
        RealFs.sync_dir(dir)
    }
}
