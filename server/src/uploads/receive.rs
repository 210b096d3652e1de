//! One PATCH body into storage. On the filesystem store the bytes are
//! appended to the upload's file and fsynced before the offset moves. On S3
//! they are spooled to local disk and sent as multipart parts of at least
//! 5 MiB; what is left at the end of a PATCH (under 5 MiB) is stored as a
//! small piece object beside the upload, recorded in the database, and
//! joined into the next part by whichever instance takes the next PATCH.

use std::{
    io::SeekFrom,
    path::PathBuf,
    sync::{Arc, Mutex},
};

use bytes::Bytes;
use futures_util::{Stream, StreamExt, stream};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncSeekExt, AsyncWriteExt, BufWriter};

use super::{
    Chunk, Lock, UploadError, UploadStatus, data_key, hash::RunningHash, next_chunk, tus,
    upload_prefix, verify,
};
use crate::{
    db::{
        DbError,
        uploads::{self as rows, PartRow, PieceRow, Progress},
    },
    storage::{BlobStore, ByteStream, PartInfo, PartSource, StorageError},
};

/// S3's smallest non-final part.
pub const MIN_PART: u64 = 5 * 1024 * 1024;
/// A part is sent as soon as this much has gathered within one PATCH.
pub const PART_TARGET: u64 = 8 * 1024 * 1024;
/// The write buffer in front of a file: the memory a PATCH holds.
const WRITE_BUFFER: usize = 256 * 1024;

pub(super) struct Received {
    pub status: UploadStatus,
    /// The last byte arrived with this PATCH.
    pub completed: bool,
}

pub(super) async fn receive<S>(
    u: &super::Uploads,
    lock: &mut Lock,
    length: Option<u64>,
    allowed: u64,
    room: u64,
    chunk: &Chunk,
    mut body: S,
) -> Result<Received, UploadError>
where
    S: Stream<Item = Result<Bytes, actix_web::error::PayloadError>> + Unpin,
{
    let start = lock.row.upload_offset as u64;
    let mut hash = RunningHash::restore(&lock.row.hash_state).ok_or_else(|| {
        UploadError::Api(crate::error::ApiError::Internal(format!(
            "upload {} has a damaged hash state",
            lock.id
        )))
    })?;
    let mut check = chunk
        .checksum
        .as_ref()
        .map(|c| (tus::ChecksumHasher::new(c.algorithm), c));
    let key = data_key(&lock.id);
    let mut sink = match u.store.local_path(&key) {
        Some(path) => Sink::File(FileSink::open(path, start).await?),
        None => Sink::Parts(PartSink::open(u, lock, start).await?),
    };

    let mut received = 0u64;
    let mut broken = false;
    loop {
        match next_chunk(&mut body, u.limits.idle_timeout).await {
            Ok(Some(bytes)) => {
                let len = bytes.len() as u64;
                if received + len > allowed {
                    sink.discard().await;
                    return Err(UploadError::TooLarge(if received + len > room {
                        format!(
                            "the body is longer than the {room} bytes left of the upload's length; nothing was stored"
                        )
                    } else {
                        format!("a chunk may be at most {allowed} bytes; nothing was stored")
                    }));
                }
                hash.update(&bytes);
                if let Some((h, _)) = &mut check {
                    h.update(&bytes);
                }
                if let Err(e) = sink.write(&bytes, lock).await {
                    sink.discard().await;
                    return Err(e);
                }
                received += len;
            }
            Ok(None) => break,
            Err(()) => {
                broken = true;
                break;
            }
        }
    }
    if broken && check.is_some() {
        // A checksum covers the whole chunk: a part of it cannot be trusted.
        sink.discard().await;
        return Err(UploadError::BodyIncomplete);
    }
    if let Err(e) = verify(check) {
        sink.discard().await;
        return Err(e);
    }

    let new_offset = start + received;
    let completed = length == Some(new_offset);
    if received == 0 && !completed {
        sink.discard().await;
        let mut row = lock.row.clone();
        row.upload_length = length.map(|l| l as i64);
        if row.upload_length != lock.row.upload_length {
            // A bodyless PATCH that only fixes a deferred length.
            commit(
                u,
                lock,
                &row,
                start,
                length,
                &hash,
                false,
                Stored::default(),
            )
            .await?;
        } else {
            let (i, t) = (lock.id.clone(), lock.token.clone());
            u.db.write(move |conn| rows::release_lock(conn, &i, &t).map_err(DbError::from))
                .await?;
        }
        return Ok(Received {
            status: UploadStatus::of(&row),
            completed: false,
        });
    }
    let stored = sink.commit(completed, lock).await?;
    let consumed = stored.consumed.clone();
    let row = lock.row.clone();
    let status = commit(u, lock, &row, new_offset, length, &hash, completed, stored).await?;
    for piece in consumed {
        // Best effort: the sweep deletes what is left of a finished upload.
        let _ = u.store.delete(&piece.storage_key).await;
    }
    Ok(Received { status, completed })
}

