//! The server's whole configuration: one typed struct read from an optional TOML
//! file and `MB_*` environment variables (the environment wins), checked once at
//! start. It is passed down explicitly; there is no global. Secrets never reach
//! logs: their `Debug` is redacted and `summary()` prints only where things are.

use std::{fmt, net::SocketAddr, path::PathBuf};

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use serde::{Deserialize, Serialize};

/// Which object store holds evidence files and other blobs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlobStoreKind {
    /// Files under `blob_dir` (default `<data_dir>/blobs`): the embedded mode.
    Filesystem,
    /// Any S3-compatible store (`s3_*` settings).
    S3,
}

/// How logs are written to standard error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line, for log collectors (default).
    Json,
    /// Human-readable lines, for a terminal.
    Pretty,
}

/// A string that must never be printed: `Debug` and `Display` show `***`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The secret itself; call only where it is handed to a client library.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Every setting, with its default. Field names are the TOML keys; the
/// environment variable is `MB_` + the name in capitals (`MB_DATABASE_URL`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Folder for everything local: the SQLite database, blobs and mail
    /// outbox unless those are set elsewhere. Default `./data`.
    pub data_dir: PathBuf,
    /// `sqlite://<path>` (or `sqlite:<path>`) or `postgres://user:pass@host/db`.
    /// Default: `sqlite://<data_dir>/mystery-buyer.sqlite3`.
    pub database_url: Option<Secret>,
    /// Connections per pool. Default 8.
    pub database_pool_size: u32,
    /// Address the HTTP server binds. Default `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// The origin users reach the server at (scheme, host, port), used in
    /// links sent by mail and as the WebAuthn origin. Default `http://localhost:8080`.
    pub public_origin: String,
    /// HTTP worker threads; 0 means one per core. Default 0.
    pub http_workers: usize,

    /// `filesystem` (default) or `s3`.
    pub blob_store: BlobStoreKind,
    /// Folder of the filesystem blob store. Default `<data_dir>/blobs`.
    pub blob_dir: Option<PathBuf>,
    /// S3 endpoint URL, e.g. `https://s3.eu-west-1.amazonaws.com` or `http://127.0.0.1:3900`.
    pub s3_endpoint: Option<String>,
    /// S3 region. Default `us-east-1`.
    pub s3_region: String,
    /// Bucket name (required with `blob_store = "s3"`).
    pub s3_bucket: Option<String>,
    /// Access key id (required with `blob_store = "s3"`).
    pub s3_access_key_id: Option<String>,
    /// Secret access key (required with `blob_store = "s3"`).
    pub s3_secret_access_key: Option<Secret>,
    /// Path-style addressing (`endpoint/bucket/key`) instead of virtual hosts.
    /// Default true, which self-hosted stores (Garage, MinIO) need.
    pub s3_path_style: bool,
    /// Prefix put before every object key, so several installations (or test
    /// runs) can share one bucket. Default empty.
    pub s3_key_prefix: String,
    /// Multipart uploads left incomplete for this many days are removed by the
    /// bucket's lifecycle rule (set at start when the store allows it). Default 2.
    pub s3_abort_incomplete_days: u32,

    /// `smtp://host:port` (plain, or `?tls=required` for STARTTLS) or
    /// `smtps://user:pass@host:port` (implicit TLS). When unset, mail is
    /// written as `.eml` files to `outbox_dir`.
    pub smtp_url: Option<Secret>,
    /// A PEM file with the certificate authority to trust for the SMTP
    /// server's TLS certificate, besides the usual public roots (a mail
    /// relay with a private CA). Only with a TLS `smtp_url`.
    pub smtp_ca_file: Option<PathBuf>,
    /// Folder for `.eml` files when no SMTP server is set. Default `<data_dir>/outbox`.
    pub outbox_dir: Option<PathBuf>,
    /// Sender of every mail. Default `Mystery Buyer <noreply@localhost>`.
    pub mail_from: String,

    /// Largest JSON request body in bytes. Default 262144 (256 KiB).
    pub max_json_body_bytes: usize,
    /// Largest request body of any other kind in bytes. Default 1 MiB.
    pub max_body_bytes: usize,
    /// Largest candidate import (CSV or JSON) in bytes. Default 32 MiB.
    pub max_import_bytes: usize,
    /// Seconds a client may take to send its request head. Default 10.
    pub client_request_timeout_secs: u64,

    /// Jobs one instance runs at once. 0 disables the worker on this
    /// instance (it still serves HTTP). Default 4.
    pub jobs_concurrency: usize,
    /// Seconds a claimed job stays leased to its worker before another
    /// instance may take it over; a running job renews it. Default 60.
    pub jobs_lease_secs: u64,
    /// Attempts before a failing job is dead-lettered. Default 8.
    pub jobs_max_attempts: u32,
    /// First retry delay in milliseconds; it doubles per attempt (capped at
    /// one hour). Default 5000.
    pub jobs_retry_base_ms: u64,
    /// How often an idle worker looks for new jobs, in milliseconds. Default 500.
    pub jobs_poll_ms: u64,

    /// Seconds SIGTERM waits for requests and jobs in flight before it
    /// releases what is left and exits. Default 20.
    pub shutdown_grace_secs: u64,

    /// Most mutations one push may carry. Default 500.
    pub sync_max_batch: usize,
    /// Largest push body in bytes. Default 4 MiB.
    pub sync_max_push_bytes: usize,
    /// Most changes one pull page holds (a client may ask for fewer).
    /// Default 500.
    pub sync_page_size: usize,
    /// How often an instance checks the database for changes to scopes its
    /// open event streams watch (changes made through another instance), in
    /// milliseconds. Changes made through this instance poke at once.
    /// Default 1000.
    pub sync_poll_ms: u64,
    /// Seconds between keep-alive comments on an idle event stream, so
    /// proxies do not close it. Default 15.
    pub sync_keepalive_secs: u64,
    /// Days a "removed from your scope" tombstone is kept. A device that
    /// has not pulled for longer gets a reset and syncs from nothing (its
    /// unpushed changes are kept). Default 90.
    pub sync_tombstone_days: u32,
    /// Weights of the candidates' risk score (a TOML table `[risk_weights]`;
    /// in the environment `MB_RISK_WEIGHTS={complaints=30}`). Each field is
    /// documented on [`crate::campaigns::risk::RiskWeights`]; the defaults
    /// add up to 100 points. A change applies to candidates added later.
    pub risk_weights: crate::campaigns::risk::RiskWeights,
    /// Largest evidence upload in bytes, announced as `Tus-Max-Size`.
    /// Default 64 MiB.
    pub upload_max_bytes: u64,
    /// Largest body of one upload PATCH in bytes (the client's chunk).
    /// Default 64 MiB, so a client that sends the whole file in one PATCH
    /// works; memory does not grow with it (bodies stream).
    pub upload_max_patch_bytes: u64,
    /// Seconds an upload body may stall before the PATCH ends; the bytes
    /// received so far are kept (without a checksum), so a slow link is
    /// never cut off while it moves and a dead one never holds a worker.
    /// Default 60.
    pub upload_idle_timeout_secs: u64,
    /// Uploads one user may have in progress at once. Default 20.
    pub upload_max_open_per_user: u32,
    /// Hours an upload may sit idle before it expires (410) and its
    /// stored pieces are deleted. Default 24.
    pub upload_expiry_hours: u32,
    /// Keep each photo's original (with its metadata and location) under
    /// the restricted `originals/` prefix, readable by administrators only.
    /// Default false: only the served copy, without metadata, is kept.
    pub upload_keep_originals: bool,
    /// Widest or tallest picture accepted, in pixels. Default 12000.
    pub media_max_dimension: u32,
    /// Most pixels a picture may have (a decompression bomb is a small
    /// file with a huge pixel count). Default 50,000,000.
    pub media_max_pixels: u64,
    /// Ed25519 private key (its 32-byte seed, hex or base64) that signs the
    /// custody log's checkpoints. Keep it outside the database (a secret
    /// store, a file only the service reads). Default none: no checkpoints
    /// are signed and custody chains cannot be proven until one is set.
    pub custody_signing_key: Option<Secret>,
    /// Public keys (hex or base64) of earlier signing keys whose checkpoints
    /// stay trusted after a key rotation. Default none.
    pub custody_public_keys: Vec<String>,
    /// Minutes between signed checkpoints of the custody log. Default 15.
    pub custody_checkpoint_minutes: u32,
    /// Days after "shipped" by which a relay station must have scanned a
    /// parcel before it is reported as never arrived. Default 14.
    pub parcel_arrival_days: u32,
    /// WebAuthn relying party id: the domain passkeys are bound to. Default:
    /// the host of `public_origin` (`localhost` in the embedded mode).
    pub webauthn_rp_id: Option<String>,
    /// The name authenticators show. Default `Mystery Buyer`.
    pub webauthn_rp_name: String,
    /// Origins allowed in ceremonies besides `public_origin`, e.g. a native
    /// app's `android:apk-key-hash:...`. Default none.
    pub webauthn_extra_origins: Vec<String>,
    /// Minutes a passkey ceremony may take between start and finish. Default 5.
    pub ceremony_minutes: u64,
    /// Seconds an app's access token lives. Default 600.
    pub access_token_secs: u64,
    /// Days an app's device session (its refresh token family) lives at
    /// most, refreshed or not: long enough for weeks offline. Default 30.
    pub refresh_lifetime_days: u64,
    /// Seconds during which a refresh token already used may be presented
    /// again and get the same successor (a response lost on the way). Default 60.
    pub refresh_grace_secs: u64,
    /// Hours a browser session lives. Default 12.
    pub browser_session_hours: u64,
    /// Hours an invitation link stays valid. Default 168 (a week).
    pub invitation_hours: u64,
    /// Minutes a recovery link stays valid. Default 15.
    pub recovery_minutes: u64,
    /// Attempts per minute on sign-in, recovery, invitation and token
    /// endpoints from one client address. Default 60.
    pub rate_limit_ip_per_minute: u32,
    /// Attempts per minute on those endpoints for one account or address.
    /// Default 10.
    pub rate_limit_account_per_minute: u32,
    /// Proxies whose `X-Forwarded-For` is believed (exact addresses).
    /// Default none: the peer address is the client.
    pub trusted_proxies: Vec<std::net::IpAddr>,

    /// `json` (default) or `pretty`.
    pub log_format: LogFormat,
    /// `tracing` filter, e.g. `info` or `mystery_buyer_server=debug`. Default `info`.
    pub log_level: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            database_url: None,
            database_pool_size: 8,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_origin: "http://localhost:8080".into(),
            http_workers: 0,
            blob_store: BlobStoreKind::Filesystem,
            blob_dir: None,
            s3_endpoint: None,
            s3_region: "us-east-1".into(),
            s3_bucket: None,
            s3_access_key_id: None,
            s3_secret_access_key: None,
            s3_path_style: true,
            s3_key_prefix: String::new(),
            s3_abort_incomplete_days: 2,
            smtp_url: None,
            smtp_ca_file: None,
            outbox_dir: None,
            mail_from: "Mystery Buyer <noreply@localhost>".into(),
            max_json_body_bytes: 256 * 1024,
            max_body_bytes: 1024 * 1024,
            max_import_bytes: 32 * 1024 * 1024,
            client_request_timeout_secs: 10,
            jobs_concurrency: 4,
            jobs_lease_secs: 60,
            jobs_max_attempts: 8,
            jobs_retry_base_ms: 5_000,
            jobs_poll_ms: 500,
            shutdown_grace_secs: 20,
            sync_max_batch: 500,
            sync_max_push_bytes: 4 * 1024 * 1024,
            sync_page_size: 500,
            sync_poll_ms: 1_000,
            sync_keepalive_secs: 15,
            sync_tombstone_days: 90,
            risk_weights: crate::campaigns::risk::RiskWeights::default(),
            upload_max_bytes: 64 * 1024 * 1024,
            upload_max_patch_bytes: 64 * 1024 * 1024,
            upload_idle_timeout_secs: 60,
            upload_max_open_per_user: 20,
            upload_expiry_hours: 24,
            upload_keep_originals: false,
            media_max_dimension: 12_000,
            media_max_pixels: 50_000_000,
            custody_signing_key: None,
            custody_public_keys: Vec::new(),
            custody_checkpoint_minutes: 15,
            parcel_arrival_days: 14,
            webauthn_rp_id: None,
            webauthn_rp_name: "Mystery Buyer".into(),
            webauthn_extra_origins: Vec::new(),
            ceremony_minutes: 5,
            access_token_secs: 600,
            refresh_lifetime_days: 30,
            refresh_grace_secs: 60,
            browser_session_hours: 12,
            invitation_hours: 168,
            recovery_minutes: 15,
            rate_limit_ip_per_minute: 60,
            rate_limit_account_per_minute: 10,
            trusted_proxies: Vec::new(),
            log_format: LogFormat::Json,
            log_level: "info".into(),
        }
    }
}

