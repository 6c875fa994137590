//! The PKCS#11 module (`libasan_pkcs11.so`, loaded with `cryptoki` as an
//! application loads it) against the host library, signing on the same card
//! (an `asan-vcard` process on 35963, through pcscd + vpcd) in interleaved
//! timed blocks: per signature a PIN2 login and `C_SignInit` + `C_Sign`
//! (length query, then the signature) on one session opened beforehand,
//! against `AsanCard::sign` with the same PIN2. The APDUs each side sends per
//! signature are counted in the card's own log (`asan-vcard --verbose`).
//!
//! The module asks pcscd for the states of the readers to notice a card
//! that left: on slot and token calls always, on a session's calls at most
//! once per 100 ms (a signature takes five calls). That query is timed
//! alone too (a bare `SCardGetStatusChange`, and `C_GetSessionInfo`
//! against `C_GetInfo`, which asks nothing).

use std::cell::RefCell;
use std::ffi::CString;
use std::hint::black_box;
use std::time::Duration;

use asan_applet::{CertificateProfile, KeyRef, KeyUsage, ServiceType};
use asan_host::transport::pcsc::PcscTransport;
use asan_host::{AsanCard, Pin2};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use p256::PublicKey;
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::ecdsa::{Signature, VerifyingKey};
use pcsc::{Context, Protocols, ReaderState, Scope, ShareMode, State};
use serde_json::json;

use crate::fixture::Fixture;
use crate::procs::{self, SLOTS, VirtualReader};
use crate::roundtrip::pair;
use crate::stats::{median, micros, r3, time_n};
use crate::{BoxResult, Options, Section};

/// The PIN2 of the bench's cards (`fixture::pins`).
const PIN2: &str = "12345";

/// `CKA_ID` of the signing key on the PIN2 token.
const SIGNING_KEY_ID: u8 = 0x21;

/// The digest signed (any 32 bytes do).
const DIGEST: [u8; 32] = [0x5A; 32];

/// Signatures counted in the card's log per side.
const COUNTED: u64 = 10;

/// Signatures per timed block: a quarter of `--iterations` (at least 5):
/// one costs about 2 ms through pcscd here, so a block lasts ~0.1 s.
fn signatures(o: &Options) -> usize {
    (o.iterations / 4).max(5)
}

/// What the section measured.
struct Figures {
    module_us: f64,
    library_us: f64,
    ratio: f64,
    apdus_module: f64,
    apdus_library: f64,
    session_info_us: f64,
    get_info_us: f64,
    status_change_us: f64,
    readers: usize,
}

/// Runs the section.
pub fn run(o: &Options) -> BoxResult<Section> {
    let (port, reader) = SLOTS[0];
    let vcard = procs::binary("asan-vcard", "asan-vcard")?;
    let module = procs::pkcs11_module()?;
    let fx = Fixture::new()?;
    let image = fx.dir.path().join("pkcs11.img");
    fx.image(&image, ServiceType::Citizen)?;

    let ctx = Context::establish(Scope::User)?;
    let name = CString::new(reader)?;
    if let Ok(card) = ctx.connect(&name, ShareMode::Shared, Protocols::ANY) {
        procs::leave(card);
        return Err(format!("{reader} (port {port}) already holds a card: slot busy").into());
    }
    let vr = VirtualReader::start_verbose(&vcard, port, reader, &image)?;
    let result = measure(o, &ctx, &vr, &module);
    vr.stop()?;
    let f = result?;

    let overhead = (f.module_us / f.library_us - 1.0) * 100.0;
    let block_overhead = (f.ratio - 1.0) * 100.0;
    let met = overhead <= 5.0;
    let n = signatures(o);
    let lines = vec![
        format!(
            "one signature on the same card through pcscd + vpcd ({reader}), medians of {} blocks of {n}:",
            o.rounds
        ),
        format!(
            "  PKCS#11 module (cryptoki: C_Login PIN2 + C_SignInit + C_Sign x2): {:.1} us, {} APDUs",
            f.module_us, f.apdus_module
        ),
        format!(
            "  host library (AsanCard::sign with PIN2): {:.1} us, {} APDUs",
            f.library_us, f.apdus_library
        ),
        format!(
            "  overhead: {overhead:.2} % (median block ratio {block_overhead:.2} %; target <= 5 %: {})",
            if met { "met" } else { "MISSED" }
        ),
        format!(
            "  a reader-state query (SCardGetStatusChange on {} readers): {:.1} us; \
             C_GetSessionInfo {:.1} us, C_GetInfo {:.1} us",
            f.readers, f.status_change_us, f.session_info_us, f.get_info_us
        ),
    ];
    Ok(Section {
        json: json!({
            "reader": reader,
            "module": module.display().to_string(),
            "signatures_per_block": n,
            "rounds": o.rounds,
            "module_us": r3(f.module_us),
            "library_us": r3(f.library_us),
            "ratio": r3(f.module_us / f.library_us),
            "median_block_ratio": r3(f.ratio),
            "overhead_percent": r3(overhead),
            "median_block_ratio_percent": r3(block_overhead),
            "target_percent": 5.0,
            "met": met,
            "apdus_per_signature_module": f.apdus_module,
            "apdus_per_signature_library": f.apdus_library,
            "readers": f.readers,
            "session_info_us": r3(f.session_info_us),
            "get_info_us": r3(f.get_info_us),
            "status_change_us": r3(f.status_change_us),
        }),
        lines,
    })
}

