//! Blob stores: where evidence files and other large objects live. The
//! [`BlobStore`] trait has two implementations, the local filesystem (the
//! embedded default) and S3 (any S3-compatible service). Bodies are streams,
//! never whole buffers, except one multipart part at a time (so a failed part
//! can be sent again). Nothing here touches the database; [`ingest`] adds the
//! content addressing and the bookkeeping on top.

use std::{fmt, sync::Arc};

use bytes::Bytes;
use futures_util::{
    future::BoxFuture,
    stream::{self, BoxStream},
};

pub mod fs;
pub mod ingest;
pub mod s3;

pub use ingest::{StoredBlob, ingest};

/// A body: chunks of bytes, or an IO error that ends it.
pub type ByteStream = BoxStream<'static, std::io::Result<Bytes>>;

/// The key of the content-addressed object holding bytes with this SHA-256.
pub fn content_key(sha256_hex: &str) -> String {
    format!("blobs/sha256/{sha256_hex}")
}

/// Keys are relative paths of safe characters: letters, digits, `.`, `_`,
/// `-` and `/` between non-empty segments that are not `.` or `..`.
pub fn validate_key(key: &str) -> Result<(), StorageError> {
    let ok = !key.is_empty()
        && key.len() <= 512
        && key.split('/').all(|segment| {
            !segment.is_empty()
                && segment != "."
                && segment != ".."
                && !segment.starts_with('.')
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        });
    if ok {
        Ok(())
    } else {
        Err(StorageError::InvalidKey(key.to_string()))
    }
}

/// What a store knows about one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    pub key: String,
    pub size: u64,
}

/// An inclusive byte range, as in HTTP `Range: bytes=start-end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    /// Last byte wanted, inclusive; `None` means to the end.
    pub end: Option<u64>,
}

impl ByteRange {
    /// The concrete inclusive range within an object of `size` bytes, or
    /// `None` when it does not overlap (HTTP 416).
    pub fn resolve(&self, size: u64) -> Option<(u64, u64)> {
        if self.start >= size {
            return None;
        }
        let end = self.end.unwrap_or(u64::MAX).min(size - 1);
        (end >= self.start).then_some((self.start, end))
    }
}

/// An object being read.
pub struct GetObject {
    /// Size of the whole object.
    pub size: u64,
    /// The inclusive range `body` carries.
    pub range: (u64, u64),
    pub body: ByteStream,
}

impl fmt::Debug for GetObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GetObject")
            .field("size", &self.size)
            .field("range", &self.range)
            .finish_non_exhaustive()
    }
}

/// One uploaded part of a multipart upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartInfo {
    /// 1 to 10,000.
    pub number: u32,
    pub etag: String,
    pub size: u64,
}

/// A multipart upload the store still holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultipartInfo {
    pub key: String,
    pub upload_id: String,
}

/// A part body, streamed again when an attempt fails.
pub trait PartSource: Send + Sync {
    fn len(&self) -> u64;
    fn stream(&self) -> ByteStream;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// False for a body that can be streamed only once (its bytes are
    /// passed on as they arrive): the store then makes a single attempt and
    /// the caller retries from its own copy.
    fn replayable(&self) -> bool {
        true
    }
}

impl PartSource for Bytes {
    fn len(&self) -> u64 {
        Bytes::len(self) as u64
    }
    fn stream(&self) -> ByteStream {
        // Hand it out in slices (no copy) so the transport can send while
        // the next slice is handed over.
        const SLICE: usize = 256 * 1024;
        let bytes = self.clone();
        let slices: Vec<std::io::Result<Bytes>> = (0..bytes.len())
            .step_by(SLICE)
            .map(|at| Ok(bytes.slice(at..(at + SLICE).min(bytes.len()))))
            .collect();
        Box::pin(stream::iter(slices))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("invalid object key {0:?}")]
    InvalidKey(String),
    #[error("no multipart upload {0}")]
    NoSuchUpload(String),
    #[error("the body ended after {got} of {expected} bytes")]
    ShortBody { expected: u64, got: u64 },
    #[error("the body is longer than the {expected} bytes announced")]
    LongBody { expected: u64 },
    #[error("reading the body failed: {0}")]
    Body(std::io::Error),
    #[error("blob store IO failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("the object store refused the request: {0}")]
    Refused(String),
    #[error("the object store is unreachable or failing: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
}

/// Attempts per part before the error is returned (the upload stays alive).
pub(crate) const PART_ATTEMPTS: u32 = 4;

/// The attempts `body` allows: one if it cannot be streamed again.
pub(crate) fn part_attempts(body: &dyn PartSource) -> u32 {
    if body.replayable() { PART_ATTEMPTS } else { 1 }
}