/// A configuration the server cannot start with. Displays as one line that
/// names the setting.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {setting}: {message}")]
pub struct ConfigError {
    pub setting: String,
    pub message: String,
}

impl ConfigError {
    fn new(setting: &str, message: impl Into<String>) -> Self {
        Self {
            setting: setting.into(),
            message: message.into(),
        }
    }
}

/// Where the database lives, parsed from `database_url`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatabaseTarget {
    /// Path of the SQLite file.
    Sqlite(PathBuf),
    /// A libpq connection URL.
    Postgres(Secret),
}

impl Config {
    /// Reads the TOML file (if given) and the `MB_*` environment, then checks
    /// the result.
    pub fn load(file: Option<&std::path::Path>) -> Result<Self, ConfigError> {
        Self::from_figment(Self::figment(file, Env::prefixed("MB_")))
    }

    /// As [`Config::load`], with the environment given as pairs (for tests
    /// and tools). Values are parsed exactly as real variables are.
    pub fn load_from(
        file: Option<&std::path::Path>,
        env: &[(&str, &str)],
    ) -> Result<Self, ConfigError> {
        let mut dict = figment::value::Dict::new();
        for (key, value) in env {
            let Some(name) = key.strip_prefix("MB_").map(str::to_ascii_lowercase) else {
                continue;
            };
            if Self::is_field(&name) {
                let Ok(parsed) = value.parse::<figment::value::Value>();
                dict.insert(name, parsed);
            }
        }
        Self::from_figment(Self::base(file).merge(Serialized::defaults(dict)))
    }

