//! Finishing a complete upload: the streamed SHA-256 against the evidence
//! record's declared hash, the media pipeline (type sniffed from the bytes,
//! images decoded under limits, orientation applied, metadata removed), the
//! served copy, thumbnail and original stored content-addressed, a
//! near-duplicate check, and the evidence record set `verified` (or
//! `refused` with a reason) through the sync write path, so the app learns
//! it on its next pull.
//!
//! It runs at once when the last PATCH arrives and the record is known,
//! and as a job otherwise (the record arriving later enqueues it). Either
//! way it is idempotent: a finished upload is left alone.

use actix_web::http::StatusCode;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use sync_protocol::{
    Kind,
    records::{Evidence, EvidenceStatus, Record},
};

use super::{Lock, UploadError, Uploads, data_key, media};
use crate::{
    config::Config,
    custody,
    db::{
        self, Conn, DbError,
        blobs::BlobRow,
        time::Micros,
        uploads::{self as rows, EvidenceFileRow},
    },
    jobs::{Enqueue, JobError},
    storage::content_key,
    sync::{Touched, reviews, store},
};

/// The job that finishes an upload whose record arrived after its file.
pub const FINISH_JOB: &str = "uploads.finish";

/// Settings of the media pipeline.
#[derive(Debug, Clone)]
pub struct MediaSettings {
    /// Keep the original (with its metadata) under `originals/`.
    pub keep_originals: bool,
    pub limits: media::Limits,
    /// Decodes running at once on this instance.
    pub slots: std::sync::Arc<tokio::sync::Semaphore>,
}

impl MediaSettings {
    pub fn from_config(config: &Config) -> Self {
        Self {
            keep_originals: config.upload_keep_originals,
            limits: media::limits(config),
            slots: media::slots(),
        }
    }
}

/// Enqueues finishing for upload `id` (after its last byte, or when its
/// evidence record arrives); `cause` keeps the two apart.
pub fn enqueue_for(conn: &mut Conn, now: Micros, id: &str, cause: &str) -> Result<(), DbError> {
    let key = format!("{FINISH_JOB}:{id}:{cause}");
    crate::jobs::enqueue(
        conn,
        db::time::from_micros(now),
        FINISH_JOB,
        &serde_json::json!({ "upload_id": id }),
        Enqueue {
            run_at: None,
            dedupe_key: Some(&key),
            max_attempts: None,
        },
    )?;
    Ok(())
}

pub(super) fn enqueue(conn: &mut Conn, now: Micros, id: &str) -> Result<(), DbError> {
    enqueue_for(conn, now, id, "complete")
}

/// Called in the push transaction that adds an evidence record: complete
/// uploads that were waiting for it are finished by a job.
pub fn on_evidence_added(conn: &mut Conn, now: Micros, evidence_id: &str) -> Result<(), DbError> {
    for id in rows::complete_for_evidence(conn, evidence_id)? {
        enqueue_for(conn, now, &id, "record")?;
    }
    Ok(())
}

/// At creation: an evidence record that exists must be the uploader's, must
/// not have a file yet, and must declare the upload's length.
pub(super) fn check_evidence_for_upload(
    conn: &mut Conn,
    owner: &str,
    evidence_id: &str,
    length: Option<i64>,
) -> Result<(), UploadError> {
    let Some(row) = db::sync::find_record(conn, Kind::Evidence.as_str(), evidence_id)? else {
        return Ok(());
    };
    if row.author_id.as_deref() != Some(owner) {
        return Err(UploadError::Invalid {
            code: "unknown_evidence",
            detail: format!("you have no evidence record {evidence_id}"),
        });
    }
    let Record::Evidence(e) = store::decode(&row)? else {
        return Err(UploadError::Invalid {
            code: "unknown_evidence",
            detail: format!("you have no evidence record {evidence_id}"),
        });
    };
    if e.status == EvidenceStatus::Verified {
        return Err(UploadError::FileRefused {
            code: EVIDENCE_HAS_FILE,
            status: StatusCode::CONFLICT,
            detail: format!("evidence {evidence_id} already has its file"),
        });
    }
    if let Some(length) = length
        && length as u64 != e.size
    {
        return Err(UploadError::Invalid {
            code: "length_mismatch",
            detail: format!(
                "the evidence record declares {} bytes but the upload is {length}",
                e.size
            ),
        });
    }
    Ok(())
}

