//! `libasan_pkcs11.so` driven by OpenSC's pkcs11-tool, against a freshly
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
//!
//! GnuTLS, OpenSSL, OpenSSH and NSS are in `consumers.rs`.
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
    Block, Card, KEYS, Run, Token, blocks, ecdsa_raw_to_der, openssl_verify_digest, pkcs11_tool,
    pkcs11_tool_spied, run, slot_id, spy_calls,
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
