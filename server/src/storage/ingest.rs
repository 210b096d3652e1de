//! Content-addressed ingest: stream a body of unknown length into the store
//! while hashing it, then move it to `blobs/sha256/<hex>`. Memory is bounded by
//! one multipart part. Every multipart upload is recorded in the database
//! before it is created, so one a crash leaves behind is found and aborted by
//! [`abort_stale_multiparts`] without listing the whole bucket.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use chrono::Duration;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use super::{BlobStore, ByteStream, PartInfo, StorageError, content_key};
use crate::{
    clock::SharedClock,
    db::{
        self, Database, DbError,
        blobs::{BlobRow, MultipartRow},
        time::to_micros,
    },
};

/// Size of each multipart part: above S3's 5 MiB minimum, and the most
/// memory one ingest holds.
pub const PART_SIZE: usize = 8 * 1024 * 1024;

/// The outcome of an ingest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBlob {
    pub sha256: String,
    pub size: u64,
    pub key: String,
    /// False when the same content was already stored (and this copy dropped).
    pub newly_stored: bool,
}

/// Streams `body` (at most `max_size` bytes) into `store` under its SHA-256
/// and records it in `blobs`.
pub async fn ingest(
    store: &dyn BlobStore,
    db: &Database,
    clock: &SharedClock,
    mut body: ByteStream,
    media_type: Option<String>,
    max_size: u64,
) -> Result<StoredBlob, StorageError> {
    let staging = format!("staging/{}", uuid::Uuid::new_v4());
    let mut hash = Sha256::new();
    let mut size = 0u64;
    let mut buffer = BytesMut::with_capacity(PART_SIZE);
    let mut multipart: Option<Multipart> = None;

    let outcome: Result<(), StorageError> = async {
        while let Some(chunk) = body.next().await {
            let mut chunk = chunk.map_err(StorageError::Body)?;
            size += chunk.len() as u64;
            if size > max_size {
                return Err(StorageError::LongBody { expected: max_size });
            }
            hash.update(&chunk);
            while !chunk.is_empty() {
                let take = (PART_SIZE - buffer.len()).min(chunk.len());
                buffer.extend_from_slice(&chunk.split_to(take));
                if buffer.len() == PART_SIZE {
                    let part = buffer.split().freeze();
                    let upload = match &mut multipart {
                        Some(upload) => upload,
                        None => {
                            multipart.insert(Multipart::start(store, db, clock, &staging).await?)
                        }
                    };
                    upload.send(store, part).await?;
                }
            }
        }
        let rest = buffer.split().freeze();
        match &mut multipart {
            None => {
                let len = rest.len() as u64;
                store
                    .put(
                        &staging,
                        Box::pin(futures_util::stream::iter([Ok::<_, std::io::Error>(rest)])),
                        len,
                    )
                    .await
            }
            Some(upload) => {
                if !rest.is_empty() {
                    upload.send(store, rest).await?;
                }
                upload.finish(store, db).await
            }
        }
    }
    .await;

    if let Err(e) = outcome {
        if let Some(upload) = multipart {
            upload.abandon(store, db).await;
        }
        let _ = store.delete(&staging).await;
        return Err(e);
    }

    let sha256 = hex::encode(hash.finalize());
    let key = content_key(&sha256);
    let newly_stored = match store.head(&key).await? {
        Some(_) => {
            store.delete(&staging).await?;
            false
        }
        None => {
            store.rename(&staging, &key).await?;
            true
        }
    };
    let row = BlobRow {
        sha256: sha256.clone(),
        size: size as i64,
        media_type,
        storage_key: key.clone(),
        created_at: to_micros(clock.now()),
    };
    db.write(move |conn| db::blobs::insert(conn, &row).map_err(DbError::from))
        .await?;
    Ok(StoredBlob {
        sha256,
        size,
        key,
        newly_stored,
    })
}

/// A multipart upload in progress, recorded in `multipart_uploads`.
struct Multipart {
    record: String,
    key: String,
    upload_id: String,
    parts: Vec<PartInfo>,
}

impl Multipart {
    async fn start(
        store: &dyn BlobStore,
        db: &Database,
        clock: &SharedClock,
        key: &str,
    ) -> Result<Self, StorageError> {
        let record = uuid::Uuid::now_v7().to_string();
        let now = to_micros(clock.now());
        let row = MultipartRow {
            id: record.clone(),
            object_key: key.to_string(),
            upload_id: None,
            purpose: "ingest".into(),
            created_at: now,
            updated_at: now,
        };
        db.write(move |conn| db::blobs::insert_multipart(conn, &row).map_err(DbError::from))
            .await?;
        let upload_id = store.create_multipart(key).await?;
        let (id, uid) = (record.clone(), upload_id.clone());
        db.write(move |conn| {
            db::blobs::set_multipart_upload_id(conn, &id, &uid, now).map_err(DbError::from)
        })
        .await?;
        Ok(Self {
            record,
            key: key.to_string(),
            upload_id,
            parts: Vec::new(),
        })
    }

    async fn send(&mut self, store: &dyn BlobStore, part: Bytes) -> Result<(), StorageError> {
        let number = self.parts.len() as u32 + 1;
        let info = store
            .upload_part(&self.key, &self.upload_id, number, Arc::new(part))
            .await?;
        self.parts.push(info);
        Ok(())
    }

    async fn finish(&mut self, store: &dyn BlobStore, db: &Database) -> Result<(), StorageError> {
        store
            .complete_multipart(&self.key, &self.upload_id, &self.parts)
            .await?;
        let id = self.record.clone();
        db.write(move |conn| db::blobs::delete_multipart(conn, &id).map_err(DbError::from))
            .await?;
        Ok(())
    }

    /// Best effort: what fails here is left to [`abort_stale_multiparts`].
    async fn abandon(self, store: &dyn BlobStore, db: &Database) {
        if store
            .abort_multipart(&self.key, &self.upload_id)
            .await
            .is_ok()
        {
            let id = self.record;
            let _ = db
                .write(move |conn| db::blobs::delete_multipart(conn, &id).map_err(DbError::from))
                .await;
        }
    }
}

/// Aborts the multipart uploads recorded but untouched for `idle`, and
/// forgets them. Returns how many were aborted.
pub async fn abort_stale_multiparts(
    store: &dyn BlobStore,
    db: &Database,
    clock: &SharedClock,
    idle: Duration,
) -> Result<usize, StorageError> {
    let before = to_micros(clock.now() - idle);
    let stale = db
        .read(move |conn| db::blobs::stale_multiparts(conn, before, 1000).map_err(DbError::from))
        .await?;
    let mut aborted = 0;
    for row in stale {
        if let Some(upload_id) = &row.upload_id {
            store.abort_multipart(&row.object_key, upload_id).await?;
            aborted += 1;
        }
        let id = row.id.clone();
        db.write(move |conn| db::blobs::delete_multipart(conn, &id).map_err(DbError::from))
            .await?;
    }
    Ok(aborted)
}
