//! The card's persistent image file and the file-backed [`Store`].
//!
//! Layout (all integers big-endian):
//!
//! | bytes | content |
//! | --- | --- |
//! | 8 | magic `ASANVCRD` |
//! | 2 | format version (1) |
//! | 4 | payload length |
//! | n | payload: the applet's record image ([`MemStore::image`]) |
//! | 32 | SHA-256 of everything before it |
//!
//! This frame (magic, version, length, payload, SHA-256) is the same in
//! every format version, so [`decode`] checks the checksum before the
//! version: a damaged version byte is damage, not another format.
//!
//! Every committed transaction rewrites the whole file atomically: a
//! temporary file beside it (mode 0600), fsync, rename over the image, fsync
//! of the directory. A kill at any moment leaves the old or the new image.
//! The path is resolved first (a symbolic link is followed, never replaced),
//! and the image file itself is locked (`flock` on its inode), so one image
//! is one card whatever name it is opened by. The file-system steps go
//! through [`ImageFs`], so tests can make each of them fail ([`FaultyFs`]).

mod fs;

use std::fmt;
use std::fs::{File, TryLockError};
use std::io;
use std::path::{Path, PathBuf};

pub use fs::{FaultyFs, FsStep, ImageFs, RealFs};

use asan_applet::store::{IMAGE_LEN, MemStore, RecordId, Store, StoreError};
use sha2::{Digest, Sha256};

/// Magic bytes at the start of an image.
pub const MAGIC: &[u8; 8] = b"ASANVCRD";
/// Image format version written by this build.
pub const FORMAT_VERSION: u16 = 1;
const HEADER_LEN: usize = 8 + 2 + 4;
const CHECKSUM_LEN: usize = 32;
/// Size of an image file.
pub const IMAGE_FILE_LEN: usize = HEADER_LEN + IMAGE_LEN + CHECKSUM_LEN;

/// Why an image cannot be used. The file is never replaced in these cases.
#[derive(Debug)]
pub enum ImageError {
    /// Reading, writing or locking the file failed.
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The cause.
        source: io::Error,
    },
    /// The file does not start with the image magic.
    NotAnImage(PathBuf),
    /// The image was written by a newer or unknown format.
    UnsupportedVersion(PathBuf, u16),
    /// The length fields do not match the file.
    WrongLength(PathBuf, usize),
    /// The checksum does not match: the file is damaged.
    ChecksumMismatch(PathBuf),
    /// The records inside do not decode.
    CorruptRecords(PathBuf),
    /// Another process serves this image.
    Locked(PathBuf),
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io {
                path,
                action,
                source,
            } => {
                write!(f, "cannot {action} {}: {source}", path.display())
            }
            Self::NotAnImage(p) => write!(
                f,
                "{} is not an asan-vcard image (bad magic); refusing to use or overwrite it",
                p.display()
            ),
            Self::UnsupportedVersion(p, v) => write!(
                f,
                "{} has image format version {v}, this build reads version {FORMAT_VERSION}; refusing to use it",
                p.display()
            ),
            Self::WrongLength(p, n) => write!(
                f,
                "{} is {n} bytes, an image is {IMAGE_FILE_LEN}: truncated or damaged; refusing to use it",
                p.display()
            ),
            Self::ChecksumMismatch(p) => write!(
                f,
                "{} fails its checksum: the image is damaged; refusing to use it (keep it for analysis, or delete it to start a fresh card)",
                p.display()
            ),
            Self::CorruptRecords(p) => write!(
                f,
                "{} has a valid checksum but its records do not decode; refusing to use it",
                p.display()
            ),
            Self::Locked(p) => write!(f, "{} is in use by another asan-vcard process", p.display()),
        }
    }
}

impl std::error::Error for ImageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

fn io_err<'a>(path: &'a Path, action: &'static str) -> impl FnOnce(io::Error) -> ImageError + 'a {
    move |source| ImageError::Io {
        path: path.to_path_buf(),
        action,
        source,
    }
}

