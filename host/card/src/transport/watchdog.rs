//! A watchdog for calls into PC/SC that may never return: a card that stops
//! answering leaves `SCardTransmit` blocked for good. The transports mark
//! when such a call starts and ends; a program (the `asan` CLI) watches and
//! gives up with a clear error instead of hanging.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// When the call in progress started (milliseconds since 1970), 0 if none.
static BUSY_SINCE: AtomicU64 = AtomicU64::new(0);

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
        .max(1)
}

/// Marks the start of a blocking call.
pub fn begin() {
    BUSY_SINCE.store(now_ms(), Ordering::Relaxed);
}

/// Marks its end.
pub fn end() {
    BUSY_SINCE.store(0, Ordering::Relaxed);
}

/// How long the call in progress has been blocked, if one is.
pub fn stuck_for() -> Option<Duration> {
    match BUSY_SINCE.load(Ordering::Relaxed) {
        0 => None,
        since => Some(Duration::from_millis(now_ms().saturating_sub(since))),
    }
}

/// Runs `f` marked as a blocking call.
pub fn guard<T>(f: impl FnOnce() -> T) -> T {
    begin();
    let r = f();
    end();
    r
}
