//! Replacing a card's SCP03 key set (PUT KEY), safe to interrupt: PUT KEY
//! replaces the whole set at once on the card, so at any moment the card
//! answers to exactly one of the two sets, and running again finishes.

use asan_applet::scp03::{SecurityLevel, StaticKeys};

use crate::card::AsanCard;
use crate::error::{Error, Result};
use crate::operator::Operator;
use crate::transport::Transport;

/// What [`replace_keys`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rotation {
    /// PUT KEY replaced the old set; a channel with the new one opened.
    Replaced,
    /// The card already answered to the new set (an earlier run got that
    /// far); a channel with it opened.
    AlreadyDone,
}

/// Makes the card answer to `new` instead of `old`: a channel with `old`,
/// PUT KEY, then a channel with `new` proves the card holds it. A card that
/// already has `new`'s key version is only checked with a channel.
pub fn replace_keys<T: Transport>(
    card: &mut AsanCard<T>,
    old: &StaticKeys,
    new: &StaticKeys,
    level: SecurityLevel,
) -> Result<Rotation> {
    if old.kvn == new.kvn {
        return Err(Error::Usage(format!(
            "the new key set must have another key version than the old one ({:02X})",
            old.kvn
        )));
    }
    let extended = card.transport().extended_length();
    let on_card = card.info()?.scp_key_version;
    let done = if on_card == new.kvn {
        card.exclusive(|a| Operator::open(a, new, level, extended).map(|_| ()))?;
        Rotation::AlreadyDone
    } else {
        card.exclusive(|a| {
            Operator::open(a, old, level, extended)?.put_key(old, new)?;
            // A new session with the new keys: the card cryptogram proves
            // the card holds them.
            Operator::open(a, new, level, extended).map(|_| ())
        })?;
        Rotation::Replaced
    };
    card.select()?;
    Ok(done)
}
