//! `asan keys derive` (issue 17): JSON, where the key file goes, the serial
//! a card reports, and the KDF checked against OpenSSL's AES-CMAC.

use crate::lab::Lab;
use crate::master_keys::{MASTER, MASTER2, master};

#[test]
fn keys_derive_json_prints_the_key_set_or_only_where_it_was_written() {
    let lab = Lab::new();
    lab.write_keys("master.keys", MASTER);
    let derive = [
        "--json",
        "keys",
        "derive",
        "--master-keys",
        "master.keys",
        "--serial",
        "0011223344556677",
    ];
    let own = asan_host::keys::derive(&master(MASTER), "0011223344556677").unwrap();
    // Without -o: the key set, the same values as the plain key file.
    let v = lab.asan(&derive).json();
    assert_eq!(v["serial"], "0011223344556677");
    // The key version as the key file states it (`kvn = 31`).
    assert_eq!(v["key_version"], 0x31);
    assert_eq!(v["keys"]["enc"], hex::encode_upper(own.enc).as_str());
    assert_eq!(v["keys"]["mac"], hex::encode_upper(own.mac).as_str());
    assert_eq!(v["keys"]["dek"], hex::encode_upper(own.dek).as_str());
    assert_eq!(v.as_object().unwrap().len(), 3, "{v}");
    let plain = lab.asan(&derive[1..]);
    let plain = asan_host::keys::parse(std::path::Path::new("-"), plain.ok()).unwrap();
    assert!(plain == own);
    // With -o: where it went, and no key material on stdout.
    let mut to_file = derive.to_vec();
    to_file.extend_from_slice(&["-o", "card.keys"]);
    let out = lab.asan(&to_file);
    let v = out.json();
    assert_eq!(v["serial"], "0011223344556677");
    assert_eq!(v["key_version"], 0x31);
    assert_eq!(v["output"], "card.keys");
    assert!(v.get("keys").is_none(), "{v}");
    for secret in [&own.enc, &own.mac, &own.dek] {
        let hex = hex::encode_upper(secret);
        assert!(!out.stdout.to_uppercase().contains(&hex), "{out:#?}");
        assert!(!out.stderr.to_uppercase().contains(&hex), "{out:#?}");
    }
    assert!(asan_host::keys::load(&lab.path("card.keys")).unwrap() == own);
}

