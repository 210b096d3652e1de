//! Resumable evidence uploads over tus 1.0. An upload belongs to the user
//! who created it and names the evidence record it fills; the record may
//! arrive by sync before or after the file. The upload's progress (offset,
//! running SHA-256, S3 parts, the pieces not yet a part) and its lock live in
//! the database, so each PATCH may land on any instance. Bytes stream: a
//! PATCH holds at most a small write buffer in memory, never a file.
//!
//! Must never: trust a client's name or type for a path, let two writers
//! interleave on one upload, or leave stored bytes the database forgot.

use std::{sync::Arc, time::Duration};

use actix_web::http::StatusCode;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use crate::{
    clock::SharedClock,
    config::Config,
    db::{
        self, Database, DbError,
        time::{Micros, to_micros},
        uploads::{self as rows, UploadRow},
    },
    error::ApiError,
    storage::{BlobStore, StorageError},
    sync::Touched,
};

pub mod finish;
pub mod hash;
pub mod media;
mod receive;
pub mod sweep;
pub mod tus;

use hash::RunningHash;
use tus::{Checksum, ChecksumHasher, HeaderError};

/// The key of the object (or file) an upload's bytes gather in.
pub fn data_key(id: &str) -> String {
    format!("uploads/{id}/data")
}

/// The folder of everything an upload stores.
pub fn upload_prefix(id: &str) -> String {
    format!("uploads/{id}/")
}

/// Why an upload request was refused.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("no such upload")]
    NotFound,
    #[error("the upload expired; start a new one")]
    Expired,
    #[error("another request is writing this upload; ask HEAD for the offset and try again")]
    Busy,
    #[error("Upload-Offset is {got} but the upload is at {expected}; ask HEAD and resume there")]
    OffsetMismatch { expected: u64, got: u64 },
    #[error("{0}")]
    TooLarge(String),
    #[error(transparent)]
    Header(#[from] HeaderError),
    #[error("{detail}")]
    Invalid { code: &'static str, detail: String },
    #[error("the chunk's {0} checksum does not match its bytes; it was discarded, send it again")]
    ChecksumMismatch(&'static str),
    #[error("the request body ended early; the chunk was discarded")]
    BodyIncomplete,
    #[error("you have {0} uploads in progress; finish or delete one first")]
    TooMany(u32),
    /// The finished file was refused (wrong hash, wrong type, bad image).
    #[error("{detail}")]
    FileRefused {
        code: &'static str,
        status: StatusCode,
        detail: String,
    },
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl From<diesel::result::Error> for UploadError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(e.into())
    }
}

/// tus's status for a checksum mismatch (not an IANA code).
pub fn checksum_mismatch_status() -> StatusCode {
    StatusCode::from_u16(460).unwrap_or(StatusCode::BAD_REQUEST)
}

impl From<UploadError> for ApiError {
    fn from(e: UploadError) -> Self {
        let detail = e.to_string();
        let refused = |code, status| ApiError::Refused {
            code,
            status,
            detail: detail.clone(),
        };
        match e {
            UploadError::NotFound => ApiError::Missing(detail),
            UploadError::Expired => refused("upload_expired", StatusCode::GONE),
            UploadError::Busy => refused("upload_busy", StatusCode::CONFLICT),
            UploadError::OffsetMismatch { .. } => refused("offset_mismatch", StatusCode::CONFLICT),
            UploadError::TooLarge(_) => ApiError::PayloadTooLarge(detail),
            UploadError::Header(HeaderError::UnknownAlgorithm(_)) => {
                refused("unsupported_checksum_algorithm", StatusCode::BAD_REQUEST)
            }
            UploadError::Header(HeaderError::Metadata(_)) => {
                refused("invalid_metadata", StatusCode::BAD_REQUEST)
            }
            UploadError::Header(_) => refused("invalid_header", StatusCode::BAD_REQUEST),
            UploadError::Invalid { code, .. } => refused(code, StatusCode::BAD_REQUEST),
            UploadError::ChecksumMismatch(_) => {
                refused("checksum_mismatch", checksum_mismatch_status())
            }
            UploadError::BodyIncomplete => refused("body_incomplete", StatusCode::BAD_REQUEST),
            UploadError::TooMany(_) => refused("too_many_uploads", StatusCode::TOO_MANY_REQUESTS),
            UploadError::FileRefused { code, status, .. } => refused(code, status),
            UploadError::Storage(e) => e.into(),
            UploadError::Db(e) => e.into(),
            UploadError::Api(e) => e,
        }
    }
}

/// The upload limits, from configuration.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_size: u64,
    pub max_patch: u64,
    pub idle_timeout: Duration,
    pub max_open_per_user: u32,
    pub expiry: chrono::Duration,
}