/// At creation: a station photo must not have its file yet.
pub(super) fn check_photo_for_upload(conn: &mut Conn, photo_id: &str) -> Result<(), UploadError> {
    if db::logistics::find_station_photo(conn, photo_id)?.is_some() {
        return Err(UploadError::FileRefused {
            code: PHOTO_HAS_FILE,
            status: StatusCode::CONFLICT,
            detail: format!("photo {photo_id} already has its file"),
        });
    }
    Ok(())
}

/// How finishing went.
#[derive(Debug)]
pub enum Outcome {
    /// Verified; these sync scopes changed.
    Verified(Touched),
    /// The evidence record has not arrived yet.
    AwaitingRecord,
    /// Finished or refused before, or being finished elsewhere.
    NothingToDo,
    Refused {
        code: &'static str,
        status: StatusCode,
        detail: String,
        touched: Touched,
    },
}

/// Finishes upload `id` now; a refusal is an error for the PATCH to answer.
pub(super) async fn finish_now(u: &Uploads, id: &str) -> Result<Touched, UploadError> {
    match finish_waiting(u, id, NOW_PATIENCE).await? {
        Outcome::Verified(touched) => Ok(touched),
        Outcome::AwaitingRecord => Ok(Touched::default()),
        Outcome::NothingToDo => {
            // The job enqueued with the completion may have finished it
            // first: the client still hears a refusal.
            let i = id.to_string();
            let row =
                u.db.read(move |conn| rows::find(conn, &i).map_err(DbError::from))
                    .await?;
            match row.as_ref().and_then(stored_refusal) {
                Some(refused) => Err(refused),
                None => Ok(Touched::default()),
            }
        }
        Outcome::Refused {
            code,
            status,
            detail,
            ..
        } => Err(UploadError::FileRefused {
            code,
            status,
            detail,
        }),
    }
}

/// The refusal a finished upload recorded, as the error its last PATCH
/// answered (for a PATCH that finds the file already refused).
pub(super) fn stored_refusal(row: &rows::UploadRow) -> Option<UploadError> {
    if row.state != rows::REFUSED {
        return None;
    }
    let stored: serde_json::Value = serde_json::from_str(row.refusal.as_deref()?).ok()?;
    let code = stored["code"].as_str()?;
    // Codes are answered as `&'static str`; an unknown one (a newer
    // server's) falls back to the generic code.
    let code = [HASH_MISMATCH, EVIDENCE_HAS_FILE, PHOTO_HAS_FILE]
        .into_iter()
        .chain(evidence_media::Refusal::CODES.iter().copied())
        .find(|known| *known == code)
        .unwrap_or("file_refused");
    let status = stored["status"]
        .as_u64()
        .and_then(|s| StatusCode::from_u16(s as u16).ok())
        .filter(StatusCode::is_client_error)
        .unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
    Some(UploadError::FileRefused {
        code,
        status,
        detail: stored["detail"].as_str().unwrap_or_default().to_string(),
    })
}

/// Registers the finishing job.
pub fn register(registry: &mut crate::jobs::Registry, uploads: Uploads) {
    registry.register(FINISH_JOB, move |ctx| {
        let u = uploads.clone();
        async move {
            let id = ctx
                .payload
                .get("upload_id")
                .and_then(|v| v.as_str())
                .ok_or_else(|| JobError::Permanent("no upload_id".into()))?
                .to_string();
            match finish(&u, &id).await {
                Ok(_) => Ok(()),
                Err(UploadError::Busy) => Err(JobError::Retry("being finished elsewhere".into())),
                Err(e) => Err(JobError::Retry(e.to_string())),
            }
        }
    });
}

/// The refusals finishing makes itself (the media step's come from
/// `evidence_media::Refusal::CODES`).
const HASH_MISMATCH: &str = "hash_mismatch";
const EVIDENCE_HAS_FILE: &str = "evidence_has_file";
const PHOTO_HAS_FILE: &str = "photo_has_file";

/// How long the completing PATCH waits for the upload's lock before it
/// leaves the finishing to the job enqueued with the completion. The holder
/// is usually a racing PATCH from another instance that is about to be
/// refused, so a short wait lets the client's last PATCH see the verdict.
const NOW_PATIENCE: std::time::Duration = std::time::Duration::from_secs(3);

