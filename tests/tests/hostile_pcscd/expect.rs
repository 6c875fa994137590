//! What each command must end in against each mode, and the check of one
//! run against it.

use std::sync::OnceLock;

use crate::cli::{Cli, DIGEST, Out};
use crate::modes::{Mode, honest_signature};

/// What a run must end in.
#[derive(Clone, Copy, Debug)]
pub enum Expect {
    /// Exit 0, stderr empty, stdout contains this.
    Ok(&'static str),
    /// This exit code, nothing on stdout, one `asan: ` line on stderr that
    /// contains one of these.
    Fail(i32, &'static [&'static str]),
}

const OUR_READER_OK: &str = "Virtual PCD 35965 00 01: Asan İmza card";
const GARBAGE: &[&str] = &[
    "the card's answer is invalid: ",
    "failed: the card answered ",
    "certificate problem: ",
    "the card refuses: ",
    "not on the card: ",
    "the card wants a PIN verification first",
];
pub const SILENT: &[&str] = &["the card does not answer (nothing within 3 s)"];
/// A card that goes away: a communication failure, or — when the socket
/// closes while vpcd waits for the answer — the 0 bytes vpcd then reports
/// as the answer (see `a_card_that_vanishes_mid_command_…`).
pub const GONE: &[&str] = &["communication with the card failed: "];

/// SHA-256 of "x", what `asan auth --challenge x` signs.
const SHA256_X: &str = "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881";

/// The honest card's signature for `sign --digest` or `auth --challenge x`
/// (`asan` checks it against the card's public key through PC/SC).
fn signed(cli: Cli) -> &'static str {
    static SIGN: OnceLock<String> = OnceLock::new();
    static AUTH: OnceLock<String> = OnceLock::new();
    let (cell, digest) = match cli {
        Cli::Auth => (&AUTH, SHA256_X),
        _ => (&SIGN, DIGEST),
    };
    cell.get_or_init(|| honest_signature(&hex::decode(digest).unwrap()))
}

/// A public key answer that is not `7F49 { 86 … }`.
const PUBLIC_KEY_TLV: &str = "the card's answer is invalid: malformed TLV: ";

fn honest_expect(cli: Cli) -> Expect {
    match cli {
        Cli::Info => Expect::Ok("Serial        9A3744504560639E"),
        Cli::PinStatus => Expect::Ok("PIN2: 3 of 3 tries left"),
        Cli::Verify => Expect::Ok("PIN2 is correct"),
        Cli::Sign | Cli::Auth => Expect::Ok(signed(cli)),
        Cli::CertRead => Expect::Ok("-----BEGIN CERTIFICATE-----\nMIIBnTCCAUOgAwIBAgIUW50l"),
        Cli::Readers => Expect::Ok(OUR_READER_OK),
    }
}