impl Limits {
    pub fn from_config(config: &Config) -> Self {
        Self {
            max_size: config.upload_max_bytes,
            max_patch: config.upload_max_patch_bytes,
            idle_timeout: Duration::from_secs(config.upload_idle_timeout_secs),
            max_open_per_user: config.upload_max_open_per_user,
            expiry: chrono::Duration::hours(i64::from(config.upload_expiry_hours)),
        }
    }

    /// How long a PATCH's lease lasts between renewals: a stalled body
    /// ends after `idle_timeout`, a part upload is retried a few times.
    fn lease(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.idle_timeout).unwrap_or(chrono::Duration::seconds(60))
            + chrono::Duration::seconds(120)
    }
}

/// Everything the upload functions need.
#[derive(Clone)]
pub struct Uploads {
    pub db: Database,
    pub store: Arc<dyn BlobStore>,
    pub clock: SharedClock,
    pub limits: Limits,
    /// Where S3 parts are spooled on local disk while they gather.
    pub spool_dir: std::path::PathBuf,
    pub media: finish::MediaSettings,
    /// Where a part streamed during a PATCH is sent from: the runtime that
    /// made these `Uploads` (the server's multi-threaded one), so the part
    /// goes out on another core while the HTTP worker takes in the body.
    pub runtime: Option<tokio::runtime::Handle>,
    /// Bytes of streamed parts held in memory, in case their request fails
    /// (see [`receive::RETRY_MEMORY`]); shared by every PATCH of this server.
    pub retry_memory: Arc<tokio::sync::Semaphore>,
}

impl Uploads {
    pub fn new(
        config: &Config,
        db: Database,
        store: Arc<dyn BlobStore>,
        clock: SharedClock,
    ) -> Self {
        Self {
            db,
            store,
            clock,
            limits: Limits::from_config(config),
            spool_dir: config.data_dir.join("spool"),
            media: finish::MediaSettings::from_config(config),
            runtime: tokio::runtime::Handle::try_current().ok(),
            retry_memory: Arc::new(tokio::sync::Semaphore::new(receive::RETRY_MEMORY)),
        }
    }

    fn now(&self) -> Micros {
        to_micros(self.clock.now())
    }
}

