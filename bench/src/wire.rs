//! APDUs on the wire: what the `asan` command line sends through pcscd,
//! counted by a relay between the vpcd driver and `asan-vcard` (every vpcd
//! message from the driver longer than one byte is an APDU; one-byte
//! messages are power and ATR requests). These are the counts a user with
//! a reader sees; the `apdus` section counts the library in-process.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;

use asan_applet::ServiceType;
use serde_json::json;

use crate::fixture::Fixture;
use crate::procs::{self, VirtualReader};
use crate::{BoxResult, Options, Section};

/// The vpcd slot the relay forwards to, and its reader.
const DRIVER: (u16, &str) = (35966, "Virtual PCD 35965 00 01");

/// Starts a relay: `asan-vcard` connects to the returned port, the relay to
/// the driver's; `count` counts APDUs.
fn relay(count: Arc<AtomicU64>) -> BoxResult<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    thread::spawn(move || {
        let Ok((card, _)) = listener.accept() else {
            return;
        };
        let Ok(driver) = TcpStream::connect(("127.0.0.1", DRIVER.0)) else {
            return;
        };
        let _ = card.set_nodelay(true);
        let _ = driver.set_nodelay(true);
        let (Ok(mut card_in), Ok(mut driver_out)) = (card.try_clone(), driver.try_clone()) else {
            return;
        };
        // Card to driver: as it is.
        thread::spawn(move || {
            let _ = std::io::copy(&mut card_in, &mut driver_out);
        });
        // Driver to card: message by message, counted.
        let (mut from, mut to) = (driver, card);
        let mut head = [0u8; 2];
        while from.read_exact(&mut head).is_ok() {
            let len = usize::from(u16::from_be_bytes(head));
            let mut body = vec![0; len];
            if from.read_exact(&mut body).is_err() {
                return;
            }
            if len > 1 {
                count.fetch_add(1, Ordering::SeqCst);
            }
            if to.write_all(&head).is_err() || to.write_all(&body).is_err() {
                return;
            }
        }
    });
    Ok(port)
}

/// Runs `asan --reader R ARGS` and returns the APDUs it caused.
fn apdus(asan: &Path, count: &AtomicU64, args: &[&str], env: &[(&str, &str)]) -> BoxResult<u64> {
    let before = count.load(Ordering::SeqCst);
    let out = Command::new(asan)
        .args(["--reader", DRIVER.1])
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()?;
    if !out.status.success() {
        return Err(format!(
            "asan {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )
        .into());
    }
    Ok(count.load(Ordering::SeqCst) - before)
}

/// Runs the section.
pub fn run(_o: &Options) -> BoxResult<Section> {
    let asan = procs::binary("asan-host", "asan")?;
    let vcard = procs::binary("asan-vcard", "asan-vcard")?;
    let fx = Fixture::new()?;
    let dir = fx.dir.path();
    let image = dir.join("wire.img");
    fx.image(&image, ServiceType::Citizen)?;
    let count = Arc::new(AtomicU64::new(0));
    let port = relay(count.clone())?;
    let reader = VirtualReader::start(&vcard, port, DRIVER.1, &image)?;

    let cache = dir.join("cache");
    let cache = cache.to_str().ok_or("a cache path that is not UTF-8")?;
    let digest = "5a".repeat(32);
    let doc = dir.join("doc.txt");
    std::fs::write(&doc, b"a document")?;
    let doc = doc.to_str().ok_or("a path that is not UTF-8")?;
    let cert = dir.join("sign.der");
    let cert = cert.to_str().ok_or("a path that is not UTF-8")?;
    let pin1 = [("ASAN_PIN1", "1234"), ("ASAN_CACHE_DIR", cache)];
    let pin2 = [("ASAN_PIN2", "12345"), ("ASAN_CACHE_DIR", cache)];
    let mut rows: Vec<(&str, u64, Option<u64>)> = Vec::new();
    let result = (|| -> BoxResult<()> {
        let mut row = |name, args: &[&str], env: &[(&str, &str)], target| -> BoxResult<()> {
            let n = apdus(&asan, &count, args, env)?;
            rows.push((name, n, target));
            Ok(())
        };
        row(
            "asan sign --digest",
            &["sign", "--digest", &digest],
            &pin2,
            Some(3),
        )?;
        row(
            "asan auth --digest (first time in this reader)",
            &["auth", "--digest", &digest],
            &pin1,
            None,
        )?;
        row(
            "asan auth --digest",
            &["auth", "--digest", &digest],
            &pin1,
            Some(3),
        )?;
        row(
            "asan cert read",
            &[
                "cert",
                "read",
                "--profile",
                "citizen",
                "--usage",
                "sign",
                "-o",
                cert,
            ],
            &[],
            Some(3),
        )?;
        row(
            "asan sign FILE (CMS)",
            &["sign", doc, "-o", &format!("{doc}.1.p7s")],
            &pin2,
            None,
        )?;
        row(
            "asan sign FILE --certificate CERT",
            &[
                "sign",
                doc,
                "--certificate",
                cert,
                "-o",
                &format!("{doc}.2.p7s"),
            ],
            &pin2,
            None,
        )?;
        row("asan info", &["info"], &[], None)?;
        Ok(())
    })();
    reader.stop()?;
    result?;

    let mut lines = Vec::new();
    let mut values = serde_json::Map::new();
    for (name, n, target) in &rows {
        let verdict = match target {
            Some(t) if n <= t => format!(" (target <= {t}: met)"),
            Some(t) => format!(" (target <= {t}: MISSED)"),
            None => String::new(),
        };
        lines.push(format!("{name}: {n} APDUs on the wire{verdict}"));
        values.insert((*name).to_owned(), json!({ "apdus": n, "target": target }));
    }
    Ok(Section {
        json: json!({ "through": "pcscd + vpcd, counted by a relay", "commands": values }),
        lines,
    })
}
