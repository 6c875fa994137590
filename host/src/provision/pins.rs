//! The three PINs of a card: generated from the operating system's CSPRNG,
//! or found again in the mailer file when a card is resumed.

use crate::error::{Error, Result};
use crate::pin::{Pin1, Pin2, Puk, Secret};

/// The three PINs of a card.
#[derive(Clone, Debug)]
pub struct CardPins {
    /// PIN1.
    pub pin1: Pin1,
    /// PIN2.
    pub pin2: Pin2,
    /// PUK.
    pub puk: Puk,
}

fn random_digits(n: usize) -> Result<zeroize::Zeroizing<String>> {
    let mut out = zeroize::Zeroizing::new(String::with_capacity(n));
    while out.len() < n {
        let mut b = [0u8; 1];
        getrandom::fill(&mut b).map_err(|e| Error::Transport(format!("no randomness: {e}")))?;
        // 250 = 25 × 10: reject the rest so every digit is equally likely.
        if b[0] < 250 {
            out.push(char::from(b'0' + b[0] % 10));
        }
    }
    Ok(out)
}

impl CardPins {
    /// Fresh PINs from the operating system's CSPRNG: PIN1 4 digits, PIN2 5, PUK 8.
    pub fn generate() -> Result<Self> {
        Ok(Self {
            pin1: Pin1::new(&random_digits(4)?)?,
            pin2: Pin2::new(&random_digits(5)?)?,
            puk: Puk::new(&random_digits(8)?)?,
        })
    }

    fn digits(block: &asan_applet::PinBlock) -> &str {
        std::str::from_utf8(block.as_bytes().get(..block.digit_count()).unwrap_or(&[]))
            .unwrap_or_default()
    }

    /// The PIN mailer line: `{"pin1", "pin2", "puk", "serial"}`, written
    /// straight into a buffer that is wiped when dropped (no other copy of
    /// the PINs is made).
    pub fn mailer_line(&self, serial: &str) -> zeroize::Zeroizing<String> {
        let line = MailerLine {
            pin1: Self::digits(self.pin1.block()),
            pin2: Self::digits(self.pin2.block()),
            puk: Self::digits(self.puk.block()),
            serial,
        };
        wiped_json(&line, false)
    }

    /// The PINs of `serial` in a mailer file (the last line for it wins).
    /// Only lines that name the serial are parsed, borrowing from the file's
    /// wiped text: other cards' PINs are never copied.
    pub fn from_mailer(path: &std::path::Path, serial: &str) -> Result<Option<Self>> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => zeroize::Zeroizing::new(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(Error::Io {
                    path: path.display().to_string(),
                    source: e,
                });
            }
        };
        let mut found = None;
        for line in text.lines().filter(|l| l.contains(serial)) {
            let Ok(v) = serde_json::from_str::<MailerLine<'_>>(line) else {
                continue;
            };
            if v.serial == serial {
                found = Some(Self {
                    pin1: Pin1::new(v.pin1)?,
                    pin2: Pin2::new(v.pin2)?,
                    puk: Puk::new(v.puk)?,
                });
            }
        }
        Ok(found)
    }
}

/// `value` as JSON (pretty or on one line) in a buffer that is wiped when
/// dropped, for values that borrow secrets (PINs, keys): no other copy of
/// them is made. The buffer is large enough never to grow (a grown buffer
/// would be freed unwiped).
pub(crate) fn wiped_json(
    value: &impl serde::Serialize,
    pretty: bool,
) -> zeroize::Zeroizing<String> {
    let mut out = zeroize::Zeroizing::new(Vec::with_capacity(1024));
    let written = if pretty {
        serde_json::to_writer_pretty(&mut *out, value)
    } else {
        serde_json::to_writer(&mut *out, value)
    };
    // serde_json writes UTF-8: the bytes move into the String uncopied.
    let bytes = match written {
        Ok(()) => std::mem::take(&mut *out),
        Err(_) => Vec::new(),
    };
    zeroize::Zeroizing::new(String::from_utf8(bytes).unwrap_or_else(|e| {
        zeroize::Zeroize::zeroize(&mut e.into_bytes());
        String::new()
    }))
}

/// One line of the PIN mailer file, borrowed (never owned copies of PINs).
#[derive(serde::Serialize, serde::Deserialize)]
struct MailerLine<'a> {
    pin1: &'a str,
    pin2: &'a str,
    puk: &'a str,
    serial: &'a str,
}
