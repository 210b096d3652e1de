//! Custody log benchmark (not a timed test): relay stations scanning
//! arriving parcels at once through the real HTTP scan path on PostgreSQL,
//! with the custody log on, next to the same scans with the custody write
//! left out, alternating in the same run. See BENCHMARKS.md for how to
//! read it.
//!
//! Run it with `cargo xtask bench custody`, which starts PostgreSQL like the
//! tests do and runs `cargo bench -p mystery-buyer-tests --bench custody`.
//!
//! * **World, not timed.** Made in-process through the server's own domain
//!   functions: `MB_BENCH_STATIONS` (200) stations, each with its relay
//!   operator (an app session) and a volunteer in its region; campaigns of
//!   at most 100 stations (a campaign's limit) and one lab. Each station
//!   gets its parcels: a campaign task created, linked to a candidate,
//!   accepted (which routes it: station, recipient code, custody entry) and
//!   shipped (a shipment record with a tracking number: custody entry).
//! * **Measured.** Every station's operator scans its own parcels through
//!   `POST /api/stations/{id}/scans`, one after another
//!   (`MB_BENCH_SCANS`, 15, per round), all stations at once: half by
//!   the carrier's barcode (the tracking number), half by the typed
//!   recipient code. Every scan must match (201, `matched`). Rounds
//!   alternate custody on and off (`custody::leave_out_for_benchmark`),
//!   `MB_BENCH_ROUNDS` (3) of each, in the order on/off, off/on, ... so a
//!   drift of the machine's load does not favour one; each round scans
//!   parcels never scanned before. One unmeasured warm-up scan per station
//!   (custody on) opens the connections first.
//!
//! Scans per second are counted over a round's window (first scan sent to
//! last answered); latencies by the client, from sending the request to the
//! last byte of the answer. Medians of the rounds are compared. During the
//! rounds a separate connection samples how many of the server's sessions
//! wait for a row lock (`pg_stat_activity`), every 50 ms.
//!
//! At the end the run proves it measured the real thing: the log holds
//! exactly the setup's entries plus one per scan made with custody on (and
//! none for the others), every scanned parcel is at the station, and a
//! checkpoint signed now verifies over the whole log (`custody::verify`).

use std::{
    fmt::Write as _,
    net::TcpListener,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail, ensure};
use diesel::prelude::*;
use mystery_buyer_server::{
    RunningServer, Services,
    auth::Role,
    campaigns::{self as campaign_fns, NewCampaign},
    custody::{self, kinds},
    db::{
        self as sql, DbError,
        campaigns::{CampaignTaskRow, CandidateRow, ProfileRow},
        schema::{custody_entries, parcels, scans},
        time::to_micros,
    },
    error::ApiError,
    logistics::places::{self, NewPlace, PlaceKind},
    sync::{
        Touched,
        store::{self, server_stamp},
        tasks::{self, NewTask},
    },
    with_conn,
};
use mystery_buyer_tests::{
    bench::{client_runtime, load_average, median, percentile, server_config, setting, widen},
    fresh_postgres_database,
    people::create_users,
};
use reqwest::{StatusCode, header::CONTENT_TYPE};
use sync_protocol::{Lww, Money, Record, records::Shipment};
use tokio::task::JoinSet;

/// Stations one campaign may name.
const STATIONS_PER_CAMPAIGN: usize = 100;
const CATEGORY: &str = "power-strips";
const PLATFORM: &str = "example-mall";

#[derive(Debug, Clone)]
struct Settings {
    stations: usize,
    scans: usize,
    rounds: usize,
}

impl Settings {
    fn from_env() -> Result<Self> {
        Ok(Self {
            stations: setting("MB_BENCH_STATIONS", 200)?,
            scans: setting("MB_BENCH_SCANS", 15)?,
            rounds: setting("MB_BENCH_ROUNDS", 3)?,
        })
    }

    /// Parcels each station needs: the warm-up scan and every round's.
    fn parcels_per_station(&self) -> usize {
        1 + self.scans * self.rounds * 2
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    On,
    Off,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::On => "on",
            Mode::Off => "left out",
        }
    }
}

