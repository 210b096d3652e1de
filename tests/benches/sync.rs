//! Sync throughput benchmark (not a timed test): many simulated devices
//! pushing and pulling at once against the real server, next to a baseline
//! of the same row writes as plain SQL transactions, measured in the same
//! run on the same machine. See BENCHMARKS.md for how to read it.
//!
//! Run it with `cargo xtask bench`, which starts PostgreSQL like the tests
//! do and runs `cargo bench -p mystery-buyer-tests --bench sync`. By hand:
//! `cargo xtask services` and the printed exports, then the `cargo bench`
//! command (with `MB_BENCH_BACKENDS=sqlite` it needs no services).
//!
//! For each backend (SQLite in a temp dir; a fresh PostgreSQL database in
//! the test cluster):
//!
//! * **Baseline.** A fresh database with the server's schema. Per device one
//!   transaction with 50 savepoints, each doing the row writes the server
//!   makes for one mutation (bump the scope's version, upsert the record with
//!   its JSON document, update the task row for a status change), then the
//!   device's last-processed number, as the server does once per batch. The
//!   documents are the very records the 50 mutations produce, encoded
//!   before timing. No HTTP, no reads, no merge, no JSON on the timed path.
//! * **Server.** The real server started in-process on port 0 with its
//!   default settings (`MB_*` variables in the environment override them,
//!   e.g. `MB_DATABASE_POOL_SIZE`, `MB_HTTP_WORKERS`). Each device pulls,
//!   makes 50 mutations on its `sync-protocol` replica, pushes them as one
//!   batch of 50 and pulls again; all devices run at once, at most
//!   `MB_BENCH_CONCURRENCY` in flight.
//!
//! Mutations per second are counted over the push window (first push sent
//! to last push answered; the pulls run concurrently inside it), and over the
//! whole baseline. Both use the same concurrency.
//!
//! Latencies are measured by the client, from sending the request to the
//! last byte of the answer (HTTP over loopback included, JSON encoding of
//! the request and decoding of the answer not).
//!
//! Settings: `MB_BENCH_DEVICES` (1000), `MB_BENCH_CONCURRENCY` (4: two per
//! core; every request is a chain of synchronous database round trips, so
//! one in flight keeps about one core busy between the server and
//! PostgreSQL, and more than two per core only queue), `MB_BENCH_BACKENDS`
//! (`sqlite,postgres`). Nothing is written outside the temp dirs and the
//! throw-away cluster.

use std::{
    fmt::Write as _,
    net::TcpListener,
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail, ensure};
use chrono::Utc;
use diesel::prelude::*;
use mystery_buyer_server::{
    RunningServer, Services,
    auth::Role,
    config::Config,
    db::{
        self, Backend, Conn, Database, DbError,
        schema::{sync_records, sync_scopes},
        sync::{self as sql, RecordRow, TaskRow},
    },
    error::ApiError,
    sync::{
        Touched, devices,
        store::{self, evidence_key},
        tasks::{self, NewTask},
        volunteer_scope,
    },
    with_conn,
};
use mystery_buyer_tests::{
    bench::{client_runtime, load_average, percentile, server_config, setting, widen},
    fresh_postgres_database,
};
use reqwest::{StatusCode, header::CONTENT_TYPE};
use sync_protocol::{
    Money, Mutation, Record, Status,
    mutations::{
        AddEvidence, AddNote, EditNote, EditPurchase, RecordPurchase, RequestReimbursement,
        SetEvidenceNote, SetShipment, SetTaskStatus,
    },
    records::EvidenceKind,
    replica::Replica,
    wire::{Change, DeviceRegistered, Outcome, PullResponse, PushResponse},
};
use tokio::{sync::Semaphore, task::JoinSet};

/// Mutations per device, pushed as one batch.
const MUTATIONS: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    Sqlite,
    Postgres,
}

impl Which {
    fn name(self) -> &'static str {
        match self {
            Which::Sqlite => "SQLite",
            Which::Postgres => "PostgreSQL",
        }
    }
}

