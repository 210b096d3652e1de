//! The filesystem blob store: one file per object under the root folder,
//! written to `.tmp/` first, fsynced, then renamed into place, so a reader or
//! a crash never sees half an object. Multipart uploads keep their parts in
//! `.multipart/<upload id>/` until completed. Keys cannot start a segment with
//! `.`, so these folders never collide with objects.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use futures_util::{StreamExt, future::BoxFuture};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio_util::io::ReaderStream;

use super::{
    BlobStore, ByteRange, ByteStream, GetObject, MultipartInfo, ObjectMeta, PartInfo, PartSource,
    StorageError, validate_key,
};

const TMP: &str = ".tmp";
const MULTIPART: &str = ".multipart";

#[derive(Debug, Clone)]
pub struct FsStore {
    root: PathBuf,
}

impl FsStore {
    /// Opens (creating if needed) a store rooted at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, StorageError> {
        let root = root.into();
        std::fs::create_dir_all(root.join(TMP))?;
        std::fs::create_dir_all(root.join(MULTIPART))?;
        Ok(Self { root })
    }

    fn path(&self, key: &str) -> Result<PathBuf, StorageError> {
        validate_key(key)?;
        Ok(self.root.join(key))
    }

    fn upload_dir(&self, upload_id: &str) -> Result<PathBuf, StorageError> {
        if upload_id.is_empty()
            || !upload_id
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b'-')
        {
            return Err(StorageError::NoSuchUpload(upload_id.to_string()));
        }
        Ok(self.root.join(MULTIPART).join(upload_id))
    }

    fn temp_path(&self) -> PathBuf {
        self.root.join(TMP).join(uuid::Uuid::new_v4().to_string())
    }

    /// Writes `body` to a new temp file, checking its length; returns the
    /// path and the SHA-256 of what was written.
    async fn write_temp(
        &self,
        mut body: ByteStream,
        len: u64,
    ) -> Result<(PathBuf, String), StorageError> {
        let path = self.temp_path();
        let result = async {
            let mut file = tokio::fs::File::create(&path).await?;
            let mut written = 0u64;
            let mut hash = Sha256::new();
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(StorageError::Body)?;
                written += chunk.len() as u64;
                if written > len {
                    return Err(StorageError::LongBody { expected: len });
                }
                hash.update(&chunk);
                file.write_all(&chunk).await?;
            }
            if written != len {
                return Err(StorageError::ShortBody {
                    expected: len,
                    got: written,
                });
            }
            file.sync_all().await?;
            Ok(hex::encode(hash.finalize()))
        }
        .await;
        match result {
            Ok(hash) => Ok((path, hash)),
            Err(e) => {
                let _ = tokio::fs::remove_file(&path).await;
                Err(e)
            }
        }
    }

    /// Renames `from` to `to` and makes the rename durable.
    async fn install(&self, from: &Path, to: &Path) -> Result<(), StorageError> {
        if let Some(parent) = to.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        tokio::fs::rename(from, to).await?;
        if let Some(parent) = to.parent() {
            sync_dir(parent).await?;
        }
        Ok(())
    }
}

async fn sync_dir(dir: &Path) -> std::io::Result<()> {
    tokio::fs::File::open(dir).await?.sync_all().await
}

fn not_found(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::NotFound
}

impl BlobStore for FsStore {
    fn describe(&self) -> String {
        format!("filesystem {}", self.root.display())
    }

    fn local_path(&self, key: &str) -> Option<PathBuf> {
        self.path(key).ok()
    }