/// What HEAD and every successful write report.
#[derive(Debug, Clone)]
pub struct UploadStatus {
    pub id: String,
    pub offset: u64,
    pub length: Option<u64>,
    pub metadata: String,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl UploadStatus {
    fn of(row: &UploadRow) -> Self {
        Self {
            id: row.id.clone(),
            offset: row.upload_offset as u64,
            length: row.upload_length.map(|l| l as u64),
            metadata: row.metadata.clone(),
            // Only an upload still receiving can expire.
            expires_at: (row.state == rows::RECEIVING)
                .then(|| db::time::from_micros(row.expires_at)),
        }
    }
}

/// A creation request (POST).
#[derive(Debug, Clone)]
pub struct Creation {
    /// `None` when the client defers the length.
    pub length: Option<u64>,
    /// The raw Upload-Metadata header.
    pub metadata: String,
    /// The uploader's role: only relay operators upload station photos.
    pub role: crate::auth::Role,
}

/// The row of `id` if `owner` may use it; another user's upload does not
/// exist for them.
async fn owned(u: &Uploads, owner: &str, id: &str) -> Result<UploadRow, UploadError> {
    if !plausible_id(id) {
        return Err(UploadError::NotFound);
    }
    let (id, owner, now) = (id.to_string(), owner.to_string(), u.now());
    u.db.read(move |conn| usable(rows::find(conn, &id)?, &owner, now))
        .await
}

fn plausible_id(id: &str) -> bool {
    id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// `row` if it exists for `owner` and has not expired.
fn usable(row: Option<UploadRow>, owner: &str, now: i64) -> Result<UploadRow, UploadError> {
    let row = row
        .filter(|row| row.owner_id == owner)
        .ok_or(UploadError::NotFound)?;
    match row.state.as_str() {
        rows::TERMINATED => Err(UploadError::NotFound),
        rows::EXPIRED => Err(UploadError::Expired),
        rows::RECEIVING if row.expires_at < now => Err(UploadError::Expired),
        _ => Ok(row),
    }
}

/// Checks the metadata and the length, and records a new upload.
pub async fn create(
    u: &Uploads,
    owner: &str,
    creation: Creation,
) -> Result<UploadStatus, UploadError> {
    let pairs = tus::parse_metadata(&creation.metadata)?;
    let value = |key: &str| {
        pairs
            .iter()
            .find(|p| p.key == key)
            .and_then(|p| p.value.clone())
    };
    let named = |key: &str| {
        value(key).map(|v| {
            String::from_utf8(v).ok().filter(|v| {
                !v.is_empty()
                    && v.len() <= 64
                    && v.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
            })
        })
    };
    let unnamed = || UploadError::Invalid {
        code: "invalid_metadata",
        detail: "Upload-Metadata must name the evidence record: `evidence_id <base64 id>` \
                 (letters, digits, - and _, up to 64), or from a relay station the photo: \
                 `photo_id <base64 UUID>`"
            .into(),
    };
    // What the file is for: a volunteer's evidence record, or a photo a
    // relay station names in its scan. The id is kept in `evidence_id`.
    let (purpose, evidence_id) = match (named("evidence_id"), named("photo_id")) {
        (Some(id), None) => (rows::FOR_EVIDENCE, id.ok_or_else(unnamed)?),
        (None, Some(id)) if creation.role == crate::auth::Role::RelayOperator => {
            let id = id
                .filter(|id| uuid::Uuid::parse_str(id).is_ok_and(|u| !u.is_nil()))
                .ok_or_else(unnamed)?;
            (rows::FOR_STATION_PHOTO, id.to_ascii_lowercase())
        }
        (None, Some(_)) => {
            return Err(UploadError::Invalid {
                code: "invalid_metadata",
                detail: "only relay stations upload station photos (`photo_id`)".into(),
            });
        }
        _ => return Err(unnamed()),
    };
    if let Some(name) = value("filename") {
        tus::check_filename(&name).map_err(|detail| UploadError::Invalid {
            code: "invalid_filename",
            detail,
        })?;
    }
    if let Some(length) = creation.length {
        if length > u.limits.max_size {
            return Err(UploadError::TooLarge(format!(
                "the upload is {length} bytes; the most is {} (Tus-Max-Size)",
                u.limits.max_size
            )));
        }
        if length == 0 {
            return Err(UploadError::Invalid {
                code: "empty_upload",
                detail: "an evidence file cannot be empty".into(),
            });
        }
    }
    let now = u.now();
    let row = UploadRow {
        id: new_id(),
        owner_id: owner.to_string(),
        evidence_id: evidence_id.clone(),
        metadata: creation.metadata,
        upload_length: creation.length.map(|l| l as i64),
        upload_offset: 0,
        state: rows::RECEIVING.into(),
        multipart_id: None,
        hash_state: RunningHash::default().save(),
        sha256: None,
        lock_token: None,
        lock_until: None,
        expires_at: now + u.limits.expiry.num_microseconds().unwrap_or(i64::MAX / 4),
        refusal: None,
        created_at: now,
        updated_at: now,
        purpose: purpose.to_string(),
    };
    let (owner, max_open) = (owner.to_string(), u.limits.max_open_per_user);
    let inserted = row.clone();
    u.db.write(move |conn| {
        if purpose == rows::FOR_STATION_PHOTO {
            finish::check_photo_for_upload(conn, &evidence_id)?;
        } else {
            finish::check_evidence_for_upload(conn, &owner, &evidence_id, inserted.upload_length)?;
        }
        if rows::count_receiving(conn, &owner)? >= i64::from(max_open) {
            return Err(UploadError::TooMany(max_open));
        }
        rows::insert(conn, &inserted)?;
        Ok(())
    })
    .await?;
    Ok(UploadStatus::of(&row))
}

/// 32 hex characters of randomness: unguessable, and safe in keys and paths.
fn new_id() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// HEAD: where the upload stands.
pub async fn status(u: &Uploads, owner: &str, id: &str) -> Result<UploadStatus, UploadError> {
    Ok(UploadStatus::of(&owned(u, owner, id).await?))
}

/// A PATCH request's headers.
#[derive(Debug, Clone)]
pub struct Chunk {
    pub offset: u64,
    /// Upload-Length sent with a PATCH to fix a deferred length.
    pub length: Option<u64>,
    pub checksum: Option<Checksum>,
    /// Content-Length, when the client sent one.
    pub content_length: Option<u64>,
}

/// What a PATCH achieved.
#[derive(Debug)]
pub struct Patched {
    pub status: UploadStatus,
    /// Sync scopes a finished file changed (to poke listeners).
    pub touched: Touched,
}

/// PATCH: appends a chunk at `chunk.offset`. The chunk is stored whole or
/// not at all when it carries a checksum; without one, the bytes received
/// before a connection broke are kept (the client asks HEAD and resumes).
/// The last chunk completes the upload and finishes the file at once when
/// its evidence record is known; a refused file is a 4xx here.
pub async fn patch<S>(
    u: &Uploads,
    owner: &str,
    id: &str,
    chunk: Chunk,
    body: S,
) -> Result<Patched, UploadError>
where
    S: Stream<Item = Result<Bytes, actix_web::error::PayloadError>> + Unpin,
{
    if !plausible_id(id) {
        return Err(UploadError::NotFound);
    }
    let token = uuid::Uuid::new_v4().to_string();
    let remote = u.store.local_path(&data_key(id)).is_none();
    let (mut lock, plan) = match Lock::for_patch(u, owner, id, &token, remote, &chunk).await? {
        Taken::Locked(lock, plan) => (*lock, plan),
        Taken::Answered(status) => {
            return Ok(Patched {
                status,
                touched: Touched::default(),
            });
        }
    };
    let Plan {
        length,
        allowed,
        room,
    } = plan;
    let outcome = receive::receive(u, &mut lock, length, allowed, room, &chunk, body).await;
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            lock.release().await;
            return Err(e);
        }
    };
    let completed = outcome.status.length == Some(outcome.status.offset)
        && outcome.status.offset > 0
        && outcome.completed;
    let mut touched = Touched::default();
    if completed {
        touched = finish::finish_now(u, id).await?;
    }
    Ok(Patched {
        status: outcome.status,
        touched,
    })
}