#[derive(Debug, Clone)]
struct Settings {
    devices: usize,
    concurrency: usize,
    backends: Vec<Which>,
}

impl Settings {
    fn from_env() -> Result<Self> {
        let backends = std::env::var("MB_BENCH_BACKENDS")
            .unwrap_or_else(|_| "sqlite,postgres".into())
            .split(',')
            .map(|b| match b.trim() {
                "sqlite" => Ok(Which::Sqlite),
                "postgres" => Ok(Which::Postgres),
                other => bail!("MB_BENCH_BACKENDS: unknown backend {other:?} (sqlite, postgres)"),
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            devices: setting("MB_BENCH_DEVICES", 1000)?,
            concurrency: setting("MB_BENCH_CONCURRENCY", 4)?,
            backends,
        })
    }
}

use mystery_buyer_tests::people::create_users;

fn main() -> Result<()> {
    let settings = Settings::from_env()?;
    if settings.backends.contains(&Which::Postgres)
        && !std::env::var("MB_TEST_PG_URL").is_ok_and(|v| !v.is_empty())
    {
        bail!(
            "MB_TEST_PG_URL is not set: run `cargo xtask bench`, which starts PostgreSQL, \
             or set MB_BENCH_BACKENDS=sqlite"
        );
    }
    // The client side (devices and the baseline's dispatcher) gets two
    // threads; the server runs its own HTTP workers and blocking pool.
    let runtime = client_runtime()?;
    runtime.block_on(run(settings))
}

async fn run(settings: Settings) -> Result<()> {
    eprintln!(
        "bench: {} devices x {MUTATIONS} mutations, {} in flight, {} cores, load average {}",
        settings.devices,
        settings.concurrency,
        std::thread::available_parallelism().map_or(0, usize::from),
        load_average()
    );
    let mut rows = Vec::new();
    for &which in &settings.backends {
        eprintln!("bench: {}: baseline", which.name());
        let baseline = baseline(which, &settings).await?;
        eprintln!(
            "bench: {}: baseline {:.0} mutations/s",
            which.name(),
            baseline.per_second()
        );
        eprintln!("bench: {}: server", which.name());
        let server = server(which, &settings).await?;
        eprintln!(
            "bench: {}: server {:.0} mutations/s",
            which.name(),
            server.per_second()
        );
        ensure!(
            server.rows == baseline.rows,
            "{}: the server stored {:?} (records, sum of scope versions) but the baseline {:?}: \
             they did not do the same writes",
            which.name(),
            server.rows,
            baseline.rows
        );
        rows.push((which, server, baseline));
    }
    println!("{}", table(&settings, &rows));
    eprintln!("bench: load average at the end {}", load_average());
    Ok(())
}

/// What one measured run produced.
struct Measured {
    mutations: usize,
    /// First batch sent to last batch answered.
    window: Duration,
    /// Push latency (the baseline: one batch transaction).
    push: Vec<Duration>,
    /// Pull latency, per request (empty for the baseline).
    pull: Vec<Duration>,
    /// Records stored and the sum of scope versions afterwards.
    rows: (i64, i64),
    pool_size: u32,
    http_workers: usize,
}

impl Measured {
    fn per_second(&self) -> f64 {
        self.mutations as f64 / self.window.as_secs_f64()
    }
}

fn table(settings: &Settings, rows: &[(Which, Measured, Measured)]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n{} devices x {MUTATIONS} mutations (one push of {MUTATIONS} each), {} in flight\n",
        settings.devices, settings.concurrency
    );
    let _ = writeln!(
        out,
        "| backend | server mutations/s | push p50 | push p99 | pull p50 | pull p99 | \
         baseline mutations/s | baseline batch p50 | baseline batch p99 | ratio |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (which, server, baseline) in rows {
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {:.0} | {:.1} ms | {:.1} ms | {:.2} |",
            which.name(),
            server.per_second(),
            percentile(&server.push, 0.50),
            percentile(&server.push, 0.99),
            percentile(&server.pull, 0.50),
            percentile(&server.pull, 0.99),
            baseline.per_second(),
            percentile(&baseline.push, 0.50),
            percentile(&baseline.push, 0.99),
            server.per_second() / baseline.per_second(),
        );
    }
    if let Some((_, server, _)) = rows.first() {
        let _ = writeln!(
            out,
            "\nserver: database pool {} connections, {} HTTP workers (0: one per core)",
            server.pool_size, server.http_workers
        );
    }
    out
}