/// Runs one part upload up to `attempts` times with a growing pause.
/// A missing upload, a bad key, a refused request or a source of the wrong
/// length will not change on retry; everything else (a broken body stream, a dropped connection) may.
/// Never aborts the multipart upload: the caller decides that.
pub(crate) async fn retry_part<F, Fut>(
    number: u32,
    attempts: u32,
    mut once: F,
) -> Result<PartInfo, StorageError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<PartInfo, StorageError>>,
{
    let mut attempt = 1;
    loop {
        match once().await {
            Ok(info) => return Ok(info),
            Err(e) => {
                let final_error = matches!(
                    e,
                    StorageError::NoSuchUpload(_)
                        | StorageError::Refused(_)
                        | StorageError::InvalidKey(_)
                        | StorageError::ShortBody { .. }
                        | StorageError::LongBody { .. }
                );
                if final_error || attempt >= attempts {
                    return Err(e);
                }
                tracing::warn!(part = number, attempt, error = %e, "part upload failed; retrying");
                tokio::time::sleep(std::time::Duration::from_millis(100 * 2u64.pow(attempt))).await;
                attempt += 1;
            }
        }
    }
}

/// Where blobs live. Object safe so the server holds an `Arc<dyn BlobStore>`.
pub trait BlobStore: Send + Sync + 'static {
    /// One line for logs: the kind and where it is.
    fn describe(&self) -> String;

    /// The file holding `key` when the store is a local folder: resumable
    /// uploads append to it directly (and fsync) instead of gathering S3
    /// parts. `None` for remote stores.
    fn local_path(&self, _key: &str) -> Option<std::path::PathBuf> {
        None
    }

    /// Checks that the store is reachable and usable (for `/readyz`).
    fn check(&self) -> BoxFuture<'_, Result<(), StorageError>>;

    /// Stores `body`, which must be exactly `len` bytes, under `key`,
    /// replacing any object there. Readers never see a partial object.
    fn put<'a>(
        &'a self,
        key: &'a str,
        body: ByteStream,
        len: u64,
    ) -> BoxFuture<'a, Result<(), StorageError>>;

    /// Reads an object, or the given range of it; `Ok(None)` if absent.
    /// A range outside the object is `StorageError::Refused`.
    fn get<'a>(
        &'a self,
        key: &'a str,
        range: Option<ByteRange>,
    ) -> BoxFuture<'a, Result<Option<GetObject>, StorageError>>;

    /// Size of an object; `Ok(None)` if absent.
    fn head<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<ObjectMeta>, StorageError>>;

    /// Removes an object; removing an absent one succeeds.
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StorageError>>;

    /// Every object whose key starts with `prefix`, sorted by key.
    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<ObjectMeta>, StorageError>>;

    /// Moves an object to another key (S3: copy, then delete the source).
    fn rename<'a>(&'a self, from: &'a str, to: &'a str) -> BoxFuture<'a, Result<(), StorageError>>;

    /// Starts a multipart upload to `key`; returns its upload id.
    fn create_multipart<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<String, StorageError>>;

    /// Uploads part `number` (1..=10,000). Non-final parts must be at least
    /// 5 MiB on S3. Transient failures are retried here; a failure never
    /// aborts the multipart upload, which stays usable.
    fn upload_part<'a>(
        &'a self,
        key: &'a str,
        upload_id: &'a str,
        number: u32,
        body: Arc<dyn PartSource>,
    ) -> BoxFuture<'a, Result<PartInfo, StorageError>>;

    /// The parts uploaded so far, by number.
    fn list_parts<'a>(
        &'a self,
        key: &'a str,
        upload_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<PartInfo>, StorageError>>;

    /// Joins the parts into the object at `key`.
    fn complete_multipart<'a>(
        &'a self,
        key: &'a str,
        upload_id: &'a str,
        parts: &'a [PartInfo],
    ) -> BoxFuture<'a, Result<(), StorageError>>;

    /// Drops a multipart upload and its parts; an unknown one succeeds.
    fn abort_multipart<'a>(
        &'a self,
        key: &'a str,
        upload_id: &'a str,
    ) -> BoxFuture<'a, Result<(), StorageError>>;

    /// Multipart uploads still open under `prefix` (to find what a crash left).
    fn list_multipart_uploads<'a>(
        &'a self,
        prefix: &'a str,
    ) -> BoxFuture<'a, Result<Vec<MultipartInfo>, StorageError>>;
}

/// Builds the configured store.
pub async fn from_config(
    config: &crate::config::Config,
) -> Result<Arc<dyn BlobStore>, StorageError> {
    match config.blob_store {
        crate::config::BlobStoreKind::Filesystem => {
            Ok(Arc::new(fs::FsStore::open(config.blob_dir())?))
        }
        crate::config::BlobStoreKind::S3 => Ok(Arc::new(s3::S3Store::from_config(config).await?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_safe_relative_paths() {
        for good in ["blobs/sha256/ab12", "uploads/x.part-1", "a"] {
            assert!(validate_key(good).is_ok(), "{good}");
        }
        for bad in [
            "", "/abs", "a//b", "../x", "a/../b", "a/./b", "sp ace", "a\\b", ".hidden", "a/",
        ] {
            assert!(validate_key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ranges_resolve_like_http() {
        let r = |start, end| ByteRange { start, end };
        assert_eq!(r(0, None).resolve(10), Some((0, 9)));
        assert_eq!(r(5, Some(100)).resolve(10), Some((5, 9)));
        assert_eq!(r(10, None).resolve(10), None);
        assert_eq!(r(3, Some(2)).resolve(10), None);
        assert_eq!(r(0, Some(0)).resolve(1), Some((0, 0)));
    }
}