fn main() -> Result<()> {
    let settings = Settings::from_env()?;
    if !std::env::var("MB_TEST_PG_URL").is_ok_and(|v| !v.is_empty()) {
        bail!(
            "MB_TEST_PG_URL is not set: run `cargo xtask bench custody`, which starts PostgreSQL"
        );
    }
    // The client side (200 stations) gets two threads; the server runs its
    // own HTTP workers and blocking pool in the same process.
    let runtime = client_runtime()?;
    runtime.block_on(run(settings))
}

async fn run(settings: Settings) -> Result<()> {
    eprintln!(
        "bench: {} stations x {} scans per round, {} rounds with custody on and {} left out, \
         {} cores, load average {}",
        settings.stations,
        settings.scans,
        settings.rounds,
        settings.rounds,
        std::thread::available_parallelism().map_or(0, usize::from),
        load_average()
    );
    let dir = tempfile::tempdir().context("temp dir")?;
    let database_url = fresh_postgres_database();
    // A signing key of this run only, so the end can sign a checkpoint and
    // verify the log against it.
    let key = hex::encode(rand::random::<[u8; 32]>());
    let config = server_config(
        dir.path(),
        Some(database_url.clone()),
        &[("MB_CUSTODY_SIGNING_KEY", key.as_str())],
    )?;
    let (pool_size, http_workers) = (config.database_pool_size, config.http_workers);
    let services = Services::open(config)
        .await
        .map_err(|e| anyhow::anyhow!("opening the database: {e}"))?;

    let started = Instant::now();
    let world = setup(&services, &settings).await?;
    let setup_entries = log_size(&services).await?;
    eprintln!(
        "bench: world made in {:.1} s: {} parcels, {setup_entries} custody entries",
        started.elapsed().as_secs_f64(),
        world.iter().map(|s| s.parcels.len()).sum::<usize>(),
    );

    let listener = TcpListener::bind("127.0.0.1:0").context("bind port 0")?;
    let running: RunningServer = mystery_buyer_server::start(services.clone(), listener)
        .await
        .map_err(|e| anyhow::anyhow!("the server did not start: {e}"))?;
    let http = Arc::new(Http {
        client: mystery_buyer_tests::http_client()
            .pool_max_idle_per_host(settings.stations * 2)
            .timeout(Duration::from_secs(300))
            .build()
            .context("HTTP client")?,
        base: format!("http://{}", running.addr),
    });

    let mut queues: Vec<Station> = world;
    let warm = round(&http, &mut queues, 1, Mode::On).await?;
    eprintln!(
        "bench: warm-up, {} scans, {:.0} scans/s",
        warm.latencies.len(),
        warm.per_second()
    );
    let mut scans_on = warm.latencies.len();
    let mut rounds = Vec::with_capacity(settings.rounds * 2);
    let sampler = LockSampler::start(database_url);
    for i in 0..settings.rounds {
        let order = if i % 2 == 0 {
            [Mode::On, Mode::Off]
        } else {
            [Mode::Off, Mode::On]
        };
        for mode in order {
            sampler.set(mode);
            let measured = match round(&http, &mut queues, settings.scans, mode).await {
                Ok(measured) => measured,
                Err(error) => {
                    // Said at once: the sampler's thread would otherwise
                    // keep the runtime (and the error) from ending.
                    eprintln!("bench: round {} failed: {error:#}", rounds.len() + 1);
                    sampler.stop().await?;
                    return Err(error);
                }
            };
            eprintln!(
                "bench: round {} custody {}: {:.0} scans/s, p50 {:.1} ms, p99 {:.1} ms, \
                 {} busy answers retried, load average {}",
                rounds.len() + 1,
                mode.name(),
                measured.per_second(),
                percentile(&measured.latencies, 0.50),
                percentile(&measured.latencies, 0.99),
                measured.busy,
                load_average()
            );
            if mode == Mode::On {
                scans_on += measured.latencies.len();
            }
            rounds.push(measured);
        }
    }
    let waits = sampler.stop().await?;
    custody::leave_out_for_benchmark(false);
    running.stop().await;

    let scans_total =
        warm.latencies.len() + rounds.iter().map(|r| r.latencies.len()).sum::<usize>();
    let proof = prove(&services, setup_entries, scans_on, scans_total).await?;
    println!(
        "{}",
        table(&settings, &rounds, &waits, &proof, pool_size, http_workers)
    );
    eprintln!("bench: load average at the end {}", load_average());
    Ok(())
}