// --- configuration and setup ----------------------------------------------------

/// The server's configuration for `which`, in `dir`: its defaults, then
/// any `MB_*` setting from the environment, then where the data goes.
fn config(which: Which, dir: &Path) -> Result<Config> {
    let url = (which == Which::Postgres).then(fresh_postgres_database);
    server_config(dir, url, &[])
}

fn now_us() -> i64 {
    Utc::now().timestamp_micros()
}

/// The task a coordinator creates for each volunteer.
fn new_task(volunteer_id: &str) -> NewTask {
    NewTask {
        volunteer_id: volunteer_id.to_owned(),
        title: "Power strip, 6 outlets".into(),
        instructions: "Buy the cheapest variant; pay by card.".into(),
        listing_url: "https://shop.example/listing/123".into(),
        shop_name: "Example Flagship Store".into(),
        platform: "example-mall".into(),
        category: "power strips".into(),
        price_cap: Some(Money::new(5000, "CNY")),
        deadline: None,
    }
}

/// Records stored, and the sum of every scope's version.
async fn stored_rows(database: &Database) -> Result<(i64, i64)> {
    database
        .read(|conn| {
            let records: i64 = with_conn!(conn, c => sync_records::table.count().get_result(c))?;
            let versions: Vec<i64> =
                with_conn!(conn, c => sync_scopes::table.select(sync_scopes::version).load(c))?;
            Ok::<_, DbError>((records, versions.iter().sum()))
        })
        .await
        .context("counting rows")
}

// --- the workload -----------------------------------------------------------------

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

fn sha256_like() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// What a volunteer does offline for one task: 50 mutations of every kind
/// an app makes. Every one changes a record.
fn script(task_id: &str, t0: i64) -> Vec<Mutation> {
    let task = || task_id.to_owned();
    let status = |status| {
        Mutation::SetTaskStatus(SetTaskStatus {
            task_id: task(),
            generation: 1,
            status,
        })
    };
    let purchase = new_id();
    let kinds = [
        EvidenceKind::ListingPhoto,
        EvidenceKind::ProductPhoto,
        EvidenceKind::OrderScreenshot,
        EvidenceKind::PaymentScreenshot,
        EvidenceKind::ChatLog,
    ];
    let evidence: Vec<String> = (0..20).map(|_| new_id()).collect();
    let notes: Vec<String> = (0..10).map(|_| new_id()).collect();
    let mut m = vec![
        status(Status::Accepted),
        Mutation::RecordPurchase(RecordPurchase {
            id: purchase.clone(),
            task_id: task(),
            order_number: "ORDER-20261123-000123".into(),
            amount: Money::new(3999, "CNY"),
            purchased_at_us: t0,
            shop_name: "Example Flagship Store".into(),
        }),
        status(Status::Purchased),
    ];
    for (i, id) in evidence.iter().enumerate() {
        m.push(Mutation::AddEvidence(AddEvidence {
            id: id.clone(),
            task_id: task(),
            kind: kinds[i % kinds.len()],
            sha256: sha256_like(),
            size: 180_000 + 1_000 * i as u64,
            media_type: "image/jpeg".into(),
            captured_at_us: t0 + i as i64,
            note: format!("photo {i} of the listing and the order page"),
        }));
    }
    for (i, id) in notes.iter().enumerate() {
        m.push(Mutation::AddNote(AddNote {
            id: id.clone(),
            task_id: task(),
            body: format!(
                "Note {i}: the seller answered after two hours; the packaging differs from \
                 the listing photos and the label has no certification mark."
            ),
        }));
    }
    for (i, id) in evidence.iter().take(8).enumerate() {
        m.push(Mutation::SetEvidenceNote(SetEvidenceNote {
            id: id.clone(),
            note: format!("photo {i}: the plug and the rating label, close up"),
        }));
    }
    for (i, id) in notes.iter().take(3).enumerate() {
        m.push(Mutation::EditNote(EditNote {
            id: id.clone(),
            body: format!("Note {i}, corrected: the seller answered after three hours."),
        }));
    }
    m.push(Mutation::EditPurchase(EditPurchase {
        id: purchase,
        order_number: Some("ORDER-20261123-000124".into()),
        ..EditPurchase::default()
    }));
    m.push(Mutation::SetShipment(SetShipment {
        task_id: task(),
        carrier: Some("SF Express".into()),
        tracking_number: None,
    }));
    m.push(Mutation::SetShipment(SetShipment {
        task_id: task(),
        carrier: None,
        tracking_number: Some("SF1234567890".into()),
    }));
    m.push(Mutation::SetShipment(SetShipment {
        task_id: task(),
        carrier: None,
        tracking_number: Some("SF1234567891".into()),
    }));
    m.push(Mutation::RequestReimbursement(RequestReimbursement {
        id: new_id(),
        task_id: task(),
        amount: Money::new(3999, "CNY"),
        note: "card payment, receipt attached".into(),
    }));
    m.push(status(Status::Shipped));
    debug_assert_eq!(m.len(), MUTATIONS);
    m
}

