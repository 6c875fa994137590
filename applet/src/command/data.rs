//! GET DATA: card information objects (tags in `wire::data_object`).

use crate::applet::Core;
use crate::objects::KeyRef;
use crate::out::Out;
use crate::pin::PinRef;
use crate::state;
use crate::store::Store;
use crate::wire::{APPLET_VERSION, CONTRACT_VERSION, Status, data_object as tag};

/// Appends the data object `tag`; `6A88` for an unknown or absent object.
fn object<S: Store, R>(core: &Core<S, R>, t: u8, out: &mut Out) -> Result<(), Status> {
    let s = &core.store;
    match t {
        tag::VERSION => {
            let [major, minor] = APPLET_VERSION;
            out.tlv(&[t], &[major, minor, CONTRACT_VERSION])
        }
        tag::SERIAL => out.tlv(&[t], &state::serial(s)?),
        tag::LIFE_CYCLE => out.tlv(&[t], &[state::life_cycle(s)?.byte()]),
        tag::SERVICE => {
            let service = state::service(s)?.ok_or(Status::KeyReferenceNotFound)?;
            out.tlv(&[t], &service.bytes())
        }
        tag::PIN_STATUS => {
            let mut v = [0u8; 12];
            for (chunk, pin) in v.chunks_exact_mut(4).zip(PinRef::ALL) {
                let rec = state::pin(s, pin)?;
                chunk.copy_from_slice(&[
                    pin.byte(),
                    rec.tries_left,
                    rec.limit,
                    u8::from(rec.value.is_some()),
                ]);
            }
            out.tlv(&[t], &v)
        }
        tag::OBJECTS => {
            let mut v = [0u8; 24];
            for (chunk, key) in v.chunks_exact_mut(4).zip(KeyRef::ALL) {
                let [hi, lo] = (state::certificate_len(s, key)? as u16).to_be_bytes();
                chunk.copy_from_slice(&[key.byte(), u8::from(state::has_key(s, key)?), hi, lo]);
            }
            out.tlv(&[t], &v)
        }
        tag::CONTRACT_MINOR if core.contract_minor > 0 => out.tlv(&[t], &[core.contract_minor]),
        tag::SECURE_CHANNEL => {
            let kvn = state::scp_keys(s)?.kvn;
            let [_, a, b, c] = state::scp_counter(s)?.to_be_bytes();
            out.tlv(&[t], &[kvn, a, b, c])
        }
        tag::ALL => {
            let mut inner = Out::default();
            for t in [
                tag::VERSION,
                tag::SERIAL,
                tag::LIFE_CYCLE,
                tag::SERVICE,
                tag::PIN_STATUS,
                tag::OBJECTS,
                tag::SECURE_CHANNEL,
                tag::CONTRACT_MINOR,
            ] {
                // No service yet, or a card of contract 1.0: the object is
                // left out.
                let absent = match t {
                    tag::SERVICE => state::service(s)?.is_none(),
                    tag::CONTRACT_MINOR => core.contract_minor == 0,
                    _ => false,
                };
                if !absent {
                    object(core, t, &mut inner)?;
                }
            }
            out.tlv(&[t], inner.data())
        }
        _ => Err(Status::KeyReferenceNotFound),
    }
}

/// GET DATA `00 CA 00 tag`.
pub fn get_data<S: Store, R>(core: &mut Core<S, R>, t: u8, out: &mut Out) -> Result<(), Status> {
    object(core, t, out)
}
