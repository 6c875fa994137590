//! SCP03 key files for operators: the static key set (K-ENC, K-MAC, K-DEK)
//! and its version, in a small text format.
//!
//! ```text
//! # operator keys for batch 2026-11
//! kvn = 30
//! enc = 404142434445464748494A4B4C4D4E4F
//! mac = 404142434445464748494A4B4C4D4E4F
//! dek = 404142434445464748494A4B4C4D4E4F
//! ```

use std::path::Path;

use asan_applet::scp03::StaticKeys;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// A value and the line it is on.
type Entry<'a> = Option<(&'a str, usize)>;

fn key(path: &Path, name: &str, entry: Entry<'_>) -> Result<[u8; 16]> {
    let (v, line) =
        entry.ok_or_else(|| Error::Usage(format!("{}: no `{name} = …` line", path.display())))?;
    let at = format!("{}:{line}", path.display());
    let bytes = Zeroizing::new(
        hex::decode(v).map_err(|_| Error::Usage(format!("{at}: `{name}` is not hex")))?,
    );
    <[u8; 16]>::try_from(bytes.as_slice()).map_err(|_| {
        Error::Usage(format!(
            "{at}: `{name}` must be 16 bytes (AES-128), not {}",
            bytes.len()
        ))
    })
}

/// Parses the text of a key file.
pub fn parse(path: &Path, text: &str) -> Result<StaticKeys> {
    let mut kvn = None;
    let mut enc = None;
    let mut mac = None;
    let mut dek = None;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(Error::Usage(format!(
                "{}:{}: expected `name = hex`",
                path.display(),
                n + 1
            )));
        };
        let v = Some((v.trim(), n + 1));
        let slot = match k.trim().to_ascii_lowercase().as_str() {
            "kvn" => &mut kvn,
            "enc" => &mut enc,
            "mac" => &mut mac,
            "dek" => &mut dek,
            other => {
                return Err(Error::Usage(format!(
                    "{}:{}: unknown key `{other}`",
                    path.display(),
                    n + 1
                )));
            }
        };
        if slot.is_some() {
            return Err(Error::Usage(format!(
                "{}:{}: `{}` given twice",
                path.display(),
                n + 1,
                k.trim()
            )));
        }
        *slot = v;
    }
    let (kvn, line) =
        kvn.ok_or_else(|| Error::Usage(format!("{}: no `kvn = …` line", path.display())))?;
    let kvn = u8::from_str_radix(kvn, 16)
        .ok()
        .filter(|k| (1..=0x7F).contains(k))
        .ok_or_else(|| {
            Error::Usage(format!(
                "{}:{line}: `kvn` must be a hex byte 01–7F",
                path.display()
            ))
        })?;
    Ok(StaticKeys {
        enc: key(path, "enc", enc)?,
        mac: key(path, "mac", mac)?,
        dek: key(path, "dek", dek)?,
        kvn,
    })
}

/// Reads a key file.
pub fn load(path: &Path) -> Result<StaticKeys> {
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| Error::Io {
        path: path.display().to_string(),
        source: e,
    })?);
    parse(path, &text)
}

/// Writes a key file with mode 0600.
pub fn save(path: &Path, keys: &StaticKeys) -> Result<()> {
    let text = Zeroizing::new(format!(
        "# SCP03 static keys (keep secret)\nkvn = {:02X}\nenc = {}\nmac = {}\ndek = {}\n",
        keys.kvn,
        hex::encode_upper(keys.enc),
        hex::encode_upper(keys.mac),
        hex::encode_upper(keys.dek)
    ));
    crate::files::write_private(path, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses() {
        let p = Path::new("keys.txt");
        let k = parse(
            p,
            "# c\nkvn = 30\nenc = 404142434445464748494A4B4C4D4E4F\nmac=404142434445464748494a4b4c4d4e4f\ndek = 404142434445464748494A4B4C4D4E4F\n",
        );
        assert!(k.is_ok_and(|k| k == StaticKeys::default_test_keys()));
        for bad in [
            "kvn = 30\nenc = 00\nmac = 00\ndek = 00",
            "kvn = 80\nenc = 404142434445464748494A4B4C4D4E4F\nmac = 404142434445464748494A4B4C4D4E4F\ndek = 404142434445464748494A4B4C4D4E4F",
            "kvn = 30\nenc = 404142434445464748494A4B4C4D4E4F\nmac = 404142434445464748494A4B4C4D4E4F",
            "kvn: 30",
            "kvn = 30\nfoo = 1",
        ] {
            assert!(parse(p, bad).is_err(), "{bad}");
        }
    }
}
