//! `libasan_pkcs11.so` driven by software we did not write, against a freshly
//! provisioned virtual card behind pcscd (one card at a time, see
//! `common`):
//!
//! - OpenSC `pkcs11-tool`: slots and tokens (`-L`), objects without login
//!   (`-O`), certificates (`--read-object`) equal to the card's, ECDSA and
//!   ECDSA-SHA256 signatures with PIN1 and with PIN2 (always-authenticate,
//!   the tool's own `C_Login(CKU_CONTEXT_SPECIFIC)`) verified by `openssl`, a
//!   wrong PIN2 refused at `C_Sign` (seen through `pkcs11-spy`), `--test`,
//!   `-M`, `--change-pin` on both tokens, PIN1 blocked and unblocked with the
//!   PUK as SO PIN (`--init-pin`);
//! - GnuTLS `p11tool`: `--list-all --only-urls` and `--list-all-certs`
//!   without login, `--test-sign` on both tokens;
//! - the OpenSSL 3.0 engine `pkcs11` (libp11): a CMS signature with the PIN2
//!   key verified by `openssl cms -verify` and `asan verify`, and TLS client
//!   authentication with the PIN1 key against `openssl s_server`;
//! - OpenSSH: `ssh-keygen -D`, `ssh-add -s` into an `ssh-agent`, `ssh-keygen
//!   -Y sign` with the agent's PIN1 key and `-Y verify`;
//! - NSS: `modutil -add` and `certutil -L -h all` without a PIN.
//!
//! The command lines were first checked against SoftHSM
//! (`/usr/lib/softhsm/libsofthsm2.so`) holding the same objects (p11tool's
//! `--only-urls` and `--list-all-certs` against this module only).
//! The module is the `libasan_pkcs11.so` cargo built with the test (see
//! `common::module`) or `$ASAN_PKCS11_MODULE`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use common::{
    Block, Card, Daemon, KEYS, Run, Token, blocks, ecdsa_raw_to_der, free_port, module,
    openssl_verify_digest, pkcs11_tool, pkcs11_tool_spied, run, run_with_input, slot_id, spy_calls,
};

/// `pkcs11-tool --token-label <token> args…`.
fn on_token(card: &Card, token: Token, args: &[&str]) -> Command {
    let label = card.label(token);
    let mut all = vec!["--token-label", label.as_str()];
    all.extend_from_slice(args);
    pkcs11_tool(&all)
}

/// The objects `pkcs11-tool -O` lists on a token, without login, or after
/// a login with the token's PIN.
fn objects(card: &Card, token: Token, login: bool) -> Vec<Block> {
    let pin = card.pin(token).to_owned();
    let args: Vec<&str> = if login {
        vec!["-O", "--login", "--pin", &pin]
    } else {
        vec!["-O"]
    };
    let out = run(&mut on_token(card, token, &args)).ok();
    blocks(&out.stdout)
        .into_iter()
        .filter(|b| b.head.contains(" Object;"))
        .collect()
}

/// The arguments of `pkcs11-tool --sign`: user login with `pin` (for an
/// always-authenticate key pkcs11-tool also calls
/// `C_Login(CKU_CONTEXT_SPECIFIC)` with it between `C_SignInit` and
/// `C_Sign`), key `id`, then `more` (mechanism, format, login type).
/// With `--login-type context-specific` pkcs11-tool logs in that way before
/// `C_SignInit` too, which the module takes as the authorisation of the
/// next signature (as a user login on the PIN2 token).
fn sign_args<'a>(label: &'a str, pin: &'a str, id: &'a str, more: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "--token-label",
        label,
        "--login",
        "--pin",
        pin,
        "--sign",
        "--id",
        id,
    ];
    args.extend_from_slice(more);
    args
}

/// A signature with `pkcs11-tool --sign` of `input` into `output`.
fn sign(
    card: &Card,
    token: Token,
    pin: &str,
    id: &str,
    more: &[&str],
    input: &Path,
    output: &Path,
) -> Run {
    let label = card.label(token);
    run(pkcs11_tool(&sign_args(&label, pin, id, more))
        .arg("-i")
        .arg(input)
        .arg("-o")
        .arg(output))
}

/// A raw ECDSA signature with `pkcs11-tool --sign` through pkcs11-spy: the
/// output and the calls with their return values.
fn sign_spied(
    card: &Card,
    token: Token,
    pin: &str,
    id: &str,
    input: &Path,
    output: &Path,
) -> (Run, Vec<(String, String)>) {
    let log = card.path("spy.log");
    let _ = std::fs::remove_file(&log);
    let label = card.label(token);
    let args = sign_args(&label, pin, id, &["--mechanism", "ECDSA"]);
    let out = run(pkcs11_tool_spied(&args, &log)
        .arg("-i")
        .arg(input)
        .arg("-o")
        .arg(output));
    (out, spy_calls(&log))
}

