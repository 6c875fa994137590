//! Memory: peak RSS of `asan sign FILE` (streamed, so it must not grow with
//! the file) on a 1 GiB and a 16 MiB sparse file, the size of a virtual card
//! image, and the applet's working memory: its struct, its stack buffers and
//! its measured stack high-water mark.

use std::path::Path;
use std::process::{Command, Stdio};

use asan_applet::store::{IMAGE_LEN, MemStore};
use asan_applet::wire::limits::MAX_CERTIFICATE;
use asan_applet::{Applet, ServiceType};
use asan_vcard::image::IMAGE_FILE_LEN;
use asan_vcard::{CardRng, VirtualCard};
use serde_json::json;

use crate::fixture::Fixture;
use crate::{BoxResult, Options, Section, procs, stack};

/// `OUT_CAP` of the applet (`applet/src/out.rs`): a certificate plus
/// secure-messaging overhead. The response buffer, the chain buffer and the
/// two stack buffers (`plain` in dispatch, `wrapped` in protect) have it.
const OUT_CAP: usize = MAX_CERTIFICATE + 64;

/// `/usr/bin/time -v asan --virtual IMAGE sign FILE`: peak RSS (KiB) and seconds.
fn sign_rss(asan: &Path, image: &Path, file: &Path) -> BoxResult<(u64, f64)> {
    let out = Command::new("/usr/bin/time")
        .arg("-v")
        .arg(asan)
        .arg("--virtual")
        .arg(image)
        .arg("sign")
        .arg(file)
        .arg("-o")
        .arg(file.with_extension("p7s"))
        .env("ASAN_PIN2", "12345")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .output()?;
    let err = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!("asan sign {} failed: {}", file.display(), err.trim()).into());
    }
    let field = |key: &str| {
        err.lines()
            .find_map(|l| l.trim().strip_prefix(key).map(str::trim).map(str::to_owned))
    };
    let rss = field("Maximum resident set size (kbytes):")
        .and_then(|v| v.parse().ok())
        .ok_or("no peak RSS in the output of /usr/bin/time -v")?;
    let wall = field("Elapsed (wall clock) time (h:mm:ss or m:ss):")
        .map(|v| {
            v.split(':')
                .filter_map(|p| p.parse::<f64>().ok())
                .fold(0.0, |acc, p| acc * 60.0 + p)
        })
        .unwrap_or(0.0);
    Ok((rss, wall))
}

/// A sparse file of `len` bytes.
fn sparse(path: &Path, len: u64) -> BoxResult<()> {
    std::fs::File::create(path)?.set_len(len)?;
    Ok(())
}

/// Runs the section.
pub fn run(_o: &Options) -> BoxResult<Section> {
    let asan = procs::binary("asan-host", "asan")?;
    let fx = Fixture::new()?;
    let dir = fx.dir.path();
    let image = dir.join("card.img");
    fx.image(&image, ServiceType::Citizen)?;
    let image_bytes = std::fs::metadata(&image)?.len();

    let mut rows = Vec::new();
    for (name, len) in [
        ("1 KiB", 1u64 << 10),
        ("16 MiB", 16 << 20),
        ("1 GiB", 1 << 30),
    ] {
        let file = dir.join(format!("doc-{}.bin", name.replace(' ', "")));
        sparse(&file, len)?;
        let (rss, secs) = sign_rss(&asan, &image, &file)?;
        std::fs::remove_file(&file)?;
        rows.push((name, len, rss, secs));
    }
    let applet = std::mem::size_of::<Applet<MemStore, CardRng>>();
    let buffers = std::mem::size_of::<Applet<(), ()>>();
    let store = std::mem::size_of::<MemStore>();
    let rng = std::mem::size_of::<CardRng>();
    let shell = std::mem::size_of::<VirtualCard<MemStore>>();
    let (stack_bytes, frame) = stack::applet_stack()?;

    let mut lines = Vec::new();
    for (name, len, rss, secs) in &rows {
        lines.push(format!(
            "asan --virtual sign, {name} file: peak RSS {rss} KiB ({:.2} s, {:.0} MiB/s)",
            secs,
            *len as f64 / (1 << 20) as f64 / secs.max(1e-3)
        ));
    }
    let rss_of = |n: &str| rows.iter().find(|r| r.0 == n).map(|r| r.2).unwrap_or(0);
    let growth = rss_of("1 GiB") as i64 - rss_of("16 MiB") as i64;
    lines.push(format!("  growth from 16 MiB to 1 GiB: {growth} KiB"));
    lines.push(format!(
        "virtual card image: {image_bytes} bytes on disk (format: {IMAGE_FILE_LEN} = 14 header + {IMAGE_LEN} records + 32 SHA-256)"
    ));
    lines.push(format!(
        "Applet<MemStore, CardRng>: {applet} bytes = buffers and session {buffers} + MemStore {store} + ChaCha20 {rng} (boxed; VirtualCard itself {shell})"
    ));
    lines.push(format!(
        "  fixed buffers: response {OUT_CAP} + chain {OUT_CAP}; per command on the stack: plain {OUT_CAP} (secure commands) + wrapped {OUT_CAP} (secure answers)"
    ));
    lines.push(format!(
        "measured stack high-water of the applet over all commands (SCP03 33 provisioning, sign, auth, read): {:.1} KiB (+/- one {frame}-byte probe frame)",
        stack_bytes as f64 / 1024.0
    ));
    let files: Vec<_> = rows
        .iter()
        .map(|(n, l, rss, s)| json!({ "file": n, "bytes": l, "peak_rss_kib": rss, "seconds": s }))
        .collect();
    Ok(Section {
        json: json!({
            "sign_file": files,
            "rss_growth_16mib_to_1gib_kib": growth,
            "image_bytes": image_bytes,
            "image_records_bytes": IMAGE_LEN,
            "applet_bytes": applet,
            "applet_buffers_and_session_bytes": buffers,
            "memstore_bytes": store,
            "rng_bytes": rng,
            "out_cap": OUT_CAP,
            "stack_buffers_bytes": 2 * OUT_CAP,
            "stack_high_water_bytes": stack_bytes,
            "stack_probe_frame_bytes": frame,
        }),
        lines,
    })
}
