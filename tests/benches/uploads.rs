//! Upload benchmark (not a timed test): evidence uploads through the real
//! server binary into Garage, next to the same bytes put straight into
//! Garage as a multipart upload, measured in the same run; and many uploads
//! at once with the server's memory watched from outside.
//!
//! Run it with `cargo xtask bench uploads`, which starts PostgreSQL and
//! Garage like the tests do, builds the release binary and runs
//! `cargo bench -p mystery-buyer-tests --bench uploads`.
//!
//! * **Direct.** A multipart upload of `MB_BENCH_UPLOAD_MIB` (100) MiB in
//!   parts of 5 MiB, one part after another, with the S3 client the server
//!   uses, from memory.
//! * **Server.** A tus upload of the same bytes to the spawned release
//!   binary in PATCHes of 5 MiB, one after another: creation to the last
//!   204 (which includes completing the multipart upload). No evidence
//!   record exists, so no finishing work is timed.
//!
//! Each is run `MB_BENCH_ROUNDS` (9) times, alternating; medians are
//! compared, and the ratio of each round's pair is shown too, with its
//! spread (on a shared two-core machine one round's ratio ranges from
//! about 0.6 to 0.85, so three rounds were too few). Then
//! `MB_BENCH_CONCURRENT` (50) volunteers upload `MB_BENCH_CONCURRENT_MIB`
//! (20) MiB each at once in 5 MiB PATCHes while the server's resident
//! memory is sampled every 20 ms from /proc.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail, ensure};
use bytes::Bytes;
use mystery_buyer_server::{auth::Role, storage::BlobStore};
use mystery_buyer_tests::{
    Backend, TestEnv, TestServer, bench::client_runtime, people::create_users,
    spawned::SpawnedServer,
};

const MIB: usize = 1024 * 1024;
const CHUNK: usize = 5 * MIB;

fn setting(name: &str, default: usize) -> Result<usize> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v.parse().with_context(|| format!("{name}={v}")),
        _ => Ok(default),
    }
}

fn main() -> Result<()> {
    for var in ["MB_TEST_PG_URL", "MB_TEST_GARAGE_ENDPOINT"] {
        if !std::env::var(var).is_ok_and(|v| !v.is_empty()) {
            bail!("{var} is not set: run `cargo xtask bench uploads`, which starts the services");
        }
    }
    let runtime = client_runtime()?;
    runtime.block_on(run())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Pseudo-random bytes (incompressible, like photos).
fn data(len: usize) -> Bytes {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    Bytes::from(out)
}

async fn direct(store: &Arc<dyn BlobStore>, data: &Bytes, round: usize) -> Result<Duration> {
    let key = format!("bench/direct-{round}");
    let started = Instant::now();
    let upload = store.create_multipart(&key).await?;
    let mut parts = Vec::new();
    for (i, at) in (0..data.len()).step_by(CHUNK).enumerate() {
        let part = data.slice(at..(at + CHUNK).min(data.len()));
        parts.push(
            store
                .upload_part(&key, &upload, i as u32 + 1, Arc::new(part))
                .await?,
        );
    }
    store.complete_multipart(&key, &upload, &parts).await?;
    let took = started.elapsed();
    store.delete(&key).await?;
    Ok(took)
}

/// One tus upload of `data` in 5 MiB PATCHes; returns its duration.
async fn through_server(server: &TestServer, token: &str, data: &Bytes) -> Result<Duration> {
    let started = Instant::now();
    let created = server
        .http
        .post(server.url("/api/uploads"))
        .bearer_auth(token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", data.len().to_string())
        .header(
            "Upload-Metadata",
            format!(
                "evidence_id {}",
                base64_id(&uuid::Uuid::new_v4().simple().to_string())
            ),
        )
        .send()
        .await?;
    ensure!(created.status() == 201, "create: {}", created.status());
    let location = created
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .context("Location")?
        .to_string();
    for at in (0..data.len()).step_by(CHUNK) {
        let chunk = data.slice(at..(at + CHUNK).min(data.len()));
        let answer = server
            .http
            .patch(server.url(&location))
            .bearer_auth(token)
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Offset", at.to_string())
            .header("Content-Type", "application/offset+octet-stream")
            .body(chunk)
            .send()
            .await?;
        ensure!(answer.status() == 204, "PATCH at {at}: {}", answer.status());
    }
    Ok(started.elapsed())
}

fn base64_id(id: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(id)
}

/// CPU time (user and system) spent so far by `pid`, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat(5), 11 and 12 here;
    // Linux counts them in USER_HZ, 100 per second on every platform it runs.
    (ticks(11) + ticks(12)) / 100.0
}

/// CPU seconds used so far by the server and by every Garage process on
/// this machine: the two cores are shared, so where the time goes explains
/// the ratio better than the wall clock alone.
#[derive(Clone, Copy, Default)]
struct Cpu {
    server: f64,
    garage: f64,
}

impl Cpu {
    fn now(server: u32) -> Self {
        let garage = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/comm"))
                    .is_ok_and(|c| c.trim() == "garage")
            })
            .map(cpu_seconds)
            .sum();
        Self {
            server: cpu_seconds(server),
            garage,
        }
    }

    fn since(self, before: Self) -> Self {
        Self {
            server: self.server - before.server,
            garage: self.garage - before.garage,
        }
    }
}