/// Asserts that the first C_Sign of a spied run returned `rv`.
#[track_caller]
fn assert_c_sign_returned(out: &Run, calls: &[(String, String)], rv: &str) {
    assert!(
        !calls.is_empty(),
        "pkcs11-spy logged no call. If pkcs11-tool died of SIGSEGV in the spy's \
         C_GetInterface: the spy writes its own function list into the CK_INTERFACE \
         the module's C_GetInterface returned, so that structure must be writable \
         memory, not a read-only static.\n{out}"
    );
    let first = calls.iter().find(|(f, _)| f == "C_Sign");
    assert_eq!(
        first.map(|(_, r)| r.as_str()),
        Some(rv),
        "C_Sign's return value; calls: {calls:?}\n{out}"
    );
}

/// Case 1: `pkcs11-tool -L`: one PIN1 and one PIN2 token for the card, labels and
/// serial as the contract says, on slots 2i and 2i+1 of the card's reader
/// (other readers may hold other cards: only this card's tokens count);
/// `-O` without login: certificate, public key and private key for each
/// key with its CKA_ID and label, always-authenticate exactly on the PIN2
/// token — but the PIN1 token's private keys are private objects, listed
/// after a PIN1 login only (libp11 logs in only when the key it looks for
/// is not visible without); `--read-object` gives the certificates `asan
/// cert read` reads.
#[test]
fn pkcs11_tool_lists_tokens_and_objects_without_login() {
    let card = Card::provisioned();
    let out = run(&mut pkcs11_tool(&["-L"])).ok();
    let tokens: Vec<Block> = blocks(&out.stdout)
        .into_iter()
        .filter(|b| {
            b.head.starts_with("Slot ") && b.get("serial num") == Some(card.serial.as_str())
        })
        .collect();
    assert_eq!(
        tokens.len(),
        2,
        "two tokens with serial {}: {out}",
        card.serial
    );
    let slot_of = |token: Token| {
        let b = tokens
            .iter()
            .find(|b| b.get("token label") == Some(card.label(token).as_str()))
            .unwrap_or_else(|| panic!("no token labelled {:?}: {out}", card.label(token)));
        assert_eq!(
            b.get("token manufacturer"),
            Some("Asan Imza"),
            "manufacturer: {out}"
        );
        assert!(
            b.head
                .split_once("): ")
                .is_some_and(|(_, d)| d.starts_with(card.reader_name)),
            "{token:?} token not in the slot of reader {:?}: {out}",
            card.reader_name
        );
        slot_id(&b.head).unwrap_or_else(|| panic!("slot id in {:?}", b.head))
    };
    let (pin1, pin2) = (slot_of(Token::Pin1), slot_of(Token::Pin2));
    assert!(
        pin1 % 2 == 0 && pin2 == pin1 + 1,
        "PIN1 token on slot 2i, PIN2 on 2i+1: {pin1}, {pin2}: {out}"
    );

    for (token, login) in [
        (Token::Pin1, false),
        (Token::Pin1, true),
        (Token::Pin2, false),
    ] {
        let objs = objects(&card, token, login);
        let found: BTreeSet<(String, String)> = objs
            .iter()
            .map(|b| {
                let kind = b.head.split(';').next().unwrap().to_owned();
                (kind, b.get("ID").unwrap_or("").to_owned())
            })
            .collect();
        let mut expected = BTreeSet::new();
        for (t, id, _, _, label) in KEYS.iter().filter(|k| k.0 == token) {
            let private_seen = token == Token::Pin2 || login;
            for kind in [
                "Certificate Object",
                "Public Key Object",
                "Private Key Object",
            ] {
                if kind == "Private Key Object" && !private_seen {
                    continue;
                }
                expected.insert((kind.to_owned(), (*id).to_owned()));
                let b = objs
                    .iter()
                    .find(|b| b.head.starts_with(kind) && b.get("ID") == Some(id))
                    .unwrap_or_else(|| panic!("no {kind} with ID {id} on {t:?}: {objs:#?}"));
                assert_eq!(b.get("label"), Some(*label), "{kind} {id}: {b:#?}");
                if kind == "Private Key Object" {
                    let access = b.get("Access").unwrap_or("");
                    assert_eq!(
                        access.contains("always authenticate"),
                        token == Token::Pin2,
                        "CKA_ALWAYS_AUTHENTICATE of key {id}: {b:#?}"
                    );
                    assert!(b.head.contains("EC"), "an EC key: {b:#?}");
                }
            }
        }
        assert_eq!(
            found, expected,
            "objects on the {token:?} token (login: {login}): {objs:#?}"
        );
    }

    for (token, id, profile, usage, _) in KEYS {
        let der = card.path(&format!("{id}.der"));
        run(on_token(
            &card,
            token,
            &["--read-object", "--type", "cert", "--id", id],
        )
        .arg("-o")
        .arg(&der))
        .ok();
        let from_card = card.path(&format!("{id}.card.der"));
        card.asan(&[
            "cert",
            "read",
            "--profile",
            profile,
            "--usage",
            usage,
            "-o",
            from_card.to_str().unwrap(),
        ])
        .ok();
        assert!(
            std::fs::read(&der).unwrap() == std::fs::read(&from_card).unwrap(),
            "certificate {id} through the module differs from the card's ({profile} {usage})"
        );
    }
}