    fn figment(file: Option<&std::path::Path>, env: Env) -> Figment {
        // Only our own keys: the environment of a process carries unrelated
        // MB_* variables (test rigs set MB_TEST_*), which must not be errors.
        // Keys arrive as written (`LISTEN`); fields are lower case.
        Self::base(file).merge(
            env.filter(|key| Self::is_field(&key.as_str().to_ascii_lowercase()))
                .lowercase(true),
        )
    }

    fn base(file: Option<&std::path::Path>) -> Figment {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            figment = figment.merge(Toml::file_exact(path));
        }
        figment
    }

    fn is_field(name: &str) -> bool {
        FIELDS.contains(&name)
    }

    fn from_figment(figment: Figment) -> Result<Self, ConfigError> {
        let config: Config = figment.extract().map_err(|error| {
            let setting = error
                .path
                .first()
                .cloned()
                .unwrap_or_else(|| "config".into());
            ConfigError::new(&setting, error.kind.to_string())
        })?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.database_target()?;
        for (name, value) in [
            ("ceremony_minutes", self.ceremony_minutes),
            ("access_token_secs", self.access_token_secs),
            ("refresh_lifetime_days", self.refresh_lifetime_days),
            ("browser_session_hours", self.browser_session_hours),
            ("invitation_hours", self.invitation_hours),
            ("recovery_minutes", self.recovery_minutes),
            (
                "custody_checkpoint_minutes",
                u64::from(self.custody_checkpoint_minutes),
            ),
            ("parcel_arrival_days", u64::from(self.parcel_arrival_days)),
            (
                "rate_limit_ip_per_minute",
                u64::from(self.rate_limit_ip_per_minute),
            ),
            (
                "rate_limit_account_per_minute",
                u64::from(self.rate_limit_account_per_minute),
            ),
        ] {
            if value == 0 {
                return Err(ConfigError::new(name, "must be at least 1"));
            }
        }
        if let Some(key) = &self.custody_signing_key {
            custody_log::CheckpointSigner::from_config(key.expose())
                .map_err(|e| ConfigError::new("custody_signing_key", e.to_string()))?;
        }
        for key in &self.custody_public_keys {
            custody_log::PublicKey::parse(key)
                .map_err(|e| ConfigError::new("custody_public_keys", e.to_string()))?;
        }
        if self.database_pool_size == 0 || self.database_pool_size > 1000 {
            return Err(ConfigError::new(
                "database_pool_size",
                "must be between 1 and 1000",
            ));
        }
        let origin = url_origin(&self.public_origin).ok_or_else(|| {
            ConfigError::new(
                "public_origin",
                "must be an http(s) origin such as https://buyer.example.org",
            )
        })?;
        if origin != self.public_origin.trim_end_matches('/') {
            return Err(ConfigError::new(
                "public_origin",
                format!("must be an origin without a path, e.g. {origin}"),
            ));
        }
        if self.blob_store == BlobStoreKind::S3 {
            let endpoint = self.s3_endpoint.as_deref().unwrap_or_default();
            if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
                return Err(ConfigError::new(
                    "s3_endpoint",
                    "is required with blob_store = \"s3\" and must start with http:// or https://",
                ));
            }
            for (name, value) in [
                ("s3_bucket", self.s3_bucket.as_deref()),
                ("s3_access_key_id", self.s3_access_key_id.as_deref()),
                (
                    "s3_secret_access_key",
                    self.s3_secret_access_key.as_ref().map(Secret::expose),
                ),
            ] {
                if value.is_none_or(str::is_empty) {
                    return Err(ConfigError::new(
                        name,
                        "is required with blob_store = \"s3\"",
                    ));
                }
            }
            if self.s3_region.is_empty() {
                return Err(ConfigError::new("s3_region", "must not be empty"));
            }
        }
        self.risk_weights
            .check()
            .map_err(|message| ConfigError::new("risk_weights", message))?;
        crate::auth::passkeys::relying_party(self)
            .map_err(|(setting, message)| ConfigError::new(setting, message))?;
        if let Some(url) = &self.smtp_url {
            let url = url.expose();
            if !(url.starts_with("smtp://") || url.starts_with("smtps://")) {
                return Err(ConfigError::new(
                    "smtp_url",
                    "must start with smtp:// or smtps://",
                ));
            }
            crate::mail::smtp_transport(url, self.smtp_ca_file.as_deref())
                .map_err(|(setting, message)| ConfigError::new(setting, message))?;
        } else if self.smtp_ca_file.is_some() {
            return Err(ConfigError::new(
                "smtp_ca_file",
                "is only used with smtp_url",
            ));
        }
        self.mail_from
            .parse::<lettre::message::Mailbox>()
            .map_err(|e| ConfigError::new("mail_from", format!("not a mail address: {e}")))?;
        for (name, value, min) in [
            ("max_json_body_bytes", self.max_json_body_bytes, 1024),
            ("max_body_bytes", self.max_body_bytes, 1024),
            ("max_import_bytes", self.max_import_bytes, 1024),
        ] {
            if value < min {
                return Err(ConfigError::new(name, format!("must be at least {min}")));
            }
        }
        for (name, value, min) in [
            ("upload_max_bytes", self.upload_max_bytes, 1),
            ("upload_max_patch_bytes", self.upload_max_patch_bytes, 1024),
            ("upload_idle_timeout_secs", self.upload_idle_timeout_secs, 1),
            (
                "upload_max_open_per_user",
                u64::from(self.upload_max_open_per_user),
                1,
            ),
            (
                "upload_expiry_hours",
                u64::from(self.upload_expiry_hours),
                1,
            ),
        ] {
            if value < min {
                return Err(ConfigError::new(name, format!("must be at least {min}")));
            }
        }
        if self.jobs_lease_secs == 0 {
            return Err(ConfigError::new("jobs_lease_secs", "must be at least 1"));
        }
        if self.jobs_max_attempts == 0 {
            return Err(ConfigError::new("jobs_max_attempts", "must be at least 1"));
        }
        if self.jobs_poll_ms == 0 {
            return Err(ConfigError::new("jobs_poll_ms", "must be at least 1"));
        }
        for (name, value) in [
            ("sync_max_batch", self.sync_max_batch as u64),
            ("sync_max_push_bytes", self.sync_max_push_bytes as u64),
            ("sync_page_size", self.sync_page_size as u64),
            ("sync_poll_ms", self.sync_poll_ms),
            ("sync_keepalive_secs", self.sync_keepalive_secs),
            ("sync_tombstone_days", u64::from(self.sync_tombstone_days)),
        ] {
            if value == 0 {
                return Err(ConfigError::new(name, "must be at least 1"));
            }
        }
        tracing_subscriber::EnvFilter::try_new(&self.log_level)
            .map_err(|e| ConfigError::new("log_level", e.to_string()))?;
        Ok(())
    }

    /// The database named by `database_url`, or the default SQLite file.
    pub fn database_target(&self) -> Result<DatabaseTarget, ConfigError> {
        let Some(url) = &self.database_url else {
            return Ok(DatabaseTarget::Sqlite(
                self.data_dir.join("mystery-buyer.sqlite3"),
            ));
        };
        let url = url.expose();
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            if path.is_empty() {
                return Err(ConfigError::new(
                    "database_url",
                    "sqlite URL needs a file path",
                ));
            }
            return Ok(DatabaseTarget::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DatabaseTarget::Postgres(Secret::new(url)));
        }
        Err(ConfigError::new(
            "database_url",
            "must start with sqlite:// or postgres://",
        ))
    }

    pub fn blob_dir(&self) -> PathBuf {
        self.blob_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("blobs"))
    }

    /// The WebAuthn relying party id: set, or the host of `public_origin`.
    pub fn rp_id(&self) -> String {
        self.webauthn_rp_id.clone().unwrap_or_else(|| {
            url::Url::parse(&self.public_origin)
                .ok()
                .and_then(|u| u.host_str().map(str::to_string))
                .unwrap_or_else(|| "localhost".into())
        })
    }

    /// Whether cookies must be `Secure` (everywhere but plain-HTTP localhost).
    pub fn secure_cookies(&self) -> bool {
        self.public_origin.starts_with("https://")
    }

    pub fn outbox_dir(&self) -> PathBuf {
        self.outbox_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("outbox"))
    }

    /// One line per subsystem saying where it is, with no secret in it.
    pub fn summary(&self) -> Vec<(&'static str, String)> {
        let database = match self.database_target() {
            Ok(DatabaseTarget::Sqlite(path)) => format!("sqlite {}", path.display()),
            Ok(DatabaseTarget::Postgres(url)) => format!("postgres {}", redact_url(url.expose())),
            Err(_) => "invalid".into(),
        };
        let blobs = match self.blob_store {
            BlobStoreKind::Filesystem => format!("filesystem {}", self.blob_dir().display()),
            BlobStoreKind::S3 => format!(
                "s3 {} bucket {} prefix {:?}",
                self.s3_endpoint.as_deref().unwrap_or_default(),
                self.s3_bucket.as_deref().unwrap_or_default(),
                self.s3_key_prefix
            ),
        };
        let mail = match &self.smtp_url {
            Some(url) => format!("smtp {}", redact_url(url.expose())),
            None => format!("outbox folder {}", self.outbox_dir().display()),
        };
        vec![
            ("listen", self.listen.to_string()),
            ("public_origin", self.public_origin.clone()),
            ("database", database),
            ("blob_store", blobs),
            ("mail", mail),
            (
                "custody_checkpoints",
                match &self.custody_signing_key {
                    Some(key) => custody_log::CheckpointSigner::from_config(key.expose())
                        .map(|s| format!("signed with key {}", s.key_id().0))
                        .unwrap_or_else(|_| "invalid key".into()),
                    None => "not signed (no custody_signing_key)".into(),
                },
            ),
        ]
    }
}