// --- the world ----------------------------------------------------------------------

/// One station as its operator's app knows it, with the codes of the
/// parcels still to scan, in order.
struct Station {
    id: String,
    token: String,
    parcels: Vec<String>,
}

fn json_list(items: &[&str]) -> Result<String> {
    Ok(serde_json::to_string(items)?)
}

fn api(e: ApiError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// Stations with their operators, volunteers in their regions, campaigns
/// and a lab; then each station's parcels, accepted and shipped.
async fn setup(services: &Services, settings: &Settings) -> Result<Vec<Station>> {
    let n = settings.stations;
    let coordinator = create_users(services, Role::Coordinator, 1)
        .await?
        .pop()
        .context("coordinator")?
        .id;
    let operators = create_users(services, Role::RelayOperator, n).await?;
    let volunteers: Vec<String> = create_users(services, Role::Volunteer, n)
        .await?
        .into_iter()
        .map(|u| u.id)
        .collect();
    let now = to_micros(services.clock.now());
    let operator_ids: Vec<String> = operators.iter().map(|o| o.id.clone()).collect();
    let volunteer_ids = volunteers.clone();
    // Stations, profiles, the lab and the campaigns: (station id, campaign id).
    let places: Vec<(String, String)> = services
        .db
        .write(move |conn| {
            let address = |first: String| vec![first, "1 Bench Street".to_string()];
            let lab = places::create(
                conn,
                now,
                PlaceKind::Lab,
                &NewPlace {
                    name: "Bench testing lab".into(),
                    region: "lab".into(),
                    address: address("Sample intake".into()),
                    staff: Vec::new(),
                },
            )?
            .id;
            let mut stations = Vec::with_capacity(operator_ids.len());
            for (i, (operator, volunteer)) in operator_ids.iter().zip(&volunteer_ids).enumerate() {
                let region = format!("region-{i:03}");
                let station = places::create(
                    conn,
                    now,
                    PlaceKind::Station,
                    &NewPlace {
                        name: format!("Relay station {i:03}"),
                        region: region.clone(),
                        address: address(format!("Parcel counter {i}")),
                        staff: vec![operator.clone()],
                    },
                )?;
                sql::campaigns::upsert_profile(
                    conn,
                    &ProfileRow {
                        user_id: volunteer.clone(),
                        region,
                        categories: json_list(&[CATEGORY])
                            .map_err(|e| ApiError::Internal(e.to_string()))?,
                        platforms: json_list(&[PLATFORM])
                            .map_err(|e| ApiError::Internal(e.to_string()))?,
                        capacity: 1_000,
                        spending_cap: 1_000_000,
                        home_station: None,
                        status: "active".into(),
                        updated_at: now,
                    },
                )?;
                stations.push(station.id);
            }
            let mut placed = Vec::with_capacity(stations.len());
            for (k, chunk) in stations.chunks(STATIONS_PER_CAMPAIGN).enumerate() {
                let from = sql::time::from_micros(now);
                let campaign = campaign_fns::create_campaign(
                    conn,
                    now,
                    &NewCampaign {
                        name: format!("Bench campaign {k}"),
                        starts_at: from - chrono::Duration::days(1),
                        ends_at: from + chrono::Duration::days(60),
                        platforms: vec![PLATFORM.into()],
                        currency: "CNY".into(),
                        budget: 1_000_000_000,
                        required_evidence: Vec::new(),
                        relay_stations: chunk.to_vec(),
                        lab: Some(lab.clone()),
                        acceptance_window_hours: 24,
                        purchase_window_hours: 72,
                        open_board: false,
                        witnessed_opening: false,
                        test_plan: "GB/T 2099.1: marking, protection against electric shock".into(),
                    },
                )?;
                placed.extend(chunk.iter().map(|s| (s.clone(), campaign.clone())));
            }
            Ok::<_, ApiError>(placed)
        })
        .await
        .map_err(api)?;

    let per_station = settings.parcels_per_station();
    let mut world = Vec::with_capacity(n);
    for (i, ((station, campaign), (operator, volunteer))) in places
        .into_iter()
        .zip(operators.into_iter().zip(volunteers))
        .enumerate()
    {
        let coordinator = coordinator.clone();
        let station_id = station.clone();
        let codes = services
            .db
            .write(move |conn| {
                parcels_of(
                    conn,
                    now,
                    i,
                    &station_id,
                    &campaign,
                    &coordinator,
                    &volunteer,
                    per_station,
                )
            })
            .await
            .map_err(api)?;
        world.push(Station {
            id: station,
            token: operator.token,
            parcels: codes,
        });
        if (i + 1) % 50 == 0 {
            eprintln!("bench: parcels of {} stations made", i + 1);
        }
    }
    Ok(world)
}

/// Station `i`'s parcels, made as the server makes them: a campaign task
/// for the volunteer of its region, linked to its candidate and accepted
/// (routed to the station with a recipient code), then shipped with a
/// tracking number. Returns the codes the operator will scan: the
/// carrier's barcode for even parcels, the typed recipient code for odd.
#[allow(clippy::too_many_arguments)]
fn parcels_of(
    conn: &mut sql::Conn,
    now: i64,
    i: usize,
    station: &str,
    campaign: &str,
    coordinator: &str,
    volunteer: &str,
    count: usize,
) -> Result<Vec<String>, ApiError> {
    let candidates: Vec<CandidateRow> = (0..count)
        .map(|j| CandidateRow {
            id: mystery_buyer_server::auth::new_id(),
            campaign_id: campaign.to_string(),
            category_id: CATEGORY.into(),
            platform: PLATFORM.into(),
            listing_url: format!("https://shop.example/s{i:03}/listing/{j}"),
            shop_id: format!("shop-{i:03}-{j}"),
            shop_name: format!("Shop {i}-{j}"),
            listed_price: 3_999,
            price_deviation: Some(-0.4),
            complaints: 3,
            bad_rating_share: Some(0.2),
            sales_volume: 1_000,
            claims: "[]".into(),
            source: "complaint".into(),
            risk_milli: 50_000,
            created_at: now,
        })
        .collect();
    sql::campaigns::insert_candidates(conn, &candidates)?;
    let mut touched = Touched::new();
    let mut codes = Vec::with_capacity(count);
    for (j, candidate) in candidates.iter().enumerate() {
        let task_id = tasks::create(
            conn,
            now,
            coordinator,
            &NewTask {
                volunteer_id: volunteer.to_string(),
                title: format!("power strips: {}", candidate.shop_name),
                instructions: "Buy this listing as an ordinary shopper.".into(),
                listing_url: candidate.listing_url.clone(),
                shop_name: candidate.shop_name.clone(),
                platform: PLATFORM.into(),
                category: CATEGORY.into(),
                price_cap: Some(Money::new(5_000, "CNY")),
                deadline: None,
            },
            &mut touched,
        )?;
        // Linked before it is accepted, as an assignment commit does: the
        // acceptance routes the parcel by the campaign's stations.
        sql::campaigns::insert_campaign_task(
            conn,
            &CampaignTaskRow {
                task_id: task_id.clone(),
                campaign_id: campaign.to_string(),
                candidate_id: candidate.id.clone(),
                volunteer_id: volunteer.to_string(),
                shop_id: candidate.shop_id.clone(),
                price_cap: 5_000,
                offer_expires_at: None,
                commit_id: None,
                created_at: now,
                released_at: None,
            },
        )?;
        tasks::accept(conn, now, &task_id, &mut touched)?;
        let tracking = format!("SF{:04}{:09}", i, j);
        let task = sql::sync::find_task(conn, &task_id)?
            .ok_or_else(|| ApiError::Internal("the task vanished".into()))?;
        let shipment = Record::Shipment(Shipment {
            task_id: task_id.clone(),
            carrier: Some(Lww::new("SF Express".into(), server_stamp(now))),
            tracking_number: Some(Lww::new(tracking.clone(), server_stamp(now))),
        });
        store::write_record(
            conn,
            now,
            &shipment,
            &task,
            Some(volunteer),
            None,
            &mut touched,
        )?;
        let parcel = sql::logistics::find_parcel(conn, &task_id)?
            .filter(|p| p.station_id == station && p.tracking.as_deref() == Some(tracking.as_str()))
            .ok_or_else(|| {
                ApiError::Internal(format!(
                    "task {task_id} was not routed to station {station} with its tracking number"
                ))
            })?;
        codes.push(if j % 2 == 0 {
            tracking
        } else {
            parcel.recipient_code
        });
    }
    Ok(codes)
}

async fn log_size(services: &Services) -> Result<i64> {
    services
        .db
        .read(|conn| {
            let n: i64 = with_conn!(conn, c => custody_entries::table.count().get_result(c))?;
            Ok::<_, DbError>(n)
        })
        .await
        .map_err(|e| anyhow::anyhow!("counting custody entries: {e}"))
}

// --- the measured rounds --------------------------------------------------------------

struct Http {
    client: reqwest::Client,
    base: String,
}

/// What one round measured.
struct Round {
    mode: Mode,
    latencies: Vec<Duration>,
    /// First scan sent to last answered.
    window: Duration,
    load: String,
    /// 503 `busy` answers (no database connection within the pool's
    /// wait), each retried after its Retry-After like an app would.
    busy: usize,
}

impl Round {
    fn per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.window.as_secs_f64()
    }
}

