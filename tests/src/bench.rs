//! What the benchmarks in `tests/benches/` share: their `MB_BENCH_*`
//! settings, the server's configuration for a run, percentiles and the
//! load average every run prints. Benchmarks compare against a baseline
//! measured in the same run; nothing here times anything.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use mystery_buyer_server::config::Config;

/// A positive number from the environment, or `default` when unset.
pub fn setting(name: &str, default: usize) -> Result<usize> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .with_context(|| format!("{name} must be a positive number, not {v:?}")),
        _ => Ok(default),
    }
}

/// The client side's runtime: two threads, whatever the server in the
/// same process runs on its own.
pub fn client_runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("tokio runtime")
}

/// Widens `window` (first request sent, last answered) to take in one
/// client's `(start, end)`.
pub fn widen(window: &mut Option<(Instant, Instant)>, (start, end): (Instant, Instant)) {
    *window = Some(match *window {
        None => (start, end),
        Some((s, e)) => (s.min(start), e.max(end)),
    });
}

/// Nearest-rank percentile, in milliseconds (NaN for no samples).
pub fn percentile(samples: &[Duration], p: f64) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1000.0
}

/// The median (the upper one of an even count); NaN for none.
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// `/proc/loadavg`'s three figures.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| {
            let parts: Vec<&str> = l.split_whitespace().take(3).collect();
            (parts.len() == 3).then(|| parts.join(" "))
        })
        .unwrap_or_else(|| "unknown".into())
}

/// The server's configuration for a benchmark in `dir`: its defaults, then
/// `defaults` (the benchmark's own), then any `MB_*` setting from the
/// environment, then where the data goes (`database_url`: `None` for
/// SQLite in `dir`).
pub fn server_config(
    dir: &Path,
    database_url: Option<String>,
    defaults: &[(&str, &str)],
) -> Result<Config> {
    let owned = ["MB_DATABASE_URL", "MB_DATA_DIR", "MB_LISTEN"];
    let mut pairs: Vec<(String, String)> = vec![
        // Far longer than a run: no token may expire mid-way.
        ("MB_ACCESS_TOKEN_SECS".into(), "86400".into()),
    ];
    pairs.extend(defaults.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    pairs.extend(std::env::vars().filter(|(k, _)| {
        k.starts_with("MB_")
            && !k.starts_with("MB_TEST_")
            && !k.starts_with("MB_BENCH_")
            && !owned.contains(&k.as_str())
    }));
    pairs.push((
        "MB_DATA_DIR".into(),
        dir.join("data").to_string_lossy().into_owned(),
    ));
    pairs.push(("MB_LISTEN".into(), "127.0.0.1:0".into()));
    if let Some(url) = database_url {
        pairs.push(("MB_DATABASE_URL".into(), url));
    }
    let pairs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    Config::load_from(None, &pairs).context("bench configuration")
}