/// `keys derive -o FILE` never replaces a file unasked, and never the
/// master key file itself (by any name: `./`, a symbolic or a hard link),
/// not even with `--force`; a refused run changes nothing and leaves no
/// temporary file.
#[test]
fn keys_derive_o_refuses_an_existing_file_and_always_the_master_file() {
    use std::os::unix::fs::PermissionsExt;
    let lab = Lab::new();
    lab.write_keys("master.keys", MASTER);
    let s = "0011223344556677";
    let own = asan_host::keys::derive(&master(MASTER), s).unwrap();
    let derive = |out: &str, force: bool| {
        let mut args = vec![
            "keys",
            "derive",
            "--master-keys",
            "master.keys",
            "--serial",
            s,
            "-o",
            out,
        ];
        if force {
            args.push("--force");
        }
        lab.asan(&args)
    };
    // An existing file: refused, untouched; replaced with --force.
    lab.write_keys("card.keys", "not yet\n");
    let out = derive("card.keys", false);
    out.code(2)
        .says("card.keys exists")
        .says("(--force replaces it)");
    assert_eq!(
        std::fs::read_to_string(lab.path("card.keys")).unwrap(),
        "not yet\n"
    );
    derive("card.keys", true).ok();
    assert!(asan_host::keys::load(&lab.path("card.keys")).unwrap() == own);
    let mode = std::fs::metadata(lab.path("card.keys"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // The master key file, by any name: refused, with or without --force.
    std::os::unix::fs::symlink("master.keys", lab.path("sym.keys")).unwrap();
    std::fs::hard_link(lab.path("master.keys"), lab.path("hard.keys")).unwrap();
    for name in ["master.keys", "./master.keys", "sym.keys", "hard.keys"] {
        for force in [false, true] {
            derive(name, force).code(2).says("is the master key file");
            assert_eq!(
                std::fs::read_to_string(lab.path("master.keys")).unwrap(),
                MASTER,
                "{name} {force}"
            );
        }
    }
    assert!(
        std::fs::symlink_metadata(lab.path("sym.keys"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    // No temporary file left behind.
    let mut names: Vec<_> = std::fs::read_dir(lab.path(""))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("keys"))
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["card.keys", "hard.keys", "master.keys", "sym.keys"],
        "{names:?}"
    );
}

/// `keys derive --serial` takes the serial as a card reports it (16 hex
/// digits; lower case is the same serial), and refuses anything else
/// rather than derive keys no card has.
#[test]
fn keys_derive_takes_only_a_card_serial_in_either_case() {
    let lab = Lab::new();
    lab.write_keys("master.keys", MASTER);
    let derive = |serial: &str| {
        lab.asan(&[
            "--json",
            "keys",
            "derive",
            "--master-keys",
            "master.keys",
            "--serial",
            serial,
        ])
    };
    let up = derive("00112233AABBCCDD").json();
    let low = derive("00112233aabbccdd").json();
    assert_eq!(up, low);
    assert_eq!(low["serial"], "00112233AABBCCDD");
    let own = asan_host::keys::derive(&master(MASTER), "00112233AABBCCDD").unwrap();
    assert_eq!(low["keys"]["enc"], hex::encode_upper(own.enc).as_str());
    for bad in [
        "1",
        "0011223344",
        "00112233AABBCCD",
        "00112233AABBCCDD0",
        "00112233AABBCCDG",
        "8994000000123456789A",
    ] {
        let out = derive(bad);
        out.code(2).says("must be 16 hex digits");
        assert!(out.stdout.is_empty(), "{out:#?}");
    }
}

/// AES-CMAC of `data` under `key` by `openssl mac` (OpenSSL 3): the
/// cipher named after the key's length.
fn openssl_cmac(lab: &Lab, key: &[u8], data: &[u8]) -> String {
    let cipher = format!("AES-{}-CBC", key.len() * 8);
    let input = lab.path("kdf-input.bin");
    std::fs::write(&input, data).unwrap();
    let out = std::process::Command::new("openssl")
        .args(["mac", "-cipher", &cipher, "-macopt"])
        .arg(format!("hexkey:{}", hex::encode(key)))
        .arg("-in")
        .arg(&input)
        .arg("CMAC")
        .output()
        .unwrap();
    assert!(out.status.success(), "openssl mac: {out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_uppercase()
}

/// The KDF of docs/operator-guide.md ("Key custody"), checked against an
/// independent AES-CMAC (OpenSSL's): the input is built here from the
/// documented formula, `01 || label || 00 || serial || 00 80`, not by our
/// code, for two serials and the two master key sets. Key files take
/// AES-128 keys only (16 bytes); longer master keys are refused.
#[test]
fn keys_derive_is_the_documented_kdf_by_openssl() {
    let lab = Lab::new();
    for (name, text) in [("m1.keys", MASTER), ("m2.keys", MASTER2)] {
        lab.write_keys(name, text);
        let m = master(text);
        for serial in ["0011223344556677", "8994000012345678"] {
            let v = lab
                .asan(&[
                    "--json",
                    "keys",
                    "derive",
                    "--master-keys",
                    name,
                    "--serial",
                    serial,
                ])
                .json();
            for (field, key, label) in [
                ("enc", &m.enc, "ASAN-IMZA SCP03 K-ENC"),
                ("mac", &m.mac, "ASAN-IMZA SCP03 K-MAC"),
                ("dek", &m.dek, "ASAN-IMZA SCP03 K-DEK"),
            ] {
                let mut input = vec![0x01];
                input.extend_from_slice(label.as_bytes());
                input.push(0x00);
                input.extend_from_slice(serial.as_bytes());
                input.extend_from_slice(&[0x00, 0x80]);
                assert_eq!(
                    v["keys"][field].as_str().unwrap(),
                    openssl_cmac(&lab, key, &input),
                    "{name} {serial} {field}"
                );
            }
            assert_eq!(v["key_version"], m.kvn);
        }
    }
    // AES-192 and AES-256 master keys: refused, not derived with.
    for len in [24, 32] {
        let long = hex::encode_upper(vec![0x42u8; len]);
        let text = format!("kvn = 31\nenc = {long}\nmac = {long}\ndek = {long}\n");
        lab.write_keys("long.keys", text);
        lab.asan(&[
            "keys",
            "derive",
            "--master-keys",
            "long.keys",
            "--serial",
            "0011223344556677",
        ])
        .code(2)
        .says(&format!("must be 16 bytes (AES-128), not {len}"));
    }
}
