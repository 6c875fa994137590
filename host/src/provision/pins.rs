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

    fn digits(block: &asan_applet::PinBlock) -> String {
        String::from_utf8_lossy(block.as_bytes().get(..block.digit_count()).unwrap_or(&[]))
            .into_owned()
    }

    /// The PIN mailer line: `{"serial", "pin1", "pin2", "puk"}`.
    pub fn mailer_line(&self, serial: &str) -> zeroize::Zeroizing<String> {
        zeroize::Zeroizing::new(
            serde_json::json!({
                "serial": serial,
                "pin1": Self::digits(self.pin1.block()),
                "pin2": Self::digits(self.pin2.block()),
                "puk": Self::digits(self.puk.block()),
            })
            .to_string(),
        )
    }

    /// The PINs of `serial` in a mailer file (the last line for it wins).
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
        for line in text.lines() {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            if v["serial"].as_str() == Some(serial) {
                let field = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
                found = Some(Self {
                    pin1: Pin1::new(&field("pin1"))?,
                    pin2: Pin2::new(&field("pin2"))?,
                    puk: Puk::new(&field("puk"))?,
                });
            }
        }
        Ok(found)
    }
}