/// Encodes a record image as an image file.
pub fn encode(records: &[u8; IMAGE_LEN]) -> Vec<u8> {
    let mut out = Vec::with_capacity(IMAGE_FILE_LEN);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
    out.extend_from_slice(&(IMAGE_LEN as u32).to_be_bytes());
    out.extend_from_slice(records);
    let sum = Sha256::digest(&out);
    out.extend_from_slice(&sum);
    out
}

/// Decodes and checks an image file's bytes.
///
/// The frame is the same in every format version: magic, version, payload
/// length, payload, and a SHA-256 over everything before it. So the checks
/// go from the frame inwards: magic, then the file's length against the
/// length field, then the checksum — which covers the version, so a damaged
/// version byte is reported as damage — and only then the version and the
/// records.
pub fn decode(path: &Path, bytes: &[u8]) -> Result<MemStore, ImageError> {
    let p = || path.to_path_buf();
    let Some((header, _)) = bytes.split_first_chunk::<HEADER_LEN>() else {
        return Err(ImageError::NotAnImage(p()));
    };
    let (magic, rest) = header.split_at(MAGIC.len());
    if magic != MAGIC {
        return Err(ImageError::NotAnImage(p()));
    }
    let (version, length) = rest.split_at(2);
    let version = u16::from_be_bytes([
        version.first().copied().unwrap_or(0),
        version.get(1).copied().unwrap_or(0),
    ]);
    let length = u32::from_be_bytes(length.try_into().map_err(|_| ImageError::NotAnImage(p()))?);
    let framed = usize::try_from(length)
        .ok()
        .and_then(|n| n.checked_add(HEADER_LEN + CHECKSUM_LEN));
    if framed != Some(bytes.len()) {
        return Err(ImageError::WrongLength(p(), bytes.len()));
    }
    let Some((body, sum)) = bytes.split_last_chunk::<CHECKSUM_LEN>() else {
        return Err(ImageError::WrongLength(p(), bytes.len()));
    };
    if Sha256::digest(body).as_slice() != sum {
        return Err(ImageError::ChecksumMismatch(p()));
    }
    if version != FORMAT_VERSION {
        return Err(ImageError::UnsupportedVersion(p(), version));
    }
    let payload = body
        .get(HEADER_LEN..)
        .filter(|payload| payload.len() == IMAGE_LEN)
        .ok_or_else(|| ImageError::WrongLength(p(), bytes.len()))?;
    MemStore::from_image(payload).map_err(|_| ImageError::CorruptRecords(p()))
}

/// Reads and checks an image file (without locking it).
pub fn load(path: &Path) -> Result<MemStore, ImageError> {
    let bytes = std::fs::read(path).map_err(io_err(path, "read"))?;
    decode(path, &bytes)
}

/// The file an image is written to before it is renamed over `target`.
fn temp_path(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "image".to_owned());
    target.with_file_name(format!(".{name}.tmp"))
}

/// The file an image path names, symbolic links resolved, so that every
/// name of one image is one card and the rename replaces the image, never
/// a link to it. An image that does not exist yet is created where its
/// name (or the link it is) points.
fn resolve(path: &Path) -> Result<PathBuf, ImageError> {
    let mut current = std::path::absolute(path).map_err(io_err(path, "resolve"))?;
    // As many links as the kernel follows (MAXSYMLINKS).
    for _ in 0..40 {
        match std::fs::canonicalize(&current) {
            Ok(resolved) => return Ok(resolved),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(path, "resolve")(e)),
        }
        // Absent, or a link to something absent: follow the link by hand,
        // or settle on the absent name in its (resolved) directory.
        match std::fs::read_link(&current) {
            Ok(next) => {
                current = match current.parent() {
                    Some(dir) => dir.join(next),
                    None => next,
                };
            }
            Err(_) => {
                let (Some(dir), Some(name)) = (current.parent(), current.file_name()) else {
                    return Err(io_err(path, "resolve")(io::ErrorKind::NotFound.into()));
                };
                let dir = std::fs::canonicalize(dir).map_err(io_err(path, "resolve"))?;
                return Ok(dir.join(name));
            }
        }
    }
    Err(io_err(path, "resolve")(io::Error::other(
        "too many levels of symbolic links",
    )))
}