/// The finishing steps, under the upload's lock; when another holder has
/// it, nothing is done (the job enqueued with the completion retries).
pub async fn finish(u: &Uploads, id: &str) -> Result<Outcome, UploadError> {
    finish_waiting(u, id, std::time::Duration::ZERO).await
}

async fn finish_waiting(
    u: &Uploads,
    id: &str,
    patience: std::time::Duration,
) -> Result<Outcome, UploadError> {
    let started = std::time::Instant::now();
    loop {
        match finish_once(u, id).await {
            Err(UploadError::Busy) if started.elapsed() < patience => {
                tokio::time::sleep(std::time::Duration::from_millis(25)).await;
            }
            Err(UploadError::Busy) => return Ok(Outcome::NothingToDo),
            other => return other,
        }
    }
}

async fn finish_once(u: &Uploads, id: &str) -> Result<Outcome, UploadError> {
    let i = id.to_string();
    let Some(row) =
        u.db.read(move |conn| rows::find(conn, &i).map_err(DbError::from))
            .await?
    else {
        return Ok(Outcome::NothingToDo);
    };
    if row.state != rows::COMPLETE {
        return Ok(Outcome::NothingToDo);
    }
    let token = uuid::Uuid::new_v4().to_string();
    let lock = Lock::take(u, id, &token).await?;
    let result = finish_locked(u, &lock).await;
    if result.is_err() {
        lock.release().await;
    }
    result
}

async fn finish_locked(u: &Uploads, lock: &Lock) -> Result<Outcome, UploadError> {
    let row = &lock.row;
    if row.state != rows::COMPLETE {
        lock_release_quietly(u, lock).await;
        return Ok(Outcome::NothingToDo);
    }
    if row.purpose == rows::FOR_STATION_PHOTO {
        return finish_station_photo(u, lock).await;
    }
    let evidence_id = row.evidence_id.clone();
    let record =
        u.db.read(move |conn| {
            db::sync::find_record(conn, Kind::Evidence.as_str(), &evidence_id)
                .map_err(DbError::from)
        })
        .await?;
    let Some(record_row) = record.filter(|r| r.author_id.as_deref() == Some(&row.owner_id)) else {
        lock_release_quietly(u, lock).await;
        return Ok(Outcome::AwaitingRecord);
    };
    let Record::Evidence(evidence) = store::decode(&record_row)? else {
        lock_release_quietly(u, lock).await;
        return Ok(Outcome::AwaitingRecord);
    };
    let sha256 = row.sha256.clone().unwrap_or_default();
    if sha256 != evidence.sha256 {
        return refuse(
            u,
            lock,
            &evidence,
            HASH_MISMATCH,
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "the file's SHA-256 is {sha256} but the evidence record declares {}; upload the file the record was made from",
                evidence.sha256
            ),
        )
        .await;
    }
    let ev = evidence.id.clone();
    if let Some(existing) =
        u.db.read(move |conn| rows::evidence_file(conn, &ev).map_err(DbError::from))
            .await?
    {
        if existing.original_sha256 == sha256 {
            return same_file_again(u, lock).await;
        }
        return refuse(
            u,
            lock,
            &evidence,
            EVIDENCE_HAS_FILE,
            StatusCode::CONFLICT,
            format!("evidence {} already has a different file", evidence.id),
        )
        .await;
    }

    let bytes = read_upload(u, &lock.id, row.upload_length.unwrap_or(0) as u64).await?;
    let processed = match media::process(evidence.kind, bytes, u.media.limits, &u.media.slots).await
    {
        Ok(p) => p,
        Err(refusal) => {
            return refuse(
                u,
                lock,
                &evidence,
                refusal.code,
                refusal.status,
                refusal.detail,
            )
            .await;
        }
    };

    let Stored {
        served_sha256,
        thumbnail_sha256,
        original_key,
    } = store_processed(u, lock, &sha256, &processed).await?;

    let now = u.now();
    let file = EvidenceFileRow {
        evidence_id: evidence.id.clone(),
        task_id: evidence.task_id.clone(),
        upload_id: lock.id.clone(),
        original_sha256: sha256.clone(),
        original_key,
        served_sha256,
        served_media_type: processed.served_media_type.clone(),
        served_size: processed.served.len() as i64,
        thumbnail_sha256,
        perceptual_hash: processed.perceptual_hash.map(|h| h as i64),
        width: processed.width.map(|w| w as i32),
        height: processed.height.map(|h| h as i32),
        created_at: now,
    };
    let (upload_id, token) = (lock.id.clone(), lock.token.clone());
    let kind = serde_json::to_value(evidence.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let touched =
        u.db.write(move |conn| {
            let mut touched = Touched::default();
            let still_ours = rows::find(conn, &upload_id)?
                .is_some_and(|r| r.lock_token.as_deref() == Some(&token));
            if !still_ours {
                return Err(UploadError::Busy);
            }
            // A campaign task's sample has a custody chain. The lock order:
            // the task, then scopes (the custody entry is written at commit).
            db::sync::lock_task(conn, &file.task_id)?;
            if db::campaigns::find_campaign_task(conn, &file.task_id)?.is_some() {
                custody::append(
                    conn,
                    now,
                    custody::Event::new(custody::kinds::EVIDENCE_VERIFIED, &file.task_id)
                        .with("evidence", &file.evidence_id)
                        .with("kind", &kind)
                        .with("sha256", &file.original_sha256)
                        .with("served_sha256", &file.served_sha256),
                )?;
            }
            rows::insert_evidence_file(conn, &file)?;
            if let Some(hash) = file.perceptual_hash {
                flag_near_duplicates(conn, now, &file, hash)?;
            }
            set_evidence(
                conn,
                now,
                &file.evidence_id,
                EvidenceStatus::Verified,
                None,
                &mut touched,
            )?;
            rows::set_state(conn, &upload_id, rows::FINISHED, None, now)?;
            Ok(touched)
        })
        .await?;
    Ok(Outcome::Verified(touched))
}