/// The configuration keys, as TOML names (checked against the struct by a test).
const FIELDS: &[&str] = &[
    "data_dir",
    "database_url",
    "database_pool_size",
    "listen",
    "public_origin",
    "http_workers",
    "blob_store",
    "blob_dir",
    "s3_endpoint",
    "s3_region",
    "s3_bucket",
    "s3_access_key_id",
    "s3_secret_access_key",
    "s3_path_style",
    "s3_key_prefix",
    "s3_abort_incomplete_days",
    "smtp_url",
    "smtp_ca_file",
    "outbox_dir",
    "mail_from",
    "max_json_body_bytes",
    "max_body_bytes",
    "max_import_bytes",
    "client_request_timeout_secs",
    "jobs_concurrency",
    "jobs_lease_secs",
    "jobs_max_attempts",
    "jobs_retry_base_ms",
    "jobs_poll_ms",
    "shutdown_grace_secs",
    "sync_max_batch",
    "sync_max_push_bytes",
    "sync_page_size",
    "sync_poll_ms",
    "sync_keepalive_secs",
    "sync_tombstone_days",
    "risk_weights",
    "upload_max_bytes",
    "upload_max_patch_bytes",
    "upload_idle_timeout_secs",
    "upload_max_open_per_user",
    "upload_expiry_hours",
    "upload_keep_originals",
    "media_max_dimension",
    "media_max_pixels",
    "custody_signing_key",
    "custody_public_keys",
    "custody_checkpoint_minutes",
    "parcel_arrival_days",
    "webauthn_rp_id",
    "webauthn_rp_name",
    "webauthn_extra_origins",
    "ceremony_minutes",
    "access_token_secs",
    "refresh_lifetime_days",
    "refresh_grace_secs",
    "browser_session_hours",
    "invitation_hours",
    "recovery_minutes",
    "rate_limit_ip_per_minute",
    "rate_limit_account_per_minute",
    "trusted_proxies",
    "log_format",
    "log_level",
];

