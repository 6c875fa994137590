//! Small statistics: medians and rates.

use std::time::{Duration, Instant};

/// The median of `v` (0 for none).
pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => 0.0,
        n if n % 2 == 1 => s.get(n / 2).copied().unwrap_or(0.0),
        n => {
            (s.get(n / 2 - 1).copied().unwrap_or(0.0) + s.get(n / 2).copied().unwrap_or(0.0)) / 2.0
        }
    }
}

/// Operations per second.
pub fn rate(ops: usize, d: Duration) -> f64 {
    let s = d.as_secs_f64();
    if s > 0.0 { ops as f64 / s } else { 0.0 }
}

/// Runs `f` `n` times; the time it took.
pub fn time_n<E>(n: usize, mut f: impl FnMut() -> Result<(), E>) -> Result<Duration, E> {
    let start = Instant::now();
    for _ in 0..n {
        f()?;
    }
    Ok(start.elapsed())
}

/// Microseconds per operation.
pub fn micros(d: Duration, ops: usize) -> f64 {
    d.as_secs_f64() * 1e6 / ops.max(1) as f64
}

/// Rounds a figure for display and JSON (3 significant decimals).
pub fn r3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