/// What taking an upload for a PATCH came to.
enum Taken {
    /// The lease is held; the body may be received as planned.
    Locked(Box<Lock>, Plan),
    /// Every byte was already in and this PATCH only re-sent the end: its
    /// answer, as the first time.
    Answered(UploadStatus),
}

/// Where a PATCH's body may go.
struct Plan {
    /// The upload's length, if known (this PATCH may have set it).
    length: Option<u64>,
    /// The most this PATCH may bring.
    allowed: u64,
    /// What is left of the upload's length (or of the largest upload).
    room: u64,
}

/// Why taking an upload rolled back: a refusal, or an answer that needed
/// no lease.
enum Refusal {
    Error(UploadError),
    Answer(UploadStatus),
}

impl From<UploadError> for Refusal {
    fn from(e: UploadError) -> Self {
        Refusal::Error(e)
    }
}

impl From<DbError> for Refusal {
    fn from(e: DbError) -> Self {
        Refusal::Error(e.into())
    }
}

impl From<diesel::result::Error> for Refusal {
    fn from(e: diesel::result::Error) -> Self {
        Refusal::Error(DbError::from(e).into())
    }
}

/// A PATCH on an upload that has every byte: a re-sent last chunk (its
/// answer was lost) is answered like the first time; anything else is past
/// the end.
fn answer_when_complete(
    row: &UploadRow,
    offset: u64,
    content_length: Option<u64>,
) -> Result<UploadStatus, UploadError> {
    let length = row.upload_length.unwrap_or(row.upload_offset) as u64;
    if offset == length && content_length.unwrap_or(0) == 0 {
        if let Some(refused) = finish::stored_refusal(row) {
            return Err(refused);
        }
        return Ok(UploadStatus::of(row));
    }
    Err(UploadError::OffsetMismatch {
        expected: length,
        got: offset,
    })
}