// --- baseline -----------------------------------------------------------------------

/// One device's batch for the baseline, ready to write.
struct Batch {
    device_id: String,
    scope: String,
    task: TaskRow,
    /// Per savepoint: the record (its version is the bumped one) and the
    /// task status, for status changes.
    writes: Vec<(RecordRow, Option<String>)>,
    last_stamp: String,
}

/// The rows the server would write for `script` on `registered`'s device:
/// the replica applies the mutations (the server runs the same functions),
/// and each mutation's record is encoded here, before any timing.
fn batch_for(
    registered: &DeviceRegistered,
    user_id: &str,
    task_row: TaskRow,
    task_record: Record,
    now: i64,
) -> Result<Batch> {
    let mut replica = Replica::new(registered);
    replica.on_pull_response(&PullResponse {
        v: sync_protocol::PROTOCOL_VERSION,
        reset: false,
        changes: vec![Change::Put {
            record: task_record,
        }],
        cursor: String::new(),
        more: false,
        last_processed: 0,
        server_time_us: now,
    });
    let scope = volunteer_scope(user_id);
    let mut writes = Vec::with_capacity(MUTATIONS);
    for mutation in script(&task_row.id, now) {
        let (kind, id) = mutation.target();
        let key = (kind, id.to_owned());
        replica
            .mutate(now, mutation.clone())
            .map_err(|r| anyhow::anyhow!("the replica refused {}: {r:?}", mutation.name()))?;
        let record = replica
            .view()
            .get(&key)
            .context("the mutation's record is in the view")?;
        let status = match record {
            Record::Task(t) => Some(t.status.status.as_str().to_owned()),
            _ => None,
        };
        let dedupe_key = match record {
            Record::Evidence(e) => Some(evidence_key(&e.task_id, &e.sha256)),
            _ => None,
        };
        writes.push((
            RecordRow {
                kind: kind.as_str().to_owned(),
                id: record.id().to_owned(),
                task_id: record.task_id().to_owned(),
                author_id: Some(user_id.to_owned()),
                scope: Some(scope.clone()),
                version: 0,
                doc: serde_json::to_string(record)?,
                dedupe_key,
                withdrawn: false,
                created_at: now,
                updated_at: now,
            },
            status,
        ));
    }
    let last_stamp = replica
        .pending()
        .last()
        .map(|p| serde_json::to_string(&p.stamp))
        .transpose()?
        .unwrap_or_default();
    Ok(Batch {
        device_id: registered.device_id.clone(),
        scope,
        task: task_row,
        writes,
        last_stamp,
    })
}