/// Moves the upload to `new_offset` in one transaction with its parts and
/// pieces, if this PATCH still holds the lease at the offset it started from.
#[allow(clippy::too_many_arguments)]
async fn commit(
    u: &super::Uploads,
    lock: &Lock,
    row: &rows::UploadRow,
    new_offset: u64,
    length: Option<u64>,
    hash: &RunningHash,
    completed: bool,
    stored: Stored,
) -> Result<UploadStatus, UploadError> {
    let now = u.now();
    let expires_at = now + u.limits.expiry.num_microseconds().unwrap_or(i64::MAX / 4);
    let sha256 = completed.then(|| hash.clone().finish());
    let hash_state = hash.save();
    let (id, token) = (lock.id.clone(), lock.token.clone());
    let expected = row.upload_offset;
    let multipart = stored
        .multipart
        .clone()
        .or_else(|| row.multipart_id.clone());
    let mut status = UploadStatus::of(row);
    u.db.write(move |conn| {
        for part in &stored.parts {
            rows::put_part(conn, part)?;
        }
        if !stored.consumed.is_empty() {
            rows::delete_pieces(conn, &id)?;
        }
        if let Some(piece) = &stored.piece {
            rows::insert_piece(conn, piece)?;
        }
        if completed {
            rows::forget_storage(conn, &id)?;
        }
        let moved = rows::commit(
            conn,
            &id,
            &token,
            &Progress {
                expected_offset: expected,
                new_offset: new_offset as i64,
                length: length.map(|l| l as i64),
                hash_state: &hash_state,
                multipart_id: multipart.as_deref(),
                state: if completed {
                    rows::COMPLETE
                } else {
                    rows::RECEIVING
                },
                sha256: sha256.as_deref(),
                expires_at,
                now,
            },
        )?;
        if !moved {
            return Err(UploadError::Busy);
        }
        if completed {
            super::finish::enqueue(conn, now, &id)?;
        }
        Ok(())
    })
    .await?;
    status.offset = new_offset;
    status.length = length;
    status.expires_at = (!completed).then(|| crate::db::time::from_micros(expires_at));
    Ok(status)
}

/// What a PATCH stored, to record with its commit.
#[derive(Debug, Default, Clone)]
struct Stored {
    /// The multipart upload, if this PATCH created it.
    multipart: Option<String>,
    parts: Vec<PartRow>,
    /// Pieces of earlier PATCHes that went into a part.
    consumed: Vec<PieceRow>,
    /// This PATCH's remainder.
    piece: Option<PieceRow>,
}

enum Sink {
    File(FileSink),
    Parts(Box<PartSink>),
}

impl Sink {
    async fn write(&mut self, bytes: &[u8], lock: &mut Lock) -> Result<(), UploadError> {
        match self {
            Sink::File(f) => {
                f.file.write_all(bytes).await.map_err(StorageError::Io)?;
                lock.keep().await
            }
            Sink::Parts(p) => p.write(bytes, lock).await,
        }
    }

    async fn discard(self) {
        match self {
            Sink::File(f) => f.discard().await,
            // The spool file goes with the sink; a part already sent under
            // a number is replaced when that number is sent again.
            Sink::Parts(_) => {}
        }
    }

    async fn commit(self, completed: bool, lock: &mut Lock) -> Result<Stored, UploadError> {
        match self {
            Sink::File(f) => {
                f.commit().await?;
                Ok(Stored::default())
            }
            Sink::Parts(p) => p.commit(completed, lock).await,
        }
    }
}

/// Appends to the upload's file in the filesystem store.
struct FileSink {
    file: BufWriter<tokio::fs::File>,
    path: PathBuf,
    start: u64,
}

impl FileSink {
    async fn open(path: PathBuf, start: u64) -> Result<Self, UploadError> {
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(StorageError::Io)?;
        }
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .await
            .map_err(StorageError::Io)?;
        // Bytes past the committed offset are from a PATCH that failed or
        // crashed before its commit: they are not part of the upload.
        file.set_len(start).await.map_err(StorageError::Io)?;
        file.seek(SeekFrom::Start(start))
            .await
            .map_err(StorageError::Io)?;
        Ok(Self {
            file: BufWriter::with_capacity(WRITE_BUFFER, file),
            path,
            start,
        })
    }

    async fn discard(self) {
        drop(self.file);
        if let Ok(file) = tokio::fs::OpenOptions::new()
            .write(true)
            .open(&self.path)
            .await
        {
            let _ = file.set_len(self.start).await;
        }
    }

    /// The bytes are on disk before the offset that counts them moves.
    async fn commit(mut self) -> Result<(), UploadError> {
        self.file.flush().await.map_err(StorageError::Io)?;
        self.file
            .get_mut()
            .sync_all()
            .await
            .map_err(StorageError::Io)?;
        Ok(())
    }
}

