//! Background jobs: a queue in the database that every server instance
//! works from. A worker claims due jobs with a lease, renews the lease while a
//! job runs, and records the outcome; a failed attempt is retried with
//! exponential backoff until `max_attempts`, then the job is dead-lettered.
//! If a worker dies, its lease runs out and another instance takes the job.
//! Delivery is therefore at-least-once: handlers must be idempotent.
//! At shutdown a worker stops claiming, lets running jobs finish within the
//! grace period, then gives back what it still holds.

use std::{collections::HashMap, sync::Arc, time::Duration};

use futures_util::future::BoxFuture;
use serde::Serialize;
use tokio::{sync::watch, task::JoinSet};

use crate::{
    clock::SharedClock,
    db::{
        self, Conn, Database, DbError,
        jobs::{JobRow, NewJob},
        time::to_micros,
    },
};

/// Why a job attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Worth trying again later (a service was down, a timeout).
    #[error("{0}")]
    Retry(String),
    /// Trying again cannot help (bad payload): dead-letter at once.
    #[error("{0}")]
    Permanent(String),
}

impl From<DbError> for JobError {
    fn from(e: DbError) -> Self {
        JobError::Retry(e.to_string())
    }
}

impl From<diesel::result::Error> for JobError {
    fn from(e: diesel::result::Error) -> Self {
        JobError::Retry(e.to_string())
    }
}

/// What a handler gets: the job's id, which attempt this is, and its payload.
#[derive(Debug, Clone)]
pub struct JobContext {
    pub id: String,
    pub kind: String,
    pub attempt: i32,
    pub payload: serde_json::Value,
}

pub type Handler =
    Arc<dyn Fn(JobContext) -> BoxFuture<'static, Result<(), JobError>> + Send + Sync>;

/// The job kinds this instance knows how to run.
#[derive(Clone, Default)]
pub struct Registry {
    handlers: HashMap<String, Handler>,
}

impl Registry {
    pub fn register<F, Fut>(&mut self, kind: &str, handler: F)
    where
        F: Fn(JobContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), JobError>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        self.handlers.insert(
            kind.to_string(),
            Arc::new(move |ctx| Box::pin(handler(ctx)) as BoxFuture<'static, _>),
        );
    }
}

/// Options for enqueueing.
#[derive(Debug, Clone, Default)]
pub struct Enqueue<'a> {
    /// Run no earlier than this; default now.
    pub run_at: Option<chrono::DateTime<chrono::Utc>>,
    /// A second job with the same key is not created.
    pub dedupe_key: Option<&'a str>,
    /// Default: the configured maximum.
    pub max_attempts: Option<i32>,
}

/// Attempts a job gets when the caller does not say.
pub const DEFAULT_MAX_ATTEMPTS: i32 = 8;

/// Schedules a housekeeping run of `kind` at `at`, once per `slot` (the
/// day, the quarter hour) however many instances ask.
pub fn schedule_once(
    conn: &mut Conn,
    at: chrono::DateTime<chrono::Utc>,
    kind: &str,
    slot: &str,
) -> Result<(), DbError> {
    let key = format!("{kind}:{slot}");
    enqueue(
        conn,
        at,
        kind,
        &serde_json::json!({}),
        Enqueue {
            run_at: Some(at),
            dedupe_key: Some(&key),
            max_attempts: None,
        },
    )?;
    Ok(())
}

