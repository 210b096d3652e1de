//! The test rig: each test gets its own database (a fresh SQLite file, or a
//! fresh PostgreSQL database in the cluster `cargo xtask test` started), its
//! own blob location (a temp folder, or a fresh key prefix in the Garage or
//! moto bucket), and starts the real server on port 0.
//!
//! The services are named by `MB_TEST_*` variables set by `cargo xtask test`.
//! Tests that need them are compiled only with the `services` feature, and
//! then a missing variable is a failure, never a skip.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use anyhow::{Context, Result, bail};

pub mod bench;
pub mod people;
pub mod spawned;
pub mod sync;
use mystery_buyer_server::{
    RunningServer, Services,
    config::{Config, DatabaseTarget},
    db::Database,
    storage::{BlobStore, s3::S3Store},
};

/// Where a story runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The embedded mode: SQLite and the filesystem store.
    SqliteFs,
    /// Production: PostgreSQL and Garage (S3).
    PostgresGarage,
}

/// Which S3 service, for blob store contract tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum S3Service {
    Garage,
    Moto,
}

/// A required variable of the test rig.
pub fn service_var(name: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!(
            "{name} is not set: this test needs the services that `cargo xtask test` starts \
             (run `cargo xtask services` and export what it prints to run it by hand)"
        ),
    }
}

/// A unique name for this test's database, prefix, etc.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
}

/// A clock the test moves, starting at the real present (to the second).
/// It starts now, not at a fixed date, because rows written outside the
/// server (the CLI, `invite_directly`) carry the real time: a fixed start
/// lets "expired" depend on the day the suite runs.
pub fn manual_clock() -> mystery_buyer_server::clock::ManualClock {
    let now = chrono::Utc::now().timestamp();
    mystery_buyer_server::clock::ManualClock::new(
        chrono::DateTime::from_timestamp(now, 0).expect("the present is a valid time"),
    )
}

/// A value as an environment variable figment reads back: tables in its
/// `{key=value}` syntax (JSON objects would arrive as one string), the
/// rest as JSON.
fn figment_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Object(map) => {
            let fields: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{k}={}", figment_text(v)))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        other => other.to_string(),
    }
}

/// One test's private slice of the world, cleaned up on drop (the temp dir;
/// PostgreSQL databases live in the throw-away cluster).
pub struct TestEnv {
    pub backend: Backend,
    pub config: Config,
    pub dir: tempfile::TempDir,
}

impl TestEnv {
    pub fn new(backend: Backend) -> Self {
        Self::with(backend, &[])
    }

    /// With extra `MB_*` settings.
    pub fn with(backend: Backend, extra: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let data_dir = dir.path().join("data");
        let data = data_dir.to_string_lossy().into_owned();
        let mut env: Vec<(String, String)> = vec![
            ("MB_DATA_DIR".into(), data),
            ("MB_LISTEN".into(), "127.0.0.1:0".into()),
            ("MB_LOG_LEVEL".into(), "warn".into()),
            ("MB_JOBS_POLL_MS".into(), "50".into()),
            ("MB_JOBS_RETRY_BASE_MS".into(), "100".into()),
            ("MB_SHUTDOWN_GRACE_SECS".into(), "5".into()),
            ("MB_DATABASE_POOL_SIZE".into(), "4".into()),
        ];
        if backend == Backend::PostgresGarage {
            env.push(("MB_DATABASE_URL".into(), fresh_postgres_database()));
            env.extend(s3_settings(S3Service::Garage, &unique("test-")));
        }
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let config = Config::load_from(None, &pairs).expect("test configuration is valid");
        Self {
            backend,
            config,
            dir,
        }
    }

    /// The `MB_*` variables that give a spawned binary this configuration.
    pub fn env_vars(&self) -> Vec<(String, String)> {
        let value = serde_json::to_value(&self.config).expect("config serialises");
        let mut vars = Vec::new();
        for (key, value) in value.as_object().expect("object") {
            let text = match value {
                serde_json::Value::Null => continue,
                serde_json::Value::String(s) => s.clone(),
                other => figment_text(other),
            };
            vars.push((format!("MB_{}", key.to_ascii_uppercase()), text));
        }
        vars
    }

    pub async fn services(&self) -> Services {
        Services::open(self.config.clone())
            .await
            .expect("services open")
    }

    pub async fn database(&self) -> Database {
        mystery_buyer_server::open_database(&self.config)
            .await
            .expect("database opens")
    }

