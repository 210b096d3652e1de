//! One PATCH body into storage. On the filesystem store the bytes are
//! appended to the upload's file and fsynced before the offset moves. On S3
//! they are sent as multipart parts of at least 5 MiB, while the body
//! arrives when its length is known, and also spooled to local disk so a
//! failed part is sent again from there; what is left at the end of a PATCH
//! (under 5 MiB) is stored as a small piece object beside the upload,
//! recorded in the database, and joined into the next part by whichever
//! instance takes the next PATCH. Nothing is recorded, and the offset does
//! not move, until the PATCH commits.

use std::{
    io::SeekFrom,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use bytes::Bytes;
use futures_util::{Stream, StreamExt, future::BoxFuture, stream};
use sha2::{Digest, Sha256};
use tokio::{
    io::{AsyncSeekExt, AsyncWriteExt, BufWriter},
    sync::mpsc,
};

use super::{
    Chunk, Lock, UploadError, UploadStatus, data_key,
    hash::{RunningHash, Trailing},
    next_chunk, tus, upload_prefix, verify,
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
/// The size of a part cut from a longer PATCH (a body of unknown length
/// sends a part as soon as this much has gathered).
pub const PART_TARGET: u64 = 8 * 1024 * 1024;
/// The write buffer in front of a file: the memory a PATCH holds.
const WRITE_BUFFER: usize = 256 * 1024;
/// The most bytes of streamed parts one server holds in memory at once, as
/// the copy a failed part is sent again from. A part that finds no room
/// here is copied to the spool on disk instead, as every part was before.
/// The disk copy cost a tenth to a fifth of the server's CPU per byte
/// relayed (two buffer copies, the blocking pool, the page cache; `cargo
/// xtask bench uploads`), taken from the cores the store needs too. The
/// budget counts a part's whole size, a little more than the bytes it
/// holds (a part may start with carried pieces). Usually only a few
/// uploads stream at once, and their copy fits here. Small enough that 50
/// uploads at once stay far under the 200 MiB the server may use.
pub const RETRY_MEMORY: usize = 16 * 1024 * 1024;

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
    let mut hash = Trailing::new(RunningHash::restore(&lock.row.hash_state).ok_or_else(|| {
        UploadError::Api(crate::error::ApiError::Internal(format!(
            "upload {} has a damaged hash state",
            lock.id
        )))
    })?);
    let mut check = chunk
        .checksum
        .as_ref()
        .map(|c| (tus::ChecksumHasher::new(c.algorithm), c));
    let key = data_key(&lock.id);
    let mut sink = match u.store.local_path(&key) {
        Some(path) => Sink::File(FileSink::open(path, start).await?),
        None => Sink::Parts(PartSink::open(u, lock, start, length, chunk.content_length).await?),
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
                if let Some((h, _)) = &mut check {
                    h.update(&bytes);
                }
                if let Err(e) = sink.write(bytes, &mut hash, lock).await {
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

    // Bytes of a streamed part the body did not finish are still behind.
    if let Err(e) = hash.catch_up(None).await {
        sink.discard().await;
        return Err(internal(e));
    }
    let hash = hash
        .caught_up()
        .cloned()
        .ok_or_else(|| internal("the hash did not catch up"))?;
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

fn internal(e: impl std::fmt::Display) -> UploadError {
    UploadError::Api(crate::error::ApiError::Internal(format!(
        "hashing an upload's bytes: {e}"
    )))
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
    /// Takes the next bytes of the body, and gives them to `hash` (now, or
    /// deferred while a streamed part holds them in memory).
    async fn write(
        &mut self,
        bytes: Bytes,
        hash: &mut Trailing,
        lock: &mut Lock,
    ) -> Result<(), UploadError> {
        match self {
            Sink::File(f) => {
                hash.update(&bytes);
                f.file.write_all(&bytes).await.map_err(StorageError::Io)?;
                lock.keep().await
            }
            Sink::Parts(p) => p.write(bytes, hash, lock).await,
        }
    }

    async fn discard(self) {
        match self {
            Sink::File(f) => f.discard().await,
            // The spool file goes with the sink; a part already sent under
            // a number is replaced when that number is sent again.
            Sink::Parts(mut p) => p.abandon().await,
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

/// Gathers a PATCH's bytes into S3 parts. When the client announced the
/// body's length, each part's size is known before its first byte arrives,
/// so the part is sent while the body comes in (see [`Streaming`]);
/// otherwise the bytes gather in the spool and go out as a part once
/// `PART_TARGET` is reached or the PATCH ends.
struct PartSink {
    store: Arc<dyn BlobStore>,
    runtime: Option<tokio::runtime::Handle>,
    id: String,
    key: String,
    multipart: Option<String>,
    created_multipart: bool,
    /// Parts recorded by earlier PATCHes.
    earlier_parts: Vec<PartRow>,
    /// Pieces of earlier PATCHes, to lead the next part.
    carried: Vec<PieceRow>,
    carried_len: u64,
    spool: Spool,
    retry_memory: Arc<tokio::sync::Semaphore>,
    next_number: i32,
    stored: Stored,
    /// The body's bytes still to come if it arrives whole, when its length
    /// was announced (Content-Length).
    announced: Option<u64>,
    /// The announced body ends the upload (its last part may be small).
    ends_upload: bool,
    streaming: Option<Streaming>,
}

/// Batches in flight between a PATCH and its streamed part: with the batch
/// being gathered and the spool's write buffer, what an upload holds in
/// memory beyond the retry copy (about 1.5 MiB, never a part).
const FEED_CHUNKS: usize = 4;
/// The body arrives in the HTTP server's small reads (tens of KiB); they
/// cross to the part's request in batches of about this many bytes.
/// Handing each read over on its own cost a task wake-up on the other
/// runtime and a small write to S3 per read, and on two busy cores that
/// hand-off, not the network, set the pace. A batch is a list of the reads
/// themselves, not a copy: the client writes them to the store together
/// (vectored), and the retry copy shares the same buffers.
const FEED_SLICE: usize = 256 * 1024;

/// A part sent to S3 while its bytes arrive. Its size is fixed when it
/// starts (UploadPart needs its Content-Length). Every byte also goes to the
/// spool, so a failed attempt is sent again from there; a part whose bytes
/// stop coming (the body ended early, the PATCH failed) is abandoned: its
/// request fails on the short body, nothing is recorded, and its number is
/// used again by the part that takes those bytes later. The parts recorded
/// in the database stay the only ones that count.
struct Streaming {
    size: u64,
    /// `None` once every byte was passed on, or the request stopped taking
    /// them (it failed; finishing the part finds out why).
    feed: Option<mpsc::Sender<Vec<Bytes>>>,
    /// Reads not yet handed over, under `FEED_SLICE` bytes in all.
    gathered: Vec<Bytes>,
    gathered_len: usize,
    request: PartRequest,
    /// The part's hash is made from the spool's memory, not as it is sent.
    hash_from_memory: bool,
}

impl Streaming {
    async fn feed(&mut self, bytes: Bytes) {
        self.gathered_len += bytes.len();
        self.gathered.push(bytes);
        if self.gathered_len >= FEED_SLICE {
            self.hand_over().await;
        }
    }

    /// Hands over what is gathered: the part's last bytes have arrived.
    async fn flush(&mut self) {
        if !self.gathered.is_empty() {
            self.hand_over().await;
        }
        self.feed = None;
    }

    async fn hand_over(&mut self) {
        let batch = std::mem::take(&mut self.gathered);
        self.gathered_len = 0;
        if let Some(feed) = &self.feed
            && feed.send(batch).await.is_err()
        {
            self.feed = None;
        }
    }
}

/// A part upload running on its own task; dropping it cancels the request.
/// Its answer: the part, and its hash if it was made as the part was sent.
struct PartRequest(tokio::task::JoinHandle<Result<(PartInfo, Option<String>), StorageError>>);

impl Drop for PartRequest {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The size of the next part when `ahead` bytes (carried pieces and the
/// rest of the announced body) will follow: `PART_TARGET` while enough
/// remains for another full part after it, else all of it; `None` when what
/// follows is too small for a part that is not the last (it becomes a piece).
fn next_part_size(ahead: u64, ends_upload: bool) -> Option<u64> {
    if ahead >= PART_TARGET + MIN_PART {
        Some(PART_TARGET)
    } else if ahead >= MIN_PART || (ends_upload && ahead > 0) {
        Some(ahead)
    } else {
        None
    }
}

/// Bytes on local disk waiting to be a part or a piece; for a streamed
/// part only a copy to send again if its request fails, so it is never
/// fsynced (nothing counts a byte until it is in the store), and it is
/// held in memory instead while there is room (see [`RETRY_MEMORY`]).
struct Spool {
    dir: PathBuf,
    /// Made at the first byte, so a part that ends with the body leaves no
    /// empty file to make and remove.
    file: Option<(BufWriter<tokio::fs::File>, tempfile::TempPath)>,
    len: u64,
    /// The upload offset of its first byte.
    start: u64,
    /// The bytes, while they are held in memory rather than in the file,
    /// with the room they take under [`RETRY_MEMORY`] (given back with them).
    memory: Option<(Vec<Bytes>, tokio::sync::OwnedSemaphorePermit)>,
}

impl Spool {
    fn new(dir: &Path, start: u64) -> Self {
        Self {
            dir: dir.to_path_buf(),
            file: None,
            len: 0,
            start,
            memory: None,
        }
    }

    /// Keeps the bytes to come in memory (the spool is still empty).
    fn hold_in_memory(&mut self, room: tokio::sync::OwnedSemaphorePermit) {
        if self.len == 0 && self.file.is_none() {
            self.memory = Some((Vec::new(), room));
        }
    }

    fn holds_in_memory(&self) -> bool {
        self.memory.is_some()
    }

    /// The bytes held in memory, shared (not copied).
    fn held(&self) -> Option<Vec<Bytes>> {
        self.memory.as_ref().map(|(held, _)| held.clone())
    }

    /// The spool that takes the bytes after this one's.
    fn next(&self) -> Self {
        Self::new(&self.dir, self.start + self.len)
    }

    async fn write(&mut self, bytes: &Bytes) -> Result<(), UploadError> {
        if let Some((held, _)) = &mut self.memory {
            // Shares the body's buffer: no copy.
            held.push(bytes.clone());
        } else {
            let (file, _) = match &mut self.file {
                Some(open) => open,
                None => self.file.insert(Self::create(&self.dir).await?),
            };
            file.write_all(bytes).await.map_err(StorageError::Io)?;
        }
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// The file with every byte written to it, to be read back (bytes
    /// held in memory are written out first: their part is sent again, or
    /// becomes a piece).
    async fn flushed(&mut self) -> Result<PathBuf, UploadError> {
        let held = self.memory.take();
        let (file, path) = match &mut self.file {
            Some(open) => open,
            None => self.file.insert(Self::create(&self.dir).await?),
        };
        if let Some((held, _room)) = held {
            for bytes in held {
                file.write_all(&bytes).await.map_err(StorageError::Io)?;
            }
        }
        file.flush().await.map_err(StorageError::Io)?;
        Ok(path.to_path_buf())
    }

    async fn create(
        dir: &Path,
    ) -> Result<(BufWriter<tokio::fs::File>, tempfile::TempPath), UploadError> {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(StorageError::Io)?;
        let dir = dir.to_path_buf();
        let named = tokio::task::spawn_blocking(move || tempfile::NamedTempFile::new_in(dir))
            .await
            .map_err(|e| StorageError::Io(std::io::Error::other(e.to_string())))?
            .map_err(StorageError::Io)?;
        let (file, path) = named.into_parts();
        Ok((
            BufWriter::with_capacity(WRITE_BUFFER, tokio::fs::File::from_std(file)),
            path,
        ))
    }
}

fn part_number(number: i32) -> u32 {
    u32::try_from(number).unwrap_or(u32::MAX)
}

impl PartSink {
    async fn open(
        u: &super::Uploads,
        lock: &mut Lock,
        start: u64,
        length: Option<u64>,
        announced: Option<u64>,
    ) -> Result<Box<Self>, UploadError> {
        let (earlier_parts, carried) = match lock.recorded.take() {
            Some(recorded) => recorded,
            None => {
                let id = lock.id.clone();
                u.db.read(move |conn| {
                    Ok::<_, DbError>((rows::parts(conn, &id)?, rows::pieces(conn, &id)?))
                })
                .await?
            }
        };
        let carried_len = carried.iter().map(|p| p.size as u64).sum();
        let announced = announced.filter(|&n| n > 0);
        Ok(Box::new(Self {
            store: Arc::clone(&u.store),
            runtime: u.runtime.clone(),
            id: lock.id.clone(),
            key: data_key(&lock.id),
            multipart: lock.row.multipart_id.clone(),
            created_multipart: false,
            next_number: earlier_parts.last().map_or(1, |p| p.number + 1),
            earlier_parts,
            carried,
            carried_len,
            spool: Spool::new(&u.spool_dir, start),
            retry_memory: Arc::clone(&u.retry_memory),
            stored: Stored::default(),
            ends_upload: announced.is_some_and(|n| length == Some(start + n)),
            announced,
            streaming: None,
        }))
    }

    async fn write(
        &mut self,
        mut bytes: Bytes,
        hash: &mut Trailing,
        lock: &mut Lock,
    ) -> Result<(), UploadError> {
        while !bytes.is_empty() {
            if self.streaming.is_none() && self.spool.len == 0 {
                self.start_streaming(lock).await?;
            }
            let pending = self.carried_len + self.spool.len;
            let take = match &self.streaming {
                Some(s) => (s.size - pending).min(bytes.len() as u64) as usize,
                None => bytes.len(),
            };
            let now = bytes.split_to(take);
            self.spool.write(&now).await?;
            if self.spool.holds_in_memory() {
                hash.defer(&now);
            } else {
                hash.update(&now);
            }
            self.announced = self.announced.map(|n| n.saturating_sub(take as u64));
            let pending = self.carried_len + self.spool.len;
            match &mut self.streaming {
                Some(s) => {
                    s.feed(now).await;
                    if pending == s.size {
                        self.finish_streaming(hash, lock).await?;
                    }
                }
                None if pending >= PART_TARGET => self.send_part(lock).await?,
                None => {}
            }
        }
        lock.keep().await
    }

    /// The multipart upload, created (and recorded under the lease) by the
    /// first part of the upload.
    async fn multipart(&mut self, lock: &Lock) -> Result<String, UploadError> {
        if let Some(m) = &self.multipart {
            return Ok(m.clone());
        }
        let m = self.store.create_multipart(&self.key).await?;
        let (i, t, mm) = (lock.id.clone(), lock.token.clone(), m.clone());
        let recorded = lock
            .u
            .db
            .write(move |conn| rows::set_multipart(conn, &i, &t, &mm).map_err(DbError::from))
            .await?;
        if !recorded {
            let _ = self.store.abort_multipart(&self.key, &m).await;
            return Err(UploadError::Busy);
        }
        self.multipart = Some(m.clone());
        self.created_multipart = true;
        Ok(m)
    }

    /// Starts sending the next part while its bytes arrive, if its size is
    /// known now.
    async fn start_streaming(&mut self, lock: &Lock) -> Result<(), UploadError> {
        // Nothing more announced (a body longer than its Content-Length
        // would be refused by the HTTP layer): the bytes gather as before.
        let Some(size) = self
            .announced
            .filter(|&n| n > 0)
            .and_then(|n| next_part_size(self.carried_len + n, self.ends_upload))
        else {
            return Ok(());
        };
        let multipart = self.multipart(lock).await?;
        if let Ok(room) = Arc::clone(&self.retry_memory)
            .try_acquire_many_owned(u32::try_from(size).unwrap_or(u32::MAX))
        {
            self.spool.hold_in_memory(room);
        }
        // A part of held bytes alone is hashed from memory while the store
        // answers (see [`Trailing`]); pieces are read on the way out, so a
        // part that starts with them is hashed as it is sent.
        let hash_from_memory = self.spool.holds_in_memory() && self.carried.is_empty();
        let (feed, fed) = mpsc::channel(FEED_CHUNKS);
        let body = Arc::new(StreamedBody {
            pieces: self.pieces(),
            len: size,
            fed: Mutex::new(Some(fed)),
            hash: (!hash_from_memory).then(PartHash::default),
        });
        let (store, key, number) = (
            Arc::clone(&self.store),
            self.key.clone(),
            part_number(self.next_number),
        );
        let request = async move {
            let info = store
                .upload_part(&key, &multipart, number, body.clone())
                .await?;
            Ok((info, body.hash.as_ref().map(PartHash::hex)))
        };
        let request = match &self.runtime {
            Some(runtime) => runtime.spawn(request),
            None => tokio::spawn(request),
        };
        self.streaming = Some(Streaming {
            size,
            feed: Some(feed),
            gathered: Vec::new(),
            gathered_len: 0,
            request: PartRequest(request),
            hash_from_memory,
        });
        Ok(())
    }

    /// Every byte of the streamed part arrived: waits for its answer while
    /// the hashes catch up, and sends it again from the spool if it failed.
    async fn finish_streaming(
        &mut self,
        hash: &mut Trailing,
        lock: &mut Lock,
    ) -> Result<(), UploadError> {
        let Some(mut s) = self.streaming.take() else {
            return Ok(());
        };
        s.flush().await;
        let part = s.hash_from_memory.then(|| self.spool.held()).flatten();
        let (answer, hashed) = tokio::join!(&mut s.request.0, hash.catch_up(part));
        let from_memory = hashed.map_err(internal)?;
        let failed = match answer {
            Ok(Ok((info, sent))) => {
                let sha256 = sent
                    .or(from_memory)
                    .ok_or_else(|| internal("a streamed part was not hashed"))?;
                return self.part_sent(info, sha256, lock).await;
            }
            Ok(Err(e)) => e.to_string(),
            Err(e) => e.to_string(),
        };
        tracing::warn!(part = self.next_number, error = %failed, "a part sent while it arrived failed; sending it again from the spool");
        self.send_part(lock).await
    }

    /// Stops a streamed part whose bytes will not all arrive, and waits
    /// until its request is over, so the next attempt at its number cannot
    /// race it.
    async fn abandon(&mut self) {
        if let Some(mut s) = self.streaming.take() {
            s.feed = None;
            s.request.0.abort();
            let _ = (&mut s.request.0).await;
        }
    }

    fn pieces(&self) -> Pieces {
        Pieces {
            store: Arc::clone(&self.store),
            keys: self.carried.iter().map(|p| p.storage_key.clone()).collect(),
            len: self.carried_len,
        }
    }

    /// Sends the carried pieces and the spool as the next part.
    async fn send_part(&mut self, lock: &mut Lock) -> Result<(), UploadError> {
        let multipart = self.multipart(lock).await?;
        let body = Arc::new(PartBody {
            pieces: self.pieces(),
            spool: self.spool.flushed().await?,
            spool_len: self.spool.len,
            hash: PartHash::default(),
        });
        let info = self
            .store
            .upload_part(
                &self.key,
                &multipart,
                part_number(self.next_number),
                body.clone(),
            )
            .await?;
        self.part_sent(info, body.hash.hex(), lock).await
    }

    /// Notes a part in the store (recorded when the PATCH commits) and
    /// starts the next one.
    async fn part_sent(
        &mut self,
        info: PartInfo,
        sha256: String,
        lock: &mut Lock,
    ) -> Result<(), UploadError> {
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
        self.spool = self.spool.next();
        lock.keep().await
    }

    async fn commit(mut self, completed: bool, lock: &mut Lock) -> Result<Stored, UploadError> {
        // A part still streaming did not get all its bytes (the body ended
        // early): what did arrive is in the spool and is stored as below.
        self.abandon().await;
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
                    number: part_number(p.number),
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
            let spool = self.spool.flushed().await?;
            let key = format!(
                "{}piece-{}-{}",
                upload_prefix(&self.id),
                self.spool.start,
                hex::encode(rand::random::<[u8; 4]>())
            );
            let file = tokio::fs::File::open(&spool)
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

/// The SHA-256 of a part's bytes as its last attempt sent them.
#[derive(Clone, Default)]
struct PartHash(Arc<Mutex<Sha256>>);

impl PartHash {
    /// `body`, hashed as it is read (starting over for each attempt).
    fn over(&self, body: ByteStream) -> ByteStream {
        if let Ok(mut h) = self.0.lock() {
            *h = Sha256::new();
        }
        let hash = Arc::clone(&self.0);
        Box::pin(body.inspect(move |chunk| {
            if let (Ok(bytes), Ok(mut h)) = (chunk, hash.lock()) {
                h.update(bytes);
            }
        }))
    }

    fn hex(&self) -> String {
        self.0
            .lock()
            .map(|h| hex::encode(h.clone().finalize()))
            .unwrap_or_default()
    }
}

/// The carried pieces that lead a part, read back from the store.
struct Pieces {
    store: Arc<dyn BlobStore>,
    keys: Vec<String>,
    len: u64,
}

impl Pieces {
    /// The pieces' bytes, then `rest`'s.
    fn then(&self, rest: BoxFuture<'static, ByteStream>) -> ByteStream {
        let store = Arc::clone(&self.store);
        let pieces = stream::iter(self.keys.clone()).then(move |key| {
            let store = Arc::clone(&store);
            async move {
                let body: ByteStream = match store.get(&key, None).await {
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
                };
                body
            }
        });
        Box::pin(pieces.chain(stream::once(rest)).flatten())
    }
}

/// One part's bytes from the spool (after the carried pieces), streamed
/// again for each attempt.
struct PartBody {
    pieces: Pieces,
    spool: PathBuf,
    spool_len: u64,
    hash: PartHash,
}

impl PartSource for PartBody {
    fn len(&self) -> u64 {
        self.pieces.len + self.spool_len
    }

    fn stream(&self) -> ByteStream {
        let (spool, spool_len) = (self.spool.clone(), self.spool_len);
        let rest = Box::pin(async move {
            let body: ByteStream = match tokio::fs::File::open(&spool).await {
                Ok(file) => {
                    use tokio::io::AsyncReadExt;
                    Box::pin(tokio_util::io::ReaderStream::with_capacity(
                        file.take(spool_len),
                        WRITE_BUFFER,
                    ))
                }
                Err(e) => Box::pin(stream::once(async move { Err(e) })),
            };
            body
        });
        self.hash.over(self.pieces.then(rest))
    }
}

/// One part's bytes as the PATCH body brings them (after the carried
/// pieces): streamed once.
struct StreamedBody {
    pieces: Pieces,
    len: u64,
    fed: Mutex<Option<mpsc::Receiver<Vec<Bytes>>>>,
    /// `None` when the part is hashed from the spool's memory instead.
    hash: Option<PartHash>,
}

impl PartSource for StreamedBody {
    fn len(&self) -> u64 {
        self.len
    }

    fn replayable(&self) -> bool {
        false
    }

    fn stream(&self) -> ByteStream {
        let fed = self.fed.lock().ok().and_then(|mut f| f.take());
        let rest = Box::pin(async move {
            let body: ByteStream = match fed {
                Some(fed) => Box::pin(
                    stream::unfold(fed, |mut fed| async move {
                        fed.recv().await.map(|batch| (batch, fed))
                    })
                    .flat_map(|batch| stream::iter(batch.into_iter().map(Ok))),
                ),
                None => Box::pin(stream::once(async {
                    Err(std::io::Error::other(
                        "a streamed part cannot be sent twice",
                    ))
                })),
            };
            body
        });
        let body = self.pieces.then(rest);
        match &self.hash {
            Some(hash) => hash.over(body),
            None => body,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    /// The copy of a streamed part is held in memory while there is room,
    /// and written out whole, in order, when it must be read back; a part
    /// that finds no room goes to the file from its first byte.
    #[tokio::test]
    async fn a_spool_holds_its_bytes_in_memory_while_there_is_room() {
        let dir = tempfile::tempdir().expect("temp dir");
        let room = Arc::new(tokio::sync::Semaphore::new(10));
        let mut held = Spool::new(dir.path(), 0);
        held.hold_in_memory(Arc::clone(&room).try_acquire_many_owned(10).expect("room"));
        for bytes in [&b"abc"[..], b"defg", b"h"] {
            held.write(&Bytes::copy_from_slice(bytes))
                .await
                .expect("held");
        }
        assert!(held.file.is_none(), "nothing on disk yet");
        assert_eq!(room.available_permits(), 0);
        assert!(Arc::clone(&room).try_acquire_many_owned(1).is_err());

        let mut on_disk = Spool::new(dir.path(), 0);
        on_disk
            .write(&Bytes::from_static(b"xyz"))
            .await
            .expect("written");
        assert!(on_disk.file.is_some() && on_disk.memory.is_none());

        let path = held.flushed().await.expect("flushed");
        assert_eq!(std::fs::read(&path).expect("spool file"), b"abcdefgh");
        assert_eq!(held.len, 8);
        assert_eq!(
            room.available_permits(),
            10,
            "the room is given back once on disk"
        );
        let path = on_disk.flushed().await.expect("flushed");
        assert_eq!(std::fs::read(&path).expect("spool file"), b"xyz");
    }

    #[test]
    fn streamed_parts_are_full_sized_until_the_rest_fits_in_one() {
        let sizes = |mut ahead: u64, ends: bool| {
            let mut out = Vec::new();
            while let Some(size) = next_part_size(ahead, ends) {
                out.push(size / MIB);
                ahead -= size;
                if ahead == 0 {
                    break;
                }
            }
            (out, ahead / MIB)
        };
        assert_eq!(sizes(5 * MIB, false), (vec![5], 0));
        assert_eq!(sizes(4 * MIB, false), (vec![], 4), "a piece");
        assert_eq!(sizes(4 * MIB, true), (vec![4], 0), "the last part");
        assert_eq!(sizes(12 * MIB, false), (vec![12], 0));
        assert_eq!(sizes(13 * MIB, false), (vec![8, 5], 0));
        assert_eq!(sizes(20 * MIB, false), (vec![8, 12], 0));
        assert_eq!(sizes(24 * MIB, true), (vec![8, 8, 8], 0));
        assert_eq!(sizes(0, true), (vec![], 0));
    }
}
