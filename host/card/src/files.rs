//! Writing files that hold secrets or must never be half-written.

use std::fs::OpenOptions;
use std::io::Write;
#[cfg(unix)]
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::error::{Error, Result};

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Creates or replaces `path` atomically with mode 0600 (temporary file,
/// fsync, rename).
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    write_whole(path, bytes, true, true)
}

/// Writes `bytes` to `path` whole or not at all: a temporary file beside it
/// (mode 0600 when `private`), synced, then moved into place — renamed
/// over an existing file when `replace`, otherwise hard-linked, so that a
/// file that exists (or appeared meanwhile) is never replaced: then an
/// [`Error::Io`] of kind `AlreadyExists`. The temporary file is removed on
/// any failure.
pub fn write_whole(path: &Path, bytes: &[u8], private: bool, replace: bool) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = (|| {
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        if private {
            options.mode(0o600);
        }
        // Errors name the file asked for, not the temporary one.
        let mut f = options.open(&tmp).map_err(io(path))?;
        f.write_all(bytes).map_err(io(path))?;
        f.sync_all().map_err(io(path))?;
        if replace {
            return std::fs::rename(&tmp, path).map_err(io(path));
        }
        std::fs::hard_link(&tmp, path).map_err(io(path))?;
        std::fs::remove_file(&tmp).map_err(io(&tmp))
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Appends one line to `path` (created with mode 0600) and syncs it to disk
/// before returning.
pub fn append_private_line(path: &Path, line: &str) -> Result<()> {
    let mut options = OpenOptions::new();
    options.append(true).create(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut f = options.open(path).map_err(io(path))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(io(path))?;
    }
    // The line may hold PINs: the copy is wiped when dropped.
    let mut data = zeroize::Zeroizing::new(Vec::with_capacity(line.len() + 1));
    data.extend_from_slice(line.as_bytes());
    data.push(b'\n');
    f.write_all(&data).map_err(io(path))?;
    f.sync_all().map_err(io(path))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn whole_files_replace_only_when_asked_and_leave_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out");
        write_whole(&p, b"one", false, false).unwrap();
        let e = write_whole(&p, b"two", false, false).unwrap_err();
        assert!(
            matches!(&e, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::AlreadyExists),
            "{e}"
        );
        assert_eq!(std::fs::read(&p).unwrap(), b"one");
        write_whole(&p, b"two", false, true).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        write_private(&dir.path().join("key"), b"secret").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }
}