/// Every station scans its next `scans` parcels, one after another, all
/// stations at once.
async fn round(
    http: &Arc<Http>,
    stations: &mut [Station],
    scans: usize,
    mode: Mode,
) -> Result<Round> {
    custody::leave_out_for_benchmark(mode == Mode::Off);
    let mut running = JoinSet::new();
    for station in stations.iter_mut() {
        ensure!(
            station.parcels.len() >= scans,
            "station {} has no parcels left",
            station.id
        );
        let codes: Vec<String> = station.parcels.drain(..scans).collect();
        let (http, id, token) = (Arc::clone(http), station.id.clone(), station.token.clone());
        running.spawn(async move { scan_all(&http, &id, &token, codes).await });
    }
    let mut latencies = Vec::with_capacity(stations.len() * scans);
    let mut window: Option<(Instant, Instant)> = None;
    let mut busy = 0;
    while let Some(done) = running.join_next().await {
        let (times, start, end, retried) = done.context("station task")??;
        busy += retried;
        latencies.extend(times);
        widen(&mut window, (start, end));
    }
    let (start, end) = window.context("no scan was made")?;
    Ok(Round {
        mode,
        latencies,
        window: end - start,
        load: load_average(),
        busy,
    })
}

/// One station's operator scanning `codes` in turn; every scan must match.
/// A 503 `busy` is retried with the same scan id after its Retry-After, as
/// the station app does (a scan id is applied once however often it is
/// sent); the scan's latency runs from its first attempt to its answer.
/// Returns each scan's latency, when the first was sent and the last
/// answered, and how many busy answers were retried.
async fn scan_all(
    http: &Http,
    station: &str,
    token: &str,
    codes: Vec<String>,
) -> Result<(Vec<Duration>, Instant, Instant, usize)> {
    let url = format!("{}/api/stations/{station}/scans", http.base);
    let mut times = Vec::with_capacity(codes.len());
    let first = Instant::now();
    let mut last = first;
    let mut busy = 0;
    for code in codes {
        let body = serde_json::to_vec(&serde_json::json!({
            "id": uuid::Uuid::new_v4().to_string(),
            "code": code,
            "condition": "intact",
            "note": "",
            "photos": [],
        }))?;
        let at = Instant::now();
        let (status, bytes) = loop {
            let response = http
                .client
                .post(&url)
                .bearer_auth(token)
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone())
                .send()
                .await
                .context("scan")?;
            let status = response.status();
            if status == StatusCode::SERVICE_UNAVAILABLE && busy < 10_000 {
                let wait = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(1);
                busy += 1;
                tokio::time::sleep(Duration::from_secs(wait)).await;
                continue;
            }
            break (status, response.bytes().await.context("scan answer")?);
        };
        last = Instant::now();
        times.push(last - at);
        ensure!(
            status == StatusCode::CREATED,
            "scan of {code} at {station}: {status}: {}",
            String::from_utf8_lossy(&bytes)
        );
        let answer: serde_json::Value = serde_json::from_slice(&bytes).context("scan answer")?;
        ensure!(
            answer["status"] == "matched"
                && answer["parcel"]["stage"] == "at_station"
                && answer["parcel"]["sample_code"].is_string(),
            "scan of {code} at {station} did not match its parcel: {answer}"
        );
    }
    Ok((times, first, last, busy))
}