/// Whether `file` is the inode that `path` names now (on Unix; elsewhere
/// there are no inode numbers to compare, and a path that exists is taken
/// to be the file).
fn is_at(file: &File, path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (file.metadata(), std::fs::metadata(path)) {
            (Ok(held), Ok(named)) => held.dev() == named.dev() && held.ino() == named.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        path.exists()
    }
}

/// Takes the image's lock: "in use" is [`ImageError::Locked`], any other
/// failure is reported as what it is.
fn lock(fs: &dyn ImageFs, file: &File, path: &Path) -> Result<(), ImageError> {
    match fs.try_lock(file) {
        Ok(()) => Ok(()),
        Err(TryLockError::WouldBlock) => Err(ImageError::Locked(path.to_path_buf())),
        Err(TryLockError::Error(e)) => Err(io_err(path, "lock")(e)),
    }
}

/// How a failed write left the image file.
enum WriteFailure {
    /// The file still holds the state before the commit.
    NotReplaced,
    /// The new image was renamed into place, but its directory could not be
    /// opened or synced: a restart loads the new state, an operating system
    /// crash might bring back the old one.
    NotDurable,
}

/// A [`Store`] whose committed state lives in an image file.
///
/// It wraps a [`MemStore`]; each successful commit is written to the file
/// before `commit` returns, so the card answers only after its state is on
/// disk. Memory and file always hold the same state: if the new image
/// could not be put in place, memory goes back to the state before and
/// the commit fails; if it was put in place but its directory could not be
/// synced, memory keeps the new state and the commit still fails (the
/// command answers `6F00`: its effect is in place but was not made durable).
///
/// The store holds an exclusive `flock` on the image file itself (its
/// inode, whatever name it was opened by), and moves it to each new image
/// before that is renamed into place, so a second process finds the image
/// locked under any of its names. No lock file is made.
pub struct FileStore {
    mem: MemStore,
    /// The path as given.
    path: PathBuf,
    /// The image file, symbolic links resolved.
    target: PathBuf,
    fs: Box<dyn ImageFs>,
    /// The locked file: the image, or, until the first commit creates the
    /// image, the temporary file that becomes it.
    lock: File,
    /// `lock` is the temporary file of an image not created yet.
    pending: bool,
}

impl fmt::Debug for FileStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileStore")
            .field("path", &self.path)
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

/// Attempts to find the image at rest: another process may be replacing it.
const OPEN_ATTEMPTS: usize = 16;

impl FileStore {
    /// Opens the image at `path`, or prepares a fresh card there if no file
    /// exists (the file appears at the first commit, which installing the
    /// applet makes at once). A file that exists but is not a valid image is
    /// refused. Holds an exclusive lock on the image while open.
    pub fn open_or_create(path: &Path) -> Result<(Self, bool), ImageError> {
        Self::open_or_create_with(path, Box::new(RealFs))
    }

    /// [`FileStore::open_or_create`] on the file system `fs` (tests inject
    /// failures with [`FaultyFs`]).
    pub fn open_or_create_with(
        path: &Path,
        fs: Box<dyn ImageFs>,
    ) -> Result<(Self, bool), ImageError> {
        let target = resolve(path)?;
        let tmp = temp_path(&target);
        for _ in 0..OPEN_ATTEMPTS {
            match fs.open(&target) {
                Ok(mut file) => {
                    lock(&*fs, &file, path)?;
                    // Replaced between the open and the lock: look again.
                    if !is_at(&file, &target) {
                        continue;
                    }
                    let bytes = fs.read_all(&mut file).map_err(io_err(path, "read"))?;
                    let mem = decode(path, &bytes)?;
                    return Ok((Self::new(mem, path, target, fs, file, false), false));
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    // A new card: its first image is written to this file,
                    // locked from now on, and renamed into place.
                    let file = fs.create(&tmp, false).map_err(io_err(&tmp, "create"))?;
                    lock(&*fs, &file, path)?;
                    let ours = is_at(&file, &tmp);
                    let appeared = target.try_exists().map_err(io_err(path, "inspect"))?;
                    if !ours || appeared {
                        // Another process made the image meanwhile.
                        if ours {
                            let _ = fs.remove_file(&tmp);
                        }
                        continue;
                    }
                    return Ok((
                        Self::new(MemStore::new(), path, target, fs, file, true),
                        true,
                    ));
                }
                Err(e) => return Err(io_err(path, "open")(e)),
            }
        }
        Err(io_err(path, "lock")(io::Error::other(
            "the image keeps being replaced by another process",
        )))
    }

