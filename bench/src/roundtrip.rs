//! Round trip through pcscd + vpcd: the host library's SELECT / VERIFY
//! status loop (`AsanCard` over `PcscTransport`) against a bare
//! `pcsc::Card::transmit` loop of the same APDUs, on the same card (an
//! `asan-vcard` process on 35963), in interleaved timed blocks. The same
//! pair in-process shows the library's own CPU cost without the socket hops.

use std::cell::RefCell;
use std::ffi::CString;
use std::hint::black_box;
use std::time::Duration;

use asan_applet::wire::ins;
use asan_applet::{PinRef, ServiceType};
use asan_host::AsanCard;
use asan_host::transport::Transport;
use asan_host::transport::pcsc::{PcscTransport, select_apdu};
use pcsc::{Context, Protocols, Scope, ShareMode};
use serde_json::json;

use crate::fixture::Fixture;
use crate::procs::{self, SLOTS, VirtualReader};
use crate::stats::{median, micros, r3, time_n};
use crate::{BoxResult, Options, Section};

/// VERIFY PIN1 without data: the PIN's status (`63C3` after SELECT).
const VERIFY_STATUS: [u8; 4] = [0x00, ins::VERIFY, 0x00, PinRef::Pin1.byte()];

fn sw(r: &[u8]) -> u16 {
    match r {
        [.., a, b] => u16::from_be_bytes([*a, *b]),
        _ => 0,
    }
}

/// Iterations per PC/SC block: a tenth of `--iterations` (at least 5), as
/// one PC/SC round trip costs milliseconds where a signature costs 0.2 ms.
fn pcsc_iterations(o: &Options) -> usize {
    (o.iterations / 10).max(5)
}

/// The bare loop's answers must be those the library checks for.
fn check_bare(select: u16, verify: u16) -> BoxResult<()> {
    match (select, verify) {
        (0x9000, 0x63C0..=0x63CF | 0x9000) => Ok(()),
        _ => Err(format!("bare loop: SELECT {select:04X}, VERIFY {verify:04X}").into()),
    }
}