/// Case 2: Signatures with pkcs11-tool, verified by openssl against the
/// certificates' keys: raw ECDSA (r || s, 64 bytes) over a digest with the
/// citizen signing key (PIN2, always-authenticate), the business signing
/// key with `--login-type context-specific`, and the citizen
/// authentication key (PIN1); ECDSA-SHA256 over a file with the signing
/// key. No PIN try is spent.
#[test]
fn pkcs11_tool_signatures_verify_with_openssl() {
    let card = Card::provisioned();
    let digest = card.path("digest.bin");
    let bytes: Vec<u8> = (0u8..32).map(|i| i.wrapping_mul(37) ^ 0x5A).collect();
    std::fs::write(&digest, bytes).unwrap();
    let doc = card.path("doc.txt");
    std::fs::write(&doc, "Bakı, 2026: sənəd\n").unwrap();

    for (token, id, profile, usage, login_type) in [
        (Token::Pin2, "21", "citizen", "sign", "user"),
        (Token::Pin2, "22", "business", "sign", "context-specific"),
        (Token::Pin1, "11", "citizen", "auth", "user"),
    ] {
        let public = card.public_key_pem(profile, usage);
        let raw = card.path(&format!("{id}.raw"));
        let more = [
            "--login-type",
            login_type,
            "--mechanism",
            "ECDSA",
            "--signature-format",
            "rs",
        ];
        let out = sign(&card, token, card.pin(token), id, &more, &digest, &raw);
        assert!(
            out.status.success(),
            "{out}\nvcard log:\n{}",
            card.vcard_log()
        );
        let rs = std::fs::read(&raw).unwrap();
        assert_eq!(rs.len(), 64, "CKM_ECDSA gives r || s, 64 bytes: {rs:02X?}");
        let der = card.path(&format!("{id}.der-sig"));
        std::fs::write(&der, ecdsa_raw_to_der(&rs)).unwrap();
        openssl_verify_digest(&public, &digest, &der)
            .ok()
            .says("Signature Verified Successfully");
    }

    let public = card.public_key_pem("citizen", "sign");
    let sig = card.path("doc.sig");
    let more = [
        "--mechanism",
        "ECDSA-SHA256",
        "--signature-format",
        "openssl",
    ];
    sign(&card, Token::Pin2, &card.pin2, "21", &more, &doc, &sig).ok();
    run(Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(&public)
        .arg("-signature")
        .arg(&sig)
        .arg(&doc))
    .ok()
    .says("Verified OK");
    assert_eq!(card.tries(), (3, 3, 10), "no PIN try spent");
}

/// Case 2b: A wrong PIN2 is refused at `C_Sign` with CKR_PIN_INCORRECT (PIN2
/// travels only inside the signing command), spends one PIN2 try, and the
/// next signature with the right PIN2 works and restores the tries.
///
/// pkcs11-tool retries a failed C_Sign as C_SignInit, C_SignUpdate,
/// C_SignFinal; CKM_ECDSA is single-part, so C_SignUpdate fails
/// (CKR_FUNCTION_NOT_SUPPORTED) and the tool's message names it: the
/// pkcs11-spy log shows what C_Sign returned.
#[test]
fn pkcs11_tool_wrong_pin2_fails_at_c_sign() {
    let card = Card::provisioned();
    let digest = card.path("digest.bin");
    std::fs::write(&digest, [7u8; 32]).unwrap();
    let sig = card.path("sig.raw");
    let wrong = Card::wrong(&card.pin2);
    let (out, calls) = sign_spied(&card, Token::Pin2, &wrong, "21", &digest, &sig);
    let out = out.fails();
    assert_c_sign_returned(&out, &calls, "CKR_PIN_INCORRECT");
    assert_eq!(
        card.tries(),
        (3, 2, 10),
        "one PIN2 try spent: calls {calls:?}\n{out}"
    );
    let (out, calls) = sign_spied(&card, Token::Pin2, &card.pin2, "21", &digest, &sig);
    assert_c_sign_returned(&out.ok(), &calls, "CKR_OK");
    assert_eq!(
        card.tries(),
        (3, 3, 10),
        "PIN2 tries restored by the good signature"
    );
}