/// The module's PIN2 token of the card in `reader`: slots come two per
/// reader in pcscd's order (`2i` PIN1, `2i + 1` PIN2). Only that slot is
/// asked about, so that the module reads no other card on the machine.
fn pin2_slot(p: &Pkcs11, ctx: &Context, reader: &str, serial: &str) -> BoxResult<Slot> {
    let readers = ctx.list_readers_owned()?;
    let index = readers
        .iter()
        .position(|r| r.to_bytes() == reader.as_bytes())
        .ok_or_else(|| format!("pcscd does not list {reader}"))?;
    let id = 2 * index as u64 + 1;
    let slot = p
        .get_all_slots()?
        .into_iter()
        .find(|s| s.id() == id)
        .ok_or_else(|| format!("the module has no slot {id} ({reader})"))?;
    let description = p.get_slot_info(slot)?.slot_description().to_owned();
    let label = p.get_token_info(slot)?.label().to_owned();
    let want = format!("Asan PIN2 {serial}");
    if !description.starts_with(reader) || label != want {
        return Err(format!(
            "slot {id} is '{description}' with token '{label}', not {reader} with '{want}'"
        )
        .into());
    }
    Ok(slot)
}

fn signing_key(s: &Session) -> BoxResult<ObjectHandle> {
    let found = s.find_objects(&[
        Attribute::Class(ObjectClass::PRIVATE_KEY),
        Attribute::Id(vec![SIGNING_KEY_ID]),
    ])?;
    match found.as_slice() {
        [key] => Ok(*key),
        other => Err(format!(
            "{} private keys with CKA_ID 21 on the PIN2 token",
            other.len()
        )
        .into()),
    }
}

/// One signature through the module: a PIN2 login (which authorises
/// exactly the next signature) and `Session::sign`.
fn module_sign(s: &Session, key: ObjectHandle) -> BoxResult<Vec<u8>> {
    s.login(UserType::User, Some(&AuthPin::new(PIN2.into())))?;
    Ok(s.sign(&Mechanism::Ecdsa, key, &DIGEST)?)
}

/// One signature through the host library.
fn library_sign(card: &mut AsanCard<PcscTransport>) -> BoxResult<Vec<u8>> {
    Ok(card
        .sign(&DIGEST, &Pin2::new(PIN2)?, CertificateProfile::Citizen)?
        .to_vec())
}

fn verify(public: &PublicKey, signature: &[u8], who: &str) -> BoxResult<()> {
    let sig = Signature::from_slice(signature).map_err(|e| format!("{who}: {e}"))?;
    VerifyingKey::from(public)
        .verify_prehash(&DIGEST, &sig)
        .map_err(|e| format!("{who}: the signature does not verify: {e}"))?;
    Ok(())
}

/// APDUs the card received per call of `f`, over [`COUNTED`] calls.
fn counted(vr: &VirtualReader, mut f: impl FnMut() -> BoxResult<()>) -> BoxResult<f64> {
    let before = vr.apdus()?;
    for _ in 0..COUNTED {
        f()?;
    }
    Ok((vr.apdus()? - before) as f64 / COUNTED as f64)
}

/// The states of `readers` now, as the module asks for them.
fn status_change(ctx: &Context, readers: &[CString]) -> BoxResult<()> {
    let mut states: Vec<ReaderState> = readers
        .iter()
        .map(|r| ReaderState::new(r.clone(), State::UNAWARE))
        .collect();
    ctx.get_status_change(Duration::ZERO, &mut states)?;
    black_box(&states);
    Ok(())
}

fn measure(
    o: &Options,
    ctx: &Context,
    vr: &VirtualReader,
    module: &std::path::Path,
) -> BoxResult<Figures> {
    let mut card = AsanCard::open(PcscTransport::connect(Some(&vr.reader))?)?;
    let serial = card.info()?.serial;
    let public = card.public_key(KeyRef::new(CertificateProfile::Citizen, KeyUsage::Signing))?;

    let p = Pkcs11::new(module)?;
    p.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))?;
    let slot = pin2_slot(&p, ctx, &vr.reader, &serial)?;
    let session = p.open_ro_session(slot)?;
    let key = signing_key(&session)?;

    // Both sides sign correctly (and each has made its first signature).
    verify(&public, &module_sign(&session, key)?, "module")?;
    verify(&public, &library_sign(&mut card)?, "host library")?;

    // Both closures of a pair may sign with it.
    let card = RefCell::new(card);
    let n = signatures(o);
    let (module_us, library_us, ratio) = pair(
        o,
        n,
        || {
            black_box(module_sign(&session, key)?);
            Ok(())
        },
        || {
            black_box(library_sign(&mut card.borrow_mut())?);
            Ok(())
        },
    )?;
    let apdus_module = counted(vr, || module_sign(&session, key).map(drop))?;
    let apdus_library = counted(vr, || library_sign(&mut card.borrow_mut()).map(drop))?;

    // The module's query of the readers' states, alone.
    let readers: Vec<CString> = ctx.list_readers_owned()?;
    let calls = o.iterations.max(20);
    let (session_info_us, get_info_us, _) = pair(
        o,
        calls,
        || {
            black_box(session.get_session_info()?);
            Ok(())
        },
        || {
            black_box(p.get_library_info()?);
            Ok(())
        },
    )?;
    time_n(calls / 4 + 1, || status_change(ctx, &readers))?;
    let mut bare = Vec::new();
    for _ in 0..o.rounds {
        bare.push(micros(
            time_n(calls, || status_change(ctx, &readers))?,
            calls,
        ));
    }

    // The module's card connection goes before the card does.
    drop(session);
    p.finalize()?;
    drop(card);
    Ok(Figures {
        module_us,
        library_us,
        ratio,
        apdus_module,
        apdus_library,
        session_info_us,
        get_info_us,
        status_change_us: median(&bare),
        readers: readers.len(),
    })
}