// --- row-lock waits, sampled beside the rounds -----------------------------------------

/// Samples, on its own connection, how many sessions of the benchmark's
/// database wait for a lock, per mode.
struct LockSampler {
    mode: Arc<std::sync::Mutex<Mode>>,
    stop: Arc<AtomicBool>,
    thread: tokio::task::JoinHandle<Result<Waits>>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Waits {
    /// (samples, sum of waiting sessions) with custody on and left out.
    on: (u64, u64),
    off: (u64, u64),
}

impl Waits {
    fn mean(pair: (u64, u64)) -> f64 {
        if pair.0 == 0 {
            f64::NAN
        } else {
            pair.1 as f64 / pair.0 as f64
        }
    }
}

impl LockSampler {
    fn start(url: String) -> Self {
        let mode = Arc::new(std::sync::Mutex::new(Mode::On));
        let stop = Arc::new(AtomicBool::new(false));
        let (m, s) = (Arc::clone(&mode), Arc::clone(&stop));
        let thread = tokio::task::spawn_blocking(move || {
            let mut conn = diesel::PgConnection::establish(&url).context("sampler connection")?;
            let mut waits = Waits::default();
            while !s.load(Ordering::SeqCst) {
                let waiting: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
                    "(SELECT count(*) FROM pg_stat_activity \
                      WHERE datname = current_database() AND wait_event_type = 'Lock')",
                ))
                .get_result(&mut conn)
                .context("sampling pg_stat_activity")?;
                let mode = *m
                    .lock()
                    .map_err(|_| anyhow::anyhow!("sampler mode poisoned"))?;
                let slot = match mode {
                    Mode::On => &mut waits.on,
                    Mode::Off => &mut waits.off,
                };
                slot.0 += 1;
                slot.1 += u64::try_from(waiting).unwrap_or(0);
                std::thread::sleep(Duration::from_millis(50));
            }
            Ok(waits)
        });
        Self { mode, stop, thread }
    }

    fn set(&self, mode: Mode) {
        if let Ok(mut m) = self.mode.lock() {
            *m = mode;
        }
    }

    async fn stop(self) -> Result<Waits> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.await.context("sampler thread")?
    }
}