/// Case 3: `pkcs11-tool -M` lists ECDSA and ECDSA-SHA256 for signing on both
/// tokens, and `pkcs11-tool --test --login` reports no errors on both.
///
/// What `--test` does in OpenSC 0.23 (`p11_test`): C_SeedRandom /
/// C_GenerateRandom (passes with CKR_RANDOM_NO_RNG from C_SeedRandom or a
/// working RNG; fails if C_GenerateRandom fails otherwise), digests (skipped
/// when the token has no digest mechanism), then signature, verify, unwrap
/// and decrypt tests that only look for RSA mechanisms and say "not
/// implemented" without any (they never reach our EC keys). So it checks
/// little beyond sessions, login and the mechanism list. Its exit status
/// ignores the errors, so the test reads "No errors". `--test-ec` is not
/// run: it needs C_GenerateKeyPair (the card generates keys only in
/// operator provisioning), C_SetAttributeValue and CKM_ECDSA_SHA1, none of
/// which the module offers, by design.
#[test]
fn pkcs11_tool_test_and_mechanisms() {
    let card = Card::provisioned();
    for token in [Token::Pin1, Token::Pin2] {
        let out = run(&mut on_token(&card, token, &["-M"])).ok();
        for mech in ["ECDSA", "ECDSA-SHA256"] {
            let line = out
                .stdout
                .lines()
                .find(|l| l.trim_start().starts_with(&format!("{mech},")))
                .unwrap_or_else(|| panic!("no {mech} in the mechanism list of {token:?}: {out}"));
            assert!(line.contains("sign"), "{mech} does not sign: {line}");
        }
        let out = run(&mut on_token(
            &card,
            token,
            &["--test", "--login", "--pin", card.pin(token)],
        ))
        .ok();
        out.says("No errors");
    }
    assert_eq!(card.tries(), (3, 3, 10), "no PIN try spent");
}

/// Case 4a: `pkcs11-tool --change-pin` on the PIN1 token (C_SetPIN after login):
/// the new PIN logs in, the old one is refused.
#[test]
fn pkcs11_tool_change_pin1() {
    let card = Card::provisioned();
    let new = Card::wrong(&card.pin1);
    run(&mut on_token(
        &card,
        Token::Pin1,
        &["--change-pin", "--pin", &card.pin1, "--new-pin", &new],
    ))
    .ok()
    .says("PIN successfully changed");
    run(&mut on_token(
        &card,
        Token::Pin1,
        &["--login", "--pin", &new, "-O"],
    ))
    .ok();
    run(&mut on_token(
        &card,
        Token::Pin1,
        &["--login", "--pin", &card.pin1, "-O"],
    ))
    .fails()
    .says("CKR_PIN_INCORRECT");
    run(&mut on_token(
        &card,
        Token::Pin1,
        &["--login", "--pin", &new, "-O"],
    ))
    .ok();
    assert_eq!(card.tries().0, 3, "PIN1 tries restored by the good login");
}

/// Case 4b: `pkcs11-tool --change-pin` on the PIN2 token: a signature with the new
/// PIN2 verifies, the old PIN2 is refused at C_Sign (CKR_PIN_INCORRECT in
/// the pkcs11-spy log).
#[test]
fn pkcs11_tool_change_pin2_then_sign() {
    let card = Card::provisioned();
    let new = Card::wrong(&card.pin2);
    run(&mut on_token(
        &card,
        Token::Pin2,
        &["--change-pin", "--pin", &card.pin2, "--new-pin", &new],
    ))
    .ok()
    .says("PIN successfully changed");
    let digest = card.path("digest.bin");
    std::fs::write(&digest, [0xA5u8; 32]).unwrap();
    let sig = card.path("sig.der");
    let more = ["--mechanism", "ECDSA", "--signature-format", "openssl"];
    sign(&card, Token::Pin2, &new, "22", &more, &digest, &sig).ok();
    openssl_verify_digest(&card.public_key_pem("business", "sign"), &digest, &sig)
        .ok()
        .says("Signature Verified Successfully");
    let (out, calls) = sign_spied(&card, Token::Pin2, &card.pin2, "22", &digest, &sig);
    assert_c_sign_returned(&out.fails(), &calls, "CKR_PIN_INCORRECT");
}