/// Checks a PATCH's offset and lengths against the upload it continues.
fn plan(
    row: &UploadRow,
    limits: &Limits,
    offset: u64,
    sent_length: Option<u64>,
    content_length: Option<u64>,
) -> Result<Plan, UploadError> {
    let length = match (row.upload_length, sent_length) {
        (Some(known), Some(sent)) if known as u64 != sent => {
            return Err(UploadError::Invalid {
                code: "length_already_set",
                detail: format!("the upload's length is already {known}"),
            });
        }
        (Some(known), _) => Some(known as u64),
        (None, Some(sent)) => {
            if sent > limits.max_size {
                return Err(UploadError::TooLarge(format!(
                    "the upload is {sent} bytes; the most is {}",
                    limits.max_size
                )));
            }
            if sent < row.upload_offset as u64 || sent == 0 {
                return Err(UploadError::Invalid {
                    code: "invalid_length",
                    detail: format!(
                        "Upload-Length {sent} is below the {} bytes already received",
                        row.upload_offset
                    ),
                });
            }
            Some(sent)
        }
        (None, None) => None,
    };
    if offset != row.upload_offset as u64 {
        return Err(UploadError::OffsetMismatch {
            expected: row.upload_offset as u64,
            got: offset,
        });
    }
    let room = length.unwrap_or(limits.max_size) - offset;
    let allowed = room.min(limits.max_patch);
    if let Some(sent) = content_length
        && sent > allowed
    {
        return Err(UploadError::TooLarge(if sent > room {
            format!(
                "the chunk is {sent} bytes but only {room} remain of the upload's length; nothing was stored"
            )
        } else {
            format!("a chunk may be at most {} bytes", limits.max_patch)
        }));
    }
    Ok(Plan {
        length,
        allowed,
        room,
    })
}

/// A PATCH's hold on an upload: a lease in the database, renewed while
/// the PATCH runs; every commit checks it, so a writer that lost its lease
/// changes nothing.
pub(crate) struct Lock {
    pub u: Uploads,
    pub id: String,
    pub token: String,
    /// The row as it was when the lock was taken.
    pub row: UploadRow,
    /// The parts and pieces recorded when the lock was taken, if asked for
    /// (read in the same transaction, to save a round trip per PATCH).
    pub recorded: Option<(Vec<rows::PartRow>, Vec<rows::PieceRow>)>,
    renewed_at: std::time::Instant,
}

impl Lock {
    /// Checks the PATCH against the upload and takes the lease, in one
    /// transaction (a PATCH is a few of them; each costs a round trip to
    /// the database on a machine busy moving the bytes). The lease comes
    /// first and the row is read under it, so no other PATCH can commit
    /// between the read and the checks; a check that fails rolls the lease
    /// back with it.
    async fn for_patch(
        u: &Uploads,
        owner: &str,
        id: &str,
        token: &str,
        with_parts: bool,
        chunk: &Chunk,
    ) -> Result<Taken, UploadError> {
        let now = u.now();
        let until = now + u.limits.lease().num_microseconds().unwrap_or(i64::MAX / 4);
        let (i, o, t) = (id.to_string(), owner.to_string(), token.to_string());
        let (offset, sent_length, content_length) =
            (chunk.offset, chunk.length, chunk.content_length);
        let limits = u.limits.clone();
        let taken =
            u.db.write(move |conn| {
                let locked = rows::try_lock(conn, &i, &t, now, until)?;
                let row = usable(rows::find(conn, &i)?, &o, now)?;
                if row.state != rows::RECEIVING {
                    // Every byte is in (nobody holds a lease on it then):
                    // answered without one.
                    return Err(Refusal::Answer(answer_when_complete(
                        &row,
                        offset,
                        content_length,
                    )?));
                }
                // A PATCH that does not fit is told so even while another
                // holds the lease, as it was before there was a lease.
                let plan = plan(&row, &limits, offset, sent_length, content_length)?;
                if !locked {
                    return Err(UploadError::Busy.into());
                }
                let recorded = if with_parts {
                    Some((rows::parts(conn, &i)?, rows::pieces(conn, &i)?))
                } else {
                    None
                };
                Ok((row, plan, recorded))
            })
            .await;
        let (row, plan, recorded) = match taken {
            Ok(taken) => taken,
            Err(Refusal::Answer(status)) => return Ok(Taken::Answered(status)),
            Err(Refusal::Error(e)) => return Err(e),
        };
        Ok(Taken::Locked(
            Box::new(Self {
                u: u.clone(),
                id: id.to_string(),
                token: token.to_string(),
                row,
                recorded,
                renewed_at: std::time::Instant::now(),
            }),
            plan,
        ))
    }