/// Interleaved blocks of `a` and `b`; per-iteration medians and the median
/// of the per-block ratios a/b.
pub fn pair(
    o: &Options,
    n: usize,
    mut a: impl FnMut() -> BoxResult<()>,
    mut b: impl FnMut() -> BoxResult<()>,
) -> BoxResult<(f64, f64, f64)> {
    time_n(n / 4 + 1, &mut a)?;
    time_n(n / 4 + 1, &mut b)?;
    let (mut ta, mut tb, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..o.rounds {
        let (da, db): (Duration, Duration) = if round % 2 == 0 {
            let da = time_n(n, &mut a)?;
            (da, time_n(n, &mut b)?)
        } else {
            let db = time_n(n, &mut b)?;
            (time_n(n, &mut a)?, db)
        };
        ta.push(micros(da, n));
        tb.push(micros(db, n));
        ratios.push(da.as_secs_f64() / db.as_secs_f64());
    }
    Ok((median(&ta), median(&tb), median(&ratios)))
}

/// Runs the section.
pub fn run(o: &Options) -> BoxResult<Section> {
    let (port, reader) = SLOTS[0];
    let vcard = procs::binary("asan-vcard", "asan-vcard")?;
    let fx = Fixture::new()?;
    let image = fx.dir.path().join("roundtrip.img");
    fx.image(&image, ServiceType::Citizen)?;

    let ctx = Context::establish(Scope::User)?;
    let name = CString::new(reader)?;
    if let Ok(card) = ctx.connect(&name, ShareMode::Shared, Protocols::ANY) {
        procs::leave(card);
        return Err(format!("{reader} (port {port}) already holds a card: slot busy").into());
    }
    let vr = VirtualReader::start(&vcard, port, reader, &image)?;
    let sign_apdus = sign_on_the_wire(reader);
    let result = measure(o, &ctx, &name, reader);
    vr.stop()?;
    let (pcsc_host, pcsc_bare, pcsc_ratio, apdus) = result?;
    let sign_apdus = sign_apdus?;

    // The same loops in-process: the library's own cost per iteration.
    // One personalised card, both loops (a RefCell, as both closures use it).
    let lib = RefCell::new(fx.memory_card(ServiceType::Citizen, 0x03)?);
    let select = select_apdu();
    let (mem_host, mem_bare, _) = pair(
        o,
        o.iterations * 10,
        || {
            let mut lib = lib.borrow_mut();
            lib.select()?;
            black_box(lib.pin_verified(PinRef::Pin1)?);
            Ok(())
        },
        || {
            let mut lib = lib.borrow_mut();
            let raw = lib.transport_mut().card_mut();
            let s = sw(&raw.transmit(&select)?);
            let v = sw(&raw.transmit(&VERIFY_STATUS)?);
            check_bare(s, v)
        },
    )?;

    // What PcscTransport does per APDU besides the transmit: a fresh,
    // zeroed receive buffer of MAX_BUFFER_SIZE_EXTENDED bytes.
    let n = o.iterations * 10;
    let buffer_us = micros(
        time_n(n, || -> BoxResult<()> {
            black_box(vec![0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED]);
            Ok(())
        })?,
        n,
    );
    // Ratio of the medians: on a small machine the scheduler makes single
    // blocks bimodal, and the medians of each side are steadier than the
    // median of the block ratios (kept in the JSON).
    let overhead = (pcsc_host / pcsc_bare - 1.0) * 100.0;
    let lines = vec![
        format!(
            "through pcscd + vpcd ({reader}), per iteration (SELECT + VERIFY status, {apdus} APDUs):"
        ),
        format!("  host library (AsanCard over PcscTransport): {pcsc_host:.1} us"),
        format!("  bare pcsc::Card::transmit: {pcsc_bare:.1} us"),
        format!(
            "  overhead: {overhead:.2} % (medians of {} blocks of {}; median block ratio {:.2} %; target <= 5 %: {})",
            o.rounds,
            pcsc_iterations(o),
            (pcsc_ratio - 1.0) * 100.0,
            if overhead <= 5.0 { "met" } else { "MISSED" }
        ),
        format!(
            "  PcscTransport's fresh zeroed {}-byte receive buffer: {buffer_us:.2} us per APDU",
            pcsc::MAX_BUFFER_SIZE_EXTENDED
        ),
        format!(
            "  a signature (AsanCard::open + sign, as `asan sign --digest`): {sign_apdus} APDUs \
             on the wire, the SELECT that found the card included (target 2: {})",
            if sign_apdus <= 2 { "met" } else { "MISSED" }
        ),
        "in-process (no pcscd), per iteration:".to_owned(),
        format!("  host library (AsanCard over VirtualTransport): {mem_host:.2} us"),
        format!("  bare VirtualCard::transmit: {mem_bare:.2} us"),
        format!(
            "  library cost per iteration: {:.2} us ({:.2} % of one PC/SC iteration)",
            mem_host - mem_bare,
            (mem_host - mem_bare) / pcsc_bare * 100.0
        ),
    ];
    Ok(Section {
        json: json!({
            "reader": reader,
            "pcsc_iterations": pcsc_iterations(o),
            "in_process_iterations": o.iterations * 10,
            "rounds": o.rounds,
            "apdus_per_iteration": apdus,
            "pcsc_host_us": r3(pcsc_host),
            "pcsc_bare_us": r3(pcsc_bare),
            "overhead_percent": r3(overhead),
            "median_block_ratio_percent": r3((pcsc_ratio - 1.0) * 100.0),
            "target_percent": 5.0,
            "met": overhead <= 5.0,
            "in_process_host_us": r3(mem_host),
            "in_process_bare_us": r3(mem_bare),
            "library_cost_us": r3(mem_host - mem_bare),
            "receive_buffer_us_per_apdu": r3(buffer_us),
            "sign_apdus_on_the_wire": sign_apdus,
        }),
        lines,
    })
}

/// What `asan sign --digest` sends through pcscd: the card found (its
/// SELECT) and one signature; every APDU `PcscTransport` transmitted.
fn sign_on_the_wire(reader: &str) -> BoxResult<u64> {
    let pins = crate::fixture::pins()?;
    let mut card = AsanCard::open(PcscTransport::connect(Some(reader))?)?;
    card.sign(
        &[0x5A; 32],
        &pins.pin2,
        asan_applet::CertificateProfile::Citizen,
    )?;
    Ok(card.transport().apdu_count())
}

/// Both loops on the card in `reader`: host and bare per-iteration
/// microseconds, the median ratio, APDUs per iteration.
fn measure(
    o: &Options,
    ctx: &Context,
    name: &CString,
    reader: &str,
) -> BoxResult<(f64, f64, f64, u64)> {
    let mut host = AsanCard::open(PcscTransport::connect(Some(reader))?)?;
    let bare = ctx.connect(name, ShareMode::Shared, Protocols::ANY)?;
    let select = select_apdu();
    let mut buf = vec![0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED];
    let before = host.transport().apdu_count();
    let _ = host.pin_verified(PinRef::Pin1)?;
    host.select()?;
    let apdus = host.transport().apdu_count() - before;
    let result = pair(
        o,
        pcsc_iterations(o),
        || {
            host.select()?;
            black_box(host.pin_verified(PinRef::Pin1)?);
            Ok(())
        },
        || {
            let s = sw(bare.transmit(&select, &mut buf)?);
            let v = sw(bare.transmit(&VERIFY_STATUS, &mut buf)?);
            check_bare(s, v)
        },
    );
    procs::leave(bare);
    drop(host);
    let (h, b, ratio) = result?;
    Ok((h, b, ratio, apdus))
}