    fn new(
        mem: MemStore,
        path: &Path,
        target: PathBuf,
        fs: Box<dyn ImageFs>,
        lock: File,
        pending: bool,
    ) -> Self {
        Self {
            mem,
            path: path.to_path_buf(),
            target,
            fs,
            lock,
            pending,
        }
    }

    /// The image file's path, as given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The image file itself: the path with symbolic links resolved.
    pub fn image_path(&self) -> &Path {
        &self.target
    }

    /// The committed records.
    pub fn records(&self) -> &[u8; IMAGE_LEN] {
        self.mem.image()
    }

    /// Writes `bytes` as the new image: temporary file (mode 0600, locked),
    /// fsync, rename over the image, fsync of the directory.
    fn write_image(&mut self, bytes: &[u8]) -> Result<(), WriteFailure> {
        let fs = &*self.fs;
        let tmp = temp_path(&self.target);
        let mut fresh = None;
        if !self.pending {
            // A temporary file left by a crash is not ours to keep.
            let _ = fs.remove_file(&tmp);
            let file = fs
                .create(&tmp, true)
                .map_err(|_| WriteFailure::NotReplaced)?;
            if fs.try_lock(&file).is_err() {
                let _ = fs.remove_file(&tmp);
                return Err(WriteFailure::NotReplaced);
            }
            fresh = Some(file);
        }
        let file = fresh.as_mut().unwrap_or(&mut self.lock);
        let written = fs
            .write_all(file, bytes)
            .and_then(|()| fs.sync_file(file))
            .and_then(|()| fs.rename(&tmp, &self.target));
        if written.is_err() {
            // A new card keeps its locked temporary file for the next try.
            if fresh.is_some() {
                let _ = fs.remove_file(&tmp);
            }
            return Err(WriteFailure::NotReplaced);
        }
        // The new image is in place, already locked: the old one's lock goes.
        if let Some(file) = fresh {
            self.lock = file;
        }
        self.pending = false;
        let dir = self.target.parent().unwrap_or(Path::new("."));
        fs.open_dir(dir)
            .and_then(|d| fs.sync_dir(&d))
            .map_err(|_| WriteFailure::NotDurable)
    }
}

impl Drop for FileStore {
    fn drop(&mut self) {
        // A card whose image was never written leaves nothing behind.
        let tmp = temp_path(&self.target);
        if self.pending && is_at(&self.lock, &tmp) {
            let _ = self.fs.remove_file(&tmp);
        }
    }
}

impl Store for FileStore {
    fn len(&self, id: RecordId) -> Result<usize, StoreError> {
        self.mem.len(id)
    }

    fn read(&self, id: RecordId, offset: usize, buf: &mut [u8]) -> Result<usize, StoreError> {
        self.mem.read(id, offset, buf)
    }

    fn begin(&mut self) -> Result<(), StoreError> {
        self.mem.begin()
    }

    fn write(&mut self, id: RecordId, data: &[u8]) -> Result<(), StoreError> {
        self.mem.write(id, data)
    }

    fn commit(&mut self) -> Result<(), StoreError> {
        let before = *self.mem.image();
        self.mem.commit()?;
        match self.write_image(&encode(self.mem.image())) {
            Ok(()) => Ok(()),
            Err(WriteFailure::NotReplaced) => {
                // The file holds the state before: so does memory again.
                self.mem = MemStore::from_image(&before)?;
                Err(StoreError::PowerLost)
            }
            // The file holds the new state: so does memory. The command
            // still fails, since its effect was not made durable.
            Err(WriteFailure::NotDurable) => Err(StoreError::PowerLost),
        }
    }

    fn abort(&mut self) {
        self.mem.abort();
    }
}
