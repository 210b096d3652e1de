//! The mystery-buyer server as a library: [`run`] starts everything on a
//! given listener and returns a handle; `main.rs` only parses the command line.
//! Tests start the same server on port 0.

use std::{net::TcpListener, sync::Arc, time::Duration};

use actix_web::{HttpServer, dev::ServerHandle};

pub mod auth;
pub mod campaigns;
pub mod cli;
pub mod clock;
pub mod config;
pub mod custody;
pub mod db;
pub mod error;
pub mod evidence;
pub mod http;
pub mod jobs;
pub mod logistics;
pub mod mail;
pub mod spreadsheet;
pub mod storage;
pub mod sync;
pub mod telemetry;
pub mod uploads;

use crate::{
    clock::{SharedClock, SystemClock},
    config::Config,
    db::Database,
    http::AppState,
    jobs::{Registry, Worker, WorkerOptions},
    mail::Mailer,
    storage::BlobStore,
};

/// Why the server could not start. Each displays as one line.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("database: {0}")]
    Db(#[from] db::DbError),
    #[error("blob store: {0}")]
    Storage(#[from] storage::StorageError),
    #[error("mail: {0}")]
    Mail(String),
    #[error("http: {0}")]
    Http(#[from] std::io::Error),
    #[error("configuration: {0}")]
    Config(String),
    #[error("jobs: {0}")]
    Jobs(String),
}

/// Opens the database and applies pending migrations.
pub async fn open_database(config: &Config) -> Result<Database, StartError> {
    let target = config
        .database_target()
        .map_err(|e| db::DbError::Connect(e.to_string()))?;
    let size = config.database_pool_size;
    let db = tokio::task::spawn_blocking(move || -> Result<Database, db::DbError> {
        let db = Database::connect(&target, size)?;
        let applied = db.migrate()?;
        if !applied.is_empty() {
            tracing::info!(migrations = ?applied, "applied migrations");
        }
        Ok(db)
    })
    .await
    .map_err(|e| db::DbError::Join(e.to_string()))??;
    Ok(db)
}

/// Everything the server and its workers share.
#[derive(Clone)]
pub struct Services {
    pub config: Arc<Config>,
    pub db: Database,
    pub blobs: Arc<dyn BlobStore>,
    pub clock: SharedClock,
    pub refresh_key: Arc<str>,
    /// This database's sync epoch: pull cursors from another (or a restored
    /// copy of this one made before the epoch existed) are reset.
    pub sync_epoch: Arc<str>,
    /// Signs the custody log's checkpoints (`custody_signing_key`).
    pub custody_signer: Option<Arc<custody_log::CheckpointSigner>>,
}

impl Services {
    /// Connects to the database (migrating it) and the blob store.
    pub async fn open(config: Config) -> Result<Self, StartError> {
        let db = open_database(&config).await?;
        let blobs = storage::from_config(&config).await?;
        let clock: SharedClock = Arc::new(SystemClock);
        let now = db::time::to_micros(clock.now());
        let candidate = auth::new_token();
        let epoch_candidate = auth::new_id();
        let (refresh_key, sync_epoch): (String, String) = db
            .write(move |conn| {
                let key = db::identity::secret(conn, "refresh_successor_key", &candidate, now)?;
                let epoch = db::identity::secret(conn, "sync_epoch", &epoch_candidate, now)?;
                Ok::<_, db::DbError>((key, epoch))
            })
            .await?;
        let custody_signer = config
            .custody_signing_key
            .as_ref()
            .map(|key| custody_log::CheckpointSigner::from_config(key.expose()))
            .transpose()
            .map_err(|e| StartError::Config(format!("custody_signing_key: {e}")))?
            .map(Arc::new);
        Ok(Self {
            config: Arc::new(config),
            db,
            blobs,
            clock,
            refresh_key: refresh_key.into(),
            sync_epoch: sync_epoch.into(),
            custody_signer,
        })
    }

    /// The evidence uploads, over this database and blob store.
    pub fn uploads(&self) -> uploads::Uploads {
        uploads::Uploads::new(
            &self.config,
            self.db.clone(),
            Arc::clone(&self.blobs),
            Arc::clone(&self.clock),
        )
    }

    /// The job kinds every instance runs.
    pub fn job_registry(&self) -> Result<Registry, StartError> {
        let mut registry = Registry::default();
        Mailer::from_config(&self.config)
            .map_err(StartError::Mail)?
            .register(&mut registry, self.db.clone(), Arc::clone(&self.clock));
        sync::pull::register_prune(
            &mut registry,
            self.db.clone(),
            Arc::clone(&self.clock),
            self.config.sync_tombstone_days,
        );
        campaigns::assignment::register_expiry(
            &mut registry,
            self.db.clone(),
            Arc::clone(&self.clock),
        );
        uploads::finish::register(&mut registry, self.uploads());
        uploads::sweep::register(&mut registry, self.uploads());
        logistics::jobs::register(&mut registry, self);
        custody::register_checkpoints(&mut registry, self);
        Ok(registry)
    }
}

/// A started server: its HTTP listener and its job worker.
pub struct RunningServer {
    handle: ServerHandle,
    http: tokio::task::JoinHandle<std::io::Result<()>>,
    worker: Option<Worker>,
    hub: Arc<sync::events::Hub>,
    poller: tokio::task::JoinHandle<()>,
    pub addr: std::net::SocketAddr,
}

impl RunningServer {
    /// Stops accepting, lets requests and jobs in flight finish within the
    /// grace period, releases unfinished jobs, and returns when all is done.
    pub async fn stop(self) {
        // Event streams never end on their own: end them first.
        self.hub.shut_down();
        let _ = self.poller.await;
        let http = async {
            self.handle.stop(true).await;
            let _ = self.http.await;
        };
        let jobs = async {
            if let Some(worker) = self.worker {
                worker.shutdown().await;
            }
        };
        tokio::join!(http, jobs);
    }

    /// Waits until the HTTP server ends by itself (it does not, unless it fails).
    pub async fn wait(&mut self) -> std::io::Result<()> {
        (&mut self.http)
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))?
    }
}