    fn check(&self) -> BoxFuture<'_, Result<(), StorageError>> {
        Box::pin(async move {
            // Writable, not just present: create and remove a probe file.
            let probe = self.temp_path();
            tokio::fs::write(&probe, b"ok").await?;
            tokio::fs::remove_file(&probe).await?;
            Ok(())
        })
    }

    fn put<'a>(
        &'a self,
        key: &'a str,
        body: ByteStream,
        len: u64,
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        Box::pin(async move {
            let target = self.path(key)?;
            let (temp, _) = self.write_temp(body, len).await?;
            self.install(&temp, &target).await
        })
    }

    fn get<'a>(
        &'a self,
        key: &'a str,
        range: Option<ByteRange>,
    ) -> BoxFuture<'a, Result<Option<GetObject>, StorageError>> {
        Box::pin(async move {
            let path = self.path(key)?;
            let mut file = match tokio::fs::File::open(&path).await {
                Ok(f) => f,
                Err(e) if not_found(&e) => return Ok(None),
                Err(e) => return Err(e.into()),
            };
            let size = file.metadata().await?.len();
            let (start, end) = match range {
                None if size == 0 => (0, 0),
                None => (0, size - 1),
                Some(r) => r.resolve(size).ok_or_else(|| {
                    StorageError::Refused(format!("range outside the {size}-byte object"))
                })?,
            };
            file.seek(std::io::SeekFrom::Start(start)).await?;
            let wanted = if size == 0 { 0 } else { end - start + 1 };
            let body = ReaderStream::with_capacity(file.take(wanted), 64 * 1024);
            Ok(Some(GetObject {
                size,
                range: (start, end),
                body: Box::pin(body),
            }))
        })
    }

    fn head<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<ObjectMeta>, StorageError>> {
        Box::pin(async move {
            match tokio::fs::metadata(self.path(key)?).await {
                Ok(m) if m.is_file() => Ok(Some(ObjectMeta {
                    key: key.to_string(),
                    size: m.len(),
                })),
                Ok(_) => Ok(None),
                Err(e) if not_found(&e) => Ok(None),
                Err(e) => Err(e.into()),
            }
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), StorageError>> {
        Box::pin(async move {
            match tokio::fs::remove_file(self.path(key)?).await {
                Ok(()) => Ok(()),
                Err(e) if not_found(&e) => Ok(()),
                Err(e) => Err(e.into()),
            }
        })
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<ObjectMeta>, StorageError>> {
        Box::pin(async move {
            let root = self.root.clone();
            let prefix = prefix.to_string();
            let found = tokio::task::spawn_blocking(move || walk(&root, &prefix))
                .await
                .map_err(|e| StorageError::Io(std::io::Error::other(e.to_string())))??;
            Ok(found)
        })
    }

    fn rename<'a>(&'a self, from: &'a str, to: &'a str) -> BoxFuture<'a, Result<(), StorageError>> {
        Box::pin(async move {
            let (from, to) = (self.path(from)?, self.path(to)?);
            self.install(&from, &to).await
        })
    }

    fn create_multipart<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<String, StorageError>> {
        Box::pin(async move {
            validate_key(key)?;
            let id = uuid::Uuid::new_v4().to_string();
            let dir = self.upload_dir(&id)?;
            tokio::fs::create_dir_all(&dir).await?;
            tokio::fs::write(dir.join("key"), key).await?;
            Ok(id)
        })
    }

    fn upload_part<'a>(
        &'a self,
        key: &'a str,
        upload_id: &'a str,
        number: u32,
        body: Arc<dyn PartSource>,
    ) -> BoxFuture<'a, Result<PartInfo, StorageError>> {
        Box::pin(async move {
            check_part_number(number)?;
            super::retry_part(number, super::part_attempts(&*body), || async {
                let dir = self.open_upload(key, upload_id).await?;
                let (temp, sha) = self.write_temp(body.stream(), body.len()).await?;
                self.install(&temp, &dir.join(format!("{number:05}.part")))
                    .await?;
                Ok(PartInfo {
                    number,
                    etag: sha,
                    size: body.len(),
                })
            })
            .await
        })
    }

    fn list_parts<'a>(
        &'a self,
        key: &'a str,
        upload_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<PartInfo>, StorageError>> {
        Box::pin(async move {
            let dir = self.open_upload(key, upload_id).await?;
            let mut parts = Vec::new();
            let mut entries = tokio::fs::read_dir(&dir).await?;
            while let Some(entry) = entries.next_entry().await? {
                let name = entry.file_name().to_string_lossy().into_owned();
                let Some(number) = name
                    .strip_suffix(".part")
                    .and_then(|n| n.parse::<u32>().ok())
                else {
                    continue;
                };
                let path = entry.path();
                let etag = tokio::task::spawn_blocking(move || hash_file(&path))
                    .await
                    .map_err(|e| StorageError::Io(std::io::Error::other(e.to_string())))??;
                parts.push(PartInfo {
                    number,
                    etag,
                    size: entry.metadata().await?.len(),
                });
            }
            parts.sort_by_key(|p| p.number);
            Ok(parts)
        })
    }

    fn complete_multipart<'a>(
        &'a self,
        key: &'a str,
        upload_id: &'a str,
        parts: &'a [PartInfo],
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        Box::pin(async move {
            let target = self.path(key)?;
            let dir = self.open_upload(key, upload_id).await?;
            let stored = self.list_parts(key, upload_id).await?;
            if parts.is_empty() || !parts.windows(2).all(|w| w[0].number < w[1].number) {
                return Err(StorageError::Refused(
                    "parts must be given in ascending order".into(),
                ));
            }
            for part in parts {
                if !stored
                    .iter()
                    .any(|s| s.number == part.number && s.etag == part.etag)
                {
                    return Err(StorageError::Refused(format!(
                        "part {} is not as uploaded",
                        part.number
                    )));
                }
            }
            let temp = self.temp_path();
            let mut out = tokio::fs::File::create(&temp).await?;
            for part in parts {
                let mut input =
                    tokio::fs::File::open(dir.join(format!("{:05}.part", part.number))).await?;
                tokio::io::copy(&mut input, &mut out).await?;
            }
            out.sync_all().await?;
            self.install(&temp, &target).await?;
            tokio::fs::remove_dir_all(&dir).await?;
            Ok(())
        })
    }

    fn abort_multipart<'a>(
        &'a self,
        _key: &'a str,
        upload_id: &'a str,
    ) -> BoxFuture<'a, Result<(), StorageError>> {
        Box::pin(async move {
            match tokio::fs::remove_dir_all(self.upload_dir(upload_id)?).await {
                Ok(()) => Ok(()),
                Err(e) if not_found(&e) => Ok(()),
                Err(e) => Err(e.into()),
            }
        })
    }

    fn list_multipart_uploads<'a>(
        &'a self,
        prefix: &'a str,
    ) -> BoxFuture<'a, Result<Vec<MultipartInfo>, StorageError>> {
        Box::pin(async move {
            let mut found = Vec::new();
            let mut entries = tokio::fs::read_dir(self.root.join(MULTIPART)).await?;
            while let Some(entry) = entries.next_entry().await? {
                let upload_id = entry.file_name().to_string_lossy().into_owned();
                let Ok(key) = tokio::fs::read_to_string(entry.path().join("key")).await else {
                    continue;
                };
                if key.starts_with(prefix) {
                    found.push(MultipartInfo { key, upload_id });
                }
            }
            found.sort_by(|a, b| a.key.cmp(&b.key).then(a.upload_id.cmp(&b.upload_id)));
            Ok(found)
        })
    }
}