/// Writes one batch as the server's push would, without anything else.
fn write_batch(conn: &mut Conn, batch: &Batch, now: i64) -> Result<(), DbError> {
    let mut task = batch.task.clone();
    for (row, status) in &batch.writes {
        db::savepoint(conn, |conn| {
            if let Some(status) = status {
                task.status.clone_from(status);
                task.updated_at = now;
                sql::update_task(conn, &task)?;
            }
            let version = sql::bump_scope(conn, &batch.scope)?;
            let mut row = row.clone();
            row.version = version;
            sql::save_record(conn, &row)?;
            Ok::<_, DbError>(())
        })?;
    }
    sql::record_push(
        conn,
        &batch.device_id,
        i64::try_from(batch.writes.len()).unwrap_or(i64::MAX),
        Some(&batch.last_stamp),
        now,
    )?;
    Ok(())
}

async fn baseline(which: Which, settings: &Settings) -> Result<Measured> {
    let dir = tempfile::tempdir().context("temp dir")?;
    let config = config(which, dir.path())?;
    let (pool_size, http_workers) = (config.database_pool_size, config.http_workers);
    let services = Services::open(config)
        .await
        .map_err(|e| anyhow::anyhow!("opening the baseline database: {e}"))?;
    let database = services.db.clone();

    // The same world as the server's, made directly.
    let coordinator = create_users(&services, Role::Coordinator, 1)
        .await?
        .pop()
        .context("coordinator")?;
    let volunteers = create_users(&services, Role::Volunteer, settings.devices).await?;
    let now = now_us();
    let mut batches = Vec::with_capacity(volunteers.len());
    for chunk in volunteers.chunks(100) {
        let ids: Vec<String> = chunk.iter().map(|v| v.id.clone()).collect();
        let coordinator = coordinator.id.clone();
        let made = database
            .write(move |conn| {
                let mut made = Vec::new();
                for id in ids {
                    let task_id = tasks::create(
                        conn,
                        now,
                        &coordinator,
                        &new_task(&id),
                        &mut Touched::new(),
                    )?;
                    let registered = devices::register(conn, now, &id, "bench phone")?;
                    let task_row = sql::find_task(conn, &task_id)?
                        .ok_or_else(|| ApiError::Internal("task vanished".into()))?;
                    let record_row = sql::find_record(conn, "task", &task_id)?
                        .ok_or_else(|| ApiError::Internal("task record vanished".into()))?;
                    made.push((id, registered, task_row, store::decode(&record_row)?));
                }
                Ok::<_, ApiError>(made)
            })
            .await
            .map_err(|e| anyhow::anyhow!("creating tasks and devices: {e}"))?;
        for (user_id, registered, task_row, record) in made {
            batches.push(Arc::new(batch_for(
                &registered,
                &user_id,
                task_row,
                record,
                now,
            )?));
        }
    }

    let limit = Arc::new(Semaphore::new(settings.concurrency));
    let mut running = JoinSet::new();
    let started = Instant::now();
    for batch in batches {
        let (limit, database) = (Arc::clone(&limit), database.clone());
        running.spawn(async move {
            let _permit = limit.acquire_owned().await.context("semaphore")?;
            let at = Instant::now();
            let written_at = now_us();
            database
                .write(move |conn| write_batch(conn, &batch, written_at))
                .await
                .context("baseline batch")?;
            Ok::<_, anyhow::Error>(at.elapsed())
        });
    }
    let mut push = Vec::with_capacity(settings.devices);
    while let Some(done) = running.join_next().await {
        push.push(done.context("baseline task")??);
    }
    let window = started.elapsed();
    let rows = stored_rows(&database).await?;
    Ok(Measured {
        mutations: settings.devices * MUTATIONS,
        window,
        push,
        pull: Vec::new(),
        rows,
        pool_size,
        http_workers,
    })
}

// --- the server -------------------------------------------------------------------

/// One app install: a replica and its user's access token.
struct Phone {
    replica: Replica,
    token: String,
}