/// Case 4c: PIN1 blocked by three wrong logins (then even the right PIN is
/// refused with CKR_PIN_LOCKED), unblocked with the PUK as SO PIN:
/// `pkcs11-tool --init-pin --login --login-type so --so-pin PUK --new-pin
/// NEW` (C_Login(CKU_SO) + C_InitPIN); then NEW logs in. Blocked again,
/// `pkcs11-tool --unlock-pin --puk PUK --new-pin NEW2` (C_SetPIN(PUK, NEW2)
/// without a login: OpenSC's convention for a blocked PIN, which the module
/// follows) unblocks it too.
#[test]
fn pkcs11_tool_unblock_pin1_with_puk() {
    let card = Card::provisioned();
    let wrong = Card::wrong(&card.pin1);
    for _ in 0..3 {
        let out = run(&mut on_token(
            &card,
            Token::Pin1,
            &["--login", "--pin", &wrong, "-O"],
        ))
        .fails();
        assert!(
            out.all().contains("CKR_PIN_INCORRECT") || out.all().contains("CKR_PIN_LOCKED"),
            "a wrong PIN1: {out}"
        );
    }
    assert_eq!(card.tries().0, 0, "PIN1 blocked");
    run(&mut on_token(
        &card,
        Token::Pin1,
        &["--login", "--pin", &card.pin1, "-O"],
    ))
    .fails()
    .says("CKR_PIN_LOCKED");
    // A new PIN1: every digit of the old one plus 3.
    let new: String = card
        .pin1
        .chars()
        .map(|c| char::from_digit((c.to_digit(10).unwrap() + 3) % 10, 10).unwrap())
        .collect();
    run(&mut on_token(
        &card,
        Token::Pin1,
        &[
            "--init-pin",
            "--login",
            "--login-type",
            "so",
            "--so-pin",
            &card.puk,
            "--new-pin",
            &new,
        ],
    ))
    .ok()
    .says("User PIN successfully initialized");
    run(&mut on_token(
        &card,
        Token::Pin1,
        &["--login", "--pin", &new, "-O"],
    ))
    .ok();
    assert_eq!(
        card.tries(),
        (3, 3, 10),
        "PIN1 unblocked, the PUK's tries intact"
    );

    // Blocked again (three different wrong PINs in one process each), then
    // `--unlock-pin`.
    for n in 0..3u32 {
        let wrong: String = new
            .chars()
            .map(|c| char::from_digit((c.to_digit(10).unwrap() + 1 + n) % 10, 10).unwrap())
            .collect();
        run(&mut on_token(
            &card,
            Token::Pin1,
            &["--login", "--pin", &wrong, "-O"],
        ))
        .fails();
    }
    assert_eq!(card.tries().0, 0, "PIN1 blocked again");
    let newer: String = new.chars().rev().collect();
    run(&mut on_token(
        &card,
        Token::Pin1,
        &["--unlock-pin", "--puk", &card.puk, "--new-pin", &newer],
    ))
    .ok()
    .says("PIN successfully changed");
    run(&mut on_token(
        &card,
        Token::Pin1,
        &["--login", "--pin", &newer, "-O"],
    ))
    .ok();
    assert_eq!(card.tries(), (3, 3, 10), "unblocked by --unlock-pin");
}