impl FsStore {
    /// The folder of an upload, checking it belongs to `key`.
    async fn open_upload(&self, key: &str, upload_id: &str) -> Result<PathBuf, StorageError> {
        let dir = self.upload_dir(upload_id)?;
        match tokio::fs::read_to_string(dir.join("key")).await {
            Ok(stored) if stored == key => Ok(dir),
            Ok(_) => Err(StorageError::NoSuchUpload(upload_id.to_string())),
            Err(e) if not_found(&e) => Err(StorageError::NoSuchUpload(upload_id.to_string())),
            Err(e) => Err(e.into()),
        }
    }
}

fn check_part_number(number: u32) -> Result<(), StorageError> {
    if (1..=10_000).contains(&number) {
        Ok(())
    } else {
        Err(StorageError::Refused(format!(
            "part number {number} is outside 1..=10000"
        )))
    }
}

fn hash_file(path: &Path) -> Result<String, StorageError> {
    let mut file = std::fs::File::open(path)?;
    let mut hash = Sha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let n = std::io::Read::read(&mut file, &mut buffer)?;
        if n == 0 {
            break;
        }
        hash.update(&buffer[..n]);
    }
    Ok(hex::encode(hash.finalize()))
}

/// Every file under `root` whose key starts with `prefix`, skipping the
/// store's own dot-folders.
fn walk(root: &Path, prefix: &str) -> Result<Vec<ObjectMeta>, StorageError> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if not_found(&e) => continue,
            Err(e) => return Err(e.into()),
        };
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            if name.to_string_lossy().starts_with('.') {
                continue;
            }
            let path = entry.path();
            let kind = entry.file_type()?;
            if kind.is_dir() {
                pending.push(path);
            } else if kind.is_file() {
                let key = path
                    .strip_prefix(root)
                    .map_err(|e| std::io::Error::other(e.to_string()))?
                    .to_string_lossy()
                    .replace(std::path::MAIN_SEPARATOR, "/");
                if key.starts_with(prefix) {
                    found.push(ObjectMeta {
                        key,
                        size: entry.metadata()?.len(),
                    });
                }
            }
        }
    }
    found.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(found)
}