    /// Starts the real server on a free port with a clock the test moves.
    pub async fn start_with_clock(
        &self,
        clock: mystery_buyer_server::clock::ManualClock,
    ) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
        let mut services = self.services().await;
        services.clock = std::sync::Arc::new(clock);
        let running = mystery_buyer_server::start(services, listener)
            .await
            .expect("server starts");
        TestServer::new(running)
    }

    /// Starts the real server on `listener` (bound by the caller, who
    /// needed its port first, e.g. for `MB_PUBLIC_ORIGIN`).
    pub async fn start_on(&self, listener: TcpListener) -> TestServer {
        let running = mystery_buyer_server::run(self.config.clone(), listener)
            .await
            .expect("server starts");
        TestServer::new(running)
    }

    /// Starts the real server on a free port.
    pub async fn start(&self) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
        let running = mystery_buyer_server::run(self.config.clone(), listener)
            .await
            .expect("server starts");
        TestServer::new(running)
    }

    pub fn database_target(&self) -> DatabaseTarget {
        self.config.database_target().expect("valid")
    }
}

/// A server the tests talk to over HTTP: started in this process, or
/// another process's ([`TestServer::at`]).
pub struct TestServer {
    /// `None` for a server this process did not start.
    pub running: Option<RunningServer>,
    pub base: String,
    pub http: reqwest::Client,
}

impl TestServer {
    fn new(running: RunningServer) -> Self {
        let base = format!("http://{}", running.addr);
        Self {
            running: Some(running),
            ..Self::at(base)
        }
    }

    /// A client of the server at `base` (`http://host:port`), with its own
    /// connection pool: a spawned binary's, or one more client of a server
    /// this process runs.
    pub fn at(base: String) -> Self {
        Self {
            running: None,
            base,
            http: http_client()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("client"),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stops the server if this process started it.
    pub async fn stop(self) {
        if let Some(running) = self.running {
            running.stop().await;
        }
    }
}

/// How long a test client keeps an idle connection for the next request:
/// well under the server's keep-alive (actix's 5 s) and its
/// `client_request_timeout_secs` (10 s). A pooled connection left idle
/// longer is closed by the server: silently after a response, and with an
/// unsolicited `408` and an empty body when it never carried a request.
/// hyper opens such spare connections itself when a request starts before
/// the last one's connection is back in the pool, and a request sent on
/// one just as that 408 arrives takes the 408 as its answer. A phone's
/// HTTP client has the same choice (README, "Connections").
pub const CLIENT_IDLE: Duration = Duration::from_secs(2);

/// The HTTP client every test and bench starts from.
pub fn http_client() -> reqwest::ClientBuilder {
    reqwest::Client::builder().pool_idle_timeout(CLIENT_IDLE)
}

/// Creates a new, empty database in the test cluster; returns its URL.
pub fn fresh_postgres_database() -> String {
    let admin = service_var("MB_TEST_PG_URL");
    let name = unique("mb_test_");
    let mut conn = <diesel::PgConnection as diesel::Connection>::establish(&admin)
        .unwrap_or_else(|e| panic!("cannot connect to the test PostgreSQL at MB_TEST_PG_URL: {e}"));
    diesel::RunQueryDsl::execute(
        diesel::sql_query(format!("CREATE DATABASE {name}")),
        &mut conn,
    )
    .expect("create test database");
    let (base, _) = admin.rsplit_once('/').expect("URL has a database");
    format!("{base}/{name}")
}

/// `MB_*` settings for an S3 store on `service` under a fresh `prefix`.
pub fn s3_settings(service: S3Service, prefix: &str) -> Vec<(String, String)> {
    let (endpoint, region, bucket, key, secret) = match service {
        S3Service::Garage => (
            service_var("MB_TEST_GARAGE_ENDPOINT"),
            service_var("MB_TEST_GARAGE_REGION"),
            service_var("MB_TEST_GARAGE_BUCKET"),
            service_var("MB_TEST_GARAGE_ACCESS_KEY"),
            service_var("MB_TEST_GARAGE_SECRET_KEY"),
        ),
        S3Service::Moto => (
            service_var("MB_TEST_MOTO_ENDPOINT"),
            "us-east-1".into(),
            "mb-test".into(),
            "testing".into(),
            "testing".into(),
        ),
    };
    vec![
        ("MB_BLOB_STORE".into(), "s3".into()),
        ("MB_S3_ENDPOINT".into(), endpoint),
        ("MB_S3_REGION".into(), region),
        ("MB_S3_BUCKET".into(), bucket),
        ("MB_S3_ACCESS_KEY_ID".into(), key),
        ("MB_S3_SECRET_ACCESS_KEY".into(), secret),
        ("MB_S3_PATH_STYLE".into(), "true".into()),
        ("MB_S3_KEY_PREFIX".into(), format!("{prefix}/")),
    ]
}

/// A blob store on `service` under a fresh prefix (the bucket is created
/// when the service needs it, as moto does).
pub async fn s3_store(service: S3Service) -> Arc<dyn BlobStore> {
    let settings = s3_settings(service, &unique("contract-"));
    let pairs: Vec<(&str, &str)> = settings
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let config = Config::load_from(None, &pairs).expect("valid s3 config");
    let store = S3Store::from_config(&config).await.expect("s3 store");
    if service == S3Service::Moto {
        store
            .create_bucket_if_missing()
            .await
            .expect("create moto bucket");
    }
    Arc::new(store)
}

/// The path of the built `mystery-buyer` binary.
pub fn binary() -> PathBuf {
    if let Ok(path) = std::env::var("MB_TEST_BIN") {
        return PathBuf::from(path);
    }
    // target/<profile>/deps/<this test> -> target/<profile>/mystery-buyer
    let exe = std::env::current_exe().expect("current exe");
    let profile_dir = exe.parent().and_then(Path::parent).expect("target layout");
    profile_dir.join("mystery-buyer")
}

/// Polls `check` every 50 ms until it returns `Some`, for at most `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return Ok(value);
        }
        if tokio::time::Instant::now() > deadline {
            bail!("timed out after {limit:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One message the test SMTP server received.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    pub raw: String,
}

impl ReceivedMail {
    /// The value of a header (unfolded), if present.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.raw.split("\r\n\r\n").next().unwrap_or_default();
        let head = head.replace("\r\n ", " ").replace("\r\n\t", " ");
        head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name)
                .then(|| value.trim().to_string())
        })
    }

    pub fn body(&self) -> String {
        self.raw
            .split_once("\r\n\r\n")
            .or_else(|| self.raw.split_once("\n\n"))
            .map(|(_, b)| b.to_string())
            .unwrap_or_default()
    }
}