/// What one device measured.
#[derive(Default)]
struct Trace {
    push: Vec<Duration>,
    pull: Vec<Duration>,
    push_window: Option<(Instant, Instant)>,
}

struct Http {
    client: reqwest::Client,
    base: String,
}

impl Http {
    async fn post_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        token: &str,
        body: &impl serde::Serialize,
        expect: StatusCode,
    ) -> Result<T> {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .with_context(|| format!("POST {path}"))?;
        let status = response.status();
        let bytes = response.bytes().await?;
        ensure!(
            status == expect,
            "POST {path}: {status}: {}",
            String::from_utf8_lossy(&bytes)
        );
        serde_json::from_slice(&bytes).with_context(|| format!("POST {path} answer"))
    }

    /// Pulls until nothing more waits; records each request's latency.
    async fn pull(&self, phone: &mut Phone, trace: &mut Trace) -> Result<()> {
        loop {
            let mut query = vec![("device_id", phone.replica.device_id().to_owned())];
            if let Some(cursor) = phone.replica.cursor() {
                query.push(("cursor", cursor.to_owned()));
            }
            let at = Instant::now();
            let response = self
                .client
                .get(format!("{}/api/sync/pull", self.base))
                .bearer_auth(&phone.token)
                .query(&query)
                .send()
                .await
                .context("pull")?;
            let status = response.status();
            let bytes = response.bytes().await.context("pull answer")?;
            trace.pull.push(at.elapsed());
            ensure!(
                status == StatusCode::OK,
                "pull: {status}: {}",
                String::from_utf8_lossy(&bytes)
            );
            let page: PullResponse = serde_json::from_slice(&bytes).context("PullResponse")?;
            phone.replica.on_pull_response(&page);
            if !page.more {
                return Ok(());
            }
        }
    }

    /// Pushes everything queued as one batch; every mutation must apply.
    async fn push(&self, phone: &mut Phone, trace: &mut Trace) -> Result<()> {
        let request = phone
            .replica
            .push_request(now_us(), MUTATIONS)
            .context("nothing to push")?;
        let body = serde_json::to_vec(&request)?;
        let at = Instant::now();
        let response = self
            .client
            .post(format!("{}/api/sync/push", self.base))
            .bearer_auth(&phone.token)
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .context("push")?;
        let status = response.status();
        let bytes = response.bytes().await.context("push answer")?;
        let done = Instant::now();
        trace.push.push(done - at);
        trace.push_window = Some((at, done));
        ensure!(
            status == StatusCode::OK,
            "push: {status}: {}",
            String::from_utf8_lossy(&bytes)
        );
        let answer: PushResponse = serde_json::from_slice(&bytes).context("PushResponse")?;
        ensure!(
            answer.stopped.is_none()
                && answer.results.len() == request.mutations.len()
                && answer.results.iter().all(|r| r.outcome == Outcome::Applied),
            "not every mutation applied: {answer:?}"
        );
        phone.replica.on_push_response(&answer);
        Ok(())
    }
}

/// Pull, 50 mutations, one push, pull: what one device does.
async fn device(http: Arc<Http>, mut phone: Phone) -> Result<Trace> {
    let mut trace = Trace::default();
    http.pull(&mut phone, &mut trace).await?;
    let task_id = phone
        .replica
        .confirmed()
        .keys()
        .find(|(kind, _)| *kind == sync_protocol::Kind::Task)
        .map(|(_, id)| id.clone())
        .context("the task reached the phone")?;
    let t0 = now_us();
    for mutation in script(&task_id, t0) {
        phone
            .replica
            .mutate(now_us(), mutation)
            .map_err(|r| anyhow::anyhow!("the replica refused a mutation: {r:?}"))?;
    }
    http.push(&mut phone, &mut trace).await?;
    http.pull(&mut phone, &mut trace).await?;
    ensure!(
        phone.replica.pending().is_empty(),
        "the last pull did not confirm every mutation"
    );
    Ok(trace)
}