/// Adds a job inside the caller's transaction, so the job exists exactly
/// when the change that needs it commits. Returns the job id, or `None` when
/// the dedupe key was already taken.
pub fn enqueue(
    conn: &mut Conn,
    now: chrono::DateTime<chrono::Utc>,
    kind: &str,
    payload: &impl Serialize,
    options: Enqueue,
) -> Result<Option<String>, DbError> {
    let id = uuid::Uuid::now_v7().to_string();
    let payload = serde_json::to_string(payload)
        .map_err(|e| DbError::Query(diesel::result::Error::SerializationError(Box::new(e))))?;
    let now_us = to_micros(now);
    let inserted = db::jobs::insert(
        conn,
        &NewJob {
            id: &id,
            kind,
            payload: &payload,
            state: db::jobs::QUEUED,
            max_attempts: options.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS),
            run_at: options.run_at.map(to_micros).unwrap_or(now_us),
            dedupe_key: options.dedupe_key,
            created_at: now_us,
            updated_at: now_us,
        },
    )?;
    Ok(inserted.then_some(id))
}

/// Worker settings (from `Config`).
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    pub concurrency: usize,
    pub lease: Duration,
    pub poll: Duration,
    pub retry_base: Duration,
    pub grace: Duration,
}

/// A running worker. Dropping it does not stop it; call [`Worker::shutdown`].
pub struct Worker {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    owner: String,
}

impl Worker {
    /// Starts claiming and running jobs under a fresh owner id.
    pub fn spawn(
        db: Database,
        clock: SharedClock,
        registry: Registry,
        options: WorkerOptions,
    ) -> Self {
        let owner = format!("worker-{}", uuid::Uuid::new_v4());
        let (stop, stopped) = watch::channel(false);
        let runner = Runner {
            db,
            clock,
            registry: Arc::new(registry),
            options,
            owner: owner.clone(),
        };
        let task = tokio::spawn(runner.run(stopped));
        Self { stop, task, owner }
    }

    /// The lease owner name this worker claims jobs under.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Stops claiming, waits up to the grace period for running jobs, then
    /// releases the rest back to the queue.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }

    /// Stops dead without releasing anything, as a crash would (for tests of
    /// lease expiry).
    pub fn abort(self) {
        self.task.abort();
    }
}

struct Runner {
    db: Database,
    clock: SharedClock,
    registry: Arc<Registry>,
    options: WorkerOptions,
    owner: String,
}

impl Runner {
    async fn run(self, mut stopped: watch::Receiver<bool>) {
        let runner = Arc::new(self);
        let mut running: JoinSet<()> = JoinSet::new();
        loop {
            if *stopped.borrow() {
                break;
            }
            let free = runner.options.concurrency.saturating_sub(running.len());
            let mut claimed = 0;
            if free > 0 {
                match runner.claim(free).await {
                    Ok(jobs) => {
                        claimed = jobs.len();
                        for job in jobs {
                            running.spawn(Arc::clone(&runner).execute(job));
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "claiming jobs failed"),
                }
            }
            // A full batch means more may be waiting: look again at once.
            if claimed > 0 && claimed == free {
                continue;
            }
            tokio::select! {
                _ = stopped.changed() => {}
                _ = tokio::time::sleep(runner.options.poll) => {}
                Some(_) = running.join_next(), if !running.is_empty() => {}
            }
        }
        // Shutdown: give running jobs the grace period, then take them back.
        let drain = async { while running.join_next().await.is_some() {} };
        if tokio::time::timeout(runner.options.grace, drain)
            .await
            .is_err()
        {
            running.abort_all();
            while running.join_next().await.is_some() {}
        }
        let now = to_micros(runner.clock.now());
        let owner = runner.owner.clone();
        match runner
            .db
            .write(move |conn| db::jobs::release_all(conn, &owner, now).map_err(DbError::from))
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(released = n, "released unfinished jobs"),
            Err(e) => {
                tracing::error!(error = %e, "could not release jobs; their leases will expire")
            }
        }
    }

    async fn claim(&self, limit: usize) -> Result<Vec<JobRow>, DbError> {
        let now = self.clock.now();
        let lease_until = now + chrono::Duration::from_std(self.options.lease).unwrap_or_default();
        let owner = self.owner.clone();
        let (now, lease_until) = (to_micros(now), to_micros(lease_until));
        self.db
            .write(move |conn| {
                db::jobs::claim(conn, &owner, now, lease_until, limit as i64).map_err(DbError::from)
            })
            .await
    }