// --- the proof and the table --------------------------------------------------------

struct Proof {
    entries: i64,
    received: i64,
    at_station: i64,
    scans: i64,
    proven_up_to: u64,
    checkpoints: u64,
}

/// Checks that the log holds exactly the entries it should, that every
/// scanned parcel is at its station, and that the whole log verifies
/// against a checkpoint signed now.
async fn prove(
    services: &Services,
    setup_entries: i64,
    scans_on: usize,
    scans_total: usize,
) -> Result<Proof> {
    let signer = services
        .custody_signer
        .clone()
        .context("the benchmark's server has no custody signing key")?;
    let now = to_micros(services.clock.now());
    let (entries, received, at_station, scan_rows, report) = services
        .db
        .write(move |conn| {
            let entries: i64 = with_conn!(conn, c => custody_entries::table.count().get_result(c))?;
            let received: i64 = with_conn!(conn, c => custody_entries::table
                .filter(custody_entries::kind.eq(kinds::RECEIVED_AT_STATION))
                .count()
                .get_result(c))?;
            let at_station: i64 = with_conn!(conn, c => parcels::table
                .filter(parcels::stage.eq("at_station"))
                .count()
                .get_result(c))?;
            let scan_rows: i64 = with_conn!(conn, c => scans::table
                .filter(scans::task_id.is_not_null())
                .count()
                .get_result(c))?;
            custody::checkpoint(conn, now, &signer)?;
            let report = custody::verify(conn, &[signer.public_key().clone()])?;
            Ok::<_, ApiError>((entries, received, at_station, scan_rows, report))
        })
        .await
        .map_err(api)?;
    let expected = setup_entries + i64::try_from(scans_on)?;
    ensure!(
        entries == expected && received == i64::try_from(scans_on)?,
        "the custody log has {entries} entries ({received} scans), expected {expected} \
         ({setup_entries} from the setup and {scans_on} scans made with custody on)"
    );
    let total = i64::try_from(scans_total)?;
    ensure!(
        at_station == total && scan_rows == total,
        "{at_station} parcels at their station and {scan_rows} matched scans, expected {total}"
    );
    ensure!(
        report.is_intact() && report.proven_up_to == u64::try_from(entries)?,
        "the custody log does not verify: {report:?}"
    );
    Ok(Proof {
        entries,
        received,
        at_station,
        scans: scan_rows,
        proven_up_to: report.proven_up_to,
        checkpoints: report.checkpoints_checked,
    })
}