/// A relay station's photo: there is no record to wait for (the scan names
/// the photo, before or after), so it goes through the media pipeline at
/// once; the served copy and thumbnail are stored content-addressed, and
/// each matched scan naming it logs the photo's hashes in its sample's
/// custody chain (a scan matched later logs it then: `logistics::scans`).
async fn finish_station_photo(u: &Uploads, lock: &Lock) -> Result<Outcome, UploadError> {
    let row = &lock.row;
    let photo_id = row.evidence_id.clone();
    let sha256 = row.sha256.clone().unwrap_or_default();
    let p = photo_id.clone();
    let existing =
        u.db.read(move |conn| db::logistics::find_station_photo(conn, &p).map_err(DbError::from))
            .await?;
    if let Some(existing) = existing {
        if existing.original_sha256 == sha256 {
            return same_file_again(u, lock).await;
        }
        return refuse_upload(
            u,
            lock,
            PHOTO_HAS_FILE,
            StatusCode::CONFLICT,
            format!("photo {photo_id} already has a different file"),
        )
        .await;
    }
    let bytes = read_upload(u, &lock.id, row.upload_length.unwrap_or(0) as u64).await?;
    let processed = match media::process(
        sync_protocol::records::EvidenceKind::ParcelPhoto,
        bytes,
        u.media.limits,
        &u.media.slots,
    )
    .await
    {
        Ok(p) => p,
        Err(refusal) => {
            return refuse_upload(u, lock, refusal.code, refusal.status, refusal.detail).await;
        }
    };
    let Stored {
        served_sha256,
        thumbnail_sha256,
        original_key,
    } = store_processed(u, lock, &sha256, &processed).await?;
    let now = u.now();
    let photo = db::logistics::StationPhotoRow {
        id: photo_id,
        owner_id: row.owner_id.clone(),
        upload_id: lock.id.clone(),
        original_sha256: sha256,
        original_key,
        served_sha256,
        served_media_type: processed.served_media_type.clone(),
        served_size: processed.served.len() as i64,
        thumbnail_sha256,
        created_at: now,
    };
    let (upload_id, token) = (lock.id.clone(), lock.token.clone());
    u.db.write(move |conn| {
        let still_ours =
            rows::find(conn, &upload_id)?.is_some_and(|r| r.lock_token.as_deref() == Some(&token));
        if !still_ours {
            return Err(UploadError::Busy);
        }
        if db::logistics::insert_station_photo(conn, &photo)? {
            crate::logistics::scans::log_photo_of_matched_scans(conn, now, &photo)?;
        }
        rows::set_state(conn, &upload_id, rows::FINISHED, None, now)?;
        Ok(())
    })
    .await?;
    Ok(Outcome::Verified(Touched::default()))
}

