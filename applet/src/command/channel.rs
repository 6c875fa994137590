//! GlobalPlatform SCP03 session set-up: INITIALIZE UPDATE and EXTERNAL
//! AUTHENTICATE. Wrapping and unwrapping of the following commands is the
//! transport layer's (`applet.rs`).

use zeroize::Zeroize;

use crate::apdu::Apdu;
use crate::applet::Core;
use crate::objects::LifeCycle;
use crate::out::Out;
use crate::scp03::ScpError;
use crate::scp03::card::CardChannel;
use crate::state::{self, MAX_SEQUENCE_COUNTER, transact, write_scp_counter};
use crate::store::Store;
use crate::wire::{AID, Status};

/// INITIALIZE UPDATE `80 50 KVN 00 08 host_challenge`: offers the next
/// value of the sequence counter and the card challenge derived from it,
/// and writes nothing: the value is used up only by the EXTERNAL
/// AUTHENTICATE that proves the keys ([`external_authenticate`]), so no
/// one without the keys can move the counter or wear the memory, and no
/// card challenge ever serves two sessions (`docs/protocol.md` §5.1).
pub fn initialize_update<S: Store, R>(
    core: &mut Core<S, R>,
    apdu: &Apdu<'_>,
    out: &mut Out,
) -> Result<(), Status> {
    core.session.channel = None;
    if state::life_cycle(&core.store)? == LifeCycle::Terminated {
        return Err(Status::ConditionsOfUseNotSatisfied);
    }
    if apdu.p2 != 0 {
        return Err(Status::IncorrectP1OrP2Parameter);
    }
    let host_challenge: [u8; 8] = apdu.data.try_into().map_err(|_| Status::WrongLength)?;
    let keys = state::scp_keys(&core.store)?;
    if apdu.p1 != 0 && apdu.p1 != keys.kvn {
        return Err(Status::KeyReferenceNotFound);
    }
    let counter = state::scp_counter(&core.store)? + 1;
    if counter > MAX_SEQUENCE_COUNTER {
        return Err(Status::ConditionsOfUseNotSatisfied);
    }
    let [_, a, b, c] = counter.to_be_bytes();
    let serial = state::serial(&core.store)?;
    let mut div = [0u8; 10];
    if let Some(head) = div.get_mut(..serial.len()) {
        head.copy_from_slice(&serial);
    }
    let (channel, mut response) =
        CardChannel::initialize(&keys, &host_challenge, [a, b, c], &AID, &div);
    core.session.channel = Some(channel);
    let r = out.extend(&response);
    response.zeroize();
    r
}

/// EXTERNAL AUTHENTICATE `84 82 SL 00 10 host_cryptogram C-MAC`: opens the
/// channel at level SL after persisting the session's sequence counter
/// value, or closes it for good on any failure.
pub fn external_authenticate<S: Store, R>(
    core: &mut Core<S, R>,
    apdu: &Apdu<'_>,
) -> Result<(), Status> {
    let Some(mut channel) = core.session.channel.take() else {
        return Err(Status::ConditionsOfUseNotSatisfied);
    };
    if channel.level().is_some() {
        // Already authenticated: a second EXTERNAL AUTHENTICATE ends the session.
        return Err(Status::ConditionsOfUseNotSatisfied);
    }
    match channel.external_authenticate(apdu.header(), apdu.data) {
        Ok(_) => {
            // The host proved the keys: this session's counter value is
            // used up, durably, before the channel opens and answers 9000.
            // If that fails the channel stays closed (the value may or may
            // not be used up; it opens no session either way).
            let [a, b, c] = channel.sequence_counter();
            let counter = u32::from_be_bytes([0, a, b, c]);
            transact(&mut core.store, |s| write_scp_counter(s, counter))?;
            core.session.channel = Some(channel);
            Ok(())
        }
        Err(ScpError::WrongLength) => Err(Status::WrongLength),
        Err(ScpError::BadLevel) => Err(Status::IncorrectP1OrP2Parameter),
        Err(_) => Err(Status::SecurityStatusNotSatisfied),
    }
}