    /// Takes the lease on `id` (finishing, termination).
    async fn take(u: &Uploads, id: &str, token: &str) -> Result<Self, UploadError> {
        let now = u.now();
        let until = now + u.limits.lease().num_microseconds().unwrap_or(i64::MAX / 4);
        let (i, t) = (id.to_string(), token.to_string());
        let row =
            u.db.write(move |conn| {
                if !rows::try_lock(conn, &i, &t, now, until)? {
                    return Err(UploadError::Busy);
                }
                rows::find(conn, &i)?.ok_or(UploadError::NotFound)
            })
            .await?;
        Ok(Self {
            u: u.clone(),
            id: id.to_string(),
            token: token.to_string(),
            row,
            recorded: None,
            renewed_at: std::time::Instant::now(),
        })
    }

    /// Renews the lease when a third of it has passed; fails when another
    /// writer took it over (this one stalled past its lease).
    pub async fn keep(&mut self) -> Result<(), UploadError> {
        let lease = self.u.limits.lease();
        if self.renewed_at.elapsed() < lease.to_std().unwrap_or_default() / 3 {
            return Ok(());
        }
        let until = self.u.now() + lease.num_microseconds().unwrap_or(i64::MAX / 4);
        let (i, t) = (self.id.clone(), self.token.clone());
        let kept = self
            .u
            .db
            .write(move |conn| rows::renew_lock(conn, &i, &t, until).map_err(DbError::from))
            .await?;
        if !kept {
            return Err(UploadError::Busy);
        }
        self.renewed_at = std::time::Instant::now();
        Ok(())
    }

    /// Gives the lease back (after a failure; a commit releases it itself).
    pub async fn release(self) {
        let (i, t) = (self.id, self.token);
        if let Err(e) = self
            .u
            .db
            .write(move |conn| rows::release_lock(conn, &i, &t).map_err(DbError::from))
            .await
        {
            tracing::warn!(error = %e, "could not release an upload lock; it expires by itself");
        }
    }
}

/// DELETE: ends the upload and releases its storage. A PATCH in flight
/// keeps the lock; the client gets 409 and may try again.
pub async fn terminate(u: &Uploads, owner: &str, id: &str) -> Result<(), UploadError> {
    let row = owned(u, owner, id).await?;
    if row.state != rows::RECEIVING {
        return Err(UploadError::Invalid {
            code: "upload_complete",
            detail: "the upload is complete; its file belongs to the evidence record now".into(),
        });
    }
    let token = uuid::Uuid::new_v4().to_string();
    let lock = Lock::take(u, id, &token).await?;
    sweep::release_storage(u, &lock.row).await?;
    let (i, now) = (id.to_string(), u.now());
    u.db.write(move |conn| {
        rows::forget_storage(conn, &i)?;
        rows::set_state(conn, &i, rows::TERMINATED, None, now)?;
        Ok::<_, DbError>(())
    })
    .await?;
    Ok(())
}

/// Reads a checksum-carrying chunk's digest against what arrived.
fn verify(checksum: Option<(ChecksumHasher, &Checksum)>) -> Result<(), UploadError> {
    if let Some((hasher, expected)) = checksum {
        let name = match expected.algorithm {
            tus::Algorithm::Sha1 => "sha1",
            tus::Algorithm::Sha256 => "sha256",
        };
        if hasher.finish() != expected.digest {
            return Err(UploadError::ChecksumMismatch(name));
        }
    }
    Ok(())
}

/// The next body chunk, or why there is none: `Ok(None)` at the end,
/// `Err(())` when the connection broke or stalled past `idle`.
async fn next_chunk<S>(body: &mut S, idle: Duration) -> Result<Option<Bytes>, ()>
where
    S: Stream<Item = Result<Bytes, actix_web::error::PayloadError>> + Unpin,
{
    match tokio::time::timeout(idle, body.next()).await {
        Ok(Some(Ok(bytes))) => Ok(Some(bytes)),
        Ok(None) => Ok(None),
        Ok(Some(Err(_))) | Err(_) => Err(()),
    }
}
