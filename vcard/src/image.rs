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
//! Every committed transaction rewrites the whole file atomically: a
//! temporary file beside it (mode 0600), fsync, rename over the image, fsync
//! of the directory. A kill at any moment leaves the old or the new image.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
#[cfg(unix)]
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

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
pub fn decode(path: &Path, bytes: &[u8]) -> Result<MemStore, ImageError> {
    let p = || path.to_path_buf();
    let (header, rest) = bytes
        .split_first_chunk::<HEADER_LEN>()
        .ok_or_else(|| ImageError::NotAnImage(p()))?;
    let (magic, rest_header) = header.split_at(MAGIC.len());
    if magic != MAGIC {
        return Err(ImageError::NotAnImage(p()));
    }
    let (version, length) = rest_header.split_at(2);
    let version = u16::from_be_bytes(
        version
            .try_into()
            .map_err(|_| ImageError::NotAnImage(p()))?,
    );
    if version != FORMAT_VERSION {
        return Err(ImageError::UnsupportedVersion(p(), version));
    }
    let length = u32::from_be_bytes(length.try_into().map_err(|_| ImageError::NotAnImage(p()))?);
    if length as usize != IMAGE_LEN || bytes.len() != IMAGE_FILE_LEN {
        return Err(ImageError::WrongLength(p(), bytes.len()));
    }
    let (payload, sum) = rest.split_at(IMAGE_LEN);
    let body = bytes
        .get(..HEADER_LEN + IMAGE_LEN)
        .ok_or_else(|| ImageError::WrongLength(p(), bytes.len()))?;
    if Sha256::digest(body).as_slice() != sum {
        return Err(ImageError::ChecksumMismatch(p()));
    }
    MemStore::from_image(payload).map_err(|_| ImageError::CorruptRecords(p()))
}

/// Reads and checks an image file.
pub fn load(path: &Path) -> Result<MemStore, ImageError> {
    let bytes = fs::read(path).map_err(io_err(path, "read"))?;
    decode(path, &bytes)
}

/// Writes `bytes` to `path` atomically: temporary file (mode 0600), fsync,
/// rename, fsync of the directory.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ImageError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "image".to_owned());
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(&tmp).map_err(io_err(&tmp, "create"))?;
    file.write_all(bytes).map_err(io_err(&tmp, "write"))?;
    file.sync_all().map_err(io_err(&tmp, "sync"))?;
    drop(file);
    fs::rename(&tmp, path).map_err(io_err(path, "replace"))?;
    if let Ok(d) = File::open(&dir) {
        d.sync_all().map_err(io_err(&dir, "sync directory of"))?;
    }
    Ok(())
}

/// A [`Store`] whose committed state lives in an image file.
///
/// It wraps a [`MemStore`]; each successful commit is written to the file
/// before `commit` returns, so the card answers only after its state is on
/// disk. If the file cannot be written, the in-memory state is rolled back
/// and the command fails, so memory and file never disagree.
pub struct FileStore {
    mem: MemStore,
    path: PathBuf,
    _lock: File,
}

impl fmt::Debug for FileStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl FileStore {
    /// Opens the image at `path`, or prepares a fresh card there if no file
    /// exists (the file appears at the first commit, which installing the
    /// applet makes at once). A file that exists but is not a valid image is
    /// refused. Holds an exclusive lock (`<path>.lock`) while open.
    pub fn open_or_create(path: &Path) -> Result<(Self, bool), ImageError> {
        let lock_path = lock_path(path);
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(false);
        #[cfg(unix)]
        options.mode(0o600);
        let lock = options
            .open(&lock_path)
            .map_err(io_err(&lock_path, "create lock file"))?;
        if lock.try_lock().is_err() {
            return Err(ImageError::Locked(path.to_path_buf()));
        }
        let (mem, created) = match fs::metadata(path) {
            Ok(_) => (load(path)?, false),
            Err(e) if e.kind() == io::ErrorKind::NotFound => (MemStore::new(), true),
            Err(e) => return Err(io_err(path, "inspect")(e)),
        };
        Ok((
            Self {
                mem,
                path: path.to_path_buf(),
                _lock: lock,
            },
            created,
        ))
    }

    /// The image file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The committed records.
    pub fn records(&self) -> &[u8; IMAGE_LEN] {
        self.mem.image()
    }
}

fn lock_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".lock");
    PathBuf::from(s)
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
        if write_atomically(&self.path, &encode(self.mem.image())).is_err() {
            // The medium failed: go back to what the file holds.
            self.mem = MemStore::from_image(&before).map_err(|_| StoreError::PowerLost)?;
            return Err(StoreError::PowerLost);
        }
        Ok(())
    }

    fn abort(&mut self) {
        self.mem.abort();
    }
}
