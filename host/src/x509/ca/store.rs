//! Files in the CA directory: new files that never replace one, atomic
//! replacement (a reader sees the old file or the new one, never half of
//! one), and the lock that serialises changes to the revocation register.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The lock file that serialises revocations and CRL numbers.
const LOCK_FILE: &str = ".lock";

/// An [`Error::Io`] for `path`.
pub(crate) fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Options that create a file with mode 0600 (`private`) or 0644.
fn create_options(private: bool) -> OpenOptions {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = private;
    options
}

/// Writes a new file (never replaces one); `private` files get mode 0600.
pub(crate) fn write_new(path: &Path, contents: &[u8], private: bool) -> Result<()> {
    let mut file = create_options(private).open(path).map_err(io_error(path))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(io_error(path))
}

/// The directory a file is in (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Makes a rename in `dir` durable.
fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error(dir))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// A file written and synced under a temporary name beside its
/// destination; [`StagedFile::commit`] renames it into place. Dropped
/// without a commit, the temporary file is removed and the destination is
/// untouched.
pub(crate) struct StagedFile {
    temp: PathBuf,
    path: PathBuf,
    committed: bool,
}

impl StagedFile {
    /// Writes `contents` to a new temporary file in `path`'s directory and
    /// syncs it. Fails (with nothing left behind) when the directory does not
    /// exist or cannot be written.
    pub(crate) fn write(path: &Path, contents: &[u8]) -> Result<Self> {
        Self::write_with_mode(path, contents, false)
    }

    /// [`StagedFile::write`] with mode 0600 when `private`.
    pub(crate) fn write_with_mode(path: &Path, contents: &[u8], private: bool) -> Result<Self> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| Error::Usage(format!("{} is not a file name", path.display())))?;
        let mut nonce = [0u8; 8];
        crate::x509::random_bytes(&mut nonce)?;
        let temp = parent_dir(path).join(format!(".{name}.{}.tmp", hex::encode(nonce)));
        let mut file = create_options(private)
            .open(&temp)
            .map_err(|source| Error::Io {
                path: path.display().to_string(),
                source,
            })?;
        let staged = Self {
            temp,
            path: path.to_path_buf(),
            committed: false,
        };
        file.write_all(contents)
            .and_then(|()| file.sync_all())
            .map_err(io_error(&staged.temp))?;
        Ok(staged)
    }

    /// Renames the temporary file over the destination and syncs the
    /// directory.
    pub(crate) fn commit(mut self) -> Result<()> {
        std::fs::rename(&self.temp, &self.path).map_err(io_error(&self.path))?;
        self.committed = true;
        sync_dir(parent_dir(&self.path))
    }
}

impl Drop for StagedFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// Creates or replaces `path` atomically: temporary file in the same
/// directory, write, fsync, rename, fsync the directory.
pub(crate) fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    StagedFile::write(path, contents)?.commit()
}

/// [`write_atomic`] for a file that holds secrets: mode 0600.
pub(crate) fn write_atomic_private(path: &Path, contents: &[u8]) -> Result<()> {
    StagedFile::write_with_mode(path, contents, true)?.commit()
}

/// Makes a new directory entry in `dir` (a file created, renamed or
/// removed) durable.
pub(crate) fn sync_directory(dir: &Path) -> Result<()> {
    sync_dir(dir)
}

/// An exclusive lock on the CA directory's lock file, released when
/// dropped. Held while the revocation register is read, changed and
/// written, so two `asan ca` processes never lose each other's revocations
/// or hand out one CRL number twice.
pub(crate) struct DirLock {
    _file: File,
}

impl DirLock {
    /// Waits for the lock on `dir`.
    pub(crate) fn acquire(dir: &Path) -> Result<Self> {
        Self::acquire_file(dir, LOCK_FILE)
    }

    /// Waits for the lock of the lock file `name` in `dir`.
    pub(crate) fn acquire_file(dir: &Path, name: &str) -> Result<Self> {
        let path = dir.join(name);
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_error(&path))?;
        file.lock().map_err(io_error(&path))?;
        Ok(Self { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["f.json"]);
    }

    #[test]
    fn an_uncommitted_file_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.crl");
        drop(StagedFile::write(&path, b"x").unwrap());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        let e = StagedFile::write(&dir.path().join("missing/f.crl"), b"x").err();
        assert!(
            matches!(&e, Some(Error::Io { path, .. }) if path.ends_with("missing/f.crl")),
            "{e:?}"
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