/// Case 5: GnuTLS `p11tool`: `--list-all --only-urls` without login lists the
/// certificate, public and private key of every key (URLs with id and
/// label) but the PIN1 token's private keys, which a `--login` shows,
/// `--list-all-certs` the certificates with label, ID and key type.
/// (Plain `--list-all` describes each private key by importing it, and
/// GnuTLS always logs in to import a private key: it asks for the PIN with
/// any module whose private keys are visible without login, so it is no
/// no-login listing.) Then `--test-sign` (ECDSA-SHA256, checked by p11tool
/// against the key's parameters and the token's public key) with the
/// citizen authentication key (PIN1 from GNUTLS_PIN) and the citizen
/// signing key (PIN2, which GnuTLS also gives as the context-specific PIN).
#[test]
fn gnutls_p11tool_lists_and_signs() {
    let card = Card::provisioned();
    let m = module();
    for (token, login) in [
        (Token::Pin1, false),
        (Token::Pin1, true),
        (Token::Pin2, false),
    ] {
        let mut list = Command::new("p11tool");
        list.arg("--provider")
            .arg(&m)
            .args(["--list-all", "--only-urls"]);
        if login {
            list.arg("--login").env("GNUTLS_PIN", card.pin(token));
        }
        let out = run(list.arg(card.token_uri(token))).ok();
        let urls: Vec<&str> = out.stdout.lines().map(str::trim).collect();
        for (_, id, _, _, label) in KEYS.iter().filter(|k| k.0 == token) {
            let object = format!("object={}", label.replace(' ', "%20"));
            for kind in ["cert", "public", "private"] {
                let listed = urls.iter().any(|u| {
                    u.contains(&format!("id=%{id};"))
                        && u.contains(&object)
                        && u.contains(&format!("type={kind}"))
                });
                // The PIN1 token's private keys are private objects.
                let expected = kind != "private" || token == Token::Pin2 || login;
                assert_eq!(
                    listed, expected,
                    "{kind} {id} ({label}) in p11tool --list-all (login: {login}): {out}"
                );
            }
        }
        let certs = run(Command::new("p11tool")
            .arg("--provider")
            .arg(&m)
            .arg("--list-all-certs")
            .arg(card.token_uri(token)))
        .ok();
        for (_, id, _, _, label) in KEYS.iter().filter(|k| k.0 == token) {
            certs.says(&format!("Label: {label}\n\tID: {id}\n"));
        }
        certs.says("Type: X.509 Certificate (EC/ECDSA-SECP256R1)");
    }
    for (token, label) in [
        (Token::Pin1, "Citizen%20authentication"),
        (Token::Pin2, "Citizen%20signing"),
    ] {
        let out = run(Command::new("p11tool")
            .arg("--provider")
            .arg(&m)
            .args(["--login", "--test-sign"])
            .arg(format!(
                "{};object={label};type=private",
                card.token_uri(token)
            ))
            .env("GNUTLS_PIN", card.pin(token)));
        assert!(
            out.status.success(),
            "{out}\nvcard log:\n{}",
            card.vcard_log()
        );
        out.says("Signing using ECDSA-SHA256... ok")
            .says("Verifying against private key parameters... ok")
            .says("Verifying against public key in the token... ok");
    }
    assert_eq!(card.tries(), (3, 3, 10), "no PIN try spent");
}

/// Case 6a: The OpenSSL 3.0 engine `pkcs11` (libp11 0.4.12, module from
/// PKCS11_MODULE_PATH) makes a CMS signature with the citizen signing key;
/// `openssl cms -verify` and `asan verify` accept it with the development
/// root.
///
/// libp11 finds the key without login (it is visible), so it does not use
/// the URI's pin-value; for the always-authenticate key it asks the
/// context-specific PIN through OpenSSL's console UI, which reads /dev/tty
/// or, without a controlling terminal, stdin: so the command runs under
/// `setsid` (no terminal) with PIN2 on stdin.
#[test]
fn openssl_engine_cms_signature_verifies() {
    let card = Card::provisioned();
    let signer = card.cert_pem("citizen", "sign");
    let doc = card.path("doc.txt");
    std::fs::write(&doc, "Sənəd imzalanır\n").unwrap();
    let p7s = card.path("doc.txt.p7s");
    let key = format!(
        "{};id=%21;type=private;pin-value={}",
        card.token_uri(Token::Pin2),
        card.pin2
    );
    let out = run_with_input(
        Command::new("setsid")
            .args(["-w", "openssl", "cms", "-sign", "-binary"])
            .args(["-engine", "pkcs11", "-keyform", "engine", "-inkey"])
            .arg(&key)
            .arg("-signer")
            .arg(&signer)
            .arg("-in")
            .arg(&doc)
            .args(["-outform", "DER", "-out"])
            .arg(&p7s)
            .env("PKCS11_MODULE_PATH", module()),
        Some(format!("{}\n", card.pin2).as_bytes()),
    );
    assert!(
        out.status.success(),
        "{out}\nvcard log:\n{}",
        card.vcard_log()
    );
    run(Command::new("openssl")
        .args([
            "cms", "-verify", "-binary", "-inform", "DER", "-purpose", "any",
        ])
        .args(["-out", "/dev/null", "-in"])
        .arg(&p7s)
        .arg("-content")
        .arg(&doc)
        .arg("-CAfile")
        .arg(card.root()))
    .ok()
    .says("Verification successful");
    card.asan(&[
        "verify",
        doc.to_str().unwrap(),
        p7s.to_str().unwrap(),
        "--ca",
        card.root().to_str().unwrap(),
    ])
    .ok()
    .says("the signature is valid");
    assert_eq!(card.tries(), (3, 3, 10), "no PIN try spent");
}

