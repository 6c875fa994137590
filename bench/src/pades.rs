//! PAdES on a large PDF: `asan sign FILE.pdf --pades` on a 200 MiB PDF
//! (peak RSS and wall time, median of three) against `sha256sum` on the
//! same file (the floor: one pass of SHA-256 over the bytes). The signer
//! copies the original and hashes it in the same pass, so it reads the file
//! once and writes it once. Limits: RSS < 64 MiB, time ≤ 1.5 × sha256sum.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use asan_applet::ServiceType;
use serde_json::json;

use crate::fixture::Fixture;
use crate::{BoxResult, Options, Section, procs};

/// The PDF's size.
const BYTES: u64 = 200 << 20;

/// A one-page PDF of about `len` bytes: the page and a large embedded
/// file stream, written in 1 MiB blocks.
pub fn large_pdf(path: &Path, len: u64) -> BoxResult<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut at = 0u64;
    let mut offsets = Vec::new();
    let mut put = |f: &mut std::io::BufWriter<std::fs::File>, bytes: &[u8]| -> BoxResult<u64> {
        let start = at;
        f.write_all(bytes)?;
        at += bytes.len() as u64;
        Ok(start)
    };
    put(&mut f, b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n")?;
    let content = b"BT /F1 24 Tf 72 720 Td (A large document) Tj ET";
    let objects: [String; 4] = [
        "<< /Type /Catalog /Pages 2 0 R /Names << /EmbeddedFiles << /Names [(data.bin) 6 0 R] >> >> >>".into(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".into(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >> >>".into(),
        format!("<< /Length {} >>\nstream\n{}\nendstream", content.len(), String::from_utf8_lossy(content)),
    ];
    for (i, body) in objects.iter().enumerate() {
        offsets.push(put(
            &mut f,
            format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes(),
        )?);
    }
    let data_len = len.saturating_sub(2048);
    offsets.push(put(
        &mut f,
        format!("5 0 obj\n<< /Type /EmbeddedFile /Length {data_len} >>\nstream\n").as_bytes(),
    )?);
    let block = vec![b'A'; 1 << 20];
    let mut left = data_len;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        put(&mut f, &block[..n])?;
        left -= n as u64;
    }
    put(&mut f, b"\nendstream\nendobj\n")?;
    offsets.push(put(
        &mut f,
        b"6 0 obj\n<< /Type /Filespec /F (data.bin) /EF << /F 5 0 R >> >>\nendobj\n",
    )?);
    let xref = put(&mut f, b"xref\n0 7\n0000000000 65535 f \n")?;
    for o in &offsets {
        put(&mut f, format!("{o:010} 00000 n \n").as_bytes())?;
    }
    put(
        &mut f,
        format!("trailer\n<< /Size 7 /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n").as_bytes(),
    )?;
    f.flush()?;
    Ok(())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// `/usr/bin/time -v` of a command: peak RSS (KiB) and wall seconds.
fn timed(cmd: &mut Command) -> BoxResult<(u64, f64)> {
    let start = Instant::now();
    let out = cmd.stdin(Stdio::null()).stdout(Stdio::null()).output()?;
    let secs = start.elapsed().as_secs_f64();
    let err = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!("{cmd:?} failed: {}", err.trim()).into());
    }
    let rss = err
        .lines()
        .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    Ok((rss, secs))
}

/// Runs the section.
pub fn run(_o: &Options) -> BoxResult<Section> {
    let asan = procs::binary("asan-host", "asan")?;
    let fx = Fixture::new()?;
    let dir = fx.dir.path();
    let image = dir.join("card.img");
    fx.image(&image, ServiceType::Citizen)?;
    let pdf = dir.join("large.pdf");
    large_pdf(&pdf, BYTES)?;
    let bytes = std::fs::metadata(&pdf)?.len();
    let out = dir.join("large.signed.pdf");

    // Warm the page cache, then alternate the two.
    timed(Command::new("sha256sum").arg(&pdf))?;
    let (mut floor, mut sign, mut rss) = (Vec::new(), Vec::new(), 0u64);
    for _ in 0..3 {
        floor.push(
            timed(
                Command::new("/usr/bin/time")
                    .arg("-v")
                    .arg("sha256sum")
                    .arg(&pdf),
            )?
            .1,
        );
        let (r, s) = timed(
            Command::new("/usr/bin/time")
                .arg("-v")
                .arg(&asan)
                .arg("--virtual")
                .arg(&image)
                .args(["sign", "--pades", "--force", "-o"])
                .arg(&out)
                .arg(&pdf)
                .env("ASAN_PIN2", "12345"),
        )?;
        rss = rss.max(r);
        sign.push(s);
    }
    let (floor, sign) = (median(floor), median(sign));
    let ratio = sign / floor.max(1e-6);
    let mib = bytes as f64 / f64::from(1 << 20);
    let lines = vec![
        format!(
            "asan sign --pades, {mib:.0} MiB PDF: {sign:.2} s ({:.0} MiB/s), peak RSS {rss} KiB (limit 65536)",
            mib / sign.max(1e-6)
        ),
        format!("sha256sum on the same file: {floor:.2} s; ratio {ratio:.2} (limit 1.5)"),
    ];
    Ok(Section {
        json: json!({
            "pdf_bytes": bytes,
            "sign_seconds": sign,
            "sha256sum_seconds": floor,
            "ratio": ratio,
            "ratio_limit": 1.5,
            "peak_rss_kib": rss,
            "rss_limit_kib": 65536,
            "within_limits": ratio <= 1.5 && rss < 65536,
        }),
        lines,
    })
}