/// What each command must end in against each mode.
pub fn expect(mode: Mode, cli: Cli) -> Expect {
    use Expect::{Fail, Ok};
    if cli == Cli::Readers {
        // `readers` sends only SELECT of the applet.
        return match mode {
            Mode::SelectGarbage => Ok("Virtual PCD 35965 00 01: card, no Asan İmza applet"),
            Mode::SilentFromStart => Fail(1, SILENT),
            _ => Ok(OUR_READER_OK),
        };
    }
    // sign and auth (through PC/SC) read the public key first, to check the
    // signature: a mode that spoils every answer fails them there.
    let verify = matches!(cli, Cli::Verify | Cli::Sign | Cli::Auth);
    match mode {
        Mode::Honest => honest_expect(cli),
        Mode::Garbage => Fail(1, GARBAGE),
        Mode::GarbageOk => match cli {
            Cli::Info | Cli::PinStatus => {
                Fail(1, &["the card's answer is invalid: malformed TLV: "])
            }
            Cli::CertRead => Fail(
                1,
                &[
                    "answered",
                    "certificate problem: ",
                    "the card's answer is invalid: ",
                ],
            ),
            Cli::Sign | Cli::Auth => Fail(1, &[PUBLIC_KEY_TLV, "not a P-256 point"]),
            _ => Fail(1, &["VERIFY answered", "bytes of data where none belong"]),
        },
        Mode::Empty | Mode::SilentAfterSelect | Mode::SilentFromStart => Fail(1, SILENT),
        Mode::OneByte => Fail(
            1,
            &["the card's answer is invalid: 1 byte(s), no status word"],
        ),
        Mode::Truncated => match cli {
            Cli::Info => Fail(1, &["malformed TLV: value of 68 bytes, 33 present"]),
            Cli::PinStatus => Fail(1, &["malformed TLV: value of 12 bytes, 5 present"]),
            // VERIFY answers no data: nothing to cut.
            Cli::Verify => honest_expect(cli),
            Cli::CertRead => Fail(1, &["READ BINARY answered no data"]),
            _ => Fail(1, &["malformed TLV: value of 67 bytes, 32 present"]),
        },
        Mode::Oversized {
            size,
            everywhere: false,
        } => match cli {
            Cli::Info | Cli::PinStatus if size < 65_520 => {
                Fail(1, &["malformed TLV: value of 65520 bytes"])
            }
            Cli::Info | Cli::PinStatus => Fail(1, &["malformed TLV: tag 30, expected "]),
            Cli::Verify => honest_expect(cli),
            Cli::CertRead => Fail(1, &["certificate file larger than 4096 bytes"]),
            _ => Fail(1, &[PUBLIC_KEY_TLV]),
        },
        Mode::Oversized {
            everywhere: true, ..
        } => match cli {
            Cli::Info | Cli::PinStatus => Fail(1, &["malformed TLV: "]),
            Cli::CertRead => Fail(1, &["SELECT (certificate) answered"]),
            Cli::Sign | Cli::Auth => Fail(1, &["malformed TLV: tag 30, expected 7F49"]),
            _ => Fail(1, &["VERIFY answered", "bytes of data where none belong"]),
        },
        Mode::MoreForever | Mode::MoreNothingForever => {
            Fail(1, &["the card keeps announcing more data (61xx)"])
        }
        Mode::OutOfOrder => match cli {
            Cli::Info => Fail(1, &["malformed TLV: tag C4, expected 6E"]),
            Cli::PinStatus => Fail(1, &["malformed TLV: tag 6E, expected C4"]),
            Cli::CertRead => Fail(
                1,
                &["SELECT (certificate) answered 70 bytes of data where none belong"],
            ),
            Cli::Sign | Cli::Auth => Fail(1, &["malformed TLV: tag 6E, expected 7F49"]),
            _ => Fail(1, &["VERIFY answered 64 bytes of data where none belong"]),
        },
        Mode::Lagging => match cli {
            // Each answer is the one to the command before: the first is the
            // SELECT's FCI (24 bytes), which no other command answers.
            Cli::Verify => Fail(1, &["VERIFY answered 24 bytes of data where none belong"]),
            Cli::CertRead => Fail(
                1,
                &["SELECT (certificate) answered 24 bytes of data where none belong"],
            ),
            _ => Fail(1, &["malformed TLV: tag 6F"]),
        },
        Mode::LeLoop => Fail(1, &["the card asks for a different Le twice"]),
        Mode::WrongPin => match cli {
            Cli::Auth => Fail(3, &["asan: wrong PIN1, 2 tries left"]),
            _ if verify => Fail(3, &["asan: wrong PIN2, 2 tries left"]),
            _ => honest_expect(cli),
        },
        Mode::Blocked => match cli {
            Cli::Auth => Fail(
                4,
                &["asan: PIN1 is blocked; unblock it with the PUK: asan pin unblock pin1"],
            ),
            _ if verify => Fail(
                4,
                &["asan: PIN2 is blocked; unblock it with the PUK: asan pin unblock pin2"],
            ),
            _ => honest_expect(cli),
        },
        Mode::SelectGarbage => Fail(
            1,
            &["no reader matching 'Virtual PCD 35965 00 01' holds an Asan İmza card"],
        ),
        Mode::SelectWithData => Fail(1, &["the SELECT answer (FCI): no proprietary data (A5)"]),
        Mode::Disconnect(0) => Fail(1, GONE),
        // The second command of the run meets the closed socket: `info`
        // reads the certificate (its line carries the error; documented:
        // exit 0), `pin status` and `pin verify` send only one.
        Mode::Disconnect(_) => match cli {
            Cli::Info => {
                Ok("  citizen sign: communication with the card failed: the card was removed")
            }
            Cli::PinStatus | Cli::Verify => honest_expect(cli),
            _ => Fail(1, GONE),
        },
        Mode::GoneAfterAnswer(_) => match cli {
            Cli::Info => Ok("  citizen sign: communication with the card failed: "),
            Cli::PinStatus | Cli::Verify => honest_expect(cli),
            _ => Fail(1, GONE),
        },
    }
}

/// Checks one run; returns what is wrong.
pub fn check(out: &Out, expected: Expect) -> Vec<String> {
    let mut wrong = Vec::new();
    if out.stderr.contains("panicked") || out.stdout.contains("panicked") {
        wrong.push("panicked".to_owned());
    }
    match expected {
        Expect::Ok(needle) => {
            if out.code != 0 {
                wrong.push(format!("exit {}, expected 0", out.code));
            }
            if !out.stderr.is_empty() {
                wrong.push("stderr not empty".to_owned());
            }
            if !out.stdout.contains(needle) {
                wrong.push(format!("stdout lacks {needle:?}"));
            }
        }
        Expect::Fail(code, needles) => {
            if out.code != code {
                wrong.push(format!("exit {}, expected {code}", out.code));
            }
            if !out.stdout.is_empty() {
                wrong.push("stdout not empty".to_owned());
            }
            let line = out.stderr.trim_end();
            if line.contains('\n') || !line.starts_with("asan: ") {
                wrong.push("stderr is not one `asan: ` line".to_owned());
            }
            if !needles.iter().any(|n| line.contains(n)) {
                wrong.push(format!("stderr lacks any of {needles:?}"));
            }
        }
    }
    wrong
}
