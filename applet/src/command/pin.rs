//! VERIFY, CHANGE REFERENCE DATA and RESET RETRY COUNTER.
//!
//! Every comparison first persists the decremented counter in its own
//! transaction, then compares, then restores the counter on a match (together
//! with any new value, in one transaction). A power cut therefore never
//! gives a free guess.

use crate::applet::Core;
use crate::command::VerifyAction;
use crate::pin::{PinBlock, PinRecord, PinRef};
use crate::state::{self, transact, write_pin};
use crate::store::Store;
use crate::wire::Status;

/// Spends a try, then compares. `Ok` returns the record (with the try
/// spent) for the caller to restore; a mismatch answers `63Cx`.
fn check<S: Store, R>(
    core: &mut Core<S, R>,
    pin: PinRef,
    candidate: &PinBlock,
) -> Result<PinRecord, Status> {
    let mut rec = state::pin(&core.store, pin)?;
    let reference = rec
        .value
        .clone()
        .ok_or(Status::ConditionsOfUseNotSatisfied)?;
    if rec.blocked() {
        return Err(Status::OperationBlocked);
    }
    rec.tries_left -= 1;
    transact(&mut core.store, |s| write_pin(s, pin, &rec))?;
    if reference.matches(candidate) {
        Ok(rec)
    } else {
        set_verified(core, pin, false);
        Err(Status::RemainingRetries(rec.tries_left))
    }
}

fn set_verified<S, R>(core: &mut Core<S, R>, pin: PinRef, verified: bool) {
    match pin {
        PinRef::Pin1 => core.session.pin1_verified = verified,
        PinRef::Pin2 => core.session.pin2_verified = verified,
        PinRef::Puk => core.session.puk_verified = verified,
    }
}

fn verified<S, R>(core: &Core<S, R>, pin: PinRef) -> bool {
    match pin {
        PinRef::Pin1 => core.session.pin1_verified,
        PinRef::Pin2 => core.session.pin2_verified,
        PinRef::Puk => core.session.puk_verified,
    }
}

/// VERIFY: check, status query or logout.
pub fn verify<S: Store, R>(
    core: &mut Core<S, R>,
    pin: PinRef,
    action: VerifyAction,
) -> Result<(), Status> {
    match action {
        VerifyAction::Logout => {
            set_verified(core, pin, false);
            Ok(())
        }
        VerifyAction::Status => {
            let rec = state::pin(&core.store, pin)?;
            if verified(core, pin) {
                Ok(())
            } else if rec.blocked() {
                Err(Status::OperationBlocked)
            } else {
                Err(Status::RemainingRetries(rec.tries_left))
            }
        }
        VerifyAction::Check(candidate) => {
            confirm(core, pin, &candidate)?;
            set_verified(core, pin, true);
            Ok(())
        }
    }
}

/// VERIFY's comparison without its effect on the session: a try spent
/// and persisted, the comparison, the counter restored on a match (a wrong
/// PIN clears the PIN's status and answers `63Cx`, a blocked one `6983`).
/// PSO: CDS with PIN2 checks its PIN2 this way.
pub fn confirm<S: Store, R>(
    core: &mut Core<S, R>,
    pin: PinRef,
    candidate: &PinBlock,
) -> Result<(), Status> {
    let mut rec = check(core, pin, candidate)?;
    rec.tries_left = rec.limit;
    transact(&mut core.store, |s| write_pin(s, pin, &rec))?;
    Ok(())
}

/// CHANGE REFERENCE DATA: old value, then the new one; clears the PIN's status.
pub fn change<S: Store, R>(
    core: &mut Core<S, R>,
    pin: PinRef,
    old: &PinBlock,
    new: PinBlock,
) -> Result<(), Status> {
    let mut rec = check(core, pin, old)?;
    rec.value = Some(new);
    rec.tries_left = rec.limit;
    transact(&mut core.store, |s| write_pin(s, pin, &rec))?;
    set_verified(core, pin, false);
    Ok(())
}

/// RESET RETRY COUNTER: the PUK resets a PIN's counter, optionally with a new value.
pub fn reset<S: Store, R>(
    core: &mut Core<S, R>,
    pin: PinRef,
    puk: &PinBlock,
    new: Option<PinBlock>,
) -> Result<(), Status> {
    let mut target = state::pin(&core.store, pin)?;
    if target.value.is_none() {
        return Err(Status::ConditionsOfUseNotSatisfied);
    }
    let mut puk_rec = check(core, PinRef::Puk, puk)?;
    puk_rec.tries_left = puk_rec.limit;
    if let Some(new) = new {
        target.value = Some(new);
    }
    target.tries_left = target.limit;
    transact(&mut core.store, |s| {
        write_pin(s, PinRef::Puk, &puk_rec)?;
        write_pin(s, pin, &target)
    })?;
    set_verified(core, pin, false);
    Ok(())
}