/// The same file again for an id that has it: nothing new to store.
async fn same_file_again(u: &Uploads, lock: &Lock) -> Result<Outcome, UploadError> {
    delete_upload_bytes(u, &lock.id).await;
    let (i, now) = (lock.id.clone(), u.now());
    u.db.write(move |conn| {
        rows::set_state(conn, &i, rows::FINISHED, None, now).map_err(DbError::from)
    })
    .await?;
    Ok(Outcome::NothingToDo)
}

/// Where a processed file went.
struct Stored {
    served_sha256: String,
    thumbnail_sha256: Option<String>,
    original_key: Option<String>,
}

/// Stores the served copy and thumbnail content-addressed, keeps the
/// original (with its metadata) under `originals/` only if configured, and
/// deletes the upload's bytes.
async fn store_processed(
    u: &Uploads,
    lock: &Lock,
    sha256: &str,
    processed: &media::Processed,
) -> Result<Stored, UploadError> {
    let served_sha256 = put_blob(u, processed.served.clone(), &processed.served_media_type).await?;
    let thumbnail_sha256 = match &processed.thumbnail {
        Some(t) => Some(put_blob(u, t.clone(), media::THUMBNAIL_TYPE).await?),
        None => None,
    };
    let original_key = if u.media.keep_originals && served_sha256 != sha256 {
        let key = format!("originals/sha256/{sha256}");
        if u.store.head(&key).await?.is_none() {
            u.store.rename(&data_key(&lock.id), &key).await?;
        }
        Some(key)
    } else {
        None
    };
    delete_upload_bytes(u, &lock.id).await;
    Ok(Stored {
        served_sha256,
        thumbnail_sha256,
        original_key,
    })
}

/// Refuses a file that fills no evidence record (a station photo): its
/// bytes are deleted and the upload ends `refused`, its last PATCH told why.
async fn refuse_upload(
    u: &Uploads,
    lock: &Lock,
    code: &'static str,
    status: StatusCode,
    detail: String,
) -> Result<Outcome, UploadError> {
    delete_upload_bytes(u, &lock.id).await;
    let now = u.now();
    let refusal = serde_json::json!({ "code": code, "status": status.as_u16(), "detail": detail })
        .to_string();
    let id = lock.id.clone();
    u.db.write(move |conn| {
        rows::set_state(conn, &id, rows::REFUSED, Some(&refusal), now).map_err(DbError::from)
    })
    .await?;
    Ok(Outcome::Refused {
        code,
        status,
        detail,
        touched: Touched::default(),
    })
}

async fn lock_release_quietly(u: &Uploads, lock: &Lock) {
    let (i, t) = (lock.id.clone(), lock.token.clone());
    let _ =
        u.db.write(move |conn| rows::release_lock(conn, &i, &t).map_err(DbError::from))
            .await;
}

/// Refuses the file: its bytes are deleted, the upload ends `refused`, and
/// the evidence record says why (the volunteer may upload the right file).
async fn refuse(
    u: &Uploads,
    lock: &Lock,
    evidence: &Evidence,
    code: &'static str,
    status: StatusCode,
    detail: String,
) -> Result<Outcome, UploadError> {
    delete_upload_bytes(u, &lock.id).await;
    let now = u.now();
    let refusal = serde_json::json!({ "code": code, "status": status.as_u16(), "detail": detail })
        .to_string();
    let (id, evidence_id, message) = (lock.id.clone(), evidence.id.clone(), detail.clone());
    let touched =
        u.db.write(move |conn| {
            let mut touched = Touched::default();
            rows::set_state(conn, &id, rows::REFUSED, Some(&refusal), now)?;
            set_evidence(
                conn,
                now,
                &evidence_id,
                EvidenceStatus::Refused,
                Some(message),
                &mut touched,
            )?;
            Ok::<_, UploadError>(touched)
        })
        .await?;
    Ok(Outcome::Refused {
        code,
        status,
        detail,
        touched,
    })
}