async fn start(services: &Services) -> Result<RunningServer> {
    let listener = TcpListener::bind("127.0.0.1:0").context("bind port 0")?;
    mystery_buyer_server::start(services.clone(), listener)
        .await
        .map_err(|e| anyhow::anyhow!("the server did not start: {e}"))
}

async fn server(which: Which, settings: &Settings) -> Result<Measured> {
    let dir = tempfile::tempdir().context("temp dir")?;
    let config = config(which, dir.path())?;
    let (pool_size, http_workers) = (config.database_pool_size, config.http_workers);
    let services = Services::open(config)
        .await
        .map_err(|e| anyhow::anyhow!("opening the server's database: {e}"))?;
    ensure!(
        services.db.backend()
            == match which {
                Which::Sqlite => Backend::Sqlite,
                Which::Postgres => Backend::Postgres,
            },
        "the server opened the wrong backend"
    );
    let running = start(&services).await?;
    let http = Arc::new(Http {
        client: mystery_buyer_tests::http_client()
            .pool_max_idle_per_host(settings.concurrency * 2)
            .timeout(Duration::from_secs(300))
            .build()
            .context("HTTP client")?,
        base: format!("http://{}", running.addr),
    });

    // Setup, not timed: users directly; tasks and devices over HTTP.
    let coordinator = create_users(&services, Role::Coordinator, 1)
        .await?
        .pop()
        .context("coordinator")?;
    let volunteers = create_users(&services, Role::Volunteer, settings.devices).await?;
    let limit = Arc::new(Semaphore::new(settings.concurrency));
    let mut setup = JoinSet::new();
    for volunteer in volunteers {
        let (limit, http, coordinator) = (
            Arc::clone(&limit),
            Arc::clone(&http),
            coordinator.token.clone(),
        );
        setup.spawn(async move {
            let _permit = limit.acquire_owned().await.context("semaphore")?;
            let task = new_task(&volunteer.id);
            let _: serde_json::Value = http
                .post_json(
                    "/api/tasks",
                    &coordinator,
                    &serde_json::json!({
                        "volunteer_id": volunteer.id,
                        "title": task.title,
                        "instructions": task.instructions,
                        "listing_url": task.listing_url,
                        "shop_name": task.shop_name,
                        "platform": task.platform,
                        "category": task.category,
                        "price_cap": task.price_cap,
                    }),
                    StatusCode::CREATED,
                )
                .await?;
            let registered: DeviceRegistered = http
                .post_json(
                    "/api/sync/devices",
                    &volunteer.token,
                    &serde_json::json!({ "name": "bench phone" }),
                    StatusCode::CREATED,
                )
                .await?;
            Ok::<_, anyhow::Error>(Phone {
                replica: Replica::new(&registered),
                token: volunteer.token,
            })
        });
    }
    let mut phones = Vec::with_capacity(settings.devices);
    while let Some(done) = setup.join_next().await {
        phones.push(done.context("setup task")??);
    }

    // The measured part.
    let mut running_devices = JoinSet::new();
    for phone in phones {
        let (limit, http) = (Arc::clone(&limit), Arc::clone(&http));
        running_devices.spawn(async move {
            let _permit = limit.acquire_owned().await.context("semaphore")?;
            device(http, phone).await
        });
    }
    let mut measured = Measured {
        mutations: settings.devices * MUTATIONS,
        window: Duration::ZERO,
        push: Vec::with_capacity(settings.devices),
        pull: Vec::with_capacity(settings.devices * 2),
        rows: (0, 0),
        pool_size,
        http_workers,
    };
    let mut window: Option<(Instant, Instant)> = None;
    while let Some(done) = running_devices.join_next().await {
        let trace = done.context("device task")??;
        measured.push.extend(trace.push);
        measured.pull.extend(trace.pull);
        if let Some(pushed) = trace.push_window {
            widen(&mut window, pushed);
        }
    }
    let (start, end) = window.context("no push was made")?;
    measured.window = end - start;
    measured.rows = stored_rows(&services.db).await?;
    running.stop().await;
    Ok(measured)
}