fn table(
    settings: &Settings,
    rounds: &[Round],
    waits: &Waits,
    proof: &Proof,
    pool_size: u32,
    http_workers: usize,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n{} stations x {} scans per round, all stations at once; PostgreSQL\n",
        settings.stations, settings.scans
    );
    let _ = writeln!(
        out,
        "| round | custody | scans | window | scans/s | p50 | p99 | max | busy, retried | load average |"
    );
    let _ = writeln!(out, "|---:|---|---:|---:|---:|---:|---:|---:|---:|---|");
    for (i, r) in rounds.iter().enumerate() {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.2} s | {:.0} | {:.1} ms | {:.1} ms | {:.1} ms | {} | {} |",
            i + 1,
            r.mode.name(),
            r.latencies.len(),
            r.window.as_secs_f64(),
            r.per_second(),
            percentile(&r.latencies, 0.50),
            percentile(&r.latencies, 0.99),
            percentile(&r.latencies, 1.0),
            r.busy,
            r.load
        );
    }
    let of = |mode: Mode, f: &dyn Fn(&Round) -> f64| {
        median(rounds.iter().filter(|r| r.mode == mode).map(f).collect())
    };
    let rate = |r: &Round| r.per_second();
    let p50 = |r: &Round| percentile(&r.latencies, 0.50);
    let p99 = |r: &Round| percentile(&r.latencies, 0.99);
    let _ = writeln!(
        out,
        "\nmedians of {} rounds each\n\n| | custody on | custody left out | on vs left out |\n|---|---:|---:|---:|",
        settings.rounds
    );
    let _ = writeln!(
        out,
        "| scans/s | {:.0} | {:.0} | **{:.2}** (on / left out) |",
        of(Mode::On, &rate),
        of(Mode::Off, &rate),
        of(Mode::On, &rate) / of(Mode::Off, &rate)
    );
    let _ = writeln!(
        out,
        "| p50 | {:.1} ms | {:.1} ms | {:+.1} ms |",
        of(Mode::On, &p50),
        of(Mode::Off, &p50),
        of(Mode::On, &p50) - of(Mode::Off, &p50)
    );
    let _ = writeln!(
        out,
        "| p99 | {:.1} ms | {:.1} ms | **{:+.1} ms** |",
        of(Mode::On, &p99),
        of(Mode::Off, &p99),
        of(Mode::On, &p99) - of(Mode::Off, &p99)
    );
    let _ = writeln!(
        out,
        "| sessions waiting for a lock (mean of samples every 50 ms) | {:.2} | {:.2} | |",
        Waits::mean(waits.on),
        Waits::mean(waits.off)
    );
    let _ = writeln!(
        out,
        "\nproof: the log holds {} entries ({} of them scans made with custody on, none for \
         the others); {} parcels at their station, {} matched scans; a checkpoint signed now \
         verifies entries 1..={} ({} checkpoint(s) checked)",
        proof.entries,
        proof.received,
        proof.at_station,
        proof.scans,
        proof.proven_up_to,
        proof.checkpoints
    );
    let _ = writeln!(
        out,
        "server: database pool {pool_size} connections, {http_workers} HTTP workers (0: one per core)"
    );
    out
}