/// Resident and peak resident memory of `pid`, in MiB.
fn memory(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

async fn run() -> Result<()> {
    let size = setting("MB_BENCH_UPLOAD_MIB", 100)? * MIB;
    let rounds = setting("MB_BENCH_ROUNDS", 9)?;
    let concurrent = setting("MB_BENCH_CONCURRENT", 50)?;
    let concurrent_size = setting("MB_BENCH_CONCURRENT_MIB", 20)? * MIB;
    let env = TestEnv::with(
        Backend::PostgresGarage,
        &[
            (
                "MB_UPLOAD_MAX_BYTES",
                &(size.max(concurrent_size) * 2).to_string(),
            ),
            ("MB_UPLOAD_MAX_OPEN_PER_USER", "1000"),
            ("MB_RATE_LIMIT_IP_PER_MINUTE", "1000000"),
        ],
    );
    let spawned = SpawnedServer::start(&env).await;
    let server = &spawned.server;
    let pid = spawned.pid();
    let services = env.services().await;
    let users = create_users(&services, Role::Volunteer, concurrent.max(1)).await?;
    let store = Arc::clone(&services.blobs);
    eprintln!(
        "bench: {} MiB in 5 MiB chunks, {rounds} rounds; {} cores, load average {}",
        size / MIB,
        std::thread::available_parallelism().map_or(0, usize::from),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    let payload = data(size);
    // Warm both paths (connections, the first multipart upload).
    direct(&store, &payload.slice(..CHUNK * 2), 999).await?;
    through_server(server, &users[0].token, &payload.slice(..CHUNK * 2)).await?;

    let (mut direct_secs, mut server_secs) = (Vec::new(), Vec::new());
    let (mut direct_cpu, mut server_cpu) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let before = Cpu::now(pid);
        let d = direct(&store, &payload, round).await?;
        let between = Cpu::now(pid);
        let s = through_server(server, &users[0].token, &payload).await?;
        let after = Cpu::now(pid);
        let (dc, sc) = (between.since(before), after.since(between));
        eprintln!(
            "bench: round {round}: direct {d:?} (Garage {:.2} s CPU), server {s:?} (Garage {:.2} s, server {:.2} s CPU), ratio {:.2}",
            dc.garage,
            sc.garage,
            sc.server,
            d.as_secs_f64() / s.as_secs_f64()
        );
        direct_secs.push(d.as_secs_f64());
        server_secs.push(s.as_secs_f64());
        direct_cpu.push(dc);
        server_cpu.push(sc);
    }
    let paired: Vec<f64> = direct_secs
        .iter()
        .zip(&server_secs)
        .map(|(d, s)| d / s)
        .collect();
    let (lowest, highest) = paired
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), r| (lo.min(*r), hi.max(*r)));
    let paired_median = median(paired);
    let mib = size as f64 / MIB as f64;
    let (d, s) = (mib / median(direct_secs), mib / median(server_secs));
    let ms_per_100 = |secs: Vec<f64>| median(secs) * 1000.0 * 100.0 / mib;
    let direct_garage = ms_per_100(direct_cpu.iter().map(|c| c.garage).collect());
    let server_garage = ms_per_100(server_cpu.iter().map(|c| c.garage).collect());
    let server_own = ms_per_100(server_cpu.iter().map(|c| c.server).collect());
    let (rss_before, _) = memory(pid);

    // Many at once, memory watched.
    let done = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    let watcher = {
        let (done, peak) = (Arc::clone(&done), Arc::clone(&peak));
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                let (rss, _) = memory(pid);
                peak.fetch_max((rss * 1024.0) as u64, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let each = data(concurrent_size);
    let started = Instant::now();
    let mut uploads = tokio::task::JoinSet::new();
    for user in users.iter().take(concurrent) {
        let (base, token, body) = (server.base.clone(), user.token.clone(), each.clone());
        uploads.spawn(async move {
            let client = TestServer::at(base);
            through_server(&client, &token, &body).await
        });
    }
    while let Some(result) = uploads.join_next().await {
        result.context("join")??;
    }
    let wall = started.elapsed();
    done.store(true, Ordering::Relaxed);
    watcher.await.context("watcher")?;
    let (_, hwm) = memory(pid);
    let peak_rss = peak.load(Ordering::Relaxed) as f64 / 1024.0;
    let total = (concurrent * concurrent_size) as f64 / MIB as f64;

    println!();
    println!("| measure | value |");
    println!("|---|---:|");
    println!("| direct multipart into Garage, {mib:.0} MiB | {d:.1} MiB/s |");
    println!("| through the server (tus, 5 MiB PATCHes) | {s:.1} MiB/s |");
    println!("| **ratio server / direct** | **{:.2}** |", s / d);
    println!(
        "| ratio within each of the {rounds} rounds: median (lowest to highest) | {paired_median:.2} ({lowest:.2} to {highest:.2}) |"
    );
    println!(
        "| CPU per 100 MiB: Garage direct / Garage through the server / the server | {direct_garage:.0} / {server_garage:.0} / {server_own:.0} ms |"
    );
    println!(
        "| {concurrent} uploads of {} MiB at once: wall time | {:.1} s ({:.1} MiB/s) |",
        concurrent_size / MIB,
        wall.as_secs_f64(),
        total / wall.as_secs_f64()
    );
    println!(
        "| server resident memory before / **peak during** | {rss_before:.0} / **{peak_rss:.0} MiB** |"
    );
    println!("| server peak resident memory since start (VmHWM) | {hwm:.0} MiB |");
    drop(spawned);
    Ok(())
}