/// Writes the evidence record's status through the sync write path.
fn set_evidence(
    conn: &mut Conn,
    now: Micros,
    evidence_id: &str,
    status: EvidenceStatus,
    refusal: Option<String>,
    touched: &mut Touched,
) -> Result<(), UploadError> {
    let Some(row) = db::sync::find_record(conn, Kind::Evidence.as_str(), evidence_id)? else {
        return Ok(());
    };
    let Record::Evidence(mut e) = store::decode(&row)? else {
        return Ok(());
    };
    let Some(task) = db::sync::find_task(conn, &e.task_id)? else {
        return Ok(());
    };
    if e.status == status && e.refusal == refusal {
        return Ok(());
    }
    e.status = status;
    e.refusal = refusal;
    store::write_record(
        conn,
        now,
        &Record::Evidence(e),
        &task,
        None,
        Some(&row),
        touched,
    )?;
    Ok(())
}

/// Puts a near-identical photo of another task on the review list.
fn flag_near_duplicates(
    conn: &mut Conn,
    now: Micros,
    file: &EvidenceFileRow,
    hash: i64,
) -> Result<(), UploadError> {
    for (other_evidence, other_task, other_hash) in
        rows::photo_hashes_elsewhere(conn, &file.task_id)?
    {
        let distance = media::distance(hash as u64, other_hash as u64);
        if distance <= media::NEAR_DUPLICATE {
            let (a, b) = if file.evidence_id < other_evidence {
                (file.evidence_id.as_str(), other_evidence.as_str())
            } else {
                (other_evidence.as_str(), file.evidence_id.as_str())
            };
            reviews::flag(
                conn,
                now,
                reviews::Reason::NearDuplicatePhoto,
                &file.task_id,
                Some((Kind::Evidence, &file.evidence_id)),
                &format!("{a}:{b}"),
                serde_json::json!({
                    "evidence_id": file.evidence_id,
                    "other_evidence_id": other_evidence,
                    "other_task_id": other_task,
                    "distance": distance,
                }),
            )?;
        }
    }
    Ok(())
}

/// Reads a complete upload's bytes (at most `length`, which the limits
/// already bounded).
async fn read_upload(u: &Uploads, id: &str, length: u64) -> Result<Vec<u8>, UploadError> {
    let object = u.store.get(&data_key(id), None).await?.ok_or_else(|| {
        UploadError::Api(crate::error::ApiError::Internal(format!(
            "the bytes of upload {id} are missing"
        )))
    })?;
    let mut bytes = Vec::with_capacity(length.min(64 * 1024 * 1024) as usize);
    let mut body = object.body;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(crate::storage::StorageError::Body)?;
        if bytes.len() as u64 + chunk.len() as u64 > length {
            return Err(UploadError::Api(crate::error::ApiError::Internal(format!(
                "upload {id} holds more than its {length} bytes"
            ))));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// Stores `bytes` under their SHA-256 (once) and records the blob.
async fn put_blob(u: &Uploads, bytes: Vec<u8>, media_type: &str) -> Result<String, UploadError> {
    let sha256 = hex::encode(Sha256::digest(&bytes));
    let key = content_key(&sha256);
    if u.store.head(&key).await?.is_none() {
        let len = bytes.len() as u64;
        let body: crate::storage::ByteStream = Box::pin(futures_util::stream::once(async move {
            Ok::<_, std::io::Error>(bytes::Bytes::from(bytes))
        }));
        u.store.put(&key, body, len).await?;
    }
    let row = BlobRow {
        sha256: sha256.clone(),
        size: 0,
        media_type: Some(media_type.to_string()),
        storage_key: key,
        created_at: u.now(),
    };
    let size = u
        .store
        .head(&row.storage_key)
        .await?
        .map_or(0, |m| m.size as i64);
    let row = BlobRow { size, ..row };
    u.db.write(move |conn| db::blobs::insert(conn, &row).map_err(DbError::from))
        .await?;
    Ok(sha256)
}

/// Deletes what an upload stored (its data object or file and any pieces);
/// best effort, the sweep catches what fails.
pub(super) async fn delete_upload_bytes(u: &Uploads, id: &str) {
    if let Err(e) = u.store.delete(&data_key(id)).await {
        tracing::warn!(error = %e, "could not delete an upload's bytes; the sweep will");
    }
}