/// Case 6b: TLS 1.3 client authentication with the citizen authentication key
/// through the engine: `openssl s_server -Verify 1 -verify_return_error`
/// (trusting only the development root; the auth certificate's EKU is
/// clientAuth) sees and verifies the client certificate, and the handshake,
/// whose CertificateVerify the card signed, completes.
#[test]
fn openssl_engine_tls_client_authentication() {
    let card = Card::provisioned();
    let (server_key, server_cert) = (card.path("server.key"), card.path("server.pem"));
    run(Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=localhost", "-keyout"])
        .arg(&server_key)
        .arg("-out")
        .arg(&server_cert))
    .ok();
    let accept = format!("127.0.0.1:{}", free_port());
    let mut server = Daemon::start(
        Command::new("openssl")
            .args(["s_server", "-accept", &accept, "-naccept", "1"])
            .args(["-Verify", "1", "-verify_return_error", "-cert"])
            .arg(&server_cert)
            .arg("-key")
            .arg(&server_key)
            .arg("-CAfile")
            .arg(card.root()),
        &card.path("s_server.log"),
    );
    server.wait_for_output("ACCEPT");
    let client_cert = card.cert_pem("citizen", "auth");
    let key = format!(
        "{};id=%11;type=private;pin-value={}",
        card.token_uri(Token::Pin1),
        card.pin1
    );
    let client = run(Command::new("openssl")
        .args(["s_client", "-connect", &accept, "-brief"])
        .args(["-engine", "pkcs11", "-keyform", "engine", "-key"])
        .arg(&key)
        .arg("-cert")
        .arg(&client_cert)
        // The engine finds no PIN1 key without a login (the PIN1 token's
        // private keys are private objects), so it logs in with the URI's
        // pin-value: no FORCE_LOGIN needed.
        .env("PKCS11_MODULE_PATH", module()));
    let served = server.wait();
    assert!(
        client.status.success() && client.all().contains("CONNECTION ESTABLISHED"),
        "s_client: {client}\ns_server:\n{served}\nvcard log:\n{}",
        card.vcard_log()
    );
    let subject = run(Command::new("openssl")
        .args(["x509", "-noout", "-subject", "-in"])
        .arg(&client_cert))
    .ok()
    .stdout
    .trim()
    .to_owned();
    assert!(
        served.contains("Client certificate") && served.contains(&subject),
        "s_server did not get {subject:?}:\n{served}\ns_client: {client}"
    );
    assert!(!served.contains("verify error"), "s_server: {served}");
}

/// The OpenSSH public key (`ecdsa-sha2-nistp256 AAAA…`) of a certificate.
fn ssh_public_key(card: &Card, profile: &str, usage: &str) -> String {
    let pem = card.public_key_pem(profile, usage);
    let out = run(Command::new("ssh-keygen")
        .args(["-i", "-m", "PKCS8", "-f"])
        .arg(&pem))
    .ok();
    out.stdout.trim().to_owned()
}

/// Case 7a: `ssh-keygen -D` (no PIN) prints the four keys as ecdsa-sha2-nistp256,
/// equal to the certificates' public keys (`ssh-keygen -i -m PKCS8`).
#[test]
fn ssh_keygen_lists_the_keys() {
    let card = Card::provisioned();
    let out = run(Command::new("ssh-keygen").arg("-D").arg(module())).ok();
    for (_, id, profile, usage, _) in KEYS {
        let key = ssh_public_key(&card, profile, usage);
        let blob = key.split_whitespace().nth(1).unwrap();
        assert!(
            out.stdout
                .lines()
                .any(|l| l.starts_with("ecdsa-sha2-nistp256 ")
                    && l.split_whitespace().nth(1) == Some(blob)),
            "key {id} ({key}) not in ssh-keygen -D: {out}"
        );
    }
}

