//! SELECT (applet, certificate EF) and READ BINARY.

use crate::applet::{Core, Ctx};
use crate::objects::{CertificateFid, LifeCycle};
use crate::out::Out;
use crate::session::Session;
use crate::state;
use crate::store::{RecordId, Store};
use crate::wire::{AID, APPLET_VERSION, CONTRACT_VERSION, Status, data_object, tag};

/// The version objects of the FCI and of GET DATA: `C0` (applet major,
/// minor, contract major) and, for a card implementing a contract minor
/// version above 0, `C7` (contract minor).
pub fn version_objects(contract_minor: u8, out: &mut Out) -> Result<(), Status> {
    let [major, minor] = APPLET_VERSION;
    out.tlv(&[data_object::VERSION], &[major, minor, CONTRACT_VERSION])?;
    if contract_minor > 0 {
        out.tlv(&[data_object::CONTRACT_MINOR], &[contract_minor])?;
    }
    Ok(())
}

/// SELECT by AID: exact match only; clears all security status.
pub fn select_applet<S: Store, R>(
    core: &mut Core<S, R>,
    aid: &[u8],
    fci: bool,
    lcs: LifeCycle,
    out: &mut Out,
) -> Result<(), Status> {
    if aid != AID {
        return Err(Status::NotFound);
    }
    core.session = Session::default();
    if fci {
        let mut proprietary = Out::default();
        version_objects(core.contract_minor, &mut proprietary)?;
        proprietary.tlv(&[data_object::LIFE_CYCLE], &[lcs.byte()])?;
        let mut body = Out::default();
        body.tlv(&[tag::DF_NAME], &AID)?;
        body.tlv(&[tag::FCI_PROPRIETARY], proprietary.data())?;
        out.tlv(&[tag::FCI], body.data())?;
    }
    Ok(())
}

/// SELECT EF: a certificate file that exists becomes the current EF.
pub fn select_file<S: Store, R>(
    core: &mut Core<S, R>,
    fid: [u8; 2],
    fcp: bool,
    out: &mut Out,
) -> Result<(), Status> {
    let file = CertificateFid::from_bytes(fid).ok_or(Status::NotFound)?;
    let size = state::certificate_len(&core.store, file.key())?;
    if size == 0 {
        return Err(Status::NotFound);
    }
    core.session.current_ef = Some(file);
    if fcp {
        let [hi, lo] = (size as u16).to_be_bytes();
        let mut body = Out::default();
        body.tlv(&[tag::FILE_SIZE], &[hi, lo])?;
        body.tlv(&[tag::FILE_ID], &fid)?;
        out.tlv(&[tag::FCP], body.data())?;
    }
    Ok(())
}

/// READ BINARY of the current EF. A short specific Le beyond the end of the
/// file answers `6Cxx` with the exact count; `00`/`0000` read what there is.
pub fn read_binary<S: Store, R>(
    core: &mut Core<S, R>,
    offset: usize,
    ctx: Ctx,
    out: &mut Out,
) -> Result<(), Status> {
    let file = core
        .session
        .current_ef
        .ok_or(Status::ConditionsOfUseNotSatisfied)?;
    let size = state::certificate_len(&core.store, file.key())?;
    if size == 0 {
        return Err(Status::NotFound);
    }
    if offset >= size {
        return Err(Status::WrongParameters);
    }
    if ctx.ne == 0 {
        return Err(Status::WrongLength);
    }
    let available = size - offset;
    if !ctx.extended && ctx.ne < 256 && ctx.ne > available {
        return Err(Status::WrongLeField(available as u8));
    }
    let n = ctx.ne.min(available);
    let dst = out
        .spare()
        .get_mut(..n)
        .ok_or(Status::UnspecifiedCheckingError)?;
    let read = core
        .store
        .read(RecordId::Certificate(file.key()), offset, dst)
        .map_err(|_| Status::UnspecifiedCheckingError)?;
    out.advance(read)
}