/// `scheme://host[:port]` of an http(s) URL, or `None`.
fn url_origin(value: &str) -> Option<String> {
    let value = value.trim_end_matches('/');
    let (scheme, rest) = value.split_once("://")?;
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    Some(format!("{scheme}://{authority}"))
}

/// The URL with any password replaced, for logs.
fn redact_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((userinfo, host)) => {
                let user = userinfo.split(':').next().unwrap_or_default();
                format!("{scheme}://{user}:***@{host}")
            }
            None => url.to_string(),
        },
        None => "***".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_list_names_every_field() {
        let value = serde_json::to_value(Config::default()).expect("serialise");
        let mut keys: Vec<_> = value.as_object().expect("object").keys().cloned().collect();
        keys.sort();
        let mut fields: Vec<_> = FIELDS.iter().map(|s| s.to_string()).collect();
        fields.sort();
        assert_eq!(keys, fields);
    }

    #[test]
    fn risk_weights_come_from_a_table_or_the_environment_and_are_checked() {
        let config = Config::load_from(
            None,
            &[("MB_RISK_WEIGHTS", "{complaints=30, complaints_full=5}")],
        )
        .expect("valid weights");
        assert!((config.risk_weights.complaints - 30.0).abs() < f64::EPSILON);
        assert_eq!(config.risk_weights.complaints_full, 5);
        assert!(
            (config.risk_weights.bad_ratings - 15.0).abs() < f64::EPSILON,
            "others keep their defaults"
        );
        let error = Config::load_from(None, &[("MB_RISK_WEIGHTS", "{complaints=-3}")])
            .expect_err("negative");
        assert_eq!(error.setting, "risk_weights");
        let error =
            Config::load_from(None, &[("MB_RISK_WEIGHTS", "{colour=3}")]).expect_err("unknown");
        assert_eq!(error.setting, "risk_weights");
    }

    #[test]
    fn defaults_are_the_embedded_mode() {
        let config = Config::load_from(None, &[]).expect("defaults are valid");
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(
            config.database_target().expect("db"),
            DatabaseTarget::Sqlite(PathBuf::from("./data/mystery-buyer.sqlite3"))
        );
        assert_eq!(config.blob_store, BlobStoreKind::Filesystem);
        assert_eq!(config.outbox_dir(), PathBuf::from("./data/outbox"));
    }

    #[test]
    fn environment_overrides_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("mb.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\nlog_level = \"debug\"\n",
        )
        .expect("write");
        let config =
            Config::load_from(Some(&file), &[("MB_LISTEN", "127.0.0.1:9001")]).expect("valid");
        assert_eq!(config.listen.to_string(), "127.0.0.1:9001");
        assert_eq!(config.log_level, "debug");
    }

    #[test]
    fn a_bad_value_names_its_setting() {
        let error =
            Config::load_from(None, &[("MB_LISTEN", "not an address")]).expect_err("invalid");
        assert_eq!(error.setting, "listen");
        let line = error.to_string();
        assert!(line.starts_with("invalid configuration: listen:"), "{line}");
        assert!(!line.contains('\n'), "{line}");
    }

    #[test]
    fn s3_without_a_bucket_is_refused() {
        let error = Config::load_from(
            None,
            &[
                ("MB_BLOB_STORE", "s3"),
                ("MB_S3_ENDPOINT", "http://127.0.0.1:3900"),
            ],
        )
        .expect_err("invalid");
        assert_eq!(error.setting, "s3_bucket");
    }

    #[test]
    fn unknown_keys_in_the_file_are_refused_but_foreign_env_vars_are_ignored() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("mb.toml");
        std::fs::write(&file, "lisen = \"127.0.0.1:9000\"\n").expect("write");
        let error = Config::load_from(Some(&file), &[]).expect_err("typo");
        assert!(error.to_string().contains("lisen"), "{error}");
        Config::load_from(None, &[("MB_TEST_PG_URL", "x")]).expect("ignored");
    }

    #[test]
    fn other_invalid_values_are_named() {
        for (key, value, setting) in [
            ("MB_DATABASE_URL", "mysql://x", "database_url"),
            ("MB_PUBLIC_ORIGIN", "ftp://x", "public_origin"),
            ("MB_PUBLIC_ORIGIN", "https://x.org/app", "public_origin"),
            ("MB_SMTP_URL", "http://mail", "smtp_url"),
            ("MB_MAIL_FROM", "nobody", "mail_from"),
            ("MB_BLOB_STORE", "ftp", "blob_store"),
            ("MB_JOBS_LEASE_SECS", "0", "jobs_lease_secs"),
            ("MB_LOG_LEVEL", "[[[", "log_level"),
        ] {
            let error = Config::load_from(None, &[(key, value)]).expect_err(key);
            assert_eq!(error.setting, setting, "{key}={value}: {error}");
        }
    }

    #[test]
    fn the_smtp_ca_file_must_be_a_readable_certificate_for_a_tls_url() {
        let dir = tempfile::tempdir().expect("tempdir");
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate").expect("write");
        let junk = junk.to_str().expect("utf8");
        for pairs in [
            vec![("MB_SMTP_CA_FILE", junk)],
            vec![
                ("MB_SMTP_URL", "smtps://mail"),
                ("MB_SMTP_CA_FILE", "/no/such.pem"),
            ],
            vec![("MB_SMTP_URL", "smtps://mail"), ("MB_SMTP_CA_FILE", junk)],
        ] {
            let error = Config::load_from(None, &pairs).expect_err("refused");
            assert_eq!(error.setting, "smtp_ca_file", "{pairs:?}: {error}");
        }
    }

    #[test]
    fn secrets_do_not_print() {
        let config = Config::load_from(None, &[("MB_DATABASE_URL", "postgres://mb:hunter2@db/mb")])
            .expect("valid");
        assert!(!format!("{config:?}").contains("hunter2"));
        let summary = format!("{:?}", config.summary());
        assert!(!summary.contains("hunter2"), "{summary}");
        assert!(summary.contains("postgres://mb:***@db/mb"), "{summary}");
    }
}