/// Case 7b: `ssh-add -s` loads the module into an `ssh-agent` (PIN through
/// SSH_ASKPASS); `ssh-keygen -Y sign` with the citizen authentication key
/// signs through the agent and `ssh-keygen -Y verify` accepts it.
///
/// ssh-add asks one PIN for the whole module ("Enter passphrase for
/// PKCS#11"; the prompt names no token), and the agent's helper logs every
/// token that requires login in with it, skipping a token whose C_Login
/// fails. The askpass script answers PIN1 and logs the prompts. The PIN2
/// token gets C_Login(CKU_USER, PIN1): under the contract that PIN is only
/// checked by a signature, so no PIN2 try may be spent, which the test
/// checks; whether the agent also lists the signing keys is in the failure
/// messages but not asserted. (A signature with them through the agent
/// would fail: its helper cannot ask the context-specific PIN.)
#[test]
fn ssh_agent_signs_with_the_pin1_key() {
    let card = Card::provisioned();
    common::assert_alone(&card);
    let m = module();
    let askpass = card.path("askpass.sh");
    let prompts = card.path("prompts.log");
    std::fs::write(
        &askpass,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$1\" >> '{}'\necho '{}'\n",
            prompts.display(),
            card.pin1
        ),
    )
    .unwrap();
    run(Command::new("chmod").arg("755").arg(&askpass)).ok();
    let socket = card.path("agent.sock");
    // -P: the agent loads only modules matching this list, by real path.
    let mut agent = Daemon::start(
        Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .arg("-P")
            .arg(&m),
        &card.path("agent.log"),
    );
    agent.wait_for_file(&socket);
    let with_agent = |cmd: &mut Command| {
        cmd.env("SSH_AUTH_SOCK", &socket)
            .env("SSH_ASKPASS", &askpass)
            .env("SSH_ASKPASS_REQUIRE", "force")
            .env("DISPLAY", ":0");
    };
    let mut add = Command::new("ssh-add");
    add.arg("-s").arg(&m);
    with_agent(&mut add);
    let added = run(&mut add);
    assert!(
        added.status.success(),
        "{added}\nagent:\n{}\nvcard log:\n{}",
        agent.output(),
        card.vcard_log()
    );
    let asked = std::fs::read_to_string(&prompts).unwrap_or_default();
    assert_eq!(asked.lines().count(), 1, "ssh-add asks one PIN: {asked:?}");
    let mut list = Command::new("ssh-add");
    list.arg("-L");
    with_agent(&mut list);
    let listed = run(&mut list).ok();
    let auth = ssh_public_key(&card, "citizen", "auth");
    let blob = auth.split_whitespace().nth(1).unwrap();
    assert!(
        listed.stdout.contains(blob),
        "citizen authentication key not in the agent: {listed}"
    );

    let public = card.path("id_citizen_auth.pub");
    std::fs::write(&public, format!("{auth}\n")).unwrap();
    let doc = card.path("doc.txt");
    std::fs::write(&doc, "ssh signature\n").unwrap();
    let mut sign = Command::new("ssh-keygen");
    sign.args(["-Y", "sign", "-n", "file", "-f"])
        .arg(&public)
        .arg(&doc);
    with_agent(&mut sign);
    let signed = run(&mut sign);
    assert!(
        signed.status.success(),
        "{signed}\nagent:\n{}\nagent keys: {listed}\nvcard log:\n{}",
        agent.output(),
        card.vcard_log()
    );
    let allowed = card.path("allowed_signers");
    std::fs::write(&allowed, format!("subscriber@asan {auth}\n")).unwrap();
    let mut verify = Command::new("ssh-keygen");
    verify
        .args(["-Y", "verify", "-n", "file", "-I", "subscriber@asan", "-f"])
        .arg(&allowed)
        .arg("-s")
        .arg(card.path("doc.txt.sig"));
    // -Y verify reads the message from stdin.
    let verified = run_with_input(&mut verify, Some(&std::fs::read(&doc).unwrap()));
    assert!(verified.status.success(), "{verified}");
    verified.says("Good \"file\" signature for subscriber@asan");
    drop(agent);
    let (pin1, pin2, _) = card.tries();
    assert_eq!(
        (pin1, pin2),
        (3, 3),
        "no PIN try spent; agent keys: {listed}"
    );
}

/// Case 8: NSS: `modutil -add` registers the module in a fresh database and
/// `certutil -L -h all` lists the four certificates as `token:label`
/// without asking for a PIN (stdin closed, no `-f` password file).
#[test]
fn nss_certutil_lists_certificates_without_pin() {
    let card = Card::provisioned();
    let db = card.path("nssdb");
    std::fs::create_dir(&db).unwrap();
    let sql = format!("sql:{}", db.display());
    run(Command::new("certutil").args(["-N", "--empty-password", "-d", &sql])).ok();
    run(Command::new("modutil")
        .args(["-dbdir", &sql, "-add", "asan", "-force", "-libfile"])
        .arg(module()))
    .ok()
    .says("added to database");
    let out = run(Command::new("certutil").args(["-d", &sql, "-L", "-h", "all"])).ok();
    for (token, id, _, _, label) in KEYS {
        let nickname = format!("{}:{label}", card.label(token));
        assert!(
            out.stdout.lines().any(|l| l.starts_with(&nickname)),
            "certificate {id} not listed as {nickname:?}: {out}"
        );
    }
}