    async fn execute(self: Arc<Self>, job: JobRow) {
        let outcome = match self.registry.handlers.get(&job.kind) {
            _ if job.attempts > job.max_attempts => Err(JobError::Permanent(
                "attempts used up (workers kept dying while running it)".into(),
            )),
            None => Err(JobError::Retry(format!(
                "no handler for job kind {:?} on this instance",
                job.kind
            ))),
            Some(handler) => match serde_json::from_str(&job.payload) {
                Err(e) => Err(JobError::Permanent(format!("payload is not JSON: {e}"))),
                Ok(payload) => {
                    let ctx = JobContext {
                        id: job.id.clone(),
                        kind: job.kind.clone(),
                        attempt: job.attempts,
                        payload,
                    };
                    let work = handler(ctx);
                    tokio::select! {
                        outcome = work => outcome,
                        lost = self.keep_lease(&job.id) => Err(JobError::Retry(lost)),
                    }
                }
            },
        };
        let now = self.clock.now();
        let (id, owner) = (job.id.clone(), self.owner.clone());
        let result = match &outcome {
            Ok(()) => {
                let now = to_micros(now);
                self.db
                    .write(move |conn| {
                        db::jobs::complete(conn, &id, &owner, now).map_err(DbError::from)
                    })
                    .await
            }
            Err(error) => {
                let retry_at = match error {
                    JobError::Retry(_) if job.attempts < job.max_attempts => {
                        Some(to_micros(now + self.backoff(job.attempts)))
                    }
                    _ => None,
                };
                if retry_at.is_none() {
                    tracing::error!(job = %job.id, kind = %job.kind, error = %error, "job dead-lettered");
                } else {
                    tracing::warn!(job = %job.id, kind = %job.kind, attempt = job.attempts, error = %error, "job failed; will retry");
                }
                let message = error.to_string();
                let now = to_micros(now);
                self.db
                    .write(move |conn| {
                        db::jobs::fail(conn, &id, &owner, &message, retry_at, now)
                            .map_err(DbError::from)
                    })
                    .await
            }
        };
        match result {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(job = %job.id, "job lease was lost before its outcome was recorded")
            }
            Err(e) => {
                tracing::error!(job = %job.id, error = %e, "could not record job outcome; its lease will expire")
            }
        }
    }

    /// Renews the lease every third of its length; returns (ending the job)
    /// only if the lease is lost.
    async fn keep_lease(&self, id: &str) -> String {
        loop {
            tokio::time::sleep(self.options.lease / 3).await;
            let lease_until = to_micros(
                self.clock.now()
                    + chrono::Duration::from_std(self.options.lease).unwrap_or_default(),
            );
            let (id, owner) = (id.to_string(), self.owner.clone());
            match self
                .db
                .write(move |conn| {
                    db::jobs::renew(conn, &id, &owner, lease_until).map_err(DbError::from)
                })
                .await
            {
                Ok(true) => {}
                Ok(false) => return "lease lost to another worker".into(),
                // A database hiccup: keep working, try again next round.
                Err(e) => tracing::warn!(error = %e, "could not renew a job lease"),
            }
        }
    }

    /// `retry_base * 2^(attempt-1)`, at most one hour.
    fn backoff(&self, attempt: i32) -> chrono::Duration {
        let exp = attempt.clamp(1, 20) as u32 - 1;
        let delay = self
            .options
            .retry_base
            .saturating_mul(2u32.saturating_pow(exp))
            .min(Duration::from_secs(3600));
        chrono::Duration::from_std(delay).unwrap_or_default()
    }
}

/// Jobs in each state, for `/metrics`.
pub async fn queue_depth(db: &Database) -> Result<Vec<(String, i64)>, DbError> {
    db.read(|conn| db::jobs::count_by_state(conn).map_err(DbError::from))
        .await
}