/// Gathers a PATCH's bytes into S3 parts.
struct PartSink {
    store: Arc<dyn BlobStore>,
    id: String,
    key: String,
    spool_dir: PathBuf,
    multipart: Option<String>,
    created_multipart: bool,
    /// Parts recorded by earlier PATCHes.
    earlier_parts: Vec<PartRow>,
    /// Pieces of earlier PATCHes, to lead the next part.
    carried: Vec<PieceRow>,
    carried_len: u64,
    spool: Spool,
    next_number: i32,
    stored: Stored,
}

/// Bytes on local disk waiting to be a part or a piece.
struct Spool {
    file: BufWriter<tokio::fs::File>,
    path: tempfile::TempPath,
    len: u64,
    /// The upload offset of its first byte.
    start: u64,
}

impl Spool {
    async fn new(dir: &PathBuf, start: u64) -> Result<Self, UploadError> {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(StorageError::Io)?;
        let dir = dir.clone();
        let named = tokio::task::spawn_blocking(move || tempfile::NamedTempFile::new_in(dir))
            .await
            .map_err(|e| StorageError::Io(std::io::Error::other(e.to_string())))?
            .map_err(StorageError::Io)?;
        let (file, path) = named.into_parts();
        Ok(Self {
            file: BufWriter::with_capacity(WRITE_BUFFER, tokio::fs::File::from_std(file)),
            path,
            len: 0,
            start,
        })
    }
}

impl PartSink {
    async fn open(u: &super::Uploads, lock: &Lock, start: u64) -> Result<Box<Self>, UploadError> {
        let id = lock.id.clone();
        let (earlier_parts, carried) = u
            .db
            .read(move |conn| Ok::<_, DbError>((rows::parts(conn, &id)?, rows::pieces(conn, &id)?)))
            .await?;
        let carried_len = carried.iter().map(|p| p.size as u64).sum();
        let spool_start = start;
        Ok(Box::new(Self {
            store: Arc::clone(&u.store),
            id: lock.id.clone(),
            key: data_key(&lock.id),
            spool_dir: u.spool_dir.clone(),
            multipart: lock.row.multipart_id.clone(),
            created_multipart: false,
            next_number: earlier_parts.last().map_or(1, |p| p.number + 1),
            earlier_parts,
            carried,
            carried_len,
            spool: Spool::new(&u.spool_dir, spool_start).await?,
            stored: Stored::default(),
        }))
    }

    async fn write(&mut self, bytes: &[u8], lock: &mut Lock) -> Result<(), UploadError> {
        self.spool
            .file
            .write_all(bytes)
            .await
            .map_err(StorageError::Io)?;
        self.spool.len += bytes.len() as u64;
        if self.carried_len + self.spool.len >= PART_TARGET {
            self.send_part(lock).await?;
        }
        lock.keep().await
    }

    /// Sends the carried pieces and the spool as the next part.
    async fn send_part(&mut self, lock: &mut Lock) -> Result<(), UploadError> {
        let multipart = match &self.multipart {
            Some(m) => m.clone(),
            None => {
                let m = self.store.create_multipart(&self.key).await?;
                let (i, t, mm) = (lock.id.clone(), lock.token.clone(), m.clone());
                let recorded = lock
                    .u
                    .db
                    .write(move |conn| {
                        rows::set_multipart(conn, &i, &t, &mm).map_err(DbError::from)
                    })
                    .await?;
                if !recorded {
                    let _ = self.store.abort_multipart(&self.key, &m).await;
                    return Err(UploadError::Busy);
                }
                self.multipart = Some(m.clone());
                self.created_multipart = true;
                m
            }
        };
        self.spool.file.flush().await.map_err(StorageError::Io)?;
        let body = Arc::new(PartBody {
            store: Arc::clone(&self.store),
            pieces: self.carried.iter().map(|p| p.storage_key.clone()).collect(),
            pieces_len: self.carried_len,
            spool: self.spool.path.to_path_buf(),
            spool_len: self.spool.len,
            hash: Arc::new(Mutex::new(Sha256::new())),
        });
        let number = u32::try_from(self.next_number).unwrap_or(u32::MAX);
        let info = self
            .store
            .upload_part(&self.key, &multipart, number, body.clone())
            .await?;
        let sha256 = body
            .hash
            .lock()
            .map(|h| hex::encode(h.clone().finalize()))
            .unwrap_or_default();
        self.stored.parts.push(PartRow {
            upload_id: self.id.clone(),
            number: self.next_number,
            size: info.size as i64,
            etag: info.etag,
            sha256,
        });
        self.next_number += 1;
        self.stored.consumed.append(&mut self.carried);
        self.carried_len = 0;
        let next_start = self.spool.start + self.spool.len;
        self.spool = Spool::new(&self.spool_dir, next_start).await?;
        lock.keep().await
    }