/// Starts the HTTP server on `listener` and, unless `jobs_concurrency` is 0,
/// a job worker. The caller handles signals and calls [`RunningServer::stop`].
pub async fn run(config: Config, listener: TcpListener) -> Result<RunningServer, StartError> {
    let services = Services::open(config).await?;
    start(services, listener).await
}

/// As [`run`], with services the caller opened (tests pass their own clock).
pub async fn start(services: Services, listener: TcpListener) -> Result<RunningServer, StartError> {
    let config = Arc::clone(&services.config);
    let registry = services.job_registry()?;
    let worker = (config.jobs_concurrency > 0).then(|| {
        Worker::spawn(
            services.db.clone(),
            Arc::clone(&services.clock),
            registry,
            WorkerOptions {
                concurrency: config.jobs_concurrency,
                lease: Duration::from_secs(config.jobs_lease_secs),
                poll: Duration::from_millis(config.jobs_poll_ms),
                retry_base: Duration::from_millis(config.jobs_retry_base_ms),
                grace: Duration::from_secs(config.shutdown_grace_secs),
            },
        )
    });
    let today = services.clock.now();
    services
        .db
        .write(move |conn| sync::pull::schedule_prune(conn, today))
        .await
        .map_err(|e| StartError::Jobs(format!("cannot schedule sync pruning: {e}")))?;
    services
        .db
        .write(move |conn| uploads::sweep::schedule(conn, today))
        .await
        .map_err(|e| StartError::Jobs(format!("cannot schedule the upload sweep: {e}")))?;
    let (checkpoint_every, overdue_every) = (
        custody::checkpoint_interval(&services.config),
        logistics::jobs::overdue_interval(),
    );
    services
        .db
        .write(move |conn| {
            custody::schedule_checkpoint(conn, today, checkpoint_every)?;
            logistics::jobs::schedule_overdue(conn, today, overdue_every)
        })
        .await
        .map_err(|e| StartError::Jobs(format!("cannot schedule custody and parcel jobs: {e}")))?;
    let state = AppState::new(&services)?;
    let hub = Arc::clone(&state.hub);
    let poller = sync::events::spawn_poller(
        Arc::clone(&hub),
        services.db.clone(),
        Duration::from_millis(config.sync_poll_ms),
    );
    let addr = listener.local_addr()?;
    let mut server = HttpServer::new(move || http::app(state.clone(), |_| {}))
        .disable_signals()
        .shutdown_timeout(config.shutdown_grace_secs)
        .client_request_timeout(Duration::from_secs(config.client_request_timeout_secs));
    if config.http_workers > 0 {
        server = server.workers(config.http_workers);
    }
    let server = server.listen(listener)?.run();
    let handle = server.handle();
    let http = tokio::spawn(server);
    for (what, where_) in config.summary() {
        tracing::info!(what, location = %where_, "configured");
    }
    tracing::info!(%addr, "serving");
    Ok(RunningServer {
        handle,
        http,
        worker,
        hub,
        poller,
        addr,
    })
}