/// Waits for a message whose Subject is `subject` in the SMTP server's Maildir.
pub async fn wait_for_mail(subject: &str, limit: Duration) -> Result<ReceivedMail> {
    wait_for_mail_in("MB_TEST_SMTP_MAILDIR", subject, limit).await
}

/// Waits for a mail to `recipient` with `subject` on the plain SMTP server.
pub async fn wait_for_mail_to(
    recipient: &str,
    subject: &str,
    limit: Duration,
) -> Result<ReceivedMail> {
    let maildir = PathBuf::from(service_var("MB_TEST_SMTP_MAILDIR"));
    let (recipient, subject) = (recipient.to_string(), subject.to_string());
    eventually(limit, &format!("a mail to {recipient}"), || {
        let (maildir, recipient, subject) = (maildir.clone(), recipient.clone(), subject.clone());
        async move {
            for sub in ["new", "cur"] {
                let Ok(entries) = std::fs::read_dir(maildir.join(sub)) else {
                    continue;
                };
                for entry in entries.flatten() {
                    let Ok(raw) = std::fs::read_to_string(entry.path()) else {
                        continue;
                    };
                    let mail = ReceivedMail { raw };
                    if mail.header("Subject").as_deref() == Some(subject.as_str())
                        && mail.header("To").is_some_and(|to| to.contains(&recipient))
                    {
                        return Some(mail);
                    }
                }
            }
            None
        }
    })
    .await
    .context("mail did not arrive")
}

/// The token of the first `/<kind>/<token>` link in a mail's text (quoted-
/// printable soft line breaks undone).
pub fn link_token_in(text: &str, kind: &str) -> Option<String> {
    let text = text.replace("=\r\n", "").replace("=\n", "");
    let marker = format!("/{kind}/");
    let start = text.find(&marker)? + marker.len();
    let token: String = text[start..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    (token.len() == 64).then_some(token)
}

/// As [`wait_for_mail`], on the SMTP server whose maildir is in the
/// variable `maildir_var` (`MB_TEST_SMTP_STARTTLS_MAILDIR`, `MB_TEST_SMTPS_MAILDIR`).
pub async fn wait_for_mail_in(
    maildir_var: &str,
    subject: &str,
    limit: Duration,
) -> Result<ReceivedMail> {
    let maildir = PathBuf::from(service_var(maildir_var));
    eventually(limit, &format!("a mail with subject {subject:?}"), || {
        let maildir = maildir.clone();
        async move {
            for sub in ["new", "cur"] {
                let Ok(entries) = std::fs::read_dir(maildir.join(sub)) else {
                    continue;
                };
                for entry in entries.flatten() {
                    let Ok(raw) = std::fs::read_to_string(entry.path()) else {
                        continue;
                    };
                    let mail = ReceivedMail { raw };
                    if mail.header("Subject").as_deref() == Some(subject) {
                        return Some(mail);
                    }
                }
            }
            None
        }
    })
    .await
    .context("mail did not arrive")
}

/// Declares a story test on each backend: SQLite + filesystem always, and
/// PostgreSQL + Garage with the `services` feature.
#[macro_export]
macro_rules! on_each_backend {
    ($(#[$meta:meta])* async fn $name:ident($backend:ident: $ty:ty) $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn story($backend: $ty) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn on_sqlite_and_filesystem() {
                story($crate::Backend::SqliteFs).await
            }

            #[cfg(feature = "services")]
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn on_postgres_and_garage() {
                story($crate::Backend::PostgresGarage).await
            }
        }
    };
}