    async fn commit(mut self, completed: bool, lock: &mut Lock) -> Result<Stored, UploadError> {
        let pending = self.carried_len + self.spool.len;
        if completed {
            if pending > 0 {
                self.send_part(lock).await?;
            }
            let parts: Vec<PartInfo> = self
                .earlier_parts
                .iter()
                .chain(&self.stored.parts)
                .map(|p| PartInfo {
                    number: u32::try_from(p.number).unwrap_or(u32::MAX),
                    etag: p.etag.clone(),
                    size: p.size as u64,
                })
                .collect();
            let multipart = self.multipart.clone().ok_or_else(|| {
                UploadError::Api(crate::error::ApiError::Internal(
                    "a complete upload without a multipart upload".into(),
                ))
            })?;
            self.store
                .complete_multipart(&self.key, &multipart, &parts)
                .await?;
            // The pieces of this upload are all in parts now.
        } else if pending >= MIN_PART {
            self.send_part(lock).await?;
        } else if self.spool.len > 0 {
            self.spool.file.flush().await.map_err(StorageError::Io)?;
            let key = format!(
                "{}piece-{}-{}",
                upload_prefix(&self.id),
                self.spool.start,
                hex::encode(rand::random::<[u8; 4]>())
            );
            let file = tokio::fs::File::open(&self.spool.path)
                .await
                .map_err(StorageError::Io)?;
            let body: ByteStream = Box::pin(tokio_util::io::ReaderStream::new(file));
            self.store.put(&key, body, self.spool.len).await?;
            self.stored.piece = Some(PieceRow {
                upload_id: self.id.clone(),
                start_offset: self.spool.start as i64,
                size: self.spool.len as i64,
                storage_key: key,
            });
        }
        if self.created_multipart {
            self.stored.multipart = self.multipart.clone();
        }
        Ok(self.stored)
    }
}

/// One part's bytes: the carried pieces (read back from the store) and the
/// spool file, streamed again for each attempt.
struct PartBody {
    store: Arc<dyn BlobStore>,
    pieces: Vec<String>,
    pieces_len: u64,
    spool: PathBuf,
    spool_len: u64,
    /// SHA-256 of the last attempt's bytes.
    hash: Arc<Mutex<Sha256>>,
}

impl PartSource for PartBody {
    fn len(&self) -> u64 {
        self.pieces_len + self.spool_len
    }

    fn stream(&self) -> ByteStream {
        if let Ok(mut h) = self.hash.lock() {
            *h = Sha256::new();
        }
        let store = Arc::clone(&self.store);
        let sources = self
            .pieces
            .clone()
            .into_iter()
            .map(Some)
            .chain(std::iter::once(None));
        let (spool, spool_len) = (self.spool.clone(), self.spool_len);
        let bodies = stream::iter(sources)
            .then(move |source| {
                let store = Arc::clone(&store);
                let spool = spool.clone();
                async move {
                    let body: ByteStream = match source {
                        Some(key) => match store.get(&key, None).await {
                            Ok(Some(object)) => object.body,
                            Ok(None) => Box::pin(stream::once(async move {
                                Err(std::io::Error::new(
                                    std::io::ErrorKind::NotFound,
                                    format!("piece {key} is missing"),
                                ))
                            })),
                            Err(e) => Box::pin(stream::once(async move {
                                Err(std::io::Error::other(e.to_string()))
                            })),
                        },
                        None => match tokio::fs::File::open(&spool).await {
                            Ok(file) => {
                                use tokio::io::AsyncReadExt;
                                Box::pin(tokio_util::io::ReaderStream::with_capacity(
                                    file.take(spool_len),
                                    WRITE_BUFFER,
                                ))
                            }
                            Err(e) => Box::pin(stream::once(async move { Err(e) })),
                        },
                    };
                    body
                }
            })
            .flatten();
        let hash = Arc::clone(&self.hash);
        Box::pin(bodies.inspect(move |chunk| {
            if let (Ok(bytes), Ok(mut h)) = (chunk, hash.lock()) {
                h.update(bytes);
            }
        }))
    }
}
