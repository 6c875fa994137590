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
//!
//! Key files hold secrets: [`load`] refuses one that its group or others
//! may read (or write), and [`save`] creates them with mode 0600.
//!
//! # Per-card keys
//!
//! A *master* key set (a key file in the same format) gives every card its
//! own key set with [`derive`]: NIST SP 800-108 key derivation in counter
//! mode with AES-CMAC as the PRF (the construction SCP03 uses for its
//! session keys), one 128-bit output per key:
//!
//! ```text
//! K-ENC = AES-CMAC(master K-ENC, 01 || "ASAN-IMZA SCP03 K-ENC" || 00 || serial || 0080)
//! K-MAC = AES-CMAC(master K-MAC, 01 || "ASAN-IMZA SCP03 K-MAC" || 00 || serial || 0080)
//! K-DEK = AES-CMAC(master K-DEK, 01 || "ASAN-IMZA SCP03 K-DEK" || 00 || serial || 0080)
//! KVN   = the master key set's kvn
//! ```
//!
//! `01` is the 8-bit counter i (one block), the label is ASCII, `00` the
//! separator, the context the card serial in ASCII exactly as the card
//! reports it (16 upper-case hex digits; GET DATA, `asan info`), and `0080` the output length L in
//! bits (16 bits, big-endian).

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
            // Never echoed: a swapped line puts a key where the name goes.
            _ => {
                return Err(Error::Usage(format!(
                    "{}:{}: unknown entry (expected kvn, enc, mac, dek)",
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
    // Exactly two hex digits (`from_str_radix` alone takes `+31`, `031`).
    let kvn = Some(kvn)
        .filter(|k| k.len() == 2 && k.bytes().all(|b| b.is_ascii_hexdigit()))
        .and_then(|k| u8::from_str_radix(k, 16).ok())
        .filter(|k| (1..=0x7F).contains(k))
        .ok_or_else(|| {
            Error::Usage(format!(
                "{}:{line}: `kvn` must be two hex digits, 01–7F",
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

/// The label of each derived key ([`derive`]).
pub const LABELS: [&[u8]; 3] = [
    b"ASAN-IMZA SCP03 K-ENC",
    b"ASAN-IMZA SCP03 K-MAC",
    b"ASAN-IMZA SCP03 K-DEK",
];

/// The length of a card serial in hex digits (8 bytes; GET DATA,
/// [`crate::info`]).
pub const SERIAL_DIGITS: usize = 16;

/// Checks a card serial used as KDF context: exactly as a card reports it,
/// 16 upper-case hex digits (the KDF is case-sensitive).
pub fn check_serial(serial: &str) -> Result<()> {
    if serial.len() != SERIAL_DIGITS
        || !serial
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
    {
        return Err(bad_serial(serial));
    }
    Ok(())
}

fn bad_serial(serial: &str) -> Error {
    // A few characters at most: whatever was typed is not echoed at length.
    let shown: String = serial.chars().take(24).collect();
    let more = if shown.len() < serial.len() {
        "…"
    } else {
        ""
    };
    Error::Usage(format!(
        "card serial `{}{more}` must be {SERIAL_DIGITS} hex digits, as `asan info` shows it (e.g. 8994000012345678)",
        shown.escape_debug()
    ))
}

/// A card serial as an operator typed it: 16 hex digits in either case,
/// returned in upper case as the card reports it (and as [`derive`] takes
/// it); anything else is refused with an [`Error::Usage`].
pub fn card_serial(serial: &str) -> Result<String> {
    if serial.len() != SERIAL_DIGITS || !serial.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad_serial(serial));
    }
    Ok(serial.to_ascii_uppercase())
}

/// One card's key set from the master key set and the card serial (see the
/// module documentation for the KDF).
pub fn derive(master: &StaticKeys, serial: &str) -> Result<StaticKeys> {
    use asan_applet::scp03::crypto::cmac;
    check_serial(serial)?;
    let one = |key: &[u8; 16], label: &[u8]| {
        cmac(
            key,
            &[&[0x01], label, &[0x00], serial.as_bytes(), &[0x00, 0x80]],
        )
    };
    let [enc, mac, dek] = LABELS;
    Ok(StaticKeys {
        enc: one(&master.enc, enc),
        mac: one(&master.mac, mac),
        dek: one(&master.dek, dek),
        kvn: master.kvn,
    })
}

/// Refuses a key file its group or others may read or write.
fn check_private(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path).map_err(|e| Error::Io {
            path: path.display().to_string(),
            source: e,
        })?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(Error::Usage(format!(
                "{}: key file is readable by others (mode {mode:03o}); it holds secret keys: chmod 600 it",
                path.display()
            )));
        }
    }
    Ok(())
}

/// Reads a key file (refused unless only its owner may read it).
pub fn load(path: &Path) -> Result<StaticKeys> {
    check_private(path)?;
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| Error::Io {
        path: path.display().to_string(),
        source: e,
    })?);
    parse(path, &text)
}

/// Writes a key file with mode 0600, replacing one that exists.
pub fn save(path: &Path, keys: &StaticKeys) -> Result<()> {
    save_as(path, keys, true)
}

/// Writes a key file with mode 0600, whole or not at all; an existing
/// `path` is replaced only when `replace` (otherwise an [`Error::Io`] of
/// kind `AlreadyExists`, the file untouched: see
/// [`crate::files::write_whole`]).
pub fn save_as(path: &Path, keys: &StaticKeys, replace: bool) -> Result<()> {
    let text = Zeroizing::new(format!(
        "# SCP03 static keys (keep secret)\nkvn = {:02X}\nenc = {}\nmac = {}\ndek = {}\n",
        keys.kvn,
        hex::encode_upper(keys.enc),
        hex::encode_upper(keys.mac),
        hex::encode_upper(keys.dek)
    ));
    crate::files::write_whole(path, text.as_bytes(), true, replace)
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
        // Errors name the line, counted from 1.
        for (bad, says) in [
            ("# c\nkvn: 30", "keys.txt:2: expected `name = hex`"),
            (
                "kvn = 30\n\nfoo = 1",
                "keys.txt:3: unknown entry (expected kvn, enc, mac, dek)",
            ),
            ("kvn = 30\nkvn = 31", "keys.txt:2: `kvn` given twice"),
            ("kvn = 30\nenc = 00", "keys.txt:2: `enc` must be 16 bytes"),
        ] {
            let e = parse(p, bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn an_unknown_or_malformed_entry_is_never_echoed() {
        let p = Path::new("k");
        let keys = "enc = 000102030405060708090A0B0C0D0E0F\nmac = 101112131415161718191A1B1C1D1E1F\ndek = 202122232425262728292A2B2C2D2E2F\n";
        // A swapped line: the key where the name goes.
        let secret = "404142434445464748494A4B4C4D4E4F";
        for text in [
            format!("kvn = 31\n{secret} = enc\n{keys}"),
            format!("kvn = 31\n{secret}=\n{keys}"),
            format!("kvn = 31\n {secret} \n{keys}"),
        ] {
            let e = parse(p, &text).unwrap_err().to_string();
            assert!(!e.contains("4041424344"), "{e}");
            assert!(e.contains("line 2") || e.starts_with("k:2: "), "{e}");
        }
        let e = parse(p, &format!("kvn = 31\n{secret} = enc\n{keys}"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("k:2: unknown entry (expected kvn, enc, mac, dek)"),
            "{e}"
        );
    }

    #[test]
    fn the_key_version_is_exactly_two_hex_digits() {
        let p = Path::new("k");
        let keys = "enc = 000102030405060708090A0B0C0D0E0F\nmac = 101112131415161718191A1B1C1D1E1F\ndek = 202122232425262728292A2B2C2D2E2F\n";
        for kvn in ["+31", "031", "0031", "3", "+3", "-1", " 3 1"] {
            let r = parse(p, &format!("kvn = {kvn}\n{keys}"));
            assert!(
                r.as_ref()
                    .is_err_and(|e| e.to_string().contains("two hex digits")),
                "kvn = {kvn}: {:?}",
                r.map(|k| k.kvn)
            );
        }
        for (kvn, is) in [("31", 0x31), ("7f", 0x7F), ("01", 0x01)] {
            assert_eq!(parse(p, &format!("kvn = {kvn}\n{keys}")).unwrap().kvn, is);
        }
    }

    #[test]
    fn derivation_is_the_documented_kdf_and_differs_per_card_and_key() {
        use asan_applet::scp03::crypto::cmac;
        let master = StaticKeys::default_test_keys();
        let a = derive(&master, "0011223344556677").unwrap();
        let b = derive(&master, "0011223344556678").unwrap();
        assert_ne!(a.enc, b.enc);
        assert_ne!(a.mac, b.mac);
        assert_ne!(a.dek, b.dek);
        // Same master key, different labels: different keys.
        assert_ne!(a.enc, a.mac);
        assert_ne!(a.mac, a.dek);
        assert_eq!(a.kvn, master.kvn);
        // The construction, spelt out byte by byte.
        let mut input = vec![0x01];
        input.extend_from_slice(b"ASAN-IMZA SCP03 K-MAC");
        input.push(0);
        input.extend_from_slice(b"0011223344556677");
        input.extend_from_slice(&[0x00, 0x80]);
        assert_eq!(a.mac, cmac(&master.mac, &[&input]));
        // A fixed vector, so the KDF never changes by accident.
        assert_eq!(
            hex::encode_upper(a.enc),
            hex::encode_upper(cmac(
                &master.enc,
                &[b"\x01ASAN-IMZA SCP03 K-ENC\x000011223344556677\x00\x80"]
            ))
        );
        // Only a serial as a card reports it: 16 upper-case hex digits.
        for bad in [
            "",
            "1",
            "Z",
            "00 11",
            "x/y",
            "00112233aabbccdd",
            "00112233AABBCCD",
            "00112233AABBCCDD0",
            "00112233AABBCCDG",
            &"1".repeat(64),
        ] {
            assert!(derive(&master, bad).is_err(), "{bad}");
        }
        assert!(derive(&master, "00112233AABBCCDD").is_ok());
    }

    #[test]
    fn a_serial_typed_in_either_case_is_the_card_serial_and_nothing_else_is() {
        assert_eq!(card_serial("00112233aabbccdd").unwrap(), "00112233AABBCCDD");
        assert_eq!(card_serial("00112233AaBbCcDd").unwrap(), "00112233AABBCCDD");
        let master = StaticKeys::default_test_keys();
        assert!(
            derive(&master, &card_serial("00112233aabbccdd").unwrap()).unwrap()
                == derive(&master, "00112233AABBCCDD").unwrap()
        );
        for bad in [
            "",
            "1",
            "12 34",
            "00112233AABBCCD",
            "00112233AABBCCDD0",
            "0x112233AABBCCDD",
            "+0112233AABBCCDD",
            "00112233AABBCCDĞ",
        ] {
            let e = card_serial(bad).unwrap_err();
            assert!(matches!(e, Error::Usage(_)), "{bad}: {e}");
            assert!(e.to_string().contains("16 hex digits"), "{bad}: {e}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn key_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.keys");
        save(&path, &StaticKeys::default_test_keys()).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(load(&path).is_ok_and(|k| k == StaticKeys::default_test_keys()));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = load(&path).unwrap_err().to_string();
        assert!(e.contains("readable by others"), "{e}");
    }
}
